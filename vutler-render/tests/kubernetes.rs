//! The Kubernetes target, checked object against object: the invariants no Kubernetes linter
//! checks (selectors, ports, claims, backends, autoscalers, budgets, quantities, names, APIs,
//! NetworkPolicies against the model's connections, Secrets never rendered), on the Kubernetes
//! environment of `specs/` and on every fixture stack rendered for a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use vutler_render::kubernetes::{K8S_DIR, secret_name};
use vutler_render::{Rendered, render};
use vutler_spec::Stack;
use vutler_spec::stack::{IngressApi, Mount, VolumeKind};

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Kubernetes environment of `specs/`, and its tree.
fn kubernetes_env() -> (Stack, Rendered) {
    let stack = vutler_spec::load(&dir("../specs"), "kubernetes")
        .unwrap_or_else(|r| panic!("{r}"))
        .stack;
    let tree = render(&stack).unwrap_or_else(|e| panic!("{e}"));
    (stack, tree)
}

/// A loaded environment's effective spec with one more overlay on top.
fn with_overlay(loaded: &vutler_spec::Loaded, name: &str, overlay: String) -> Result<Stack, vutler_spec::Report> {
    let effective = serde_yaml::to_string(&loaded.effective().unwrap_or_else(|r| panic!("{r}")).to_json())
        .unwrap_or_else(|e| panic!("{e}"));
    vutler_spec::SpecFiles::new(
        loaded.stack.env().as_str(),
        vec![("effective.yaml".into(), effective)],
        Some((name.into(), overlay)),
    )
    .resolve()
    .map(|l| l.stack)
}

/// The first of these paths that is a program here; `None` (a skip, said on stderr) when none
/// is, unless validators are required.
fn installed(paths: [&'static str; 2], what: &str) -> Option<&'static str> {
    let found = paths.into_iter().find(|p| Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var_os("VUTLER_REQUIRE_VALIDATORS").is_none(),
            "{what} is required (VUTLER_REQUIRE_VALIDATORS)"
        );
        eprintln!("skipped: {what} is not installed");
    }
    found
}

/// The objects of a tree's `k8s/`, by file.
fn objects(tree: &Rendered) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, text) in tree.under(K8S_DIR) {
        if !path.ends_with(".yaml") || path.ends_with("kustomization.yaml") {
            continue;
        }
        for doc in serde_yaml::Deserializer::from_str(text) {
            let value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{path}: {e}"));
            if !value.is_null() {
                out.push((path.to_owned(), value));
            }
        }
    }
    out
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The pod template of a workload or of a CronJob's Jobs.
fn pod_template(v: &Value) -> Option<&Value> {
    let t = &v["spec"]["template"];
    let job = &v["spec"]["jobTemplate"]["spec"]["template"];
    [t, job].into_iter().find(|t| t["spec"].is_object())
}

/// Every container of a pod spec, init containers first.
fn all_containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(move |k| pod[k].as_array().into_iter().flatten())
}

/// Whether every label of a selector is on the pod.
fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| pod.get(k) == Some(v))
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A memory or storage quantity in bytes; only plain numbers and binary suffixes are accepted
/// (`512m` would be 0.512 bytes).
fn bytes(q: &str) -> u64 {
    let units = [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40)];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap_or_else(|_| panic!("quantity {q}")) * factor;
        }
    }
    q.parse().unwrap_or_else(|_| panic!("{q} is not a binary quantity"))
}

fn millicpus(q: &str) -> u64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap_or_else(|_| panic!("cpu {q}")),
        None => q.parse::<u64>().unwrap_or_else(|_| panic!("cpu {q}")) * 1000,
    }
}

