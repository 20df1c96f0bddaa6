#!/usr/bin/env python3
"""A stand-in for `docker` (and `docker compose`) that keeps the state of one Compose project.

No Docker engine runs on the test machines, so the operations scripts run against this model
instead. It keeps what the scripts act on and what an operator would see:

- the project's configuration, from the Compose files Compose itself would read (`-f`, else
  `COMPOSE_FILE` from the environment, else from `.env`, else `docker-compose.yml`), merged in
  order, with `${VAR}`, `${VAR:-default}` and `${VAR:?message}` interpolated from the
  environment and `.env` (a missing required variable fails, as in Compose). The files' content
  is read from JSON twins the test writes beside the state (`compose/<file>.json`);
- containers: id, service, number, image, address, status (running, exited) and health
  (starting, then healthy after 10 s of the virtual clock that the `sleep` stand-in advances, or
  unhealthy for a version listed in `FAKE_UNHEALTHY`);
- the proxy: which app addresses NGINX sends to, set when it starts and when it reloads (as
  NGINX resolves the app's name through Docker's DNS only then);
- after every change, whether NGINX still reaches a healthy app container; every moment it
  does not is recorded in `violations`;
- `docker run` of the ACME client (certbot): `certonly --webroot` and `renew` issue a
  certificate (made with openssl, valid `FAKE_CERT_DAYS`, 90 by default) into the mounted
  state folder, only while the proxy runs, since Let's Encrypt reaches the challenge through it.

State (`model.py`): `$FAKE_DOCKER_DIR/state.json`; every call is appended to
`$FAKE_DOCKER_DIR/calls.log`.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import DIR, health_of, load, log_call, save, serving  # noqa: E402


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def dotenv():
    values = {}
    if os.path.exists(".env"):
        with open(".env", encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line and not line.lstrip().startswith("#"):
                    key, value = line.split("=", 1)
                    values[key.strip()] = value
    return values


def lookup(name):
    if name in os.environ:
        return os.environ[name]
    return dotenv().get(name)


class Missing(Exception):
    pass


def interpolate(text):
    def one(match):
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        value = lookup(name)
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise Missing(f"required variable {name} is missing a value: {arg}")
            return value
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return arg
            return value
        return value or ""

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", one, text)


def merge(into, other):
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def compose_files(files):
    if files:
        return files
    value = lookup("COMPOSE_FILE")
    if value:
        return value.split(":")
    return ["docker-compose.yml"]


def project(files):
    services = {}
    for name in compose_files(files):
        if not os.path.exists(name):
            fail(f"open {name}: no such file or directory")
        with open(os.path.join(DIR, "compose", os.path.basename(name) + ".json"), encoding="utf-8") as f:
            twin = json.load(f)
        for service, config in twin.get("services", {}).items():
            merge(services.setdefault(service, {}), config)
    return services


def image_of(services, service):
    try:
        return interpolate(services[service]["image"])
    except Missing as e:
        fail(f"error while interpolating services.{service}.image: {e}")


def replicas_of(services, service):
    return int(services[service].get("deploy", {}).get("replicas", 1))


def check(state, command):
    if state["proxy_running"] and not serving(state):
        state["violations"].append(
            f"after `{command}` (clock {state['clock']}s): NGINX sends to {state['upstream']}, none a healthy {state['app']} container"
        )


def proxy_resolves(state):
    state["upstream"] = [c["ip"] for c in state["containers"] if c["service"] == state["app"] and c["status"] == "running"]


def create(state, services, service):
    numbers = [c["number"] for c in state["containers"] if c["service"] == service]
    state["next"] += 1
    c = {
        "id": "c%04d" % state["next"],
        "service": service,
        "number": max(numbers, default=0) + 1,
        "image": image_of(services, service),
        "ip": "172.18.0.%d" % state["next"],
        "status": "running",
        "health": "starting" if services[service].get("healthcheck") else None,
        "started": state["clock"],
    }
    state["containers"].append(c)
    if service == state["proxy"]:
        state["proxy_running"] = True
        proxy_resolves(state)


def remove(state, c):
    state["containers"].remove(c)
    if c["service"] == state["proxy"] and not any(x["service"] == state["proxy"] for x in state["containers"]):
        state["proxy_running"] = False


def of(state, service):
    return [c for c in state["containers"] if c["service"] == service]


def find(state, ident):
    for c in state["containers"]:
        if c["id"] == ident:
            return c
    fail(f"Error response from daemon: No such container: {ident}")


def compose(state, args, line):
    files = []
    while args and args[0] in ("-f", "--file"):
        files.append(args[1])
        args = args[2:]
    if not args:
        fail("docker compose: no command")
    command, args = args[0], args[1:]
    flags = [a for a in args if a.startswith("-")]
    services = project(files)
    if command == "pull":
        for service in [a for a in args if not a.startswith("-")] or list(services):
            state["pulled"].append(image_of(services, service))
    elif command == "up":
        scale, names, rest = {}, [], list(args)
        while rest:
            a = rest.pop(0)
            if a == "--scale":
                name, n = rest.pop(0).split("=")
                scale[name] = int(n)
            elif not a.startswith("-"):
                names.append(a)
        for service in names or list(services):
            if service not in services:
                fail(f"no such service: {service}")
            target = scale.get(service, replicas_of(services, service))
            image = image_of(services, service)
            mine = sorted(of(state, service), key=lambda c: c["number"])
            if "--no-recreate" not in flags and any(c["image"] != image for c in mine):
                for c in mine:
                    remove(state, c)
                check(state, line)
                mine = []
            for c in sorted(mine, key=lambda c: -c["number"])[: max(0, len(mine) - target)]:
                remove(state, c)
            for c in of(state, service):
                if c["status"] != "running":
                    c["status"], c["started"] = "running", state["clock"]
            for _ in range(target - len(of(state, service))):
                create(state, services, service)
            check(state, line)
    elif command == "ps":
        wanted = [a for a in args if not a.startswith("-")]
        show_all = "-a" in flags or "--all" in flags
        status = None
        if "--status" in args:
            status = args[args.index("--status") + 1]
            wanted = [w for w in wanted if w != status]
        for c in state["containers"]:
            if wanted and c["service"] not in wanted:
                continue
            if status and c["status"] != status:
                continue
            if not show_all and not status and c["status"] != "running":
                continue
            print(c["id"])
    elif command == "exec":
        rest = [a for a in args if a not in ("-T",)]
        service, cmd = rest[0], rest[1:]
        if not [c for c in of(state, service) if c["status"] == "running"]:
            fail(f"service \"{service}\" is not running")
        if service == state["proxy"] and cmd == ["nginx", "-s", "reload"]:
            proxy_resolves(state)
            state["reloads"].append(list(state["upstream"]))
            check(state, line)
        else:
            if os.environ.get("FAKE_FAIL"):
                fail("connection refused")
            sys.stdin.read() if not sys.stdin.isatty() else None
            print("-- the dump")
    elif command == "run":
        rest = [a for a in args if not a.startswith("-")]
        service, cmd = rest[0], rest[1:]
        state["runs"].append({"image": image_of(services, service), "command": cmd})
        if os.environ.get("FAKE_FAIL_RUN"):
            save(state)
            fail("the one-off container failed")
    elif command in ("stop", "start"):
        for service in [a for a in args if not a.startswith("-")]:
            for c in of(state, service):
                c["status"] = "exited" if command == "stop" else "running"
                if command == "start":
                    c["started"] = state["clock"]
            if service == state["proxy"]:
                state["proxy_running"] = command == "start"
                if command == "start":
                    proxy_resolves(state)
        check(state, line)
    else:
        fail(f"the docker stand-in does not model `docker compose {command}`")


def certificate(live, domain, days):
    """A certificate as Let's Encrypt would issue it (here self-signed, with openssl)."""
    os.makedirs(live, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-nodes", "-newkey", "rsa:2048", "-days", str(days), "-subj", f"/CN={domain}",
         "-keyout", os.path.join(live, "privkey.pem"), "-out", os.path.join(live, "fullchain.pem")],
        check=True, capture_output=True,
    )


