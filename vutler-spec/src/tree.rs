//! The format-neutral document tree: what YAML and TOML spec files parse into before overlays.
//!
//! Both formats become the same [`Node`] tree, each node carrying the [`Span`] it was read from.
//! Overlays are merged on this tree, and the typed layer is deserialized from it; a type error
//! found there is mapped back to a node (and so to a file position) through its spec path.

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};

use crate::diagnostic::Diagnostic;
use crate::rule::Rule;
use crate::source::{CharOffsets, FileId, Span};

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
pub fn parse_yaml(file: FileId, text: &str) -> Result<Node, Diagnostic> {
    // The loader recurses once per level of nesting: too deep a document is refused first.
    let offsets = CharOffsets::new(text);
    if let Some(at) = yaml_too_deep(text) {
        let at = offsets.byte(at.index());
        return Err(nesting_error(Span {
            file,
            start: at,
            end: at,
        }));
    }
    let docs = MarkedYamlOwned::load_from_str(text)
        .map_err(|e| syntax_error(file, text, offsets.byte(e.marker().index()), e.info()))?;
    let whole = Span { file, start: 0, end: 0 };
    let mut docs = docs.into_iter();
    let Some(first) = docs.next() else {
        return Ok(Node {
            value: Value::Map(Vec::new()),
            span: whole,
        });
    };
    if let Some(second) = docs.next() {
        let at = span_of(file, &offsets, &second);
        return Err(Diagnostic::new(
            Rule::Syntax,
            crate::SpecPath::root(),
            "a spec file holds one YAML document; found a second one (`---`)",
        )
        .with_span(at));
    }
    let node = convert_yaml(file, &offsets, first)?;
    refuse_invisible(&node)?;
    match node.value {
        Value::Map(_) => Ok(node),
        // An empty file (or one with only comments) is an empty fragment.
        Value::Null => Ok(Node {
            value: Value::Map(Vec::new()),
            span: node.span,
        }),
        _ => Err(Diagnostic::new(
            Rule::Type,
            crate::SpecPath::root(),
            format!("the top level of a spec file must be a mapping, found {}", node.kind()),
        )
        .with_span(node.span)),
    }
}

/// Nesting deeper than any spec needs (the deepest is a handful of levels): refused before the
/// recursive steps (YAML's loader, the conversion, overlays, the typed layer) could overflow the
/// stack.
pub const MAX_DEPTH: usize = 64;

fn nesting_error(at: Span) -> Diagnostic {
    Diagnostic::new(
        Rule::Syntax,
        crate::SpecPath::root(),
        format!("values are nested more than {MAX_DEPTH} levels deep here; no spec needs that many"),
    )
    .with_span(at)
}

