//! The validated model that renderers take.
//!
//! A [`Stack`] can only be obtained from [`crate::resolve`], which checks every invariant first:
//! every reference resolves, every unit is parsed, every name and path matches its grammar. A
//! renderer may therefore index `stack.services[name]` for any name the stack hands out.

use std::net::IpAddr;

use indexmap::IndexMap;

use crate::interpolation::Template;
pub use crate::raw::{
    AlertSeverity, BackupMethod, CertificateSource, Condition, FirewallPolicy, LogDriver, NetworkDriver, PanelKind,
    Protocol, Restart, SecretsBackend, VolumeKind,
};
use crate::units::{ByteSize, Cpus, Duration, Schedule};

/// The whole stack of one environment, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// Environment name (`dev`, `staging`, `production`).
    pub env: String,
    /// Compose project name.
    pub project: String,
    /// Public domain name.
    pub domain: String,
    /// Name of the VM the environment runs on (a key of `vms`).
    pub target_vm: String,
    /// How secrets reach containers.
    pub secrets_backend: SecretsBackend,
    /// VM sizes.
    pub vms: IndexMap<String, Vm>,
    /// Monthly costs besides the VM.
    pub costs: IndexMap<String, Cost>,
    /// Variables of `.env`.
    pub variables: IndexMap<String, Variable>,
    /// Docker networks.
    pub networks: IndexMap<String, Network>,
    /// Named volumes.
    pub volumes: IndexMap<String, Volume>,
    /// Services.
    pub services: IndexMap<String, Service>,
    /// The reverse proxy.
    pub edge: Edge,
    /// TLS termination.
    pub tls: Tls,
    /// Host firewall.
    pub firewall: Firewall,
    /// Monitoring and alerting.
    pub monitoring: Monitoring,
    /// Backups.
    pub backups: Backups,
    /// Operations scripts.
    pub operations: Operations,
    /// Scale-out plans by service.
    pub scaling: IndexMap<String, Scale>,
}

impl Stack {
    /// The VM this environment runs on.
    pub fn vm(&self) -> &Vm {
        &self.vms[&self.target_vm]
    }

    /// `service:port` of a service's named port, as other containers reach it on the Docker
    /// network; `None` only for names the stack does not have (every reference in a validated
    /// stack resolves).
    pub fn endpoint(&self, service: &str, port: &str) -> Option<String> {
        let number = self.services.get(service)?.port(port)?.container;
        Some(format!("{service}:{number}"))
    }

    /// The resource totals against the VM, or `None` when `target_vm` names no VM (which a
    /// validated stack never does).
    pub fn capacity(&self) -> Option<Capacity> {
        Some(Capacity {
            vm: self.vms.get(&self.target_vm)?.resources(),
            base: self.totals(),
            scaled: self.scaled_totals(),
        })
    }

    /// Sum of the resources of every service, replicas counted, without scale-out plans.
    pub fn totals(&self) -> Resources {
        self.totals_with(|_| None)
    }

    /// Sum of the resources with every scale-out plan applied.
    pub fn scaled_totals(&self) -> Resources {
        self.totals_with(|name| self.scaling.get(name).map(|s| s.replicas))
    }

    fn totals_with(&self, replicas: impl Fn(&str) -> Option<u32>) -> Resources {
        let mut total = Resources::default();
        for (name, s) in &self.services {
            if let Some(r) = &s.resources {
                let n = replicas(name).unwrap_or(s.replicas);
                total.cpus = total.cpus + r.cpus * n;
                total.memory = total.memory + r.memory * n;
                // Replicas share their volumes: disk is counted once.
                total.disk = total.disk + r.disk;
            }
        }
        total
    }
}

/// A VM size.
#[derive(Debug, Clone, PartialEq)]
pub struct Vm {
    /// What the size is for.
    pub description: String,
    /// vCPUs.
    pub cpus: Cpus,
    /// Memory.
    pub memory: ByteSize,
    /// Disk.
    pub disk: ByteSize,
    /// Monthly cost.
    pub monthly_usd: CostRange,
}

