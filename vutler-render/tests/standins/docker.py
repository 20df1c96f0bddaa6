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
- what each container was created with: its environment, interpolated from `.env` (a missing
  required variable fails `up`, as in Compose), and the content of each secret file it mounts,
  read when it is created (the scripts replace files by renaming, so a running container keeps
  the content it started with, as a bind mount of the old file would);
- the servers that keep credentials (PostgreSQL, MongoDB and Grafana store the password they
  were first created with; MinIO reads its root credentials at every start), and the logins of
  their clients (`state["logins"]`, set by the test): a client container whose credentials do
  not match its server's becomes unhealthy instead of healthy. `docker compose exec` runs the
  password changes the scripts send (psql's `ALTER USER CURRENT_USER`, mongosh's
  `changeUserPassword` after `auth` with the current password, `grafana cli admin
  reset-admin-password --password-from-stdin`); a server that restarts makes each running
  client reconnect, and one whose credentials are not the server's any more is recorded in
  `lockouts`; the named volumes containers were created with exist (`docker volume inspect`);
- PostgreSQL's WAL archive (`state["wal"]` per service, segment name to content): a base
  backup (pg_basebackup: a gzipped tar with its backup_label) archives the segment that ends
  it; `ls -1`, `cat --` and `rm -f --` in the container list, read and remove segments;
- the data of the databases (`state["rows"]` per service): `docker compose exec` of pg_dump
  writes it in the custom format's framing, mongodump as a gzip archive with its magic number;
  `pg_restore --list` refuses what is no such archive, pg_restore and mongorestore load it back
  (`restores`); `docker compose run` of `mc mirror` writes the object store's files
  (`state["objects"]`) into the mounted staging folder;
- `docker run --rm -i --network none` of a restore drill: the backup on standard input checked
  as the scratch server would, and what it holds printed; a drill with a network or a volume,
  or PostgreSQL's as root, fails (`drills` records the images);
- `docker run` of the ACME client (certbot): `certonly --webroot` and `renew` issue a
  certificate (made with openssl, valid `FAKE_CERT_DAYS`, 90 by default) into the mounted
  state folder, only while the proxy runs, since Let's Encrypt reaches the challenge through it.

