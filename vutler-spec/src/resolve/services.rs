//! Services and what they are made of: images, environments, ports, mounts, dependencies,
//! healthchecks, networks, volumes, resources, logging, replicas and the scale-out plans.
//!
//! Rules: `image-tag` (a pinned tag other than `latest`), `tag-variable-default` (the image's tag
//! is its tag variable's default), `host-ip-unpublished`, `no-network`, `no-logging`, `limits`
//! (resources outside dev), `no-healthcheck` (`service_healthy` on a service without one),
//! `container-name-replicas`, `depends-on-cycle`, `port-collision` (a host port bound twice, or by
//! replicas) and `config-mount-unknown` (a `config:` mount of a file nothing renders).

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use crate::configs;
use crate::grammar;
use crate::path::SpecPath;
use crate::raw::{
    EnvironmentKind, RawDependsOn, RawEnvValue, RawHealthcheck, RawLogging, RawMount, RawPort, RawResources,
    RawSecretRef, RawService, Restart, VolumeKind,
};
use crate::rule::Rule;
use crate::stack::*;
use crate::text::{AbsolutePath, HostPath, Image, ImageError, Name, OneLine, TreePath};
use crate::units::{ByteSize, Duration};

use super::variables::{env_var, secret_as_text};
use super::{Cx, all, closest};

/// The Docker networks.
pub(super) fn networks(cx: &mut Cx<'_>) -> Option<Vec<Network>> {
    let raw = cx.raw;
    let p = SpecPath::top("networks");
    all(raw.networks.iter().map(|(name, n)| {
        let name = cx.name(&p, name)?;
        Some(Network {
            name,
            driver: n.driver,
            internal: n.internal,
        })
    }))
}

/// The named volumes.
pub(super) fn volumes(cx: &mut Cx<'_>) -> Option<Vec<Volume>> {
    let raw = cx.raw;
    let p = SpecPath::top("volumes");
    all(raw.volumes.iter().map(|(name, v)| {
        let n = cx.name(&p, name);
        let description = cx.text(p.key(name).key("description"), &v.description, OneLine::parse);
        Some(Volume {
            name: n?,
            kind: v.kind,
            description: description?,
        })
    }))
}

/// Every service, each `None` when its own checks failed. `env` is the environment's name.
pub(super) fn services(cx: &mut Cx<'_>, env: &str, config_paths: &[String]) -> Vec<Option<Service>> {
    let raw = cx.raw;
    // `None`: no defaults; `Some(None)`: defaults that failed their checks (already reported).
    let default_logging = raw
        .defaults
        .logging
        .as_ref()
        .map(|l| logging(cx, &SpecPath::top("defaults").key("logging"), l));
    raw.services
        .iter()
        .enumerate()
        .map(|(i, (name, s))| service(cx, ServiceId(i), name, s, default_logging.as_ref(), env, config_paths))
        .collect()
}

