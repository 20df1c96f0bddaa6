//! The reverse proxy in front of the app, TLS termination, and the host firewall; which ports
//! are reachable from other hosts.
//!
//! Rules: `public-port-not-proxy` and `public-port-not-allowed` (Docker publishes past ufw, so
//! only the proxy listens publicly and only on ports the firewall opens), `proxy-network`,
//! `proxy-ports` (80 and 443), `proxy-waits` (for a healthy upstream), `certificate-not-mounted`,
//! `acme-root-not-mounted`, `read-timeout` (WebSockets), `tls-protocol`, `tls-ciphers`,
//! `tls-stapling` (only with an issuer that has an OCSP responder), `acme-client` (Let's
//! Encrypt needs the client that obtains and renews its certificate), `proxy-version` (the proxy's
//! image tag says the NGINX version, whose syntax the configuration is written in) and
//! `firewall-conflict`.

use crate::path::SpecPath;
use crate::raw::{CertificateSource, Condition, RawCertificate, RawFirewallRule, RawTls};
use crate::rule::Rule;
use crate::stack::*;
use crate::text::{AbsolutePath, Cipher, FileName, HostPath, Image, Name, UrlPath};
use crate::units::Duration;

use super::{Cx, all};

/// Smallest proxy read timeout that keeps idle WebSockets open (seed 9.2).
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(60_000);

/// The metrics path the proxy hides when no scrape job says which one the app serves.
const DEFAULT_METRICS_PATH: &str = "/metrics";

/// Twice a day, at a minute other clients are not likely to pick (Let's Encrypt's advice).
const DEFAULT_RENEW_SCHEDULE: &str = "17 3,15 * * *";

/// The edge, TLS and firewall parts, after checking what they say about the services.
pub(super) fn edge(cx: &mut Cx<'_>, services: &[Option<Service>]) -> (Option<Edge>, Option<Tls>, Option<Firewall>) {
    let raw = cx.raw;
    let e = &raw.edge;
    let p = SpecPath::top("edge");
    let proxy = cx.service_ref(p.key("proxy"), &e.proxy);
    let upstream = cx
        .service_ref(p.key("upstream"), &e.upstream)
        .and_then(|s| cx.port_ref(p.key("upstream_port"), s, &e.upstream_port));
    let max_body_size = cx.size(p.key("max_body_size"), &e.max_body_size);
    let read_timeout = cx.seconds(p.key("read_timeout"), &e.read_timeout).filter(|t| {
        let ok = !e.websockets || *t >= MIN_READ_TIMEOUT;
        if !ok {
            cx.error(
                Rule::ReadTimeout,
                p.key("read_timeout"),
                format!("{t} closes idle WebSockets; use at least 60s"),
            );
        }
        ok
    });
    let acme_root = cx.text(p.key("acme_root"), &e.acme_root, AbsolutePath::parse);
    // Reported with the scrape jobs when one is not a path.
    let mut metrics_paths: Vec<UrlPath> = Vec::new();
    let mut hides_app = false;
    for (name, job) in raw.scrape_jobs().filter(|(_, j)| j.service == e.upstream) {
        let Ok(path) = UrlPath::parse(&job.path) else { continue };
        if let Some(why) = hidden_app_path(&path, raw.operations.verify_path.as_deref()) {
            cx.error_help(
                Rule::MetricsPathPublic,
                SpecPath::top("monitoring").key("scrape_jobs").key(name).key("path"),
                format!("the proxy answers 404 on `{path}` and below, to keep the metrics internal: {why}"),
                "serve the app's metrics on a path of their own, e.g. /metrics",
            );
            hides_app = true;
        } else if !metrics_paths.contains(&path) {
            metrics_paths.push(path);
        }
    }
    if metrics_paths.is_empty() {
        metrics_paths.extend(UrlPath::parse(DEFAULT_METRICS_PATH).ok());
    }
    let proxy_built = proxy.and_then(|id| services[id.0].as_ref());
    let tls = tls(cx, &raw.tls, proxy_built);
    let firewall = firewall(cx);

    // These read the raw firewall and certificate, so that a mistake there does not hide them.
    let mut ok = public_ports(cx, services);
    let mut nginx = None;
    if let Some(proxy) = proxy.and_then(|id| services[id.0].as_ref()) {
        let upstream = upstream.and_then(|u| services[u.service.0].as_ref());
        ok &= check_proxy(cx, proxy, upstream);
        ok &= cx.expect_config(proxy, crate::configs::NGINX_CONF, "/etc/nginx/nginx.conf", "NGINX");
        nginx = NginxVersion::from_tag(proxy.image.tag());
        if nginx.is_none() {
            cx.error_help(
                Rule::ProxyVersion,
                SpecPath::top("services").key(&proxy.name).key("image"),
                format!(
                    "the tag of `{}` does not say which NGINX version runs: the configuration's syntax depends on it",
                    proxy.image
                ),
                "pin a tag that starts with the version, e.g. nginx:1.27-alpine",
            );
        }
    }
    let edge = match (proxy, upstream, max_body_size, read_timeout, acme_root, nginx) {
        (Some(proxy), Some(upstream), Some(max_body_size), Some(read_timeout), Some(acme_root), Some(nginx))
            if ok && !hides_app =>
        {
            Some(Edge {
                proxy,
                nginx,
                upstream,
                max_body_size,
                read_timeout,
                acme_root,
                metrics_paths,
                websockets: e.websockets,
            })
        }
        _ => None,
    };
    (edge, tls, firewall)
}

