//! `cargo xtask`: regenerate the files this repository commits, or check that they are fresh.
//!
//! - `cargo xtask schema`: writes `specs/vutler-spec.schema.json` from the spec types.
//! - `cargo xtask rules`: writes `docs/rules.md`, the page of every rule, from `Rule`.
//! - `cargo xtask golden`: renders every environment of `specs/` into `golden/<env>/`.
//! - `cargo xtask` alone regenerates all three.
//! - `cargo xtask check`: fails, with a diff, when any generated file is stale (a test and CI run
//!   the same check).
//! - `cargo xtask validate`: runs the consuming programs on every golden file (see [`validate`]).
//! - `cargo xtask fuzz [SECONDS] [SEED]`: runs the fuzz harness (`vutler-cli/tests/fuzz.rs`) on a
//!   release build, for SECONDS (default 600) from SEED (default: the clock).
//! - `cargo xtask bench-scale N...`: times the release binary on a generated stack of N services,
//!   in YAML and TOML (see [`scale`]).
//!
//! One generator per kind of file, used in `Mode::Write` by the commands and in `Mode::Check` by
//! the freshness test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

mod k8s;
mod local;
mod run_backups;
mod run_k8s_backups;
mod run_nginx;
mod run_postgres;
mod run_prometheus;
mod scale;
mod validate;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => schema(&root, Mode::Write)
            .and_then(|_| rules(&root, Mode::Write))
            .and_then(|_| golden(&root, Mode::Write))
            .map(drop),
        ["schema"] => schema(&root, Mode::Write).map(drop),
        ["rules"] => rules(&root, Mode::Write).map(drop),
        ["golden"] => golden(&root, Mode::Write).map(drop),
        ["check"] => check(&root),
        ["validate"] => run_validators(&root),
        ["fuzz", rest @ ..] if rest.len() <= 2 => fuzz(&root, rest),
        ["bench-scale", sizes @ ..] => scale::bench(&root, sizes),
        _ => {
            eprintln!(
                "usage: cargo xtask [schema|rules|golden|check|validate|fuzz [SECONDS] [SEED]|bench-scale N...]\n  (none)    regenerate every generated file\n  schema    regenerate specs/{}\n  rules     regenerate {RULES_PAGE}\n  golden    regenerate golden/<env>/ from specs/\n  check     fail if a generated file is stale\n  validate  check golden/ with the programs that consume it\n  fuzz      run the fuzz harness on a release build (default 600 s)\n  bench-scale N...  time the release binary on a generated stack of N services",
                vutler_spec::schema::FILE_NAME
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the fuzz harness for `args[0]` seconds (600 by default) from seed `args[1]`, on a
/// release build: the same test as in the suite, longer.
fn fuzz(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let seconds: u64 = match args.first() {
        Some(s) => s
            .parse()
            .with_context(|| format!("SECONDS: `{s}` is not a number of seconds"))?,
        None => 600,
    };
    let mut cmd = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .args([
            "test",
            "--release",
            "-p",
            "vutler-cli",
            "--test",
            "fuzz",
            "--",
            "--nocapture",
        ])
        .env("VUTLER_FUZZ_SECONDS", seconds.to_string());
    if let Some(seed) = args.get(1) {
        let seed: u64 = seed
            .parse()
            .with_context(|| format!("SEED: `{seed}` is not a number"))?;
        cmd.env("VUTLER_FUZZ_SEED", seed.to_string());
    }
    let status = cmd.status().context("running cargo test")?;
    if !status.success() {
        bail!("the fuzz harness found failing cases (saved under target/tmp/fuzz-failures/)");
    }
    Ok(())
}

/// Whether to write generated files or only compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    Check,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// What to run when a generated file is stale.
const REGENERATE: &str =
    "generated files are stale: run `cargo xtask` (schema, rules page, golden trees), review and commit";

/// Every generated file that is stale, each with a diff.
fn stale(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut stale = schema(root, Mode::Check)?;
    stale.extend(rules(root, Mode::Check)?);
    stale.extend(golden(root, Mode::Check)?);
    Ok(stale)
}

fn check(root: &Path) -> anyhow::Result<()> {
    let stale = stale(root)?;
    if stale.is_empty() {
        println!("generated files are up to date");
        return Ok(());
    }
    eprintln!("{}", stale.join("\n"));
    bail!(REGENERATE)
}

/// The schemas of consumed formats, vendored in the checkout (see `xtask/schemas/SOURCES.txt`).
fn schemas(root: &Path) -> PathBuf {
    root.join("xtask/schemas")
}

/// The stacks of other shapes the validators also run on: spec folders in the repository, each
/// with its environments. Their trees are rendered into a scratch folder, not committed.
const OTHER_STACKS: [(&str, &str); 6] = [
    // The test stack of the renderer: no Redis, MongoDB or MinIO; one app, PostgreSQL, Docker
    // secrets in one environment, services added and removed in others.
    ("fixture", "vutler-render/tests/fixtures/stack"),
    // Another product behind the proxy (Gitea), mixed-case variables, a project name with a
    // `-`, no textfile collector.
    ("git-server", "xtask/stacks/git-server"),
    // The Vutler stack as it is about to become: no MongoDB, a worker on the app's image (its
    // base is specs/base, through a symlink).
    ("vutler-next", "xtask/stacks/vutler-next"),
    // A TOML stack (the spec fixtures' equivalent stack.toml, through a symlink) with Docker
    // secrets in every environment, one of them a development one.
    ("toml-docker-secrets", "xtask/stacks/toml-docker-secrets"),
    // One app behind the proxy and nothing else: no monitoring, backups, variables or secrets;
    // the app's version is its image tag, the certificate self-signed.
    ("minimal", "xtask/stacks/minimal"),
    // No monitoring: a password manager on PostgreSQL, its files in a plain volume archived by
    // `volume_archive`, Docker secrets in staging.
    ("vault", "xtask/stacks/vault"),
];

/// Renders every environment of the spec folder `specs` into `out/<env>/`.
fn render_stack(specs: &Path, out: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(out);
    for env in vutler_spec::environments(specs).map_err(|r| anyhow::anyhow!("{r}"))? {
        let stack = vutler_spec::load(specs, &env)
            .map_err(|r| anyhow::anyhow!("{} is invalid:\n{r}", specs.display()))?
            .stack;
        let tree = vutler_render::render(&stack).with_context(|| format!("rendering {env}"))?;
        for (path, contents) in tree.iter() {
            let target = out.join(&env).join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&target, contents).with_context(|| format!("writing {}", target.display()))?;
        }
    }
    Ok(())
}

/// The validators that read rendered files (no running program), on one stack's tree.
fn static_validators(root: &Path, specs: &Path, tree: &Path) -> anyhow::Result<Vec<(&'static str, validate::Outcome)>> {
    // A stack without monitoring (or without Alertmanager) has no such files to check.
    let has = |path: &str| -> anyhow::Result<bool> {
        Ok(validate::env_dirs(tree)?.iter().any(|dir| dir.join(path).exists()))
    };
    let mut results = vec![
        ("docker-compose config", validate::compose(tree)?),
        ("docker compose config (v2)", validate::compose_v2(specs, tree)?),
        ("Compose JSON schema", validate::compose_schema(tree, &schemas(root))?),
        ("nginx -t", validate::nginx(specs, tree)?),
        ("shellcheck", validate::shellcheck(tree)?),
    ];
    if has(vutler_spec::configs::PROMETHEUS_CONFIG)? {
        // The rule unit tests are the Vutler stack's.
        let tests = (tree == root.join("golden")).then(|| root.join("xtask/promtool"));
        results.push(("promtool", validate::promtool(tree, tests.as_deref())?));
    }
    if has(vutler_spec::configs::ALERTMANAGER_CONFIG)? {
        results.push(("amtool", validate::amtool(tree)?));
    }
    if !validate::k8s_dirs(tree)?.is_empty() {
        results.extend([
            ("Kubernetes strict schemas", k8s::schemas(specs, tree, &schemas(root))?),
            (
                "kubernetes-validate --strict",
                k8s::kubernetes_validate(specs, tree, &schemas(root))?,
            ),
            ("kubectl kustomize", k8s::kustomize(tree)?),
            ("checkov", k8s::checkov(tree)?),
            (
                "promtool, amtool and shellcheck on the ConfigMaps",
                k8s::monitoring_configs(tree)?,
            ),
        ]);
    }
    Ok(results)
}

/// The Prometheus and Alertmanager scenario of every other stack with monitoring, all at
/// once (each mostly waits on Prometheus's intervals and an alert's `for`), with their trees
/// rendered under `target/tmp/<folder>/`.
fn other_stacks_monitoring(root: &Path, folder: &str) -> Vec<(String, anyhow::Result<validate::Outcome>)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = OTHER_STACKS
            .iter()
            .map(|(name, specs)| {
                scope.spawn(move || {
                    let specs = root.join(specs);
                    let tree = root.join("target/tmp").join(folder).join(name);
                    let what = format!("Prometheus and Alertmanager running each environment, {name} stack");
                    let monitored = render_stack(&specs, &tree).and_then(|()| {
                        Ok(validate::env_dirs(&tree)?
                            .iter()
                            .any(|d| d.join(vutler_spec::configs::PROMETHEUS_CONFIG).exists()))
                    });
                    match monitored {
                        Ok(true) => Some((what, run_prometheus::check(root, &specs, &tree))),
                        Ok(false) => None,
                        Err(e) => Some((what, Err(e))),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| {
                h.join()
                    .unwrap_or_else(|_| Some(("a stack's scenario".to_owned(), Err(anyhow::anyhow!("it panicked")))))
            })
            .collect()
    })
}

/// Runs every validator; each reports passed or skipped.
fn run_validators(root: &Path) -> anyhow::Result<()> {
    let golden = root.join("golden");
    let mut results = static_validators(root, &root.join("specs"), &golden)?;
    for (name, specs) in OTHER_STACKS {
        let specs = root.join(specs);
        let tree = root.join("target/tmp/stacks").join(name);
        render_stack(&specs, &tree)?;
        let mut outcomes = static_validators(root, &specs, &tree).with_context(|| format!("the {name} stack"))?;
        outcomes.push((
            "NGINX running each environment",
            run_nginx::check(root, &specs).with_context(|| format!("the {name} stack"))?,
        ));
        for (what, outcome) in outcomes {
            let label: &'static str = Box::leak(format!("{what}, {name} stack").into_boxed_str());
            results.push((label, outcome));
        }
    }
    for (what, outcome) in other_stacks_monitoring(root, "stacks-prometheus") {
        results.push((Box::leak(what.into_boxed_str()), outcome?));
    }
    results.extend([
        (
            "NGINX running each environment",
            run_nginx::check(root, &root.join("specs"))?,
        ),
        (
            "Prometheus and Alertmanager running each environment",
            run_prometheus::check(root, &root.join("specs"), &root.join("golden"))?,
        ),
        ("PostgreSQL password rotation", run_postgres::check(root)?),
        (
            "Kubernetes manifests of every vendored version",
            k8s::every_version(
                &root.join("specs"),
                &schemas(root),
                &root.join("target/tmp/k8s-versions"),
                render_stack,
            )?,
        ),
        ("backups against PostgreSQL and S3", run_backups::check(root)?),
        (
            "backup CronJob against PostgreSQL and S3",
            run_k8s_backups::check(root)?,
        ),
    ]);
    for (name, outcome) in results {
        match outcome {
            validate::Outcome::Passed(n) => println!("{name}: {n} checks passed"),
            validate::Outcome::Skipped(why) => println!("{name}: SKIPPED: {why}"),
        }
    }
    Ok(())
}

/// Whether a file has its executable bit (always true where there are no such bits).
fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.exists()
    }
}

