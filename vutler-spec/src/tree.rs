//! The format-neutral document tree: what YAML and TOML spec files parse into before overlays.
//!
//! Both formats become the same [`Node`] tree, each node carrying the [`Span`] it was read from.
//! Overlays are merged on this tree, and the typed layer is deserialized from it; a type error
//! found there is mapped back to a node (and so to a file position) through its spec path.

use crate::diagnostic::Diagnostic;
use crate::rule::Rule;
use crate::source::{CharOffsets, FileId, Span};

mod toml_doc;

/// A value of a spec document with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value was written.
    pub span: Span,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// YAML `null`, `~` or an empty value. TOML has none.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence (YAML) or array (TOML).
    Seq(Vec<Node>),
    /// A mapping (YAML) or table (TOML), in source order.
    Map(Vec<Entry>),
}

/// One key of a mapping with its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key was written.
    pub key_span: Span,
    /// The value.
    pub node: Node,
}

/// One step of a spec path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

impl Node {
    /// The entry with this key, when the node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.node)
    }

    /// The full entry with this key (including the key's own span), when the node is a mapping.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The node at a path of keys and indices, when the whole path is there.
    pub fn at(&self, path: &[Segment]) -> Option<&Node> {
        path.iter().try_fold(self, |node, seg| match (seg, &node.value) {
            (Segment::Key(k), Value::Map(entries)) => entries.iter().find(|e| &e.key == k).map(|e| &e.node),
            (Segment::Index(i), Value::Seq(items)) => items.get(*i),
            _ => None,
        })
    }

    /// The node at a path of keys and indices, to change it.
    pub fn at_mut(&mut self, path: &[Segment]) -> Option<&mut Node> {
        path.iter().try_fold(self, |node, seg| match (seg, &mut node.value) {
            (Segment::Key(k), Value::Map(entries)) => entries.iter_mut().find(|e| &e.key == k).map(|e| &mut e.node),
            (Segment::Index(i), Value::Seq(items)) => items.get_mut(*i),
            _ => None,
        })
    }

    /// The string value, when the node is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Follows a path of keys and indices and returns the span of the deepest node reached, and
    /// whether the whole path was found. With `at_key`, a path ending on a mapping key gives the
    /// key's span instead of the value's (the anchor for an unknown key).
    pub fn locate(&self, path: &[Segment], at_key: bool) -> (Span, bool) {
        let mut node = self;
        let mut span = self.span;
        for (i, seg) in path.iter().enumerate() {
            let next = match (seg, &node.value) {
                (Segment::Key(k), Value::Map(entries)) => entries.iter().find(|e| &e.key == k).map(|e| {
                    // Point at the key when the path ends on it, at the value otherwise.
                    span = if at_key && i + 1 == path.len() {
                        e.key_span
                    } else {
                        e.node.span
                    };
                    &e.node
                }),
                (Segment::Index(n), Value::Seq(items)) => items.get(*n).inspect(|n| span = n.span),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (span, false),
            }
        }
        (span, true)
    }

    /// A short name of the value's type for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The tree as a JSON value, which serde then deserializes into the raw types.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(entries.iter().map(|e| (e.key.clone(), e.node.to_json())).collect()),
        }
    }
}

