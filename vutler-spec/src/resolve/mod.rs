//! From the raw document to the validated [`Stack`], one concern per module; each module builds
//! its part of the stack and runs the checks about it, and lists its rules in its `//!`:
//!
//! - `variables`: `.env` variables, secrets and container environment values;
//! - `services`: services, their ports, mounts, dependencies, networks, volumes and replicas;
//! - `credentials`: services that enforce authentication, and what their clients present;
//! - `edge`: the reverse proxy, TLS and the host firewall;
//! - `monitoring`: Prometheus, scrape jobs, alert rules, Alertmanager and Grafana;
//! - `backups`: backup jobs and the operations scripts;
//! - `capacity`: VM sizes, costs and whether the stack fits its VM;
//! - `kubernetes`: the platform, and what a cluster needs of the stack.
//!
//! Every part is built from values that passed their checks: a part whose checks failed is
//! `None`, and the [`Stack`] is assembled last, only when every part exists. Every problem is
//! collected rather than the first returned. Diagnostics carry spec paths only;
//! [`SpecFiles::resolve`](crate::SpecFiles::resolve) attaches file positions by looking the paths
//! up in the merged document tree.
//!
//! Rules shared by every concern, checked through the helpers here: `grammar`, `dangling-ref`,
//! `duplicate`, `out-of-range`, `exactly-one-of`, `empty-list`, `unit` and `float-as-text`.

mod backups;
mod capacity;
mod credentials;
mod edge;
mod kubernetes;
mod monitoring;
mod services;
mod variables;

use std::collections::HashMap;

pub(crate) use credentials::names_host;

use crate::configs;
use crate::diagnostic::{Diagnostic, Severity};
use crate::path::SpecPath;
use crate::raw::{RawCpus, RawStack};
use crate::rule::Rule;
use crate::stack::*;
use crate::text::{Domain, Name};
use crate::units::{ByteSize, Cpus, Duration, Schedule};

/// Variables the spec provides itself; environment values may reference them as `${DOMAIN}`,
/// and they are replaced by their values when the stack is resolved.
pub const BUILTIN_VARIABLES: [&str; 2] = ["DOMAIN", "PROJECT"];

/// Resolves and validates a raw stack. Returns the stack when there is no error, and every
/// diagnostic (errors and warnings) in either case.
pub fn resolve(raw: &RawStack, env: &str) -> (Option<Stack>, Vec<Diagnostic>) {
    resolve_allowing(raw, env, &[])
}

/// Like [`resolve`], but the stack is also returned when every error found is of one of the
/// `allowed` rules (e.g. [`Rule::Capacity`], to report on a stack that does not fit its VM).
pub fn resolve_allowing(raw: &RawStack, env: &str, allowed: &[Rule]) -> (Option<Stack>, Vec<Diagnostic>) {
    // The PromQL of the alerts and panels is parsed on the other cores while the services and
    // the edge resolve; the monitoring section takes the results (see `monitoring::parse_ahead`).
    let texts = monitoring::promql_texts(raw);
    let (stack, diags) = crate::parallel::map_meanwhile(
        &texts,
        |text| monitoring::read(text),
        |parsed| {
            let mut cx = Cx::new(raw);
            cx.promql_ahead = Some((&texts, parsed));
            let stack = build(&mut cx, env);
            allow(&mut cx);
            (stack, cx.diags)
        },
    );
    let blocking = diags
        .iter()
        .any(|d| d.severity == Severity::Error && !allowed.contains(&d.rule));
    debug_assert!(
        stack.is_some() || blocking || diags.iter().any(|d| d.severity == Severity::Error),
        "a part of the stack failed without a diagnostic"
    );
    (stack.filter(|_| !blocking), diags)
}

