//! The platform that runs the environment, and what a Kubernetes cluster needs of the stack.
//!
//! On Kubernetes every service but the proxy is a workload (the Ingress takes the proxy's
//! place); a service with a `data` volume is a StatefulSet whose claim is that volume.
//!
//! Rules: `kubernetes-version` (a minor version whose APIs the manifests use), `kubernetes-name`
//! (object names are DNS labels), `kubernetes-claim` (every `data` volume a workload mounts has
//! a claim, and only those), `kubernetes-shared-claim` (a ReadWriteOnce claim has one pod),
//! `kubernetes-bind-mount` (no host path of the deployment folder), `kubernetes-requests`
//! (requests within limits, CPU requests where an autoscaler reads them),
//! `kubernetes-autoscaling` (the autoscaler owns the replicas alone) and `kubernetes-variable`
//! (plain variables have a value in the spec: a cluster has no `.env`) and
//! `kubernetes-backup-job` (each backup job can run as a CronJob), `kubernetes-edge` (one way
//! into the cluster) and `kubernetes-gateway-sticky` (no sticky sessions through a Gateway
//! API route), and warns that a job's RPO holds on Compose only (`kubernetes-backups`) and
//! that a Gateway API route carries no body size limit (`kubernetes-gateway-body-size`).

use crate::path::SpecPath;
use crate::raw::{BackupMethod, RawKubernetes, RawPlatform, RawWorkload};
use crate::rule::Rule;
use crate::stack::*;
use crate::text::Name;

use super::{Cx, all};

/// The platform; `None` when a Kubernetes setting failed its checks.
pub(super) fn platform(
    cx: &mut Cx<'_>,
    services: Option<&[Service]>,
    scaling: Option<&[ScalePlan]>,
    variables: Option<&[Variable]>,
    vms: Option<&[Vm]>,
) -> Option<Platform> {
    let raw = cx.raw;
    let RawPlatform::Kubernetes(k) = &raw.platform else {
        return Some(Platform::Compose);
    };
    let kp = SpecPath::top("platform").key("kubernetes");
    let minor = version(cx, &kp, &k.version);
    let namespace = label(cx, kp.key("namespace"), &k.namespace, "namespace");
    let storage_class = match &k.storage_class {
        Some(class) => label(cx, kp.key("storage_class"), class, "storage class").map(Some),
        None => Some(None),
    };
    let ingress = ingress(cx, &kp, k);
    let wait_image = super::services::image(cx, kp.key("wait_image"), &k.wait_image);
    let backup_image = super::services::image(cx, kp.key("backup_image"), &k.backup_image);
    let nodes = match &k.nodes {
        Some(n) => {
            let np = kp.key("nodes");
            let vm = cx.vm_ref(np.key("vm"), &n.vm);
            let count = cx.at_least_one(np.key("count"), "count", n.count);
            vm.zip(count).map(|(vm, count)| Some(NodePool { vm, count }))
        }
        None => Some(None),
    };
    let claims = claims(cx, &kp, k);
    let prometheus_operator = prometheus_operator(cx, &kp, k);
    let (services, scaling, variables) = (services?, scaling?, variables?);
    let proxy = raw.services.get_index_of(&raw.edge.proxy).map(ServiceId);
    let replaced = k.prometheus_operator.as_ref().and_then(|_| {
        let m = raw.monitoring.as_ref()?;
        raw.services.get_index_of(&m.prometheus).map(ServiceId)
    });
    let not_deployed: Vec<ServiceId> = proxy.into_iter().chain(replaced).collect();
    let workloads = workloads(cx, &kp, k, services, scaling, &not_deployed);
    claimed_volumes(cx, k, services, scaling, workloads.as_deref(), &not_deployed);
    for service in services.iter().filter(|s| !not_deployed.contains(&s.id)) {
        deployable(cx, service, variables);
        names(cx, service);
    }
    backup_jobs(cx);
    if k.gateway.is_some() && k.ingress.is_none() {
        gateway_edge(cx, &kp, services, scaling);
    }
    let k8s = Kubernetes {
        minor: minor?,
        namespace: namespace?,
        storage_class: storage_class?,
        claims: claims?,
        ingress: ingress?,
        workloads: workloads?,
        wait_image: wait_image?,
        backup_image: backup_image?,
        nodes: nodes?,
        prometheus_operator: prometheus_operator?,
        not_deployed,
    };
    if let (Some(pool), Some(vms)) = (k8s.nodes, vms) {
        fits_nodes(cx, &k8s, &vms[pool.vm.index()], pool, services, scaling);
    }
    Some(Platform::Kubernetes(Box::new(k8s)))
}

