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
    let json = serde_json::to_value(value)?;
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(blocks);
    // Writing into a String does not fail, and every JSON value has a YAML form.
    emitter.dump(&convert(&json)).map_err(RenderError::Yaml)?;
    // The emitter opens the document with `---`, which the files do not start with.
    let mut text = match out.strip_prefix("---\n").or_else(|| out.strip_prefix("---")) {
        Some(body) => body.to_owned(),
        None => out,
    };
    text.push('\n');
    Ok(text)
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
}