fn service(
    cx: &mut Cx<'_>,
    id: ServiceId,
    name: &str,
    s: &RawService,
    default_logging: Option<&Option<Logging>>,
    env: &str,
    config_paths: &[String],
) -> Option<Service> {
    let raw = cx.raw;
    let p = SpecPath::top("services").key(name);
    let service_name = cx.name(&SpecPath::top("services"), name);
    let description = cx.text(p.key("description"), &s.description, OneLine::parse);
    let image = image(cx, p.key("image"), &s.image);
    let tag_variable = tag_variable(cx, &p, s, image.as_ref());
    let container_name = cx.text_opt(p.key("container_name"), s.container_name.as_ref(), Name::parse);
    let command = match &s.command {
        None => Some(None),
        Some(args) => cx.command_line(&p.key("command"), args).map(Some),
    };
    let environment = all(s
        .environment
        .iter()
        .map(|(key, value)| env_var(cx, p.key("environment").key(key), key, value)));
    let file_envs = file_envs(cx, &p, s);

    let ports_path = p.key("ports");
    cx.unique(&ports_path, s.ports.iter().map(|x| x.name.as_str()), "port");
    let ports = all(s
        .ports
        .iter()
        .enumerate()
        .map(|(i, port)| self::port(cx, &ports_path.index(i), port)));

    let mounts_path = p.key("mounts");
    let mounts = all(s
        .mounts
        .iter()
        .enumerate()
        .map(|(i, m)| mount(cx, &mounts_path.index(i), m, config_paths)));
    let mut targets = HashMap::new();
    let mut unique_targets = true;
    for (i, m) in s.mounts.iter().enumerate() {
        if let Some(first) = targets.insert(m.target.as_str(), i) {
            cx.duplicate(
                mounts_path.index(i).key("target"),
                format!("`{}` is already mounted by {}", m.target, mounts_path.index(first)),
            );
            unique_targets = false;
        }
    }

    let depends_on = depends_on(cx, &p, name, &s.depends_on);
    let healthcheck = match &s.healthcheck {
        None => Some(None),
        Some(h) => healthcheck(cx, &p.key("healthcheck"), h).map(Some),
    };

    let (networks, networks_path) = match (&s.networks, &raw.defaults.networks) {
        (Some(n), _) => (n.as_slice(), p.key("networks")),
        (None, Some(n)) => (n.as_slice(), SpecPath::top("defaults").key("networks")),
        (None, None) => ([].as_slice(), p.clone()),
    };
    if networks.is_empty() {
        cx.error(
            Rule::NoNetwork,
            networks_path.clone(),
            format!("service `{name}` joins no network"),
        );
    }
    let networks = all(networks
        .iter()
        .enumerate()
        .map(|(i, n)| cx.network_ref(networks_path.index(i), n)))
    .filter(|n| !n.is_empty());

    let replicas = cx.at_least_one(p.key("replicas"), "replicas", s.replicas.unwrap_or(1));
    let resources = match &s.resources {
        Some(r) => resources(cx, &p.key("resources"), r).map(Some),
        None if cx.raw.kind.unwrap_or_else(|| EnvironmentKind::of_name(env)) == EnvironmentKind::Development => {
            Some(None)
        }
        None => {
            cx.error_help(
                Rule::Limits,
                p.clone(),
                format!("service `{name}` has no `resources`; every service has limits outside a development environment"),
                "add `resources: { cpus, memory, disk }`, or `kind: development` to the overlay of an environment that may go without",
            );
            None
        }
    };
    let logging = match (&s.logging, default_logging) {
        (Some(l), _) => logging(cx, &p.key("logging"), l),
        (None, Some(defaults)) => defaults.clone(),
        (None, None) => {
            cx.error(
                Rule::NoLogging,
                p.clone(),
                format!("service `{name}` has no `logging` and there is no `defaults.logging`"),
            );
            None
        }
    };
    let restart = s.restart.or(raw.defaults.restart).unwrap_or(Restart::UnlessStopped);
    let stop_grace_period = cx.duration_opt(p.key("stop_grace_period"), s.stop_grace_period.as_ref());
    let authentication = super::credentials::authentication(cx, &p, id, s);
    let memory = memory_settings(cx, &p, name, s, resources.as_ref().and_then(|r| r.as_ref()));
    if let Some(period) = stop_grace_period {
        grace_period(cx, &p, name, s, period);
    }

    (unique_targets && file_envs && memory).then_some(())?;
    Some(Service {
        id,
        name: service_name?,
        description: description?,
        image: image?,
        tag_variable: tag_variable?,
        container_name: container_name?,
        restart,
        command: command?,
        environment: environment?,
        ports: ports?,
        mounts: mounts?,
        depends_on: depends_on?,
        healthcheck: healthcheck?,
        networks: networks?,
        replicas: replicas?,
        resources: resources?,
        logging: logging?,
        critical: s.critical,
        stop_grace_period: stop_grace_period?,
        pid: s.pid,
        authentication: authentication?,
    })
}

