//! Hostile values in the spec fields that reach the NGINX config, a shell script or a comment
//! header are refused by validation, with a diagnostic naming the field; nothing is rendered
//! from them. Names that only reach YAML keys (port names) follow the same name grammar.

use std::path::Path;

use vutler_spec::{Rule, SpecFiles};

/// Characters that would end a directive, start a command or break out of quoting.
const HOSTILE: [&str; 8] = ["a;b", "a\nreturn 200;", "$(id)", "`id`", "a'b", "a\"b", "{a}", "a b"];

/// (spec path that must be named, overlay with `{v}` where the hostile value goes). In a named list
/// the overlay's item is appended to the inherited ones, so its index is written `[*]`.
const FIELDS: [(&str, &str); 21] = [
    ("domain", "domain: {v}"),
    ("project", "project: {v}"),
    ("tls.certificate.mount_dir", "tls: { certificate: { mount_dir: {v} } }"),
    ("tls.certificate.host_dir", "tls: { certificate: { host_dir: {v} } }"),
    ("tls.certificate.cert_file", "tls: { certificate: { cert_file: {v} } }"),
    ("tls.certificate.key_file", "tls: { certificate: { key_file: {v} } }"),
    ("tls.ciphers[0]", "tls: { ciphers: [{v}] }"),
    ("edge.acme_root", "edge: { acme_root: {v} }"),
    (
        "monitoring.scrape_jobs.app.path",
        "monitoring: { scrape_jobs: { app: { path: {v} } } }",
    ),
    (
        "firewall.allow[*].name",
        "firewall: { allow: [{ name: {v}, port: 22 }, { name: http, port: 80 }, { name: https, port: 443 }] }",
    ),
    (
        "firewall.deny[*].name",
        "firewall: { deny: [{ name: {v}, port: 5432 }] }",
    ),
    (
        "services.app.ports[*].name",
        "services: { app: { ports: [{ name: {v}, container: 3000 }] } }",
    ),
    // Values that reach the operations scripts and the crontab.
    (
        "backups.jobs.db.database",
        "backups: { jobs: { db: { database: {v} } } }",
    ),
    (
        "backups.jobs.db.user_env",
        "backups: { jobs: { db: { user_env: {v} } } }",
    ),
    ("backups.textfile_dir", "backups: { textfile_dir: {v} }"),
    (
        "backups.credentials.access_key_id",
        "backups: { credentials: { access_key_id: {v}, secret_access_key: DB_PASSWORD } }",
    ),
    ("operations.install_dir", "operations: { install_dir: {v} }"),
    ("operations.log_dir", "operations: { log_dir: {v} }"),
    ("operations.verify_path", "operations: { verify_path: {v} }"),
    // Reach scripts/secrets.sh (the command that changes a password in its server).
    (
        "services.db.authentication.password_env",
        "services: { db: { authentication: { rotation: postgresql, password_env: {v} } } }",
    ),
    (
        "services.db.authentication.user_env",
        "services: { db: { authentication: { rotation: postgresql, user_env: {v}, password_env: POSTGRES_PASSWORD } } }",
    ),
];

fn base() -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stack/base/stack.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    ("base/stack.yaml".into(), text)
}

/// Whether a diagnostic's path is the field (`[*]` matching any index).
fn names(field: &str, path: &str) -> bool {
    match field.split_once("[*]") {
        Some((prefix, suffix)) => path
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('['))
            .is_some_and(|rest| {
                rest.split_once(']')
                    .is_some_and(|(index, tail)| index.parse::<usize>().is_ok() && tail == suffix)
            }),
        None => path == field,
    }
}

#[test]
fn hostile_values_are_refused_with_the_field_named() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (field, overlay) in FIELDS {
        for value in HOSTILE {
            // A JSON string is a valid YAML flow scalar, escapes (newlines) included.
            let quoted = serde_json::to_string(value).unwrap_or_default();
            let text = overlay.replace("{v}", &quoted);
            let files = SpecFiles::new("production", vec![base()], Some(("env/production.yaml".into(), text)));
            match files.resolve() {
                Ok(_) => failures.push(format!("{field} = {value:?}: accepted")),
                Err(report) => {
                    let named = report.diagnostics.iter().any(|d| names(field, &d.path.to_string()));
                    if !named {
                        failures.push(format!("{field} = {value:?}: no diagnostic names the field:\n{report}"));
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, FIELDS.len() * HOSTILE.len());
}

#[test]
fn a_hostile_service_name_is_refused() {
    for value in HOSTILE {
        let quoted = serde_json::to_string(value).unwrap_or_default();
        let text = format!("services:\n  {quoted}: {{ image: \"example/x:1\" }}\n");
        let files = SpecFiles::new("production", vec![base()], Some(("env/production.yaml".into(), text)));
        let report = files.resolve().err().unwrap_or_else(|| panic!("{value:?} accepted"));
        let path = format!("services.{value}");
        assert!(
            report
                .diagnostics
                .iter()
                .any(|d| d.path.to_string() == path && d.rule == Rule::Grammar),
            "{value:?}:\n{report}"
        );
    }
}

#[test]
fn a_hostile_environment_name_is_refused() {
    // The environment name reaches every file's header and the ufw script.
    for value in HOSTILE.iter().chain(&["evil\ntouch pwned #"]) {
        let files = SpecFiles::new(*value, vec![base()], None);
        let report = files.resolve().err().unwrap_or_else(|| panic!("{value:?} accepted"));
        assert!(
            report
                .diagnostics
                .iter()
                .any(|d| d.rule == Rule::Grammar && d.message.starts_with("invalid environment name")),
            "{value:?}:\n{report}"
        );
    }
}
