//! `check` (a fresh render against a folder) and `diff` (two environments against each other).
//!
//! The comparison itself is `vutler_render::diff`; this module reads the folder, prints the
//! result as text or JSON and chooses the exit status.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use codespan_reporting::term::termcolor::{Color, ColorSpec, StandardStream, WriteColor};
use serde::Serialize;
use vutler_render::Rendered;
use vutler_render::diff::{FileDiff, Labels, Redaction, TreeDiff, diff_trees};
use vutler_spec::Stack;

use crate::report::{self, DriftFinding, DriftKind};
use crate::{Cli, EXIT_DIFFERENT, EXIT_INVALID, Format, color_choice, load_and_render, write};

/// What `check --format json` prints. Field names are a stable interface.
#[derive(Debug, Serialize)]
struct CheckJson<'a> {
    env: &'a str,
    against: String,
    in_sync: bool,
    changed: Vec<ChangedJson<'a>>,
    missing: &'a [String],
    unexpected: &'a [String],
    /// Generated paths that are symlinks or lie behind one (never followed, so never read).
    not_files: &'a [String],
    /// Files whose executable bit is not the rendered one (a script cron could not run).
    modes: Vec<ModeJson<'a>>,
}

#[derive(Debug, Serialize)]
struct ModeJson<'a> {
    path: &'a str,
    executable: bool,
    rendered_executable: bool,
}

/// What `diff --format json` prints. Field names are a stable interface.
#[derive(Debug, Serialize)]
struct DiffJson<'a> {
    a: &'a str,
    b: &'a str,
    identical: bool,
    changed: Vec<ChangedJson<'a>>,
    only_in_a: &'a [String],
    only_in_b: &'a [String],
}

#[derive(Debug, Serialize)]
struct ChangedJson<'a> {
    path: &'a str,
    diff: &'a str,
}

fn changed_json(changed: &[FileDiff]) -> Vec<ChangedJson<'_>> {
    changed
        .iter()
        .map(|c| ChangedJson {
            path: &c.path,
            diff: &c.diff,
        })
        .collect()
}

/// How a folder differs from a fresh render of its environment.
struct Drift {
    /// The folder, as it was named.
    against: String,
    diff: TreeDiff,
    /// Generated paths that are symlinks or lie behind one (never read).
    not_files: Vec<String>,
    /// Files whose executable bit differs, with whether the folder's copy is executable.
    modes: Vec<(String, bool)>,
    /// Files rendered.
    files: usize,
}

impl Drift {
    fn in_sync(&self) -> bool {
        self.diff.is_empty() && self.not_files.is_empty() && self.modes.is_empty()
    }

    fn exit_code(&self) -> ExitCode {
        if self.in_sync() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_DIFFERENT)
        }
    }
}

/// Compares a folder with a render of the stack loaded.
fn compare(stack: &Stack, tree: &Rendered, against: &Path) -> anyhow::Result<Drift> {
    let Generated {
        files: on_disk,
        executable,
        not_files,
    } = read_generated(against, tree)?;
    // A script that lost its executable bit is drift: cron could not run it.
    let modes: Vec<(String, bool)> = tree
        .iter()
        .map(|(p, _)| p)
        .filter(|p| on_disk.contains_key(*p))
        .filter(|p| executable.contains(*p) != tree.is_executable(p))
        .map(|p| (p.to_owned(), executable.contains(p)))
        .collect();
    let dir_label = against.display().to_string();
    let mut diff = diff_trees(
        on_disk.iter().map(|(p, c)| (p.as_str(), c.as_slice())),
        tree.iter().map(|(p, c)| (p, c.as_bytes())),
        Labels {
            old: dir_label.trim_end_matches('/'),
            new: "rendered",
        },
        &Redaction::of_stack(stack),
    );
    // A symlink is never read: it is neither the rendered file nor missing.
    diff.missing.retain(|p| !not_files.contains(p));
    diff.unexpected.retain(|p| !not_files.contains(p));
    Ok(Drift {
        against: dir_label,
        diff,
        not_files,
        modes,
        files: tree.len(),
    })
}

