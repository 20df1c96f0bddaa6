//! `docker-compose.yml` and, when the stack has scale-out plans, `docker-compose.scale.yml`.
//!
//! Built as typed values and serialized (see [`crate::yaml`]). Keys are the ones both Compose v2
//! and docker-compose v1.29 accept (no top-level `name`, no `version`), so the real v1 parser
//! can check every rendered file in CI.

use std::net::IpAddr;

use indexmap::IndexMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use vutler_spec::Stack;
use vutler_spec::interpolation::Part;
use vutler_spec::stack::{Condition, EnvValue, HealthTest, LogDriver, Mount, Restart, SecretsBackend, Service};
use vutler_spec::units::ByteSize;

use crate::{RenderError, Rendered, header, short_size, yaml};

/// Path of the Compose file in the rendered tree.
pub const COMPOSE_FILE: &str = "docker-compose.yml";
/// Path of the scale-out overlay.
pub const SCALE_FILE: &str = "docker-compose.scale.yml";
/// Label carrying the hash of every config file mounted into a service.
pub const CONFIG_HASH_LABEL: &str = "vutler.config-hash";
/// Folder (in the deployment) holding Docker secret files.
pub const SECRETS_DIR: &str = "secrets";

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

/// Adds the Compose files to the tree. Config files mounted into services must already be in it:
/// their hash goes on the service, so that a changed config recreates the container.
pub fn render(stack: &Stack, tree: &mut Rendered) -> Result<(), RenderError> {
    let mut file = ComposeFile {
        services: IndexMap::new(),
        networks: stack
            .networks
            .iter()
            .map(|(name, n)| {
                (
                    name.clone(),
                    ComposeNetwork {
                        driver: "bridge",
                        internal: n.internal,
                    },
                )
            })
            .collect(),
        volumes: stack.volumes.keys().map(|name| (name.clone(), Empty {})).collect(),
        secrets: IndexMap::new(),
    };
    for (name, service) in &stack.services {
        let rendered = self::service(stack, name, service, tree, &mut file.secrets)?;
        file.services.insert(name.clone(), rendered);
    }
    let text = format!("{}{}", header(stack), yaml::to_string(&file)?);
    tree.insert(COMPOSE_FILE, text)?;

    if !stack.scaling.is_empty() {
        let scale = ComposeFile {
            services: stack
                .scaling
                .iter()
                .map(|(name, plan)| {
                    let deploy = ComposeDeploy {
                        replicas: Some(plan.replicas),
                        resources: None,
                    };
                    (
                        name.clone(),
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
        let usage = format!("# Use with: docker compose -f {COMPOSE_FILE} -f {SCALE_FILE} up -d\n");
        tree.insert(
            SCALE_FILE,
            format!("{}{usage}{}", header(stack), yaml::to_string(&scale)?),
        )?;
    }
    Ok(())
}

fn service(
    stack: &Stack,
    name: &str,
    s: &Service,
    tree: &Rendered,
    secrets: &mut IndexMap<String, ComposeSecret>,
) -> Result<ComposeService, RenderError> {
    let command = match &s.command {
        Some(args) => Some(args.iter().map(|a| literal(a)).collect()),
        None if name == stack.monitoring.prometheus => Some(prometheus_command(stack, s)),
        None => None,
    };
    let mut out = ComposeService {
        image: Some(match &s.tag_variable {
            Some(var) => format!("{}:${{{var}:-{}}}", s.image.repo, s.image.tag),
            None => s.image.to_string(),
        }),
        container_name: s.container_name.clone(),
        command,
        restart: Some(match s.restart {
            Restart::No => "no",
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::UnlessStopped => "unless-stopped",
        }),
        ..ComposeService::default()
    };

    for (key, value) in &s.environment {
        let rendered = match value {
            EnvValue::Text(template) => template
                .0
                .iter()
                .map(|part| match part {
                    Part::Literal(text) => literal(text),
                    Part::Variable(var) => reference(stack, var),
                })
                .collect(),
            EnvValue::Secret {
                variable,
                file_env: Some(file_env),
            } if reads_secret_file(stack, value) => {
                let secret = attach_secret(variable, &mut out, secrets);
                out.environment
                    .insert(file_env.clone(), format!("/run/secrets/{secret}"));
                continue;
            }
            // The image cannot read the secret from a file (or secrets come from .env): it is
            // passed from .env, and Compose refuses to start without it.
            EnvValue::Secret { variable, .. } => reference(stack, variable),
        };
        out.environment.insert(key.clone(), rendered);
    }

    // Alertmanager cannot read the environment: its credentials are always secret files.
    if name == stack.monitoring.alertmanager.service {
        for variable in crate::alertmanager::secrets(stack) {
            attach_secret(variable, &mut out, secrets);
        }
    }

    out.ports = s
        .ports
        .iter()
        .filter_map(|p| {
            let published = p.published?;
            let ip = host_address(published.host_ip);
            let protocol = p.protocol.as_str();
            Some(format!("{ip}:{}:{}/{protocol}", published.port, p.container))
        })
        .collect();

    let mut hasher = Sha256::new();
    let mut configs = 0;
    for mount in &s.mounts {
        let (source, target, read_only) = match mount {
            Mount::Volume {
                name,
                target,
                read_only,
            } => (name.clone(), target, *read_only),
            Mount::Bind {
                source,
                target,
                read_only,
            } => (source.clone(), target, *read_only),
            Mount::Config { path, target } => {
                // A rendered file, or a rendered folder (every file under it).
                let files: Vec<(&str, &str)> = match tree.get(path) {
                    Some(contents) => vec![(path.as_str(), contents)],
                    None => tree.under(path).collect(),
                };
                if files.is_empty() {
                    return Err(RenderError::MissingConfig {
                        service: name.to_owned(),
                        path: path.clone(),
                    });
                }
                for (file, contents) in files {
                    hasher.update(file.as_bytes());
                    hasher.update([0]);
                    hasher.update(contents.as_bytes());
                    hasher.update([0]);
                }
                configs += 1;
                (format!("./{path}"), target, true)
            }
        };
        out.volumes
            .push(format!("{source}:{target}{}", if read_only { ":ro" } else { "" }));
    }
    if configs > 0 {
        let digest = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>();
        out.labels.insert(CONFIG_HASH_LABEL.to_owned(), digest);
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
            (d.service.clone(), ComposeDependency { condition })
        })
        .collect();

    out.healthcheck = s.healthcheck.as_ref().map(|h| ComposeHealthcheck {
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
    out.networks = s.networks.clone();

    let resources = s.resources.map(|r| ComposeResources {
        limits: ComposeLimits {
            cpus: r.cpus.to_string(),
            memory: compose_size(r.memory),
        },
    });
    let replicas = (s.replicas > 1).then_some(s.replicas);
    if resources.is_some() || replicas.is_some() {
        out.deploy = Some(ComposeDeploy { replicas, resources });
    }
    out.logging = Some(ComposeLogging {
        driver: match s.logging.driver {
            LogDriver::JsonFile => "json-file",
            LogDriver::Local => "local",
        },
        options: IndexMap::from([
            ("max-size", compose_size(s.logging.max_size)),
            ("max-file", s.logging.max_file.to_string()),
        ]),
    });
    Ok(out)
}

/// Prometheus's command line: the rendered configuration where the service mounts it, the data
/// volume, and the retention of the model (seed 5.1: 30 days).
fn prometheus_command(stack: &Stack, s: &Service) -> Vec<String> {
    let config = s
        .mounts
        .iter()
        .find_map(|m| match m {
            Mount::Config { path, target } if path == crate::prometheus::CONFIG => Some(target.as_str()),
            _ => None,
        })
        .unwrap_or("/etc/prometheus/prometheus.yml");
    let data = s
        .mounts
        .iter()
        .find_map(|m| match m {
            Mount::Volume { target, .. } => Some(target.as_str()),
            _ => None,
        })
        .unwrap_or("/prometheus");
    vec![
        format!("--config.file={config}"),
        format!("--storage.tsdb.path={data}"),
        format!("--storage.tsdb.retention.time={}", stack.monitoring.retention),
    ]
}

/// Whether a container reads this secret from a Docker secret file (the `docker` backend and an
/// image with a `*_FILE` variable) rather than from `.env`.
pub(crate) fn reads_secret_file(stack: &Stack, value: &EnvValue) -> bool {
    matches!(value, EnvValue::Secret { file_env: Some(_), .. }) && stack.secrets_backend == SecretsBackend::Docker
}

/// Gives a service the Docker secret holding a secret variable (declared once at the top level,
/// from `./secrets/<name>`); returns the secret's name.
fn attach_secret(
    variable: &str,
    service: &mut ComposeService,
    secrets: &mut IndexMap<String, ComposeSecret>,
) -> String {
    let secret = secret_name(variable);
    secrets.entry(secret.clone()).or_insert_with(|| ComposeSecret {
        file: format!("./{SECRETS_DIR}/{secret}"),
    });
    if !service.secrets.contains(&secret) {
        service.secrets.push(secret.clone());
    }
    secret
}

/// A host address as Compose and ufw write it next to a port (`[::1]` for IPv6).
pub fn host_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// Text Compose must not interpolate: `$` is written `$$`.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// How a `.env` variable is read: with its default, as required (Compose refuses to start
/// without it), or as optional.
fn reference(stack: &Stack, variable: &str) -> String {
    match stack.variables.get(variable) {
        Some(v) if v.default.is_some() => format!("${{{variable}:-{}}}", v.default.as_deref().unwrap_or_default()),
        Some(v) if !v.required => format!("${{{variable}:-}}"),
        _ => format!("${{{variable}:?{variable} is required: set it in .env}}"),
    }
}

/// The Docker secret (and its file under `secrets/`) holding a secret variable.
pub fn secret_name(variable: &str) -> String {
    variable.to_ascii_lowercase()
}

/// Sizes as Compose writes them: `512m`, `4g`, `100b`.
fn compose_size(size: ByteSize) -> String {
    match short_size(size) {
        (n, "") => format!("{n}b"),
        (n, unit) => format!("{n}{unit}"),
    }
}
