//! A mutation fuzzer for the `vutler-render` binary, on stable Rust.
//!
//! Two targets, each case one process of the real binary (so a stack overflow, an abort or a hang
//! is seen as such, not hidden by `catch_unwind`):
//!
//! - **loader**: the spec files of `specs/`, mutated (bytes flipped, syntax and hostile values
//!   spliced in, lines deleted, duplicated, moved or re-indented), then `validate` or
//!   `render --out`. The exit status is 0 or 2; a refused spec writes nothing; a rendered one
//!   leaves a complete tree with its manifest.
//! - **check**: a tree rendered from `specs/`, mutated the same way and with secrets planted in
//!   it (values of the stack's secret variables, credential keys of Alertmanager, Prometheus,
//!   Grafana and NGINX, `${VAR:-default}`, URLs with passwords, YAML blocks, symlinks out of the
//!   folder), then `check`. The exit status is 0, 1, 2 or 3, and no planted secret is printed.
//!
//! Every case must finish within [`DEADLINE`] and print at most [`MAX_OUTPUT`] bytes, and
//! nothing may report a bug ("panicked", "invariant broken"). A failing case is saved under
//! `target/tmp/fuzz-failures/` (specs or tree, and what failed); fixed ones become regression
//! cases in `tests/fuzz/`, which are replayed first.
//!
//! Bounded by `VUTLER_FUZZ_SECONDS` (default 20), seeded by `VUTLER_FUZZ_SEED` (default: the
//! clock; the seed is printed, so a run repeats exactly). `cargo xtask fuzz --seconds N` runs it
//! longer, on a release build.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A case that takes longer is a hang.
const DEADLINE: Duration = Duration::from_secs(10);

/// A case that prints more (stdout and stderr together) is unbounded output. The spec is about
/// 34 KB; 50 diagnostics of at most a few hundred bytes each, or a diff of the whole tree, stay
/// well below.
const MAX_OUTPUT: usize = 512 * 1024;

/// The secret planted in trees; `check` must never print it.
const CANARY: &str = "Canary7qZx9Leak";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vutler-render")
}

fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs")
}

/// The spec files, by path relative to the spec folder.
fn read_specs() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for sub in ["base", "env"] {
        for entry in std::fs::read_dir(specs_dir().join(sub))
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
        {
            let name = format!("{sub}/{}", entry.file_name().to_string_lossy());
            files.insert(name, std::fs::read(entry.path()).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    files
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    /// Exit code; `None` when killed by a signal or by the deadline.
    code: Option<i32>,
    timed_out: bool,
    elapsed: Duration,
    /// Bytes printed, stdout and stderr together (counted beyond what is kept).
    printed: usize,
    /// The first [`MAX_OUTPUT`] bytes of each stream.
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Reads a pipe to its end, keeping the first [`MAX_OUTPUT`] bytes and counting the rest.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<(Vec<u8>, usize)> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut total = 0;
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
            let room = MAX_OUTPUT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        (kept, total)
    })
}

/// Figures of a fuzz run, printed at its end.
#[derive(Debug, Default)]
struct Stats {
    /// Runs of the binary by exit code (`-1`: killed).
    by_code: BTreeMap<i32, u64>,
    slowest: Duration,
    most_printed: usize,
}

impl Stats {
    fn add(&mut self, run: &Run) {
        *self.by_code.entry(run.code.unwrap_or(-1)).or_default() += 1;
        self.slowest = self.slowest.max(run.elapsed);
        self.most_printed = self.most_printed.max(run.printed);
    }
}