/// Why hiding the app's metrics path `path` behind the proxy would hide the app itself, if it
/// would: the root is the whole app, and the path the deployment checks the running version on
/// (`operations.verify_path`) must stay reachable.
fn hidden_app_path(path: &UrlPath, verify_path: Option<&str>) -> Option<String> {
    let prefix = path.as_str().trim_end_matches('/');
    if prefix.is_empty() {
        return Some("that is the whole app".into());
    }
    let verify = verify_path?;
    let under = verify == prefix || verify.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
    under
        .then(|| format!("`operations.verify_path` ({verify}) is under it, so update.sh and healthcheck.sh would fail"))
}

fn tls(cx: &mut Cx<'_>, t: &RawTls, proxy: Option<&Service>) -> Option<Tls> {
    let p = SpecPath::top("tls");
    let mut ok = true;
    let mut protocols = Vec::new();
    for (i, proto) in t.protocols.iter().enumerate() {
        match proto.as_str() {
            "TLSv1.2" => protocols.push(TlsProtocol::Tls12),
            "TLSv1.3" => protocols.push(TlsProtocol::Tls13),
            other => {
                cx.error_help(
                    Rule::TlsProtocol,
                    p.key("protocols").index(i),
                    format!("`{other}` is not allowed; only TLSv1.2 and TLSv1.3 are"),
                    "older protocols are broken (RFC 8996)",
                );
                ok = false;
            }
        }
    }
    if t.protocols.is_empty() {
        cx.error_help(
            Rule::TlsProtocol,
            p.key("protocols"),
            "no protocol is offered",
            "offer TLSv1.2 and/or TLSv1.3",
        );
        ok = false;
    }
    let ciphers = cx.texts(&p.key("ciphers"), &t.ciphers, Cipher::parse);
    for (i, name) in t.ciphers.iter().enumerate() {
        if let Some(why) = weak_cipher(name) {
            cx.error_help(
                Rule::TlsWeakCipher,
                p.key("ciphers").index(i),
                format!("`{name}` {why}"),
                "list suites such as ECDHE-ECDSA-AES128-GCM-SHA256 by name",
            );
            ok = false;
        }
    }
    if protocols.contains(&TlsProtocol::Tls12) && t.ciphers.is_empty() {
        cx.error(
            Rule::TlsCiphers,
            p.key("ciphers"),
            "TLSv1.2 is offered, so list its ciphers",
        );
        ok = false;
    }
    let c = &t.certificate;
    let cp = p.key("certificate");
    let host_dir = cx.text(cp.key("host_dir"), &c.host_dir, HostPath::parse);
    let mount_dir = cx.text(cp.key("mount_dir"), &c.mount_dir, AbsolutePath::parse);
    let cert_file = cx.text(cp.key("cert_file"), &c.cert_file, FileName::parse);
    let key_file = cx.text(cp.key("key_file"), &c.key_file, FileName::parse);
    let issuer = issuer(cx, &cp, c, proxy);
    let renew_schedule = cx.schedule(
        cp.key("renew_schedule"),
        c.renew_schedule.as_deref().unwrap_or(DEFAULT_RENEW_SCHEDULE),
    );
    if t.stapling {
        let issuer = match c.source {
            CertificateSource::SelfSigned => "a self-signed certificate has no OCSP responder",
            CertificateSource::Letsencrypt => "Let's Encrypt ended OCSP in 2025",
        };
        cx.error_help(
            Rule::TlsStapling,
            p.key("stapling"),
            format!("OCSP stapling has nothing to staple: {issuer}"),
            "set `stapling: false`",
        );
        ok = false;
    }
    let session_cache = cx.size(p.key("session_cache"), &t.session_cache);
    let session_timeout = cx.seconds(p.key("session_timeout"), &t.session_timeout);
    let max_age = cx.seconds(p.key("hsts").key("max_age"), &t.hsts.max_age);
    ok.then_some(())?;
    Some(Tls {
        protocols,
        ciphers: ciphers?,
        prefer_server_ciphers: t.prefer_server_ciphers,
        session_cache: session_cache?,
        session_timeout: session_timeout?,
        stapling: t.stapling,
        hsts: Hsts {
            max_age: max_age?,
            include_subdomains: t.hsts.include_subdomains,
            preload: t.hsts.preload,
        },
        certificate: Certificate {
            issuer: issuer?,
            renew_schedule: renew_schedule?,
            host_dir: host_dir?,
            mount_dir: mount_dir?,
            cert_file: cert_file?,
            key_file: key_file?,
        },
    })
}

