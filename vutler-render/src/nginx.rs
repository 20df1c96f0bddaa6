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

use crate::{RenderError, header, short_size, templates};

pub use vutler_spec::configs::NGINX_CONF;

#[derive(Debug, Serialize)]
struct NginxCtx {
    header: String,
    domain: String,
    max_body_size: String,
    read_timeout: String,
    /// Whether the app serves WebSockets (the `Upgrade` handshake is passed on).
    websockets: bool,
    acme_root: String,
    /// The app's metrics paths, which only Prometheus on the internal network may read.
    metrics_paths: Vec<MetricsPathCtx>,
    upstream_note: &'static str,
    /// Whether the NGINX deployed switches HTTP/2 on with `http2 on;` (1.25.1 and later).
    http2_directive: bool,
    nginx_version: String,
    upstream: UpstreamCtx,
    tls: TlsCtx,
}

/// A metrics path the proxy hides: the path itself (`location = /metrics`) and what is under it
/// (`location ^~ /metrics/`), never the paths that only start alike (`/metrics-dashboard`).
#[derive(Debug, Serialize)]
struct MetricsPathCtx {
    exact: String,
    below: String,
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

/// Durations in seconds (`3600s`), which every NGINX time directive reads; the model keeps the
/// durations NGINX reads in whole seconds.
fn nginx_secs(d: Duration) -> String {
    format!("{}s", d.secs())
}

/// The contents of `nginx/nginx.conf`.
pub fn render(stack: &Stack) -> Result<String, RenderError> {
    let edge = stack.edge();
    let app = edge.upstream.service;
    let sticky = stack.scale_of(app).is_some_and(|s| s.sticky_sessions);
    let tls = stack.tls();
    let mut hsts = format!("max-age={}", tls.hsts.max_age.secs());
    if tls.hsts.include_subdomains {
        hsts.push_str("; includeSubDomains");
    }
    if tls.hsts.preload {
        hsts.push_str("; preload");
    }
    let app_name = &stack.service(app).name;
    let ctx = NginxCtx {
        header: header(stack).trim_end().to_owned(),
        domain: stack.domain().to_string(),
        max_body_size: nginx_size(edge.max_body_size),
        read_timeout: nginx_secs(edge.read_timeout),
        websockets: edge.websockets,
        acme_root: edge.acme_root.to_string(),
        metrics_paths: edge
            .metrics_paths
            .iter()
            .map(|p| MetricsPathCtx {
                exact: p.to_string(),
                below: format!("{}/", p.as_str().trim_end_matches('/')),
            })
            .collect(),
        upstream_note: if sticky {
            "Docker's DNS returns every replica of the service; ip_hash keeps each client on one."
        } else {
            "One server; Docker's DNS would return every replica if the service were scaled."
        },
        http2_directive: edge.nginx.has_http2_directive(),
        nginx_version: edge.nginx.to_string(),
        upstream: UpstreamCtx {
            name: format!("{}_backend", app_name.replace('-', "_")),
            ip_hash: sticky,
            server: stack.endpoint(edge.upstream).to_string(),
        },
        tls: TlsCtx {
            certificate: tls.certificate.cert_path(),
            certificate_key: tls.certificate.key_path(),
            protocols: tls.protocols.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" "),
            ciphers: tls.ciphers.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(":"),
            prefer_server_ciphers: if tls.prefer_server_ciphers { "on" } else { "off" },
            session_cache: format!("shared:SSL:{}", nginx_size(tls.session_cache)),
            session_timeout: nginx_secs(tls.session_timeout),
            // The model refuses stapling with a self-signed certificate.
            stapling: tls.stapling,
            hsts,
        },
    };
    templates::render(templates::NGINX_CONF, &ctx)
}