fn run(args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run vutler-render: {e}"));
    let out = drain(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let err = drain(child.stderr.take().unwrap_or_else(|| panic!("no stderr")));
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > DEADLINE => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().unwrap_or_else(|e| panic!("{e}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("waiting for vutler-render: {e}"),
        }
    };
    let (stdout, out_n) = out.join().unwrap_or_else(|_| panic!("reader panicked"));
    let (stderr, err_n) = err.join().unwrap_or_else(|_| panic!("reader panicked"));
    Run {
        code: status.code(),
        timed_out,
        elapsed: start.elapsed(),
        printed: out_n + err_n,
        stdout,
        stderr,
    }
}

/// What is wrong with a run, whatever the target: a hang, a crash, unbounded output, a bug
/// reported.
fn common_faults(run: &Run, allowed: &[i32]) -> Vec<String> {
    let mut faults = Vec::new();
    if run.timed_out {
        faults.push(format!("hang: killed after {:?}", run.elapsed));
    } else if !run.code.is_some_and(|c| allowed.contains(&c)) {
        faults.push(format!("exit status {:?} (allowed: {allowed:?})", run.code));
    }
    if run.printed > MAX_OUTPUT {
        faults.push(format!("printed {} bytes", run.printed));
    }
    let stderr = String::from_utf8_lossy(&run.stderr);
    for bug in ["panicked", "invariant broken", "RUST_BACKTRACE", "a bug"] {
        if stderr.contains(bug) {
            faults.push(format!("reported a bug: {bug}"));
        }
    }
    faults
}

/// Text spliced into spec files and trees: syntax of both formats, hostile values, values at the
/// edges of every grammar.
const TOKENS: &[&str] = &[
    "\n",
    ": ",
    "- ",
    "-",
    ":",
    "{",
    "}",
    "[",
    "]",
    ",",
    "#",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "!!str ",
    "? ",
    "|\n",
    ">-\n",
    "---\n",
    "...\n",
    "'",
    "\"",
    "\\",
    "\t",
    "  ",
    "\r",
    "\0",
    "\u{feff}",
    "\u{2028}",
    "\u{85}",
    "\u{202e}",
    "\u{200b}",
    "é",
    "${",
    "${X:-",
    "}",
    "$(id)",
    "`id`",
    "; rm -rf /",
    "\" && x \"",
    "../",
    "/",
    "*",
    "?",
    "~",
    "null",
    "true",
    "no",
    "\"\"",
    "''",
    "[]",
    "{}",
    "0",
    "-1",
    "1",
    "65535",
    "65536",
    "4294967296",
    "18446744073709551616",
    "1e309",
    "-0.0",
    ".inf",
    ".nan",
    "0x1f",
    "0o7",
    "5m",
    "0s",
    "90d",
    "999999999d",
    "10GB",
    "4KiB",
    "0B",
    "1.5",
    "0 2 31 2 *",
    "* * * * *",
    "@reboot",
    "vutler",
    "postgres",
    "minio",
    "app",
    "nginx",
    "prometheus",
    "dev",
    "production",
    "POSTGRES_PASSWORD",
    "${POSTGRES_PASSWORD}",
    "NULL-MD5",
    "ALL",
    "/api",
    "/metrics",
    "http://a:b@c/",
    "https://",
    "=",
    "==",
    "=~",
    "{job=\"x\"}",
    "rate(x[5m])",
    "sum by (a) (b)",
];

/// A value from [`TOKENS`], or a generated one: long, deeply nested, or repeated.
fn token(rng: &mut fastrand::Rng) -> Vec<u8> {
    match rng.u8(..20) {
        0 => "A".repeat(rng.usize(1..6000)).into_bytes(),
        1 => "- ".repeat(rng.usize(1..300)).into_bytes(),
        2 => "[".repeat(rng.usize(1..300)).into_bytes(),
        3 => "{a: ".repeat(rng.usize(1..200)).into_bytes(),
        4 => {
            let t = TOKENS[rng.usize(..TOKENS.len())];
            t.repeat(rng.usize(1..50)).into_bytes()
        }
        5 => (0..rng.usize(1..16)).map(|_| rng.u8(..)).collect(),
        _ => TOKENS[rng.usize(..TOKENS.len())].as_bytes().to_vec(),
    }
}

/// Line starts of `bytes` (0 first).
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|i| *i < bytes.len())
        .collect()
}

