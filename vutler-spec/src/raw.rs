//! The file layer: serde types that mirror what operators write in `specs/`.
//!
//! Every struct denies unknown keys. Values with units, names and references stay as written
//! here; [`crate::resolve`] turns them into the validated [`crate::Stack`]. The JSON schema that
//! editors use is generated from these types, so their doc comments are what users read.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The top-level keys of [`RawStack`] in declaration order, which is also the order of the
/// effective document that `explain` prints (base files may define them in any order).
pub const TOP_LEVEL_KEYS: [&str; 21] = [
    "project",
    "domain",
    "target_vm",
    "kind",
    "platform",
    "secrets_backend",
    "vms",
    "costs",
    "variables",
    "networks",
    "volumes",
    "defaults",
    "services",
    "edge",
    "tls",
    "firewall",
    "monitoring",
    "backups",
    "operations",
    "scaling",
    "allow",
];

/// The Vutler stack: services, their host, and everything rendered around them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStack {
    /// Compose project name, also used to name files and labels (`[a-z][a-z0-9-]*`).
    pub project: String,
    /// Public domain name the stack is served under (e.g. `vutler.example.com`).
    pub domain: String,
    /// Name of the VM (a key of `vms`) this environment runs on; the stack must fit it.
    pub target_vm: String,
    /// What the environment is for: `development`, `staging` or `production`. A development
    /// environment may leave services unsized. When absent it is read from the environment's
    /// name: `dev`, `development` and `local` are development, `staging` and `stage` staging,
    /// any other production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<EnvironmentKind>,
    /// What runs the environment: `compose` (Docker Compose on the `target_vm`, the default) or
    /// `kubernetes: {...}` (manifests under `k8s/` for a cluster, with the settings only a
    /// cluster needs).
    #[serde(default, skip_serializing_if = "RawPlatform::is_compose")]
    pub platform: RawPlatform,
    /// How secrets reach containers: `env` (required variables from `.env`) or `docker`
    /// (Docker secrets mounted under `/run/secrets`, read through the images' `*_FILE` variables).
    #[serde(default)]
    pub secrets_backend: SecretsBackend,
    /// VM sizes the stack can be deployed on, with their monthly cost (seed 2.2 and 11).
    pub vms: IndexMap<String, RawVm>,
    /// Other monthly costs of running the stack (bandwidth, backups storage, ...).
    #[serde(default)]
    pub costs: IndexMap<String, RawCost>,
    /// Every variable the rendered tree reads from `.env`, and which of them are secrets.
    #[serde(default)]
    pub variables: IndexMap<String, RawVariable>,
    /// Docker networks.
    #[serde(default)]
    pub networks: IndexMap<String, RawNetwork>,
    /// Named Docker volumes.
    #[serde(default)]
    pub volumes: IndexMap<String, RawVolume>,
    /// Settings every service gets unless it sets its own.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// The services of the stack, by name.
    pub services: IndexMap<String, RawService>,
    /// The reverse proxy in front of the app.
    pub edge: RawEdge,
    /// TLS termination at the proxy (seed 8.2).
    pub tls: RawTls,
    /// Host firewall policy (seed 8.1).
    pub firewall: RawFirewall,
    /// Prometheus, alert rules, Alertmanager and Grafana (seed 5). A stack without it renders
    /// no monitoring configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<RawMonitoring>,
    /// Backup jobs (seed 6). A stack without it, or without jobs, renders no backup scripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<RawBackups>,
    /// Where the operations scripts run and what they do besides backups (seed 4, 9).
    #[serde(default)]
    pub operations: RawOperations,
    /// Horizontal scale-out plans by service name (seed 7.1), rendered as a separate overlay.
    #[serde(default)]
    pub scaling: IndexMap<String, RawScale>,
    /// Warnings accepted on purpose, by rule id, each with the reason
    /// (`data-volume-without-backup: the repositories are mirrored to a second server`). They are
    /// not printed, `--strict` lets them pass, and JSON and SARIF output list them as
    /// suppressed with the reason. Only warnings can be allowed: an error always stops.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub allow: IndexMap<String, String>,
}

impl RawStack {
    /// The scrape jobs by name (none without monitoring).
    pub(crate) fn scrape_jobs(&self) -> impl Iterator<Item = (&String, &RawScrapeJob)> {
        self.monitoring.iter().flat_map(|m| m.scrape_jobs.iter())
    }
}

/// How secrets reach containers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretsBackend {
    /// Required variables from `.env`, referenced as `${VAR:?message}`.
    #[default]
    Env,
    /// Docker secrets under `/run/secrets`, read through `*_FILE` variables where images support it.
    Docker,
}

/// A VM size.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVm {
    /// What this size is for.
    #[serde(default)]
    pub description: String,
    /// vCPUs.
    pub cpus: RawCpus,
    /// Memory, e.g. `16GB`.
    pub memory: String,
    /// Disk, e.g. `250GB`.
    pub disk: String,
    /// Monthly cost in US dollars.
    pub monthly_usd: RawCostRange,
}

/// A monthly cost line that is not a VM.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCost {
    /// What is paid for, e.g. `1 TB/month`.
    pub description: String,
    /// Monthly cost in US dollars.
    pub monthly_usd: RawCostRange,
}

/// A cost in whole US dollars, exact (`min` only) or as a range.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCostRange {
    /// Lowest expected monthly cost.
    pub min: u32,
    /// Highest expected monthly cost; defaults to `min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

/// A CPU count: a number (`0.5`, `2`) or a string (`"0.5"`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawCpus {
    /// `0.5`
    Number(f64),
    /// `"0.5"`
    Text(String),
}

/// A variable of the `.env` file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVariable {
    /// What the variable is for; becomes the comment in `.env.example`.
    pub description: String,
    /// Heading it is listed under in `.env.example` (`Application`, `Databases`, ...).
    pub group: String,
    /// A secret never has a value in the spec or in any rendered file, only a placeholder.
    #[serde(default)]
    pub secret: bool,
    /// Value used when `.env` does not set it. Not allowed on secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<RawScalar>,
    /// Whether the stack refuses to start without it (rendered as `${VAR:?message}`).
    #[serde(default = "yes")]
    pub required: bool,
    /// Placeholder shown in `.env.example` instead of a value (`<strong-password>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

