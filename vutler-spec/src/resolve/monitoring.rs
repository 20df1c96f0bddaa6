//! Monitoring: Prometheus and what it reads, scrape jobs, alert rules, Alertmanager and Grafana.
//!
//! Alert expressions and panel queries are parsed as PromQL here and related to the scrape jobs
//! that feed them, so that an alert on a metric nobody scrapes is refused instead of never firing.
//!
//! Rules: `promql`, `unknown-job` (a `job=` matcher naming no scrape job), `unknown-metric` (a
//! metric no job, or not the selected job, produces), `prometheus-command` (its command line is
//! rendered), `prometheus-config-not-mounted` (its configuration and rules, side by side),
//! `prometheus-storage` (one volume for its data), `grafana-dashboards-not-mounted` and
//! `default-datasource`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indexmap::IndexMap;

use crate::configs;
use crate::path::SpecPath;
use crate::promql::{self, Expression};
use crate::raw::{
    DatasourceKind, RawAlertGroup, RawAlertmanager, RawGrafana, RawMonitoring, RawReceiver, RawScrapeAuth, RawScrapeJob,
};
use crate::rule::Rule;
use crate::stack::*;
use crate::text::{
    AbsolutePath, AlertName, EmailAddress, HttpUrl, MetricName, Name, OneLine, Prose, SlackChannel, Smarthost, Uid,
    UrlPath,
};

use super::variables::secret_ref;
use super::{Cx, all, closest};

/// The monitoring part (`Some(None)` for a stack without one), and where Grafana sees the
/// dashboards (when there are some and it mounts them).
pub(super) fn monitoring(
    cx: &mut Cx<'_>,
    services: &[Option<Service>],
    paths: &[String],
) -> (Option<Option<Monitoring>>, Option<AbsolutePath>) {
    let raw = cx.raw;
    critical_watched(cx);
    let Some(m) = &raw.monitoring else {
        return (Some(None), None);
    };
    parse_ahead(cx);
    let p = SpecPath::top("monitoring");
    let prometheus = prometheus(cx, m, services, paths);
    let scrape_interval = cx.duration(p.key("scrape_interval"), &m.scrape_interval);
    let evaluation_interval = cx.duration(p.key("evaluation_interval"), &m.evaluation_interval);
    let retention = cx.duration(p.key("retention"), &m.retention);
    let jobs = Jobs::new(&m.scrape_jobs);
    let scrape_jobs = scrape_jobs(cx, m);
    let alert_groups = alert_groups(cx, m, &jobs);
    let alertmanager = match &m.alertmanager {
        None => {
            alerts_unsent(cx, m);
            Some(None)
        }
        Some(am) => alertmanager(cx, am).map(Some),
    };
    let (grafana, dashboards_folder) = match &m.grafana {
        None => (Some(None), None),
        Some(g) => {
            let (grafana, folder) = grafana(cx, g, services, &jobs);
            (grafana.map(Some), folder)
        }
    };
    let by_name = |name: &str| services.iter().flatten().find(|s| s.name.as_str() == name);
    let mut mounted = true;
    if let Some(s) = m.alertmanager.as_ref().and_then(|am| by_name(&am.service)) {
        mounted &= cx.expect_config(
            s,
            configs::ALERTMANAGER_CONFIG,
            "/etc/alertmanager/alertmanager.yml",
            "Alertmanager",
        );
    }
    if let Some(s) = m.grafana.as_ref().and_then(|g| by_name(&g.service)) {
        mounted &= cx.expect_config(s, configs::GRAFANA_PROVISIONING, "/etc/grafana/provisioning", "Grafana");
    }
    let monitoring = (|| {
        mounted.then_some(())?;
        Some(Monitoring {
            prometheus: prometheus?,
            scrape_interval: scrape_interval?,
            evaluation_interval: evaluation_interval?,
            retention: retention?,
            scrape_jobs: scrape_jobs?,
            alert_groups: alert_groups?,
            alertmanager: alertmanager?,
            grafana: grafana?,
        })
    })();
    (monitoring.map(Some), dashboards_folder)
}

