//! The minijinja environment for text outputs (NGINX config, shell scripts, cron).
//!
//! Templates are files under `vutler-render/templates/`, compiled into the binary. Decisions are
//! made in Rust and passed in a `*Ctx` struct; templates only lay out text. Undefined values are
//! errors, nothing is auto-escaped (the targets are not HTML), the trailing newline is kept, and
//! comments are written `{## ##}` (shell scripts use `{#`).

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::RenderError;

/// Template id of the NGINX main configuration.
pub const NGINX_CONF: &str = "nginx.conf.j2";
/// Template id of the ufw script.
pub const UFW_SCRIPT: &str = "ufw.sh.j2";

/// Template id of `scripts/backup.sh`.
pub const BACKUP_SCRIPT: &str = "ops/backup.sh.j2";
/// Template id of `scripts/restore.sh`.
pub const RESTORE_SCRIPT: &str = "ops/restore.sh.j2";
/// Template id of `scripts/healthcheck.sh`.
pub const HEALTHCHECK_SCRIPT: &str = "ops/healthcheck.sh.j2";
/// Template id of `scripts/update.sh`.
pub const UPDATE_SCRIPT: &str = "ops/update.sh.j2";
/// Template id of `scripts/rollback.sh`.
pub const ROLLBACK_SCRIPT: &str = "ops/rollback.sh.j2";
/// Template id of the backup crontab.
pub const CRON: &str = "ops/cron.j2";
/// Template id of `scripts/certificates.sh`.
pub const CERTIFICATES_SCRIPT: &str = "ops/certificates.sh.j2";
/// Template id of `scripts/secrets.sh`.
pub const SECRETS_SCRIPT: &str = "ops/secrets.sh.j2";
/// Template id of `scripts/scale.sh`.
pub const SCALE_SCRIPT: &str = "ops/scale.sh.j2";
/// Template id of `k8s/secrets.sh`.
pub const K8S_SECRETS_SCRIPT: &str = "k8s/secrets.sh.j2";
/// Template id of the upload script of the backup CronJobs.
pub const K8S_BACKUP_SCRIPT: &str = "k8s/backup.sh.j2";

const TEMPLATES: [(&str, &str); 19] = [
    (NGINX_CONF, include_str!("../templates/nginx.conf.j2")),
    (UFW_SCRIPT, include_str!("../templates/ufw.sh.j2")),
    // Partials included by the scripts: shared helpers (those of every script, and of the
    // deployment's), the backup jobs (backup and restore), the destination's listing, the
    // upload and prune steps (backup.sh and the CronJobs'), and the update/rollback steps.
    ("ops/common.sh.j2", include_str!("../templates/ops/common.sh.j2")),
    ("ops/lib.sh.j2", include_str!("../templates/ops/lib.sh.j2")),
    ("ops/remote.sh.j2", include_str!("../templates/ops/remote.sh.j2")),
    ("ops/upload.sh.j2", include_str!("../templates/ops/upload.sh.j2")),
    ("ops/jobs.sh.j2", include_str!("../templates/ops/jobs.sh.j2")),
    ("ops/deploy.sh.j2", include_str!("../templates/ops/deploy.sh.j2")),
    (BACKUP_SCRIPT, include_str!("../templates/ops/backup.sh.j2")),
    (RESTORE_SCRIPT, include_str!("../templates/ops/restore.sh.j2")),
    (HEALTHCHECK_SCRIPT, include_str!("../templates/ops/healthcheck.sh.j2")),
    (UPDATE_SCRIPT, include_str!("../templates/ops/update.sh.j2")),
    (ROLLBACK_SCRIPT, include_str!("../templates/ops/rollback.sh.j2")),
    (CRON, include_str!("../templates/ops/cron.j2")),
    (CERTIFICATES_SCRIPT, include_str!("../templates/ops/certificates.sh.j2")),
    (SECRETS_SCRIPT, include_str!("../templates/ops/secrets.sh.j2")),
    (SCALE_SCRIPT, include_str!("../templates/ops/scale.sh.j2")),
    (K8S_SECRETS_SCRIPT, include_str!("../templates/k8s/secrets.sh.j2")),
    (K8S_BACKUP_SCRIPT, include_str!("../templates/k8s/backup.sh.j2")),
];

/// Quotes a value as one shell word: unchanged when it is made only of characters no shell
/// treats specially (`[A-Za-z0-9_./:=@%+,-]`), else `'...'` with `'` written `'\''`. Values reaching scripts already follow the model's grammars; this
/// keeps a script safe even if a grammar widens.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // `{#` opens a Jinja comment, but shell scripts write `${#array[@]}`: comments are `{## ##}`.
        match minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .comment_delimiters("{##", "##}")
            .build()
        {
            Ok(syntax) => env.set_syntax(syntax),
            Err(e) => panic!("syntax config: {e}"),
        }
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("sh", |v: String| shell_quote(&v));
        for (name, source) in TEMPLATES {
            // A template that does not parse is caught by the test below, never at run time.
            if let Err(e) = env.add_template(name, source) {
                panic!("template {name} does not parse: {e}");
            }
        }
        env
    })
}

/// Renders a template with a context.
pub fn render<C: Serialize>(name: &str, ctx: &C) -> Result<String, RenderError> {
    render_value(name, minijinja::Value::from(minijinja::value::Serde(ctx)))
}

fn render_value(name: &str, ctx: minijinja::Value) -> Result<String, RenderError> {
    environment()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(RenderError::Template)
}

/// What an operations script names after the project (`vutler`): the lock every script of the
/// deployment takes, and the environment variables that tune it.
#[derive(Debug, Serialize)]
struct LockCtx {
    /// `.vutler.lock`, in the deployment folder.
    file: String,
    /// `VUTLER_LOCK_WAIT`: how long to wait for another script, in seconds.
    wait_var: String,
    /// `VUTLER_LOCK_HELD`: set while a script of this deployment holds the lock.
    held_var: String,
}

/// Renders an operations script: its context, and `lock`, the names the shared functions give
/// the deployment's lock (see [`LockCtx`]).
pub fn render_script<C: Serialize>(stack: &vutler_spec::Stack, name: &str, ctx: &C) -> Result<String, RenderError> {
    let project = stack.project().as_str();
    let upper = vutler_spec::stack::metric_prefix(project).to_ascii_uppercase();
    let lock = LockCtx {
        file: format!(".{project}.lock"),
        wait_var: format!("{upper}_LOCK_WAIT"),
        held_var: format!("{upper}_LOCK_HELD"),
    };
    render_value(
        name,
        minijinja::context! {
            lock => minijinja::Value::from(minijinja::value::Serde(&lock)),
            ..minijinja::Value::from(minijinja::value::Serde(ctx))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(environment().get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn shell_quote_makes_one_inert_word() {
        assert_eq!(shell_quote("ssh"), "ssh");
        assert_eq!(shell_quote("/opt/app-1.0"), "/opt/app-1.0");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("~root"), "'~root'");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote("$(id) `id` ; \n"), "'$(id) `id` ; \n'");
    }

    #[test]
    fn undefined_values_are_errors() {
        let err = render(NGINX_CONF, &serde_json::json!({}));
        assert!(matches!(err, Err(RenderError::Template(_))));
    }
}