/// `vutler-render check --env ENV --against DIR`, as text or JSON.
/// With `compact`, JSON is printed on one line (one object a line, for several environments).
pub(crate) fn check(cli: &Cli, env: &str, against: &Path, format: Format, compact: bool) -> anyhow::Result<ExitCode> {
    let (stack, tree) = match load_and_render(cli, env)? {
        Ok(done) => done,
        Err(code) => return Ok(code),
    };
    if !against.is_dir() {
        eprintln!("error: {} is not a folder", against.display());
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let drift = compare(&stack, &tree, against)?;
    let Drift {
        against: dir_label,
        diff,
        not_files,
        modes,
        files,
    } = &drift;
    match format {
        Format::Json => print_json_as(
            &CheckJson {
                env,
                against: dir_label.clone(),
                in_sync: drift.in_sync(),
                changed: changed_json(&diff.changed),
                missing: &diff.missing,
                unexpected: &diff.unexpected,
                not_files,
                modes: modes
                    .iter()
                    .map(|(path, executable)| ModeJson {
                        path,
                        executable: *executable,
                        rendered_executable: !executable,
                    })
                    .collect(),
            },
            compact,
        )?,
        Format::Text => {
            let mut out = StandardStream::stdout(color_choice(cli, std::io::stdout().is_terminal()));
            print_diffs(&mut out, &diff.changed)?;
            print_list(&mut out, "missing (rendered, absent from the folder):", &diff.missing)?;
            print_list(
                &mut out,
                "unexpected (generated before, no longer rendered):",
                &diff.unexpected,
            )?;
            print_list(
                &mut out,
                "not files (symlinks, or behind one: never followed):",
                not_files,
            )?;
            let mode_lines: Vec<String> = modes
                .iter()
                .map(|(path, executable)| mode_line(path, *executable))
                .collect();
            print_list(&mut out, "modes (the executable bit differs):", &mode_lines)?;
            if drift.in_sync() {
                if crate::verbosity(cli) != crate::Verbosity::Quiet {
                    writeln!(out, "{env}: {dir_label} is in sync ({files} files)")?;
                }
            } else {
                writeln!(
                    out,
                    "{env}: {dir_label} has drifted: {} changed, {} missing, {} unexpected{}{}",
                    diff.changed.len(),
                    diff.missing.len(),
                    diff.unexpected.len(),
                    match not_files.len() {
                        0 => String::new(),
                        n => format!(", {n} not a file"),
                    },
                    match modes.len() {
                        0 => String::new(),
                        1 => ", 1 mode".to_owned(),
                        n => format!(", {n} modes"),
                    }
                )?;
            }
            out.flush()?;
        }
    }
    Ok(drift.exit_code())
}

fn mode_line(path: &str, executable: bool) -> String {
    if executable {
        format!("{path}: executable, rendered not executable")
    } else {
        format!("{path}: not executable, rendered executable (chmod +x, or render again)")
    }
}

/// `vutler-render check --format sarif`: one SARIF run per environment (each against its folder),
/// holding the spec's diagnostics and every difference, printed as one log. The exit status is
/// the worst of all: an invalid spec or an unreadable folder (2) before drift (1).
pub(crate) fn check_sarif(cli: &Cli, envs: &[(String, std::path::PathBuf)]) -> anyhow::Result<ExitCode> {
    let mut runs = Vec::new();
    let mut worst = 0;
    for (env, against) in envs {
        let loaded = match crate::load_spec(cli, env) {
            Ok(loaded) => loaded,
            Err(report) => {
                worst = worst.max(EXIT_INVALID);
                runs.push(report::spec_run("check", env, &report));
                continue;
            }
        };
        let tree = crate::render_valid(env, &loaded.stack)?;
        let (drift, failure) = if against.is_dir() {
            let drift = compare(&loaded.stack, &tree, against)?;
            worst = worst.max(crate::exit_number(drift.exit_code()));
            (findings(env, &drift), None)
        } else {
            worst = worst.max(EXIT_INVALID);
            (Vec::new(), Some(format!("{} is not a folder", against.display())))
        };
        runs.push(report::sarif_run(report::RunOf {
            command: "check",
            env,
            sources: &loaded.warnings.sources,
            diagnostics: &loaded.warnings.diagnostics,
            drift: &drift,
            failure,
        }));
    }
    print_json(&report::sarif_log(runs))?;
    Ok(ExitCode::from(worst))
}

/// The differences of a check as SARIF findings, each at its file in the folder.
fn findings(env: &str, drift: &Drift) -> Vec<DriftFinding> {
    let dir = drift.against.trim_end_matches('/');
    let file = |path: &str| format!("{dir}/{path}");
    let again = format!("render again (`vutler-render --env {env} --out {dir}`)");
    let mut out = Vec::new();
    for changed in &drift.diff.changed {
        let (removed, added) = changed_lines(&changed.diff);
        out.push(DriftFinding {
            kind: DriftKind::Changed,
            file: file(&changed.path),
            line: first_changed_line(&changed.diff),
            message: format!(
                "`{}` differs from what the spec renders for `{env}` ({removed} lines only here, {added} only in the render): put the change into the spec, or {again}\n\n{}",
                changed.path,
                shortened_diff(&changed.diff)
            ),
        });
    }
    let lists = [
        (
            DriftKind::Missing,
            &drift.diff.missing,
            "is rendered but absent from the folder",
        ),
        (
            DriftKind::Unexpected,
            &drift.diff.unexpected,
            "was generated before and is no longer rendered",
        ),
        (
            DriftKind::NotAFile,
            &drift.not_files,
            "is a symlink or lies behind one, so it is never read",
        ),
    ];
    for (kind, paths, says) in lists {
        out.extend(paths.iter().map(|path| DriftFinding {
            kind,
            file: file(path),
            line: None,
            message: format!("`{path}` {says}: {again}"),
        }));
    }
    out.extend(drift.modes.iter().map(|(path, executable)| DriftFinding {
        kind: DriftKind::Mode,
        file: file(path),
        line: None,
        message: mode_line(path, *executable),
    }));
    out
}

/// Lines of a unified diff only on the old side and only on the new one.
fn changed_lines(diff: &str) -> (usize, usize) {
    let body = diff
        .lines()
        .filter(|l| !l.starts_with("--- ") && !l.starts_with("+++ "));
    body.fold((0, 0), |(removed, added), line| match line.as_bytes().first() {
        Some(b'-') => (removed + 1, added),
        Some(b'+') => (removed, added + 1),
        _ => (removed, added),
    })
}

/// The first line of the old side (the folder's file) that a unified diff changes, or before
/// which it adds; none for a diff without hunks (bytes that are not text).
fn first_changed_line(diff: &str) -> Option<usize> {
    let mut lines = diff.lines().skip_while(|l| !l.starts_with("@@ -"));
    let header = lines.next()?;
    let start = header.strip_prefix("@@ -")?.split([',', ' ']).next()?;
    let mut line: usize = start.parse().ok()?;
    for l in lines {
        match l.as_bytes().first() {
            Some(b'-' | b'+') => return Some(line.max(1)),
            _ => line += 1,
        }
    }
    None
}

/// A diff of at most [`MAX_DIFF_LINES`] lines for a SARIF message, with how many were cut.
fn shortened_diff(diff: &str) -> String {
    let total = diff.lines().count();
    let mut kept: Vec<&str> = diff.lines().take(MAX_DIFF_LINES).collect();
    let cut = format!("... {} more lines", total.saturating_sub(MAX_DIFF_LINES));
    if total > MAX_DIFF_LINES {
        kept.push(&cut);
    }
    kept.join("\n")
}

/// Lines of a file's diff a SARIF message quotes at most (the text output has them all).
const MAX_DIFF_LINES: usize = 60;

/// `vutler-render diff --env A --env B`.
pub(crate) fn diff_envs(cli: &Cli, a: &str, b: &str, format: Format) -> anyhow::Result<ExitCode> {
    // Both environments are loaded before giving up, so every problem of both is reported.
    let first = load_and_render(cli, a)?;
    let second = load_and_render(cli, b)?;
    let (tree_a, tree_b, redaction): (Rendered, Rendered, Redaction) = match (first, second) {
        (Ok((la, ta)), Ok((lb, tb))) => {
            // What either environment declares secret is hidden on both sides.
            let names = [&la, &lb]
                .into_iter()
                .flat_map(|s| s.variables().iter().filter(|v| v.secret).map(|v| v.name.to_string()));
            (ta, tb, Redaction::new(names))
        }
        (Err(code), _) | (_, Err(code)) => return Ok(code),
    };
    // Every file says which environment it is for (`the `staging` environment`): that is not a
    // difference between the two, so both sides read `the `<env>` environment`.
    let neutral = |tree: &Rendered, env: &str| -> Vec<(String, String)> {
        let named = format!("`{env}` environment");
        tree.iter()
            .map(|(p, c)| (p.to_owned(), c.replace(&named, "`<env>` environment")))
            .collect()
    };
    let (side_a, side_b) = (neutral(&tree_a, a), neutral(&tree_b, b));
    let diff = diff_trees(
        side_a.iter().map(|(p, c)| (p.as_str(), c.as_bytes())),
        side_b.iter().map(|(p, c)| (p.as_str(), c.as_bytes())),
        Labels { old: a, new: b },
        &redaction,
    );
    match format {
        Format::Json => print_json(&DiffJson {
            a,
            b,
            identical: diff.is_empty(),
            changed: changed_json(&diff.changed),
            only_in_a: &diff.unexpected,
            only_in_b: &diff.missing,
        })?,
        Format::Text => {
            let mut out = StandardStream::stdout(color_choice(cli, std::io::stdout().is_terminal()));
            print_diffs(&mut out, &diff.changed)?;
            print_list(&mut out, &format!("only in {a}:"), &diff.unexpected)?;
            print_list(&mut out, &format!("only in {b}:"), &diff.missing)?;
            if diff.is_empty() {
                writeln!(out, "{a} and {b} render identical trees ({} files)", tree_a.len())?;
            } else {
                writeln!(
                    out,
                    "{a} and {b} differ: {} changed, {} only in {a}, {} only in {b}",
                    diff.changed.len(),
                    diff.unexpected.len(),
                    diff.missing.len()
                )?;
            }
            out.flush()?;
        }
    }
    Ok(exit_status(&diff))
}

fn exit_status(diff: &TreeDiff) -> ExitCode {
    if diff.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DIFFERENT)
    }
}