/// `1.N` with N within the versions the manifests are written for.
fn version(cx: &mut Cx<'_>, kp: &SpecPath, text: &str) -> Option<u32> {
    let minor = text.strip_prefix("1.").and_then(|m| m.parse::<u32>().ok());
    match minor {
        Some(m) if (Kubernetes::OLDEST_MINOR..=Kubernetes::NEWEST_MINOR).contains(&m) => Some(m),
        _ => {
            cx.error_help(
                Rule::KubernetesVersion,
                kp.key("version"),
                format!("`{text}` is not a Kubernetes version the manifests are written for"),
                format!(
                    "give the cluster's minor version, from \"1.{}\" to \"1.{}\" (quoted: 1.30 unquoted is a number)",
                    Kubernetes::OLDEST_MINOR,
                    Kubernetes::NEWEST_MINOR
                ),
            );
            None
        }
    }
}

/// Whether a name is a DNS-1123 label, which Kubernetes requires of namespaces, Services,
/// workloads, claims and the keys they are built from: lowercase letters, digits and inner
/// `-`, at most 63.
pub(crate) fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn label(cx: &mut Cx<'_>, path: SpecPath, text: &str, what: &str) -> Option<Name> {
    let name = cx.text(path.clone(), text, Name::parse)?;
    if is_dns_label(text) {
        return Some(name);
    }
    cx.error_help(
        Rule::KubernetesName,
        path,
        format!("the {what} `{text}` is not a DNS label, as Kubernetes names must be"),
        "use lowercase letters, digits and inner `-` only (no `_`), 63 at most",
    );
    None
}

/// The routing of the domain into the cluster: exactly one of `ingress` and `gateway`.
fn ingress(cx: &mut Cx<'_>, kp: &SpecPath, k: &RawKubernetes) -> Option<Ingress> {
    let (api, class, tls_secret, controller_namespace) = match (&k.ingress, &k.gateway) {
        (Some(i), None) => (IngressApi::Ingress, &i.class, &i.tls_secret, &i.controller_namespace),
        (None, Some(g)) => (IngressApi::Gateway, &g.class, &g.tls_secret, &g.controller_namespace),
        (both, _) => {
            let (path, message) = if both.is_some() {
                (
                    kp.key("gateway"),
                    "`platform.kubernetes` routes the domain with both an Ingress and a Gateway",
                )
            } else {
                (
                    kp.clone(),
                    "`platform.kubernetes` says nothing of how the domain reaches the upstream",
                )
            };
            cx.error_help(
                Rule::KubernetesEdge,
                path,
                message,
                "give either `ingress: { class, tls_secret }` (an Ingress controller's) or `gateway: { class, tls_secret, controller_namespace }` (a Gateway API implementation's), not both",
            );
            return None;
        }
    };
    let ip = kp.key(api.key());
    let what = match api {
        IngressApi::Ingress => "ingress class",
        IngressApi::Gateway => "gateway class",
    };
    let class = label(cx, ip.key("class"), class, what);
    let tls_secret = label(cx, ip.key("tls_secret"), tls_secret, "Secret");
    let controller_namespace = label(cx, ip.key("controller_namespace"), controller_namespace, "namespace");
    Some(Ingress {
        api,
        class: class?,
        tls_secret: tls_secret?,
        controller_namespace: controller_namespace?,
    })
}