fn yes() -> bool {
    true
}

/// A string, number or boolean written in a spec, used as text.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawScalar {
    /// Text.
    Text(String),
    /// An integer, kept as written.
    Int(i64),
    /// A number, kept as written.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

// Hand-written rather than `untagged`, whose error ("data did not match any variant") does not
// say what was expected.
impl<'de> Deserialize<'de> for RawCpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawCpus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CPU count like 0.5 or 2")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(RawCpus::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawCpus::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawCpus::Number(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawCpus::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarOr(NoMap))
    }
}

/// Reads a scalar as text ([`RawScalar`]); what a mapping means is up to `F`.
struct ScalarOr<F>(F);

/// What a mapping means where a scalar is also allowed.
trait MapForm<'de>: Sized {
    type Output: From<RawScalar>;
    const EXPECTING: &'static str;
    fn map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Output, A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Map, &Self::EXPECTING))
    }
}

/// Plain scalars: a mapping is a type error.
struct NoMap;

impl MapForm<'_> for NoMap {
    type Output = RawScalar;
    const EXPECTING: &'static str = "text, a number or a boolean";
}

impl<'de, F: MapForm<'de>> Visitor<'de> for ScalarOr<F> {
    type Value = F::Output;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(F::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(RawScalar::Text(v.to_owned()).into())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(RawScalar::Int(v).into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(|v| RawScalar::Int(v).into())
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(RawScalar::Float(v).into())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(RawScalar::Bool(v).into())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.map(map)
    }
}

impl From<RawScalar> for RawEnvValue {
    fn from(s: RawScalar) -> Self {
        RawEnvValue::Text(s)
    }
}

/// Environment values: a mapping is `{ secret: VAR }` or `{ with_secrets: TEXT }`.
struct SecretForm;

/// Either mapping form, told apart once read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvMapping {
    secret: Option<String>,
    file_env: Option<String>,
    with_secrets: Option<String>,
}

impl<'de> MapForm<'de> for SecretForm {
    type Output = RawEnvValue;
    const EXPECTING: &'static str = "text, a number, a boolean, { secret: VAR } or { with_secrets: TEXT }";
    fn map<A: MapAccess<'de>>(self, map: A) -> Result<RawEnvValue, A::Error> {
        let m = RawEnvMapping::deserialize(de::value::MapAccessDeserializer::new(map))?;
        match (m.secret, m.with_secrets) {
            (Some(secret), None) => Ok(RawEnvValue::Secret(RawSecretRef {
                secret,
                file_env: m.file_env,
            })),
            (None, Some(with_secrets)) if m.file_env.is_none() => {
                Ok(RawEnvValue::WithSecrets(RawWithSecrets { with_secrets }))
            }
            (None, Some(_)) => Err(de::Error::custom(
                "`file_env` goes with `secret`: text with secrets is passed as a variable",
            )),
            (Some(_), Some(_)) => Err(de::Error::custom(
                "give either `secret` (a secret variable) or `with_secrets` (text naming secrets), not both",
            )),
            (None, None) => Err(de::Error::missing_field("secret")),
        }
    }
}

impl fmt::Display for RawScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawScalar::Text(s) => f.write_str(s),
            RawScalar::Int(i) => write!(f, "{i}"),
            RawScalar::Float(x) => write!(f, "{x}"),
            RawScalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A Docker network.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    /// Network driver.
    #[serde(default)]
    pub driver: NetworkDriver,
    /// An internal network has no route to the outside world.
    #[serde(default)]
    pub internal: bool,
}

/// Docker network drivers the product renders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkDriver {
    /// A bridge network on one host.
    #[default]
    Bridge,
}

/// A named Docker volume.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVolume {
    /// What the volume holds; decides whether it needs a backup job.
    #[serde(default)]
    pub kind: VolumeKind,
    /// What is stored there.
    #[serde(default)]
    pub description: String,
}

/// What a volume holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VolumeKind {
    /// Data that cannot be rebuilt: must have a backup job.
    #[default]
    Data,
    /// Rebuildable content (caches, metrics history, provisioned dashboards).
    Cache,
    /// Application logs.
    Logs,
    /// Staging area for dumps taken by backup jobs.
    Backup,
}

impl VolumeKind {
    /// The kind as the spec writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeKind::Data => "data",
            VolumeKind::Cache => "cache",
            VolumeKind::Logs => "logs",
            VolumeKind::Backup => "backup",
        }
    }
}

/// Settings applied to every service that does not set its own.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Restart policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    /// Networks to join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<String>>,
    /// Log driver and rotation (seed 5.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<RawLogging>,
}

/// Container restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Never restart.
    No,
    /// Always restart.
    Always,
    /// Restart when the process exits non-zero.
    OnFailure,
    /// Restart unless stopped by an operator.
    UnlessStopped,
}

/// Log driver and rotation.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLogging {
    /// Docker log driver.
    pub driver: LogDriver,
    /// Size at which a log file is rotated, e.g. `10MB`.
    pub max_size: String,
    /// How many rotated files are kept.
    pub max_file: u32,
}

/// Docker log drivers with rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    /// `json-file`, readable by `docker compose logs`.
    JsonFile,
    /// Docker's compressed `local` driver.
    Local,
}

