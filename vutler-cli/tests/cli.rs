//! Black-box tests of the `vutler-render` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The manifest of generated files that `--out` keeps in the folder.
const MANIFEST: &str = ".vutler-render.manifest";

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
        stderr.contains("error[type]: scaling.vutler.replicas: invalid type: string \"three\", expected a whole number from 0 to 4294967295"),
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
        stderr.contains("error[image-tag]: services.redis.image: image `redis:latest` uses the `latest` tag"),
        "{stderr}"
    );
    assert!(stderr.contains("2 errors found"), "{stderr}");
}

#[test]
fn a_secret_written_into_the_spec_is_located_but_never_printed() {
    let dir = broken_specs("env/production.yaml", |t| {
        t + "variables:\n  POSTGRES_PASSWORD: { description: x, group: Databases, secret: true, default: s3cr3t-Value }\n"
    });
    let out = run(&["validate", "--env", "production", "--spec", &spec_arg(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[secret-literal]: variables.POSTGRES_PASSWORD.default: secret variable `POSTGRES_PASSWORD` has a literal value in the spec"),
        "{stderr}"
    );
    let file = dir.path().join("env/production.yaml");
    assert!(stderr.contains(&format!("at {}:", file.display())), "{stderr}");
    assert!(!stderr.contains("s3cr3t-Value"), "the secret is printed:\n{stderr}");
}

#[test]
fn an_unknown_environment_is_a_usage_error() {
    let out = run(&["validate", "--env", "prod", "--spec", &specs().display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[unknown-env]: unknown environment `prod`"),
        "{stderr}"
    );
    assert!(stderr.contains("dev, kubernetes, production, staging"), "{stderr}");
    assert!(stderr.contains("did you mean `production`?"), "{stderr}");
}

#[test]
fn help_has_examples() {
    for sub in ["validate", "explain", "check", "diff", "plan"] {
        let out = run(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        assert!(help.contains(&format!("vutler-render {sub} --env ")), "{sub}: {help}");
        assert!(help.contains("Exit status:"), "{sub}: {help}");
    }
    for sub in ["schema", "completions", "man"] {
        let out = run(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        assert!(
            help.contains(&format!("Examples:\n  vutler-render {sub}")),
            "{sub}: {help}"
        );
        assert!(help.contains("Exit status:"), "{sub}: {help}");
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
        assert!(
            text(&out.stderr).contains("wrote docker-compose.yml\n"),
            "{}",
            text(&out.stderr)
        );
        let (manifest, tree): (Vec<_>, Vec<_>) = files_of(&out_dir)
            .into_iter()
            .partition(|(p, _)| p == Path::new(MANIFEST));
        let listed: Vec<String> = text(&manifest[0].1).lines().skip(1).map(str::to_owned).collect();
        assert_eq!(listed, golden_names("staging"), "the manifest lists every file written");
        trees.push(tree);
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

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn scripts_are_written_executable_and_keep_an_operators_mode() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out_dir = tmp.path().join("deploy");
    let args = [
        "--env",
        "production",
        "--out",
        &out_dir.display().to_string(),
        "--spec",
        &specs().display().to_string(),
    ];
    assert_eq!(run(&args).status.code(), Some(0));
    for script in ["scripts/backup.sh", "scripts/restore.sh", "firewall/ufw.sh"] {
        assert_eq!(mode(&out_dir.join(script)), 0o755, "{script}");
    }
    assert_eq!(mode(&out_dir.join("docker-compose.yml")), 0o644);
    assert_eq!(mode(&out_dir.join("cron/vutler")), 0o644);
    // Into an existing folder: an operator's tighter mode is kept, scripts stay executable.
    let backup = out_dir.join("scripts/backup.sh");
    std::fs::set_permissions(&backup, std::fs::Permissions::from_mode(0o600)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run(&args).status.code(), Some(0));
    assert_eq!(mode(&backup), 0o700);
    assert_eq!(mode(&out_dir.join("scripts/update.sh")), 0o755);
}

/// The modification time of every file of a folder, by path.
fn mtimes(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    files_of(dir)
        .into_iter()
        .map(|(p, _)| {
            let at = std::fs::metadata(dir.join(&p))
                .and_then(|m| m.modified())
                .unwrap_or_else(|e| panic!("{e}"));
            (p, at)
        })
        .collect()
}

/// A render into a folder that already holds the rendered tree writes nothing (no file's mtime
/// moves, the manifest's neither) and says so; after one file changed, only that one is
/// written, and a script that lost its executable bit gets it back without being rewritten.
#[test]
fn a_second_render_leaves_unchanged_files_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out_dir = tmp.path().join("deploy");
    let spec = specs().display().to_string();
    assert_eq!(render_to("production", &out_dir, &spec).status.code(), Some(0));
    let before = mtimes(&out_dir);
    let count = before.len() - 1; // the manifest
    // Past the file system's timestamp granularity, so that a rewrite would show.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let out = render_to("production", &out_dir, &spec);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "production: {} is up to date ({count} files unchanged)",
            out_dir.display()
        )
    );
    assert_eq!(mtimes(&out_dir), before, "a file was rewritten");

    edit_file(&out_dir.join("nginx/nginx.conf"), |t| t + "# an edit\n");
    let backup = out_dir.join("scripts/backup.sh");
    std::fs::set_permissions(&backup, std::fs::Permissions::from_mode(0o644)).unwrap_or_else(|e| panic!("{e}"));
    let edited = mtimes(&out_dir);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let out = render_to("production", &out_dir, &spec);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("wrote nginx/nginx.conf\n"), "{stderr}");
    assert!(stderr.contains("made scripts/backup.sh executable again\n"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "production: wrote 1 file to {} ({} unchanged)",
            out_dir.display(),
            count - 1
        )),
        "{stderr}"
    );
    assert_eq!(mode(&backup), 0o755);
    let after = mtimes(&out_dir);
    let moved: Vec<&PathBuf> = after
        .iter()
        .zip(&edited)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| &a.0)
        .collect();
    assert_eq!(
        moved,
        [Path::new(MANIFEST), Path::new("nginx/nginx.conf")],
        "only the edited file (and the manifest)"
    );
}

/// `--out` naming a file is a usage error (exit 2, not 1, which means drift elsewhere), and the
/// file is left as it was.
#[test]
fn out_naming_a_file_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = tmp.path().join("deploy");
    std::fs::write(&file, "notes").unwrap_or_else(|e| panic!("{e}"));
    let out = render_to("production", &file, &specs().display().to_string());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("exists and is not a folder"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap_or_default(), "notes");
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
fn a_config_mount_of_a_file_nothing_renders_is_refused_by_validate_and_render_alike() {
    let dir = broken_specs("base/30-monitoring.yaml", |t| {
        t.replace("{ config: grafana/provisioning,", "{ config: grafana/provisionin,")
    });
    let file = dir.path().join("base/30-monitoring.yaml");
    let line = std::fs::read_to_string(&file)
        .unwrap_or_default()
        .lines()
        .position(|l| l.contains("grafana/provisionin,"))
        .map_or(0, |i| i + 1);
    let expected = [
        "error[config-mount-unknown]: services.grafana.mounts[0].config: `grafana/provisionin` is not a file or folder that vutler-render renders".to_owned(),
        format!("{}:{line}:19", file.display()),
        "help: did you mean `grafana/provisioning`?".to_owned(),
        "1 error found".to_owned(),
    ];
    let validate = run(&["validate", "--env", "staging", "--spec", &spec_arg(&dir)]);
    let out_dir = dir.path().join("out");
    let render = run(&[
        "--env",
        "staging",
        "--spec",
        &spec_arg(&dir),
        "--out",
        &out_dir.display().to_string(),
    ]);
    for out in [&validate, &render] {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        for part in &expected {
            assert!(stderr.contains(part.as_str()), "missing {part:?} in:\n{stderr}");
        }
    }
    assert!(!out_dir.exists());
}

/// Copies a folder recursively.
/// Copies a tree, modes included (a script keeps its executable bit).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for (path, _) in files_of(from) {
        let target = to.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::copy(from.join(&path), target).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A copy of `golden/<env>` in a temporary folder (as `<tmp>/tree`), with the temporary folder.
fn golden_copy(env: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tree = tmp.path().join("tree");
    copy_tree(&specs().join("../golden").join(env), &tree);
    (tmp, tree)
}

fn edit_file(path: &Path, edit: impl FnOnce(String) -> String) {
    let original = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let edited = edit(original.clone());
    assert_ne!(original, edited, "the edit changed nothing");
    std::fs::write(path, edited).unwrap_or_else(|e| panic!("{e}"));
}

fn check(env: &str, against: &Path, extra: &[&str]) -> Output {
    let spec = specs().display().to_string();
    let against = against.display().to_string();
    let mut args = vec!["check", "--env", env, "--against", &against, "--spec", &spec];
    args.extend_from_slice(extra);
    run(&args)
}

