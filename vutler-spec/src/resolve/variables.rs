//! Variables of `.env`, secrets, and the values of container environments.
//!
//! A secret never has a value in the spec: it is a variable declared `secret: true`, referenced
//! by name where a credential goes, and never written into text.
//!
//! Rules: `builtin-variable` (`DOMAIN` and `PROJECT` are the spec's own), `secret-literal` (a
//! secret's `default`, a secret's `example` that is not a `<placeholder>`, a literal in a
//! secret-looking key), `secret-as-text` (a secret interpolated into text or used as an image
//! tag), `credential-not-secret` (a credential naming a plain variable).

use crate::grammar;
use crate::interpolation::{Part, Template};
use crate::path::SpecPath;
use crate::raw::{RawEnvValue, RawScalar, RawVariable};
use crate::rule::Rule;
use crate::stack::{EnvValue, EnvVar, Text, TextPart, Variable, VariableId};
use crate::text::{EnvDefault, EnvName, OneLine};

use super::{BUILTIN_VARIABLES, Cx, all};

/// The variables of `.env`.
pub(super) fn variables(cx: &mut Cx<'_>) -> Option<Vec<Variable>> {
    let raw = cx.raw;
    // A secret's file is named after its variable in lower case (`secrets/db_password`): two
    // names that differ only in case would share it.
    let mut by_file: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    let mut ok = true;
    for name in raw.variables.keys() {
        if let Some(first) = by_file.insert(name.to_ascii_lowercase(), name) {
            cx.error_help(
                Rule::Duplicate,
                SpecPath::top("variables").key(name),
                format!("`{name}` and `{first}` differ only in case"),
                "their secrets files and .env lines would be confused: rename one",
            );
            ok = false;
        }
    }
    let variables = all(raw
        .variables
        .iter()
        .enumerate()
        .map(|(i, (name, v))| variable(cx, VariableId(i), name, v)));
    variables.filter(|_| ok)
}

fn variable(cx: &mut Cx<'_>, id: VariableId, name: &str, v: &RawVariable) -> Option<Variable> {
    let p = SpecPath::top("variables").key(name);
    let env_name = cx.text(p.clone(), name, EnvName::parse);
    let mut ok = true;
    if BUILTIN_VARIABLES.contains(&name) {
        cx.error(
            Rule::BuiltinVariable,
            p.clone(),
            format!("`{name}` is provided by the spec itself and cannot be declared"),
        );
        ok = false;
    }
    let description = cx.text(p.key("description"), &v.description, OneLine::parse);
    let group = cx.text(p.key("group"), &v.group, OneLine::parse);
    let example = match &v.example {
        None => Some(None),
        // The example of a secret is not echoed: it may be the value itself.
        Some(example) if v.secret => match grammar::placeholder(example) {
            Ok(()) => OneLine::parse(example).ok().map(Some),
            Err(expected) => {
                cx.error_help(
                    Rule::SecretLiteral,
                    p.key("example"),
                    format!("the example of secret variable `{name}` is not a placeholder"),
                    format!("write {expected}"),
                );
                None
            }
        },
        Some(example) => cx.text(p.key("example"), example, OneLine::parse).map(Some),
    };
    let default = match &v.default {
        None => Some(None),
        // Declared plain, it would be written into .env.example and the Compose file.
        Some(_) if !v.secret && grammar::secret_looking_key(name) => {
            // Refused as a literal: its line, which holds the value, is not printed.
            cx.error_help(
                Rule::SecretLiteral,
                p.key("default"),
                format!("`{name}` looks like a secret, but is declared plain with a value in the spec"),
                format!(
                    "set `secret: true` on variables.{name} and remove `default`, or rename it if it holds no secret"
                ),
            );
            None
        }
        Some(_) if v.secret => {
            cx.error_help(
                Rule::SecretLiteral,
                p.key("default"),
                format!("secret variable `{name}` has a literal value in the spec"),
                "remove `default`; secrets are set in the deployment's .env or secret files, never in specs/",
            );
            None
        }
        Some(RawScalar::Float(_)) => {
            cx.float_as_text(p.key("default"));
            None
        }
        Some(d) => cx.text(p.key("default"), &d.to_string(), EnvDefault::parse).map(Some),
    };
    ok.then_some(())?;
    Some(Variable {
        id,
        name: env_name?,
        description: description?,
        group: group?,
        secret: v.secret,
        default: default?,
        required: v.required,
        example: example?,
    })
}

/// A reference to a secret variable where a credential goes (`{ secret: VAR }`, a receiver's
/// credential, the backup destination's keys).
pub(super) fn secret_ref(cx: &mut Cx<'_>, path: SpecPath, name: &str) -> Option<VariableId> {
    let raw = cx.raw;
    match raw.variables.get_full(name) {
        None => {
            let secrets = raw.variables.iter().filter(|(_, v)| v.secret).map(|(k, _)| k);
            cx.dangling(path, format!("unknown secret variable `{name}`"), name, secrets);
            None
        }
        Some((_, _, v)) if !v.secret => {
            cx.error_help(
                Rule::CredentialNotSecret,
                path,
                format!("`{name}` holds a credential but is not declared `secret: true`"),
                format!("set `secret: true` on variables.{name}"),
            );
            None
        }
        Some((i, _, _)) => Some(VariableId(i)),
    }
}

