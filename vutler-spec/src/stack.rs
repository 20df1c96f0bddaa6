//! The validated model that renderers take.
//!
//! A [`Stack`] can only be obtained from [`crate::resolve`], which builds it last, from parts
//! that already passed their checks: every reference is a handle ([`ServiceId`], [`PortRef`],
//! [`VariableId`], ...) that the stack resolves without failing, every unit is parsed, and every
//! string that reaches a rendered file is a [`crate::text`] newtype that only parsing makes. The
//! stack's fields are private and the parts' types are `#[non_exhaustive]`, so a library caller
//! can read a stack but not build or change one.
//!
//! Handles index the stack they came from; using one with another stack is a programming error
//! (like an index into another vector).

use std::net::IpAddr;

use indexmap::IndexMap;

use crate::configs::{ConfigFile, ConfigId};
pub use crate::raw::{
    AlertSeverity, BackupMethod, CertificateSource, Condition, DatasourceKind, FirewallPolicy, LogDriver,
    NetworkDriver, PanelKind, PidMode, Propagation, Protocol, Restart, Rotation, SecretsBackend, ServerSideEncryption,
    StorageClass, VolumeKind,
};
use crate::text::{
    AbsolutePath, AlertName, Cipher, Domain, EmailAddress, EnvDefault, EnvName, FileName, HostPath, HttpUrl, Image,
    MetricName, Name, OneLine, Prose, S3Url, SlackChannel, Smarthost, TreePath, Uid, UrlPath,
};
use crate::units::{ByteSize, Cpus, Duration, Schedule};

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub(crate) usize);

        impl $name {
            /// Position in the stack's list, in spec order.
            pub fn index(self) -> usize {
                self.0
            }
        }
    };
}

handle!(
    /// A service of the stack.
    ServiceId
);
handle!(
    /// A variable of `.env`.
    VariableId
);
handle!(
    /// A named volume.
    VolumeId
);
handle!(
    /// A Docker network.
    NetworkId
);
handle!(
    /// A VM size.
    VmId
);
handle!(
    /// An Alertmanager receiver.
    ReceiverId
);
handle!(
    /// A Grafana datasource.
    DatasourceId
);
handle!(
    /// A Grafana dashboard.
    DashboardId
);

/// A named port of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRef {
    /// The service.
    pub service: ServiceId,
    pub(crate) port: usize,
}

/// A variable of a service's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnvRef {
    /// The service.
    pub service: ServiceId,
    pub(crate) index: usize,
}

/// Where a service's port is reached on the Docker network: `service:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint<'a> {
    /// The service's name, which Docker's DNS resolves.
    pub host: &'a Name,
    /// The container port.
    pub port: u16,
}

impl std::fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The whole stack of one environment, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub(crate) env: Name,
    pub(crate) project: Name,
    pub(crate) domain: Domain,
    pub(crate) target_vm: VmId,
    pub(crate) platform: Platform,
    pub(crate) secrets_backend: SecretsBackend,
    pub(crate) vms: Vec<Vm>,
    pub(crate) costs: Vec<Cost>,
    pub(crate) variables: Vec<Variable>,
    pub(crate) networks: Vec<Network>,
    pub(crate) volumes: Vec<Volume>,
    pub(crate) services: Vec<Service>,
    pub(crate) service_index: IndexMap<String, ServiceId>,
    pub(crate) edge: Edge,
    pub(crate) tls: Tls,
    pub(crate) firewall: Firewall,
    pub(crate) monitoring: Option<Monitoring>,
    pub(crate) backups: Option<Backups>,
    pub(crate) textfile_dir: Option<AbsolutePath>,
    pub(crate) operations: Operations,
    pub(crate) scaling: Vec<ScalePlan>,
    pub(crate) config_files: Vec<ConfigFile>,
}

impl Stack {
    /// Every connection the model knows, one per client and server, in the order of the
    /// clients and then of the servers: who depends on whom, names whom as a host in its
    /// environment, scrapes whom, sends alerts to or queries whom, and the proxy to the
    /// upstream. A NetworkPolicy allows exactly these.
    pub fn connections(&self) -> Vec<Connection> {
        let mut out: Vec<Connection> = Vec::new();
        let mut add = |client: ServiceId, server: ServiceId, ports: &[u16]| {
            if client == server {
                return;
            }
            match out.iter_mut().find(|c| c.client == client && c.server == server) {
                Some(c) => {
                    for p in ports {
                        if !c.ports.contains(p) {
                            c.ports.push(*p);
                        }
                    }
                    c.ports.sort_unstable();
                }
                None => {
                    let mut ports = ports.to_vec();
                    ports.sort_unstable();
                    ports.dedup();
                    out.push(Connection { client, server, ports });
                }
            }
        };
        let all_ports = |s: &Service| s.ports.iter().map(|p| p.container).collect::<Vec<_>>();
        for client in &self.services {
            for d in &client.depends_on {
                add(client.id, d.service, &all_ports(self.service(d.service)));
            }
            for server in &self.services {
                let named = client.environment.iter().any(|e| match &e.value {
                    EnvValue::Text(t) | EnvValue::WithSecrets(t) => t.parts().iter().any(|p| match p {
                        TextPart::Literal(l) => crate::resolve::names_host(e.key.as_str(), l, &server.name),
                        TextPart::Variable(_) => false,
                    }),
                    EnvValue::Secret { .. } => false,
                });
                if named {
                    add(client.id, server.id, &all_ports(server));
                }
            }
        }
        let edge = &self.edge;
        add(edge.proxy, edge.upstream.service, &[self.port(edge.upstream).container]);
        if let Some(m) = &self.monitoring {
            for job in &m.scrape_jobs {
                add(
                    m.prometheus.service,
                    job.target.service,
                    &[self.port(job.target).container],
                );
            }
            if let Some(am) = &m.alertmanager {
                add(
                    m.prometheus.service,
                    am.target.service,
                    &[self.port(am.target).container],
                );
            }
            if let Some(g) = &m.grafana {
                for d in &g.datasources {
                    add(g.service, d.target.service, &[self.port(d.target).container]);
                }
            }
        }
        out.sort_by_key(|c| (c.client, c.server));
        out
    }

    /// What runs the environment.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The cluster's settings, when a Kubernetes cluster runs the environment.
    pub fn kubernetes(&self) -> Option<&Kubernetes> {
        match &self.platform {
            Platform::Kubernetes(k) => Some(k),
            Platform::Compose => None,
        }
    }

    /// Environment name (`dev`, `staging`, `production`).
    pub fn env(&self) -> &Name {
        &self.env
    }

    /// Compose project name.
    pub fn project(&self) -> &Name {
        &self.project
    }

    /// The name of a metric the rendered scripts write, in this stack (see [`ScriptMetric`]).
    pub fn metric(&self, metric: ScriptMetric) -> String {
        metric.name(self.project.as_str())
    }

    /// Public domain name.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// How secrets reach containers.
    pub fn secrets_backend(&self) -> SecretsBackend {
        self.secrets_backend
    }

