//! The stack as a picture: services (by network), what is published on which interface, who
//! waits for whom (`depends_on` conditions), the proxy's upstream, who scrapes whom and where
//! each backup goes; as Mermaid (which GitHub renders in Markdown) or Graphviz DOT.

use std::fmt::Write;

use vutler_spec::Stack;
use vutler_spec::stack::{Condition, Service};

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

/// A network (none for the services on none) and its services' node ids and labels.
type Group = (Option<String>, Vec<(String, String)>);

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
    let mut groups: Vec<Group> = stack
        .networks()
        .iter()
        .map(|n| (Some(n.name.to_string()), Vec::new()))
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
    if let Some(b) = stack.backups() {
        outside.push(("destination".to_owned(), b.destination.to_string()));
        for j in &b.jobs {
            arrows.push(Arrow {
                from: node(stack.service(j.service)),
                to: "destination".into(),
                label: format!("{} {} ({})", j.name, j.dump.method().as_str(), j.schedule),
                style: Style::Backup,
            });
        }
    }
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
    for (network, members) in &p.groups {
        let indent = if network.is_some() { "    " } else { "  " };
        if let Some(name) = network {
            let _ = writeln!(
                out,
                "  subgraph net_{}[\"network {}\"]",
                name.replace('-', "_"),
                mermaid_text(name)
            );
        }
        for (id, label) in members {
            let _ = writeln!(out, "{indent}{id}[\"{}\"]", mermaid_text(label));
        }
        if network.is_some() {
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
    for (i, (network, members)) in p.groups.iter().enumerate() {
        if let Some(name) = network {
            let _ = writeln!(
                out,
                "  subgraph cluster_{i} {{\n    label=\"network {}\";",
                dot_text(name)
            );
        }
        for (id, label) in members {
            let _ = writeln!(out, "    {id} [label=\"{}\"];", dot_text(label));
        }
        if network.is_some() {
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
