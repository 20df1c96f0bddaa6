//! Loading a spec folder: read the files, parse, join the base, apply the environment overlay,
//! deserialize into the raw layer, then resolve into a [`Stack`].
//!
//! A spec folder holds `base/*.{yaml,yml,toml}` (joined in file-name order) and
//! `env/<env>.{yaml,yml,toml}` (one overlay per environment). Only [`read_dir`] and [`load`] touch
//! the file system; [`SpecFiles::resolve`] is pure.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::de::Reader;
use crate::diagnostic::{Diagnostic, Report};
use crate::merge;
use crate::path::SpecPath;
use crate::raw::{RawStack, TOP_LEVEL_KEYS};
use crate::resolve::{closest, resolve_allowing};
use crate::rule::Rule;
use crate::source::{FileId, Sources};
use crate::stack::Stack;
use crate::tree::{self, Node, Segment};

/// File extensions read as spec files.
pub const EXTENSIONS: [&str; 3] = ["yaml", "yml", "toml"];

/// The files of one environment's spec, read but not yet parsed.
#[derive(Debug, Clone)]
pub struct SpecFiles {
    env: String,
    sources: Sources,
    base: Vec<FileId>,
    overlay: Option<FileId>,
    /// The base files parsed, once for every environment of a [`SpecFolder`].
    parsed_base: ParsedBase,
}

/// The base files of a folder parsed (each a tree or its syntax error), shared by the
/// environments read from it and parsed by the first that needs them.
type ParsedBase = Arc<OnceLock<Vec<Result<Node, Diagnostic>>>>;

/// A spec folder whose base files are read once for several environments: each environment
/// adds its overlay, and the base files are parsed once for all of them.
///
/// ```no_run
/// let folder = vutler_spec::SpecFolder::read("specs".as_ref())?;
/// for env in folder.environments()? {
///     let stack = folder.load(&env)?.stack;
///     println!("{env}: {} services", stack.services().len());
/// }
/// # Ok::<(), vutler_spec::Report>(())
/// ```
#[derive(Debug, Clone)]
pub struct SpecFolder {
    dir: PathBuf,
    sources: Sources,
    base: Vec<FileId>,
    parsed_base: ParsedBase,
}

/// A successfully loaded stack.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated stack.
    pub stack: Stack,
    /// The effective spec after overlays, as raw types.
    pub raw: RawStack,
    /// Warnings, with the sources they point into; errors only with the codes allowed by
    /// [`SpecFiles::resolve_allowing`].
    pub warnings: Report,
    /// The files the stack was loaded from, for [`Loaded::effective`].
    files: SpecFiles,
}

impl SpecFiles {
    /// Spec files given as `(name, text)` pairs; the format follows each name's extension.
    pub fn new(env: impl Into<String>, base: Vec<(String, String)>, overlay: Option<(String, String)>) -> Self {
        let mut sources = Sources::new();
        let base = base.into_iter().map(|(n, t)| sources.add(n, t)).collect();
        let overlay = overlay.map(|(n, t)| sources.add(n, t));
        Self {
            env: env.into(),
            sources,
            base,
            overlay,
            parsed_base: ParsedBase::default(),
        }
    }

    /// The environment these files describe.
    pub fn env(&self) -> &str {
        &self.env
    }

    /// The files, for rendering diagnostics.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The diagnostics with their sources; the fixes a help suggests in a TOML file are
    /// written in TOML.
    fn report(&self, mut diagnostics: Vec<Diagnostic>) -> Report {
        for d in &mut diagnostics {
            let in_toml = d.span.is_some_and(|s| self.sources.get(s.file).name.ends_with(".toml"));
            if let (true, Some(help)) = (in_toml, &d.help) {
                d.help = Some(crate::hint::to_toml(help));
            }
        }
        Report {
            sources: self.sources.clone(),
            diagnostics,
        }
    }

    fn parse(&self, id: FileId) -> Result<Node, Diagnostic> {
        let file = self.sources.get(id);
        if file.name.ends_with(".toml") {
            tree::parse_toml(id, &file.text)
        } else {
            tree::parse_yaml(id, &file.text)
        }
    }

