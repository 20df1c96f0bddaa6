//! From the raw document to the validated [`Stack`]: parse units, resolve references, check every
//! invariant, and collect every problem rather than stopping at the first.
//!
//! Diagnostics are produced with spec paths only; [`SpecFiles::resolve`](crate::SpecFiles::resolve) attaches file positions by
//! looking the paths up in the merged document tree.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use indexmap::IndexMap;

use crate::diagnostic::{Diagnostic, code};
use crate::grammar;
use crate::interpolation::Template;
use crate::promql;
use crate::raw::*;
use crate::stack::*;
use crate::units::{ByteSize, Cpus, Duration, Schedule};

/// Environment in which services may run without resource limits.
pub const DEV_ENV: &str = "dev";

/// Variables the spec provides itself; environment values may reference them as `${DOMAIN}`,
/// and they are replaced by their values when the stack is resolved.
pub const BUILTIN_VARIABLES: [&str; 2] = ["DOMAIN", "PROJECT"];

/// Smallest proxy read timeout that keeps idle WebSockets open (seed 9.2).
const MIN_READ_TIMEOUT_MS: u64 = 60_000;

/// Resolves and validates a raw stack. Returns the stack when there is no error, and every
/// diagnostic (errors and warnings) in either case.
pub fn resolve(raw: &RawStack, env: &str) -> (Option<Stack>, Vec<Diagnostic>) {
    resolve_allowing(raw, env, &[])
}

/// Like [`resolve`], but the stack is also returned when every error found has one of the
/// `allowed` codes (e.g. [`code::CAPACITY`], to report on a stack that does not fit its VM).
pub fn resolve_allowing(raw: &RawStack, env: &str, allowed: &[&str]) -> (Option<Stack>, Vec<Diagnostic>) {
    let mut cx = Cx { diags: Vec::new() };
    let stack = cx.stack(raw, env);
    cx.check_stack(&stack);
    let ok = cx
        .diags
        .iter()
        .all(|d| d.severity != crate::diagnostic::Severity::Error || allowed.contains(&d.code));
    (ok.then_some(stack), cx.diags)
}

struct Cx {
    diags: Vec<Diagnostic>,
}

impl Cx {
    fn error(&mut self, code: &'static str, path: impl Into<String>, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(code, path, message));
    }

    fn error_help(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags.push(Diagnostic::error(code, path, message).with_help(help));
    }

    /// Checks a value against a grammar; the message quotes the value.
    fn grammar(&mut self, path: impl Into<String>, value: &str, check: fn(&str) -> Result<(), String>) -> bool {
        match check(value) {
            Ok(()) => true,
            Err(expected) => {
                self.error(
                    code::GRAMMAR,
                    path,
                    format!("invalid value {value:?}: expected {expected}"),
                );
                false
            }
        }
    }

    fn unit<T: Default>(&mut self, path: impl Into<String>, parsed: Result<T, String>) -> T {
        parsed.unwrap_or_else(|message| {
            self.error(code::UNIT, path, message);
            T::default()
        })
    }

    fn size(&mut self, path: impl Into<String>, text: &str) -> ByteSize {
        self.unit(path, ByteSize::parse(text))
    }

    fn duration(&mut self, path: impl Into<String>, text: &str) -> Duration {
        self.unit(path, Duration::parse(text))
    }

    fn cpus(&mut self, path: impl Into<String>, raw: &RawCpus) -> Cpus {
        let parsed = match raw {
            RawCpus::Number(n) => Cpus::from_f64(*n),
            RawCpus::Text(t) => Cpus::parse(t),
        };
        self.unit(path, parsed)
    }

    fn names<'a, V: 'a>(&mut self, path: &str, map: impl IntoIterator<Item = (&'a String, V)>) {
        for (name, _) in map {
            self.grammar(format!("{path}.{name}"), name, grammar::name);
        }
    }

    /// Reports duplicate `name`s in a named list.
    fn unique<'a>(&mut self, path: &str, names: impl IntoIterator<Item = &'a str>, what: &str) {
        let mut seen = HashMap::new();
        for (i, name) in names.into_iter().enumerate() {
            if let Some(first) = seen.insert(name, i) {
                self.error(
                    code::DUPLICATE,
                    format!("{path}[{i}].name"),
                    format!("duplicate {what} `{name}` (first at {path}[{first}])"),
                );
            }
        }
    }

    /// YAML and TOML read `3.10` as the number 3.1: a value meant as text must be quoted.
    fn float_as_text(&mut self, path: String) {
        self.error_help(
            code::TYPE,
            path,
            "a number with a fraction here would lose how it is written (3.10 reads as 3.1)",
            "quote it",
        );
    }