def expires_within(path, days):
    return subprocess.run(["openssl", "x509", "-checkend", str(days * 86400), "-noout", "-in", path],
                          capture_output=True).returncode != 0


def run_image(state, args):
    """`docker run` of the ACME client: certbot's `certonly --webroot` and `renew`, which reach
    Let's Encrypt and are answered only while the proxy serves the challenge files."""
    mounts, rest = {}, list(args)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag in ("-v", "--volume"):
            host, container = rest.pop(0).split(":")[:2]
            mounts[container] = host
    if not rest or not rest[0].startswith("certbot/certbot:"):
        fail(f"the docker stand-in does not model `docker run {' '.join(args)}`")
    state["certbot"].append(rest[1:])
    conf, webroot = mounts.get("/etc/letsencrypt"), mounts.get("/var/www/certbot")
    if not conf or not webroot or not os.path.isdir(webroot):
        fail("certbot: the state and webroot folders are not mounted")
    days = int(os.environ.get("FAKE_CERT_DAYS", "90"))
    if rest[1] == "certonly":
        domain = rest[rest.index("--domain") + 1]
        live = os.path.join(conf, "live", domain)
        if not state["proxy_running"]:
            save(state)
            fail(f"Certbot failed to authenticate some domains: {domain}: Connection refused")
        if "--keep-until-expiring" in rest and os.path.exists(os.path.join(live, "fullchain.pem")) \
                and not expires_within(os.path.join(live, "fullchain.pem"), 30):
            print("Certificate not yet due for renewal; no action taken.")
            return
        certificate(live, domain, days)
        print(f"Successfully received certificate for {domain}.")
    elif rest[1] == "renew":
        for domain in sorted(os.listdir(os.path.join(conf, "live"))) if os.path.isdir(os.path.join(conf, "live")) else []:
            cert = os.path.join(conf, "live", domain, "fullchain.pem")
            if expires_within(cert, 30):
                if not state["proxy_running"]:
                    save(state)
                    fail(f"Failed to renew certificate {domain}: Connection refused")
                certificate(os.path.join(conf, "live", domain), domain, days)
                print(f"Congratulations, all renewals succeeded: {cert} (success)")
            else:
                print(f"Certificate not yet due for renewal: {cert}")
    else:
        fail(f"the certbot stand-in does not model `{rest[1]}`")