/// A service (one container, or several replicas of it).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// What the service does.
    #[serde(default)]
    pub description: String,
    /// Image reference with a pinned tag: `postgres:16-alpine`. `latest` is refused.
    pub image: String,
    /// Variable of `variables` that overrides the image tag at deploy time (the app's `VERSION`);
    /// the tag of `image` is its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_variable: Option<String>,
    /// What the service runs, which backup methods and password rotations depend on
    /// (`postgresql`, `mongodb`, `redis`, `minio` or `other`). Read from the image when absent
    /// (`postgres`, `postgis/postgis`, `timescale/timescaledb`, `mongo`, `redis`, `minio/minio`
    /// ...); set it for an image of another name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<Datastore>,
    /// Fixed container name. Not allowed with more than one replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Restart policy; `defaults.restart` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    /// Command, as a list of arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables of the container. Values are text with `${VAR}` references to
    /// non-secret `variables`, or `{ secret: VAR }` for a secret variable.
    #[serde(default)]
    pub environment: IndexMap<String, RawEnvValue>,
    /// Ports the service listens on, by name; `published` ones are reachable from the host.
    #[serde(default)]
    pub ports: Vec<RawPort>,
    /// Volumes, bind mounts and rendered config files mounted into the container.
    #[serde(default)]
    pub mounts: Vec<RawMount>,
    /// Services that must be up (by default: healthy) before this one starts.
    #[serde(default)]
    pub depends_on: Vec<RawDependsOn>,
    /// How Docker checks the service is healthy; commands must exist in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<RawHealthcheck>,
    /// Networks to join; `defaults.networks` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<String>>,
    /// Number of containers (1 unless scaled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// CPU, memory and disk the service is sized for (seed 2.2); become container limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<RawResources>,
    /// Log driver and rotation; `defaults.logging` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<RawLogging>,
    /// A critical service gets `up == 0` and `absent(up)` alerts on its scrape job.
    #[serde(default)]
    pub critical: bool,
    /// How long the service has to stop after SIGTERM before it is killed (Docker's default is
    /// 10s, short for a database flushing to disk), e.g. `1m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    /// `host` to share the host's process namespace (node-exporter, to see the host's processes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<PidMode>,
    /// The credentials clients must present, when the service enforces authentication (a
    /// datastore with users), and how `scripts/secrets.sh rotate` changes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<RawAuthentication>,
}

/// A service that enforces authentication: every service that connects to it (depends on it or
/// names it as a host) must present these credentials.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAuthentication {
    /// How the password the server keeps is changed when it is rotated.
    pub rotation: Rotation,
    /// The variable of this service's environment naming the user (`POSTGRES_USER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_env: Option<String>,
    /// The variable of this service's environment holding the password, a `{ secret: VAR }`.
    pub password_env: String,
}

/// What an environment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentKind {
    /// A developer's machine: services may be unsized.
    Development,
    /// A rehearsal of production.
    Staging,
    /// What users reach.
    Production,
}

impl EnvironmentKind {
    /// The kind an environment's name says when the spec does not: `dev`, `development` and
    /// `local` are development, `staging` and `stage` staging, any other production (the
    /// strict default).
    pub fn of_name(env: &str) -> EnvironmentKind {
        match env {
            "dev" | "development" | "local" => EnvironmentKind::Development,
            "staging" | "stage" => EnvironmentKind::Staging,
            _ => EnvironmentKind::Production,
        }
    }
}

/// What a service runs, as far as backups and password rotations are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Datastore {
    /// PostgreSQL (`pg_dump`, `postgresql` rotation).
    Postgresql,
    /// MongoDB (`mongodump`, `mongodb` rotation).
    Mongodb,
    /// Redis, or a server that speaks its protocol.
    Redis,
    /// MinIO or another S3 server `mc` can mirror (`minio_mirror`).
    Minio,
    /// Anything else.
    Other,
}

impl Datastore {
    /// What an image runs, from the last part of its repository (`postgis/postgis` is
    /// PostgreSQL).
    ///
    /// ```
    /// use vutler_spec::raw::Datastore;
    ///
    /// assert_eq!(Datastore::of_image("postgres:16.4-alpine"), Datastore::Postgresql);
    /// assert_eq!(Datastore::of_image("registry.local:5000/postgis/postgis:16-3.4"), Datastore::Postgresql);
    /// assert_eq!(Datastore::of_image("mongo@sha256:0123"), Datastore::Mongodb);
    /// assert_eq!(Datastore::of_image("bitnami/mongodb:7.0"), Datastore::Other);
    /// ```
    pub fn of_image(image: &str) -> Datastore {
        // `registry:5000/postgis/postgis:16-3.4@sha256:...`: the last path segment, its tag off.
        let repo = image.split('@').next().unwrap_or(image);
        let last = repo.rsplit('/').next().unwrap_or(repo);
        let name = last.split(':').next().unwrap_or(last);
        match name {
            "postgres" | "postgis" | "timescaledb" | "timescaledb-ha" | "pgvector" => Datastore::Postgresql,
            "mongo" | "mongodb-community-server" | "mongodb-enterprise-server" => Datastore::Mongodb,
            "redis" | "redis-stack-server" | "valkey" | "keydb" => Datastore::Redis,
            "minio" => Datastore::Minio,
            _ => Datastore::Other,
        }
    }

    /// The spelling in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Datastore::Postgresql => "postgresql",
            Datastore::Mongodb => "mongodb",
            Datastore::Redis => "redis",
            Datastore::Minio => "minio",
            Datastore::Other => "other",
        }
    }
}

impl RawService {
    /// What the service runs: `datastore` when set, else what its image says.
    pub fn datastore(&self) -> Datastore {
        self.datastore.unwrap_or_else(|| Datastore::of_image(&self.image))
    }
}

/// How a server's password is changed when `scripts/secrets.sh rotate` replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    /// PostgreSQL keeps it in its catalogue: `ALTER USER CURRENT_USER WITH PASSWORD`, through
    /// `psql` in the container (local connections need no password).
    Postgresql,
    /// MongoDB keeps it in its `admin` database: `db.changeUserPassword`, through `mongosh` in
    /// the container, authenticated with the password being replaced.
    Mongodb,
    /// Grafana keeps the admin password in its database: `grafana cli admin
    /// reset-admin-password`.
    Grafana,
    /// The server reads it from its environment when it starts (MinIO's root credentials):
    /// restarting it is the change.
    Restart,
}

impl Rotation {
    /// The spelling in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::Postgresql => "postgresql",
            Rotation::Mongodb => "mongodb",
            Rotation::Grafana => "grafana",
            Rotation::Restart => "restart",
        }
    }
}

/// The process namespace of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PidMode {
    /// The host's: the container sees every process of the host.
    Host,
}

/// How mounts made below a bind mount's source propagate into the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Propagation {
    /// Mounts made on the host below the source appear in the container (node-exporter's
    /// documented `/:/host:ro,rslave`).
    Rslave,
    /// No propagation (Docker's default).
    Rprivate,
}