/// Warns (`alerts-unsent`) when alert rules would fire with no Alertmanager to send them.
fn alerts_unsent(cx: &mut Cx<'_>, m: &RawMonitoring) {
    let raw = cx.raw;
    let rules = m.alert_groups.iter().map(|g| g.rules.len()).sum::<usize>();
    let critical = raw.services.values().filter(|s| s.critical).count();
    if rules + critical == 0 {
        return;
    }
    let what = match (rules, critical) {
        (0, _) => "the down alerts of the critical services".to_owned(),
        (n, 0) => format!("{n} alert rule{}", if n == 1 { "" } else { "s" }),
        (n, _) => format!(
            "{n} alert rule{} and the down alerts of the critical services",
            if n == 1 { "" } else { "s" }
        ),
    };
    cx.report(
        crate::Diagnostic::new(
            Rule::AlertsUnsent,
            SpecPath::top("monitoring"),
            format!("{what} fire only on Prometheus's alerts page: no Alertmanager sends them anywhere"),
        )
        .with_help("add `monitoring.alertmanager` with a receiver"),
    );
}

/// Warns (`critical-unwatched`) about a critical service no scrape job watches: its down alert is
/// derived from one.
fn critical_watched(cx: &mut Cx<'_>) {
    let raw = cx.raw;
    for (name, _) in raw.services.iter().filter(|(_, s)| s.critical) {
        let watched = raw
            .scrape_jobs()
            .any(|(_, j)| j.monitors.as_deref().unwrap_or(&j.service) == name);
        if watched {
            continue;
        }
        let (message, help) = if raw.monitoring.is_none() {
            (
                format!("`{name}` is critical, but the stack has no monitoring: no alert says when it is down"),
                format!("add `monitoring` with a scrape job that watches `{name}`, or drop `critical`"),
            )
        } else {
            (
                format!("`{name}` is critical, but no scrape job watches it: no alert says when it is down"),
                format!(
                    "add a scrape job with `service: {name}` (or an exporter's with `monitors: {name}`), or drop `critical`"
                ),
            )
        };
        cx.error_help(
            Rule::CriticalUnwatched,
            SpecPath::top("services").key(name).key("critical"),
            message,
            help,
        );
    }
}

/// The Prometheus service, started with the rendered configuration (and the rules beside it)
/// and keeping its data in its volume.
fn prometheus(
    cx: &mut Cx<'_>,
    m: &RawMonitoring,
    services: &[Option<Service>],
    paths: &[String],
) -> Option<Prometheus> {
    let service = cx.service_ref(SpecPath::top("monitoring").key("prometheus"), &m.prometheus)?;
    let name = cx.service_name(service);
    let sp = SpecPath::top("services").key(name);
    let own_command = cx.raw.services[service.0].command.is_some();
    if own_command {
        cx.error_help(
            Rule::PrometheusCommand,
            sp.key("command"),
            "the Prometheus command line is rendered from `monitoring` (configuration, retention)",
            "remove `command`; set `monitoring.retention` instead",
        );
    }
    // Its own problems are reported with the service.
    let s = services[service.0].as_ref()?;
    let seen = |path: &str| -> Option<AbsolutePath> {
        let i = paths.iter().position(|p| p == path)?;
        s.mounts.iter().find_map(|m| match m {
            Mount::Config(c) if c.files.iter().any(|id| id.0 == i) => c.container_path_of(path),
            _ => None,
        })
    };
    let config = seen(configs::PROMETHEUS_CONFIG);
    let rules = seen(configs::PROMETHEUS_RULES);
    let rules_name = configs::PROMETHEUS_RULES
        .rsplit('/')
        .next()
        .unwrap_or(configs::PROMETHEUS_RULES);
    let config_path = match (config, rules) {
        (Some(config), Some(rules)) if Some(&rules) == config.parent().join(rules_name).as_ref() => Some(config),
        (config, _) => {
            let help = match config {
                None => format!(
                    "add `{{ config: {}, target: /etc/prometheus/prometheus.yml }}` and `{{ config: {}, target: /etc/prometheus/{rules_name} }}` to services.{name}.mounts",
                    configs::PROMETHEUS_CONFIG,
                    configs::PROMETHEUS_RULES
                ),
                Some(config) => format!(
                    "the configuration loads `{rules_name}` beside it: mount {} at {}/{rules_name}",
                    configs::PROMETHEUS_RULES,
                    config.parent().as_str().trim_end_matches('/')
                ),
            };
            cx.error_help(
                Rule::PrometheusConfigNotMounted,
                sp.key("mounts"),
                format!("the Prometheus service `{name}` does not mount its configuration with its rules beside it"),
                help,
            );
            None
        }
    };
    let volumes: Vec<&AbsolutePath> = s
        .mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Volume { target, .. } => Some(target),
            _ => None,
        })
        .collect();
    let storage_path = match volumes.as_slice() {
        [one] => Some((*one).clone()),
        _ => {
            cx.error_help(
                Rule::PrometheusStorage,
                sp.key("mounts"),
                format!(
                    "the Prometheus service `{name}` mounts {} volumes; its data needs exactly one",
                    volumes.len()
                ),
                "mount one named volume for its data, e.g. `{ volume: prometheus-data, target: /prometheus }`",
            );
            None
        }
    };
    (!own_command).then_some(())?;
    Some(Prometheus {
        service,
        config_path: config_path?,
        storage_path: storage_path?,
    })
}

