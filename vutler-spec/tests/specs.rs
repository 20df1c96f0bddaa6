//! The Vutler stack in `specs/`: every environment loads cleanly and carries the seed's figures.

use std::path::{Path, PathBuf};

use vutler_spec::stack::{Condition, Mount, SecretsBackend, TlsProtocol};
use vutler_spec::units::{ByteSize, Cpus};
use vutler_spec::{Loaded, load};

const ENVS: [&str; 4] = ["dev", "kubernetes", "staging", "production"];

fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs")
}

fn env(name: &str) -> Loaded {
    load(&specs(), name).unwrap_or_else(|report| panic!("{name}:\n{report}"))
}

#[test]
fn every_environment_is_valid_without_warnings() {
    assert_eq!(
        vutler_spec::environments(&specs()).ok(),
        Some(ENVS.iter().map(|e| e.to_string()).collect::<Vec<_>>()).map(|mut v| {
            v.sort();
            v
        })
    );
    for name in ENVS {
        let loaded = env(name);
        // Only warnings the environment allows, each with its reason.
        assert!(
            loaded.warnings.diagnostics.iter().all(|d| d.allowed.is_some()),
            "{name}:\n{}",
            loaded.warnings
        );
    }
}

#[test]
fn production_has_the_seed_services_with_the_seed_sizes() {
    let stack = env("production").stack;
    // Seed 2.2: (service, cpus, memory, disk).
    let seed = [
        ("vutler", "2", "4GB", "10GB"),
        ("postgres", "1", "2GB", "50GB"),
        ("mongo", "1", "2GB", "20GB"),
        ("redis", "0.5", "512MB", "5GB"),
        ("minio", "1", "1GB", "100GB"),
        ("nginx", "0.5", "256MB", "1GB"),
        ("prometheus", "0.5", "512MB", "20GB"),
        ("grafana", "0.5", "256MB", "5GB"),
    ];
    for (name, cpus, memory, disk) in seed {
        let service = stack.service_named(name).unwrap_or_else(|| panic!("no service {name}"));
        let r = service.resources.unwrap_or_else(|| panic!("{name} has no resources"));
        assert_eq!(r.cpus, Cpus::parse(cpus).unwrap_or_default(), "{name} cpus");
        assert_eq!(r.memory, ByteSize::parse(memory).unwrap_or_default(), "{name} memory");
        assert_eq!(r.disk, ByteSize::parse(disk).unwrap_or_default(), "{name} disk");
        assert!(
            service.container_name.is_none(),
            "{name}: container_name blocks replicas"
        );
        assert_ne!(service.image.tag().as_str(), "latest", "{name}");
    }
    // The exporters the seed's scrape config needs, and Alertmanager for its alerts.
    for name in ["postgres-exporter", "redis-exporter", "node-exporter", "alertmanager"] {
        assert!(stack.service_named(name).is_some(), "no service {name}");
    }
    // Every scrape target is a port of a service of the stack.
    assert!(!stack.scrape_jobs().is_empty());
    for job in stack.scrape_jobs() {
        let target = stack.endpoint(job.target);
        assert!(stack.service_named(target.host).is_some(), "{job:?}");
    }
}

#[test]
fn seed_totals_fit_the_vms() {
    let mvp = env("staging").stack;
    let total = mvp.totals();
    assert!(total.cpus <= mvp.vm().cpus && total.memory <= mvp.vm().memory && total.disk <= mvp.vm().disk);
    let production = env("production").stack;
    assert_eq!(production.vm().cpus, Cpus::from_millis(16_000));
    let scaled = production.scaled_totals();
    assert!(
        scaled.cpus > production.totals().cpus,
        "the scale-out plan adds replicas"
    );
    assert!(scaled.cpus <= production.vm().cpus && scaled.memory <= production.vm().memory);
}

#[test]
fn only_the_proxy_publishes_publicly_and_datastores_not_at_all() {
    for name in ENVS {
        let stack = env(name).stack;
        for s in stack.services() {
            let service = s.name.as_str();
            for port in &s.ports {
                if let Some(p) = port.published {
                    assert!(
                        !p.is_public() || s.id == stack.edge().proxy,
                        "{name}: {service} publishes {p:?}"
                    );
                    assert!(!["postgres", "mongo", "redis"].contains(&service), "{name}: {service}");
                }
            }
        }
    }
}

