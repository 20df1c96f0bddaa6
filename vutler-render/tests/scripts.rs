//! The rendered operations scripts, run by bash: they parse, `--dry-run` prints every step
//! without running it, the refusals hold, and with stand-ins for `docker`, `aws` and `curl` on
//! `PATH` a backup, an update and a rollback do what they say on a scratch deployment folder.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vutler_render::secrets::SECRETS_SCRIPT;
use vutler_render::{Rendered, ops, render};
use vutler_spec::Stack;

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn stack(spec: &str, env: &str) -> Stack {
    vutler_spec::load(&dir(spec), env)
        .unwrap_or_else(|r| panic!("{env}:\n{r}"))
        .stack
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(path: &Path, contents: &str, executable: bool) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap_or_else(|e| panic!("{e}"));
}

/// A deployment folder holding a rendered tree, as `--out` writes it.
fn deploy(tree: &Rendered) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (path, contents) in tree.iter() {
        write(&dir.path().join(path), contents, tree.is_executable(path));
    }
    dir
}

/// Gives every secret the deployment's Compose file requires a test value in `.env`, and
/// every secret file the same value as `.env` (or one of its own), as an operator would before
/// the first `docker compose up` (scripts/secrets.sh does it in its own tests).
fn fill_secrets(deployment: &Path) {
    let compose = std::fs::read_to_string(deployment.join(vutler_render::COMPOSE_FILE)).unwrap_or_default();
    let env_path = deployment.join(".env");
    let mut env = std::fs::read_to_string(&env_path).unwrap_or_default();
    let value = |name: &str| format!("test-{}", name.to_ascii_lowercase().replace('_', "-"));
    for required in compose
        .split("${")
        .skip(1)
        .filter_map(|r| r.split_once(":?"))
        .map(|(n, _)| n)
    {
        let set = env.lines().any(|l| {
            l.strip_prefix(required)
                .and_then(|r| r.strip_prefix('='))
                .is_some_and(|v| !v.is_empty())
        });
        if !set {
            env = env
                .lines()
                .filter(|l| *l != format!("{required}="))
                .map(|l| format!("{l}\n"))
                .collect();
            env.push_str(&format!("{required}={}\n", value(required)));
        }
    }
    write(&env_path, &env, false);
    for file in compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("file: \"./secrets/")?.strip_suffix('"'))
    {
        let name = file.to_ascii_uppercase();
        let from_env = env
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(str::to_owned);
        write(
            &deployment.join("secrets").join(file),
            &from_env.unwrap_or_else(|| value(&name)),
            false,
        );
    }
}

