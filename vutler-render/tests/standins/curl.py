#!/usr/bin/env python3
"""A stand-in for `curl` against the deployment's public URL: it answers as the app container
NGINX sends to would (with the version its image runs), from the state of the `docker`
stand-in; with no healthy container behind NGINX it fails as `curl -f` fails on a 502.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import load, log_call, save, serving  # noqa: E402

log_call("curl " + " ".join(sys.argv[1:]))
state = load()
alive = serving(state) if state["proxy_running"] else []
save(state)
if not alive:
    print("curl: (22) The requested URL returned error: 502", file=sys.stderr)
    sys.exit(22)
print(json.dumps({"version": alive[0]["image"].rsplit(":", 1)[-1]}))
