#!/usr/bin/env python3
"""Makes strict, self-contained JSON schemas of custom resources from an npm package of
kubernetes-models whose modules carry each kind's schema (the CRD's openAPIV3Schema,
descriptions dropped) as a literal (@kubernetes-models/gateway-api 0.5.1,
@kubernetes-models/prometheus-operator 1.6.3):

    standalone.py PACKAGE META DST MODULE=NAME...

PACKAGE is the unpacked package (`npm pack @kubernetes-models/gateway-api@0.5.1`, its
`package/`), META a standalone strict Kubernetes schema whose `$defs` hold ObjectMeta (the
`configmap-v1.json` of k8s/v1.30.0-standalone-strict), and each MODULE (e.g.
`gateway.networking.k8s.io/v1/HTTPRoute.js`) is written to DST/NAME. Three changes, the ones
kubernetes-validate's strict schemas make to the built-in kinds' OpenAPI: OpenAPI's
`nullable: true` becomes a `"null"` among the types, ObjectMeta's reference points at the
definitions embedded under `$defs`, and every object with declared properties and no
`additionalProperties` gets `additionalProperties: false` (what the API server's strict field
validation refuses). Nothing else changes."""
import json, os, sys

package, meta, dst, pairs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
meta_defs = json.load(open(meta))["$defs"]
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def literal(path):
    """The schema literal of a module: `const schema = {...};`."""
    text = open(path).read()
    start = text.index("const schema = ") + len("const schema = ")
    end = text.index("\n};\n", start) + 2
    return json.loads(text[start:end])


def strict(node):
    if isinstance(node, list):
        return [strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "nullable":
            continue
        if k == "$ref":
            name = v.rstrip("#")
            if name != OBJECT_META:
                raise SystemExit(f"an unexpected reference: {v}")
            out[k] = "#/$defs/" + name
        else:
            out[k] = strict(v)
    if node.get("nullable") is True and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def reached(name, used):
    """ObjectMeta's definitions, and those they refer to."""
    if name in used:
        return
    used[name] = meta_defs[name]
    text = json.dumps(meta_defs[name])
    for other in meta_defs:
        if f'"#/$defs/{other}"' in text:
            reached(other, used)


os.makedirs(dst, exist_ok=True)
for pair in pairs:
    module, name = pair.split("=", 1)
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    out.update(strict(literal(os.path.join(package, module))))
    used = {}
    reached(OBJECT_META, used)
    out["$defs"] = {k: used[k] for k in sorted(used)}
    with open(os.path.join(dst, name), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