/// Makes a script executable (`0755`).
fn make_executable(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} executable", path.display()))?;
    }
    let _ = path;
    Ok(())
}

/// Writes or compares one generated script, which must also be executable.
fn sync_script(path: &Path, fresh: &str, mode: Mode) -> anyhow::Result<Option<String>> {
    let stale = sync(path, fresh, mode)?;
    if stale.is_some() || is_executable(path) {
        return Ok(stale);
    }
    match mode {
        Mode::Write => {
            make_executable(path)?;
            println!("made {} executable", path.display());
            Ok(None)
        }
        Mode::Check => Ok(Some(format!("{}: not executable", path.display()))),
    }
}

/// Writes or compares one generated file; returns a diff when it is stale in check mode.
fn sync(path: &Path, fresh: &str, mode: Mode) -> anyhow::Result<Option<String>> {
    let current = std::fs::read_to_string(path).ok();
    if current.as_deref() == Some(fresh) {
        return Ok(None);
    }
    match mode {
        Mode::Write => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(path, fresh).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
            Ok(None)
        }
        Mode::Check => {
            let old = current.unwrap_or_default();
            let name = path.display().to_string();
            let diff = vutler_render::diff::unified_diff(&old, fresh, &name, &name);
            Ok(Some(if diff.is_empty() {
                format!("{name}: missing")
            } else {
                diff
            }))
        }
    }
}

