//! Combining spec files: base fragments with each other, then an environment overlay on top.
//!
//! These are the only merge semantics of the product; they apply to YAML and TOML alike.
//!
//! **Base fragments** (`specs/base/*`) are joined into one document. A section (a top-level key
//! such as `services` or `volumes`) may be split across files, but each entry of a section (a
//! service, a volume, `monitoring.scrape_jobs`) and each top-level value is defined in exactly one
//! file: a second definition is a `duplicate` error naming both places.
//!
//! **The overlay** (`specs/env/<env>.*`) is then applied to the joined base:
//! - *mappings merge by key*: an overlay key absent from the base is added, a present one is
//!   merged recursively;
//! - *named lists merge by name*: when every item of both lists is a mapping with a `name`, items
//!   with the same name are merged recursively in place and new ones are appended in overlay order
//!   (an overlay list naming the same entry twice is a `duplicate` error);
//! - *everything else is replaced*: scalars, unnamed lists (`command`, `ports` without names), and
//!   values whose type differs between base and overlay;
//! - *removal is explicit*: a mapping value `{ $remove: true }` (in a named list:
//!   `{ name: x, $remove: true }`) deletes the inherited entry. Removing an entry the base does
//!   not have is an error, as is `$remove` anywhere else, so a typo never passes silently.

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::path::SpecPath;
use crate::rule::Rule;
use crate::source::Span;
use crate::tree::{Node, Value};

/// The reserved key that removes an inherited entry.
pub const REMOVE_KEY: &str = "$remove";

/// Joins base fragments; see the module documentation.
pub fn join_fragments(fragments: Vec<Node>, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    let mut iter = fragments.into_iter();
    let mut acc = iter.next()?;
    for next in iter {
        join(&mut acc, next, &mut SpecPath::root(), diags);
    }
    Some(acc)
}

/// Depth of the document (0) and of its sections (1): the mappings that may be split.
const SPLITTABLE_DEPTH: usize = 1;

fn join(acc: &mut Node, other: Node, path: &mut SpecPath, diags: &mut Vec<Diagnostic>) {
    let depth = path.len();
    let (Value::Map(into), Value::Map(from)) = (&mut acc.value, other.value) else {
        return;
    };
    let mut index = key_index(into);
    for entry in from {
        match index.get(entry.key.as_str()).copied() {
            None => {
                index.insert(entry.key.clone(), into.len());
                into.push(entry);
            }
            Some(i) => {
                let existing = &mut into[i];
                path.push_key(&entry.key);
                let both_maps =
                    matches!(existing.node.value, Value::Map(_)) && matches!(entry.node.value, Value::Map(_));
                if both_maps && depth < SPLITTABLE_DEPTH {
                    join(&mut existing.node, entry.node, path, diags);
                } else {
                    diags.push(
                        Diagnostic::new(Rule::DuplicateDefinition, path.clone(), "defined in two base files")
                            .with_span(entry.key_span)
                            .with_related(existing.key_span, "first defined")
                            .with_help("define it in one base file only; environment changes go in an overlay"),
                    );
                }
                path.pop();
            }
        }
    }
}

/// Applies an environment overlay to the joined base; see the module documentation.
pub fn apply_overlay(base: &mut Node, overlay: Node, diags: &mut Vec<Diagnostic>) {
    merge(base, overlay, &mut SpecPath::root(), diags);
}

/// Reports every `$remove` left in a merged tree: it only makes sense on an inherited entry.
pub fn check_no_remove_left(node: &Node, diags: &mut Vec<Diagnostic>) {
    walk_removes(node, &mut SpecPath::root(), diags);
}

fn walk_removes(node: &Node, path: &mut SpecPath, diags: &mut Vec<Diagnostic>) {
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                path.push_key(&e.key);
                if e.key == REMOVE_KEY {
                    diags.push(
                        Diagnostic::new(
                            Rule::Overlay,
                            path.clone(),
                            "`$remove` only removes an entry inherited from the base, in an overlay",
                        )
                        .with_span(e.key_span),
                    );
                } else {
                    walk_removes(&e.node, path, diags);
                }
                path.pop();
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push_index(i);
                walk_removes(item, path, diags);
                path.pop();
            }
        }
        _ => {}
    }
}

/// What an overlay entry asks for.
enum Removal {
    /// An ordinary entry to merge.
    No,
    /// `$remove: true`, written at this span.
    Yes(Span),
    /// A malformed removal, already reported; the entry is dropped.
    Invalid,
}