    /// The VM this environment runs on.
    pub fn vm(&self) -> &Vm {
        &self.vms[self.target_vm.0]
    }

    /// Every VM size of the spec.
    pub fn vms(&self) -> &[Vm] {
        &self.vms
    }

    /// Monthly costs besides the VM.
    pub fn costs(&self) -> &[Cost] {
        &self.costs
    }

    /// Variables of `.env`, in spec order.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// A variable.
    pub fn variable(&self, id: VariableId) -> &Variable {
        &self.variables[id.0]
    }

    /// Docker networks.
    pub fn networks(&self) -> &[Network] {
        &self.networks
    }

    /// A network.
    pub fn network(&self, id: NetworkId) -> &Network {
        &self.networks[id.0]
    }

    /// Named volumes.
    pub fn volumes(&self) -> &[Volume] {
        &self.volumes
    }

    /// A volume.
    pub fn volume(&self, id: VolumeId) -> &Volume {
        &self.volumes[id.0]
    }

    /// Services, in spec order.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// A service.
    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id.0]
    }

    /// The service with this name, if the stack has one.
    pub fn service_named(&self, name: &str) -> Option<&Service> {
        self.service_index.get(name).map(|id| self.service(*id))
    }

    /// A named port of a service.
    pub fn port(&self, port: PortRef) -> &Port {
        &self.service(port.service).ports[port.port]
    }

    /// Where a port is reached on the Docker network.
    pub fn endpoint(&self, port: PortRef) -> Endpoint<'_> {
        Endpoint {
            host: &self.service(port.service).name,
            port: self.port(port).container,
        }
    }

    /// A variable of a service's environment.
    pub fn env_var(&self, var: EnvRef) -> &EnvVar {
        &self.service(var.service).environment[var.index]
    }

    /// The reverse proxy.
    pub fn edge(&self) -> &Edge {
        &self.edge
    }

    /// TLS termination.
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    /// Host firewall.
    pub fn firewall(&self) -> &Firewall {
        &self.firewall
    }

    /// Monitoring and alerting, when the stack has them.
    pub fn monitoring(&self) -> Option<&Monitoring> {
        self.monitoring.as_ref()
    }

    /// The Alertmanager, when the stack has one.
    pub fn alertmanager(&self) -> Option<&Alertmanager> {
        self.monitoring.as_ref()?.alertmanager.as_ref()
    }

    /// Grafana, when the stack has it.
    pub fn grafana(&self) -> Option<&Grafana> {
        self.monitoring.as_ref()?.grafana.as_ref()
    }

    /// The scrape jobs (none without monitoring).
    pub fn scrape_jobs(&self) -> &[ScrapeJob] {
        self.monitoring.as_ref().map_or(&[], |m| &m.scrape_jobs)
    }

    /// Backups, when the stack has at least one backup job.
    pub fn backups(&self) -> Option<&Backups> {
        self.backups.as_ref()
    }

    /// The backup jobs, in spec order (none without backups).
    pub fn backup_jobs(&self) -> &[BackupJob] {
        self.backups.as_ref().map_or(&[], |b| &b.jobs)
    }

    /// Host folder of node-exporter's textfile collector, where the scripts record their
    /// metrics (`backups.textfile_dir`).
    pub fn textfile_dir(&self) -> Option<&AbsolutePath> {
        self.textfile_dir.as_ref()
    }

    /// Operations scripts.
    pub fn operations(&self) -> &Operations {
        &self.operations
    }

    /// Scale-out plans, in spec order.
    pub fn scaling(&self) -> &[ScalePlan] {
        &self.scaling
    }

    /// The scale-out plan of a service, if it has one.
    pub fn scale_of(&self, service: ServiceId) -> Option<&ScalePlan> {
        self.scaling.iter().find(|p| p.service == service)
    }

    /// The config files the deployment contains, sorted by path.
    pub fn config_files(&self) -> &[ConfigFile] {
        &self.config_files
    }

    /// A config file.
    pub fn config_file(&self, id: ConfigId) -> &ConfigFile {
        &self.config_files[id.0]
    }

    /// Every service, each after those it depends on (and otherwise in spec order): the order
    /// in which they start.
    pub fn start_order(&self) -> Vec<ServiceId> {
        let deps = |i: usize| -> &[Dependency] { &self.services[i].depends_on };
        dependency_order(self.services.len(), |i, k| deps(i).get(k).map(|d| d.service.index()))
            .into_iter()
            .map(ServiceId)
            .collect()
    }

    /// The services that wait for this one to start (`depends_on`), in spec order.
    pub fn dependents(&self, service: ServiceId) -> impl Iterator<Item = &Service> {
        self.services
            .iter()
            .filter(move |s| s.depends_on.iter().any(|d| d.service == service))
    }

    /// The resource totals against the VM.
    pub fn capacity(&self) -> Capacity {
        let backups = self.backups.as_ref().map(Backups::local_space).unwrap_or_default();
        capacity_of(self.vm(), &self.services, &self.scaling, backups)
    }

    /// Sum of the resources of every service, replicas counted, without scale-out plans.
    pub fn totals(&self) -> Resources {
        totals(&self.services, |_| None)
    }

    /// Sum of the resources with every scale-out plan applied.
    pub fn scaled_totals(&self) -> Resources {
        totals(&self.services, |s| self.scale_of(s.id).map(|p| p.replicas))
    }
}

/// The totals of these services against a VM, with and without the scale-out plans.
pub(crate) fn capacity_of(vm: &Vm, services: &[Service], scaling: &[ScalePlan], backups: ByteSize) -> Capacity {
    let plan = |s: &Service| scaling.iter().find(|p| p.service == s.id).map(|p| p.replicas);
    let with_backups = |mut r: Resources| {
        r.disk = r.disk + backups;
        r
    };
    Capacity {
        vm: vm.resources(),
        base: with_backups(totals(services, |_| None)),
        scaled: with_backups(totals(services, plan)),
        backups,
    }
}

fn totals(services: &[Service], replicas: impl Fn(&Service) -> Option<u32>) -> Resources {
    let mut total = Resources::default();
    for s in services {
        if let Some(r) = &s.resources {
            let n = replicas(s).unwrap_or(s.replicas);
            total.cpus = total.cpus + r.cpus * n;
            total.memory = total.memory + r.memory * n;
            // Replicas share their volumes: disk is counted once.
            total.disk = total.disk + r.disk;
        }
    }
    total
}

/// A VM size.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Vm {
    /// Name (a key of `vms`).
    pub name: Name,
    /// What the size is for.
    pub description: OneLine,
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
    /// Disk of the local backup copies, included in the disk of `base` and `scaled`.
    pub backups: ByteSize,
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
#[non_exhaustive]
pub struct Cost {
    /// Name (a key of `costs`).
    pub name: Name,
    /// What is paid for.
    pub description: OneLine,
    /// How much.
    pub monthly_usd: CostRange,
}