/// A memory setting of a datastore's command that the model knows, and the most of the
/// container's memory limit it may take: the process needs the rest (Redis for fragmentation
/// and the fork of its persistence, MongoDB for everything but its cache, PostgreSQL for the
/// memory of each connection), or the kernel kills it under load.
struct MemorySetting {
    /// How the command sets it: `--maxmemory 512mb`, `--wiredTigerCacheSizeGB 1.5`,
    /// `-c shared_buffers=256MB`.
    what: &'static str,
    /// The most it may be, for a limit.
    most: fn(ByteSize) -> ByteSize,
    /// The rule of thumb, for the message.
    why: &'static str,
}

const REDIS_MAXMEMORY: MemorySetting = MemorySetting {
    what: "Redis's --maxmemory",
    most: |limit| ByteSize::from_bytes(limit.bytes() / 4 * 3),
    why: "75% of the limit",
};
const WIREDTIGER_CACHE: MemorySetting = MemorySetting {
    what: "MongoDB's --wiredTigerCacheSizeGB",
    // MongoDB's own default: half of (memory - 1 GB), at least 256 MB.
    most: |limit| ByteSize::from_bytes((limit.bytes().saturating_sub(1 << 30) / 2).max(256 << 20)),
    why: "half of the limit less 1GB, MongoDB's own default",
};
const SHARED_BUFFERS: MemorySetting = MemorySetting {
    what: "PostgreSQL's shared_buffers",
    most: |limit| ByteSize::from_bytes(limit.bytes() / 4),
    why: "25% of the limit",
};

/// The datastore memory settings in a command, each with its value and argument index.
fn memory_settings_of(command: &[String]) -> Vec<(&'static MemorySetting, Option<ByteSize>, usize)> {
    let mut found = Vec::new();
    for (i, arg) in command.iter().enumerate() {
        let next = command.get(i + 1);
        match arg.as_str() {
            "--maxmemory" => found.push((&REDIS_MAXMEMORY, next.and_then(|v| redis_size(v)), i + 1)),
            "--wiredTigerCacheSizeGB" => found.push((
                &WIREDTIGER_CACHE,
                next.and_then(|v| v.parse::<f64>().ok())
                    .filter(|gb| gb.is_finite() && *gb > 0.0)
                    .map(|gb| ByteSize::from_bytes((gb * f64::from(1u32 << 30)) as u64)),
                i + 1,
            )),
            a => {
                if let Some(value) = a.strip_prefix("shared_buffers=") {
                    found.push((&SHARED_BUFFERS, postgres_size(value), i));
                }
            }
        }
    }
    found
}

/// Redis sizes: `512mb`, `1gb`, `100000` (bytes), case-insensitive, powers of 1024 for `kb`/`mb`/`gb`.
fn redis_size(text: &str) -> Option<ByteSize> {
    let t = text.to_ascii_lowercase();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().ok()?;
    let scale: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale).map(ByteSize::from_bytes)
}

/// PostgreSQL memory sizes: `256MB`, `1GB`, `8192kB`, or a number of 8 kB pages.
fn postgres_size(text: &str) -> Option<ByteSize> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = digits.parse().ok()?;
    let scale: u64 = match unit {
        "" => 8 << 10,
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(scale).map(ByteSize::from_bytes)
}

/// Datastore memory settings within the container's limit (`memory-setting`).
fn memory_settings(cx: &mut Cx<'_>, p: &SpecPath, name: &str, s: &RawService, resources: Option<&Resources>) -> bool {
    let (Some(command), Some(limit)) = (&s.command, resources.map(|r| r.memory)) else {
        return true;
    };
    let mut ok = true;
    for (setting, value, at) in memory_settings_of(command) {
        let path = p.key("command").index(at);
        let Some(value) = value else {
            cx.error(
                Rule::MemorySetting,
                path,
                format!("{} has no size the model can read", setting.what),
            );
            ok = false;
            continue;
        };
        let most = (setting.most)(limit);
        if value > most {
            cx.error_help(
                Rule::MemorySetting,
                path,
                format!(
                    "{} is {value}, but the container's memory limit is {limit}: at most {most} ({}) leaves the process room",
                    setting.what, setting.why
                ),
                format!("lower it to {most} or less, or raise services.{name}.resources.memory"),
            );
            ok = false;
        }
    }
    ok
}