/// A YAML syntax error at byte `at`, said for the two an operator meets most: a tab (pointed
/// at, with the fix) and a key given twice in one mapping (named, with where it was first).
fn syntax_error(file: FileId, text: &str, at: usize, info: &str) -> Diagnostic {
    let point = |at: usize| Span {
        file,
        start: at,
        end: at,
    };
    let line_start = |at: usize| text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    if info.contains("tab") {
        // The parser stops at the line before the tab, or before it: point at the tab itself.
        let from = line_start(at);
        let tab = text[from..]
            .find('\t')
            .map(|i| from + i)
            .filter(|t| text[from..*t].matches('\n').count() <= 1);
        let at = tab.unwrap_or(at);
        let end = if tab.is_some() { at + 1 } else { at };
        return Diagnostic::new(
            Rule::Syntax,
            crate::SpecPath::root(),
            format!("YAML syntax error: {info}"),
        )
        .with_span(Span { file, start: at, end })
        .with_help("YAML does not allow tabs for indentation: indent with spaces");
    }
    if info.contains("duplicated key") {
        let start = line_start(at);
        let line = &text[start..];
        let indent = line.len() - line.trim_start().len();
        let key = line.trim_start().split(':').next().unwrap_or_default().trim();
        let key = key.trim_matches(['"', '\'']);
        // The first line of the same indentation with the same key, above it.
        let first = text[..start]
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .chain(std::iter::once(0))
            .filter(|s| {
                let l = &text[*s..];
                let l = l.split('\n').next().unwrap_or_default();
                l.len() - l.trim_start().len() == indent
                    && l.trim_start()
                        .split(':')
                        .next()
                        .map(|k| k.trim().trim_matches(['"', '\'']))
                        == Some(key)
            })
            .min();
        let mut d = Diagnostic::new(
            Rule::Syntax,
            crate::SpecPath::root(),
            format!("YAML syntax error: key `{key}` is given twice in one mapping"),
        )
        .with_span(Span {
            file,
            start: start + indent,
            end: start + indent + key.len(),
        })
        .with_help("keep one of them (an overlay changes a base value by giving the key once)");
        if let Some(first) = first.filter(|f| *f < start) {
            d = d.with_related(point(first + indent), "first given here");
        }
        return d;
    }
    Diagnostic::new(
        Rule::Syntax,
        crate::SpecPath::root(),
        format!("YAML syntax error: {info}"),
    )
    .with_span(point(at))
}

/// Parses a YAML spec file. The file must hold one document whose top level is a mapping.
///
/// The tree is built in one pass over the parser's events (no intermediate YAML tree, no second
/// pass), which also refuses too deep a nesting before anything recursive sees it. Errors are
/// reported in the order YAML's own loader would: syntax (and a key given twice) first, then a
/// second document, then the first value of the document that cannot be a spec value.
pub fn parse_yaml(file: FileId, text: &str) -> Result<Node, Diagnostic> {
    parse_yaml_in(file, text, text.len() >= PIPELINE_BYTES)
}

/// [`parse_yaml`], the file parsed on one thread and its tree built on another when `pipelined`
/// (and the machine has two cores).
fn parse_yaml_in(file: FileId, text: &str, pipelined: bool) -> Result<Node, Diagnostic> {
    let offsets = CharOffsets::new(text);
    let mut builder = YamlBuilder::new(file, &offsets);
    let mut build = |events: &mut dyn Iterator<Item = ParsedEvent<'_>>| {
        for event in events {
            let (event, span) =
                event.map_err(|e| syntax_error(file, text, offsets.byte(e.marker().index()), e.info()))?;
            builder.event(event, span)?;
        }
        Ok(())
    };
    let mut events = saphyr_parser::Parser::new_from_str(text);
    if pipelined {
        crate::parallel::pipe(events, 4096, build)?;
    } else {
        build(&mut events)?;
    }
    if let Some((at, info)) = builder.fatal {
        return Err(syntax_error(file, text, at, info));
    }
    let whole = Span { file, start: 0, end: 0 };
    let mut docs = builder.docs.into_iter();
    let Some(first) = docs.next() else {
        return Ok(Node {
            value: Value::Map(Vec::new()),
            span: whole,
        });
    };
    if let Some(second) = docs.next() {
        return Err(Diagnostic::new(
            Rule::Syntax,
            crate::SpecPath::root(),
            "a spec file holds one YAML document; found a second one (`---`)",
        )
        .with_span(second.span));
    }
    if let Some((_, invalid)) = builder.invalid {
        return Err(invalid);
    }
    refuse_invisible(&first)?;
    match first.value {
        Value::Map(_) => Ok(first),
        // An empty file (or one with only comments) is an empty fragment.
        Value::Null => Ok(Node {
            value: Value::Map(Vec::new()),
            span: first.span,
        }),
        _ => Err(Diagnostic::new(
            Rule::Type,
            crate::SpecPath::root(),
            format!("the top level of a spec file must be a mapping, found {}", first.kind()),
        )
        .with_span(first.span)),
    }
}

/// What the YAML parser yields.
type ParsedEvent<'t> = Result<(saphyr_parser::Event<'t>, saphyr_parser::Span), saphyr_parser::ScanError>;

/// Files of this size and larger are parsed on one thread and built into a tree on another (a
/// thread costs more than the parse of a smaller file).
const PIPELINE_BYTES: usize = 256 * 1024;