/// Runs a script of a deployment with bash, `PATH` starting with `bin` when given.
fn bash(deployment: &Path, script: &str, args: &[&str], bin: Option<&Path>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(deployment.join(script)).args(args).current_dir("/");
    if let Some(bin) = bin {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", bin.display()));
        if let Some(root) = bin.parent() {
            cmd.env("FAKE_DOCKER_DIR", root.join("docker"));
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The scripts read these from the environment first: the test's own must not leak in.
    for k in ["VERSION", "BACKUP_S3_ACCESS_KEY_ID", "BACKUP_S3_SECRET_ACCESS_KEY"] {
        if !env.iter().any(|(name, _)| name == &k) {
            cmd.env_remove(k);
        }
    }
    cmd.output().unwrap_or_else(|e| panic!("cannot run bash: {e}"))
}

const SCRIPTS: [&str; 8] = [
    ops::BACKUP_SCRIPT,
    ops::RESTORE_SCRIPT,
    ops::HEALTHCHECK_SCRIPT,
    ops::UPDATE_SCRIPT,
    ops::ROLLBACK_SCRIPT,
    ops::CERTIFICATES_SCRIPT,
    ops::SCALE_SCRIPT,
    SECRETS_SCRIPT,
];

#[test]
fn every_script_parses_carries_the_header_and_explains_itself() {
    let trees = ["dev", "staging", "production"]
        .map(|env| render(&stack("../specs", env)))
        .into_iter()
        .chain(["minimal", "backup-added"].map(|env| render(&stack("tests/fixtures/stack", env))));
    for tree in trees {
        let tree = tree.unwrap_or_else(|e| panic!("{e}"));
        let deployment = deploy(&tree);
        for script in SCRIPTS {
            let contents = tree.get(script).unwrap_or_else(|| panic!("{script} not rendered"));
            assert!(tree.is_executable(script), "{script}");
            assert!(
                contents.starts_with("#!/usr/bin/env bash\n# Generated by vutler-render"),
                "{script}"
            );
            assert!(contents.contains("\nset -euo pipefail\n"), "{script}");
            let check = Command::new("bash")
                .arg("-n")
                .arg(deployment.path().join(script))
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(check.status.success(), "bash -n {script}: {}", text(&check.stderr));
            let help = bash(deployment.path(), script, &["--help"], None, &[]);
            assert_eq!(help.status.code(), Some(0), "{script} --help: {}", text(&help.stderr));
            assert!(text(&help.stdout).starts_with(&format!("Usage: {script}")), "{script}");
            let wrong = bash(deployment.path(), script, &["--frobnicate"], None, &[]);
            assert_eq!(wrong.status.code(), Some(2), "{script} --frobnicate");
        }
    }
}

const SECRET_ID: &str = "AKIA-NOT-TO-BE-PRINTED";
const SECRET_KEY: &str = "s3cr3t-not-to-be-printed";

fn production() -> tempfile::TempDir {
    let deployment = deploy(&render(&stack("../specs", "production")).unwrap_or_else(|e| panic!("{e}")));
    let env =
        format!("VERSION=1.0.0\nBACKUP_S3_ACCESS_KEY_ID={SECRET_ID}\nBACKUP_S3_SECRET_ACCESS_KEY=\"{SECRET_KEY}\"\n");
    write(&deployment.path().join(".env"), &env, false);
    deployment
}

#[test]
fn backup_dry_run_prints_every_step_and_no_secret() {
    let deployment = production();
    let out = bash(
        deployment.path(),
        ops::BACKUP_SCRIPT,
        &["--dry-run", "--name", "20260216T020000Z"],
        None,
        &[],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let expected = [
        "+ docker compose exec -T postgres sh -c 'exec pg_dump --username=\"$POSTGRES_USER\" --dbname=vutler --format=custom --no-owner' > /backup/postgres/20260216T020000Z.dump.new",
        "+ docker compose exec -T postgres sh -c 'exec pg_restore --list >/dev/null' < /backup/postgres/20260216T020000Z.dump.new",
        "+ mv -f -- /backup/postgres/20260216T020000Z.dump.new /backup/postgres/20260216T020000Z.dump",
        "+ aws s3 cp --only-show-errors --storage-class STANDARD_IA --sse AES256 /backup/postgres/20260216T020000Z.dump s3://vutler-backups/daily/postgres/20260216T020000Z.dump",
        "+ aws s3api head-object --bucket vutler-backups --key daily/postgres/20260216T020000Z.dump (then compare with the size of the file)",
        "+ aws s3 ls s3://vutler-backups/daily/postgres/ (then delete the listed backups older than",
        "+ record vutler_backup_last_success_timestamp_seconds{backup=\"postgres\"} in /var/lib/node_exporter/textfile/backup_postgres.prom",
        // Production reads the Mongo password from its Docker secret file, in the container,
        // into mongodump's configuration file: never onto a command line.
        "+ docker compose exec -T mongo sh -c 'pw=\"$(cat \"$MONGO_INITDB_ROOT_PASSWORD_FILE\")\"; umask 077; cfg=$(mktemp);",
        "mongodump --config=\"$cfg\" --authenticationDatabase=admin --username=\"$MONGO_INITDB_ROOT_USERNAME\" --archive --gzip' > /backup/mongo/20260216T020000Z.archive.gz.new",
        "+ gzip -t -- /backup/mongo/20260216T020000Z.archive.gz.new",
        "+ check that /backup/mongo/20260216T020000Z.archive.gz.new holds a mongodump archive",
        "+ docker compose run --rm --no-deps -T -v /backup/minio/20260216T020000Z.tar.gz.new.stage:/backup-out --entrypoint sh minio -c",
        "+ tar -C /backup/minio/20260216T020000Z.tar.gz.new.stage -czf - . > /backup/minio/20260216T020000Z.tar.gz.new",
        "+ tar -tzf /backup/minio/20260216T020000Z.tar.gz.new >/dev/null",
    ];
    for line in expected {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    for flag in ["--password", "mc alias set"] {
        assert!(!stdout.contains(flag), "{flag} in:\n{stdout}");
    }
    // Dumps happen in schedule order, each checked, then uploaded.
    let pos = |s: &str| stdout.find(s).unwrap_or_else(|| panic!("{s}"));
    assert!(pos("pg_dump") < pos("pg_restore --list") && pos("pg_restore --list") < pos("dump s3://"));
    assert!(pos("dump s3://") < pos("mongodump"));
    for secret in [SECRET_ID, SECRET_KEY] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} printed");
    }
    assert!(
        stderr.contains("backup 20260216T020000Z complete: postgres mongo minio"),
        "{stderr}"
    );

    let only = bash(
        deployment.path(),
        ops::BACKUP_SCRIPT,
        &["--dry-run", "--only", "mongo"],
        None,
        &[],
    );
    let only_out = text(&only.stdout);
    assert_eq!(only.status.code(), Some(0), "{}", text(&only.stderr));
    assert!(only_out.contains("mongodump") && !only_out.contains("pg_dump") && !only_out.contains("mc mirror"));

    for args in [&["--only", "mysql"][..], &["--name", "yesterday"], &["--only"]] {
        let refused = bash(deployment.path(), ops::BACKUP_SCRIPT, args, None, &[]);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn backup_without_credentials_refuses_to_start_but_its_dry_run_needs_none() {
    let deployment = production();
    write(&deployment.path().join(".env"), "VERSION=1.0.0\n", false);
    let out = bash(deployment.path(), ops::BACKUP_SCRIPT, &[], None, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("set BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).is_empty(), "ran something: {}", text(&out.stdout));
    // The README's own example.
    let dry = bash(deployment.path(), ops::BACKUP_SCRIPT, &["--dry-run"], None, &[]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(text(&dry.stdout).contains("+ aws s3 cp"), "{}", text(&dry.stdout));
}

#[test]
fn restore_needs_a_job_a_backup_name_and_confirmation() {
    let deployment = production();
    let restore = |args: &[&str]| bash(deployment.path(), ops::RESTORE_SCRIPT, args, None, &[]);
    for args in [
        &["postgres", "20260216T020000Z"][..],
        &["--yes", "postgres"],
        &["--yes"],
        &["--yes", "postgres", "latest"],
        &["--yes", "postgres", "../../etc/passwd"],
        &["--yes", "mysql", "20260216T020000Z"],
    ] {
        let out = restore(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).is_empty(), "{args:?} ran something");
    }
    assert!(text(&restore(&["postgres", "20260216T020000Z"]).stderr).contains("add --yes to confirm"));

    let out = restore(&["--dry-run", "postgres", "20260216T020000Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "+ mkdir -p -- /backup/postgres",
            "+ aws s3 cp --only-show-errors s3://vutler-backups/daily/postgres/20260216T020000Z.dump /backup/postgres/20260216T020000Z.dump.download",
            "+ mv -f -- /backup/postgres/20260216T020000Z.dump.download /backup/postgres/20260216T020000Z.dump",
            "+ docker compose exec -T postgres sh -c 'exec pg_restore --list >/dev/null' < /backup/postgres/20260216T020000Z.dump",
            "+ docker compose stop vutler postgres-exporter",
            "+ docker compose exec -T postgres sh -c 'exec pg_restore --username=\"$POSTGRES_USER\" --dbname=vutler --clean --if-exists --no-owner --single-transaction --exit-on-error' < /backup/postgres/20260216T020000Z.dump",
            "+ docker compose start vutler postgres-exporter",
        ]
    );
}

/// Stand-ins for the programs the scripts drive, on a `PATH` of their own (`root/bin`):
/// `docker` models the Compose project of `deployment` (tests/standins/docker.py: containers,
/// versions, addresses, health, what NGINX sends to), `curl` answers as the app NGINX reaches
/// would, `sleep` advances the model's clock, and `aws` keeps the buckets' objects
/// (tests/standins/aws.py, under `root/docker/s3/`). The project starts as `docker compose up -d` leaves it once every
/// container is healthy; every call is appended to `calls.log` (see [`calls`]).
fn fake_bin(root: &Path, deployment: &Path) -> PathBuf {
    fake_bin_with(root, deployment, serde_json::json!([]))
}

/// Like [`fake_bin`], with the logins of clients to servers that the model checks (see
/// `standins/docker.py`).
fn fake_bin_with(root: &Path, deployment: &Path, logins: serde_json::Value) -> PathBuf {
    let bin = root.join("bin");
    let state = root.join("docker");
    let standins = dir("tests/standins");
    for (name, script) in [
        ("docker", "docker.py"),
        ("curl", "curl.py"),
        ("sleep", "sleep.py"),
        ("aws", "aws.py"),
    ] {
        let shim = format!(
            "#!/usr/bin/env bash\nexec python3 {} \"$@\"\n",
            standins.join(script).display()
        );
        write(&bin.join(name), &shim, true);
    }
    // The Compose files as JSON, which the stand-in reads (it has no YAML parser).
    for file in [vutler_render::COMPOSE_FILE, vutler_render::SCALE_FILE] {
        let Ok(yaml) = std::fs::read_to_string(deployment.join(file)) else {
            continue;
        };
        let files = vutler_spec::SpecFiles::new("x", vec![("compose.yaml".into(), yaml)], None);
        let json = files.effective().map(|n| n.to_json()).unwrap_or_else(|r| panic!("{r}"));
        write(
            &state.join("compose").join(format!("{file}.json")),
            &json.to_string(),
            false,
        );
    }
    let (app, proxy) = app_and_proxy(deployment);
    let seed = serde_json::json!({
        "containers": [], "next": 0, "clock": 0, "app": app, "proxy": proxy,
        "proxy_running": false, "upstream": [], "reloads": [], "violations": [],
        "pulled": [], "runs": [], "certbot": [],
        "servers": {}, "password_changes": [], "logins": logins, "lockouts": [], "volumes": [],
    });
    write(&state.join("state.json"), &seed.to_string(), false);
    let run = |program: &str, args: &[&str]| {
        let out = Command::new(bin.join(program))
            .args(args)
            .current_dir(deployment)
            .env("FAKE_DOCKER_DIR", &state)
            .env_remove("VERSION")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{program} {args:?}: {}", text(&out.stderr));
    };
    run("docker", &["compose", "up", "-d"]);
    run("sleep", &["60"]);
    let mut state_now = model(root);
    state_now["violations"] = serde_json::json!([]);
    write(&state.join("state.json"), &state_now.to_string(), false);
    write(&state.join("calls.log"), "", false);
    bin
}

/// The app behind the proxy and the proxy, as the rendered scripts name them (`scale.sh`,
/// which every stack has).
fn app_and_proxy(deployment: &Path) -> (String, String) {
    let scale = std::fs::read_to_string(deployment.join(ops::SCALE_SCRIPT)).unwrap_or_default();
    let proxy = scale
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("run docker compose exec -T ")?
                .strip_suffix(" nginx -s reload")
        })
        .unwrap_or_else(|| panic!("no reload in scale.sh"));
    let app = scale
        .lines()
        .find_map(|l| l.strip_prefix("# Scales ")?.split(' ').next())
        .unwrap_or_else(|| panic!("no app in scale.sh"));
    (app.to_owned(), proxy.to_owned())
}

/// The state of the `docker` stand-in.
fn model(root: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(root.join("docker/state.json")).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// Every call the stand-ins received, one a line.
fn calls(root: &Path) -> String {
    std::fs::read_to_string(root.join("docker/calls.log")).unwrap_or_default()
}

/// The containers of a service in the stand-in's state: (image, status, health, address).
fn containers(state: &serde_json::Value, service: &str) -> Vec<(String, String, String, String)> {
    state["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["service"] == service)
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("none").to_owned();
            (s("image"), s("status"), s("health"), s("ip"))
        })
        .collect()
}

/// The fixture stack with its backup folders inside a scratch folder (an overlay moves them
/// there, node-exporter's textfile folder with them).
fn fixture_deployment(root: &Path) -> (Stack, PathBuf) {
    let base = dir("tests/fixtures/stack/base/stack.yaml");
    let base = (
        "base/stack.yaml".to_owned(),
        std::fs::read_to_string(base).unwrap_or_default(),
    );
    let textfile = root.join("textfile").display().to_string();
    let overlay = format!(
        "backups: {{ local_dir: {local}, textfile_dir: {textfile} }}\nservices:\n  node-exporter:\n    command: [--path.rootfs=/host, --collector.textfile.directory=/host{textfile}]\n",
        local = root.join("backup").display(),
    );
    let files = vutler_spec::SpecFiles::new("minimal", vec![base], Some(("env/minimal.yaml".into(), overlay)));
    let stack = files.resolve().unwrap_or_else(|r| panic!("{r}")).stack;
    let deployment = root.join("deploy");
    for (path, contents) in render(&stack).unwrap_or_else(|e| panic!("{e}")).iter() {
        write(&deployment.join(path), contents, contents.starts_with("#!"));
    }
    write(&deployment.join(".env"), "VERSION=1.0.0\n", false);
    fill_secrets(&deployment);
    (stack, deployment)
}

/// A backup name `days` days ago, as the scripts name them.
fn days_ago(days: u32) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("-{days} days"), "+%Y%m%dT%H%M%SZ"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    text(&out.stdout).trim().to_owned()
}

/// The names in a folder, sorted (none when it does not exist).
fn local_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The objects the `aws` stand-in keeps under a prefix of the fixture's bucket, by name.
fn uploaded(root: &Path, prefix: &str) -> Vec<String> {
    local_files(&root.join("docker/s3/fixture-backups").join(prefix))
}

#[test]
fn a_backup_dumps_checks_uploads_prunes_by_both_retentions_and_records_its_success() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_, deployment) = fixture_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    // The fixture keeps 3 days here and 30 uploaded.
    let (old, recent, ancient) = (days_ago(5), days_ago(1), days_ago(40));
    let local = root.path().join("backup/db");
    let remote = root.path().join("docker/s3/fixture-backups/daily/db");
    for name in [&old, &recent] {
        write(&local.join(format!("{name}.dump")), "PGDMP old", false);
    }
    write(&local.join("keep.txt"), "not a backup", false);
    for name in [&old, &recent, &ancient] {
        write(&remote.join(format!("{name}.dump")), "PGDMP old", false);
    }
    write(&remote.join("notes.txt"), "not a backup", false);

    let out = bash(&deployment, ops::BACKUP_SCRIPT, &[], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Named after the time it was taken, so that it sorts and prunes by age.
    let files = local_files(&local);
    let new: Vec<&String> = files
        .iter()
        .filter(|f| ![&old, &recent].iter().any(|n| f.starts_with(n.as_str())))
        .filter(|f| f.ends_with(".dump"))
        .collect();
    let [name] = new.as_slice() else {
        panic!("expected one new dump, found {files:?}")
    };
    assert!(
        name.len() == "20260216T020000Z.dump".len() && name.ends_with("Z.dump"),
        "{name}"
    );
    let dump = std::fs::read(local.join(name.as_str())).unwrap_or_default();
    assert!(dump.starts_with(b"PGDMP"), "not pg_dump's custom format: {dump:?}");
    // Here: 3 days (the 5-day-old one is gone); there: 30 days (the 40-day-old one is gone).
    assert_eq!(files, [format!("{recent}.dump"), name.to_string(), "keep.txt".into()]);
    assert_eq!(
        uploaded(root.path(), "daily/db"),
        [
            format!("{old}.dump"),
            format!("{recent}.dump"),
            name.to_string(),
            "notes.txt".into()
        ]
    );
    // The upload is the file.
    assert_eq!(std::fs::read(remote.join(name.as_str())).unwrap_or_default(), dump);
    // The check ran on the dump before it was uploaded.
    let calls = calls(root.path());
    let pos = |s: &str| calls.find(s).unwrap_or_else(|| panic!("{s} not in {calls}"));
    assert!(pos("pg_restore --list") < pos("aws s3 cp") && pos("aws s3 cp") < pos("aws s3api head-object"));

    let metric = std::fs::read_to_string(root.path().join("textfile/backup_db.prom")).unwrap_or_default();
    let sample = metric.lines().last().unwrap_or_default();
    let value = sample
        .strip_prefix("fixture_backup_last_success_timestamp_seconds{backup=\"db\"} ")
        .unwrap_or_else(|| panic!("{metric}"));
    assert!(value.parse::<u64>().is_ok_and(|t| t > 1_700_000_000), "{metric}");
}

#[test]
fn pruning_never_removes_the_last_good_backup() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_, deployment) = fixture_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    // A backup taken under an old name (a clock set wrong, or a backfill): older than both
    // retentions, and the only one.
    let name = days_ago(40);
    let out = bash(&deployment, ops::BACKUP_SCRIPT, &["--name", &name], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(local_files(&root.path().join("backup/db")), [format!("{name}.dump")]);
    assert_eq!(uploaded(root.path(), "daily/db"), [format!("{name}.dump")]);
}

#[test]
fn a_failed_upload_keeps_the_local_copy_and_fails_the_job() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_, deployment) = fixture_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    let local = root.path().join("backup/db");
    // Refused by S3, then stored one byte short (which only the size check sees).
    for (fault, value, name, says) in [
        ("FAKE_S3_FAIL", "cp", "20260216T020000Z", "AccessDenied"),
        ("FAKE_S3_SHORT", "1", "20260217T020000Z", "bytes, "),
    ] {
        let out = bash(
            &deployment,
            ops::BACKUP_SCRIPT,
            &["--name", name],
            Some(&bin),
            &[(fault, value)],
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{fault}: {stderr}");
        assert!(stderr.contains(says), "{fault}: {stderr}");
        assert!(
            stderr.contains(&format!("error: db: uploading {name} failed")),
            "{fault}: {stderr}"
        );
        assert!(
            local.join(format!("{name}.dump")).exists(),
            "{fault}: the local copy is gone"
        );
    }
    // No success was recorded, so the stale-backup alert fires.
    assert!(!root.path().join("textfile/backup_db.prom").exists());
}

