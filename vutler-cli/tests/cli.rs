//! Black-box tests of the `vutler-render` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vutler-render"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap_or_else(|e| panic!("cannot run vutler-render: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A copy of `specs/` in a temporary folder, with one file's text edited.
fn broken_specs(file: &str, edit: impl FnOnce(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for sub in ["base", "env"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap_or_else(|e| panic!("{e}"));
        for entry in std::fs::read_dir(specs().join(sub))
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
        {
            let to = dir.path().join(sub).join(entry.file_name());
            std::fs::copy(entry.path(), to).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let path = dir.path().join(file);
    let original = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let edited = edit(original.clone());
    assert_ne!(original, edited, "the edit changed nothing");
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn spec_arg(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

#[test]
fn validate_accepts_every_environment() {
    let spec = specs().display().to_string();
    for env in ["dev", "staging", "production"] {
        let out = run(&["validate", "--env", env, "--spec", &spec]);
        assert_eq!(out.status.code(), Some(0), "{env}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with(&format!("{env}: valid (")),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn explain_shows_every_service_with_its_resources() {
    let out = run(&[
        "explain",
        "--env",
        "production",
        "--spec",
        &specs().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("# Effective spec of `production`: "));
    let doc: serde_json::Value = serde_yaml_from(&stdout);
    let services = doc["services"].as_object().map(|s| s.len()).unwrap_or_default();
    assert_eq!(services, 12);
    for (name, cpus, memory, disk) in [
        ("vutler", "2", "4GB", "10GB"),
        ("postgres", "1", "2GB", "50GB"),
        ("mongo", "1", "2GB", "20GB"),
        ("redis", "0.5", "512MB", "5GB"),
        ("minio", "1", "1GB", "100GB"),
        ("nginx", "0.5", "256MB", "1GB"),
        ("prometheus", "0.5", "512MB", "20GB"),
        ("grafana", "0.5", "256MB", "5GB"),
        ("alertmanager", "0.1", "128MB", "1GB"),
        ("postgres-exporter", "0.1", "64MB", "100MB"),
        ("redis-exporter", "0.1", "64MB", "100MB"),
        ("node-exporter", "0.1", "64MB", "100MB"),
    ] {
        let r = &doc["services"][name]["resources"];
        assert_eq!(r["cpus"].to_string(), cpus, "{name}");
        assert_eq!(r["memory"], memory, "{name}");
        assert_eq!(r["disk"], disk, "{name}");
    }
    assert_eq!(doc["target_vm"], "production");
    assert_eq!(doc["tls"]["protocols"], serde_json::json!(["TLSv1.3"]));
}

/// Parses the YAML that `explain` prints.
fn serde_yaml_from(text: &str) -> serde_json::Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let dir = broken_specs("base/20-services.yaml", |t| {
        t.replacen(
            "ports:\n      - { name: http, container: 3000 }",
            "ports:\n      - { name: http, container: 3000",
            1,
        )
    });
    let out = run(&["validate", "--env", "staging", "--spec", &spec_arg(&dir), "--no-color"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error[syntax]: YAML syntax error"), "{stderr}");
    assert!(stderr.contains("base/20-services.yaml:"), "{stderr}");
    assert!(stderr.contains("1 error found"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no colour in a pipe: {stderr}");
}

#[test]
fn an_unknown_key_is_located_and_the_closest_key_suggested() {
    let dir = broken_specs("env/production.yaml", |t| {
        t.replace("target_vm: production", "target_mv: production")
    });
    let out = run(&["validate", "--env", "production", "--spec", &spec_arg(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let location = format!("{}:7:1", dir.path().join("env/production.yaml").display());
    assert!(
        stderr.contains("error[unknown-key]: target_mv: unknown key `target_mv`"),
        "{stderr}"
    );
    assert!(stderr.contains(&location), "{stderr}");
    assert!(
        stderr.contains("7 │ target_mv: production"),
        "the offending line is shown: {stderr}"
    );
    assert!(stderr.contains("help: did you mean `target_vm`?"), "{stderr}");
}

#[test]
fn a_type_error_says_what_was_expected() {
    let dir = broken_specs("env/production.yaml", |t| t.replace("replicas: 3", "replicas: three"));
    let out = run(&["explain", "--env", "production", "--spec", &spec_arg(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).is_empty(), "nothing is printed for an invalid spec");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[type]: scaling.vutler.replicas: invalid type: string \"three\", expected u32"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:18:15", dir.path().join("env/production.yaml").display())),
        "{stderr}"
    );
}

#[test]
fn semantic_errors_are_all_reported() {
    let dir = broken_specs("base/20-services.yaml", |t| {
        t.replace(
            "depends_on: [mongo, postgres, redis, minio]",
            "depends_on: [mongo, postgress, redis, minio]",
        )
        .replace("image: redis:7.2-alpine", "image: redis:latest")
    });
    let out = run(&["validate", "--env", "dev", "--spec", &spec_arg(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[dangling-ref]: services.vutler.depends_on[1]: unknown service `postgress`"),
        "{stderr}"
    );
    assert!(stderr.contains("help: did you mean `postgres`?"), "{stderr}");
    assert!(
        stderr.contains("error[grammar]: services.redis.image: image `redis:latest` uses the `latest` tag"),
        "{stderr}"
    );
    assert!(stderr.contains("2 errors found"), "{stderr}");
}

#[test]
fn an_unknown_environment_is_a_usage_error() {
    let out = run(&["validate", "--env", "prod", "--spec", &specs().display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown environment `prod`"), "{stderr}");
    assert!(stderr.contains("dev, production, staging"), "{stderr}");
}

#[test]
fn help_has_examples() {
    for sub in ["validate", "explain"] {
        let out = run(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            text(&out.stdout).contains(&format!("vutler-render {sub} --env production")),
            "{sub}"
        );
    }
}

fn files_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{e}")).flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
                out.push((path.strip_prefix(dir).unwrap_or(&path).to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// The relative paths of the committed golden tree of an environment, sorted.
fn golden_names(env: &str) -> Vec<String> {
    files_of(&specs().join("../golden").join(env))
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect()
}

#[test]
fn render_writes_the_same_tree_every_time() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let spec = specs().display().to_string();
    let golden = files_of(&specs().join("../golden/staging"));
    let mut trees = Vec::new();
    for run_dir in ["one", "two"] {
        let out_dir = tmp.path().join(run_dir);
        let out = run(&[
            "--env",
            "staging",
            "--out",
            &out_dir.display().to_string(),
            "--spec",
            &spec,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let wrote = format!("staging: wrote {} files to", golden.len());
        assert!(text(&out.stderr).contains(&wrote), "{}", text(&out.stderr));
        trees.push(files_of(&out_dir));
    }
    let names: Vec<String> = trees[0].iter().map(|(p, _)| p.display().to_string()).collect();
    for expected in [
        ".env.example",
        "docker-compose.yml",
        "firewall/ufw.sh",
        "nginx/nginx.conf",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} not written: {names:?}");
    }
    assert_eq!(trees[0], trees[1], "two renders differ");
    // The tree is what golden/ holds for the environment.
    assert_eq!(trees[0], golden);
}

#[test]
fn render_without_out_prints_every_file_behind_a_banner() {
    let out = run(&["--env", "production", "--spec", &specs().display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let banners: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("# Source: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(banners, golden_names("production"));
    assert!(banners.iter().any(|b| b == "docker-compose.scale.yml"));
    assert!(stdout.starts_with("# Source: .env.example\n# Generated by vutler-render"));
}

#[test]
fn an_invalid_spec_writes_nothing() {
    let dir = broken_specs("env/staging.yaml", |t| t.replace("target_vm: mvp", "target_vm: huge"));
    let out_dir = dir.path().join("out");
    let out = run(&[
        "--env",
        "staging",
        "--spec",
        &spec_arg(&dir),
        "--out",
        &out_dir.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown VM `huge`"), "{}", text(&out.stderr));
    assert!(!out_dir.exists(), "nothing may be written for an invalid spec");
}

#[test]
fn render_needs_an_environment() {
    let out = run(&["--spec", &specs().display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("give `--env <ENV>`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_config_mount_of_a_file_nothing_renders_is_an_input_error() {
    let dir = broken_specs("base/30-monitoring.yaml", |t| {
        t.replace("{ config: grafana/provisioning,", "{ config: grafana/provisionin,")
    });
    let out_dir = dir.path().join("out");
    let out = run(&[
        "--env",
        "staging",
        "--spec",
        &spec_arg(&dir),
        "--out",
        &out_dir.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("service `grafana` mounts config `grafana/provisionin`, which no renderer produces"),
        "{}",
        text(&out.stderr)
    );
    assert!(!out_dir.exists());
}