State (`model.py`): `$FAKE_DOCKER_DIR/state.json`; every call is appended to
`$FAKE_DOCKER_DIR/calls.log`.
"""
import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import DIR, health_of, load, log_call, save, serving  # noqa: E402


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def dotenv():
    """`.env` as Compose reads it: `KEY=value`, the value unquoted when quoted whole."""
    values = {}
    if os.path.exists(".env"):
        with open(".env", encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line and not line.lstrip().startswith("#"):
                    key, value = line.split("=", 1)
                    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                        value = value[1:-1]
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
    services, secrets = {}, {}
    for name in compose_files(files):
        if not os.path.exists(name):
            fail(f"open {name}: no such file or directory")
        with open(os.path.join(DIR, "compose", os.path.basename(name) + ".json"), encoding="utf-8") as f:
            twin = json.load(f)
        for service, config in twin.get("services", {}).items():
            merge(services.setdefault(service, {}), config)
        secrets.update(twin.get("secrets", {}))
    for config in services.values():
        config["_secrets"] = {name: secrets[name]["file"] for name in config.get("secrets", [])}
    return services


def image_of(services, service):
    try:
        return interpolate(services[service]["image"])
    except Missing as e:
        fail(f"error while interpolating services.{service}.image: {e}")


def replicas_of(services, service):
    return int(services[service].get("deploy", {}).get("replicas", 1))


def start_order(services):
    """Every service after those it depends on, as Compose starts them."""
    order = []

    def visit(name):
        if name not in order:
            for dep in services[name].get("depends_on", {}):
                visit(dep)
            order.append(name)

    for name in services:
        visit(name)
    return order


def check(state, command):
    if state["proxy_running"] and not serving(state):
        state["violations"].append(
            f"after `{command}` (clock {state['clock']}s): NGINX sends to {state['upstream']}, none a healthy {state['app']} container"
        )


def proxy_resolves(state):
    state["upstream"] = [c["ip"] for c in state["containers"] if c["service"] == state["app"] and c["status"] == "running"]


def environment_of(services, service):
    env = {}
    for key, value in services[service].get("environment", {}).items():
        try:
            env[key] = interpolate(str(value))
        except Missing as e:
            fail(f"error while interpolating services.{service}.environment.{key}: {e}")
    return env


def secret_files_of(services, service):
    out = {}
    for name, path in services[service]["_secrets"].items():
        if not os.path.isfile(path):
            fail(f"service {service}: secret {name}: file {path} not found")
        with open(path, encoding="utf-8") as f:
            out["/run/secrets/" + name] = f.read()
    return out


def env_value(c, key):
    """A variable of a container, or the content of the secret file its `*_FILE` twin names."""
    for file_key in (key + "_FILE", key + "__FILE"):
        if file_key in c["env"]:
            return c["secrets"].get(c["env"][file_key], "").rstrip("\n")
    return c["env"].get(key)


# The credentials each kind of server is created with: (image prefix, user variable, default
# user, password variable, whether it keeps the first password).
SERVERS = [
    ("postgres:", "POSTGRES_USER", "postgres", "POSTGRES_PASSWORD", True),
    ("mongo:", "MONGO_INITDB_ROOT_USERNAME", None, "MONGO_INITDB_ROOT_PASSWORD", True),
    ("grafana/grafana:", None, "admin", "GF_SECURITY_ADMIN_PASSWORD", True),
    ("minio/minio:", "MINIO_ROOT_USER", "minioadmin", "MINIO_ROOT_PASSWORD", False),
]


def server_starts(state, c):
    for prefix, user_key, default_user, password_key, keeps in SERVERS:
        if c["image"].startswith(prefix):
            if keeps and c["service"] in state["servers"]:
                return
            user = env_value(c, user_key) if user_key else None
            state["servers"][c["service"]] = {"user": user or default_user, "password": env_value(c, password_key)}


def url_password(value):
    m = re.match(r"^[a-z][a-z0-9+.-]*://[^/@:]*:([^/@]*)@", value or "")
    return m.group(1) if m else value


def logins_ok(state, c):
    for login in state.get("logins", []):
        if login["client"] != c["service"]:
            continue
        server = state["servers"].get(login["server"])
        if server is None or url_password(env_value(c, login["key"])) != server["password"]:
            return False
    return True


def locked_out(state, server):
    """A server that (re)starts drops every connection: each running client reconnects with
    the credentials it started with, and is refused when they are not the server's."""
    for login in state.get("logins", []):
        if login["server"] != server["service"]:
            continue
        for c in state["containers"]:
            if c["service"] == login["client"] and c["status"] == "running" and not logins_ok(state, c):
                state["lockouts"].append(f"{c['id']} ({c['service']}) after {server['service']} restarted")


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
        "env": environment_of(services, service),
        "secrets": secret_files_of(services, service),
    }
    server_starts(state, c)
    if not logins_ok(state, c):
        c["login_failed"] = True
    state["containers"].append(c)
    locked_out(state, c)
    project_name = lookup("COMPOSE_PROJECT_NAME") or "vutler"
    for volume in services[service].get("volumes", []):
        source = str(volume).split(":", 1)[0]
        if source and not source.startswith((".", "/", "~")):
            name = f"{project_name}_{source}"
            if name not in state["volumes"]:
                state["volumes"].append(name)
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
        for service in names or start_order(services):
            if service not in services:
                fail(f"no such service: {service}")
            target = scale.get(service, replicas_of(services, service))
            image = image_of(services, service)
            env = environment_of(services, service)
            mine = sorted(of(state, service), key=lambda c: c["number"])
            # Compose recreates a container whose configuration changed (not the content of a
            # secret file, which it does not track), or every one with --force-recreate.
            changed = any(c["image"] != image or c["env"] != env for c in mine)
            if "--force-recreate" in flags or ("--no-recreate" not in flags and changed):
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
        elif any(w in " ".join(cmd) for w in ("psql", "mongosh", "reset-admin-password")) and not sys.stdin.isatty() \
                and change_password(state, service, cmd, sys.stdin.read()):
            pass
        else:
            if os.environ.get("FAKE_FAIL"):
                fail("connection refused")
            data = sys.stdin.buffer.read() if not sys.stdin.isatty() else b""
            tool(state, service, " ".join(cmd), data)
    elif command == "run":
        rest = [a for a in args if not a.startswith("-")]
        service, cmd = rest[0], rest[1:]
        state["runs"].append({"image": image_of(services, service), "command": cmd})
        if os.environ.get("FAKE_FAIL_RUN"):
            save(state)
            fail("the one-off container failed")
        mounts = volumes_of(args)
        # `mc mirror` of the object store into the staging folder: its objects, as files.
        if "mc mirror" in " ".join(cmd) and "/backup-out" in mounts:
            bucket = os.path.join(mounts["/backup-out"], "vutler-files")
            os.makedirs(bucket, exist_ok=True)
            for name, body in state.get("objects", {"a.txt": "first", "b/c.txt": "second"}).items():
                os.makedirs(os.path.dirname(os.path.join(bucket, name)), exist_ok=True)
                with open(os.path.join(bucket, name), "w", encoding="utf-8") as f:
                    f.write(body)
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


