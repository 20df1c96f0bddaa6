//! `cargo xtask bench-scale N...`: a valid stack of N services, in YAML and in TOML, and the
//! release binary's time and peak memory on it.
//!
//! The stack is the fixture stack of `vutler-spec/tests/fixtures/base/stack.yaml` with N more
//! services, each with a scrape job, an alert rule and a dashboard panel, on a VM large enough
//! for them: every part of loading and validation that grows with a stack grows with N.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// The environment the generated folders define (its overlay changes nothing).
pub(crate) const ENV: &str = "bench";

/// Panels per generated dashboard.
const PANELS_PER_DASHBOARD: usize = 50;

/// The fixture stack with `n` more services, as a JSON value (what a spec file holds).
pub(crate) fn stack(root: &Path, n: usize) -> anyhow::Result<Value> {
    let base = root.join("vutler-spec/tests/fixtures/base/stack.yaml");
    let text = std::fs::read_to_string(&base).with_context(|| format!("reading {}", base.display()))?;
    let mut spec: Value = serde_yaml::from_str(&text).with_context(|| format!("parsing {}", base.display()))?;
    // Each service needs 10 millicpus and 8MB: a VM with room for them beside the fixture's.
    let cpus = 8 + n.div_ceil(100);
    let memory_mb = 8 * 1024 + 8 * n;
    spec["vms"]["bench"] = json!({
        "cpus": cpus,
        "memory": format!("{memory_mb}MB"),
        "disk": format!("{}GB", 200 + n / 100),
        "monthly_usd": { "min": 100 },
    });
    spec["target_vm"] = json!("bench");
    let mut rules = Vec::new();
    let mut dashboards = serde_json::Map::new();
    for i in 0..n {
        let name = service_name(i);
        let metric = format!("{}_requests_total", name.replace('-', "_"));
        spec["services"][&name] = json!({
            "image": "example/svc:1.0.0",
            "ports": [{ "name": "metrics", "container": 9100 }],
            "resources": { "cpus": 0.01, "memory": "8MB", "disk": "10MB" },
        });
        spec["monitoring"]["scrape_jobs"][&name] = json!({
            "service": name,
            "port": "metrics",
            "metrics": [metric],
        });
        rules.push(json!({
            "name": format!("Svc{i:05}Errors"),
            "expr": format!("rate({metric}{{code=~\"5..\"}}[5m]) > 0.05"),
            "for": "5m",
            "severity": "warning",
            "summary": format!("{name} answers with errors"),
        }));
        let board = format!("scale-{:03}", i / PANELS_PER_DASHBOARD);
        let dashboard = dashboards.entry(board.clone()).or_insert_with(|| {
            json!({
                "title": format!("Scale {}", i / PANELS_PER_DASHBOARD),
                "uid": board,
                "datasource": "prom",
                "panels": [],
            })
        });
        if let Some(panels) = dashboard["panels"].as_array_mut() {
            panels.push(json!({
                "name": format!("{name} requests"),
                "kind": "timeseries",
                "queries": [{ "expr": format!("sum(rate({metric}[5m]))") }],
            }));
        }
    }
    if n > 0 {
        if let Some(groups) = spec["monitoring"]["alert_groups"].as_array_mut() {
            groups.push(json!({ "name": "scale", "rules": rules }));
        }
        for (uid, dashboard) in dashboards {
            spec["monitoring"]["grafana"]["dashboards"][uid] = dashboard;
        }
    }
    Ok(spec)
}

/// `svc-00000`, `svc-00001`, ...
fn service_name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// Writes the stack of `n` services as two spec folders, `DIR/yaml/` and `DIR/toml/` (each a
/// `base/stack.*` and an `env/bench.*` overlay), and returns them.
pub(crate) fn write(root: &Path, n: usize, dir: &Path) -> anyhow::Result<[PathBuf; 2]> {
    let spec = stack(root, n)?;
    let yaml = serde_yaml::to_string(&spec).context("writing YAML")?;
    let toml = toml::to_string(&spec).context("writing TOML")?;
    let mut folders = Vec::new();
    for (format, text) in [("yaml", yaml), ("toml", toml)] {
        let folder = dir.join(format);
        std::fs::create_dir_all(folder.join("base"))?;
        std::fs::create_dir_all(folder.join("env"))?;
        std::fs::write(folder.join(format!("base/stack.{format}")), text)?;
        std::fs::write(
            folder.join(format!("env/{ENV}.{format}")),
            format!("# The `{ENV}` environment: the base as it is ({n} generated services).\n"),
        )?;
        folders.push(folder);
    }
    let [yaml, toml] = <[PathBuf; 2]>::try_from(folders).map_err(|_| anyhow::anyhow!("two folders"))?;
    Ok([yaml, toml])
}