/// A secret variable used where plain text goes; `help` says what to write instead.
pub(super) fn secret_as_text(cx: &mut Cx<'_>, path: SpecPath, variable: &str, help: String) {
    cx.error_help(
        Rule::SecretAsText,
        path,
        format!("secret variable `{variable}` is used as plain text"),
        help,
    );
}

/// One variable of a service's environment, at `path` (`services.<name>.environment.<key>`).
pub(super) fn env_var(cx: &mut Cx<'_>, path: SpecPath, key: &str, value: &RawEnvValue) -> Option<EnvVar> {
    let name = cx.text(path.clone(), key, EnvName::parse);
    let value = match value {
        RawEnvValue::Text(scalar) => text_value(cx, &path, key, scalar, false).map(EnvValue::Text),
        RawEnvValue::WithSecrets(w) => {
            let scalar = RawScalar::Text(w.with_secrets.clone());
            text_value(cx, &path.key("with_secrets"), key, &scalar, true).map(EnvValue::WithSecrets)
        }
        RawEnvValue::Secret(r) => {
            let variable = secret_ref(cx, path.key("secret"), &r.secret);
            let file_env = cx.text_opt(path.key("file_env"), r.file_env.as_ref(), EnvName::parse);
            match (variable, file_env) {
                (Some(variable), Some(file_env)) => Some(EnvValue::Secret { variable, file_env }),
                _ => None,
            }
        }
    };
    Some(EnvVar {
        key: name?,
        value: value?,
    })
}

