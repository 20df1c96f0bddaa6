//! Comparing two file trees: the changed files with unified diffs, and the files only one side has.
//!
//! `vutler-render check` compares the files on disk (the old tree) with a fresh render (the new
//! tree); `vutler-render diff` compares the renders of two environments. Like the rest of this
//! crate, the comparison is pure: the caller reads the files and hands them over as bytes.
//!
//! Files are compared byte for byte (a trailing newline added or lost is a change). The diffs are
//! for people and logs, so secrets never appear in them: before printing, every value a
//! [`Redaction`] knows to be secret is replaced with [`REDACTED`], on both sides. It knows what
//! the model declares secret (every variable with `secret: true`, whatever its name), what looks
//! like a secret (see [`is_secret_key`]), and the keys of the consuming programs' formats that
//! hold a credential ([`CREDENTIAL_KEYS`], Alertmanager's receiver `url`, Grafana's
//! `secureJsonData`, HTTP `Authorization` headers in NGINX or `curl`). Lines are matched on their
//! original text, so a changed secret still shows as a changed line, with both values redacted.
//!
//! ```
//! use vutler_render::diff::{Labels, diff_trees};
//!
//! let on_disk = [(".env", "DB_PASSWORD=hunter2\nPORT=80\n".as_bytes())];
//! let rendered = [(".env", "DB_PASSWORD=swordfish\nPORT=80\n".as_bytes()), ("new.yml", b"a: 1\n".as_slice())];
//! let diff = diff_trees(on_disk, rendered, Labels { old: "deploy", new: "rendered" }, &Default::default());
//! assert_eq!(diff.missing, ["new.yml"]);
//! assert_eq!(
//!     diff.changed[0].diff,
//!     "--- deploy/.env\n+++ rendered/.env\n@@ -1,2 +1,2 @@\n-DB_PASSWORD=<redacted>\n+DB_PASSWORD=<redacted>\n PORT=80\n",
//! );
//! assert!(!diff.changed[0].diff.contains("hunter2"));
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use similar::{Algorithm, ChangeTag, capture_diff_slices, group_diff_ops, udiff::UnifiedHunkHeader};
use vutler_spec::Stack;

use crate::Rendered;

/// What replaces a secret-looking value in a diff.
pub const REDACTED: &str = "<redacted>";

/// Lines of unchanged context around each change in a unified diff.
pub const CONTEXT_LINES: usize = 3;

pub use vutler_spec::grammar::SECRET_KEY_PARTS;

/// The prefixes naming each side in diff headers: `--- {old}/{path}` and `+++ {new}/{path}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels<'a> {
    /// The old side (for a check: the folder on disk; for two environments: the first).
    pub old: &'a str,
    /// The new side (for a check: the render; for two environments: the second).
    pub new: &'a str,
}

/// One file present on both sides with different contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// Relative, `/`-separated path.
    pub path: String,
    /// A unified diff from the old contents to the new ones, with headers and secret-looking
    /// values redacted; a one-line note when the contents differ only in bytes that are not
    /// UTF-8 text.
    pub diff: String,
}

/// How two trees differ. Every list is in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeDiff {
    /// Files on both sides whose bytes differ.
    pub changed: Vec<FileDiff>,
    /// Paths only the new side has (for a check: rendered, but absent on disk).
    pub missing: Vec<String>,
    /// Paths only the old side has (for a check: generated before, and no longer rendered).
    pub unexpected: Vec<String>,
}

impl TreeDiff {
    /// Whether the two trees are identical.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// Compares two trees given as `(path, bytes)` pairs, with `/`-separated relative paths, hiding
/// what `redaction` knows to be secret. A path given twice on one side keeps its last contents.
pub fn diff_trees<'a>(
    old: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    new: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    labels: Labels<'_>,
    redaction: &Redaction,
) -> TreeDiff {
    let old: BTreeMap<&str, &[u8]> = old.into_iter().collect();
    let new: BTreeMap<&str, &[u8]> = new.into_iter().collect();
    let mut diff = TreeDiff::default();
    for (path, new_bytes) in &new {
        match old.get(path) {
            None => diff.missing.push((*path).to_owned()),
            Some(old_bytes) if old_bytes == new_bytes => {}
            Some(old_bytes) => diff.changed.push(FileDiff {
                path: (*path).to_owned(),
                diff: file_diff(path, old_bytes, new_bytes, labels, redaction),
            }),
        }
    }
    diff.unexpected = old
        .keys()
        .filter(|p| !new.contains_key(*p))
        .map(|p| (*p).to_owned())
        .collect();
    diff
}

/// Compares two rendered trees (two environments, or two versions of the specs).
pub fn diff_rendered(old: &Rendered, new: &Rendered, labels: Labels<'_>, redaction: &Redaction) -> TreeDiff {
    diff_trees(
        old.iter().map(|(p, c)| (p, c.as_bytes())),
        new.iter().map(|(p, c)| (p, c.as_bytes())),
        labels,
        redaction,
    )
}

