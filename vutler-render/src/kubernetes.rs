//! The Kubernetes target: the runtime description as manifests under `k8s/`, one file per
//! service, listed by `k8s/kustomization.yaml`, and `k8s/secrets.sh`, which creates the Secrets
//! they reference from the files of `secrets/`.
//!
//! Decisions:
//! - Every service but the proxy is a workload; the Ingress (or a Gateway API Gateway, see
//!   [`gateway`]) takes the proxy's place.
//! - A service that mounts a `data` volume is a StatefulSet (one replica, validation makes sure)
//!   whose claim template is that volume, governed by a headless Service; a service sharing
//!   the host's PID namespace (a node agent) is a DaemonSet; the others are Deployments,
//!   rolled one new pod at a time with none taken away first.
//! - Selectors are the service's and the project's names only, never a version or hash, so they
//!   never change between renders (a changed selector cannot be applied).
//! - Probes come from the healthcheck: readiness always (a pod receives traffic once ready),
//!   a startup probe covering `start_period`, and liveness, only for workloads that keep no data:
//!   a datastore that is slow under load would be killed by its liveness probe exactly when
//!   it is busiest (and lose its caches), so a StatefulSet's failing probe only takes it out of
//!   its Service, and the alerts say so.
//! - Rendered configs are ConfigMaps named by a hash of their contents, so a changed config is
//!   a new ConfigMap and a rollout; they are immutable.
//! - Secrets are referenced by name and never rendered: a secret variable is the Secret of the
//!   same name in kebab case (`postgres-password`), holding the file of `secrets/` as its one key
//!   (`postgres_password`). Images that read `*_FILE` get it as a file under `/run/secrets`.
//! - Plain variables take their spec values (a cluster has no `.env`). `$` is written `$$` in
//!   arguments and values, which Kubernetes would otherwise expand as `$(VAR)`; a value with
//!   secrets refers to them as `$(VAR)` of entries placed before it.
//! - `depends_on` with `service_healthy` holds the pod in an init container until the
//!   dependency's Service accepts a connection, which only a ready pod does (the model's order
//!   of starts, which a conversion like Kompose's drops); `service_started` orders nothing.
//! - A StatefulSet's Service is headless (it governs the pods' names); the others are not, and
//!   never become so (`clusterIP` cannot change). A service whose containers are each scraped
//!   (several replicas, the app, a node agent) also gets `<name>-pods`, headless and listing pods
//!   not ready yet, which Prometheus finds through DNS as it finds containers on Compose, so that
//!   a failing pod is reported down rather than dropped.
//! - No startup or liveness probe on a StatefulSet: either would restart a datastore that is
//!   slow to recover.

pub mod backups;
pub mod gateway;
mod objects;
pub mod operator;

use indexmap::IndexMap;
use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::stack::{
    Autoscaling, Condition, ConfigMount, Connection, FirewallPolicy, HealthTest, Healthcheck, IngressApi, Kubernetes,
    Mount, PidMode, PrometheusOperator, Propagation, Protocol, Service, ServiceId, Text, TextPart, Variable,
};
use vutler_spec::units::{ByteSize, Cpus, Duration};

use self::objects::*;
use crate::runtime::{
    Container as Runtime1, Env, EnvSource, SECRETS_DIR, SECRETS_MOUNT, SecretFile, every_container_name,
    several_containers,
};
use crate::{Configs, RenderError, Rendered, Runtime, header, templates, yaml};

/// Folder of the manifests in the rendered tree.
pub const K8S_DIR: &str = "k8s";

const MANAGED_BY: &str = "vutler-render";

