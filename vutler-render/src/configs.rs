//! The first step of a render: every config file of the stack's catalogue
//! ([`vutler_spec::Stack::config_files`]), each produced by the renderer of its kind.
//!
//! The second step, the deployments (Compose, and the scripts), mounts these files and hashes
//! them; taking them as [`Configs`] makes the order a matter of types: a deployment cannot be
//! rendered before the configs it hashes.

use sha2::{Digest, Sha256};
use vutler_spec::configs::{ConfigId, ConfigKind};
use vutler_spec::stack::ConfigMount;

use crate::runtime::Runtime;
use crate::{RenderError, Rendered, alertmanager, grafana, nginx, prometheus};

/// The rendered config files, one per entry of the stack's catalogue, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configs {
    /// Path in the tree and contents, by [`ConfigId`].
    files: Vec<(String, String)>,
}

impl Configs {
    /// Renders every config file of the stack; the runtime description says where containers
    /// find what the files name (Alertmanager's secret files).
    pub fn render(runtime: &Runtime<'_>) -> Result<Self, RenderError> {
        let stack = runtime.stack();
        // Each file is a function of the stack alone: they are rendered on every core, and
        // collected in catalogue order.
        let files = vutler_spec::parallel::map(stack.config_files(), |file| {
            // The catalogue lists a part's files only when the stack has the part.
            let missing = || RenderError::Catalogue(file.path().to_owned());
            let monitoring = || stack.monitoring().ok_or_else(missing);
            let grafana = || stack.grafana().ok_or_else(missing);
            let contents = match &file.kind {
                ConfigKind::Nginx => nginx::render(stack),
                ConfigKind::PrometheusConfig => prometheus::config(stack, monitoring()?),
                ConfigKind::PrometheusRules => prometheus::rules(stack, monitoring()?),
                ConfigKind::Alertmanager => {
                    alertmanager::render(stack, stack.alertmanager().ok_or_else(missing)?, runtime)
                }
                ConfigKind::GrafanaDatasources => grafana::datasources(stack, grafana()?),
                ConfigKind::GrafanaProviders { dashboards } => {
                    grafana()?;
                    grafana::providers(stack, dashboards)
                }
                ConfigKind::GrafanaDashboard(id) => grafana::dashboard(stack, grafana()?, *id),
            }?;
            Ok((file.path().to_owned(), contents))
        })
        .into_iter()
        .collect::<Result<_, RenderError>>()?;
        Ok(Self { files })
    }

    /// The contents of a config file.
    pub fn get(&self, id: ConfigId) -> &str {
        &self.files[id.index()].1
    }

    /// The hash of every file these mounts cover (path and contents, in mount and path order),
    /// which goes on the service so that a changed config recreates its container; `None` when
    /// it mounts none.
    pub fn hash(&self, mounts: &[&ConfigMount]) -> Option<String> {
        if mounts.is_empty() {
            return None;
        }
        let mut hasher = Sha256::new();
        for mount in mounts {
            for id in &mount.files {
                let (path, contents) = &self.files[id.index()];
                hasher.update(path.as_bytes());
                hasher.update([0]);
                hasher.update(contents.as_bytes());
                hasher.update([0]);
            }
        }
        Some(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Adds every config file to the tree.
    pub fn insert_into(&self, tree: &mut Rendered) -> Result<(), RenderError> {
        for (path, contents) in &self.files {
            tree.insert(path.clone(), contents.clone())?;
        }
        Ok(())
    }
}
