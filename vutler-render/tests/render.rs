//! Renderer tests over fixture stacks (`tests/fixtures/stack`: one base, overlays that add and
//! remove services) and over the Vutler stack of `specs/`. Snapshots are in `tests/snapshots/`.

use std::path::{Path, PathBuf};

use vutler_render::compose::{COMPOSE_FILE, SCALE_FILE};

/// The config hash label of the test stacks (project `fixture`) and of the Vutler stack.
const FIXTURE_LABEL: &str = "fixture.config-hash";
const VUTLER_LABEL: &str = "vutler.config-hash";
use vutler_render::env_example::ENV_EXAMPLE;
use vutler_render::nginx::NGINX_CONF;
use vutler_render::ops;
use vutler_render::ufw::UFW_SCRIPT;
use vutler_render::{Rendered, render};
use vutler_spec::Stack;

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn stack(spec: &str, env: &str) -> Stack {
    vutler_spec::load(&dir(spec), env)
        .unwrap_or_else(|r| panic!("{env}:\n{r}"))
        .stack
}

fn fixture(env: &str) -> Rendered {
    render(&stack("tests/fixtures/stack", env)).unwrap_or_else(|e| panic!("{env}: {e}"))
}

fn file<'a>(tree: &'a Rendered, path: &str) -> &'a str {
    tree.get(path).unwrap_or_else(|| panic!("{path} was not rendered"))
}

#[test]
fn minimal_stack() {
    let tree = fixture("minimal");
    assert_eq!(
        tree.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        [
            ENV_EXAMPLE,
            vutler_render::alertmanager::CONFIG,
            "cron/fixture",
            COMPOSE_FILE,
            UFW_SCRIPT,
            "grafana/dashboards/overview.json",
            vutler_render::grafana::PROVIDERS,
            vutler_render::grafana::DATASOURCES,
            NGINX_CONF,
            vutler_render::prometheus::RULES,
            vutler_render::prometheus::CONFIG,
            ops::BACKUP_SCRIPT,
            ops::CERTIFICATES_SCRIPT,
            ops::HEALTHCHECK_SCRIPT,
            ops::RESTORE_SCRIPT,
            ops::ROLLBACK_SCRIPT,
            ops::SCALE_SCRIPT,
            vutler_render::secrets::SECRETS_SCRIPT,
            ops::UPDATE_SCRIPT,
        ]
    );
    insta::assert_snapshot!("minimal-prometheus", file(&tree, vutler_render::prometheus::CONFIG));
    insta::assert_snapshot!("minimal-alerts", file(&tree, vutler_render::prometheus::RULES));
    insta::assert_snapshot!("minimal-alertmanager", file(&tree, vutler_render::alertmanager::CONFIG));
    insta::assert_snapshot!(
        "minimal-grafana-datasources",
        file(&tree, vutler_render::grafana::DATASOURCES)
    );
    insta::assert_snapshot!(
        "minimal-grafana-dashboard",
        file(&tree, "grafana/dashboards/overview.json")
    );
    insta::assert_snapshot!("minimal-ufw", file(&tree, UFW_SCRIPT));
    insta::assert_snapshot!("minimal-compose", file(&tree, COMPOSE_FILE));
    insta::assert_snapshot!("minimal-nginx", file(&tree, NGINX_CONF));
    insta::assert_snapshot!("minimal-env-example", file(&tree, ENV_EXAMPLE));
    insta::assert_snapshot!("minimal-backup", file(&tree, ops::BACKUP_SCRIPT));
    insta::assert_snapshot!("minimal-restore", file(&tree, ops::RESTORE_SCRIPT));
    insta::assert_snapshot!("minimal-healthcheck", file(&tree, ops::HEALTHCHECK_SCRIPT));
    insta::assert_snapshot!("minimal-update", file(&tree, ops::UPDATE_SCRIPT));
    insta::assert_snapshot!("minimal-rollback", file(&tree, ops::ROLLBACK_SCRIPT));
    insta::assert_snapshot!("minimal-cron", file(&tree, "cron/fixture"));
    insta::assert_snapshot!("minimal-certificates", file(&tree, ops::CERTIFICATES_SCRIPT));
}