/// A cost range in whole US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CostRange {
    /// Lowest.
    pub min: u32,
    /// Highest (equal to `min` for an exact cost).
    pub max: u32,
}

/// A variable of `.env`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Variable {
    /// Its id.
    pub id: VariableId,
    /// Name.
    pub name: EnvName,
    /// Comment in `.env.example`.
    pub description: OneLine,
    /// Heading in `.env.example`.
    pub group: OneLine,
    /// Whether the value is a secret.
    pub secret: bool,
    /// Default value (never set on secrets).
    pub default: Option<EnvDefault>,
    /// Whether the stack refuses to start without it.
    pub required: bool,
    /// Placeholder for `.env.example` (a `<placeholder>` for secrets).
    pub example: Option<OneLine>,
}

/// A Docker network.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Network {
    /// Name.
    pub name: Name,
    /// Driver.
    pub driver: NetworkDriver,
    /// Whether it has no route outside.
    pub internal: bool,
}

/// A named volume.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Volume {
    /// Name.
    pub name: Name,
    /// What it holds.
    pub kind: VolumeKind,
    /// Description.
    pub description: OneLine,
}

/// A service.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Service {
    /// Its id.
    pub id: ServiceId,
    /// Name.
    pub name: Name,
    /// What it does.
    pub description: OneLine,
    /// Image with a pinned tag.
    pub image: Image,
    /// Variable overriding the tag at deploy time (its default is the image's tag).
    pub tag_variable: Option<VariableId>,
    /// Fixed container name (only with one replica).
    pub container_name: Option<Name>,
    /// Restart policy.
    pub restart: Restart,
    /// Command arguments.
    pub command: Option<Vec<OneLine>>,
    /// Container environment, in spec order.
    pub environment: Vec<EnvVar>,
    /// Ports it listens on.
    pub ports: Vec<Port>,
    /// Mounts.
    pub mounts: Vec<Mount>,
    /// Start-up dependencies.
    pub depends_on: Vec<Dependency>,
    /// Healthcheck.
    pub healthcheck: Option<Healthcheck>,
    /// Networks joined (at least one).
    pub networks: Vec<NetworkId>,
    /// Number of containers (at least 1).
    pub replicas: u32,
    /// Resources (absent only in dev).
    pub resources: Option<Resources>,
    /// Log driver and rotation.
    pub logging: Logging,
    /// Whether it gets `up == 0` / `absent` alerts.
    pub critical: bool,
    /// Time it has to stop before it is killed, when not Docker's default.
    pub stop_grace_period: Option<Duration>,
    /// Its process namespace, when not its own.
    pub pid: Option<PidMode>,
    /// The credentials its clients present, when it enforces authentication.
    pub authentication: Option<Authentication>,
}

/// A service that enforces authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authentication {
    /// How the password it keeps is changed on rotation.
    pub rotation: Rotation,
    /// The variable of its environment naming the user.
    pub user: Option<EnvRef>,
    /// The variable of its environment holding the password (a secret).
    pub password: EnvRef,
    /// The secret variables a client presents: the password's, and the user's when it is a
    /// secret too.
    pub credentials: Vec<VariableId>,
}

impl Service {
    /// The port with this name.
    pub fn port(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// The variable of its environment with this name.
    pub fn env(&self, key: &str) -> Option<&EnvVar> {
        self.environment.iter().find(|v| v.key == key)
    }
}

/// A variable of a container's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvVar {
    /// Name in the container.
    pub key: EnvName,
    /// Value.
    pub value: EnvValue,
}

/// A container environment value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// Text with references to non-secret variables of `.env` (`${DOMAIN}` and `${PROJECT}`
    /// are already replaced by their values).
    Text(Text),
    /// A secret variable.
    Secret {
        /// The secret variable.
        variable: VariableId,
        /// Image variable reading it from a file.
        file_env: Option<EnvName>,
    },
    /// Text with references to secret variables too (a connection string with its password),
    /// passed as a variable whose value Compose fills in from `.env`.
    WithSecrets(Text),
}

impl EnvValue {
    /// The secret variables it carries, in order.
    pub fn secrets<'a>(&'a self, stack: &'a Stack) -> impl Iterator<Item = VariableId> + 'a {
        let (one, text) = match self {
            EnvValue::Secret { variable, .. } => (Some(*variable), None),
            EnvValue::WithSecrets(text) => (None, Some(text)),
            EnvValue::Text(_) => (None, None),
        };
        one.into_iter().chain(
            text.into_iter()
                .flat_map(|t| t.variables())
                .filter(|v| stack.variable(*v).secret),
        )
    }
}

/// Text with references to plain variables, parsed once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub(crate) Vec<TextPart>);

impl Text {
    /// The parts, in order.
    pub fn parts(&self) -> &[TextPart] {
        &self.0
    }

    /// The variables referenced, in order.
    pub fn variables(&self) -> impl Iterator<Item = VariableId> + '_ {
        self.0.iter().filter_map(|p| match p {
            TextPart::Variable(v) => Some(*v),
            TextPart::Literal(_) => None,
        })
    }
}

/// A piece of [`Text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextPart {
    /// Text taken as is (one line; it may contain `$`).
    Literal(String),
    /// A reference to a plain variable of `.env`.
    Variable(VariableId),
}

/// A port a service listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Port {
    /// Name.
    pub name: Name,
    /// Port in the container (never 0).
    pub container: u16,
    /// Where it is published on the host, if anywhere.
    pub published: Option<Published>,
    /// Protocol.
    pub protocol: Protocol,
}

/// A published host port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// Host address.
    pub host_ip: IpAddr,
    /// Host port (never 0).
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
        /// The volume.
        volume: VolumeId,
        /// Container path.
        target: AbsolutePath,
        /// Read-only.
        read_only: bool,
    },
    /// A host path.
    Bind {
        /// Host path.
        source: HostPath,
        /// Container path.
        target: AbsolutePath,
        /// Read-only.
        read_only: bool,
        /// Propagation, when not Docker's default.
        propagation: Option<Propagation>,
    },
    /// Rendered config files, read-only.
    Config(ConfigMount),
}

impl Mount {
    /// Container path.
    pub fn target(&self) -> &AbsolutePath {
        match self {
            Mount::Volume { target, .. } | Mount::Bind { target, .. } => target,
            Mount::Config(c) => &c.target,
        }
    }
}

/// A `config:` mount: a rendered file, or a folder of them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigMount {
    /// Path in the rendered tree, as written.
    pub source: TreePath,
    /// Container path.
    pub target: AbsolutePath,
    /// The files it covers (at least one), in path order.
    pub files: Vec<ConfigId>,
}

impl ConfigMount {
    /// Where the container sees a file of the catalogue, when the mount covers it.
    pub fn container_path(&self, file: &ConfigFile) -> Option<AbsolutePath> {
        self.container_path_of(file.path())
    }

    /// Where the container sees a path of the rendered tree, when the mount covers it.
    pub(crate) fn container_path_of(&self, file: &str) -> Option<AbsolutePath> {
        let rest = if file == self.source.as_str() {
            ""
        } else {
            file.strip_prefix(self.source.as_str())?.strip_prefix('/')?
        };
        self.target.join(rest)
    }
}

