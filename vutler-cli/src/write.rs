//! Writing a rendered tree into a folder (`--out DIR`), and the manifest of generated files.
//!
//! A crash, a full disk or a killed process must never leave a generated file half-written, and
//! the folder may hold files vutler-render does not own (`.env`, `secrets/`, TLS certificates, an
//! operator's notes) that must survive every render. So:
//!
//! 1. The render happens first, in memory: an invalid spec writes nothing and creates no folder.
//! 2. A file of DIR that already holds the rendered bytes is not rewritten (its mtime stays; a
//!    script that lost its executable bit gets it back in place), and a render that changes
//!    nothing writes nothing, the manifest included. Every other file is written into a staging folder, a hidden sibling of DIR on the same file
//!    system (`.DIR.vutler-tmp-XXXX`; inside DIR when DIR is a mount point), and synced to disk.
//!    A full disk fails here, before anything in DIR has changed.
//! 3. When DIR does not exist yet, the staging folder becomes DIR with one rename: the whole
//!    tree appears at once. Otherwise each staged file is moved over its target with its own
//!    rename, which is atomic on one file system: a reader (or Compose) sees the old file or the
//!    new one, never a mix. Swapping whole folders instead would need copying the foreign files
//!    into the staging folder (secrets and large data included), and a file added to DIR
//!    between the copy and the swap would be lost; per-file renames never touch a foreign file.
//!    The price is that a crash in the middle of step 3 leaves some files new and some old,
//!    each complete; the next render finishes the job.
//! 4. DIR's manifest (`.vutler-render.manifest`, one path per line) lists the files
//!    vutler-render generated there. Before the first rename it is rewritten to list the old
//!    and the new files, so that even after a crash every generated file is listed. After the
//!    renames, the files the old manifest lists and the render no longer produces are removed
//!    (with the folders that held them, once empty), and the manifest is rewritten with exactly
//!    the files just written. A file the manifest does not list is never touched; neither is an
//!    entry that is absolute or contains `..`, nor a path that crosses a symlink.
//!
//! Every manifest write is itself a staged file moved in with one rename. The manifest is
//! untrusted input: one that is a symlink is refused, and entries that are not UTF-8, hold a
//! control character, are over 1024 bytes or name the operator's files (`.env`, `secrets/`,
//! hidden files but `.env.example`) are ignored with a warning.
//! 5. A rename that fails part way stops the render with exit code 3, naming the files already
//!    replaced and those still old; the manifest lists both, and says a render was in progress,
//!    so the next render says it finishes an interrupted one (and `check` says so too). Staging
//!    folders left by a killed render are removed by the next one: those of a process that no
//!    longer runs (the name holds its pid), and any an hour old.
//! 6. A file at a path the render newly produces (not in the manifest) that vutler-render did
//!    not generate, a hand-written one, stops the render before anything is written (exit 2),
//!    naming it, unless it already holds the rendered bytes or `--overwrite` is given.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use vutler_render::Rendered;

use crate::Verbosity;

/// File name of the manifest of generated files, in the output folder.
pub(crate) const MANIFEST: &str = ".vutler-render.manifest";

/// The manifest's first line.
const MANIFEST_HEADER: &str =
    "# Files vutler-render generated in this folder, removed when it no longer renders them. Do not edit.";

/// The manifest's second line while a render moves its files in: it lists the old files and
/// the new ones, and a render that finds this line knows the last one was interrupted.
const IN_PROGRESS: &str = "# A render was in progress: some files may still be old. The next render finishes it.";

/// A refusal to write, before anything was written: exit code 2, not an I/O failure.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// What the manifest of a folder says.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// The generated files, each a checked relative path.
    pub(crate) entries: Vec<String>,
    /// Whether the render that wrote it was interrupted while moving files in.
    pub(crate) interrupted: bool,
}