/// A port a service listens on.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPort {
    /// Name other parts of the spec use to refer to the port (`http`, `metrics`).
    pub name: String,
    /// Port inside the container.
    pub container: u16,
    /// Port on the host; absent means reachable only on the Docker network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<u16>,
    /// Host address the published port binds to; `127.0.0.1` unless set. Only the proxy may use
    /// `0.0.0.0`, and a port that says `public: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// Transport protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Published on a public interface on purpose by a service other than the proxy (a Git
    /// server's SSH): the firewall must allow it, like the proxy's ports.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// Something mounted into a container: exactly one of `volume`, `bind` or `config`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMount {
    /// A named volume of `volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// A host path (relative to the deployment folder, starting with `./`, or absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// A file rendered by vutler-render, by its path in the tree (`nginx/nginx.conf`); always
    /// read-only, and its hash is put on the service so a change recreates the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Absolute path inside the container.
    pub target: String,
    /// Mount read-only (configs always are).
    #[serde(default)]
    pub read_only: bool,
    /// Mount propagation of a `bind` mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
}

/// A start-up dependency: a service name (waits for it to be healthy), or
/// `{ service, condition }`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawDependsOn {
    /// Name of a service; the condition is `service_healthy`.
    Short(String),
    /// A service and the condition to wait for.
    Long(RawDependsOnLong),
}

/// A start-up dependency with an explicit condition.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDependsOnLong {
    /// Name of a service.
    pub service: String,
    /// What to wait for.
    #[serde(default)]
    pub condition: Condition,
}

/// What a dependent service waits for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The dependency's healthcheck passes (it must have one).
    #[default]
    ServiceHealthy,
    /// The dependency's container has started.
    ServiceStarted,
    /// The dependency ran to completion (a one-shot job).
    ServiceCompletedSuccessfully,
}

impl<'de> Deserialize<'de> for RawDependsOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDependsOn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a service name or { service, condition }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawDependsOn::Short(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawDependsOnLong::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawDependsOn::Long)
            }
        }
        d.deserialize_any(V)
    }
}

/// The value of a container environment variable.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawEnvValue {
    /// Text, with `${VAR}` references to non-secret variables.
    Text(RawScalar),
    /// A secret variable.
    Secret(RawSecretRef),
    /// Text holding secrets (a connection string with a password).
    WithSecrets(RawWithSecrets),
}

/// Text with `${VAR}` references to secret variables too, such as a connection string with its
/// password: `{ with_secrets: "mongodb://admin:${MONGO_PASSWORD}@mongo:27017/vutler" }`. It is
/// rendered only as references that Compose fills in from `.env`, never with a value.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWithSecrets {
    /// The text, naming at least one secret variable.
    pub with_secrets: String,
}

/// A secret variable passed to a container.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecretRef {
    /// Name of a secret variable of `variables`.
    pub secret: String,
    /// The image's variable that reads the secret from a file (`POSTGRES_PASSWORD_FILE`); used
    /// with the `docker` secrets backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_env: Option<String>,
}

impl<'de> Deserialize<'de> for RawEnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarOr(SecretForm))
    }
}

/// A container healthcheck: exactly one of `exec` or `shell`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHealthcheck {
    /// Command and arguments, run without a shell (`["pg_isready", "-U", "vutler"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// A command line run by the image's `/bin/sh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Time between checks, e.g. `30s`.
    pub interval: String,
    /// Time a check may take, e.g. `10s`.
    pub timeout: String,
    /// Failures in a row before the container is unhealthy.
    pub retries: u32,
    /// Grace period after start during which failures do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
}

/// Resources a service is sized for.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    /// CPUs, e.g. `0.5` or `2`.
    pub cpus: RawCpus,
    /// Memory limit, e.g. `512MB` or `4GB`, at least Docker's `6MB`. Sizes are binary: `1GB`
    /// is 1024 MB (GiB), as Docker and Compose read `1g`; `GiB` and `MiB` are accepted too.
    pub memory: String,
    /// Disk the service's data needs, e.g. `50GB` (binary units, as `memory`).
    pub disk: String,
}

/// The reverse proxy and what it forwards to.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEdge {
    /// The service that terminates TLS and publishes 80 and 443.
    pub proxy: String,
    /// The service requests are forwarded to.
    pub upstream: String,
    /// Name of the upstream's port that receives the traffic.
    pub upstream_port: String,
    /// Largest request body accepted (file uploads), e.g. `100MB`.
    pub max_body_size: String,
    /// How long NGINX waits on the app: for a response, and on an idle proxied connection
    /// (a WebSocket, at least 60s then).
    pub read_timeout: String,
    /// Whether the app serves WebSockets through the proxy: NGINX then passes the `Upgrade`
    /// handshake on, and `read_timeout` keeps idle ones open (at least 60s).
    #[serde(default)]
    pub websockets: bool,
    /// Folder in the proxy where ACME (Let's Encrypt) challenge files are served from; the proxy
    /// must mount it when the certificate comes from Let's Encrypt.
    #[serde(default = "acme_root")]
    pub acme_root: String,
}

fn acme_root() -> String {
    "/var/www/certbot".into()
}

/// TLS termination settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// Protocols offered: `TLSv1.2` and/or `TLSv1.3`.
    pub protocols: Vec<String>,
    /// OpenSSL cipher names for TLSv1.2 (TLSv1.3 suites are not configurable in NGINX).
    #[serde(default)]
    pub ciphers: Vec<String>,
    /// Prefer the server's cipher order.
    #[serde(default)]
    pub prefer_server_ciphers: bool,
    /// Size of the shared session cache, e.g. `10MB`.
    pub session_cache: String,
    /// Session lifetime, e.g. `10m`.
    pub session_timeout: String,
    /// OCSP stapling; needs a certificate from a CA (not a self-signed one).
    #[serde(default)]
    pub stapling: bool,
    /// `Strict-Transport-Security` header.
    pub hsts: RawHsts,
    /// Where the certificate comes from and where the proxy reads it.
    pub certificate: RawCertificate,
}

/// HSTS header settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHsts {
    /// `max-age`, e.g. `365d`.
    pub max_age: String,
    /// Add `includeSubDomains`.
    #[serde(default)]
    pub include_subdomains: bool,
    /// Add `preload`.
    #[serde(default)]
    pub preload: bool,
}