/// A start-up dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dependency {
    /// Service depended on.
    pub service: ServiceId,
    /// What to wait for.
    pub condition: Condition,
}

/// A healthcheck.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Healthcheck {
    /// The check.
    pub test: HealthTest,
    /// Time between checks.
    pub interval: Duration,
    /// Time a check may take.
    pub timeout: Duration,
    /// Failures before unhealthy (at least 1).
    pub retries: u32,
    /// Grace period after start.
    pub start_period: Option<Duration>,
}

/// The command of a healthcheck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTest {
    /// Run without a shell (at least one word).
    Exec(Vec<OneLine>),
    /// Run by `/bin/sh -c`.
    Shell(OneLine),
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
#[non_exhaustive]
pub struct Logging {
    /// Driver.
    pub driver: LogDriver,
    /// Rotation size.
    pub max_size: ByteSize,
    /// Rotated files kept (at least 1).
    pub max_file: u32,
}

/// The reverse proxy and the app behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Edge {
    /// Proxy service.
    pub proxy: ServiceId,
    /// The NGINX version the proxy runs (from its image tag), whose syntax its configuration
    /// is written in.
    pub nginx: NginxVersion,
    /// The app's port requests are forwarded to.
    pub upstream: PortRef,
    /// Largest request body.
    pub max_body_size: ByteSize,
    /// How long the proxy waits on the app (whole seconds; at least 60 with WebSockets).
    pub read_timeout: Duration,
    /// Whether the app serves WebSockets through the proxy.
    pub websockets: bool,
    /// Folder of ACME challenge files in the proxy.
    pub acme_root: AbsolutePath,
    /// Paths of the app the proxy answers 404 on, because only Prometheus reads them: the
    /// paths of the scrape jobs of the app, or `/metrics` (the usual one) when none scrapes it.
    pub metrics_paths: Vec<UrlPath>,
}

/// An NGINX version (`1.27`, `1.27.3`) as an image tag pins it; a tag without the patch level
/// follows the newest patch of its minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NginxVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level, when the tag pins one.
    pub patch: Option<u32>,
}

impl NginxVersion {
    /// The version an image tag starts with: `1.27-alpine`, `1.27.3`, `1.27`.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let end = tag.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(tag.len());
        let mut numbers = tag[..end].split('.').map(str::parse::<u32>);
        let major = numbers.next()?.ok()?;
        let minor = numbers.next()?.ok()?;
        let patch = numbers.next().transpose().ok()?;
        Some(Self { major, minor, patch })
    }

    /// Whether HTTP/2 is switched on by its own directive (`http2 on;`, from NGINX 1.25.1)
    /// rather than as a `listen` parameter (deprecated since).
    pub fn has_http2_directive(self) -> bool {
        match (self.major, self.minor, self.patch) {
            (1, 25, Some(0)) => false,
            (major, minor, _) => (major, minor) >= (1, 25),
        }
    }
}

impl std::fmt::Display for NginxVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        match self.patch {
            Some(patch) => write!(f, ".{patch}"),
            None => Ok(()),
        }
    }
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
#[non_exhaustive]
pub struct Tls {
    /// Protocols offered (at least one).
    pub protocols: Vec<TlsProtocol>,
    /// TLSv1.2 ciphers (some whenever TLSv1.2 is offered).
    pub ciphers: Vec<Cipher>,
    /// Prefer server cipher order.
    pub prefer_server_ciphers: bool,
    /// Shared session cache size.
    pub session_cache: ByteSize,
    /// Session lifetime (whole seconds).
    pub session_timeout: Duration,
    /// OCSP stapling (never with a self-signed certificate).
    pub stapling: bool,
    /// HSTS.
    pub hsts: Hsts,
    /// Certificate.
    pub certificate: Certificate,
}

/// HSTS.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hsts {
    /// `max-age` (whole seconds).
    pub max_age: Duration,
    /// `includeSubDomains`.
    pub include_subdomains: bool,
    /// `preload`.
    pub preload: bool,
}

/// Certificate files, and how they are obtained and renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Certificate {
    /// Who issues it.
    pub issuer: Issuer,
    /// When `certificates.sh renew` runs.
    pub renew_schedule: Schedule,
    /// Host folder.
    pub host_dir: HostPath,
    /// Folder in the proxy container.
    pub mount_dir: AbsolutePath,
    /// Chain file name.
    pub cert_file: FileName,
    /// Key file name.
    pub key_file: FileName,
}

/// Who issues the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issuer {
    /// Let's Encrypt, through an ACME client and the HTTP-01 challenge.
    Letsencrypt(Acme),
    /// A self-signed certificate, made on the host (dev).
    SelfSigned,
}

/// The ACME client that obtains and renews a Let's Encrypt certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Acme {
    /// Its image.
    pub image: Image,
    /// The plain variable holding the account's email.
    pub email: VariableId,
    /// Host folder of its state.
    pub state_dir: HostPath,
    /// Host folder it writes challenge files into, which the proxy serves at `edge.acme_root`.
    pub webroot: HostPath,
}

impl Certificate {
    /// Whether browsers and curl cannot verify it (self-signed).
    pub fn is_self_signed(&self) -> bool {
        self.issuer == Issuer::SelfSigned
    }

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
#[non_exhaustive]
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
#[non_exhaustive]
pub struct FirewallRule {
    /// Name.
    pub name: Name,
    /// Port (never 0).
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

/// Monitoring.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Monitoring {
    /// Prometheus.
    pub prometheus: Prometheus,
    /// Scrape interval.
    pub scrape_interval: Duration,
    /// Rule evaluation interval.
    pub evaluation_interval: Duration,
    /// Metrics retention.
    pub retention: Duration,
    /// Scrape jobs, in spec order.
    pub scrape_jobs: Vec<ScrapeJob>,
    /// Alert groups.
    pub alert_groups: Vec<AlertGroup>,
    /// Alertmanager, when alerts are sent somewhere.
    pub alertmanager: Option<Alertmanager>,
    /// Grafana, when the stack has dashboards.
    pub grafana: Option<Grafana>,
}

/// The Prometheus service and where it reads and keeps what the model gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prometheus {
    /// The service.
    pub service: ServiceId,
    /// Where it sees the rendered configuration (its rules are in the same folder).
    pub config_path: AbsolutePath,
    /// Where its volume keeps the data.
    pub storage_path: AbsolutePath,
}

/// A scrape job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScrapeJob {
    /// Job name.
    pub name: Name,
    /// The port scraped.
    pub target: PortRef,
    /// HTTP path.
    pub path: UrlPath,
    /// Metrics produced.
    pub metrics: Vec<MetricName>,
    /// The service whose health the job reports (the scraped service unless an exporter).
    pub monitors: ServiceId,
    /// How Prometheus authenticates to the target.
    pub auth: Option<ScrapeAuth>,
}