/// The JSON schemas of spec files and of a whole stack.
fn schema(root: &Path, mode: Mode) -> anyhow::Result<Vec<String>> {
    let specs = root.join("specs");
    let mut stale = Vec::new();
    for (name, text) in [
        (vutler_spec::schema::FILE_NAME, vutler_spec::schema::json_schema_text()),
        (
            vutler_spec::schema::STACK_FILE_NAME,
            vutler_spec::schema::stack_schema_text(),
        ),
    ] {
        stale.extend(sync(&specs.join(name), &text, mode)?);
    }
    Ok(stale)
}

/// Path of the rules page, relative to the repository.
const RULES_PAGE: &str = "docs/rules.md";

/// The page of every rule: id, severity, summary and explanation.
fn rules(root: &Path, mode: Mode) -> anyhow::Result<Vec<String>> {
    let path = root.join(RULES_PAGE);
    Ok(sync(&path, &vutler_spec::rule::rules_page(), mode)?
        .into_iter()
        .collect())
}

/// The rendered tree of every environment, under `golden/<env>/`. Files there that the render no
/// longer produces are deleted (write) or reported (check).
fn golden(root: &Path, mode: Mode) -> anyhow::Result<Vec<String>> {
    let specs = root.join("specs");
    let mut stale = Vec::new();
    for env in vutler_spec::environments(&specs).map_err(|r| anyhow::anyhow!("{r}"))? {
        let stack = vutler_spec::load(&specs, &env)
            .map_err(|r| anyhow::anyhow!("specs/ is invalid:\n{r}"))?
            .stack;
        let tree = vutler_render::render(&stack).with_context(|| format!("rendering {env}"))?;
        let dir = root.join("golden").join(&env);
        let expected: BTreeMap<PathBuf, &str> = tree.iter().map(|(p, c)| (dir.join(p), c)).collect();
        for (path, contents) in tree.iter() {
            let target = dir.join(path);
            stale.extend(if tree.is_executable(path) {
                sync_script(&target, contents, mode)?
            } else {
                sync(&target, contents, mode)?
            });
        }
        for extra in files_under(&dir)?.into_iter().filter(|p| !expected.contains_key(p)) {
            match mode {
                Mode::Write => {
                    std::fs::remove_file(&extra).with_context(|| format!("removing {}", extra.display()))?;
                    println!("removed {}", extra.display());
                }
                Mode::Check => stale.push(format!("{}: no longer rendered", extra.display())),
            }
        }
    }
    Ok(stale)
}