/// A secret read from a file is passed under its `file_env` name, which must not be another
/// variable of the environment (Compose would keep only one of them).
fn file_envs(cx: &mut Cx<'_>, p: &SpecPath, s: &RawService) -> bool {
    let mut ok = true;
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (key, value) in &s.environment {
        let RawEnvValue::Secret(RawSecretRef {
            file_env: Some(file), ..
        }) = value
        else {
            continue;
        };
        let at = p.key("environment").key(key).key("file_env");
        if s.environment.contains_key(file) {
            cx.duplicate(at, format!("`{file}` is also a variable of this environment"));
            ok = false;
        } else if let Some(first) = seen.insert(file, key) {
            cx.duplicate(at, format!("`{file}` is also the file variable of `{first}`"));
            ok = false;
        }
    }
    ok
}

pub(super) fn image(cx: &mut Cx<'_>, path: SpecPath, text: &str) -> Option<Image> {
    match Image::parse(text) {
        Ok(image) => Some(image),
        Err(ImageError::NoTag) => {
            cx.error_help(
                Rule::ImageTag,
                path,
                format!("image `{text}` has no tag"),
                "pin a tag, e.g. postgres:16-alpine",
            );
            None
        }
        Err(ImageError::Latest) => {
            cx.error_help(
                Rule::ImageTag,
                path,
                format!("image `{text}` uses the `latest` tag, which makes deployments unreproducible"),
                "pin a released version",
            );
            None
        }
        Err(ImageError::Grammar(expected)) => {
            cx.grammar(path, text, &expected);
            None
        }
    }
}

/// The variable overriding the image's tag: a plain variable whose default is the tag.
fn tag_variable(cx: &mut Cx<'_>, p: &SpecPath, s: &RawService, image: Option<&Image>) -> Option<Option<VariableId>> {
    let raw = cx.raw;
    let Some(var) = &s.tag_variable else {
        return Some(None);
    };
    match raw.variables.get_full(var) {
        None => {
            cx.dangling(
                p.key("tag_variable"),
                format!("unknown variable `{var}`"),
                var,
                raw.variables.keys(),
            );
            None
        }
        Some((_, _, v)) if v.secret => {
            secret_as_text(
                cx,
                p.key("tag_variable"),
                var,
                "an image tag is not a secret: name a plain variable".into(),
            );
            None
        }
        Some((_, _, v)) => match (&v.default, image) {
            (Some(default), Some(image)) if default.to_string() != image.tag().as_str() => {
                cx.error_help(
                    Rule::TagVariableDefault,
                    p.key("image"),
                    format!(
                        "the image tag `{}` differs from the default of `{var}` ({default})",
                        image.tag()
                    ),
                    format!("the tag in `image` is the default of `{var}`: make them equal"),
                );
                None
            }
            _ => raw.variables.get_index_of(var.as_str()).map(|i| Some(VariableId(i))),
        },
    }
}

fn port(cx: &mut Cx<'_>, pp: &SpecPath, port: &RawPort) -> Option<Port> {
    let name = cx.text(pp.key("name"), &port.name, Name::parse);
    let container = cx.port_number(pp.key("container"), port.container);
    let host_ip = match &port.host_ip {
        None => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Some(ip) => grammar::host_ip(ip)
            .map_err(|expected| cx.grammar(pp.key("host_ip"), ip, &expected))
            .ok(),
    };
    let mut ok = true;
    if port.host_ip.is_some() && port.published.is_none() {
        cx.error(
            Rule::HostIpUnpublished,
            pp.key("host_ip"),
            "`host_ip` without `published` has no effect",
        );
        ok = false;
    }
    let published = match port.published {
        None => Some(None),
        Some(n) => cx.port_number(pp.key("published"), n).map(Some),
    };
    ok.then_some(())?;
    let host_ip = host_ip?;
    Some(Port {
        name: name?,
        container: container?,
        published: published?.map(|port| Published { host_ip, port }),
        protocol: port.protocol,
    })
}