/// Let's Encrypt needs its ACME client, which writes the challenge files into the host folder
/// the proxy serves at `edge.acme_root` (`acme-client`); a self-signed certificate has none.
fn issuer(cx: &mut Cx<'_>, cp: &SpecPath, c: &RawCertificate, proxy: Option<&Service>) -> Option<Issuer> {
    let raw = cx.raw;
    match (c.source, &c.acme) {
        (CertificateSource::SelfSigned, None) => Some(Issuer::SelfSigned),
        (CertificateSource::SelfSigned, Some(_)) => {
            cx.error_help(
                Rule::AcmeClient,
                cp.key("acme"),
                "`acme` does not apply to a self-signed certificate",
                "remove `acme`, or set `source: letsencrypt`",
            );
            None
        }
        (CertificateSource::Letsencrypt, None) => {
            cx.error_help(
                Rule::AcmeClient,
                cp.key("source"),
                "nothing obtains or renews the Let's Encrypt certificate: `acme` is missing",
                "add `acme: { image: certbot/certbot:v3.0.1, email_variable: ACME_EMAIL, state_dir: ./certbot/conf }`",
            );
            None
        }
        (CertificateSource::Letsencrypt, Some(a)) => {
            let ap = cp.key("acme");
            let image = Image::parse(&a.image)
                .map_err(|_| {
                    cx.error_help(
                        Rule::ImageTag,
                        ap.key("image"),
                        format!("image `{}` is not an image with a pinned tag", a.image),
                        "pin a released version, e.g. certbot/certbot:v3.0.1",
                    )
                })
                .ok();
            let email = match raw.variables.get_full(&a.email_variable) {
                None => {
                    let known = raw.variables.iter().filter(|(_, v)| !v.secret).map(|(k, _)| k);
                    cx.dangling(
                        ap.key("email_variable"),
                        format!("unknown variable `{}`", a.email_variable),
                        &a.email_variable,
                        known,
                    );
                    None
                }
                Some((_, _, v)) if v.secret => {
                    super::variables::secret_as_text(
                        cx,
                        ap.key("email_variable"),
                        &a.email_variable,
                        "the account's email goes on the ACME client's command line: name a plain variable".into(),
                    );
                    None
                }
                Some((i, _, _)) => Some(VariableId(i)),
            };
            let state_dir = cx.text(ap.key("state_dir"), &a.state_dir, HostPath::parse);
            // The proxy serves the challenge files from the folder the client writes them to.
            let webroot = proxy.and_then(|p| {
                p.mounts.iter().find_map(|m| match m {
                    Mount::Bind { source, target, .. } if *target == raw.edge.acme_root.as_str() => {
                        Some(source.clone())
                    }
                    _ => None,
                })
            });
            let served = proxy.is_some_and(|p| p.mounts.iter().any(|m| *m.target() == raw.edge.acme_root.as_str()));
            if webroot.is_none() && served {
                cx.error_help(
                    Rule::AcmeClient,
                    SpecPath::top("edge").key("acme_root"),
                    format!(
                        "the proxy serves the ACME challenges at {} from a volume, which the client cannot write",
                        raw.edge.acme_root
                    ),
                    "mount a host folder there, e.g. `{ bind: ./certbot/www, target: /var/www/certbot }`",
                );
            }
            // Not served at all is `acme-root-not-mounted`, reported with the proxy.
            Some(Issuer::Letsencrypt(Acme {
                image: image?,
                email: email?,
                state_dir: state_dir?,
                webroot: webroot?,
            }))
        }
    }
}

