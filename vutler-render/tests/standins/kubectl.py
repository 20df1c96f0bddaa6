#!/usr/bin/env python3
"""A stand-in for `kubectl` against a cluster: it keeps the namespaces and the Secrets applied to
it, by namespace and name, in `$KUBE_STATE/secrets.json` (the Secrets' data as the API server
stores it, base64).

`create ... --dry-run=client` needs no cluster: it runs the real kubectl (`$REAL_KUBECTL`), so
the Secret is the one kubectl builds. `apply --filename=-` reads a Secret from standard input,
as the API server would, refuses one for another namespace than `--namespace` or for a namespace
that does not exist, and creates or replaces it (printing `created` or `configured`, as kubectl
does). `apply --filename=FILE` of a Namespace creates it. `get secret NAME -o json`
prints a stored one. Anything else fails.
"""
import json
import os
import sys

STATE = os.path.join(os.environ["KUBE_STATE"], "secrets.json")


def load():
    if not os.path.exists(STATE):
        return {"namespaces": [], "secrets": {}}
    with open(STATE) as f:
        return json.load(f)


def save(state):
    with open(STATE + ".tmp", "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(STATE + ".tmp", STATE)


def parse_secret(text):
    """The fields of the Secret kubectl's YAML holds: kind, metadata's name and namespace, data."""
    obj = {"metadata": {}, "data": {}}
    section = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            key, _, value = line.partition(":")
            section = key
            if value.strip():
                obj[key] = value.strip()
            continue
        key, _, value = line.strip().partition(":")
        if section in ("metadata", "data"):
            obj[section][key] = value.strip()
    return obj


args = sys.argv[1:]
namespace = "default"
rest = []
i = 0
while i < len(args):
    a = args[i]
    if a == "--namespace":
        namespace = args[i + 1]
        i += 2
        continue
    if a.startswith("--namespace="):
        namespace = a.split("=", 1)[1]
    else:
        rest.append(a)
    i += 1

if rest[:1] == ["create"]:
    if "--dry-run=client" not in rest:
        sys.exit("stand-in kubectl: only `create --dry-run=client` is modelled")
    os.execv(os.environ["REAL_KUBECTL"], [os.environ["REAL_KUBECTL"], "--namespace", namespace] + rest)
elif rest[:1] == ["apply"] and any(a.startswith("--filename=") and a != "--filename=-" for a in rest):
    path = next(a.split("=", 1)[1] for a in rest if a.startswith("--filename="))
    with open(path) as f:
        docs = [d for d in f.read().split("\n---\n") if "kind: Namespace" in d]
    if len(docs) != 1:
        sys.exit(f"stand-in kubectl: {path} holds no Namespace")
    name = next(l.split(":", 1)[1].strip() for l in docs[0].splitlines() if l.startswith("  name:"))
    state = load()
    verb = "unchanged" if name in state["namespaces"] else "created"
    if name not in state["namespaces"]:
        state["namespaces"].append(name)
    save(state)
    print(f"namespace/{name} {verb}")
elif rest[:1] == ["apply"] and "--filename=-" in rest:
    obj = parse_secret(sys.stdin.read())
    if obj.get("kind") != "Secret":
        sys.exit("stand-in kubectl: only Secrets are applied here")
    meta = obj["metadata"]
    if meta.get("namespace", namespace) != namespace:
        sys.exit(f"error: the namespace from the provided object \"{meta['namespace']}\" does not match \"{namespace}\"")
    state = load()
    if namespace not in state["namespaces"]:
        sys.exit(f'Error from server (NotFound): namespaces "{namespace}" not found')
    key = f"{namespace}/{meta['name']}"
    secrets = state["secrets"]
    verb = "configured" if key in secrets else "created"
    secrets[key] = {"data": obj["data"], "applied": secrets.get(key, {}).get("applied", 0) + 1}
    save(state)
    print(f"secret/{meta['name']} {verb}")
elif rest[:2] == ["get", "secret"]:
    secrets = load()["secrets"]
    key = f"{namespace}/{rest[2]}"
    if key not in secrets:
        sys.exit(f'Error from server (NotFound): secrets "{rest[2]}" not found')
    print(json.dumps({"data": secrets[key]["data"]}))
else:
    sys.exit(f"stand-in kubectl: {' '.join(rest)} is not modelled")
