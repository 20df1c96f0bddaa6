//! The behaviour tier for password rotation: the PostgreSQL step of each environment's
//! rendered `scripts/secrets.sh` runs against a real PostgreSQL (Debian's, in a private network
//! namespace, as an unprivileged user), the way the deployed image is set up: local connections
//! trusted, TCP connections with SCRAM passwords.
//!
//! The script's own functions run (`secret_info`, `change_in_server`, `server_exec`), with a
//! `docker` on `PATH` that runs `docker compose exec -T postgres CMD` as the container would: its
//! environment, PostgreSQL's socket. Checked: the old password logs in before, the new one after
//! and the old one no longer; the new password is in no log line of the server, which logs
//! every statement; a change refused by psql (an unknown user) or by the server (read-only
//! transactions) fails the step without printing the password or logging it.
//!
//! No Docker engine and no MongoDB server run here: the other servers' changes run against the
//! stand-in of the script tests (`vutler-render/tests/standins/docker.py`).

use anyhow::Context;
use vutler_spec::stack::{EnvValue, Rotation, TextPart};

use crate::validate::{Outcome, in_namespaces, require};

/// The scenario, run as root inside `unshare --mount --net`: it prints `key=value` lines.
const SCENARIO: &str = r#"set -euo pipefail
ip link set lo up
work=$(mktemp -d)
chmod 755 "$work"
as_pg() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
cleanup() {
  as_pg pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/data" "$work/sock" "$work/bin" "$work/deploy/scripts"
chown 65534:65534 "$work/data" "$work/sock"
printf '%s' "$OLD" > "$work/pw"
chown 65534:65534 "$work/pw"
as_pg initdb -D "$work/data" -U "$PG_USER" --pwfile="$work/pw" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
# Every statement logged, as an operator debugging something might have it.
as_pg pg_ctl -D "$work/data" -o "-k $work/sock -h 127.0.0.1 -p 5432 -c log_statement=all" -l "$work/data/server.log" -w start >/dev/null
login() { # password -> the user it logs in as, or `refused`
  PGPASSWORD=$1 psql "host=127.0.0.1 port=5432 user=$PG_USER dbname=postgres" -tAc 'select current_user' 2>/dev/null || echo refused
}
echo "old_before=$(login "$OLD")"

# `docker compose exec -T postgres CMD...` runs CMD as the container would.
cat > "$work/bin/docker" <<SHIM
#!/usr/bin/env bash
[[ \$1 == compose && \$2 == exec && \$3 == -T && \$4 == "$SERVICE" ]] || { echo "unexpected: docker \$*" >&2; exit 1; }
shift 4
exec env POSTGRES_USER="\$CONTAINER_USER" PGHOST="$work/sock" PGPORT=5432 setpriv --reuid=65534 --regid=65534 --clear-groups -- "\$@"
SHIM
chmod 755 "$work/bin/docker"
# The rendered script's functions, without its command line.
sed '/^command=""$/,$d' "$SCRIPT" > "$work/deploy/scripts/secrets.sh"
cd "$work"
export PATH="$work/bin:$PATH"

if CONTAINER_USER=no_such_user bash -c 'source deploy/scripts/secrets.sh; secret_info "$SECRET"; change_in_server "$NEW"' 2> "$work/refused.err"; then
  echo "refused=no"
else
  echo "refused=yes"
fi
grep -qF -- "$NEW" "$work/refused.err" && echo "refusal_printed=yes" || echo "refusal_printed=no"
echo "old_after_refusal=$(login "$OLD")"

# Refused by the server itself (the user's transactions are read-only): nothing printed, nothing logged.
psql -q -h "$work/sock" -U "$PG_USER" -d postgres -c "ALTER ROLE $PG_USER SET default_transaction_read_only = on"
if CONTAINER_USER=$PG_USER bash -c 'source deploy/scripts/secrets.sh; secret_info "$SECRET"; change_in_server "$NEW"' 2> "$work/server.err"; then
  echo "server_refused=no"
else
  echo "server_refused=yes"
fi
grep -qF -- "$NEW" "$work/server.err" && echo "server_refusal_printed=yes" || echo "server_refusal_printed=no"
PGOPTIONS='-c default_transaction_read_only=off' psql -q -h "$work/sock" -U "$PG_USER" -d postgres \
  -c "ALTER ROLE $PG_USER RESET default_transaction_read_only"
echo "old_after_server_refusal=$(login "$OLD")"

CONTAINER_USER=$PG_USER bash -c 'source deploy/scripts/secrets.sh; secret_info "$SECRET"; change_in_server "$NEW"'
echo "new_after=$(login "$NEW")"
echo "old_after=$(login "$OLD")"
grep -qF -- "$NEW" "$work/data/server.log" && echo "logged=yes" || echo "logged=no"
"#;

/// Runs the PostgreSQL rotation of every environment's `secrets.sh` against PostgreSQL.
pub fn check(root: &std::path::Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["unshare", "ip", "setpriv", "initdb", "pg_ctl", "psql"])? {
        return Ok(skip);
    }
    let specs = root.join("specs");
    let work = crate::validate::scratch_dir("postgres-run");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let mut checks = 0;
    for env in vutler_spec::environments(&specs).map_err(|r| anyhow::anyhow!("{r}"))? {
        let stack = vutler_spec::load(&specs, &env)
            .map_err(|r| anyhow::anyhow!("{r}"))?
            .stack;
        // A Kubernetes environment's Secrets are made by k8s/secrets.sh, which runs no rotation.
        if stack.kubernetes().is_some() {
            continue;
        }
        let Some((service, secret, user)) = stack.services().iter().find_map(|s| {
            let a = s
                .authentication
                .as_ref()
                .filter(|a| a.rotation == Rotation::Postgresql)?;
            let secret = stack.env_var(a.password).value.secrets(&stack).next()?;
            // The user the container names, as text (a secret user is not rotated this way).
            let user = match a.user.map(|u| &stack.env_var(u).value) {
                None => "postgres".to_owned(),
                Some(EnvValue::Text(t)) => match t.parts() {
                    [TextPart::Literal(user)] => user.clone(),
                    _ => return None,
                },
                Some(_) => return None,
            };
            Some((s.name.to_string(), stack.variable(secret).name.to_string(), user))
        }) else {
            continue;
        };
        let tree = vutler_render::render(&stack)?;
        let script = tree
            .get(vutler_render::secrets::SECRETS_SCRIPT)
            .context("secrets.sh is not rendered")?;
        let script_path = work.join(format!("{env}-secrets.sh"));
        std::fs::write(&script_path, script).with_context(|| format!("writing {}", script_path.display()))?;
        let scenario = in_namespaces(&format!("{env}: the PostgreSQL scenario"), SCENARIO, |cmd| {
            cmd.env("SCRIPT", &script_path)
                .env("SERVICE", &service)
                .env("SECRET", &secret)
                .env("PG_USER", &user)
                .env("OLD", "old-Password-1")
                .env("NEW", "NewPassword2xYz")
        })?;
        let scenario = match scenario {
            Ok(scenario) => scenario,
            Err(skipped) => return Ok(skipped),
        };
        let expected = [
            ("old_before", user.as_str()),
            ("refused", "yes"),
            ("refusal_printed", "no"),
            ("old_after_refusal", user.as_str()),
            ("server_refused", "yes"),
            ("server_refusal_printed", "no"),
            ("old_after_server_refusal", user.as_str()),
            ("new_after", user.as_str()),
            ("old_after", "refused"),
            ("logged", "no"),
        ];
        checks += scenario.expect(
            &expected,
            &format!("{env}: the rotation does not change PostgreSQL's password as it says"),
        )?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(Outcome::Passed(checks))
}
