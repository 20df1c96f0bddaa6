//! `prometheus/prometheus.yml` and `prometheus/alerts.yml`.
//!
//! The configuration scrapes every job of the model (every container of a service that may run
//! several, found through Docker's DNS), loads the rules (`rule_files`, relative to
//! the configuration, so it resolves the same in the container and in a checkout), and sends
//! alerts to Alertmanager. The rules are the spec's groups plus a group the model implies: for
//! every critical service, `up == 0` and `absent(up)` on each job that monitors it (unless the
//! spec already has that exact rule), Redis memory near its limit and stale backups when the
//! metrics they need are scraped. The alerts on what the operations scripts record (backups, WAL,
//! drills, the certificate, secret rotations) are not derived on Kubernetes, where no script
//! records it.

use indexmap::IndexMap;
use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::stack::{AlertSeverity, Monitoring, ScrapeAuth};
use vutler_spec::units::Duration;

use crate::{RenderError, header, yaml};

/// Path of the configuration in the rendered tree.
pub const CONFIG: &str = vutler_spec::configs::PROMETHEUS_CONFIG;
/// Path of the rules in the rendered tree.
pub const RULES: &str = vutler_spec::configs::PROMETHEUS_RULES;
/// The rules as the configuration names them: relative to itself, beside it.
const RULES_FILE: &str = "alerts.yml";
/// Name of the generated rule group after the project's prefix (`vutler_derived`).
pub const DERIVED_GROUP_SUFFIX: &str = "derived";
pub use vutler_spec::stack::ScriptMetric;

#[derive(Debug, Serialize)]
struct Config {
    global: Global,
    rule_files: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerting: Option<Alerting>,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    static_configs: Vec<Targets>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dns_sd_configs: Vec<DnsSd>,
    /// `authorization: { type: Bearer, credentials_file }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization: Option<IndexMap<&'static str, String>>,
    /// `basic_auth: { username, password_file }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    basic_auth: Option<IndexMap<&'static str, String>>,
}

