//! The committed JSON schema is fresh, and every spec file (each a fragment) conforms to it.

use std::path::{Path, PathBuf};

use vutler_spec::schema::{FILE_NAME, STACK_FILE_NAME, json_schema, json_schema_text, stack_schema, stack_schema_text};

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
fn committed_stack_schema_is_fresh() {
    let committed = std::fs::read_to_string(specs().join(STACK_FILE_NAME)).unwrap_or_default();
    assert!(
        committed == stack_schema_text(),
        "{STACK_FILE_NAME} is stale: run `cargo xtask schema` and commit the result"
    );
}

/// The effective spec of every environment (of the Vutler stack and of the stacks of other
/// shapes) is a whole stack; one without a required section, or with a service without an
/// image, is not.
#[test]
fn every_effective_spec_is_a_whole_stack() {
    let validator = jsonschema::validator_for(&stack_schema()).unwrap_or_else(|e| panic!("schema: {e}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut folders = vec![specs()];
    let stacks = root.join("xtask/stacks");
    let mut others: Vec<PathBuf> = std::fs::read_dir(&stacks)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    others.sort();
    folders.extend(others);
    let mut checked = 0;
    for folder in folders {
        for env in vutler_spec::environments(&folder).unwrap_or_else(|r| panic!("{r}")) {
            let loaded = vutler_spec::load(&folder, &env).unwrap_or_else(|r| panic!("{}: {r}", folder.display()));
            let doc = loaded.effective().unwrap_or_else(|r| panic!("{r}")).to_json();
            let errors: Vec<String> = validator
                .iter_errors(&doc)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{} {env}:\n{}", folder.display(), errors.join("\n"));
            checked += 1;
            if checked == 1 {
                let mut without = doc.clone();
                if let Some(o) = without.as_object_mut() {
                    o.remove("tls");
                }
                assert!(!validator.is_valid(&without), "a stack without tls");
                let mut imageless = doc.clone();
                if let Some(s) = imageless["services"]
                    .as_object_mut()
                    .and_then(|s| s.values_mut().next())
                {
                    s.as_object_mut().map(|s| s.remove("image"));
                }
                assert!(!validator.is_valid(&imageless), "a service without an image");
            }
        }
    }
    assert!(checked >= 10, "{checked}");
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
