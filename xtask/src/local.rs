//! The programs installed here are not always the versions the specs deploy: Debian's NGINX is
//! 1.22, the proxy image 1.27, and the two write HTTP/2 differently (`listen 443 ssl http2` before
//! 1.25.1, `http2 on;` since). What the local program checks or runs is therefore the
//! environment's spec rendered for the local version, and [`differs_only_in_http2`] proves that
//! it is the golden file but for the lines the version decides.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, anyhow, bail};
use vutler_spec::stack::NginxVersion;
use vutler_spec::{SpecFiles, Stack};

/// The version of the `nginx` on the `PATH` (`nginx -v` prints `nginx version: nginx/1.22.1`).
pub fn nginx_version() -> anyhow::Result<NginxVersion> {
    let out = Command::new("nginx").arg("-v").output().context("running nginx -v")?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.split('/')
        .nth(1)
        .and_then(|v| NginxVersion::from_tag(v.trim()))
        .ok_or_else(|| anyhow!("cannot read the version of nginx from {text:?}"))
}

/// One environment of `specs/`, with the proxy's image tag set to `version`: the effective spec
/// of the environment, and an overlay that pins the tag.
pub fn stack_for_nginx(specs: &Path, env: &str, version: NginxVersion) -> anyhow::Result<Stack> {
    let files = vutler_spec::read_dir(specs, env).map_err(|r| anyhow!("{r}"))?;
    let loaded = files.resolve().map_err(|r| anyhow!("specs/ is invalid:\n{r}"))?;
    let proxy = loaded.stack.service(loaded.stack.edge().proxy);
    let overlay = format!(
        "services:\n  {}:\n    image: \"{}:{version}\"\n",
        proxy.name,
        proxy.image.repo()
    );
    let effective = serde_yaml::to_string(&loaded.effective().map_err(|r| anyhow!("{r}"))?.to_json())?;
    SpecFiles::new(
        env,
        vec![("effective.yaml".into(), effective)],
        Some(("local-nginx.yaml".into(), overlay)),
    )
    .resolve()
    .map(|l| l.stack)
    .map_err(|r| anyhow!("{env} with the local NGINX {version}:\n{r}"))
}

/// The lines of an NGINX configuration that depend on its version: how HTTP/2 is switched on.
fn is_http2_line(line: &str) -> bool {
    let l = line.trim();
    l == "http2 on;"
        || (l.starts_with("listen ") && l.contains(" ssl"))
        || l.starts_with("# NGINX ") && l.contains("HTTP/2")
}

/// Fails unless `golden` and `local` differ only in the lines that say how HTTP/2 is switched
/// on, so that what runs locally is the golden file but for the version's syntax.
pub fn differs_only_in_http2(golden: &str, local: &str) -> anyhow::Result<()> {
    let keep = |text: &str| -> Vec<String> { text.lines().filter(|l| !is_http2_line(l)).map(str::to_owned).collect() };
    if keep(golden) != keep(local) {
        let diff = vutler_render::diff::unified_diff(golden, local, "golden", "local");
        bail!("the configuration rendered for the local NGINX differs from golden beyond HTTP/2:\n{diff}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_http2_lines_may_differ() {
        let new = "server {\n    listen 443 ssl;\n    http2 on;\n    root /x;\n}\n";
        let old =
            "server {\n    # NGINX 1.22 enables HTTP/2 on `listen`.\n    listen 443 ssl http2;\n    root /x;\n}\n";
        assert!(differs_only_in_http2(new, old).is_ok());
        assert!(differs_only_in_http2(new, &old.replace("/x", "/y")).is_err());
    }
}
