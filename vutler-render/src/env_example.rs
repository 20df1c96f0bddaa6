//! `.env.example`: every variable the rendered tree reads, grouped and commented as in seed 3.1,
//! with placeholders. A secret never has a value here: its line is left empty, so a copy that is
//! not filled in makes Compose refuse to start instead of running with a sample password.

use std::fmt::Write;

use indexmap::{IndexMap, IndexSet};
use vutler_spec::Stack;
use vutler_spec::stack::{Issuer, VariableId};

use crate::runtime::{EnvSource, Runtime, SECRETS_DIR};
use crate::{RenderError, Rendered, compose_files, header};

/// Path of the file in the rendered tree.
pub const ENV_EXAMPLE: &str = ".env.example";

/// Variables the tree reads from `.env`, in declaration order, and the secrets read from files.
pub(crate) fn used(runtime: &Runtime<'_>) -> (Vec<VariableId>, Vec<VariableId>) {
    let stack = runtime.stack();
    let mut from_env = IndexSet::new();
    let mut from_files = IndexSet::new();
    for c in runtime.containers() {
        from_env.extend(c.image.tag_variable.map(|v| v.id));
        for env in &c.environment {
            match env.value {
                EnvSource::Text(text) | EnvSource::WithSecrets(text) => from_env.extend(text.variables()),
                EnvSource::Secret(v) => {
                    from_env.insert(v.id);
                }
                EnvSource::SecretFile(_) => {}
            }
        }
        from_files.extend(c.secret_files.iter().map(|f| f.variable.id));
    }
    // certificates.sh reads the ACME account's email from the environment or `.env`.
    if let Issuer::Letsencrypt(acme) = &stack.tls().certificate.issuer {
        from_env.insert(acme.email);
    }
    // The scripts read the backup destination's credentials from the environment or `.env`.
    if let Some(c) = stack.backups().and_then(|b| b.credentials.as_ref()) {
        from_env.insert(c.access_key_id);
        from_env.insert(c.secret_access_key);
    }
    let order = |set: IndexSet<VariableId>| -> Vec<VariableId> {
        stack
            .variables()
            .iter()
            .map(|v| v.id)
            .filter(|v| set.contains(v))
            .collect()
    };
    (order(from_env), order(from_files))
}

/// Whether the deployment reads a secret (from `.env` or a secret file): `scripts/secrets.sh`
/// is rendered then.
fn any_secret(stack: &Stack, from_env: &[VariableId], from_files: &[VariableId]) -> bool {
    stack
        .variables()
        .iter()
        .any(|v| v.secret && (from_env.contains(&v.id) || from_files.contains(&v.id)))
}

/// Adds `.env.example` to the tree.
pub fn render(runtime: &Runtime<'_>, tree: &mut Rendered) -> Result<(), RenderError> {
    let stack = runtime.stack();
    let (from_env, from_files) = used(runtime);
    let mut out = header(stack);
    out.push_str("# Copy to .env next to docker-compose.yml and fill in. Never commit .env.\n");
    if any_secret(stack, &from_env, &from_files) {
        out.push_str("# Secrets are left empty: Compose refuses to start until they are set.\n");
        out.push_str("# scripts/secrets.sh init creates .env from this file and fills the secrets the stack\n");
        out.push_str("# owns; scripts/secrets.sh check says what is left.\n");
    }
    out.push('\n');
    let _ = writeln!(out, "COMPOSE_PROJECT_NAME={}", stack.project());
    let files = compose_files(stack);
    if files.len() > 1 {
        let _ = writeln!(
            out,
            "# Every docker compose command merges these (the scale-out plan included)."
        );
        let _ = writeln!(out, "COMPOSE_FILE={}", files.join(":"));
    }

    let mut groups: IndexMap<&str, Vec<VariableId>> = IndexMap::new();
    for id in from_env {
        groups.entry(stack.variable(id).group.as_str()).or_default().push(id);
    }
    for (group, ids) in groups {
        let _ = writeln!(out, "\n# === {group} ===");
        for id in ids {
            let v = stack.variable(id);
            let mut notes = Vec::new();
            if v.secret {
                notes.push("secret".to_owned());
            }
            // An image's tag variable is required whatever its default: that is only the
            // version written here, so that a lost line never deploys an old version quietly.
            let is_tag = runtime
                .containers()
                .iter()
                .any(|c| c.image.tag_variable.is_some_and(|t| t.id == id));
            notes.push(
                if is_tag || (v.required && v.default.is_none()) {
                    "required"
                } else {
                    "optional"
                }
                .to_owned(),
            );
            if let Some(example) = &v.example {
                notes.push(format!("e.g. {example}"));
            }
            let _ = writeln!(out, "# {} ({})", v.description, notes.join(", "));
            // A secret never has a default, so its line stays empty.
            let _ = match &v.default {
                Some(default) => writeln!(out, "{}={default}", v.name),
                None => writeln!(out, "{}=", v.name),
            };
        }
    }

    if !from_files.is_empty() {
        let _ = writeln!(out, "\n# === Docker secrets ===");
        let _ = writeln!(
            out,
            "# One file per secret under ./{SECRETS_DIR}/ (chmod 700), written by scripts/secrets.sh from\n# the value above when a service reads it here too:"
        );
        for id in from_files {
            let file = runtime.secret_file(id);
            let _ = writeln!(
                out,
                "#   {SECRETS_DIR}/{:<28} {}",
                file.name(),
                file.variable.description
            );
        }
    }
    tree.insert(ENV_EXAMPLE, out)?;
    Ok(())
}