fn firewall(cx: &mut Cx<'_>) -> Option<Firewall> {
    let raw = cx.raw;
    let f = &raw.firewall;
    let rules = |cx: &mut Cx<'_>, list: &[RawFirewallRule], field: &str| -> Option<Vec<FirewallRule>> {
        let path = SpecPath::top("firewall").key(field);
        cx.unique(&path, list.iter().map(|r| r.name.as_str()), "rule");
        all(list.iter().enumerate().map(|(i, r)| {
            let name = cx.text(path.index(i).key("name"), &r.name, Name::parse);
            let port = cx.port_number(path.index(i).key("port"), r.port);
            Some(FirewallRule {
                name: name?,
                port: port?,
                protocol: r.protocol,
            })
        }))
    };
    let allow = rules(cx, &f.allow, "allow");
    let deny = rules(cx, &f.deny, "deny");
    let mut ok = true;
    for (i, d) in f.deny.iter().enumerate() {
        if f.allow.iter().any(|a| a.port == d.port && a.protocol == d.protocol) {
            cx.error_help(
                Rule::FirewallConflict,
                SpecPath::top("firewall").key("deny").index(i).key("port"),
                format!("port {} is both allowed and denied", d.port),
                "remove it from firewall.deny, or from firewall.allow to close it",
            );
            ok = false;
        }
    }
    let ssh = f.ssh_port.unwrap_or(22);
    let opened = f.allow.iter().any(|a| a.port == ssh && a.protocol == Protocol::Tcp);
    if f.default_incoming != FirewallPolicy::Allow && !opened && !f.no_ssh {
        cx.error_help(
            Rule::FirewallSsh,
            SpecPath::top("firewall").key("allow"),
            format!("no rule allows the SSH port ({ssh}/tcp): ufw.sh would lock out the operator running it"),
            format!(
                "add `{{ name: ssh, port: {ssh} }}` here, or set `firewall.no_ssh: true` for a VM managed without SSH"
            ),
        );
        ok = false;
    }
    ok.then_some(())?;
    Some(Firewall {
        default_incoming: f.default_incoming,
        default_outgoing: f.default_outgoing,
        allow: allow?,
        deny: deny?,
    })
}