/// Every file under a folder, at any depth (none when the folder does not exist).
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let path = entry.with_context(|| format!("reading {}", dir.display()))?.path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, outcome: anyhow::Result<validate::Outcome>) {
        match outcome {
            Ok(validate::Outcome::Passed(n)) => assert!(n > 0, "{name}: nothing was checked"),
            // Visible in the test output (`cargo test` shows stderr of passing tests with --nocapture,
            // and .ci/run sets VUTLER_REQUIRE_VALIDATORS=1, which turns this into a failure).
            Ok(validate::Outcome::Skipped(why)) => eprintln!("SKIPPED {name}: {why}"),
            Err(e) => panic!("{name}: {e:#}"),
        }
    }

    #[test]
    fn docker_compose_accepts_every_golden_compose_file() {
        report("docker-compose config", validate::compose(&root().join("golden")));
    }

    #[test]
    fn compose_v2_runs_every_environment_with_the_replicas_of_the_model() {
        report(
            "docker compose config (v2)",
            validate::compose_v2(&root().join("specs"), &root().join("golden")),
        );
    }

    #[test]
    fn nginx_accepts_every_golden_nginx_config() {
        report(
            "nginx -t",
            validate::nginx(&root().join("specs"), &root().join("golden")),
        );
    }

    #[test]
    fn shellcheck_is_clean_on_every_golden_script() {
        report("shellcheck", validate::shellcheck(&root().join("golden")));
    }

    #[test]
    fn promtool_accepts_every_golden_prometheus_file_and_the_rule_tests_pass() {
        report(
            "promtool",
            validate::promtool(&root().join("golden"), Some(&root().join("xtask/promtool"))),
        );
    }

    #[test]
    fn nginx_serves_every_environment_as_the_model_says() {
        report(
            "NGINX running each environment",
            run_nginx::check(&root(), &root().join("specs")),
        );
    }

    /// Every stack with monitoring, the Vutler stack's golden tree and the other shapes: its
    /// Prometheus scrapes every target, loads and evaluates every rule, and a stopped critical
    /// exporter's alert reaches its Alertmanager. All at once, in one test: each scenario mostly
    /// waits on Prometheus's intervals and an alert's `for`, which would otherwise hold two of
    /// the suite's test threads for minutes.
    #[test]
    fn prometheus_and_alertmanager_run_every_stack_as_the_model_says() {
        let root = root();
        let (vutler, others) = std::thread::scope(|scope| {
            let vutler = scope.spawn(|| run_prometheus::check(&root, &root.join("specs"), &root.join("golden")));
            let others = other_stacks_monitoring(&root, "stacks-prometheus-test");
            let vutler = vutler
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the Vutler stack's scenario panicked")));
            (vutler, others)
        });
        report("Prometheus and Alertmanager running each environment", vutler);
        assert!(others.len() >= 4, "the stacks with monitoring: {}", others.len());
        for (name, outcome) in others {
            report(&name, outcome);
        }
    }

    #[test]
    fn secrets_sh_rotates_the_postgresql_password_of_a_real_server() {
        report("PostgreSQL password rotation", run_postgres::check(&root()));
    }

    #[test]
    fn backups_dump_check_upload_prune_verify_and_restore_with_real_postgresql_and_s3() {
        report("backups against PostgreSQL and S3", run_backups::check(&root()));
    }

    #[test]
    fn the_backup_cronjob_runs_as_a_cluster_runs_it_against_real_postgresql_and_s3() {
        report(
            "backup CronJob against PostgreSQL and S3",
            run_k8s_backups::check(&root()),
        );
    }

    #[test]
    fn kubernetes_manifests_match_the_strict_schemas_of_their_version() {
        let root = root();
        report(
            "Kubernetes strict schemas",
            k8s::schemas(&root.join("specs"), &root.join("golden"), &schemas(&root)),
        );
    }

    #[test]
    fn kubernetes_validate_accepts_every_manifest() {
        let root = root();
        report(
            "kubernetes-validate --strict",
            k8s::kubernetes_validate(&root.join("specs"), &root.join("golden"), &schemas(&root)),
        );
    }

    #[test]
    fn the_kubernetes_manifests_are_valid_for_every_vendored_version() {
        let root = root();
        report(
            "Kubernetes manifests of every vendored version",
            k8s::every_version(
                &root.join("specs"),
                &schemas(&root),
                &validate::scratch_dir("k8s-versions"),
                render_stack,
            ),
        );
    }

    #[test]
    fn kubectl_kustomize_builds_every_kubernetes_tree() {
        report("kubectl kustomize", k8s::kustomize(&root().join("golden")));
    }

    #[test]
    fn checkov_passes_every_kubernetes_tree() {
        report("checkov", k8s::checkov(&root().join("golden")));
    }

    #[test]
    fn promtool_and_amtool_accept_the_configs_as_kubernetes_mounts_them() {
        report(
            "promtool and amtool on the ConfigMaps",
            k8s::monitoring_configs(&root().join("golden")),
        );
    }

    #[test]
    fn amtool_accepts_every_golden_alertmanager_file() {
        report("amtool", validate::amtool(&root().join("golden")));
    }

    #[test]
    fn golden_compose_files_match_the_compose_specification() {
        report(
            "Compose JSON schema",
            validate::compose_schema(&root().join("golden"), &schemas(&root())),
        );
    }

    /// Stacks of other shapes render, in every environment, files every validator accepts.
    #[test]
    fn other_stacks_pass_every_static_validator() {
        let root = root();
        for (name, specs) in OTHER_STACKS {
            let specs = root.join(specs);
            let tree = root.join("target/tmp/stacks-test").join(name);
            render_stack(&specs, &tree).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let results = static_validators(&root, &specs, &tree).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            for (what, outcome) in results {
                report(&format!("{what}, {name} stack"), Ok(outcome));
            }
        }
    }

    /// Stacks of other shapes behind a real NGINX, every environment: what the Vutler stack's
    /// proxy is checked for.
    #[test]
    fn other_stacks_run_behind_a_real_nginx() {
        let root = root();
        for (name, specs) in OTHER_STACKS {
            report(
                &format!("NGINX running each environment, {name} stack"),
                run_nginx::check(&root, &root.join(specs)),
            );
        }
    }

    /// The committed schema, rules page and golden trees are what the code and `specs/`
    /// generate today.
    #[test]
    fn generated_files_are_fresh() {
        let stale = stale(&root()).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(stale.is_empty(), "{}\n\n{REGENERATE}", stale.join("\n"));
    }

    /// The rules page lists every rule, each under its own heading.
    #[test]
    fn the_rules_page_lists_every_rule() {
        let page = vutler_spec::rule::rules_page();
        for rule in vutler_spec::Rule::ALL {
            assert!(page.contains(&format!("\n## {}\n", rule.id())), "{}", rule.id());
            assert!(
                page.contains(&format!("| [`{id}`](#{id}) |", id = rule.id())),
                "{}",
                rule.id()
            );
        }
    }
}
