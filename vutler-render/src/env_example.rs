//! `.env.example`: every variable the rendered tree reads, grouped and commented as in seed 3.1,
//! with placeholders. A secret never has a value here: its line is left empty, so a copy that is
//! not filled in makes Compose refuse to start instead of running with a sample password.

use std::fmt::Write;

use indexmap::{IndexMap, IndexSet};
use vutler_spec::Stack;
use vutler_spec::stack::EnvValue;

use crate::compose::{SECRETS_DIR, reads_secret_file, secret_name};
use crate::{RenderError, Rendered, header};

/// Path of the file in the rendered tree.
pub const ENV_EXAMPLE: &str = ".env.example";

/// Variables the tree reads from `.env`, in declaration order, and the secrets read from files.
fn used(stack: &Stack) -> (IndexSet<&str>, IndexSet<&str>) {
    let mut from_env = IndexSet::new();
    let mut from_files = IndexSet::new();
    for s in stack.services.values() {
        from_env.extend(s.tag_variable.as_deref());
        for value in s.environment.values() {
            match value {
                EnvValue::Text(t) => from_env.extend(t.variables()),
                EnvValue::Secret { variable, .. } if reads_secret_file(stack, value) => {
                    from_files.insert(variable.as_str());
                }
                EnvValue::Secret { variable, .. } => {
                    from_env.insert(variable.as_str());
                }
            }
        }
    }
    from_files.extend(crate::alertmanager::secrets(stack));
    // The scripts read the backup destination's credentials from the environment or `.env`.
    if let Some(c) = &stack.backups.credentials {
        from_env.insert(c.access_key_id.as_str());
        from_env.insert(c.secret_access_key.as_str());
    }
    let order = |set: IndexSet<&str>| -> IndexSet<&str> {
        stack
            .variables
            .keys()
            .map(String::as_str)
            .filter(|v| set.contains(v))
            .collect()
    };
    (order(from_env), order(from_files))
}

/// Adds `.env.example` to the tree.
pub fn render(stack: &Stack, tree: &mut Rendered) -> Result<(), RenderError> {
    let (from_env, from_files) = used(stack);
    let mut out = header(stack);
    out.push_str("# Copy to .env next to docker-compose.yml and fill in. Never commit .env.\n");
    out.push_str("# Secrets are left empty: Compose refuses to start until they are set.\n\n");
    let _ = writeln!(out, "COMPOSE_PROJECT_NAME={}", stack.project);

    let mut groups: IndexMap<&str, Vec<&str>> = IndexMap::new();
    for name in &from_env {
        groups
            .entry(stack.variables[*name].group.as_str())
            .or_default()
            .push(name);
    }
    for (group, names) in groups {
        let _ = writeln!(out, "\n# === {group} ===");
        for name in names {
            let v = &stack.variables[name];
            let mut notes = Vec::new();
            if v.secret {
                notes.push("secret".to_owned());
            }
            notes.push(
                if v.required && v.default.is_none() {
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
            let value = if v.secret {
                ""
            } else {
                v.default.as_deref().unwrap_or_default()
            };
            let _ = writeln!(out, "{name}={value}");
        }
    }

    if !from_files.is_empty() {
        let _ = writeln!(out, "\n# === Docker secrets ===");
        let _ = writeln!(
            out,
            "# Not read from this file: one file per secret under ./{SECRETS_DIR}/ (chmod 600):"
        );
        for name in from_files {
            let _ = writeln!(
                out,
                "#   {SECRETS_DIR}/{:<28} {}",
                secret_name(name),
                stack.variables[name].description
            );
        }
    }
    tree.insert(ENV_EXAMPLE, out)?;
    Ok(())
}
