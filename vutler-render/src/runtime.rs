//! The runtime description: what each service's containers run, computed once from the
//! [`Stack`] and read by every target.
//!
//! Facts that hold whatever runs the containers live here and nowhere else: the command line
//! (Prometheus's is rendered from the model), where each environment value comes from (text, a
//! variable of `.env`, a secret passed as a variable, or a secret read from a file), which
//! secret files a container needs and where it finds them, the rendered configs it mounts, its
//! ports, probe, resources, restart and logging policy, and its replicas. The Compose renderer
//! writes this description as a Compose file; the operations scripts and `.env.example` read
//! it; a Kubernetes renderer writes the same description as manifests. No renderer asks another
//! renderer.

use vutler_spec::Stack;
use vutler_spec::stack::{
    ConfigMount, EnvRef, EnvValue, Healthcheck, Logging, Mount, Port, Resources, Restart, SecretsBackend, Service,
    ServiceId, Text, Variable, VariableId, WalArchive,
};
use vutler_spec::text::{EnvName, Image};

/// Folder of the deployment holding one file per Docker secret.
pub const SECRETS_DIR: &str = "secrets";
/// Folder in which a container finds its secret files.
pub const SECRETS_MOUNT: &str = "/run/secrets";

/// Every service's containers, in spec order.
#[derive(Debug, Clone)]
pub struct Runtime<'s> {
    stack: &'s Stack,
    containers: Vec<Container<'s>>,
}

/// What one service runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Container<'s> {
    /// The service of the model.
    pub service: &'s Service,
    /// The image, and the variable that overrides its tag at deploy time.
    pub image: ImageSource<'s>,
    /// Arguments, when the image's own command is not used.
    pub command: Option<Vec<String>>,
    /// Environment, in spec order; a secret read from a file appears under its `*_FILE` key.
    pub environment: Vec<Env<'s>>,
    /// Every secret file the container reads, in the order it first needs them.
    pub secret_files: Vec<SecretFile<'s>>,
    /// Rendered configs it mounts, in mount order (the order their hash is taken in).
    pub configs: Vec<&'s ConfigMount>,
    /// Ports it listens on, and where they are published.
    pub ports: &'s [Port],
    /// How its health is checked.
    pub probe: Option<&'s Healthcheck>,
    /// What it is sized for.
    pub resources: Option<Resources>,
    /// When it is restarted.
    pub restart: Restart,
    /// Log driver and rotation.
    pub logging: &'s Logging,
    /// Containers of the service without the scale-out plan.
    pub replicas: u32,
    /// Containers with the scale-out plan, when the service has one.
    pub scaled_replicas: Option<u32>,
}

/// An image and the variable that overrides its tag.
#[derive(Debug, Clone, Copy)]
pub struct ImageSource<'s> {
    /// The image, whose tag is the variable's default.
    pub image: &'s Image,
    /// The variable of `.env` that sets the tag at deploy time.
    pub tag_variable: Option<&'s Variable>,
}

/// A variable of a container's environment.
#[derive(Debug, Clone, Copy)]
pub struct Env<'s> {
    /// Its name in the container.
    pub key: &'s EnvName,
    /// Where its value comes from.
    pub value: EnvSource<'s>,
}

/// Where an environment value comes from.
#[derive(Debug, Clone, Copy)]
pub enum EnvSource<'s> {
    /// Text, with references to plain variables of `.env`.
    Text(&'s Text),
    /// A secret variable of `.env`, passed as the value (the image cannot read a file, or the
    /// environment keeps secrets in `.env`).
    Secret(&'s Variable),
    /// The path of the secret file holding a secret variable.
    SecretFile(SecretFile<'s>),
    /// Text with references to secret variables too, filled in from `.env` (a connection
    /// string with its password).
    WithSecrets(&'s Text),
}

/// A secret variable delivered as a file.
#[derive(Debug, Clone, Copy)]
pub struct SecretFile<'s> {
    /// The secret variable.
    pub variable: &'s Variable,
}

impl Container<'_> {
    /// Containers of the service at most: with its scale-out plan (which never runs fewer than
    /// the service), or without one.
    pub fn max_replicas(&self) -> u32 {
        match self.scaled_replicas {
            Some(scaled) => scaled,
            None => self.replicas,
        }
    }
}

impl SecretFile<'_> {
    /// The secret's name (`postgres_password`), also its file name.
    pub fn name(&self) -> String {
        self.variable.name.to_ascii_lowercase()
    }

    /// The file in the deployment folder (`./secrets/postgres_password`).
    pub fn host_path(&self) -> String {
        format!("./{SECRETS_DIR}/{}", self.name())
    }

    /// Where the container reads it (`/run/secrets/postgres_password`).
    pub fn container_path(&self) -> String {
        format!("{SECRETS_MOUNT}/{}", self.name())
    }
}

