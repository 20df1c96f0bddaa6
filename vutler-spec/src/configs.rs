//! The config files a deployment of the stack contains, by their path in the rendered tree.
//!
//! Services mount rendered configs with `config:` mounts, naming a path of this catalogue or a
//! folder holding some of them. Validation resolves every such mount to the files it covers, so
//! a mount of a file nothing renders is a spec error with a position (`config-mount-unknown`)
//! rather than a failure of the renderer; the renderer produces exactly one file per entry.

use std::fmt;

use crate::stack::DashboardId;
use crate::text::AbsolutePath;

/// Path of the NGINX configuration.
pub const NGINX_CONF: &str = "nginx/nginx.conf";
/// Path of the Prometheus configuration.
pub const PROMETHEUS_CONFIG: &str = "prometheus/prometheus.yml";
/// Path of the Prometheus rules, next to the configuration that loads them.
pub const PROMETHEUS_RULES: &str = "prometheus/alerts.yml";
/// Path of the Alertmanager configuration.
pub const ALERTMANAGER_CONFIG: &str = "alertmanager/alertmanager.yml";
/// Folder of Grafana's provisioning files.
pub const GRAFANA_PROVISIONING: &str = "grafana/provisioning";
/// Path of Grafana's datasources.
pub const GRAFANA_DATASOURCES: &str = "grafana/provisioning/datasources/datasources.yml";
/// Path of Grafana's dashboard provider.
pub const GRAFANA_PROVIDERS: &str = "grafana/provisioning/dashboards/dashboards.yml";
/// Folder of the dashboards, one JSON file each.
pub const GRAFANA_DASHBOARDS: &str = "grafana/dashboards";

/// What a config file is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigKind {
    /// `nginx/nginx.conf`.
    Nginx,
    /// `prometheus/prometheus.yml`.
    PrometheusConfig,
    /// `prometheus/alerts.yml`.
    PrometheusRules,
    /// `alertmanager/alertmanager.yml`.
    Alertmanager,
    /// Grafana's provisioned datasources.
    GrafanaDatasources,
    /// Grafana's dashboard provider (rendered when the stack has dashboards).
    GrafanaProviders {
        /// Where Grafana sees the dashboards folder.
        dashboards: AbsolutePath,
    },
    /// One dashboard.
    GrafanaDashboard(DashboardId),
}

/// Position of a file in [`crate::Stack::config_files`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigId(pub(crate) usize);

impl ConfigId {
    /// The position in the catalogue.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A config file the deployment contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// What it is.
    pub kind: ConfigKind,
    path: String,
}

impl ConfigFile {
    /// Its path in the rendered tree.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

/// The optional parts of the stack that have config files of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    /// Prometheus (its configuration and rules).
    pub(crate) prometheus: bool,
    /// Alertmanager.
    pub(crate) alertmanager: bool,
    /// Grafana (datasources, and the dashboards and their provider).
    pub(crate) grafana: bool,
}

impl Parts {
    /// Every part.
    #[cfg(test)]
    pub(crate) const ALL: Parts = Parts {
        prometheus: true,
        alertmanager: true,
        grafana: true,
    };

    /// The fixed files of these parts, each with what it is.
    fn fixed(self) -> Vec<(ConfigKind, &'static str)> {
        let mut files = vec![(ConfigKind::Nginx, NGINX_CONF)];
        if self.prometheus {
            files.push((ConfigKind::PrometheusConfig, PROMETHEUS_CONFIG));
            files.push((ConfigKind::PrometheusRules, PROMETHEUS_RULES));
        }
        if self.alertmanager {
            files.push((ConfigKind::Alertmanager, ALERTMANAGER_CONFIG));
        }
        if self.grafana {
            files.push((ConfigKind::GrafanaDatasources, GRAFANA_DATASOURCES));
        }
        files
    }
}

/// The paths of the catalogue of a stack of these parts with dashboards of these names, sorted:
/// what `config:` mounts are resolved against, before the catalogue itself is complete.
pub(crate) fn paths<'a>(parts: Parts, dashboards: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut paths: Vec<String> = parts.fixed().into_iter().map(|(_, p)| p.to_owned()).collect();
    let before = paths.len();
    paths.extend(
        dashboards
            .into_iter()
            .map(|name| format!("{GRAFANA_DASHBOARDS}/{name}.json")),
    );
    if paths.len() > before {
        paths.push(GRAFANA_PROVIDERS.to_owned());
    }
    paths.sort();
    paths
}