/// Nesting deeper than any spec needs (the deepest is a handful of levels): refused while
/// parsing, before the recursive steps (overlays, the typed layer) could overflow the stack.
pub const MAX_DEPTH: usize = 64;

fn nesting_error(at: Span) -> Diagnostic {
    Diagnostic::new(
        Rule::Syntax,
        crate::SpecPath::root(),
        format!("values are nested more than {MAX_DEPTH} levels deep here; no spec needs that many"),
    )
    .with_span(at)
}

/// How many nodes aliases may copy in one file, all aliases together: what YAML's loader allows,
/// so that a few nested anchors cannot expand into billions of nodes.
const ALIAS_NODE_BUDGET: usize = 100_000;

/// A mapping or sequence being read, with where it started.
#[derive(Debug)]
struct Open {
    start: usize,
    anchor: usize,
    /// A tag other than YAML's own (`!!map`), refused when the collection ends.
    tag: Option<String>,
    kind: OpenKind,
}

#[derive(Debug)]
enum OpenKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        /// The key read, waiting for its value, with its span; `None` for a key no spec has (a
        /// list, a float).
        key: Option<(Option<String>, Span)>,
        /// The keys given so far, once the mapping is large enough for a scan to cost.
        seen: Option<std::collections::HashSet<String>>,
    },
}

/// Builds [`Node`]s from the YAML parser's events.
#[derive(Debug)]
struct YamlBuilder<'a, 't> {
    file: FileId,
    offsets: &'a CharOffsets<'t>,
    open: Vec<Open>,
    /// The nesting depth, also counted once building stopped at a `fatal` error.
    depth: usize,
    docs: Vec<Node>,
    /// Whether the document being read has its node.
    has_root: bool,
    anchors: std::collections::HashMap<usize, Node>,
    alias_budget: usize,
    /// A key given twice or an alias over budget, at this byte: the loader's errors, after which
    /// the events are only read for syntax errors.
    fatal: Option<(usize, &'static str)>,
    /// The first value of the first document that is no spec value, by its start.
    invalid: Option<(usize, Diagnostic)>,
}

impl<'a, 't> YamlBuilder<'a, 't> {
    /// Mappings with more keys than this remember them in a set rather than scanning for a key
    /// given twice.
    const SCAN_KEYS: usize = 16;

    fn new(file: FileId, offsets: &'a CharOffsets<'t>) -> Self {
        Self {
            file,
            offsets,
            open: Vec::new(),
            depth: 0,
            docs: Vec::new(),
            has_root: false,
            anchors: std::collections::HashMap::new(),
            alias_budget: ALIAS_NODE_BUDGET,
            fatal: None,
            invalid: None,
        }
    }

    fn span(&self, span: saphyr_parser::Span) -> Span {
        let start = self.offsets.byte(span.start.index());
        let end = self.offsets.byte(span.end.index()).max(start);
        Span {
            file: self.file,
            start,
            end,
        }
    }

    /// Keeps the first value (by position) of the first document that no spec holds; a null
    /// stands in for it so that reading goes on to find syntax errors.
    fn refuse(&mut self, d: Diagnostic) -> Node {
        let span = d.span.unwrap_or(Span {
            file: self.file,
            start: 0,
            end: 0,
        });
        if self.docs.is_empty() && self.invalid.as_ref().is_none_or(|(at, _)| span.start < *at) {
            self.invalid = Some((span.start, d));
        }
        Node {
            value: Value::Null,
            span,
        }
    }

    fn unreadable(&mut self, span: Span) -> Node {
        self.refuse(unreadable(span))
    }