fn scrape_jobs(cx: &mut Cx<'_>, m: &RawMonitoring) -> Option<Vec<ScrapeJob>> {
    let jp = SpecPath::top("monitoring").key("scrape_jobs");
    all(m.scrape_jobs.iter().map(|(name, j)| {
        let p = jp.key(name);
        let job_name = cx.name(&jp, name);
        let service = cx.service_ref(p.key("service"), &j.service);
        let target = service.and_then(|s| cx.port_ref(p.key("port"), s, &j.port));
        let path = cx.text(p.key("path"), &j.path, UrlPath::parse);
        let metrics = cx.texts(&p.key("metrics"), &j.metrics, MetricName::parse);
        let monitors = match &j.monitors {
            Some(m) if *m != j.service => cx.service_ref(p.key("monitors"), m),
            _ => service,
        };
        let ap = p.key("auth");
        let auth = match &j.auth {
            None => Some(None),
            Some(RawScrapeAuth::Bearer { token_secret }) => {
                secret_ref(cx, ap.key("token_secret"), token_secret).map(|token| Some(ScrapeAuth::Bearer { token }))
            }
            Some(RawScrapeAuth::Basic {
                username,
                password_secret,
            }) => {
                let username = cx.text(ap.key("username"), username, OneLine::parse);
                let password = secret_ref(cx, ap.key("password_secret"), password_secret);
                username
                    .zip(password)
                    .map(|(username, password)| Some(ScrapeAuth::Basic { username, password }))
            }
        };
        Some(ScrapeJob {
            name: job_name?,
            target: target?,
            path: path?,
            metrics: metrics?,
            monitors: monitors?,
            auth: auth?,
        })
    }))
}

fn alert_groups<'r>(cx: &mut Cx<'r>, m: &'r RawMonitoring, jobs: &Jobs<'_>) -> Option<Vec<AlertGroup>> {
    let groups = &m.alert_groups;
    let gp = SpecPath::top("monitoring").key("alert_groups");
    cx.unique(&gp, groups.iter().map(|g| g.name.as_str()), "alert group");
    let mut alert_names: HashMap<&str, SpecPath> = HashMap::new();
    all(groups
        .iter()
        .enumerate()
        .map(|(gi, g)| alert_group(cx, &gp.index(gi), g, jobs, &mut alert_names)))
}