/// The APIs the manifests may use: GA in every supported version (1.27 and later), the
/// Gateway API's standard channel (v1, a custom resource the implementation installs) and the
/// prometheus-operator's v1.
const SERVED: [(&str, &str); 15] = [
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("batch/v1", "CronJob"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
];

/// Checks every invariant of the Kubernetes tree of a stack; returns how many objects it read.
fn check_invariants(name: &str, stack: &Stack, tree: &Rendered) -> usize {
    let k8s = stack
        .kubernetes()
        .unwrap_or_else(|| panic!("{name}: not a Kubernetes environment"));
    let objects = objects(tree);
    assert!(!objects.is_empty(), "{name}: no objects");
    let kind = |v: &Value| v["kind"].as_str().unwrap_or_default().to_owned();
    let oname = |v: &Value| v["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let of_kind = |k: &'static str| objects.iter().filter(move |(_, v)| v["kind"] == k);
    let workloads: Vec<&(String, Value)> = objects
        .iter()
        .filter(|(_, v)| v["spec"]["template"]["spec"].is_object())
        .collect();
    let cron_jobs: Vec<&(String, Value)> = of_kind("CronJob").collect();
    // Whatever runs pods: the services' workloads and the backup CronJobs.
    let runs_pods = || workloads.iter().chain(&cron_jobs).copied();

    // Names, namespaces, APIs, uniqueness; no Secret, ever.
    let mut seen = BTreeSet::new();
    for (file, v) in &objects {
        let (k, n) = (kind(v), oname(v));
        assert!(is_dns_label(&n), "{name} {file}: {k} {n} is not a DNS label");
        assert!(seen.insert((k.clone(), n.clone())), "{name}: {k} {n} twice");
        let api = v["apiVersion"].as_str().unwrap_or_default();
        assert!(
            SERVED.contains(&(api, k.as_str())),
            "{name} {file}: {api} {k} is not a served API"
        );
        if k != "Namespace" {
            assert_eq!(
                v["metadata"]["namespace"],
                k8s.namespace.as_str(),
                "{name} {file}: {k} {n}"
            );
        }
        assert_ne!(k, "Secret", "{name} {file}: a Secret is rendered");
    }

    // Each service the cluster runs (all but the proxy, and Prometheus where an operator's
    // scrapes) has one workload, in its own file, selected by its stable labels; the others
    // none.
    let proxy = stack.edge().proxy;
    for service in stack.services().iter().filter(|s| !k8s.deploys(s.id)) {
        assert!(
            workloads.iter().all(|(_, w)| oname(w) != service.name.as_str()),
            "{name}: {} is deployed",
            service.name
        );
    }
    let mut pods: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for service in stack.services().iter().filter(|s| k8s.deploys(s.id)) {
        let (file, w) = workloads
            .iter()
            .find(|(_, w)| oname(w) == service.name.as_str())
            .map(|(f, w)| (f, w))
            .unwrap_or_else(|| panic!("{name}: no workload for {}", service.name));
        assert_eq!(file, &format!("{K8S_DIR}/{}.yaml", service.name), "{name}");
        let selector = labels(&w["spec"]["selector"]["matchLabels"]);
        let expected: BTreeMap<String, String> = [
            ("app.kubernetes.io/name".to_owned(), service.name.to_string()),
            ("app.kubernetes.io/part-of".to_owned(), stack.project().to_string()),
        ]
        .into();
        assert_eq!(
            selector, expected,
            "{name}: {} selects by more than its names",
            service.name
        );
        let pod = labels(&w["spec"]["template"]["metadata"]["labels"]);
        assert!(
            selects(&selector, &pod),
            "{name}: {} selects none of its pods",
            service.name
        );
        for (other, labels) in &pods {
            assert!(
                !selects(&selector, labels),
                "{name}: {}'s selector matches {other}'s pods",
                service.name
            );
        }
        pods.insert(service.name.to_string(), pod);
    }
    assert_eq!(workloads.len(), pods.len(), "{name}: workloads of no service");

    let container_ports = |w: &Value| -> BTreeSet<String> {
        w["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    let workload_for = |selector: &BTreeMap<String, String>| -> Vec<&Value> {
        workloads
            .iter()
            .filter(|(_, w)| selects(selector, &labels(&w["spec"]["template"]["metadata"]["labels"])))
            .map(|(_, w)| w)
            .collect()
    };

    // Every Service selects one workload and targets its declared ports.
    for (file, svc) in of_kind("Service") {
        let selected = workload_for(&labels(&svc["spec"]["selector"]));
        assert_eq!(
            selected.len(),
            1,
            "{name} {file}: Service {} selects {} workloads",
            oname(svc),
            selected.len()
        );
        // Headless by role, never by replica count (`clusterIP` cannot change): a StatefulSet's
        // governing Service, and `<name>-pods`, which lists pods not ready yet.
        let every = oname(svc).ends_with("-pods");
        let governing = selected[0]["kind"] == "StatefulSet" && !every;
        assert_eq!(
            svc["spec"]["clusterIP"] == "None",
            every || governing,
            "{name} {file}: {}",
            oname(svc)
        );
        assert_eq!(
            svc["spec"]["publishNotReadyAddresses"] == true,
            every,
            "{name} {file}: {}",
            oname(svc)
        );
        let ports = container_ports(selected[0]);
        for p in svc["spec"]["ports"].as_array().into_iter().flatten() {
            let target = p["targetPort"].as_str().unwrap_or_default();
            assert!(
                ports.contains(target),
                "{name} {file}: targetPort {target} is no container port"
            );
        }
    }

    // Workloads: claims, mounts, replicas, autoscalers, requests within limits, quantities.
    let autoscaled: BTreeMap<String, &Value> = of_kind("HorizontalPodAutoscaler")
        .map(|(_, h)| {
            (
                h["spec"]["scaleTargetRef"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                h,
            )
        })
        .collect();
    for (file, w) in &workloads {
        let n = oname(w);
        let pod = &w["spec"]["template"]["spec"];
        let volumes: BTreeSet<String> = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect();
        let claims: BTreeSet<String> = w["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        let mut mounted = BTreeSet::new();
        for c in pod["containers"].as_array().into_iter().flatten() {
            for m in c["volumeMounts"].as_array().into_iter().flatten() {
                let v = m["name"].as_str().unwrap_or_default().to_owned();
                assert!(
                    volumes.contains(&v) || claims.contains(&v),
                    "{name} {file}: {n} mounts no volume {v}"
                );
                mounted.insert(v);
            }
            let limits = &c["resources"]["limits"];
            let requests = &c["resources"]["requests"];
            if let (Some(l), Some(r)) = (limits["memory"].as_str(), requests["memory"].as_str()) {
                assert!(
                    bytes(r) <= bytes(l),
                    "{name} {file}: {n} requests more memory than its limit"
                );
                assert!(
                    millicpus(requests["cpu"].as_str().unwrap_or("0"))
                        <= millicpus(limits["cpu"].as_str().unwrap_or("0"))
                );
            }
            // `$(NAME)` refers to an entry defined before.
            let mut defined = BTreeSet::new();
            for e in c["env"].as_array().into_iter().flatten() {
                let value = e["value"].as_str().unwrap_or_default().replace("$$", "");
                for r in value.split("$(").skip(1) {
                    let var = r.split(')').next().unwrap_or_default();
                    assert!(
                        defined.contains(var),
                        "{name} {file}: {n} refers to $({var}) before it is set"
                    );
                }
                defined.insert(e["name"].as_str().unwrap_or_default().to_owned());
            }
        }
        assert_eq!(
            volumes.union(&claims).cloned().collect::<BTreeSet<_>>(),
            mounted,
            "{name} {file}: {n}"
        );
        for claim in w["spec"]["volumeClaimTemplates"].as_array().into_iter().flatten() {
            assert_eq!(
                w["spec"]["replicas"], 1,
                "{name} {file}: a ReadWriteOnce claim with several replicas"
            );
            assert_eq!(claim["spec"]["accessModes"], serde_json::json!(["ReadWriteOnce"]));
            bytes(
                claim["spec"]["resources"]["requests"]["storage"]
                    .as_str()
                    .unwrap_or_default(),
            );
        }
        if w["kind"] == "StatefulSet" {
            let governing = w["spec"]["serviceName"].as_str().unwrap_or_default();
            let svc = of_kind("Service")
                .find(|(_, s)| oname(s) == governing)
                .unwrap_or_else(|| panic!("{name} {file}: {n} has no governing Service {governing}"));
            assert_eq!(
                svc.1["spec"]["clusterIP"], "None",
                "{name}: {governing} is not headless"
            );
            assert!(selects(
                &labels(&svc.1["spec"]["selector"]),
                &labels(&w["spec"]["template"]["metadata"]["labels"])
            ));
        }
        // Several pods of a Deployment are spread over the nodes, selected as the workload is.
        let several = autoscaled.contains_key(&n) || w["spec"]["replicas"].as_u64() > Some(1);
        if w["kind"] == "Deployment" && several {
            let spread = &pod["topologySpreadConstraints"][0];
            assert_eq!(
                spread["topologyKey"], "kubernetes.io/hostname",
                "{name} {file}: {n} is not spread"
            );
            assert_eq!(spread["whenUnsatisfiable"], "ScheduleAnyway", "{name} {file}: {n}");
            assert_eq!(
                spread["labelSelector"]["matchLabels"],
                w["spec"]["selector"]["matchLabels"]
            );
        }
        if let Some(hpa) = autoscaled.get(&n) {
            assert!(
                w["spec"]["replicas"].is_null(),
                "{name} {file}: {n} sets replicas beside its autoscaler"
            );
            assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], w["kind"]);
            for c in pod["containers"].as_array().into_iter().flatten() {
                assert!(
                    c["resources"]["requests"]["cpu"].is_string(),
                    "{name}: {n} scales on CPU it does not request"
                );
            }
            assert!(hpa["spec"]["minReplicas"].as_u64() <= hpa["spec"]["maxReplicas"].as_u64());
        }
    }

    // Budgets always allow a disruption, and select a workload.
    for (file, pdb) in of_kind("PodDisruptionBudget") {
        assert!(
            pdb["spec"]["maxUnavailable"].as_u64() >= Some(1),
            "{name} {file}: a budget that blocks drains"
        );
        assert_eq!(
            workload_for(&labels(&pdb["spec"]["selector"]["matchLabels"])).len(),
            1,
            "{name} {file}"
        );
    }

    // The Ingress routes to a Service and a port it has.
    for (file, ing) in of_kind("Ingress") {
        for rule in ing["spec"]["rules"].as_array().into_iter().flatten() {
            for p in rule["http"]["paths"].as_array().into_iter().flatten() {
                let backend = &p["backend"]["service"];
                let svc = of_kind("Service")
                    .find(|(_, s)| s["metadata"]["name"] == backend["name"])
                    .unwrap_or_else(|| panic!("{name} {file}: no Service {}", backend["name"]));
                let has_port = svc.1["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|sp| sp["name"] == backend["port"]["name"]);
                assert!(
                    has_port,
                    "{name} {file}: {} has no port {}",
                    backend["name"], backend["port"]["name"]
                );
            }
        }
        assert_eq!(ing["spec"]["ingressClassName"], k8s.ingress.class.as_str());
    }

    // One way in, of the spec's API: the Ingress, or a Gateway with its routes.
    let (ingresses, gateways) = (of_kind("Ingress").count(), of_kind("Gateway").count());
    match k8s.ingress.api {
        IngressApi::Ingress => assert_eq!((ingresses, gateways), (1, 0), "{name}"),
        IngressApi::Gateway => assert_eq!((ingresses, gateways), (0, 1), "{name}"),
    }
    let domain = stack.domain().as_str();
    for (file, gw) in of_kind("Gateway") {
        assert_eq!(
            gw["spec"]["gatewayClassName"],
            k8s.ingress.class.as_str(),
            "{name} {file}"
        );
        let listeners = gw["spec"]["listeners"].as_array().cloned().unwrap_or_default();
        let mut protocols: Vec<&str> = listeners.iter().filter_map(|l| l["protocol"].as_str()).collect();
        protocols.sort_unstable();
        assert_eq!(protocols, ["HTTP", "HTTPS"], "{name} {file}");
        for l in &listeners {
            assert_eq!(l["hostname"], domain, "{name} {file}: a listener for another host");
            assert_eq!(l["allowedRoutes"]["namespaces"]["from"], "Same", "{name} {file}");
            if l["protocol"] == "HTTPS" {
                assert_eq!(l["port"], 443);
                assert_eq!(l["tls"]["mode"], "Terminate");
                assert_eq!(
                    l["tls"]["certificateRefs"],
                    serde_json::json!([{ "kind": "Secret", "name": k8s.ingress.tls_secret.as_str() }]),
                    "{name} {file}"
                );
            } else {
                assert_eq!(l["port"], 80);
                assert!(l["tls"].is_null(), "{name} {file}");
            }
        }
    }
    // Every route attaches to a listener that exists, for the domain; plain HTTP only
    // redirects to HTTPS, and HTTPS reaches a Service port that exists, within the edge's
    // timeout.
    let routes: Vec<_> = of_kind("HTTPRoute").collect();
    if k8s.ingress.api == IngressApi::Gateway {
        assert_eq!(routes.len(), 2, "{name}: the redirect and the upstream's route");
    }
    for (file, route) in routes {
        let parents = route["spec"]["parentRefs"].as_array().cloned().unwrap_or_default();
        assert_eq!(parents.len(), 1, "{name} {file}");
        let gateway = of_kind("Gateway")
            .find(|(_, g)| g["metadata"]["name"] == parents[0]["name"])
            .unwrap_or_else(|| panic!("{name} {file}: no Gateway {}", parents[0]["name"]));
        let listener = gateway.1["spec"]["listeners"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["name"] == parents[0]["sectionName"])
            .unwrap_or_else(|| panic!("{name} {file}: no listener {}", parents[0]["sectionName"]));
        assert_eq!(route["spec"]["hostnames"], serde_json::json!([domain]), "{name} {file}");
        let rules = route["spec"]["rules"].as_array().cloned().unwrap_or_default();
        assert_eq!(rules.len(), 1, "{name} {file}");
        let rule = &rules[0];
        if listener["protocol"] == "HTTP" {
            assert!(
                rule["backendRefs"].is_null(),
                "{name} {file}: plain HTTP reaches a backend"
            );
            assert_eq!(
                rule["filters"],
                serde_json::json!([{ "type": "RequestRedirect", "requestRedirect": { "scheme": "https", "statusCode": 301 } }]),
                "{name} {file}"
            );
            continue;
        }
        let edge = stack.edge();
        let upstream = stack.service(edge.upstream.service);
        let backends = rule["backendRefs"].as_array().cloned().unwrap_or_default();
        assert_eq!(backends.len(), 1, "{name} {file}");
        assert_eq!(backends[0]["name"], upstream.name.as_str(), "{name} {file}");
        let svc = of_kind("Service")
            .find(|(_, s)| s["metadata"]["name"] == backends[0]["name"])
            .unwrap_or_else(|| panic!("{name} {file}: no Service {}", backends[0]["name"]));
        assert!(
            svc.1["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|sp| sp["port"] == backends[0]["port"]),
            "{name} {file}: {} has no port {}",
            backends[0]["name"],
            backends[0]["port"]
        );
        assert_eq!(
            backends[0]["port"],
            stack.port(edge.upstream).container,
            "{name} {file}"
        );
        assert_eq!(
            rule["timeouts"]["request"],
            vutler_render::kubernetes::gateway::duration(edge.read_timeout),
            "{name} {file}"
        );
        assert_eq!(
            rule["matches"],
            serde_json::json!([{ "path": { "type": "PathPrefix", "value": "/" } }]),
            "{name} {file}"
        );
    }

    // With a prometheus-operator: a ServiceMonitor per scrape job, selecting the one Service of
    // its target by its labels, on a port it has, keeping the job's name; the rules as one
    // PrometheusRule, exactly those of `prometheus/alerts.yml`; no Service for DNS discovery;
    // Grafana asks the operator's Prometheus.
    let monitors: Vec<_> = of_kind("ServiceMonitor").collect();
    let rules: Vec<_> = of_kind("PrometheusRule").collect();
    match (&k8s.prometheus_operator, stack.monitoring()) {
        (Some(op), Some(m)) => {
            assert_eq!(
                monitors.len(),
                m.scrape_jobs.len(),
                "{name}: a ServiceMonitor per scrape job"
            );
            assert_eq!(rules.len(), 1, "{name}");
            for (file, sm) in monitors.iter().chain(&rules) {
                let labels = labels(&sm["metadata"]["labels"]);
                for (k, v) in &op.labels {
                    assert_eq!(labels.get(k), Some(v), "{name} {file}: {} lacks {k}", oname(sm));
                }
            }
            for job in &m.scrape_jobs {
                let (file, sm) = monitors
                    .iter()
                    .find(|(_, sm)| oname(sm) == job.name.as_str())
                    .unwrap_or_else(|| panic!("{name}: no ServiceMonitor for {}", job.name));
                let selector = labels(&sm["spec"]["selector"]["matchLabels"]);
                let services: Vec<_> = of_kind("Service")
                    .filter(|(_, s)| selects(&selector, &labels(&s["metadata"]["labels"])))
                    .collect();
                assert_eq!(
                    services.len(),
                    1,
                    "{name} {file}: {} selects {} Services",
                    job.name,
                    services.len()
                );
                let target = stack.service(job.target.service);
                assert_eq!(oname(&services[0].1), target.name.as_str(), "{name} {file}");
                let endpoints = sm["spec"]["endpoints"].as_array().cloned().unwrap_or_default();
                assert_eq!(endpoints.len(), 1, "{name} {file}");
                let e = &endpoints[0];
                assert!(
                    services[0].1["spec"]["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["name"] == e["port"]),
                    "{name} {file}: {} has no port {}",
                    target.name,
                    e["port"]
                );
                assert_eq!(e["port"], stack.port(job.target).name.as_str());
                assert_eq!(e["path"], job.path.as_str());
                assert_eq!(e["interval"], m.scrape_interval.to_string());
                assert_eq!(
                    e["relabelings"],
                    serde_json::json!([{ "targetLabel": "job", "replacement": job.name.as_str() }]),
                    "{name} {file}: the job label is not the scrape job's name"
                );
                match job.auth {
                    Some(vutler_spec::stack::ScrapeAuth::Bearer { token }) => {
                        let secret = secret_name(stack.variable(token));
                        assert_eq!(e["bearerTokenSecret"]["name"], secret.as_str(), "{name} {file}");
                        let script = tree.get("k8s/secrets.sh").unwrap_or_default();
                        assert!(
                            script.contains(&format!("'{secret} ")),
                            "{name}: secrets.sh does not create {secret}"
                        );
                    }
                    _ => assert!(e["bearerTokenSecret"].is_null(), "{name} {file}"),
                }
            }
            let expected = vutler_render::prometheus::rule_groups_value(stack, m).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                rules[0].1["spec"]["groups"], expected,
                "{name}: the PrometheusRule is not alerts.yml"
            );
            assert!(
                of_kind("Service").all(|(_, s)| !oname(s).ends_with("-pods")),
                "{name}: a Service for DNS discovery, which the operator's Prometheus does not use"
            );
            if m.grafana.is_some() {
                let grafana = tree.get("k8s/grafana.yaml").unwrap_or_default();
                assert!(
                    grafana.contains(&format!("http://{}", op.endpoint())),
                    "{name}: Grafana does not ask the operator's Prometheus"
                );
            }
        }
        _ => assert!(
            monitors.is_empty() && rules.is_empty(),
            "{name}: operator objects without an operator"
        ),
    }

    // Every ConfigMap is mounted by the workload (or CronJob) of its file, and is never edited
    // in place.
    for (file, cm) in of_kind("ConfigMap") {
        assert_eq!(cm["immutable"], true, "{name} {file}");
        let used = runs_pods().any(|(f, w)| {
            f == file
                && pod_template(w).unwrap_or(&Value::Null)["spec"]["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|v| v["configMap"]["name"] == cm["metadata"]["name"])
        });
        assert!(used, "{name} {file}: ConfigMap {} is mounted by no workload", oname(cm));
    }

    // Secrets: referenced by name, each created by k8s/secrets.sh, never in a manifest.
    let script = tree
        .get(&format!("{K8S_DIR}/secrets.sh"))
        .unwrap_or_else(|| panic!("{name}: no secrets.sh"));
    let mut referenced = BTreeSet::new();
    for (_, w) in runs_pods() {
        let pod = &pod_template(w).unwrap_or(&Value::Null)["spec"];
        for c in all_containers(pod) {
            for e in c["env"].as_array().into_iter().flatten() {
                if let Some(s) = e["valueFrom"]["secretKeyRef"]["name"].as_str() {
                    referenced.insert(s.to_owned());
                }
            }
        }
        for v in pod["volumes"].as_array().into_iter().flatten() {
            for src in v["projected"]["sources"].as_array().into_iter().flatten() {
                referenced.insert(src["secret"]["name"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    for secret in &referenced {
        assert!(
            script.contains(&format!("\n  '{secret} ")),
            "{name}: secrets.sh does not create {secret}"
        );
    }
    for v in stack.variables().iter().filter(|v| v.secret) {
        if !referenced.contains(&secret_name(v)) {
            assert!(
                !script.contains(&format!("\n  '{} ", secret_name(v))),
                "{name}: secrets.sh creates an unused {}",
                v.name
            );
        }
    }

    // NetworkPolicies: the model's connections, no more, no fewer.
    // A backup job's pods are a client of its service, on the port it dumps through.
    let backup_pods = |selector: &BTreeMap<String, String>| -> Vec<String> {
        cron_jobs
            .iter()
            .filter(|(_, c)| {
                selects(
                    selector,
                    &labels(&pod_template(c).unwrap_or(&Value::Null)["metadata"]["labels"]),
                )
            })
            .map(|(_, c)| oname(c))
            .collect()
    };
    let mut allowed: BTreeSet<(String, String, u64)> = BTreeSet::new();
    for (file, np) in of_kind("NetworkPolicy") {
        let selector = labels(&np["spec"]["podSelector"]["matchLabels"]);
        let target: Vec<&Value> = workload_for(&selector);
        if oname(np) == "default-deny" {
            assert_eq!(np["spec"]["podSelector"], serde_json::json!({}), "{name} {file}");
            continue;
        }
        // A backup job's egress (outgoing traffic denied): its service, and the destination.
        if let [job] = backup_pods(&selector).as_slice() {
            assert_eq!(
                np["spec"]["policyTypes"],
                serde_json::json!(["Egress"]),
                "{name} {file}"
            );
            let to_service = &np["spec"]["egress"][0]["to"][0]["podSelector"]["matchLabels"];
            assert_eq!(workload_for(&labels(to_service)).len(), 1, "{name} {file}: {job}");
            continue;
        }
        assert_eq!(
            target.len(),
            1,
            "{name} {file}: {} selects {} workloads",
            oname(np),
            target.len()
        );
        let server = oname(target[0]);
        for rule in np["spec"]["ingress"].as_array().into_iter().flatten() {
            for from in rule["from"].as_array().into_iter().flatten() {
                let client = if from["namespaceSelector"].is_object() {
                    let ns = &from["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"];
                    match (&k8s.prometheus_operator, k8s.replaced_prometheus(stack)) {
                        (Some(op), Some(prometheus)) if ns == op.namespace.as_str() => {
                            stack.service(prometheus).name.to_string()
                        }
                        _ => {
                            assert_eq!(ns, k8s.ingress.controller_namespace.as_str(), "{name} {file}");
                            stack.service(proxy).name.to_string()
                        }
                    }
                } else {
                    let selector = labels(&from["podSelector"]["matchLabels"]);
                    let clients: Vec<String> = workload_for(&selector)
                        .into_iter()
                        .map(oname)
                        .chain(backup_pods(&selector))
                        .collect();
                    assert_eq!(clients.len(), 1, "{name} {file}");
                    clients[0].clone()
                };
                for p in rule["ports"].as_array().into_iter().flatten() {
                    allowed.insert((client.clone(), server.clone(), p["port"].as_u64().unwrap_or_default()));
                }
            }
        }
    }
    let model: BTreeSet<(String, String, u64)> = stack
        .connections()
        .iter()
        .filter(|c| k8s.deploys(c.server))
        .flat_map(|c| {
            c.ports.iter().map(move |p| {
                (
                    stack.service(c.client).name.to_string(),
                    stack.service(c.server).name.to_string(),
                    u64::from(*p),
                )
            })
        })
        .chain(stack.backup_jobs().iter().filter_map(|j| {
            let port = vutler_render::kubernetes::backups::dump_port(stack, j)?;
            Some((
                vutler_render::kubernetes::backups::cron_job_name(j),
                stack.service(j.service).name.to_string(),
                u64::from(port),
            ))
        }))
        .collect();
    assert_eq!(
        allowed, model,
        "{name}: the NetworkPolicies are not the model's connections"
    );

    // Backups: the crontab's jobs, each a CronJob at its schedule in UTC, one run at a time,
    // dumping with its service's image and uploading with the script of its file's ConfigMap.
    let expected: BTreeSet<String> = stack
        .backup_jobs()
        .iter()
        .map(vutler_render::kubernetes::backups::cron_job_name)
        .collect();
    let rendered: BTreeSet<String> = cron_jobs.iter().map(|(_, c)| oname(c)).collect();
    assert_eq!(rendered, expected, "{name}: the CronJobs are not the backup jobs");
    for job in stack.backup_jobs() {
        let cron_name = vutler_render::kubernetes::backups::cron_job_name(job);
        let (file, c) = cron_jobs
            .iter()
            .find(|(_, c)| oname(c) == cron_name)
            .map(|(f, c)| (f, c))
            .unwrap_or_else(|| panic!("{name}: no CronJob {cron_name}"));
        let spec = &c["spec"];
        assert_eq!(spec["schedule"], job.schedule.as_str(), "{name} {file}: {cron_name}");
        assert_eq!(spec["timeZone"], "Etc/UTC", "{name} {file}: {cron_name}");
        assert_eq!(spec["concurrencyPolicy"], "Forbid", "{name} {file}: {cron_name}");
        assert!(
            spec["jobTemplate"]["spec"]["activeDeadlineSeconds"].as_u64() > Some(0),
            "{name} {file}: a hung {cron_name} would hold back every later run"
        );
        let template = pod_template(c).unwrap_or_else(|| panic!("{name} {file}: {cron_name} has no pods"));
        assert_eq!(
            template["metadata"]["labels"], spec["jobTemplate"]["metadata"]["labels"],
            "{name} {file}"
        );
        let pod = &template["spec"];
        assert_eq!(pod["restartPolicy"], "Never", "{name} {file}: {cron_name}");
        let volumes: BTreeSet<&str> = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        let mut mounted = BTreeSet::new();
        for container in all_containers(pod) {
            for m in container["volumeMounts"].as_array().into_iter().flatten() {
                let v = m["name"].as_str().unwrap_or_default();
                assert!(volumes.contains(v), "{name} {file}: {cron_name} mounts no volume {v}");
                mounted.insert(v);
            }
            let (limits, requests) = (&container["resources"]["limits"], &container["resources"]["requests"]);
            assert!(
                bytes(requests["memory"].as_str().unwrap_or("0")) <= bytes(limits["memory"].as_str().unwrap_or("0"))
                    && limits["memory"].is_string(),
                "{name} {file}: {cron_name} {}",
                container["name"]
            );
        }
        assert_eq!(volumes, mounted, "{name} {file}: {cron_name}");
        assert_eq!(
            pod["initContainers"][0]["image"],
            stack.service(job.service).image.to_string(),
            "{name} {file}: {cron_name} dumps with another image than its service's"
        );
        let upload = &pod["containers"][0];
        assert_eq!(
            upload["command"],
            serde_json::json!(["bash", "/scripts/backup.sh", job.name.as_str()]),
            "{name} {file}"
        );
        let map = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|v| v["configMap"]["name"].as_str())
            .unwrap_or_else(|| panic!("{name} {file}: {cron_name} mounts no script"));
        let script = of_kind("ConfigMap")
            .find(|(f, m)| f == file && oname(m) == map)
            .and_then(|(_, m)| m["data"]["backup.sh"].as_str())
            .unwrap_or_else(|| panic!("{name} {file}: no ConfigMap {map} with backup.sh"));
        assert!(
            script.contains(&format!("[{}]=", job.name)),
            "{name} {file}: backup.sh does not know job {}",
            job.name
        );
    }

    // The kustomization lists exactly the manifest files.
    let kustomization: Value =
        serde_yaml::from_str(tree.get(&format!("{K8S_DIR}/kustomization.yaml")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(|r| format!("{K8S_DIR}/{r}")))
        .collect();
    let files: BTreeSet<String> = objects.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(listed, files, "{name}");
    objects.len()
}

/// A stack of another environment, run on a cluster: its effective spec with a Kubernetes
/// platform that claims each data volume its services mount, routed in by `api`. An environment
/// that already is a cluster stays as its overlay says.
fn on_kubernetes(
    name: &str,
    files: vutler_spec::SpecFiles,
    api: IngressApi,
    operator: bool,
) -> Result<Stack, vutler_spec::Report> {
    let loaded = files.resolve().unwrap_or_else(|r| panic!("{name}:\n{r}"));
    let stack = &loaded.stack;
    if stack.kubernetes().is_some() {
        return Ok(loaded.stack);
    }
    let proxy = stack.edge().proxy;
    let mut claims = BTreeSet::new();
    for s in stack.services().iter().filter(|s| s.id != proxy) {
        for m in &s.mounts {
            if let Mount::Volume { volume, .. } = m
                && stack.volume(*volume).kind == VolumeKind::Data
            {
                claims.insert(stack.volume(*volume).name.to_string());
            }
        }
    }
    let edge = match api {
        IngressApi::Ingress => "ingress: { class: nginx, tls_secret: tls }",
        IngressApi::Gateway => "gateway: { class: eg, tls_secret: tls, controller_namespace: envoy-gateway-system }",
    };
    let operator = if operator {
        "    prometheus_operator: { namespace: monitoring, labels: { release: kube-prometheus-stack } }\n"
    } else {
        ""
    };
    let mut overlay = format!(
        "platform:\n  kubernetes:\n    version: \"1.30\"\n    namespace: {}\n    {edge}\n{operator}    volumes:\n",
        stack.project()
    );
    if claims.is_empty() {
        overlay = overlay.replace("    volumes:\n", "");
    }
    for claim in claims {
        overlay.push_str(&format!("      {claim}: {{ size: 10GB }}\n"));
    }
    // The operator's Prometheus scrapes itself: the stack's own scrape of Prometheus goes.
    if let (true, Some(m)) = (!operator.is_empty(), stack.monitoring()) {
        let own: Vec<_> = m
            .scrape_jobs
            .iter()
            .filter(|j| j.target.service == m.prometheus.service)
            .collect();
        if !own.is_empty() {
            overlay.push_str("monitoring:\n  scrape_jobs:\n");
            for job in own {
                overlay.push_str(&format!("    {}: {{ $remove: true }}\n", job.name));
            }
        }
    }
    with_overlay(&loaded, "kubernetes.yaml", overlay)
}

#[test]
fn the_kubernetes_environment_keeps_every_invariant() {
    let (stack, tree) = kubernetes_env();
    assert!(check_invariants("kubernetes", &stack, &tree) > 30);
    // Only k8s/: no Compose file, NGINX or host firewall on a cluster.
    assert!(tree.iter().all(|(p, _)| p.starts_with("k8s/")));
    // No alert waits for what only the Compose deployment's scripts record: it would fire from
    // the first minute.
    let rules = tree.get("k8s/prometheus.yaml").unwrap_or_default();
    assert!(rules.contains("alerts.yml: |"), "the rules are in a ConfigMap");
    use vutler_spec::stack::ScriptMetric;
    for metric in [
        ScriptMetric::BackupSuccess,
        ScriptMetric::DrillSuccess,
        ScriptMetric::WalShipped,
        ScriptMetric::TlsExpiry,
        ScriptMetric::SecretRotated,
    ] {
        let name = stack.metric(metric);
        assert!(
            !rules.contains(&name),
            "an alert on {name}, which nothing records on Kubernetes"
        );
    }
    assert!(
        tree.iter().all(|(_, c)| !c.contains("archive_mode")),
        "WAL is archived with nothing to ship it"
    );
    // The person paged is told the cluster's commands.
    for compose_only in ["docker ", "scripts/"] {
        assert!(
            !rules.contains(compose_only),
            "a runbook on Kubernetes says `{compose_only}`"
        );
    }
}

/// Every fixture stack (this crate's, the spec crate's base, and the stacks of other shapes in
/// `xtask/stacks/`), each environment, rendered for a cluster.
#[test]
fn every_fixture_stack_keeps_every_invariant_on_kubernetes() {
    let mut stacks: Vec<(String, vutler_spec::SpecFiles)> = Vec::new();
    let spec_base = dir("../vutler-spec/tests/fixtures/base/stack.yaml");
    stacks.push((
        "spec fixture".into(),
        vutler_spec::SpecFiles::new("test", vec![("base/stack.yaml".into(), read(&spec_base))], None),
    ));
    let mut folders = vec![dir("tests/fixtures/stack")];
    let mut others: Vec<PathBuf> = std::fs::read_dir(dir("../xtask/stacks"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    others.sort();
    folders.extend(others);
    for folder in folders {
        for env in vutler_spec::environments(&folder).unwrap_or_else(|r| panic!("{r}")) {
            let files = vutler_spec::read_dir(&folder, &env).unwrap_or_else(|r| panic!("{r}"));
            stacks.push((format!("{}/{env}", folder.display()), files));
        }
    }
    let (mut checked, mut through_gateway, mut operated) = (0, 0, 0);
    for (name, files) in stacks {
        for (api, operator) in [
            (IngressApi::Ingress, false),
            (IngressApi::Gateway, false),
            (IngressApi::Ingress, true),
        ] {
            let stack = match on_kubernetes(&name, files.clone(), api, operator) {
                Ok(stack) => stack,
                // A development environment mounting its checkout's sources cannot run on a
                // cluster, and a Gateway API route cannot keep sessions sticky: validation says
                // so.
                Err(report) => {
                    let errors: Vec<_> = report
                        .diagnostics
                        .iter()
                        .filter(|d| d.severity == vutler_spec::Severity::Error)
                        .collect();
                    // And a prometheus-operator needs `monitoring`, without basic authentication.
                    let expected = |d: &&vutler_spec::Diagnostic| {
                        (name.ends_with("/dev") && d.rule == vutler_spec::Rule::KubernetesBindMount)
                            || (api == IngressApi::Gateway && d.rule == vutler_spec::Rule::KubernetesGatewaySticky)
                            || (operator && d.rule == vutler_spec::Rule::KubernetesPrometheusOperator)
                    };
                    assert!(errors.iter().all(expected), "{name} on Kubernetes:\n{report}");
                    continue;
                }
            };
            let tree = render(&stack).unwrap_or_else(|e| panic!("{name}: {e}"));
            check_invariants(&name, &stack, &tree);
            checked += 1;
            through_gateway += usize::from(stack.kubernetes().is_some_and(|k| k.ingress.api == IngressApi::Gateway));
            operated += usize::from(stack.kubernetes().is_some_and(|k| k.prometheus_operator.is_some()));
        }
    }
    assert!(checked >= 35, "only {checked} stacks");
    assert!(through_gateway >= 10, "only {through_gateway} stacks through a Gateway");
    assert!(
        operated >= 10,
        "only {operated} stacks scraped by a prometheus-operator"
    );
}

/// A changed config is a new ConfigMap, and the workload mounts the new one: the pods roll.
#[test]
fn a_changed_config_rolls_the_pods_that_mount_it() {
    let specs = dir("../specs");
    let (stack, before) = kubernetes_env();
    let loaded = vutler_spec::load(&specs, "kubernetes").unwrap_or_else(|r| panic!("{r}"));
    let after = with_overlay(&loaded, "faster.yaml", "monitoring:\n  scrape_interval: 30s\n".into())
        .unwrap_or_else(|r| panic!("{r}"));
    let after = render(&after).unwrap_or_else(|e| panic!("{e}"));
    let maps = |tree: &Rendered, file: &str| -> Vec<String> {
        objects(tree)
            .into_iter()
            .filter(|(f, v)| f == file && v["kind"] == "ConfigMap")
            .map(|(_, v)| v["metadata"]["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (old, new) = (
        maps(&before, "k8s/prometheus.yaml"),
        maps(&after, "k8s/prometheus.yaml"),
    );
    assert_eq!(old.len(), 2, "prometheus.yml and alerts.yml");
    // A ConfigMap holds its config file byte for byte.
    let monitoring = stack.monitoring().unwrap_or_else(|| panic!("no monitoring"));
    let config = vutler_render::prometheus::config(&stack, monitoring).unwrap_or_else(|e| panic!("{e}"));
    let held = objects(&before)
        .into_iter()
        .find(|(_, v)| v["kind"] == "ConfigMap" && v["data"]["prometheus.yml"].is_string())
        .map(|(_, v)| v["data"]["prometheus.yml"].as_str().unwrap_or_default().to_owned());
    assert_eq!(held.as_deref(), Some(config.as_str()));
    assert_ne!(old[0], new[0], "the changed prometheus.yml keeps its ConfigMap's name");
    assert_eq!(old[1], new[1], "the unchanged rules got a new ConfigMap");
    let workload = after.get("k8s/prometheus.yaml").unwrap_or_default();
    assert!(workload.contains(&format!("name: {}\n", new[0])));
    // The selectors do not follow the config: the new pods replace the old ones.
    assert_eq!(
        before.get("k8s/vutler.yaml").map(|t| t.contains("matchLabels")),
        after.get("k8s/vutler.yaml").map(|t| t.contains("matchLabels"))
    );
}

/// Adding a service to the specs, as data, adds it to the Compose and the Kubernetes trees.
#[test]
fn a_service_added_to_the_spec_reaches_compose_and_kubernetes() {
    let specs = dir("../specs");
    let worker = "services:\n  worker:\n    image: vutler/worker:1.0.0\n    environment:\n      REDIS_URL: redis://redis:6379\n    depends_on: [redis]\n    resources: { cpus: 0.5, memory: 512MB, disk: 1GB }\n";
    for env in ["production", "kubernetes"] {
        let loaded = vutler_spec::load(&specs, env).unwrap_or_else(|r| panic!("{r}"));
        let stack = with_overlay(&loaded, "worker.yaml", worker.into()).unwrap_or_else(|r| panic!("{env}:\n{r}"));
        let tree = render(&stack).unwrap_or_else(|e| panic!("{e}"));
        if env == "kubernetes" {
            let manifest = tree
                .get("k8s/worker.yaml")
                .unwrap_or_else(|| panic!("no k8s/worker.yaml"));
            assert!(manifest.contains("kind: Deployment") && manifest.contains("image: \"vutler/worker:1.0.0\""));
            assert!(
                tree.get("k8s/kustomization.yaml")
                    .is_some_and(|k| k.contains("- worker.yaml"))
            );
            // Redis accepts the worker, which the model says connects to it.
            assert!(
                tree.get("k8s/redis.yaml")
                    .is_some_and(|r| r.contains("app.kubernetes.io/name: worker"))
            );
            check_invariants("kubernetes + worker", &stack, &tree);
        } else {
            assert!(
                tree.get("docker-compose.yml")
                    .is_some_and(|c| c.contains("  worker:\n"))
            );
        }
    }
}

/// `k8s/secrets.sh` against a cluster's namespaces and Secrets (tests/standins/kubectl.py, which
/// runs the real kubectl for `create --dry-run=client`): `check` refuses missing and empty
/// files, a final newline and a folder others can enter, and accepts the Compose deployment's
/// files; `apply` creates the namespace, then every Secret the manifests read, with the files'
/// values, and a second apply after a change replaces it; no value is ever printed.
#[test]
fn secrets_sh_creates_the_secrets_the_manifests_read() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    let Some(real) = installed(["/usr/bin/kubectl", "/usr/local/bin/kubectl"], "kubectl") else {
        return;
    };
    let (_, tree) = kubernetes_env();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = tmp.path();
    for (path, contents) in tree.iter() {
        let target = root.join(path);
        std::fs::create_dir_all(target.parent().unwrap_or(root)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&target, contents).unwrap_or_else(|e| panic!("{e}"));
        if tree.is_executable(path) {
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(dir("tests/standins/kubectl.py"), bin.join("kubectl")).unwrap_or_else(|e| panic!("{e}"));
    let state = root.join("cluster");
    std::fs::create_dir_all(&state).unwrap_or_else(|e| panic!("{e}"));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = |command: &str| {
        let out = Command::new("bash")
            .arg("k8s/secrets.sh")
            .arg(command)
            .current_dir(root)
            .env("PATH", &path)
            .env("KUBE_STATE", &state)
            .env("REAL_KUBECTL", real)
            .env("KUBECONFIG", "/dev/null")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };

    // What the manifests read: (Secret, key, optional).
    let mut read: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for (_, w) in objects(&tree) {
        let Some(template) = pod_template(&w) else { continue };
        let pod = &template["spec"];
        for c in all_containers(pod) {
            for e in c["env"].as_array().into_iter().flatten() {
                let r = &e["valueFrom"]["secretKeyRef"];
                if let (Some(n), Some(k)) = (r["name"].as_str(), r["key"].as_str()) {
                    read.insert(n.to_owned(), (k.to_owned(), r["optional"] == true));
                }
            }
        }
        for v in pod["volumes"].as_array().into_iter().flatten() {
            for src in v["projected"]["sources"].as_array().into_iter().flatten() {
                let s = &src["secret"];
                let key = s["items"][0]["key"].as_str().unwrap_or_default().to_owned();
                read.insert(
                    s["name"].as_str().unwrap_or_default().to_owned(),
                    (key, s["optional"] == true),
                );
            }
        }
    }
    assert!(read.len() >= 8, "{read:?}");

    let (code, text) = run("check");
    assert_eq!(code, Some(1), "{text}");
    for (name, (key, optional)) in &read {
        assert_eq!(
            text.contains(&format!("secrets/{key} is missing")),
            !optional,
            "{name}: {text}"
        );
    }
    let secrets = root.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap_or_else(|e| panic!("{e}"));
    let value = |name: &str, round: u32| format!("value-of-{name}-{round}-Xq9");
    let write = |round: u32| {
        for (name, (key, optional)) in &read {
            if *optional {
                continue;
            }
            let file = secrets.join(key);
            std::fs::write(&file, value(name, round)).unwrap_or_else(|e| panic!("{e}"));
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap_or_else(|e| panic!("{e}"));
        }
    };
    // The files as the Compose deployment's secrets.sh writes them: 0644 in a 0700 folder.
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap_or_else(|e| panic!("{e}"));
    write(1);
    let (_, (first_key, _)) = read
        .iter()
        .find(|(_, (_, o))| !o)
        .unwrap_or_else(|| panic!("no required secret"));
    let first = secrets.join(first_key);
    // A value written with echo keeps its newline, which would be part of the Secret.
    std::fs::write(&first, "with-newline\n").unwrap_or_else(|e| panic!("{e}"));
    let (code, text) = run("apply");
    assert_eq!(code, Some(1), "a value ending with a newline is applied: {text}");
    assert!(text.contains(&format!("{first_key} ends with a newline")), "{text}");
    assert!(
        !state.join("secrets.json").exists(),
        "apply went on after a failed check"
    );
    write(1);
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
    let (code, text) = run("check");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("can be entered by other users"), "{text}");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap_or_else(|e| panic!("{e}"));

    let stored = |name: &str, key: &str| -> Option<String> {
        let json: Value = serde_json::from_str(&read_state(&state)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            json["namespaces"],
            serde_json::json!(["vutler"]),
            "the namespace is created first"
        );
        let encoded = json["secrets"][format!("vutler/{name}")]["data"][key]
            .as_str()?
            .to_owned();
        let out = Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .map(|mut s| s.write_all(encoded.as_bytes()))
                    .transpose()?;
                child.wait_with_output()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    for round in [1, 2] {
        write(round);
        let (code, text) = run("apply");
        assert_eq!(code, Some(0), "{text}");
        for (name, (key, optional)) in &read {
            assert!(!text.contains(&value(name, round)), "a value is printed: {text}");
            if *optional {
                assert_eq!(stored(name, key), None, "{name}: an absent optional secret is created");
            } else {
                assert_eq!(
                    stored(name, key),
                    Some(value(name, round)),
                    "{name} after apply {round}"
                );
            }
        }
    }
    assert_eq!(run("check").0, Some(0));
}

fn read_state(state: &Path) -> String {
    read(&state.join("secrets.json"))
}

/// The init containers' wait, run by BusyBox alone (what the `busybox` image holds): it waits
/// while nothing listens, and ends once the dependency accepts a connection, whether the server
/// closes it or holds it open.
#[test]
fn the_wait_for_a_dependency_runs_in_busybox() {
    use std::process::{Command, Stdio};
    let Some(busybox) = installed(["/usr/bin/busybox", "/bin/busybox"], "busybox") else {
        return;
    };
    let (_, tree) = kubernetes_env();
    let (_, app) = objects(&tree)
        .into_iter()
        .find(|(f, v)| f == "k8s/vutler.yaml" && v["kind"] == "Deployment")
        .unwrap_or_else(|| panic!("no app Deployment"));
    let waits = app["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = waits.iter().filter_map(|w| w["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "wait-for-mongo",
            "wait-for-postgres",
            "wait-for-redis",
            "wait-for-minio"
        ]
    );
    let script = waits[1]["command"][2].as_str().unwrap_or_default().to_owned();
    assert!(
        !script.contains("$(") && !script.contains("$$"),
        "Kubernetes would expand {script}"
    );
    assert_eq!(script, vutler_render::kubernetes::wait_script("postgres", 5432));

    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for tool in ["sh", "nc", "timeout", "sleep", "echo", "["] {
        std::os::unix::fs::symlink(busybox, tmp.path().join(tool)).unwrap_or_else(|e| panic!("{e}"));
    }
    for hold in [false, true] {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
            probe.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"))
        };
        let script = vutler_render::kubernetes::wait_script("127.0.0.1", port);
        let start = std::time::Instant::now();
        let mut child = Command::new(tmp.path().join("sh"))
            .args(["-c", &script])
            .env_clear()
            .env("PATH", tmp.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(std::time::Duration::from_secs(3));
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "it ended while nothing listened"
        );
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("{e}"));
        let server = std::thread::spawn(move || {
            let accepted = listener.accept().ok();
            if hold {
                std::thread::sleep(std::time::Duration::from_secs(7));
            }
            drop(accepted);
        });
        let out = loop {
            if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
                break status;
            }
            assert!(
                start.elapsed().as_secs() < 20,
                "still waiting with the port open (hold: {hold})"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        assert!(out.success(), "hold: {hold}");
        let mut printed = String::new();
        use std::io::Read;
        child.stdout.take().map(|mut s| s.read_to_string(&mut printed));
        assert!(printed.contains(&format!("waiting for 127.0.0.1:{port}")), "{printed}");
        let _ = server.join();
    }
}