/// Why a cipher name is refused: a keyword for many suites, or a broken suite.
fn weak_cipher(name: &str) -> Option<&'static str> {
    const KEYWORDS: [&str; 8] = [
        "ALL",
        "COMPLEMENTOFALL",
        "DEFAULT",
        "COMPLEMENTOFDEFAULT",
        "HIGH",
        "MEDIUM",
        "LOW",
        "SECLEVEL",
    ];
    if KEYWORDS
        .iter()
        .any(|k| name == *k || name.starts_with(&format!("{k}_")))
    {
        return Some("stands for many suites, weak ones among them");
    }
    let parts: Vec<&str> = name.split('-').collect();
    let broken = [
        ("NULL", "encrypts nothing"),
        ("ANULL", "authenticates nothing"),
        ("ENULL", "encrypts nothing"),
        ("EXP", "is export-grade"),
        ("EXPORT", "is export-grade"),
        ("RC4", "uses RC4"),
        ("DES", "uses DES"),
        ("3DES", "uses 3DES"),
        ("DES_CBC3", "uses 3DES"),
        ("MD5", "uses MD5"),
        ("ADH", "authenticates nothing"),
        ("AECDH", "authenticates nothing"),
    ];
    broken
        .iter()
        .find(|(part, _)| parts.iter().any(|p| p.eq_ignore_ascii_case(part)))
        .map(|(_, why)| *why)
}

/// Docker publishes ports past ufw: only the proxy listens publicly, on ports the firewall opens.
fn public_ports(cx: &mut Cx<'_>, services: &[Option<Service>]) -> bool {
    let raw = cx.raw;
    let proxy = raw.edge.proxy.as_str();
    let allow = &raw.firewall.allow;
    let mut ok = true;
    for s in services.iter().flatten() {
        for (i, port) in s.ports.iter().enumerate() {
            let Some(publ) = port.published.filter(Published::is_public) else {
                continue;
            };
            let at = SpecPath::top("services").key(&s.name).key("ports").index(i);
            let deliberate = raw
                .services
                .get(s.name.as_str())
                .and_then(|r| r.ports.get(i))
                .is_some_and(|p| p.public);
            if s.name != proxy && !deliberate {
                cx.error_help(
                    Rule::PublicPortNotProxy,
                    at.key("host_ip"),
                    format!(
                        "only the proxy `{proxy}` may publish on a public interface; `{}` publishes {}:{}",
                        s.name, publ.host_ip, publ.port
                    ),
                    "remove `host_ip` to bind 127.0.0.1, or stop publishing the port (Docker bypasses ufw); to publish it on purpose, say `public: true` and allow it in firewall.allow",
                );
                ok = false;
            } else if !allow.iter().any(|r| r.port == publ.port && r.protocol == port.protocol) {
                cx.error_help(
                    Rule::PublicPortNotAllowed,
                    at.key("published"),
                    format!(
                        "port {} is published on a public interface but the firewall does not allow it",
                        publ.port
                    ),
                    "Docker would open it past ufw: add it to firewall.allow, or bind it to 127.0.0.1",
                );
                ok = false;
            }
        }
    }
    ok
}

