//! The JSON schemas of specs, for editors and other tools.
//!
//! Generated from [`RawStack`], whose doc comments become descriptions. Every spec file is a
//! fragment (a base file may hold only `services:`, an overlay only what it changes), so the
//! schema of spec files ([`json_schema`]) requires nothing: required keys are checked by the
//! loader on the merged document. Every object also accepts `$remove: true`, the overlay's removal
//! marker. The schema of a whole stack ([`stack_schema`]: a one-file stack, or the effective spec
//! `vutler-render explain` prints) marks what every stack must have as required, and knows no
//! `$remove`.

use serde_json::{Value, json};

use crate::merge::REMOVE_KEY;
use crate::raw::RawStack;

/// File name of the committed schema inside the spec folder.
pub const FILE_NAME: &str = "vutler-spec.schema.json";

/// File name of the committed schema of a whole stack, beside it.
pub const STACK_FILE_NAME: &str = "vutler-stack.schema.json";

/// The schema of a whole stack: the keys every stack (and every entry) must have are required.
pub fn stack_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(RawStack)).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut schema {
        o.insert(
            "$id".into(),
            json!("https://vutler.dev/schemas/vutler-stack.schema.json"),
        );
        o.insert(
            "title".into(),
            json!("A whole Vutler stack (the effective spec of an environment)"),
        );
    }
    schema
}

/// [`stack_schema`] as pretty-printed JSON text with a final newline.
pub fn stack_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&stack_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// The schema as a JSON value.
pub fn json_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(RawStack)).unwrap_or(Value::Null);
    relax(&mut schema);
    if let Value::Object(o) = &mut schema {
        o.insert(
            "$id".into(),
            json!("https://vutler.dev/schemas/vutler-spec.schema.json"),
        );
    }
    schema
}

/// The schema as pretty-printed JSON text with a final newline.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

fn relax(value: &mut Value) {
    match value {
        Value::Object(o) => {
            // The `required` keyword is a list; a property that happens to be named `required`
            // (as in `variables`) is a schema and stays.
            if o.get("required").is_some_and(Value::is_array) {
                o.remove("required");
            }
            // A fragment may match several variants (`{ $remove: true }` matches them all).
            if let Some(variants) = o.remove("oneOf") {
                o.insert("anyOf".into(), variants);
            }
            if let Some(Value::Object(props)) = o.get_mut("properties") {
                props.insert(
                    REMOVE_KEY.into(),
                    json!({ "description": "In an overlay: remove this entry inherited from the base.", "const": true }),
                );
            }
            for v in o.values_mut() {
                relax(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(relax),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::TOP_LEVEL_KEYS;

    #[test]
    fn top_level_keys_follow_the_spec_type() {
        let schema = json_schema();
        let keys: Vec<&str> = schema["properties"]
            .as_object()
            .map(|p| p.keys().map(String::as_str).filter(|k| *k != REMOVE_KEY).collect())
            .unwrap_or_default();
        assert_eq!(keys, TOP_LEVEL_KEYS);
    }

    #[test]
    fn a_whole_stack_requires_what_the_loader_requires() {
        let schema = stack_schema();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(required, crate::load::REQUIRED_SECTIONS);
        assert!(!stack_schema_text().contains(REMOVE_KEY));
    }
}