/// The capabilities Docker gives a container, less `NET_RAW` (raw sockets, which nothing here
/// needs): what the images' entrypoints rely on to start as root and switch to their own user
/// (PostgreSQL, MongoDB and Redis chown their data folder, then `gosu`/`su-exec`).
const DOCKER_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Adds `k8s/` to the tree: the namespace, a file per workload, the Ingress, the kustomization
/// listing them, and the script that creates the Secrets.
pub fn render(runtime: &Runtime<'_>, configs: &Configs, tree: &mut Rendered) -> Result<(), RenderError> {
    let stack = runtime.stack();
    let Some(k8s) = stack.kubernetes() else {
        return Ok(());
    };
    let cx = Cx { stack, k8s };
    let mut resources = Vec::new();
    let mut file = |name: String, docs: Vec<serde_json::Value>, tree: &mut Rendered| -> Result<(), RenderError> {
        let mut text = header(stack);
        for doc in &docs {
            text.push_str("---\n");
            text.push_str(&yaml::to_string_with_blocks(doc)?);
        }
        tree.insert(format!("{K8S_DIR}/{name}"), text)?;
        resources.push(name);
        Ok(())
    };
    let namespace = Object {
        api_version: "v1",
        kind: "Namespace",
        metadata: Meta {
            name: k8s.namespace.to_string(),
            namespace: None,
            labels: cx.project_labels(),
            annotations: Map::new(),
        },
        body: Empty {},
    };
    file("namespace.yaml".into(), vec![serde_json::to_value(namespace)?], tree)?;
    file("default-deny.yaml".into(), vec![cx.default_deny()?], tree)?;
    let connections = stack.connections();
    for container in runtime.containers().iter().filter(|c| k8s.deploys(c.service.id)) {
        let mut docs = cx.workload(container, configs)?;
        docs.extend(cx.policies(container.service, &connections)?);
        file(format!("{}.yaml", container.service.name), docs, tree)?;
    }
    let backups = cx.backups(runtime)?;
    if !backups.is_empty() {
        file("backups.yaml".into(), backups, tree)?;
    }
    match k8s.ingress.api {
        IngressApi::Ingress => file("ingress.yaml".into(), vec![cx.ingress()?], tree)?,
        IngressApi::Gateway => file("gateway.yaml".into(), cx.gateway()?, tree)?,
    }
    if k8s.prometheus_operator.is_some() {
        file(operator::FILE.into(), cx.operator_monitoring()?, tree)?;
    }
    let kustomization = Kustomization {
        api_version: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources,
    };
    let mut text = header(stack);
    text.push_str(&yaml::to_string(&kustomization)?);
    tree.insert(format!("{K8S_DIR}/kustomization.yaml"), text)?;
    tree.insert(format!("{K8S_DIR}/secrets.sh"), secrets_script(runtime, k8s)?)?;
    Ok(())
}

/// An object of a kind whose fields are its `spec`, as a document.
fn object<T: Serialize>(
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    spec: T,
) -> Result<serde_json::Value, RenderError> {
    Ok(serde_json::to_value(Object {
        api_version,
        kind,
        metadata,
        body: Spec { spec },
    })?)
}

/// The Secret holding a secret variable (`postgres-password`).
pub fn secret_name(variable: &Variable) -> String {
    variable.name.to_ascii_lowercase().replace('_', "-")
}

/// A memory or storage size in binary units, as Kubernetes reads them (`512Mi`, `2Gi`).
pub fn quantity(size: ByteSize) -> String {
    match size.whole_unit() {
        (n, "T") => format!("{n}Ti"),
        (n, "G") => format!("{n}Gi"),
        (n, "M") => format!("{n}Mi"),
        (n, "K") => format!("{n}Ki"),
        (n, _) => n.to_string(),
    }
}

/// CPUs as Kubernetes reads them (`2`, `500m`).
pub fn cpu_quantity(cpus: Cpus) -> String {
    match cpus.millis() {
        m if m % 1000 == 0 => (m / 1000).to_string(),
        m => format!("{m}m"),
    }
}

/// Text as Kubernetes passes it to a container: `$` doubled, since `$(NAME)` would be
/// replaced by a variable and `$$` by `$`.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

fn seconds(d: Duration) -> u64 {
    d.millis().div_ceil(1000).max(1)
}

struct Cx<'s> {
    stack: &'s Stack,
    k8s: &'s Kubernetes,
}

/// What kind of workload a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Stateless, rolled one new pod at a time.
    Deployment,
    /// With claims (one pod, validation makes sure).
    StatefulSet,
    /// A node agent, one pod per node.
    DaemonSet,
}

impl Kind {
    /// A StatefulSet exactly when it has claims (validation gives each mounted `data` volume
    /// one), a DaemonSet for a node agent, else a Deployment.
    pub fn of(k8s: &Kubernetes, service: &Service) -> Kind {
        let claims = service.mounts.iter().any(|m| match m {
            Mount::Volume { volume, .. } => k8s.claim(*volume).is_some(),
            _ => false,
        });
        if claims {
            Kind::StatefulSet
        } else if Kubernetes::on_every_node(service) {
            Kind::DaemonSet
        } else {
            Kind::Deployment
        }
    }

    /// The kind as manifests name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
        }
    }
}

impl<'s> Cx<'s> {
    fn project_labels(&self) -> Map {
        let mut labels = Map::new();
        labels.insert("app.kubernetes.io/part-of".into(), self.stack.project().to_string());
        labels.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
        labels
    }

    /// The labels that select a service's pods: stable across renders.
    fn selector(&self, service: &Service) -> Map {
        self.selector_named(&service.name)
    }

    /// The labels that select the pods of `name` (a service, a backup job's CronJob).
    fn selector_named(&self, name: &str) -> Map {
        let mut labels = Map::new();
        labels.insert("app.kubernetes.io/name".into(), name.to_owned());
        labels.insert("app.kubernetes.io/part-of".into(), self.stack.project().to_string());
        labels
    }

    fn labels(&self, service: &Service) -> Map {
        let mut labels = self.selector(service);
        labels.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
        labels
    }

    fn meta(&self, name: String, service: &Service) -> Meta {
        self.meta_labelled(name, self.labels(service))
    }

