//! `docker-compose.yml` and, when the stack has scale-out plans, `docker-compose.scale.yml`.
//!
//! Built as typed values and serialized (see [`crate::yaml`]). Keys are the ones both Compose v2
//! and docker-compose v1.29 accept (no top-level `name`, no `version`), so the real v1 parser
//! can check every rendered file in CI.

use indexmap::IndexMap;
use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::stack::{
    Condition, HealthTest, LogDriver, Mount, NetworkDriver, PidMode, Propagation, Restart, TextPart, Variable,
};
use vutler_spec::units::ByteSize;

use crate::configs::Configs;
use crate::runtime::{Container, EnvSource, Runtime, SecretFile};
use crate::{RenderError, Rendered, header, host_address, short_size, yaml};

pub use crate::{COMPOSE_FILE, SCALE_FILE};
/// The label carrying the hash of every config file mounted into a service, named after the
/// project (`vutler.config-hash`): a changed config changes it, so Compose recreates the service.
pub fn config_hash_label(stack: &Stack) -> String {
    format!("{}.config-hash", stack.project())
}

#[derive(Debug, Serialize)]
struct ComposeFile {
    services: IndexMap<String, ComposeService>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    networks: IndexMap<String, ComposeNetwork>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    volumes: IndexMap<String, Empty>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    secrets: IndexMap<String, ComposeSecret>,
}

#[derive(Debug, Default, Serialize)]
struct ComposeService {
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restart: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_grace_period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<&'static str>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    environment: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    depends_on: IndexMap<String, ComposeDependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<ComposeHealthcheck>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    networks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deploy: Option<ComposeDeploy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logging: Option<ComposeLogging>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    labels: IndexMap<String, String>,
}

#[derive(Debug, Serialize)]
struct ComposeDependency {
    condition: &'static str,
}

