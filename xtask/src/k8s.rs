//! The Kubernetes environments' manifests (`golden/<env>/k8s/`), checked by what consumes them:
//!
//! - the strict JSON schemas of the environment's Kubernetes version, in process (vendored in
//!   `xtask/schemas/k8s/`: every field the API does not know is refused), and those of the
//!   custom resources (the Gateway API's, in `xtask/schemas/crds/`);
//! - `kubernetes-validate --strict` (PyPI), whose "no schema" warning is a failure, with the
//!   custom resources' vendored schemas beside its own (`kubernetes_validate.py`);
//! - `kubectl kustomize` of the folder, which must build exactly the objects of the files;
//! - `checkov --framework kubernetes`, with the skip list below, each entry with its reason;
//! - `promtool` and `amtool` on the configs as the containers see them: every ConfigMap
//!   written where its workload mounts it, so that a config and the files it names beside it
//!   (Prometheus's rules) are checked together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::validate::{Outcome, k8s_dirs, require, scratch_dir};

/// The checkov checks that do not apply, each with its reason.
pub const CHECKOV_SKIPS: [(&str, &str); 12] = [
    // Images are pinned by tag in the spec (and `image-tag` refuses `latest`); the model has no
    // digests to render.
    ("CKV_K8S_43", "image digests"),
    (
        "CKV_K8S_15",
        "imagePullPolicy Always: tags are pinned, IfNotPresent is what is meant",
    ),
    // The datastores' images start as root, chown their data and switch to their own user, and
    // several write outside their volumes (caches, pid files): the manifests keep Docker's
    // defaults less NET_RAW, as the Compose deployment runs them.
    ("CKV_K8S_22", "read-only root filesystem"),
    ("CKV_K8S_23", "root containers"),
    ("CKV_K8S_25", "capabilities added back after dropping ALL"),
    ("CKV_K8S_37", "capabilities assigned"),
    ("CKV_K8S_40", "high UIDs"),
    // Datastores have no liveness probe on purpose (see vutler-render/src/kubernetes.rs), and
    // redis-exporter's image has no shell to run a healthcheck (its readiness is a TCP check).
    ("CKV_K8S_8", "liveness probes"),
    // Images read secrets from the environment when they cannot read a `*_FILE`.
    ("CKV_K8S_35", "secrets as environment variables"),
    // node-exporter shares the host's processes and reads its filesystem, as documented.
    ("CKV_K8S_17", "host PID namespace"),
    // Workloads run under the namespace's default ServiceAccount with no token mounted
    // (`automountServiceAccountToken: false`); none calls the API.
    ("CKV_K8S_38", "service account tokens (none is mounted)"),
    ("CKV2_K8S_5", "no ServiceAccount bound to a Role: none calls the API"),
];

