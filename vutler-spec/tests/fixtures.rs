//! Data-driven tests over `tests/fixtures/`.
//!
//! - `invalid/*.{yaml,toml}`: each file is an environment overlay on `base/stack.yaml`. Its
//!   leading `# expect: ...` lines are every diagnostic it must produce, in order, exactly as
//!   `Diagnostic::display` prints them (file:line:col, code, spec path, message, help).
//! - `invalid/*/`: a whole spec folder (`base/`, `env/test.*`) for problems that need several
//!   base files; its expectations are in `expect.txt`.
//! - `equivalent/`: the same stack in YAML and TOML must load into the same model.

use std::fs;
use std::path::{Path, PathBuf};

use vutler_spec::SpecFiles;

const ENV: &str = "test";
const MIN_INVALID_FIXTURES: usize = 25;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Name a file is reported under: its path relative to `tests/fixtures`.
fn named(path: &Path) -> (String, String) {
    let name = path.strip_prefix(fixtures()).unwrap_or(path).display().to_string();
    (name, read(path))
}

fn spec_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "toml"))
        .collect();
    files.sort();
    files
}

/// Every diagnostic, one line each; empty when the spec is valid and has no warnings.
fn diagnostics(files: &SpecFiles) -> Vec<String> {
    let report = match files.resolve() {
        Ok(loaded) => loaded.warnings,
        Err(report) => report,
    };
    report
        .diagnostics
        .iter()
        .map(|d| d.display(&report.sources).to_string())
        .collect()
}

fn expectations(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: ").or_else(|| l.strip_prefix("expect: ")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_fixture_base_is_valid_without_warnings() {
    let base = vec![named(&fixtures().join("base/stack.yaml"))];
    assert_eq!(diagnostics(&SpecFiles::new(ENV, base, None)), Vec::<String>::new());
}

#[test]
fn invalid_fixtures_give_exactly_their_diagnostics() {
    let dir = fixtures().join("invalid");
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for path in entries {
        let (files, expected) = if path.is_dir() {
            let base = spec_files_in(&path.join("base")).iter().map(|p| named(p)).collect();
            let overlay = spec_files_in(&path.join("env")).first().map(|p| named(p));
            (
                SpecFiles::new(ENV, base, overlay),
                expectations(&read(&path.join("expect.txt"))),
            )
        } else {
            let base = vec![named(&fixtures().join("base/stack.yaml"))];
            let overlay = named(&path);
            let expected = expectations(&overlay.1);
            (SpecFiles::new(ENV, base, Some(overlay)), expected)
        };
        count += 1;
        let actual = diagnostics(&files);
        if expected.is_empty() {
            failures.push(format!(
                "{}: no `expect:` lines; it produces:\n{}",
                path.display(),
                actual.join("\n")
            ));
        } else if actual != expected {
            failures.push(format!(
                "{}\n  expected:\n    {}\n  actual:\n    {}",
                path.display(),
                expected.join("\n    "),
                actual.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(count >= MIN_INVALID_FIXTURES, "only {count} invalid fixtures");
}

#[test]
fn yaml_and_toml_load_into_the_same_stack() {
    let dir = fixtures().join("equivalent");
    let load = |file: &str| {
        SpecFiles::new(ENV, vec![named(&dir.join(file))], None)
            .resolve()
            .unwrap_or_else(|r| panic!("{file}:\n{r}"))
    };
    let (yaml, toml) = (load("stack.yaml"), load("stack.toml"));
    assert_eq!(yaml.stack, toml.stack);
    assert_eq!(yaml.tree.to_json(), toml.tree.to_json());
    // And both equal the fixture base that the invalid fixtures build on.
    let base = load("../base/stack.yaml");
    assert_eq!(base.stack, yaml.stack);
}