fn mount(cx: &mut Cx<'_>, path: &SpecPath, m: &RawMount, config_paths: &[String]) -> Option<Mount> {
    let target = cx.text(path.key("target"), &m.target, AbsolutePath::parse);
    if m.propagation.is_some() && m.bind.is_none() {
        cx.error_help(
            Rule::ExactlyOneOf,
            path.key("propagation"),
            "`propagation` applies to a `bind` mount only",
            "remove it, or mount a host folder with `bind`",
        );
        return None;
    }
    match (&m.volume, &m.bind, &m.config) {
        (Some(v), None, None) => {
            let volume = cx.volume_ref(path.key("volume"), v);
            Some(Mount::Volume {
                volume: volume?,
                target: target?,
                read_only: m.read_only,
            })
        }
        (None, Some(b), None) => {
            let source = cx.text(path.key("bind"), b, HostPath::parse);
            Some(Mount::Bind {
                source: source?,
                target: target?,
                read_only: m.read_only,
                propagation: m.propagation,
            })
        }
        (None, None, Some(c)) => {
            let source = cx.text(path.key("config"), c, TreePath::parse)?;
            let files = configs::covered(config_paths, &source);
            if files.is_empty() {
                let mountable = configs::mountable(config_paths);
                let help = match closest(&source, mountable.iter().map(String::as_str)) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!(
                        "rendered files: {}, or a folder holding some of them",
                        config_paths.join(", ")
                    ),
                };
                cx.error_help(
                    Rule::ConfigMountUnknown,
                    path.key("config"),
                    format!("`{source}` is not a file or folder that vutler-render renders"),
                    help,
                );
                return None;
            }
            Some(Mount::Config(ConfigMount {
                source,
                target: target?,
                files,
            }))
        }
        _ => {
            cx.exactly_one_of(path.clone(), "a mount", "`volume`, `bind` or `config`");
            None
        }
    }
}

fn depends_on(cx: &mut Cx<'_>, p: &SpecPath, name: &str, list: &[RawDependsOn]) -> Option<Vec<Dependency>> {
    let raw = cx.raw;
    let mut listed: HashMap<&str, usize> = HashMap::new();
    all(list.iter().enumerate().map(|(i, d)| {
        let (service, condition) = match d {
            RawDependsOn::Short(s) => (s.as_str(), Condition::ServiceHealthy),
            RawDependsOn::Long(l) => (l.service.as_str(), l.condition),
        };
        let dp = p.key("depends_on").index(i);
        if let Some(first) = listed.insert(service, i) {
            cx.duplicate(
                dp,
                format!("`{service}` is already listed at {}", p.key("depends_on").index(first)),
            );
            return None;
        }
        if raw.services.contains_key(service) && service == name {
            cx.error(Rule::DependsOnCycle, dp, format!("depends_on cycle: {name} -> {name}"));
            return None;
        }
        let service = cx.service_ref(dp, service)?;
        Some(Dependency { service, condition })
    }))
}