/// Reads the manifest of `dir`: the paths of the files vutler-render generated there (none when
/// there is no manifest). The manifest is untrusted input (anyone with write access to DIR can
/// edit it): a manifest that is a symlink is refused, and an entry is ignored, with a warning,
/// when it is not UTF-8, holds a NUL or a control character, is longer than
/// [`MAX_ENTRY`] bytes, leaves the folder (absolute, `.` or `..`), or names a file the renderer
/// never writes and an operator keeps there ([`is_protected`]).
pub(crate) fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => bail!(
            "{} is a symlink: the manifest is never followed out of the folder; remove it (the next render writes a new one)",
            path.display()
        ),
        Ok(m) if !m.is_file() => bail!("{} is not a file: remove it", path.display()),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut entries = Vec::new();
    let mut interrupted = false;
    for (number, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let warn = |why: &str| eprintln!("warning: {}:{}: ignoring the entry: {why}", path.display(), number + 1);
        let Ok(entry) = std::str::from_utf8(line) else {
            warn("it is not UTF-8");
            continue;
        };
        if entry == IN_PROGRESS {
            interrupted = true;
        }
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        if entry.len() > MAX_ENTRY {
            warn(&format!("it is longer than {MAX_ENTRY} bytes"));
        } else if entry.chars().any(char::is_control) {
            warn("it holds a control character");
        } else if !is_safe_entry(entry) {
            // Not echoed: a tampered line may hold anything, a secret included.
            warn("it is not a relative path without `.` or `..`");
        } else if is_protected(entry) {
            warn(&format!(
                "`{entry}` is never a generated file (the operator's files stay)"
            ));
        } else {
            entries.push(entry.to_owned());
        }
    }
    Ok(Manifest { entries, interrupted })
}