fn file_diff(path: &str, old: &[u8], new: &[u8], labels: Labels<'_>, redaction: &Redaction) -> String {
    let (old_text, new_text) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
    let old_label = format!("{}/{path}", labels.old);
    let new_label = format!("{}/{path}", labels.new);
    let diff = redaction.unified_diff(path, &old_text, &new_text, &old_label, &new_label);
    if diff.is_empty() {
        // Only bytes that are not UTF-8 differ: both sides read alike once decoded.
        format!("Files {old_label} and {new_label} differ (in bytes that are not UTF-8 text)\n")
    } else {
        diff
    }
}

/// A unified diff (`---`/`+++` headers, `@@` hunks with [`CONTEXT_LINES`] lines of context) from
/// `old` to `new`, with secret-looking values redacted (by [`Redaction::default`], which knows no
/// declared secret and no file format); empty when the texts are equal. A last line without a
/// newline is followed by `\ No newline at end of file`.
pub fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    Redaction::default().unified_diff("", old, new, old_label, new_label)
}

/// What a diff hides: every value the model declares secret or that looks like a secret, and
/// the credentials of the consuming programs' formats. [`Redaction::default`] knows no declared
/// secret; [`Redaction::of_stack`] knows the stack's.
///
/// ```
/// use vutler_render::diff::Redaction;
///
/// // `GITEA_LFS_JWT` does not look like a secret; the stack declares it one.
/// let redaction = Redaction::new(["GITEA_LFS_JWT"]);
/// assert_eq!(redaction.line("", "GITEA_LFS_JWT=abc\n"), "GITEA_LFS_JWT=<redacted>\n");
/// assert_eq!(redaction.line("", "LFS_JWT=abc\n"), "LFS_JWT=abc\n");
/// // Alertmanager's Slack `api_url` is the webhook itself.
/// assert_eq!(
///     redaction.line("alertmanager/alertmanager.yml", "  - api_url: https://hooks.slack.com/services/T0/B0/x"),
///     "  - api_url: <redacted>"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redaction {
    /// Names of the variables the model declares secret.
    secrets: BTreeSet<String>,
}

/// Keys of the consuming programs' formats that hold a credential though they do not look like
/// one ([`is_secret_key`] covers `password`, `bearer_token`, `credentials`, `routing_key`,
/// `service_key`, `client_secret`, `smtp_auth_password`, `basicAuthPassword` ...): Alertmanager's
/// `slack_api_url` and receivers' `api_url` (a Slack webhook is its own credential), HTTP
/// `Authorization` and `Proxy-Authorization` headers, `Cookie`, and Grafana's `tlsClientKey`.
pub const CREDENTIAL_KEYS: [&str; 7] = [
    "slack_api_url",
    "api_url",
    "authorization",
    "proxy-authorization",
    "cookie",
    "tlsclientkey",
    "dsn",
];

/// Keys whose value is a mapping of secrets: Grafana's `secureJsonData` (every value in it).
const SECRET_MAPPINGS: [&str; 1] = ["securejsondata"];

/// NGINX directives that set a header or parameter: `proxy_set_header NAME VALUE;`.
const NGINX_HEADER_DIRECTIVES: [&str; 7] = [
    "proxy_set_header",
    "grpc_set_header",
    "add_header",
    "more_set_headers",
    "fastcgi_param",
    "uwsgi_param",
    "scgi_param",
];

impl Redaction {
    /// A redaction that also hides the variables named `secrets`, whatever their names look like.
    pub fn new<S: Into<String>>(secrets: impl IntoIterator<Item = S>) -> Self {
        Self {
            secrets: secrets.into_iter().map(Into::into).collect(),
        }
    }

    /// The redaction for a stack's tree: every variable it declares secret.
    pub fn of_stack(stack: &Stack) -> Self {
        Self::new(
            stack
                .variables()
                .iter()
                .filter(|v| v.secret)
                .map(|v| v.name.to_string()),
        )
    }

    /// Whether `key`, in the file at `path`, holds a secret.
    fn is_secret(&self, path: &str, key: &str) -> bool {
        let lower = key.to_ascii_lowercase();
        is_secret_key(key)
            || self.secrets.contains(key)
            || CREDENTIAL_KEYS.contains(&lower.as_str())
            // Grafana's custom header values (`httpHeaderValue1`), kept in secureJsonData.
            || lower.starts_with("httpheadervalue")
            // An Alertmanager receiver's `url` (webhook, Teams, Discord) carries its token.
            || (path.starts_with("alertmanager/") && lower == "url")
    }