impl Vm {
    /// The VM's size as resources.
    pub fn resources(&self) -> Resources {
        Resources {
            cpus: self.cpus,
            memory: self.memory,
            disk: self.disk,
        }
    }
}

/// The resources a stack needs against the VM it runs on (seed 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// What the VM has.
    pub vm: Resources,
    /// What the services need, replicas counted.
    pub base: Resources,
    /// What they need with every scale-out plan applied (equal to `base` without plans).
    pub scaled: Resources,
}

impl Capacity {
    /// Every resource the stack needs more of than the VM has: first without the scale-out
    /// plans, then with them (only where they change the totals).
    pub fn shortfalls(&self) -> Vec<Shortfall> {
        let mut out = Vec::new();
        for (scaled, need) in [(false, self.base), (true, self.scaled)] {
            if scaled && need == self.base {
                continue;
            }
            let over = [
                (Resource::Cpus, need.cpus > self.vm.cpus),
                (Resource::Memory, need.memory > self.vm.memory),
                (Resource::Disk, need.disk > self.vm.disk),
            ];
            out.extend(
                over.into_iter()
                    .filter(|(_, over)| *over)
                    .map(|(resource, _)| Shortfall { resource, scaled, need }),
            );
        }
        out
    }

    /// Whether the stack fits the VM, scale-out plans included.
    pub fn fits(&self) -> bool {
        self.shortfalls().is_empty()
    }
}

/// One of the resources a VM provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// vCPUs.
    Cpus,
    /// Memory.
    Memory,
    /// Disk.
    Disk,
}

impl Resource {
    /// `cpus`, `memory` or `disk`, as the spec names them.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Cpus => "cpus",
            Resource::Memory => "memory",
            Resource::Disk => "disk",
        }
    }
}

/// A resource the stack needs more of than its VM has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    /// Which resource.
    pub resource: Resource,
    /// Whether only the scale-out plans make it short.
    pub scaled: bool,
    /// The totals that do not fit (`Capacity::base` or `Capacity::scaled`).
    pub need: Resources,
}

/// A monthly cost line.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// What is paid for.
    pub description: String,
    /// How much.
    pub monthly_usd: CostRange,
}

/// A cost range in whole US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CostRange {
    /// Lowest.
    pub min: u32,
    /// Highest (equal to `min` for an exact cost).
    pub max: u32,
}

/// A variable of `.env`.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// Comment in `.env.example`.
    pub description: String,
    /// Heading in `.env.example`.
    pub group: String,
    /// Whether the value is a secret.
    pub secret: bool,
    /// Default value (never set on secrets).
    pub default: Option<String>,
    /// Whether the stack refuses to start without it.
    pub required: bool,
    /// Placeholder for `.env.example`.
    pub example: Option<String>,
}

/// A Docker network.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Driver.
    pub driver: NetworkDriver,
    /// Whether it has no route outside.
    pub internal: bool,
}

/// A named volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// What it holds.
    pub kind: VolumeKind,
    /// Description.
    pub description: String,
}

/// A service.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// What it does.
    pub description: String,
    /// Image with a pinned tag.
    pub image: Image,
    /// Variable overriding the tag at deploy time.
    pub tag_variable: Option<String>,
    /// Fixed container name (only with one replica).
    pub container_name: Option<String>,
    /// Restart policy.
    pub restart: Restart,
    /// Command arguments.
    pub command: Option<Vec<String>>,
    /// Container environment, in spec order.
    pub environment: IndexMap<String, EnvValue>,
    /// Ports it listens on.
    pub ports: Vec<Port>,
    /// Mounts.
    pub mounts: Vec<Mount>,
    /// Start-up dependencies.
    pub depends_on: Vec<Dependency>,
    /// Healthcheck.
    pub healthcheck: Option<Healthcheck>,
    /// Networks joined.
    pub networks: Vec<String>,
    /// Number of containers.
    pub replicas: u32,
    /// Resources (absent only in dev).
    pub resources: Option<Resources>,
    /// Log driver and rotation.
    pub logging: Logging,
    /// Whether it gets `up == 0` / `absent` alerts.
    pub critical: bool,
}

impl Service {
    /// The port with this name.
    pub fn port(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.name == name)
    }
}

