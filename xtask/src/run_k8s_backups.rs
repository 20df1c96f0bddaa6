//! The behaviour tier for the backup CronJobs: the `kubernetes` environment's rendered
//! `k8s/backups.yaml` run, as a cluster would run it, against a real PostgreSQL (Debian's, as its
//! own user, logins by password over TCP as from another pod) and a real S3 API (moto's server)
//! through the real AWS CLI, in private mount and network namespaces.
//!
//! The Secrets are those the rendered `k8s/secrets.sh apply` creates from `secrets/` (through
//! the kubectl stand-in of the render tests, which keeps them as the API server would); the Job
//! controller and the kubelet are `kubelet.py`, which runs a CronJob's Job with its pods'
//! volumes, environment and containers in roots of their own, without capabilities, the
//! Services' names resolving to loopback.
//!
//! MongoDB and MinIO do not install here: their clients (`mongodump`, `mc`) are stand-ins that
//! serve a server's state (login, documents, buckets' files) to a client that reaches it by the
//! Service's name and logs in with what the Secrets hold.
//!
//! Checked, for PostgreSQL's job: it completes in one pod; the object is where `scripts/backup.sh` puts them,
//! with the upload options (storage class, encryption); it is a custom-format dump whose
//! restore brings back the rows; uploads older than the retention are deleted, other keys
//! and newer backups kept; `ps` during the dump and the upload shows no credential; a second run
//! adds a backup; a wrong password fails every pod of the Job at the dump, so no upload runs and
//! nothing is uploaded; S3 down fails the upload; no log holds a secret. MongoDB's job uploads
//! a gzipped mongodump archive holding the documents, and a corrupt archive fails its check, so
//! nothing is uploaded; MinIO's job uploads a tar.gz of the buckets' files; a volume archive
//! (Grafana's state made data for it) reads its claim, read-only, from the claim's node, files
//! of other owners included, and uploads exactly its files.

use anyhow::{Context, bail};

use crate::validate::{Outcome, in_namespaces, require};

/// The stand-in of the Job controller and kubelet.
const KUBELET: &str = include_str!("kubelet.py");

