"""The state the stand-ins share: containers, the proxy's upstream, a virtual clock.

`docker.py` changes it; `sleep.py` advances the clock; `curl.py` answers from it. A container
with a healthcheck is `starting` for its first 10 s of the virtual clock, then `healthy`, or
`unhealthy` when its image's tag is listed in `FAKE_UNHEALTHY` (comma-separated) or when it
could not log in to a server it needs (see `docker.py`).
"""
import json
import os

DIR = os.environ["FAKE_DOCKER_DIR"]
STATE = os.path.join(DIR, "state.json")
READY_AFTER = 10


def load():
    with open(STATE, encoding="utf-8") as f:
        return json.load(f)


def save(state):
    for c in state["containers"]:
        health_of(state, c)
    tmp = STATE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, STATE)


def log_call(line):
    with open(os.path.join(DIR, "calls.log"), "a", encoding="utf-8") as f:
        f.write(line + "\n")


def health_of(state, c):
    if c["status"] == "running" and c["health"] == "starting" and state["clock"] - c["started"] >= READY_AFTER:
        unhealthy = [v for v in os.environ.get("FAKE_UNHEALTHY", "").split(",") if v]
        bad = c["image"].rsplit(":", 1)[-1] in unhealthy or c.get("login_failed")
        c["health"] = "unhealthy" if bad else "healthy"
    return c["health"]


def serving(state):
    """The app containers NGINX sends to that answer."""
    return [
        c
        for c in state["containers"]
        if c["service"] == state["app"]
        and c["ip"] in state["upstream"]
        and c["status"] == "running"
        and health_of(state, c) in ("healthy", None)
    ]
