//! The minijinja environment for text outputs (NGINX config, shell scripts, cron).
//!
//! Templates are files under `vutler-render/templates/`, compiled into the binary. Decisions are
//! made in Rust and passed in a `*Ctx` struct; templates only lay out text. Undefined values are
//! errors, nothing is auto-escaped (the targets are not HTML), and the trailing newline is kept.

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::RenderError;

/// Template id of the NGINX main configuration.
pub const NGINX_CONF: &str = "nginx.conf.j2";
/// Template id of the ufw script.
pub const UFW_SCRIPT: &str = "ufw.sh.j2";

const TEMPLATES: [(&str, &str); 2] = [
    (NGINX_CONF, include_str!("../templates/nginx.conf.j2")),
    (UFW_SCRIPT, include_str!("../templates/ufw.sh.j2")),
];

/// Quotes a value as one shell word: `'...'`, with `'` written `'\''`. Values reaching scripts
/// already follow the model's grammars; this makes a script safe even if a grammar widens.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        match minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
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
    environment()
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(ctx))))
        .map_err(|e| RenderError::Template(format!("{e:#}")))
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
        assert_eq!(shell_quote("ssh"), "'ssh'");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote("$(id) `id` ; \n"), "'$(id) `id` ; \n'");
    }

    #[test]
    fn undefined_values_are_errors() {
        let err = render(NGINX_CONF, &serde_json::json!({}));
        assert!(matches!(err, Err(RenderError::Template(_))));
    }
}