    /// The effective document: base files joined, overlay applied.
    pub fn effective(&self) -> Result<Node, Report> {
        // The environment name reaches rendered files (headers, comments): it follows the name
        // grammar like every other name.
        if let Err(d) = crate::resolve::env_name_checked(&self.env) {
            return Err(self.report(vec![d]));
        }
        let mut diags = Vec::new();
        let mut parsed = Vec::new();
        let mut take = |file: Result<Node, Diagnostic>| match file {
            Ok(n) => parsed.push(n),
            Err(d) => diags.push(d),
        };
        if Arc::strong_count(&self.parsed_base) == 1 && self.parsed_base.get().is_none() {
            // No other environment shares these files: the trees are parsed for this one alone
            // and moved into the document, not kept and copied (a large spec's tree would be
            // held twice, and the cached one until the end of the process).
            self.base.iter().map(|&id| self.parse(id)).for_each(&mut take);
        } else {
            let base = self
                .parsed_base
                .get_or_init(|| self.base.iter().map(|&id| self.parse(id)).collect());
            base.iter().cloned().for_each(&mut take);
        }
        let overlay = self
            .overlay
            .and_then(|id| self.parse(id).map_err(|d| diags.push(d)).ok());
        if !diags.is_empty() {
            return Err(self.report(diags));
        }
        let Some(mut doc) = merge::join_fragments(parsed, &mut diags) else {
            return Err(self.report(vec![Diagnostic::new(
                Rule::Io,
                SpecPath::root(),
                "the spec has no base file",
            )]));
        };
        if let Some(overlay) = overlay {
            merge::apply_overlay(&mut doc, overlay, &mut diags);
        }
        merge::check_no_remove_left(&doc, &mut diags);
        if let tree::Value::Map(entries) = &mut doc.value {
            // Unknown keys sort last and are reported when deserializing.
            entries.sort_by_key(|e| TOP_LEVEL_KEYS.iter().position(|k| *k == e.key).unwrap_or(usize::MAX));
        }
        if diags.is_empty() {
            Ok(doc)
        } else {
            Err(self.report(diags))
        }
    }

    /// Parses, merges, deserializes and validates. On success the stack comes with any warnings;
    /// on failure the report holds every error found (and the warnings).
    pub fn resolve(&self) -> Result<Loaded, Report> {
        self.resolve_allowing(&[])
    }

    /// Like [`SpecFiles::resolve`], but a stack whose only errors are of the `allowed` rules is
    /// still returned, those errors included in [`Loaded::warnings`]. `plan` uses it with
    /// [`Rule::Capacity`] to show the totals of a stack that does not fit.
    pub fn resolve_allowing(&self, allowed: &[Rule]) -> Result<Loaded, Report> {
        // The tree is as large as the raw layer and the stack together: it is read by value
        // (each value freed once read, its strings moved), and built again only to report a
        // problem of reading it or to place what resolving found.
        let raw = deserialize(self, self.effective()?).map_err(|d| self.report(d))?;
        let (stack, mut diags) = resolve_allowing(&raw, &self.env, allowed);
        let unplaced = |d: &Diagnostic| d.span.is_none() || !d.related_paths.is_empty();
        if diags.iter().any(unplaced) {
            let tree = self.effective()?;
            for d in &mut diags {
                if d.span.is_none() {
                    let (span, _) = tree.locate(&d.path.segments(), false);
                    d.span = Some(span);
                }
                for (path, label) in std::mem::take(&mut d.related_paths) {
                    let (span, _) = tree.locate(&path.segments(), false);
                    d.related.push((span, label));
                }
            }
        }
        match stack {
            Some(stack) => Ok(Loaded {
                stack,
                raw,
                warnings: self.report(diags),
                files: self.clone(),
            }),
            None => Err(self.report(diags)),
        }
    }
}

/// The stack's top-level sections that have no default: a spec without one is refused, with
/// every missing one reported at once (serde would report one per run).
pub const REQUIRED_SECTIONS: [&str; 8] = [
    "project",
    "domain",
    "target_vm",
    "vms",
    "services",
    "edge",
    "tls",
    "firewall",
];

fn deserialize(files: &SpecFiles, tree: Node) -> Result<RawStack, Vec<Diagnostic>> {
    if let crate::tree::Value::Map(entries) = &tree.value {
        let missing: Vec<Diagnostic> = REQUIRED_SECTIONS
            .iter()
            .filter(|s| !entries.iter().any(|e| e.key == **s))
            .map(|s| {
                Diagnostic::new(Rule::Type, SpecPath::root(), format!("missing field `{s}`"))
                    .with_span(tree.span)
                    .with_help(format!(
                        "every stack has a top-level `{s}`: add it to one of the base files"
                    ))
            })
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
    }
    match <RawStack as serde::Deserialize>::deserialize(Reader(tree)) {
        Ok(raw) => Ok(raw),
        // The same tree again, read by reference this time, tracking where serde is.
        Err(_) => deserialize_tracked(&files.effective().map_err(|r| r.diagnostics)?),
    }
}

