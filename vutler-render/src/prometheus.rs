//! `prometheus/prometheus.yml` and `prometheus/alerts.yml`.
//!
//! The configuration scrapes every job of the model, loads the rules (`rule_files`, relative to
//! the configuration, so it resolves the same in the container and in a checkout), and sends
//! alerts to Alertmanager. The rules are the spec's groups plus a group the model implies: for
//! every critical service, `up == 0` and `absent(up)` on each job that monitors it (unless the
//! spec already has that exact rule), Redis memory near its limit and stale backups when the
//! metrics they need are scraped.

use indexmap::IndexMap;
use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::stack::AlertSeverity;
use vutler_spec::units::Duration;

use crate::{RenderError, Rendered, endpoint, header, yaml};

/// Path of the configuration in the rendered tree.
pub const CONFIG: &str = "prometheus/prometheus.yml";
/// Path of the rules in the rendered tree.
pub const RULES: &str = "prometheus/alerts.yml";
/// Name of the generated rule group.
pub const DERIVED_GROUP: &str = "vutler_derived";
pub use vutler_spec::stack::BACKUP_METRIC;

#[derive(Debug, Serialize)]
struct Config {
    global: Global,
    rule_files: Vec<String>,
    alerting: Alerting,
    scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Serialize)]
struct Global {
    scrape_interval: String,
    evaluation_interval: String,
}

#[derive(Debug, Serialize)]
struct Alerting {
    alertmanagers: Vec<StaticConfigs>,
}

#[derive(Debug, Serialize)]
struct StaticConfigs {
    static_configs: Vec<Targets>,
}

#[derive(Debug, Serialize)]
struct Targets {
    targets: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ScrapeConfig {
    job_name: String,
    metrics_path: String,
    static_configs: Vec<Targets>,
}

#[derive(Debug, Serialize)]
struct Rules {
    groups: Vec<Group>,
}

#[derive(Debug, Serialize)]
struct Group {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Debug, Serialize)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<String>,
    labels: IndexMap<&'static str, String>,
    annotations: IndexMap<&'static str, String>,
}

fn rule(alert: String, expr: String, for_: Option<Duration>, sev: AlertSeverity, summary: String) -> Rule {
    Rule {
        alert,
        expr,
        for_: for_.map(|d| d.to_string()),
        labels: IndexMap::from([("severity", sev.as_str().to_owned())]),
        annotations: IndexMap::from([("summary", summary)]),
    }
}

/// `postgres-exporter` -> `PostgresExporter`.
fn camel(name: &str) -> String {
    name.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn derived_rules(stack: &Stack) -> Vec<Rule> {
    let m = &stack.monitoring;
    let written: Vec<&str> = m
        .alert_groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| r.expr.trim())
        .collect();
    let minute = Duration::from_millis(60_000);
    let mut rules = Vec::new();
    for (name, service) in &stack.services {
        if !service.critical {
            continue;
        }
        for (job_name, _) in m.scrape_jobs.iter().filter(|(_, j)| j.monitors == *name) {
            let down = format!("up{{job=\"{job_name}\"}} == 0");
            if !written.contains(&down.as_str()) {
                let summary = format!("{name} is down: job {job_name} cannot scrape {{{{ $labels.instance }}}}");
                rules.push(rule(
                    format!("{}Down", camel(job_name)),
                    down,
                    Some(minute),
                    AlertSeverity::Critical,
                    summary,
                ));
            }
            let absent = format!("absent(up{{job=\"{job_name}\"}})");
            let summary = format!("Prometheus has no target for job {job_name} ({name})");
            rules.push(rule(
                format!("{}Absent", camel(job_name)),
                absent,
                Some(minute * 5),
                AlertSeverity::Critical,
                summary,
            ));
        }
    }
    let produces = |metric: &str| m.scrape_jobs.values().any(|j| j.metrics.iter().any(|x| x == metric));
    if produces("redis_memory_used_bytes") && produces("redis_memory_max_bytes") {
        rules.push(rule(
            "RedisMemoryHigh".into(),
            "redis_memory_max_bytes > 0 and redis_memory_used_bytes / redis_memory_max_bytes > 0.9".into(),
            Some(minute * 5),
            AlertSeverity::Warning,
            "Redis uses over 90% of its maxmemory: presence data will be evicted".into(),
        ));
    }
    if produces(BACKUP_METRIC) {
        let stale = stack.backups.stale_after;
        for job in stack.backups.jobs.keys() {
            let selector = format!("{BACKUP_METRIC}{{backup=\"{job}\"}}");
            rules.push(rule(
                format!("BackupStale{}", camel(job)),
                format!("time() - {selector} > {}", stale.secs()),
                Some(minute * 10),
                AlertSeverity::Critical,
                format!("The {job} backup has not succeeded for more than {stale}"),
            ));
            rules.push(rule(
                format!("BackupMissing{}", camel(job)),
                format!("absent({selector})"),
                Some(stale),
                AlertSeverity::Critical,
                format!("No successful {job} backup has been recorded"),
            ));
        }
    }
    rules
}

/// Adds the Prometheus configuration and rules to the tree.
pub fn render(stack: &Stack, tree: &mut Rendered) -> Result<(), RenderError> {
    let m = &stack.monitoring;
    let am = &m.alertmanager;
    let config = Config {
        global: Global {
            scrape_interval: m.scrape_interval.to_string(),
            evaluation_interval: m.evaluation_interval.to_string(),
        },
        // Relative to this file: the rules sit next to it, in the container and in the tree.
        rule_files: vec![RULES.rsplit('/').next().unwrap_or(RULES).to_owned()],
        alerting: Alerting {
            alertmanagers: vec![StaticConfigs {
                static_configs: vec![Targets {
                    targets: vec![endpoint(stack, &am.service, &am.port)?],
                }],
            }],
        },
        scrape_configs: m
            .scrape_jobs
            .iter()
            .map(|(name, j)| {
                Ok(ScrapeConfig {
                    job_name: name.clone(),
                    metrics_path: j.path.clone(),
                    static_configs: vec![Targets {
                        targets: vec![endpoint(stack, &j.service, &j.port)?],
                    }],
                })
            })
            .collect::<Result<_, RenderError>>()?,
    };
    tree.insert(CONFIG, format!("{}{}", header(stack), yaml::to_string(&config)?))?;

    let mut groups: Vec<Group> = m
        .alert_groups
        .iter()
        .map(|g| Group {
            name: g.name.clone(),
            interval: g.interval.map(|d| d.to_string()),
            rules: g
                .rules
                .iter()
                .map(|r| {
                    let mut out = rule(r.name.clone(), r.expr.clone(), r.for_, r.severity, r.summary.clone());
                    if let Some(d) = &r.description {
                        out.annotations.insert("description", d.clone());
                    }
                    out
                })
                .collect(),
        })
        .collect();
    let derived = derived_rules(stack);
    if !derived.is_empty() {
        // promtool refuses two groups of one name: take one the spec does not use.
        let taken = |name: &str| groups.iter().any(|g| g.name == name);
        let name = std::iter::once(DERIVED_GROUP.to_owned())
            .chain((2..).map(|n| format!("{DERIVED_GROUP}_{n}")))
            .find(|n| !taken(n))
            .unwrap_or_default();
        groups.push(Group {
            name,
            interval: None,
            rules: derived,
        });
    }
    tree.insert(
        RULES,
        format!("{}{}", header(stack), yaml::to_string(&Rules { groups })?),
    )?;
    Ok(())
}