fn alert_group<'r>(
    cx: &mut Cx<'r>,
    gp: &SpecPath,
    g: &'r RawAlertGroup,
    jobs: &Jobs<'_>,
    alert_names: &mut HashMap<&'r str, SpecPath>,
) -> Option<AlertGroup> {
    let name = cx.text(gp.key("name"), &g.name, Name::parse);
    let interval = cx.duration_opt(gp.key("interval"), g.interval.as_ref());
    let rules = all(g.rules.iter().enumerate().map(|(ri, r)| {
        let rp = gp.key("rules").index(ri);
        let mut unique = true;
        if let Some(first) = alert_names.insert(&r.name, rp.clone()) {
            cx.duplicate(
                rp.key("name"),
                format!("duplicate alert `{}` (first at {first})", r.name),
            );
            unique = false;
        }
        let alert = cx.text(rp.key("name"), &r.name, AlertName::parse);
        let expr = query(cx, &rp.key("expr"), &format!("alert `{}`", r.name), &r.expr, jobs);
        let summary = cx.text(rp.key("summary"), &r.summary, OneLine::parse);
        let description = cx.text_opt(rp.key("description"), r.description.as_ref(), Prose::parse);
        let runbook = cx.text_opt(rp.key("runbook"), r.runbook.as_ref(), Prose::parse);
        let for_ = cx.duration_opt(rp.key("for"), r.for_.as_ref());
        unique.then_some(())?;
        Some(AlertRule {
            name: alert?,
            expr: expr?,
            for_: for_?,
            severity: r.severity,
            summary: summary?,
            description: description?,
            runbook: runbook?,
        })
    }));
    Some(AlertGroup {
        name: name?,
        interval: interval?,
        rules: rules?,
    })
}

fn alertmanager(cx: &mut Cx<'_>, am: &RawAlertmanager) -> Option<Alertmanager> {
    let ap = SpecPath::top("monitoring").key("alertmanager");
    let service = cx.service_ref(ap.key("service"), &am.service);
    let target = service.and_then(|s| cx.port_ref(ap.key("port"), s, &am.port));
    let rp = ap.key("receivers");
    let receivers = all(am.receivers.iter().map(|(name, r)| {
        let p = rp.key(name);
        let receiver = cx.name(&rp, name);
        let kind = match r {
            RawReceiver::Slack {
                channel,
                webhook_url_secret,
            } => {
                let channel = cx.text(p.key("channel"), channel, SlackChannel::parse);
                let webhook_url = secret_ref(cx, p.key("webhook_url_secret"), webhook_url_secret);
                match (channel, webhook_url) {
                    (Some(channel), Some(webhook_url)) => Some(ReceiverKind::Slack { channel, webhook_url }),
                    _ => None,
                }
            }
            RawReceiver::Pagerduty { routing_key_secret } => {
                secret_ref(cx, p.key("routing_key_secret"), routing_key_secret)
                    .map(|routing_key| ReceiverKind::Pagerduty { routing_key })
            }
            RawReceiver::Email {
                to,
                from,
                smarthost,
                auth_username,
                auth_password_secret,
                require_tls,
            } => {
                let to = cx.text(p.key("to"), to, EmailAddress::parse);
                let from = cx.text(p.key("from"), from, EmailAddress::parse);
                let smarthost = cx.text(p.key("smarthost"), smarthost, Smarthost::parse);
                let auth = match (auth_username, auth_password_secret) {
                    (None, None) => Some(None),
                    (Some(user), Some(secret)) => {
                        let user = cx.text(p.key("auth_username"), user, OneLine::parse);
                        let password = secret_ref(cx, p.key("auth_password_secret"), secret);
                        user.zip(password).map(Some)
                    }
                    _ => {
                        cx.error_help(
                            Rule::ReceiverFields,
                            p.clone(),
                            "an SMTP login needs both `auth_username` and `auth_password_secret`",
                            "give both, or neither for a server that takes mail without a login",
                        );
                        None
                    }
                };
                match (to, from, smarthost, auth) {
                    (Some(to), Some(from), Some(smarthost), Some(auth)) => Some(ReceiverKind::Email {
                        to,
                        from,
                        smarthost,
                        auth,
                        require_tls: require_tls.unwrap_or(true),
                    }),
                    _ => None,
                }
            }
            RawReceiver::Webhook { url, token_secret } => {
                let url = cx.text(p.key("url"), url, HttpUrl::parse);
                let token = match token_secret {
                    None => Some(None),
                    Some(secret) => secret_ref(cx, p.key("token_secret"), secret).map(Some),
                };
                url.zip(token).map(|(url, token)| ReceiverKind::Webhook { url, token })
            }
        };
        Some(Receiver {
            name: receiver?,
            kind: kind?,
        })
    }));
    let receiver_ref = |cx: &mut Cx<'_>, path: SpecPath, name: &str| -> Option<ReceiverId> {
        cx.lookup(path, "receiver", name, &am.receivers, ReceiverId)
    };
    let default_receiver = receiver_ref(cx, ap.key("default_receiver"), &am.default_receiver);
    let mut seen = BTreeMap::new();
    let routes = all(am.routes.iter().enumerate().map(|(i, r)| {
        let p = ap.key("routes").index(i);
        let mut ok = true;
        if let Some(first) = seen.insert(r.severity, i) {
            cx.duplicate(
                p.key("severity"),
                format!("severity {:?} is already routed by routes[{first}]", r.severity),
            );
            ok = false;
        }
        if r.receivers.is_empty() {
            cx.empty_list(p.key("receivers"), "a route", "receiver");
            ok = false;
        }
        let receivers = all(r
            .receivers
            .iter()
            .enumerate()
            .map(|(j, name)| receiver_ref(cx, p.key("receivers").index(j), name)));
        ok.then_some(())?;
        Some(Route {
            severity: r.severity,
            receivers: receivers?,
        })
    }));
    Some(Alertmanager {
        target: target?,
        receivers: receivers?,
        default_receiver: default_receiver?,
        routes: routes?,
    })
}