    fn event(&mut self, event: saphyr_parser::Event<'_>, span: saphyr_parser::Span) -> Result<(), Diagnostic> {
        use saphyr_parser::Event;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    let at = self.offsets.byte(span.start.index());
                    return Err(nesting_error(Span {
                        file: self.file,
                        start: at,
                        end: at,
                    }));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        if self.fatal.is_some() {
            return Ok(());
        }
        let is_seq = matches!(event, Event::SequenceStart(..));
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_) => self.has_root = false,
            Event::DocumentEnd => {
                if !self.has_root {
                    // A document without a node.
                    let node = self.unreadable(self.span(span));
                    self.docs.push(node);
                }
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                let kind = if is_seq {
                    OpenKind::Seq(Vec::new())
                } else {
                    OpenKind::Map {
                        entries: Vec::new(),
                        key: None,
                        seen: None,
                    }
                };
                let tag = tag.filter(|t| !t.is_yaml_core_schema()).map(|t| t.suffix.clone());
                self.open.push(Open {
                    start: self.offsets.byte(span.start.index()),
                    anchor,
                    tag,
                    kind,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.open.pop() else {
                    return Ok(());
                };
                let end = self.offsets.byte(span.start.index()).max(open.start);
                let span = Span {
                    file: self.file,
                    start: open.start,
                    end,
                };
                // The tree lives until the stack is resolved: its lists keep no room to grow
                // (a quarter of a large spec's tree was that room).
                let node = match (open.tag, open.kind) {
                    (Some(tag), _) => self.refuse(tagged(&tag, span)),
                    (None, OpenKind::Seq(mut items)) => Node {
                        value: Value::Seq({
                            items.shrink_to_fit();
                            items
                        }),
                        span,
                    },
                    (None, OpenKind::Map { mut entries, .. }) => Node {
                        value: Value::Map({
                            entries.shrink_to_fit();
                            entries
                        }),
                        span,
                    },
                };
                self.insert(node, open.anchor);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let span = self.span(span);
                let value = match saphyr::Yaml::value_from_cow_and_metadata(text, style, tag.as_ref()) {
                    saphyr::Yaml::Value(scalar) => match scalar {
                        saphyr::Scalar::Null => Ok(Value::Null),
                        saphyr::Scalar::Boolean(b) => Ok(Value::Bool(b)),
                        saphyr::Scalar::Integer(i) => Ok(Value::Int(i)),
                        saphyr::Scalar::FloatingPoint(f) => finite(f.into_inner(), span),
                        saphyr::Scalar::String(s) => {
                            // The scanner's string has room to grow, which a spec value never uses.
                            let mut s = s.into_owned();
                            s.shrink_to_fit();
                            Ok(Value::Str(s))
                        }
                    },
                    saphyr::Yaml::Tagged(tag, _) => Err(tagged(&tag.suffix, span)),
                    _ => Err(unreadable(span)),
                };
                let node = match value {
                    Ok(value) => Node { value, span },
                    Err(d) => self.refuse(d),
                };
                self.insert(node, anchor);
            }
            Event::Alias(id) => {
                let span = self.span(span);
                let node = match self.anchors.get(&id) {
                    None => self.unreadable(span),
                    Some(anchored) => {
                        let size = node_count(anchored, self.alias_budget.saturating_add(1));
                        if size > self.alias_budget {
                            self.fatal = Some((
                                span.start,
                                "alias expansion exceeded the maximum node budget (possible billion-laughs attack)",
                            ));
                            return Ok(());
                        }
                        self.alias_budget -= size;
                        Node {
                            value: anchored.value.clone(),
                            span,
                        }
                    }
                };
                self.insert(node, 0);
            }
        }
        Ok(())
    }

    /// Adds a finished node to what is open, or makes it the document's root.
    fn insert(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(parent) = self.open.last_mut() else {
            self.docs.push(node);
            self.has_root = true;
            return;
        };
        match &mut parent.kind {
            OpenKind::Seq(items) => items.push(node),
            OpenKind::Map { entries, key, seen } => match key.take() {
                None => {
                    let name = match &node.value {
                        Value::Str(s) => Some(s.clone()),
                        Value::Int(i) => Some(i.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        _ => None,
                    };
                    *key = Some((name, node.span));
                }
                Some((Some(name), key_span)) => {
                    // `1` and `"1"` are one key of the JSON the typed layer reads.
                    let twice = match seen {
                        Some(seen) => !seen.insert(name.clone()),
                        None => entries.iter().any(|e| e.key == name),
                    };
                    if twice {
                        self.fatal = Some((key_span.start, "duplicated key in mapping"));
                        return;
                    }
                    if seen.is_none() && entries.len() >= Self::SCAN_KEYS {
                        let mut set: std::collections::HashSet<String> =
                            entries.iter().map(|e| e.key.clone()).collect();
                        set.insert(name.clone());
                        *seen = Some(set);
                    }
                    entries.push(Entry {
                        key: name,
                        key_span,
                        node,
                    });
                }
                Some((None, key_span)) => {
                    self.refuse(
                        Diagnostic::new(
                            Rule::Type,
                            crate::SpecPath::root(),
                            "mapping keys must be plain strings",
                        )
                        .with_span(key_span),
                    );
                }
            },
        }
    }
}

/// The error for a YAML value that no spec value can be (an unknown alias, `!!int x`).
fn unreadable(span: Span) -> Diagnostic {
    Diagnostic::new(Rule::Syntax, crate::SpecPath::root(), "this YAML value cannot be read").with_span(span)
}

/// The error for a YAML tag (`!name`) on a value.
fn tagged(suffix: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Rule::Syntax,
        crate::SpecPath::root(),
        format!("YAML tags (`!{suffix}`) are not supported in spec files"),
    )
    .with_span(span)
}

/// The nodes of a tree, counted up to `limit`.
fn node_count(node: &Node, limit: usize) -> usize {
    let mut count = 0;
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        count += 1;
        if count >= limit {
            break;
        }
        match &n.value {
            Value::Seq(items) => stack.extend(items),
            Value::Map(entries) => stack.extend(entries.iter().map(|e| &e.node)),
            _ => {}
        }
    }
    count
}

