#!/usr/bin/env python3
"""Makes kubernetes-validate's strict schemas self-contained: SRC DST NAME...: each NAME of SRC
(which refers to SRC/_definitions.json) written to DST with every definition it reaches embedded
under `$defs` (its references rewritten to them) and its `$id` dropped; nothing else changes."""
import json, os, sys
src, dst, names = sys.argv[1], sys.argv[2], sys.argv[3:]
defs = json.load(open(os.path.join(src, "_definitions.json")))["$defs"]
def rewrite(node, used):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and "#/$defs/" in v:
                name = v.split("#/$defs/")[-1]
                out[k] = "#/$defs/" + name
                if name not in used:
                    used[name] = None
                    used[name] = rewrite(defs[name], used)
            else:
                out[k] = rewrite(v, used)
        return out
    if isinstance(node, list):
        return [rewrite(v, used) for v in node]
    return node
os.makedirs(dst, exist_ok=True)
for n in names:
    used = {}
    out = rewrite(json.load(open(os.path.join(src, n))), used)
    out.pop("$id", None)
    out["$defs"] = {k: used[k] for k in sorted(used)}
    with open(os.path.join(dst, n), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