/// `cargo xtask bench-scale N...`: for each N, the median wall time of 3 runs of `validate` and
/// of a render to stdout, and the peak memory (with GNU time), in YAML and TOML.
pub(crate) fn bench(root: &Path, sizes: &[&str]) -> anyhow::Result<()> {
    let sizes: Vec<usize> = sizes
        .iter()
        .map(|s| {
            s.parse()
                .with_context(|| format!("N: `{s}` is not a number of services"))
        })
        .collect::<anyhow::Result<_>>()?;
    if sizes.is_empty() {
        bail!("give one or more numbers of services: cargo xtask bench-scale 1000 10000");
    }
    let binary = release_binary(root)?;
    let scratch = root.join("target/bench-scale");
    println!(
        "{:>7} {:>5} {:>10} {:>10} {:>10}",
        "N", "spec", "validate", "render", "peak MiB"
    );
    for n in sizes {
        let dir = scratch.join(n.to_string());
        let folders = write(root, n, &dir)?;
        for (format, folder) in ["yaml", "toml"].into_iter().zip(folders) {
            let spec = folder.display().to_string();
            let validate = ["validate", "--env", ENV, "--spec", &spec];
            let render = ["--env", ENV, "--spec", &spec];
            let (v, _) = median_of_3(&binary, &validate)?;
            let (r, peak) = median_of_3(&binary, &render)?;
            let peak = peak.map_or_else(|| "-".to_owned(), |kib| format!("{:.1}", kib as f64 / 1024.0));
            println!(
                "{n:>7} {format:>5} {:>8.3} s {:>8.3} s {peak:>10}",
                v.as_secs_f64(),
                r.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Builds `vutler-render` in release mode and returns its path (wherever the target folder is).
fn release_binary(root: &Path) -> anyhow::Result<PathBuf> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "vutler-cli",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !out.status.success() {
        bail!("cargo build --release -p vutler-cli failed");
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["target"]["name"] == "vutler-render")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo build did not name the vutler-render executable")
}

/// The median wall time of three runs (each must succeed) and the largest peak resident size
/// in KiB, measured by GNU time when it is installed.
fn median_of_3(binary: &Path, args: &[&str]) -> anyhow::Result<(Duration, Option<u64>)> {
    let gnu_time = Path::new("/usr/bin/time");
    let mut times = Vec::new();
    let mut peak = None;
    for _ in 0..3 {
        let mut cmd = if gnu_time.is_file() {
            let mut c = Command::new(gnu_time);
            c.args(["-f", "%M"]).arg(binary);
            c
        } else {
            Command::new(binary)
        };
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
        let started = Instant::now();
        let out = cmd.output().context("running vutler-render")?;
        times.push(started.elapsed());
        if !out.status.success() {
            bail!(
                "vutler-render {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if gnu_time.is_file() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let kib = stderr.lines().last().and_then(|l| l.trim().parse::<u64>().ok());
            peak = peak.max(kib);
        }
    }
    times.sort();
    Ok((times[1], peak))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(folder: &Path) -> (Duration, vutler_spec::Loaded) {
        let started = Instant::now();
        let loaded = vutler_spec::load(folder, ENV).unwrap_or_else(|r| panic!("{r}"));
        (started.elapsed(), loaded)
    }

    /// A stack of 2,000 generated services, in YAML and in TOML, loads without a warning and
    /// renders. Loading 4x the services takes less than 10x the time
    /// (quadratic work would take 16x): a generous bound that catches quadratic behaviour
    /// coming back, not a timing claim.
    #[test]
    fn a_stack_of_two_thousand_services_validates_in_linear_time() {
        let root = crate::root();
        let scratch = crate::validate::scratch_dir("bench-scale");
        let mut took = Vec::new();
        for n in [500, 2_000] {
            let [yaml, toml] = write(&root, n, &scratch.join(n.to_string())).unwrap_or_else(|e| panic!("{e:#}"));
            let (yaml_took, from_yaml) = load(&yaml);
            let (toml_took, from_toml) = load(&toml);
            // TOML writes a table's plain values before its tables, so an environment's entries
            // come in another order: the same services, jobs and rules, not the same stack.
            for loaded in [&from_yaml, &from_toml] {
                assert!(!loaded.has_warnings(), "{n}: {}", loaded.warnings);
                assert_eq!(loaded.stack.services().len(), n + 8);
                assert_eq!(loaded.stack.scrape_jobs().len(), n + 3);
            }
            let tree = vutler_render::render(&from_yaml.stack).unwrap_or_else(|e| panic!("{e}"));
            let alerts = tree.get("prometheus/alerts.yml").unwrap_or_default();
            assert!(
                alerts.contains(&format!("Svc{:05}Errors", n - 1)),
                "{n}: the last alert is rendered"
            );
            took.push((n, yaml_took.max(toml_took)));
        }
        let _ = std::fs::remove_dir_all(&scratch);
        eprintln!("load times (the slower of YAML and TOML): {took:?}");
        let [(_, small), (_, large)] = took[..] else {
            panic!("two sizes were measured: {took:?}")
        };
        assert!(
            large < small * 10 + Duration::from_millis(200),
            "4x the services took {:.1}x the time: {took:?}",
            large.as_secs_f64() / small.as_secs_f64()
        );
    }
}