fn grafana(
    cx: &mut Cx<'_>,
    g: &RawGrafana,
    services: &[Option<Service>],
    jobs: &Jobs<'_>,
) -> (Option<Grafana>, Option<AbsolutePath>) {
    let p = SpecPath::top("monitoring").key("grafana");
    let service = cx.service_ref(p.key("service"), &g.service);
    let mut uids: HashMap<&str, SpecPath> = HashMap::new();
    let dp = p.key("datasources");
    let datasources = all(g.datasources.iter().map(|(name, d)| {
        let at = dp.key(name);
        let ds = cx.name(&dp, name);
        let uid = cx.text(at.key("uid"), &d.uid, Uid::parse);
        let unique = unique_uid(cx, &mut uids, &at, &d.uid);
        let target = cx
            .service_ref(at.key("service"), &d.service)
            .and_then(|s| cx.port_ref(at.key("port"), s, &d.port));
        unique.then_some(())?;
        Some(Datasource {
            name: ds?,
            kind: d.kind,
            uid: uid?,
            target: target?,
            default: d.default,
        })
    }));
    let defaults: Vec<&String> = g
        .datasources
        .iter()
        .filter(|(_, d)| d.default)
        .map(|(n, _)| n)
        .collect();
    for extra in defaults.iter().skip(1) {
        cx.error_help(
            Rule::DefaultDatasource,
            dp.key(extra).key("default"),
            format!("datasource `{extra}` is marked `default`, and so is `{}`", defaults[0]),
            "Grafana has one default datasource: keep `default: true` on one of them",
        );
    }
    let defaults = defaults.len();
    let dashboards = dashboards(cx, g, &p, &mut uids, jobs);
    // The service's own problems are reported with it.
    let folder = match service.and_then(|s| services[s.0].as_ref()) {
        Some(s) if !g.dashboards.is_empty() => dashboards_folder(cx, s),
        _ => None,
    };
    let mounted = g.dashboards.is_empty() || folder.is_some();
    let grafana = (|| {
        (defaults <= 1 && mounted).then_some(())?;
        Some(Grafana {
            service: service?,
            datasources: datasources?,
            dashboards: dashboards?,
        })
    })();
    (grafana, folder)
}

/// Grafana uids are one namespace for datasources and dashboards.
fn unique_uid<'r>(cx: &mut Cx<'_>, seen: &mut HashMap<&'r str, SpecPath>, at: &SpecPath, uid: &'r str) -> bool {
    match seen.insert(uid, at.clone()) {
        Some(first) => {
            cx.duplicate(at.key("uid"), format!("uid `{uid}` is already used by {first}"));
            false
        }
        None => true,
    }
}