/// Where a YAML document first nests deeper than [`MAX_DEPTH`], read from the parser's events
/// (without building anything). A syntax error is left to the loader, which reports it.
fn yaml_too_deep(text: &str) -> Option<saphyr::Marker> {
    use saphyr_parser::{Event, Parser};
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(span.start);
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn span_of(file: FileId, offsets: &CharOffsets<'_>, node: &MarkedYamlOwned) -> Span {
    let start = offsets.byte(node.span.start.index());
    let end = offsets.byte(node.span.end.index()).max(start);
    Span { file, start, end }
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

fn convert_yaml(file: FileId, offsets: &CharOffsets<'_>, node: MarkedYamlOwned) -> Result<Node, Diagnostic> {
    let span = span_of(file, offsets, &node);
    let value = match node.data {
        YamlDataOwned::Value(scalar) => match scalar {
            ScalarOwned::Null => Value::Null,
            ScalarOwned::Boolean(b) => Value::Bool(b),
            ScalarOwned::Integer(i) => Value::Int(i),
            ScalarOwned::FloatingPoint(f) => finite(f.into_inner(), span)?,
            ScalarOwned::String(s) => Value::Str(s),
        },
        // Only produced when early parsing is off; the text is the value.
        YamlDataOwned::Representation(s, _, _) => Value::Str(s),
        YamlDataOwned::Sequence(items) => Value::Seq(
            items
                .into_iter()
                .map(|n| convert_yaml(file, offsets, n))
                .collect::<Result<_, _>>()?,
        ),
        YamlDataOwned::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key_span = span_of(file, offsets, &k);
                let key = match k.data {
                    YamlDataOwned::Value(ScalarOwned::String(s)) => s,
                    YamlDataOwned::Value(ScalarOwned::Integer(i)) => i.to_string(),
                    YamlDataOwned::Value(ScalarOwned::Boolean(b)) => b.to_string(),
                    _ => {
                        return Err(Diagnostic::new(
                            Rule::Type,
                            crate::SpecPath::root(),
                            "mapping keys must be plain strings",
                        )
                        .with_span(key_span));
                    }
                };
                entries.push(Entry {
                    key,
                    key_span,
                    node: convert_yaml(file, offsets, v)?,
                });
            }
            Value::Map(entries)
        }
        YamlDataOwned::Tagged(tag, _) => {
            return Err(Diagnostic::new(
                Rule::Syntax,
                crate::SpecPath::root(),
                format!("YAML tags (`!{}`) are not supported in spec files", tag.suffix),
            )
            .with_span(span));
        }
        YamlDataOwned::Alias(_) | YamlDataOwned::BadValue => {
            return Err(
                Diagnostic::new(Rule::Syntax, crate::SpecPath::root(), "this YAML value cannot be read")
                    .with_span(span),
            );
        }
    };
    Ok(Node { value, span })
}

/// Parses a TOML spec file.
pub fn parse_toml(file: FileId, text: &str) -> Result<Node, Diagnostic> {
    let doc = toml::de::DeTable::parse(text).map_err(|e| {
        let range = e.span().unwrap_or(0..0);
        Diagnostic::new(
            Rule::Syntax,
            crate::SpecPath::root(),
            format!("TOML syntax error: {}", e.message().trim_end()),
        )
        .with_span(Span {
            file,
            start: range.start,
            end: range.end,
        })
    })?;
    let span = Span {
        file,
        start: doc.span().start,
        end: doc.span().end,
    };
    let node = convert_table(file, doc.into_inner(), span)?;
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

fn convert_table(file: FileId, table: toml::de::DeTable<'_>, span: Span) -> Result<Node, Diagnostic> {
    let mut entries = Vec::with_capacity(table.len());
    for (k, v) in table {
        let key_span = Span {
            file,
            start: k.span().start,
            end: k.span().end,
        };
        entries.push(Entry {
            key: k.into_inner().into_owned(),
            key_span,
            node: convert_toml(file, v)?,
        });
    }
    Ok(Node {
        value: Value::Map(entries),
        span,
    })
}

fn convert_toml(file: FileId, value: toml::Spanned<toml::de::DeValue<'_>>) -> Result<Node, Diagnostic> {
    use toml::de::DeValue;
    let span = Span {
        file,
        start: value.span().start,
        end: value.span().end,
    };
    let value = match value.into_inner() {
        DeValue::String(s) => Value::Str(s.into_owned()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Value::Int(n),
            Err(_) => {
                return Err(
                    Diagnostic::new(Rule::Type, crate::SpecPath::root(), "integer out of range").with_span(span),
                );
            }
        },
        DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
            Ok(x) => finite(x, span)?,
            Err(_) => {
                return Err(Diagnostic::new(Rule::Type, crate::SpecPath::root(), "unreadable float").with_span(span));
            }
        },
        DeValue::Boolean(b) => Value::Bool(b),
        DeValue::Datetime(d) => Value::Str(d.to_string()),
        DeValue::Array(items) => Value::Seq(
            items
                .into_iter()
                .map(|v| convert_toml(file, v))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(t) => return convert_table(file, t, span),
    };
    Ok(Node { value, span })
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

    #[test]
    fn quoted_numbers_stay_strings() {
        let n = yaml("p: \"80\"\nq: 80\n");
        assert_eq!(n.get("p").and_then(Node::as_str), Some("80"));
        assert_eq!(n.get("q").map(|n| &n.value), Some(&Value::Int(80)));
    }
}
