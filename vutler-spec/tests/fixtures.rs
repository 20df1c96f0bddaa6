//! Data-driven tests over `tests/fixtures/`.
//!
//! - `invalid/*.{yaml,toml}`: each file is an environment overlay on `base/stack.yaml`. Its
//!   leading `# expect: ...` lines are every diagnostic it must produce, in order, exactly as
//!   `Diagnostic::display` prints them (file:line:col, code, spec path, message, help).
//! - `invalid/*/`: a whole spec folder (`base/`, `env/test.*`) for problems that need several
//!   base files (or none); its expectations are in `expect.txt`.
//! - `equivalent/`: the same stack in YAML and TOML must load into the same model.
//!
//! Every rule of [`Rule::ALL`] is produced by at least one invalid fixture. After a deliberate
//! change of messages, `VUTLER_BLESS=1 cargo test -p vutler-spec --test fixtures` rewrites the
//! `expect:` lines to what the fixtures now produce; review the diff before committing it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use vutler_spec::{Report, Rule, SpecFiles};

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

/// Every diagnostic, one line each, and the rules they break; empty when the spec is valid and
/// has no warnings.
fn diagnostics(files: &Result<SpecFiles, Report>) -> (Vec<String>, Vec<Rule>) {
    let report = match files.as_ref().map(SpecFiles::resolve) {
        Ok(Ok(loaded)) => loaded.warnings,
        Ok(Err(report)) => report,
        Err(report) => report.clone(),
    };
    let lines = report
        .diagnostics
        .iter()
        .map(|d| d.display(&report.sources).to_string())
        .collect();
    (lines, report.diagnostics.iter().map(|d| d.rule).collect())
}

/// An invalid fixture: the files to load (or the report of a folder that cannot be read), what
/// they must give, and the file the expectations are written in.
struct Fixture {
    path: PathBuf,
    files: Result<SpecFiles, Report>,
    expected: Vec<String>,
    expect_file: PathBuf,
}

fn invalid_fixtures() -> Vec<Fixture> {
    let dir = fixtures().join("invalid");
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|path| {
            if path.is_dir() {
                // Read as the CLI reads a spec folder, so that problems of the folder itself
                // (no base file, an unknown environment) have fixtures too. Relative to the
                // crate (the tests' working folder), so that the names are the same anywhere.
                let relative = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&path);
                let expect_file = path.join("expect.txt");
                Fixture {
                    files: vutler_spec::read_dir(relative, ENV),
                    expected: expectations(&read(&expect_file)),
                    expect_file,
                    path,
                }
            } else {
                let base = vec![named(&fixtures().join("base/stack.yaml"))];
                let overlay = named(&path);
                let expected = expectations(&overlay.1);
                Fixture {
                    files: Ok(SpecFiles::new(ENV, base, Some(overlay))),
                    expected,
                    expect_file: path.clone(),
                    path,
                }
            }
        })
        .collect()
}

/// Rewrites the leading `expect:` lines of a fixture to `actual`.
fn bless(fixture: &Fixture, actual: &[String]) {
    let text = read(&fixture.expect_file);
    let dir = fixture.path.is_dir();
    let prefix = if dir { "expect: " } else { "# expect: " };
    let rest: Vec<&str> = text.lines().skip_while(|l| l.starts_with(prefix)).collect();
    let mut out: Vec<String> = actual.iter().map(|a| format!("{prefix}{a}")).collect();
    out.extend(rest.iter().map(|l| (*l).to_owned()));
    fs::write(&fixture.expect_file, out.join("\n") + "\n")
        .unwrap_or_else(|e| panic!("{}: {e}", fixture.expect_file.display()));
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
    assert_eq!(
        diagnostics(&Ok(SpecFiles::new(ENV, base, None))).0,
        Vec::<String>::new()
    );
}

#[test]
fn invalid_fixtures_give_exactly_their_diagnostics() {
    let blessing = std::env::var_os("VUTLER_BLESS").is_some();
    let mut failures = Vec::new();
    let all = invalid_fixtures();
    for fixture in &all {
        let (actual, _) = diagnostics(&fixture.files);
        if blessing && actual != fixture.expected && !actual.is_empty() {
            // Writing the expectations moves the overlay's lines: write until they hold.
            let mut actual = actual;
            for _ in 0..3 {
                bless(fixture, &actual);
                let reloaded = invalid_fixtures().into_iter().find(|f| f.path == fixture.path);
                match reloaded.map(|f| diagnostics(&f.files).0) {
                    Some(now) if now != actual => actual = now,
                    _ => break,
                }
            }
            continue;
        }
        if fixture.expected.is_empty() {
            failures.push(format!(
                "{}: no `expect:` lines; it produces:\n{}",
                fixture.path.display(),
                actual.join("\n")
            ));
        } else if actual != fixture.expected {
            failures.push(format!(
                "{}\n  expected:\n    {}\n  actual:\n    {}",
                fixture.path.display(),
                fixture.expected.join("\n    "),
                actual.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed (after a deliberate change, VUTLER_BLESS=1 rewrites them):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(all.len() >= MIN_INVALID_FIXTURES, "only {} invalid fixtures", all.len());
}

#[test]
fn every_rule_has_a_fixture_that_produces_it() {
    let produced: BTreeSet<Rule> = invalid_fixtures()
        .iter()
        .flat_map(|f| diagnostics(&f.files).1)
        .collect();
    let missing: Vec<&str> = Rule::ALL
        .iter()
        .filter(|r| !produced.contains(r))
        .map(|r| r.id())
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a fixture in tests/fixtures/invalid/ that produces them: {}",
        missing.join(", ")
    );
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
    let tree = |l: &vutler_spec::Loaded| l.effective().unwrap_or_else(|r| panic!("{r}")).to_json();
    assert_eq!(tree(&yaml), tree(&toml));
    // And both equal the fixture base that the invalid fixtures build on.
    let base = load("../base/stack.yaml");
    assert_eq!(base.stack, yaml.stack);
}