/// Every address a name resolves to, each a target: Docker's DNS answers a service's name with
/// the address of each of its containers.
#[derive(Debug, Serialize)]
struct DnsSd {
    names: Vec<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    port: u16,
    refresh_interval: String,
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
    let mut out = String::with_capacity(name.len());
    for word in name.split(['-', '_']) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

fn derived_rules(stack: &Stack, m: &Monitoring) -> Vec<Rule> {
    let written: Vec<&str> = m
        .alert_groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| r.expr.as_str().trim())
        .collect();
    let minute = Duration::from_millis(60_000);
    let mut rules = Vec::new();
    for service in stack.services() {
        if !service.critical {
            continue;
        }
        let name = &service.name;
        for job in m.scrape_jobs.iter().filter(|j| j.monitors == service.id) {
            let job_name = &job.name;
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
    let produces = |metric: &str| m.scrape_jobs.iter().any(|j| j.metrics.iter().any(|x| *x == metric));
    // The metrics the operations scripts record: on Kubernetes no script runs on the nodes to
    // write them, and alerts on their absence would fire from the first minute.
    let recorded = |metric: &str| stack.kubernetes().is_none() && produces(metric);
    let tls_metric = stack.metric(ScriptMetric::TlsExpiry);
    let secret_metric = stack.metric(ScriptMetric::SecretRotated);
    let backup_metric = stack.metric(ScriptMetric::BackupSuccess);
    let wal_metric = stack.metric(ScriptMetric::WalShipped);
    let drill_metric = stack.metric(ScriptMetric::DrillSuccess);
    if produces("redis_memory_used_bytes") && produces("redis_memory_max_bytes") {
        let mut redis = rule(
            "RedisMemoryHigh".into(),
            "redis_memory_max_bytes > 0 and redis_memory_used_bytes / redis_memory_max_bytes > 0.9".into(),
            Some(minute * 5),
            AlertSeverity::Warning,
            "Redis uses over 90% of its maxmemory: keys will soon be evicted".into(),
        );
        // Seed 9.2, "Redis memory limit hit".
        redis.annotations.insert(
            "runbook",
            format!(
                "Raise --maxmemory in the spec, keeping it within 75% of the container's memory limit (raise that too), and keep the allkeys-lru eviction policy; render and {}.",
                if stack.kubernetes().is_some() { "`kubectl apply -k k8s/`" } else { "`docker compose up -d`" }
            ),
        );
        rules.push(redis);
    }
    if recorded(&tls_metric) {
        let days = |n: u64| n * 86_400;
        rules.push(rule(
            "TlsCertificateExpiresSoon".into(),
            format!("{tls_metric} - time() < {}", days(21)),
            Some(minute * 60),
            AlertSeverity::Warning,
            "The TLS certificate of {{ $labels.domain }} expires within 21 days: is scripts/certificates.sh renew running?".into(),
        ));
        rules.push(rule(
            "TlsCertificateExpiring".into(),
            format!("{tls_metric} - time() < {}", days(7)),
            Some(minute * 10),
            AlertSeverity::Critical,
            "The TLS certificate of {{ $labels.domain }} expires within 7 days".into(),
        ));
        rules.push(rule(
            "TlsCertificateExpiryUnknown".into(),
            format!("absent({tls_metric})"),
            Some(minute * 60 * 24),
            AlertSeverity::Warning,
            "No TLS certificate expiry has been recorded for a day: run scripts/certificates.sh renew".into(),
        ));
    }
    if let (true, Some(after)) = (recorded(&secret_metric), stack.operations().rotate_secrets_after) {
        let mut due = rule(
            "SecretRotationDue".into(),
            format!("time() - {secret_metric} > {}", after.secs()),
            Some(minute * 60),
            AlertSeverity::Warning,
            format!("The secret {{{{ $labels.secret }}}} was last rotated more than {after} ago"),
        );
        // Seed 3.1: rotate passwords every 90 days.
        due.annotations.insert(
            "runbook",
            "Run `scripts/secrets.sh rotate {{ $labels.secret }}` in the deployment folder (a secret from elsewhere, such as an API key: first get a new one from its issuer, then give it on standard input).".into(),
        );
        rules.push(due);
    }
    let jobs = stack.backup_jobs();
    if let (true, Some(backups)) = (recorded(&backup_metric), stack.backups()) {
        let stale = backups.stale_after;
        for job in jobs {
            let job = &job.name;
            rules.extend(recorded_time(
                RecordedTime {
                    metric: &backup_metric,
                    job,
                    max_age: stale,
                    severity: AlertSeverity::Critical,
                },
                (format!("BackupStale{}", camel(job)), Some(minute * 10)),
                format!("The {job} backup has not succeeded for more than {stale}"),
                (format!("BackupMissing{}", camel(job)), Some(stale)),
                format!("No successful {job} backup has been recorded"),
            ));
        }
    }
    if recorded(&wal_metric) {
        for job in jobs {
            let Some(wal) = job.wal() else { continue };
            let name = &job.name;
            let [mut behind, missing] = recorded_time(
                RecordedTime {
                    metric: &wal_metric,
                    job: name,
                    max_age: wal.rpo,
                    severity: AlertSeverity::Critical,
                },
                (format!("WalShippingBehind{}", camel(name)), Some(minute)),
                format!(
                    "The archived WAL of the {name} backup has not all reached the destination for more than {}: the recovery point objective is not met",
                    wal.rpo
                ),
                (format!("WalShippingMissing{}", camel(name)), Some(minute * 10)),
                format!("No shipping of the {name} backup's WAL has been recorded"),
            );
            behind.annotations.insert(
                "runbook",
                format!("Read the log of `scripts/backup.sh --wal --only {name}` (cron, every minute): S3 credentials, the destination, the service running; run it by hand in the deployment folder."),
            );
            rules.extend([behind, missing]);
        }
    }
    // WAL is archived only where it is shipped (not on Kubernetes, see runtime.rs).
    let archives = stack.kubernetes().is_none() && jobs.iter().any(|j| j.wal().is_some());
    if produces("pg_stat_archiver_failed_count") && archives {
        let mut failing = rule(
            "WalArchivingFails".into(),
            "increase(pg_stat_archiver_failed_count[10m]) > 0".into(),
            None,
            AlertSeverity::Critical,
            "PostgreSQL fails to archive WAL: segments pile up in pg_wal and point-in-time restores stop at the last archived one".into(),
        );
        failing.annotations.insert(
            "runbook",
            "Read PostgreSQL's log for `archive command failed` (a full volume, the archive folder's owner); do not restart PostgreSQL until pg_stat_archiver shows segments archived again.".into(),
        );
        rules.push(failing);
    }
    if let (true, Some(drill)) = (recorded(&drill_metric), stack.backups().and_then(|b| b.drill.as_ref())) {
        let stale = drill.stale_after;
        for job in jobs {
            let job = &job.name;
            let [mut overdue, missing] = recorded_time(
                RecordedTime {
                    metric: &drill_metric,
                    job,
                    max_age: stale,
                    severity: AlertSeverity::Warning,
                },
                (format!("BackupDrillOverdue{}", camel(job)), Some(minute * 60)),
                format!("No restore drill of the {job} backup has succeeded for more than {stale}"),
                (format!("BackupDrillMissing{}", camel(job)), Some(stale)),
                format!("No successful restore drill of the {job} backup has been recorded"),
            );
            overdue.annotations.insert(
                "runbook",
                format!("Run `scripts/restore.sh --verify {job}` in the deployment folder and read its log; a backup that does not restore is no backup."),
            );
            rules.extend([overdue, missing]);
        }
    }
    rules
}

/// A Unix time a script records for a backup job (`metric{backup="<job>"}`) and how old it may
/// get.
struct RecordedTime<'a> {
    metric: &'a str,
    job: &'a str,
    max_age: Duration,
    severity: AlertSeverity,
}

/// The two alerts on a recorded time: older than its maximum age, and never recorded; each
/// with its name, `for` and summary.
fn recorded_time(
    t: RecordedTime<'_>,
    (stale, stale_for): (String, Option<Duration>),
    stale_summary: String,
    (missing, missing_for): (String, Option<Duration>),
    missing_summary: String,
) -> [Rule; 2] {
    let selector = format!("{}{{backup=\"{}\"}}", t.metric, t.job);
    [
        rule(
            stale,
            format!("time() - {selector} > {}", t.max_age.secs()),
            stale_for,
            t.severity,
            stale_summary,
        ),
        rule(
            missing,
            format!("absent({selector})"),
            missing_for,
            t.severity,
            missing_summary,
        ),
    ]
}

/// The contents of `prometheus/prometheus.yml`: alerts go to the Alertmanager when the stack
/// has one.
pub fn config(stack: &Stack, m: &Monitoring) -> Result<String, RenderError> {
    let config = Config {
        global: Global {
            scrape_interval: m.scrape_interval.to_string(),
            evaluation_interval: m.evaluation_interval.to_string(),
        },
        // Relative to this file: the rules sit next to it, in the container and in the tree.
        rule_files: vec![RULES_FILE.to_owned()],
        alerting: m.alertmanager.as_ref().map(|am| Alerting {
            alertmanagers: vec![StaticConfigs {
                static_configs: vec![Targets {
                    targets: vec![stack.endpoint(am.target).to_string()],
                }],
            }],
        }),
        scrape_configs: m
            .scrape_jobs
            .iter()
            .map(|j| {
                let endpoint = stack.endpoint(j.target);
                let mut config = ScrapeConfig {
                    job_name: j.name.to_string(),
                    metrics_path: j.path.to_string(),
                    static_configs: Vec::new(),
                    dns_sd_configs: Vec::new(),
                    authorization: None,
                    basic_auth: None,
                };
                // Prometheus reads no environment: a scrape credential is a secret file.
                let file = |v| {
                    crate::runtime::SecretFile {
                        variable: stack.variable(v),
                    }
                    .container_path()
                };
                match &j.auth {
                    None => {}
                    Some(ScrapeAuth::Bearer { token }) => {
                        config.authorization = Some(IndexMap::from([
                            ("type", "Bearer".to_owned()),
                            ("credentials_file", file(*token)),
                        ]));
                    }
                    Some(ScrapeAuth::Basic { username, password }) => {
                        config.basic_auth = Some(IndexMap::from([
                            ("username", username.to_string()),
                            ("password_file", file(*password)),
                        ]));
                    }
                }
                if crate::runtime::several_containers(stack, j.target.service) {
                    config.dns_sd_configs.push(DnsSd {
                        names: vec![crate::runtime::every_container_name(stack, j.target.service)],
                        kind: "A",
                        port: endpoint.port,
                        refresh_interval: m.scrape_interval.to_string(),
                    });
                } else {
                    config.static_configs.push(Targets {
                        targets: vec![endpoint.to_string()],
                    });
                }
                config
            })
            .collect(),
    };
    Ok(format!("{}{}", header(stack), yaml::to_string(&config)?))
}

/// The contents of `prometheus/alerts.yml`: the spec's groups, then the derived one.
pub fn rules(stack: &Stack, m: &Monitoring) -> Result<String, RenderError> {
    let groups = rule_groups(stack, m);
    Ok(format!("{}{}", header(stack), yaml::to_string(&Rules { groups })?))
}

/// The rule groups of `prometheus/alerts.yml`, as a value (a PrometheusRule's `groups`).
pub fn rule_groups_value(stack: &Stack, m: &Monitoring) -> Result<serde_json::Value, RenderError> {
    Ok(serde_json::to_value(rule_groups(stack, m))?)
}

/// The spec's groups, then the derived one.
fn rule_groups(stack: &Stack, m: &Monitoring) -> Vec<Group> {
    let mut groups: Vec<Group> = m
        .alert_groups
        .iter()
        .map(|g| Group {
            name: g.name.to_string(),
            interval: g.interval.map(|d| d.to_string()),
            rules: g
                .rules
                .iter()
                .map(|r| {
                    let mut out = rule(
                        r.name.to_string(),
                        r.expr.to_string(),
                        r.for_,
                        r.severity,
                        r.summary.to_string(),
                    );
                    if let Some(d) = &r.description {
                        out.annotations.insert("description", d.to_string());
                    }
                    if let Some(runbook) = &r.runbook {
                        out.annotations.insert("runbook", runbook.trim_end().to_owned());
                    }
                    out
                })
                .collect(),
        })
        .collect();
    let derived = derived_rules(stack, m);
    if !derived.is_empty() {
        // promtool refuses two groups of one name: take one the spec does not use.
        let taken = |name: &str| groups.iter().any(|g| g.name == name);
        let base = format!(
            "{}_{DERIVED_GROUP_SUFFIX}",
            vutler_spec::stack::metric_prefix(stack.project().as_str())
        );
        let mut name = base.clone();
        let mut n = 2;
        while taken(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        groups.push(Group {
            name,
            interval: None,
            rules: derived,
        });
    }
    groups
}

#[cfg(test)]
mod tests {
    #[test]
    fn rules_file_is_the_rules_path_beside_the_config() {
        let dir = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_owned());
        assert_eq!(dir(super::CONFIG), dir(super::RULES));
        assert!(super::RULES.ends_with(&format!("/{}", super::RULES_FILE)));
        assert_eq!(super::camel("postgres-exporter"), "PostgresExporter");
        assert_eq!(super::camel("a__b"), "AB");
    }
}