/// A TLS certificate and key.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    /// Who issues the certificate.
    pub source: CertificateSource,
    /// Host folder holding the files, bind-mounted into the proxy (`./nginx/ssl`).
    pub host_dir: String,
    /// Folder the proxy reads them from (`/etc/nginx/ssl`).
    pub mount_dir: String,
    /// Certificate chain file name.
    pub cert_file: String,
    /// Private key file name.
    pub key_file: String,
    /// The ACME client that obtains and renews a `letsencrypt` certificate through the
    /// HTTP-01 challenge files the proxy serves from `edge.acme_root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme: Option<RawAcme>,
    /// When `scripts/certificates.sh renew` runs, as a crontab schedule in UTC; twice a day
    /// unless set (`17 3,15 * * *`). A certificate is renewed 30 days before it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_schedule: Option<String>,
}

/// The ACME client of a Let's Encrypt certificate (certbot in a one-off container).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAcme {
    /// Image of the client, with a pinned tag (`certbot/certbot:v3.0.1`).
    pub image: String,
    /// Plain variable of `variables` holding the ACME account's email, where Let's Encrypt
    /// sends notices.
    pub email_variable: String,
    /// Host folder of the client's state (account key, issued certificates), e.g.
    /// `./certbot/conf`.
    pub state_dir: String,
}

/// Who issues the TLS certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificateSource {
    /// Let's Encrypt through the ACME HTTP challenge.
    Letsencrypt,
    /// A self-signed certificate (dev only).
    SelfSigned,
}

/// Host firewall (ufw) policy.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFirewall {
    /// Policy for incoming traffic not matched by a rule.
    pub default_incoming: FirewallPolicy,
    /// Policy for outgoing traffic not matched by a rule.
    pub default_outgoing: FirewallPolicy,
    /// Ports opened to the world, by name.
    pub allow: Vec<RawFirewallRule>,
    /// Ports explicitly closed, by name (documentation for operators; the default policy already
    /// denies them).
    #[serde(default)]
    pub deny: Vec<RawFirewallRule>,
    /// The port operators reach the VM's SSH server on (default 22): with a default policy
    /// other than `allow`, `allow` must open it, or `ufw.sh` locks them out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_port: Option<u16>,
    /// The VM is managed without SSH (a cloud console, a serial port): no rule needs to open it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_ssh: bool,
}

/// A ufw default policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FirewallPolicy {
    /// Accept.
    Allow,
    /// Drop silently.
    Deny,
    /// Refuse with an error.
    Reject,
}

/// One firewall rule.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFirewallRule {
    /// Name of the rule (`ssh`, `https`).
    pub name: String,
    /// Port number.
    pub port: u16,
    /// Transport protocol.
    #[serde(default)]
    pub protocol: Protocol,
}

/// Monitoring and alerting.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMonitoring {
    /// The Prometheus service.
    pub prometheus: String,
    /// How often targets are scraped, e.g. `15s`. Default `1m`, Prometheus's own.
    #[serde(default = "one_minute")]
    pub scrape_interval: String,
    /// How often rules are evaluated, e.g. `15s`. Default `1m`, Prometheus's own.
    #[serde(default = "one_minute")]
    pub evaluation_interval: String,
    /// How long metrics are kept, e.g. `30d`. Default `15d`, Prometheus's own.
    #[serde(default = "fifteen_days")]
    pub retention: String,
    /// Scrape jobs by job name.
    #[serde(default)]
    pub scrape_jobs: IndexMap<String, RawScrapeJob>,
    /// Alert rule groups, in order.
    #[serde(default)]
    pub alert_groups: Vec<RawAlertGroup>,
    /// Where alerts are sent. Without it Prometheus still evaluates the alert rules (its web
    /// page lists those firing), but sends them nowhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<RawAlertmanager>,
    /// Dashboards. Without it no Grafana configuration is rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana: Option<RawGrafana>,
}

/// A Prometheus scrape job.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScrapeJob {
    /// The service scraped.
    pub service: String,
    /// Name of the service's port that serves metrics.
    pub port: String,
    /// HTTP path of the metrics.
    #[serde(default = "metrics_path")]
    pub path: String,
    /// Metric names this job produces; rules and panels may only use these.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// The service whose health this job reports, when it is an exporter for another service
    /// (`postgres-exporter` monitors `postgres`); `service` otherwise. A critical service gets
    /// `up == 0` and `absent(up)` alerts on the jobs that monitor it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitors: Option<String>,
    /// How Prometheus authenticates to a target that protects its metrics: a bearer token or
    /// a basic-auth login, the credential a secret variable (mounted into Prometheus as a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RawScrapeAuth>,
}

/// A scrape job's credentials.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawScrapeAuth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// Secret variable holding the token.
        token_secret: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// The user.
        username: String,
        /// Secret variable holding the password.
        password_secret: String,
    },
}

fn one_minute() -> String {
    "1m".to_owned()
}

fn fifteen_days() -> String {
    "15d".to_owned()
}

fn web_port() -> String {
    "web".into()
}

fn metrics_path() -> String {
    "/metrics".into()
}

/// A group of alert rules.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAlertGroup {
    /// Group name.
    pub name: String,
    /// Evaluation interval of the group; the global one otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Rules, in order.
    pub rules: Vec<RawAlertRule>,
}

/// An alerting rule.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAlertRule {
    /// Alert name (`HighErrorRate`).
    pub name: String,
    /// PromQL expression; the alert fires for every series it returns.
    pub expr: String,
    /// How long the expression must hold before the alert fires.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// Severity, which decides where the alert is routed.
    pub severity: AlertSeverity,
    /// One-line summary (annotation).
    pub summary: String,
    /// Longer description (annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What to do when it fires (the `runbook` annotation, which notifications carry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
}

impl Protocol {
    /// `tcp` or `udp`, as Compose, ufw and iptables write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl AlertSeverity {
    /// The `severity` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Info => "info",
            AlertSeverity::Warning => "warning",
            AlertSeverity::Critical => "critical",
        }
    }
}

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    /// Informational.
    Info,
    /// Needs attention during working hours.
    Warning,
    /// Pages someone.
    Critical,
}