    /// An object of the namespace with these labels.
    fn meta_labelled(&self, name: String, labels: Map) -> Meta {
        Meta {
            name,
            namespace: Some(self.k8s.namespace.to_string()),
            labels,
            annotations: Map::new(),
        }
    }

    fn kind(&self, service: &Service) -> Kind {
        Kind::of(self.k8s, service)
    }

    /// The objects of one service: its ConfigMaps, workload, Service, autoscaler and budget.
    fn workload(&self, c: &Runtime1<'s>, configs: &Configs) -> Result<Vec<serde_json::Value>, RenderError> {
        let service = c.service;
        let kind = self.kind(service);
        let autoscaling = self.k8s.workload(service.id).autoscaling;
        // A Deployment that may run several pods: spread over the nodes, and a budget.
        let several_pods = kind == Kind::Deployment && (c.max_replicas() > 1 || autoscaling.is_some());
        let mut docs = Vec::new();
        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        for (i, mount) in c.configs.iter().enumerate() {
            let (config_map, volume, volume_mount) = self.config_map(service, i, mount, configs)?;
            docs.push(serde_json::to_value(config_map)?);
            volumes.push(volume);
            mounts.push(volume_mount);
        }
        let mut claims = Vec::new();
        let mut host_paths = 0;
        for mount in &service.mounts {
            match mount {
                Mount::Volume {
                    volume,
                    target,
                    read_only,
                } => {
                    let v = self.stack.volume(*volume);
                    mounts.push(VolumeMount {
                        name: v.name.to_string(),
                        mount_path: target.to_string(),
                        sub_path: None,
                        read_only: *read_only,
                        mount_propagation: None,
                    });
                    match self.k8s.claim(*volume) {
                        Some(claim) => {
                            let mut requests = Map::new();
                            requests.insert("storage".into(), quantity(claim.size));
                            claims.push(ClaimTemplate {
                                metadata: ClaimMeta {
                                    name: v.name.to_string(),
                                    labels: self.labels(service),
                                },
                                spec: ClaimSpec {
                                    access_modes: vec!["ReadWriteOnce"],
                                    storage_class_name: claim
                                        .storage_class
                                        .as_ref()
                                        .or(self.k8s.storage_class.as_ref())
                                        .map(ToString::to_string),
                                    resources: ClaimResources { requests },
                                },
                            });
                        }
                        None => {
                            let mut volume = Volume::named(v.name.to_string());
                            volume.empty_dir = Some(Empty {});
                            volumes.push(volume);
                        }
                    }
                }
                Mount::Bind {
                    source,
                    target,
                    read_only,
                    propagation,
                } => {
                    // Validation allows absolute host paths only (a node agent's `/`).
                    host_paths += 1;
                    let name = format!("host-{host_paths}");
                    let mut volume = Volume::named(name.clone());
                    volume.host_path = Some(HostPathVolume {
                        path: source.to_string(),
                        kind: "Directory",
                    });
                    volumes.push(volume);
                    mounts.push(VolumeMount {
                        name,
                        mount_path: target.to_string(),
                        sub_path: None,
                        read_only: *read_only,
                        mount_propagation: propagation.map(|p| match p {
                            // Mounts made on the host later show in the container.
                            Propagation::Rslave => "HostToContainer",
                            Propagation::Rprivate => "None",
                        }),
                    });
                }
                Mount::Config(_) => {}
            }
        }
        if !c.secret_files.is_empty() {
            volumes.push(self.secret_volume(&c.secret_files));
            mounts.push(VolumeMount {
                name: "secrets".into(),
                mount_path: SECRETS_MOUNT.into(),
                sub_path: None,
                read_only: true,
                mount_propagation: None,
            });
        }
        let container = Container {
            name: service.name.to_string(),
            image: service.image.to_string(),
            image_pull_policy: "IfNotPresent",
            command: None,
            args: c.command.as_ref().map(|args| args.iter().map(|a| literal(a)).collect()),
            env: self.env(&c.environment),
            ports: service
                .ports
                .iter()
                .map(|p| ContainerPort {
                    name: p.name.to_string(),
                    container_port: p.container,
                    protocol: protocol(p.protocol),
                })
                .collect(),
            resources: self.resources(service),
            // A failing startup probe restarts the container too: not a datastore recovering.
            startup_probe: c.probe.filter(|_| kind != Kind::StatefulSet).and_then(startup_probe),
            readiness_probe: c.probe.map(probe).or_else(|| port_open(service)),
            liveness_probe: c.probe.filter(|_| kind != Kind::StatefulSet).map(probe),
            security_context: docker_capabilities(),
            volume_mounts: mounts,
        };
        let template = PodTemplate {
            metadata: PodMeta {
                labels: self.labels(service),
                annotations: Map::new(),
            },
            spec: PodSpec {
                automount_service_account_token: false,
                enable_service_links: false,
                host_pid: service.pid == Some(PidMode::Host),
                termination_grace_period_seconds: service.stop_grace_period.map(seconds),
                restart_policy: None,
                security_context: PodSecurity {
                    seccomp_profile: Seccomp { kind: "RuntimeDefault" },
                },
                // Replicas on different nodes where the scheduler can: losing one node takes
                // one of them, not all. Never a reason to leave a pod pending.
                affinity: None,
                topology_spread_constraints: if several_pods {
                    vec![Spread {
                        max_skew: 1,
                        topology_key: "kubernetes.io/hostname",
                        when_unsatisfiable: "ScheduleAnyway",
                        label_selector: Selector {
                            match_labels: self.selector(service),
                        },
                    }]
                } else {
                    Vec::new()
                },
                init_containers: self.waits(service),
                containers: vec![container],
                volumes,
            },
        };
        let name = service.name.to_string();
        let selector = Selector {
            match_labels: self.selector(service),
        };
        let meta = self.meta(name.clone(), service);
        let workload = match kind {
            Kind::Deployment => object(
                "apps/v1",
                kind.as_str(),
                meta,
                DeploymentSpec {
                    // The autoscaler owns the replicas of an autoscaled Deployment.
                    replicas: autoscaling.is_none().then(|| c.max_replicas()),
                    revision_history_limit: 5,
                    selector,
                    strategy: DeploymentStrategy {
                        kind: "RollingUpdate",
                        rolling_update: Some(RollingUpdate {
                            max_surge: 1,
                            max_unavailable: 0,
                        }),
                    },
                    template,
                },
            )?,
            Kind::StatefulSet => object(
                "apps/v1",
                kind.as_str(),
                meta,
                StatefulSetSpec {
                    service_name: name.clone(),
                    replicas: 1,
                    revision_history_limit: 5,
                    selector,
                    template,
                    volume_claim_templates: claims,
                    persistent_volume_claim_retention_policy: RetentionPolicy {
                        when_deleted: "Retain",
                        when_scaled: "Retain",
                    },
                },
            )?,
            Kind::DaemonSet => object(
                "apps/v1",
                kind.as_str(),
                meta,
                DaemonSetSpec {
                    revision_history_limit: 5,
                    selector,
                    template,
                },
            )?,
        };
        docs.push(workload);
        // A StatefulSet needs its governing Service even without ports; others only with ports.
        // Whether a Service is headless never changes (its `clusterIP` cannot): a StatefulSet's
        // is, the others are not, and a service whose containers are each scraped gets a
        // second, headless one listing every pod.
        if !service.ports.is_empty() || kind == Kind::StatefulSet {
            let headless = kind == Kind::StatefulSet;
            docs.push(self.service_object(service, name.clone(), headless, false)?);
        }
        // The self-hosted Prometheus finds the pods through DNS; a prometheus-operator's reads
        // the Service's endpoints, ready or not, from the API.
        if !service.ports.is_empty()
            && several_containers(self.stack, service.id)
            && self.k8s.prometheus_operator.is_none()
        {
            let every = every_container_name(self.stack, service.id);
            docs.push(self.service_object(service, every, true, true)?);
        }
        if let Some(a) = autoscaling {
            docs.push(self.autoscaler(service, a)?);
        }
        if several_pods {
            // Always lets a node drain take one pod, whatever the replicas.
            docs.push(object(
                "policy/v1",
                "PodDisruptionBudget",
                self.meta(name, service),
                DisruptionBudgetSpec {
                    max_unavailable: 1,
                    selector: Selector {
                        match_labels: self.selector(service),
                    },
                },
            )?);
        }
        Ok(docs)
    }