def main():
    args = sys.argv[1:]
    line = "docker " + " ".join(args)
    log_call(line)
    state = load()
    if not args:
        fail("docker: no command")
    command, rest = args[0], args[1:]
    if command == "compose":
        compose(state, rest, line)
    elif command == "inspect":
        fmt = rest[rest.index("--format") + 1] if "--format" in rest else ""
        for ident in [a for i, a in enumerate(rest) if not a.startswith("-") and (i == 0 or rest[i - 1] != "--format")]:
            c = find(state, ident)
            if ".State.Health.Status" in fmt:
                health = health_of(state, c)
                if health is None:
                    fail("template: :1:14: executing \"\" at <.State.Health.Status>: map has no entry for key \"Health\"")
                print(health)
            elif ".State.Status" in fmt:
                print(c["status"])
            else:
                print(json.dumps(c))
    elif command == "run":
        run_image(state, rest)
    elif command == "stop":
        for ident in rest:
            c = find(state, ident)
            c["status"] = "exited"
            print(ident)
        check(state, line)
    elif command == "rm":
        force = "-f" in rest or "--force" in rest
        for ident in [a for a in rest if not a.startswith("-")]:
            c = find(state, ident)
            if c["status"] == "running" and not force:
                fail(f"Error response from daemon: cannot remove container {ident}: container is running: stop the container before removing or force remove")
            remove(state, c)
            print(ident)
        check(state, line)
    else:
        fail(f"the docker stand-in does not model `docker {command}`")
    save(state)


main()