    /// A unified diff of the file at `path` (see [`unified_diff`]), with what this redaction
    /// knows to be secret hidden.
    pub fn unified_diff(&self, path: &str, old: &str, new: &str, old_label: &str, new_label: &str) -> String {
        let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
        let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
        // Lines are matched on their real text; only what is printed is redacted, so a changed
        // secret is still a changed line.
        let ops = capture_diff_slices(Algorithm::Myers, &old_lines, &new_lines);
        let groups = group_diff_ops(ops, CONTEXT_LINES);
        if groups.is_empty() {
            return String::new();
        }
        let old_shown = self.lines(path, &old_lines);
        let new_shown = self.lines(path, &new_lines);
        let mut out = format!("--- {old_label}\n+++ {new_label}\n");
        for group in &groups {
            let _ = writeln!(out, "{}", UnifiedHunkHeader::new(group));
            for op in group {
                for change in op.iter_changes(&old_shown, &new_shown) {
                    let sign = match change.tag() {
                        ChangeTag::Equal => ' ',
                        ChangeTag::Delete => '-',
                        ChangeTag::Insert => '+',
                    };
                    let line = change.value();
                    out.push(sign);
                    out.push_str(&line);
                    if !line.ends_with('\n') {
                        out.push_str("\n\\ No newline at end of file\n");
                    }
                }
            }
        }
        out
    }
}

/// Whether a key name looks like it holds a secret: the model's rule for secret-looking
/// variables, applied to any key.
pub use vutler_spec::grammar::secret_looking_key as is_secret_key;

/// Redacts every line of a text (see [`redact_lines`]).
pub fn redact(text: &str) -> String {
    Redaction::default().text("", text)
}

/// Redacts lines (each with [`redact_line`]) and the value a secret-looking key gives on the
/// lines after it: `password:` or `password: |` followed by more indented lines (a YAML block),
/// whose text is replaced, their indentation kept.
///
/// ```
/// use vutler_render::diff::redact_lines;
///
/// let lines = ["db:\n", "  password: |\n", "    hunter2\n", "  user: bob\n"];
/// assert_eq!(redact_lines(&lines).concat(), "db:\n  password: |\n    <redacted>\n  user: bob\n");
/// ```
pub fn redact_lines<'a>(lines: &[&'a str]) -> Vec<Cow<'a, str>> {
    Redaction::default().lines("", lines)
}

/// Replaces the value of a line that assigns to a secret-looking key with [`REDACTED`], and the
/// password of a URL with credentials (`scheme://user:password@host`); other lines are returned
/// as they are, and so is the line ending.
///
/// The key is the name just before the first `=` or `:` that follows a secret-looking name
/// (`KEY=value`, `KEY: value`, `- KEY=value`, `"key": "value"`, `export KEY=value`). An empty
/// value and a single `${...}` reference are kept: they hold no secret. Quotes around the value
/// are kept too.
///
/// ```
/// use vutler_render::diff::redact_line;
///
/// assert_eq!(redact_line("POSTGRES_PASSWORD=hunter2\n"), "POSTGRES_PASSWORD=<redacted>\n");
/// assert_eq!(redact_line("  api_key: \"abc\""), "  api_key: \"<redacted>\"");
/// assert_eq!(redact_line("TOKEN: ${TOKEN:?required}"), "TOKEN: ${TOKEN:?required}");
/// assert_eq!(redact_line("SMTP_PASSWORD="), "SMTP_PASSWORD=");
/// assert_eq!(redact_line("url: https://bob:hunter2@db:5432/x"), "url: https://bob:<redacted>@db:5432/x");
/// assert_eq!(redact_line("proxy_set_header Authorization \"Basic YTpi\";"), "proxy_set_header Authorization <redacted>;");
/// assert_eq!(redact_line("PORT=80"), "PORT=80");
/// ```
pub fn redact_line(line: &str) -> Cow<'_, str> {
    Redaction::default().line("", line)
}

/// How the lines after a key are redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// The key's value is on the lines after it (`password: |`): their whole text is a secret.
    Value(usize),
    /// The key holds a mapping of secrets (`secureJsonData:`): every value in it is one.
    Mapping(usize),
}

impl Redaction {
    /// Redacts every line of a text, the file at `path` (see [`Redaction::lines`]).
    pub fn text(&self, path: &str, text: &str) -> String {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        self.lines(path, &lines).concat()
    }