    /// The init containers holding a pod until each service it waits for to be healthy
    /// accepts connections: a Service connects only to ready pods, so the first connection
    /// that succeeds is the dependency's readiness, as Compose's `service_healthy`.
    /// (`service_started` only orders starts on Compose; pods start together.)
    fn waits(&self, service: &Service) -> Vec<Container> {
        let stack = self.stack;
        service
            .depends_on
            .iter()
            .filter(|d| d.condition == Condition::ServiceHealthy && self.k8s.deploys(d.service))
            .filter_map(|d| {
                let dependency = stack.service(d.service);
                let port = dependency.ports.iter().find(|p| p.protocol == Protocol::Tcp)?;
                let (host, number) = (dependency.name.to_string(), port.container);
                let mut limits = Map::new();
                limits.insert("cpu".into(), "50m".into());
                limits.insert("memory".into(), "16Mi".into());
                Some(tool_container(
                    &format!("wait-for-{host}"),
                    self.k8s.wait_image.to_string(),
                    vec!["sh".into(), "-c".into(), wait_script(&host, number)],
                    Vec::new(),
                    ResourceRequirements {
                        requests: limits.clone(),
                        limits,
                    },
                    Vec::new(),
                ))
            })
            .collect()
    }

    /// A Service selecting the service's pods, on every port.
    fn service_object(
        &self,
        service: &Service,
        name: String,
        headless: bool,
        not_ready: bool,
    ) -> Result<serde_json::Value, RenderError> {
        object(
            "v1",
            "Service",
            self.meta(name, service),
            ServiceSpec {
                cluster_ip: headless.then_some("None"),
                publish_not_ready_addresses: not_ready,
                selector: self.selector(service),
                ports: service
                    .ports
                    .iter()
                    .map(|p| ServicePort {
                        name: p.name.to_string(),
                        port: p.container,
                        target_port: p.name.to_string(),
                        protocol: protocol(p.protocol),
                    })
                    .collect(),
            },
        )
    }

