#!/usr/bin/env python3
"""A stand-in for the Job controller and the kubelet, running one Job of a rendered CronJob on
this machine as a cluster would, for the behaviour tier of the backup CronJobs.

Usage: kubelet.py MANIFEST.json CRONJOB STATE WORK HOSTS [SHIMS]

MANIFEST.json holds the documents of the CronJob's manifest file (k8s/backups.yaml as JSON).
The Job is the CronJob's `jobTemplate`: a failed pod is replaced by a new one (fresh volumes)
until `backoffLimit` retries are used up. Each pod runs its init containers in order, each to
completion and each must succeed, then its container; a failure fails the pod and no later
container starts (so an upload never runs after a failed dump). Pods are never restarted in
place (`restartPolicy: Never` is required).

Containers run the host's programs (the images' tools, installed here) in a root of their own:
a tmpfs with the host's /usr, /etc and /dev bound in, a fresh /tmp and /root, the pod's volumes
mounted where the container mounts them (read-only ones read-only), `/etc/hosts` naming the
cluster's Services (HOSTS), as root with no capability and no privilege escalation (`drop:
[ALL]`, `allowPrivilegeEscalation: false`) but those it adds back. Volumes: `emptyDir` (0777, as the kubelet makes
them), `configMap` (the items of a ConfigMap of the same file, or the pod cannot start),
`projected` Secrets (the items of Secrets in STATE/secrets.json, where the kubectl stand-in keeps
what `k8s/secrets.sh apply` created; a missing one that is not optional keeps the pod from
starting), `persistentVolumeClaim` (the folder STATE/claims/NAME, mounted only for a pod that
the scheduler must place beside the pod using the ReadWriteOnce claim: a required pod affinity
on the node). Environment: `value` with Kubernetes' `$(VAR)` expansion, `secretKeyRef` from the
stored Secrets. HOST_MOUNTS (`:`-separated) are folders of this machine bound read-only at
their own paths: programs of the images that live outside /usr here. SHIMS, when given, is mounted at /shims (writable), first on PATH, for the test
to watch the processes.

Prints one line per container (`pod N container NAME exit CODE`) and ends with
`job Complete` or `job Failed`.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

manifest, cron_name, state_dir, work, hosts = sys.argv[1:6]
shims = sys.argv[6] if len(sys.argv) > 6 else None

docs = json.load(open(manifest))
cron = next((d for d in docs if d.get("kind") == "CronJob" and d["metadata"]["name"] == cron_name), None)
if cron is None:
    sys.exit(f"kubelet: no CronJob {cron_name}")
namespace = cron["metadata"]["namespace"]
job = cron["spec"]["jobTemplate"]["spec"]
pod = job["template"]["spec"]
if pod.get("restartPolicy") != "Never":
    sys.exit("kubelet: a Job's pods must not restart in place (restartPolicy Never)")
config_maps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
secrets_file = os.path.join(state_dir, "secrets.json")
stored = json.load(open(secrets_file))["secrets"] if os.path.exists(secrets_file) else {}


class NotStarted(Exception):
    """The pod cannot start (a missing ConfigMap or Secret): it stays pending."""


def secret_value(name, key, optional=False):
    secret = stored.get(f"{namespace}/{name}")
    if secret is None or key not in secret.get("data", {}):
        if optional:
            return None
        raise NotStarted(f"Secret {name} (key {key}) does not exist")
    return base64.b64decode(secret["data"][key])


def expand(text, env):
    """Kubernetes' expansion of `$(VAR)` (a variable defined before) and `$$` (a `$`)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and ")" in text[i:]:
            end = text.index(")", i)
            name = text[i + 2:end]
            if name in env:
                out.append(env[name])
            else:
                out.append(text[i:end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def make_volumes(pod_dir):
    paths = {}
    for v in pod.get("volumes", []):
        path = os.path.join(pod_dir, "volumes", v["name"])
        os.makedirs(path)
        if "emptyDir" in v:
            os.chmod(path, 0o777)
        elif "configMap" in v:
            cm = config_maps.get(v["configMap"]["name"])
            if cm is None:
                raise NotStarted(f"ConfigMap {v['configMap']['name']} does not exist")
            for item in v["configMap"]["items"]:
                with open(os.path.join(path, item["path"]), "w") as f:
                    f.write(cm["data"][item["key"]])
                os.chmod(os.path.join(path, item["path"]), 0o644)
        elif "projected" in v:
            mode = v["projected"].get("defaultMode", 0o644)
            for source in v["projected"]["sources"]:
                s = source["secret"]
                for item in s["items"]:
                    value = secret_value(s["name"], item["key"], s.get("optional", False))
                    if value is None:
                        continue
                    target = os.path.join(path, item["path"])
                    with open(target, "wb") as f:
                        f.write(value)
                    os.chmod(target, mode)
        elif "persistentVolumeClaim" in v:
            # A ReadWriteOnce claim is attached to one node: the pod must be placed by the pod
            # already using it, or it would wait forever to attach (Multi-Attach).
            terms = pod.get("affinity", {}).get("podAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
            if not any(t.get("topologyKey") == "kubernetes.io/hostname" for t in terms):
                raise NotStarted(f"claim {v['persistentVolumeClaim']['claimName']} is attached to another node")
            claim = os.path.join(state_dir, "claims", v["persistentVolumeClaim"]["claimName"])
            if not os.path.isdir(claim):
                raise NotStarted(f"claim {v['persistentVolumeClaim']['claimName']} does not exist")
            os.rmdir(path)
            path = claim
        else:
            raise NotStarted(f"volume {v['name']}: this kubelet models emptyDir, configMap, projected Secrets and claims")
        paths[v["name"]] = path
    return paths


# Mounts the container's root, then runs its command in it: "$1" the root, "$2" the mounts
# (`SOURCE TARGET ro|rw` lines), the command after.
SETUP = r"""set -eu
root=$1 mounts=$2
shift 2
mount -t tmpfs -o mode=0755 tmpfs "$root"
for d in usr etc dev; do
  mkdir -p "$root/$d"
  mount --rbind "/$d" "$root/$d"
done
for d in bin sbin lib lib32 lib64; do
  if [ -L "/$d" ]; then
    cp -P "/$d" "$root/$d"
  elif [ -d "/$d" ]; then
    mkdir -p "$root/$d"
    mount --rbind "/$d" "$root/$d"
  fi
done
mkdir -p "$root/proc" "$root/tmp" "$root/root" "$root/run" "$root/var/tmp"
mount --rbind /proc "$root/proc"
chmod 1777 "$root/tmp" "$root/var/tmp"
mount --bind "$HOSTS_FILE" "$root/etc/hosts"
while read -r source target mode; do
  [ -n "$source" ] || continue
  mkdir -p "$root$target"
  mount --bind "$source" "$root$target"
  if [ "$mode" = ro ]; then
    mount -o remount,bind,ro "$root$target"
  fi
done <<<"$mounts"
caps=$CAPABILITIES
unset HOSTS_FILE CAPABILITIES
exec chroot "$root" setpriv --no-new-privs --bounding-set="-all$caps" --inh-caps=-all -- "$@"
"""


def run_container(c, volumes, pod_dir):
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = expand(e["value"], env)
        else:
            ref = e["valueFrom"]["secretKeyRef"]
            value = secret_value(ref["name"], ref["key"], ref.get("optional", False))
            if value is not None:
                env[e["name"]] = value.decode()
    security = c.get("securityContext", {})
    if security.get("capabilities", {}).get("drop") != ["ALL"] or security.get("allowPrivilegeEscalation") is not False:
        sys.exit(f"kubelet: {c['name']} keeps capabilities this kubelet does not model")
    capabilities = "".join(",+" + cap.lower() for cap in security["capabilities"].get("add", []))
    mounts = []
    for m in c.get("volumeMounts", []):
        mounts.append(f"{volumes[m['name']]} {m['mountPath']} {'ro' if m.get('readOnly') else 'rw'}")
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    # The image's programs that live outside /usr on this machine (a Python of pyenv's).
    for host_path in filter(None, os.environ.get("HOST_MOUNTS", "").split(":")):
        mounts.append(f"{host_path} {host_path} ro")
    if shims:
        mounts.append(f"{shims} /shims rw")
        path = "/shims:" + path
    argv = [expand(a, env) for a in c.get("command", []) + c.get("args", [])]
    root = os.path.join(pod_dir, "roots", c["name"])
    os.makedirs(root)
    process_env = {"PATH": path, "HOME": "/root", "HOSTNAME": cron_name, "HOSTS_FILE": hosts, "CAPABILITIES": capabilities}
    process_env.update(env)
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", SETUP, "setup", root, "\n".join(mounts)] + argv,
        env=process_env,
    )
    return out.returncode


def run_pod(n):
    pod_dir = tempfile.mkdtemp(prefix=f"{cron_name}-{n}-", dir=work)
    try:
        try:
            volumes = make_volumes(pod_dir)
        except NotStarted as e:
            print(f"pod {n} not started: {e}", flush=True)
            return False
        for c in pod.get("initContainers", []) + pod["containers"]:
            try:
                code = run_container(c, volumes, pod_dir)
            except NotStarted as e:
                print(f"pod {n} container {c['name']} not started: {e}", flush=True)
                return False
            print(f"pod {n} container {c['name']} exit {code}", flush=True)
            if code != 0:
                return False
        return True
    finally:
        shutil.rmtree(pod_dir, ignore_errors=True)


attempts = job.get("backoffLimit", 6) + 1
for n in range(1, attempts + 1):
    if run_pod(n):
        print("job Complete", flush=True)
        sys.exit(0)
print("job Failed", flush=True)
sys.exit(1)