#[derive(Debug, Serialize)]
struct ComposeHealthcheck {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_period: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct ComposeDeploy {
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<ComposeResources>,
}

#[derive(Debug, Serialize)]
struct ComposeResources {
    limits: ComposeLimits,
}

#[derive(Debug, Serialize)]
struct ComposeLimits {
    cpus: String,
    memory: String,
}

#[derive(Debug, Serialize)]
struct ComposeLogging {
    driver: &'static str,
    options: IndexMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
struct ComposeNetwork {
    driver: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    internal: bool,
}

#[derive(Debug, Serialize)]
struct ComposeSecret {
    file: String,
}

/// Serializes as `{}`.
#[derive(Debug, Serialize)]
struct Empty {}

/// Adds the Compose files to the tree: every container of the runtime description, each
/// service labelled with the hash of the configs it mounts, so that a changed config recreates
/// its container.
pub fn render(runtime: &Runtime<'_>, configs: &Configs, tree: &mut Rendered) -> Result<(), RenderError> {
    let stack = runtime.stack();
    // Written a service at a time: the file of a stack of thousands of services is never held
    // as one tree (see `yaml::Sections`). The keys are those of `ComposeFile`, in its order.
    let mut out = yaml::Sections::new(false);
    let mut secrets: IndexMap<String, ComposeSecret> = IndexMap::new();
    for container in runtime.containers() {
        for secret in &container.secret_files {
            secrets.entry(secret.name()).or_insert_with(|| ComposeSecret {
                file: secret.host_path(),
            });
        }
        let rendered = self::service(stack, container, configs);
        out.entry("services", container.service.name.as_str(), &rendered)?;
    }
    if runtime.containers().is_empty() {
        out.value("services", &IndexMap::<String, ComposeService>::new())?;
    }
    for n in stack.networks() {
        let network = ComposeNetwork {
            driver: match n.driver {
                NetworkDriver::Bridge => "bridge",
            },
            internal: n.internal,
        };
        out.entry("networks", n.name.as_str(), &network)?;
    }
    for v in stack.volumes() {
        out.entry("volumes", v.name.as_str(), &Empty {})?;
    }
    for (name, secret) in &secrets {
        out.entry("secrets", name, secret)?;
    }
    let text = format!("{}{}", header(stack), out.finish());
    tree.insert(COMPOSE_FILE, text)?;

    if !stack.scaling().is_empty() {
        let scale = ComposeFile {
            services: stack
                .scaling()
                .iter()
                .map(|plan| {
                    let deploy = ComposeDeploy {
                        replicas: Some(plan.replicas),
                        resources: None,
                    };
                    (
                        stack.service(plan.service).name.to_string(),
                        ComposeService {
                            deploy: Some(deploy),
                            ..ComposeService::default()
                        },
                    )
                })
                .collect(),
            networks: IndexMap::new(),
            volumes: IndexMap::new(),
            secrets: IndexMap::new(),
        };
        let usage = format!(
            "# Merged over {COMPOSE_FILE}: .env sets COMPOSE_FILE={COMPOSE_FILE}:{SCALE_FILE}, and the scripts use both.\n"
        );
        tree.insert(
            SCALE_FILE,
            format!("{}{usage}{}", header(stack), yaml::to_string(&scale)?),
        )?;
    }
    Ok(())
}

fn service(stack: &Stack, c: &Container<'_>, configs: &Configs) -> ComposeService {
    let s = c.service;
    let mut out = ComposeService {
        // The version is required: a lost tag variable must not quietly deploy the spec's tag.
        image: Some(match c.image.tag_variable {
            Some(var) => format!(
                "{}:${{{name}:?{name} is required: set it in .env}}",
                c.image.image.repo(),
                name = var.name
            ),
            None => c.image.image.to_string(),
        }),
        container_name: s.container_name.as_ref().map(ToString::to_string),
        command: c.command.as_ref().map(|args| args.iter().map(|a| literal(a)).collect()),
        restart: Some(match c.restart {
            Restart::No => "no",
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::UnlessStopped => "unless-stopped",
        }),
        secrets: c.secret_files.iter().map(SecretFile::name).collect(),
        stop_grace_period: s.stop_grace_period.map(|d| d.to_string()),
        pid: s.pid.map(|p| match p {
            PidMode::Host => "host",
        }),
        ..ComposeService::default()
    };

    for env in &c.environment {
        let rendered = match env.value {
            EnvSource::Text(text) | EnvSource::WithSecrets(text) => text
                .parts()
                .iter()
                .map(|part| match part {
                    TextPart::Literal(text) => literal(text),
                    TextPart::Variable(var) => reference(stack.variable(*var)),
                })
                .collect(),
            EnvSource::SecretFile(file) => file.container_path(),
            // The image cannot read the secret from a file (or secrets come from .env): it is
            // passed from .env, and Compose refuses to start without it.
            EnvSource::Secret(variable) => reference(variable),
        };
        out.environment.insert(env.key.to_string(), rendered);
    }

    out.ports = c
        .ports
        .iter()
        .filter_map(|p| {
            let published = p.published?;
            let ip = host_address(published.host_ip);
            let protocol = p.protocol.as_str();
            Some(format!("{ip}:{}:{}/{protocol}", published.port, p.container))
        })
        .collect();

    out.volumes = s
        .mounts
        .iter()
        .map(|mount| {
            let (source, target, read_only, propagation) = match mount {
                Mount::Volume {
                    volume,
                    target,
                    read_only,
                } => (stack.volume(*volume).name.to_string(), target, *read_only, None),
                Mount::Bind {
                    source,
                    target,
                    read_only,
                    propagation,
                } => (source.to_string(), target, *read_only, *propagation),
                Mount::Config(config) => (format!("./{}", config.source), &config.target, true, None),
            };
            let mut options = Vec::new();
            if read_only {
                options.push("ro");
            }
            options.extend(propagation.map(|p| match p {
                Propagation::Rslave => "rslave",
                Propagation::Rprivate => "rprivate",
            }));
            match options.as_slice() {
                [] => format!("{source}:{target}"),
                _ => format!("{source}:{target}:{}", options.join(",")),
            }
        })
        .collect();
    if let Some(digest) = configs.hash(&c.configs) {
        out.labels.insert(config_hash_label(stack), digest);
    }

    out.depends_on = s
        .depends_on
        .iter()
        .map(|d| {
            let condition = match d.condition {
                Condition::ServiceHealthy => "service_healthy",
                Condition::ServiceStarted => "service_started",
                Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
            };
            (
                stack.service(d.service).name.to_string(),
                ComposeDependency { condition },
            )
        })
        .collect();

    out.healthcheck = c.probe.map(|h| ComposeHealthcheck {
        test: match &h.test {
            HealthTest::Exec(args) => std::iter::once("CMD".to_owned())
                .chain(args.iter().map(|a| literal(a)))
                .collect(),
            HealthTest::Shell(cmd) => vec!["CMD-SHELL".to_owned(), literal(cmd)],
        },
        interval: h.interval.to_string(),
        timeout: h.timeout.to_string(),
        retries: h.retries,
        start_period: h.start_period.map(|d| d.to_string()),
    });
    out.networks = s.networks.iter().map(|n| stack.network(*n).name.to_string()).collect();

    let resources = c.resources.map(|r| ComposeResources {
        limits: ComposeLimits {
            cpus: r.cpus.to_string(),
            memory: compose_size(r.memory),
        },
    });
    let replicas = (c.replicas > 1).then_some(c.replicas);
    if resources.is_some() || replicas.is_some() {
        out.deploy = Some(ComposeDeploy { replicas, resources });
    }
    out.logging = Some(ComposeLogging {
        driver: match c.logging.driver {
            LogDriver::JsonFile => "json-file",
            LogDriver::Local => "local",
        },
        options: IndexMap::from([
            ("max-size", compose_size(c.logging.max_size)),
            ("max-file", c.logging.max_file.to_string()),
        ]),
    });
    out
}

/// Text Compose must not interpolate: `$` is written `$$`.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// How a `.env` variable is read: with its default, as required (Compose refuses to start
/// without it), or as optional.
fn reference(v: &Variable) -> String {
    let name = &v.name;
    match &v.default {
        Some(default) => format!("${{{name}:-{default}}}"),
        None if !v.required => format!("${{{name}:-}}"),
        None => format!("${{{name}:?{name} is required: set it in .env}}"),
    }
}

/// Sizes as Compose writes them: `512m`, `4g`, `100b`.
fn compose_size(size: ByteSize) -> String {
    match short_size(size) {
        (n, "") => format!("{n}b"),
        (n, unit) => format!("{n}{unit}"),
    }
}
