//! The stack as a picture: services (by network), what is published on which interface, who
//! waits for whom (`depends_on` conditions), the proxy's upstream, who scrapes whom and where
//! each backup goes; as Mermaid (which GitHub renders in Markdown) or Graphviz DOT.
//!
//! On Kubernetes the picture is the cluster's: the workloads in their namespace, each with its
//! kind and pods (and claims), the Ingress in the proxy's place, only the waits an init
//! container holds (`service_healthy`), and each backup job as its CronJob, in UTC.

use std::fmt::Write;

use vutler_spec::Stack;
use vutler_spec::stack::{BackupJob, Condition, IngressApi, Kubernetes, Mount, Service};

use crate::kubernetes::{Kind, backups::cron_job_name, quantity};

/// One edge of the picture.
struct Arrow {
    from: String,
    to: String,
    label: String,
    style: Style,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Traffic: the internet to a published port, the proxy to its upstream.
    Traffic,
    /// Start order: a service waits for another.
    Waits,
    /// Prometheus scraping a target.
    Scrapes,
    /// A backup job uploading.
    Backup,
}

/// A network or namespace (its id and label; none for the services on no network) and its
/// services' node ids and labels.
type Group = (Option<(String, String)>, Vec<(String, String)>);

/// The nodes and arrows of a stack, in a fixed order.
struct Picture {
    /// Networks; services on no network come last.
    groups: Vec<Group>,
    /// Nodes outside the stack: the internet, the backup destination.
    outside: Vec<(String, String)>,
    arrows: Vec<Arrow>,
}

fn node(s: &Service) -> String {
    format!("svc_{}", s.id.index())
}

fn condition(c: Condition) -> &'static str {
    match c {
        Condition::ServiceHealthy => "waits until healthy",
        Condition::ServiceStarted => "waits until started",
        Condition::ServiceCompletedSuccessfully => "waits until done",
    }
}

fn picture(stack: &Stack) -> Picture {
    if let Some(k8s) = stack.kubernetes() {
        return cluster_picture(stack, k8s);
    }
    let mut groups: Vec<Group> = stack
        .networks()
        .iter()
        .map(|n| {
            let id = n.name.replace('-', "_");
            (Some((id, format!("network {}", n.name))), Vec::new())
        })
        .collect();
    let mut loose = Vec::new();
    for s in stack.services() {
        let label = format!("{}\n{}", s.name, s.image);
        match s.networks.first() {
            Some(n) => groups[n.index()].1.push((node(s), label)),
            None => loose.push((node(s), label)),
        }
    }
    groups.retain(|(_, members)| !members.is_empty());
    if !loose.is_empty() {
        groups.push((None, loose));
    }
    let mut outside = Vec::new();
    let mut arrows = Vec::new();
    let published: Vec<(&Service, String)> = stack
        .services()
        .iter()
        .flat_map(|s| {
            s.ports.iter().filter_map(move |p| {
                let at = p.published?;
                let scope = if at.is_public() { "public" } else { "this host only" };
                Some((
                    s,
                    format!(
                        "{}:{} → {} ({scope})",
                        crate::host_address(at.host_ip),
                        at.port,
                        p.container
                    ),
                ))
            })
        })
        .collect();
    if !published.is_empty() {
        outside.push(("internet".to_owned(), "clients".to_owned()));
    }
    for (s, label) in published {
        arrows.push(Arrow {
            from: "internet".into(),
            to: node(s),
            label,
            style: Style::Traffic,
        });
    }
    let edge = stack.edge();
    let upstream = stack.endpoint(edge.upstream);
    arrows.push(Arrow {
        from: node(stack.service(edge.proxy)),
        to: node(stack.service(edge.upstream.service)),
        label: format!("proxies to :{}", upstream.port),
        style: Style::Traffic,
    });
    for s in stack.services() {
        for d in &s.depends_on {
            arrows.push(Arrow {
                from: node(s),
                to: node(stack.service(d.service)),
                label: condition(d.condition).to_owned(),
                style: Style::Waits,
            });
        }
    }
    scrapes(stack, &mut arrows);
    uploads(stack, &mut outside, &mut arrows, |j| {
        format!("{} {} ({})", j.name, j.dump.method().as_str(), j.schedule)
    });
    Picture {
        groups,
        outside,
        arrows,
    }
}