/// What a Gateway API route cannot carry of the edge: sticky sessions (an error: the app's
/// sessions would break) and the body size limit (a warning: the implementation's own policy
/// sets it).
fn gateway_edge(cx: &mut Cx<'_>, kp: &SpecPath, services: &[Service], scaling: &[ScalePlan]) {
    let raw = cx.raw;
    let Some(upstream) = services.iter().find(|s| s.name.as_str() == raw.edge.upstream) else {
        return;
    };
    if let Some(plan) = scaling.iter().find(|p| p.service == upstream.id && p.sticky_sessions) {
        let name = &services[plan.service.index()].name;
        cx.error_help(
            Rule::KubernetesGatewaySticky,
            SpecPath::top("scaling").key(name).key("sticky_sessions"),
            format!(
                "the scale plan of `{name}` asks for sticky sessions, which a Gateway API route cannot ask for (session persistence is not in the standard channel)"
            ),
            format!(
                "route the domain with `platform.kubernetes.ingress` (ingress-nginx's cookie affinity), or drop `sticky_sessions` in this overlay once `{name}`'s replicas share their sessions"
            ),
        );
    }
    cx.report(
        crate::diagnostic::Diagnostic::new(
            Rule::KubernetesGatewayBodySize,
            kp.key("gateway"),
            format!(
                "the Gateway API has no limit on a request's body: `edge.max_body_size` ({}) is the implementation's to set",
                raw.edge.max_body_size
            ),
        )
        .with_help("set the limit in the implementation's own policy (Envoy Gateway's ClientTrafficPolicy, NGINX Gateway Fabric's ClientSettingsPolicy, whose default is 1 MB), then allow this warning saying where"),
    );
}

/// The prometheus-operator that scrapes in place of `monitoring.prometheus`, when the spec
/// names one: its namespace, and labels Kubernetes accepts. A scrape job it cannot run is
/// refused (of the Prometheus it replaces; with basic authentication, as a ServiceMonitor
/// reads the user name from a Secret too), and it is told where Alertmanager is (a warning
/// until the spec allows it).
fn prometheus_operator(cx: &mut Cx<'_>, kp: &SpecPath, k: &RawKubernetes) -> Option<Option<PrometheusOperator>> {
    let Some(op) = &k.prometheus_operator else {
        return Some(None);
    };
    let raw = cx.raw;
    let op_path = kp.key("prometheus_operator");
    let namespace = label(cx, op_path.key("namespace"), &op.namespace, "namespace");
    let mut ok = true;
    for (key, value) in &op.labels {
        if !is_label_key(key) || !is_label_value(value) {
            cx.error_help(
                Rule::KubernetesName,
                op_path.key("labels").key(key),
                format!("`{key}: {value}` is not a label Kubernetes accepts"),
                "a key is a name (letters, digits, `-`, `_`, `.`, 63 at most) after an optional DNS prefix and `/`; a value is such a name, or empty",
            );
            ok = false;
        }
    }
    let Some(m) = &raw.monitoring else {
        cx.error_help(
            Rule::KubernetesPrometheusOperator,
            op_path,
            "`platform.kubernetes.prometheus_operator` is set, but the stack has no `monitoring` for it to take over",
            "drop `prometheus_operator`, or describe the scrape jobs and alerts under `monitoring`",
        );
        return None;
    };
    let mp = SpecPath::top("monitoring").key("scrape_jobs");
    for (name, job) in &m.scrape_jobs {
        if job.service == m.prometheus {
            cx.error_help(
                Rule::KubernetesPrometheusOperator,
                mp.key(name).key("service"),
                format!("scrape job `{name}` scrapes `{}`, which the prometheus-operator's Prometheus replaces on this cluster", m.prometheus),
                format!("remove the job in this overlay (`monitoring.scrape_jobs.{name}: {{ $remove: true }}`): the operator's Prometheus scrapes itself"),
            );
            ok = false;
        }
        if matches!(job.auth, Some(crate::raw::RawScrapeAuth::Basic { .. })) {
            cx.error_help(
                Rule::KubernetesPrometheusOperator,
                mp.key(name).key("auth"),
                format!("scrape job `{name}` logs in with basic authentication, which a ServiceMonitor reads from a Secret, user name included, and the Secrets hold only secrets"),
                "give the target a bearer token (`auth: { kind: bearer, token_secret }`), or keep Prometheus in the environment (drop `prometheus_operator`)",
            );
            ok = false;
        }
    }
    if let Some(am) = &m.alertmanager {
        cx.report(
            crate::diagnostic::Diagnostic::new(
                Rule::KubernetesOperatorAlerts,
                op_path.clone(),
                format!(
                    "the operator's Prometheus sends alerts only to the Alertmanagers its Prometheus resource lists: add `{}` (namespace `{}`) to its `alerting.alertmanagers`",
                    am.service, k.namespace
                ),
            )
            .with_help("list the environment's Alertmanager in the Prometheus resource, then allow this warning saying so"),
        );
    }
    let namespace = namespace?;
    ok.then(|| {
        Some(PrometheusOperator {
            namespace,
            labels: op.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        })
    })
}