    /// The ConfigMap of one `config:` mount, the pod volume reading it and the mount.
    fn config_map(
        &self,
        service: &Service,
        i: usize,
        mount: &ConfigMount,
        configs: &Configs,
    ) -> Result<(Object<ConfigMapBody>, Volume, VolumeMount), RenderError> {
        let stack = self.stack;
        let hash = configs.hash(&[mount]).unwrap_or_default();
        // Named by the service, the file or folder, and the hash of their paths and contents,
        // which tells two mounts apart.
        let source = mount.source.as_str();
        let slug: String = source
            .rsplit('/')
            .next()
            .unwrap_or(source)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let mut base = format!("{}-{slug}", service.name);
        base.truncate(52);
        let name = format!("{}-{}", base.trim_end_matches('-'), hash.get(..10).unwrap_or(&hash));
        let mut data = IndexMap::new();
        let mut items = Vec::new();
        let single = mount.files.len() == 1 && stack.config_file(mount.files[0]).path() == mount.source.as_str();
        for id in &mount.files {
            let file = stack.config_file(*id);
            let relative = if single {
                file.path().rsplit('/').next().unwrap_or(file.path())
            } else {
                file.path()
                    .strip_prefix(mount.source.as_str())
                    .map_or(file.path(), |p| p.trim_start_matches('/'))
            };
            let key = relative.replace('/', "_");
            data.insert(key.clone(), configs.get(*id).to_owned());
            items.push(KeyToPath {
                key,
                path: relative.to_owned(),
            });
        }
        let volume_name = format!("config-{}", i + 1);
        let sub_path = single.then(|| items[0].path.clone());
        let mut volume = Volume::named(volume_name.clone());
        volume.config_map = Some(ConfigMapVolume {
            name: name.clone(),
            items,
        });
        let config_map = Object {
            api_version: "v1",
            kind: "ConfigMap",
            metadata: self.meta(name, service),
            body: ConfigMapBody { immutable: true, data },
        };
        let volume_mount = VolumeMount {
            name: volume_name,
            mount_path: mount.target.to_string(),
            // A file is mounted alone, beside what the image keeps in its folder.
            sub_path,
            read_only: true,
            mount_propagation: None,
        };
        Ok((config_map, volume, volume_mount))
    }