/// Text with `${VAR}` references to plain variables, the spec's own filled in; to secret
/// variables too when `with_secrets` (then it names at least one).
fn text_value(cx: &mut Cx<'_>, path: &SpecPath, key: &str, scalar: &RawScalar, with_secrets: bool) -> Option<Text> {
    let raw = cx.raw;
    let text = scalar.to_string();
    // A password written into a URL is refused first too, whatever the key. (Text that does
    // not parse is reported below, by the parser.)
    for password in Template::parse(&text).map(|t| url_passwords(&t)).unwrap_or_default() {
        match password {
            UrlPassword::Variable(v) if !BUILTIN_VARIABLES.contains(&v.as_str()) => {
                if raw.variables.get(v.as_str()).is_some_and(|v| !v.secret) {
                    cx.error_help(
                        Rule::CredentialNotSecret,
                        path.clone(),
                        format!("`{v}` holds the password of the URL in `{key}` but is not declared `secret: true`"),
                        format!("set `secret: true` on variables.{v} and write `{key}: {{ with_secrets: ... }}`"),
                    );
                    return None;
                }
            }
            // A builtin is filled in: its value would be the password.
            UrlPassword::Variable(_) | UrlPassword::Literal => {
                cx.error_help(
                    Rule::SecretLiteral,
                    path.clone(),
                    format!("the URL in `{key}` has a literal password"),
                    format!("declare a secret variable and write `{key}: {{ with_secrets: \"...:${{VAR}}@...\" }}`"),
                );
                return None;
            }
        }
    }
    // A literal in a secret-looking key is refused before anything else is said about it, so
    // that no other message quotes the value. Only `${VAR}` references of plain variables
    // (`${PROJECT}`-style builtins are filled in, so they still make a literal) keep it text.
    if !with_secrets && grammar::secret_looking_key(key) && !text.is_empty() {
        // Any literal text beside the references (`hunter2${PORT}`) is a literal too.
        let literal = Template::parse(&text).map_or(true, |t| {
            t.variables().all(|v| BUILTIN_VARIABLES.contains(&v))
                || t.parts()
                    .iter()
                    .any(|p| matches!(p, crate::interpolation::Part::Literal(l) if !l.is_empty()))
        });
        if literal {
            cx.error_help(
                Rule::SecretLiteral,
                path.clone(),
                format!("`{key}` looks like a secret but is given as a literal value"),
                format!("declare a secret variable and write `{key}: {{ secret: VAR }}`"),
            );
            return None;
        }
    }
    let mut ok = true;
    if let RawScalar::Float(_) = scalar {
        cx.float_as_text(path.clone());
        ok = false;
    }
    ok &= cx.text(path.clone(), &text, OneLine::parse).is_some();
    // The parser says what is wrong with the reference (`grammar`).
    let template = Template::parse(&text)
        .map_err(|message| cx.report(crate::Diagnostic::new(Rule::Grammar, path.clone(), message)))
        .ok()?;
    for r in template.variables() {
        if BUILTIN_VARIABLES.contains(&r) {
            continue;
        }
        match raw.variables.get(r) {
            // Only builtins and plain variables may be interpolated; secrets never are.
            None => {
                let known = BUILTIN_VARIABLES
                    .iter()
                    .copied()
                    .chain(raw.variables.iter().filter(|(_, v)| !v.secret).map(|(k, _)| k.as_str()));
                cx.dangling(path.clone(), format!("unknown variable `{r}`"), r, known);
                ok = false;
            }
            Some(v) if v.secret && !with_secrets => {
                let help = if template.parts().len() == 1 {
                    format!("write `{key}: {{ secret: {r} }}` so the secret is passed as a secret")
                } else {
                    format!(
                        "write `{key}: {{ with_secrets: \"...\" }}`: text holding secrets is rendered as references only"
                    )
                };
                secret_as_text(cx, path.clone(), r, help);
                ok = false;
            }
            Some(_) => {}
        }
    }
    if with_secrets
        && ok
        && !template
            .variables()
            .any(|r| raw.variables.get(r).is_some_and(|v| v.secret))
    {
        cx.error_help(
            Rule::Grammar,
            path.clone(),
            format!("`with_secrets` of `{key}` names no secret variable"),
            format!("write `{key}` as plain text"),
        );
        ok = false;
    }
    let template = template
        .substitute("DOMAIN", &raw.domain)
        .substitute("PROJECT", &raw.project);
    ok.then_some(())?;
    let parts = template
        .parts()
        .iter()
        .map(|part| match part {
            Part::Literal(text) => Some(TextPart::Literal(text.clone())),
            Part::Variable(name) => raw
                .variables
                .get_index_of(name.as_str())
                .map(|i| TextPart::Variable(VariableId(i))),
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Text(parts))
}

/// The password of a URL's user information (`scheme://user:PASSWORD@host`).
#[derive(Debug, PartialEq, Eq)]
enum UrlPassword {
    /// Exactly one reference.
    Variable(String),
    /// Anything else (text, or text and references).
    Literal,
}

/// The password of every URL in a text that has one. References are looked through as single
/// characters, so that a `:` or `@` is only ever the text's own.
fn url_passwords(template: &Template) -> Vec<UrlPassword> {
    // Each reference becomes one private-use character, indexing the names.
    let mut masked = String::new();
    let mut names = Vec::new();
    for part in template.parts() {
        match part {
            Part::Literal(text) => masked.push_str(text),
            Part::Variable(name) => {
                // Past the private-use plane's 65 534 characters, a reference reads as text.
                let n = u32::try_from(names.len()).unwrap_or(u32::MAX);
                masked.push(if n < 0xFFFE {
                    char::from_u32(0xF0000 + n).unwrap_or('\u{FFFD}')
                } else {
                    '\u{FFFD}'
                });
                names.push(name.clone());
            }
        }
    }
    let mut out = Vec::new();
    let mut rest = masked.as_str();
    while let Some(at) = rest.find("://") {
        rest = &rest[at + 3..];
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        // The user information ends at the last `@` of the authority.
        let Some(userinfo) = authority.rfind('@').map(|i| &authority[..i]) else {
            continue;
        };
        let Some(password) = userinfo.find(':').map(|i| &userinfo[i + 1..]) else {
            continue;
        };
        let mut chars = password.chars();
        out.push(match (chars.next(), chars.next()) {
            (None, _) => continue,
            (Some(c), None) if (0xF0000..0xFFFFE).contains(&(c as u32)) => names
                .get((c as u32 - 0xF0000) as usize)
                .map_or(UrlPassword::Literal, |n| UrlPassword::Variable(n.clone())),
            _ => UrlPassword::Literal,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Template, UrlPassword, url_passwords};

    fn passwords(text: &str) -> Vec<UrlPassword> {
        url_passwords(&Template::parse(text).unwrap_or_default())
    }

    #[test]
    fn url_passwords_are_found() {
        use UrlPassword::*;
        let var = |v: &str| Variable(v.to_owned());
        assert_eq!(
            passwords("mongodb://admin:${MONGO_PASSWORD}@mongo:27017/vutler"),
            [var("MONGO_PASSWORD")]
        );
        assert_eq!(passwords("mongodb://${USER}:${PASS}@mongo/x"), [var("PASS")]);
        assert_eq!(passwords("postgresql://u:hunter2@db/x?sslmode=require"), [Literal]);
        assert_eq!(passwords("postgresql://u:pre${P}@db/x"), [Literal]);
        assert_eq!(passwords("a://u:${P}@h b://v:lit@h"), [var("P"), Literal], "every URL");
        assert_eq!(passwords("postgresql://u@db/x"), []);
        assert_eq!(passwords("postgresql://u:@db/x"), []);
        assert_eq!(passwords("postgresql://db:5432/x"), []);
        assert_eq!(
            passwords("https://example.com/a:b@c"),
            [],
            "a path is not user information"
        );
        assert_eq!(passwords("minio:9000"), []);
    }
}