/// A label key: a name of at most 63 characters, with an optional DNS subdomain prefix and `/`.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = key.rsplit_once('/').map_or((None, key), |(p, n)| (Some(p), n));
    prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label))
        && is_label_value(name)
        && !name.is_empty()
}

/// A label value: empty, or at most 63 letters, digits, `-`, `_` and `.`, starting and ending
/// with a letter or digit.
fn is_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// The claims, each of a `data` volume.
fn claims(cx: &mut Cx<'_>, kp: &SpecPath, k: &RawKubernetes) -> Option<Vec<Claim>> {
    let raw = cx.raw;
    let vp = kp.key("volumes");
    all(k.volumes.iter().map(|(name, claim)| {
        let p = vp.key(name);
        let volume = cx.volume_ref(p.clone(), name);
        let size = cx.size(p.key("size"), &claim.size);
        let storage_class = match &claim.storage_class {
            Some(class) => label(cx, p.key("storage_class"), class, "storage class").map(Some),
            None => Some(None),
        };
        let volume = volume?;
        let kind = raw.volumes[volume.index()].kind;
        if kind != VolumeKind::Data {
            cx.error_help(
                Rule::KubernetesClaim,
                p,
                format!("volume `{name}` is a `{}` volume: only `data` volumes are claimed", kind.as_str()),
                "drop the entry: its pods get an `emptyDir`, which lives as long as the pod (or make the volume `kind: data`)",
            );
            return None;
        }
        // Its name, which names the claims, is checked where a workload mounts it (`names`).
        Some(Claim {
            volume,
            size: size?,
            storage_class: storage_class?,
        })
    }))
}

/// Each service's requests and autoscaling.
fn workloads(
    cx: &mut Cx<'_>,
    kp: &SpecPath,
    k: &RawKubernetes,
    services: &[Service],
    scaling: &[ScalePlan],
    not_deployed: &[ServiceId],
) -> Option<Vec<Workload>> {
    let sp = kp.key("services");
    let mut ok = true;
    for name in k.services.keys() {
        ok &= cx.service_ref(sp.key(name), name).is_some();
        if let Some(&id) = not_deployed.iter().find(|p| services[p.index()].name.as_str() == name) {
            let (what, help) = if cx.raw.services.get_index_of(&cx.raw.edge.proxy) == Some(id.index()) {
                (
                    "the proxy",
                    "drop the entry: the Ingress controller takes the proxy's place",
                )
            } else {
                (
                    "Prometheus",
                    "drop the entry: the prometheus-operator's Prometheus takes its place",
                )
            };
            cx.error_help(
                Rule::KubernetesAutoscaling,
                sp.key(name),
                format!("`{name}` is {what}, which this Kubernetes environment does not deploy"),
                help,
            );
            ok = false;
        }
    }
    let default = RawWorkload::default();
    let workloads = all(services.iter().map(|service| {
        let raw = k.services.get(service.name.as_str()).unwrap_or(&default);
        workload(cx, &sp.key(&service.name), service, raw, scaling)
    }));
    workloads.filter(|_| ok)
}