    /// Redacts the lines of the file at `path`: each with [`Redaction::line`], the lines after a
    /// secret key that hold its value (`password:` or `password: |` followed by more indented
    /// lines: their text is replaced, their indentation kept), and every value of a mapping of
    /// secrets (Grafana's `secureJsonData:`).
    pub fn lines<'a>(&self, path: &str, lines: &[&'a str]) -> Vec<Cow<'a, str>> {
        let mut out = Vec::with_capacity(lines.len());
        let mut block: Option<Block> = None;
        for line in lines {
            let (body, ending) = split_ending(line);
            let indent = body.len() - body.trim_start().len();
            match block {
                Some(_) if body.trim().is_empty() => {
                    out.push(Cow::Borrowed(*line));
                    continue;
                }
                Some(Block::Value(key_indent)) if indent > key_indent => {
                    // A mapping under the key (`postgres_password:` then `file: ./secrets/x`) is
                    // structure, redacted line by line; any other text is the key's value.
                    if is_mapping_entry(body) {
                        out.push(self.line(path, line));
                    } else {
                        out.push(Cow::Owned(format!("{}{REDACTED}{ending}", &body[..indent])));
                    }
                    continue;
                }
                Some(Block::Mapping(key_indent)) if indent > key_indent => {
                    let redacted = match body.split_once(':') {
                        Some((key, value)) if !value.trim().is_empty() => format!("{key}: {REDACTED}{ending}"),
                        Some(_) => (*line).to_owned(),
                        None => format!("{}{REDACTED}{ending}", &body[..indent]),
                    };
                    out.push(Cow::Owned(redacted));
                    continue;
                }
                _ => block = None,
            }
            if let Some(opened) = self.opens_block(path, body, indent) {
                // The key and its block indicator hold nothing; the lines after are redacted.
                block = Some(opened);
                out.push(Cow::Borrowed(*line));
                continue;
            }
            let shown = self.line(path, line);
            if shown != *line {
                // A line that held a secret: more indented text after it goes on its value (a
                // plain YAML scalar over several lines), so it is redacted too.
                block = Some(Block::Value(indent));
            }
            out.push(shown);
        }
        out
    }

    /// Whether a line is a key whose secret value is on the next lines (`key:`, `key: |`,
    /// `key: >-`), or a mapping of secrets.
    fn opens_block(&self, path: &str, body: &str, indent: usize) -> Option<Block> {
        let trimmed = body.trim().trim_start_matches("- ");
        let (key, value) = trimmed.split_once(':')?;
        let key = key.trim().trim_matches(['"', '\'']);
        let value = value.trim();
        if key.is_empty() || !key.chars().all(is_key_char) {
            return None;
        }
        let opens = value.is_empty() || matches!(value, "|" | "|-" | "|+" | ">" | ">-" | ">+");
        // Compose's `secrets:` lists secret names and their files, never a value.
        if key == "secrets" && path.starts_with("docker-compose") {
            return None;
        }
        if opens && SECRET_MAPPINGS.contains(&key.to_ascii_lowercase().as_str()) {
            Some(Block::Mapping(indent))
        } else if opens && self.is_secret(path, key) {
            Some(Block::Value(indent))
        } else {
            None
        }
    }

    /// Redacts one line of the file at `path` (see [`redact_line`]): the value of a secret key,
    /// a URL's password, a secret's default in `${NAME:-default}`, and the value of an NGINX
    /// directive that sets a secret header.
    pub fn line<'a>(&self, path: &str, line: &'a str) -> Cow<'a, str> {
        let (body, ending) = split_ending(line);
        let secret = |key: &str| self.is_secret(path, key);
        // In a comment, prose after a secret-looking word (`# === Docker secrets ===`,
        // `# one secret: its readers`) is no value; one word is, as in `# password: x`.
        let in_comment = body.trim_start().starts_with('#');
        let assignment = || redact_assignment(body, &secret, in_comment);
        let redacted = match redact_header_directive(body, &secret).or_else(assignment) {
            Some(r) => Cow::Owned(r),
            None => Cow::Borrowed(body),
        };
        let redacted = match redact_url_passwords(&redacted) {
            Some(r) => Cow::Owned(r),
            None => redacted,
        };
        let redacted = match redact_webhook_urls(&redacted) {
            Some(r) => Cow::Owned(r),
            None => redacted,
        };
        let redacted = match redact_defaults(&redacted, &secret) {
            Some(r) => Cow::Owned(r),
            None => redacted,
        };
        match redacted {
            Cow::Borrowed(_) => Cow::Borrowed(line),
            Cow::Owned(mut r) => {
                r.push_str(ending);
                Cow::Owned(r)
            }
        }
    }
}

/// The line with the value of an NGINX directive that sets a secret header or parameter
/// (`proxy_set_header Authorization "Basic ...";`) redacted, or `None`. A value that is one
/// NGINX variable (`$http_authorization`) holds no secret and is kept.
fn redact_header_directive(body: &str, secret: &dyn Fn(&str) -> bool) -> Option<String> {
    let trimmed = body.trim_start();
    let indent = &body[..body.len() - trimmed.len()];
    let mut words = trimmed.splitn(3, [' ', '\t']);
    let directive = words.next()?;
    let name = words.next()?;
    let value = words.next()?.trim();
    if !NGINX_HEADER_DIRECTIVES.contains(&directive) || !secret(name.trim_matches(['"', '\''])) {
        return None;
    }
    let value = value.strip_suffix(';').map_or(value, str::trim_end);
    let unquoted = value.trim_matches(['"', '\'']);
    let variable = unquoted
        .strip_prefix('$')
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if unquoted.is_empty() || variable {
        return None;
    }
    Some(format!("{indent}{directive} {name} {REDACTED};"))
}