/// An image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Repository.
    pub repo: String,
    /// Tag (never `latest`).
    pub tag: String,
}

impl Image {
    /// Whether the tag is a valid tag other than `latest`.
    pub fn is_pinned(&self) -> bool {
        crate::grammar::image_tag(&self.tag).is_ok() && self.tag != "latest"
    }
}

impl std::fmt::Display for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.repo, self.tag)
    }
}

/// A container environment value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// Text with references to non-secret variables of `.env` (`${DOMAIN}` and `${PROJECT}`
    /// are already replaced by their values).
    Text(Template),
    /// A secret variable.
    Secret {
        /// Name of the secret variable.
        variable: String,
        /// Image variable reading it from a file.
        file_env: Option<String>,
    },
}

/// A port a service listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Name.
    pub name: String,
    /// Port in the container.
    pub container: u16,
    /// Where it is published on the host, if anywhere.
    pub published: Option<Published>,
    /// Protocol.
    pub protocol: Protocol,
}

/// A published host port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Host address.
    pub host_ip: IpAddr,
    /// Host port.
    pub port: u16,
}

impl Published {
    /// Whether the port is reachable from other machines (not only loopback).
    pub fn is_public(&self) -> bool {
        !self.host_ip.is_loopback()
    }
}

/// A mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A named volume.
    Volume {
        /// Volume name.
        name: String,
        /// Container path.
        target: String,
        /// Read-only.
        read_only: bool,
    },
    /// A host path.
    Bind {
        /// Host path.
        source: String,
        /// Container path.
        target: String,
        /// Read-only.
        read_only: bool,
    },
    /// A rendered config file, read-only.
    Config {
        /// Path in the rendered tree.
        path: String,
        /// Container path.
        target: String,
    },
}

impl Mount {
    /// Container path.
    pub fn target(&self) -> &str {
        match self {
            Mount::Volume { target, .. } | Mount::Bind { target, .. } | Mount::Config { target, .. } => target,
        }
    }
}

/// A start-up dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Service depended on.
    pub service: String,
    /// What to wait for.
    pub condition: Condition,
}

/// A healthcheck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// The check.
    pub test: HealthTest,
    /// Time between checks.
    pub interval: Duration,
    /// Time a check may take.
    pub timeout: Duration,
    /// Failures before unhealthy.
    pub retries: u32,
    /// Grace period after start.
    pub start_period: Option<Duration>,
}

/// The command of a healthcheck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTest {
    /// Run without a shell.
    Exec(Vec<String>),
    /// Run by `/bin/sh -c`.
    Shell(String),
}

/// CPU, memory and disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// CPUs.
    pub cpus: Cpus,
    /// Memory.
    pub memory: ByteSize,
    /// Disk.
    pub disk: ByteSize,
}

/// Log driver and rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logging {
    /// Driver.
    pub driver: LogDriver,
    /// Rotation size.
    pub max_size: ByteSize,
    /// Rotated files kept.
    pub max_file: u32,
}

/// The reverse proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Proxy service.
    pub proxy: String,
    /// Upstream service.
    pub upstream: String,
    /// Upstream port name.
    pub upstream_port: String,
    /// Largest request body.
    pub max_body_size: ByteSize,
    /// Idle timeout of proxied connections.
    pub read_timeout: Duration,
    /// Folder of ACME challenge files in the proxy.
    pub acme_root: String,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsProtocol {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsProtocol {
    /// The name NGINX and OpenSSL use.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsProtocol::Tls12 => "TLSv1.2",
            TlsProtocol::Tls13 => "TLSv1.3",
        }
    }
}

/// TLS termination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// Protocols offered.
    pub protocols: Vec<TlsProtocol>,
    /// TLSv1.2 ciphers.
    pub ciphers: Vec<String>,
    /// Prefer server cipher order.
    pub prefer_server_ciphers: bool,
    /// Shared session cache size.
    pub session_cache: ByteSize,
    /// Session lifetime.
    pub session_timeout: Duration,
    /// OCSP stapling.
    pub stapling: bool,
    /// HSTS.
    pub hsts: Hsts,
    /// Certificate.
    pub certificate: Certificate,
}

/// HSTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hsts {
    /// `max-age`.
    pub max_age: Duration,
    /// `includeSubDomains`.
    pub include_subdomains: bool,
    /// `preload`.
    pub preload: bool,
}

/// Certificate files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Issuer.
    pub source: CertificateSource,
    /// Host folder.
    pub host_dir: String,
    /// Folder in the proxy container.
    pub mount_dir: String,
    /// Chain file name.
    pub cert_file: String,
    /// Key file name.
    pub key_file: String,
}

impl Certificate {
    /// Path of the chain in the proxy container.
    pub fn cert_path(&self) -> String {
        format!("{}/{}", self.mount_dir, self.cert_file)
    }

    /// Path of the key in the proxy container.
    pub fn key_path(&self) -> String {
        format!("{}/{}", self.mount_dir, self.key_file)
    }
}

/// Host firewall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    /// Incoming default.
    pub default_incoming: FirewallPolicy,
    /// Outgoing default.
    pub default_outgoing: FirewallPolicy,
    /// Opened ports.
    pub allow: Vec<FirewallRule>,
    /// Explicitly closed ports.
    pub deny: Vec<FirewallRule>,
}

/// A firewall rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallRule {
    /// Name.
    pub name: String,
    /// Port.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

/// Monitoring.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitoring {
    /// Prometheus service.
    pub prometheus: String,
    /// Scrape interval.
    pub scrape_interval: Duration,
    /// Rule evaluation interval.
    pub evaluation_interval: Duration,
    /// Metrics retention.
    pub retention: Duration,
    /// Scrape jobs by name.
    pub scrape_jobs: IndexMap<String, ScrapeJob>,
    /// Alert groups.
    pub alert_groups: Vec<AlertGroup>,
    /// Alertmanager.
    pub alertmanager: Alertmanager,
    /// Grafana.
    pub grafana: Grafana,
}

/// A scrape job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeJob {
    /// Service scraped.
    pub service: String,
    /// Port name.
    pub port: String,
    /// HTTP path.
    pub path: String,
    /// Metrics produced.
    pub metrics: Vec<String>,
    /// The service whose health the job reports (the scraped service unless an exporter).
    pub monitors: String,
}

/// An alert group.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertGroup {
    /// Name.
    pub name: String,
    /// Evaluation interval.
    pub interval: Option<Duration>,
    /// Rules.
    pub rules: Vec<AlertRule>,
}

/// An alerting rule, its expression checked to be valid PromQL.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Alert name.
    pub name: String,
    /// PromQL expression, as written.
    pub expr: String,
    /// Pending duration.
    pub for_: Option<Duration>,
    /// Severity.
    pub severity: AlertSeverity,
    /// Summary annotation.
    pub summary: String,
    /// Description annotation.
    pub description: Option<String>,
}

/// Alertmanager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alertmanager {
    /// Service.
    pub service: String,
    /// Port name alerts are sent to.
    pub port: String,
    /// Receivers by name.
    pub receivers: IndexMap<String, Receiver>,
    /// Fallback receiver.
    pub default_receiver: String,
    /// Routes.
    pub routes: Vec<Route>,
}

/// An alert receiver; credentials are named variables, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receiver {
    /// Slack webhook.
    Slack {
        /// Channel.
        channel: String,
        /// Secret variable with the webhook URL.
        webhook_url_secret: String,
    },
    /// PagerDuty Events API v2.
    Pagerduty {
        /// Secret variable with the routing key.
        routing_key_secret: String,
    },
}

/// A route by severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Severity.
    pub severity: AlertSeverity,
    /// Receivers.
    pub receivers: Vec<String>,
}

/// Grafana.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grafana {
    /// Service.
    pub service: String,
    /// Datasources by name.
    pub datasources: IndexMap<String, Datasource>,
    /// Dashboards by file name.
    pub dashboards: IndexMap<String, Dashboard>,
}

/// A datasource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datasource {
    /// uid.
    pub uid: String,
    /// Service.
    pub service: String,
    /// Port name.
    pub port: String,
    /// Default datasource.
    pub default: bool,
}