/// A scrape job's credentials, each a secret variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrapeAuth {
    /// A bearer token.
    Bearer {
        /// Secret variable with the token.
        token: VariableId,
    },
    /// HTTP basic authentication.
    Basic {
        /// The user.
        username: OneLine,
        /// Secret variable with the password.
        password: VariableId,
    },
}

impl ScrapeAuth {
    /// The secret variable holding the credential.
    pub fn secret(&self) -> VariableId {
        match self {
            ScrapeAuth::Bearer { token } => *token,
            ScrapeAuth::Basic { password, .. } => *password,
        }
    }
}

/// An alert group.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AlertGroup {
    /// Name.
    pub name: Name,
    /// Evaluation interval.
    pub interval: Option<Duration>,
    /// Rules.
    pub rules: Vec<AlertRule>,
}

/// An alerting rule, its expression checked to be valid PromQL.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AlertRule {
    /// Alert name.
    pub name: AlertName,
    /// PromQL expression, as written.
    pub expr: crate::promql::Expression,
    /// Pending duration.
    pub for_: Option<Duration>,
    /// Severity.
    pub severity: AlertSeverity,
    /// Summary annotation.
    pub summary: OneLine,
    /// Description annotation.
    pub description: Option<Prose>,
    /// Runbook annotation: what to do when it fires.
    pub runbook: Option<Prose>,
}

/// Alertmanager.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Alertmanager {
    /// The port alerts are sent to (of the Alertmanager service).
    pub target: PortRef,
    /// Receivers, in spec order.
    pub receivers: Vec<Receiver>,
    /// Fallback receiver.
    pub default_receiver: ReceiverId,
    /// Routes.
    pub routes: Vec<Route>,
}

impl Alertmanager {
    /// The Alertmanager service.
    pub fn service(&self) -> ServiceId {
        self.target.service
    }

    /// A receiver.
    pub fn receiver(&self, id: ReceiverId) -> &Receiver {
        &self.receivers[id.0]
    }
}

/// An alert receiver; credentials are secret variables, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receiver {
    /// Name.
    pub name: Name,
    /// Where alerts go.
    pub kind: ReceiverKind,
}

/// Where a receiver sends alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverKind {
    /// Slack webhook.
    Slack {
        /// Channel.
        channel: SlackChannel,
        /// Secret variable with the webhook URL.
        webhook_url: VariableId,
    },
    /// PagerDuty Events API v2.
    Pagerduty {
        /// Secret variable with the routing key.
        routing_key: VariableId,
    },
    /// Email through an SMTP server.
    Email {
        /// Recipient.
        to: EmailAddress,
        /// Sender.
        from: EmailAddress,
        /// SMTP server, `host:port`.
        smarthost: Smarthost,
        /// The SMTP login: user and secret variable with the password.
        auth: Option<(OneLine, VariableId)>,
        /// Whether STARTTLS is required.
        require_tls: bool,
    },
    /// An HTTP endpoint taking Alertmanager's webhook JSON.
    Webhook {
        /// Where alerts are POSTed.
        url: HttpUrl,
        /// Secret variable with the bearer token sent.
        token: Option<VariableId>,
    },
}

impl ReceiverKind {
    /// The secret variable holding the receiver's credential, if it has one.
    pub fn secret(&self) -> Option<VariableId> {
        match self {
            ReceiverKind::Slack { webhook_url, .. } => Some(*webhook_url),
            ReceiverKind::Pagerduty { routing_key } => Some(*routing_key),
            ReceiverKind::Email { auth, .. } => auth.as_ref().map(|(_, v)| *v),
            ReceiverKind::Webhook { token, .. } => *token,
        }
    }
}

/// A route by severity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// Severity.
    pub severity: AlertSeverity,
    /// Receivers (at least one).
    pub receivers: Vec<ReceiverId>,
}

/// Grafana.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grafana {
    /// Service.
    pub service: ServiceId,
    /// Datasources, in spec order.
    pub datasources: Vec<Datasource>,
    /// Dashboards, in spec order; the dashboard provider of [`crate::Stack::config_files`]
    /// says where Grafana reads them.
    pub dashboards: Vec<Dashboard>,
}

impl Grafana {
    /// A datasource.
    pub fn datasource(&self, id: DatasourceId) -> &Datasource {
        &self.datasources[id.0]
    }

    /// A dashboard.
    pub fn dashboard(&self, id: DashboardId) -> &Dashboard {
        &self.dashboards[id.0]
    }
}

/// A datasource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Datasource {
    /// Name.
    pub name: Name,
    /// What it is.
    pub kind: DatasourceKind,
    /// uid.
    pub uid: Uid,
    /// The port queried.
    pub target: PortRef,
    /// Default datasource (one at most).
    pub default: bool,
}

/// A dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dashboard {
    /// Name (its file name in the tree).
    pub name: Name,
    /// Title.
    pub title: OneLine,
    /// uid.
    pub uid: Uid,
    /// Panels.
    pub panels: Vec<Panel>,
}

/// A panel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Panel {
    /// Title.
    pub name: OneLine,
    /// Visualisation.
    pub kind: PanelKind,
    /// Grafana unit (`short` unless the spec says).
    pub unit: Uid,
    /// Datasource.
    pub datasource: DatasourceId,
    /// Queries (at least one).
    pub queries: Vec<Query>,
}

/// A panel query.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Query {
    /// The query, in the datasource's language.
    pub expr: QueryExpr,
    /// Legend.
    pub legend: Option<OneLine>,
}

/// A panel query, in the language of its datasource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryExpr {
    /// PromQL, checked against the scrape jobs.
    Promql(crate::promql::Expression),
    /// LogQL, with its stream selector checked.
    Logql(OneLine),
}

impl QueryExpr {
    /// The query as written.
    pub fn as_str(&self) -> &str {
        match self {
            QueryExpr::Promql(e) => e.as_str(),
            QueryExpr::Logql(q) => q.as_str(),
        }
    }
}

/// Backups.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backups {
    /// Local staging folder.
    pub local_dir: AbsolutePath,
    /// Upload destination.
    pub destination: S3Url,
    /// Staleness threshold for the alert.
    pub stale_after: Duration,
    /// Secret variables with the destination's credentials.
    pub credentials: Option<BackupCredentials>,
    /// How backups are uploaded.
    pub s3: S3Options,
    /// Restore drills.
    pub drill: Option<Drill>,
    /// Jobs, in spec order.
    pub jobs: Vec<BackupJob>,
}

/// Options of the S3 API backups are uploaded to; `None` leaves the AWS CLI's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Options {
    /// Endpoint URL of an S3 API other than AWS's.
    pub endpoint: Option<HttpUrl>,
    /// Region of the bucket.
    pub region: Option<Name>,
    /// Storage class of uploads.
    pub storage_class: Option<StorageClass>,
    /// Server-side encryption of uploads, with the KMS key of `aws:kms`.
    pub encryption: Option<(ServerSideEncryption, Option<OneLine>)>,
}