/// The generated files of a folder, as `check` reads them.
struct Generated {
    /// Contents of the generated files found, by path.
    files: BTreeMap<String, Vec<u8>>,
    /// Those of them the owner may run.
    executable: BTreeSet<String>,
    /// Generated paths that are symlinks or lie behind a symlinked folder: never followed (the
    /// target may be anything on the machine, a secret included), so never read.
    not_files: Vec<String>,
}

/// The generated files of `dir`: every path the render has, and every path its manifest lists,
/// that exists there. Other files in `dir` (`.env`, `secrets/`, notes) are not read, and neither
/// is a path that is a symlink or crosses one.
fn read_generated(dir: &Path, tree: &Rendered) -> anyhow::Result<Generated> {
    let manifest = write::read_manifest(dir)?;
    if manifest.interrupted {
        eprintln!(
            "note: the last render into {} was interrupted while moving files in: render again to finish it",
            dir.display()
        );
    }
    let paths: BTreeSet<&str> = tree
        .iter()
        .map(|(p, _)| p)
        .chain(manifest.entries.iter().map(String::as_str))
        .collect();
    let mut generated = Generated {
        files: BTreeMap::new(),
        executable: BTreeSet::new(),
        not_files: Vec::new(),
    };
    'paths: for path in paths {
        let mut full = dir.to_path_buf();
        for segment in path.split('/') {
            full.push(segment);
            match std::fs::symlink_metadata(&full) {
                Ok(m) if m.file_type().is_symlink() => {
                    generated.not_files.push(path.to_owned());
                    continue 'paths;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue 'paths,
                Err(e) => return Err(e).with_context(|| format!("reading {}", full.display())),
            }
        }
        match std::fs::read(&full) {
            Ok(bytes) => {
                if is_executable(&full) {
                    generated.executable.insert(path.to_owned());
                }
                generated.files.insert(path.to_owned(), bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", full.display())),
        }
    }
    Ok(generated)
}

/// Whether the owner may run a file (always, where files have no such bit).
fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o100 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}

/// Prints a JSON value, pretty, or with `compact` on one line (one object a line).
pub(crate) fn print_json_as(value: &impl Serialize, compact: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if compact {
        serde_json::to_writer(&mut out, value)
    } else {
        serde_json::to_writer_pretty(&mut out, value)
    }
    .context("writing JSON")?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

pub(crate) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    print_json_as(value, false)
}

/// Prints unified diffs, coloured line by line when the stream allows it.
fn print_diffs(out: &mut impl WriteColor, changed: &[FileDiff]) -> std::io::Result<()> {
    for file in changed {
        for line in file.diff.split_inclusive('\n') {
            let mut spec = ColorSpec::new();
            if line.starts_with("--- ") || line.starts_with("+++ ") {
                spec.set_bold(true);
            } else if line.starts_with("@@") {
                spec.set_fg(Some(Color::Cyan));
            } else if line.starts_with('-') {
                spec.set_fg(Some(Color::Red));
            } else if line.starts_with('+') {
                spec.set_fg(Some(Color::Green));
            }
            let line = line.trim_end_matches('\n');
            if spec.is_none() {
                writeln!(out, "{line}")?;
            } else {
                out.set_color(&spec)?;
                out.write_all(line.as_bytes())?;
                out.reset()?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

fn print_list(out: &mut impl WriteColor, title: &str, paths: &[String]) -> std::io::Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    out.set_color(ColorSpec::new().set_bold(true))?;
    write!(out, "{title}")?;
    out.reset()?;
    writeln!(out)?;
    for path in paths {
        writeln!(out, "  {path}")?;
    }
    Ok(())
}
