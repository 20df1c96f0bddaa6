//! Pure renderers from a validated [`vutler_spec::Stack`] to the files operators deploy.
//!
//! Architecture invariant: nothing in this crate touches the file system, the environment, the
//! clock or the terminal. A render is a function of the stack alone, so the same spec gives
//! byte-identical output on every machine.
//!
//! ```
//! let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
//! let stack = vutler_spec::load(&specs, "staging")?.stack;
//! let tree = vutler_render::render(&stack)?;
//! assert!(tree.get("docker-compose.yml").is_some_and(|c| c.contains("postgres:16.4-alpine")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod alertmanager;
pub mod compose;
pub mod configs;
pub mod diff;
pub mod env_example;
pub mod grafana;
pub mod graph;
pub mod kubernetes;
pub mod nginx;
pub mod ops;
pub mod prometheus;
mod rendered;
pub mod runtime;
pub mod secrets;
mod templates;
pub mod ufw;
pub mod yaml;

use std::fmt;
use std::net::IpAddr;

pub use configs::Configs;
pub use rendered::{Rendered, RenderedPathError};
pub use runtime::Runtime;
use vutler_spec::Stack;

/// Why a render failed. Every variant is a bug in vutler-render: a stack that validation
/// accepted always renders.
#[derive(Debug)]
#[non_exhaustive]
pub enum RenderError {
    /// A value could not be serialized.
    Serialize(serde_json::Error),
    /// The YAML emitter failed.
    Yaml(saphyr::EmitError),
    /// A renderer produced an invalid or duplicate path.
    Path(RenderedPathError),
    /// A template failed (a bug in a template or its context).
    Template(minijinja::Error),
    /// The stack's catalogue lists a config file of a part the stack lacks.
    Catalogue(String),
    /// A backup job the Kubernetes manifests cannot run (validation refuses such a stack).
    Unrunnable(String),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Serialize(e) => write!(f, "cannot serialize: {e}"),
            RenderError::Yaml(e) => write!(f, "cannot write YAML: {e}"),
            RenderError::Path(e) => e.fmt(f),
            RenderError::Template(e) => match e.name() {
                Some(name) => write!(f, "template {name} failed: {e:#}"),
                None => write!(f, "a template failed: {e:#}"),
            },
            RenderError::Catalogue(path) => write!(f, "{path} is listed, but the stack has no part that renders it"),
            RenderError::Unrunnable(job) => write!(
                f,
                "backup job `{job}` cannot run as a Kubernetes CronJob (`kubernetes-backup-job` refuses it)"
            ),
        }
    }
}

impl std::error::Error for RenderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RenderError::Serialize(e) => Some(e),
            RenderError::Yaml(e) => Some(e),
            RenderError::Path(e) => Some(e),
            RenderError::Template(e) => Some(e),
            RenderError::Catalogue(_) | RenderError::Unrunnable(_) => None,
        }
    }
}

impl From<serde_json::Error> for RenderError {
    fn from(e: serde_json::Error) -> Self {
        RenderError::Serialize(e)
    }
}

impl From<RenderedPathError> for RenderError {
    fn from(e: RenderedPathError) -> Self {
        RenderError::Path(e)
    }
}

impl From<minijinja::Error> for RenderError {
    fn from(e: minijinja::Error) -> Self {
        RenderError::Template(e)
    }
}

/// A size in the largest unit Docker, Compose and NGINX all read (`k`, `m`, `g`; never `t`):
/// `(512, "m")`, `(1024, "g")`, `(100, "")` for bytes.
pub(crate) fn short_size(size: vutler_spec::units::ByteSize) -> (u64, &'static str) {
    match size.whole_unit() {
        (n, "T") => (n * 1024, "g"),
        (n, "G") => (n, "g"),
        (n, "M") => (n, "m"),
        (n, "K") => (n, "k"),
        (n, _) => (n, ""),
    }
}

/// Path of the Compose file in the rendered tree.
pub const COMPOSE_FILE: &str = "docker-compose.yml";
/// Path of the scale-out overlay (rendered when the stack has scale-out plans).
pub const SCALE_FILE: &str = "docker-compose.scale.yml";

/// The Compose files that make the environment's deployment, in the order Compose merges them:
/// what `.env.example` sets as `COMPOSE_FILE` and what every script uses, so that no command
/// runs the app with fewer replicas than the scale-out plan.
pub fn compose_files(stack: &Stack) -> Vec<&'static str> {
    let mut files = vec![COMPOSE_FILE];
    if !stack.scaling().is_empty() {
        files.push(SCALE_FILE);
    }
    files
}

/// A host address as Compose and ufw write it next to a port (`[::1]` for IPv6).
pub fn host_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// The first lines of every generated text file (all of them read `#` as a comment).
pub fn header(stack: &Stack) -> String {
    format!(
        "# Generated by vutler-render from specs/ for the `{}` environment. Do not edit:\n# change the specs and render again.\n",
        stack.env()
    )
}

/// Renders every file of one environment's deployment tree, in two steps: the config files
/// (NGINX, Prometheus, Alertmanager, Grafana), then the deployments that mount and hash them
/// (Compose) and the files around them (`.env.example`, the firewall and operations scripts);
/// for a Kubernetes environment, the manifests of `k8s/` holding the configs.
pub fn render(stack: &Stack) -> Result<Rendered, RenderError> {
    let runtime = Runtime::new(stack);
    let configs = Configs::render(&runtime)?;
    let mut tree = Rendered::new();
    if stack.kubernetes().is_some() {
        // The configs are in the ConfigMaps of the services mounting them.
        kubernetes::render(&runtime, &configs, &mut tree)?;
        return Ok(tree);
    }
    configs.insert_into(&mut tree)?;
    compose::render(&runtime, &configs, &mut tree)?;
    env_example::render(&runtime, &mut tree)?;
    ufw::render(stack, &mut tree)?;
    ops::render(&runtime, &mut tree)?;
    secrets::render(&runtime, &mut tree)?;
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use vutler_spec::units::ByteSize;

    #[test]
    fn short_sizes_never_use_terabytes() {
        let size = |s: &str| super::short_size(ByteSize::parse(s).unwrap_or_default());
        assert_eq!(size("1TB"), (1024, "g"));
        assert_eq!(size("512MB"), (512, "m"));
        assert_eq!(size("1536KB"), (1536, "k"));
        assert_eq!(size("100"), (100, ""));
    }
}