#[test]
fn environments_differ_as_the_seed_says() {
    let (dev, staging, production) = (env("dev").stack, env("staging").stack, env("production").stack);
    assert_eq!(production.tls().protocols, [TlsProtocol::Tls13]);
    assert_eq!(staging.tls().protocols, [TlsProtocol::Tls12, TlsProtocol::Tls13]);
    assert_eq!(production.secrets_backend(), SecretsBackend::Docker);
    assert_eq!(staging.secrets_backend(), SecretsBackend::Env);
    assert_ne!(staging.domain(), production.domain());
    let vutler = |stack: &vutler_spec::Stack| stack.service_named("vutler").map(|s| s.id);
    let plan = vutler(&production).and_then(|id| production.scale_of(id)).copied();
    assert_eq!(plan.map(|p| (p.replicas, p.sticky_sessions)), Some((3, true)));
    assert!(!dev.tls().stapling, "no OCSP stapling with a self-signed certificate");
    let app = dev.service_named("vutler").unwrap_or_else(|| panic!("no app"));
    assert!(
        app.mounts
            .iter()
            .any(|m| matches!(m, Mount::Bind { source, .. } if *source == "./src"))
    );
    assert!(
        app.port("debug")
            .and_then(|p| p.published)
            .is_some_and(|p| !p.is_public())
    );
    let receivers = &dev
        .alertmanager()
        .unwrap_or_else(|| panic!("no Alertmanager"))
        .receivers;
    assert!(!receivers.is_empty() && !receivers.iter().any(|r| r.name == "pagerduty"));
    // The app waits for healthy datastores (seed defect 6).
    let deps = &production
        .service_named("vutler")
        .unwrap_or_else(|| panic!("no app"))
        .depends_on;
    assert_eq!(deps.len(), 4);
    assert!(deps.iter().all(|d| d.condition == Condition::ServiceHealthy));
}

#[test]
fn services_start_after_what_they_depend_on_and_datastores_name_their_credentials() {
    let stack = env("production").stack;
    let order: Vec<&str> = stack
        .start_order()
        .iter()
        .map(|s| stack.service(*s).name.as_str())
        .collect();
    assert_eq!(order.len(), stack.services().len());
    for s in stack.services() {
        let at = |name: &str| order.iter().position(|n| *n == name);
        for d in &s.depends_on {
            assert!(
                at(stack.service(d.service).name.as_str()) < at(s.name.as_str()),
                "{order:?}"
            );
        }
    }
    assert_eq!(&order[..6], ["mongo", "postgres", "redis", "minio", "vutler", "nginx"]);
    // Seed defect: the app reached MongoDB without credentials.
    let credentials = |name: &str| -> Vec<String> {
        let s = stack.service_named(name).unwrap_or_else(|| panic!("{name}"));
        s.authentication
            .as_ref()
            .map(|a| {
                a.credentials
                    .iter()
                    .map(|v| stack.variable(*v).name.to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(credentials("mongo"), ["MONGO_PASSWORD"]);
    assert_eq!(credentials("postgres"), ["POSTGRES_PASSWORD"]);
    assert_eq!(credentials("minio"), ["MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"]);
    assert_eq!(credentials("grafana"), ["GRAFANA_PASSWORD"]);
    let app = stack.service_named("vutler").unwrap_or_else(|| panic!("vutler"));
    let mongo_url = app.env("MONGO_URL").unwrap_or_else(|| panic!("MONGO_URL"));
    let secrets: Vec<String> = mongo_url
        .value
        .secrets(&stack)
        .map(|v| stack.variable(v).name.to_string())
        .collect();
    assert_eq!(secrets, ["MONGO_PASSWORD"]);
}

/// A folder read once gives every environment what loading it alone gives, in any order, and
/// a syntax error of a base file (parsed once) is every environment's.
#[test]
fn a_folder_read_once_loads_each_environment_as_loading_it_alone() {
    let folder = vutler_spec::SpecFolder::read(&specs()).unwrap_or_else(|r| panic!("{r}"));
    for name in ["production", "dev", "staging", "production"] {
        let shared = folder.load(name).unwrap_or_else(|r| panic!("{name}:\n{r}"));
        let alone = env(name);
        assert_eq!(shared.effective().ok(), alone.effective().ok(), "{name}");
        assert_eq!(shared.stack, alone.stack, "{name}");
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("folder-with-a-syntax-error");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("base")).expect("base/");
    std::fs::create_dir_all(dir.join("env")).expect("env/");
    std::fs::write(dir.join("base/stack.yaml"), "project: [unclosed\n").expect("base file");
    for env in ["a", "b"] {
        std::fs::write(dir.join(format!("env/{env}.yaml")), "{}\n").expect("overlay");
    }
    let folder = vutler_spec::SpecFolder::read(&dir).unwrap_or_else(|r| panic!("{r}"));
    for env in ["a", "b"] {
        let report = folder.load(env).err().unwrap_or_else(|| panic!("{env} loaded"));
        assert_eq!(report.diagnostics.len(), 1, "{env}: {report}");
        assert!(
            report.diagnostics[0].message.starts_with("YAML syntax error"),
            "{env}: {report}"
        );
        assert_eq!(
            report
                .sources
                .describe(report.diagnostics[0].span.expect("a span"))
                .split(':')
                .nth(1),
            Some("2")
        );
    }
    assert!(folder.files("c").is_err());
}