/// Unknown keys reported in one run at most (each needs another pass of the deserializer).
const MAX_UNKNOWN_KEYS: usize = 64;

/// Deserializes the merged document, tracking where serde is (a spec that reads is read
/// without, by [`deserialize`]). Serde stops at the first problem; an unknown key is
/// reported and removed, and the document read again, so that every unknown key is listed in
/// one run (up to [`MAX_UNKNOWN_KEYS`]), with the first other problem after them.
fn deserialize_tracked(tree: &Node) -> Result<RawStack, Vec<Diagnostic>> {
    // Read in place; only after an unknown key is a copy made, without the keys reported.
    let mut trimmed: Option<Node> = None;
    let mut diags = Vec::new();
    while diags.len() < MAX_UNKNOWN_KEYS {
        match serde_path_to_error::deserialize::<_, RawStack>(Reader(trimmed.as_ref().unwrap_or(tree))) {
            Ok(raw) if diags.is_empty() => return Ok(raw),
            Ok(_) => return Err(diags),
            Err(e) => {
                let unknown = backticked(&e.inner().to_string(), "unknown field `").map(str::to_owned);
                let path = e.path().clone();
                diags.push(field_error(tree, e));
                let doc = trimmed.get_or_insert_with(|| tree.clone());
                let removed = unknown.is_some_and(|key| remove_key(doc, &path, &key));
                if !removed {
                    return Err(diags);
                }
            }
        }
    }
    Err(diags)
}