/// The documents of one manifest file.
fn documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = Value::deserialize(doc).with_context(|| format!("parsing {}", path.display()))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Every manifest file of a tree's `k8s/` (the kustomization aside), in name order.
fn manifests(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("k8s"))
        .with_context(|| format!("reading {}/k8s", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    Ok(files)
}

fn env_of(dir: &Path) -> String {
    dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned()
}

/// The Kubernetes version an environment of `specs` declares (`1.30`).
fn version(specs: &Path, env: &str) -> anyhow::Result<String> {
    let stack = vutler_spec::load(specs, env).map_err(|r| anyhow::anyhow!("{r}"))?.stack;
    match stack.kubernetes() {
        Some(k) => Ok(k.version()),
        None => bail!("{env} has a k8s/ tree but is not a Kubernetes environment"),
    }
}

/// The schema file of an object's kind (`deployment-apps-v1.json`, `service-v1.json`).
pub fn schema_file(object: &Value) -> anyhow::Result<String> {
    let api = object["apiVersion"].as_str().context("an object without apiVersion")?;
    let kind = object["kind"]
        .as_str()
        .context("an object without kind")?
        .to_ascii_lowercase();
    Ok(match api.split_once('/') {
        Some((group, version)) => {
            let group = group.split('.').next().unwrap_or(group);
            format!("{kind}-{group}-{version}.json")
        }
        None => format!("{kind}-{api}.json"),
    })
}

/// The vendored schema of a custom resource (in `schemas/crds/`), which no Kubernetes
/// version's schemas hold; `None` for a built-in kind.
fn custom_resource(schemas: &Path, object: &Value) -> anyhow::Result<Option<PathBuf>> {
    let api = object["apiVersion"].as_str().unwrap_or_default();
    let group = api.split_once('/').map_or("", |(group, _)| group);
    if !CUSTOM_GROUPS.contains(&group) {
        return Ok(None);
    }
    let path = schemas.join("crds").join(schema_file(object)?);
    if !path.is_file() {
        bail!(
            "no schema vendored for the custom resource {api} {} in {}",
            object["kind"],
            path.display()
        );
    }
    Ok(Some(path))
}

/// The API groups of the custom resources the manifests may hold (the Gateway API's and the
/// prometheus-operator's), whose schemas are vendored in `schemas/crds/`.
pub const CUSTOM_GROUPS: [&str; 2] = ["gateway.networking.k8s.io", "monitoring.coreos.com"];

/// Every object of every Kubernetes environment against the strict schemas of its version.
pub fn schemas(specs: &Path, golden: &Path, schemas: &Path) -> anyhow::Result<Outcome> {
    let mut validators: BTreeMap<PathBuf, jsonschema::Validator> = BTreeMap::new();
    let mut checks = 0;
    for dir in k8s_dirs(golden)? {
        let env = env_of(&dir);
        let folder = schemas.join(format!("k8s/v{}.0-standalone-strict", version(specs, &env)?));
        if !folder.is_dir() {
            bail!(
                "{env}: no schemas vendored for its Kubernetes version in {} (copy them from kubernetes-validate)",
                folder.display()
            );
        }
        for file in manifests(&dir)? {
            for object in documents(&file)? {
                let schema_path = match custom_resource(schemas, &object)? {
                    Some(path) => path,
                    None => folder.join(schema_file(&object)?),
                };
                if !validators.contains_key(&schema_path) {
                    let text = std::fs::read_to_string(&schema_path).with_context(|| {
                        format!(
                            "{}: no vendored schema for {} {}",
                            file.display(),
                            object["apiVersion"],
                            object["kind"]
                        )
                    })?;
                    let schema: Value = serde_json::from_str(&text)?;
                    let validator = jsonschema::validator_for(&schema)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", schema_path.display()))?;
                    validators.insert(schema_path.clone(), validator);
                }
                let errors: Vec<String> = validators[&schema_path]
                    .iter_errors(&object)
                    .map(|e| format!("{}: {e}", e.instance_path()))
                    .collect();
                if !errors.is_empty() {
                    bail!(
                        "{} {} {}: {}",
                        file.display(),
                        object["kind"],
                        object["metadata"]["name"],
                        errors.join("; ")
                    );
                }
                checks += 1;
            }
        }
    }
    Ok(Outcome::Passed(checks))
}

/// The minor versions whose strict schemas are vendored in `schemas/k8s/` (`30` for
/// `v1.30.0-standalone-strict`), in order.
fn vendored_minors(schemas: &Path) -> anyhow::Result<Vec<u32>> {
    let mut minors: Vec<u32> = std::fs::read_dir(schemas.join("k8s"))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| {
            n.strip_prefix("v1.")?
                .strip_suffix(".0-standalone-strict")?
                .parse()
                .ok()
        })
        .collect();
    minors.sort_unstable();
    Ok(minors)
}