/// The range of the line starting at `start`, with its newline.
fn line_at(bytes: &[u8], start: usize) -> std::ops::Range<usize> {
    let end = bytes[start..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |p| start + p + 1);
    start..end
}

/// One mutation of `bytes`, with `donor` (another file) as a source of lines. Returns what it
/// did, for the failure report.
fn mutate(rng: &mut fastrand::Rng, bytes: &mut Vec<u8>, donor: &[u8]) -> String {
    let lines = line_starts(bytes);
    if bytes.is_empty() || lines.is_empty() {
        bytes.extend(token(rng));
        return "appended to an empty file".into();
    }
    let at = rng.usize(..=bytes.len());
    let line = line_at(bytes, lines[rng.usize(..lines.len())]);
    match rng.u8(..10) {
        0 => {
            let i = rng.usize(..bytes.len());
            bytes[i] = rng.u8(..);
            format!("byte {i} set")
        }
        1 | 2 => {
            let t = token(rng);
            let n = t.len();
            bytes.splice(at..at, t);
            format!("{n} bytes inserted at {at}")
        }
        3 => {
            // Replace the value after the first `: ` or `=` of a line.
            let text = &bytes[line.clone()];
            let sep = text
                .windows(2)
                .position(|w| w == b": ")
                .map(|p| p + 2)
                .or_else(|| text.iter().position(|b| *b == b'=').map(|p| p + 1));
            let value_start = line.start + sep.unwrap_or(0);
            let value_end = line.end - usize::from(bytes.get(line.end - 1) == Some(&b'\n'));
            let t = token(rng);
            bytes.splice(value_start..value_end.max(value_start), t);
            format!("value of the line at {} replaced", line.start)
        }
        4 => {
            let len = rng.usize(1..64).min(bytes.len() - at.min(bytes.len() - 1));
            let from = at.min(bytes.len() - 1);
            bytes.drain(from..from + len);
            format!("{len} bytes deleted at {from}")
        }
        5 => {
            bytes.drain(line.clone());
            format!("line at {} deleted", line.start)
        }
        6 => {
            let copy = bytes[line.clone()].to_vec();
            let to = lines[rng.usize(..lines.len())];
            bytes.splice(to..to, copy);
            format!("line at {} copied to {to}", line.start)
        }
        7 => {
            let donor_lines = line_starts(donor);
            if donor_lines.is_empty() {
                return "no donor line".into();
            }
            let d = line_at(donor, donor_lines[rng.usize(..donor_lines.len())]);
            bytes.splice(line.start..line.start, donor[d].to_vec());
            format!("a donor line inserted at {}", line.start)
        }
        8 => {
            let indent = b" ".repeat(rng.usize(1..5));
            if rng.bool() {
                bytes.splice(line.start..line.start, indent);
                format!("line at {} indented", line.start)
            } else {
                let spaces = bytes[line.clone()].iter().take_while(|b| **b == b' ').count();
                let n = spaces.min(indent.len());
                bytes.drain(line.start..line.start + n);
                format!("line at {} dedented by {n}", line.start)
            }
        }
        _ => {
            // Duplicate a block of lines (a repeated key or entry).
            let end = (line.end + rng.usize(..400)).min(bytes.len());
            let block = bytes[line.start..end].to_vec();
            bytes.splice(end..end, block);
            format!("bytes {}..{end} repeated", line.start)
        }
    }
}

/// Writes `files` under `dir` (created fresh).
fn write_files(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let _ = std::fs::remove_dir_all(dir);
    for (path, bytes) in files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&full, bytes).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// One loader case: `validate`, or `render --out` into a folder that does not exist.