fn healthcheck(cx: &mut Cx<'_>, hp: &SpecPath, h: &RawHealthcheck) -> Option<Healthcheck> {
    let test = match (&h.exec, &h.shell) {
        (Some(exec), None) if !exec.is_empty() => cx.command_line(&hp.key("exec"), exec).map(HealthTest::Exec),
        (None, Some(shell)) if !shell.trim().is_empty() => match crate::grammar::literal_password(&[shell]) {
            Some((_, what)) => {
                cx.literal_password(hp.key("shell"), &what);
                None
            }
            None => cx.text(hp.key("shell"), shell, OneLine::parse).map(HealthTest::Shell),
        },
        _ => {
            cx.exactly_one_of(hp.clone(), "a healthcheck", "`exec` (a non-empty list) or `shell`");
            None
        }
    };
    let retries = cx.at_least_one(hp.key("retries"), "retries", h.retries);
    let interval = cx.duration(hp.key("interval"), &h.interval);
    let timeout = cx.duration(hp.key("timeout"), &h.timeout);
    let start_period = cx.duration_opt(hp.key("start_period"), h.start_period.as_ref());
    Some(Healthcheck {
        test: test?,
        interval: interval?,
        timeout: timeout?,
        retries: retries?,
        start_period: start_period?,
    })
}

/// Docker's smallest memory limit: a container with less does not start.
const MIN_MEMORY_MB: u64 = 6;

fn resources(cx: &mut Cx<'_>, p: &SpecPath, r: &RawResources) -> Option<Resources> {
    let cpus = cx.cpus(p.key("cpus"), &r.cpus);
    let memory = cx.size(p.key("memory"), &r.memory).filter(|m| {
        let enough = m.bytes() >= MIN_MEMORY_MB * 1024 * 1024;
        if !enough {
            cx.error_help(
                Rule::OutOfRange,
                p.key("memory"),
                format!(
                    "{} is below Docker's smallest memory limit ({MIN_MEMORY_MB}MB): the container would not start",
                    r.memory
                ),
                "give 6MB or more (MB and GB are binary units here: 1MB is 1024 KB)",
            );
        }
        enough
    });
    let disk = cx.size(p.key("disk"), &r.disk);
    Some(Resources {
        cpus: cpus?,
        memory: memory?,
        disk: disk?,
    })
}

fn logging(cx: &mut Cx<'_>, p: &SpecPath, raw: &RawLogging) -> Option<Logging> {
    let max_file = cx.at_least_one(p.key("max_file"), "max_file", raw.max_file);
    let max_size = cx.size(p.key("max_size"), &raw.max_size);
    Some(Logging {
        driver: raw.driver,
        max_size: max_size?,
        max_file: max_file?,
    })
}

/// The scale-out plans.
pub(super) fn scaling(cx: &mut Cx<'_>) -> Option<Vec<ScalePlan>> {
    let raw = cx.raw;
    let p = SpecPath::top("scaling");
    all(raw.scaling.iter().map(|(name, s)| {
        let service = cx.service_ref(p.key(name), name);
        let base = raw.services.get(name).and_then(|s| s.replicas).unwrap_or(1);
        let replicas = cx
            .at_least_one(p.key(name).key("replicas"), "replicas", s.replicas)
            .filter(|n| {
                // A scale-out plan adds replicas: the health check expects at least the base.
                let ok = *n >= base;
                if !ok {
                    cx.out_of_range(
                        p.key(name).key("replicas"),
                        format!("the scale-out plan runs {n} replicas, fewer than the {base} of services.{name}"),
                    );
                }
                ok
            });
        Some(ScalePlan {
            service: service?,
            replicas: replicas?,
            sticky_sessions: s.sticky_sessions,
        })
    }))
}

