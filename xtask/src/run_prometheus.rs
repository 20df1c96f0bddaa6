//! The behaviour tier for monitoring: Debian's Prometheus and Alertmanager run each environment's
//! rendered configuration and rules for real, in private mount and network namespaces. Every
//! service gets loopback addresses (one per container it runs, three for the production app),
//! its name resolves to them through `/etc/hosts` and a DNS server (dnsmasq) as Docker's DNS
//! resolves a service's name, and a stand-in exporter (`behaviour/exporter.py`) serves the
//! metrics each scrape job lists at its path. Prometheus scrapes itself and Alertmanager.
//!
//! Checked through their HTTP APIs: every target is up, every container of a service is a
//! target, every rule is loaded and evaluates without error; in production, stopping the
//! exporter of a critical service makes its `up == 0` alert reach Alertmanager.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, anyhow, bail};
use vutler_render::Runtime;

use crate::validate::{Outcome, absent, require};

/// The scenario, run as root inside `unshare --mount --net`; it prints `key=json` lines.
const SCENARIO: &str = r#"set -euo pipefail
ip link set lo up
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
poll() { # seconds command...: until the command succeeds
  local until=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < until)) || return 1
    sleep 0.5
  done
}
get() { curl -s --max-time 5 "$@"; }

resolv=$(readlink -f /etc/resolv.conf)
cp /etc/hosts "$work/hosts.all"
cat "$HOSTS" >> "$work/hosts.all"
mount --bind "$work/hosts.all" /etc/hosts
mount -t tmpfs tmpfs /run
if [[ $resolv == /run/* ]]; then
  mkdir -p "$(dirname "$resolv")"
  echo "nameserver 127.0.0.53" > "$resolv"
else
  echo "nameserver 127.0.0.53" > "$work/resolv.conf"
  mount --bind "$work/resolv.conf" /etc/resolv.conf
fi
while read -r path value; do
  [[ -n $path ]] || continue
  mkdir -p "$(dirname "$path")"
  printf '%s' "$value" > "$path"
done < "$SECRETS"

dnsmasq --keep-in-foreground --no-resolv --no-hosts --addn-hosts="$HOSTS" --listen-address=127.0.0.53 \
  --bind-interfaces --port=53 --user=root --pid-file="$work/dnsmasq.pid" 2>"$work/dnsmasq.log" & pids+=($!)
declare -A by_job=()
while read -r job host port path metrics; do
  [[ -n $job ]] || continue
  # shellcheck disable=SC2086
  python3 "$EXPORTER_PY" "$host" "$port" "$path" $metrics & pids+=($!)
  by_job[$job]+=" $!"
done < "$EXPORTERS"
if [[ -n $AM_LISTEN ]]; then
  prometheus-alertmanager --config.file="$AM_CONFIG" --storage.path="$work/am" --web.listen-address="$AM_LISTEN" \
    --cluster.listen-address= 2>"$work/alertmanager.log" & pids+=($!)
fi
mkdir -p "$work/prometheus"
cp "$PROM_DIR"/*.yml "$work/prometheus/"
prometheus --config.file="$work/prometheus/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="$PROM_LISTEN" 2>"$work/prometheus.log" & pids+=($!)

all_up() {
  local t
  t=$(get "http://$PROM_LISTEN/api/v1/targets?state=active") || return 1
  [[ $t == *'"activeTargets":[{'* && $t != *'"health":"unknown"'* && $t != *'"health":"down"'* ]]
}
all_evaluated() {
  local r
  r=$(get "http://$PROM_LISTEN/api/v1/rules") || return 1
  [[ $r == *'"rules":[{'* && $r != *'"health":"unknown"'* ]]
}
if ! poll 90 all_up; then
  echo "targets=$(get "http://$PROM_LISTEN/api/v1/targets?state=active")"
  tail -20 "$work/prometheus.log" >&2
  exit 3
fi
poll 90 all_evaluated || true
echo "targets=$(get "http://$PROM_LISTEN/api/v1/targets?state=active")"
echo "rules=$(get "http://$PROM_LISTEN/api/v1/rules")"
if [[ -n ${STOP_JOB:-} ]]; then
  # shellcheck disable=SC2086
  kill ${by_job[$STOP_JOB]}
  fired() { [[ $(get "http://$AM_LISTEN/api/v2/alerts") == *"\"alertname\":\"$ALERT\""* ]]; }
  poll 240 fired || { tail -20 "$work/alertmanager.log" >&2; true; }
  echo "alerts=$(get "http://$AM_LISTEN/api/v2/alerts")"
fi
"#;

/// One environment's run: the files it needs, what to stop, what to expect.
struct Plan {
    env: String,
    work: std::path::PathBuf,
    prom_listen: String,
    /// Where the Alertmanager listens (empty without one).
    am_listen: String,
    /// Scrape job, then the number of targets it must have.
    targets: BTreeMap<String, usize>,
    rules: usize,
    /// The job whose exporter is stopped, and the alert that must reach Alertmanager.
    stop: Option<(String, String)>,
}

fn plan(specs: &Path, tree: &Path, env: &str, work: &Path, with_alert: bool) -> anyhow::Result<Plan> {
    let stack = vutler_spec::load(specs, env).map_err(|r| anyhow!("{r}"))?.stack;
    let runtime = Runtime::new(&stack);
    let m = stack
        .monitoring()
        .ok_or_else(|| anyhow!("the {env} stack has no monitoring"))?;
    let am = m.alertmanager.as_ref();
    std::fs::create_dir_all(work)?;
    // Addresses: 127.1.<service>.<container>.
    let mut hosts = String::new();
    let mut addresses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, c) in runtime.containers().iter().enumerate() {
        let name = c.service.name.to_string();
        for n in 1..=c.max_replicas() {
            let ip = format!("127.1.{}.{n}", i + 1);
            hosts.push_str(&format!("{ip} {name}\n"));
            addresses.entry(name.clone()).or_default().push(ip);
        }
    }
    let prometheus = stack.service(m.prometheus.service).name.to_string();
    let alertmanager = am
        .map(|am| stack.service(am.service()).name.to_string())
        .unwrap_or_default();
    let first = |service: &str| addresses.get(service).and_then(|a| a.first()).cloned();
    let prom_port = m
        .scrape_jobs
        .iter()
        .find(|j| j.target.service == m.prometheus.service)
        .map_or(9090, |j| stack.endpoint(j.target).port);
    let prom_listen = format!("{}:{prom_port}", first(&prometheus).unwrap_or_default());
    let am_listen = match am {
        Some(am) => format!(
            "{}:{}",
            first(&alertmanager).unwrap_or_default(),
            stack.endpoint(am.target).port
        ),
        None => String::new(),
    };
    let mut exporters = String::new();
    let mut targets = BTreeMap::new();
    for j in &m.scrape_jobs {
        let service = stack.service(j.target.service).name.to_string();
        let port = stack.endpoint(j.target).port;
        let own = service == prometheus || service == alertmanager;
        let metrics: Vec<&str> = j.metrics.iter().map(|x| x.as_str()).collect();
        for ip in addresses.get(&service).into_iter().flatten() {
            if !own {
                exporters.push_str(&format!("{} {ip} {port} {} {}\n", j.name, j.path, metrics.join(" ")));
            }
        }
        targets.insert(j.name.to_string(), addresses.get(&service).map_or(0, Vec::len));
    }
    // Made-up secret files where the containers read theirs: the receivers' (a URL that takes
    // nothing) and the scrape jobs' credentials.
    let mut secrets = String::new();
    for f in am.iter().flat_map(|am| &runtime.container(am.service()).secret_files) {
        secrets.push_str(&format!("{} http://127.0.0.1:9/hook\n", f.container_path()));
    }
    for f in &runtime.container(m.prometheus.service).secret_files {
        secrets.push_str(&format!("{} made-up-credential\n", f.container_path()));
    }
    let rules_doc: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(tree.join(env).join("prometheus/alerts.yml"))?)?;
    let all_rules: Vec<&serde_json::Value> = rules_doc["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    let rules = all_rules.len();
    // The first critical service watched by a job we can stop, and its `up == 0` alert.
    let stop = if with_alert && am.is_some() {
        m.scrape_jobs
            .iter()
            .filter(|j| {
                let s = stack.service(j.target.service);
                stack.service(j.monitors).critical
                    && s.id != m.prometheus.service
                    && am.is_none_or(|am| s.id != am.service())
            })
            .find_map(|j| {
                let expr = format!("up{{job=\"{}\"}} == 0", j.name);
                let rule = all_rules.iter().find(|r| r["expr"] == expr.as_str())?;
                Some((j.name.to_string(), rule["alert"].as_str()?.to_owned()))
            })
    } else {
        None
    };
    for (name, text) in [("hosts", hosts), ("exporters", exporters), ("secrets", secrets)] {
        std::fs::write(work.join(name), text)?;
    }
    Ok(Plan {
        env: env.to_owned(),
        work: work.to_owned(),
        prom_listen,
        am_listen,
        targets,
        rules,
        stop,
    })
}

fn run(root: &Path, tree: &Path, plan: &Plan) -> anyhow::Result<usize> {
    let golden = tree.join(&plan.env);
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--net", "--propagation", "private", "bash", "-c", SCENARIO])
        .env("HOSTS", plan.work.join("hosts"))
        .env("EXPORTERS", plan.work.join("exporters"))
        .env("SECRETS", plan.work.join("secrets"))
        .env("EXPORTER_PY", root.join("xtask/behaviour/exporter.py"))
        .env("PROM_DIR", golden.join("prometheus"))
        .env("AM_CONFIG", golden.join("alertmanager/alertmanager.yml"))
        .env("PROM_LISTEN", &plan.prom_listen)
        .env("AM_LISTEN", &plan.am_listen);
    if let Some((job, alert)) = &plan.stop {
        cmd.env("STOP_JOB", job).env("ALERT", alert);
    }
    let out = cmd.output().context("running unshare")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{}: the monitoring scenario failed:\n{stdout}{stderr}", plan.env);
    }
    let seen: BTreeMap<&str, serde_json::Value> = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| serde_json::from_str(v).ok().map(|v| (k, v)))
        .collect();
    let mut wrong = Vec::new();
    let mut checks = 0;
    let active = seen["targets"]["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (job, want) in &plan.targets {
        let mine: Vec<&serde_json::Value> = active.iter().filter(|t| t["labels"]["job"] == job.as_str()).collect();
        let up = mine.iter().filter(|t| t["health"] == "up").count();
        if mine.len() == *want && up == *want {
            checks += 1;
        } else {
            wrong.push(format!(
                "job {job}: {up} of {} targets up, the model has {want} containers",
                mine.len()
            ));
        }
    }
    let groups = seen["rules"]["data"]["groups"].as_array().cloned().unwrap_or_default();
    let rules: Vec<&serde_json::Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    let healthy = rules.iter().filter(|r| r["health"] == "ok").count();
    if rules.len() == plan.rules && healthy == plan.rules {
        checks += 1;
    } else {
        let bad: Vec<String> = rules
            .iter()
            .filter(|r| r["health"] != "ok")
            .map(|r| format!("{} ({}: {})", r["name"], r["health"], r["lastError"]))
            .collect();
        wrong.push(format!(
            "{healthy} of {} rules healthy, {} rendered: {}",
            rules.len(),
            plan.rules,
            bad.join(", ")
        ));
    }
    if let Some((job, alert)) = &plan.stop {
        let fired = seen
            .get("alerts")
            .and_then(|a| a.as_array())
            .is_some_and(|a| a.iter().any(|x| x["labels"]["alertname"] == alert.as_str()));
        if fired {
            checks += 1;
        } else {
            wrong.push(format!(
                "stopping the exporter of job {job} did not bring {alert} to Alertmanager"
            ));
        }
    }
    if !wrong.is_empty() {
        bail!(
            "{}: Prometheus and Alertmanager do not behave as the model says:\n  {}\n\n{stderr}",
            plan.env,
            wrong.join("\n  ")
        );
    }
    Ok(checks)
}

/// Runs every environment of the spec folder `specs` (at once: each waits on Prometheus's
/// intervals), with the files of the rendered `tree` (`<env>/` each).
pub fn check(root: &Path, specs: &Path, tree: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&[
        "prometheus",
        "prometheus-alertmanager",
        "dnsmasq",
        "unshare",
        "curl",
        "python3",
        "ip",
    ])? {
        return Ok(skip);
    }
    let work = crate::validate::scratch_dir("prometheus-run");
    // An environment without monitoring has nothing to run.
    let envs: Vec<String> = vutler_spec::environments(specs)
        .map_err(|r| anyhow!("{r}"))?
        .into_iter()
        .filter(|env| tree.join(env).join(vutler_spec::configs::PROMETHEUS_CONFIG).exists())
        .collect();
    let plans = envs
        .iter()
        .map(|env| plan(specs, tree, env, &work.join(env), env == "production"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let results: Vec<anyhow::Result<usize>> = std::thread::scope(|scope| {
        let handles: Vec<_> = plans.iter().map(|p| scope.spawn(|| run(root, tree, p))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("a scenario thread panicked"))))
            .collect()
    });
    let _ = std::fs::remove_dir_all(&work);
    let mut checks = 0;
    for result in results {
        match result {
            Err(e) if e.to_string().contains("Operation not permitted") => {
                return absent(format!("private namespaces are not allowed here ({e})"));
            }
            r => checks += r?,
        }
    }
    Ok(Outcome::Passed(checks))
}
