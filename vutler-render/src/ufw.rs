//! `firewall/ufw.sh`: the host firewall of seed 8.1, and the proof that Docker's published ports
//! do not get around it.
//!
//! Ports and protocols are typed; rule, service and project names follow the model's name
//! grammar and are shell-quoted anyway (the `sh` filter), so no spec value can run a command.

use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::stack::{FirewallPolicy, FirewallRule};

use crate::{RenderError, Rendered, header, host_address, templates};

/// Path of the script in the rendered tree.
pub const UFW_SCRIPT: &str = "firewall/ufw.sh";

#[derive(Debug, Serialize)]
struct UfwCtx {
    header: String,
    env: String,
    project: String,
    default_incoming: &'static str,
    default_outgoing: &'static str,
    allow: Vec<RuleCtx>,
    deny: Vec<RuleCtx>,
    published: Vec<PublishedCtx>,
}

#[derive(Debug, Serialize)]
struct RuleCtx {
    name: String,
    port: u16,
    protocol: &'static str,
}

#[derive(Debug, Serialize)]
struct PublishedCtx {
    service: String,
    address: String,
    port: u16,
    protocol: &'static str,
    verdict: &'static str,
}

fn policy(p: FirewallPolicy) -> &'static str {
    match p {
        FirewallPolicy::Allow => "allow",
        FirewallPolicy::Deny => "deny",
        FirewallPolicy::Reject => "reject",
    }
}

fn rules(list: &[FirewallRule]) -> Vec<RuleCtx> {
    list.iter()
        .map(|r| RuleCtx {
            name: r.name.to_string(),
            port: r.port,
            protocol: r.protocol.as_str(),
        })
        .collect()
}

/// Adds `firewall/ufw.sh` to the tree.
pub fn render(stack: &Stack, tree: &mut Rendered) -> Result<(), RenderError> {
    let fw = stack.firewall();
    let mut published = Vec::new();
    for s in stack.services() {
        for port in &s.ports {
            let Some(p) = port.published else { continue };
            published.push(PublishedCtx {
                service: s.name.to_string(),
                address: host_address(p.host_ip),
                port: p.port,
                protocol: port.protocol.as_str(),
                verdict: if p.is_public() {
                    "public, opened above"
                } else {
                    "loopback only, not reachable from other hosts"
                },
            });
        }
    }
    let ctx = UfwCtx {
        header: header(stack).trim_end().to_owned(),
        env: stack.env().to_string(),
        project: stack.project().to_string(),
        default_incoming: policy(fw.default_incoming),
        default_outgoing: policy(fw.default_outgoing),
        allow: rules(&fw.allow),
        deny: rules(&fw.deny),
        published,
    };
    tree.insert(UFW_SCRIPT, templates::render(templates::UFW_SCRIPT, &ctx)?)?;
    Ok(())
}