/// A float value, refused when it is infinite or NaN (`.inf`, `nan`): no spec value is, and
/// serde would read it as null ("invalid type: null").
fn finite(x: f64, span: Span) -> Result<Value, Diagnostic> {
    if x.is_finite() {
        return Ok(Value::Float(x));
    }
    let what = if x.is_nan() { "NaN" } else { "infinite" };
    Err(Diagnostic::new(
        Rule::Type,
        crate::SpecPath::root(),
        format!("the number is {what}, which no spec value is"),
    )
    .with_span(span)
    .with_help("write a finite number like 0.5 or 2, or quote the value if text is meant"))
}

/// Parses a TOML spec file.
pub fn parse_toml(file: FileId, text: &str) -> Result<Node, Diagnostic> {
    let node = toml_doc::parse(file, text)?;
    refuse_invisible(&node)?;
    Ok(node)
}

/// Characters no spec text needs and that break or disguise what is rendered: line and
/// paragraph separators (YAML readers and Compose take them for line breaks, promtool refuses
/// them), bidirectional controls and zero-width characters (a script or config then reads
/// differently from what it shows).
fn invisible(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{0085}' => "NEXT LINE, which YAML readers take for a line break",
        '\u{2028}' => "LINE SEPARATOR, which YAML readers take for a line break",
        '\u{2029}' => "PARAGRAPH SEPARATOR, which YAML readers take for a line break",
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
            "a bidirectional control, which makes text display differently from what it says"
        }
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => {
            "a zero-width character, which hides in what it is part of"
        }
        _ => return None,
    })
}