PGDMP = b"PGDMP"  # the first bytes of pg_dump's custom format
MONGO_MAGIC = bytes.fromhex("6de29981")  # a mongodump archive's, little-endian


def tool(state, service, script, data):
    """What a dump tool run with `docker compose exec` writes or reads: pg_dump's custom format
    (its magic and the rows the model holds), a gzip mongodump archive; pg_restore --list
    refuses what is not such an archive, pg_restore and mongorestore load the rows back."""
    rows = state.setdefault("rows", {}).setdefault(service, ["row 1", "row 2"])
    wal = state.setdefault("wal", {}).setdefault(service, {})
    if "pg_basebackup" in script:
        # A tar of the data folder with its backup_label; the server archives the segment that
        # ends the backup, as pg_basebackup waits for it.
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for name, body in (("backup_label", b"START WAL LOCATION: 0/2000028\n"), ("PG_VERSION", b"16\n")):
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
        sys.stdout.buffer.write(gzip.compress(out.getvalue()))
        segment = f"{len(wal) + 2:024X}.gz"
        wal[segment] = gzip.compress(b"WAL " + segment.encode()).hex()
    elif "ls -1" in script:
        for segment in sorted(wal):
            print(segment)
    elif script.startswith("cat -- "):
        segment = os.path.basename(script[len("cat -- "):])
        if segment not in wal:
            fail(f"cat: {segment}: No such file or directory")
        sys.stdout.buffer.write(bytes.fromhex(wal[segment]))
    elif script.startswith("rm -f -- "):
        wal.pop(os.path.basename(script[len("rm -f -- "):]), None)
    elif "pg_dump" in script:
        sys.stdout.buffer.write(PGDMP + "\n".join(rows).encode() + b"\n")
    elif "pg_restore --list" in script:
        if not data.startswith(PGDMP):
            fail("pg_restore: error: input file does not appear to be a valid archive")
    elif "pg_restore" in script:
        if not data.startswith(PGDMP):
            fail("pg_restore: error: input file does not appear to be a valid archive")
        state["rows"][service] = data[len(PGDMP):].decode().split()
        state.setdefault("restores", []).append(service)
    elif "mongodump" in script:
        sys.stdout.buffer.write(gzip.compress(MONGO_MAGIC + "\n".join(rows).encode()))
    elif "mongorestore" in script:
        body = gzip.decompress(data)
        if not body.startswith(MONGO_MAGIC):
            fail("Failed: stream or file does not appear to be a mongodump archive")
        state.setdefault("restores", []).append(service)
    else:
        print("-- the output of " + script)


def volumes_of(args):
    """The `-v HOST:CONTAINER` mounts of a `docker run` or `docker compose run`."""
    mounts, rest = {}, list(args)
    while rest:
        flag = rest.pop(0)
        if flag in ("-v", "--volume") and rest:
            host, container = rest.pop(0).split(":")[:2]
            mounts[container] = host
    return mounts


