//! Fixes suggested in a spec's own syntax.
//!
//! Help texts quote spec snippets in YAML flow syntax (`` `{ name: ssh, port: 22 }` ``,
//! `` `firewall.no_ssh: true` ``). For a diagnostic in a TOML file, [`to_toml`] rewrites each
//! quoted snippet that reads as YAML flow syntax into TOML (`` `{ name = "ssh", port = 22 }` ``),
//! and leaves every other snippet as it is.

/// `help` with each backticked YAML snippet (a `key: value` pair, or a flow mapping or sequence)
/// written in TOML; snippets that are not one (`image`, a URL) are kept.
///
/// ```
/// use vutler_spec::hint::to_toml;
///
/// assert_eq!(
///     to_toml("add `{ name: ssh, port: 22 }` here, or set `firewall.no_ssh: true`"),
///     "add `{ name = \"ssh\", port = 22 }` here, or set `firewall.no_ssh = true`"
/// );
/// assert_eq!(to_toml("did you mean `image`?"), "did you mean `image`?");
/// ```
pub fn to_toml(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    let mut parts = help.split('`');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let mut inside = true;
    for part in parts {
        out.push('`');
        if inside {
            out.push_str(&snippet(part).unwrap_or_else(|| part.to_owned()));
        } else {
            out.push_str(part);
        }
        inside = !inside;
    }
    out
}

/// One snippet in TOML, when it is YAML flow syntax: a `key: value` pair or a collection.
fn snippet(text: &str) -> Option<String> {
    let mut p = Parser { s: text, at: 0 };
    let out = if text.trim_start().starts_with(['{', '[']) {
        p.value()?
    } else {
        p.pair()?
    };
    p.blank();
    (p.at == text.len()).then_some(out)
}

struct Parser<'a> {
    s: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.at..]
    }

    fn blank(&mut self) {
        let trimmed = self.rest().trim_start_matches(' ');
        self.at = self.s.len() - trimmed.len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.blank();
        if self.rest().starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// `key: value`, the key bare (letters, digits, `_-.`).
    fn pair(&mut self) -> Option<String> {
        self.blank();
        let key_len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .unwrap_or(self.rest().len());
        if key_len == 0 {
            return None;
        }
        let key = self.rest()[..key_len].to_owned();
        self.at += key_len;
        if !self.rest().starts_with(": ") {
            return None;
        }
        self.at += 2;
        let value = self.value()?;
        Some(format!("{key} = {value}"))
    }

    fn value(&mut self) -> Option<String> {
        self.blank();
        if self.eat('{') {
            let mut pairs = Vec::new();
            while !self.eat('}') {
                pairs.push(self.pair()?);
                if !self.eat(',') {
                    self.eat('}').then_some(())?;
                    break;
                }
            }
            return Some(if pairs.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{ {} }}", pairs.join(", "))
            });
        }
        if self.eat('[') {
            let mut items = Vec::new();
            while !self.eat(']') {
                items.push(self.value()?);
                if !self.eat(',') {
                    self.eat(']').then_some(())?;
                    break;
                }
            }
            return Some(format!("[{}]", items.join(", ")));
        }
        if let Some(quoted) = self.rest().strip_prefix('"') {
            let end = quoted.find('"')?;
            let text = format!("\"{}\"", &quoted[..end]);
            self.at += end + 2;
            return Some(text);
        }
        // A plain scalar, up to the next `,` `}` `]` or the end.
        let len = self.rest().find([',', '}', ']']).unwrap_or(self.rest().len());
        let scalar = self.rest()[..len].trim_end().to_owned();
        if scalar.is_empty() || scalar.contains(": ") {
            return None;
        }
        self.at += len;
        Some(toml_scalar(&scalar))
    }
}

/// A YAML plain scalar as TOML: numbers and booleans as they are, anything else a string.
fn toml_scalar(s: &str) -> String {
    let number = s.parse::<i64>().is_ok() || (s.parse::<f64>().is_ok_and(f64::is_finite) && s.contains('.'));
    if number || s == "true" || s == "false" {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_snippets_become_toml_and_others_stay() {
        for (yaml, toml) in [
            ("`stop_grace_period: 1m`", "`stop_grace_period = \"1m\"`"),
            (
                "`{ secret: DB_PASSWORD, file_env: X_FILE }`",
                "`{ secret = \"DB_PASSWORD\", file_env = \"X_FILE\" }`",
            ),
            (
                "`resources: { cpus: 0.5, memory: 256MB, disk: 1GB }`",
                "`resources = { cpus = 0.5, memory = \"256MB\", disk = \"1GB\" }`",
            ),
            ("`networks: [net, db]`", "`networks = [\"net\", \"db\"]`"),
            (
                "`{ with_secrets: \"mongodb://a:${P}@m/x\" }`",
                "`{ with_secrets = \"mongodb://a:${P}@m/x\" }`",
            ),
            ("`kind: development`", "`kind = \"development\"`"),
        ] {
            assert_eq!(to_toml(yaml), toml, "{yaml}");
        }
        for kept in [
            "`image`",
            "`https://example.com:443/x`",
            "`postgres:16-alpine`",
            "`$remove`",
            "no snippet at all",
            "an odd ` backtick",
        ] {
            assert_eq!(to_toml(kept), kept);
        }
    }
}
