//! The overlay semantics documented in `vutler_spec::merge`, one test per rule.

use vutler_spec::SpecFiles;
use vutler_spec::tree::Node;

fn effective(base: &str, overlay: &str) -> Result<serde_json::Value, String> {
    SpecFiles::new(
        "test",
        vec![("base.yaml".into(), base.into())],
        Some(("env/test.yaml".into(), overlay.into())),
    )
    .effective()
    .map(|n: Node| n.to_json())
    .map_err(|r| r.to_string())
}

fn json(yaml: &str) -> serde_json::Value {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn maps_merge_by_key_and_scalars_are_replaced() {
    let out = effective("a: { x: 1, y: { z: 2, w: 3 } }", "a: { y: { z: 9 }, v: 4 }");
    assert_eq!(out, Ok(json("a: { x: 1, y: { z: 9, w: 3 }, v: 4 }")));
}

#[test]
fn named_lists_merge_by_name_in_place_and_append_new_items() {
    let base = "ports: [{ name: a, n: 1 }, { name: b, n: 2 }]";
    let out = effective(base, "ports: [{ name: c, n: 3 }, { name: a, n: 9 }]");
    assert_eq!(
        out,
        Ok(json("ports: [{ name: a, n: 9 }, { name: b, n: 2 }, { name: c, n: 3 }]"))
    );
}

#[test]
fn unnamed_lists_and_type_changes_are_replaced_whole() {
    assert_eq!(effective("cmd: [a, b]", "cmd: [c]"), Ok(json("cmd: [c]")));
    assert_eq!(effective("x: { a: 1 }", "x: [1]"), Ok(json("x: [1]")));
    assert_eq!(effective("x: [{ name: a }]", "x: [plain]"), Ok(json("x: [plain]")));
}

#[test]
fn remove_deletes_inherited_map_entries_and_named_items() {
    let out = effective(
        "s: { a: { i: 1 }, b: { i: 2 } }\nl: [{ name: x }, { name: y }]",
        "s: { a: { $remove: true } }\nl: [{ name: x, $remove: true }]",
    );
    assert_eq!(out, Ok(json("s: { b: { i: 2 } }\nl: [{ name: y }]")));
}

#[test]
fn remove_of_an_entry_the_base_lacks_is_an_error() {
    let out = effective("s: { a: 1 }", "s: { b: { $remove: true } }");
    assert_eq!(
        out,
        Err("env/test.yaml:1:11: error[overlay] s.b: `$remove` names an entry that the base does not define\n".into())
    );
}

#[test]
fn remove_with_other_keys_or_outside_an_overlay_is_an_error() {
    let out = effective("s: { a: { i: 1 } }", "s: { a: { $remove: true, i: 2 } }");
    assert_eq!(
        out,
        Err("env/test.yaml:1:26: error[overlay] s.a: an entry with `$remove: true` cannot also set `i`\n".into())
    );
    let out = effective("s: { a: { $remove: true } }", "{}");
    assert_eq!(out, Err("base.yaml:1:11: error[overlay] s.a.$remove: `$remove` only removes an entry inherited from the base, in an overlay\n".into()));
}

#[test]
fn base_fragments_join_but_never_define_the_same_value_twice() {
    let files = |a: &str, b: &str| {
        SpecFiles::new(
            "test",
            vec![("a.yaml".into(), a.into()), ("b.yaml".into(), b.into())],
            None,
        )
        .effective()
        .map(|n| n.to_json())
        .map_err(|r| r.to_string())
    };
    assert_eq!(
        files("services: { x: { i: 1 } }", "services: { y: { i: 2 } }"),
        Ok(json("services: { x: { i: 1 }, y: { i: 2 } }"))
    );
    // A service is defined in one file, even when the two halves do not overlap.
    let err = files("services: { x: { i: 1 } }", "services: { x: { j: 2 } }");
    assert_eq!(
        err,
        Err("b.yaml:1:13: error[duplicate-definition] services.x: defined in two base files (help: define it in one base file only; environment changes go in an overlay) [first defined: a.yaml:1:13]\n".into())
    );
    let err = files("project: a", "project: b");
    assert!(
        err.is_err_and(|e| e.starts_with("b.yaml:1:1: error[duplicate-definition] project: defined in two base files"))
    );
}