/// Alertmanager: receivers and routing.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    /// The Alertmanager service.
    pub service: String,
    /// Name of that service's port Prometheus sends alerts to.
    #[serde(default = "web_port")]
    pub port: String,
    /// Receivers by name.
    pub receivers: IndexMap<String, RawReceiver>,
    /// Receiver of alerts no route matches.
    pub default_receiver: String,
    /// Receivers of each severity.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// Where alerts go.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawReceiver {
    /// A Slack channel through an incoming webhook.
    Slack {
        /// Channel name, e.g. `#vutler-alerts`.
        channel: String,
        /// Secret variable holding the webhook URL.
        webhook_url_secret: String,
    },
    /// PagerDuty through the Events API v2.
    Pagerduty {
        /// Secret variable holding the integration's routing key.
        routing_key_secret: String,
    },
    /// Email through an SMTP server.
    Email {
        /// Who receives the alerts, e.g. `ops@example.com`.
        to: String,
        /// The sender, e.g. `alerts@example.com`.
        from: String,
        /// The SMTP server, `host:port`, e.g. `smtp.example.com:587`.
        smarthost: String,
        /// The user to log in to the SMTP server as; with `auth_password_secret`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth_username: Option<String>,
        /// Secret variable holding the SMTP password; with `auth_username`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth_password_secret: Option<String>,
        /// Whether the connection must use STARTTLS (true unless set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        require_tls: Option<bool>,
    },
    /// Any HTTP endpoint that takes Alertmanager's webhook JSON (a chat bridge, an incident
    /// tool, a script).
    Webhook {
        /// Where alerts are POSTed, e.g. `http://alert-bridge:8080/alerts`. It is written into
        /// the configuration, so it holds no credential: give one as `token_secret`.
        url: String,
        /// Secret variable holding a bearer token sent with every request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_secret: Option<String>,
    },
}

/// A routing rule: alerts of one severity go to these receivers.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Severity matched.
    pub severity: AlertSeverity,
    /// Receivers notified, in order.
    pub receivers: Vec<String>,
}

/// Grafana provisioning.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGrafana {
    /// The Grafana service.
    pub service: String,
    /// Datasources by name.
    pub datasources: IndexMap<String, RawDatasource>,
    /// Dashboards by file name.
    #[serde(default)]
    pub dashboards: IndexMap<String, RawDashboard>,
}

/// A provisioned Grafana datasource.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDatasource {
    /// What it is: `prometheus` (unless set; its queries are PromQL, checked against the scrape
    /// jobs) or `loki` (LogQL, each query with its stream selector).
    #[serde(default, skip_serializing_if = "DatasourceKind::is_prometheus")]
    pub kind: DatasourceKind,
    /// Fixed uid that dashboards refer to.
    pub uid: String,
    /// The service queried.
    pub service: String,
    /// Name of that service's port.
    pub port: String,
    /// Whether it is Grafana's default datasource.
    #[serde(default)]
    pub default: bool,
}

/// A Grafana dashboard.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDashboard {
    /// Title shown in Grafana.
    pub title: String,
    /// Fixed uid (stable URLs).
    pub uid: String,
    /// Datasource (a key of `datasources`) used by panels that name none.
    pub datasource: String,
    /// Panels, in layout order.
    pub panels: Vec<RawPanel>,
}

/// A dashboard panel.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPanel {
    /// Panel title.
    pub name: String,
    /// Visualisation.
    pub kind: PanelKind,
    /// Grafana unit id (`short`, `percentunit`, `s`, `bytes`, `reqps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Datasource (a key of `datasources`); the dashboard's otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource: Option<String>,
    /// PromQL queries, one series set each.
    pub queries: Vec<RawQuery>,
}

/// What a Grafana datasource is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasourceKind {
    /// Prometheus: queries are PromQL.
    #[default]
    Prometheus,
    /// Loki: queries are LogQL.
    Loki,
}

impl DatasourceKind {
    /// Grafana's name of the datasource type.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasourceKind::Prometheus => "prometheus",
            DatasourceKind::Loki => "loki",
        }
    }

    /// Whether it is Prometheus (the default, not written back).
    pub fn is_prometheus(&self) -> bool {
        *self == DatasourceKind::Prometheus
    }
}

/// Panel visualisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PanelKind {
    /// A single big number.
    Stat,
    /// A graph over time.
    Timeseries,
    /// A gauge.
    Gauge,
}

/// A panel query.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    /// The query, in the language of the panel's datasource: PromQL, or LogQL for Loki.
    pub expr: String,
    /// Legend of the series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legend: Option<String>,
}

/// Backups (seed 6).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBackups {
    /// Host folder where dumps are written before upload (`/backup`); required with jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_dir: Option<String>,
    /// Object-store URL they are uploaded to (`s3://vutler-backups/daily`); required with jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Age after which a missing fresh backup raises an alert, e.g. `26h`; required with jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<String>,
    /// Secret variables with the object store's credentials, read by `backup.sh` from its
    /// environment or `.env`. Without them the AWS CLI's own credential chain is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<RawBackupCredentials>,
    /// Host folder of node-exporter's textfile collector, where `backup.sh` records each
    /// successful backup for the stale-backup alerts (`/var/lib/node_exporter/textfile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textfile_dir: Option<String>,
    /// How backups are uploaded: the S3 API's endpoint and region, the storage class and
    /// server-side encryption. Without it, the AWS CLI's defaults (AWS S3, its configured region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<RawS3Options>,
    /// Restore drills: `restore.sh --verify` of every job on a schedule, each success recorded
    /// for an alert when none succeeded for `stale_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<RawDrill>,
    /// Backup jobs by name.
    #[serde(default)]
    pub jobs: IndexMap<String, RawBackupJob>,
}

/// Options of the S3 API backups are uploaded to.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawS3Options {
    /// Endpoint of an S3 API other than AWS's (`https://s3.eu-central-003.backblazeb2.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region of the bucket (`eu-west-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Storage class of uploaded backups (default `STANDARD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// Server-side encryption the bucket applies to each upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// KMS key of `aws:kms` encryption (its id, ARN or alias); the bucket's default key without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// S3 storage classes a backup can be restored from at once. The archive classes (`GLACIER`,