    fn secret_volume(&self, files: &[SecretFile<'_>]) -> Volume {
        let mut volume = Volume::named("secrets".into());
        volume.projected = Some(Projected {
            default_mode: 0o444,
            sources: files
                .iter()
                .map(|f| ProjectedSource {
                    secret: SecretProjection {
                        name: secret_name(f.variable),
                        items: vec![KeyToPath {
                            key: f.name(),
                            path: f.name(),
                        }],
                        optional: !f.variable.required,
                    },
                })
                .collect(),
        });
        volume
    }

    fn secret_ref(&self, variable: &Variable) -> EnvFrom {
        EnvFrom {
            secret_key_ref: KeyRef {
                name: secret_name(variable),
                key: SecretFile { variable }.name(),
                optional: !variable.required,
            },
        }
    }

    /// A container's environment: values with secrets refer to them as `$(VAR)` of
    /// entries placed first.
    fn env(&self, entries: &[Env<'_>]) -> Vec<EnvVar> {
        let stack = self.stack;
        let mut first: Vec<EnvVar> = Vec::new();
        let mut env = Vec::new();
        for e in entries {
            let (value, value_from) = match e.value {
                EnvSource::Text(text) => (Some(self.text(text, |_| None)), None),
                EnvSource::Secret(variable) => (None, Some(self.secret_ref(variable))),
                EnvSource::SecretFile(file) => (Some(literal(&file.container_path())), None),
                EnvSource::WithSecrets(text) => {
                    let value = self.text(text, |v| {
                        stack.variable(v).secret.then(|| {
                            let variable = stack.variable(v);
                            let name = format!("SECRET_{}", variable.name);
                            if !first.iter().any(|e| e.name == name) {
                                first.push(EnvVar {
                                    name: name.clone(),
                                    value: None,
                                    value_from: Some(self.secret_ref(variable)),
                                });
                            }
                            format!("$({name})")
                        })
                    });
                    (Some(value), None)
                }
            };
            env.push(EnvVar {
                name: e.key.to_string(),
                value,
                value_from,
            });
        }
        first.extend(env);
        first
    }

    /// Text with plain variables replaced by their spec values, and `reference` deciding what
    /// stands for a variable it knows.
    fn text(&self, text: &Text, mut reference: impl FnMut(vutler_spec::stack::VariableId) -> Option<String>) -> String {
        let mut out = String::new();
        for part in text.parts() {
            match part {
                TextPart::Literal(s) => out.push_str(&literal(s)),
                TextPart::Variable(v) => match reference(*v) {
                    Some(r) => out.push_str(&r),
                    None => {
                        let value = self.stack.variable(*v).default.as_ref().map_or("", |d| d.as_str());
                        out.push_str(&literal(value));
                    }
                },
            }
        }
        out
    }

    fn resources(&self, service: &Service) -> Option<ResourceRequirements> {
        let limits = service.resources?;
        let requests = self.k8s.workload(service.id).requests?;
        let map = |cpus: Cpus, memory: ByteSize| {
            let mut m = Map::new();
            m.insert("cpu".into(), cpu_quantity(cpus));
            m.insert("memory".into(), quantity(memory));
            m
        };
        Some(ResourceRequirements {
            limits: map(limits.cpus, limits.memory),
            requests: map(requests.cpus, requests.memory),
        })
    }

    fn autoscaler(&self, service: &Service, a: Autoscaling) -> Result<serde_json::Value, RenderError> {
        object(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            self.meta(service.name.to_string(), service),
            AutoscalerSpec {
                scale_target_ref: TargetRef {
                    api_version: "apps/v1",
                    kind: "Deployment",
                    name: service.name.to_string(),
                },
                min_replicas: a.min,
                max_replicas: a.max,
                metrics: vec![Metric {
                    kind: "Resource",
                    resource: ResourceMetric {
                        name: "cpu",
                        target: MetricTarget {
                            kind: "Utilization",
                            average_utilization: a.cpu_utilization,
                        },
                    },
                }],
            },
        )
    }

    /// Every pod of the namespace accepts no connection but those the model knows; when the
    /// firewall denies outgoing traffic, pods open none either, DNS lookups aside.
    fn default_deny(&self) -> Result<serde_json::Value, RenderError> {
        let deny_out = self.stack.firewall().default_outgoing != FirewallPolicy::Allow;
        let mut policy_types = vec!["Ingress"];
        let mut egress = Vec::new();
        if deny_out {
            policy_types.push("Egress");
            let mut dns_ns = Map::new();
            dns_ns.insert("kubernetes.io/metadata.name".into(), "kube-system".into());
            let mut dns_pods = Map::new();
            dns_pods.insert("k8s-app".into(), "kube-dns".into());
            egress.push(PolicyEgress {
                to: vec![Peer {
                    namespace_selector: Some(Selector { match_labels: dns_ns }),
                    pod_selector: Some(Selector { match_labels: dns_pods }),
                    ip_block: None,
                }],
                ports: vec![
                    PolicyPort {
                        protocol: "UDP",
                        port: 53,
                    },
                    PolicyPort {
                        protocol: "TCP",
                        port: 53,
                    },
                ],
            });
        }
        object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            self.meta_labelled("default-deny".into(), self.project_labels()),
            NetworkPolicySpec {
                pod_selector: Selector {
                    match_labels: Map::new(),
                },
                policy_types,
                ingress: Vec::new(),
                egress,
            },
        )
    }

    /// Where the cluster runs a service the environment does not deploy: the Ingress
    /// controller's namespace for the proxy, the operator's Prometheus's for Prometheus.
    fn outside_namespace(&self, service: ServiceId) -> Option<String> {
        if service == self.stack.edge().proxy {
            return Some(self.k8s.ingress.controller_namespace.to_string());
        }
        match &self.k8s.prometheus_operator {
            Some(op) if self.k8s.replaced_prometheus(self.stack) == Some(service) => Some(op.namespace.to_string()),
            _ => None,
        }
    }

    /// The connections a service accepts (and, when the firewall denies outgoing traffic, those
    /// it opens): exactly the model's, the proxy's being the Ingress controller's and
    /// Prometheus's the operator's Prometheus's, where one replaces it.
    fn policies(&self, service: &Service, connections: &[Connection]) -> Result<Vec<serde_json::Value>, RenderError> {
        let stack = self.stack;
        let namespace = |name: String| {
            let mut ns = Map::new();
            ns.insert("kubernetes.io/metadata.name".into(), name);
            Peer::namespaces(ns)
        };
        let mut docs = Vec::new();
        let ingress: Vec<PolicyIngress> = connections
            .iter()
            .filter(|c| c.server == service.id && !c.ports.is_empty())
            .map(|c| {
                let peer = match self.outside_namespace(c.client) {
                    Some(ns) => namespace(ns),
                    None => Peer::pods(self.selector(stack.service(c.client))),
                };
                PolicyIngress {
                    from: vec![peer],
                    ports: policy_ports(service, &c.ports),
                }
            })
            .chain(self.backup_ingress(service))
            .collect();
        if !ingress.is_empty() {
            docs.push(self.policy(service, service.name.to_string(), "Ingress", ingress, Vec::new())?);
        }
        if stack.firewall().default_outgoing != FirewallPolicy::Allow {
            let proxy = stack.edge().proxy;
            let egress: Vec<PolicyEgress> = connections
                .iter()
                .filter(|c| c.client == service.id && c.server != proxy && !c.ports.is_empty())
                .map(|c| {
                    let server = stack.service(c.server);
                    match self.outside_namespace(c.server) {
                        // The operator's Prometheus, on its Service's port.
                        Some(ns) => PolicyEgress {
                            to: vec![namespace(ns)],
                            ports: vec![PolicyPort {
                                protocol: "TCP",
                                port: PrometheusOperator::PORT,
                            }],
                        },
                        None => PolicyEgress {
                            to: vec![Peer::pods(self.selector(server))],
                            ports: policy_ports(server, &c.ports),
                        },
                    }
                })
                .collect();
            if !egress.is_empty() {
                docs.push(self.policy(
                    service,
                    format!("{}-egress", service.name),
                    "Egress",
                    Vec::new(),
                    egress,
                )?);
            }
        }
        Ok(docs)
    }

    fn policy(
        &self,
        service: &Service,
        name: String,
        kind: &'static str,
        ingress: Vec<PolicyIngress>,
        egress: Vec<PolicyEgress>,
    ) -> Result<serde_json::Value, RenderError> {
        object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            self.meta(name, service),
            NetworkPolicySpec {
                pod_selector: Selector {
                    match_labels: self.selector(service),
                },
                policy_types: vec![kind],
                ingress,
                egress,
            },
        )
    }