/// How a script running inside a service's container reads one of its environment variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InContainer<'s> {
    /// From the variable itself.
    Variable(&'s EnvName),
    /// From the secret file whose path this variable holds (`POSTGRES_PASSWORD_FILE`).
    File(&'s EnvName),
}

impl<'s> Runtime<'s> {
    /// Describes every service of the stack.
    pub fn new(stack: &'s Stack) -> Self {
        let containers = stack.services().iter().map(|s| container(stack, s)).collect();
        Self { stack, containers }
    }

    /// The stack described.
    pub fn stack(&self) -> &'s Stack {
        self.stack
    }

    /// Every service's containers, in spec order.
    pub fn containers(&self) -> &[Container<'s>] {
        &self.containers
    }

    /// One service's containers.
    pub fn container(&self, id: ServiceId) -> &Container<'s> {
        &self.containers[id.index()]
    }

    /// The secret file delivering a secret variable, wherever a container reads it.
    pub fn secret_file(&self, variable: VariableId) -> SecretFile<'s> {
        SecretFile {
            variable: self.stack.variable(variable),
        }
    }

    /// How a script running in the service's container reads one of its variables.
    pub fn in_container(&self, var: EnvRef) -> InContainer<'s> {
        let v = self.stack.env_var(var);
        match &v.value {
            EnvValue::Secret {
                file_env: Some(file), ..
            } if reads_files(self.stack) => InContainer::File(file),
            _ => InContainer::Variable(&v.key),
        }
    }
}

/// Whether a service may run several containers, each to be scraped: it has replicas or a
/// scale-out plan, or it is the app behind the proxy (which update.sh runs twice while it rolls
/// and operators scale), or on Kubernetes it is a node agent (sharing the host's processes),
/// which runs on every node. Its name is then resolved to every container's address (DNS
/// service discovery: Docker's DNS, or a headless Service) rather than to one per scrape.
pub fn several_containers(stack: &Stack, service: ServiceId) -> bool {
    let s = stack.service(service);
    s.replicas > 1
        || stack.scale_of(service).is_some_and(|p| p.replicas > 1)
        || stack.edge().upstream.service == service
        || (stack.kubernetes().is_some() && vutler_spec::stack::Kubernetes::on_every_node(s))
}

/// The DNS name that resolves to the address of every container of a service: its name on
/// Compose (Docker's DNS), on Kubernetes its headless `<name>-pods` Service, which lists pods
/// that are not ready too, so that Prometheus scrapes (and reports down) a failing one.
pub fn every_container_name(stack: &Stack, service: ServiceId) -> String {
    let name = &stack.service(service).name;
    match stack.kubernetes() {
        Some(_) => format!("{name}-pods"),
        None => name.to_string(),
    }
}

/// Whether images that can read a secret from a file get one: with the `docker` backend, and
/// on Kubernetes, where Secrets are mounted as files.
fn reads_files(stack: &Stack) -> bool {
    stack.secrets_backend() == SecretsBackend::Docker || stack.kubernetes().is_some()
}