/// Prometheus scraping each target.
fn scrapes(stack: &Stack, arrows: &mut Vec<Arrow>) {
    if let Some(m) = stack.monitoring() {
        let prometheus = node(stack.service(m.prometheus.service));
        for j in &m.scrape_jobs {
            let target = stack.endpoint(j.target);
            arrows.push(Arrow {
                from: prometheus.clone(),
                to: node(stack.service(j.target.service)),
                label: format!("scrapes {} :{}{}", j.name, target.port, j.path),
                style: Style::Scrapes,
            });
        }
    }
}

/// Each backup job's service uploading to the destination, labelled by `label`.
fn uploads(
    stack: &Stack,
    outside: &mut Vec<(String, String)>,
    arrows: &mut Vec<Arrow>,
    label: impl Fn(&BackupJob) -> String,
) {
    if let Some(b) = stack.backups() {
        outside.push(("destination".to_owned(), b.destination.to_string()));
        for j in &b.jobs {
            arrows.push(Arrow {
                from: node(stack.service(j.service)),
                to: "destination".into(),
                label: label(j),
                style: Style::Backup,
            });
        }
    }
}

/// What runs a service on the cluster: its kind, pods and claims (`StatefulSet, 1 pod,
/// claim postgres-data 50Gi`).
fn workload(stack: &Stack, k8s: &Kubernetes, s: &Service) -> String {
    let kind = Kind::of(k8s, s);
    let pods = k8s.pods(stack, s);
    let mut text = match kind {
        Kind::DaemonSet => format!("{}, a pod per node", kind.as_str()),
        _ if pods.fewest == pods.most => {
            let noun = if pods.most == 1 { "pod" } else { "pods" };
            format!("{}, {} {noun}", kind.as_str(), pods.most)
        }
        _ => format!("{}, {}–{} pods (autoscaled)", kind.as_str(), pods.fewest, pods.most),
    };
    for m in &s.mounts {
        if let Mount::Volume { volume, .. } = m
            && let Some(claim) = k8s.claim(*volume)
        {
            text.push_str(&format!(
                ", claim {} {}",
                stack.volume(*volume).name,
                quantity(claim.size)
            ));
        }
    }
    text
}

