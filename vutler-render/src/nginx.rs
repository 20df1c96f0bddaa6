//! `nginx/nginx.conf`: TLS termination and the reverse proxy in front of the app.
//!
//! Every value reaching the file is either validated by a grammar in the model (domain names,
//! paths, cipher names, service names) or computed here from typed values (sizes, durations,
//! protocols); nothing from the spec is pasted in unchecked.
//!
//! Upstream: the app service is named once, `server <service>:<port>`. Docker's DNS answers with
//! every replica, and NGINX makes one server of each address, so with the scale overlay the
//! upstream spans all replicas, pinned per client with `ip_hash` when the plan asks for sticky
//! sessions (WebSockets). NGINX resolves the name when it starts, so it starts only once the app
//! is healthy (`depends_on: service_healthy` in Compose) rather than through a runtime resolver,
//! which would rule out `ip_hash` on open-source NGINX.

use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::units::{ByteSize, Duration};

use crate::{RenderError, Rendered, endpoint, header, short_size, templates};

/// Path of the config in the rendered tree (mounted into the proxy with a `config:` mount).
pub const NGINX_CONF: &str = "nginx/nginx.conf";

#[derive(Debug, Serialize)]
struct NginxCtx {
    header: String,
    domain: String,
    max_body_size: String,
    read_timeout: String,
    acme_root: String,
    metrics_path: String,
    upstream_note: &'static str,
    upstream: UpstreamCtx,
    tls: TlsCtx,
}

#[derive(Debug, Serialize)]
struct UpstreamCtx {
    name: String,
    ip_hash: bool,
    server: String,
}

#[derive(Debug, Serialize)]
struct TlsCtx {
    certificate: String,
    certificate_key: String,
    protocols: String,
    ciphers: String,
    prefer_server_ciphers: &'static str,
    session_cache: String,
    session_timeout: String,
    stapling: bool,
    hsts: String,
}

/// Sizes as NGINX writes them: `100m`, `10m`.
fn nginx_size(size: ByteSize) -> String {
    let (n, unit) = short_size(size);
    format!("{n}{unit}")
}

/// Durations in whole seconds (`3600s`), which every NGINX time directive reads.
fn nginx_secs(d: Duration) -> String {
    format!("{}s", d.secs().max(1))
}

/// Adds `nginx/nginx.conf` to the tree.
pub fn render(stack: &Stack, tree: &mut Rendered) -> Result<(), RenderError> {
    let edge = &stack.edge;
    let upstream_server = endpoint(stack, &edge.upstream, &edge.upstream_port)?;
    let sticky = stack.scaling.get(&edge.upstream).is_some_and(|s| s.sticky_sessions);
    let metrics_path = stack
        .monitoring
        .scrape_jobs
        .values()
        .find(|j| j.service == edge.upstream)
        .map_or_else(|| "/metrics".to_owned(), |j| j.path.clone());
    let tls = &stack.tls;
    let mut hsts = format!("max-age={}", tls.hsts.max_age.secs());
    if tls.hsts.include_subdomains {
        hsts.push_str("; includeSubDomains");
    }
    if tls.hsts.preload {
        hsts.push_str("; preload");
    }
    let ctx = NginxCtx {
        header: header(stack).trim_end().to_owned(),
        domain: stack.domain.clone(),
        max_body_size: nginx_size(edge.max_body_size),
        read_timeout: nginx_secs(edge.read_timeout),
        acme_root: edge.acme_root.clone(),
        metrics_path,
        upstream_note: if sticky {
            "Docker's DNS returns every replica of the service; ip_hash keeps each client on one."
        } else {
            "One server; Docker's DNS would return every replica if the service were scaled."
        },
        upstream: UpstreamCtx {
            name: format!("{}_backend", edge.upstream.replace('-', "_")),
            ip_hash: sticky,
            server: upstream_server,
        },
        tls: TlsCtx {
            certificate: tls.certificate.cert_path(),
            certificate_key: tls.certificate.key_path(),
            protocols: tls.protocols.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" "),
            ciphers: tls.ciphers.join(":"),
            prefer_server_ciphers: if tls.prefer_server_ciphers { "on" } else { "off" },
            session_cache: format!("shared:SSL:{}", nginx_size(tls.session_cache)),
            session_timeout: nginx_secs(tls.session_timeout),
            // The model refuses stapling with a self-signed certificate.
            stapling: tls.stapling,
            hsts,
        },
    };
    tree.insert(NGINX_CONF, templates::render(templates::NGINX_CONF, &ctx)?)?;
    Ok(())
}