/// Whether a manifest entry names a file inside the folder: relative, `/`-separated, with no
/// empty, `.` or `..` segment.
fn is_safe_entry(entry: &str) -> bool {
    !entry.starts_with('/')
        && !entry.contains('\\')
        && !Path::new(entry).has_root()
        && entry.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Bytes of a manifest entry at most (the rendered paths are short).
const MAX_ENTRY: usize = 1024;

/// Paths the renderer never writes and the deployment keeps beside the tree: `.env`,
/// `secrets/`, and every hidden file but `.env.example` (the scripts' `.rollback`, `.vutler.lock`,
/// the manifest itself). A manifest naming one is tampered with, and it is never removed.
fn is_protected(entry: &str) -> bool {
    let first = entry.split('/').next().unwrap_or_default();
    first == "secrets" || (first.starts_with('.') && first != ".env.example")
}

fn manifest_text(paths: &BTreeSet<&str>, in_progress: bool) -> String {
    let mut text = format!("{MANIFEST_HEADER}\n");
    if in_progress {
        text.push_str(IN_PROGRESS);
        text.push('\n');
    }
    for path in paths {
        text.push_str(path);
        text.push('\n');
    }
    text
}

/// Writes the rendered tree of `env` into `dir` (see the module documentation), printing each
/// file written and each stale file removed to stderr. A hand-written file at a path the render
/// newly produces is replaced only with `overwrite`; otherwise the error is a [`Refused`].
pub(crate) fn write_tree(
    dir: &Path,
    env: &str,
    tree: &Rendered,
    overwrite: bool,
    verbosity: Verbosity,
) -> anyhow::Result<()> {
    // What went well is said unless quiet; each unchanged file only when verbose.
    let say = |line: String| {
        if verbosity != Verbosity::Quiet {
            eprintln!("{line}");
        }
    };
    if tree.get(MANIFEST).is_some() {
        bail!("the render produced a file named {MANIFEST}, which is the manifest's name (a bug)");
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let exists = match fs::metadata(dir) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => {
            return Err(Refused(format!(
                "{} exists and is not a folder: give --out a folder (it is created when missing); nothing was written",
                dir.display()
            ))
            .into());
        }
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let old = if exists {
        check_targets(dir, tree)?;
        let old = read_manifest(dir)?;
        if !overwrite {
            refuse_foreign_files(dir, tree, &old.entries)?;
        }
        if old.interrupted {
            eprintln!(
                "note: the last render into {} was interrupted; this one finishes it",
                dir.display()
            );
        }
        old.entries
    } else {
        fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        Vec::new()
    };

    // Staged where a rename into DIR stays on one file system. What a killed render left there
    // is removed first, also when this render then finds nothing to write.
    let staging_in = if exists && is_mount_point(dir, &parent)? {
        dir.to_path_buf()
    } else {
        parent.clone()
    };
    let name = dir.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy());
    clean_stale_staging(&staging_in, &format!(".{name}.vutler-tmp-"));

    let rendered: BTreeSet<&str> = tree.iter().map(|(p, _)| p).collect();
    // A file that already holds the rendered bytes is left alone (its mtime too); a script that
    // lost its executable bit gets it back in place.
    let mut unchanged: BTreeSet<&str> = BTreeSet::new();
    if exists {
        for (path, contents) in tree.iter() {
            let target = dir.join(path);
            let Ok(m) = fs::symlink_metadata(&target) else { continue };
            if !m.is_file() || m.len() != contents.len() as u64 {
                continue;
            }
            if fs::read(&target).with_context(|| format!("reading {}", target.display()))? != contents.as_bytes() {
                continue;
            }
            if tree.is_executable(path) && !is_executable(&m) {
                make_executable(&target)?;
                say(format!("made {path} executable again"));
            } else if verbosity == Verbosity::Verbose {
                eprintln!("unchanged {path}");
            }
            unchanged.insert(path);
        }
        let stale = old.iter().any(|p| !rendered.contains(p.as_str()));
        let manifest_same =
            fs::read(dir.join(MANIFEST)).ok().as_deref() == Some(manifest_text(&rendered, false).as_bytes());
        if unchanged.len() == rendered.len() && !stale && manifest_same {
            say(format!(
                "{env}: {} is up to date ({} files unchanged)",
                dir.display(),
                rendered.len()
            ));
            return Ok(());
        }
    }

    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.vutler-tmp-{}-", std::process::id()))
        .tempdir_in(&staging_in)
        .with_context(|| format!("creating a staging folder in {}", staging_in.display()))?;
    // Every staged file is written first and synced after: the disk is waited on once for
    // all of them rather than once per file.
    let mut staged = Vec::new();
    for (path, contents) in tree.iter().filter(|(p, _)| !unchanged.contains(p)) {
        let target = staging.path().join(path);
        if let Some(folder) = target.parent() {
            fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        }
        staged.push((write_unsynced(&target, contents.as_bytes())?, target.clone()));
        if tree.is_executable(path) {
            make_executable(&target)?;
        }
    }
    if !exists {
        let manifest = staging.path().join(MANIFEST);
        staged.push((
            write_unsynced(&manifest, manifest_text(&rendered, false).as_bytes())?,
            manifest,
        ));
    }
    for (file, path) in staged {
        file.sync_all().with_context(|| format!("syncing {}", path.display()))?;
    }
    if !exists {
        for folder in folders_of(staging.path(), &rendered) {
            sync_dir(&folder)?;
        }
        make_readable(staging.path())?;
        fs::rename(staging.path(), dir)
            .with_context(|| format!("moving {} to {}", staging.path().display(), dir.display()))?;
        // Renamed away: there is nothing left to clean up.
        let _ = staging.keep();
        sync_dir(&parent)?;
        for path in &rendered {
            say(format!("wrote {path}"));
        }
        say(format!("{env}: wrote {} files to {}", tree.len(), dir.display()));
        return Ok(());
    }

    let both: BTreeSet<&str> = rendered.iter().copied().chain(old.iter().map(String::as_str)).collect();
    install_manifest(dir, staging.path(), &both, true)?;

    let changed: BTreeSet<&str> = rendered.difference(&unchanged).copied().collect();
    for path in &changed {
        let staged = staging.path().join(path);
        let target = dir.join(path);
        if let Some(folder) = target.parent() {
            fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        }
        // Keep the mode an operator gave the file (`chmod 600`); scripts stay executable.
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_file() => {
                fs::set_permissions(&staged, m.permissions())
                    .with_context(|| format!("setting the mode of {}", staged.display()))?;
                if tree.is_executable(path) {
                    make_executable(&staged)?;
                }
            }
            _ => {}
        }
        if let Err(e) = fs::rename(&staged, &target) {
            let done: Vec<&str> = changed.iter().copied().take_while(|p| p != path).collect();
            let left: Vec<&str> = changed.iter().copied().skip(done.len()).collect();
            return Err(e).with_context(|| {
                format!(
                    "moving {} to {}; already replaced: {}; still old (or absent): {}; the manifest lists both, and the next render finishes the job",
                    staged.display(),
                    target.display(),
                    if done.is_empty() { "none".to_owned() } else { done.join(", ") },
                    left.join(", ")
                )
            });
        }
        say(format!("wrote {path}"));
    }
    for folder in folders_of(dir, &changed) {
        sync_dir(&folder)?;
    }

    let mut removed = 0;
    for path in old.iter().filter(|p| !rendered.contains(p.as_str())) {
        match prune(dir, path).with_context(|| format!("removing {}", dir.join(path).display()))? {
            Pruned::Removed => {
                say(format!("removed {path}"));
                removed += 1;
            }
            Pruned::Gone => {}
            Pruned::Kept(why) => eprintln!("warning: left {path} alone: {why}"),
        }
    }
    install_manifest(dir, staging.path(), &rendered, false)?;
    let mut notes = Vec::new();
    if !unchanged.is_empty() {
        notes.push(format!("{} unchanged", unchanged.len()));
    }
    match removed {
        0 => {}
        1 => notes.push("removed 1 stale file".to_owned()),
        n => notes.push(format!("removed {n} stale files")),
    }
    say(format!(
        "{env}: wrote {} file{} to {}{}",
        changed.len(),
        if changed.len() == 1 { "" } else { "s" },
        dir.display(),
        if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        }
    ));
    Ok(())
}

