//! YAML text from serde values, readable by YAML 1.1 and 1.2 parsers alike.
//!
//! Outputs are built as typed serde values and turned into text here, never templated. The
//! emitter is saphyr's, because it quotes every string a YAML 1.1 reader would misread (`yes`,
//! `on`, `80:80`, `0o17`, numbers), which `serde_yaml` leaves plain: docker-compose v1 and other
//! PyYAML-based tools read YAML 1.1.

use std::borrow::Cow;

use saphyr::{Mapping, Scalar, Yaml, YamlEmitter};
use serde::Serialize;

use crate::RenderError;

/// Serializes a value as a YAML document (no `---` line), ending with a newline.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, RenderError> {
    emit(value, false)
}

/// Like [`to_string`], with strings of several lines as literal blocks (`|`), line by line as
/// they are (the files a ConfigMap holds).
pub fn to_string_with_blocks<T: Serialize>(value: &T) -> Result<String, RenderError> {
    emit(value, true)
}

fn emit<T: Serialize>(value: &T, blocks: bool) -> Result<String, RenderError> {
    use serde_json::Value as J;
    let json = serde_json::to_value(value)?;
    // A large file is emitted a top-level section's entry at a time (see [`Sections`]), so the
    // emitter's tree never holds more than one of them.
    let sections = match &json {
        J::Object(sections) if !sections.is_empty() => sections,
        _ => return whole(&json, blocks),
    };
    let mut out = Sections::new(blocks);
    for (key, section) in sections {
        match section {
            J::Object(entries) if !entries.is_empty() => {
                for (name, entry) in entries {
                    out.push(key, Some(name), convert(entry))?;
                }
            }
            J::Array(items) if !items.is_empty() => {
                for item in items {
                    out.push(key, None, convert(item))?;
                }
            }
            other => out.push_whole(key, convert(other))?,
        }
    }
    Ok(out.finish())
}

/// A value emitted as one document.
fn whole(json: &serde_json::Value, blocks: bool) -> Result<String, RenderError> {
    let mut text = String::new();
    push_document(&mut text, &convert(json), blocks, "")?;
    Ok(text)
}

/// A YAML document whose top-level mapping is written a section's entry at a time, for files too
/// large to be held as one tree (the Compose file of thousands of services): each entry is
/// serialized, emitted and dropped before the next is built.
///
/// The first entry of a section is emitted with the section's key, which the emitter quotes
/// where it must; every further one is the text the whole document would have, two spaces in.
/// Sections are written in the order they are first pushed to, and a section is not reopened.
#[derive(Debug)]
pub struct Sections {
    text: String,
    blocks: bool,
    /// The section being written.
    open: Option<String>,
}

impl Sections {
    /// An empty document; `blocks` as for [`to_string_with_blocks`].
    pub fn new(blocks: bool) -> Self {
        Self {
            text: String::new(),
            blocks,
            open: None,
        }
    }

    /// Adds `value` to the mapping `section` under `key`.
    pub fn entry<T: Serialize>(&mut self, section: &str, key: &str, value: &T) -> Result<(), RenderError> {
        self.push(section, Some(key), convert(&serde_json::to_value(value)?))
    }

    /// Writes `section` as one value (a scalar, or a collection written whole).
    pub fn value<T: Serialize>(&mut self, section: &str, value: &T) -> Result<(), RenderError> {
        self.push_whole(section, convert(&serde_json::to_value(value)?))
    }

    /// The document's text, ending with a newline; an empty mapping when nothing was added.
    pub fn finish(self) -> String {
        match self.open {
            Some(_) => self.text,
            None => "{}\n".to_owned(),
        }
    }

    fn push<'a>(&mut self, section: &'a str, key: Option<&'a str>, value: Yaml<'a>) -> Result<(), RenderError> {
        let one = match key {
            Some(key) => single(key, value),
            None => Yaml::Sequence(vec![value]),
        };
        continue_document(&mut self.text);
        if self.open.as_deref() == Some(section) {
            return push_document(&mut self.text, &one, self.blocks, "  ");
        }
        self.open = Some(section.to_owned());
        push_document(&mut self.text, &single(section, one), self.blocks, "")
    }

    fn push_whole<'a>(&mut self, section: &'a str, value: Yaml<'a>) -> Result<(), RenderError> {
        continue_document(&mut self.text);
        self.open = Some(section.to_owned());
        push_document(&mut self.text, &single(section, value), self.blocks, "")
    }
}