def verify(state, args):
    """`docker run --rm -i --network none IMAGE -c SCRIPT` of a restore drill: the backup on
    standard input restored into a scratch server, with what it holds printed. A throwaway
    container: it sees no volume and no network, and changes nothing of the project."""
    if "--network" not in args or args[args.index("--network") + 1] != "none" or volumes_of(args):
        fail("a restore drill's container must have no network and no volume")
    script, data = args[-1], sys.stdin.buffer.read()
    state.setdefault("drills", []).append(args[args.index("--entrypoint") + 2])
    if "pg_restore" in script:
        if "--user" not in args:
            fail("initdb: error: cannot be run as root")
        if not data.startswith(PGDMP):
            fail("pg_restore: error: input file does not appear to be a valid archive")
        rows = data[len(PGDMP):].decode().split("\n")
        print(f"1 tables, {len([r for r in rows if r])} rows")
    elif "mongorestore" in script:
        body = gzip.decompress(data)
        if not body.startswith(MONGO_MAGIC):
            fail("Failed: stream or file does not appear to be a mongodump archive")
        documents = len(body[4:].split(b"\n"))
        print(f"1 collections, {documents} documents")
    else:
        fail("the docker stand-in does not model this restore drill")


def change_password(state, service, cmd, stdin):
    """Runs a password change the scripts send to a server; False when it is not one."""
    server = state["servers"].get(service)
    running = [c for c in of(state, service) if c["status"] == "running"]
    words = " ".join(cmd)
    if server is None or not running:
        return False
    c = running[0]
    if "psql" in words:
        m = re.fullmatch(r"(?:SET [a-z_]+ = '[a-z]+'; )*ALTER USER CURRENT_USER WITH PASSWORD '([A-Za-z0-9]+)';\n?", stdin)
        if not m:
            return False
        user = re.search(r'--username="\$\(?(?:cat "\$)?([A-Z_]+)', words)
        if not user or env_value(c, user.group(1).removesuffix("_FILE")) != server["user"]:
            fail(f'psql: error: role "{user.group(1) if user else "?"}" does not exist')
        server["password"] = m.group(1)
        print("ALTER ROLE")
        state["password_changes"].append(service)
        return True
    if "mongosh" in words and "--eval" in cmd:
        m = re.match(r"const user = (.+?); const old = (.+?); .*\.auth\(user, old\); .*\.changeUserPassword\(user, next\)",
                     cmd[cmd.index("--eval") + 1])
        if not m or 'readFileSync(0, "utf8")' not in cmd[cmd.index("--eval") + 1]:
            return False

        def value(js):
            file = re.fullmatch(r'require\("fs"\)\.readFileSync\(process\.env\.([A-Z_]+), "utf8"\)\.trim\(\)', js)
            if file:
                return c["secrets"].get(c["env"].get(file.group(1), ""), "").strip()
            plain = re.fullmatch(r"process\.env\.([A-Z_]+)", js)
            return c["env"].get(plain.group(1)) if plain else None

        if value(m.group(1)) != server["user"] or value(m.group(2)) != server["password"]:
            print("error: Authentication failed.")
            save(state)
            sys.exit(1)
        server["password"] = stdin.strip()
        print("vutler-render-password-changed")
        state["password_changes"].append(service)
        return True
    if "reset-admin-password" in words and "--password-from-stdin" in words:
        server["password"] = stdin.rstrip("\n")
        print("Admin password changed successfully ✔")
        state["password_changes"].append(service)
        return True
    return False


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
    """`docker run` of a restore drill (see `verify`), or of the ACME client: certbot's
    `certonly --webroot` and `renew`, which reach Let's Encrypt and are answered only while the
    proxy serves the challenge files."""
    if "--entrypoint" in args and args[-2:-1] == ["-c"]:
        verify(state, args)
        return
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
            if "com.docker.compose.container-number" in fmt:
                print(c["number"])
            elif "{{if .State.Health}}" in fmt:
                print(health_of(state, c) or c["status"])
            elif ".State.Health.Status" in fmt:
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
    elif command == "volume" and rest[:1] == ["inspect"]:
        for name in rest[1:]:
            if name not in state["volumes"]:
                fail(f"Error response from daemon: get {name}: no such volume")
            print(json.dumps([{"Name": name, "Driver": "local"}]))
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
