//! The behaviour tier for backups: production's rendered `scripts/backup.sh` and
//! `scripts/restore.sh` run against a real PostgreSQL (Debian's, as an unprivileged user) and a
//! real S3 API (moto's server, from PyPI) through the real AWS CLI, in private mount and network
//! namespaces. The stack is production's with an overlay that points the S3 endpoint at moto and
//! keeps the local folders in the scenario's scratch folder.
//!
//! A `docker` on `PATH` runs what the scripts send as the containers would:
//! `docker compose exec -T postgres sh -c ...` as PostgreSQL's user with the container's
//! environment and socket; `docker compose exec -T mongo sh -c ...` under `dash` with the
//! container's environment and Docker secret file, where `mongodump` is a stand-in (no MongoDB
//! server installs here) that checks the password it finds in its `--config` file and writes an
//! archive; `docker run --rm -i --network none --user postgres ...` (a restore drill) in a fresh
//! `/tmp` and a network namespace of its own; `docker compose stop|start` of PostgreSQL stops
//! and starts the server, of other services records them. MinIO's job stays with the stand-in of
//! the script tests (no MinIO server installs here).
//!
//! The server runs at the image's paths (`PGDATA` in the data volume's folder) with the settings
//! of the rendered `docker-compose.yml`, WAL archiving included; `docker compose run` of the
//! service (the point-in-time restore's preparation) runs as root with the `-v` folder mounted.
//!
//! Checked: a backup dumps (pg_dump's custom format), checks, uploads (the object is in the
//! bucket, with the file's bytes) and prunes by both retentions, never the newest; `ps` during
//! the dump and the upload shows no credential; `restore.sh --verify` passes on the good dump and
//! fails on a truncated one, and records the drill; `restore.sh --yes` brings back the rows of
//! the dump; a base backup is taken and uploaded, the server archives a switched WAL segment,
//! `backup.sh --wal` ships it and empties the archive, and `restore.sh --to TIME` brings back
//! exactly the rows committed before TIME (those after are gone), promoted and writable, with
//! the replaced data folder kept; a failed upload (S3 down) keeps the local copy and exits 1.

use anyhow::{Context, bail};

use crate::validate::{Outcome, in_namespaces, require};

/// Runs as root inside `unshare --mount --net`; prints `key=value` lines.
const SCENARIO: &str = r#"set -euo pipefail
ip link set lo up
work=$(mktemp -d /var/tmp/vutler-backups.XXXXXX)
chmod 755 "$work"
# The image's paths: the data volume at /var/lib/postgresql/data, PGDATA inside it.
mount -t tmpfs tmpfs /var/lib/postgresql
mkdir -p /var/lib/postgresql/data
chmod 1777 /var/lib/postgresql/data
export PGDATA=/var/lib/postgresql/data/pgdata
pg_uid=$(id -u postgres) pg_gid=$(id -g postgres)
as_pg() { setpriv --reuid="$pg_uid" --regid="$pg_gid" --clear-groups -- "$@"; }
moto_pid=""
cleanup() {
  as_pg pg_ctl -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
  [[ -z $moto_pid ]] || kill "$moto_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/sock" "$work/bin" "$work/secrets" "$work/state" "$work/volumes/grafana-data/plugins"
chown "$pg_uid:$pg_gid" "$work/sock"
printf '%s' "$PG_PASSWORD" > "$work/sock/pw"
chown "$pg_uid:$pg_gid" "$work/sock/pw"
as_pg initdb -D "$PGDATA" -U vutler --pwfile="$work/sock/pw" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
# The server runs with the settings of the rendered docker-compose.yml (WAL archiving included).
printf '%s\n' "$PG_FLAGS" > "$work/pg-flags"
cat > "$work/pg-start" <<START
#!/usr/bin/env bash
set -euo pipefail
# A container does not inherit the descriptors of the script that started it (the scripts' locks).
exec 8>&- 9>&-
mapfile -t flags < "$work/pg-flags"
setpriv --reuid=$pg_uid --regid=$pg_gid --clear-groups -- postgres -D "$PGDATA" -k "$work/sock" -h 127.0.0.1 -p 5432 "\${flags[@]}" >>"$work/sock/server.log" 2>&1 &
for _ in \$(seq 300); do
  pg_isready -q -h "$work/sock" -p 5432 -U vutler -d postgres && exit 0
  sleep 0.1
done
echo "PostgreSQL did not start" >&2
exit 1
START
chmod 755 "$work/pg-start"
"$work/pg-start"
sql() { psql -h "$work/sock" -U vutler -d "${2:-vutler}" -AtXqc "$1"; }
sql "CREATE DATABASE vutler" postgres
sql "CREATE TABLE messages (id serial PRIMARY KEY, body text); INSERT INTO messages (body) VALUES ('one'), ('two'), ('three')"

# S3: moto's server, the bucket made with the real AWS CLI.
export AWS_ACCESS_KEY_ID=$S3_ID AWS_SECRET_ACCESS_KEY=$S3_KEY AWS_DEFAULT_REGION=us-east-1
moto_server -H 127.0.0.1 -p 5000 >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 100); do
  aws --endpoint-url http://127.0.0.1:5000 s3 ls >/dev/null 2>&1 && break
  sleep 0.1
