//! The committed JSON schema is fresh, and every spec file (each a fragment) conforms to it.

use std::path::{Path, PathBuf};

use vutler_spec::schema::{FILE_NAME, json_schema, json_schema_text};

fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs")
}

#[test]
fn committed_schema_is_fresh() {
    let path = specs().join(FILE_NAME);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == json_schema_text(),
        "{} is stale: run `cargo xtask schema` and commit the result",
        path.display()
    );
}

#[test]
fn every_spec_file_conforms_and_points_editors_at_the_schema() {
    let validator = jsonschema::validator_for(&json_schema()).unwrap_or_else(|e| panic!("schema: {e}"));
    let mut checked = 0;
    for dir in ["base", "env"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(specs().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                text.starts_with(&format!("# yaml-language-server: $schema=../{FILE_NAME}\n")),
                "{} does not point editors at the schema",
                path.display()
            );
            let doc: serde_json::Value =
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let errors: Vec<String> = validator
                .iter_errors(&doc)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}:\n{}", path.display(), errors.join("\n"));
            checked += 1;
        }
    }
    assert!(checked >= 4);
}

#[test]
fn schema_rejects_unknown_keys_and_accepts_remove() {
    let validator = jsonschema::validator_for(&json_schema()).unwrap_or_else(|e| panic!("schema: {e}"));
    let bad = serde_json::json!({ "services": { "app": { "imag": "x:1" } } });
    assert!(!validator.is_valid(&bad));
    let removal = serde_json::json!({ "services": { "app": { "$remove": true } } });
    assert!(validator.is_valid(&removal));
}