fn loader_case(
    stats: &mut Stats,
    work: &Path,
    specs: &BTreeMap<String, Vec<u8>>,
    env: &str,
    render: bool,
) -> Vec<String> {
    let spec_dir = work.join("specs");
    write_files(&spec_dir, specs);
    let spec = spec_dir.display().to_string();
    if !render {
        let result = run(&["validate", "--env", env, "--spec", &spec]);
        stats.add(&result);
        return common_faults(&result, &[0, 2]);
    }
    let out = work.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let result = run(&["--env", env, "--spec", &spec, "--out", &out.display().to_string()]);
    stats.add(&result);
    let mut faults = common_faults(&result, &[0, 2]);
    match result.code {
        Some(0) if !out.join(".vutler-render.manifest").is_file() => {
            faults.push("rendered, but the folder has no manifest".into());
        }
        Some(2) if out.exists() => faults.push("refused, but the folder was created".into()),
        _ => {}
    }
    faults
}

/// Lines that hold [`CANARY`] as a secret, each in a form `check` must redact: a secret variable
/// of the stack, credential keys of the consuming programs, defaults, URLs and blocks. A key
/// that holds a credential in one format only (Alertmanager's receiver `url`) is planted in a
/// file of that format.
fn planted_secret(rng: &mut fastrand::Rng, path: &str, secret_names: &[String]) -> String {
    if path.starts_with("alertmanager/") && rng.u8(..4) == 0 {
        return format!("        url: https://hooks.example.com/{CANARY}\n");
    }
    let name = &secret_names[rng.usize(..secret_names.len())];
    let forms = [
        format!("{name}={CANARY}\n"),
        format!("      {name}: \"{CANARY}\"\n"),
        format!("      - {name}={CANARY}\n"),
        format!("export {name}='{CANARY}'\n"),
        format!("      X: ${{{name}:-{CANARY}}}\n"),
        format!("      DATABASE_URL: postgres://vutler:{CANARY}@postgres:5432/vutler\n"),
        format!("      password: |\n        {CANARY}\n"),
        format!("      {name}:\n        {CANARY}\n"),
        format!("    slack_api_url: https://hooks.slack.com/services/{CANARY}\n"),
        format!("      - api_url: https://hooks.slack.com/services/{CANARY}\n"),
        format!("        routing_key: {CANARY}\n"),
        format!("        service_key: {CANARY}\n"),
        format!("    smtp_auth_password: {CANARY}\n"),
        format!("    curl -fsS -H \"Authorization: Bearer {CANARY}\" https://example.com/\n"),
        format!("      X-Token: {CANARY}\n"),
        format!("      basic_auth:\n        username: u\n        password: {CANARY}\n"),
        format!("      authorization:\n        credentials: {CANARY}\n"),
        format!("    bearer_token: {CANARY}\n"),
        format!("    secureJsonData:\n      httpHeaderValue1: {CANARY}\n"),
        format!("    basicAuthPassword: {CANARY}\n"),
        format!("        proxy_set_header Authorization \"Basic {CANARY}\";\n"),
        format!("        proxy_set_header X-Api-Key {CANARY};\n"),
    ];
    forms[rng.usize(..forms.len())].clone()
}