fn dashboards<'r>(
    cx: &mut Cx<'_>,
    g: &'r RawGrafana,
    p: &SpecPath,
    uids: &mut HashMap<&'r str, SpecPath>,
    jobs: &Jobs<'_>,
) -> Option<Vec<Dashboard>> {
    let dp = p.key("dashboards");
    let datasource_ref = |cx: &mut Cx<'_>, path: SpecPath, name: &str| -> Option<DatasourceId> {
        cx.lookup(path, "datasource", name, &g.datasources, DatasourceId)
    };
    all(g.dashboards.iter().map(|(name, d)| {
        let at = dp.key(name);
        let dashboard = cx.name(&dp, name);
        let uid = cx.text(at.key("uid"), &d.uid, Uid::parse);
        let unique = unique_uid(cx, uids, &at, &d.uid);
        let title = cx.text(at.key("title"), &d.title, OneLine::parse_title);
        let datasource = datasource_ref(cx, at.key("datasource"), &d.datasource);
        cx.unique(&at.key("panels"), d.panels.iter().map(|x| x.name.as_str()), "panel");
        let panels = all(d.panels.iter().enumerate().map(|(i, panel)| {
            let pp = at.key("panels").index(i);
            let title = cx.text(pp.key("name"), &panel.name, OneLine::parse_title);
            // Grafana's own default unit.
            let unit = cx.text(pp.key("unit"), panel.unit.as_deref().unwrap_or("short"), Uid::parse);
            let source = match &panel.datasource {
                Some(ds) => datasource_ref(cx, pp.key("datasource"), ds),
                None => datasource,
            };
            if panel.queries.is_empty() {
                cx.empty_list(pp.key("queries"), "a panel", "query");
            }
            let owner = format!("panel `{}`", panel.name);
            let kind = source.and_then(|s| g.datasources.get_index(s.0)).map(|(_, d)| d.kind);
            let queries = all(panel.queries.iter().enumerate().map(|(qi, q)| {
                let qp = pp.key("queries").index(qi);
                let expr = match kind? {
                    DatasourceKind::Prometheus => {
                        query(cx, &qp.key("expr"), &owner, &q.expr, jobs).map(QueryExpr::Promql)
                    }
                    DatasourceKind::Loki => logql(cx, &qp.key("expr"), &owner, &q.expr).map(QueryExpr::Logql),
                };
                let legend = cx.text_opt(qp.key("legend"), q.legend.as_ref(), OneLine::parse);
                Some(Query {
                    expr: expr?,
                    legend: legend?,
                })
            }))
            .filter(|q| !q.is_empty());
            Some(Panel {
                name: title?,
                kind: panel.kind,
                unit: unit?,
                datasource: source?,
                queries: queries?,
            })
        }));
        unique.then_some(())?;
        Some(Dashboard {
            name: dashboard?,
            title: title?,
            uid: uid?,
            panels: panels?,
        })
    }))
}

/// Where Grafana sees the dashboards: a mount of the `grafana/dashboards` folder (or of a folder
/// holding it).
fn dashboards_folder(cx: &mut Cx<'_>, grafana: &Service) -> Option<AbsolutePath> {
    let folder = configs::GRAFANA_DASHBOARDS;
    let found = super::config_target(grafana, folder);
    if found.is_none() {
        cx.error_help(
            Rule::GrafanaDashboardsNotMounted,
            SpecPath::top("services").key(&grafana.name).key("mounts"),
            format!(
                "the Grafana service `{}` does not mount the dashboards folder {folder}",
                grafana.name
            ),
            format!("add `{{ config: {folder}, target: /etc/grafana/dashboards }}`"),
        );
    }
    found
}

/// The scrape jobs as the queries see them: names, and which jobs produce each metric.
struct Jobs<'r> {
    /// The jobs by name (looked up by hash, once per selector of every query).
    names: &'r IndexMap<String, RawScrapeJob>,
    producers: HashMap<&'r str, Vec<&'r str>>,
    metrics: BTreeSet<&'r str>,
}

impl<'r> Jobs<'r> {
    fn new(jobs: &'r IndexMap<String, RawScrapeJob>) -> Self {
        let mut producers: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, j) in jobs {
            for metric in &j.metrics {
                producers.entry(metric.as_str()).or_default().push(name.as_str());
            }
        }
        Self {
            names: jobs,
            metrics: producers.keys().copied().collect(),
            producers,
        }
    }
}