/// Restore drills: every job's newest backup restored into a scratch copy and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drill {
    /// When.
    pub schedule: Schedule,
    /// Age after which no successful drill raises an alert.
    pub stale_after: Duration,
}

/// How long a job's backups are kept, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// On the host, in the local folder (at least 1).
    pub local_days: u64,
    /// In the object store (at least `local_days`).
    pub remote_days: u64,
}

impl Backups {
    /// The most disk the local copies of every job take at once (see [`BackupJob::local_space`]).
    pub fn local_space(&self) -> ByteSize {
        self.jobs
            .iter()
            .fold(ByteSize::default(), |sum, j| sum + j.local_space())
    }
}

/// The secret variables holding the backup destination's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupCredentials {
    /// Access key id variable.
    pub access_key_id: VariableId,
    /// Secret access key variable.
    pub secret_access_key: VariableId,
}

/// A metric the rendered scripts write through node-exporter's textfile collector, named after
/// the project (`vutler_backup_last_success_timestamp_seconds` in the `vutler` project): a scrape
/// job lists it by that name, and the derived alerts watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ScriptMetric {
    /// `backup.sh` after each successful job, labelled `backup="<job>"`; the stale-backup alerts
    /// watch it.
    BackupSuccess,
    /// `restore.sh --verify` after each successful restore drill of a job, labelled
    /// `backup="<job>"`; the drill alerts watch it.
    DrillSuccess,
    /// `backup.sh --wal` after each run that left no archived WAL segment unshipped, labelled
    /// `backup="<job>"`; the WAL shipping alerts watch it.
    WalShipped,
    /// `certificates.sh` after each run, labelled `domain="<domain>"`: when the TLS certificate
    /// expires; the certificate alerts watch it.
    TlsExpiry,
    /// `scripts/secrets.sh` for each secret: when it was last rotated (or first set).
    SecretRotated,
}

impl ScriptMetric {
    /// Every metric, in a fixed order.
    pub const ALL: [ScriptMetric; 5] = [
        ScriptMetric::BackupSuccess,
        ScriptMetric::DrillSuccess,
        ScriptMetric::WalShipped,
        ScriptMetric::TlsExpiry,
        ScriptMetric::SecretRotated,
    ];

    /// The name after the project's prefix.
    pub fn suffix(self) -> &'static str {
        match self {
            ScriptMetric::BackupSuccess => "backup_last_success_timestamp_seconds",
            ScriptMetric::DrillSuccess => "backup_verify_last_success_timestamp_seconds",
            ScriptMetric::WalShipped => "backup_wal_shipped_timestamp_seconds",
            ScriptMetric::TlsExpiry => "tls_certificate_expiry_timestamp_seconds",
            ScriptMetric::SecretRotated => "secret_rotated_timestamp_seconds",
        }
    }

    /// The metric's name in the stack of `project`: `<project>_<suffix>`, a `-` of the project
    /// read as `_` (metric names have no `-`).
    ///
    /// ```
    /// use vutler_spec::stack::ScriptMetric;
    ///
    /// assert_eq!(ScriptMetric::BackupSuccess.name("vutler"), "vutler_backup_last_success_timestamp_seconds");
    /// assert_eq!(ScriptMetric::TlsExpiry.name("git-server"), "git_server_tls_certificate_expiry_timestamp_seconds");
    /// ```
    pub fn name(self, project: &str) -> String {
        format!("{}_{}", metric_prefix(project), self.suffix())
    }
}

/// The prefix of the names the project gives its own metrics and rule groups: the project's
/// name with `-` and `.` read as `_`.
pub fn metric_prefix(project: &str) -> String {
    project.replace(['-', '.'], "_")
}

/// A backup job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupJob {
    /// Name.
    pub name: Name,
    /// The service dumped.
    pub service: ServiceId,
    /// The volume holding its data (mounted by the service).
    pub volume: VolumeId,
    /// How the data is dumped, with exactly what the method reads.
    pub dump: Dump,
    /// Schedule.
    pub schedule: Schedule,
    /// How long backups are kept.
    pub retention: Retention,
    /// Expected size of one backup.
    pub size: ByteSize,
}

/// PostgreSQL's continuous archiving for a `pg_dump` job: the server archives each finished WAL
/// segment into `dir` (in the job's volume, beside `PGDATA`), switching segments at least every
/// `switch_after` while it is written to, and `backup.sh --wal` ships them every minute, so that
/// at most `rpo` of commits is lost with the host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalArchive {
    /// Recovery point objective.
    pub rpo: Duration,
    /// `archive_timeout`: half of what the RPO leaves after a minute of shipping, 30 s at least.
    pub switch_after: Duration,
    /// `PGDATA` in the container.
    pub pgdata: AbsolutePath,
    /// The archive folder in the container.
    pub dir: AbsolutePath,
}

impl WalArchive {
    /// How often `backup.sh --wal` ships the archive (its cron line runs every minute).
    pub const SHIP_EVERY: Duration = Duration::from_millis(60_000);
}

impl BackupJob {
    /// PostgreSQL's continuous archiving, for point-in-time restores (a `pg_dump` job's).
    pub fn wal(&self) -> Option<&WalArchive> {
        match &self.dump {
            Dump::PgDump { wal, .. } => wal.as_ref(),
            _ => None,
        }
    }

    /// The most local copies at once: every backup still within the local retention when a new
    /// one is written (it is pruned only after), and for a mirror the staged copy of the files
    /// beside its archive.
    pub fn local_copies(&self) -> u64 {
        let window = Duration::from_millis(86_400_000) * self.retention.local_days;
        let staged = u64::from(matches!(self.dump, Dump::MinioMirror { .. }));
        self.schedule.most_runs_within(window, 100_000) + staged
    }

    /// Disk the local copies take at most: [`Self::local_copies`] times the expected size,
    /// twice with WAL archiving (each run also keeps a base backup, taken as large as the dump).
    pub fn local_space(&self) -> ByteSize {
        let per_run = if self.wal().is_some() { 2 } else { 1 };
        self.size * u32::try_from(self.local_copies() * per_run).unwrap_or(u32::MAX)
    }
}

/// How a backup job dumps its service's data. Credentials are variables of the service's
/// environment that hold them, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dump {
    /// `pg_dump` of one database, over the container's local socket (no password).
    PgDump {
        /// Database.
        database: Name,
        /// Variable with the user.
        user: EnvRef,
        /// Variable with the password, for dumps over the network (Kubernetes); Compose's run
        /// in the container, over its local socket.
        password: Option<EnvRef>,
        /// Continuous archiving of its WAL, when the job has an RPO.
        wal: Option<WalArchive>,
    },
    /// `mongodump --archive` of one database, or of all of them.
    Mongodump {
        /// Database, or every one.
        database: Option<Name>,
        /// Variable with the user.
        user: EnvRef,
        /// Variable with the password.
        password: EnvRef,
    },
    /// `mc mirror` of every bucket, through the service's S3 API.
    MinioMirror {
        /// Variable with the user (access key).
        user: EnvRef,
        /// Variable with the password (secret key).
        password: EnvRef,
        /// The S3 API port.
        api: PortRef,
    },
    /// A gzipped tar of every file of the volume, in the service's container.
    VolumeArchive {
        /// Where the service mounts the volume.
        target: AbsolutePath,
    },
}

