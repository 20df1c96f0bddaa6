//! Property tests (proptest):
//!
//! - Any free text the spec's grammars accept, as an environment value, a service description,
//!   an alert's summary and description, renders into files their consumers read back as the
//!   same text: the Compose file (YAML, with Compose's `$$`), the alert rules (YAML), and the
//!   variable's comment in `.env.example`. Every accepted value of a run is then rendered into
//!   one stack, checked by the real programs where they are installed (`docker-compose config`,
//!   Compose v2, `promtool check rules`; required with `VUTLER_REQUIRE_VALIDATORS=1`).
//! - Redaction never prints a value the model declares secret, whatever the variable is named
//!   and in whatever form the line holds it.

use std::cell::RefCell;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use vutler_render::diff::{Labels, Redaction, diff_trees};
use vutler_spec::SpecFiles;

fn base() -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stack/base/stack.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    ("base/stack.yaml".into(), text)
}

/// Text that tries every edge of YAML, shell and Compose quoting: quotes, `#`, `: `, `- `,
/// `$`, backslashes, leading and trailing blanks, YAML's special words, non-ASCII letters and
/// emoji, and the characters that must be refused (controls, line and paragraph separators,
/// bidi and zero-width ones).
fn free_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 ]{1,8}",
        2 => prop::sample::select(vec![
            "'", "\"", "#", " #", ": ", "- ", "$", "$$", "${", "}", "{", "\\", "\\n", "%", "&", "*", "!", "|", ">", "?",
            ",", "[", "]", "@", "`", "~", "null", "true", "no", "0x1F", "1e3", "-1", ".inf", "é", "日本", "🚀", "\t",
            "\n", "\r", "\u{0}", "\u{7}", "\u{85}", "\u{2028}", "\u{2029}", "\u{202e}", "\u{200b}", "\u{feff}", " ",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 1..8).prop_map(|parts| parts.concat())
}

/// The overlay that puts `text` in an environment value, a service description, and an alert's
/// summary and description.
fn overlay(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    format!(
        "services:\n  app:\n    description: {quoted}\n    environment:\n      NOTE: {quoted}\nmonitoring:\n  alert_groups:\n    - name: critical\n      rules:\n        - name: PostgresDown\n          summary: {quoted}\n          description: {quoted}\n"
    )
}

/// Compose's reading of a value: `$$` is one `$`.
fn compose_unescape(value: &str) -> String {
    value.replace("$$", "$")
}

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("the rendered YAML does not parse: {e}\n{text}"))
}