fn build(cx: &mut Cx<'_>, env_name: &str) -> Option<Stack> {
    let raw = cx.raw;
    let env = env_name_checked(env_name).map_err(|d| cx.report(d)).ok();
    let project = cx.text(SpecPath::top("project"), &raw.project, Name::parse);
    let domain = cx.text(SpecPath::top("domain"), &raw.domain, Domain::parse);
    let vms = capacity::vms(cx);
    let target_vm = cx.vm_ref(SpecPath::top("target_vm"), &raw.target_vm);
    let costs = capacity::costs(cx);
    let variables = variables::variables(cx);
    let networks = services::networks(cx);
    let volumes = services::volumes(cx);
    let grafana = raw.monitoring.as_ref().and_then(|m| m.grafana.as_ref());
    let parts = configs::Parts {
        prometheus: raw.monitoring.is_some(),
        alertmanager: raw.monitoring.as_ref().is_some_and(|m| m.alertmanager.is_some()),
        grafana: grafana.is_some(),
    };
    let dashboards = grafana
        .into_iter()
        .flat_map(|g| g.dashboards.keys())
        .enumerate()
        .map(|(i, name)| (DashboardId(i), name.as_str()));
    // `config:` mounts resolve against the catalogue's paths; the catalogue itself also needs
    // to know where Grafana sees the dashboards, which the mounts say.
    let config_paths = configs::paths(parts, dashboards.clone().map(|(_, name)| name));
    let services = services::services(cx, env_name, &config_paths);
    let scaling = services::scaling(cx);
    services::check(cx, &services);
    let roles_ok = roles(cx);
    credentials::check(cx);
    let (edge, tls, firewall) = edge::edge(cx, &services);
    let (monitoring, dashboards_folder) = monitoring::monitoring(cx, &services, &config_paths);
    let config_files = configs::catalogue(parts, dashboards, dashboards_folder.as_ref());
    let backups = backups::backups(cx, &services);
    let operations = backups::operations(cx, &services);
    let services = all(services);
    let platform = kubernetes::platform(
        cx,
        services.as_deref(),
        scaling.as_deref(),
        variables.as_deref(),
        vms.as_deref(),
    );
    // On Kubernetes the workloads are sized against the node pool (`kubernetes-capacity`).
    let on_vm = raw.platform.is_compose();
    if let (true, Some(vms), Some(target), Some(services), Some(scaling)) =
        (on_vm, &vms, target_vm, &services, &scaling)
    {
        let local_backups = backups
            .as_ref()
            .and_then(|(b, _)| b.as_ref())
            .map(Backups::local_space)
            .unwrap_or_default();
        capacity::check(cx, &vms[target.0], services, scaling, local_backups);
    }

    roles_ok.then_some(())?;
    let (backups, textfile_dir) = backups?;
    Some(Stack {
        env: env?,
        project: project?,
        domain: domain?,
        target_vm: target_vm?,
        platform: platform?,
        secrets_backend: raw.secrets_backend,
        vms: vms?,
        costs: costs?,
        variables: variables?,
        networks: networks?,
        volumes: volumes?,
        service_index: raw
            .services
            .keys()
            .enumerate()
            .map(|(i, name)| (name.clone(), ServiceId(i)))
            .collect(),
        services: services?,
        edge: edge?,
        tls: tls?,
        firewall: firewall?,
        monitoring: monitoring?,
        backups,
        textfile_dir,
        operations: operations?,
        scaling: scaling?,
        config_files: config_files?,
    })
}

/// Marks the warnings the spec's `allow` list accepts, with its reason; refuses (`allow-list`)
/// an entry that names no rule, names an error, or gives no reason.
fn allow(cx: &mut Cx<'_>) {
    let raw = cx.raw;
    let mut allowed: Vec<(Rule, &str)> = Vec::new();
    for (id, reason) in &raw.allow {
        let path = SpecPath::top("allow").key(id);
        let Some(rule) = Rule::ALL.iter().copied().find(|r| r.id() == id) else {
            let warnings = Rule::ALL
                .iter()
                .filter(|r| r.default_severity() == Severity::Warning)
                .map(|r| r.id());
            let mut d = Diagnostic::new(Rule::AllowList, path, format!("`{id}` is not a rule"));
            if let Some(best) = closest(id, warnings.clone()) {
                d = d.with_help(format!("did you mean `{best}`?"));
            } else {
                d = d.with_help(format!("the warnings: {}", warnings.collect::<Vec<_>>().join(", ")));
            }
            cx.report(d);
            continue;
        };
        if rule.default_severity() == Severity::Error {
            cx.error_help(
                Rule::AllowList,
                path,
                format!("`{id}` is an error: the rendered files rely on a stack without one"),
                "fix what it says instead; only warnings can be allowed",
            );
        } else if reason.trim().is_empty() {
            cx.error_help(
                Rule::AllowList,
                path,
                format!("allowing `{id}` needs a reason"),
                format!("say why the spec accepts it: `{id}: <the reason>`"),
            );
        } else {
            allowed.push((rule, reason.trim()));
        }
    }
    for d in &mut cx.diags {
        if d.severity != Severity::Warning {
            continue;
        }
        if let Some((_, reason)) = allowed.iter().find(|(r, _)| *r == d.rule) {
            d.allowed = Some((*reason).to_owned());
        }
    }
}