fn workload(
    cx: &mut Cx<'_>,
    p: &SpecPath,
    service: &Service,
    raw: &RawWorkload,
    scaling: &[ScalePlan],
) -> Option<Workload> {
    let requests = match &raw.requests {
        Some(r) => {
            let rp = p.key("requests");
            let cpus = cx.cpus(rp.key("cpus"), &r.cpus);
            let memory = cx.size(rp.key("memory"), &r.memory);
            let requests = Requests {
                cpus: cpus?,
                memory: memory?,
            };
            within_limits(cx, &rp, service, requests)?;
            Some(requests)
        }
        None => service.resources.map(|r| Requests {
            cpus: r.cpus,
            memory: r.memory,
        }),
    };
    let autoscaling = match &raw.autoscaling {
        Some(a) => Some(autoscaling(cx, &p.key("autoscaling"), service, a, requests, scaling)?),
        None => None,
    };
    Some(Workload { requests, autoscaling })
}

/// Refuses requests above the service's limits, or requests of a service without limits.
fn within_limits(cx: &mut Cx<'_>, rp: &SpecPath, service: &Service, requests: Requests) -> Option<()> {
    let Some(limits) = service.resources else {
        cx.error_help(
            Rule::KubernetesRequests,
            rp.clone(),
            format!("`{}` has requests but no `resources`, its limits", service.name),
            "give the service `resources` (its limits), or drop the requests",
        );
        return None;
    };
    let mut ok = true;
    if requests.cpus > limits.cpus {
        cx.error_help(
            Rule::KubernetesRequests,
            rp.key("cpus"),
            format!(
                "`{}` requests {} vCPUs, more than its limit of {}",
                service.name, requests.cpus, limits.cpus
            ),
            "request at most the limit: Kubernetes refuses a pod whose request exceeds its limit",
        );
        ok = false;
    }
    if requests.memory > limits.memory {
        cx.error_help(
            Rule::KubernetesRequests,
            rp.key("memory"),
            format!(
                "`{}` requests {} memory, more than its limit of {}",
                service.name,
                requests.memory.readable(),
                limits.memory.readable()
            ),
            "request at most the limit: Kubernetes refuses a pod whose request exceeds its limit",
        );
        ok = false;
    }
    ok.then_some(())
}

fn autoscaling(
    cx: &mut Cx<'_>,
    ap: &SpecPath,
    service: &Service,
    raw: &crate::raw::RawAutoscaling,
    requests: Option<Requests>,
    scaling: &[ScalePlan],
) -> Option<Autoscaling> {
    // The fewest replicas are the ones the service runs without an autoscaler.
    let min = scaling
        .iter()
        .find(|s| s.service == service.id)
        .map_or(service.replicas, |s| s.replicas);
    if raw.max < min {
        cx.out_of_range(
            ap.key("max"),
            format!(
                "max ({}) is below the {min} replicas `{}` runs without an autoscaler",
                raw.max, service.name
            ),
        );
        return None;
    }
    if !(1..=100).contains(&raw.cpu_utilization) {
        cx.out_of_range(
            ap.key("cpu_utilization"),
            format!("{}% is not a share of the requests (1 to 100)", raw.cpu_utilization),
        );
        return None;
    }
    if requests.is_none() {
        cx.error_help(
            Rule::KubernetesRequests,
            ap.clone(),
            format!(
                "`{}` scales on CPU use, a share of its CPU requests, and has none",
                service.name
            ),
            "give the service `resources` (requests default to them) or `requests`",
        );
        return None;
    }
    Some(Autoscaling {
        min,
        max: raw.max,
        cpu_utilization: raw.cpu_utilization,
    })
}