/// Checks between services: dependencies on healthchecks, cycles, container names with
/// replicas, and host ports.
pub(super) fn check(cx: &mut Cx<'_>, services: &[Option<Service>]) {
    let raw = cx.raw;
    let scaled = |name: &str| raw.scaling.get(name).map_or(0, |s| s.replicas);
    for (name, s) in &raw.services {
        let p = SpecPath::top("services").key(name);
        for (i, d) in s.depends_on.iter().enumerate() {
            let (target, condition) = match d {
                RawDependsOn::Short(t) => (t, Condition::ServiceHealthy),
                RawDependsOn::Long(l) => (&l.service, l.condition),
            };
            let Some(t) = raw.services.get(target) else { continue };
            if condition == Condition::ServiceHealthy && t.healthcheck.is_none() && target != name {
                cx.error_help(
                    Rule::NoHealthcheck,
                    p.key("depends_on").index(i),
                    format!("`{target}` has no healthcheck, so `{name}` would wait for `service_healthy` forever"),
                    format!("give `{target}` a healthcheck, or depend on it with `condition: service_started`"),
                );
            }
        }
        let replicas = s.replicas.unwrap_or(1);
        if s.container_name.is_some() && (replicas > 1 || scaled(name) > 1) {
            let (where_, n) = if replicas > 1 {
                (p.key("replicas"), replicas)
            } else {
                (SpecPath::top("scaling").key(name).key("replicas"), scaled(name))
            };
            cx.error_help(
                Rule::ContainerNameReplicas,
                p.key("container_name"),
                format!("`container_name` makes {n} replicas impossible ({where_}): container names are unique"),
                "remove `container_name`",
            );
        }
    }
    let mut names: HashMap<&str, &str> = HashMap::new();
    for (name, s) in &raw.services {
        if let Some(cn) = &s.container_name
            && let Some(first) = names.insert(cn, name)
        {
            cx.duplicate(
                SpecPath::top("services").key(name).key("container_name"),
                format!("container name `{cn}` is also used by service `{first}`"),
            );
        }
    }
    cycles(cx);
    ports(cx, services);
}