/// Refuses (`role-conflict`) one service named for two roles: each role renders or replaces
/// the service's configuration and command. Returns whether every role has its own service.
fn roles(cx: &mut Cx<'_>) -> bool {
    let raw = cx.raw;
    let m = raw.monitoring.as_ref();
    let mp = SpecPath::top("monitoring");
    let roles: Vec<(SpecPath, &str, &str)> = [
        Some((SpecPath::top("edge").key("proxy"), "the proxy", raw.edge.proxy.as_str())),
        Some((
            SpecPath::top("edge").key("upstream"),
            "the upstream",
            raw.edge.upstream.as_str(),
        )),
        m.map(|m| (mp.key("prometheus"), "Prometheus", m.prometheus.as_str())),
        m.and_then(|m| m.alertmanager.as_ref()).map(|am| {
            (
                mp.key("alertmanager").key("service"),
                "Alertmanager",
                am.service.as_str(),
            )
        }),
        m.and_then(|m| m.grafana.as_ref())
            .map(|g| (mp.key("grafana").key("service"), "Grafana", g.service.as_str())),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut ok = true;
    for (i, (path, role, name)) in roles.iter().enumerate() {
        if let Some((first_path, first_role, _)) = roles[..i].iter().find(|(_, _, n)| n == name) {
            cx.error_help(
                Rule::RoleConflict,
                path.clone(),
                format!("`{name}` is already {first_role} ({first_path}): as {role} too, one configuration would replace the other"),
                "give each role its own service",
            );
            ok = false;
        }
    }
    ok
}

/// The environment's name, which reaches every rendered file's header: it follows the name
/// grammar like every other name (`grammar`).
pub(crate) fn env_name_checked(env: &str) -> Result<Name, Diagnostic> {
    Name::parse(env).map_err(|expected| {
        Diagnostic::new(
            Rule::Grammar,
            SpecPath::root(),
            format!("invalid environment name {env:?}: expected {expected}"),
        )
    })
}

/// Every item, when each of them exists; the items are all computed first, so that each one
/// reports its own problems.
pub(crate) fn all<T>(items: impl IntoIterator<Item = Option<T>>) -> Option<Vec<T>> {
    let items: Vec<Option<T>> = items.into_iter().collect();
    items.into_iter().collect()
}

/// The resolution context: the raw document, the diagnostics found so far, and the names every
/// reference resolves against.
pub(crate) struct Cx<'r> {
    pub(crate) raw: &'r RawStack,
    pub(crate) diags: Vec<Diagnostic>,
    /// PromQL expressions of the spec parsed ahead, on every core (see
    /// [`monitoring::parse_ahead`]); each is taken out when it is checked.
    pub(crate) promql: HashMap<&'r str, monitoring::Parsed>,
    /// The PromQL being parsed meanwhile, until the monitoring section takes it.
    pub(crate) promql_ahead: Option<Ahead<'r>>,
}

/// PromQL texts being parsed on other threads, and the way to their results (in the texts'
/// order; see [`crate::parallel::map_meanwhile`]).
pub(crate) type Ahead<'r> = (&'r [&'r str], &'r mut dyn FnMut() -> Vec<monitoring::Parsed>);

impl<'r> Cx<'r> {
    fn new(raw: &'r RawStack) -> Self {
        Self {
            raw,
            diags: Vec::new(),
            promql: HashMap::new(),
            promql_ahead: None,
        }
    }