/// Removes `key` from the mapping at `path` of a document (serde's path of an unknown field is
/// the mapping's); whether it was there.
fn remove_key(doc: &mut Node, path: &serde_path_to_error::Path, key: &str) -> bool {
    let mut path = segments(path);
    // The path may end at the key itself rather than at its mapping.
    if path.last() == Some(&Segment::Key(key.to_owned())) {
        path.pop();
    }
    match doc.at_mut(&path).map(|n| &mut n.value) {
        Some(crate::tree::Value::Map(entries)) => match entries.iter().position(|e| e.key == key) {
            Some(i) => {
                entries.remove(i);
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// serde's path of a problem as the tree's keys and indices.
fn segments(path: &serde_path_to_error::Path) -> Vec<Segment> {
    path.iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
            // The variant of an externally tagged enum is the key holding its fields.
            serde_path_to_error::Segment::Enum { variant } => Some(Segment::Key(variant.clone())),
            _ => None,
        })
        .collect()
}

fn field_error(tree: &Node, e: serde_path_to_error::Error<crate::de::Error>) -> Diagnostic {
    let mut path = segments(e.path());
    let message = plain_types(&e.inner().to_string());
    if let Some(unknown) = backticked(&message, "unknown field `") {
        // serde reports the path of the mapping; the key itself is the better anchor.
        if path.last() != Some(&Segment::Key(unknown.to_owned())) {
            path.push(Segment::Key(unknown.to_owned()));
        }
        let expected = expected_list(&message);
        let (span, _) = tree.locate(&path, true);
        let mut d = Diagnostic::new(
            Rule::UnknownKey,
            SpecPath::from(path.clone()),
            format!(
                "unknown key `{unknown}`, expected one of {}",
                expected.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ),
        )
        .with_span(span);
        if let Some(best) = closest(unknown, expected.iter().copied()) {
            d = d.with_help(format!("did you mean `{best}`?"));
        }
        return d;
    }
    let (span, _) = tree.locate(&path, false);
    let misspelt = misspelt_entry(tree, &path, &message);
    let mut d = Diagnostic::new(Rule::Type, SpecPath::from(path), message.clone()).with_span(span);
    if let Some(help) = misspelt {
        d = d.with_help(help);
    }
    if let Some(variant) = backticked(&message, "unknown variant `") {
        let expected = expected_list(&message);
        if let Some(best) = closest(variant, expected.iter().copied()) {
            d = d.with_help(format!("did you mean `{best}`?"));
        }
    }
    d
}

/// For a required field missing from an entry of a named map (`services.mino` without an
/// `image`): when another entry has a close name, the entry is most likely a misspelt one that
/// an overlay meant to change, and became a new one instead.
fn misspelt_entry(tree: &Node, path: &[Segment], message: &str) -> Option<String> {
    let missing = backticked(message, "missing field `")?;
    let (Segment::Key(name), parent) = path.split_last()? else {
        return None;
    };
    let crate::tree::Value::Map(entries) = &tree.at(parent)?.value else {
        return None;
    };
    let best = closest(name, entries.iter().map(|e| e.key.as_str()).filter(|k| k != name))?;
    Some(format!(
        "did you mean `{best}`? `{name}` is not an entry of the base files, so it is a new one and needs `{missing}`"
    ))
}

/// Serde's message with Rust's type names said plainly: `expected u32` is `expected a whole
/// number from 0 to 4294967295`, `expected f64` is `expected a number`.
fn plain_types(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, plain) in [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        ("expected u64", "expected a whole number from 0 to 18446744073709551615"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
    ] {
        if let Some(rest) = out.strip_suffix(rust) {
            out = format!("{rest}{plain}");
        }
        out = out.replace(&format!("{rust} "), &format!("{plain} "));
    }
    out
}

/// The text between `prefix` and the next backtick.
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.split_once(prefix)?.1;
    rest.split_once('`').map(|(name, _)| name)
}

/// The names of serde's "expected one of `a`, `b`" / "expected `a` or `b`" tail.
fn expected_list(message: &str) -> Vec<&str> {
    let Some((_, tail)) = message.split_once("expected ") else {
        return Vec::new();
    };
    tail.split('`').skip(1).step_by(2).collect()
}

fn io_report(message: String) -> Report {
    report_of(Rule::Io, message)
}

/// A report of one problem of the spec folder as a whole (no file to point into).
fn report_of(rule: Rule, message: String) -> Report {
    Report {
        sources: Sources::new(),
        diagnostics: vec![Diagnostic::new(rule, SpecPath::root(), message)],
    }
}

/// A file that is not UTF-8, refused at the first byte that is not, with its line and column
/// (the excerpt shows the file with invalid bytes replaced).
fn not_utf8(name: String, e: std::string::FromUtf8Error) -> Report {
    let at = e.utf8_error().valid_up_to();
    let bytes = e.into_bytes();
    let byte = bytes.get(at).copied().unwrap_or_default();
    // The valid prefix keeps its offsets in the lossy text.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut sources = Sources::new();
    let file = sources.add(name, text);
    let diagnostic = Diagnostic::new(
        Rule::Syntax,
        SpecPath::root(),
        format!("the file is not UTF-8 text: byte 0x{byte:02X} here is not valid UTF-8"),
    )
    .with_span(crate::source::Span {
        file,
        start: at,
        end: at,
    })
    .with_help("save the file as UTF-8");
    Report {
        sources,
        diagnostics: vec![diagnostic],
    }
}

fn spec_files_in(dir: &Path) -> Result<Vec<std::path::PathBuf>, Report> {
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            let parent = dir.parent().unwrap_or(dir);
            let (message, help) = if parent.is_dir() {
                (
                    format!("{} does not exist", dir.display()),
                    format!(
                        "a spec folder holds base/ (the stack) and env/ (an overlay per environment); \
                         is `{}` the spec folder (`--spec`)?",
                        parent.display()
                    ),
                )
            } else {
                (
                    format!("spec folder {} does not exist", parent.display()),
                    "give the folder holding base/ and env/ with `--spec`".to_owned(),
                )
            };
            Report {
                sources: Sources::new(),
                diagnostics: vec![Diagnostic::new(Rule::Io, SpecPath::root(), message).with_help(help)],
            }
        }
        _ => io_report(format!("cannot read {}: {e}", dir.display())),
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| io_report(format!("cannot read {}: {e}", dir.display())))?
            .path();
        let is_spec = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e));
        if is_spec && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The environments a spec folder defines (the overlay files of `env/`), sorted.
pub fn environments(dir: &Path) -> Result<Vec<String>, Report> {
    let mut envs: Vec<String> = spec_files_in(&dir.join("env"))?
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .collect();
    envs.dedup();
    Ok(envs)
}

impl SpecFolder {
    /// Reads the base files of a spec folder (`base/*.{yaml,yml,toml}`).
    pub fn read(dir: &Path) -> Result<Self, Report> {
        let base_files = spec_files_in(&dir.join("base"))?;
        if base_files.is_empty() {
            return Err(io_report(format!(
                "{} has no spec files (*.yaml, *.yml, *.toml)",
                dir.join("base").display()
            )));
        }
        let mut sources = Sources::new();
        let mut base = Vec::new();
        for path in &base_files {
            let (name, text) = read_text(path)?;
            base.push(sources.add(name, text));
        }
        Ok(Self {
            dir: dir.to_owned(),
            sources,
            base,
            parsed_base: ParsedBase::default(),
        })
    }

    /// The environments the folder defines (the overlay files of `env/`), sorted.
    pub fn environments(&self) -> Result<Vec<String>, Report> {
        environments(&self.dir)
    }