/// One check case: the rendered tree of `env`, mutated, with secrets planted (in files, and in a
/// file outside the folder that a symlink points at), then `check`.
fn check_case(
    stats: &mut Stats,
    rng: &mut fastrand::Rng,
    work: &Path,
    specs: &Path,
    tree: &BTreeMap<String, Vec<u8>>,
    env: &str,
    secret_names: &[String],
) -> (Vec<String>, String, BTreeMap<String, Vec<u8>>) {
    let dir = work.join("tree");
    let mut files = tree.clone();
    let paths: Vec<String> = files.keys().cloned().collect();
    let mut did = Vec::new();
    let mut symlinks = Vec::new();
    // Secrets are planted after the other mutations, so that none lands inside a planted line
    // and turns it into text that no longer says it holds a secret (`api_url-` for `api_url:`).
    let mut plants = Vec::new();
    for _ in 0..rng.usize(1..4) {
        let path = paths[rng.usize(..paths.len())].clone();
        let donor = tree[&paths[rng.usize(..paths.len())]].clone();
        match rng.u8(..8) {
            0 => {
                files.remove(&path);
                did.push(format!("{path} removed"));
            }
            1 => {
                symlinks.push(path.clone());
                did.push(format!("{path} is a symlink out of the folder"));
            }
            2..=4 => plants.push(path),
            _ => {
                let bytes = files.entry(path.clone()).or_default();
                did.push(format!("{path}: {}", mutate(rng, bytes, &donor)));
            }
        }
    }
    for path in plants {
        let bytes = files.entry(path.clone()).or_default();
        let starts = line_starts(bytes);
        let at = if starts.is_empty() {
            0
        } else {
            starts[rng.usize(..starts.len())]
        };
        let planted = planted_secret(rng, &path, secret_names);
        did.push(format!("{path}: {planted:?} planted at {at}"));
        bytes.splice(at..at, planted.into_bytes());
    }
    write_files(&dir, &files);
    let outside = work.join("outside-secret");
    std::fs::write(&outside, format!("{CANARY}\npassword: {CANARY}\n")).unwrap_or_else(|e| panic!("{e}"));
    for path in &symlinks {
        let full = dir.join(path);
        let _ = std::fs::remove_file(&full);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, &full).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut args = vec!["check", "--env", env, "--spec"];
    let spec = specs.display().to_string();
    let against = dir.display().to_string();
    args.extend([spec.as_str(), "--against", against.as_str()]);
    if rng.bool() {
        args.extend(["--format", "json"]);
    }
    let result = run(&args);
    stats.add(&result);
    let mut faults = common_faults(&result, &[0, 1, 2, 3]);
    for (stream, bytes) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
        if String::from_utf8_lossy(bytes).contains(CANARY) {
            faults.push(format!("a planted secret was printed on {stream}"));
        }
    }
    (faults, did.join("; "), files)
}