/// The cluster's picture: the namespace's workloads, the Ingress, init waits, scrapes and the
/// backup CronJobs.
fn cluster_picture(stack: &Stack, k8s: &Kubernetes) -> Picture {
    let edge = stack.edge();
    let members = stack
        .services()
        .iter()
        .filter(|s| k8s.deploys(s.id))
        .map(|s| (node(s), format!("{}\n{}\n{}", s.name, s.image, workload(stack, k8s, s))))
        .collect();
    let namespace = k8s.namespace.to_string();
    let groups = vec![(
        Some((namespace.replace('-', "_"), format!("namespace {namespace}"))),
        members,
    )];
    let mut outside = vec![
        ("internet".to_owned(), "clients".to_owned()),
        (
            "ingress".to_owned(),
            format!(
                "{} (class {})\nTLS from Secret {}",
                match k8s.ingress.api {
                    IngressApi::Ingress => "Ingress",
                    IngressApi::Gateway => "Gateway and HTTPRoute",
                },
                k8s.ingress.class,
                k8s.ingress.tls_secret
            ),
        ),
    ];
    let upstream = stack.service(edge.upstream.service);
    let sticky = stack.scale_of(upstream.id).is_some_and(|p| p.sticky_sessions);
    let mut arrows = vec![
        Arrow {
            from: "internet".into(),
            to: "ingress".into(),
            label: format!("https://{}", stack.domain()),
            style: Style::Traffic,
        },
        Arrow {
            from: "ingress".into(),
            to: node(upstream),
            label: format!(
                "routes to :{}{}",
                stack.endpoint(edge.upstream).port,
                if sticky { " (sticky)" } else { "" }
            ),
            style: Style::Traffic,
        },
    ];
    // The operator's Prometheus scrapes in the place of the stack's.
    if let (Some(op), Some(id)) = (&k8s.prometheus_operator, k8s.replaced_prometheus(stack)) {
        outside.push((
            node(stack.service(id)),
            format!(
                "prometheus-operator's Prometheus\nnamespace {}\nServiceMonitors, PrometheusRule",
                op.namespace
            ),
        ));
    }
    // Pods start together; an init container holds one until a dependency is ready.
    for s in stack.services().iter().filter(|s| k8s.deploys(s.id)) {
        for d in s
            .depends_on
            .iter()
            .filter(|d| d.condition == Condition::ServiceHealthy && k8s.deploys(d.service))
        {
            arrows.push(Arrow {
                from: node(s),
                to: node(stack.service(d.service)),
                label: "waits until ready".to_owned(),
                style: Style::Waits,
            });
        }
    }
    scrapes(stack, &mut arrows);
    uploads(stack, &mut outside, &mut arrows, |j| {
        format!(
            "CronJob {}: {} ({} UTC)",
            cron_job_name(j),
            j.dump.method().as_str(),
            j.schedule
        )
    });
    Picture {
        groups,
        outside,
        arrows,
    }
}

/// A label as Mermaid reads it inside `"..."`.
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;").replace('\n', "<br/>")
}

/// The stack as a Mermaid flowchart.
pub fn mermaid(stack: &Stack) -> String {
    let p = picture(stack);
    let mut out = String::from("flowchart LR\n");
    for (id, label) in &p.outside {
        let _ = writeln!(out, "  {id}([\"{}\"])", mermaid_text(label));
    }
    for (group, members) in &p.groups {
        let indent = if group.is_some() { "    " } else { "  " };
        if let Some((id, label)) = group {
            let _ = writeln!(out, "  subgraph net_{id}[\"{}\"]", mermaid_text(label));
        }
        for (id, label) in members {
            let _ = writeln!(out, "{indent}{id}[\"{}\"]", mermaid_text(label));
        }
        if group.is_some() {
            out.push_str("  end\n");
        }
    }
    for a in &p.arrows {
        let arrow = match a.style {
            Style::Traffic => "==>",
            Style::Waits => "-->",
            Style::Scrapes | Style::Backup => "-.->",
        };
        let _ = writeln!(out, "  {} {arrow}|\"{}\"| {}", a.from, mermaid_text(&a.label), a.to);
    }
    out
}

/// A label as DOT reads it inside `"..."`.
fn dot_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The stack as a Graphviz digraph.
pub fn dot(stack: &Stack) -> String {
    let p = picture(stack);
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
        dot_text(stack.project())
    );
    for (id, label) in &p.outside {
        let _ = writeln!(out, "  {id} [label=\"{}\", shape=ellipse];", dot_text(label));
    }
    for (i, (group, members)) in p.groups.iter().enumerate() {
        if let Some((_, label)) = group {
            let _ = writeln!(out, "  subgraph cluster_{i} {{\n    label=\"{}\";", dot_text(label));
        }
        for (id, label) in members {
            let _ = writeln!(out, "    {id} [label=\"{}\"];", dot_text(label));
        }
        if group.is_some() {
            out.push_str("  }\n");
        }
    }
    for a in &p.arrows {
        let style = match a.style {
            Style::Traffic => "style=bold",
            Style::Waits => "style=solid",
            Style::Scrapes | Style::Backup => "style=dashed",
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label=\"{}\", {style}];",
            a.from,
            a.to,
            dot_text(&a.label)
        );
    }
    out.push_str("}\n");
    out
}