/// Splits `line` into its text and its line ending (`\n`, `\r\n` or nothing).
fn split_ending(line: &str) -> (&str, &str) {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let body = body.strip_suffix('\r').unwrap_or(body);
    line.split_at(body.len())
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The line with the value after the first secret-looking key redacted, or `None` to keep it.
/// Whether a line is a YAML mapping entry (`key: value`, `- key: value`, `key:`).
fn is_mapping_entry(body: &str) -> bool {
    let text = body.trim_start();
    let text = text.strip_prefix("- ").unwrap_or(text);
    let key_len = text
        .chars()
        .take_while(|c| is_key_char(*c))
        .map(char::len_utf8)
        .sum::<usize>();
    key_len > 0
        && text[key_len..].starts_with(':')
        && text[key_len + 1..].chars().next().is_none_or(char::is_whitespace)
}

fn redact_assignment(body: &str, secret: &dyn Fn(&str) -> bool, in_comment: bool) -> Option<String> {
    for (at, sep) in body.char_indices().filter(|(_, c)| matches!(c, '=' | ':')) {
        let before = body[..at].trim_end();
        let before = before.strip_suffix(['"', '\'']).unwrap_or(before);
        let key_start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_key_char(*c))
            .last()
            .map_or(before.len(), |(i, _)| i);
        let key = &before[key_start..];
        // `${KEY:?...}` inside a value names a variable: it assigns nothing.
        if key.is_empty() || !secret(key) || before[..key_start].ends_with("${") {
            continue;
        }
        // The first secret-looking key decides: in `KEY: ${KEY:?KEY is required}` the inner
        // `KEY:` is part of a reference, not a second assignment.
        let value_start = at + sep.len_utf8();
        let rest = &body[value_start..];
        let value = rest.trim();
        let leading = &rest[..rest.len() - rest.trim_start().len()];
        let (open, inner, close) = unquote(value);
        if inner.is_empty() || is_reference(inner) {
            return None;
        }
        // `POSTGRES_PASSWORD_FILE: /run/secrets/x`, `password_file: /run/...`: a path to the
        // secret, not the secret.
        let names_file = key.to_ascii_lowercase().ends_with("_file");
        if names_file && (inner.starts_with('/') || inner.starts_with("./")) {
            return None;
        }
        let prose = inner.contains(char::is_whitespace) || inner.chars().all(|c| c.is_ascii_punctuation());
        if in_comment && prose {
            return None;
        }
        return Some(format!("{}{leading}{open}{REDACTED}{close}", &body[..value_start]));
    }
    None
}

/// Splits a value into its opening quote, its text and its closing quote (with a trailing `,`).
fn unquote(value: &str) -> (&str, &str, &str) {
    let core = value.strip_suffix(',').map_or(value, str::trim_end);
    for q in ['"', '\''] {
        if core.len() >= 2 && core.starts_with(q) && core.ends_with(q) {
            return (&value[..1], &core[1..core.len() - 1], &value[core.len() - 1..]);
        }
    }
    ("", value, "")
}

/// Whether a value is exactly one `${...}` reference (braces balanced, nothing after).
fn is_reference(value: &str) -> bool {
    let Some(inner) = value.strip_prefix("${") else {
        return false;
    };
    let mut depth = 1usize;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1 == inner.len();
                }
            }
            _ => {}
        }
    }
    false
}