    pub(crate) fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(crate) fn error(&mut self, rule: Rule, path: SpecPath, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(rule, path, message));
    }

    pub(crate) fn error_help(
        &mut self,
        rule: Rule,
        path: SpecPath,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags.push(Diagnostic::new(rule, path, message).with_help(help));
    }

    /// Parses a value that must follow a grammar; the message quotes the value (`grammar`).
    pub(crate) fn text<T>(&mut self, path: SpecPath, value: &str, parse: fn(&str) -> Result<T, String>) -> Option<T> {
        parse(value)
            .map_err(|expected| self.grammar(path, value, &expected))
            .ok()
    }

    /// A value outside its grammar (`grammar`): what it is and what was expected.
    pub(crate) fn grammar(&mut self, path: SpecPath, value: &str, expected: &str) {
        // A URL with credentials is not echoed: its password would land in CI logs.
        let with_credentials = value
            .split_once("://")
            .is_some_and(|(_, rest)| rest.split(['/', '?', '#']).next().is_some_and(|a| a.contains('@')));
        let chars = value.chars().count();
        let shown = if with_credentials {
            "(a URL with credentials, not shown)".to_owned()
        } else if chars > 80 {
            // A huge value is not echoed whole.
            let head: String = value.chars().take(60).collect();
            format!("{head:?}... ({chars} characters)")
        } else {
            format!("{value:?}")
        };
        self.error(
            Rule::Grammar,
            path,
            format!("invalid value {shown}: expected {expected}"),
        );
    }

    /// Parses an optional value.
    pub(crate) fn text_opt<T>(
        &mut self,
        path: SpecPath,
        value: Option<&String>,
        parse: fn(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match value {
            None => Some(None),
            Some(v) => self.text(path, v, parse).map(Some),
        }
    }

    /// Parses a list of values, each at its index.
    pub(crate) fn texts<T>(
        &mut self,
        path: &SpecPath,
        values: &[String],
        parse: fn(&str) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        all(values
            .iter()
            .enumerate()
            .map(|(i, v)| self.text(path.index(i), v, parse)))
    }

    /// The words of a command line (a service's command, a healthcheck, a migration), refused
    /// when one passes a password as a literal (see [`crate::grammar::literal_password`]): the
    /// value would land in the rendered files, `docker inspect` and `ps`. The message says which
    /// flag or key, never the value.
    pub(crate) fn command_line(&mut self, path: &SpecPath, words: &[String]) -> Option<Vec<crate::text::OneLine>> {
        if let Some((i, what)) = crate::grammar::literal_password(words) {
            self.literal_password(path.index(i), &what);
            return None;
        }
        self.texts(path, words, crate::text::OneLine::parse)
    }

    /// Reports a password given as a literal on a command line.
    pub(crate) fn literal_password(&mut self, path: SpecPath, what: &str) {
        self.error_help(
            Rule::SecretLiteral,
            path,
            format!("{what} passes a password as a literal on a command line"),
            "pass a secret variable in `environment` and refer to it as `$VAR`, or point the program at a secrets file",
        );
    }

    /// Refuses (`config-not-mounted`) a service that does not see the rendered file `rendered`
    /// at `expected`, where `program` reads it. Returns whether it does.
    pub(crate) fn expect_config(&mut self, service: &Service, rendered: &str, expected: &str, program: &str) -> bool {
        let seen = config_target(service, rendered);
        if seen.as_ref().is_some_and(|t| t.as_str() == expected) {
            return true;
        }
        let path = SpecPath::top("services").key(&service.name).key("mounts");
        let message = match seen {
            Some(at) => format!(
                "`{}` mounts {rendered} at {at}, but {program} reads {expected}",
                service.name
            ),
            None => format!(
                "`{}` does not mount the rendered {rendered}: {program} would run the image's default configuration",
                service.name
            ),
        };
        self.error_help(
            Rule::ConfigNotMounted,
            path,
            message,
            format!("add `{{ config: {rendered}, target: {expected} }}` to its mounts"),
        );
        false
    }

    /// The name of an entry of a map (`services.<name>`).
    pub(crate) fn name(&mut self, path: &SpecPath, name: &str) -> Option<Name> {
        self.text(path.key(name), name, Name::parse)
    }

    fn unit<T>(&mut self, path: SpecPath, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|message| self.error(Rule::Unit, path, message)).ok()
    }

    pub(crate) fn size(&mut self, path: SpecPath, text: &str) -> Option<ByteSize> {
        self.unit(path, ByteSize::parse(text))
    }

    pub(crate) fn duration(&mut self, path: SpecPath, text: &str) -> Option<Duration> {
        self.unit(path, Duration::parse(text))
    }

    /// A duration a consumer reads in whole seconds (NGINX): `unit` when it has a fraction.
    pub(crate) fn seconds(&mut self, path: SpecPath, text: &str) -> Option<Duration> {
        self.duration(path.clone(), text)
            .and_then(|d| self.whole(path, d, Duration::from_millis(1000), "seconds"))
    }

    /// A duration counted in whole `unit`s (`unit`), e.g. days of backup retention.
    pub(crate) fn whole(&mut self, path: SpecPath, d: Duration, unit: Duration, name: &str) -> Option<Duration> {
        if d.millis() % unit.millis() == 0 {
            return Some(d);
        }
        self.error(Rule::Unit, path, format!("{d} is not a whole number of {name}"));
        None
    }

    pub(crate) fn duration_opt(&mut self, path: SpecPath, text: Option<&String>) -> Option<Option<Duration>> {
        match text {
            None => Some(None),
            Some(t) => self.duration(path, t).map(Some),
        }
    }

    pub(crate) fn cpus(&mut self, path: SpecPath, raw: &RawCpus) -> Option<Cpus> {
        let parsed = match raw {
            RawCpus::Number(n) => Cpus::from_f64(*n),
            RawCpus::Text(t) => Cpus::parse(t),
        };
        self.unit(path, parsed)
    }

    /// A crontab schedule (`cron`).
    pub(crate) fn schedule(&mut self, path: SpecPath, text: &str) -> Option<Schedule> {
        Schedule::parse(text)
            .map_err(|m| {
                self.error_help(
                    Rule::Cron,
                    path,
                    m,
                    "fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12), day of week (0-7)",
                )
            })
            .ok()
    }

    /// A number that must be at least 1 (`out-of-range`).
    pub(crate) fn at_least_one(&mut self, path: SpecPath, what: &str, n: u32) -> Option<u32> {
        if n == 0 {
            self.out_of_range(path, format!("{what} must be at least 1"));
            return None;
        }
        Some(n)
    }

    /// A port number, which 0 is not (`out-of-range`).
    pub(crate) fn port_number(&mut self, path: SpecPath, n: u16) -> Option<u16> {
        if n == 0 {
            self.out_of_range(path, "port 0 is not a port");
            return None;
        }
        Some(n)
    }

    pub(crate) fn out_of_range(&mut self, path: SpecPath, message: impl Into<String>) {
        self.error(Rule::OutOfRange, path, message);
    }

    /// A value that needs exactly one of several keys (`exactly-one-of`).
    pub(crate) fn exactly_one_of(&mut self, path: SpecPath, what: &str, keys: &str) {
        self.error(Rule::ExactlyOneOf, path, format!("{what} needs exactly one of {keys}"));
    }

    /// A list that needs an entry (`empty-list`): "`owner` needs at least one `item`".
    pub(crate) fn empty_list(&mut self, path: SpecPath, owner: &str, item: &str) {
        self.error(Rule::EmptyList, path, format!("{owner} needs at least one {item}"));
    }

    /// YAML and TOML read `3.10` as the number 3.1: a value meant as text must be quoted.
    pub(crate) fn float_as_text(&mut self, path: SpecPath) {
        self.error_help(
            Rule::FloatAsText,
            path,
            "a number with a fraction here would lose how it is written (3.10 reads as 3.1)",
            "quote it",
        );
    }

    /// Reports duplicate names in a named list (`duplicate`).
    pub(crate) fn unique<'a>(&mut self, path: &SpecPath, names: impl IntoIterator<Item = &'a str>, what: &str) {
        let mut seen = HashMap::new();
        for (i, name) in names.into_iter().enumerate() {
            if let Some(first) = seen.insert(name, i) {
                self.duplicate(
                    path.index(i).key("name"),
                    format!("duplicate {what} `{name}` (first at {})", path.index(first)),
                );
            }
        }
    }

    pub(crate) fn duplicate(&mut self, path: SpecPath, message: impl Into<String>) {
        self.error(Rule::Duplicate, path, message);
    }

    /// A reference to something that does not exist (`dangling-ref`), with the closest known
    /// name suggested, or all of them listed.
    pub(crate) fn dangling<S: AsRef<str>>(
        &mut self,
        path: SpecPath,
        message: String,
        name: &str,
        known: impl IntoIterator<Item = S>,
    ) {
        let known: Vec<String> = known.into_iter().map(|k| k.as_ref().to_owned()).collect();
        let mut d = Diagnostic::new(Rule::DanglingRef, path, message);
        if let Some(best) = closest(name, known.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{best}`?"));
        } else if !known.is_empty() {
            d = d.with_help(format!("known: {}", known.join(", ")));
        }
        self.diags.push(d);
    }

    /// A key of a map the raw stack holds, as a handle (`dangling-ref` when it has none). Found
    /// by the map's hash index: references are resolved for every entry of a stack, so a scan
    /// of the keys here would make validation quadratic.
    pub(crate) fn lookup<V, T>(
        &mut self,
        path: SpecPath,
        what: &str,
        name: &str,
        map: &indexmap::IndexMap<String, V>,
        make: fn(usize) -> T,
    ) -> Option<T> {
        match map.get_index_of(name) {
            Some(i) => Some(make(i)),
            None => {
                self.dangling(path, format!("unknown {what} `{name}`"), name, map.keys());
                None
            }
        }
    }

    pub(crate) fn service_ref(&mut self, path: SpecPath, name: &str) -> Option<ServiceId> {
        let raw = self.raw;
        self.lookup(path, "service", name, &raw.services, ServiceId)
    }

    pub(crate) fn volume_ref(&mut self, path: SpecPath, name: &str) -> Option<VolumeId> {
        let raw = self.raw;
        self.lookup(path, "volume", name, &raw.volumes, VolumeId)
    }

    pub(crate) fn network_ref(&mut self, path: SpecPath, name: &str) -> Option<NetworkId> {
        let raw = self.raw;
        self.lookup(path, "network", name, &raw.networks, NetworkId)
    }

    pub(crate) fn vm_ref(&mut self, path: SpecPath, name: &str) -> Option<VmId> {
        let raw = self.raw;
        self.lookup(path, "VM", name, &raw.vms, VmId)
    }

    /// A named port of a service (reported at `path`).
    pub(crate) fn port_ref(&mut self, path: SpecPath, service: ServiceId, port: &str) -> Option<PortRef> {
        let raw = self.raw;
        let (name, s) = raw.services.get_index(service.0)?;
        match s.ports.iter().position(|p| p.name == port) {
            Some(i) => Some(PortRef { service, port: i }),
            None => {
                let known: Vec<String> = s.ports.iter().map(|p| p.name.clone()).collect();
                self.dangling(path, format!("unknown port `{port}` of service `{name}`"), port, known);
                None
            }
        }
    }

    /// The name of a service, for messages.
    pub(crate) fn service_name(&self, id: ServiceId) -> &'r str {
        self.raw.services.get_index(id.0).map_or("", |(name, _)| name.as_str())
    }
}

/// The closest candidate to a misspelt name, if one is close enough to be a likely typo.
pub(crate) fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Where a service sees the rendered file or folder `rendered`: the target of a `config:` mount
/// of it, or of a folder holding it.
pub(crate) fn config_target(service: &Service, rendered: &str) -> Option<crate::text::AbsolutePath> {
    service.mounts.iter().find_map(|m| match m {
        Mount::Config(c) => {
            let rest = match rendered.strip_prefix(c.source.as_str()) {
                Some("") => "",
                Some(rest) => rest.strip_prefix('/')?,
                None => return None,
            };
            c.target.join(rest)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_typos_only() {
        assert_eq!(closest("imag", ["image", "restart"]), Some("image"));
        assert_eq!(closest("zzz", ["image", "restart"]), None);
    }

    #[test]
    fn all_keeps_computing_after_a_failure() {
        let mut seen = Vec::new();
        let result = all([1, 2, 3].iter().map(|n| {
            seen.push(*n);
            (*n != 2).then_some(*n)
        }));
        assert_eq!(result, None);
        assert_eq!(seen, [1, 2, 3]);
        assert_eq!(all([Some(1), Some(2)]), Some(vec![1, 2]));
    }
}