impl Dump {
    /// The file extension of its backups (`2026...Z.dump`): pg_dump's custom format, a gzipped
    /// mongodump archive, or a gzipped tar of files.
    pub fn extension(&self) -> &'static str {
        match self {
            Dump::PgDump { .. } => "dump",
            Dump::Mongodump { .. } => "archive.gz",
            Dump::MinioMirror { .. } | Dump::VolumeArchive { .. } => "tar.gz",
        }
    }

    /// The method, as specs name it.
    pub fn method(&self) -> BackupMethod {
        match self {
            Dump::PgDump { .. } => BackupMethod::PgDump,
            Dump::Mongodump { .. } => BackupMethod::Mongodump,
            Dump::MinioMirror { .. } => BackupMethod::MinioMirror,
            Dump::VolumeArchive { .. } => BackupMethod::VolumeArchive,
        }
    }

    /// Whether the job dumps a database (rather than files).
    pub fn is_database(&self) -> bool {
        matches!(self, Dump::PgDump { .. } | Dump::Mongodump { .. })
    }
}

/// Operations scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Operations {
    /// Deployment folder on the host.
    pub install_dir: AbsolutePath,
    /// Log folder of cron runs.
    pub log_dir: AbsolutePath,
    /// Migration command run with the new app image (at least one word).
    pub migrate: Option<Vec<OneLine>>,
    /// Public HTTP path answering with the running version.
    pub verify_path: Option<UrlPath>,
    /// Highest accepted disk usage, in percent (1 to 99).
    pub disk_usage_max: u8,
    /// The variable setting the version of the app behind the proxy (its `tag_variable`),
    /// which `update.sh` and `rollback.sh` set; without one, neither is rendered (the app's
    /// version is the spec's image tag).
    pub app_version: Option<VariableId>,
    /// Age after which a secret is due for rotation.
    pub rotate_secrets_after: Option<Duration>,
}

/// A scale-out plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScalePlan {
    /// The service scaled.
    pub service: ServiceId,
    /// Replicas (at least 1).
    pub replicas: u32,
    /// Sticky sessions.
    pub sticky_sessions: bool,
}

#[cfg(test)]
mod nginx_version_tests {
    use super::NginxVersion;

    #[test]
    fn versions_come_from_image_tags() {
        let v = |tag: &str| NginxVersion::from_tag(tag);
        assert_eq!(v("1.27-alpine").map(|v| v.to_string()).as_deref(), Some("1.27"));
        assert_eq!(v("1.22.1").map(|v| v.to_string()).as_deref(), Some("1.22.1"));
        assert_eq!(v("mainline-alpine"), None);
        assert_eq!(v("1-alpine"), None);
        assert_eq!(v("1..2"), None);
        let http2 = |tag: &str| v(tag).is_some_and(NginxVersion::has_http2_directive);
        assert!(http2("1.27-alpine") && http2("1.25") && http2("1.25.1") && http2("2.0"));
        assert!(!http2("1.25.0") && !http2("1.24.0") && !http2("1.22.1"));
    }
}

/// Indexes `0..n`, each after the ones it depends on (`dep(i, k)`: its `k`-th dependency) and
/// otherwise in order. Depth first without recursion, since a spec may chain thousands of
/// services; a dependency met again on the way (a cycle, which the model rules out) is skipped.
fn dependency_order(n: usize, dep: impl Fn(usize, usize) -> Option<usize>) -> Vec<usize> {
    let (mut placed, mut on_path) = (vec![false; n], vec![false; n]);
    let mut out = Vec::with_capacity(n);
    let mut path: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if placed[start] {
            continue;
        }
        on_path[start] = true;
        path.push((start, 0));
        while let Some((i, k)) = path.pop() {
            match dep(i, k) {
                Some(d) => {
                    path.push((i, k + 1));
                    if !placed[d] && !on_path[d] {
                        on_path[d] = true;
                        path.push((d, 0));
                    }
                }
                None => {
                    (placed[i], on_path[i]) = (true, false);
                    out.push(i);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod order_tests {
    use super::dependency_order;

    #[test]
    fn dependencies_come_first_and_a_long_chain_needs_no_recursion() {
        // 0 -> 2 -> 1, 3 alone.
        let deps: [&[usize]; 4] = [&[2], &[], &[1], &[]];
        assert_eq!(dependency_order(4, |i, k| deps[i].get(k).copied()), [1, 2, 0, 3]);
        // A chain of 200 000: each depends on the next.
        let n = 200_000;
        let order = dependency_order(n, |i, k| (k == 0 && i + 1 < n).then_some(i + 1));
        assert_eq!(order.first(), Some(&(n - 1)));
        assert_eq!(order.last(), Some(&0));
        assert_eq!(order.len(), n);
        // A cycle does not loop.
        let cycle: [&[usize]; 2] = [&[1], &[0]];
        assert_eq!(dependency_order(2, |i, k| cycle[i].get(k).copied()), [1, 0]);
    }
}

/// What runs an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Platform {
    /// Docker Compose on the target VM.
    Compose,
    /// A Kubernetes cluster.
    Kubernetes(Box<Kubernetes>),
}

/// The settings of a Kubernetes environment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Kubernetes {
    /// Minor version the cluster runs (`1.30` is 30).
    pub minor: u32,
    /// Namespace of every object.
    pub namespace: Name,
    /// Storage class of claims without their own; the cluster's default when `None`.
    pub storage_class: Option<Name>,
    /// The claim of each `data` volume, in spec order.
    pub claims: Vec<Claim>,
    /// What routes the domain to the upstream.
    pub ingress: Ingress,
    /// Requests and autoscaling, by service index.
    pub(crate) workloads: Vec<Workload>,
    /// Image of the init containers waiting for the services a pod depends on, which also
    /// packs a mirrored backup (BusyBox's `tar` and `gzip`).
    pub wait_image: Image,
    /// Image of the backup CronJobs' upload container (the AWS CLI).
    pub backup_image: Image,
    /// The nodes the workloads are sized against, when the spec says.
    pub nodes: Option<NodePool>,
    /// The cluster's prometheus-operator, which scrapes in place of `monitoring.prometheus`.
    pub prometheus_operator: Option<PrometheusOperator>,
    /// The services the cluster does not run: the proxy (the Ingress or Gateway takes its
    /// place) and, with a prometheus-operator, Prometheus.
    pub(crate) not_deployed: Vec<ServiceId>,
}

/// An existing prometheus-operator's Prometheus, which scrapes the services through
/// ServiceMonitors and evaluates the rules of a PrometheusRule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrometheusOperator {
    /// Namespace of its Prometheus pods.
    pub namespace: Name,
    /// Labels its Prometheus selects ServiceMonitors and PrometheusRules by.
    pub labels: Vec<(String, String)>,
}

impl PrometheusOperator {
    /// The Service the operator creates for every Prometheus it runs, in its namespace.
    pub const SERVICE: &'static str = "prometheus-operated";
    /// That Service's port (`web`).
    pub const PORT: u16 = 9090;

    /// Its Prometheus's address inside the cluster (`prometheus-operated.monitoring.svc:9090`).
    pub fn endpoint(&self) -> String {
        format!("{}.{}.svc:{}", Self::SERVICE, self.namespace, Self::PORT)
    }
}

/// A pool of identical nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodePool {
    /// The size of each node.
    pub vm: VmId,
    /// How many nodes.
    pub count: u32,
}