/// The catalogue: the files of [`paths`], each with what it is. `dashboards_folder` is where
/// Grafana sees the dashboards, known when there are dashboards; `None` when a provider would
/// be needed and the folder is not known (a problem already reported), or when the catalogue
/// would not list the files of [`paths`] (a bug).
pub(crate) fn catalogue<'a>(
    parts: Parts,
    dashboards: impl IntoIterator<Item = (DashboardId, &'a str)> + Clone,
    dashboards_folder: Option<&AbsolutePath>,
) -> Option<Vec<ConfigFile>> {
    let fixed = |kind, path: &str| ConfigFile {
        kind,
        path: path.to_owned(),
    };
    let mut files: Vec<ConfigFile> = parts
        .fixed()
        .into_iter()
        .map(|(kind, path)| fixed(kind, path))
        .collect();
    let mut any = false;
    for (id, name) in dashboards.clone() {
        any = true;
        files.push(ConfigFile {
            kind: ConfigKind::GrafanaDashboard(id),
            path: format!("{GRAFANA_DASHBOARDS}/{name}.json"),
        });
    }
    if any {
        let folder = dashboards_folder?.clone();
        files.push(fixed(
            ConfigKind::GrafanaProviders { dashboards: folder },
            GRAFANA_PROVIDERS,
        ));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    // `config:` mounts hold indices into `paths`: the catalogue must list the same files.
    let same = files
        .iter()
        .map(|f| f.path.as_str())
        .eq(paths(parts, dashboards.into_iter().map(|(_, n)| n))
            .iter()
            .map(String::as_str));
    same.then_some(())?;
    Some(files)
}

/// The files of the catalogue a `config:` mount path covers: the file itself, or every file
/// under the folder it names; in catalogue (path) order.
pub(crate) fn covered(paths: &[String], path: &str) -> Vec<ConfigId> {
    paths
        .iter()
        .enumerate()
        .filter(|(_, f)| *f == path || f.strip_prefix(path).is_some_and(|rest| rest.starts_with('/')))
        .map(|(i, _)| ConfigId(i))
        .collect()
}

/// Every path a `config:` mount may name: each file and each folder holding some.
pub(crate) fn mountable(paths: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in paths {
        let mut prefix = String::new();
        for (i, segment) in f.split('/').enumerate() {
            if i > 0 {
                prefix.push('/');
            }
            prefix.push_str(segment);
            if !out.contains(&prefix) {
                out.push(prefix.clone());
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_cover_files_and_folders() {
        let paths = paths(Parts::ALL, ["overview", "agents"]);
        let covered = |path: &str| {
            covered(&paths, path)
                .iter()
                .map(|i| paths[i.0].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(covered(NGINX_CONF), [NGINX_CONF]);
        assert_eq!(
            covered(GRAFANA_DASHBOARDS),
            ["grafana/dashboards/agents.json", "grafana/dashboards/overview.json"]
        );
        assert_eq!(covered(GRAFANA_PROVISIONING), [GRAFANA_PROVIDERS, GRAFANA_DATASOURCES]);
        assert!(covered("grafana/provisionin").is_empty());
        assert!(covered("nginx/nginx").is_empty());
        assert!(mountable(&paths).contains(&"grafana".to_owned()));
    }

    #[test]
    fn the_catalogue_has_the_paths_mounts_were_resolved_against() {
        let folder = AbsolutePath::parse("/etc/grafana/dashboards").ok();
        let dashboards = [(DashboardId(0), "overview"), (DashboardId(1), "agents")];
        let files = catalogue(Parts::ALL, dashboards, folder.as_ref()).unwrap_or_default();
        assert_eq!(
            files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
            paths(Parts::ALL, ["overview", "agents"])
        );
        // Without dashboards there is no provider to render, and no folder is needed.
        let bare = catalogue(Parts::ALL, [], None).unwrap_or_default();
        assert!(
            !bare
                .iter()
                .any(|f| matches!(f.kind, ConfigKind::GrafanaProviders { .. }))
        );
        assert_eq!(bare.len(), 5);
        // With dashboards, the provider needs to know where Grafana sees them.
        assert_eq!(catalogue(Parts::ALL, dashboards, None), None);
        // A stack without monitoring has the proxy's configuration only.
        let none = Parts {
            prometheus: false,
            alertmanager: false,
            grafana: false,
        };
        let alone = catalogue(none, [], None).unwrap_or_default();
        assert_eq!(alone.iter().map(|f| f.path()).collect::<Vec<_>>(), [NGINX_CONF]);
        assert!(covered(&paths(none, []), PROMETHEUS_CONFIG).is_empty());
    }
}