/// Every `data` volume a workload mounts has a claim, and a claim belongs to one pod.
fn claimed_volumes(
    cx: &mut Cx<'_>,
    k: &RawKubernetes,
    services: &[Service],
    scaling: &[ScalePlan],
    workloads: Option<&[Workload]>,
    not_deployed: &[ServiceId],
) {
    let raw = cx.raw;
    let mut mounted_by: Vec<Option<&Service>> = vec![None; raw.volumes.len()];
    for service in services.iter().filter(|s| !not_deployed.contains(&s.id)) {
        for (i, mount) in service.mounts.iter().enumerate() {
            let Mount::Volume { volume, .. } = mount else { continue };
            let (name, v) = raw.volumes.get_index(volume.index()).expect("a resolved volume");
            if v.kind != VolumeKind::Data {
                continue;
            }
            let path = SpecPath::top("services").key(&service.name).key("mounts").index(i);
            if !k.volumes.contains_key(name) {
                cx.error_help(
                    Rule::KubernetesClaim,
                    path.clone(),
                    format!("`{}` mounts the data volume `{name}`, which has no claim", service.name),
                    format!("add `platform.kubernetes.volumes.{name}: {{ size: ... }}`"),
                );
            }
            if let Some(other) = mounted_by[volume.index()].replace(service) {
                cx.error_help(
                    Rule::KubernetesSharedClaim,
                    path.clone(),
                    format!(
                        "`{}` and `{}` both mount the data volume `{name}`: a ReadWriteOnce claim has one pod",
                        other.name, service.name
                    ),
                    "give each service its own data volume",
                );
            }
            let plan = scaling.iter().find(|s| s.service == service.id).map(|s| s.replicas);
            let autoscaled = workloads.and_then(|w| w[service.id.index()].autoscaling);
            let replicas = plan.unwrap_or(service.replicas);
            if replicas > 1 || autoscaled.is_some() {
                let runs = match autoscaled {
                    Some(a) => format!("up to {} replicas (autoscaled)", a.max),
                    None => format!("{replicas} replicas"),
                };
                cx.error_help(
                    Rule::KubernetesSharedClaim,
                    path,
                    format!(
                        "`{}` runs {runs} and mounts the data volume `{name}`: on Kubernetes each replica gets a claim of its own, not this volume",
                        service.name
                    ),
                    "run one replica of a service that keeps data (replicate through the datastore's own clustering)",
                );
            }
        }
    }
}

/// Refuses (`kubernetes-capacity`) a pod whose requests no node has, and requests that the
/// pool cannot hold, with the fewest pods or with the autoscalers at their maximum.
fn fits_nodes(
    cx: &mut Cx<'_>,
    k8s: &Kubernetes,
    node: &Vm,
    pool: NodePool,
    services: &[Service],
    scaling: &[ScalePlan],
) {
    let np = SpecPath::top("platform").key("kubernetes").key("nodes");
    for service in services.iter().filter(|s| k8s.deploys(s.id)) {
        let Some(r) = k8s.workload(service.id).requests else {
            continue;
        };
        if r.cpus > node.cpus || r.memory > node.memory {
            cx.error_help(
                Rule::KubernetesCapacity,
                np.key("vm"),
                format!(
                    "a pod of `{}` requests {} vCPUs and {} memory, more than a node of VM `{}` has ({} vCPUs, {})",
                    service.name,
                    r.cpus,
                    r.memory.readable(),
                    node.name,
                    node.cpus,
                    node.memory.readable()
                ),
                "a pod runs on one node: pick a larger VM for the nodes, or lower the service's requests",
            );
        }
    }
    let (fewest, most) = k8s.requested_with(services, scaling);
    let (cpus, memory) = (node.cpus * pool.count, node.memory * pool.count);
    for (when, need) in [("", fewest), (" with the autoscalers at their maximum", most)] {
        if need.cpus > cpus || need.memory > memory {
            cx.error_help(
                Rule::KubernetesCapacity,
                np.key("count"),
                format!(
                    "the pods request {} vCPUs and {} memory{when}, more than {} of VM `{}` {} ({cpus} vCPUs, {})",
                    need.cpus,
                    need.memory.readable(),
                    if pool.count == 1 {
                        "one node".to_owned()
                    } else {
                        format!("{} nodes", pool.count)
                    },
                    node.name,
                    if pool.count == 1 { "has" } else { "have" },
                    memory.readable()
                ),
                "add nodes, pick a larger VM for them, or lower the requests or the autoscalers' `max`",
            );
            break;
        }
    }
}