/// A dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    /// Title.
    pub title: String,
    /// uid.
    pub uid: String,
    /// Panels.
    pub panels: Vec<Panel>,
}

/// A panel; its datasource is resolved to a key of `datasources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    /// Title.
    pub name: String,
    /// Visualisation.
    pub kind: PanelKind,
    /// Unit.
    pub unit: Option<String>,
    /// Datasource name.
    pub datasource: String,
    /// Queries.
    pub queries: Vec<Query>,
}

/// A panel query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// PromQL.
    pub expr: String,
    /// Legend.
    pub legend: Option<String>,
}

/// Backups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backups {
    /// Local staging folder.
    pub local_dir: String,
    /// Upload destination.
    pub destination: String,
    /// Staleness threshold for the alert.
    pub stale_after: Duration,
    /// Secret variables with the destination's credentials.
    pub credentials: Option<BackupCredentials>,
    /// Host folder of node-exporter's textfile collector.
    pub textfile_dir: Option<String>,
    /// Jobs by name.
    pub jobs: IndexMap<String, BackupJob>,
}

/// Names of the secret variables holding the backup destination's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCredentials {
    /// Access key id variable.
    pub access_key_id: String,
    /// Secret access key variable.
    pub secret_access_key: String,
}

/// Metric `backup.sh` writes through node-exporter's textfile collector after each successful
/// job, labelled `backup="<job>"`; the derived stale-backup alerts watch it.
pub const BACKUP_METRIC: &str = "vutler_backup_last_success_timestamp_seconds";

/// A backup job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupJob {
    /// Service.
    pub service: String,
    /// Volume.
    pub volume: String,
    /// How the data is dumped, with exactly what the method reads.
    pub dump: Dump,
    /// Schedule.
    pub schedule: Schedule,
    /// Retention.
    pub retention: Duration,
}

/// How a backup job dumps its service's data. Credentials are named by the variables of the
/// service's environment that hold them (`*_env`), never given as values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dump {
    /// `pg_dump` of one database, over the container's local socket (no password).
    PgDump {
        /// Database.
        database: String,
        /// Variable with the user.
        user_env: String,
    },
    /// `mongodump --archive` of one database, or of all of them.
    Mongodump {
        /// Database, or every one.
        database: Option<String>,
        /// Variable with the user.
        user_env: String,
        /// Variable with the password.
        password_env: String,
    },
    /// `mc mirror` of every bucket, through the service's S3 API.
    MinioMirror {
        /// Variable with the user (access key).
        user_env: String,
        /// Variable with the password (secret key).
        password_env: String,
        /// Name of the S3 API port.
        port: String,
    },
}

impl Dump {
    /// The method, as specs name it.
    pub fn method(&self) -> BackupMethod {
        match self {
            Dump::PgDump { .. } => BackupMethod::PgDump,
            Dump::Mongodump { .. } => BackupMethod::Mongodump,
            Dump::MinioMirror { .. } => BackupMethod::MinioMirror,
        }
    }

    /// The variables of the service's environment the dump reads: the user's, then the
    /// password's when the method needs one.
    pub fn credential_vars(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let (user, password) = match self {
            Dump::PgDump { user_env, .. } => (user_env, None),
            Dump::Mongodump {
                user_env, password_env, ..
            }
            | Dump::MinioMirror {
                user_env, password_env, ..
            } => (user_env, Some(password_env)),
        };
        std::iter::once(("user_env", user.as_str())).chain(password.map(|p| ("password_env", p.as_str())))
    }
}

/// Operations scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operations {
    /// Deployment folder on the host.
    pub install_dir: String,
    /// Log folder of cron runs.
    pub log_dir: String,
    /// Migration command run with the new app image.
    pub migrate: Option<Vec<String>>,
    /// Public HTTP path answering with the running version.
    pub verify_path: Option<String>,
    /// Highest accepted disk usage, in percent.
    pub disk_usage_max: u8,
}

/// A scale-out plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Replicas.
    pub replicas: u32,
    /// Sticky sessions.
    pub sticky_sessions: bool,
}