/// The pods a workload runs on a cluster, fewest and most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pods {
    /// Without load (the autoscaler's minimum, a node agent's one per node).
    pub fewest: u32,
    /// At the autoscaler's maximum.
    pub most: u32,
}

impl Kubernetes {
    /// The oldest minor version whose APIs the manifests use (CronJob's `timeZone` is GA from
    /// 1.27).
    pub const OLDEST_MINOR: u32 = 27;
    /// The longest name of a CronJob: its Jobs are named after it with 11 more characters,
    /// within a label's 63.
    pub const CRON_JOB_NAME_MAX: usize = 52;
    /// The newest minor version the manifests are checked against.
    pub const NEWEST_MINOR: u32 = 37;

    /// The CronJob of a backup job (`backup-postgres`).
    pub fn cron_job_name(job: &str) -> String {
        format!("backup-{job}")
    }

    /// The version as Kubernetes writes it (`1.30`).
    pub fn version(&self) -> String {
        format!("1.{}", self.minor)
    }

    /// Whether the cluster runs a service: every one but the proxy, and Prometheus where a
    /// prometheus-operator scrapes instead.
    pub fn deploys(&self, service: ServiceId) -> bool {
        !self.not_deployed.contains(&service)
    }

    /// The Prometheus service the operator's Prometheus replaces, when one does.
    pub fn replaced_prometheus(&self, stack: &Stack) -> Option<ServiceId> {
        self.prometheus_operator.as_ref()?;
        stack.monitoring().map(|m| m.prometheus.service)
    }

    /// A service's scheduling settings.
    pub fn workload(&self, service: ServiceId) -> &Workload {
        &self.workloads[service.index()]
    }

    /// The claim of a volume, when it has one.
    pub fn claim(&self, volume: VolumeId) -> Option<&Claim> {
        self.claims.iter().find(|c| c.volume == volume)
    }

    /// Whether a service runs one pod on every node (a DaemonSet): a node agent sharing the
    /// host's processes.
    pub fn on_every_node(service: &Service) -> bool {
        service.pid == Some(PidMode::Host)
    }

    /// The pods of a service: one per node for a node agent (`nodes` of them, 1 when the spec
    /// gives no pool), the autoscaler's bounds, else the replicas with the scale-out plan.
    pub fn pods(&self, stack: &Stack, service: &Service) -> Pods {
        self.pods_with(service, &stack.scaling)
    }

    pub(crate) fn pods_with(&self, service: &Service, scaling: &[ScalePlan]) -> Pods {
        if Self::on_every_node(service) {
            let n = self.nodes.map_or(1, |p| p.count);
            return Pods { fewest: n, most: n };
        }
        if let Some(a) = self.workload(service.id).autoscaling {
            return Pods {
                fewest: a.min,
                most: a.max,
            };
        }
        let n = scaling
            .iter()
            .find(|p| p.service == service.id)
            .map_or(service.replicas, |p| p.replicas);
        Pods { fewest: n, most: n }
    }

    /// What every workload's pods request together, at their fewest and at their most.
    pub fn requested(&self, stack: &Stack) -> (Requests, Requests) {
        self.requested_with(&stack.services, &stack.scaling)
    }

    pub(crate) fn requested_with(&self, services: &[Service], scaling: &[ScalePlan]) -> (Requests, Requests) {
        let zero = Requests {
            cpus: Cpus::default(),
            memory: ByteSize::default(),
        };
        let (mut fewest, mut most) = (zero, zero);
        for service in services.iter().filter(|s| self.deploys(s.id)) {
            let Some(r) = self.workload(service.id).requests else {
                continue;
            };
            let pods = self.pods_with(service, scaling);
            fewest.cpus = fewest.cpus + r.cpus * pods.fewest;
            fewest.memory = fewest.memory + r.memory * pods.fewest;
            most.cpus = most.cpus + r.cpus * pods.most;
            most.memory = most.memory + r.memory * pods.most;
        }
        (fewest, most)
    }
}

/// A persistent volume claim of a `data` volume.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claim {
    /// The volume.
    pub volume: VolumeId,
    /// Size requested.
    pub size: ByteSize,
    /// Storage class; the cluster's default when `None`.
    pub storage_class: Option<Name>,
}

/// What routes the domain into the cluster, to the upstream: an Ingress, or a Gateway and
/// its HTTPRoutes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ingress {
    /// The API the routing is written in.
    pub api: IngressApi,
    /// The controller's class (`ingressClassName`, `gatewayClassName`).
    pub class: Name,
    /// The Secret holding the certificate.
    pub tls_secret: Name,
    /// Namespace of the controller's (or the Gateway's proxy) pods.
    pub controller_namespace: Name,
}

/// The API that routes the domain into a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngressApi {
    /// An Ingress (`networking.k8s.io/v1`), with ingress-nginx's annotations.
    Ingress,
    /// A Gateway and HTTPRoutes (`gateway.networking.k8s.io/v1`, the Gateway API's standard
    /// channel).
    Gateway,
}

impl IngressApi {
    /// The spec's key that selects it (`ingress`, `gateway`).
    pub fn key(self) -> &'static str {
        match self {
            IngressApi::Ingress => "ingress",
            IngressApi::Gateway => "gateway",
        }
    }
}

/// How one service's pods are scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Workload {
    /// What the scheduler reserves for each pod (the limits when the spec gives none); `None`
    /// for a service without resources.
    pub requests: Option<Requests>,
    /// Autoscaling bounds, when an autoscaler owns the replicas.
    pub autoscaling: Option<Autoscaling>,
}

/// CPU and memory reserved for a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Requests {
    /// vCPUs.
    pub cpus: Cpus,
    /// Memory.
    pub memory: ByteSize,
}

/// The bounds of a HorizontalPodAutoscaler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Autoscaling {
    /// Fewest replicas: those the service runs without an autoscaler.
    pub min: u32,
    /// Most replicas (at least `min`).
    pub max: u32,
    /// Average CPU use kept, in percent of the requests (1-100).
    pub cpu_utilization: u32,
}

/// One service connecting to another, on some of its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connection {
    /// The service that connects.
    pub client: ServiceId,
    /// The service it connects to.
    pub server: ServiceId,
    /// The server's container ports it uses (all of them when the model does not say which).
    pub ports: Vec<u16>,
}