/// Runs as root inside `unshare --mount --net`; prints `key=value` lines.
const SCENARIO: &str = r#"set -euo pipefail
ip link set lo up
work=$(mktemp -d /var/tmp/vutler-k8s-backups.XXXXXX)
chmod 755 "$work"
pg_uid=$(id -u postgres) pg_gid=$(id -g postgres)
as_pg() { setpriv --reuid="$pg_uid" --regid="$pg_gid" --clear-groups -- "$@"; }
data="$work/pgdata"
mkdir -m 700 "$data"
chown "$(id -u postgres):$(id -g postgres)" "$data"
moto_pid=""
cleanup() {
  as_pg pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true
  [[ -z $moto_pid ]] || kill "$moto_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# PostgreSQL, as the postgres Service: logins from other pods by password.
mkdir -p "$work/sock" "$work/state" "$work/bin" "$work/shims" "$work/pods"
chown "$pg_uid:$pg_gid" "$work/sock"
printf '%s' "$PG_PASSWORD" > "$work/sock/pw"
chown "$pg_uid:$pg_gid" "$work/sock/pw"
as_pg initdb -D "$data" -U vutler --pwfile="$work/sock/pw" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
rm -f "$work/sock/pw"
as_pg pg_ctl -D "$data" -o "-k $work/sock -h 127.0.0.1 -p 5432" -l "$work/sock/server.log" -w start >/dev/null
sql() { psql -h "$work/sock" -U vutler -d "${2:-vutler}" -AtXqc "$1"; }
sql "CREATE DATABASE vutler" postgres
sql "CREATE TABLE messages (id serial PRIMARY KEY, body text); INSERT INTO messages (body) VALUES ('one'), ('two'), ('three')"

# S3: moto's server, the bucket made with the real AWS CLI, older uploads and another key.
moto_server -H 127.0.0.1 -p 5000 >"$work/moto.log" 2>&1 &
moto_pid=$!
s3() { AWS_ACCESS_KEY_ID=$S3_ID AWS_SECRET_ACCESS_KEY=$S3_KEY AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url http://127.0.0.1:5000 "$@"; }
for _ in $(seq 100); do
  s3 s3 ls >/dev/null 2>&1 && break
  sleep 0.1
done
s3 s3 mb s3://vutler-backups >/dev/null
ago() { date -u -d "-$1 days" +%Y%m%dT%H%M%SZ; }
d5=$(ago 5) d40=$(ago 40) d41=$(ago 41)
printf 'PGDMP old' > "$work/old.dump"
for key in "$d5.dump" "$d40.dump" "$d41.dump" notes.txt; do
  s3 s3 cp --quiet "$work/old.dump" "s3://vutler-backups/daily/postgres/$key"
done
listing() { s3 s3 ls s3://vutler-backups/daily/postgres/; }
new_backups() { listing | awk '{print $4}' | grep -E '^[0-9]{8}T[0-9]{6}Z\.dump$' | grep -v -e "^$d5" -e "^$d40" -e "^$d41" || true; }

# The Secrets, created by the rendered k8s/secrets.sh from the files of secrets/.
mkdir -p "$work/deploy"
tar -C "$work/deploy" -xf "$TREE"
mkdir -m 700 "$work/deploy/secrets"
for file in $SECRET_FILES; do
  printf 'value-of-%s' "$file" > "$work/deploy/secrets/$file"
done
printf '%s' "$PG_PASSWORD" > "$work/deploy/secrets/postgres_password"
printf '%s' "$S3_ID" > "$work/deploy/secrets/backup_s3_access_key_id"
printf '%s' "$S3_KEY" > "$work/deploy/secrets/backup_s3_secret_access_key"
printf '%s' "$MONGO_PASSWORD" > "$work/deploy/secrets/mongo_password"
printf '%s' "$MINIO_USER" > "$work/deploy/secrets/minio_access_key"
printf '%s' "$MINIO_PASSWORD" > "$work/deploy/secrets/minio_secret_key"
ln -s "$KUBECTL_STANDIN" "$work/bin/kubectl"
real_kubectl=$(command -v kubectl)
apply_secrets() {
  (cd "$work/deploy" && PATH="$work/bin:$PATH" KUBE_STATE="$work/state" REAL_KUBECTL="$real_kubectl" KUBECONFIG=/dev/null \
    bash k8s/secrets.sh apply) >>"$work/secrets.log" 2>&1
}
apply_secrets && echo "secrets=ok" || echo "secrets=failed"

# The cluster's names: the Services the pods connect to.
printf '127.0.0.1 localhost\n127.0.0.1 postgres mongo minio\n' > "$work/hosts"
# Who runs with which arguments, while the dump and the upload run.
real_aws=$(pyenv which aws 2>/dev/null || command -v aws)
real_aws=$(readlink -f "$real_aws")
host_mounts=""
[[ $real_aws == /usr/* ]] || host_mounts=$(dirname "$(dirname "$real_aws")")
cat > "$work/shims/pg_dump" <<'SHIM'
#!/bin/sh
ps -eww -o args > /shims/ps-dump.txt
exec /usr/bin/pg_dump "$@"
SHIM
cat > "$work/shims/aws" <<SHIM
#!/bin/sh
case " \$* " in *" s3 cp "*) ps -eww -o args >> /shims/ps-upload.txt ;; esac
exec "$real_aws" "\$@"
SHIM
# MongoDB and MinIO do not install here: stand-ins of their clients, which serve the state of a
# server (its login, a database's documents, the buckets' files) to a client that reaches it by
# the Service's name and logs in as the Secrets say.
python3 - "$work/shims/server.json" <<'STATE'
import json, os, sys
json.dump({
    "mongo": {"user": "admin", "password": os.environ["MONGO_PASSWORD"], "corrupt": False,
              "documents": [{"_id": 1, "text": "hello"}, {"_id": 2, "text": "world"}]},
    "minio": {"user": os.environ["MINIO_USER"], "password": os.environ["MINIO_PASSWORD"],
              "files": {"vutler-files/a.txt": "first file", "vutler-files/dir/b.txt": "second file"}},
}, open(sys.argv[1], "w"))
STATE
cat > "$work/shims/mongodump" <<'SHIM'
#!/usr/bin/env python3
import gzip, json, socket, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
server = json.load(open("/shims/server.json"))["mongo"]
if socket.gethostbyname(args["host"]) != "127.0.0.1" or args["port"] != "27017":
    sys.exit(f"mongodump: no server at {args['host']}:{args['port']}")
text = open(args["config"]).read()
password = text[len("password: '"):-2].replace("''", "'") if text.startswith("password: '") else None
if args.get("username") != server["user"] or password != server["password"]:
    sys.exit("mongodump: Authentication failed")
if "--gzip" not in sys.argv:
    sys.exit("mongodump: this stand-in writes gzipped archives only")
body = b"not an archive" if server["corrupt"] else bytes.fromhex("6de29981") + json.dumps(server["documents"]).encode()
with open(args["archive"], "wb") as f:
    f.write(gzip.compress(body))
SHIM
cat > "$work/shims/mc" <<'SHIM'
#!/usr/bin/env python3
import json, os, socket, sys, urllib.parse
if sys.argv[1:3] != ["mirror", "--quiet"] or len(sys.argv) != 5:
    sys.exit(f"mc: this stand-in mirrors only: {sys.argv[1:]}")
alias, dest = sys.argv[3], sys.argv[4]
url = urllib.parse.urlsplit(os.environ[f"MC_HOST_{alias}"])
server = json.load(open("/shims/server.json"))["minio"]
if socket.gethostbyname(url.hostname) != "127.0.0.1" or url.port != 9000:
    sys.exit(f"mc: no server at {url.hostname}:{url.port}")
user, password = urllib.parse.unquote(url.username), urllib.parse.unquote(url.password)
if user != server["user"] or password != server["password"]:
    sys.exit("mc: The Access Key Id you provided does not exist in our records")
for key, text in server["files"].items():
    path = os.path.join(dest, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(text)
SHIM
chmod 755 "$work/shims"/*
run_job() {
  HOST_MOUNTS=$host_mounts python3 "$KUBELET" "$MANIFEST" "backup-${2:-postgres}" "$work/state" "$work/pods" "$work/hosts" "$work/shims" >"$work/run-$1.log" 2>&1 || true
  echo "$1_job=$(tail -n 1 "$work/run-$1.log")"
  echo "$1_pods=$(grep -o '^pod [0-9]*' "$work/run-$1.log" | sort -u | wc -l)"
  echo "$1_uploads=$(grep -c 'container upload' "$work/run-$1.log" || true)"
}

run_job first
echo "first_new=$(new_backups | wc -l)"
echo "kept_5d=$(listing | grep -c " $d5.dump$" || true)"
echo "kept_40d=$(listing | grep -c " $d40.dump$" || true)"
echo "kept_41d=$(listing | grep -c " $d41.dump$" || true)"
echo "kept_other=$(listing | grep -c ' notes.txt$' || true)"
name=$(new_backups | head -n 1)
s3 s3 cp --quiet "s3://vutler-backups/daily/postgres/$name" "$work/fetched.dump" || true
echo "custom_format=$(head -c 5 "$work/fetched.dump" 2>/dev/null)"
echo "storage_class=$(s3 s3api head-object --bucket vutler-backups --key "daily/postgres/$name" --query StorageClass --output text 2>/dev/null)"
echo "encryption=$(s3 s3api head-object --bucket vutler-backups --key "daily/postgres/$name" --query ServerSideEncryption --output text 2>/dev/null)"
sql "CREATE DATABASE restored" postgres
pg_restore -h "$work/sock" -U vutler --dbname=restored --no-owner --exit-on-error "$work/fetched.dump" && echo "restore=ok" || echo "restore=failed"
echo "restored_rows=$(sql "SELECT string_agg(body, ',' ORDER BY id) FROM messages" restored 2>/dev/null || true)"
secret_seen() {
  grep -qF -e "$S3_KEY" -e "$PG_PASSWORD" -e "$MONGO_PASSWORD" -e "$MINIO_PASSWORD" "$@" && echo yes || echo no
}
echo "ps_dump_taken=$(grep -qs 'pg_dump --host=postgres' "$work/shims/ps-dump.txt" && echo yes || echo no)"
echo "ps_dump_secret=$(secret_seen "$work/shims/ps-dump.txt")"
echo "ps_upload_taken=$([[ -s $work/shims/ps-upload.txt ]] && echo yes || echo no)"
echo "ps_upload_secret=$(secret_seen "$work/shims/ps-upload.txt")"

# A second run, a second later: another backup, the first kept.
sleep 1.1
run_job second
echo "second_new=$(new_backups | wc -l)"

# A wrong password: every pod of the Job fails at the dump; nothing is uploaded.
printf 'not-the-password' > "$work/deploy/secrets/postgres_password"
apply_secrets
sleep 1.1
run_job wrong
echo "wrong_new=$(new_backups | wc -l)"
printf '%s' "$PG_PASSWORD" > "$work/deploy/secrets/postgres_password"
apply_secrets

# MongoDB's job: the password reaches mongodump in its config file; the archive is checked.
run_job mongo mongo
mongo_key=$(s3 s3 ls s3://vutler-backups/daily/mongo/ | awk '{print $4}' | grep -E '^[0-9]{8}T[0-9]{6}Z\.archive\.gz$' | head -n 1)
echo "mongo_uploaded=$([[ -n $mongo_key ]] && echo yes || echo no)"
s3 s3 cp --quiet "s3://vutler-backups/daily/mongo/$mongo_key" "$work/mongo.gz" 2>/dev/null || true
echo "mongo_magic=$(gzip -dc "$work/mongo.gz" 2>/dev/null | head -c 4 | od -An -tx1 | tr -d ' \n')"
echo "mongo_documents=$(gzip -dc "$work/mongo.gz" 2>/dev/null | tail -c +5 | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' 2>/dev/null)"
echo "ps_mongo_secret=$(grep -qsF "$MONGO_PASSWORD" "$work/shims/"ps-*.txt && echo yes || echo no)"
python3 - "$work/shims/server.json" <<'CORRUPT'
import json, sys
state = json.load(open(sys.argv[1])); state["mongo"]["corrupt"] = True; json.dump(state, open(sys.argv[1], "w"))
CORRUPT
sleep 1.1
run_job mongo_corrupt mongo
echo "mongo_corrupt_uploaded=$(s3 s3 ls s3://vutler-backups/daily/mongo/ | grep -c '\.archive\.gz$' || true)"

# MinIO's job: the buckets mirrored with the percent-encoded login, packed, uploaded.
run_job minio minio
minio_key=$(s3 s3 ls s3://vutler-backups/daily/minio/ | awk '{print $4}' | grep -E '^[0-9]{8}T[0-9]{6}Z\.tar\.gz$' | head -n 1)
mkdir -p "$work/minio-restored"
s3 s3 cp --quiet "s3://vutler-backups/daily/minio/$minio_key" "$work/minio.tar.gz" 2>/dev/null || true
tar -xzf "$work/minio.tar.gz" -C "$work/minio-restored" 2>/dev/null || true
restored="$work/minio-restored/vutler-files"
echo "minio_files=$(cat "$restored/a.txt" 2>/dev/null)|$(cat "$restored/dir/b.txt" 2>/dev/null)"

# Grafana's claim, archived read-only from its node: files of Grafana's user (472) only it
# reads, a folder, a link.
claim="$work/state/claims/grafana-data-grafana-0"
mkdir -p "$claim/plugins"
printf 'SQLite format 3 the state' > "$claim/grafana.db"
printf 'a plugin' > "$claim/plugins/a file.txt"
ln -s grafana.db "$claim/link"
chown -R 472:472 "$claim"
chmod 0600 "$claim/grafana.db"
chmod 0700 "$claim/plugins"
# What the job changes in the claim is newer than this (the AWS CLI dates a download by the
# object's upload time, to the second: no mark).
touch "$work/claim-ready"
run_job files files
files_key=$(s3 s3 ls s3://vutler-backups/daily/files/ | awk '{print $4}' | grep -E '^[0-9]{8}T[0-9]{6}Z\.tar\.gz$' | head -n 1)
mkdir -p "$work/files-restored"
s3 s3 cp --quiet "s3://vutler-backups/daily/files/$files_key" "$work/files.tar.gz" 2>/dev/null || true
tar -xzf "$work/files.tar.gz" -C "$work/files-restored" 2>/dev/null || true
echo "files_same=$(diff -r --no-dereference "$claim" "$work/files-restored" >/dev/null 2>&1 && echo yes || echo no)"
echo "files_claim_untouched=$(find "$claim" -newer "$work/claim-ready" | wc -l)"

# S3 down: the dump succeeds, the upload fails, and the Job.
kill "$moto_pid"; wait "$moto_pid" 2>/dev/null || true; moto_pid=""
run_job down
echo "down_upload_failed=$(grep -c 'container upload exit [1-9]' "$work/run-down.log" || true)"
echo "secret_in_logs=$(secret_seen "$work"/run-*.log "$work/secrets.log")"
"#;

/// The `kubernetes` environment with the S3 endpoint at moto, and Grafana's state as data
/// archived by a job (its claim is added to the overlay's).
const OVERLAY: &str = "backups:
  s3: { endpoint: 'http://127.0.0.1:5000', region: us-east-1 }
  jobs:
    files:
      service: grafana
      volume: grafana-data
      method: volume_archive
      schedule: '0 4 * * *'
      retention: { local: 2d, remote: 30d }
      size: 100MB
volumes:
  grafana-data: { kind: data }
";

/// Runs the `kubernetes` environment's backup CronJob of PostgreSQL against PostgreSQL and an
/// S3 API.
pub fn check(root: &std::path::Path) -> anyhow::Result<Outcome> {
    let tools = [
        "unshare",
        "setpriv",
        "chroot",
        "ip",
        "initdb",
        "pg_ctl",
        "psql",
        "pg_dump",
        "pg_restore",
        "moto_server",
        "aws",
        "python3",
        "kubectl",
    ];
    if let Some(skip) = require(&tools)? {
        return Ok(skip);
    }
    let stack = crate::validate::stack_with(root, "kubernetes", |overlay| {
        // Grafana's state as data with a claim, archived by a job of its own.
        let claims = "    volumes:\n";
        if !overlay.contains(claims) {
            bail!("env/kubernetes.yaml has no platform.kubernetes.volumes");
        }
        let overlay = overlay.replacen(claims, &format!("{claims}      grafana-data: {{ size: 1GB }}\n"), 1);
        Ok(format!("{overlay}\n{OVERLAY}"))
    })?;
    let tree = vutler_render::render(&stack)?;
    let work = crate::validate::scratch_dir("k8s-backups-run");
    std::fs::create_dir_all(&work)?;
    // The CronJobs' file, as the API server would hold its objects.
    let manifest = tree
        .get("k8s/backups.yaml")
        .context("k8s/backups.yaml is not rendered")?;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(manifest) {
        let value = <serde_json::Value as serde::Deserialize>::deserialize(doc)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    std::fs::write(work.join("backups.json"), serde_json::to_string(&docs)?)?;
    std::fs::write(work.join("kubelet.py"), KUBELET)?;
    let archive = crate::validate::packed_tree(&tree, &work, str::to_owned)?;
    // Every required secret has its file, as `k8s/secrets.sh check` demands.
    let secret_files: Vec<String> = stack
        .variables()
        .iter()
        .filter(|v| v.secret && v.required)
        .map(|v| v.name.to_ascii_lowercase())
        .collect();
    let scenario = in_namespaces("the backup CronJob scenario", SCENARIO, |cmd| {
        cmd.env("TREE", &archive)
            .env("MANIFEST", work.join("backups.json"))
            .env("KUBELET", work.join("kubelet.py"))
            .env("KUBECTL_STANDIN", root.join("vutler-render/tests/standins/kubectl.py"))
            .env("SECRET_FILES", secret_files.join(" "))
            // A password with what libpq's password file escapes, and what shells expand.
            .env("PG_PASSWORD", "pg:Pass\\word-$1")
            .env("S3_ID", "AKIAVUTLERTEST")
            .env("S3_KEY", "s3-Secret-Key-not-to-be-seen")
            // Quotes for the mongo tools' YAML config, what a URL percent-encodes for mc.
            .env("MONGO_PASSWORD", "it's a \"mongo\" pa$$word")
            .env("MINIO_USER", "minio-admin")
            .env("MINIO_PASSWORD", "minio:secret/key@1 %")
    });
    let _ = std::fs::remove_dir_all(&work);
    let scenario = match scenario? {
        Ok(scenario) => scenario,
        Err(skipped) => return Ok(skipped),
    };
    let expected = [
        ("secrets", "ok"),
        ("first_job", "job Complete"),
        ("first_pods", "1"),
        ("first_uploads", "1"),
        ("first_new", "1"),
        ("kept_5d", "1"),
        ("kept_40d", "0"),
        ("kept_41d", "0"),
        ("kept_other", "1"),
        ("custom_format", "PGDMP"),
        ("storage_class", "STANDARD_IA"),
        ("encryption", "AES256"),
        ("restore", "ok"),
        ("restored_rows", "one,two,three"),
        ("ps_dump_taken", "yes"),
        ("ps_dump_secret", "no"),
        ("ps_upload_taken", "yes"),
        ("ps_upload_secret", "no"),
        ("second_job", "job Complete"),
        ("second_new", "2"),
        ("wrong_job", "job Failed"),
        ("wrong_pods", "3"),
        ("wrong_uploads", "0"),
        ("wrong_new", "2"),
        ("mongo_job", "job Complete"),
        ("mongo_uploaded", "yes"),
        ("mongo_magic", "6de29981"),
        ("mongo_documents", "2"),
        ("ps_mongo_secret", "no"),
        ("mongo_corrupt_job", "job Failed"),
        ("mongo_corrupt_uploads", "0"),
        ("mongo_corrupt_uploaded", "1"),
        ("minio_job", "job Complete"),
        ("minio_uploads", "1"),
        ("minio_files", "first file|second file"),
        ("files_job", "job Complete"),
        ("files_same", "yes"),
        ("files_claim_untouched", "0"),
        ("down_job", "job Failed"),
        ("down_upload_failed", "3"),
        ("secret_in_logs", "no"),
    ];
    Ok(Outcome::Passed(
        scenario.expect(&expected, "the backup CronJob does not do what it says")?,
    ))
}