/// What NGINX needs of its own service: the upstream on a shared network and started first,
/// ports 80 and 443, the certificate folder and the ACME webroot mounted.
fn check_proxy(cx: &mut Cx<'_>, proxy: &Service, upstream: Option<&Service>) -> bool {
    let raw = cx.raw;
    let e = &raw.edge;
    let name = proxy.name.as_str();
    let mut ok = true;
    if let Some(up) = upstream {
        if !proxy.networks.iter().any(|n| up.networks.contains(n)) {
            cx.error(
                Rule::ProxyNetwork,
                SpecPath::top("edge").key("upstream"),
                format!("proxy `{name}` and upstream `{}` share no network", up.name),
            );
            ok = false;
        }
        // NGINX resolves the upstream when it starts: it must start after the app is up, and
        // healthy when a healthcheck says so (an upstream without one can only be started).
        let needed = if up.healthcheck.is_some() {
            Condition::ServiceHealthy
        } else {
            Condition::ServiceStarted
        };
        let dependency = proxy.depends_on.iter().find(|d| d.service == up.id);
        if dependency.is_none_or(|d| d.condition != Condition::ServiceHealthy && d.condition != needed) {
            let (message, help) = match dependency {
                None => (
                    format!("the proxy `{name}` must wait for `{}` to start", up.name),
                    format!("add `{}` to services.{name}.depends_on", up.name),
                ),
                Some(_) => (
                    format!("the proxy `{name}` must wait for `{}` to be healthy", up.name),
                    format!("depend on `{}` with `condition: service_healthy`", up.name),
                ),
            };
            cx.error_help(
                Rule::ProxyWaits,
                SpecPath::top("services").key(name).key("depends_on"),
                message,
                help,
            );
            ok = false;
        }
    }
    // The proxy listens on 80 (ACME, redirect) and 443 (TLS) in its container.
    for port in [80, 443] {
        if !proxy.ports.iter().any(|p| p.container == port && p.published.is_some()) {
            cx.error_help(
                Rule::ProxyPorts,
                SpecPath::top("services").key(name).key("ports"),
                format!("the proxy `{name}` must publish its container port {port}"),
                format!("add `{{ name: ..., container: {port}, published: {port}, host_ip: 0.0.0.0 }}`"),
            );
            ok = false;
        }
    }
    let c = &raw.tls.certificate;
    let mounted = proxy.mounts.iter().any(|m| {
        matches!(m, Mount::Bind { source, target, .. }
            if *source == c.host_dir.as_str() && *target == c.mount_dir.as_str())
    });
    if !mounted {
        cx.error_help(
            Rule::CertificateNotMounted,
            SpecPath::top("tls").key("certificate").key("mount_dir"),
            format!(
                "the proxy `{name}` reads certificates from {} but does not mount {} there",
                c.mount_dir, c.host_dir
            ),
            format!(
                "add `{{ bind: {}, target: {}, read_only: true }}` to services.{name}.mounts",
                c.host_dir, c.mount_dir
            ),
        );
        ok = false;
    }
    let serves_acme = proxy.mounts.iter().any(|m| *m.target() == e.acme_root.as_str());
    if c.source == CertificateSource::Letsencrypt && !serves_acme {
        cx.error_help(
            Rule::AcmeRootNotMounted,
            SpecPath::top("edge").key("acme_root"),
            format!(
                "Let's Encrypt challenges are served from {}, which the proxy `{name}` does not mount",
                e.acme_root
            ),
            format!(
                "mount the certbot webroot there, e.g. `{{ bind: ./certbot/www, target: {} }}`",
                e.acme_root
            ),
        );
        ok = false;
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::weak_cipher;

    #[test]
    fn weak_ciphers_and_keywords_are_named() {
        for good in [
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-RSA-CHACHA20-POLY1305",
            "DHE-RSA-AES256-GCM-SHA384",
        ] {
            assert_eq!(weak_cipher(good), None, "{good}");
        }
        for bad in [
            "ALL",
            "DEFAULT",
            "HIGH",
            "NULL-MD5",
            "NULL-SHA256",
            "EXP-RC4-MD5",
            "RC4-SHA",
            "DES-CBC3-SHA",
            "ADH-AES256-GCM-SHA384",
            "AECDH-AES128-SHA",
            "ECDHE-RSA-NULL-SHA",
        ] {
            assert!(weak_cipher(bad).is_some(), "{bad}");
        }
    }
}