/// `DEEP_ARCHIVE`) need a restore request before an object can be read, which `restore.sh`
/// does not make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    /// S3 Standard.
    Standard,
    /// Infrequent access.
    StandardIa,
    /// Infrequent access in one zone.
    OnezoneIa,
    /// Moved between tiers by access.
    IntelligentTiering,
    /// Glacier Instant Retrieval.
    GlacierIr,
}

impl StorageClass {
    /// The name the S3 API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::OnezoneIa => "ONEZONE_IA",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::GlacierIr => "GLACIER_IR",
        }
    }
}

/// Server-side encryption of uploaded backups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ServerSideEncryption {
    /// Keys managed by S3 (SSE-S3).
    #[serde(rename = "AES256")]
    Aes256,
    /// Keys in AWS KMS (SSE-KMS).
    #[serde(rename = "aws:kms")]
    AwsKms,
}

impl ServerSideEncryption {
    /// The name the S3 API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerSideEncryption::Aes256 => "AES256",
            ServerSideEncryption::AwsKms => "aws:kms",
        }
    }
}

/// Restore drills.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDrill {
    /// When every job's newest backup is restored into a scratch copy and checked, as a crontab
    /// schedule (`0 5 1 * *`: monthly).
    pub schedule: String,
    /// Age after which no successful drill raises an alert (`35d`).
    pub stale_after: String,
}

/// How long a job's backups are kept, on the host and in the object store.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a local and a remote retention, like { local: 3d, remote: 30d }"
)]
pub struct RawRetention {
    /// Days of copies kept in `local_dir` for fast restores (`3d`); they count against the VM's disk.
    pub local: String,
    /// Days of copies kept in the object store (`30d`), at least `local`.
    pub remote: String,
}

/// Credentials of the backup destination, as names of secret variables (never values).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBackupCredentials {
    /// Variable holding the access key id (`BACKUP_S3_ACCESS_KEY_ID`).
    pub access_key_id: String,
    /// Variable holding the secret access key (`BACKUP_S3_SECRET_ACCESS_KEY`).
    pub secret_access_key: String,
}

/// One backup job.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBackupJob {
    /// The service whose data is dumped.
    pub service: String,
    /// The volume holding that data.
    pub volume: String,
    /// How the data is dumped.
    pub method: BackupMethod,
    /// Database to dump: required by `pg_dump`; `mongodump` dumps every database without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Variable of the service's environment holding the user the dump connects as
    /// (`POSTGRES_USER`, `MONGO_INITDB_ROOT_USERNAME`, `MINIO_ROOT_USER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_env: Option<String>,
    /// Variable of the service's environment holding that user's password (`mongodump` and
    /// `minio_mirror`; `pg_dump` on Compose uses the container's local socket, which needs
    /// none, but on Kubernetes its CronJob connects over the network and needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Name of the service's S3 API port (`minio_mirror`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// When, as a crontab schedule in UTC (`0 2 * * *`).
    pub schedule: String,
    /// How long backups are kept, on the host and uploaded.
    pub retention: RawRetention,
    /// Expected size of one compressed backup (`2GB`): `plan` counts the local copies against
    /// the VM's disk.
    pub size: String,
    /// Recovery point objective (`pg_dump` only, `5m`): PostgreSQL archives its WAL into the
    /// job's volume, beside `PGDATA`, switching segments often enough; `backup.sh --wal` ships
    /// them to the destination every minute; each run also takes a base backup, and
    /// `restore.sh --to TIME` restores to any moment since the oldest one kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo: Option<String>,
}

/// Backup methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupMethod {
    /// `pg_dump` of the database.
    PgDump,
    /// `mongodump --archive`.
    Mongodump,
    /// `mc mirror` of the object store.
    MinioMirror,
    /// A gzipped tar of the files of a volume (plain files: repositories, uploads, a wiki's
    /// pages), taken in the service's container while it runs; the service is stopped while
    /// they are restored. Not for a database's files, which change while they are read.
    VolumeArchive,
}

impl BackupMethod {
    /// The name used in specs (`pg_dump`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackupMethod::PgDump => "pg_dump",
            BackupMethod::Mongodump => "mongodump",
            BackupMethod::MinioMirror => "minio_mirror",
            BackupMethod::VolumeArchive => "volume_archive",
        }
    }
}

/// Where the operations scripts (`scripts/`, `cron/`) run and what they check.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOperations {
    /// Folder the rendered tree is deployed to on the host; cron runs the scripts from there.
    /// Default `/opt/<project>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_dir: Option<String>,
    /// Folder of the scripts' log files when cron runs them. Default `/var/log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<String>,
    /// Command run in a one-off container of the new app image before `update.sh` rolls the
    /// app (`[npm, run, migrate, up]`). No migration step without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate: Option<Vec<String>>,
    /// HTTP path on the public domain that answers 200 with the running version in its body
    /// (`/api/info`); `healthcheck.sh`, `update.sh` and `rollback.sh` check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_path: Option<String>,
    /// Highest disk usage `healthcheck.sh` accepts, in percent. Default 85.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_usage_max: Option<u8>,
    /// Age after which a secret is due for `scripts/secrets.sh rotate` (seed 3.1: `90d`): an
    /// alert says which, when the node-exporter job lists the secrets' metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_secrets_after: Option<String>,
}

/// A horizontal scale-out plan for one service.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScale {
    /// Number of replicas.
    pub replicas: u32,
    /// Pin each client to one replica (`ip_hash`), needed for WebSocket sessions.
    #[serde(default)]
    pub sticky_sessions: bool,
}

/// What runs an environment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawPlatform {
    /// Docker Compose on one VM (`target_vm`): the Compose files, NGINX, ufw and the scripts.
    #[default]
    Compose,
    /// A Kubernetes cluster: one manifest file per service under `k8s/`, listed by
    /// `k8s/kustomization.yaml`. The edge is an Ingress (the proxy service is not deployed) and
    /// the VM's firewall does not apply.
    Kubernetes(Box<RawKubernetes>),
}

