//! The behaviour tier for the proxy: Debian's NGINX runs each environment's rendered
//! configuration for real, in private mount and network namespaces (so it binds only the
//! namespace's loopback and changes nothing on the machine), with a throwaway certificate and a
//! stand-in app (`behaviour/app.py`) at the address the app's name resolves to.
//!
//! What an operator relies on is checked from outside, with curl and a WebSocket client: HTTP
//! redirects to HTTPS, the ACME challenge path is served over HTTP, exactly the configured TLS
//! versions handshake, HTTP/2 is offered, HSTS is sent, the app's metrics paths answer 404 and
//! never reach the app, a WebSocket upgrade passes, and after the app moves to another address
//! (as when `update.sh` recreates it) and NGINX is reloaded, requests reach the new address.
//!
//! The configuration run is the one rendered for the local NGINX version (see `local.rs`).

use std::path::Path;

use anyhow::{Context, bail};
use vutler_spec::stack::TlsProtocol;

use crate::validate::{Outcome, in_namespaces, require};

/// The scenario, run as root inside `unshare --mount --net`: it prints `key=value` lines.
const SCENARIO: &str = r#"set -euo pipefail
ip link set lo up
work=$(mktemp -d)
pids=()
cleanup() {
  nginx -s quit 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
wait_for() { # host port
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on $1:$2" >&2
  return 1
}
r() { curl -s --max-time 5 --resolve "$DOMAIN:80:127.0.0.1" --resolve "$DOMAIN:443:127.0.0.1" "$@"; }

cp -a /etc/nginx "$work/etc-nginx"
cp "$CONF" "$work/etc-nginx/nginx.conf"
mkdir -p "$(dirname "$work/etc-nginx/$CERT")" "$(dirname "$work/etc-nginx/$KEY")"
openssl req -x509 -nodes -newkey rsa:2048 -days 1 -subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN" \
  -keyout "$work/etc-nginx/$KEY" -out "$work/etc-nginx/$CERT" 2>/dev/null
cp /etc/hosts "$work/hosts"
printf '127.0.1.1 %s\n' "$APP_HOST" >> "$work/hosts"
mount --bind "$work/etc-nginx" /etc/nginx
mount --bind "$work/hosts" /etc/hosts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/log/nginx
mount -t tmpfs tmpfs "$ACME_MOUNT"
mkdir -p "$ACME_ROOT/.well-known/acme-challenge"
echo token-body > "$ACME_ROOT/.well-known/acme-challenge/token"
chmod -R a+rX "$ACME_MOUNT"

python3 "$APP_PY" 127.0.1.1 "$APP_PORT" old "$work/requests.log" & pids+=($!)
old=$!
wait_for 127.0.1.1 "$APP_PORT"
nginx -c /etc/nginx/nginx.conf
wait_for 127.0.0.1 443

echo "redirect=$(r -o /dev/null -w '%{http_code} %{redirect_url}' "http://$DOMAIN/some/path?x=1")"
echo "acme=$(r "http://$DOMAIN/.well-known/acme-challenge/token")"
for v in 1.2 1.3; do
  if r -k -o /dev/null --tlsv$v --tls-max $v "https://$DOMAIN/"; then echo "tls$v=accepted"; else echo "tls$v=refused"; fi
done
echo "http2=$(r -k --http2 -o /dev/null -w '%{http_version}' "https://$DOMAIN/")"
echo "hsts=$(r -k -D - -o /dev/null "https://$DOMAIN/" | tr -d '\r' | sed -n 's/^[Ss]trict-[Tt]ransport-[Ss]ecurity: //p')"
echo "app=$(r -k "https://$DOMAIN/api/info")"
for path in $METRICS_PATHS; do
  echo "metrics $path=$(r -k -o /dev/null -w '%{http_code}' "https://$DOMAIN$path")"
  echo "metrics below $path=$(r -k -o /dev/null -w '%{http_code}' "https://$DOMAIN${path%/}/x")"
  echo "alike $path=$(r -k "https://$DOMAIN${path%/}-alike")"
done
echo "websocket=$(python3 "$WS_PY" "$DOMAIN")"

# The app is recreated at another address; NGINX is reloaded, as update.sh does.
python3 "$APP_PY" 127.0.1.2 "$APP_PORT" new "$work/requests.log" & pids+=($!)
wait_for 127.0.1.2 "$APP_PORT"
sed "s/^127\.0\.1\.1 $APP_HOST\$/127.0.1.2 $APP_HOST/" "$work/hosts" > "$work/hosts.new"
cat "$work/hosts.new" > "$work/hosts"
kill "$old"
nginx -s reload
after=none
for _ in $(seq 100); do
  after=$(r -k "https://$DOMAIN/api/info" || true)
  [ "${after%% *}" = new ] && break
  sleep 0.05
done
echo "after-reload=$after"
echo "app-saw=$(cut -d' ' -f2 "$work/requests.log" | sort -u | tr '\n' ' ')"
"#;

/// Runs the scenario for every environment of the spec folder `specs` and checks what it saw
/// against the model.
pub fn check(root: &Path, specs: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["nginx", "openssl", "unshare", "curl", "python3", "ip"])? {
        return Ok(skip);
    }
    let version = crate::local::nginx_version()?;
    let work = crate::validate::scratch_dir("nginx-run");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let mut checks = 0;
    for env in vutler_spec::environments(specs).map_err(|r| anyhow::anyhow!("{r}"))? {
        let stack = crate::local::stack_for_nginx(specs, &env, version)?;
        // On Kubernetes the Ingress controller is the proxy: no NGINX config is rendered.
        if stack.kubernetes().is_some() {
            continue;
        }
        let conf = vutler_render::nginx::render(&stack)?;
        let conf_path = work.join(format!("{env}.conf"));
        std::fs::write(&conf_path, &conf).with_context(|| format!("writing {}", conf_path.display()))?;
        let edge = stack.edge();
        let cert = &stack.tls().certificate;
        let app = stack.endpoint(edge.upstream);
        // The stand-in app shares NGINX's namespace (and its loopback addresses only).
        if [80, 443].contains(&app.port) {
            bail!(
                "{env}: the app listens on port {}, which NGINX itself takes in the scenario's namespace",
                app.port
            );
        }
        let Some(acme_mount) = ["/var/www", "/srv"]
            .into_iter()
            .find(|m| edge.acme_root.starts_with(&format!("{m}/")))
        else {
            bail!("{env}: the ACME root {} is outside /var/www and /srv", edge.acme_root);
        };
        let (Some(cert_file), Some(key_file)) = (
            cert.cert_path().strip_prefix("/etc/nginx/").map(str::to_owned),
            cert.key_path().strip_prefix("/etc/nginx/").map(str::to_owned),
        ) else {
            bail!("{env}: certificates outside /etc/nginx cannot be made for the test");
        };
        let metrics: Vec<String> = edge.metrics_paths.iter().map(ToString::to_string).collect();
        let scenario = in_namespaces(&format!("{env}: the NGINX scenario"), SCENARIO, |cmd| {
            cmd.env("CONF", &conf_path)
                .env("DOMAIN", stack.domain().as_str())
                .env("CERT", &cert_file)
                .env("KEY", &key_file)
                .env("APP_HOST", app.host.as_str())
                .env("APP_PORT", app.port.to_string())
                .env("ACME_ROOT", edge.acme_root.as_str())
                .env("ACME_MOUNT", acme_mount)
                .env("METRICS_PATHS", metrics.join(" "))
                .env("APP_PY", root.join("xtask/behaviour/app.py"))
                .env("WS_PY", root.join("xtask/behaviour/ws_client.py"))
        })?;
        let scenario = match scenario {
            Ok(scenario) => scenario,
            Err(skipped) => return Ok(skipped),
        };
        let seen = scenario.results();
        let domain = stack.domain();
        let tls = stack.tls();
        let offered = |p| {
            if tls.protocols.contains(&p) {
                "accepted"
            } else {
                "refused"
            }
        };
        let mut hsts = format!("max-age={}", tls.hsts.max_age.secs());
        if tls.hsts.include_subdomains {
            hsts.push_str("; includeSubDomains");
        }
        if tls.hsts.preload {
            hsts.push_str("; preload");
        }
        let mut expected: Vec<(String, String)> = vec![
            ("redirect".into(), format!("301 https://{domain}/some/path?x=1")),
            ("acme".into(), "token-body".into()),
            ("tls1.2".into(), offered(TlsProtocol::Tls12).into()),
            ("tls1.3".into(), offered(TlsProtocol::Tls13).into()),
            ("http2".into(), "2".into()),
            ("hsts".into(), hsts),
            ("app".into(), "old /api/info".into()),
            ("after-reload".into(), "new /api/info".into()),
        ];
        // An upgrade passes only where the app declares WebSockets.
        if edge.websockets {
            expected.push(("websocket".into(), "101 hello from old".into()));
        }
        for p in &metrics {
            // The path and what is under it are hidden; a path that only starts alike is the app's.
            expected.push((format!("metrics {p}"), "404".to_owned()));
            expected.push((format!("metrics below {p}"), "404".to_owned()));
            expected.push((format!("alike {p}"), format!("old {}-alike", p.trim_end_matches('/'))));
        }
        let mut wrong = scenario.mismatches(&expected);
        checks += expected.len() - wrong.len();
        let websocket = seen.get("websocket").copied().unwrap_or_default();
        if !edge.websockets && websocket.starts_with("101") {
            wrong.push(format!(
                "a WebSocket upgrade passed, though the app declares none: {websocket}"
            ));
        }
        let reached = seen.get("app-saw").copied().unwrap_or_default();
        for path in &metrics {
            if reached.split(' ').any(|p| p == path) {
                wrong.push(format!("the metrics path {path} reached the app ({reached})"));
            }
        }
        if !wrong.is_empty() {
            bail!(
                "{env}: NGINX does not behave as the model says:\n  {}\n\n{}{}",
                wrong.join("\n  "),
                scenario.stdout,
                scenario.stderr
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(Outcome::Passed(checks))
}