    /// The Ingress routing the domain to the upstream, with ingress-nginx's settings of the
    /// model's edge: body size, timeouts long enough for WebSockets, sticky sessions.
    fn ingress(&self) -> Result<serde_json::Value, RenderError> {
        let stack = self.stack;
        let edge = stack.edge();
        let upstream = stack.service(edge.upstream.service);
        let port = stack.port(edge.upstream);
        let mut annotations = Map::new();
        let (n, unit) = crate::short_size(edge.max_body_size);
        annotations.insert(
            "nginx.ingress.kubernetes.io/proxy-body-size".into(),
            format!("{n}{unit}"),
        );
        let timeout = seconds(edge.read_timeout).to_string();
        annotations.insert("nginx.ingress.kubernetes.io/proxy-read-timeout".into(), timeout.clone());
        annotations.insert("nginx.ingress.kubernetes.io/proxy-send-timeout".into(), timeout);
        if stack.scale_of(upstream.id).is_some_and(|p| p.sticky_sessions) {
            annotations.insert("nginx.ingress.kubernetes.io/affinity".into(), "cookie".into());
            annotations.insert("nginx.ingress.kubernetes.io/affinity-mode".into(), "persistent".into());
            annotations.insert(
                "nginx.ingress.kubernetes.io/session-cookie-name".into(),
                format!("{}-route", stack.project()),
            );
        }
        let mut meta = self.meta(upstream.name.to_string(), upstream);
        meta.annotations = annotations;
        let domain = stack.domain().to_string();
        object(
            "networking.k8s.io/v1",
            "Ingress",
            meta,
            IngressSpec {
                ingress_class_name: self.k8s.ingress.class.to_string(),
                tls: vec![IngressTls {
                    hosts: vec![domain.clone()],
                    secret_name: self.k8s.ingress.tls_secret.to_string(),
                }],
                rules: vec![IngressRule {
                    host: domain,
                    http: HttpRule {
                        paths: vec![HttpPath {
                            path: "/".into(),
                            path_type: "Prefix",
                            backend: Backend {
                                service: BackendService {
                                    name: upstream.name.to_string(),
                                    port: BackendPort {
                                        name: port.name.to_string(),
                                    },
                                },
                            },
                        }],
                    },
                }],
            },
        )
    }
}

/// Waits until `host:port` accepts a connection, with BusyBox's own tools: its `nc` has no `-z`,
/// and holds a connection the server keeps open, so a connection still open when `timeout`
/// stops it (124, or 143 from BusyBox's `timeout`) counts as accepted, as does one the server
/// closed (0); a refused or unresolvable one (1) is tried again two seconds later.
pub fn wait_script(host: &str, port: u16) -> String {
    format!(
        "connected() {{ timeout 5 nc -w 2 \"$1\" \"$2\" </dev/null >/dev/null 2>&1; rc=$?; \
         [ \"$rc\" -eq 0 ] || [ \"$rc\" -eq 124 ] || [ \"$rc\" -eq 143 ]; }}; \
         until connected {host} {port}; do echo waiting for {host}:{port}; sleep 2; done"
    )
}