/// Makes the text emitted so far, a document of its own, go on as the whole document would.
/// Where it ends in a literal block, the emitter ended it with the block's newline and, after a
/// block that keeps its trailing newlines (`|+`), with the end marker `...`; inside a document
/// it writes neither.
fn continue_document(text: &mut String) {
    for marker in ["\n...\n", "\n  ...\n"] {
        if text.ends_with(marker) {
            text.truncate(text.len() - marker.len() + 1);
            return;
        }
    }
    if text.ends_with("\n\n") {
        text.pop();
    }
}

/// The mapping of one key.
fn single<'a>(key: &'a str, value: Yaml<'a>) -> Yaml<'a> {
    let mut mapping = Mapping::new();
    mapping.insert(Yaml::Value(Scalar::String(Cow::Borrowed(key))), value);
    Yaml::Mapping(mapping)
}

/// Emits one document onto `text` (no `---` line), each non-empty line after `indent`, ending
/// with a newline.
fn push_document(text: &mut String, doc: &Yaml<'_>, blocks: bool, indent: &str) -> Result<(), RenderError> {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(blocks);
    // Writing into a String does not fail, and every JSON value has a YAML form.
    emitter.dump(doc).map_err(RenderError::Yaml)?;
    // The emitter opens the document with `---`, which the files do not start with.
    let body = out
        .strip_prefix("---\n")
        .or_else(|| out.strip_prefix("---"))
        .unwrap_or(&out);
    if indent.is_empty() {
        text.push_str(body);
        text.push('\n');
        return Ok(());
    }
    for line in body.split('\n') {
        if !line.is_empty() {
            text.push_str(indent);
        }
        text.push_str(line);
        text.push('\n');
    }
    Ok(())
}

fn convert(value: &serde_json::Value) -> Yaml<'_> {
    use serde_json::Value as J;
    match value {
        J::Null => Yaml::Value(Scalar::Null),
        J::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Yaml::Value(Scalar::Integer(i)),
            (None, Some(f)) => Yaml::Value(Scalar::FloatingPoint(f.into())),
            // Beyond i64 and f64 (not produced here): keep the digits, as text.
            (None, None) => Yaml::Value(Scalar::String(Cow::Owned(n.to_string()))),
        },
        J::String(s) => Yaml::Value(Scalar::String(Cow::Borrowed(s))),
        J::Array(items) => Yaml::Sequence(items.iter().map(convert).collect()),
        J::Object(map) => {
            let mut out = Mapping::new();
            for (k, v) in map {
                out.insert(Yaml::Value(Scalar::String(Cow::Borrowed(k))), convert(v));
            }
            Yaml::Mapping(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_strings_are_quoted_and_layout_is_block() {
        let value = serde_json::json!({
            "command": ["redis-server", "--appendonly", "yes", "on", "80:80", "0.5", "3"],
            "n": 3,
            "empty": {},
            "nested": { "a": [{ "b": "plain-text" }] }
        });
        let text = to_string(&value).unwrap_or_default();
        assert_eq!(
            text,
            "command:\n  - redis-server\n  - \"--appendonly\"\n  - \"yes\"\n  - \"on\"\n  - \"80:80\"\n  - \"0.5\"\n  - \"3\"\nn: 3\nempty: {}\nnested:\n  a:\n    - b: plain-text\n"
        );
    }

    #[test]
    fn sections_an_entry_at_a_time_are_the_whole_document() {
        let values = [
            serde_json::json!({
                "services": {
                    "yes": { "image": "x:1", "ports": ["80:80", "443:443"], "environment": {} },
                    "on": { "command": [["a", "b"], []], "labels": { "a.b": "0o17" } },
                    "plain": {}
                },
                "groups": [
                    { "name": "g", "rules": [{ "alert": "A", "expr": "up == 0", "for": "5m" }] },
                    ["nested", ["deeper"]],
                    "scalar",
                    null
                ],
                "80:80": "quoted key",
                "empty_map": {},
                "empty_list": [],
                "n": 3,
                "t": true
            }),
            serde_json::json!({ "data": { "nginx.conf": "a {\n\n  b;\n}\n", "one": "line" }, "k": ["x\n\ny\n"] }),
            serde_json::json!({
                "data": { "a": "kept\n\n", "b": "x\ny", "c": "no newline\nat the end" },
                "list": ["kept\n\n\n", "x\n", { "m": "x\n" }],
                "after": "x\ny\n"
            }),
            serde_json::json!(["top", { "level": "sequence" }]),
            serde_json::json!({}),
            serde_json::json!("scalar"),
        ];
        for value in &values {
            for blocks in [false, true] {
                let chunked = emit(value, blocks).unwrap_or_default();
                // The document emitted whole, as before sections were emitted an entry at a time.
                let whole = whole(value, blocks).unwrap_or_default();
                assert_eq!(chunked, whole, "blocks: {blocks}, value: {value}");
            }
        }
    }
}