/// Checks a LogQL query of a panel (`owner` names it): one line with a stream selector,
/// `{label="value", ...}`, each matcher a label, an operator (`=`, `!=`, `=~`, `!~`) and a
/// quoted value (`promql`). Loki checks the rest when it runs it.
fn logql(cx: &mut Cx<'_>, path: &SpecPath, owner: &str, text: &str) -> Option<OneLine> {
    let line = cx.text(path.clone(), text, OneLine::parse)?;
    match logql_selector(text) {
        Ok(()) => Some(line),
        Err(why) => {
            cx.error_help(
                Rule::Promql,
                path.clone(),
                format!("{owner}: not a LogQL query: {why}"),
                "start with a stream selector such as `{job=\"app\"}`",
            );
            None
        }
    }
}

/// Whether a LogQL query has a well-formed stream selector (its first `{...}`).
fn logql_selector(text: &str) -> Result<(), String> {
    let start = text.find('{').ok_or("it has no stream selector `{...}`")?;
    let mut inner = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut closed = false;
    for c in text[start + 1..].chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' | '`' => quoted = !quoted,
            '}' if !quoted => {
                closed = true;
                break;
            }
            _ => {}
        }
        inner.push(c);
    }
    if !closed {
        return Err("its stream selector is not closed".into());
    }
    let matchers = split_matchers(&inner);
    if matchers.iter().all(|m| m.trim().is_empty()) {
        return Err("its stream selector `{}` selects no stream".into());
    }
    for m in &matchers {
        let m = m.trim();
        let name_end = m
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(m.len());
        let (name, rest) = m.split_at(name_end);
        let rest = rest.trim_start();
        let value = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op))
            .map(str::trim);
        let named = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let quoted = value.is_some_and(|v| {
            v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('`') && v.ends_with('`')))
        });
        if !named || !quoted {
            return Err(format!("`{m}` is not a matcher like label=\"value\""));
        }
    }
    Ok(())
}

/// The matchers of a stream selector's inside, split at commas outside quotes.
fn split_matchers(inner: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in inner.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' | '`' => quoted = !quoted,
            ',' if !quoted => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// Takes the alert rules' expressions and the panels' queries parsed ahead: their parse began on
/// the other cores when resolving did (the parser takes most of validation's time above the YAML
/// parse of a stack with thousands of alerts), and this thread helps with what is left. Each
/// distinct text ([`promql_texts`]) is parsed once; a query of a Loki panel is parsed too and
/// never asked for.
fn parse_ahead(cx: &mut Cx<'_>) {
    if let Some((texts, results)) = cx.promql_ahead.take() {
        cx.promql = texts.iter().copied().zip(results()).collect();
    }
}

/// The distinct PromQL texts of the alerts and panels, sorted.
pub(super) fn promql_texts(raw: &crate::RawStack) -> Vec<&str> {
    let Some(m) = &raw.monitoring else {
        return Vec::new();
    };
    let alerts = m.alert_groups.iter().flat_map(|g| &g.rules).map(|r| r.expr.as_str());
    let panels = m
        .grafana
        .iter()
        .flat_map(|g| g.dashboards.values())
        .flat_map(|d| &d.panels)
        .flat_map(|p| &p.queries)
        .map(|q| q.expr.as_str());
    let mut texts: Vec<&str> = alerts.chain(panels).collect();
    texts.sort_unstable();
    texts.dedup();
    texts
}

/// A PromQL text parsed ahead: the expression and its selectors, or why it is no PromQL.
pub(crate) type Parsed = Result<(Expression, Vec<promql::Selector>), String>;

/// A PromQL expression parsed, with what it selects: the syntax tree is not kept, so the
/// expressions parsed ahead hold little memory.
pub(super) fn read(text: &str) -> Parsed {
    Expression::parse(text).map(|(expression, ast)| (expression, promql::selectors(&ast)))
}

/// Checks an alert rule expression or a panel query (`owner` names it: "alert `X`", "panel
/// `Y`"): it parses as PromQL, and what it selects is scraped (see [`selections`]).
fn query(cx: &mut Cx<'_>, path: &SpecPath, owner: &str, expr: &str, jobs: &Jobs<'_>) -> Option<Expression> {
    // Parsed ahead, unless another rule or query with the same text took it first.
    let (expression, selectors) = cx
        .promql
        .remove(expr)
        .unwrap_or_else(|| read(expr))
        .map_err(|message| cx.error(Rule::Promql, path.clone(), format!("not valid PromQL: {message}")))
        .ok()?;
    selections(cx, path, owner, &selectors, jobs).then_some(expression)
}

/// Relates the selectors of a parsed expression to the scrape jobs: every `job="..."` matcher
/// names a job, and every metric is produced by some job or, when the selector names an
/// existing job, by that job. Series Prometheus writes itself (`up`, `ALERTS`, `scrape_*`) come
/// from every job. Each problem is reported once per expression; `false` when there was one.
fn selections(cx: &mut Cx<'_>, path: &SpecPath, owner: &str, selectors: &[promql::Selector], jobs: &Jobs<'_>) -> bool {
    let mut reported = BTreeSet::new();
    for selector in selectors {
        let mut selected = Vec::new();
        for job in &selector.jobs {
            if jobs.names.contains_key(job.as_str()) {
                selected.push(job.as_str());
            } else if reported.insert(format!("job {job}")) {
                let mut d = crate::Diagnostic::new(
                    Rule::UnknownJob,
                    path.clone(),
                    format!("{owner} selects job `{job}`, which is not a scrape job"),
                );
                if let Some(best) = closest(job, jobs.names.keys().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                } else {
                    let known: Vec<&str> = jobs.names.keys().map(String::as_str).collect();
                    d = d.with_help(format!("known: {}", known.join(", ")));
                }
                cx.report(d);
            }
        }
        let Some(metric) = selector.metric.as_deref() else {
            continue;
        };
        if promql::is_synthetic(metric) {
            continue;
        }
        let producers: &[&str] = jobs.producers.get(metric).map_or(&[], Vec::as_slice);
        let by_jobs = |names: &[&str]| {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("job{} {}", if names.len() == 1 { "" } else { "s" }, list.join(", "))
        };
        if selected.is_empty() {
            if producers.is_empty() && reported.insert(format!("metric {metric}")) {
                let add = "add it to the `metrics` of the scrape job that exports it";
                let typo = closest(metric, jobs.metrics.iter().copied().chain(promql::SYNTHETIC_METRICS));
                let help = match typo {
                    Some(best) => format!("did you mean `{best}`? If not, {add}"),
                    None => add.to_owned(),
                };
                cx.error_help(
                    Rule::UnknownMetric,
                    path.clone(),
                    format!("{owner} uses metric `{metric}`, which no scrape job produces"),
                    help,
                );
            }
            continue;
        }
        for job in selected {
            if producers.contains(&job) || !reported.insert(format!("metric {metric} of {job}")) {
                continue;
            }
            let list = format!("monitoring.scrape_jobs.{job}.metrics");
            let help = if producers.is_empty() {
                format!("no scrape job produces it; if `{job}` exports it, add it to {list}")
            } else {
                format!(
                    "it is produced by {}; select {} instead, or add it to {list} if `{job}` exports it too",
                    by_jobs(producers),
                    if producers.len() == 1 {
                        "that job"
                    } else {
                        "one of them"
                    },
                )
            };
            cx.error_help(
                Rule::UnknownMetric,
                path.clone(),
                format!("{owner} uses metric `{metric}` of job `{job}`, which does not produce it"),
                help,
            );
        }
    }
    reported.is_empty()
}

#[cfg(test)]
mod tests {
    use super::logql_selector;

    #[test]
    fn logql_queries_need_a_stream_selector_of_matchers() {
        for good in [
            r#"{job="app"}"#,
            r#"sum(rate({job="app", level=~"error|warn"} |= "timeout" [5m]))"#,
            r#"{app!="a,b}c"} | json"#,
            "{job=`app`}",
        ] {
            assert_eq!(logql_selector(good), Ok(()), "{good}");
        }
        for bad in [
            "rate(x[5m])",
            "{}",
            r#"{job="app""#,
            "{job=app}",
            r#"{="app"}"#,
            r#"{1job="x"}"#,
        ] {
            assert!(logql_selector(bad).is_err(), "{bad}");
        }
    }
}