/// A container running one of the stack's tools (a wait, a backup step): its command, no
/// probe, no port, no capability.
fn tool_container(
    name: &str,
    image: String,
    command: Vec<String>,
    env: Vec<EnvVar>,
    resources: ResourceRequirements,
    volume_mounts: Vec<VolumeMount>,
) -> Container {
    Container {
        name: name.into(),
        image,
        image_pull_policy: "IfNotPresent",
        command: Some(command),
        args: None,
        env,
        ports: Vec::new(),
        resources: Some(resources),
        startup_probe: None,
        readiness_probe: None,
        liveness_probe: None,
        security_context: ContainerSecurity {
            allow_privilege_escalation: false,
            capabilities: Capabilities {
                drop: vec!["ALL"],
                add: Vec::new(),
            },
        },
        volume_mounts,
    }
}

/// Docker's capabilities less `NET_RAW`, with no escalation.
fn docker_capabilities() -> ContainerSecurity {
    ContainerSecurity {
        allow_privilege_escalation: false,
        capabilities: Capabilities {
            drop: vec!["ALL"],
            add: DOCKER_CAPABILITIES.to_vec(),
        },
    }
}

/// Some of a server's container ports, each with its protocol, as a NetworkPolicy names them.
fn policy_ports(server: &Service, ports: &[u16]) -> Vec<PolicyPort> {
    ports
        .iter()
        .map(|&port| PolicyPort {
            protocol: server
                .ports
                .iter()
                .find(|p| p.container == port)
                .map_or("TCP", |p| protocol(p.protocol)),
            port,
        })
        .collect()
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

fn command(test: &HealthTest) -> Vec<String> {
    match test {
        HealthTest::Exec(words) => words.iter().map(ToString::to_string).collect(),
        HealthTest::Shell(line) => vec!["/bin/sh".into(), "-c".into(), line.to_string()],
    }
}

/// Readiness and liveness: as Compose checks, `retries` failures in a row.
fn probe(h: &Healthcheck) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: command(&h.test),
        }),
        tcp_socket: None,
        initial_delay_seconds: None,
        period_seconds: seconds(h.interval),
        timeout_seconds: seconds(h.timeout),
        failure_threshold: h.retries,
    }
}

/// Readiness of a service without a healthcheck (an image with no shell to run one): its
/// first port accepts connections, which the kubelet checks itself.
fn port_open(service: &Service) -> Option<Probe> {
    let port = service.ports.iter().find(|p| p.protocol == Protocol::Tcp)?;
    Some(Probe {
        exec: None,
        tcp_socket: Some(TcpSocket {
            port: port.name.to_string(),
        }),
        initial_delay_seconds: None,
        period_seconds: 10,
        timeout_seconds: 5,
        failure_threshold: 3,
    })
}

/// The start period, then `retries` failures: until it passes, the other probes wait.
fn startup_probe(h: &Healthcheck) -> Option<Probe> {
    let start = h.start_period?;
    let period = seconds(h.interval);
    let during_start = u32::try_from(seconds(start).div_ceil(period)).unwrap_or(u32::MAX);
    Some(Probe {
        failure_threshold: during_start.saturating_add(h.retries),
        ..probe(h)
    })
}

#[derive(Debug, Serialize)]
struct SecretsCtx {
    header: String,
    namespace: String,
    secrets_dir: &'static str,
    secrets: Vec<SecretCtx>,
}

#[derive(Debug, Serialize)]
struct SecretCtx {
    /// The Secret.
    name: String,
    /// The file of `secrets/`, also the Secret's key.
    file: String,
    required: bool,
    description: String,
}

/// `k8s/secrets.sh`: creates or updates every Secret the manifests reference, from the files
/// of `secrets/`.
fn secrets_script(runtime: &Runtime<'_>, k8s: &Kubernetes) -> Result<String, RenderError> {
    let stack = runtime.stack();
    // Every container's secrets, the destination's credentials, which the backup CronJobs'
    // uploads read, and the scrape tokens an operator's Prometheus reads.
    let credentials = stack.backups().and_then(|b| b.credentials.as_ref());
    let variables = runtime
        .containers()
        .iter()
        .filter(|c| k8s.deploys(c.service.id))
        .flat_map(|c| {
            c.service
                .environment
                .iter()
                .flat_map(|e| e.value.secrets(stack))
                .chain(c.secret_files.iter().map(|f| f.variable.id))
        })
        .chain(
            credentials
                .into_iter()
                .flat_map(|c| [c.access_key_id, c.secret_access_key]),
        )
        .chain(operator::scrape_tokens(stack, k8s));
    let mut secrets: Vec<SecretCtx> = Vec::new();
    for id in variables {
        let variable = stack.variable(id);
        let name = secret_name(variable);
        if !secrets.iter().any(|s| s.name == name) {
            secrets.push(SecretCtx {
                name,
                file: SecretFile { variable }.name(),
                required: variable.required,
                description: variable.description.to_string(),
            });
        }
    }
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    templates::render(
        templates::K8S_SECRETS_SCRIPT,
        &SecretsCtx {
            header: header(stack).trim_end().to_owned(),
            namespace: k8s.namespace.to_string(),
            secrets_dir: SECRETS_DIR,
            secrets,
        },
    )
}