fn render_to(env: &str, dir: &Path, spec: &str) -> Output {
    run(&["--env", env, "--out", &dir.display().to_string(), "--spec", spec])
}

/// A staging folder a killed render left is removed by the next render, also by one that finds
/// the folder up to date and writes nothing (a kill after the last rename left one so).
#[test]
fn a_render_with_nothing_to_write_still_removes_a_killed_renders_staging_folder() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("deploy");
    let spec = specs().display().to_string();
    let out = render_to("production", &dir, &spec);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Named as a render of a process that no longer runs names it (pids are below 2^22).
    let left = tmp.path().join(".deploy.vutler-tmp-4000000000-AbCdEf");
    std::fs::create_dir_all(left.join("nginx")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(left.join("nginx/nginx.conf"), "half").unwrap_or_else(|e| panic!("{e}"));
    let out = render_to("production", &dir, &spec);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is up to date"), "{stderr}");
    assert!(stderr.contains("(left by an interrupted render)"), "{stderr}");
    assert!(!left.exists(), "the staging folder is still there");
}

#[test]
fn check_is_in_sync_with_every_golden_tree() {
    for env in ["dev", "staging", "production"] {
        let (_tmp, tree) = golden_copy(env);
        let out = check(env, &tree, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{env}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(text(&out.stdout).contains("is in sync"), "{env}: {}", text(&out.stdout));
    }
}

#[test]
fn check_shows_an_edited_file_as_a_diff() {
    let (_tmp, tree) = golden_copy("staging");
    edit_file(&tree.join("docker-compose.yml"), |t| {
        t.replacen("restart: unless-stopped", "restart: always", 1)
    });
    let out = check("staging", &tree, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("+++ rendered/docker-compose.yml\n@@ "), "{stdout}");
    assert!(
        stdout.contains("\n-    restart: always\n+    restart: unless-stopped\n"),
        "{stdout}"
    );
    assert!(stdout.contains("1 changed, 0 missing, 0 unexpected"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no colour in a pipe: {stdout}");
}

#[test]
fn check_sees_a_lost_trailing_newline() {
    let (_tmp, tree) = golden_copy("dev");
    edit_file(&tree.join("prometheus/prometheus.yml"), |t| t.trim_end().to_owned());
    let out = check("dev", &tree, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("\\ No newline at end of file"),
        "{}",
        text(&out.stdout)
    );
}

/// A script that lost its executable bit is drift (cron could not run it), in text and JSON.
#[test]
fn check_sees_a_script_that_lost_its_executable_bit() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, tree) = golden_copy("production");
    let script = tree.join("scripts/backup.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap_or_else(|e| panic!("{e}"));
    let out = check("production", &tree, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("scripts/backup.sh: not executable, rendered executable"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 changed, 0 missing, 0 unexpected, 1 mode"),
        "{stdout}"
    );
    let out = check("production", &tree, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["in_sync"], false);
    assert_eq!(
        json["modes"],
        serde_json::json!([{ "path": "scripts/backup.sh", "executable": false, "rendered_executable": true }])
    );
    // A file made executable that is not a script is drift too.
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
    let compose = tree.join("docker-compose.yml");
    std::fs::set_permissions(&compose, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
    let out = check("production", &tree, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("docker-compose.yml: executable, rendered not executable"));
}

#[test]
fn check_lists_a_deleted_file_as_missing() {
    let (_tmp, tree) = golden_copy("production");
    std::fs::remove_file(tree.join("firewall/ufw.sh")).unwrap_or_else(|e| panic!("{e}"));
    let out = check("production", &tree, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("missing (rendered, absent from the folder):\n  firewall/ufw.sh\n"),
        "{stdout}"
    );
}

#[test]
fn check_of_an_invalid_spec_is_an_input_error() {
    let dir = broken_specs("env/staging.yaml", |t| t.replace("target_vm: mvp", "target_vm: huge"));
    let (_tmp, tree) = golden_copy("staging");
    let out = run(&[
        "check",
        "--env",
        "staging",
        "--against",
        &tree.display().to_string(),
        "--spec",
        &spec_arg(&dir),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown VM `huge`"), "{stderr}");
    assert!(stderr.contains("1 error found"), "{stderr}");
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
}

#[test]
fn check_prints_json_for_other_tools() {
    let (_tmp, tree) = golden_copy("staging");
    edit_file(&tree.join("nginx/nginx.conf"), |t| t.replacen("http {", "http  {", 1));
    std::fs::remove_file(tree.join(".env.example")).unwrap_or_else(|e| panic!("{e}"));
    let out = check("staging", &tree, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(json["env"], "staging");
    assert_eq!(json["in_sync"], false);
    assert_eq!(json["changed"][0]["path"], "nginx/nginx.conf");
    assert!(
        json["changed"][0]["diff"]
            .as_str()
            .is_some_and(|d| d.contains("-http  {\n+http {\n")),
        "{json}"
    );
    assert_eq!(json["missing"], serde_json::json!([".env.example"]));
    assert_eq!(json["unexpected"], serde_json::json!([]));

    let (_tmp, tree) = golden_copy("staging");
    let out = check("staging", &tree, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["in_sync"], true);
    assert_eq!(json["changed"], serde_json::json!([]));
}

#[test]
fn check_never_prints_a_secret_value() {
    let (_tmp, tree) = golden_copy("staging");
    edit_file(&tree.join(".env.example"), |t| {
        t.replace("SMTP_PASSWORD=\n", "SMTP_PASSWORD=s3cr3t-smtp\n") + "POSTGRES_PASSWORD=hunter2\n"
    });
    edit_file(&tree.join("docker-compose.yml"), |t| {
        t.replacen(
            "      NODE_ENV: production\n",
            "      NODE_ENV: production\n      SNIPARA_API_KEY: \"sk-live-42\"\n",
            1,
        )
    });
    for format in ["text", "json"] {
        let out = check("staging", &tree, &["--format", format]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let all = text(&out.stdout) + &text(&out.stderr);
        for secret in ["hunter2", "s3cr3t-smtp", "sk-live-42"] {
            assert!(!all.contains(secret), "{format}: `{secret}` printed: {all}");
        }
        assert!(all.contains("POSTGRES_PASSWORD=<redacted>"), "{format}: {all}");
        assert!(all.contains("SMTP_PASSWORD=<redacted>"), "{format}: {all}");
        assert!(
            all.contains("SNIPARA_API_KEY: \\\"<redacted>\\\"") || all.contains("SNIPARA_API_KEY: \"<redacted>\""),
            "{format}: {all}"
        );
    }
}

#[test]
fn render_prunes_what_it_no_longer_generates_and_keeps_foreign_files() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let spec = specs().display().to_string();
    let dir = tmp.path().join("deploy");
    let out = render_to("staging", &dir, &spec);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let check_fresh = check("staging", &dir, &[]);
    assert_eq!(check_fresh.status.code(), Some(0), "{}", text(&check_fresh.stdout));

    // Files of the operator's, and a file an earlier render generated and this one does not.
    let foreign = [
        ("notes.txt", "my notes\n"),
        ("secrets/x", "pw\n"),
        (".env", "POSTGRES_PASSWORD=pw\n"),
    ];
    for (path, contents) in foreign {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(path, contents).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::create_dir_all(dir.join("old/sub")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("old/sub/stale.yml"), "x\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(tmp.path().join("outside.txt"), "keep\n").unwrap_or_else(|e| panic!("{e}"));
    // A tampered manifest names the operator's files too: they are never removed.
    edit_file(&dir.join(MANIFEST), |t| {
        t + "old/sub/stale.yml\n../outside.txt\n/etc/hostname\n.env\nsecrets/x\n"
    });

    let drifted = check("staging", &dir, &[]);
    assert_eq!(drifted.status.code(), Some(1), "{}", text(&drifted.stdout));
    assert!(
        text(&drifted.stdout).contains("unexpected (generated before, no longer rendered):\n  old/sub/stale.yml\n"),
        "{}",
        text(&drifted.stdout)
    );

    let out = render_to("staging", &dir, &spec);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("removed old/sub/stale.yml\n"), "{stderr}");
    assert!(stderr.contains(" unchanged, removed 1 stale file)"), "{stderr}");
    assert!(
        stderr.contains("ignoring the entry: it is not a relative path") && !stderr.contains("../outside.txt"),
        "{stderr}"
    );
    assert!(!dir.join("old").exists(), "the emptied folders it created are removed");
    assert!(tmp.path().join("outside.txt").exists(), "never outside DIR");
    for (path, contents) in foreign {
        assert_eq!(
            std::fs::read_to_string(dir.join(path)).ok().as_deref(),
            Some(contents),
            "{path}"
        );
    }
    let manifest = std::fs::read_to_string(dir.join(MANIFEST)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !manifest.contains("stale") && !manifest.contains("outside"),
        "{manifest}"
    );
    let in_sync = check("staging", &dir, &[]);
    assert_eq!(in_sync.status.code(), Some(0), "{}", text(&in_sync.stdout));
    // Nothing is left behind next to DIR (the staging folder is gone).
    let siblings: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(siblings.len(), 2, "{siblings:?}");
}

#[test]
fn a_failing_render_leaves_an_existing_folder_untouched() {
    let dir = broken_specs("env/staging.yaml", |t| t.replace("target_vm: mvp", "target_vm: huge"));
    let out_dir = dir.path().join("out");
    let out = render_to("staging", &out_dir, &specs().display().to_string());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(out_dir.join("notes.txt"), "mine\n").unwrap_or_else(|e| panic!("{e}"));
    let before = files_of(&out_dir);
    let out = render_to("staging", &out_dir, &spec_arg(&dir));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(files_of(&out_dir), before);
}

#[test]
fn diff_of_two_environments() {
    let spec = specs().display().to_string();
    let out = run(&["diff", "--env", "staging", "--env", "production", "--spec", &spec]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("--- staging/docker-compose.yml\n+++ production/docker-compose.yml\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("only in production:\n  docker-compose.scale.yml\n"),
        "{stdout}"
    );
    // Only real differences: a file that differs only in the environment it names is not one.
    let json = run(&[
        "diff",
        "--env",
        "staging",
        "--env",
        "production",
        "--spec",
        &spec,
        "--format",
        "json",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    for changed in value["changed"].as_array().into_iter().flatten() {
        let diff = changed["diff"].as_str().unwrap_or_default();
        let real = diff
            .lines()
            .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---"))
            .any(|l| !l.contains("environment"));
        assert!(
            real,
            "{} differs only in naming its environment:\n{diff}",
            changed["path"]
        );
    }
    for banner_only in ["prometheus/alerts.yml", "cron/vutler", "firewall/ufw.sh"] {
        assert!(
            !value["changed"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["path"] == banner_only),
            "{banner_only} listed"
        );
    }
    // Redaction hides values, never a comment or a path to a secret file.
    assert!(
        stdout.contains("MINIO_ROOT_PASSWORD_FILE: /run/secrets/minio_secret_key"),
        "{stdout}"
    );
    assert!(stdout.contains("    file: \"./secrets/postgres_password\""), "{stdout}");
    assert!(!stdout.contains("secrets =<redacted>"), "{stdout}");

    let out = run(&["diff", "--env", "staging", "--env", "staging", "--spec", &spec]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("identical"), "{}", text(&out.stdout));

    let out = run(&["diff", "--env", "staging", "--spec", &spec]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("exactly twice"), "{}", text(&out.stderr));
}

#[test]
fn plan_shows_every_service_the_totals_and_the_headroom() {
    let out = run(&["plan", "--env", "production", "--spec", &specs().display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for service in [
        "vutler",
        "postgres",
        "mongo",
        "redis",
        "minio",
        "nginx",
        "prometheus",
        "grafana",
        "alertmanager",
        "postgres-exporter",
        "redis-exporter",
        "node-exporter",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("{service} "))),
            "{service}: {stdout}"
        );
    }
    for expected in [
        "\ntotal  ",
        "\ntotal, scaled  ",
        "\nVM `production`  ",
        "\nheadroom  ",
        "\nused  ",
        "\nheadroom, scaled  ",
        "16    32GB    500GB\n",
        // The local backup copies count against the disk: 3 of each job (2 days here, and
        // the one being written; MinIO's 1 day and its staged files), PostgreSQL's base
        // backups as many again, 30GB in all.
        "\nlocal backups                   -       -     30GB\n",
        "local backups: the most copies /backup keeps at once (postgres 3 × 2GB and as many base backups, mongo 3 × 1GB, minio 3 × 5GB)",
        // Totals that are no whole unit read in the largest one, to a tenth: 212.3GB of
        // services and 30GB of backups.
        "  7.4  10.8GB  242.3GB\n",
        "production: fits VM `production`",
        "VM `production`  200-300",
    ] {
        assert!(stdout.contains(expected), "{expected:?}: {stdout}");
    }
    // The cost total: the VM (200-300) and every other line (50 + 10 + 0 + 0).
    assert!(
        stdout.lines().any(|l| l.starts_with("total") && l.ends_with("260-360")),
        "{stdout}"
    );
}

#[test]
fn plan_of_a_stack_that_does_not_fit() {
    let dir = broken_specs("base/20-services.yaml", |t| {
        t.replace(
            "resources: { cpus: 2, memory: 4GB, disk: 10GB }",
            "resources: { cpus: 64, memory: 4GB, disk: 10GB }",
        )
    });
    let out = run(&["plan", "--env", "production", "--spec", &spec_arg(&dir)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("production: does not fit VM `production`:"), "{stdout}");
    assert!(stdout.contains("cpus: 69.4 needed, the VM has 16"), "{stdout}");
    assert!(stdout.contains("\nheadroom "), "the full table is printed: {stdout}");
    assert!(stdout.contains("Monthly cost (USD)"), "{stdout}");
    assert!(!text(&out.stderr).contains("error"), "{}", text(&out.stderr));
    // validate still refuses that stack, at what makes it too large, not at `target_vm`.
    let out = run(&["validate", "--env", "production", "--spec", &spec_arg(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[capacity]: services.vutler.resources.cpus: the services need 69.4 cpus, more than VM `production` has (16); the largest share is `vutler`'s: 64 cpus"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "error[capacity]: scaling.vutler.replicas: the services need 197.4 cpus with the scale-out plans"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("VM `production` has 16 cpus"), "{stderr}");
}

/// On Kubernetes the plan is the pods' requests against the node pool, and its cost per node.
#[test]
fn plan_of_the_kubernetes_environment_sizes_the_node_pool() {
    let out = run(&["plan", "--env", "kubernetes", "--spec", &specs().display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    // The app: three pods (1 vCPU, 2GB each) up to ten; a node agent on each of the 3 nodes.
    assert_eq!(
        row("vutler "),
        Some(vec!["vutler", "3", "→", "10", "3", "6GB", "-"]),
        "{stdout}"
    );
    assert_eq!(
        row("node-exporter"),
        Some(vec!["node-exporter", "3", "0.3", "192MB", "-"]),
        "{stdout}"
    );
    assert_eq!(
        row("postgres "),
        Some(vec!["postgres", "1", "1", "2GB", "50GB"]),
        "{stdout}"
    );
    assert!(row("nginx").is_none(), "the proxy is not deployed: {stdout}");
    assert_eq!(
        row("total, most pods"),
        Some(vec!["total,", "most", "pods", "22", "15.1", "26.7GB"])
    );
    assert!(stdout.contains("kubernetes: fits 3 × VM `production`, autoscalers at their maximum included"));
    // Three nodes at 200-300 and the other costs (50 + 10).
    assert!(
        stdout.lines().any(|l| l.starts_with("total") && l.ends_with("660-960")),
        "{stdout}"
    );

    let dir = broken_specs("env/kubernetes.yaml", |t| {
        t.replace("nodes: { vm: production, count: 3 }", "nodes: { vm: mvp, count: 1 }")
    });
    let out = run(&["plan", "--env", "kubernetes", "--spec", &spec_arg(&dir)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("kubernetes: does not fit 1 × VM `mvp`"), "{stdout}");
    assert!(
        stdout.contains("used, most pods"),
        "the full table is printed: {stdout}"
    );
    let out = run(&["validate", "--env", "kubernetes", "--spec", &spec_arg(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("error[kubernetes-capacity]: platform.kubernetes.nodes.count: the pods request 14.9 vCPUs and 26.6GB memory with the autoscalers at their maximum, more than one node of VM `mvp` has (8 vCPUs, 16GB)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn plan_of_an_invalid_spec_is_an_input_error() {
    let dir = broken_specs("env/production.yaml", |t| t.replace("replicas: 3", "replicas: three"));
    let out = run(&["plan", "--env", "production", "--spec", &spec_arg(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn schema_prints_the_committed_schema() {
    let out = run(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read(specs().join("vutler-spec.schema.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.stdout == committed,
        "`vutler-render schema` differs from specs/vutler-spec.schema.json (run `cargo xtask schema`)"
    );
    let out = run(&["schema", "--stack"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read(specs().join("vutler-stack.schema.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.stdout == committed,
        "`vutler-render schema --stack` differs from specs/vutler-stack.schema.json (run `cargo xtask schema`)"
    );
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(
            script.contains("vutler-render") && script.contains("check"),
            "{shell}: {script}"
        );
    }
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));
    let out = run(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = text(&out.stdout);
    assert!(page.contains("\n.TH vutler-render 1"), "{page}");
    assert!(page.contains("check"), "{page}");
}

/// Every page a manual page refers to (`vutler-render-check(1)`) exists: `man --out` writes it
/// and `man check` prints it; and groff formats each page without a warning.
#[test]
fn every_manual_page_referred_to_exists() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = run(&["man", "--out", &dir.path().display().to_string(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "--quiet: {}", text(&out.stdout));
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{e}"))
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    pages.sort();
    assert!(pages.contains(&"vutler-render.1".to_owned()), "{pages:?}");
    // One page per command, and none for `help`.
    for command in [
        "validate",
        "explain",
        "check",
        "diff",
        "plan",
        "graph",
        "schema",
        "completions",
        "man",
    ] {
        assert!(
            pages.contains(&format!("vutler-render-{command}.1")),
            "{command}: {pages:?}"
        );
    }
    assert!(!pages.iter().any(|p| p.contains("help")), "{pages:?}");
    let mut referred = 0;
    for page in &pages {
        let roff = std::fs::read_to_string(dir.path().join(page)).unwrap_or_else(|e| panic!("{e}"));
        // References as roff writes them: `vutler\-render\-check(1)`.
        for (at, _) in roff.match_indices("(1)") {
            let name: String = roff[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '\\')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<String>()
                .replace("\\-", "-");
            if !name.starts_with("vutler-render") {
                continue;
            }
            referred += 1;
            assert!(
                pages.contains(&format!("{name}.1")),
                "{page} refers to {name}(1), which is not written"
            );
            let command = name.strip_prefix("vutler-render-").unwrap_or_default();
            let printed = run(&["man", command]);
            assert_eq!(
                printed.status.code(),
                Some(0),
                "man {command}: {}",
                text(&printed.stderr)
            );
            assert!(
                text(&printed.stdout).contains(&format!(".TH {name} 1")),
                "man {command}"
            );
        }
        match Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.path().join(page))
            .output()
        {
            Ok(formatted) => {
                assert!(formatted.status.success(), "{page}: {}", text(&formatted.stderr));
                assert!(
                    formatted.stderr.is_empty(),
                    "groff warns on {page}: {}",
                    text(&formatted.stderr)
                );
            }
            Err(e) => {
                assert!(
                    std::env::var_os("VUTLER_REQUIRE_VALIDATORS").is_none(),
                    "groff is not installed: {e}"
                );
                eprintln!("SKIPPED groff: it is not installed ({e})");
            }
        }
    }
    assert!(
        referred >= 9,
        "the first page lists every command: {referred} references"
    );
    let out = run(&["man", "chek"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`chek` is not a command of vutler-render"),
        "{}",
        text(&out.stderr)
    );
}

/// A copy of `specs/` with one more file, written as bytes.
fn specs_with(file: &str, bytes: &[u8]) -> tempfile::TempDir {
    let dir = broken_specs("base/10-stack.yaml", |t| format!("{t}\n"));
    std::fs::write(dir.path().join(file), bytes).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// Runs `validate` on hostile specs: it must refuse them (exit 2) in bounded time and output.
fn refused_within(dir: &tempfile::TempDir, seconds: u64, max_output: usize) -> String {
    let started = std::time::Instant::now();
    let out = run(&["validate", "--env", "dev", "--spec", &spec_arg(dir), "--no-color"]);
    let took = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        stderr.chars().take(2000).collect::<String>()
    );
    assert!(took.as_secs() < seconds, "took {took:?}");
    assert!(
        out.stdout.len() + out.stderr.len() <= max_output,
        "{} bytes of output",
        out.stderr.len()
    );
    stderr
}

#[test]
fn nesting_deeper_than_any_spec_needs_is_refused_without_a_crash() {
    // Block style overflowed the stack at about 4,000 levels (abort, exit 134).
    for levels in [4_000, 200_000] {
        let text = format!("x:\n  {}a\n", "- ".repeat(levels));
        let stderr = refused_within(&specs_with("base/40-deep.yaml", text.as_bytes()), 30, 4_000);
        assert!(
            stderr.contains("error[syntax]: values are nested more than 64 levels deep here"),
            "{stderr}"
        );
        assert!(stderr.contains("40-deep.yaml:2:"), "{stderr}");
    }
    let mut mapping = String::from("x:\n");
    for level in 0..100 {
        mapping.push_str(&format!("{}k{level}:\n", "  ".repeat(level + 1)));
    }
    let stderr = refused_within(&specs_with("base/40-deep.yaml", mapping.as_bytes()), 30, 4_000);
    assert!(stderr.contains("40-deep.yaml:65:"), "{stderr}");
    let flow = format!("x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    refused_within(&specs_with("base/40-deep.yaml", flow.as_bytes()), 30, 4_000);
}

#[test]
fn thousands_of_errors_print_the_first_ones_and_a_count() {
    // 2,000 services with a refused image each, on separate lines and then on one line.
    let service = |i: usize| {
        format!(
            r#"s{i} = {{ image = "BAD IMAGE {i}", description = "x", resources = {{ cpus = 1, memory = "1GB", disk = "1GB" }} }}"#
        )
    };
    let lines: Vec<String> = (0..2000).map(service).collect();
    let toml = format!("[services]\n{}\n", lines.join("\n"));
    let stderr = refused_within(&specs_with("base/50-flood.toml", toml.as_bytes()), 30, 64_000);
    assert_eq!(stderr.matches("error[").count(), 50, "{stderr}");
    assert!(
        stderr.contains("... and 1950 more diagnostics not shown: fix the ones above first"),
        "{stderr}"
    );
    assert!(stderr.ends_with("2000 errors found\n"), "{stderr}");
    // One line of 300 KB: each excerpt was the whole line (16 s and 20 MB of output).
    let one_line = format!("services = {{ {} }}\n", lines.join(", "));
    let stderr = refused_within(&specs_with("base/50-flood.toml", one_line.as_bytes()), 30, 64_000);
    assert!(stderr.contains("50-flood.toml:1:"), "{stderr}");
    assert!(stderr.contains("characters; near: `..."), "{stderr}");
}

#[test]
fn a_huge_value_is_not_echoed() {
    // A domain of 10 MB was echoed three times.
    let value = format!("{}.example.com", "x_".repeat(5_000_000));
    let dir = broken_specs("env/dev.yaml", |t| {
        t.lines()
            .map(|l| {
                if l.starts_with("domain:") {
                    format!("domain: {value}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let stderr = refused_within(&dir, 60, 8_000);
    assert!(
        stderr.contains("error[grammar]: domain: invalid value \"x_x_"),
        "{stderr}"
    );
    assert!(stderr.contains("... (10000012 characters)"), "{stderr}");
}

#[test]
fn a_file_that_is_not_utf8_is_refused_at_its_line_and_column() {
    let stderr = refused_within(
        &specs_with("base/50-bad.yaml", b"project: vutler\nx: \"ab\xff\xfe\"\n"),
        30,
        4_000,
    );
    assert!(
        stderr.contains("error[syntax]: the file is not UTF-8 text: byte 0xFF here is not valid UTF-8"),
        "{stderr}"
    );
    assert!(stderr.contains("50-bad.yaml:2:7"), "{stderr}");
}

#[test]
fn a_file_of_twenty_thousand_entries_is_located_in_linear_time() {
    // Every node's position was found by rescanning the file: 9 to 16 s to refuse this.
    let entries: Vec<String> = (0..20_000).map(|i| format!("k{i}: {i}")).collect();
    let many_lines = format!("x:\n  {}\n", entries.join("\n  "));
    refused_within(&specs_with("base/60-many.yaml", many_lines.as_bytes()), 20, 8_000);
    let one_line = format!("x: {{ {} }}\n", entries.join(", "));
    refused_within(&specs_with("base/60-many.yaml", one_line.as_bytes()), 20, 8_000);
}

#[test]
fn a_render_that_cannot_write_exits_with_the_io_code_not_the_drift_one() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(tmp.path().join("file"), "x").unwrap_or_else(|e| panic!("{e}"));
    let out = run(&[
        "--env",
        "staging",
        "--spec",
        &specs().display().to_string(),
        "--out",
        &tmp.path().join("file/deploy").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("file/deploy: Not a directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn staging_folders_left_by_a_killed_render_are_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let spec = specs().display().to_string();
    let dir = tmp.path().join("deploy");
    let stale = tmp.path().join(".deploy.vutler-tmp-AbC123");
    let fresh = tmp.path().join(".deploy.vutler-tmp-XyZ789");
    let foreign = tmp.path().join(".deploy.notes");
    for folder in [&stale, &fresh, &foreign] {
        std::fs::create_dir_all(folder.join("nginx")).unwrap_or_else(|e| panic!("{e}"));
    }
    for folder in [&stale, &foreign] {
        let touched = Command::new("touch")
            .args(["-d", "2 hours ago"])
            .arg(folder)
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(touched.success());
    }
    let out = run(&["--env", "staging", "--spec", &spec, "--out", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("(left by an interrupted render)"),
        "{}",
        text(&out.stderr)
    );
    assert!(!stale.exists(), "the stale staging folder is still there");
    assert!(fresh.exists(), "a staging folder that may be in use was removed");
    assert!(foreign.exists(), "a folder that is not a staging folder was removed");
}

#[cfg(unix)]
#[test]
fn check_never_follows_a_symlink_out_of_the_folder() {
    let (tmp, tree) = golden_copy("production");
    let outside = tmp.path().join("elsewhere.env");
    std::fs::write(&outside, "POSTGRES_PASSWORD=Outs1deSecret\nOuts1deSecret\n").unwrap_or_else(|e| panic!("{e}"));
    // A generated file, and a generated folder, replaced by symlinks.
    std::fs::remove_file(tree.join("scripts/backup.sh")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&outside, tree.join("scripts/backup.sh")).unwrap_or_else(|e| panic!("{e}"));
    let elsewhere = tmp.path().join("grafana-elsewhere");
    std::fs::rename(tree.join("grafana"), &elsewhere).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(elsewhere.join("dashboards/vutler-overview.json"), "Outs1deSecret")
        .unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&elsewhere, tree.join("grafana")).unwrap_or_else(|e| panic!("{e}"));

    let out = check("production", &tree, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("Outs1deSecret"), "{stdout}");
    assert!(
        stdout.contains(
            "not files (symlinks, or behind one: never followed):\n  grafana/dashboards/agent-experience.json\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("\n  scripts/backup.sh\n"), "{stdout}");
    assert!(
        !stdout.contains("missing (rendered"),
        "a symlinked file is not missing: {stdout}"
    );
    assert!(stdout.contains(", 6 not a file"), "{stdout}");

    let json = check("production", &tree, &["--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["in_sync"], false);
    assert_eq!(doc["not_files"].as_array().map(Vec::len), Some(6), "{doc}");
    assert!(!text(&json.stdout).contains("Outs1deSecret"));
}

#[test]
fn a_password_on_a_command_line_is_refused_and_never_printed() {
    let dir = broken_specs("base/20-services.yaml", |t| {
        t.replacen(
            "      - -c\n",
            "      - --requirepass\n      - Hunter2OnTheCommandLine\n      - -c\n",
            1,
        )
    });
    let stderr = refused_within(&dir, 10, 64 * 1024);
    assert!(
        stderr.contains("error[secret-literal]") && stderr.contains("`--requirepass` passes a password as a literal"),
        "{stderr}"
    );
    assert!(!stderr.contains("Hunter2OnTheCommandLine"), "{stderr}");
}

#[test]
fn a_hand_written_file_at_a_newly_rendered_path_is_not_replaced_without_overwrite() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("deploy");
    let spec = specs().display().to_string();
    assert_eq!(render_to("production", &dir, &spec).status.code(), Some(0));
    // The operator's own scale.sh, at a path the manifest does not list (as if this render were
    // the first to produce it), and a generated file gone stale.
    let manifest = std::fs::read_to_string(dir.join(MANIFEST)).unwrap_or_else(|e| panic!("{e}"));
    let without: String = manifest
        .lines()
        .filter(|l| *l != "scripts/scale.sh")
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join(MANIFEST), without).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("scripts/scale.sh"), "#!/bin/sh\n# my own\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("nginx/nginx.conf"), "stale\n").unwrap_or_else(|e| panic!("{e}"));

    let refused = render_to("production", &dir, &spec);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("did not generate") && stderr.contains("scripts/scale.sh") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read("scripts/scale.sh"), "#!/bin/sh\n# my own\n");
    assert_eq!(read("nginx/nginx.conf"), "stale\n", "nothing was written");

    let forced = run(&[
        "--env",
        "production",
        "--out",
        &dir.display().to_string(),
        "--spec",
        &spec,
        "--overwrite",
    ]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    assert!(read("scripts/scale.sh").contains("scale.sh COUNT") || read("scripts/scale.sh").len() > 100);
    assert!(read(MANIFEST).lines().any(|l| l == "scripts/scale.sh"));

    // A file that already holds the rendered bytes is adopted without the flag.
    let manifest = read(MANIFEST);
    let without: String = manifest
        .lines()
        .filter(|l| *l != "scripts/scale.sh")
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join(MANIFEST), without).unwrap_or_else(|e| panic!("{e}"));
    let adopted = render_to("production", &dir, &spec);
    assert_eq!(adopted.status.code(), Some(0), "{}", text(&adopted.stderr));
    assert!(read(MANIFEST).lines().any(|l| l == "scripts/scale.sh"));
}

/// Renders killed with SIGKILL at random moments, between two versions of the spec: every file
/// is always whole (one version or the other), and the next render finishes the job, leaves no
/// staging folder and is in sync.
#[cfg(unix)]
#[test]
fn a_killed_render_leaves_whole_files_and_the_next_one_finishes_it() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Another domain: eight files of production differ (the others are left as they are).
    let other = broken_specs("env/production.yaml", |t| {
        t.replace("domain: vutler.example.com", "domain: chat.example.org")
    });
    let (spec_a, spec_b) = (spec_arg(&other), specs().display().to_string());
    let (tree_a, tree_b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert_eq!(render_to("production", &tree_a, &spec_a).status.code(), Some(0));
    assert_eq!(render_to("production", &tree_b, &spec_b).status.code(), Some(0));
    let as_map = |dir: &Path| -> std::collections::BTreeMap<String, Vec<u8>> {
        files_of(dir)
            .into_iter()
            .map(|(p, b)| (p.to_string_lossy().into_owned(), b))
            .collect()
    };
    let (files_a, files_b) = (as_map(&tree_a), as_map(&tree_b));
    let dir = tmp.path().join("deploy");
    let mut seed = 0x9e37_79b9_u64;
    let mut interrupted = 0;
    for round in 0..25 {
        let (from, to) = if round % 2 == 0 {
            (&spec_a, &spec_b)
        } else {
            (&spec_b, &spec_a)
        };
        assert_eq!(render_to("production", &dir, from).status.code(), Some(0));
        let mut child = Command::new(env!("CARGO_BIN_EXE_vutler-render"))
            .args(["--env", "production", "--out", &dir.display().to_string(), "--spec", to])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        if round % 3 == 0 {
            // At a random moment of the whole render (about 0.1 s in a debug build).
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(std::time::Duration::from_micros(seed % 150_000));
        } else {
            // As soon as the manifest says files are being moved in.
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(5)
                && !std::fs::read_to_string(dir.join(MANIFEST)).is_ok_and(|m| m.contains("in progress"))
            {
                std::hint::spin_loop();
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut was_interrupted = false;
        for (path, bytes) in as_map(&dir) {
            if path == MANIFEST {
                was_interrupted = String::from_utf8_lossy(&bytes).contains("in progress");
                continue;
            }
            assert!(
                files_a.get(&path) == Some(&bytes) || files_b.get(&path) == Some(&bytes),
                "round {round}: {path} is neither version: a half-written file"
            );
        }
        if was_interrupted {
            interrupted += 1;
            let said = check("production", &dir, &[]);
            assert!(text(&said.stderr).contains("was interrupted"), "{}", text(&said.stderr));
        }
        let finished = render_to("production", &dir, to);
        assert_eq!(finished.status.code(), Some(0), "{}", text(&finished.stderr));
        assert_eq!(
            text(&finished.stderr).contains("this one finishes it"),
            was_interrupted,
            "{}",
            text(&finished.stderr)
        );
        let out = check("production", &dir, &[]);
        if to == &spec_b {
            assert_eq!(out.status.code(), Some(0), "round {round}: {}", text(&out.stdout));
        }
        assert!(dir.join(MANIFEST).is_file());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("vutler-tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "round {round}: staging folders left: {leftovers:?}"
        );
    }
    eprintln!("{interrupted} of 25 renders were killed while moving files in");
    assert!(
        interrupted > 0,
        "no render was killed while moving files in: the test did not test it"
    );
}

/// A rename that fails part way (the target is a mount point: EBUSY) stops the render with the
/// exit code of an I/O failure, naming the files already replaced and those still old; the next
/// render finishes the job. Runs in a private mount namespace (root); elsewhere than CI, a
/// machine that cannot make one skips it with a message.
#[cfg(target_os = "linux")]
#[test]
fn a_rename_that_fails_part_way_names_the_new_and_the_old_files() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("deploy");
    let spec = specs().display().to_string();
    assert_eq!(render_to("production", &dir, &spec).status.code(), Some(0));
    // Another domain: docker-compose.yml, nginx.conf and six scripts differ.
    let other = broken_specs("env/production.yaml", |t| {
        t.replace("domain: vutler.example.com", "domain: chat.example.org")
    });
    let blocker = tmp.path().join("blocker");
    std::fs::write(&blocker, "bind-mounted over nginx.conf\n").unwrap_or_else(|e| panic!("{e}"));
    let script =
        r#"mount --bind "$1" "$2/nginx/nginx.conf" || exit 99; exec "$3" --env production --out "$2" --spec "$4""#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&blocker)
        .arg(&dir)
        .arg(env!("CARGO_BIN_EXE_vutler-render"))
        .arg(other.path())
        .output();
    let cannot = |out: &Output| out.status.code() == Some(99) || text(&out.stderr).starts_with("unshare:");
    let out = match out {
        Ok(out) if !cannot(&out) => out,
        other => {
            let why = format!("cannot bind-mount in a mount namespace here: {other:?}");
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("skipped: {why}");
            return;
        }
    };
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("already replaced: docker-compose.yml;"), "{stderr}");
    assert!(
        stderr.contains("still old (or absent): nginx/nginx.conf, scripts/certificates.sh, scripts/healthcheck.sh"),
        "{stderr}"
    );
    assert!(stderr.contains("the next render finishes the job"), "{stderr}");
    let manifest = std::fs::read_to_string(dir.join(MANIFEST)).unwrap_or_else(|e| panic!("{e}"));
    assert!(manifest.contains("in progress"), "{manifest}");

    let finished = render_to("production", &dir, &spec_arg(&other));
    assert_eq!(finished.status.code(), Some(0), "{}", text(&finished.stderr));
    assert!(text(&finished.stderr).contains("this one finishes it"));
    let checked = run(&[
        "check",
        "--env",
        "production",
        "--against",
        &dir.display().to_string(),
        "--spec",
        &spec_arg(&other),
    ]);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stdout));
}

#[test]
fn a_method_or_rotation_for_another_datastore_is_refused_unless_the_service_says_what_it_runs() {
    // An image of another name: its kind is unknown, so the mongodump job and the MongoDB
    // rotation are refused until the service says it runs MongoDB.
    let renamed = |t: String| t.replace("image: mongo:7.0-jammy", "image: bitnami/mongodb:7.0");
    let dir = broken_specs("base/20-services.yaml", renamed);
    let out = run(&[
        "validate",
        "--env",
        "production",
        "--spec",
        &spec_arg(&dir),
        "--no-color",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "error[datastore-kind]: backups.jobs.mongo.method: `mongodump` is for mongodb, but `mongo` is not"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "error[datastore-kind]: services.mongo.authentication.rotation: the `mongodb` rotation is for mongodb"
        ),
        "{stderr}"
    );
    let said = broken_specs("base/20-services.yaml", |t| {
        renamed(t).replace(
            "image: bitnami/mongodb:7.0",
            "image: bitnami/mongodb:7.0\n    datastore: mongodb",
        )
    });
    let out = run(&["validate", "--env", "production", "--spec", &spec_arg(&said)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn in_a_toml_spec_the_suggested_fix_is_toml() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vutler-spec/tests/fixtures/equivalent/stack.toml");
    let original = std::fs::read_to_string(stack).unwrap_or_else(|e| panic!("{e}"));
    let without_ssh = original.replace("[[firewall.allow]]\nname = \"ssh\"\nport = 22\n", "");
    assert_ne!(original, without_ssh);
    for (path, contents) in [("base/stack.toml", without_ssh.as_str()), ("env/staging.toml", "")] {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(full, contents).unwrap_or_else(|e| panic!("{e}"));
    }
    let out = run(&["validate", "--env", "staging", "--spec", &spec_arg(&dir), "--no-color"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("help: add `{ name = \"ssh\", port = 22 }` here, or set `firewall.no_ssh = true`"),
        "{stderr}"
    );
}

/// The SARIF 2.1.0 schema, vendored (see `xtask/schemas/SOURCES.txt`). Its `language` pattern
/// has a stray `]` (`^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`), which a strict regex engine
/// refuses to compile: it is read as meant (`xx` or `xx-XX`). No output of ours sets it.
fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(specs().join("../xtask/schemas/sarif-schema-2.1.0.json"))
        .unwrap_or_else(|e| panic!("{e}"))
        .replace(
            "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$",
            "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$",
        );
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"))
}

/// The `# Source:` banners of a successful render to stdout.
fn banners(out: &Output) -> Vec<String> {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("# Source: "))
        .map(str::to_owned)
        .collect()
}

/// `--show-only`: one file exactly as `--out` writes it (to pipe into its program), a folder of
/// the tree or several paths behind banners, and a path the tree lacks refused with the one
/// meant.
#[test]
fn show_only_prints_the_files_asked_for() {
    let spec = specs().display().to_string();
    let out = run(&[
        "--env",
        "production",
        "--spec",
        &spec,
        "--show-only",
        "nginx/nginx.conf",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let golden = std::fs::read(specs().join("../golden/production/nginx/nginx.conf")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout, golden, "the file as --out writes it, with no banner");

    let out = run(&[
        "--env",
        "production",
        "--spec",
        &spec,
        "--show-only",
        "prometheus/",
        "--show-only",
        "cron/vutler",
    ]);
    assert_eq!(
        banners(&out),
        [
            "# Source: prometheus/alerts.yml",
            "# Source: prometheus/prometheus.yml",
            "# Source: cron/vutler"
        ]
    );

    let out = run(&["--all-envs", "--spec", &spec, "--show-only", "cron/vutler"]);
    assert_eq!(
        banners(&out),
        [
            "# Source: dev/cron/vutler",
            "# Source: production/cron/vutler",
            "# Source: staging/cron/vutler"
        ]
    );

    // A path of some environments only: the others are left out; of none: a usage error.
    let out = run(&["--all-envs", "--spec", &spec, "--show-only", "k8s/kustomization.yaml"]);
    assert_eq!(banners(&out), ["# Source: kubernetes/k8s/kustomization.yaml"]);
    let out = run(&["--all-envs", "--spec", &spec, "--show-only", "k8s/nginx.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());

    let out = run(&["--env", "production", "--spec", &spec, "--show-only", "nginx.conf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains(
            "`nginx.conf` is neither a file nor a folder of the `production` tree; did you mean `nginx/nginx.conf`?"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "--env",
        "production",
        "--spec",
        &spec,
        "--show-only",
        "nginx.conf",
        "--out",
        "/tmp/never",
    ]);
    assert_eq!(out.status.code(), Some(2), "--show-only is for printing, not --out");
}

/// The exit status and the SARIF log a command prints, which must be valid SARIF 2.1.0.
fn sarif(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = run(args);
    let log: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    let errors: Vec<String> = sarif_validator()
        .iter_errors(&log)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not valid SARIF 2.1.0:\n{}", errors.join("\n"));
    (out.status.code(), log)
}

/// `check --all-envs --format sarif` on a drifted folder: one valid SARIF log, a run per
/// environment (each with its own category), each difference a result of its drift rule at the
/// file in the folder (the first changed line for an edit), exit 1; an invalid spec or a folder
/// that is not there makes the run say so, exit 2.
#[test]
fn check_prints_sarif_for_ci() {
    let deploy = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out_dir = deploy.path().display().to_string();
    let spec = specs().display().to_string();
    let out = run(&["--all-envs", "--out", &out_dir, "--spec", &spec, "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let nginx = deploy.path().join("production/nginx/nginx.conf");
    let edited = std::fs::read_to_string(&nginx)
        .unwrap_or_else(|e| panic!("{e}"))
        .replacen("worker_connections", "worker_connections ", 1);
    let edited_line = edited
        .lines()
        .position(|l| l.contains("worker_connections "))
        .unwrap_or_else(|| panic!("no worker_connections"))
        + 1;
    std::fs::write(&nginx, edited).unwrap_or_else(|e| panic!("{e}"));
    let script = deploy.path().join("staging/scripts/backup.sh");
    let status = Command::new("chmod").arg("-x").arg(&script).status();
    assert!(status.is_ok_and(|s| s.success()));
    std::fs::remove_file(deploy.path().join("dev/prometheus/prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));

    let (code, log) = sarif(&[
        "check",
        "--all-envs",
        "--against",
        &out_dir,
        "--spec",
        &spec,
        "--format",
        "sarif",
    ]);
    assert_eq!(code, Some(1));
    let runs = log["runs"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = runs
        .iter()
        .filter_map(|r| r["automationDetails"]["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "vutler-render/check/dev/",
            "vutler-render/check/kubernetes/",
            "vutler-render/check/production/",
            "vutler-render/check/staging/"
        ]
    );
    // (rule, file in the folder, line) of every result, by environment.
    let found: Vec<Vec<(String, String, Option<u64>)>> = runs
        .iter()
        .map(|r| {
            let rules = r["tool"]["driver"]["rules"].as_array().cloned().unwrap_or_default();
            r["results"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|x| {
                    let index = x["ruleIndex"].as_u64().unwrap_or(u64::MAX) as usize;
                    assert_eq!(rules[index]["id"], x["ruleId"], "{x}");
                    let at = &x["locations"][0]["physicalLocation"];
                    (
                        x["ruleId"].as_str().unwrap_or_default().to_owned(),
                        at["artifactLocation"]["uri"].as_str().unwrap_or_default().to_owned(),
                        at["region"]["startLine"].as_u64(),
                    )
                })
                .collect()
        })
        .collect();
    let uri = |path: &str| format!("file://{out_dir}/{path}");
    assert_eq!(
        found,
        [
            vec![("drift-missing".to_owned(), uri("dev/prometheus/prometheus.yml"), None)],
            // The warning the Kubernetes overlay allows (postgres's `rpo`), listed as suppressed.
            vec![(
                "kubernetes-backups".to_owned(),
                format!("file://{spec}/base/10-stack.yaml"),
                Some(235)
            )],
            vec![(
                "drift-changed".to_owned(),
                uri("production/nginx/nginx.conf"),
                Some(edited_line as u64)
            )],
            vec![("drift-mode".to_owned(), uri("staging/scripts/backup.sh"), None)],
        ]
    );
    for result in runs[1]["results"].as_array().into_iter().flatten() {
        assert!(result["suppressions"][0]["justification"].is_string(), "{result}");
    }
    let message = runs[2]["results"][0]["message"]["text"].as_str().unwrap_or_default();
    assert!(
        message.contains("+    worker_connections 4096;"),
        "the diff is quoted: {message}"
    );

    // An invalid spec: its problems are the run's results, exit 2.
    let broken = broken_specs("env/staging.yaml", |t| format!("{t}\nbogus_key: 1\n"));
    let (code, log) = sarif(&[
        "check",
        "--env",
        "staging",
        "--against",
        &format!("{out_dir}/staging"),
        "--spec",
        &spec_arg(&broken),
        "--format",
        "sarif",
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(log["runs"][0]["results"][0]["ruleId"], "unknown-key", "{log}");
    // A folder that is not there: the run did not complete, and says why.
    let (code, log) = sarif(&[
        "check",
        "--env",
        "staging",
        "--against",
        &format!("{out_dir}/nowhere"),
        "--spec",
        &spec,
        "--format",
        "sarif",
    ]);
    assert_eq!(code, Some(2));
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false, "{log}");
    let why = invocation["toolExecutionNotifications"][0]["message"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(why.ends_with("/nowhere is not a folder"), "{why}");
}

/// `validate --format sarif` on a broken spec: a log the SARIF 2.1.0 schema accepts, with every
/// rule of the model and one result per problem naming its rule and the file, line and column;
/// `--format json` says the same for other tools. Both exit 2.
#[test]
fn validate_prints_sarif_and_json_for_ci() {
    let broken = broken_specs("base/20-services.yaml", |t| {
        t.replacen(
            "    image: postgres:16.4-alpine\n",
            "    image: postgres:16.4-alpine\n    bogus_key: 1\n",
            1,
        )
    });
    let spec = spec_arg(&broken);
    let (code, log) = sarif(&["validate", "--env", "production", "--spec", &spec, "--format", "sarif"]);
    assert_eq!(code, Some(2));
    assert_eq!(log["version"], "2.1.0");
    let run0 = &log["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().cloned().unwrap_or_default();
    // The spec's rules, then check's five (drift-changed, -missing, -unexpected, -not-a-file, -mode).
    assert_eq!(rules.len(), vutler_spec::Rule::ALL.len() + 5);
    assert_eq!(run0["automationDetails"]["id"], "vutler-render/validate/production/");
    let results = run0["results"].as_array().cloned().unwrap_or_default();
    assert!(!results.is_empty(), "{results:?}");
    for r in &results {
        let index = r["ruleIndex"].as_u64().unwrap_or(u64::MAX) as usize;
        assert_eq!(rules[index]["id"], r["ruleId"], "{r}");
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().is_some_and(|l| l > 0), "{r}");
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap_or_default();
        assert!(
            uri.starts_with("file://") && uri.ends_with("/base/20-services.yaml"),
            "{uri}"
        );
    }
    let unknown = results
        .iter()
        .find(|r| r["ruleId"] == "unknown-key")
        .unwrap_or_else(|| panic!("{results:?}"));
    assert_eq!(unknown["level"], "error");
    let line = unknown["locations"][0]["physicalLocation"]["region"]["startLine"]
        .as_u64()
        .unwrap_or_default();
    let file = std::fs::read_to_string(broken.path().join("base/20-services.yaml")).unwrap_or_default();
    assert_eq!(file.lines().nth(line as usize - 1).map(str::trim), Some("bogus_key: 1"));

    let out = run(&["validate", "--env", "production", "--spec", &spec, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["valid"], false);
    let first = json["diagnostics"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["rule"] == "unknown-key"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(first["severity"], "error");
    assert_eq!(first["line"].as_u64(), Some(line));
    assert!(
        first["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("base/20-services.yaml"))
    );

    // A valid spec: an empty result list, exit 0.
    let out = run(&[
        "validate",
        "--env",
        "production",
        "--spec",
        &specs().display().to_string(),
        "--format",
        "sarif",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert!(sarif_validator().is_valid(&log));
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
}

/// `--strict`: a warning fails the run (exit 2), in every format; without it the spec is valid.
#[test]
fn strict_validation_fails_on_a_warning() {
    let spec = specs().join("../xtask/stacks/vault").display().to_string();
    let lax = run(&["validate", "--env", "production", "--spec", &spec]);
    assert_eq!(lax.status.code(), Some(0), "{}", text(&lax.stderr));
    assert!(text(&lax.stderr).contains("warning[backups-unwatched]"));
    let strict = run(&["validate", "--env", "production", "--spec", &spec, "--strict"]);
    assert_eq!(strict.status.code(), Some(2));
    assert!(
        text(&strict.stderr).contains("production: invalid with --strict (1 warning)"),
        "{}",
        text(&strict.stderr)
    );
    let json = run(&[
        "validate",
        "--env",
        "production",
        "--spec",
        &spec,
        "--strict",
        "--format",
        "json",
    ]);
    assert_eq!(json.status.code(), Some(2));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (value["valid"].clone(), value["warnings"].clone()),
        (serde_json::json!(false), serde_json::json!(1))
    );
    let sarif = run(&[
        "validate",
        "--env",
        "production",
        "--spec",
        &spec,
        "--strict",
        "--format",
        "sarif",
    ]);
    assert_eq!(sarif.status.code(), Some(2));
    let log: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log["runs"][0]["results"][0]["level"], "warning");
}

/// A warning the spec allows, with its reason: not printed, a strict run passes, and JSON and
/// SARIF list it as suppressed with the reason.
#[test]
fn an_allowed_warning_passes_a_strict_run_and_says_why() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let specs_dir = tmp.path().join("vault");
    copy_tree(&specs().join("../xtask/stacks/vault"), &specs_dir);
    let base = specs_dir.join("base/stack.yaml");
    edit_file(&base, |t| {
        t + "allow:\n  backups-unwatched: the cron logs are mailed to the operator every morning\n"
    });
    let spec = specs_dir.display().to_string();
    let out = run(&["validate", "--env", "production", "--spec", &spec, "--strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("backups-unwatched"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("production: valid (3 services on VM `small`, 1 allowed)"),
        "{}",
        text(&out.stdout)
    );
    let json = run(&[
        "validate",
        "--env",
        "production",
        "--spec",
        &spec,
        "--strict",
        "--format",
        "json",
    ]);
    assert_eq!(json.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(value["warnings"], 0);
    assert_eq!(
        value["diagnostics"][0]["allowed"],
        "the cron logs are mailed to the operator every morning"
    );
    let sarif = run(&["validate", "--env", "production", "--spec", &spec, "--format", "sarif"]);
    let log: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert!(sarif_validator().is_valid(&log));
    assert_eq!(
        log["runs"][0]["results"][0]["suppressions"],
        serde_json::json!([{ "kind": "inSource", "justification": "the cron logs are mailed to the operator every morning" }])
    );
}

/// `--all-envs`: every environment into `DIR/<env>/`, then `check --all-envs` against that
/// folder is in sync (exit 0) and a second render leaves every file untouched; when one
/// environment is invalid, nothing is written at all.
#[test]
fn every_environment_at_once() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deploy = tmp.path().join("deploy");
    let spec = specs().display().to_string();
    let out = run(&["--all-envs", "--out", &deploy.display().to_string(), "--spec", &spec]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for env in ["dev", "kubernetes", "staging", "production"] {
        assert_eq!(
            files_of(&deploy.join(env))
                .into_iter()
                .filter(|(p, _)| p != Path::new(MANIFEST))
                .collect::<Vec<_>>(),
            files_of(&specs().join("../golden").join(env)),
            "{env}"
        );
    }
    let checked = run(&[
        "check",
        "--all-envs",
        "--against",
        &deploy.display().to_string(),
        "--spec",
        &spec,
    ]);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stdout));
    assert_eq!(
        text(&checked.stdout).matches(" is in sync (").count(),
        4,
        "{}",
        text(&checked.stdout)
    );
    let before = mtimes(&deploy);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let again = run(&["--all-envs", "--out", &deploy.display().to_string(), "--spec", &spec]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        text(&again.stderr).matches(" is up to date (").count(),
        4,
        "{}",
        text(&again.stderr)
    );
    assert!(!text(&again.stderr).contains("wrote "), "{}", text(&again.stderr));
    assert_eq!(mtimes(&deploy), before);
    // Drift in one environment is drift of the whole check.
    edit_file(&deploy.join("staging/nginx/nginx.conf"), |t| t + "# x\n");
    let drift = run(&[
        "check",
        "--all-envs",
        "--against",
        &deploy.display().to_string(),
        "--spec",
        &spec,
        "--format",
        "json",
    ]);
    assert_eq!(drift.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = text(&drift.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let in_sync: Vec<(String, bool)> = lines
        .iter()
        .map(|l| (l["env"].as_str().unwrap_or_default().to_owned(), l["in_sync"] == true))
        .collect();
    assert_eq!(
        in_sync,
        [
            ("dev".to_owned(), true),
            ("kubernetes".to_owned(), true),
            ("production".to_owned(), true),
            ("staging".to_owned(), false)
        ]
    );

    // One invalid environment: nothing is written, for any of them.
    let broken = broken_specs("env/staging.yaml", |t| t + "\nbogus: 1\n");
    let fresh = tmp.path().join("fresh");
    let out = run(&[
        "--all-envs",
        "--out",
        &fresh.display().to_string(),
        "--spec",
        &spec_arg(&broken),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("nothing was written"),
        "{}",
        text(&out.stderr)
    );
    assert!(!fresh.exists(), "a folder was written");
    let out = run(&["validate", "--all-envs", "--spec", &spec_arg(&broken)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("dev: valid") && text(&out.stdout).contains("production: valid"));
}

/// `-q` prints only problems, `-v` a line per unchanged file too; `--color always` colours
/// into a pipe (CI logs), even with NO_COLOR set, and `--color never` never does.
#[test]
fn quiet_verbose_and_color_flags() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("deploy").display().to_string();
    let spec = specs().display().to_string();
    let quiet = run(&["-q", "--env", "production", "--out", &dir, "--spec", &spec]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(text(&quiet.stderr), "", "quiet prints nothing on success");
    let verbose = run(&["-v", "--env", "production", "--out", &dir, "--spec", &spec]);
    assert!(
        text(&verbose.stderr).contains("unchanged docker-compose.yml\n"),
        "{}",
        text(&verbose.stderr)
    );
    let normal = run(&["--env", "production", "--out", &dir, "--spec", &spec]);
    assert!(
        !text(&normal.stderr).contains("unchanged docker-compose.yml"),
        "{}",
        text(&normal.stderr)
    );
    let valid = run(&["validate", "-q", "--env", "production", "--spec", &spec]);
    assert_eq!((valid.status.code(), text(&valid.stdout)), (Some(0), String::new()));
    assert_eq!(
        run(&["-q", "-v", "--env", "production"]).status.code(),
        Some(2),
        "-q and -v conflict"
    );

    let broken = broken_specs("base/20-services.yaml", |t| {
        t.replacen(
            "    image: postgres:16.4-alpine\n",
            "    image: postgres:16.4-alpine\n    bogus_key: 1\n",
            1,
        )
    });
    let always = Command::new(env!("CARGO_BIN_EXE_vutler-render"))
        .args([
            "validate",
            "--env",
            "production",
            "--spec",
            &spec_arg(&broken),
            "--color",
            "always",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(always.status.code(), Some(2));
    assert!(
        text(&always.stderr).contains("\u{1b}["),
        "no colour: {}",
        text(&always.stderr)
    );
    let never = run(&[
        "validate",
        "--env",
        "production",
        "--spec",
        &spec_arg(&broken),
        "--color",
        "never",
    ]);
    assert!(!text(&never.stderr).contains("\u{1b}["));
    assert!(text(&never.stderr).contains("error[unknown-key]"));
}

/// `graph`: every service, the published ports with their interface, the start order, the
/// scrapes and the backups; the README shows the production picture as the command prints it,
/// and Graphviz accepts the DOT form.
#[test]
fn graph_draws_the_stack_and_the_readme_shows_it() {
    let spec = specs().display().to_string();
    let out = run(&["graph", "--env", "production", "--spec", &spec]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mermaid = text(&out.stdout);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    let stack = vutler_spec::load(&specs(), "production")
        .unwrap_or_else(|r| panic!("{r}"))
        .stack;
    for s in stack.services() {
        assert!(
            mermaid.contains(&format!("[\"{}<br/>{}\"]", s.name, s.image)),
            "{} missing",
            s.name
        );
    }
    for expected in [
        "internet ==>|\"0.0.0.0:443 → 443 (public)\"|",
        "(this host only)",
        "waits until healthy",
        "-.->|\"scrapes postgres :9187/metrics\"|",
        "-.->|\"postgres pg_dump (0 2 * * *)\"| destination",
        "destination([\"s3://vutler-backups/daily\"])",
    ] {
        assert!(mermaid.contains(expected), "{expected} not in:\n{mermaid}");
    }
    let readme = std::fs::read_to_string(specs().join("../README.md")).unwrap_or_default();
    assert!(
        readme.contains(&format!("```mermaid\n{mermaid}```\n")),
        "README.md does not show `vutler-render graph --env production` as it prints now"
    );

    let out = run(&["graph", "--env", "production", "--spec", &spec, "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0));
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph \"vutler\" {"), "{dot}");
    // The cluster's picture: workloads in their namespace, the Ingress in the proxy's place,
    // the waits an init container holds, the backup CronJobs.
    let out = run(&["graph", "--env", "kubernetes", "--spec", &spec]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cluster = text(&out.stdout);
    for expected in [
        "subgraph net_vutler[\"namespace vutler\"]",
        "ingress([\"Ingress (class nginx)<br/>TLS from Secret vutler-tls\"])",
        "internet ==>|\"https://vutler.example.com\"| ingress",
        "|\"routes to :3000 (sticky)\"|",
        "<br/>Deployment, 3–10 pods (autoscaled)\"]",
        "<br/>StatefulSet, 1 pod, claim postgres-data 50Gi\"]",
        "<br/>DaemonSet, a pod per node\"]",
        "-->|\"waits until ready\"|",
        "-.->|\"CronJob backup-postgres: pg_dump (0 2 * * * UTC)\"| destination",
    ] {
        assert!(cluster.contains(expected), "{expected} not in:\n{cluster}");
    }
    for absent in ["nginx:", "(public)", "this host only", "waits until started"] {
        assert!(!cluster.contains(absent), "{absent} in:\n{cluster}");
    }
    let out = run(&["graph", "--env", "kubernetes", "--spec", &spec, "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0));
    // The stacks of other shapes (one without monitoring or backups) draw too.
    let mut dots = vec![dot, text(&out.stdout)];
    for other in ["minimal", "vault", "git-server"] {
        let other = specs().join("../xtask/stacks").join(other).display().to_string();
        let out = run(&["graph", "--env", "production", "--spec", &other, "--format", "dot"]);
        assert_eq!(out.status.code(), Some(0), "{other}: {}", text(&out.stderr));
        dots.push(text(&out.stdout));
    }
    for dot in dots {
        graphviz_accepts(&dot);
    }
}

/// Graphviz renders the DOT (required where the validators are, skipped with a note elsewhere).
fn graphviz_accepts(dot: &str) {
    match Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap_or_else(|| panic!("no stdin"))
                .write_all(dot.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            let svg = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
            assert!(svg.status.success(), "Graphviz refuses the DOT: {}", text(&svg.stderr));
            assert!(text(&svg.stdout).contains("<svg"));
        }
        Err(e) => {
            assert!(
                std::env::var_os("VUTLER_REQUIRE_VALIDATORS").is_none(),
                "dot is not installed: {e}"
            );
            eprintln!("SKIPPED Graphviz: dot is not installed ({e})");
        }
    }
}

/// Completion scripts complete `--env` to the environments of the spec folder, for the
/// top-level render and every subcommand that takes one.
#[test]
fn completions_know_the_environments() {
    let vault = specs().join("../xtask/stacks/vault").display().to_string();
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell, "--spec", &vault]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains("production") && script.contains("staging"), "{shell}");
        if shell == "bash" {
            // bash lists the choices of a value in one word list.
            assert!(script.contains("\"production staging\""), "{script}");
        }
    }
}

/// A reader that stops early (`| head`) ends the output quietly, with no error and exit 0.
#[test]
fn a_closed_pipe_is_no_error() {
    use std::io::Read as _;
    for args in [
        vec!["--env", "production"],
        vec!["validate", "--all-envs", "--format", "sarif"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vutler-render"))
            .args(&args)
            .args(["--spec", &specs().display().to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut first = [0u8; 8];
        child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("no stdout"))
            .read_exact(&mut first)
            .unwrap_or_else(|e| panic!("{e}"));
        // The pipe's reader is gone now (dropped above).
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(
            !text(&out.stderr).contains("Broken pipe"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