/// Refuses to replace a file at a path the render newly produces (one the manifest does not
/// list) that holds other bytes than the rendered ones: vutler-render did not generate it, so
/// it is somebody's work. Every such file is named.
fn refuse_foreign_files(dir: &Path, tree: &Rendered, generated: &[String]) -> anyhow::Result<()> {
    let generated: BTreeSet<&str> = generated.iter().map(String::as_str).collect();
    let mut foreign = Vec::new();
    for (path, contents) in tree.iter().filter(|(p, _)| !generated.contains(p)) {
        let target = dir.join(path);
        match fs::read(&target) {
            Ok(bytes) if bytes == contents.as_bytes() => {}
            Ok(_) => foreign.push(path),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    Err(Refused(format!(
        "refusing to replace {} in {} that vutler-render did not generate (the manifest does not list {}): {}; move {} away, or pass --overwrite to replace {}; nothing was written",
        if foreign.len() == 1 { "a file" } else { "files" },
        dir.display(),
        if foreign.len() == 1 { "it" } else { "them" },
        foreign.join(", "),
        if foreign.len() == 1 { "it" } else { "them" },
        if foreign.len() == 1 { "it" } else { "them" },
    ))
    .into())
}

/// Removes the staging folders a killed render left (named like this render's): those whose
/// process no longer runs (`.DIR.vutler-tmp-PID-XXXX`, on Linux, where `/proc` says), and any an
/// hour old or more (a render takes milliseconds). Failures only warn.
fn clean_stale_staging(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    let hour = std::time::Duration::from_secs(3600);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(prefix) {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age >= hour);
        let pid = name[prefix.len()..]
            .split('-')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let orphan = pid.is_some_and(|pid| {
            pid != std::process::id()
                && Path::new("/proc/self").exists()
                && !Path::new(&format!("/proc/{pid}")).exists()
        });
        if meta.is_dir() && (old || orphan) {
            match fs::remove_dir_all(entry.path()) {
                Ok(()) => eprintln!("removed {} (left by an interrupted render)", entry.path().display()),
                Err(e) => eprintln!("warning: cannot remove {}: {e}", entry.path().display()),
            }
        }
    }
}

/// Refuses, before anything is written, a target that is a folder or lies behind a symlink or a
/// file: a rename through a symlinked folder would write outside DIR.
fn check_targets(dir: &Path, tree: &Rendered) -> anyhow::Result<()> {
    for (path, _) in tree.iter() {
        let mut at = dir.to_path_buf();
        let segments: Vec<&str> = path.split('/').collect();
        for (i, seg) in segments.iter().enumerate() {
            at.push(seg);
            let last = i + 1 == segments.len();
            match fs::symlink_metadata(&at) {
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) => return Err(e).with_context(|| format!("reading {}", at.display())),
                Ok(m) if last && m.is_dir() => bail!("cannot write {path}: {} is a folder", at.display()),
                Ok(m) if !last && m.file_type().is_symlink() => {
                    bail!("refusing to write {path}: {} is a symlink", at.display())
                }
                Ok(m) if !last && !m.is_dir() => bail!("cannot write {path}: {} is not a folder", at.display()),
                Ok(_) => {}
            }
        }
    }
    Ok(())
}