fn container<'s>(stack: &'s Stack, s: &'s Service) -> Container<'s> {
    let mut secret_files: Vec<SecretFile<'s>> = Vec::new();
    let mut attach = |variable: &'s Variable| {
        let file = SecretFile { variable };
        if !secret_files.iter().any(|f| f.variable.id == variable.id) {
            secret_files.push(file);
        }
        file
    };
    let environment = s
        .environment
        .iter()
        .map(|v| match &v.value {
            EnvValue::Text(text) => Env {
                key: &v.key,
                value: EnvSource::Text(text),
            },
            EnvValue::Secret {
                variable,
                file_env: Some(file_env),
            } if reads_files(stack) => Env {
                key: file_env,
                value: EnvSource::SecretFile(attach(stack.variable(*variable))),
            },
            EnvValue::Secret { variable, .. } => Env {
                key: &v.key,
                value: EnvSource::Secret(stack.variable(*variable)),
            },
            EnvValue::WithSecrets(text) => Env {
                key: &v.key,
                value: EnvSource::WithSecrets(text),
            },
        })
        .collect();
    let monitoring = stack.monitoring();
    let prometheus = monitoring.filter(|m| m.prometheus.service == s.id);
    // Prometheus and Alertmanager cannot read the environment: the scrape jobs' and the
    // receivers' credentials are secret files in every environment.
    for j in prometheus
        .iter()
        .flat_map(|m| &m.scrape_jobs)
        .filter_map(|j| j.auth.as_ref())
    {
        attach(stack.variable(j.secret()));
    }
    if let Some(am) = stack.alertmanager().filter(|am| am.service() == s.id) {
        for r in &am.receivers {
            if let Some(secret) = r.kind.secret() {
                attach(stack.variable(secret));
            }
        }
    }
    let command = if let Some(monitoring) = prometheus {
        let p = &monitoring.prometheus;
        Some(vec![
            format!("--config.file={}", p.config_path),
            format!("--storage.tsdb.path={}", p.storage_path),
            format!("--storage.tsdb.retention.time={}", monitoring.retention),
        ])
    } else {
        let mut command: Option<Vec<String>> = s
            .command
            .as_ref()
            .map(|args| args.iter().map(ToString::to_string).collect());
        // A backup job's WAL archiving: the server's archive settings. Not on Kubernetes, where
        // nothing in the pod would ship and prune the archive (`kubernetes-backups`).
        if let Some(wal) = stack
            .backup_jobs()
            .iter()
            .filter(|j| j.service == s.id && stack.kubernetes().is_none())
            .find_map(|j| j.wal())
        {
            command
                .get_or_insert_with(|| vec!["postgres".to_owned()])
                .extend(wal_settings(wal));
        }
        command
    };
    Container {
        service: s,
        image: ImageSource {
            image: &s.image,
            tag_variable: s.tag_variable.map(|v| stack.variable(v)),
        },
        command,
        environment,
        secret_files,
        configs: s
            .mounts
            .iter()
            .filter_map(|m| match m {
                Mount::Config(c) => Some(c),
                _ => None,
            })
            .collect(),
        ports: &s.ports,
        probe: s.healthcheck.as_ref(),
        resources: s.resources,
        restart: s.restart,
        logging: &s.logging,
        replicas: s.replicas,
        scaled_replicas: stack.scale_of(s.id).map(|p| p.replicas),
    }
}

/// PostgreSQL's settings for a job's WAL archiving, as `-c` options: each finished segment is
/// compressed into the archive folder (written under a temporary name, then renamed); a segment
/// already there is accepted only when it holds the same WAL, as PostgreSQL's documentation asks
/// of an archive command, so a retry after a crash neither fails forever nor overwrites.
pub fn wal_settings(wal: &WalArchive) -> Vec<String> {
    let dir = &wal.dir;
    let archive = format!(
        "mkdir -p {dir} && if [ -f {dir}/%f.gz ]; then gzip -dc {dir}/%f.gz | cmp -s - %p; \
         else gzip -c %p > {dir}/%f.gz.tmp && mv {dir}/%f.gz.tmp {dir}/%f.gz; fi"
    );
    vec![
        "-c".to_owned(),
        "archive_mode=on".to_owned(),
        "-c".to_owned(),
        format!("archive_timeout={}s", wal.switch_after.secs()),
        "-c".to_owned(),
        format!("archive_command={archive}"),
    ]
}