#[test]
fn a_failing_dump_fails_the_backup_with_a_log_line_and_leaves_nothing() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_, deployment) = fixture_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    let out = bash(
        &deployment,
        ops::BACKUP_SCRIPT,
        &["--name", "20260216T020000Z"],
        Some(&bin),
        &[("FAKE_FAIL", "1")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: db: backup 20260216T020000Z failed"), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    let leftovers = local_files(&root.path().join("backup/db"));
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!root.path().join("textfile/backup_db.prom").exists());
    let calls = calls(root.path());
    assert!(!calls.contains("aws s3 cp"), "uploaded after a failed dump: {calls}");
}

#[test]
fn production_takes_a_base_backup_and_ships_the_archived_wal() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    let out = bash(
        &deployment,
        ops::BACKUP_SCRIPT,
        &["--only", "postgres", "--name", "20260216T020000Z"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s3 = root.path().join("docker/s3/vutler-backups/daily/postgres");
    assert_eq!(local_files(&s3), ["20260216T020000Z.dump", "base"]);
    assert_eq!(local_files(&s3.join("base")), ["20260216T020000Z.tar.gz"]);
    // The base backup's end is archived, not yet shipped.
    let archived = |root: &Path| -> Vec<String> {
        model(root)["wal"]["postgres"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(archived(root.path()), ["000000000000000000000002.gz"]);

    let out = bash(&deployment, ops::BACKUP_SCRIPT, &["--wal"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(local_files(&s3.join("wal")), ["000000000000000000000002.gz"]);
    assert!(archived(root.path()).is_empty(), "shipped segments stay in the archive");
    let metric = std::fs::read_to_string(root.path().join("textfile/wal_postgres.prom")).unwrap_or_default();
    assert!(
        metric.contains("vutler_backup_wal_shipped_timestamp_seconds{backup=\"postgres\"} "),
        "{metric}"
    );

    // WAL no kept base backup needs (older than the oldest, with an hour's margin) is deleted
    // when the base backups are pruned; the rest stays.
    let old_wal = s3.join("wal/000000000000000000000001.gz");
    write(&old_wal, "old", false);
    let touched = Command::new("touch")
        .args(["-d", "@1000000000"])
        .arg(&old_wal)
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(touched.success());
    let out = bash(
        &deployment,
        ops::BACKUP_SCRIPT,
        &["--only", "postgres", "--name", "20260217T020000Z"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(local_files(&s3.join("wal")), ["000000000000000000000002.gz"]);

    // S3 refusing: the segment stays in the archive, nothing is recorded, the run fails.
    std::fs::remove_file(root.path().join("textfile/wal_postgres.prom")).unwrap_or_else(|e| panic!("{e}"));
    let out = bash(
        &deployment,
        ops::BACKUP_SCRIPT,
        &["--wal"],
        Some(&bin),
        &[("FAKE_S3_FAIL", "cp")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(archived(root.path()).len(), 1, "{}", text(&out.stderr));
    assert!(!root.path().join("textfile/wal_postgres.prom").exists());
    // A job without WAL archiving has nothing to ship.
    let out = bash(
        &deployment,
        ops::BACKUP_SCRIPT,
        &["--wal", "--only", "mongo"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn restore_verify_restores_into_a_scratch_copy_and_records_the_drill() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_, deployment) = fixture_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    let out = bash(
        &deployment,
        ops::BACKUP_SCRIPT,
        &["--name", "20260216T020000Z"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let before = model(root.path());

    // The newest backup, by default; downloaded when it is not on this machine.
    std::fs::remove_file(root.path().join("backup/db/20260216T020000Z.dump")).unwrap_or_else(|e| panic!("{e}"));
    let out = bash(&deployment, ops::RESTORE_SCRIPT, &["--verify"], Some(&bin), &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(text(&out.stdout), "1 tables, 2 rows\n");
    assert!(
        stderr.contains("db: 20260216T020000Z restores (1 tables, 2 rows)"),
        "{stderr}"
    );
    let after = model(root.path());
    // A throwaway container of the image: the project is as it was.
    assert_eq!(after["containers"], before["containers"]);
    assert_eq!(after["drills"], serde_json::json!(["postgres:16.4-alpine"]));
    assert!(after.get("restores").is_none(), "the live database was restored");
    let metric = std::fs::read_to_string(root.path().join("textfile/drill_db.prom")).unwrap_or_default();
    assert!(
        metric.contains("fixture_backup_verify_last_success_timestamp_seconds{backup=\"db\"} "),
        "{metric}"
    );

    // A truncated backup fails its check, and records nothing.
    std::fs::remove_file(root.path().join("textfile/drill_db.prom")).unwrap_or_else(|e| panic!("{e}"));
    write(&root.path().join("backup/db/20260217T020000Z.dump"), "PGD", false);
    let out = bash(
        &deployment,
        ops::RESTORE_SCRIPT,
        &["--verify", "db", "20260217T020000Z"],
        Some(&bin),
        &[],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("db: 20260217T020000Z failed its check"), "{stderr}");
    assert!(!root.path().join("textfile/drill_db.prom").exists());

    // Restoring it for real is refused before anything is stopped.
    let out = bash(
        &deployment,
        ops::RESTORE_SCRIPT,
        &["--yes", "db", "20260217T020000Z"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("nothing was changed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(model(root.path())["containers"], before["containers"]);
}

#[test]
fn update_rewrites_the_version_in_place_and_rollback_restores_it() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_, deployment) = fixture_deployment(root.path());
    // An .env that the seed's `echo VERSION=... >> .env` left with a duplicate key.
    let env = deployment.join(".env");
    write(
        &env,
        "# kept\nVERSION=1.0.0\nDB_PASSWORD=hunter2\nVERSION=1.0.1\n",
        false,
    );
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o600)).unwrap_or_else(|e| panic!("{e}"));
    let bin = fake_bin(root.path(), &deployment);

    let out = bash(&deployment, ops::UPDATE_SCRIPT, &["1.2.0"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    assert_eq!(read(&env), "# kept\nVERSION=1.2.0\nDB_PASSWORD=hunter2\n");
    let mode = std::fs::metadata(&env)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_default();
    assert_eq!(mode, 0o600, ".env lost its mode");
    let rollback_state = read(&deployment.join(".rollback"));
    assert!(
        rollback_state.starts_with("previous_version=1.0.1\nbackup=2"),
        "{rollback_state}"
    );
    // The databases were dumped before the new version started, and it serves alone now.
    let calls = calls(root.path());
    let pos = |c: &str| calls.find(c).unwrap_or_else(|| panic!("{c} not run:\n{calls}"));
    assert!(pos("docker compose pull app") < pos("exec -T db sh -c"), "{calls}");
    assert!(
        pos("exec -T db sh -c") < pos("up -d --no-deps --no-recreate --scale app=2 app"),
        "{calls}"
    );
    let state = model(root.path());
    let app = containers(&state, "app");
    assert_eq!(app.len(), 1, "{app:?}");
    assert_eq!((app[0].0.as_str(), app[0].2.as_str()), ("example/app:1.2.0", "healthy"));
    assert_eq!(state["upstream"], serde_json::json!([app[0].3]));
    assert_eq!(
        state["violations"],
        serde_json::json!([]),
        "a moment without a healthy app"
    );
    assert!(!text(&out.stderr).contains("hunter2"));

    let out = bash(&deployment, ops::ROLLBACK_SCRIPT, &[], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(read(&env), "# kept\nVERSION=1.0.1\nDB_PASSWORD=hunter2\n");
    assert!(
        text(&out.stderr).contains("scripts/restore.sh --yes db 2"),
        "{}",
        text(&out.stderr)
    );
    let state = model(root.path());
    let app = containers(&state, "app");
    assert_eq!(
        app.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["example/app:1.0.1"]
    );
    assert_eq!(state["violations"], serde_json::json!([]));

    let same = bash(&deployment, ops::UPDATE_SCRIPT, &["1.0.1"], Some(&bin), &[]);
    assert_eq!(same.status.code(), Some(0));
    assert!(text(&same.stderr).contains("already at 1.0.1"));
    for bad in ["latest", "1.0;reboot", "-rf"] {
        assert_eq!(
            bash(&deployment, ops::UPDATE_SCRIPT, &[bad], Some(&bin), &[])
                .status
                .code(),
            Some(2),
            "{bad}"
        );
    }
}

/// An environment of `specs/` with an overlay on its effective spec, rendered into
/// `root/deploy` with an `.env` copied from `.env.example` (VERSION 1.0.0) and the backup
/// destination's credentials.
fn spec_deployment(root: &Path, env: &str, overlay: &str) -> PathBuf {
    spec_deployment_of("../specs", root, env, overlay).1
}

/// Like [`spec_deployment`], for the spec folder `specs`; with the stack deployed.
fn spec_deployment_of(specs: &str, root: &Path, env: &str, overlay: &str) -> (Stack, PathBuf) {
    let loaded = vutler_spec::load(&dir(specs), env).unwrap_or_else(|r| panic!("{r}"));
    let effective = vutler_render::yaml::to_string(&loaded.effective().unwrap_or_else(|r| panic!("{r}")).to_json())
        .unwrap_or_else(|e| panic!("{e}"));
    let files = vutler_spec::SpecFiles::new(
        env,
        vec![("effective.yaml".into(), effective)],
        Some(("overlay.yaml".into(), overlay.into())),
    );
    let stack = files.resolve().unwrap_or_else(|r| panic!("{r}")).stack;
    // The scripts write these on the host: never outside the scratch folder.
    let local = stack.backups().map(|b| &b.local_dir);
    for dir in local.into_iter().chain(stack.textfile_dir()) {
        assert!(
            Path::new(dir.as_str()).starts_with(root),
            "{dir} is outside the scratch folder"
        );
    }
    let tree = render(&stack).unwrap_or_else(|e| panic!("{e}"));
    let deployment = root.join("deploy");
    for (path, contents) in tree.iter() {
        write(&deployment.join(path), contents, tree.is_executable(path));
    }
    let example = tree.get(".env.example").unwrap_or_default();
    let credentials = match stack.backups().and_then(|b| b.credentials.as_ref()) {
        Some(c) => format!(
            "{}={SECRET_ID}\n{}={SECRET_KEY}\n",
            stack.variable(c.access_key_id).name,
            stack.variable(c.secret_access_key).name
        ),
        None => String::new(),
    };
    write(&deployment.join(".env"), &format!("{example}{credentials}"), false);
    fill_secrets(&deployment);
    (stack, deployment)
}

/// An overlay that keeps every file the scripts write on the host (backups, the textfile
/// metrics node-exporter reads) in the scratch folder.
fn scratch_overlay(root: &Path) -> String {
    let textfile = root.join("textfile").display().to_string();
    format!(
        "backups: {{ local_dir: {local}, textfile_dir: {textfile} }}\nservices:\n  node-exporter:\n    command: [--path.rootfs=/host, --collector.textfile.directory=/host{textfile}]\n",
        local = root.join("backup").display(),
    )
}

/// Production with what its scripts write kept in the scratch folder.
fn production_deployment(root: &Path) -> PathBuf {
    spec_deployment(root, "production", &scratch_overlay(root))
}

/// The images of a service's containers, and whether each is running and healthy.
fn fleet(state: &serde_json::Value, service: &str) -> Vec<String> {
    containers(state, service)
        .into_iter()
        .map(|(image, status, health, _)| format!("{image} {status} {health}"))
        .collect()
}

#[test]
fn a_production_update_rolls_three_replicas_without_downtime_and_rollback_too() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    let before = model(root.path());
    assert_eq!(
        fleet(&before, "vutler"),
        ["vutler/app:1.0.0 running healthy"; 3],
        "the scale overlay"
    );

    let out = bash(&deployment, ops::UPDATE_SCRIPT, &["1.1.0"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = model(root.path());
    assert_eq!(fleet(&state, "vutler"), ["vutler/app:1.1.0 running healthy"; 3]);
    assert_eq!(
        state["violations"],
        serde_json::json!([]),
        "a moment without a healthy app"
    );
    // NGINX was reloaded onto the new containers, and sends to exactly them now.
    let addresses: Vec<String> = containers(&state, "vutler").into_iter().map(|c| c.3).collect();
    assert_eq!(state["upstream"], serde_json::json!(addresses));
    assert!(
        state["reloads"].as_array().is_some_and(|r| r.len() >= 2),
        "{}",
        state["reloads"]
    );
    // The migrations ran with the new image, before it served.
    assert_eq!(
        state["runs"],
        serde_json::json!([{ "image": "vutler/app:1.1.0", "command": ["npm", "run", "migrate", "up"] }])
    );
    let calls = calls(root.path());
    let pos = |c: &str| calls.find(c).unwrap_or_else(|| panic!("{c} not run:\n{calls}"));
    assert!(
        pos("--scale vutler=6 vutler") < pos("exec -T nginx nginx -s reload"),
        "{calls}"
    );
    assert!(pos("exec -T nginx nginx -s reload") < pos("docker stop"), "{calls}");
    assert!(
        calls.contains("curl -fsS --max-time 10 https://vutler.example.com/api/info"),
        "{calls}"
    );
    assert!(
        std::fs::read_to_string(deployment.join(".env"))
            .unwrap_or_default()
            .contains("\nVERSION=1.1.0\n")
    );
    for secret in [SECRET_ID, SECRET_KEY] {
        assert!(
            !text(&out.stderr).contains(secret) && !calls.contains(secret),
            "{secret} printed"
        );
    }

    let out = bash(&deployment, ops::ROLLBACK_SCRIPT, &[], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = model(root.path());
    assert_eq!(fleet(&state, "vutler"), ["vutler/app:1.0.0 running healthy"; 3]);
    assert_eq!(
        state["violations"],
        serde_json::json!([]),
        "a moment without a healthy app"
    );
}

#[test]
fn a_version_that_does_not_become_healthy_leaves_the_old_one_serving() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    let out = bash(
        &deployment,
        ops::UPDATE_SCRIPT,
        &["1.1.0"],
        Some(&bin),
        &[("FAKE_UNHEALTHY", "1.1.0")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("vutler 1.1.0 did not come up; 1.0.0 still runs"),
        "{stderr}"
    );
    let state = model(root.path());
    assert_eq!(fleet(&state, "vutler"), ["vutler/app:1.0.0 running healthy"; 3]);
    assert_eq!(state["violations"], serde_json::json!([]));
    assert_eq!(
        state["reloads"],
        serde_json::json!([]),
        "NGINX never sent to the broken version"
    );
    assert!(
        std::fs::read_to_string(deployment.join(".env"))
            .unwrap_or_default()
            .contains("\nVERSION=1.0.0\n")
    );
}

#[test]
fn every_script_uses_the_scale_overlay_even_when_env_does_not_say_so() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    // An .env written before COMPOSE_FILE was in .env.example.
    let env = deployment.join(".env");
    let old: String = std::fs::read_to_string(&env)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("COMPOSE_FILE="))
        .map(|l| format!("{l}\n"))
        .collect();
    write(&env, &old, false);
    let out = bash(&deployment, ops::UPDATE_SCRIPT, &["1.1.0"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        fleet(&model(root.path()), "vutler"),
        ["vutler/app:1.1.0 running healthy"; 3]
    );
}

#[test]
fn an_update_without_the_version_in_env_changes_nothing() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    let env = deployment.join(".env");
    let lost: String = std::fs::read_to_string(&env)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("VERSION="))
        .map(|l| format!("{l}\n"))
        .collect();
    write(&env, &lost, false);
    let out = bash(&deployment, ops::UPDATE_SCRIPT, &["1.1.0"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("VERSION is not set in .env"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fleet(&model(root.path()), "vutler"),
        ["vutler/app:1.0.0 running healthy"; 3]
    );
    assert_eq!(calls(root.path()), "", "something ran");
}

#[test]
fn dev_recreates_the_app_it_cannot_run_twice_and_reloads_nginx() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The dev app publishes host ports (the debugger), so two cannot run at once.
    let deployment = spec_deployment(root.path(), "dev", &scratch_overlay(root.path()));
    let bin = fake_bin(root.path(), &deployment);
    let out = bash(&deployment, ops::UPDATE_SCRIPT, &["1.1.0"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = model(root.path());
    assert_eq!(fleet(&state, "vutler"), ["vutler/app:1.1.0 running healthy"]);
    let addresses: Vec<String> = containers(&state, "vutler").into_iter().map(|c| c.3).collect();
    assert_eq!(
        state["upstream"],
        serde_json::json!(addresses),
        "NGINX was not reloaded"
    );
    // The short interruption of a recreate (the old container gone, the new one starting), and
    // no other.
    let violations: Vec<&str> = state["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    let during = [
        "after `docker compose up -d --no-deps vutler`",
        "after `docker compose exec -T nginx nginx -s reload`",
    ];
    assert!(
        !violations.is_empty() && violations.iter().all(|v| during.iter().any(|d| v.starts_with(d))),
        "{violations:?}"
    );
}

/// The subject and the end date of a certificate, from openssl.
fn certificate_of(path: &Path) -> (String, String) {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-enddate", "-in"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = text(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{}: {text}", path.display()))
            .trim()
            .to_owned()
    };
    (field("subject="), field("notAfter="))
}

/// Seconds from now until a certificate expires.
fn expires_in(path: &Path) -> i64 {
    let (_, end) = certificate_of(path);
    let out = Command::new("date")
        .args(["-u", "-d", &end, "+%s"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let at: i64 = text(&out.stdout).trim().parse().unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    at - now
}

/// The value the certificate metric records, in seconds from now.
fn recorded_in(root: &Path) -> i64 {
    let metric = std::fs::read_to_string(root.join("textfile/tls_certificate.prom")).unwrap_or_default();
    let sample = metric.lines().last().unwrap_or_default();
    let value: i64 = sample
        .strip_prefix("vutler_tls_certificate_expiry_timestamp_seconds{domain=\"vutler.example.com\"} ")
        .unwrap_or_else(|| panic!("{metric}"))
        .parse()
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    value - now
}

const DAY: i64 = 86_400;

#[test]
fn lets_encrypt_certificates_are_obtained_renewed_installed_and_recorded() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    let env = deployment.join(".env");
    let filled = std::fs::read_to_string(&env)
        .unwrap_or_default()
        .replace("\nACME_EMAIL=\n", "\nACME_EMAIL=ops@example.com\n");
    write(&env, &filled, false);
    let bin = fake_bin(root.path(), &deployment);
    let cert = deployment.join("nginx/ssl/fullchain.pem");
    let key = deployment.join("nginx/ssl/privkey.pem");
    let reloads = |root: &Path| model(root)["reloads"].as_array().map_or(0, Vec::len);

    let out = bash(&deployment, ops::CERTIFICATES_SCRIPT, &["obtain"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(certificate_of(&cert).0, "CN = vutler.example.com");
    assert!(
        (89 * DAY..=90 * DAY).contains(&expires_in(&cert)),
        "{}",
        expires_in(&cert)
    );
    let mode = std::fs::metadata(&key)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_default();
    assert_eq!(mode, 0o600, "the key is readable by others");
    assert!((89 * DAY..=90 * DAY).contains(&recorded_in(root.path())));
    assert_eq!(reloads(root.path()), 1, "NGINX reloaded with the certificate");
    let state = model(root.path());
    let certonly = state["certbot"][0].as_array().cloned().unwrap_or_default();
    for word in [
        "certonly",
        "--webroot",
        "vutler.example.com",
        "ops@example.com",
        "--agree-tos",
    ] {
        assert!(certonly.iter().any(|w| w == word), "{word} missing: {certonly:?}");
    }
    // certbot wrote into the folder NGINX serves the challenges from, and its own state folder.
    let calls = calls(root.path());
    let run = calls.lines().find(|l| l.starts_with("docker run")).unwrap_or_default();
    assert!(
        run.contains(&format!("-v {}/certbot/www:/var/www/certbot", deployment.display())),
        "{run}"
    );
    assert!(
        run.contains(&format!("-v {}/certbot/conf:/etc/letsencrypt", deployment.display())),
        "{run}"
    );

    // Valid for 90 days: nothing to renew, NGINX left alone.
    let out = bash(&deployment, ops::CERTIFICATES_SCRIPT, &["renew"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("valid for more than 30 days"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(model(root.path())["certbot"].as_array().map_or(0, Vec::len), 1);
    assert_eq!(reloads(root.path()), 1);

    // Five days left (as after a renewal that did not happen): renewed, installed, reloaded.
    let live = deployment.join("certbot/conf/live/vutler.example.com");
    let short = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-newkey",
            "rsa:2048",
            "-days",
            "5",
            "-subj",
            "/CN=vutler.example.com",
        ])
        .arg("-keyout")
        .arg(live.join("privkey.pem"))
        .arg("-out")
        .arg(live.join("fullchain.pem"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(short.status.success());
    std::fs::copy(live.join("fullchain.pem"), &cert).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(live.join("privkey.pem"), &key).unwrap_or_else(|e| panic!("{e}"));
    let out = bash(&deployment, ops::CERTIFICATES_SCRIPT, &["renew"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("was renewed"), "{}", text(&out.stderr));
    assert!(
        expires_in(&cert) > 89 * DAY,
        "the renewed certificate was not installed"
    );
    assert!(recorded_in(root.path()) > 89 * DAY);
    assert_eq!(reloads(root.path()), 2);
    // And cron runs the renewal.
    let cron = std::fs::read_to_string(deployment.join("cron/vutler")).unwrap_or_default();
    assert!(
        cron.contains(" root /opt/vutler/scripts/certificates.sh renew >>"),
        "{cron}"
    );
}

#[test]
fn the_first_obtain_writes_a_placeholder_so_that_nginx_can_start() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    let env = deployment.join(".env");
    let filled = std::fs::read_to_string(&env)
        .unwrap_or_default()
        .replace("\nACME_EMAIL=\n", "\nACME_EMAIL=ops@example.com\n");
    write(&env, &filled, false);
    let bin = fake_bin(root.path(), &deployment);
    let stop = Command::new(bin.join("docker"))
        .args(["compose", "stop", "nginx"])
        .current_dir(&deployment)
        .env("FAKE_DOCKER_DIR", root.path().join("docker"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stop.status.success());
    let out = bash(&deployment, ops::CERTIFICATES_SCRIPT, &["obtain"], Some(&bin), &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("start the stack (docker compose up -d), then run"),
        "{stderr}"
    );
    let cert = deployment.join("nginx/ssl/fullchain.pem");
    assert!(expires_in(&cert) <= DAY, "a placeholder of a day");
    assert_eq!(
        model(root.path())["certbot"],
        serde_json::json!([]),
        "certbot ran without the proxy"
    );
    let out = bash(&deployment, ops::CERTIFICATES_SCRIPT, &["status"], Some(&bin), &[]);
    assert!(
        text(&out.stdout).contains("fullchain.pem expires "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn dev_makes_its_own_self_signed_certificate() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = spec_deployment(root.path(), "dev", &scratch_overlay(root.path()));
    let bin = fake_bin(root.path(), &deployment);
    let out = bash(&deployment, ops::CERTIFICATES_SCRIPT, &["obtain"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cert = deployment.join("nginx/ssl/fullchain.pem");
    assert_eq!(certificate_of(&cert).0, "CN = vutler.localhost");
    assert!((364 * DAY..=365 * DAY).contains(&expires_in(&cert)));
    assert_eq!(model(root.path())["reloads"].as_array().map_or(0, Vec::len), 1);
    assert_eq!(
        model(root.path())["certbot"],
        serde_json::json!([]),
        "no ACME client in dev"
    );
    let out = bash(&deployment, ops::CERTIFICATES_SCRIPT, &["renew"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("valid for more than 30 days"));
}

/// Runs a script like [`bash`], with `input` on its standard input.
fn bash_input(deployment: &Path, script: &str, args: &[&str], bin: &Path, input: &str) -> Output {
    use std::io::Write;
    let path = std::env::var("PATH").unwrap_or_default();
    let mut child = Command::new("bash")
        .arg(deployment.join(script))
        .args(args)
        .current_dir("/")
        .env("PATH", format!("{}:{path}", bin.display()))
        .env(
            "FAKE_DOCKER_DIR",
            bin.parent().map(|r| r.join("docker")).unwrap_or_default(),
        )
        .env_remove("VERSION")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of `KEY=` in a deployment's `.env`.
fn env_value(deployment: &Path, key: &str) -> String {
    read(&deployment.join(".env"))
        .lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .unwrap_or_default()
        .to_owned()
}

/// Sets `KEY=value` in a deployment's `.env`, as an operator editing it would.
fn set_env(deployment: &Path, key: &str, value: &str) {
    let path = deployment.join(".env");
    let mut env: String = read(&path)
        .lines()
        .filter(|l| !l.starts_with(&format!("{key}=")))
        .map(|l| format!("{l}\n"))
        .collect();
    env.push_str(&format!("{key}={value}\n"));
    std::fs::write(&path, env).unwrap_or_else(|e| panic!("{e}"));
}

/// The secrets production owns (generated by `secrets.sh init`), with their files.
const OWNED: [(&str, &str); 5] = [
    ("POSTGRES_PASSWORD", "postgres_password"),
    ("MONGO_PASSWORD", "mongo_password"),
    ("MINIO_ACCESS_KEY", "minio_access_key"),
    ("MINIO_SECRET_KEY", "minio_secret_key"),
    ("GRAFANA_PASSWORD", "grafana_password"),
];

/// A production deployment as a new operator starts it: rendered, no `.env` and no secrets;
/// `secrets.sh init`, the secrets from elsewhere written by hand.
fn production_initialized(root: &Path) -> PathBuf {
    let deployment = production_deployment(root);
    std::fs::remove_file(deployment.join(".env")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(deployment.join("secrets")).unwrap_or_else(|e| panic!("{e}"));
    let out = bash(&deployment, SECRETS_SCRIPT, &["init"], None, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    set_env(&deployment, "SNIPARA_API_KEY", "snipara-key-from-the-vendor");
    set_env(&deployment, "BACKUP_S3_ACCESS_KEY_ID", SECRET_ID);
    set_env(&deployment, "BACKUP_S3_SECRET_ACCESS_KEY", SECRET_KEY);
    for (file, value) in [
        ("slack_webhook_url", "https://hooks.slack.com/services/T0/B0/first"),
        ("pagerduty_routing_key", "pagerduty-key-first"),
    ] {
        write(&deployment.join("secrets").join(file), value, false);
    }
    deployment
}

/// Who logs in to whom in production, with which variable (the app's URL carries its password).
fn production_logins() -> serde_json::Value {
    serde_json::json!([
        { "client": "vutler", "key": "POSTGRES_PASSWORD", "server": "postgres" },
        { "client": "vutler", "key": "MONGO_URL", "server": "mongo" },
        { "client": "vutler", "key": "MINIO_SECRET_KEY", "server": "minio" },
        { "client": "postgres-exporter", "key": "DATA_SOURCE_PASS", "server": "postgres" },
    ])
}

/// The container ids of every service.
fn ids(state: &serde_json::Value) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in state["containers"].as_array().into_iter().flatten() {
        let service = c["service"].as_str().unwrap_or_default().to_owned();
        out.entry(service)
            .or_default()
            .push(c["id"].as_str().unwrap_or_default().to_owned());
    }
    out
}

/// The services whose containers are not those of `before`.
fn recreated(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    let (before, after) = (ids(before), ids(after));
    after
        .iter()
        .filter(|(service, now)| before.get(*service) != Some(now))
        .map(|(service, _)| service.clone())
        .collect()
}

#[test]
fn secrets_init_gives_what_the_stack_owns_one_value_and_check_finds_every_gap() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    std::fs::remove_file(deployment.join(".env")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(deployment.join("secrets")).unwrap_or_else(|e| panic!("{e}"));
    let secrets = deployment.join("secrets");

    let out = bash(&deployment, SECRETS_SCRIPT, &["init"], None, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("created .env from .env.example"), "{stderr}");
    assert!(
        stderr.contains("SNIPARA_API_KEY (Snipara API key) is yours to set: write it in .env"),
        "{stderr}"
    );
    assert!(
        stderr.contains("SLACK_WEBHOOK_URL (Slack incoming webhook that receives alerts) is yours to set: scripts/secrets.sh rotate SLACK_WEBHOOK_URL"),
        "{stderr}"
    );
    assert_eq!(mode(&deployment.join(".env")), 0o600);
    assert_eq!(mode(&secrets), 0o700);
    let mut values = Vec::new();
    for (name, file) in OWNED {
        let value = read(&secrets.join(file));
        assert!(
            value.len() == 32 && value.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}: {} characters",
            value.len()
        );
        // Grafana reads its password from its file only; the others are in .env too.
        let in_env = env_value(&deployment, name);
        if name == "GRAFANA_PASSWORD" {
            assert_eq!(in_env, "", "{name} in .env");
        } else {
            assert_eq!(in_env, value, "{name}: .env and its file differ");
        }
        assert!(
            !stderr.contains(&value) && !text(&out.stdout).contains(&value),
            "{name} printed"
        );
        values.push(value);
    }
    values.sort();
    values.dedup();
    assert_eq!(values.len(), OWNED.len(), "two secrets share a value");

    // Nothing that is set is ever replaced.
    let snapshot = |d: &Path| {
        let mut files: Vec<(String, String)> = std::fs::read_dir(d.join("secrets"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), read(&e.path())))
            .collect();
        files.sort();
        (read(&d.join(".env")), files)
    };
    let before = snapshot(&deployment);
    let again = bash(&deployment, SECRETS_SCRIPT, &["init"], None, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(snapshot(&deployment), before, "a second init changed something");

    let check = bash(&deployment, SECRETS_SCRIPT, &["check"], None, &[]);
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    for gap in [
        "SNIPARA_API_KEY (Snipara API key) is not set: write it in .env",
        "SLACK_WEBHOOK_URL (Slack incoming webhook that receives alerts) is not set: scripts/secrets.sh rotate SLACK_WEBHOOK_URL",
        "PAGERDUTY_ROUTING_KEY",
        "BACKUP_S3_ACCESS_KEY_ID",
        "BACKUP_S3_SECRET_ACCESS_KEY",
        "5 problem(s)",
    ] {
        assert!(stderr.contains(gap), "{gap}:\n{stderr}");
    }
    assert!(
        !stderr.contains("SMTP_PASSWORD"),
        "the optional SMTP password is not a gap:\n{stderr}"
    );

    set_env(&deployment, "SNIPARA_API_KEY", "snipara-key-from-the-vendor");
    set_env(&deployment, "BACKUP_S3_ACCESS_KEY_ID", SECRET_ID);
    set_env(&deployment, "BACKUP_S3_SECRET_ACCESS_KEY", SECRET_KEY);
    write(
        &secrets.join("slack_webhook_url"),
        "https://hooks.slack.com/services/T0/B0/x",
        false,
    );
    write(&secrets.join("pagerduty_routing_key"), "<pagerduty-routing-key>", false);
    let check = bash(&deployment, SECRETS_SCRIPT, &["check"], None, &[]);
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("PAGERDUTY_ROUTING_KEY still holds the example's placeholder"),
        "{stderr}"
    );
    write(&secrets.join("pagerduty_routing_key"), "pagerduty-key", false);
    let check = bash(&deployment, SECRETS_SCRIPT, &["check"], None, &[]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert!(text(&check.stderr).contains("every secret is set, once"));

    // A copy that disagrees is found, named, never printed, and init does not paper over it.
    let postgres = secrets.join("postgres_password");
    let real = read(&postgres);
    write(&postgres, "typed-by-hand", false);
    let check = bash(&deployment, SECRETS_SCRIPT, &["check"], None, &[]);
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("secrets/postgres_password differs from POSTGRES_PASSWORD in .env"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&real) && !stderr.contains("typed-by-hand"),
        "a value printed"
    );
    let init = bash(&deployment, SECRETS_SCRIPT, &["init"], None, &[]);
    assert_eq!(init.status.code(), Some(1), "{}", text(&init.stderr));
    assert_eq!(read(&postgres), "typed-by-hand", "init replaced a set secret");

    // A deployment from before `.env` held the password: the file's value is adopted.
    write(&postgres, &real, false);
    set_env(&deployment, "POSTGRES_PASSWORD", "");
    let init = bash(&deployment, SECRETS_SCRIPT, &["init"], None, &[]);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr));
    assert_eq!(env_value(&deployment, "POSTGRES_PASSWORD"), real);

    // A value Compose would read differently from the script: `$` is interpolated.
    let snipara = env_value(&deployment, "SNIPARA_API_KEY");
    set_env(&deployment, "SNIPARA_API_KEY", "key$with-dollar");
    let check = bash(&deployment, SECRETS_SCRIPT, &["check"], None, &[]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stderr).contains("SNIPARA_API_KEY holds a $, which Compose reads as a variable"),
        "{}",
        text(&check.stderr)
    );
    set_env(&deployment, "SNIPARA_API_KEY", "'key$with-dollar'");
    assert_eq!(
        bash(&deployment, SECRETS_SCRIPT, &["check"], None, &[]).status.code(),
        Some(0)
    );
    set_env(&deployment, "SNIPARA_API_KEY", &snipara);

    // A secret rotated long ago is due (seed 3.1: 90 days).
    write(&secrets.join(".rotated"), "GRAFANA_PASSWORD=86400\n", false);
    let status = text(&bash(&deployment, SECRETS_SCRIPT, &["status"], None, &[]).stdout);
    let grafana = status
        .lines()
        .find(|l| l.starts_with("GRAFANA_PASSWORD\t"))
        .unwrap_or_default();
    assert!(
        grafana.contains("\trotated 1970-01-02 (") && grafana.ends_with(" days ago), due"),
        "{grafana}"
    );
    let postgres_line = status
        .lines()
        .find(|l| l.starts_with("POSTGRES_PASSWORD\t"))
        .unwrap_or_default();
    assert!(postgres_line.ends_with("\trotated never"), "{postgres_line}");

    std::fs::set_permissions(deployment.join(".env"), std::fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("{e}"));
    let check = bash(&deployment, SECRETS_SCRIPT, &["check"], None, &[]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stderr).contains(".env can be read by other users (mode 644): chmod 600 .env"),
        "{}",
        text(&check.stderr)
    );
}

#[test]
fn rotating_a_database_password_changes_it_in_the_server_then_everywhere_without_downtime() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_initialized(root.path());
    let bin = fake_bin_with(root.path(), &deployment, production_logins());
    let before = model(root.path());
    let old = env_value(&deployment, "POSTGRES_PASSWORD");
    assert_eq!(before["servers"]["postgres"]["password"], serde_json::json!(old));
    assert_eq!(
        fleet(&before, "vutler"),
        ["vutler/app:1.0.0 running healthy"; 3],
        "the app logs in"
    );

    let out = bash(
        &deployment,
        SECRETS_SCRIPT,
        &["rotate", "POSTGRES_PASSWORD"],
        Some(&bin),
        &[],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let state = model(root.path());
    let new = env_value(&deployment, "POSTGRES_PASSWORD");
    assert!(new.len() == 32 && new != old, "not rotated");
    assert_eq!(read(&deployment.join("secrets/postgres_password")), new, "the file");
    assert_eq!(
        state["servers"]["postgres"]["password"],
        serde_json::json!(new),
        "the server"
    );
    assert_eq!(state["password_changes"], serde_json::json!(["postgres"]));
    // Exactly the services that read it were recreated, and every new container has it.
    assert_eq!(recreated(&before, &state), ["postgres", "postgres-exporter", "vutler"]);
    assert_eq!(fleet(&state, "vutler"), ["vutler/app:1.0.0 running healthy"; 3]);
    for c in state["containers"].as_array().into_iter().flatten() {
        let env = &c["env"];
        let has = match c["service"].as_str() {
            Some("vutler") => env["POSTGRES_PASSWORD"].as_str().map(str::to_owned),
            Some("postgres-exporter") => c["secrets"]["/run/secrets/postgres_password"]
                .as_str()
                .map(str::to_owned),
            _ => continue,
        };
        assert_eq!(has.as_deref(), Some(new.as_str()), "{c}");
        assert!(c.get("login_failed").is_none(), "{c}");
    }
    assert_eq!(
        state["violations"],
        serde_json::json!([]),
        "a moment without a healthy app"
    );
    // In order: the change in the server, the clients in the order they start, then the server
    // itself, so that every client it disconnects logs in again with the new password.
    assert_eq!(state["lockouts"], serde_json::json!([]), "a client locked out");
    let calls = calls(root.path());
    let pos = |c: &str| calls.find(c).unwrap_or_else(|| panic!("{c} not run:\n{calls}"));
    assert!(
        pos("exec -T postgres sh -c") < pos("--scale vutler=6 vutler"),
        "{calls}"
    );
    assert!(
        pos("--scale vutler=6 vutler") < pos("--force-recreate postgres-exporter"),
        "{calls}"
    );
    assert!(
        pos("--force-recreate postgres-exporter") < pos("--force-recreate postgres\n"),
        "{calls}"
    );
    for secret in [&old, &new] {
        assert!(
            !stderr.contains(secret.as_str())
                && !text(&out.stdout).contains(secret.as_str())
                && !calls.contains(secret.as_str()),
            "a password was printed or passed as an argument"
        );
    }
    assert!(!deployment.join("secrets/.pending-POSTGRES_PASSWORD").exists());
    // When each secret was rotated, for the SecretRotationDue alert: those init saw set, and
    // the one rotated; those set by hand since count from the next passing check.
    let metrics = || read(&root.path().join("textfile/secrets.prom"));
    let recorded = |m: &str, name: &str| {
        m.lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "vutler_secret_rotated_timestamp_seconds{{secret=\"{name}\"}} "
                ))
            })
            .and_then(|v| v.parse::<i64>().ok())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let m = metrics();
    assert!(m.starts_with("# HELP vutler_secret_rotated_timestamp_seconds "), "{m}");
    for name in ["POSTGRES_PASSWORD", "GRAFANA_PASSWORD"] {
        assert!(
            recorded(&m, name).is_some_and(|t| (now - t).abs() < 600),
            "{name}:\n{m}"
        );
    }
    assert_eq!(recorded(&m, "SNIPARA_API_KEY"), None, "{m}");
    assert_eq!(
        bash(&deployment, SECRETS_SCRIPT, &["check"], None, &[]).status.code(),
        Some(0)
    );
    assert!(recorded(&metrics(), "SNIPARA_API_KEY").is_some(), "{}", metrics());
    let status = bash(&deployment, SECRETS_SCRIPT, &["status"], Some(&bin), &[]);
    let line = text(&status.stdout)
        .lines()
        .find(|l| l.starts_with("POSTGRES_PASSWORD\t"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        line.contains(
            "\tset\t.env+secrets/postgres_password\tgenerated\tread by postgres,vutler,postgres-exporter\trotated 20"
        ) && line.ends_with("(0 days ago)"),
        "{line}"
    );

    // MongoDB: changed by logging in with the password it replaces; the app's URL carries it.
    let before = state;
    let out = bash(
        &deployment,
        SECRETS_SCRIPT,
        &["rotate", "MONGO_PASSWORD"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = model(root.path());
    let mongo = env_value(&deployment, "MONGO_PASSWORD");
    assert_eq!(state["servers"]["mongo"]["password"], serde_json::json!(mongo));
    assert_eq!(recreated(&before, &state), ["mongo", "vutler"]);
    assert_eq!(fleet(&state, "vutler"), ["vutler/app:1.0.0 running healthy"; 3]);
    assert_eq!(state["violations"], serde_json::json!([]));
    assert_eq!(state["lockouts"], serde_json::json!([]), "a client locked out");

    // A value exported in the shell would win over .env in every new container: refused.
    let out = bash(
        &deployment,
        SECRETS_SCRIPT,
        &["rotate", "POSTGRES_PASSWORD"],
        Some(&bin),
        &[("POSTGRES_PASSWORD", "exported")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("POSTGRES_PASSWORD is set in this shell's environment"),
        "{}",
        text(&out.stderr)
    );

    // A fresh .env next to servers that already keep their passwords: init generates none
    // (they would lock every client out), and says which.
    std::fs::remove_file(deployment.join(".env")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(deployment.join("secrets")).unwrap_or_else(|e| panic!("{e}"));
    let out = bash(&deployment, SECRETS_SCRIPT, &["init"], Some(&bin), &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (name, volume) in [
        ("POSTGRES_PASSWORD", "postgres-data"),
        ("MONGO_PASSWORD", "mongo-data"),
        ("GRAFANA_PASSWORD", "grafana-data"),
    ] {
        assert!(
            stderr.contains(&format!("error: {name} is not set, but the {volume} volume exists")),
            "{name}:\n{stderr}"
        );
        assert_eq!(env_value(&deployment, name), "", "{name} generated");
    }
    // MinIO reads its credentials at each start: new ones are fine.
    assert_eq!(env_value(&deployment, "MINIO_SECRET_KEY").len(), 32);
}

#[test]
fn rotations_restart_servers_that_read_at_start_take_outside_secrets_on_stdin_and_refuse_safely() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_initialized(root.path());
    let bin = fake_bin_with(root.path(), &deployment, production_logins());

    // MinIO reads its root credentials when it starts: recreating it is the change.
    let before = model(root.path());
    let out = bash(
        &deployment,
        SECRETS_SCRIPT,
        &["rotate", "MINIO_SECRET_KEY"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = model(root.path());
    assert_eq!(
        state["servers"]["minio"]["password"],
        serde_json::json!(env_value(&deployment, "MINIO_SECRET_KEY"))
    );
    assert_eq!(state["password_changes"], serde_json::json!([]));
    assert_eq!(recreated(&before, &state), ["minio", "vutler"]);
    assert_eq!(fleet(&state, "vutler"), ["vutler/app:1.0.0 running healthy"; 3]);
    // MinIO has one root user: until they are replaced, the app's old containers cannot reach
    // it (and only they).
    let old_app: Vec<String> = ids(&before).get("vutler").cloned().unwrap_or_default();
    let locked: Vec<String> = state["lockouts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str()?.split(' ').next().map(str::to_owned))
        .collect();
    assert_eq!(locked, old_app, "{}", state["lockouts"]);

    // A secret from elsewhere: its new value on standard input, into its file only.
    let before = state;
    let hook = "https://hooks.slack.com/services/T0/B0/second";
    let out = bash_input(
        &deployment,
        SECRETS_SCRIPT,
        &["rotate", "SLACK_WEBHOOK_URL"],
        &bin,
        &format!("{hook}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(read(&deployment.join("secrets/slack_webhook_url")), hook);
    let state = model(root.path());
    assert_eq!(recreated(&before, &state), ["alertmanager"]);
    assert!(!text(&out.stderr).contains(hook), "printed");
    let without = bash(
        &deployment,
        SECRETS_SCRIPT,
        &["rotate", "SLACK_WEBHOOK_URL"],
        Some(&bin),
        &[],
    );
    assert_eq!(without.status.code(), Some(1), "{}", text(&without.stderr));

    // A server that does not run, or refuses: nothing changes and nothing is left behind.
    let env_before = read(&deployment.join(".env"));
    let mut stopped = model(root.path());
    for c in stopped["containers"].as_array_mut().into_iter().flatten() {
        if c["service"] == "postgres" {
            c["status"] = serde_json::json!("exited");
        }
    }
    write(&root.path().join("docker/state.json"), &stopped.to_string(), false);
    let out = bash(
        &deployment,
        SECRETS_SCRIPT,
        &["rotate", "POSTGRES_PASSWORD"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("postgres keeps POSTGRES_PASSWORD and does not run: start it first"),
        "{}",
        text(&out.stderr)
    );
    let mut wrong = model(root.path());
    wrong["servers"]["mongo"]["password"] = serde_json::json!("changed-by-someone-else");
    write(&root.path().join("docker/state.json"), &wrong.to_string(), false);
    let out = bash(
        &deployment,
        SECRETS_SCRIPT,
        &["rotate", "MONGO_PASSWORD"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("mongo refused the new MONGO_PASSWORD; nothing was changed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(read(&deployment.join(".env")), env_before, ".env changed");
    let pending: Vec<_> = std::fs::read_dir(deployment.join("secrets"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".pending"))
        .collect();
    assert!(pending.is_empty(), "{pending:?}");

    // A dry run says what it would do, and does nothing.
    let before = model(root.path());
    let out = bash(
        &deployment,
        SECRETS_SCRIPT,
        &["--dry-run", "rotate", "GRAFANA_PASSWORD"],
        Some(&bin),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("+ docker compose exec -T grafana ... (the new grafana on standard input)"),
        "{stdout}"
    );
    assert!(stdout.contains("+ write secrets/grafana_password"), "{stdout}");
    assert!(
        stdout.contains("+ docker compose up -d --no-deps --force-recreate grafana"),
        "{stdout}"
    );
    assert_eq!(model(root.path())["containers"], before["containers"]);
    assert_eq!(read(&deployment.join(".env")), env_before);
    assert_eq!(
        bash(
            &deployment,
            SECRETS_SCRIPT,
            &["rotate", "NOT_A_SECRET"],
            Some(&bin),
            &[]
        )
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn scaling_moves_nginx_onto_exactly_the_containers_that_run() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    let addresses = |state: &serde_json::Value| -> Vec<String> {
        containers(state, "vutler")
            .into_iter()
            .filter(|c| c.1 == "running")
            .map(|c| c.3)
            .collect()
    };

    let out = bash(&deployment, ops::SCALE_SCRIPT, &["5"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = model(root.path());
    assert_eq!(fleet(&state, "vutler"), ["vutler/app:1.0.0 running healthy"; 5]);
    assert_eq!(
        state["upstream"],
        serde_json::json!(addresses(&state)),
        "NGINX not on all five"
    );
    assert_eq!(state["violations"], serde_json::json!([]));

    write(&root.path().join("docker/calls.log"), "", false);
    let out = bash(&deployment, ops::SCALE_SCRIPT, &["2"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = model(root.path());
    assert_eq!(fleet(&state, "vutler"), ["vutler/app:1.0.0 running healthy"; 2]);
    assert_eq!(
        state["upstream"],
        serde_json::json!(addresses(&state)),
        "NGINX still sends to removed ones"
    );
    assert_eq!(state["violations"], serde_json::json!([]));
    // The leaving containers were out of NGINX before Compose removed them.
    let calls = calls(root.path());
    let pos = |c: &str| calls.find(c).unwrap_or_else(|| panic!("{c} not run:\n{calls}"));
    assert!(pos("docker stop") < pos("nginx -s reload"), "{calls}");
    assert!(pos("nginx -s reload") < pos("--scale vutler=2 vutler"), "{calls}");
    let kept: Vec<u64> = state["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["service"] == "vutler")
        .filter_map(|c| c["number"].as_u64())
        .collect();
    assert_eq!(kept, [1, 2], "Compose keeps the lowest numbers");

    let same = bash(&deployment, ops::SCALE_SCRIPT, &["2"], Some(&bin), &[]);
    assert!(text(&same.stderr).contains("already runs 2 containers"));
    for bad in ["0", "-1", "two", "1000"] {
        assert_eq!(
            bash(&deployment, ops::SCALE_SCRIPT, &[bad], Some(&bin), &[])
                .status
                .code(),
            Some(2),
            "{bad}"
        );
    }
}

#[test]
fn an_app_that_cannot_run_twice_is_not_scaled() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = spec_deployment(root.path(), "dev", &scratch_overlay(root.path()));
    let bin = fake_bin(root.path(), &deployment);
    let out = bash(&deployment, ops::SCALE_SCRIPT, &["2"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("vutler publishes host port 3000, so it runs one container"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(calls(root.path()), "", "something ran");
}

#[test]
fn one_script_changes_a_deployment_at_a_time() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let deployment = production_deployment(root.path());
    let bin = fake_bin(root.path(), &deployment);
    // Another script holds the lock (a real sleep, not the stand-in's).
    // `-o`: flock itself holds the lock, so that killing it releases the lock.
    let mut holder = Command::new("flock")
        .arg("-o")
        .arg(deployment.join(".vutler.lock"))
        .args(["/bin/sleep", "30"])
        .spawn()
        .unwrap_or_else(|e| panic!("flock: {e}"));
    let held = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        !Command::new("flock")
            .args(["-n", &deployment.join(".vutler.lock").display().to_string(), "true"])
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(held, "the holder did not take the lock");
    for (script, args) in [
        (ops::UPDATE_SCRIPT, vec!["1.1.0"]),
        (ops::SCALE_SCRIPT, vec!["4"]),
        (SECRETS_SCRIPT, vec!["rotate", "POSTGRES_PASSWORD"]),
    ] {
        let out = bash(&deployment, script, &args, Some(&bin), &[("VUTLER_LOCK_WAIT", "1")]);
        assert_eq!(out.status.code(), Some(1), "{script}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("another script of this deployment still runs after 1s"),
            "{script}: {}",
            text(&out.stderr)
        );
    }
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(
        fleet(&model(root.path()), "vutler"),
        ["vutler/app:1.0.0 running healthy"; 3],
        "something changed while another script held the lock"
    );
    // update.sh runs backup.sh under its own lock.
    let out = bash(
        &deployment,
        ops::UPDATE_SCRIPT,
        &["1.1.0"],
        Some(&bin),
        &[("VUTLER_LOCK_WAIT", "1")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A worker that runs the app's image (its `tag_variable` is the app's) is updated with the app,
/// once the app runs the new version, and rolled back with it.
#[test]
fn update_and_rollback_take_the_workers_of_the_app_image_along() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let overlay = format!(
        "{}  worker:\n    image: vutler/app:1.0.0\n    tag_variable: VERSION\n    command: [node, worker.js]\n    environment: {{ POSTGRES_PASSWORD: {{ secret: POSTGRES_PASSWORD }} }}\n    depends_on: [postgres]\n    resources: {{ cpus: 0.25, memory: 256MB, disk: 100MB }}\n",
        scratch_overlay(root.path())
    );
    let deployment = spec_deployment(root.path(), "production", &overlay);
    let update = std::fs::read_to_string(deployment.join(ops::UPDATE_SCRIPT)).unwrap_or_default();
    assert!(
        update.contains("recreates worker (their image follows VERSION too)"),
        "{update}"
    );
    let bin = fake_bin(root.path(), &deployment);

    let out = bash(&deployment, ops::UPDATE_SCRIPT, &["1.2.0"], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = model(root.path());
    let images = |service: &str| -> Vec<String> { containers(&state, service).into_iter().map(|c| c.0).collect() };
    assert_eq!(images("worker"), ["vutler/app:1.2.0"], "{state}");
    assert!(images("vutler").iter().all(|i| i == "vutler/app:1.2.0"), "{state}");
    let calls = calls(root.path());
    let pos = |c: &str| calls.find(c).unwrap_or_else(|| panic!("{c} not run:\n{calls}"));
    assert!(
        pos("docker compose pull vutler worker") < pos("--scale vutler="),
        "{calls}"
    );
    assert!(
        pos("--scale vutler=") < pos("up -d --no-deps worker"),
        "the app first:\n{calls}"
    );

    let out = bash(&deployment, ops::ROLLBACK_SCRIPT, &[], Some(&bin), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = model(root.path());
    let worker: Vec<String> = containers(&state, "worker").into_iter().map(|c| c.0).collect();
    assert_eq!(worker, ["vutler/app:1.0.0"], "{state}");
}

/// The scripts of the stacks of other shapes (`xtask/stacks/`) do to them what they do to the
/// Vutler stack, against the stand-in's model: the stack comes up healthy; where the app's
/// version is a variable, `update.sh` rolls the app (and what follows its version) to a new
/// version, with a healthy container behind NGINX at every moment where the app can run twice
/// (else it is recreated in place: the Git server publishes SSH), and `rollback.sh` returns;
/// `scale.sh` moves NGINX onto exactly the containers that run, and back (or refuses an app
/// that cannot run twice).
#[test]
fn the_scripts_of_other_stacks_update_roll_back_and_scale_them() {
    for name in ["git-server", "vutler-next", "toml-docker-secrets", "minimal", "vault"] {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let specs = format!("../xtask/stacks/{name}");
        // What the scripts write on the host goes to the scratch folder.
        let plain = stack(&specs, "production");
        let mut overlay = String::new();
        if plain.backups().is_some() {
            overlay.push_str(&format!(
                "backups: {{ local_dir: {} }}\n",
                root.path().join("backup").display()
            ));
        }
        if plain.textfile_dir().is_some() {
            overlay = scratch_overlay(root.path());
        }
        let (stack, deployment) = spec_deployment_of(&specs, root.path(), "production", &overlay);
        let tree = render(&stack).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bin = fake_bin(root.path(), &deployment);
        let (app, _) = app_and_proxy(&deployment);
        let app_service = stack.service_named(&app).unwrap_or_else(|| panic!("{name}: no {app}"));
        let healthy = if app_service.healthcheck.is_some() {
            "healthy"
        } else {
            "none"
        };
        let image = app_service.image.to_string();
        // The replicas the model plans (the scale-out plan included).
        let planned = vutler_render::Runtime::new(&stack)
            .container(app_service.id)
            .max_replicas() as usize;
        let fleet_of = |image: &str| vec![format!("{image} running {healthy}"); planned];
        let running = |state: &serde_json::Value, service: &str| -> Vec<String> {
            containers(state, service)
                .into_iter()
                .filter(|c| c.1 == "running")
                .map(|c| c.3)
                .collect()
        };
        let state = model(root.path());
        let rolling = app_service.container_name.is_none() && app_service.ports.iter().all(|p| p.published.is_none());
        assert_eq!(fleet(&state, &app), fleet_of(&image), "{name}: {state}");

        match stack.operations().app_version {
            Some(variable) => {
                let variable = stack.variable(variable).name.to_string();
                let next = "99.1.0";
                let new_image = format!("{}:{next}", app_service.image.repo());
                let out = bash(&deployment, ops::UPDATE_SCRIPT, &[next], Some(&bin), &[]);
                assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
                let state = model(root.path());
                assert_eq!(fleet(&state, &app), fleet_of(&new_image), "{name}: {state}");
                if rolling {
                    assert_eq!(
                        state["violations"],
                        serde_json::json!([]),
                        "{name}: a moment without a healthy app"
                    );
                }
                assert_eq!(state["upstream"], serde_json::json!(running(&state, &app)), "{name}");
                // What follows the app's version follows it.
                for follower in stack
                    .services()
                    .iter()
                    .filter(|s| s.name != app.as_str() && s.tag_variable == stack.operations().app_version)
                {
                    let images: Vec<String> = containers(&state, &follower.name).into_iter().map(|c| c.0).collect();
                    assert_eq!(images, std::slice::from_ref(&new_image), "{name}: {}", follower.name);
                }
                let env = std::fs::read_to_string(deployment.join(".env")).unwrap_or_default();
                assert!(env.contains(&format!("\n{variable}={next}\n")), "{name}: {env}");

                let out = bash(&deployment, ops::ROLLBACK_SCRIPT, &[], Some(&bin), &[]);
                assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
                let state = model(root.path());
                assert_eq!(fleet(&state, &app), fleet_of(&image), "{name}: {state}");
                assert_eq!(state["upstream"], serde_json::json!(running(&state, &app)), "{name}");
                if rolling {
                    assert_eq!(state["violations"], serde_json::json!([]), "{name}");
                }
            }
            None => {
                // The version is the spec's image tag: nothing to update through a variable.
                assert!(
                    tree.get(ops::UPDATE_SCRIPT).is_none() && tree.get(ops::ROLLBACK_SCRIPT).is_none(),
                    "{name}"
                );
            }
        }

        let more = (planned + 2).to_string();
        let out = bash(&deployment, ops::SCALE_SCRIPT, &[&more], Some(&bin), &[]);
        if !rolling {
            assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
            assert!(
                text(&out.stderr).contains("so it runs one container"),
                "{name}: {}",
                text(&out.stderr)
            );
            assert_eq!(running(&model(root.path()), &app).len(), planned, "{name}");
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let state = model(root.path());
        assert_eq!(running(&state, &app).len(), planned + 2, "{name}: {state}");
        assert_eq!(state["violations"], serde_json::json!([]), "{name}");
        assert_eq!(
            state["upstream"],
            serde_json::json!(running(&state, &app)),
            "{name}: NGINX not on all"
        );
        let out = bash(&deployment, ops::SCALE_SCRIPT, &[&planned.to_string()], Some(&bin), &[]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let state = model(root.path());
        assert_eq!(running(&state, &app).len(), planned, "{name}: {state}");
        assert_eq!(state["upstream"], serde_json::json!(running(&state, &app)), "{name}");
        assert_eq!(state["violations"], serde_json::json!([]), "{name}");
    }
}