    /// The files of one environment: the base files and the overlay of `env`.
    pub fn files(&self, env: &str) -> Result<SpecFiles, Report> {
        let dir = &self.dir;
        let overlays: Vec<_> = spec_files_in(&dir.join("env"))?
            .into_iter()
            .filter(|p| p.file_stem().and_then(|s| s.to_str()) == Some(env))
            .collect();
        let overlay = match overlays.as_slice() {
            [one] => read_text(one)?,
            [] => {
                let known = environments(dir)?;
                let mut d = Diagnostic::new(
                    Rule::UnknownEnv,
                    SpecPath::root(),
                    match known.as_slice() {
                        [] => format!(
                            "unknown environment `{env}`; {} defines none (no *.yaml, *.yml or *.toml)",
                            dir.join("env").display()
                        ),
                        _ => format!(
                            "unknown environment `{env}`; {} defines: {}",
                            dir.join("env").display(),
                            known.join(", ")
                        ),
                    },
                );
                if let Some(best) = closest(env, known.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
                return Err(Report {
                    sources: Sources::new(),
                    diagnostics: vec![d],
                });
            }
            many => {
                return Err(report_of(
                    Rule::UnknownEnv,
                    format!(
                        "environment `{env}` has several overlay files: {}",
                        many.iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        };
        let mut sources = self.sources.clone();
        let overlay = sources.add(overlay.0, overlay.1);
        Ok(SpecFiles {
            env: env.to_owned(),
            sources,
            base: self.base.clone(),
            overlay: Some(overlay),
            parsed_base: Arc::clone(&self.parsed_base),
        })
    }

    /// Reads, merges and validates one environment.
    pub fn load(&self, env: &str) -> Result<Loaded, Report> {
        self.files(env)?.resolve()
    }
}

/// A spec file's name (its path as given) and text.
fn read_text(path: &Path) -> Result<(String, String), Report> {
    let bytes = std::fs::read(path).map_err(|e| io_report(format!("cannot read {}: {e}", path.display())))?;
    let name = path.display().to_string();
    match String::from_utf8(bytes) {
        Ok(text) => Ok((name, text)),
        Err(e) => Err(not_utf8(name, e)),
    }
}

/// Reads the base files and the overlay of `env` from a spec folder.
pub fn read_dir(dir: &Path, env: &str) -> Result<SpecFiles, Report> {
    SpecFolder::read(dir)?.files(env)
}

/// Reads, merges and validates one environment of a spec folder.
pub fn load(dir: &Path, env: &str) -> Result<Loaded, Report> {
    read_dir(dir, env)?.resolve()
}

impl Loaded {
    /// The effective spec after overlays, as a document tree: read again from the parsed
    /// files, which loading does not keep it for (a large spec's tree outweighs its stack).
    pub fn effective(&self) -> Result<Node, Report> {
        self.files.effective()
    }

    /// Whether loading produced warnings (that the spec does not allow).
    pub fn has_warnings(&self) -> bool {
        self.warnings.diagnostics.iter().any(Diagnostic::is_open_warning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_names_are_extracted() {
        let m = "unknown field `imag`, expected one of `image`, `restart`";
        assert_eq!(backticked(m, "unknown field `"), Some("imag"));
        assert_eq!(expected_list(m), vec!["image", "restart"]);
        assert_eq!(
            expected_list("unknown variant `x`, expected `a` or `b`"),
            vec!["a", "b"]
        );
    }

    /// REQUIRED_SECTIONS is exactly the top-level keys serde refuses to go without: each removed
    /// from the Vutler stack's effective spec is a missing field, every other key is not.
    #[test]
    fn required_sections_are_exactly_the_fields_without_default() {
        let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
        let files = read_dir(&specs, "production").unwrap_or_else(|r| panic!("{r}"));
        let tree = files.effective().unwrap_or_else(|r| panic!("{r}"));
        let crate::tree::Value::Map(entries) = &tree.value else {
            panic!("the effective spec is not a mapping");
        };
        for key in entries.iter().map(|e| e.key.clone()) {
            let mut without = tree.clone();
            if let crate::tree::Value::Map(entries) = &mut without.value {
                entries.retain(|e| e.key != key);
            }
            let refused = deserialize_tracked(&without)
                .err()
                .is_some_and(|d| d.iter().any(|d| d.message == format!("missing field `{key}`")));
            assert_eq!(refused, REQUIRED_SECTIONS.contains(&key.as_str()), "{key}");
        }
        for key in REQUIRED_SECTIONS {
            assert!(
                entries.iter().any(|e| e.key == key),
                "{key} is not a section of the spec"
            );
        }
    }
}