/// The Kubernetes environments of `specs` rendered for every vendored version (the oldest
/// and newest the manifests are written for among them), each checked against that version's
/// strict schemas in process and by `kubernetes-validate`: a field or API one version lacks
/// fails there. `render` renders a spec folder into a tree of environments.
pub fn every_version(
    specs: &Path,
    schema_dir: &Path,
    scratch: &Path,
    render: impl Fn(&Path, &Path) -> anyhow::Result<()>,
) -> anyhow::Result<Outcome> {
    let minors = vendored_minors(schema_dir)?;
    for needed in [
        vutler_spec::stack::Kubernetes::OLDEST_MINOR,
        vutler_spec::stack::Kubernetes::NEWEST_MINOR,
    ] {
        if !minors.contains(&needed) {
            bail!(
                "no strict schemas vendored for Kubernetes 1.{needed} in {}/k8s",
                schema_dir.display()
            );
        }
    }
    let mut checks = 0;
    for minor in minors {
        let folder = scratch.join(format!("1.{minor}"));
        let copy = folder.join("specs");
        for file in crate::files_under(specs)? {
            let relative = file.strip_prefix(specs)?;
            let target = copy.join(relative);
            std::fs::create_dir_all(target.parent().unwrap_or(&copy))?;
            let mut text = std::fs::read_to_string(&file)?;
            if relative.starts_with("env")
                && let Ok(stack) = vutler_spec::load(specs, &env_name(relative)).map(|l| l.stack)
                && let Some(k) = stack.kubernetes()
            {
                let declared = format!("version: \"{}\"", k.version());
                if !text.contains(&declared) {
                    bail!("{}: no `{declared}` to change", file.display());
                }
                text = text.replacen(&declared, &format!("version: \"1.{minor}\""), 1);
            }
            std::fs::write(&target, text)?;
        }
        let tree = folder.join("tree");
        render(&copy, &tree).with_context(|| format!("Kubernetes 1.{minor}"))?;
        for outcome in [
            schemas(&copy, &tree, schema_dir)?,
            kubernetes_validate(&copy, &tree, schema_dir)?,
        ] {
            match outcome {
                Outcome::Passed(n) => checks += n,
                skipped @ Outcome::Skipped(_) => return Ok(skipped),
            }
        }
    }
    let _ = std::fs::remove_dir_all(scratch);
    Ok(Outcome::Passed(checks))
}

/// The environment an overlay file is for (`env/kubernetes.yaml`: `kubernetes`).
fn env_name(relative: &Path) -> String {
    relative
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned()
}

/// `kubectl kustomize` builds each folder into exactly the objects of its files.
pub fn kustomize(golden: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["kubectl"])? {
        return Ok(skip);
    }
    let mut checks = 0;
    for dir in k8s_dirs(golden)? {
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(dir.join("k8s"))
            .output()
            .context("running kubectl kustomize")?;
        if !out.status.success() {
            bail!(
                "kubectl kustomize {}/k8s failed:\n{}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let built = String::from_utf8_lossy(&out.stdout);
        let mut names: Vec<String> = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&built) {
            let v = Value::deserialize(doc)?;
            names.push(format!(
                "{}/{}",
                v["kind"].as_str().unwrap_or(""),
                v["metadata"]["name"].as_str().unwrap_or("")
            ));
        }
        let mut expected: Vec<String> = Vec::new();
        for file in manifests(&dir)? {
            for v in documents(&file)? {
                expected.push(format!(
                    "{}/{}",
                    v["kind"].as_str().unwrap_or(""),
                    v["metadata"]["name"].as_str().unwrap_or("")
                ));
            }
        }
        names.sort();
        expected.sort();
        if names != expected {
            bail!(
                "kubectl kustomize {}/k8s built {names:?}, the files hold {expected:?}",
                dir.display()
            );
        }
        checks += names.len();
    }
    Ok(Outcome::Passed(checks))
}

/// kubernetes-validate with the vendored schemas of the custom resources added to its own
/// (`kubernetes_validate.py`).
const KUBERNETES_VALIDATE: &str = include_str!("kubernetes_validate.py");

/// The interpreter of an installed Python program: its `#!` line.
fn interpreter(program: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .with_context(|| format!("{program} is not on PATH"))?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let line = text.lines().next().unwrap_or_default();
    let python = line
        .strip_prefix("#!")
        .map(str::trim)
        .filter(|p| p.starts_with('/') && !p.contains(' '))
        .with_context(|| format!("{}: no interpreter on its first line ({line})", path.display()))?;
    Ok(PathBuf::from(python))
}