/// Each backup job is a CronJob whose pod dumps its service over the network, or archives the
/// claim of its volume from the service pod's node (`kubernetes-backup-job`): `pg_dump` needs
/// the password it connects with, a dump a port to connect to, an archive a claim (a `data`
/// volume), and the CronJob's name is a DNS label short enough for the Jobs named after it.
/// A job with an RPO warns (`kubernetes-backups`): PostgreSQL archives no WAL on the cluster,
/// so its recovery point is the last dump.
fn backup_jobs(cx: &mut Cx<'_>) {
    let raw = cx.raw;
    let Some(backups) = &raw.backups else { return };
    for (name, job) in &backups.jobs {
        let jp = SpecPath::top("backups").key("jobs").key(name);
        let cron_job = Kubernetes::cron_job_name(name);
        if !is_dns_label(&cron_job) || cron_job.len() > Kubernetes::CRON_JOB_NAME_MAX {
            cx.error_help(
                Rule::KubernetesName,
                jp.clone(),
                format!(
                    "backup job `{name}` is the CronJob `{cron_job}`, which is not a DNS label of at most {} characters (its Jobs add 11)",
                    Kubernetes::CRON_JOB_NAME_MAX
                ),
                "name the job with lowercase letters, digits and `-`, shorter",
            );
        }
        match job.method {
            BackupMethod::VolumeArchive
                if raw
                    .volumes
                    .get(&job.volume)
                    .is_some_and(|v| v.kind != crate::raw::VolumeKind::Data) =>
            {
                cx.error_help(
                    Rule::KubernetesBackupJob,
                    jp.key("volume"),
                    format!(
                        "backup job `{name}` archives volume `{}`, which is not a `data` volume and so has no claim on Kubernetes (an `emptyDir` another pod cannot read)",
                        job.volume
                    ),
                    "make it a `data` volume with a claim in `platform.kubernetes.volumes`, or remove the job in this environment's overlay (`{ $remove: true }`)",
                );
            }
            BackupMethod::PgDump if job.password_env.is_none() => cx.error_help(
                Rule::KubernetesBackupJob,
                jp.clone(),
                format!(
                    "backup job `{name}` runs pg_dump in its CronJob's pod, which connects to `{}` over the network and needs the user's password",
                    job.service
                ),
                "set `password_env` to the variable of the service holding it (`POSTGRES_PASSWORD`)",
            ),
            BackupMethod::PgDump | BackupMethod::Mongodump
                if raw.services.get(&job.service).is_some_and(|s| {
                    !s.ports.iter().any(|p| p.protocol == crate::raw::Protocol::Tcp)
                }) =>
            {
                cx.error_help(
                    Rule::KubernetesBackupJob,
                    jp.key("service"),
                    format!(
                        "backup job `{name}` connects to `{}` over the network, which declares no TCP port to connect to",
                        job.service
                    ),
                    format!("declare the port `{}` listens on in its `ports`", job.service),
                );
            }
            _ => {}
        }
        if let Some(rpo) = &job.rpo {
            cx.report(
                crate::diagnostic::Diagnostic::new(
                    Rule::KubernetesBackups,
                    jp.key("rpo"),
                    format!(
                        "backup job `{name}` has an RPO of {rpo} on Compose only: on Kubernetes PostgreSQL archives no WAL, so the recovery point is the job's last dump (`{}`)",
                        job.schedule
                    ),
                )
                .with_help("accept daily recovery points on the cluster (allow this warning with why), or keep the database on Compose"),
            );
        }
    }
}