#[test]
fn a_data_volume_added_with_its_backup_job_gets_a_step_and_a_schedule() {
    let (before, after) = (fixture("minimal"), fixture("backup-added"));
    for path in [ops::BACKUP_SCRIPT, ops::RESTORE_SCRIPT, "cron/fixture"] {
        assert!(!file(&before, path).contains("docs"), "{path}");
    }
    let backup = file(&after, ops::BACKUP_SCRIPT);
    assert!(backup.contains("JOBS=(db docs)\n"), "{backup}");
    assert!(
        backup.contains("    docs)\n      # mongodump of every database (service docs)."),
        "{backup}"
    );
    // Docker secrets are not used here: the password is the container's variable, read into
    // mongodump's configuration file in the container (never an argument).
    assert!(
        backup.contains(r#"pw="$MONGO_INITDB_ROOT_PASSWORD"; umask 077;"#),
        "{backup}"
    );
    assert!(
        backup.contains(r#"mongodump --config="$cfg" --authenticationDatabase=admin --username="$MONGO_INITDB_ROOT_USERNAME" --archive --gzip"#),
        "{backup}"
    );
    assert!(!backup.contains("--password"), "{backup}");
    assert!(file(&after, ops::RESTORE_SCRIPT).contains("--archive --gzip --drop"));
    insta::assert_snapshot!("backup-added-backup", backup);
    insta::assert_snapshot!("backup-added-cron", file(&after, "cron/fixture"));
}

#[test]
fn a_service_added_in_the_spec_is_rendered() {
    let (before, after) = (fixture("minimal"), fixture("added"));
    assert!(!file(&before, COMPOSE_FILE).contains("worker"));
    insta::assert_snapshot!("added-compose", file(&after, COMPOSE_FILE));
    assert!(file(&after, ENV_EXAMPLE).contains("\nQUEUE_URL=redis://queue:6379\n"));
}

#[test]
fn a_service_removed_from_the_spec_is_gone() {
    let tree = fixture("removed");
    assert!(!file(&tree, COMPOSE_FILE).contains("db-exporter"));
    insta::assert_snapshot!("removed-compose", file(&tree, COMPOSE_FILE));
}

#[test]
fn docker_secrets_and_the_scale_overlay() {
    let tree = fixture("production");
    insta::assert_snapshot!("production-compose", file(&tree, COMPOSE_FILE));
    insta::assert_snapshot!("production-scale", file(&tree, SCALE_FILE));
    insta::assert_snapshot!("production-env-example", file(&tree, ENV_EXAMPLE));
    // A sticky scale-out plan puts ip_hash on the upstream.
    let nginx = file(&tree, NGINX_CONF);
    assert!(
        nginx.contains("    upstream app_backend {\n        ip_hash;\n        server app:3000;\n    }\n"),
        "{nginx}"
    );
    assert!(!file(&fixture("minimal"), NGINX_CONF).contains("ip_hash"));
}

#[test]
fn a_mounted_config_is_hashed_onto_its_service() {
    // The fixture stack, and the same stack with a larger request body: only nginx.conf differs.
    let base = dir("tests/fixtures/stack/base/stack.yaml");
    let base = vec![(
        "base/stack.yaml".to_owned(),
        std::fs::read_to_string(base).unwrap_or_default(),
    )];
    let compose = |overlay: &str| -> String {
        let files = vutler_spec::SpecFiles::new(
            "minimal",
            base.clone(),
            Some(("env/minimal.yaml".into(), overlay.into())),
        );
        let stack = files.resolve().unwrap_or_else(|r| panic!("{r}")).stack;
        let tree = render(&stack).unwrap_or_else(|e| panic!("{e}"));
        file(&tree, COMPOSE_FILE).to_owned()
    };
    let one = compose("{}\n");
    let two = compose("edge: { max_body_size: 20MB }\n");
    assert!(
        one.contains("      - \"./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\"\n"),
        "{one}"
    );
    let labels = |compose: &str| -> Vec<String> {
        compose
            .lines()
            .filter(|l| l.contains(FIXTURE_LABEL))
            .map(str::to_owned)
            .collect()
    };
    let (first, second) = (labels(&one), labels(&two));
    assert_eq!(first.len(), 4, "proxy, prometheus, alertmanager, grafana");
    assert!(
        first
            .iter()
            .all(|l| l.starts_with(&format!("      {FIXTURE_LABEL}: ")) && l.len() > 64)
    );
    // A changed config changes the hash of the service that mounts it, and only that one.
    let changed: Vec<usize> = (0..4).filter(|i| first[*i] != second[*i]).collect();
    assert_eq!(changed.len(), 1, "{first:?}\n{second:?}");
    let proxy = one.find("\n  proxy:\n").unwrap_or_default();
    let label_at = one.find(first[changed[0]].as_str()).unwrap_or_default();
    let next_service = one[proxy + 1..]
        .find("\n  prometheus:\n")
        .map_or(one.len(), |i| proxy + 1 + i);
    assert!(proxy < label_at && label_at < next_service, "the proxy's label changed");
}

#[test]
fn production_nginx_follows_the_seed() {
    let tree = render(&stack("../specs", "production")).unwrap_or_else(|e| panic!("{e}"));
    let nginx = file(&tree, NGINX_CONF);
    for line in [
        "ssl_protocols TLSv1.3;",
        "ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384;",
        "ssl_prefer_server_ciphers on;",
        "ssl_session_cache shared:SSL:10m;",
        // NGINX 1.27 (the proxy's image) switches HTTP/2 on with its own directive.
        "listen 443 ssl;",
        "http2 on;",
        "add_header Strict-Transport-Security \"max-age=31536000; includeSubDomains\" always;",
        "return 301 https://$host$request_uri;",
        "location ^~ /.well-known/acme-challenge/ {",
        "location = /metrics {",
        "location ^~ /metrics/ {",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_read_timeout 3600s;",
        "client_max_body_size 100m;",
        "ip_hash;",
        "server vutler:3000;",
    ] {
        assert!(nginx.lines().any(|l| l.trim() == line), "missing `{line}`");
    }
    // Let's Encrypt ended OCSP in 2025: nothing to staple.
    assert!(!nginx.contains("ssl_stapling"), "{nginx}");
    assert!(!nginx.contains("listen 443 ssl http2"), "{nginx}");
    // The certificate paths NGINX reads are mounted into the proxy, and the config itself too.
    let compose = file(&tree, COMPOSE_FILE);
    assert!(compose.contains("      - \"./nginx/ssl:/etc/nginx/ssl:ro\"\n"));
    assert!(compose.contains("      - \"./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\"\n"));
    assert!(nginx.contains("ssl_certificate /etc/nginx/ssl/fullchain.pem;"));
}

#[test]
fn the_firewall_opens_exactly_ssh_http_https() {
    for env in ["dev", "staging", "production"] {
        let tree = render(&stack("../specs", env)).unwrap_or_else(|e| panic!("{e}"));
        let ufw = file(&tree, UFW_SCRIPT);
        let allowed: Vec<&str> = ufw.lines().filter_map(|l| l.strip_prefix("ufw allow ")).collect();
        assert_eq!(
            allowed,
            ["22/tcp comment ssh", "80/tcp comment http", "443/tcp comment https"],
            "{env}"
        );
        assert!(ufw.contains("\nset -euo pipefail\n"));
        assert!(ufw.contains("\nufw default deny incoming\nufw default allow outgoing\n"));
        assert!(ufw.trim_end().ends_with("ufw --force enable\nufw status verbose"));
        // Every port the Compose file publishes is accounted for in the header.
        let compose = file(&tree, COMPOSE_FILE);
        let mut seen = 0;
        for published in compose
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- \"")?.strip_suffix("/tcp\""))
        {
            // address:host-port:container-port
            let mut parts = published.rsplitn(3, ':').skip(1);
            let (host_port, address) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            assert!(
                ufw.contains(&format!("#   {address}:{host_port}/tcp (")),
                "{env}: {published} not accounted for"
            );
            seen += 1;
        }
        assert!(seen >= 2, "{env}: the proxy's ports at least");
    }
}