/// Writes a file and syncs it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let file = write_unsynced(path, bytes)?;
    file.sync_all().with_context(|| format!("syncing {}", path.display()))
}

/// Writes a file, open for a sync later.
fn write_unsynced(path: &Path, bytes: &[u8]) -> anyhow::Result<File> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(file)
}

/// Writes `dir`'s manifest listing `paths` (saying a render is in progress when `in_progress`):
/// staged, synced, then moved in with one rename.
fn install_manifest(dir: &Path, staging: &Path, paths: &BTreeSet<&str>, in_progress: bool) -> anyhow::Result<()> {
    let staged = staging.join(MANIFEST);
    write_synced(&staged, manifest_text(paths, in_progress).as_bytes())?;
    let target = dir.join(MANIFEST);
    fs::rename(&staged, &target).with_context(|| format!("moving {} to {}", staged.display(), target.display()))?;
    sync_dir(dir)
}

/// `root` and every folder under it that holds one of `paths`.
fn folders_of(root: &Path, paths: &BTreeSet<&str>) -> BTreeSet<PathBuf> {
    let mut folders = BTreeSet::from([root.to_path_buf()]);
    for path in paths {
        let mut at = root.to_path_buf();
        let segments: Vec<&str> = path.split('/').collect();
        for seg in &segments[..segments.len().saturating_sub(1)] {
            at.push(seg);
            folders.insert(at.clone());
        }
    }
    folders
}

/// Syncs a folder, so the renames in it survive a power cut.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    if cfg!(unix) {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}

/// Gives the staging folder (created private) the mode of a folder created normally, before it
/// becomes DIR.
fn make_readable(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("setting the mode of {}", dir.display()))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Adds the executable bits to a generated script (each where it can already read: `0644`
/// becomes `0755`, `0600` becomes `0700`).
/// Whether a file's owner may run it.
fn is_executable(m: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o100 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        true
    }
}

fn make_executable(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .permissions()
            .mode();
        let executable = mode | ((mode & 0o444) >> 2);
        fs::set_permissions(path, fs::Permissions::from_mode(executable))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether `dir` is on another file system than its parent (a mount point), where a rename from
/// the parent would fail.
fn is_mount_point(dir: &Path, parent: &Path) -> anyhow::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let dev = |p: &Path| {
            fs::metadata(p)
                .map(|m| m.dev())
                .with_context(|| format!("reading {}", p.display()))
        };
        Ok(dev(dir)? != dev(parent)?)
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, parent);
        Ok(false)
    }
}