/// A workload runs without the deployment folder and its `.env`.
fn deployable(cx: &mut Cx<'_>, service: &Service, variables: &[Variable]) {
    let sp = SpecPath::top("services").key(&service.name);
    for (i, mount) in service.mounts.iter().enumerate() {
        if let Mount::Bind { source, .. } = mount
            && source.starts_with("./")
        {
            cx.error_help(
                Rule::KubernetesBindMount,
                sp.key("mounts").index(i),
                format!(
                    "`{}` bind-mounts `{}` of the deployment folder, which a cluster's nodes do not have",
                    service.name,
                    source.as_str()
                ),
                "drop the mount in the Kubernetes environment's overlay (or mount a volume)",
            );
        }
    }
    for env in &service.environment {
        let text = match &env.value {
            EnvValue::Text(t) | EnvValue::WithSecrets(t) => t,
            EnvValue::Secret { .. } => continue,
        };
        for id in text.variables() {
            let variable = &variables[id.index()];
            if !variable.secret && variable.required && variable.default.is_none() {
                cx.error_help(
                    Rule::KubernetesVariable,
                    sp.key("environment").key(&env.key),
                    format!(
                        "`{}` reads `${{{}}}`, which has no value in the spec: a cluster has no `.env`",
                        service.name, variable.name
                    ),
                    format!(
                        "give `variables.{}` a `default` in the Kubernetes environment's overlay",
                        variable.name
                    ),
                );
            }
        }
    }
}

/// The longest service name whose derived names stay within 63 characters.
const MAX_SERVICE_NAME: usize = 52;

/// The service's name, its ports' and its volumes' become object names.
fn names(cx: &mut Cx<'_>, service: &Service) {
    let raw = cx.raw;
    let sp = SpecPath::top("services").key(&service.name);
    let help = "use lowercase letters, digits and inner `-` only (no `_`), 63 at most";
    if !is_dns_label(&service.name) {
        cx.error_help(
            Rule::KubernetesName,
            sp.clone(),
            format!(
                "service `{}` names its workload and Service, and is not a DNS label",
                service.name
            ),
            help,
        );
    } else if service.name.len() > MAX_SERVICE_NAME {
        // The labels and names made from it: a StatefulSet's `controller-revision-hash`
        // (name + 11), `<name>-pods`, `wait-for-<name>`.
        cx.error_help(
            Rule::KubernetesName,
            sp.clone(),
            format!(
                "service `{}` has {} characters: the names Kubernetes makes from it would pass 63",
                service.name,
                service.name.len()
            ),
            format!("use a name of at most {MAX_SERVICE_NAME} characters"),
        );
    }
    for (i, port) in service.ports.iter().enumerate() {
        // IANA service names, as container ports are named: 15 at most, a letter, no `--`.
        let ok = is_dns_label(&port.name)
            && port.name.len() <= 15
            && port.name.bytes().any(|b| b.is_ascii_lowercase())
            && !port.name.contains("--");
        if !ok {
            cx.error_help(
                Rule::KubernetesName,
                sp.key("ports").index(i).key("name"),
                format!(
                    "port `{}` of `{}` is not a Kubernetes port name",
                    port.name, service.name
                ),
                "name ports with at most 15 lowercase letters, digits and single inner `-`, at least one letter",
            );
        }
    }
    for (i, mount) in service.mounts.iter().enumerate() {
        if let Mount::Volume { volume, .. } = mount {
            let name = raw.volumes.get_index(volume.index()).map_or("", |(n, _)| n.as_str());
            if !is_dns_label(name) {
                cx.error_help(
                    Rule::KubernetesName,
                    sp.key("mounts").index(i),
                    format!(
                        "volume `{name}` names a volume of `{}`'s pods, and is not a DNS label",
                        service.name
                    ),
                    help,
                );
            }
        }
    }
}