    /// Grafana uids are one namespace for datasources and dashboards.
    fn unique_uid<'a>(&mut self, seen: &mut HashMap<&'a str, String>, path: &str, uid: &'a str) {
        if let Some(first) = seen.insert(uid, path.to_owned()) {
            self.error(
                code::DUPLICATE,
                format!("{path}.uid"),
                format!("uid `{uid}` is already used by {first}"),
            );
        }
    }

    fn dangling(
        &mut self,
        path: impl Into<String>,
        what: &str,
        name: &str,
        known: impl IntoIterator<Item = impl AsRef<str>>,
    ) {
        self.dangling_message(path, format!("unknown {what} `{name}`"), name, known);
    }

    fn dangling_port<'a>(
        &mut self,
        path: impl Into<String>,
        service: &str,
        port: &str,
        known: impl IntoIterator<Item = &'a String>,
    ) {
        self.dangling_message(
            path,
            format!("unknown port `{port}` of service `{service}`"),
            port,
            known,
        );
    }

    /// A dangling reference, with the closest known name suggested (or all of them listed).
    fn dangling_message(
        &mut self,
        path: impl Into<String>,
        message: String,
        name: &str,
        known: impl IntoIterator<Item = impl AsRef<str>>,
    ) {
        let known: Vec<String> = known.into_iter().map(|k| k.as_ref().to_owned()).collect();
        let mut d = Diagnostic::error(code::DANGLING, path, message);
        if let Some(best) = closest(name, known.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{best}`?"));
        } else if !known.is_empty() {
            d = d.with_help(format!("known: {}", known.join(", ")));
        }
        self.diags.push(d);
    }

    fn stack(&mut self, raw: &RawStack, env: &str) -> Stack {
        self.grammar("project", &raw.project, grammar::name);
        self.grammar("domain", &raw.domain, grammar::domain);

        self.names("vms", &raw.vms);
        let vms = raw
            .vms
            .iter()
            .map(|(name, vm)| {
                let p = format!("vms.{name}");
                let v = Vm {
                    description: vm.description.clone(),
                    cpus: self.cpus(format!("{p}.cpus"), &vm.cpus),
                    memory: self.size(format!("{p}.memory"), &vm.memory),
                    disk: self.size(format!("{p}.disk"), &vm.disk),
                    monthly_usd: self.cost(&format!("{p}.monthly_usd"), vm.monthly_usd),
                };
                (name.clone(), v)
            })
            .collect();
        if !raw.vms.contains_key(&raw.target_vm) {
            self.dangling("target_vm", "VM", &raw.target_vm, raw.vms.keys());
        }
        self.names("costs", &raw.costs);
        let costs = raw
            .costs
            .iter()
            .map(|(name, c)| {
                let monthly_usd = self.cost(&format!("costs.{name}.monthly_usd"), c.monthly_usd);
                (
                    name.clone(),
                    Cost {
                        description: c.description.clone(),
                        monthly_usd,
                    },
                )
            })
            .collect();

        let variables = raw
            .variables
            .iter()
            .map(|(name, v)| {
                let p = format!("variables.{name}");
                self.grammar(p.clone(), name, grammar::env_name);
                if BUILTIN_VARIABLES.contains(&name.as_str()) {
                    self.error(
                        code::DUPLICATE,
                        p.clone(),
                        format!("`{name}` is provided by the spec itself and cannot be declared"),
                    );
                }
                self.grammar(format!("{p}.description"), &v.description, grammar::one_line);
                if v.secret && v.default.is_some() {
                    self.error_help(
                        code::SECRET_LITERAL,
                        format!("{p}.default"),
                        format!("secret variable `{name}` has a literal value in the spec"),
                        "remove `default`; secrets are set in the deployment's .env or secret files, never in specs/",
                    );
                }
                self.grammar(format!("{p}.group"), &v.group, grammar::one_line);
                if let Some(example) = &v.example {
                    let check = if v.secret {
                        grammar::placeholder
                    } else {
                        grammar::one_line
                    };
                    self.grammar(format!("{p}.example"), example, check);
                }
                if let Some(RawScalar::Float(_)) = &v.default {
                    self.float_as_text(format!("{p}.default"));
                }
                let default = v.default.as_ref().map(ToString::to_string);
                if let Some(d) = &default {
                    self.grammar(format!("{p}.default"), d, grammar::env_default);
                }
                let var = Variable {
                    description: v.description.clone(),
                    group: v.group.clone(),
                    secret: v.secret,
                    default: if v.secret { None } else { default },
                    required: v.required,
                    example: v.example.clone(),
                };
                (name.clone(), var)
            })
            .collect();

        self.names("networks", &raw.networks);
        let networks = raw
            .networks
            .iter()
            .map(|(n, v)| {
                (
                    n.clone(),
                    Network {
                        driver: v.driver,
                        internal: v.internal,
                    },
                )
            })
            .collect();
        self.names("volumes", &raw.volumes);
        let volumes = raw
            .volumes
            .iter()
            .map(|(n, v)| {
                (
                    n.clone(),
                    Volume {
                        kind: v.kind,
                        description: v.description.clone(),
                    },
                )
            })
            .collect();

        let default_logging = raw
            .defaults
            .logging
            .as_ref()
            .map(|l| self.logging("defaults.logging", l));
        self.names("services", &raw.services);
        let services = raw
            .services
            .iter()
            .map(|(name, s)| (name.clone(), self.service(raw, name, s, default_logging.as_ref(), env)))
            .collect();

        let edge = Edge {
            proxy: raw.edge.proxy.clone(),
            upstream: raw.edge.upstream.clone(),
            upstream_port: raw.edge.upstream_port.clone(),
            max_body_size: self.size("edge.max_body_size", &raw.edge.max_body_size),
            read_timeout: self.duration("edge.read_timeout", &raw.edge.read_timeout),
            acme_root: raw.edge.acme_root.clone(),
        };
        self.grammar("edge.acme_root", &edge.acme_root, grammar::absolute_path);
        if edge.read_timeout.millis() > 0 && edge.read_timeout.millis() < MIN_READ_TIMEOUT_MS {
            self.error(
                code::INVALID,
                "edge.read_timeout",
                format!(
                    "{} closes idle WebSockets; use at least 60s (seed 9.2)",
                    edge.read_timeout
                ),
            );
        }

        let tls = self.tls(&raw.tls);
        let firewall = self.firewall(&raw.firewall);
        let monitoring = self.monitoring(&raw.monitoring);
        let backups = self.backups(&raw.backups);
        let operations = self.operations(&raw.project, &raw.operations);
        self.names("scaling", &raw.scaling);
        let scaling = raw
            .scaling
            .iter()
            .map(|(n, s)| {
                if s.replicas == 0 {
                    self.error(
                        code::INVALID,
                        format!("scaling.{n}.replicas"),
                        "replicas must be at least 1",
                    );
                }
                (
                    n.clone(),
                    Scale {
                        replicas: s.replicas,
                        sticky_sessions: s.sticky_sessions,
                    },
                )
            })
            .collect();

        Stack {
            env: env.to_owned(),
            project: raw.project.clone(),
            domain: raw.domain.clone(),
            target_vm: raw.target_vm.clone(),
            secrets_backend: raw.secrets_backend,
            vms,
            costs,
            variables,
            networks,
            volumes,
            services,
            edge,
            tls,
            firewall,
            monitoring,
            backups,
            operations,
            scaling,
        }
    }

    fn cost(&mut self, path: &str, raw: RawCostRange) -> CostRange {
        let max = raw.max.unwrap_or(raw.min);
        if max < raw.min {
            self.error(
                code::INVALID,
                format!("{path}.max"),
                format!("max ({max}) is below min ({})", raw.min),
            );
        }
        CostRange { min: raw.min, max }
    }

    fn logging(&mut self, path: &str, raw: &RawLogging) -> Logging {
        if raw.max_file == 0 {
            self.error(code::INVALID, format!("{path}.max_file"), "keep at least one log file");
        }
        Logging {
            driver: raw.driver,
            max_size: self.size(format!("{path}.max_size"), &raw.max_size),
            max_file: raw.max_file,
        }
    }

    fn service(
        &mut self,
        raw: &RawStack,
        name: &str,
        s: &RawService,
        default_logging: Option<&Logging>,
        env: &str,
    ) -> Service {
        let p = format!("services.{name}");
        self.grammar(format!("{p}.description"), &s.description, grammar::one_line);
        let image = self.image(&format!("{p}.image"), &s.image);
        if let Some(var) = &s.tag_variable {
            match raw.variables.get(var) {
                None => self.dangling(format!("{p}.tag_variable"), "variable", var, raw.variables.keys()),
                Some(v) if v.secret => self.error(
                    code::INVALID,
                    format!("{p}.tag_variable"),
                    format!("`{var}` is a secret; an image tag is not"),
                ),
                // An invalid or `latest` tag is reported once, by `image`.
                Some(RawVariable {
                    default: Some(default), ..
                }) if default.to_string() != image.tag && image.is_pinned() => self.error_help(
                    code::INVALID,
                    format!("{p}.image"),
                    format!(
                        "the image tag `{}` differs from the default of `{var}` ({default})",
                        image.tag
                    ),
                    format!("the tag in `image` is the default of `{var}`: make them equal"),
                ),
                Some(_) => {}
            }
        }
        if let Some(cn) = &s.container_name {
            self.grammar(format!("{p}.container_name"), cn, grammar::name);
        }
        if let Some(cmd) = &s.command {
            for (i, arg) in cmd.iter().enumerate() {
                self.grammar(format!("{p}.command[{i}]"), arg, grammar::one_line);
            }
        }

        let mut environment = IndexMap::new();
        for (key, value) in &s.environment {
            let ep = format!("{p}.environment.{key}");
            self.grammar(ep.clone(), key, grammar::env_name);
            let v = match value {
                RawEnvValue::Text(scalar) => {
                    if let RawScalar::Float(_) = scalar {
                        self.float_as_text(ep.clone());
                    }
                    let text = scalar.to_string();
                    self.grammar(ep.clone(), &text, grammar::one_line);
                    let template = Template::parse(&text).unwrap_or_else(|message| {
                        self.error(code::GRAMMAR, ep.clone(), message);
                        Template::default()
                    });
                    for r in template.variables() {
                        if BUILTIN_VARIABLES.contains(&r) {
                            continue;
                        }
                        match raw.variables.get(r) {
                            // Only builtins and plain variables may be interpolated; secrets never are.
                            None => self.dangling(
                                ep.clone(),
                                "variable",
                                r,
                                BUILTIN_VARIABLES
                                    .iter()
                                    .copied()
                                    .chain(raw.variables.iter().filter(|(_, v)| !v.secret).map(|(k, _)| k.as_str())),
                            ),
                            Some(v) if v.secret => self.error_help(
                                code::SECRET_LITERAL,
                                ep.clone(),
                                format!("secret variable `{r}` is interpolated into a plain value"),
                                format!("write `{key}: {{ secret: {r} }}` so the secret is passed as a secret"),
                            ),
                            Some(_) => {}
                        }
                    }
                    let template = template
                        .substitute("DOMAIN", &raw.domain)
                        .substitute("PROJECT", &raw.project);
                    // Checked once the spec's own values are in: a literal with `${PROJECT}` in it
                    // is still a literal.
                    if template.variables().next().is_none() && grammar::secret_looking_key(key) && !text.is_empty() {
                        self.error_help(
                            code::SECRET_LITERAL,
                            ep.clone(),
                            format!("`{key}` looks like a secret but is given as a literal value"),
                            format!("declare a secret variable and write `{key}: {{ secret: VAR }}`"),
                        );
                    }
                    EnvValue::Text(template)
                }
                RawEnvValue::Secret(r) => {
                    match raw.variables.get(&r.secret) {
                        None => self.dangling(
                            format!("{ep}.secret"),
                            "secret variable",
                            &r.secret,
                            raw.variables.iter().filter(|(_, v)| v.secret).map(|(k, _)| k),
                        ),
                        Some(v) if !v.secret => self.error(
                            code::INVALID,
                            format!("{ep}.secret"),
                            format!(
                                "`{}` is not declared `secret: true`; pass plain variables as `${{{}}}`",
                                r.secret, r.secret
                            ),
                        ),
                        Some(_) => {}
                    }
                    if let Some(f) = &r.file_env {
                        self.grammar(format!("{ep}.file_env"), f, grammar::env_name);
                    }
                    EnvValue::Secret {
                        variable: r.secret.clone(),
                        file_env: r.file_env.clone(),
                    }
                }
            };
            environment.insert(key.clone(), v);
        }

        self.unique(&format!("{p}.ports"), s.ports.iter().map(|x| x.name.as_str()), "port");
        let ports = s
            .ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let pp = format!("{p}.ports[{i}]");
                self.grammar(format!("{pp}.name"), &port.name, grammar::name);
                if port.container == 0 {
                    self.error(code::INVALID, format!("{pp}.container"), "port 0 is not a port");
                }
                let host_ip = match &port.host_ip {
                    None => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    Some(ip) => grammar::host_ip(ip).unwrap_or_else(|expected| {
                        self.error(
                            code::GRAMMAR,
                            format!("{pp}.host_ip"),
                            format!("invalid value {ip:?}: expected {expected}"),
                        );
                        IpAddr::V4(Ipv4Addr::LOCALHOST)
                    }),
                };
                if port.host_ip.is_some() && port.published.is_none() {
                    self.error(
                        code::INVALID,
                        format!("{pp}.host_ip"),
                        "`host_ip` without `published` has no effect",
                    );
                }
                let published = port.published.map(|hp| {
                    if hp == 0 {
                        self.error(code::INVALID, format!("{pp}.published"), "port 0 is not a port");
                    }
                    Published { host_ip, port: hp }
                });
                Port {
                    name: port.name.clone(),
                    container: port.container,
                    published,
                    protocol: port.protocol,
                }
            })
            .collect();

        let mounts = s
            .mounts
            .iter()
            .enumerate()
            .filter_map(|(i, m)| self.mount(raw, &format!("{p}.mounts[{i}]"), m))
            .collect::<Vec<_>>();
        let mut targets = HashMap::new();
        for (i, m) in mounts.iter().enumerate() {
            if let Some(first) = targets.insert(m.target().to_owned(), i) {
                self.error(
                    code::DUPLICATE,
                    format!("{p}.mounts[{i}].target"),
                    format!("`{}` is already mounted by {p}.mounts[{first}]", m.target()),
                );
            }
        }

        let mut listed: HashMap<String, usize> = HashMap::new();
        let depends_on = s
            .depends_on
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (service, condition) = match d {
                    RawDependsOn::Short(s) => (s.clone(), Condition::ServiceHealthy),
                    RawDependsOn::Long(l) => (l.service.clone(), l.condition),
                };
                let dp = format!("{p}.depends_on[{i}]");
                if let Some(first) = listed.insert(service.clone(), i) {
                    self.error(
                        code::DUPLICATE,
                        dp.clone(),
                        format!("`{service}` is already listed at {p}.depends_on[{first}]"),
                    );
                }
                if !raw.services.contains_key(&service) {
                    self.dangling(dp, "service", &service, raw.services.keys());
                } else if service == name {
                    self.error(code::CYCLE, dp, format!("`{name}` depends on itself"));
                }
                Dependency { service, condition }
            })
            .collect();

        let healthcheck = s.healthcheck.as_ref().map(|h| {
            let hp = format!("{p}.healthcheck");
            let test = match (&h.exec, &h.shell) {
                (Some(exec), None) if !exec.is_empty() => HealthTest::Exec(exec.clone()),
                (None, Some(shell)) if !shell.trim().is_empty() => HealthTest::Shell(shell.clone()),
                _ => {
                    self.error(
                        code::INVALID,
                        hp.clone(),
                        "a healthcheck needs exactly one of `exec` (a non-empty list) or `shell`",
                    );
                    HealthTest::Exec(Vec::new())
                }
            };
            match &test {
                HealthTest::Exec(args) => {
                    for (i, a) in args.iter().enumerate() {
                        self.grammar(format!("{hp}.exec[{i}]"), a, grammar::one_line);
                    }
                }
                HealthTest::Shell(cmd) => {
                    self.grammar(format!("{hp}.shell"), cmd, grammar::one_line);
                }
            }
            if h.retries == 0 {
                self.error(code::INVALID, format!("{hp}.retries"), "retries must be at least 1");
            }
            Healthcheck {
                test,
                interval: self.duration(format!("{hp}.interval"), &h.interval),
                timeout: self.duration(format!("{hp}.timeout"), &h.timeout),
                retries: h.retries,
                start_period: h
                    .start_period
                    .as_ref()
                    .map(|sp| self.duration(format!("{hp}.start_period"), sp)),
            }
        });

        let (networks, networks_path) = match (&s.networks, &raw.defaults.networks) {
            (Some(n), _) => (n.clone(), format!("{p}.networks")),
            (None, Some(n)) => (n.clone(), "defaults.networks".to_owned()),
            (None, None) => (Vec::new(), p.clone()),
        };
        if networks.is_empty() {
            self.error(
                code::INVALID,
                networks_path.clone(),
                format!("service `{name}` joins no network"),
            );
        }
        for (i, n) in networks.iter().enumerate() {
            if !raw.networks.contains_key(n) {
                self.dangling(format!("{networks_path}[{i}]"), "network", n, raw.networks.keys());
            }
        }

        let replicas = s.replicas.unwrap_or(1);
        if replicas == 0 {
            self.error(code::INVALID, format!("{p}.replicas"), "replicas must be at least 1");
        }
        let resources = s.resources.as_ref().map(|r| Resources {
            cpus: self.cpus(format!("{p}.resources.cpus"), &r.cpus),
            memory: self.size(format!("{p}.resources.memory"), &r.memory),
            disk: self.size(format!("{p}.resources.disk"), &r.disk),
        });
        if resources.is_none() && env != DEV_ENV {
            self.error_help(
                code::LIMITS,
                p.clone(),
                format!("service `{name}` has no `resources`; every service has limits outside dev"),
                "add `resources: { cpus, memory, disk }` (seed 2.2)",
            );
        }
        let logging = match (&s.logging, default_logging) {
            (Some(l), _) => self.logging(&format!("{p}.logging"), l),
            (None, Some(l)) => l.clone(),
            (None, None) => {
                self.error(
                    code::INVALID,
                    p.clone(),
                    format!("service `{name}` has no `logging` and there is no `defaults.logging`"),
                );
                Logging {
                    driver: LogDriver::JsonFile,
                    max_size: ByteSize::default(),
                    max_file: 1,
                }
            }
        };
        let restart = s.restart.or(raw.defaults.restart).unwrap_or(Restart::UnlessStopped);

        Service {
            description: s.description.clone(),
            image,
            tag_variable: s.tag_variable.clone(),
            container_name: s.container_name.clone(),
            restart,
            command: s.command.clone(),
            environment,
            ports,
            mounts,
            depends_on,
            healthcheck,
            networks,
            replicas,
            resources,
            logging,
            critical: s.critical,
        }
    }

    fn image(&mut self, path: &str, text: &str) -> Image {
        let (repo, tag) = match text.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => {
                self.error_help(
                    code::GRAMMAR,
                    path,
                    format!("image `{text}` has no tag"),
                    "pin a tag, e.g. postgres:16-alpine",
                );
                return Image {
                    repo: text.to_owned(),
                    tag: String::new(),
                };
            }
        };
        if self.grammar(path, repo, grammar::image_repo)
            && self.grammar(path, tag, grammar::image_tag)
            && tag == "latest"
        {
            self.error_help(
                code::GRAMMAR,
                path,
                format!("image `{text}` uses the `latest` tag, which makes deployments unreproducible"),
                "pin a released version",
            );
        }
        Image {
            repo: repo.to_owned(),
            tag: tag.to_owned(),
        }
    }

    fn mount(&mut self, raw: &RawStack, path: &str, m: &RawMount) -> Option<Mount> {
        self.grammar(format!("{path}.target"), &m.target, grammar::absolute_path);
        let target = m.target.clone();
        match (&m.volume, &m.bind, &m.config) {
            (Some(v), None, None) => {
                if !raw.volumes.contains_key(v) {
                    self.dangling(format!("{path}.volume"), "volume", v, raw.volumes.keys());
                }
                Some(Mount::Volume {
                    name: v.clone(),
                    target,
                    read_only: m.read_only,
                })
            }
            (None, Some(b), None) => {
                self.grammar(format!("{path}.bind"), b, grammar::host_path);
                Some(Mount::Bind {
                    source: b.clone(),
                    target,
                    read_only: m.read_only,
                })
            }
            (None, None, Some(c)) => {
                self.grammar(format!("{path}.config"), c, grammar::tree_path);
                Some(Mount::Config {
                    path: c.clone(),
                    target,
                })
            }
            _ => {
                self.error(
                    code::INVALID,
                    path,
                    "a mount needs exactly one of `volume`, `bind` or `config`",
                );
                None
            }
        }
    }

    fn tls(&mut self, t: &RawTls) -> Tls {
        let mut protocols = Vec::new();
        for (i, p) in t.protocols.iter().enumerate() {
            match p.as_str() {
                "TLSv1.2" => protocols.push(TlsProtocol::Tls12),
                "TLSv1.3" => protocols.push(TlsProtocol::Tls13),
                other => self.error_help(
                    code::TLS,
                    format!("tls.protocols[{i}]"),
                    format!("`{other}` is not allowed; only TLSv1.2 and TLSv1.3 are"),
                    "older protocols are broken (RFC 8996)",
                ),
            }
        }
        if t.protocols.is_empty() {
            self.error(
                code::TLS,
                "tls.protocols",
                "at least one of TLSv1.2 and TLSv1.3 is needed",
            );
        }
        for (i, c) in t.ciphers.iter().enumerate() {
            self.grammar(format!("tls.ciphers[{i}]"), c, grammar::cipher);
        }
        if protocols.contains(&TlsProtocol::Tls12) && t.ciphers.is_empty() {
            self.error(code::TLS, "tls.ciphers", "TLSv1.2 is offered, so list its ciphers");
        }
        let c = &t.certificate;
        self.grammar("tls.certificate.host_dir", &c.host_dir, grammar::host_path);
        self.grammar("tls.certificate.mount_dir", &c.mount_dir, grammar::absolute_path);
        self.grammar("tls.certificate.cert_file", &c.cert_file, grammar::file_name);
        self.grammar("tls.certificate.key_file", &c.key_file, grammar::file_name);
        if t.stapling && c.source == CertificateSource::SelfSigned {
            self.error_help(
                code::TLS,
                "tls.stapling",
                "OCSP stapling needs a CA-issued certificate, not a self-signed one",
                "set `stapling: false` for this environment",
            );
        }
        Tls {
            protocols,
            ciphers: t.ciphers.clone(),
            prefer_server_ciphers: t.prefer_server_ciphers,
            session_cache: self.size("tls.session_cache", &t.session_cache),
            session_timeout: self.duration("tls.session_timeout", &t.session_timeout),
            stapling: t.stapling,
            hsts: Hsts {
                max_age: self.duration("tls.hsts.max_age", &t.hsts.max_age),
                include_subdomains: t.hsts.include_subdomains,
                preload: t.hsts.preload,
            },
            certificate: Certificate {
                source: c.source,
                host_dir: c.host_dir.clone(),
                mount_dir: c.mount_dir.clone(),
                cert_file: c.cert_file.clone(),
                key_file: c.key_file.clone(),
            },
        }
    }

    fn firewall(&mut self, f: &RawFirewall) -> Firewall {
        let rules = |cx: &mut Cx, list: &[RawFirewallRule], field: &str| -> Vec<FirewallRule> {
            let path = format!("firewall.{field}");
            cx.unique(&path, list.iter().map(|r| r.name.as_str()), "rule");
            list.iter()
                .enumerate()
                .map(|(i, r)| {
                    cx.grammar(format!("{path}[{i}].name"), &r.name, grammar::name);
                    if r.port == 0 {
                        cx.error(code::INVALID, format!("{path}[{i}].port"), "port 0 is not a port");
                    }
                    FirewallRule {
                        name: r.name.clone(),
                        port: r.port,
                        protocol: r.protocol,
                    }
                })
                .collect()
        };
        let allow = rules(self, &f.allow, "allow");
        let deny = rules(self, &f.deny, "deny");
        for (i, d) in deny.iter().enumerate() {
            if allow.iter().any(|a| a.port == d.port && a.protocol == d.protocol) {
                self.error(
                    code::INVALID,
                    format!("firewall.deny[{i}].port"),
                    format!("port {} is both allowed and denied", d.port),
                );
            }
        }
        Firewall {
            default_incoming: f.default_incoming,
            default_outgoing: f.default_outgoing,
            allow,
            deny,
        }
    }

    fn monitoring(&mut self, m: &RawMonitoring) -> Monitoring {
        self.names("monitoring.scrape_jobs", &m.scrape_jobs);
        let scrape_jobs: IndexMap<String, ScrapeJob> = m
            .scrape_jobs
            .iter()
            .map(|(name, j)| {
                let p = format!("monitoring.scrape_jobs.{name}");
                self.grammar(format!("{p}.path"), &j.path, grammar::url_path);
                for (i, metric) in j.metrics.iter().enumerate() {
                    self.grammar(format!("{p}.metrics[{i}]"), metric, grammar::metric_name);
                }
                (
                    name.clone(),
                    ScrapeJob {
                        service: j.service.clone(),
                        port: j.port.clone(),
                        path: j.path.clone(),
                        metrics: j.metrics.clone(),
                        monitors: j.monitors.clone().unwrap_or_else(|| j.service.clone()),
                    },
                )
            })
            .collect();

        self.unique(
            "monitoring.alert_groups",
            m.alert_groups.iter().map(|g| g.name.as_str()),
            "alert group",
        );
        let mut alert_names: HashMap<&str, String> = HashMap::new();
        let alert_groups = m
            .alert_groups
            .iter()
            .enumerate()
            .map(|(gi, g)| {
                let gp = format!("monitoring.alert_groups[{gi}]");
                self.grammar(format!("{gp}.name"), &g.name, grammar::name);
                let rules = g
                    .rules
                    .iter()
                    .enumerate()
                    .map(|(ri, r)| {
                        let rp = format!("{gp}.rules[{ri}]");
                        if let Some(first) = alert_names.insert(&r.name, rp.clone()) {
                            self.error(
                                code::DUPLICATE,
                                format!("{rp}.name"),
                                format!("duplicate alert `{}` (first at {first})", r.name),
                            );
                        }
                        if !r.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || r.name.is_empty() {
                            self.error(
                                code::GRAMMAR,
                                format!("{rp}.name"),
                                format!("invalid value {:?}: expected an alert name like HighErrorRate", r.name),
                            );
                        }
                        self.query(
                            &format!("{rp}.expr"),
                            &format!("alert `{}`", r.name),
                            &r.expr,
                            &scrape_jobs,
                        );
                        self.grammar(format!("{rp}.summary"), &r.summary, grammar::one_line);
                        AlertRule {
                            name: r.name.clone(),
                            expr: r.expr.clone(),
                            for_: r.for_.as_ref().map(|f| self.duration(format!("{rp}.for"), f)),
                            severity: r.severity,
                            summary: r.summary.clone(),
                            description: r.description.clone(),
                        }
                    })
                    .collect();
                AlertGroup {
                    name: g.name.clone(),
                    interval: g.interval.as_ref().map(|i| self.duration(format!("{gp}.interval"), i)),
                    rules,
                }
            })
            .collect();

        let am = &m.alertmanager;
        self.names("monitoring.alertmanager.receivers", &am.receivers);
        let receivers = am
            .receivers
            .iter()
            .map(|(name, r)| {
                let rp = format!("monitoring.alertmanager.receivers.{name}");
                let r = match r {
                    RawReceiver::Slack {
                        channel,
                        webhook_url_secret,
                    } => {
                        self.grammar(format!("{rp}.channel"), channel, grammar::slack_channel);
                        Receiver::Slack {
                            channel: channel.clone(),
                            webhook_url_secret: webhook_url_secret.clone(),
                        }
                    }
                    RawReceiver::Pagerduty { routing_key_secret } => Receiver::Pagerduty {
                        routing_key_secret: routing_key_secret.clone(),
                    },
                };
                (name.clone(), r)
            })
            .collect();
        let mut seen = BTreeMap::new();
        for (i, r) in am.routes.iter().enumerate() {
            if let Some(first) = seen.insert(r.severity, i) {
                self.error(
                    code::DUPLICATE,
                    format!("monitoring.alertmanager.routes[{i}].severity"),
                    format!("severity {:?} is already routed by routes[{first}]", r.severity),
                );
            }
        }
        let alertmanager = Alertmanager {
            service: am.service.clone(),
            port: am.port.clone(),
            receivers,
            default_receiver: am.default_receiver.clone(),
            routes: am
                .routes
                .iter()
                .map(|r| Route {
                    severity: r.severity,
                    receivers: r.receivers.clone(),
                })
                .collect(),
        };

        let g = &m.grafana;
        self.names("monitoring.grafana.datasources", &g.datasources);
        let mut uids: HashMap<&str, String> = HashMap::new();
        let datasources = g
            .datasources
            .iter()
            .map(|(name, d)| {
                let p = format!("monitoring.grafana.datasources.{name}");
                self.grammar(format!("{p}.uid"), &d.uid, grammar::uid);
                self.unique_uid(&mut uids, &p, &d.uid);
                (
                    name.clone(),
                    Datasource {
                        uid: d.uid.clone(),
                        service: d.service.clone(),
                        port: d.port.clone(),
                        default: d.default,
                    },
                )
            })
            .collect();
        self.names("monitoring.grafana.dashboards", &g.dashboards);
        let dashboards = g
            .dashboards
            .iter()
            .map(|(name, d)| {
                let p = format!("monitoring.grafana.dashboards.{name}");
                self.grammar(format!("{p}.uid"), &d.uid, grammar::uid);
                self.unique_uid(&mut uids, &p, &d.uid);
                self.grammar(format!("{p}.title"), &d.title, grammar::one_line);
                if !g.datasources.contains_key(&d.datasource) {
                    self.dangling(
                        format!("{p}.datasource"),
                        "datasource",
                        &d.datasource,
                        g.datasources.keys(),
                    );
                }
                self.unique(
                    &format!("{p}.panels"),
                    d.panels.iter().map(|x| x.name.as_str()),
                    "panel",
                );
                let panels = d
                    .panels
                    .iter()
                    .enumerate()
                    .map(|(i, panel)| {
                        let pp = format!("{p}.panels[{i}]");
                        self.grammar(format!("{pp}.name"), &panel.name, grammar::one_line);
                        if let Some(u) = &panel.unit {
                            self.grammar(format!("{pp}.unit"), u, grammar::uid);
                        }
                        let datasource = panel.datasource.clone().unwrap_or_else(|| d.datasource.clone());
                        if panel.datasource.is_some() && !g.datasources.contains_key(&datasource) {
                            self.dangling(
                                format!("{pp}.datasource"),
                                "datasource",
                                &datasource,
                                g.datasources.keys(),
                            );
                        }
                        if panel.queries.is_empty() {
                            self.error(
                                code::INVALID,
                                format!("{pp}.queries"),
                                "a panel needs at least one query",
                            );
                        }
                        let queries = panel
                            .queries
                            .iter()
                            .enumerate()
                            .map(|(qi, q)| {
                                self.query(
                                    &format!("{pp}.queries[{qi}].expr"),
                                    &format!("panel `{}`", panel.name),
                                    &q.expr,
                                    &scrape_jobs,
                                );
                                Query {
                                    expr: q.expr.clone(),
                                    legend: q.legend.clone(),
                                }
                            })
                            .collect();
                        Panel {
                            name: panel.name.clone(),
                            kind: panel.kind,
                            unit: panel.unit.clone(),
                            datasource,
                            queries,
                        }
                    })
                    .collect();
                (
                    name.clone(),
                    Dashboard {
                        title: d.title.clone(),
                        uid: d.uid.clone(),
                        panels,
                    },
                )
            })
            .collect();

        Monitoring {
            prometheus: m.prometheus.clone(),
            scrape_interval: self.duration("monitoring.scrape_interval", &m.scrape_interval),
            evaluation_interval: self.duration("monitoring.evaluation_interval", &m.evaluation_interval),
            retention: self.duration("monitoring.retention", &m.retention),
            scrape_jobs,
            alert_groups,
            alertmanager,
            grafana: Grafana {
                service: g.service.clone(),
                datasources,
                dashboards,
            },
        }
    }

    /// Checks an alert rule expression or a panel query (`owner` names it: "alert `X`", "panel
    /// `Y`"): it parses as PromQL, and what it selects is scraped (see [`Cx::selections`]).
    fn query(&mut self, path: &str, owner: &str, expr: &str, jobs: &IndexMap<String, ScrapeJob>) {
        if let Some(ast) = self.promql(path, expr) {
            self.selections(path, owner, &ast, jobs);
        }
    }

    /// Parses PromQL once; a syntax or type error is reported and gives `None`.
    fn promql(&mut self, path: &str, expr: &str) -> Option<promql_parser::parser::Expr> {
        promql_parser::parser::parse(expr)
            .map_err(|e| {
                let first_line = e.lines().next().unwrap_or_default().trim().to_owned();
                self.error(code::PROMQL, path, format!("not valid PromQL: {first_line}"));
            })
            .ok()
    }

    /// Relates the selectors of a parsed expression to the scrape jobs: every `job="..."`
    /// matcher names a job, and every metric is produced by some job or, when the selector
    /// names an existing job, by that job. Series Prometheus writes itself (`up`, `ALERTS`,
    /// `scrape_*`) come from every job. Each problem is reported once per expression.
    fn selections(
        &mut self,
        path: &str,
        owner: &str,
        ast: &promql_parser::parser::Expr,
        jobs: &IndexMap<String, ScrapeJob>,
    ) {
        let mut reported = BTreeSet::new();
        for selector in promql::selectors(ast) {
            let mut selected = Vec::new();
            for job in &selector.jobs {
                if jobs.contains_key(job) {
                    selected.push(job.as_str());
                } else if reported.insert(format!("job {job}")) {
                    self.dangling_message(
                        path,
                        format!("{owner} selects job `{job}`, which is not a scrape job"),
                        job,
                        jobs.keys(),
                    );
                }
            }
            let Some(metric) = selector.metric.as_deref() else {
                continue;
            };
            if promql::is_synthetic(metric) {
                continue;
            }
            let producers: Vec<&str> = jobs
                .iter()
                .filter(|(_, j)| j.metrics.iter().any(|x| x == metric))
                .map(|(name, _)| name.as_str())
                .collect();
            let by_jobs = |names: &[&str]| {
                let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!("job{} {}", if names.len() == 1 { "" } else { "s" }, list.join(", "))
            };
            if selected.is_empty() {
                if producers.is_empty() && reported.insert(format!("metric {metric}")) {
                    let add = "add it to the `metrics` of the scrape job that exports it";
                    let typo = closest(
                        metric,
                        jobs.values()
                            .flat_map(|j| &j.metrics)
                            .map(String::as_str)
                            .chain(promql::SYNTHETIC_METRICS),
                    );
                    let help = match typo {
                        Some(best) => format!("did you mean `{best}`? If not, {add}"),
                        None => add.to_owned(),
                    };
                    self.error_help(
                        code::UNKNOWN_METRIC,
                        path,
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
                        by_jobs(&producers),
                        if producers.len() == 1 {
                            "that job"
                        } else {
                            "one of them"
                        },
                    )
                };
                self.error_help(
                    code::UNKNOWN_METRIC,
                    path,
                    format!("{owner} uses metric `{metric}` of job `{job}`, which does not produce it"),
                    help,
                );
            }
        }
    }

    fn backups(&mut self, b: &RawBackups) -> Backups {
        self.grammar("backups.local_dir", &b.local_dir, grammar::absolute_path);
        self.grammar("backups.destination", &b.destination, grammar::s3_url);
        self.names("backups.jobs", &b.jobs);
        let jobs = b
            .jobs
            .iter()
            .map(|(name, j)| {
                let p = format!("backups.jobs.{name}");
                let schedule = Schedule::parse(&j.schedule).unwrap_or_else(|m| {
                    self.error_help(
                        code::CRON,
                        format!("{p}.schedule"),
                        m,
                        "fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12), day of week (0-7)",
                    );
                    Schedule::parse("@daily").unwrap_or_else(|_| unreachable!("a valid literal"))
                });
                self.backup_method_fields(&p, j);
                let retention = self.duration(format!("{p}.retention"), &j.retention);
                if retention.millis() > 0 && retention.whole_days().is_none() {
                    self.error(
                        code::UNIT,
                        format!("{p}.retention"),
                        format!("retention is counted in whole days, found {retention}"),
                    );
                }
                (
                    name.clone(),
                    BackupJob {
                        service: j.service.clone(),
                        volume: j.volume.clone(),
                        dump: dump(j),
                        schedule,
                        retention,
                    },
                )
            })
            .collect();
        if let Some(dir) = &b.textfile_dir {
            self.grammar("backups.textfile_dir", dir, grammar::absolute_path);
        }
        let credentials = b.credentials.as_ref().map(|c| {
            self.grammar("backups.credentials.access_key_id", &c.access_key_id, grammar::env_name);
            self.grammar(
                "backups.credentials.secret_access_key",
                &c.secret_access_key,
                grammar::env_name,
            );
            BackupCredentials {
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret_access_key.clone(),
            }
        });
        Backups {
            local_dir: b.local_dir.clone(),
            destination: b.destination.clone(),
            stale_after: self.duration("backups.stale_after", &b.stale_after),
            credentials,
            textfile_dir: b.textfile_dir.clone(),
            jobs,
        }
    }

    /// Each method reads its own fields: a missing one is an error, and so is one it ignores
    /// (so [`dump`] only fills in a value where an error was already reported).
    fn backup_method_fields(&mut self, path: &str, j: &RawBackupJob) {
        use BackupMethod::*;
        // (field, set, required by, accepted by)
        let fields: [(&str, bool, &[BackupMethod], &[BackupMethod]); 4] = [
            ("database", j.database.is_some(), &[PgDump], &[PgDump, Mongodump]),
            (
                "user_env",
                j.user_env.is_some(),
                &[PgDump, Mongodump, MinioMirror],
                &[PgDump, Mongodump, MinioMirror],
            ),
            (
                "password_env",
                j.password_env.is_some(),
                &[Mongodump, MinioMirror],
                &[Mongodump, MinioMirror],
            ),
            ("port", j.port.is_some(), &[MinioMirror], &[MinioMirror]),
        ];
        let method = j.method.as_str();
        for (field, set, required, accepted) in fields {
            if !set && required.contains(&j.method) {
                self.error(
                    code::INVALID,
                    path.to_owned(),
                    format!("method `{method}` needs `{field}`"),
                );
            } else if set && !accepted.contains(&j.method) {
                self.error(
                    code::INVALID,
                    format!("{path}.{field}"),
                    format!("`{field}` does not apply to method `{method}`"),
                );
            }
        }
        if let Some(db) = &j.database {
            self.grammar(format!("{path}.database"), db, grammar::name);
        }
        for (field, value) in [("user_env", &j.user_env), ("password_env", &j.password_env)] {
            if let Some(v) = value {
                self.grammar(format!("{path}.{field}"), v, grammar::env_name);
            }
        }
    }

    fn operations(&mut self, project: &str, o: &RawOperations) -> Operations {
        let install_dir = o.install_dir.clone().unwrap_or_else(|| format!("/opt/{project}"));
        self.grammar("operations.install_dir", &install_dir, grammar::absolute_path);
        let log_dir = o.log_dir.clone().unwrap_or_else(|| "/var/log".to_owned());
        self.grammar("operations.log_dir", &log_dir, grammar::absolute_path);
        if let Some(migrate) = &o.migrate {
            if migrate.is_empty() {
                self.error(code::INVALID, "operations.migrate", "the migration command is empty");
            }
            for (i, arg) in migrate.iter().enumerate() {
                self.grammar(format!("operations.migrate[{i}]"), arg, grammar::one_line);
            }
        }
        if let Some(path) = &o.verify_path {
            self.grammar("operations.verify_path", path, grammar::url_path);
        }
        let disk_usage_max = o.disk_usage_max.unwrap_or(85);
        if !(1..=99).contains(&disk_usage_max) {
            self.error(
                code::INVALID,
                "operations.disk_usage_max",
                format!("{disk_usage_max}% is not a usage limit: use 1 to 99"),
            );
        }
        Operations {
            install_dir,
            log_dir,
            migrate: o.migrate.clone(),
            verify_path: o.verify_path.clone(),
            disk_usage_max,
        }
    }

    /// Checks that relate several parts of the stack.
    fn check_stack(&mut self, stack: &Stack) {
        self.check_services(stack);
        self.check_cycles(stack);
        self.check_ports(stack);
        self.check_capacity(stack);
        self.check_edge(stack);
        self.check_monitoring(stack);
        self.check_backups(stack);
    }

    fn check_services(&mut self, stack: &Stack) {
        for (name, s) in &stack.services {
            for (i, d) in s.depends_on.iter().enumerate() {
                let Some(target) = stack.services.get(&d.service) else {
                    continue;
                };
                if d.condition == Condition::ServiceHealthy && target.healthcheck.is_none() {
                    self.error_help(
                        code::NO_HEALTHCHECK,
                        format!("services.{name}.depends_on[{i}]"),
                        format!(
                            "`{}` has no healthcheck, so `{name}` would wait for `service_healthy` forever",
                            d.service
                        ),
                        format!(
                            "give `{}` a healthcheck, or depend on it with `condition: service_started`",
                            d.service
                        ),
                    );
                }
            }
            let scaled = stack.scaling.get(name).map_or(0, |s| s.replicas);
            if s.container_name.is_some() && (s.replicas > 1 || scaled > 1) {
                let (where_, n) = if s.replicas > 1 {
                    (format!("services.{name}.replicas"), s.replicas)
                } else {
                    (format!("scaling.{name}.replicas"), scaled)
                };
                self.error_help(
                    code::CONTAINER_NAME,
                    format!("services.{name}.container_name"),
                    format!("`container_name` makes {n} replicas impossible ({where_}): container names are unique"),
                    "remove `container_name`",
                );
            }
        }
        let mut names: HashMap<&str, &str> = HashMap::new();
        for (name, s) in &stack.services {
            if let Some(cn) = &s.container_name
                && let Some(first) = names.insert(cn, name)
            {
                self.error(
                    code::DUPLICATE,
                    format!("services.{name}.container_name"),
                    format!("container name `{cn}` is also used by service `{first}`"),
                );
            }
        }
        for name in stack.scaling.keys() {
            if !stack.services.contains_key(name) {
                self.dangling(format!("scaling.{name}"), "service", name, stack.services.keys());
            }
        }
    }

    fn check_cycles(&mut self, stack: &Stack) {
        // Depth-first search; each cycle is reported once, at its first service in spec order.
        let mut state: HashMap<&str, u8> = HashMap::new(); // 1 = on the path, 2 = done
        let mut reported = BTreeSet::new();
        for start in stack.services.keys() {
            let mut path: Vec<(&str, usize)> = Vec::new();
            if state.get(start.as_str()).copied().unwrap_or(0) != 0 {
                continue;
            }
            path.push((start, 0));
            state.insert(start, 1);
            while let Some(&mut (node, ref mut next)) = path.last_mut() {
                let deps = &stack.services[node].depends_on;
                if *next >= deps.len() {
                    state.insert(node, 2);
                    path.pop();
                    continue;
                }
                let i = *next;
                *next += 1;
                let dep = deps[i].service.as_str();
                if dep == node || !stack.services.contains_key(dep) {
                    continue; // reported as a self-dependency or dangling reference
                }
                match state.get(dep).copied().unwrap_or(0) {
                    0 => {
                        state.insert(dep, 1);
                        path.push((dep, 0));
                    }
                    1 => {
                        let from = path.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<&str> = path[from..].iter().map(|(n, _)| *n).collect();
                        let key: BTreeSet<&str> = cycle.iter().copied().collect();
                        if reported.insert(key.into_iter().map(str::to_owned).collect::<Vec<_>>()) {
                            cycle.push(dep);
                            self.error(
                                code::CYCLE,
                                format!("services.{node}.depends_on[{i}]"),
                                format!("depends_on cycle: {}", cycle.join(" -> ")),
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn check_ports(&mut self, stack: &Stack) {
        let mut taken: Vec<(Published, Protocol, String)> = Vec::new();
        for (name, s) in &stack.services {
            let replicas = s.replicas.max(stack.scaling.get(name).map_or(0, |sc| sc.replicas));
            for (i, port) in s.ports.iter().enumerate() {
                let Some(publ) = port.published else { continue };
                let path = format!("services.{name}.ports[{i}].published");
                if replicas > 1 {
                    self.error_help(
                        code::PORT_COLLISION,
                        path.clone(),
                        format!(
                            "`{name}` runs {replicas} replicas, which cannot all bind host port {}",
                            publ.port
                        ),
                        "reach replicas through the proxy instead of publishing the port",
                    );
                }
                let allowed = stack
                    .firewall
                    .allow
                    .iter()
                    .any(|r| r.port == publ.port && r.protocol == port.protocol);
                if publ.is_public() && name == &stack.edge.proxy && !allowed {
                    self.error_help(
                        code::INVALID,
                        format!("services.{name}.ports[{i}].published"),
                        format!(
                            "port {} is published on a public interface but the firewall does not allow it",
                            publ.port
                        ),
                        "Docker would open it past ufw: add it to firewall.allow, or bind it to 127.0.0.1",
                    );
                }
                if publ.is_public() && name != &stack.edge.proxy {
                    self.error_help(
                        code::INVALID,
                        format!("services.{name}.ports[{i}].host_ip"),
                        format!(
                            "only the proxy `{}` may publish on a public interface; `{name}` publishes {}:{}",
                            stack.edge.proxy, publ.host_ip, publ.port
                        ),
                        "remove `host_ip` to bind 127.0.0.1, or stop publishing the port (Docker bypasses ufw)",
                    );
                }
                for (other, proto, owner) in &taken {
                    let overlap = other.host_ip == publ.host_ip
                        || other.host_ip.is_unspecified()
                        || publ.host_ip.is_unspecified();
                    if overlap && other.port == publ.port && *proto == port.protocol {
                        self.error(
                            code::PORT_COLLISION,
                            path.clone(),
                            format!("host port {} is already published by {owner}", publ.port),
                        );
                    }
                }
                taken.push((publ, port.protocol, format!("services.{name}.ports[{i}]")));
            }
        }
    }

    fn check_capacity(&mut self, stack: &Stack) {
        let Some(capacity) = stack.capacity() else {
            return;
        };
        let vm = capacity.vm;
        for short in capacity.shortfalls() {
            let (have, limit) = match short.resource {
                Resource::Cpus => (short.need.cpus.to_string(), vm.cpus.to_string()),
                Resource::Memory => (short.need.memory.to_string(), vm.memory.to_string()),
                Resource::Disk => (short.need.disk.to_string(), vm.disk.to_string()),
            };
            self.error_help(
                code::CAPACITY,
                "target_vm",
                format!(
                    "the services need {have} {}{}, more than VM `{}` has ({limit})",
                    short.resource.as_str(),
                    if short.scaled { " with the scale-out plans" } else { "" },
                    stack.target_vm
                ),
                "pick a larger VM or lower the services' resources",
            );
        }
    }

    fn check_edge(&mut self, stack: &Stack) {
        let e = &stack.edge;
        if !stack.services.contains_key(&e.proxy) {
            self.dangling("edge.proxy", "service", &e.proxy, stack.services.keys());
        }
        match stack.services.get(&e.upstream) {
            None => self.dangling("edge.upstream", "service", &e.upstream, stack.services.keys()),
            Some(up) => {
                if up.port(&e.upstream_port).is_none() {
                    self.dangling_port(
                        "edge.upstream_port",
                        &e.upstream,
                        &e.upstream_port,
                        up.ports.iter().map(|p| &p.name),
                    );
                }
                if let Some(proxy) = stack.services.get(&e.proxy)
                    && !proxy.networks.iter().any(|n| up.networks.contains(n))
                {
                    self.error(
                        code::INVALID,
                        "edge.upstream",
                        format!("proxy `{}` and upstream `{}` share no network", e.proxy, e.upstream),
                    );
                }
            }
        }
        if let Some(proxy) = stack.services.get(&e.proxy) {
            // The proxy listens on 80 (ACME, redirect) and 443 (TLS) in its container.
            for port in [80, 443] {
                if !proxy.ports.iter().any(|p| p.container == port && p.published.is_some()) {
                    self.error_help(
                        code::INVALID,
                        format!("services.{}.ports", e.proxy),
                        format!("the proxy `{}` must publish its container port {port}", e.proxy),
                        format!("add `{{ name: ..., container: {port}, published: {port}, host_ip: 0.0.0.0 }}`"),
                    );
                }
            }
            // NGINX resolves the upstream when it starts: it must start after the app is up.
            let waits = proxy
                .depends_on
                .iter()
                .any(|d| d.service == e.upstream && d.condition == Condition::ServiceHealthy);
            if !waits && stack.services.contains_key(&e.upstream) {
                self.error_help(
                    code::INVALID,
                    format!("services.{}.depends_on", e.proxy),
                    format!("the proxy `{}` must wait for `{}` to be healthy", e.proxy, e.upstream),
                    format!("add `{}` to services.{}.depends_on", e.upstream, e.proxy),
                );
            }
            let c = &stack.tls.certificate;
            let mounted = proxy.mounts.iter().any(
                |m| matches!(m, Mount::Bind { source, target, .. } if *source == c.host_dir && *target == c.mount_dir),
            );
            if !mounted {
                self.error_help(
                    code::INVALID,
                    "tls.certificate.mount_dir",
                    format!(
                        "the proxy `{}` reads certificates from {} but does not mount {} there",
                        e.proxy, c.mount_dir, c.host_dir
                    ),
                    format!(
                        "add `{{ bind: {}, target: {}, read_only: true }}` to services.{}.mounts",
                        c.host_dir, c.mount_dir, e.proxy
                    ),
                );
            }
            let serves_acme = proxy.mounts.iter().any(|m| m.target() == e.acme_root);
            if c.source == CertificateSource::Letsencrypt && !serves_acme {
                self.error_help(
                    code::INVALID,
                    "edge.acme_root",
                    format!(
                        "Let's Encrypt challenges are served from {}, which the proxy `{}` does not mount",
                        e.acme_root, e.proxy
                    ),
                    format!(
                        "mount the certbot webroot there, e.g. `{{ bind: ./certbot/www, target: {} }}`",
                        e.acme_root
                    ),
                );
            }
        }
    }

    fn check_monitoring(&mut self, stack: &Stack) {
        let m = &stack.monitoring;
        let service_ref = |cx: &mut Cx, path: &str, service: &str, port: Option<&str>| match stack.services.get(service)
        {
            None => cx.dangling(path.to_owned(), "service", service, stack.services.keys()),
            Some(s) => {
                if let Some(port) = port
                    && s.port(port).is_none()
                {
                    let path = format!("{}.port", path.rsplit_once('.').map_or(path, |(parent, _)| parent));
                    cx.dangling_port(path, service, port, s.ports.iter().map(|p| &p.name));
                }
            }
        };
        service_ref(self, "monitoring.prometheus", &m.prometheus, None);
        if stack.services.get(&m.prometheus).is_some_and(|s| s.command.is_some()) {
            self.error_help(
                code::INVALID,
                format!("services.{}.command", m.prometheus),
                "the Prometheus command line is rendered from `monitoring` (configuration, retention)",
                "remove `command`; set `monitoring.retention` instead",
            );
        }
        for (name, j) in &m.scrape_jobs {
            service_ref(
                self,
                &format!("monitoring.scrape_jobs.{name}.service"),
                &j.service,
                Some(&j.port),
            );
            if j.monitors != j.service && !stack.services.contains_key(&j.monitors) {
                self.dangling(
                    format!("monitoring.scrape_jobs.{name}.monitors"),
                    "service",
                    &j.monitors,
                    stack.services.keys(),
                );
            }
        }
        let am = &m.alertmanager;
        service_ref(self, "monitoring.alertmanager.service", &am.service, Some(&am.port));
        let receiver_ref = |cx: &mut Cx, path: String, r: &str| {
            if !am.receivers.contains_key(r) {
                cx.dangling(path, "receiver", r, am.receivers.keys());
            }
        };
        receiver_ref(
            self,
            "monitoring.alertmanager.default_receiver".into(),
            &am.default_receiver,
        );
        for (i, route) in am.routes.iter().enumerate() {
            if route.receivers.is_empty() {
                self.error(
                    code::INVALID,
                    format!("monitoring.alertmanager.routes[{i}].receivers"),
                    "a route needs at least one receiver",
                );
            }
            for (j, r) in route.receivers.iter().enumerate() {
                receiver_ref(self, format!("monitoring.alertmanager.routes[{i}].receivers[{j}]"), r);
            }
        }
        for (name, r) in &am.receivers {
            let (field, var) = match r {
                Receiver::Slack { webhook_url_secret, .. } => ("webhook_url_secret", webhook_url_secret),
                Receiver::Pagerduty { routing_key_secret } => ("routing_key_secret", routing_key_secret),
            };
            self.secret_ref(stack, &format!("monitoring.alertmanager.receivers.{name}.{field}"), var);
        }
        let g = &m.grafana;
        service_ref(self, "monitoring.grafana.service", &g.service, None);
        for (name, d) in &g.datasources {
            service_ref(
                self,
                &format!("monitoring.grafana.datasources.{name}.service"),
                &d.service,
                Some(&d.port),
            );
        }
        if g.datasources.values().filter(|d| d.default).count() > 1 {
            self.error(
                code::INVALID,
                "monitoring.grafana.datasources",
                "more than one datasource is marked `default`",
            );
        }
    }

    fn secret_ref(&mut self, stack: &Stack, path: &str, var: &str) {
        match stack.variables.get(var) {
            None => self.dangling(
                path.to_owned(),
                "secret variable",
                var,
                stack.variables.iter().filter(|(_, v)| v.secret).map(|(k, _)| k),
            ),
            Some(v) if !v.secret => self.error(
                code::INVALID,
                path.to_owned(),
                format!("`{var}` holds a credential but is not declared `secret: true`"),
            ),
            Some(_) => {}
        }
    }

    fn check_backups(&mut self, stack: &Stack) {
        for (name, j) in &stack.backups.jobs {
            let p = format!("backups.jobs.{name}");
            match stack.services.get(&j.service) {
                None => self.dangling(format!("{p}.service"), "service", &j.service, stack.services.keys()),
                Some(s) => {
                    for (field, var) in j.dump.credential_vars() {
                        if !var.is_empty() && !s.environment.contains_key(var) {
                            self.dangling_message(
                                format!("{p}.{field}"),
                                format!("service `{}` has no variable `{var}` in its environment", j.service),
                                var,
                                s.environment.keys(),
                            );
                        }
                    }
                    if let Dump::MinioMirror { port, .. } = &j.dump
                        && !port.is_empty()
                        && s.port(port).is_none()
                    {
                        self.dangling_port(format!("{p}.port"), &j.service, port, s.ports.iter().map(|p| &p.name));
                    }
                    if !stack.volumes.contains_key(&j.volume) {
                        self.dangling(format!("{p}.volume"), "volume", &j.volume, stack.volumes.keys());
                    } else if !s
                        .mounts
                        .iter()
                        .any(|m| matches!(m, Mount::Volume { name, .. } if *name == j.volume))
                    {
                        self.error(
                            code::INVALID,
                            format!("{p}.volume"),
                            format!("service `{}` does not mount volume `{}`", j.service, j.volume),
                        );
                    }
                }
            }
        }
        for (name, v) in &stack.volumes {
            if v.kind == VolumeKind::Data && !stack.backups.jobs.values().any(|j| j.volume == *name) {
                self.diags.push(
                    Diagnostic::warning(
                        code::INVALID,
                        format!("volumes.{name}"),
                        format!("data volume `{name}` has no backup job"),
                    )
                    .with_help("add a job under backups.jobs, or set `kind: cache` if its content can be rebuilt"),
                );
            }
        }
        if let Some(c) = &stack.backups.credentials {
            for (field, var) in [
                ("access_key_id", &c.access_key_id),
                ("secret_access_key", &c.secret_access_key),
            ] {
                let path = format!("backups.credentials.{field}");
                match stack.variables.get(var) {
                    None => self.dangling(path, "variable", var, stack.variables.keys()),
                    Some(v) if !v.secret => self.error_help(
                        code::INVALID,
                        path,
                        format!("`{var}` holds a credential but is not a secret variable"),
                        format!("set `secret: true` on variables.{var}"),
                    ),
                    Some(_) => {}
                }
            }
        }
        self.check_backup_metric(stack);
        self.check_operations(stack);
    }

    /// The stale-backup alerts watch a metric `backup.sh` writes for node-exporter's textfile
    /// collector: the folder it writes must be the one the exporter reads.
    fn check_backup_metric(&mut self, stack: &Stack) {
        let b = &stack.backups;
        if b.jobs.is_empty() {
            return;
        }
        let exporter = stack
            .monitoring
            .scrape_jobs
            .values()
            .find(|j| j.metrics.iter().any(|m| m == BACKUP_METRIC));
        let Some(exporter) = exporter else {
            self.diags.push(
                Diagnostic::warning(
                    code::INVALID,
                    "backups",
                    format!("no scrape job lists `{BACKUP_METRIC}`: failed or stale backups raise no alert"),
                )
                .with_help("list the metric under the node-exporter scrape job and set `backups.textfile_dir`"),
            );
            return;
        };
        let Some(dir) = &b.textfile_dir else {
            self.error_help(
                code::INVALID,
                "backups",
                format!(
                    "`{BACKUP_METRIC}` is scraped, but `backups.textfile_dir` does not say where backup.sh writes it"
                ),
                "set `textfile_dir` to the host folder of node-exporter's textfile collector",
            );
            return;
        };
        let Some(service) = stack.services.get(&exporter.service) else {
            return;
        };
        let in_container = service.mounts.iter().find_map(|m| match m {
            Mount::Bind { source, target, .. } => {
                let rest = if source == "/" {
                    dir.strip_prefix('/')
                } else {
                    dir.strip_prefix(source.as_str()).and_then(|r| r.strip_prefix('/'))
                };
                rest.map(|rest| format!("{}/{rest}", target.trim_end_matches('/')))
            }
            _ => None,
        });
        let Some(in_container) = in_container else {
            self.error(
                code::INVALID,
                "backups.textfile_dir",
                format!("service `{}` does not mount `{dir}` from the host", exporter.service),
            );
            return;
        };
        let flag = format!("--collector.textfile.directory={in_container}");
        if !service.command.iter().flatten().any(|a| *a == flag) {
            self.error_help(
                code::INVALID,
                "backups.textfile_dir",
                format!(
                    "service `{}` mounts `{dir}` at `{in_container}` but does not read textfile metrics from it",
                    exporter.service
                ),
                format!("add `{flag}` to its command"),
            );
        }
    }

    fn check_operations(&mut self, stack: &Stack) {
        let Some(app) = stack.services.get(&stack.edge.upstream) else {
            return;
        };
        if app.tag_variable.is_none() {
            self.error_help(
                code::INVALID,
                format!("services.{}", stack.edge.upstream),
                format!(
                    "update.sh and rollback.sh set the version of `{}` through its `tag_variable`, which it lacks",
                    stack.edge.upstream
                ),
                "add `tag_variable: VERSION` and declare VERSION under `variables`",
            );
        }
    }
}

/// The typed dump of a backup job; fields its method needs and lacks are empty, after
/// `backup_method_fields` reported them.
fn dump(j: &RawBackupJob) -> Dump {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    match j.method {
        BackupMethod::PgDump => Dump::PgDump {
            database: text(&j.database),
            user_env: text(&j.user_env),
        },
        BackupMethod::Mongodump => Dump::Mongodump {
            database: j.database.clone(),
            user_env: text(&j.user_env),
            password_env: text(&j.password_env),
        },
        BackupMethod::MinioMirror => Dump::MinioMirror {
            user_env: text(&j.user_env),
            password_env: text(&j.password_env),
            port: text(&j.port),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_typos_only() {
        assert_eq!(closest("imag", ["image", "restart"]), Some("image"));
        assert_eq!(closest("zzz", ["image", "restart"]), None);
    }
}