impl RawPlatform {
    /// Whether it is the default, Compose.
    pub fn is_compose(&self) -> bool {
        matches!(self, RawPlatform::Compose)
    }
}

/// The settings only a Kubernetes environment needs.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetes {
    /// Minor version the cluster runs (`"1.30"`, quoted): objects use only APIs it serves.
    #[serde(deserialize_with = "version_text")]
    #[schemars(with = "String")]
    pub version: String,
    /// Namespace of every object (a DNS-1123 label).
    pub namespace: String,
    /// Storage class of the volume claims; the cluster's default class when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// The claim of each `data` volume a service mounts, by volume name. Other volumes are
    /// `emptyDir`s: their contents do not outlive the pod (caches, logs, staging areas).
    #[serde(default)]
    pub volumes: IndexMap<String, RawClaim>,
    /// How HTTP reaches the upstream of `edge` through an Ingress controller; this or
    /// `gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<RawIngress>,
    /// How HTTP reaches the upstream of `edge` through a Gateway API implementation; this or
    /// `ingress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<RawGateway>,
    /// Scheduling settings of services, by name.
    #[serde(default)]
    pub services: IndexMap<String, RawWorkload>,
    /// The cluster's nodes, which `plan` and the `kubernetes-capacity` rule size the
    /// workloads' requests against (the VM of `target_vm` is the Compose deployment's). Without
    /// it the cluster's size is not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<RawNodePool>,
    /// Image of the init containers that hold a pod until the services it depends on
    /// (`condition: service_healthy`) accept connections (its `nc` connects to their Service,
    /// which only ready pods serve).
    #[serde(default = "default_wait_image")]
    pub wait_image: String,
    /// Image of the backup CronJobs' container that uploads each checked dump with the AWS CLI
    /// and prunes the uploaded ones (it runs `bash`, `aws` and coreutils).
    #[serde(default = "default_backup_image")]
    pub backup_image: String,
    /// The cluster's prometheus-operator, whose Prometheus scrapes the services instead of the
    /// `monitoring.prometheus` service (then not deployed): each scrape job is a
    /// ServiceMonitor and the alert rules a PrometheusRule. Without it Prometheus is a workload
    /// of the environment, as on Compose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_operator: Option<RawPrometheusOperator>,
}

/// An existing prometheus-operator's Prometheus.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheusOperator {
    /// Namespace of its Prometheus pods, the only ones the NetworkPolicies let scrape the
    /// services and reach Alertmanager. Its `prometheus-operated` Service there is Grafana's
    /// datasource.
    pub namespace: String,
    /// Labels of the ServiceMonitors and the PrometheusRule: what its Prometheus resource's
    /// `serviceMonitorSelector` and `ruleSelector` match (kube-prometheus-stack's
    /// `release: <release name>`).
    #[serde(default)]
    pub labels: IndexMap<String, String>,
}

fn default_wait_image() -> String {
    "busybox:1.36.1".to_owned()
}

fn default_backup_image() -> String {
    "amazon/aws-cli:2.27.50".to_owned()
}

/// A pool of identical nodes.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNodePool {
    /// The size of each node: a key of `vms`, whose `monthly_usd` is one node's cost.
    pub vm: String,
    /// How many nodes.
    pub count: u32,
}

/// A persistent volume claim.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClaim {
    /// Size requested, e.g. `50GB` (rendered in binary units, `50Gi`).
    pub size: String,
    /// Storage class of this claim, when not `storage_class`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// An Ingress routing the domain to the upstream.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIngress {
    /// `ingressClassName` of the controller. The annotations rendered (body size, timeouts,
    /// sticky sessions) are ingress-nginx's.
    pub class: String,
    /// Name of the `kubernetes.io/tls` Secret holding the certificate, which the operator
    /// creates (e.g. cert-manager's); never rendered.
    pub tls_secret: String,
    /// Namespace of the controller's pods, the only ones the NetworkPolicies let reach the
    /// upstream from outside the namespace.
    #[serde(default = "default_controller_namespace")]
    pub controller_namespace: String,
}

fn default_controller_namespace() -> String {
    "ingress-nginx".to_owned()
}

/// A Gateway API Gateway of the environment's own, and the HTTPRoutes attaching the upstream
/// to it (`gateway.networking.k8s.io/v1`, standard channel: Gateway API 1.2 or later, whose
/// implementation the operator installs).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    /// `gatewayClassName`: the implementation's GatewayClass (e.g. Envoy Gateway's `eg`).
    pub class: String,
    /// Name of the `kubernetes.io/tls` Secret holding the certificate, which the operator
    /// creates (e.g. cert-manager's) in the environment's namespace; never rendered. The
    /// Gateway's HTTPS listener terminates TLS with it.
    pub tls_secret: String,
    /// Namespace of the implementation's proxy pods (Envoy Gateway's `envoy-gateway-system`),
    /// the only ones the NetworkPolicies let reach the upstream from outside the namespace.
    pub controller_namespace: String,
}

/// How one service's pods are scheduled.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// What the scheduler reserves for each pod; the service's `resources` (its limits) when
    /// absent, which gives the pod the Guaranteed class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RawRequests>,
    /// A HorizontalPodAutoscaler owns the replicas, between `min` and `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<RawAutoscaling>,
}

/// Resource requests of a pod.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequests {
    /// vCPUs reserved.
    pub cpus: RawCpus,
    /// Memory reserved, e.g. `1GB`.
    pub memory: String,
}

/// Autoscaling bounds. The fewest replicas are those the service runs without an autoscaler
/// (`scaling.<service>.replicas`, else `replicas`), which the workload then leaves to it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscaling {
    /// Most replicas.
    pub max: u32,
    /// Average CPU use, in percent of the requests, that the autoscaler keeps.
    pub cpu_utilization: u32,
}

/// A version written as text; a number is refused with the reason (YAML reads `1.30` as 1.3).
fn version_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Text;
    impl Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a version such as \"1.30\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Err(E::custom(format!(
                "the version is the number {v}: quote it (\"1.30\"), since unquoted 1.30 is read as 1.3"
            )))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            self.visit_f64(v as f64)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            self.visit_f64(v as f64)
        }
    }
    deserializer.deserialize_any(Text)
}