done
s3() { aws --endpoint-url http://127.0.0.1:5000 "$@"; }
s3 s3 mb s3://vutler-backups >/dev/null
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

real_aws=$(command -v aws)
real_pg_dump=$(command -v pg_dump)
# Who runs with which arguments, while a dump and an upload run.
cat > "$work/bin/pg_dump" <<SHIM
#!/bin/sh
ps -eww -o args > "$work/ps-dump.txt"
exec "$real_pg_dump" "\$@"
SHIM
cat > "$work/bin/aws" <<SHIM
#!/bin/sh
[ "\$3 \$4" = "s3 cp" ] && ps -eww -o args >> "$work/ps-upload.txt"
exec "$real_aws" "\$@"
SHIM
# MongoDB's dump tool: what it finds in its --config file, and an archive.
cat > "$work/bin/mongodump" <<'SHIM'
#!/usr/bin/env python3
import gzip, os, subprocess, sys
config = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--config=")]
if not config:
    sys.exit("mongodump: no --config file")
text = open(config[0]).read()
assert text.startswith("password: '") and text.endswith("'\n"), text
password = text[len("password: '"):-2].replace("''", "'")
with open(os.environ["MONGO_SEEN"], "w") as f:
    f.write("yes" if password == os.environ["MONGO_EXPECTED"] else "no")
    f.write(" %o" % (os.stat(config[0]).st_mode & 0o777))
with open(os.environ["MONGO_PS"], "w") as f:
    f.write(subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout)
sys.stdout.buffer.write(gzip.compress(bytes.fromhex("6de29981") + b"the archive"))
SHIM
printf '%s' "$MONGO_PASSWORD" > "$work/secrets/mongo_password"

# `docker` as the containers would run the commands (`exec` runs as the image's root).
cat > "$work/bin/docker" <<SHIM
#!/usr/bin/env bash
set -euo pipefail
echo "docker \$*" >> "$work/docker.log"
pgbin="$work/bin:$(dirname "$(command -v psql)"):$(dirname "$(command -v initdb)"):/usr/bin:/bin"
if [[ \$1 == compose && \$2 == exec && \$3 == -T && \$4 == postgres ]]; then
  exec env -i PATH="\$pgbin" POSTGRES_USER=vutler PGDATA="$PGDATA" PGHOST="$work/sock" PGPORT=5432 "\${@:5}"
elif [[ \$1 == compose && \$2 == exec && \$3 == -T && \$4 == mongo && \$5 == sh && \$6 == -c ]]; then
  exec env -i PATH="$work/bin:/usr/bin:/bin" MONGO_INITDB_ROOT_USERNAME=admin \
    MONGO_INITDB_ROOT_PASSWORD_FILE="$work/secrets/mongo_password" MONGO_EXPECTED="\$MONGO_EXPECTED" \
    MONGO_SEEN="$work/mongo-seen.txt" MONGO_PS="$work/ps-mongo.txt" dash -c "\$7"
elif [[ \$1 == run && " \$* " == *" --network none "* && " \$* " == *" --user postgres "* ]]; then
  # A throwaway container: a /tmp and a network of its own, no volume.
  script=\${@: -1}
  exec unshare --mount --net --propagation private sh -c 'mount -t tmpfs tmpfs /tmp && ip link set lo up &&
    exec env -i PATH="\$1" setpriv --reuid=$pg_uid --regid=$pg_gid --clear-groups -- sh -c "\$2"' sh "\$pgbin" "\$script"
elif [[ \$1 == compose && \$2 == run && " \$* " == *" --entrypoint sh postgres -c "* ]]; then
  # A one-off container of the service: its volume, the -v folder, as root.
  args=("\$@")
  for ((i = 0; i < \${#args[@]}; i++)); do
    [[ \${args[i]} == -v ]] && mount_spec=\${args[i + 1]}
    [[ \${args[i]} == -c ]] && break
  done
  source_dir=\${mount_spec%%:*} rest=\${mount_spec#*:} target=\${rest%%:*}
  exec unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /tmp && mkdir -p "\$2" && mount --bind "\$1" "\$2" &&
    shift 2 && exec env -i PATH=/usr/bin:/bin PGDATA="$PGDATA" sh "\$@"' sh "\$source_dir" "\$target" "\${args[@]:i}"
elif [[ \$1 == compose && \$2 == exec && \$3 == -T && \$4 == grafana && \$5 == sh && \$6 == -c ]]; then
  # Grafana's container sees its volume (a folder here) at /var/lib/grafana, while it runs.
  if [[ -e "$work/state/grafana.stopped" ]]; then
    echo 'service "grafana" is not running' >&2
    exit 1
  fi
  exec env -i PATH=/usr/bin:/bin sh -c "\${7//\/var\/lib\/grafana/$work/volumes/grafana-data}"
elif [[ \$1 == compose && \$2 == run && " \$* " == *" --entrypoint sh grafana -c "* ]]; then
  # A one-off container of Grafana: the same volume; whether the service ran meanwhile is noted.
  echo "run grafana while \$([[ -e "$work/state/grafana.stopped" ]] && echo stopped || echo running)" >> "$work/services.log"
  script=\${@: -1}
  exec env -i PATH=/usr/bin:/bin sh -c "\${script//\/var\/lib\/grafana/$work/volumes/grafana-data}"
elif [[ \$1 == compose && (\$2 == stop || \$2 == start) ]]; then
  for service in "\${@:3}"; do
    echo "\$2 \$service" >> "$work/services.log"
    if [[ \$2 == stop ]]; then
      touch "$work/state/\$service.stopped"
    else
      rm -f "$work/state/\$service.stopped"
    fi
    if [[ \$service == postgres && \$2 == stop ]]; then
      setpriv --reuid=$pg_uid --regid=$pg_gid --clear-groups -- pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    elif [[ \$service == postgres ]]; then
      "$work/pg-start"
    fi
  done
else
  echo "the docker stand-in of this scenario does not run: docker \$*" >&2
  exit 1
fi
SHIM
chmod 755 "$work/bin"/*
mkdir -p "$work/deploy"
tar -C "$work/deploy" -xf "$TREE"
printf 'VERSION=1.0.0\nBACKUP_S3_ACCESS_KEY_ID=%s\nBACKUP_S3_SECRET_ACCESS_KEY=%s\n' "$S3_ID" "$S3_KEY" > "$work/deploy/.env"
# A script that waits for another's lock fails the scenario in seconds, not 15 minutes.
export PATH="$work/bin:$PATH" MONGO_EXPECTED="$MONGO_PASSWORD" VUTLER_LOCK_WAIT=20
sed -i "s#@WORK@#$work#g" "$work/deploy/scripts/backup.sh" "$work/deploy/scripts/restore.sh"
backup() { bash "$work/deploy/scripts/backup.sh" "$@" 2>>"$work/scripts.log"; }
restore() { bash "$work/deploy/scripts/restore.sh" "$@" 2>>"$work/scripts.log"; }
ago() { date -u -d "-$1 days" +%Y%m%dT%H%M%SZ; }

# Older backups: here 1 and 5 days old (2 are kept), uploaded 5 and 40 days old (30 are kept).
local_dir="$work/backup/postgres"
mkdir -p "$local_dir"
d1=$(ago 1) d5=$(ago 5) d40=$(ago 40)
for d in "$d1" "$d5"; do printf 'PGDMP old' > "$local_dir/$d.dump"; done
printf 'PGDMP old' > "$work/old.dump"
for d in "$d5" "$d40"; do
  AWS_ACCESS_KEY_ID=$S3_ID AWS_SECRET_ACCESS_KEY=$S3_KEY s3 s3 cp --quiet "$work/old.dump" "s3://vutler-backups/daily/postgres/$d.dump"
done

name=20300101T020000Z
backup --only postgres --name "$name" && echo "backup=ok" || echo "backup=failed"
echo "local_names=$(cd "$local_dir" && ls | tr '\n' ' ')"
echo "local_kept_1d=$([[ -f $local_dir/$d1.dump ]] && echo yes || echo no)"
echo "local_kept_5d=$([[ -f $local_dir/$d5.dump ]] && echo yes || echo no)"
listing=$(AWS_ACCESS_KEY_ID=$S3_ID AWS_SECRET_ACCESS_KEY=$S3_KEY s3 s3 ls s3://vutler-backups/daily/postgres/)
echo "remote_new=$(grep -c " $name.dump$" <<<"$listing")"
echo "remote_kept_5d=$(grep -c " $d5.dump$" <<<"$listing")"
echo "remote_kept_40d=$(grep -c " $d40.dump$" <<<"$listing")"
AWS_ACCESS_KEY_ID=$S3_ID AWS_SECRET_ACCESS_KEY=$S3_KEY s3 s3 cp --quiet "s3://vutler-backups/daily/postgres/$name.dump" "$work/fetched.dump"
echo "remote_same_bytes=$(cmp -s "$work/fetched.dump" "$local_dir/$name.dump" && echo yes || echo no)"
echo "custom_format=$(head -c 5 "$local_dir/$name.dump")"
echo "recorded=$(grep -c '^vutler_backup_last_success_timestamp_seconds{backup="postgres"} ' "$work/textfile/backup_postgres.prom" || true)"
secret_seen() { grep -qF -e "$S3_KEY" -e "$PG_PASSWORD" -e "$MONGO_PASSWORD" "$@" && echo yes || echo no; }
echo "ps_dump_taken=$([[ -s $work/ps-dump.txt ]] && grep -q 'pg_dump' "$work/ps-dump.txt" && echo yes || echo no)"
echo "ps_dump_secret=$(secret_seen "$work/ps-dump.txt")"
echo "ps_upload_taken=$([[ -s $work/ps-upload.txt ]] && echo yes || echo no)"
echo "ps_upload_secret=$(secret_seen "$work/ps-upload.txt")"

# The drill: the newest backup restored into a scratch server.
summary=$(restore --verify postgres) && echo "verify=ok" || echo "verify=failed"
echo "verify_summary=$summary"
echo "drill_recorded=$(grep -c '^vutler_backup_verify_last_success_timestamp_seconds{backup="postgres"} ' "$work/textfile/drill_postgres.prom" || true)"
head -c 200 "$local_dir/$name.dump" > "$local_dir/20300101T030000Z.dump"
restore --verify postgres 20300101T030000Z >/dev/null && echo "verify_truncated=ok" || echo "verify_truncated=failed"
rm -f "$local_dir/20300101T030000Z.dump"

# Rows written after the dump are gone after restoring it; the app was stopped meanwhile.
sql "INSERT INTO messages (body) VALUES ('four'), ('five')"
restore --yes postgres "$name" && echo "restore=ok" || echo "restore=failed"
echo "rows_after_restore=$(sql 'SELECT count(*) FROM messages')"
echo "app_stopped_and_started=$(tr '\n' ' ' < "$work/services.log")"

# MongoDB's job: the password reaches mongodump through its config file, never an argument.
backup --only mongo --name "$name" && echo "mongo_backup=ok" || echo "mongo_backup=failed"
echo "mongo_password_read=$(cat "$work/mongo-seen.txt" 2>/dev/null || echo none)"
echo "ps_mongo_secret=$(secret_seen "$work/ps-mongo.txt")"
echo "mongo_remote=$(AWS_ACCESS_KEY_ID=$S3_ID AWS_SECRET_ACCESS_KEY=$S3_KEY s3 s3 ls s3://vutler-backups/daily/mongo/ | grep -c " $name.archive.gz$")"

# Grafana's volume, plain files: archived while it runs, restored exactly (a file added since is
# gone, a changed one and a removed one are back) with the service stopped, drilled.
files="$work/volumes/grafana-data"
printf 'SQLite format 3\0 the state' > "$files/grafana.db"
printf 'a plugin' > "$files/plugins/a file.txt"
ln -s grafana.db "$files/link"
cp -a "$files" "$work/files-before"
backup --only files --name "$name" && echo "files_backup=ok" || echo "files_backup=failed"
echo "files_remote=$(AWS_ACCESS_KEY_ID=$S3_ID AWS_SECRET_ACCESS_KEY=$S3_KEY s3 s3 ls s3://vutler-backups/daily/files/ | grep -c " $name.tar.gz$" || true)"
echo "files_listed=$(tar -tzf "$work/backup/files/$name.tar.gz" | grep -c -e 'grafana.db$' -e 'a file.txt$' -e 'link$' || true)"
printf 'changed' > "$files/grafana.db"
printf 'new' > "$files/new.txt"
rm "$files/plugins/a file.txt"
: > "$work/services.log"
restore --yes files "$name" && echo "files_restore=ok" || echo "files_restore=failed"
echo "files_same=$(diff -r --no-dereference "$work/files-before" "$files" >/dev/null && echo yes || echo no)"
echo "files_services=$(tr '\n' ' ' < "$work/services.log")"
summary=$(restore --verify files) && echo "files_verify=$summary" || echo "files_verify=failed"
touch "$work/state/grafana.stopped"
backup --only files --name 20300101T040000Z && echo "files_stopped_backup=ok" || echo "files_stopped_backup=failed"
rm -f "$work/state/grafana.stopped"

# Point in time: a base backup, rows before and after a moment, the WAL shipped, a restore to it.
backup --only postgres && echo "pitr_backup=ok" || echo "pitr_backup=failed"
echo "base_uploaded=$(AWS_ACCESS_KEY_ID=$S3_ID AWS_SECRET_ACCESS_KEY=$S3_KEY s3 s3 ls s3://vutler-backups/daily/postgres/base/ | grep -c '\.tar\.gz$' || true)"
sql "INSERT INTO messages (body) VALUES ('before-1'), ('before-2')"
sleep 1.1
target=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1.1
sql "INSERT INTO messages (body) VALUES ('after')"
segment=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
for _ in $(seq 100); do
  [[ $(sql "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < $segment ]] || break
  sleep 0.1
done
echo "archived_locally=$(ls "$PGDATA/../wal-archive" | grep -c "^$segment.gz$" || true)"
backup --wal && echo "ship=ok" || echo "ship=failed"
echo "archive_left=$(ls "$PGDATA/../wal-archive" | grep -c '\.gz$' || true)"
echo "segment_shipped=$(AWS_ACCESS_KEY_ID=$S3_ID AWS_SECRET_ACCESS_KEY=$S3_KEY s3 s3 ls s3://vutler-backups/daily/postgres/wal/ | grep -c " $segment.gz$" || true)"
echo "wal_recorded=$(grep -c '^vutler_backup_wal_shipped_timestamp_seconds{backup="postgres"} ' "$work/textfile/wal_postgres.prom" || true)"
if restore --yes --to "$target" postgres; then
  echo "pitr=ok"
else
  echo "pitr=failed"
  # What went wrong, for the failure message (without `=`, which marks the results).
  tail -n 15 "$work/scripts.log" "$work/sock/server.log" | tr '=' ':'
fi
echo "pitr_rows=$(sql "SELECT string_agg(body, ',' ORDER BY id) FROM messages")"
echo "pitr_primary=$(sql 'SELECT NOT pg_is_in_recovery()')"
echo "pitr_kept_aside=$(ls -d "$PGDATA".before-* 2>/dev/null | wc -l)"
sql "INSERT INTO messages (body) VALUES ('new timeline')" && echo "pitr_writable=yes" || echo "pitr_writable=no"

# S3 down: the upload fails, the job fails, the local copy stays.
kill "$moto_pid"; wait "$moto_pid" 2>/dev/null || true; moto_pid=""
backup --only postgres --name 20300102T020000Z && echo "down_backup=ok" || echo "down_backup=failed"
echo "down_local_kept=$([[ -f $local_dir/20300102T020000Z.dump ]] && echo yes || echo no)"
echo "secret_in_logs=$(secret_seen "$work/scripts.log" "$work/docker.log")"
"#;

/// Production's stack with the S3 endpoint at moto, the local folders under `@WORK@`
/// (replaced by the scenario's scratch folder), and a volume archive of Grafana's volume.
const OVERLAY: &str = "backups:
  local_dir: /WORK/backup
  textfile_dir: /WORK/textfile
  s3: { endpoint: 'http://127.0.0.1:5000', region: us-east-1 }
  jobs:
    files:
      service: grafana
      volume: grafana-data
      method: volume_archive
      schedule: '0 4 * * *'
      retention: { local: 2d, remote: 30d }
      size: 100MB
services:
  node-exporter:
    command: [--path.rootfs=/host, --collector.textfile.directory=/host/WORK/textfile]
";

/// Runs backup.sh and restore.sh of production against PostgreSQL and an S3 API.
pub fn check(root: &std::path::Path) -> anyhow::Result<Outcome> {
    let tools = [
        "unshare",
        "ip",
        "setpriv",
        "initdb",
        "pg_ctl",
        "psql",
        "pg_dump",
        "pg_restore",
        "moto_server",
        "aws",
        "dash",
        "python3",
    ];
    if let Some(skip) = require(&tools)? {
        return Ok(skip);
    }
    let stack = crate::validate::stack_with(root, "production", |o| Ok(format!("{o}\n{OVERLAY}")))?;
    let tree = vutler_render::render(&stack)?;
    // The server's settings, as the rendered docker-compose.yml starts it.
    let compose: serde_yaml::Value = serde_yaml::from_str(
        tree.get(vutler_render::COMPOSE_FILE)
            .context("docker-compose.yml is not rendered")?,
    )?;
    let command = compose["services"]["postgres"]["command"]
        .as_sequence()
        .context("postgres has no command")?;
    let flags: Vec<&str> = command.iter().skip(1).filter_map(serde_yaml::Value::as_str).collect();
    if !flags.iter().any(|f| f.starts_with("archive_command=")) {
        bail!("the rendered postgres command does not archive WAL: {flags:?}");
    }
    let work = crate::validate::scratch_dir("backups-run");
    // The scenario puts its scratch folder where the overlay says /WORK.
    let archive = crate::validate::packed_tree(&tree, &work, |c| c.replace("/WORK/", "@WORK@/"))?;
    let scenario = in_namespaces("the backup scenario", SCENARIO, |cmd| {
        cmd.env("TREE", &archive)
            .env("PG_FLAGS", flags.join("\n"))
            .env("PG_PASSWORD", "pg-Password-1")
            .env("MONGO_PASSWORD", "it's a \"mongo\" pa$$word")
            .env("S3_ID", "AKIAVUTLERTEST")
            .env("S3_KEY", "s3-Secret-Key-not-to-be-seen")
    });
    let _ = std::fs::remove_dir_all(&work);
    let scenario = match scenario? {
        Ok(scenario) => scenario,
        Err(skipped) => return Ok(skipped),
    };
    let expected = [
        ("backup", "ok"),
        ("local_kept_1d", "yes"),
        ("local_kept_5d", "no"),
        ("remote_new", "1"),
        ("remote_kept_5d", "1"),
        ("remote_kept_40d", "0"),
        ("remote_same_bytes", "yes"),
        ("custom_format", "PGDMP"),
        ("recorded", "1"),
        ("ps_dump_taken", "yes"),
        ("ps_dump_secret", "no"),
        ("ps_upload_taken", "yes"),
        ("ps_upload_secret", "no"),
        ("verify", "ok"),
        ("verify_summary", "1 tables, 3 rows"),
        ("drill_recorded", "1"),
        ("verify_truncated", "failed"),
        ("restore", "ok"),
        ("rows_after_restore", "3"),
        (
            "app_stopped_and_started",
            "stop vutler stop postgres-exporter start vutler start postgres-exporter ",
        ),
        ("mongo_backup", "ok"),
        ("mongo_password_read", "yes 600"),
        ("ps_mongo_secret", "no"),
        ("mongo_remote", "1"),
        ("files_backup", "ok"),
        ("files_remote", "1"),
        ("files_listed", "3"),
        ("files_restore", "ok"),
        ("files_same", "yes"),
        (
            "files_services",
            "stop grafana run grafana while stopped start grafana ",
        ),
        ("files_verify", "3 files"),
        ("files_stopped_backup", "failed"),
        ("pitr_backup", "ok"),
        ("base_uploaded", "2"),
        ("archived_locally", "1"),
        ("ship", "ok"),
        ("archive_left", "0"),
        ("segment_shipped", "1"),
        ("wal_recorded", "1"),
        ("pitr", "ok"),
        ("pitr_rows", "one,two,three,before-1,before-2"),
        ("pitr_primary", "t"),
        ("pitr_kept_aside", "1"),
        ("pitr_writable", "yes"),
        ("down_backup", "failed"),
        ("down_local_kept", "yes"),
        ("secret_in_logs", "no"),
    ];
    Ok(Outcome::Passed(scenario.expect(
        &expected,
        "backup.sh and restore.sh do not do what they say",
    )?))
}
