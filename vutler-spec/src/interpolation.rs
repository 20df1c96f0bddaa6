//! Text with `${VAR}` references, as written in container environment values.
//!
//! Parsed once into literal parts and variable references, so renderers never re-scan text and
//! decide per target how a reference is written (`${VAR:?message}` in Compose) and how a literal
//! `$` is escaped (`$$` in Compose).

use std::fmt;

use crate::grammar;

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text taken as is (it may contain `$`).
    Literal(String),
    /// A reference to a variable of `.env`.
    Variable(String),
}

/// Text with variable references.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template(Vec<Part>);

impl Template {
    /// Parses `https://${DOMAIN}/x`. A `${` must open a reference of the form `${NAME}`, with
    /// an upper-case variable name and no modifiers (`:-`, `:?`): defaults and required-ness are
    /// declared on the variable, not at each use. A `$` not followed by `{` is a literal dollar.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            if i > 0 {
                parts.push(Part::Literal(rest[..i].to_owned()));
            }
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("`${{` without a closing `}}` in {text:?}"));
            };
            let name = &after[..end];
            if grammar::env_name(name).is_err() {
                return Err(format!(
                    "`${{{name}}}` is not a variable reference: write `${{NAME}}` with an upper-case name and no modifiers"
                ));
            }
            parts.push(Part::Variable(name.to_owned()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self(parts))
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.0
    }

    /// The variables referenced, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Variable(v) => Some(v.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Replaces references to `name` by a literal value.
    pub fn substitute(self, name: &str, value: &str) -> Self {
        let mut out: Vec<Part> = Vec::with_capacity(self.0.len());
        for part in self.0 {
            let part = match part {
                Part::Variable(v) if v == name => Part::Literal(value.to_owned()),
                other => other,
            };
            // Keep adjacent literals joined, so equal texts have equal parts.
            match (out.last_mut(), part) {
                (Some(Part::Literal(prev)), Part::Literal(next)) => prev.push_str(&next),
                (_, part) => out.push(part),
            }
        }
        Self(out)
    }
}

impl fmt::Display for Template {
    /// The spec form: literals as is, references as `${NAME}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.0 {
            match part {
                Part::Literal(s) => f.write_str(s)?,
                Part::Variable(v) => write!(f, "${{{v}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_substitution() {
        let t = Template::parse("https://${DOMAIN}/a$b${X}").unwrap_or_default();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["DOMAIN", "X"]);
        let t = t.substitute("DOMAIN", "example.com");
        assert_eq!(
            t.0,
            [
                Part::Literal("https://example.com/a$b".into()),
                Part::Variable("X".into())
            ]
        );
        assert_eq!(t.to_string(), "https://example.com/a$b${X}");
    }

    #[test]
    fn only_plain_references_are_accepted() {
        for bad in ["${1x}", "${A:-b}", "${A", "${}", "${A B}", "${a-b}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        // Mixed case, as POSIX allows and images document (`GITEA__database__DB_TYPE`).
        assert!(Template::parse("${Gitea__database__DB_TYPE}").is_ok());
        assert_eq!(Template::parse("").map(|t| t.0.len()), Ok(0));
    }
}