/// `depends_on` cycles, each reported once, at its first service in spec order.
fn cycles(cx: &mut Cx<'_>) {
    let raw = cx.raw;
    let deps = |name: &str| -> Vec<&str> {
        raw.services.get(name).map_or(Vec::new(), |s| {
            s.depends_on
                .iter()
                .map(|d| match d {
                    RawDependsOn::Short(t) => t.as_str(),
                    RawDependsOn::Long(l) => l.service.as_str(),
                })
                .collect()
        })
    };
    // Depth-first search: 1 = on the path, 2 = done.
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut reported = BTreeSet::new();
    for start in raw.services.keys() {
        if state.get(start.as_str()).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut path: Vec<(&str, Vec<&str>, usize)> = vec![(start, deps(start), 0)];
        state.insert(start, 1);
        while let Some((node, node_deps, next)) = path.last_mut() {
            let node = *node;
            if *next >= node_deps.len() {
                state.insert(node, 2);
                path.pop();
                continue;
            }
            let i = *next;
            *next += 1;
            let dep = node_deps[i];
            if dep == node || !raw.services.contains_key(dep) {
                continue; // reported as a self-dependency or a dangling reference
            }
            match state.get(dep).copied().unwrap_or(0) {
                0 => {
                    state.insert(dep, 1);
                    path.push((dep, deps(dep), 0));
                }
                1 => {
                    let from = path.iter().position(|(n, _, _)| *n == dep).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[from..].iter().map(|(n, _, _)| *n).collect();
                    let key: BTreeSet<&str> = cycle.iter().copied().collect();
                    if reported.insert(key.into_iter().map(str::to_owned).collect::<Vec<_>>()) {
                        cycle.push(dep);
                        cx.error(
                            Rule::DependsOnCycle,
                            SpecPath::top("services").key(node).key("depends_on").index(i),
                            format!("depends_on cycle: {}", cycle.join(" -> ")),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// Host ports: each bound once, and none by a replicated service.
fn ports(cx: &mut Cx<'_>, services: &[Option<Service>]) {
    let raw = cx.raw;
    let mut taken: Vec<(Published, Protocol, SpecPath)> = Vec::new();
    for s in services.iter().flatten() {
        let name = s.name.as_str();
        let replicas = s.replicas.max(raw.scaling.get(name).map_or(0, |sc| sc.replicas));
        for (i, port) in s.ports.iter().enumerate() {
            let Some(publ) = port.published else { continue };
            let at = SpecPath::top("services").key(name).key("ports").index(i);
            if replicas > 1 {
                cx.error_help(
                    Rule::PortCollision,
                    at.key("published"),
                    format!(
                        "`{name}` runs {replicas} replicas, which cannot all bind host port {}",
                        publ.port
                    ),
                    "reach replicas through the proxy instead of publishing the port",
                );
            }
            for (other, proto, owner) in &taken {
                let overlap =
                    other.host_ip == publ.host_ip || other.host_ip.is_unspecified() || publ.host_ip.is_unspecified();
                if overlap && other.port == publ.port && *proto == port.protocol {
                    cx.error(
                        Rule::PortCollision,
                        at.key("published"),
                        format!("host port {} is already published by {owner}", publ.port),
                    );
                }
            }
            taken.push((publ, port.protocol, at));
        }
    }
}

/// Shortest stop grace period for a service that keeps data.
const MIN_GRACE_PERIOD: Duration = Duration::from_millis(30_000);

/// A service that writes a data volume gets time to stop cleanly (`stop-grace-period`, a
/// warning): Docker kills it 10s after SIGTERM unless told otherwise.
fn grace_period(cx: &mut Cx<'_>, p: &SpecPath, name: &str, s: &RawService, period: Option<Duration>) {
    let raw = cx.raw;
    let keeps_data = s.mounts.iter().any(|m| {
        !m.read_only
            && m.volume
                .as_ref()
                .and_then(|v| raw.volumes.get(v))
                .is_some_and(|v| v.kind == VolumeKind::Data)
    });
    if !keeps_data || period.is_some_and(|d| d >= MIN_GRACE_PERIOD) {
        return;
    }
    let (path, now) = match period {
        Some(d) => (p.key("stop_grace_period"), d.to_string()),
        None => (p.clone(), "Docker's default 10s".to_owned()),
    };
    cx.report(
        crate::Diagnostic::new(
            Rule::StopGracePeriod,
            path,
            format!("`{name}` keeps data, and has {now} to stop before it is killed"),
        )
        .with_help("give it `stop_grace_period: 1m`, time to flush and close its files"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_sizes_read_as_the_datastores_read_them() {
        assert_eq!(redis_size("512mb").map(ByteSize::bytes), Some(512 << 20));
        assert_eq!(redis_size("1GB").map(ByteSize::bytes), Some(1 << 30));
        assert_eq!(redis_size("100").map(ByteSize::bytes), Some(100));
        assert_eq!(redis_size("1m").map(ByteSize::bytes), Some(1_000_000));
        assert_eq!(redis_size("lots"), None);
        assert_eq!(postgres_size("256MB").map(ByteSize::bytes), Some(256 << 20));
        assert_eq!(postgres_size("16384").map(ByteSize::bytes), Some(16384 * 8192));
        assert_eq!(postgres_size("256mb"), None, "PostgreSQL's units are case-sensitive");
    }

    #[test]
    fn memory_settings_leave_the_process_room() {
        let gb = |n: u64| ByteSize::from_bytes(n << 30);
        assert_eq!(
            (REDIS_MAXMEMORY.most)(ByteSize::from_bytes(512 << 20)).bytes(),
            384 << 20
        );
        assert_eq!((WIREDTIGER_CACHE.most)(gb(2)).bytes(), 512 << 20);
        assert_eq!((WIREDTIGER_CACHE.most)(gb(1)).bytes(), 256 << 20, "MongoDB's floor");
        assert_eq!((SHARED_BUFFERS.most)(gb(2)).bytes(), 512 << 20);
        let command: Vec<String> = ["postgres", "-c", "shared_buffers=256MB", "--maxmemory", "1gb"]
            .map(String::from)
            .to_vec();
        let found: Vec<(&str, usize)> = memory_settings_of(&command)
            .iter()
            .map(|(s, _, i)| (s.what, *i))
            .collect();
        assert_eq!(found, [("PostgreSQL's shared_buffers", 2), ("Redis's --maxmemory", 4)]);
    }
}
