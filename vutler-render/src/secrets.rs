//! `scripts/secrets.sh`: one source per secret (seed 3.1).
//!
//! Every secret the tree reads has one value, kept in `.env` when a container or a script reads
//! it from there, else in its file under `secrets/`; a secret read both ways (the app reads
//! `POSTGRES_PASSWORD` from `.env`, PostgreSQL its Docker secret file) has its file written
//! from `.env`, and `check` fails when they differ. `init` fills every secret the stack owns
//! (the credentials of a service's `authentication`) with a random value and writes the files;
//! `rotate` replaces one where the server keeps it (the service's `rotation`), then in `.env`
//! and its file, then recreates the services that read it in the order they start.

use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::stack::{Authentication, EnvRef, EnvValue, Mount, Rotation, ServiceId, VariableId, VolumeKind};

use crate::env_example;
use crate::ops::{DeployCtx, container_value, deploy_ctx};
use crate::runtime::{EnvSource, InContainer, Runtime, SECRETS_DIR};
use crate::templates::{self, shell_quote};
use crate::{RenderError, Rendered};

/// Path of the script in the rendered tree.
pub const SECRETS_SCRIPT: &str = "scripts/secrets.sh";

#[derive(Debug, Serialize)]
struct SecretsCtx {
    #[serde(flatten)]
    deploy: DeployCtx,
    secrets_dir: &'static str,
    secrets: Vec<SecretCtx>,
    /// The servers that keep a password.
    servers: Vec<ServerCtx>,
    /// One line per secret for `--help`.
    usage: Vec<String>,
    changed: &'static str,
    /// Compose's project name when `.env` does not set one.
    project: String,
    /// Where node-exporter reads the scripts' metrics, when the spec says.
    textfile_dir: Option<String>,
    metric: String,
    /// Age after which a secret is due, for `status`.
    rotate_after: Option<String>,
    rotate_after_days: Option<u64>,
}

#[derive(Debug, Serialize)]
struct SecretCtx {
    name: String,
    description: String,
    required: bool,
    /// The stack owns it (a credential of a service's `authentication`): `init` and `rotate`
    /// make a random value. Otherwise it comes from elsewhere (an API key) and `rotate` reads
    /// it on standard input.
    generated: bool,
    /// It is written inside a URL (`{ with_secrets: ... }`): only characters a URL carries as
    /// they are.
    in_url: bool,
    /// Read from `.env`.
    in_env: bool,
    /// Its file under `secrets/`, when a container reads it from one.
    file: Option<String>,
    /// Services whose containers read it, in the order they start.
    readers: Vec<String>,
    /// Scripts that read it from `.env` at each run.
    scripts: Vec<&'static str>,
    /// How the server that keeps it changes it, when one does.
    rotation: Option<RotationCtx>,
    /// Why `rotate` refuses it, when it does.
    not_rotated: Option<String>,
    /// The volumes holding the state of the server that keeps it: `init` generates no password
    /// for a server whose state exists (it keeps the one it was created with).
    volumes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RotationCtx {
    service: String,
    /// `postgresql`, `mongodb`, `grafana` or `restart`.
    method: &'static str,
}

/// A server that keeps a password, and the command that changes it in its container.
#[derive(Debug, Serialize)]
struct ServerCtx {
    service: String,
    method: &'static str,
    /// The command, shell-quoted: it reads the change on standard input (an `ALTER USER`
    /// statement for psql, else the new password), never as an argument.
    exec: String,
}

/// How mongosh, in the container, reads one of the service's variables.
fn js_value(runtime: &Runtime<'_>, var: EnvRef) -> String {
    match runtime.in_container(var) {
        InContainer::File(file) => format!("require(\"fs\").readFileSync(process.env.{file}, \"utf8\").trim()"),
        InContainer::Variable(name) => format!("process.env.{name}"),
    }
}

/// The command that changes the password in the server's container, for the servers that
/// keep one (`restart` servers read it when they start).
fn server_exec(runtime: &Runtime<'_>, a: &Authentication) -> Option<String> {
    let words: Vec<String> = match a.rotation {
        Rotation::Postgresql => {
            // Local connections in the container need no password (the image's pg_hba.conf).
            let user = a.user.map_or_else(|| "postgres".to_owned(), |u| container_value(runtime, u));
            let script = format!("exec psql -v ON_ERROR_STOP=1 --quiet --no-psqlrc --username={user} --dbname=postgres");
            vec!["sh".into(), "-c".into(), script]
        }
        Rotation::Mongodb => {
            let user = a.user.map(|u| js_value(runtime, u)).unwrap_or_default();
            let script = format!(
                "const user = {user}; const old = {}; const next = require(\"fs\").readFileSync(0, \"utf8\").trim(); \
                 try {{ const admin = connect(\"mongodb://127.0.0.1:27017/admin\"); admin.auth(user, old); \
                 admin.changeUserPassword(user, next); print(\"{CHANGED}\"); }} \
                 catch (e) {{ print(\"error: \" + e.message); quit(1); }}",
                js_value(runtime, a.password)
            );
            vec!["mongosh".into(), "--quiet".into(), "--nodb".into(), "--eval".into(), script]
        }
        Rotation::Grafana => vec![
            "sh".into(),
            "-c".into(),
            "exec grafana cli --homepath \"$GF_PATHS_HOME\" --config \"$GF_PATHS_CONFIG\" admin reset-admin-password --password-from-stdin".into(),
        ],
        Rotation::Restart => return None,
    };
    Some(words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" "))
}