/// What pruning a stale manifest entry did.
#[derive(Debug, PartialEq, Eq)]
enum Pruned {
    /// The file was removed.
    Removed,
    /// It was already gone.
    Gone,
    /// It was left in place, for this reason.
    Kept(&'static str),
}

/// Removes the stale generated file `entry` (a checked manifest entry) from `dir`, then the
/// folders that held it once they are empty. Never follows a symlink: a symlinked folder on the
/// way, or a symlink or folder where the file was, is left alone.
fn prune(dir: &Path, entry: &str) -> std::io::Result<Pruned> {
    let segments: Vec<&str> = entry.split('/').collect();
    let Some((file, folders)) = segments.split_last() else {
        return Ok(Pruned::Gone);
    };
    let mut at = dir.to_path_buf();
    for seg in folders {
        at.push(seg);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => return Ok(Pruned::Kept("a folder on its path is a symlink")),
            Ok(_) => return Ok(Pruned::Kept("a folder on its path is a file")),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Pruned::Gone),
            Err(e) => return Err(e),
        }
    }
    at.push(file);
    match fs::symlink_metadata(&at) {
        Ok(m) if m.is_file() => fs::remove_file(&at)?,
        Ok(m) if m.file_type().is_symlink() => return Ok(Pruned::Kept("it is a symlink now")),
        Ok(_) => return Ok(Pruned::Kept("it is not a file now")),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Pruned::Gone),
        Err(e) => return Err(e),
    }
    // Folders that held only generated files go too; a folder with anything else in it stays.
    let mut folder = at.parent();
    for _ in folders {
        let Some(f) = folder else { break };
        if fs::remove_dir(f).is_err() {
            break;
        }
        folder = f.parent();
    }
    Ok(Pruned::Removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_entries_stay_inside_the_folder() {
        for ok in ["a", "nginx/nginx.conf", ".env.example"] {
            assert!(is_safe_entry(ok), "{ok}");
        }
        for bad in ["/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/", "", "a\\b"] {
            assert!(!is_safe_entry(bad), "{bad}");
        }
    }

    #[test]
    fn a_tampered_manifest_names_nothing_to_delete() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path();
        let long = "a/".repeat(600) + "b";
        let mut text =
            b"# header\nscripts/backup.sh\n.env\nsecrets/postgres_password\n.rollback\n.env.example\n".to_vec();
        text.extend_from_slice(b"bad\0name\n");
        text.extend_from_slice(b"not-utf8-\xff\n");
        text.extend_from_slice(long.as_bytes());
        text.extend_from_slice(b"\nnginx/nginx.conf\r\n");
        fs::write(dir.join(MANIFEST), text).unwrap_or_else(|e| panic!("{e}"));
        let manifest = read_manifest(dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            manifest.entries,
            ["scripts/backup.sh", ".env.example", "nginx/nginx.conf"]
        );
        assert!(!manifest.interrupted);
        #[cfg(unix)]
        {
            let other = tmp.path().join("elsewhere");
            fs::write(&other, "x\n").unwrap_or_else(|e| panic!("{e}"));
            fs::remove_file(dir.join(MANIFEST)).unwrap_or_else(|e| panic!("{e}"));
            std::os::unix::fs::symlink(&other, dir.join(MANIFEST)).unwrap_or_else(|e| panic!("{e}"));
            let refused = read_manifest(dir).map(|_| ()).map_err(|e| e.to_string());
            assert!(
                refused.as_ref().is_err_and(|e| e.contains("is a symlink")),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn pruning_removes_emptied_folders_but_never_follows_symlinks() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path().join("out");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(dir.join("a/b")).unwrap_or_else(|e| panic!("{e}"));
        fs::create_dir_all(&outside).unwrap_or_else(|e| panic!("{e}"));
        fs::write(dir.join("a/b/stale"), "x").unwrap_or_else(|e| panic!("{e}"));
        fs::write(outside.join("victim"), "x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(prune(&dir, "a/b/stale").ok(), Some(Pruned::Removed));
        assert!(!dir.join("a").exists(), "emptied folders are removed");
        assert!(dir.exists(), "DIR itself stays");
        assert_eq!(prune(&dir, "a/b/stale").ok(), Some(Pruned::Gone));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap_or_else(|e| panic!("{e}"));
            std::os::unix::fs::symlink(outside.join("victim"), dir.join("file-link")).unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(prune(&dir, "link/victim"), Ok(Pruned::Kept(_))));
            assert!(matches!(prune(&dir, "file-link"), Ok(Pruned::Kept(_))));
            assert!(outside.join("victim").exists());
        }
    }
}