/// `kubernetes-validate --strict` on every manifest, for its environment's version, the custom
/// resources against the schemas vendored in `schemas/crds/`; a kind it has no schema for (its
/// only warning) fails.
pub fn kubernetes_validate(specs: &Path, golden: &Path, schemas: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["kubernetes-validate"])? {
        return Ok(skip);
    }
    let python = interpreter("kubernetes-validate")?;
    let mut checks = 0;
    for dir in k8s_dirs(golden)? {
        let files = manifests(&dir)?;
        let out = Command::new(&python)
            .arg("-c")
            .arg(KUBERNETES_VALIDATE)
            .env("VUTLER_CRDS", schemas.join("crds"))
            .args(["--strict", "--kubernetes-version", &version(specs, &env_of(&dir))?])
            .args(&files)
            .output()
            .context("running kubernetes-validate")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let warned = stdout.lines().any(|l| l.starts_with("WARN") || l.starts_with("ERROR"));
        if !out.status.success() || warned {
            bail!(
                "kubernetes-validate on {}/k8s:\n{stdout}{}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        checks += files.len();
    }
    Ok(Outcome::Passed(checks))
}

/// `checkov --framework kubernetes` on every folder: no failed check beyond the skip list.
pub fn checkov(golden: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["checkov"])? {
        return Ok(skip);
    }
    let skips: Vec<&str> = CHECKOV_SKIPS.iter().map(|(id, _)| *id).collect();
    let mut checks = 0;
    for dir in k8s_dirs(golden)? {
        let out = Command::new("checkov")
            .args([
                "--framework",
                "kubernetes",
                "--skip-download",
                "--quiet",
                "--compact",
                "--output",
                "cli",
            ])
            .args(["--skip-check", &skips.join(",")])
            .arg("--directory")
            .arg(dir.join("k8s"))
            .env("BC_SKIP_MAPPING", "TRUE")
            .output()
            .context("running checkov")?;
        if !out.status.success() {
            bail!(
                "checkov on {}/k8s:\n{}{}",
                dir.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        checks += 1;
    }
    Ok(Outcome::Passed(checks))
}

/// A config file as a container sees it, written under `root/<workload>/`.
struct Mounted {
    /// Where it is written.
    path: PathBuf,
    /// The files the container's Secret volumes provide (`/run/secrets/x`).
    secrets: Vec<String>,
}

/// The files a container's Secret volumes provide, by their path in the container.
fn secret_files(container: &Value, volumes: &[Value]) -> Vec<String> {
    let mut files = Vec::new();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let Some(volume) = volumes.iter().find(|v| v["name"] == mount["name"]) else {
            continue;
        };
        let at = mount["mountPath"].as_str().unwrap_or_default().trim_end_matches('/');
        let sources = volume["projected"]["sources"].as_array().cloned().unwrap_or_default();
        let secrets = sources.iter().map(|s| &s["secret"]).chain([&volume["secret"]]);
        for secret in secrets {
            for item in secret["items"].as_array().into_iter().flatten() {
                if let Some(path) = item["path"].as_str() {
                    files.push(format!("{at}/{path}"));
                }
            }
        }
    }
    files
}

/// The rule files of a tree's PrometheusRules (`{ groups }`, their `spec`).
fn prometheus_rules(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for file in manifests(dir)? {
        for doc in documents(&file)? {
            if doc["kind"] == "PrometheusRule" {
                out.push(serde_json::json!({ "groups": doc["spec"]["groups"] }));
            }
        }
    }
    Ok(out)
}

/// Writes every ConfigMap where its workload's container reads it, under `root/<workload>/`.
fn mounted_configs(dir: &Path, root: &Path) -> anyhow::Result<Vec<Mounted>> {
    let mut written = Vec::new();
    for file in manifests(dir)? {
        let docs = documents(&file)?;
        let maps: BTreeMap<&str, &Value> = docs
            .iter()
            .filter(|d| d["kind"] == "ConfigMap")
            .filter_map(|d| Some((d["metadata"]["name"].as_str()?, &d["data"])))
            .collect();
        // Workloads, and CronJobs, whose pods are their Jobs'.
        let pods = docs.iter().filter_map(|d| {
            let template = [&d["spec"]["template"], &d["spec"]["jobTemplate"]["spec"]["template"]]
                .into_iter()
                .find(|t| t["spec"].is_object())?;
            Some((d, &template["spec"]))
        });
        for (workload, pod) in pods {
            let name = workload["metadata"]["name"].as_str().unwrap_or_default();
            let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
            let claims = workload["spec"]["volumeClaimTemplates"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let containers = ["initContainers", "containers"]
                .into_iter()
                .flat_map(|k| pod[k].as_array().into_iter().flatten());
            for container in containers {
                let secrets = secret_files(container, &volumes);
                for mount in container["volumeMounts"].as_array().into_iter().flatten() {
                    let Some(volume) = volumes.iter().find(|v| v["name"] == mount["name"]) else {
                        if claims.iter().any(|c| c["metadata"]["name"] == mount["name"]) {
                            continue;
                        }
                        bail!(
                            "{}: {name} mounts the undeclared volume {}",
                            file.display(),
                            mount["name"]
                        );
                    };
                    let Some(map_name) = volume["configMap"]["name"].as_str() else {
                        continue;
                    };
                    let Some(data) = maps.get(map_name) else {
                        bail!(
                            "{}: {name} mounts the ConfigMap {map_name}, which is not in its file",
                            file.display()
                        );
                    };
                    let target = root
                        .join(name)
                        .join(mount["mountPath"].as_str().unwrap_or("").trim_start_matches('/'));
                    for item in volume["configMap"]["items"].as_array().into_iter().flatten() {
                        let (key, path) = (item["key"].as_str().unwrap_or(""), item["path"].as_str().unwrap_or(""));
                        let dest = match mount["subPath"].as_str() {
                            Some(sub) if sub == path => target.clone(),
                            Some(_) => continue,
                            None => target.join(path),
                        };
                        let contents = data[key]
                            .as_str()
                            .with_context(|| format!("{map_name} has no key {key}"))?;
                        if let Some(parent) = dest.parent() {
                            std::fs::create_dir_all(parent)?;
                        }
                        std::fs::write(&dest, contents)?;
                        written.push(Mounted {
                            path: dest,
                            secrets: secrets.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(written)
}

/// `promtool check config`, `amtool check-config` and `shellcheck` (the backup CronJobs'
/// upload script) on the ConfigMaps' files as the containers see them, and `promtool check
/// rules` on the PrometheusRules' groups.
pub fn monitoring_configs(golden: &Path) -> anyhow::Result<Outcome> {
    if let Some(skip) = require(&["promtool", "amtool", "shellcheck"])? {
        return Ok(skip);
    }
    let scratch = scratch_dir("k8s-configs");
    let result = (|| {
        let mut checks = 0;
        for dir in k8s_dirs(golden)? {
            let root = scratch.join(env_of(&dir));
            // A PrometheusRule's groups, as the operator's Prometheus loads them.
            for (i, rules) in prometheus_rules(&dir)?.into_iter().enumerate() {
                let file = root.join(format!("prometheusrule-{i}.yml"));
                std::fs::create_dir_all(&root)?;
                std::fs::write(&file, serde_json::to_string_pretty(&rules)?)?;
                crate::validate::run(
                    Command::new("promtool").args(["check", "rules"]).arg(&file),
                    &format!("promtool check rules on a PrometheusRule of {}/k8s", dir.display()),
                )?;
                checks += 1;
            }
            for Mounted { path: file, secrets } in mounted_configs(&dir, &root)? {
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if name == "prometheus.yml" {
                    // The credential files it names are the pod's Secrets'.
                    let text = std::fs::read_to_string(&file)?;
                    let needed = crate::validate::credential_files(&text);
                    if let Some(missing) = needed.iter().find(|f| !secrets.iter().any(|s| s == *f)) {
                        bail!(
                            "{} (from {}/k8s) reads {missing}, which no Secret of its pod provides",
                            file.display(),
                            dir.display()
                        );
                    }
                    if let Some(skip) = crate::validate::promtool_check_config(&file, &needed)? {
                        return Ok(skip);
                    }
                    checks += 1;
                    continue;
                }
                let (tool, args): (&str, &[&str]) = match name {
                    "alertmanager.yml" => ("amtool", &["check-config"]),
                    "backup.sh" => ("shellcheck", &["--severity=style", "--shell=bash"]),
                    _ => continue,
                };
                let out = Command::new(tool)
                    .args(args)
                    .arg(&file)
                    .output()
                    .with_context(|| format!("running {tool}"))?;
                if !out.status.success() {
                    bail!(
                        "{tool} on {} (from {}/k8s):\n{}{}",
                        file.display(),
                        dir.display(),
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                checks += 1;
            }
        }
        Ok(Outcome::Passed(checks))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored schemas refuse what the API would: a field it does not know, a wrong type.
    #[test]
    fn the_strict_schemas_refuse_unknown_fields_and_wrong_types() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let file = root.join("golden/kubernetes/k8s/vutler.yaml");
        let deployment = documents(&file)
            .unwrap_or_else(|e| panic!("{e:#}"))
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .unwrap_or_else(|| panic!("{}: no Deployment", file.display()));
        let path = root
            .join("xtask/schemas/k8s/v1.30.0-standalone-strict")
            .join(schema_file(&deployment).unwrap_or_else(|e| panic!("{e:#}")));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
        assert!(validator.is_valid(&deployment));
        let mut unknown = deployment.clone();
        unknown["spec"]["template"]["spec"]["containers"][0]["healthcheck"] = Value::from("curl");
        assert!(!validator.is_valid(&unknown), "an unknown container field passes");
        let mut wrong = deployment;
        wrong["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = Value::from("3000");
        assert!(!validator.is_valid(&wrong), "a port as text passes");
    }

    /// The custom resources' vendored schemas are strict too, and hold the CRDs' own checks
    /// (ranges, patterns, enums).
    #[test]
    fn the_custom_resource_schemas_refuse_what_their_crds_refuse() {
        let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let route = serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": { "name": "app", "namespace": "app" },
            "spec": {
                "parentRefs": [{ "name": "app", "sectionName": "https" }],
                "hostnames": ["app.example.com"],
                "rules": [{
                    "matches": [{ "path": { "type": "PathPrefix", "value": "/" } }],
                    "backendRefs": [{ "name": "app", "port": 3000 }],
                    "timeouts": { "request": "1h" }
                }]
            }
        });
        let path = custom_resource(&schemas, &route)
            .unwrap_or_else(|e| panic!("{e:#}"))
            .unwrap_or_else(|| panic!("HTTPRoute is a custom resource"));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            validator.is_valid(&route),
            "{:?}",
            validator.iter_errors(&route).map(|e| e.to_string()).collect::<Vec<_>>()
        );
        let refused = |change: &dyn Fn(&mut Value), what: &str| {
            let mut wrong = route.clone();
            change(&mut wrong);
            assert!(!validator.is_valid(&wrong), "{what} passes");
        };
        refused(
            &|r| r["spec"]["rules"][0]["sessionPersistence"] = Value::from("cookie"),
            "an unknown field",
        );
        refused(
            &|r| r["spec"]["rules"][0]["backendRefs"][0]["port"] = Value::from(70000),
            "a port above 65535",
        );
        refused(
            &|r| r["spec"]["rules"][0]["timeouts"]["request"] = Value::from("3600"),
            "a duration without unit",
        );
        refused(
            &|r| r["spec"]["hostnames"][0] = Value::from("App.Example.com"),
            "an upper-case hostname",
        );
        refused(
            &|r| r["spec"]["rules"][0]["matches"][0]["path"]["type"] = Value::from("Prefix"),
            "an Ingress path type",
        );
        refused(
            &|r| r["metadata"]["labelz"] = Value::from("x"),
            "an unknown metadata field",
        );
        // And the prometheus-operator's.
        let monitor = serde_json::json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": { "name": "app", "namespace": "app", "labels": { "release": "kube-prometheus-stack" } },
            "spec": {
                "selector": { "matchLabels": { "app.kubernetes.io/name": "app" } },
                "endpoints": [{
                    "port": "http",
                    "path": "/metrics",
                    "interval": "15s",
                    "relabelings": [{ "targetLabel": "job", "replacement": "app" }],
                    "bearerTokenSecret": { "name": "app-token", "key": "app_token" }
                }]
            }
        });
        let path = custom_resource(&schemas, &monitor)
            .unwrap_or_else(|e| panic!("{e:#}"))
            .unwrap_or_else(|| panic!("ServiceMonitor is a custom resource"));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
        assert!(validator.is_valid(&monitor));
        let mut wrong = monitor.clone();
        wrong["spec"]["endpoints"][0]["bearerTokenSecret"]["keys"] = Value::from("x");
        assert!(
            !validator.is_valid(&wrong),
            "an unknown field of a Secret reference passes"
        );
        let mut wrong = monitor;
        wrong["spec"]["endpoints"] = Value::from("http");
        assert!(!validator.is_valid(&wrong), "endpoints as text pass");
        // A built-in kind is not looked for among them.
        let service = serde_json::json!({ "apiVersion": "v1", "kind": "Service" });
        assert!(
            custom_resource(&schemas, &service)
                .unwrap_or_else(|e| panic!("{e:#}"))
                .is_none()
        );
    }

    #[test]
    fn schema_files_are_named_by_kind_group_and_version() {
        let name = |api: &str, kind: &str| schema_file(&serde_json::json!({"apiVersion": api, "kind": kind})).ok();
        assert_eq!(name("v1", "Service").as_deref(), Some("service-v1.json"));
        assert_eq!(
            name("apps/v1", "StatefulSet").as_deref(),
            Some("statefulset-apps-v1.json")
        );
        assert_eq!(
            name("networking.k8s.io/v1", "NetworkPolicy").as_deref(),
            Some("networkpolicy-networking-v1.json")
        );
    }
}