/// Refuses the first key or string holding an [`invisible`] character.
fn refuse_invisible(root: &Node) -> Result<(), Diagnostic> {
    use crate::SpecPath;
    let found = |text: &str| text.chars().find_map(|c| invisible(c).map(|why| (c, why)));
    let refuse = |(c, why): (char, &str), path: SpecPath, span: Span| {
        Diagnostic::new(
            Rule::Grammar,
            path,
            format!("U+{:04X} ({why}) is not allowed in spec text", u32::from(c)),
        )
        .with_span(span)
        .with_help("remove it, or write the text without it")
    };
    // Most spec text is ASCII, which holds none of them: the spec paths are only built when
    // a file has one.
    let has = |text: &str| !text.is_ascii() && found(text).is_some();
    let mut nodes = vec![root];
    let mut any = false;
    while let Some(node) = nodes.pop() {
        match &node.value {
            Value::Str(text) => any |= has(text),
            Value::Seq(items) => nodes.extend(items),
            Value::Map(entries) => {
                for entry in entries {
                    any |= has(&entry.key);
                    nodes.push(&entry.node);
                }
            }
            _ => {}
        }
        if any {
            break;
        }
    }
    if !any {
        return Ok(());
    }
    let mut stack = vec![(root, SpecPath::root())];
    while let Some((node, path)) = stack.pop() {
        match &node.value {
            Value::Str(text) => {
                if let Some(hit) = found(text) {
                    return Err(refuse(hit, path, node.span));
                }
            }
            Value::Seq(items) => stack.extend(items.iter().enumerate().rev().map(|(i, n)| (n, path.index(i)))),
            Value::Map(entries) => {
                for entry in entries.iter().rev() {
                    let at = path.key(&entry.key);
                    if let Some(hit) = found(&entry.key) {
                        return Err(refuse(hit, at, entry.key_span));
                    }
                    stack.push((&entry.node, at));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Sources;

    fn yaml(text: &str) -> Node {
        let mut s = Sources::new();
        let f = s.add("t.yaml", text);
        parse_yaml(f, text).unwrap_or_else(|d| panic!("{}", d.message))
    }

    /// A large file gives the same tree, or the same first problem, parsed on two threads as on
    /// one: a syntax error, a key given twice, nesting too deep, an alias over budget, a value
    /// no spec holds, a second document, each at the end of 300 KiB of valid entries.
    #[test]
    fn a_file_parsed_on_two_threads_gives_what_one_thread_does() {
        let mut body = String::new();
        for i in 0..6_000 {
            body.push_str(&format!("  svc-{i}:\n    image: example/app:{i}\n    ports: [{i}]\n"));
        }
        let deep = format!("{}{}\n", "[".repeat(MAX_DEPTH + 6), "]".repeat(MAX_DEPTH + 6));
        let bomb = (1..12).fold("  b0: &b0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned(), |mut t, i| {
            t.push_str(&format!(
                "  b{i}: &b{i} [{}]\n",
                vec![format!("*b{}", i - 1); 10].join(", ")
            ));
            t
        });
        let endings = [
            (String::new(), "Ok"),
            ("  bad: [unclosed\n".to_owned(), "YAML syntax error"),
            ("  svc-7: again\n".to_owned(), "is given twice"),
            (format!("  deep: {deep}"), "nested more than"),
            (bomb, "YAML syntax error"),
            ("  tagged: !custom value\n".to_owned(), "tag"),
            ("---\nsecond: document\n".to_owned(), "a second one"),
        ];
        for (ending, expected) in endings {
            let text = format!("services:\n{body}{ending}");
            assert!(text.len() >= PIPELINE_BYTES);
            let mut s = Sources::new();
            let f = s.add("t.yaml", &text);
            let one = format!("{:?}", parse_yaml_in(f, &text, false));
            let two = format!("{:?}", parse_yaml_in(f, &text, true));
            assert!(
                one == two,
                "ending {ending:?}: {}",
                &one[one.len().saturating_sub(400)..]
            );
            let outcome = match parse_yaml_in(f, &text, true) {
                Ok(_) => "Ok".to_owned(),
                Err(d) => d.message,
            };
            assert!(outcome.contains(expected), "ending {ending:?}: {outcome}");
        }
    }

    #[test]
    fn yaml_and_toml_give_the_same_tree() {
        let y = yaml("a:\n  b: [1, 2.5, \"x\", true]\n  c: {d: e}\n");
        let t = "[a]\nb = [1, 2.5, \"x\", true]\nc = { d = \"e\" }\n";
        let mut s = Sources::new();
        let f = s.add("t.toml", t);
        let t = parse_toml(f, t).unwrap_or_else(|d| panic!("{}", d.message));
        assert_eq!(y.to_json(), t.to_json());
    }

    #[test]
    fn infinite_and_nan_numbers_are_refused_in_both_formats() {
        let mut s = Sources::new();
        for text in ["a: .inf\n", "a: -.Inf\n", "a: .nan\n"] {
            let f = s.add("t.yaml", text);
            let e = parse_yaml(f, text).err().map(|d| d.message);
            assert!(
                e.as_deref().is_some_and(|m| m.contains("which no spec value is")),
                "{text}: {e:?}"
            );
        }
        for text in ["a = inf\n", "a = -inf\n", "a = nan\n"] {
            let f = s.add("t.toml", text);
            let e = parse_toml(f, text).err().map(|d| d.message);
            assert!(
                e.as_deref().is_some_and(|m| m.contains("which no spec value is")),
                "{text}: {e:?}"
            );
        }
        assert!(parse_yaml(s.add("t.yaml", "a: \".inf\"\n"), "a: \".inf\"\n").is_ok());
    }

    #[test]
    fn locate_points_at_keys_and_items() {
        let text = "a:\n  b:\n    - x\n    - y\n";
        let n = yaml(text);
        let (span, found) = n.locate(
            &[Segment::Key("a".into()), Segment::Key("b".into()), Segment::Index(1)],
            false,
        );
        assert!(found);
        assert_eq!(&text[span.start..span.start + 1], "y");
        let (span, found) = n.locate(&[Segment::Key("a".into()), Segment::Key("zz".into())], true);
        assert!(!found);
        assert_eq!(&text[span.start..span.start + 2], "b:");
    }

    fn yaml_error(text: &str) -> String {
        let mut s = Sources::new();
        let f = s.add("t.yaml", text);
        match parse_yaml(f, text) {
            Ok(n) => panic!("{text}: parsed as {:?}", n.to_json()),
            Err(d) => format!("{} @{}", d.message, d.span.map_or(0, |s| s.start)),
        }
    }

    #[test]
    fn aliases_copy_their_anchor_at_the_alias() {
        let text = "a: &x {b: [1, 2]}\nc: *x\n";
        let n = yaml(text);
        assert_eq!(n.get("c").map(Node::to_json), n.get("a").map(Node::to_json));
        let c = n.get("c").map(|c| c.span.start);
        assert_eq!(c, text.find("*x"));
        // Ten aliases of ten aliases of ...: refused before it expands.
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            bomb.push_str(&format!("a{i}: &a{i} [{}]\n", [prev.as_str(); 10].join(", ")));
        }
        assert!(
            yaml_error(&bomb).contains("maximum node budget"),
            "{}",
            yaml_error(&bomb)
        );
    }

    #[test]
    fn keys_given_twice_are_found_in_mappings_of_any_size() {
        assert!(yaml_error("a: 1\nb: 2\na: 3\n").starts_with("YAML syntax error: key `a` is given twice"));
        let many: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
        let e = yaml_error(&format!("{many}k42: again\n"));
        assert!(e.starts_with("YAML syntax error: key `k42` is given twice"), "{e}");
        // One key of the JSON the typed layer reads.
        assert!(yaml_error("1: a\n\"1\": b\n").contains("given twice"));
        assert!(yaml("a: {x: 1}\nb: {x: 2}\n").get("b").is_some());
    }

    #[test]
    fn what_no_spec_holds_is_refused_at_its_place() {
        assert_eq!(
            yaml_error("a: 1\nb: !thing 2\n"),
            "YAML tags (`!thing`) are not supported in spec files @8"
        );
        assert_eq!(
            yaml_error("a: !seq [1]\n"),
            "YAML tags (`!seq`) are not supported in spec files @3"
        );
        assert_eq!(yaml_error("? [a]\n: 1\n"), "mapping keys must be plain strings @2");
        assert_eq!(yaml_error("a: !!int x\n"), "this YAML value cannot be read @3");
        // The first in the file, whatever its kind.
        assert!(yaml_error("a: .nan\nb: !t 1\n").starts_with("the number is NaN"));
        // A syntax error anywhere comes first.
        assert!(yaml_error("a: !t 1\nb: {\n").starts_with("YAML syntax error"));
        assert!(yaml_error("a: 1\n---\nb: 2\n").starts_with("a spec file holds one YAML document"));
        assert!(yaml_error("- 1\n").starts_with("the top level of a spec file must be a mapping"));
        assert_eq!(yaml("").to_json(), serde_json::json!({}));
        assert_eq!(yaml("# only a comment\n").to_json(), serde_json::json!({}));
        assert!(yaml("a: !!str 1\n").get("a").and_then(Node::as_str) == Some("1"));
    }

    #[test]
    fn nesting_deeper_than_any_spec_is_refused_while_parsing() {
        let deep = format!("a: {}{}\n", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(yaml_error(&deep).contains("nested more than"), "{}", yaml_error(&deep));
        let ok = format!("a: {}{}\n", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(yaml(&ok).get("a").is_some());
        // Far deeper than a recursive parser's stack allows, as blocks and in flow (where the
        // scanner's own limit stops it).
        let blocks: String = (0..10_000).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert!(
            yaml_error(&blocks).contains("nested more than"),
            "{}",
            yaml_error(&blocks)
        );
        let flow = "[".repeat(1_000_000);
        assert!(
            yaml_error(&flow).starts_with("YAML syntax error"),
            "{}",
            yaml_error(&flow)
        );
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let n = yaml("p: \"80\"\nq: 80\n");
        assert_eq!(n.get("p").and_then(Node::as_str), Some("80"));
        assert_eq!(n.get("q").map(|n| &n.value), Some(&Value::Int(80)));
    }
}