/// What mongosh prints when the password changed.
const CHANGED: &str = "vutler-render-password-changed";

fn secret_ctx(runtime: &Runtime<'_>, id: VariableId, in_env: bool, in_file: bool) -> SecretCtx {
    let stack = runtime.stack();
    let v = stack.variable(id);
    let reads = |s: ServiceId| {
        let c = runtime.container(s);
        c.secret_files.iter().any(|f| f.variable.id == id)
            || c.environment.iter().any(|e| match e.value {
                EnvSource::Secret(var) => var.id == id,
                EnvSource::SecretFile(f) => f.variable.id == id,
                EnvSource::WithSecrets(text) => text.variables().any(|x| x == id),
                EnvSource::Text(_) => false,
            })
    };
    let readers = stack
        .start_order()
        .into_iter()
        .filter(|s| reads(*s))
        .map(|s| stack.service(s).name.to_string())
        .collect();
    let in_url = stack.services().iter().any(|s| {
        s.environment
            .iter()
            .any(|e| matches!(&e.value, EnvValue::WithSecrets(t) if t.variables().any(|x| x == id)))
    });
    let scripts = match stack.backups().and_then(|b| b.credentials.as_ref()) {
        Some(c) if c.access_key_id == id || c.secret_access_key == id => vec![crate::ops::BACKUP_SCRIPT],
        _ => Vec::new(),
    };
    let owner = stack
        .services()
        .iter()
        .find_map(|s| Some((s.id, s.authentication.as_ref().filter(|a| a.credentials.contains(&id))?)));
    let (rotation, not_rotated) = match owner {
        Some((service, a)) => {
            let is_user = a
                .user
                .is_some_and(|u| stack.env_var(u).value.secrets(stack).any(|x| x == id));
            if is_user && a.rotation != Rotation::Restart {
                let name = &stack.service(service).name;
                let why = format!(
                    "{} names the user of {name}, which keeps its users: rename the user in {name} by hand, then set the new name in .env",
                    v.name
                );
                (None, Some(why))
            } else {
                let rotation = RotationCtx {
                    service: stack.service(service).name.to_string(),
                    method: a.rotation.as_str(),
                };
                (Some(rotation), None)
            }
        }
        None => (None, None),
    };
    let volumes = owner
        .map(|(service, _)| {
            stack
                .service(service)
                .mounts
                .iter()
                .filter_map(|m| match m {
                    // Its state, whatever it is called (Grafana's users are in a `cache` volume).
                    Mount::Volume { volume, .. }
                        if matches!(stack.volume(*volume).kind, VolumeKind::Data | VolumeKind::Cache) =>
                    {
                        Some(stack.volume(*volume).name.to_string())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    SecretCtx {
        volumes,
        name: v.name.to_string(),
        description: v.description.to_string(),
        required: v.required,
        generated: owner.is_some(),
        in_url,
        in_env,
        file: in_file.then(|| format!("{SECRETS_DIR}/{}", runtime.secret_file(id).name())),
        readers,
        scripts,
        rotation,
        not_rotated,
    }
}

/// Adds `scripts/secrets.sh` to the tree, when the deployment reads a secret.
pub fn render(runtime: &Runtime<'_>, tree: &mut Rendered) -> Result<(), RenderError> {
    let stack: &Stack = runtime.stack();
    let (from_env, from_files) = env_example::used(runtime);
    let secrets: Vec<SecretCtx> = stack
        .variables()
        .iter()
        .filter(|v| v.secret)
        .filter_map(|v| {
            let (in_env, in_file) = (from_env.contains(&v.id), from_files.contains(&v.id));
            (in_env || in_file).then(|| secret_ctx(runtime, v.id, in_env, in_file))
        })
        .collect();
    if secrets.is_empty() {
        return Ok(());
    }
    let servers = stack
        .services()
        .iter()
        .filter_map(|s| {
            let a = s.authentication.as_ref()?;
            Some(ServerCtx {
                service: s.name.to_string(),
                method: a.rotation.as_str(),
                exec: server_exec(runtime, a)?,
            })
        })
        .collect();
    let ctx = SecretsCtx {
        deploy: deploy_ctx(runtime),
        secrets_dir: SECRETS_DIR,
        usage: secrets.iter().map(usage_line).collect(),
        secrets,
        servers,
        changed: CHANGED,
        project: stack.project().to_string(),
        textfile_dir: stack.textfile_dir().map(ToString::to_string),
        metric: stack.metric(vutler_spec::stack::ScriptMetric::SecretRotated),
        rotate_after: stack.operations().rotate_secrets_after.map(|d| d.to_string()),
        rotate_after_days: stack.operations().rotate_secrets_after.map(|d| d.secs() / 86_400),
    };
    tree.insert(
        SECRETS_SCRIPT,
        templates::render_script(stack, templates::SECRETS_SCRIPT, &ctx)?,
    )?;
    Ok(())
}

fn usage_line(s: &SecretCtx) -> String {
    let origin = if s.generated { "generated" } else { "set by you" };
    let readers = if s.readers.is_empty() {
        s.scripts.join(", ")
    } else {
        s.readers.join(", ")
    };
    format!("{:<28} {origin}; read by {readers}", s.name)
}