/// The line with the default of every `${NAME:-default}` or `${NAME-default}` of a
/// secret-looking NAME redacted (a secret written as a default), or `None` if none.
fn redact_defaults(body: &str, secret: &dyn Fn(&str) -> bool) -> Option<String> {
    let mut out = String::new();
    let mut rest = body;
    let mut changed = false;
    while let Some(at) = rest.find("${") {
        let (head, tail) = rest.split_at(at + 2);
        out.push_str(head);
        let name_end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let (name, after) = tail.split_at(name_end);
        let default = after.strip_prefix(":-").or_else(|| after.strip_prefix('-'));
        match (default, after.find('}')) {
            (Some(value), Some(close)) if secret(name) && close > after.len() - value.len() => {
                let operator = &after[..after.len() - value.len()];
                out.push_str(name);
                out.push_str(operator);
                out.push_str(REDACTED);
                rest = &after[close..];
                changed = true;
            }
            _ => {
                out.push_str(name);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Hosts and path prefixes of incoming webhooks whose URL is their own credential (Slack,
/// Discord, Microsoft Teams): the rest of the path is the secret, whatever key holds it.
const WEBHOOK_URLS: [&str; 4] = [
    "hooks.slack.com/services/",
    "discord.com/api/webhooks/",
    "webhook.office.com/",
    "outlook.office.com/webhook/",
];

/// The line with the secret part of every known webhook URL redacted (after the host and the
/// fixed prefix), or `None` if it holds none.
fn redact_webhook_urls(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = body;
    let mut changed = false;
    while let Some((at, prefix)) = WEBHOOK_URLS
        .iter()
        .filter_map(|p| rest.find(p).map(|at| (at, *p)))
        .min_by_key(|(at, _)| *at)
    {
        let secret_start = at + prefix.len();
        out.push_str(&rest[..secret_start]);
        let tail = &rest[secret_start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ',' | ')' | ';'))
            .unwrap_or(tail.len());
        if end > 0 {
            out.push_str(REDACTED);
            changed = true;
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The line with the password of every `scheme://user:password@` redacted, or `None` if none.
fn redact_url_passwords(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = body;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', ' ', '"', '\'', '?', '#']).unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority
            .rfind('@')
            .and_then(|a| authority[..a].find(':').map(|c| (c, a)))
        {
            Some((colon, at_sign)) if !is_reference(&authority[colon + 1..at_sign]) && colon + 1 < at_sign => {
                out.push_str(&authority[..=colon]);
                out.push_str(REDACTED);
                out.push_str(&authority[at_sign..]);
                changed = true;
            }
            _ => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

#[cfg(test)]
mod prose_and_paths {
    use super::Redaction;

    /// Redaction hides values: not prose that mentions secrets, not the path of a secret file,
    /// not the names and files of Compose's `secrets:`; a commented-out assignment still is one.
    #[test]
    fn values_are_hidden_prose_and_paths_are_not() {
        let r = Redaction::new(["DB_PASSWORD"]);
        let kept = [
            "# === Docker secrets =================\n",
            "# Sets what the model says about one secret: description, required\n",
            "      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password\n",
            "        password_file: /run/secrets/scrape_password\n",
            "GF_SECURITY_ADMIN_PASSWORD__FILE=./secrets/grafana\n",
        ];
        for line in kept {
            assert_eq!(r.line("docker-compose.yml", line), line);
        }
        assert_eq!(
            r.line(".env.example", "# DB_PASSWORD=hunter2\n"),
            "# DB_PASSWORD=<redacted>\n"
        );
        assert_eq!(r.line("x.yml", "#   password: hunter2\n"), "#   password: <redacted>\n");
        assert_eq!(
            r.line("x.yml", "# note the password: hunter2\n"),
            "# note the password: <redacted>\n",
            "one word after a secret key in prose is still a value"
        );
        assert_eq!(
            r.line("x.env", "PASSWORD_FILE=hunter2\n"),
            "PASSWORD_FILE=<redacted>\n",
            "a value that is no path"
        );
        let compose = "secrets:\n  postgres_password:\n    file: ./secrets/postgres_password\n";
        assert_eq!(r.text("docker-compose.yml", compose), compose);
        let block = "db:\n  DB_PASSWORD:\n    hunter2\n";
        assert_eq!(
            r.text("docker-compose.yml", block),
            "db:\n  DB_PASSWORD:\n    <redacted>\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels<'static> {
        Labels { old: "a", new: "b" }
    }

    #[test]
    fn text_indented_under_a_secret_line_is_redacted() {
        // A fuzz case: a key whose value is on the next lines, interrupted by a secret line, then
        // the value. YAML reads the last line as the continuation of the line before it.
        let lines = [
            "      - routing_key_file: /run/secrets/key\n",
            "      SNIPARA_API_KEY:\n",
            "GRAFANA_PASSWORD=Canary7qZx9Leak\n",
            "        Canary7qZx9Leak\n",
            "        send_resolved: true\n",
            "plain: text\n",
            "  more plain text\n",
        ];
        let shown = redact_lines(&lines).concat();
        assert!(!shown.contains("Canary"), "{shown}");
        assert!(
            shown.contains("GRAFANA_PASSWORD=<redacted>\n        <redacted>\n"),
            "{shown}"
        );
        // Structure under it is redacted line by line, and lines of other keys stay as written.
        assert!(shown.contains("        send_resolved: true\n"), "{shown}");
        assert!(shown.ends_with("plain: text\n  more plain text\n"), "{shown}");
        // A plain scalar over several lines after a secret key is hidden whole.
        let lines = ["db:\n", "  password: first\n", "    second\n", "  user: bob\n"];
        assert_eq!(
            redact_lines(&lines).concat(),
            "db:\n  password: <redacted>\n    <redacted>\n  user: bob\n"
        );
    }

    #[test]
    fn identical_trees_have_no_diff() {
        let tree = [("x.yml", b"a: 1\n".as_slice())];
        assert!(diff_trees(tree, tree, labels(), &Redaction::default()).is_empty());
    }

    #[test]
    fn missing_unexpected_and_changed_are_sorted() {
        let old = [
            ("z", b"1\n".as_slice()),
            ("gone", b"".as_slice()),
            ("same", b"s".as_slice()),
        ];
        let new = [
            ("z", b"2\n".as_slice()),
            ("b/new", b"".as_slice()),
            ("a/new", b"".as_slice()),
            ("same", b"s".as_slice()),
        ];
        let d = diff_trees(old, new, labels(), &Redaction::default());
        assert_eq!(d.missing, ["a/new", "b/new"]);
        assert_eq!(d.unexpected, ["gone"]);
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].diff, "--- a/z\n+++ b/z\n@@ -1 +1 @@\n-1\n+2\n");
    }

    #[test]
    fn a_lost_trailing_newline_is_a_change() {
        let d = diff_trees(
            [("f", b"x\n".as_slice())],
            [("f", b"x".as_slice())],
            labels(),
            &Redaction::default(),
        );
        assert_eq!(
            d.changed[0].diff,
            "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n+x\n\\ No newline at end of file\n"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_still_compared() {
        let d = diff_trees(
            [("f", b"\xff".as_slice())],
            [("f", b"\xfe".as_slice())],
            labels(),
            &Redaction::default(),
        );
        assert!(d.changed[0].diff.contains("not UTF-8"), "{}", d.changed[0].diff);
    }

    #[test]
    fn hunks_keep_three_lines_of_context() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("10\n", "ten\n");
        let diff = unified_diff(&old, &new, "a", "b");
        assert_eq!(
            diff,
            "--- a\n+++ b\n@@ -7,7 +7,7 @@\n 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n"
        );
    }

    #[test]
    fn secret_lines_change_but_never_show_their_values() {
        let diff = unified_diff("A=1\nAPI_TOKEN=old\n", "A=1\nAPI_TOKEN=new\n", "a", "b");
        assert_eq!(
            diff,
            "--- a\n+++ b\n@@ -1,2 +1,2 @@\n A=1\n-API_TOKEN=<redacted>\n+API_TOKEN=<redacted>\n"
        );
    }

    #[test]
    fn secret_looking_keys() {
        for key in [
            "POSTGRES_PASSWORD",
            "smtp_passwd",
            "MINIO_SECRET_KEY",
            "GITHUB_TOKEN",
            "ssh-private-key",
            "snipara.api_key",
            "AWS_ACCESS_KEY_ID",
            "slack_webhook_url",
            "PAGERDUTY_ROUTING_KEY",
            "Password",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["PORT", "SMTP_USER", "KEYBOARD", "url", "MONKEY", "file"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn redaction_of_assignments() {
        for (line, expected) in [
            ("POSTGRES_PASSWORD=hunter2", "POSTGRES_PASSWORD=<redacted>"),
            ("export DB_PASSWORD='x y'", "export DB_PASSWORD='<redacted>'"),
            ("  - SECRET_KEY=abc\r\n", "  - SECRET_KEY=<redacted>\r\n"),
            (
                "      MINIO_SECRET_KEY: \"s3cr3t\"\n",
                "      MINIO_SECRET_KEY: \"<redacted>\"\n",
            ),
            ("  \"password\": \"pw\",", "  \"password\": \"<redacted>\","),
            (
                "{\"user\": \"bob\", \"password\": \"pw\"}",
                "{\"user\": \"bob\", \"password\": <redacted>",
            ),
            (
                "# old: SLACK_WEBHOOK_URL=https://hooks",
                "# old: SLACK_WEBHOOK_URL=<redacted>",
            ),
            (
                "SLACK_WEBHOOK_URL: https://hooks.slack.com/x",
                "SLACK_WEBHOOK_URL: <redacted>",
            ),
            ("API_KEY=${X}tail", "API_KEY=<redacted>"),
        ] {
            assert_eq!(redact_line(line), expected, "{line}");
        }
        for kept in [
            "POSTGRES_PASSWORD=",
            "POSTGRES_PASSWORD:",
            "POSTGRES_PASSWORD: \"${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required: set it in .env}\"",
            "SMTP_PASSWORD: \"${SMTP_PASSWORD:-}\"",
            "- postgres_password",
            "PORT=80",
            "# Password of the vutler PostgreSQL user (secret, required, e.g. <strong-password>)",
            "url: http://host:9090/metrics",
            "url: http://${USER}:${PASS}@host/",
        ] {
            assert_eq!(redact_line(kept), kept);
        }
    }

    #[test]
    fn defaults_blocks_and_more_secret_names_are_redacted() {
        // A secret written as the default of its reference.
        assert_eq!(
            redact_line("DB: ${POSTGRES_PASSWORD:-hunter2}\n"),
            "DB: ${POSTGRES_PASSWORD:-<redacted>}\n"
        );
        assert_eq!(redact_line("x=${API_TOKEN-hunter2} y"), "x=${API_TOKEN-<redacted>} y");
        assert_eq!(redact_line("PORT: ${PORT:-5432}"), "PORT: ${PORT:-5432}");
        assert_eq!(redact_line("P: ${SMTP_PASSWORD:-}"), "P: ${SMTP_PASSWORD:-}");
        // Names the stack itself uses for secrets, and common spellings.
        for line in [
            "DATA_SOURCE_PASS=hunter2",
            "DB_PWD=hunter2",
            "STRIPE_APIKEY=hunter2",
            "GCP_CREDENTIALS=hunter2",
        ] {
            assert!(!redact_line(line).contains("hunter2"), "{line}");
        }
        assert_eq!(redact_line("PWD=/opt/vutler"), "PWD=/opt/vutler");
        assert_eq!(redact_line("BYPASS=1"), "BYPASS=1");
        // A value on the lines after its key.
        let text = "a:\n  password:\n    hunter2\n\n    more\n  user: bob\nsecret_token: >-\n  xyz\nnext: 1\n";
        let shown = redact(text);
        assert!(
            !shown.contains("hunter2") && !shown.contains("more") && !shown.contains("xyz"),
            "{shown}"
        );
        assert!(
            shown.contains("  user: bob\n") && shown.contains("next: 1\n"),
            "{shown}"
        );
        let diff = unified_diff(
            "k:\n  api_key:\n    old-secret\n",
            "k:\n  api_key:\n    new-secret\n",
            "a",
            "b",
        );
        assert!(
            !diff.contains("secret\n") && diff.contains("-    <redacted>\n+    <redacted>\n"),
            "{diff}"
        );
    }

    #[test]
    fn redaction_by_meaning_declared_secrets_and_consumer_credentials() {
        let r = Redaction::new(["GITEA_LFS_JWT", "DB_CONN"]);
        // Declared secret, whatever the name: as an assignment, a default and a block.
        for (line, kept) in [
            ("GITEA_LFS_JWT=abc123\n", "GITEA_LFS_JWT="),
            ("      DB_CONN: \"abc123\"\n", "      DB_CONN: \""),
            ("x: ${DB_CONN:-abc123}\n", "x: ${DB_CONN:-"),
        ] {
            let shown = r.line("docker-compose.yml", line);
            assert!(
                !shown.contains("abc123") && shown.starts_with(kept),
                "{line} -> {shown}"
            );
        }
        assert_eq!(Redaction::default().line("", "DB_CONN=abc123"), "DB_CONN=abc123");
        assert!(!r.text("", "DB_CONN: |\n  abc123\nnext: 1\n").contains("abc123"));
        // Alertmanager: Slack's api_url everywhere, a receiver's url in its file only.
        let am = "alertmanager/alertmanager.yml";
        assert_eq!(
            r.line(am, "    slack_api_url: https://hooks/x"),
            "    slack_api_url: <redacted>"
        );
        assert_eq!(r.line(am, "      - url: https://hooks/x"), "      - url: <redacted>");
        assert_eq!(
            r.line(
                "grafana/provisioning/datasources/datasources.yml",
                "    url: http://prometheus:9090"
            ),
            "    url: http://prometheus:9090"
        );
        assert_eq!(
            r.line(am, "      - api_url_file: /run/secrets/slack"),
            "      - api_url_file: /run/secrets/slack"
        );
        // Grafana: every value of secureJsonData, its keys kept.
        let grafana = "  - name: x\n    secureJsonData:\n      httpHeaderValue1: abc123\n      tlsClientCert: def456\n    url: http://p\n";
        assert_eq!(
            r.text("grafana/provisioning/datasources/datasources.yml", grafana),
            "  - name: x\n    secureJsonData:\n      httpHeaderValue1: <redacted>\n      tlsClientCert: <redacted>\n    url: http://p\n"
        );
        // HTTP credentials: NGINX directives and curl headers; an NGINX variable is kept.
        assert_eq!(
            r.line(
                "nginx/nginx.conf",
                "    proxy_set_header Authorization \"Basic abc123\";\n"
            ),
            "    proxy_set_header Authorization <redacted>;\n"
        );
        assert_eq!(
            r.line("", "proxy_set_header X-Api-Key abc123;"),
            "proxy_set_header X-Api-Key <redacted>;"
        );
        let kept = "proxy_set_header Authorization $http_authorization;";
        assert_eq!(r.line("nginx/nginx.conf", kept), kept);
        let kept = "proxy_set_header X-Real-IP $remote_addr;";
        assert_eq!(r.line("nginx/nginx.conf", kept), kept);
        assert!(
            !r.line("", "curl -H \"Authorization: Bearer abc123\" https://x")
                .contains("abc123")
        );
        // A webhook URL is its own credential, whatever holds it; Grafana's header values too.
        assert_eq!(
            r.line("", "      - api_url- https://hooks.slack.com/services/T0/B0/abc123"),
            "      - api_url- https://hooks.slack.com/services/<redacted>"
        );
        assert_eq!(
            r.line("", "x \"https://discord.com/api/webhooks/1/abc123\" y"),
            "x \"https://discord.com/api/webhooks/<redacted>\" y"
        );
        assert_eq!(
            r.line("", "      httpHeaderValue1: abc123"),
            "      httpHeaderValue1: <redacted>"
        );
    }

    #[test]
    fn url_credentials_are_redacted() {
        assert_eq!(
            redact("DATABASE_URL=postgres://app:pw@db:5432/app\nother\n"),
            "DATABASE_URL=postgres://app:<redacted>@db:5432/app\nother\n"
        );
        // A `{ with_secrets: ... }` value as rendered holds a reference only, kept as is; the
        // same line edited to hold the password is redacted.
        let rendered = "      MONGO_URL: \"mongodb://admin:${MONGO_PASSWORD:?MONGO_PASSWORD is required: set it in .env}@mongo:27017/vutler?authSource=admin\"";
        assert_eq!(redact_line(rendered), rendered);
        assert_eq!(
            redact_line("      MONGO_URL: \"mongodb://admin:Xy7pQ2@mongo:27017/vutler?authSource=admin\""),
            "      MONGO_URL: \"mongodb://admin:<redacted>@mongo:27017/vutler?authSource=admin\""
        );
    }
}
