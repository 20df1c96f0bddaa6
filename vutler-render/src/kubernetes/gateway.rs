//! The domain routed into the cluster through the Gateway API (`platform.kubernetes.gateway`):
//! `k8s/gateway.yaml`, a Gateway of the environment's own and two HTTPRoutes, written in
//! `gateway.networking.k8s.io/v1` with the standard channel's fields of Gateway API 1.2.
//!
//! - The Gateway (of the spec's class) listens for the domain only: HTTPS on 443, terminating
//!   TLS with the operator's Secret, and HTTP on 80. Routes attach from its own namespace only.
//! - The HTTP listener's route redirects every request to HTTPS (301), as NGINX does on
//!   Compose.
//! - The HTTPS listener's route sends every path to the upstream's Service port. Its request
//!   timeout is `edge.read_timeout`: the Gateway API bounds a whole request (a WebSocket
//!   included) where NGINX bounds the wait between reads, and without it an implementation's
//!   default applies (Envoy's is 15 seconds, which would cut every WebSocket).
//! - What a route cannot say is refused or flagged when the spec is read: sticky sessions
//!   (`kubernetes-gateway-sticky`; session persistence is experimental) and the body size
//!   limit (`kubernetes-gateway-body-size`).

use serde::Serialize;
use vutler_spec::units::Duration;

use super::objects::Meta;
use super::{Cx, object};
use crate::RenderError;

/// The Gateway API's group and version of every object here.
pub const API_VERSION: &str = "gateway.networking.k8s.io/v1";
/// The HTTPS listener's name, which the upstream's route attaches to.
pub const HTTPS_LISTENER: &str = "https";
/// The HTTP listener's name, which the redirect attaches to.
pub const HTTP_LISTENER: &str = "http";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewaySpec {
    gateway_class_name: String,
    listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Listener {
    name: &'static str,
    hostname: String,
    port: u16,
    protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<ListenerTls>,
    allowed_routes: AllowedRoutes,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListenerTls {
    mode: &'static str,
    certificate_refs: Vec<SecretRef>,
}

#[derive(Debug, Clone, Serialize)]
struct SecretRef {
    kind: &'static str,
    name: String,
}

#[derive(Debug, Clone, Serialize)]
struct AllowedRoutes {
    namespaces: RouteNamespaces,
}

#[derive(Debug, Clone, Serialize)]
struct RouteNamespaces {
    from: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RouteSpec {
    parent_refs: Vec<ParentRef>,
    hostnames: Vec<String>,
    rules: Vec<RouteRule>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ParentRef {
    name: String,
    section_name: &'static str,
}

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct RouteRule {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    matches: Vec<RouteMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    filters: Vec<RouteFilter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    backend_refs: Vec<BackendRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeouts: Option<RouteTimeouts>,
}

#[derive(Debug, Clone, Serialize)]
struct RouteMatch {
    path: PathMatch,
}

#[derive(Debug, Clone, Serialize)]
struct PathMatch {
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RouteFilter {
    #[serde(rename = "type")]
    kind: &'static str,
    request_redirect: Redirect,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Redirect {
    scheme: &'static str,
    status_code: u16,
}

#[derive(Debug, Clone, Serialize)]
struct BackendRef {
    name: String,
    port: u16,
}

#[derive(Debug, Clone, Serialize)]
struct RouteTimeouts {
    request: String,
}

/// A duration as the Gateway API writes it (GEP-2257: up to four `<n><unit>` parts, each `n`
/// of at most five digits, units `h`, `m`, `s`, `ms`), rounded up to whole seconds:
/// `3600s` is `1h`, `90s` is `1m30s`.
pub fn duration(d: Duration) -> String {
    let total = d.millis().div_ceil(1000).max(1);
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

impl Cx<'_> {
    /// The Gateway, the redirect to HTTPS and the upstream's route.
    pub(super) fn gateway(&self) -> Result<Vec<serde_json::Value>, RenderError> {
        let stack = self.stack;
        let edge = stack.edge();
        let upstream = stack.service(edge.upstream.service);
        let port = stack.port(edge.upstream);
        let domain = stack.domain().to_string();
        let name = upstream.name.to_string();
        let listener = |name, port, protocol, tls| Listener {
            name,
            hostname: domain.clone(),
            port,
            protocol,
            tls,
            allowed_routes: AllowedRoutes {
                namespaces: RouteNamespaces { from: "Same" },
            },
        };
        let gateway = object(
            API_VERSION,
            "Gateway",
            self.meta(name.clone(), upstream),
            GatewaySpec {
                gateway_class_name: self.k8s.ingress.class.to_string(),
                listeners: vec![
                    listener(
                        HTTPS_LISTENER,
                        443,
                        "HTTPS",
                        Some(ListenerTls {
                            mode: "Terminate",
                            certificate_refs: vec![SecretRef {
                                kind: "Secret",
                                name: self.k8s.ingress.tls_secret.to_string(),
                            }],
                        }),
                    ),
                    listener(HTTP_LISTENER, 80, "HTTP", None),
                ],
            },
        )?;
        let route = |meta: Meta, section_name, rule| {
            object(
                API_VERSION,
                "HTTPRoute",
                meta,
                RouteSpec {
                    parent_refs: vec![ParentRef {
                        name: name.clone(),
                        section_name,
                    }],
                    hostnames: vec![domain.clone()],
                    rules: vec![rule],
                },
            )
        };
        let redirect = route(
            self.meta(format!("{name}-redirect"), upstream),
            HTTP_LISTENER,
            RouteRule {
                filters: vec![RouteFilter {
                    kind: "RequestRedirect",
                    request_redirect: Redirect {
                        scheme: "https",
                        status_code: 301,
                    },
                }],
                ..RouteRule::default()
            },
        )?;
        let upstream_route = route(
            self.meta(name.clone(), upstream),
            HTTPS_LISTENER,
            RouteRule {
                matches: vec![RouteMatch {
                    path: PathMatch {
                        kind: "PathPrefix",
                        value: "/",
                    },
                }],
                backend_refs: vec![BackendRef {
                    name: name.clone(),
                    port: port.container,
                }],
                timeouts: Some(RouteTimeouts {
                    request: duration(edge.read_timeout),
                }),
                ..RouteRule::default()
            },
        )?;
        Ok(vec![gateway, redirect, upstream_route])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_the_gateway_api_reads_them() {
        let cases = [(1, "1s"), (90, "1m30s"), (3600, "1h"), (3661, "1h1m1s"), (86400, "24h")];
        for (seconds, text) in cases {
            assert_eq!(duration(Duration::from_millis(seconds * 1000)), text);
        }
        assert_eq!(duration(Duration::from_millis(1500)), "2s");
        assert_eq!(duration(Duration::from_millis(0)), "1s");
    }
}