/// The rendered tree of `env` from `specs/`, read back from a folder written by `--out`.
fn rendered_tree(work: &Path, env: &str) -> BTreeMap<String, Vec<u8>> {
    let out = work.join(format!("golden-{env}"));
    let _ = std::fs::remove_dir_all(&out);
    let result = run(&[
        "--env",
        env,
        "--spec",
        &specs_dir().display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(result.code, Some(0), "{}", String::from_utf8_lossy(&result.stderr));
    let mut files = BTreeMap::new();
    let mut stack = vec![out.clone()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{e}")).flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&out).unwrap_or(&path).to_string_lossy().into_owned();
                files.insert(rel, std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")));
            }
        }
    }
    files
}

/// The names of the variables the stack declares secret, from its effective spec (`explain`).
fn secret_names(env: &str) -> Vec<String> {
    let result = run(&["explain", "--env", env, "--spec", &specs_dir().display().to_string()]);
    assert_eq!(result.code, Some(0), "{}", String::from_utf8_lossy(&result.stderr));
    let doc: serde_yaml::Value = serde_yaml::from_slice(&result.stdout).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = doc["variables"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v["secret"].as_bool() == Some(true))
        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
        .collect();
    assert!(
        names.len() >= 5,
        "the stack's secret variables were not found: {names:?}"
    );
    names
}

/// Saves a failing case for a person to read and to turn into a regression case.
fn save_failure(kind: &str, seed: u64, case: u64, files: &BTreeMap<String, Vec<u8>>, report: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-failures/{kind}-{seed}-{case}"));
    write_files(&dir.join("specs"), files);
    std::fs::write(dir.join("REPORT.txt"), report).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// Replays the regression cases of `tests/fuzz/`: each a folder with the spec files that differ
/// from `specs/` (`NAME/base/...`, `NAME/env/...`; the others are taken from `specs/`) and the
/// environment in `NAME/ENV`, that once made the binary crash, hang, flood or report a bug.
#[test]
fn regression_cases_stay_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut seen = 0;
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    for case in cases {
        let env = std::fs::read_to_string(case.join("ENV")).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let mut files = read_specs();
        for sub in ["base", "env"] {
            for entry in std::fs::read_dir(case.join(sub)).into_iter().flatten().flatten() {
                let name = format!("{sub}/{}", entry.file_name().to_string_lossy());
                files.insert(name, std::fs::read(entry.path()).unwrap_or_else(|e| panic!("{e}")));
            }
        }
        for render in [false, true] {
            let faults = loader_case(&mut Stats::default(), work.path(), &files, env.trim(), render);
            assert!(faults.is_empty(), "{} (render: {render}): {faults:?}", case.display());
        }
        seen += 1;
    }
    assert!(seen > 0, "no regression case in {}", root.display());
}

#[test]
fn mutated_specs_and_trees_never_crash_hang_flood_or_leak() {
    let seconds: u64 = std::env::var("VUTLER_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("VUTLER_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    let mut rng = fastrand::Rng::with_seed(seed);
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let specs = read_specs();
    let names: Vec<String> = specs.keys().cloned().collect();
    let envs = ["dev", "staging", "production"];
    let trees: Vec<BTreeMap<String, Vec<u8>>> = envs.iter().map(|env| rendered_tree(work.path(), env)).collect();
    let secrets = secret_names("production");

    let start = Instant::now();
    let (mut cases, mut loader) = (0u64, 0u64);
    let (mut loader_stats, mut check_stats) = (Stats::default(), Stats::default());
    let mut failures = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) && failures.len() < 5 {
        cases += 1;
        let e = rng.usize(..envs.len());
        let env = envs[e];
        if rng.u8(..3) < 2 {
            loader += 1;
            let mut mutated = specs.clone();
            let mut did = Vec::new();
            for _ in 0..rng.usize(1..4) {
                let file = &names[rng.usize(..names.len())];
                let donor = specs[&names[rng.usize(..names.len())]].clone();
                let bytes = mutated.get_mut(file).unwrap_or_else(|| panic!("{file}"));
                did.push(format!("{file}: {}", mutate(&mut rng, bytes, &donor)));
            }
            let render = rng.bool();
            let faults = loader_case(&mut loader_stats, work.path(), &mutated, env, render);
            if faults.is_empty() {
                continue;
            }
            let report = format!(
                "target: loader ({}), env {env}, seed {seed}, case {cases}\nmutations: {}\nfaults: {faults:?}\n",
                if render { "render --out" } else { "validate" },
                did.join("; ")
            );
            let saved = save_failure("loader", seed, cases, &mutated, &report);
            failures.push(format!("{report}saved in {}", saved.display()));
        } else {
            let (faults, did, tree) = check_case(
                &mut check_stats,
                &mut rng,
                work.path(),
                &specs_dir(),
                &trees[e],
                env,
                &secrets,
            );
            if !faults.is_empty() {
                let report = format!(
                    "target: check, env {env}, seed {seed}, case {cases}\nmutations: {did}\nfaults: {faults:?}\n"
                );
                let saved = save_failure("check", seed, cases, &tree, &report);
                failures.push(format!("{report}saved in {}", saved.display()));
            }
        }
    }
    eprintln!(
        "fuzz: seed {seed}: {cases} cases in {:.1} s, {} failing\n  loader: {loader} runs, by exit code {:?}, slowest {:?}, most printed {} bytes\n  check: {} runs, by exit code {:?}, slowest {:?}, most printed {} bytes",
        start.elapsed().as_secs_f64(),
        failures.len(),
        loader_stats.by_code,
        loader_stats.slowest,
        loader_stats.most_printed,
        cases - loader,
        check_stats.by_code,
        check_stats.slowest,
        check_stats.most_printed,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