#[test]
fn dev_and_staging_nginx() {
    let dev = render(&stack("../specs", "dev")).unwrap_or_else(|e| panic!("{e}"));
    let dev = file(&dev, NGINX_CONF);
    assert!(
        !dev.contains("ssl_stapling"),
        "no stapling with a self-signed certificate"
    );
    assert!(dev.contains("server_name vutler.localhost;"));
    let staging = render(&stack("../specs", "staging")).unwrap_or_else(|e| panic!("{e}"));
    let staging = file(&staging, NGINX_CONF);
    assert!(staging.contains("ssl_protocols TLSv1.2 TLSv1.3;"));
    assert!(!staging.contains("ip_hash"), "staging has no scale-out plan");
}

#[test]
fn rendering_a_stack_twice_gives_equal_trees() {
    // Across processes and runs, the CLI test `render_writes_the_same_tree_every_time` and the
    // golden drift test cover it.
    for env in ["dev", "staging", "production"] {
        let s = stack("../specs", env);
        assert_eq!(render(&s).ok(), render(&s).ok(), "{env}");
    }
}

#[test]
fn production_compose_carries_the_seed() {
    let tree = render(&stack("../specs", "production")).unwrap_or_else(|e| panic!("{e}"));
    let compose: serde_json::Value = serde_json_from_yaml(file(&tree, COMPOSE_FILE));
    let services = compose["services"]
        .as_object()
        .map(|s| s.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    for name in [
        "vutler",
        "mongo",
        "postgres",
        "redis",
        "minio",
        "nginx",
        "prometheus",
        "grafana",
        "alertmanager",
        "node-exporter",
        "postgres-exporter",
        "redis-exporter",
    ] {
        assert!(services.contains(&name.to_owned()), "{name} missing");
    }
    assert!(compose.get("version").is_none());
    // Seed 2.2 as limits.
    for (name, cpus, memory) in [
        ("vutler", "2", "4g"),
        ("postgres", "1", "2g"),
        ("mongo", "1", "2g"),
        ("redis", "0.5", "512m"),
        ("minio", "1", "1g"),
        ("nginx", "0.5", "256m"),
        ("prometheus", "0.5", "512m"),
        ("grafana", "0.5", "256m"),
    ] {
        let limits = &compose["services"][name]["deploy"]["resources"]["limits"];
        assert_eq!(
            (limits["cpus"].as_str(), limits["memory"].as_str()),
            (Some(cpus), Some(memory)),
            "{name}"
        );
    }
    // Only the proxy publishes beyond loopback.
    for (name, service) in compose["services"].as_object().into_iter().flatten() {
        for port in service["ports"].as_array().into_iter().flatten() {
            let port = port.as_str().unwrap_or_default();
            assert!(
                port.starts_with("127.0.0.1:") || name == "nginx",
                "{name} publishes {port}"
            );
        }
    }
    // Healthchecks that work in those images, and the seed's commands.
    let test = |name: &str| compose["services"][name]["healthcheck"]["test"].to_string();
    assert!(test("mongo").contains("mongosh"));
    assert!(test("postgres").contains("pg_isready"));
    assert!(test("redis").contains("redis-cli"));
    assert!(test("minio").contains("\"mc\",\"ready\",\"local\""));
    assert!(
        compose["services"]["postgres"]["command"]
            .to_string()
            .contains("max_connections=100")
    );
    assert!(
        compose["services"]["redis"]["command"]
            .to_string()
            .contains("allkeys-lru")
    );
    // Docker secrets in production: the image reads the file, nothing secret is in the file.
    assert_eq!(
        compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"],
        "/run/secrets/postgres_password"
    );
    assert_eq!(
        compose["secrets"]["postgres_password"]["file"],
        "./secrets/postgres_password"
    );
    // The app waits for healthy datastores.
    assert_eq!(
        compose["services"]["vutler"]["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
}

#[test]
fn dev_follows_the_seed_dev_environment() {
    let tree = render(&stack("../specs", "dev")).unwrap_or_else(|e| panic!("{e}"));
    let compose = serde_json_from_yaml(file(&tree, COMPOSE_FILE));
    let app = &compose["services"]["vutler"];
    assert_eq!(app["environment"]["NODE_ENV"], "development");
    assert!(app["volumes"].to_string().contains("./src:/app/src"));
    assert!(app["ports"].to_string().contains("127.0.0.1:9229:9229/tcp"));
    assert!(tree.get(SCALE_FILE).is_none());
    // dev reads secrets from .env; only Alertmanager, which cannot, gets a secret file.
    let secrets: Vec<&String> = compose["secrets"]
        .as_object()
        .map(|s| s.keys().collect())
        .unwrap_or_default();
    assert_eq!(secrets, ["slack_webhook_url"]);
    assert!(app.get("secrets").is_none());
}

fn serde_json_from_yaml(text: &str) -> serde_json::Value {
    let files = vutler_spec::SpecFiles::new("x", vec![("compose.yaml".into(), text.into())], None);
    files.effective().map(|n| n.to_json()).unwrap_or_else(|r| panic!("{r}"))
}

#[test]
fn every_dashboard_query_uses_a_provisioned_datasource() {
    for env in ["dev", "staging", "production"] {
        let tree = render(&stack("../specs", env)).unwrap_or_else(|e| panic!("{e}"));
        let provisioned = serde_json_from_yaml(file(&tree, vutler_render::grafana::DATASOURCES));
        let uids: Vec<&str> = provisioned["datasources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["uid"].as_str())
            .collect();
        assert_eq!(uids, ["vutler-prometheus"], "{env}");
        let dashboards: Vec<(&str, &str)> = tree.under(vutler_render::grafana::DASHBOARDS).collect();
        let titles: Vec<String> = dashboards
            .iter()
            .map(|(_, text)| {
                let d: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
                for panel in d["panels"].as_array().into_iter().flatten() {
                    for target in panel["targets"].as_array().into_iter().flatten() {
                        let uid = target["datasource"]["uid"].as_str().unwrap_or_default();
                        assert!(uids.contains(&uid), "{env}: {} uses datasource {uid}", panel["title"]);
                        assert!(target["expr"].as_str().is_some_and(|e| !e.is_empty()));
                    }
                }
                d["title"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        // Seed 5.2's three dashboards.
        assert_eq!(
            titles,
            ["Agent Experience", "Infrastructure Health", "Vutler Overview"],
            "{env}"
        );
    }
}

#[test]
fn grafana_provisioning_is_mounted_and_hashed() {
    let tree = render(&stack("../specs", "production")).unwrap_or_else(|e| panic!("{e}"));
    let compose = serde_json_from_yaml(file(&tree, COMPOSE_FILE));
    let grafana = &compose["services"]["grafana"];
    let volumes = grafana["volumes"].to_string();
    assert!(
        volumes.contains("./grafana/provisioning:/etc/grafana/provisioning:ro"),
        "{volumes}"
    );
    assert!(
        volumes.contains("./grafana/dashboards:/etc/grafana/dashboards:ro"),
        "{volumes}"
    );
    assert!(grafana["labels"][VUTLER_LABEL].as_str().is_some_and(|h| h.len() == 64));
    let providers = file(&tree, vutler_render::grafana::PROVIDERS);
    assert!(
        providers.contains("      path: /etc/grafana/dashboards\n"),
        "{providers}"
    );
    // The admin password is a Docker secret in production.
    assert_eq!(
        grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"],
        "/run/secrets/grafana_password"
    );
}

#[test]
fn prometheus_reads_only_mounted_files_and_keeps_30_days() {
    for env in ["dev", "staging", "production"] {
        let tree = render(&stack("../specs", env)).unwrap_or_else(|e| panic!("{e}"));
        let compose = serde_json_from_yaml(file(&tree, COMPOSE_FILE));
        let prometheus = &compose["services"]["prometheus"];
        let command: Vec<&str> = prometheus["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .collect();
        assert!(
            command.contains(&"--storage.tsdb.retention.time=30d"),
            "{env}: {command:?}"
        );
        let config = command
            .iter()
            .find_map(|a| a.strip_prefix("--config.file="))
            .unwrap_or_default();
        let volumes = prometheus["volumes"].to_string();
        // The configuration and, next to it, the rules it loads (`rule_files: [alerts.yml]`).
        assert!(
            volumes.contains(&format!("./prometheus/prometheus.yml:{config}:ro")),
            "{env}: {volumes}"
        );
        let rules_target = format!("{}/alerts.yml", config.rsplit_once('/').map_or("", |(dir, _)| dir));
        assert!(
            volumes.contains(&format!("./prometheus/alerts.yml:{rules_target}:ro")),
            "{env}: {volumes}"
        );
        assert!(file(&tree, vutler_render::prometheus::CONFIG).contains("rule_files:\n  - alerts.yml\n"));
        let alertmanager = compose["services"]["alertmanager"]["volumes"].to_string();
        assert!(alertmanager.contains("./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"));
    }
}

/// Validation accepts exactly what renders: every stack of the spec crate's fixtures that loads
/// (the base, the equivalent YAML/TOML, and the invalid fixtures that only warn) renders.
#[test]
fn every_stack_validation_accepts_renders() {
    let fixtures = dir("../vutler-spec/tests/fixtures");
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let base = ("base/stack.yaml".to_owned(), read(&fixtures.join("base/stack.yaml")));
    let mut stacks = vec![(
        "base".to_owned(),
        vutler_spec::SpecFiles::new("test", vec![base.clone()], None),
    )];
    for name in ["stack.yaml", "stack.toml"] {
        let file = (name.to_owned(), read(&fixtures.join("equivalent").join(name)));
        stacks.push((name.to_owned(), vutler_spec::SpecFiles::new("test", vec![file], None)));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(fixtures.join("invalid"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    for path in entries {
        let overlay = (path.display().to_string(), read(&path));
        stacks.push((
            path.display().to_string(),
            vutler_spec::SpecFiles::new("test", vec![base.clone()], Some(overlay)),
        ));
    }
    let mut rendered = 0;
    for (name, files) in &stacks {
        if let Ok(loaded) = files.resolve() {
            render(&loaded.stack).unwrap_or_else(|e| panic!("{name} validates but does not render: {e}"));
            rendered += 1;
        }
    }
    // The base, both equivalent files, and the fixtures that only warn.
    assert!(rendered >= 5, "only {rendered} stacks validated");
}

#[test]
fn another_project_gets_no_vutler_names_and_no_seed_references() {
    // The fixture stack's project is `fixture`: its metrics, rule group, labels and crontab are
    // named after it, and no rendered comment points at a document its operators never read.
    for env in ["minimal", "production", "backup-added"] {
        let tree = fixture(env);
        for (path, contents) in tree.iter() {
            assert!(!path.contains("vutler"), "{env}: {path}");
            for (n, line) in contents.lines().enumerate() {
                let without_tool = line.replace("vutler-render", "");
                assert!(
                    !without_tool.to_ascii_lowercase().contains("vutler"),
                    "{env}: {path}:{}: {line}",
                    n + 1
                );
                assert!(
                    !line.contains("(seed ") && !line.contains("seed 9."),
                    "{env}: {path}:{}: {line}",
                    n + 1
                );
            }
        }
        assert!(tree.get("cron/fixture").is_some(), "{env}");
    }
}

#[test]
fn mixed_case_variable_names_render_as_written() {
    let base = dir("tests/fixtures/stack/base/stack.yaml");
    let base = vec![(
        "base/stack.yaml".to_owned(),
        std::fs::read_to_string(base).unwrap_or_default(),
    )];
    let overlay = "variables:\n  Gitea__server__ROOT_URL: { group: Application, description: Public URL, default: https://git.example.com }\nservices:\n  app:\n    environment:\n      GITEA__database__DB_TYPE: postgres\n      GITEA__server__ROOT_URL: ${Gitea__server__ROOT_URL}\n";
    let files = vutler_spec::SpecFiles::new("minimal", base, Some(("env/minimal.yaml".into(), overlay.into())));
    let stack = files.resolve().unwrap_or_else(|r| panic!("{r}")).stack;
    let tree = render(&stack).unwrap_or_else(|e| panic!("{e}"));
    let compose = file(&tree, COMPOSE_FILE);
    assert!(
        compose.contains("      GITEA__database__DB_TYPE: postgres\n"),
        "{compose}"
    );
    assert!(
        compose.contains("GITEA__server__ROOT_URL: \"${Gitea__server__ROOT_URL:-https://git.example.com}\""),
        "{compose}"
    );
    assert!(file(&tree, ".env.example").contains("\nGitea__server__ROOT_URL=https://git.example.com\n"));
}

#[test]
fn a_development_environment_of_any_name_may_leave_services_unsized() {
    let base = dir("tests/fixtures/stack/base/stack.yaml");
    let base = vec![(
        "base/stack.yaml".to_owned(),
        std::fs::read_to_string(base).unwrap_or_default(),
    )];
    let overlay = "services:\n  app:\n    resources: { $remove: true }\n";
    let load = |env: &str, overlay: String| {
        vutler_spec::SpecFiles::new(env, base.clone(), Some((format!("env/{env}.yaml"), overlay))).resolve()
    };
    // `local` is a development environment by its name, `laptop` by its overlay.
    assert!(load("local", overlay.into()).is_ok());
    assert!(
        load("laptop", overlay.into()).is_err(),
        "an environment of another name is production"
    );
    let laptop = load("laptop", format!("kind: development\n{overlay}")).unwrap_or_else(|r| panic!("{r}"));
    let tree = render(&laptop.stack).unwrap_or_else(|e| panic!("{e}"));
    assert!(file(&tree, COMPOSE_FILE).contains("  app:\n"));
}

/// A Loki datasource beside Prometheus: provisioned with its type, and a logs panel queries it
/// with its LogQL as written while the other panels stay on Prometheus.
#[test]
fn grafana_provisions_a_loki_datasource_and_panels_that_query_it() {
    let loaded = vutler_spec::load(&dir("tests/fixtures/stack"), "minimal").unwrap_or_else(|r| panic!("{r}"));
    let effective = vutler_render::yaml::to_string(&loaded.effective().unwrap_or_else(|r| panic!("{r}")).to_json())
        .unwrap_or_else(|e| panic!("{e}"));
    let overlay = r#"
volumes:
  loki-data: { kind: cache }
services:
  loki:
    image: grafana/loki:3.2.1
    ports: [{ name: http, container: 3100 }]
    mounts: [{ volume: loki-data, target: /loki }]
    resources: { cpus: 0.25, memory: 256MB, disk: 5GB }
monitoring:
  grafana:
    datasources:
      logs: { kind: loki, uid: logs, service: loki, port: http }
    dashboards:
      overview:
        panels:
          - name: Errors
            kind: timeseries
            datasource: logs
            queries: [{ expr: 'sum(count_over_time({job="app"} |= "error" [5m]))' }]
"#;
    let files = vutler_spec::SpecFiles::new(
        "minimal",
        vec![("effective.yaml".into(), effective)],
        Some(("loki.yaml".into(), overlay.into())),
    );
    let stack = files.resolve().unwrap_or_else(|r| panic!("{r}")).stack;
    let tree = render(&stack).unwrap_or_else(|e| panic!("{e}"));
    let datasources: serde_json::Value =
        serde_yaml::from_str(file(&tree, vutler_render::grafana::DATASOURCES)).unwrap_or_else(|e| panic!("{e}"));
    let types: Vec<(&str, &str, &str)> = datasources["datasources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or_default();
            (s("name"), s("type"), s("url"))
        })
        .collect();
    assert_eq!(
        types,
        [
            ("prom", "prometheus", "http://prometheus:9090"),
            ("logs", "loki", "http://loki:3100")
        ]
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(file(&tree, "grafana/dashboards/overview.json")).unwrap_or_else(|e| panic!("{e}"));
    let panels: Vec<(&str, &str, &str)> = dashboard["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["title"].as_str().unwrap_or_default(),
                p["datasource"]["type"].as_str().unwrap_or_default(),
                p["targets"][0]["expr"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(panels.len() >= 2, "{panels:?}");
    let (last, others) = panels.split_last().unwrap_or_else(|| panic!("no panels"));
    assert_eq!(
        *last,
        ("Errors", "loki", r#"sum(count_over_time({job="app"} |= "error" [5m]))"#)
    );
    assert!(others.iter().all(|p| p.1 == "prometheus"), "{others:?}");
}