/// Whether a node is a removal marker; reports `$remove` mixed with other keys.
fn removal(node: &Node, allow_name: bool, path: &SpecPath, diags: &mut Vec<Diagnostic>) -> Removal {
    let (Some(entry), Value::Map(entries)) = (node.entry(REMOVE_KEY), &node.value) else {
        return Removal::No;
    };
    if entry.node.value != Value::Bool(true) {
        diags.push(Diagnostic::new(Rule::Overlay, path.clone(), "`$remove` must be `true`").with_span(entry.node.span));
        return Removal::Invalid;
    }
    let extra = entries
        .iter()
        .find(|e| e.key != REMOVE_KEY && !(allow_name && e.key == "name"));
    if let Some(extra) = extra {
        diags.push(
            Diagnostic::new(
                Rule::Overlay,
                path.clone(),
                format!("an entry with `$remove: true` cannot also set `{}`", extra.key),
            )
            .with_span(extra.key_span),
        );
        return Removal::Invalid;
    }
    Removal::Yes(entry.key_span)
}

/// The position of each entry of a mapping by its key: entries are found by hash, so joining
/// and merging grow linearly with the number of entries.
fn key_index(entries: &[crate::tree::Entry]) -> HashMap<String, usize> {
    entries.iter().enumerate().map(|(i, e)| (e.key.clone(), i)).collect()
}

fn name_of(node: &Node) -> Option<&str> {
    node.get("name").and_then(Node::as_str)
}

fn merge(base: &mut Node, overlay: Node, path: &mut SpecPath, diags: &mut Vec<Diagnostic>) {
    match (&mut base.value, overlay.value) {
        (Value::Map(into), Value::Map(from)) => {
            let mut index = key_index(into);
            for entry in from {
                path.push_key(&entry.key);
                let position = index.get(entry.key.as_str()).copied();
                match (removal(&entry.node, false, path, diags), position) {
                    (Removal::Invalid, _) => {}
                    (Removal::Yes(_), Some(i)) => {
                        into.remove(i);
                        // The entries after it moved; removals are few.
                        index = key_index(into);
                    }
                    (Removal::Yes(at), None) => diags.push(not_inherited(path, at)),
                    (Removal::No, Some(i)) => merge(&mut into[i].node, entry.node, path, diags),
                    (Removal::No, None) => {
                        index.insert(entry.key.clone(), into.len());
                        into.push(entry);
                    }
                }
                path.pop();
            }
        }
        (Value::Seq(into), Value::Seq(from))
            if is_named(into) && from.iter().all(|n| name_of(n).is_some()) && !from.is_empty() =>
        {
            let mut listed: Vec<String> = Vec::new();
            for item in from {
                let name = name_of(&item).unwrap_or_default().to_owned();
                if listed.contains(&name) {
                    let at = item.get("name").map_or(item.span, |n| n.span);
                    diags.push(
                        Diagnostic::new(
                            Rule::Duplicate,
                            path.clone(),
                            format!("the overlay lists `{name}` twice"),
                        )
                        .with_span(at)
                        .with_help("name each entry once; its settings are merged into the inherited entry"),
                    );
                    continue;
                }
                listed.push(name.clone());
                let position = into.iter().position(|n| name_of(n) == Some(name.as_str()));
                path.push_index(position.unwrap_or(into.len()));
                match (removal(&item, true, path, diags), position) {
                    (Removal::Invalid, _) => {}
                    (Removal::Yes(_), Some(i)) => {
                        into.remove(i);
                    }
                    (Removal::Yes(at), None) => diags.push(not_inherited(path, at)),
                    (Removal::No, Some(i)) => merge(&mut into[i], item, path, diags),
                    (Removal::No, None) => into.push(item),
                }
                path.pop();
            }
        }
        // An empty value (`key:` or `key: ~`) would silently drop the inherited one.
        (inherited, Value::Null) if *inherited != Value::Null => diags.push(
            Diagnostic::new(
                Rule::Overlay,
                path.clone(),
                "an empty value here would drop the inherited one",
            )
            .with_span(overlay.span)
            .with_help("write the new value, or `{ $remove: true }` to remove the entry on purpose"),
        ),
        (_, value) => {
            *base = Node {
                value,
                span: overlay.span,
            }
        }
    }
}

fn is_named(items: &[Node]) -> bool {
    !items.is_empty() && items.iter().all(|n| name_of(n).is_some())
}

fn not_inherited(path: &SpecPath, at: Span) -> Diagnostic {
    Diagnostic::new(
        Rule::Overlay,
        path.clone(),
        "`$remove` names an entry that the base does not define",
    )
    .with_span(at)
}