/// What one accepted text renders to, read back as its consumers read it.
fn read_back(text: &str) -> Result<(), TestCaseError> {
    let files = SpecFiles::new(
        "production",
        vec![base()],
        Some(("env/production.yaml".into(), overlay(text))),
    );
    let Ok(loaded) = files.resolve() else {
        // Refused: nothing is rendered from it (another test checks the messages).
        return Ok(());
    };
    let tree = vutler_render::render(&loaded.stack).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
    let compose = yaml(tree.get("docker-compose.yml").unwrap_or_default());
    let note = compose["services"]["app"]["environment"]["NOTE"]
        .as_str()
        .unwrap_or_default();
    // A `${VAR}` reference is Compose's to fill in; the rest reads back as written.
    if !text.contains("${") {
        prop_assert_eq!(compose_unescape(note), text, "the Compose environment value");
    }
    let alerts = yaml(tree.get("prometheus/alerts.yml").unwrap_or_default());
    let rule = alerts["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_sequence().into_iter().flatten())
        .find(|r| r["alert"].as_str() == Some("PostgresDown"))
        .cloned()
        .unwrap_or_default();
    prop_assert_eq!(rule["annotations"]["summary"].as_str(), Some(text), "the alert summary");
    prop_assert_eq!(
        rule["annotations"]["description"].as_str(),
        Some(text),
        "the alert description"
    );
    // No rendered file may hold a character a consumer refuses or a reader cannot see.
    for (path, contents) in tree.iter() {
        let bad = contents
            .chars()
            .find(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}' | '\u{feff}'));
        prop_assert!(bad.is_none(), "{path} holds {:?}, from {text:?}", bad);
    }
    Ok(())
}

#[test]
fn accepted_free_text_reads_back_the_same_in_every_consumer() {
    let accepted = RefCell::new(Vec::<String>::new());
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&free_text(), |text| {
        read_back(&text)?;
        let files = SpecFiles::new(
            "production",
            vec![base()],
            Some(("env/production.yaml".into(), overlay(&text))),
        );
        if files.resolve().is_ok() {
            accepted.borrow_mut().push(text);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let accepted = accepted.into_inner();
    assert!(
        accepted.len() >= 50,
        "too few texts were accepted to test anything: {}",
        accepted.len()
    );
    consumers_accept(&accepted);
}

/// Renders every accepted text of the run into one stack (an environment value each, and the
/// alert texts of the first) and runs the real consumers on it.
fn consumers_accept(texts: &[String]) {
    let mut overlay = String::from("services:\n  app:\n    environment:\n");
    for (i, text) in texts.iter().enumerate() {
        let quoted = serde_json::to_string(text).unwrap_or_default();
        overlay.push_str(&format!("      NOTE_{i}: {quoted}\n"));
    }
    let files = SpecFiles::new(
        "production",
        vec![base()],
        Some(("env/production.yaml".into(), overlay)),
    );
    let loaded = files
        .resolve()
        .unwrap_or_else(|r| panic!("each was accepted alone:\n{r}"));
    let tree = vutler_render::render(&loaded.stack).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (path, contents) in tree.iter() {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&full, contents).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(
        dir.path().join(".env"),
        "VERSION=1.0.0\nDB_PASSWORD=x\nSLACK_WEBHOOK_URL=https://x\nACME_EMAIL=a@b.c\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let required = std::env::var_os("VUTLER_REQUIRE_VALIDATORS").is_some();
    let compose_v2 = if Path::new("/usr/local/bin/docker-compose-v2").exists() {
        "/usr/local/bin/docker-compose-v2"
    } else {
        "docker-compose-v2"
    };
    for (program, args) in [
        ("docker-compose", vec!["-f", "docker-compose.yml", "config", "-q"]),
        (compose_v2, vec!["-f", "docker-compose.yml", "config", "-q"]),
        ("promtool", vec!["check", "rules", "prometheus/alerts.yml"]),
    ] {
        match Command::new(program).args(&args).current_dir(dir.path()).output() {
            Ok(out) => assert!(
                out.status.success(),
                "{program} refuses what {} accepted texts render to:\n{}{}",
                texts.len(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) if !required => eprintln!("skipped {program}: {e}"),
            Err(e) => panic!("{program} is required (VUTLER_REQUIRE_VALIDATORS): {e}"),
        }
    }
}

/// A variable name the spec accepts: upper case, digits and `_`, none secret-looking by itself.
fn variable_name() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9_]{2,14}".prop_filter("not secret-looking by name", |n| !vutler_render::diff::is_secret_key(n))
}

/// A secret value: long enough that it cannot occur in the text around it by chance.
fn secret_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/=_.~-]{12,40}".prop_map(|v| format!("Zq{v}"))
}

/// A line that holds `value` as the value of `name`, in one of the forms rendered files and
/// hand edits take.
fn holding(name: &str, value: &str, form: usize) -> String {
    match form % 10 {
        0 => format!("{name}={value}\n"),
        1 => format!("      {name}: \"{value}\"\n"),
        2 => format!("      - {name}={value}\n"),
        3 => format!("export {name}='{value}'\n"),
        4 => format!("      OTHER: ${{{name}:-{value}}}\n"),
        5 => format!("      {name}: |\n        {value}\n        {value}\n"),
        6 => format!("  \"{name}\": \"{value}\",\n"),
        7 => format!("      {name}:\n        {value}\n"),
        8 => format!("{name}: postgres://user:{value}@db:5432/app\n"),
        _ => format!("      {name}: {value}\n"),
    }
}

proptest! {
    #![proptest_config(Config { cases: 500, failure_persistence: None, ..Config::default() })]

    #[test]
    fn redaction_never_prints_a_declared_secret(
        name in variable_name(),
        old in secret_value(),
        new in secret_value(),
        form in 0usize..10,
        before in prop::collection::vec("[a-z]{1,6}: [a-z0-9 ]{0,10}\n", 0..5),
        after in prop::collection::vec("[a-z]{1,6}: [a-z0-9 ]{0,10}\n", 0..5),
        path in prop::sample::select(vec!["docker-compose.yml", ".env.example", "scripts/backup.sh", "alertmanager/alertmanager.yml", "grafana/provisioning/datasources/datasources.yml"]),
    ) {
        let text = |value: &str| format!("{}{}{}", before.concat(), holding(&name, value, form), after.concat());
        let (old_text, new_text) = (text(&old), text(&new));
        let redaction = Redaction::new([name.clone()]);
        let diff = diff_trees(
            [(path, old_text.as_bytes())],
            [(path, new_text.as_bytes())],
            Labels { old: "deploy", new: "rendered" },
            &redaction,
        );
        prop_assert_eq!(diff.changed.len(), 1, "a changed secret is a changed file");
        let shown = &diff.changed[0].diff;
        prop_assert!(!shown.contains(&old) && !shown.contains(&new), "{}", shown);
        prop_assert!(shown.contains("<redacted>"), "{}", shown);
    }
}
