//! A TOML file read into a [`Node`] tree: toml_parser's lexer and event parser for the syntax,
//! the document's meaning (tables, dotted keys, arrays of tables, inline tables) built here,
//! straight into the tree.
//!
//! The toml crate's `DeTable` holds every token of a file, then every event, then its own table
//! tree, all at once: 150 MB for a 7 MB file of 10,000 services, which the spec tree is then
//! copied out of. Here the tokens are lexed and parsed a piece at a time, each piece ending
//! before a table header that starts a line outside any bracket (the parser is between two
//! expressions there, as at the start of a file), and each piece's events are built into the
//! tables before the next is lexed. A table's entries are the tree's own from the start; beside
//! them it keeps what each entry is while the file is read, and past a few keys an index by key,
//! so that a header or key finds its table without a scan.
//!
//! The rules are TOML 1.1's, as the toml crate applies them, with the same messages and spans:
//! a table is defined once, by a header or by dotted keys but not both, an inline table is
//! closed, and `[[name]]` appends to an array of tables only. Where toml moves a table that a
//! header defines after a header inside it (`[a.b]`, then `[a]`) to the end of its parent, the
//! table stays where it first appeared.

use std::hash::BuildHasher;

use toml_parser::decoder::ScalarKind;
use toml_parser::lexer::{Token, TokenKind};
use toml_parser::parser::{Event, EventKind, RecursionGuard, ValidateWhitespace};
use toml_parser::{Expected, ParseError, Source};

use super::{Entry, Node, Value, finite};
use crate::diagnostic::Diagnostic;
use crate::rule::Rule;
use crate::source::{FileId, Span};

/// Tokens parsed in one piece, at the least (a piece ends only before a table header).
const PIECE_TOKENS: usize = 1 << 12;

/// How deep arrays and inline tables nest, and how many keys a dotted key has, at the most:
/// toml's own limit.
const MAX_DEPTH: u32 = 80;

/// Parses a TOML file.
pub(super) fn parse(file: FileId, text: &str) -> Result<Node, Diagnostic> {
    parse_in(file, text, PIECE_TOKENS).map(|(node, _)| node)
}

/// [`parse`] with pieces of at least `piece` tokens; also says how many pieces there were.
fn parse_in(file: FileId, text: &str, piece: usize) -> Result<(Node, usize), Diagnostic> {
    let source = Source::new(text);
    let mut doc = Document {
        file,
        source,
        root: Table::new(Kind::Defined, toml_parser::Span::new_unchecked(0, 0), file),
        current: Vec::new(),
        refused: None,
    };
    let mut tokens: Vec<Token> = Vec::with_capacity(piece.saturating_mul(2).min(text.len() / 4 + 1));
    let mut events: Vec<Event> = Vec::new();
    let mut depth = 0_i64;
    let mut lexer = source.lex();
    let mut pieces = 0;
    loop {
        let next = lexer.next();
        let ends_piece = match next {
            None => true,
            Some(t) => {
                tokens.len() >= piece
                    && depth == 0
                    && t.kind() == TokenKind::LeftSquareBracket
                    && tokens.last().is_some_and(|p| p.kind() == TokenKind::Newline)
            }
        };
        if ends_piece {
            doc.piece(&tokens, &mut events).map_err(|p| p.diagnostic(file))?;
            tokens.clear();
            pieces += 1;
        }
        let Some(token) = next else { break };
        match token.kind() {
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => depth -= 1,
            _ => {}
        }
        tokens.push(token);
    }
    // toml places the file's own table at 0..0 too.
    Ok((doc.root.into_node(0, 0), pieces))
}

/// A problem of the file: toml's message after "TOML syntax error: ", at the place toml names.
fn syntax_error(file: FileId, e: &ParseError) -> Diagnostic {
    let mut message = format!("TOML syntax error: {}", e.description());
    if let Some(expected) = e.expected() {
        message.push_str(", expected ");
        if expected.is_empty() {
            message.push_str("nothing");
        }
        for (i, what) in expected.iter().enumerate() {
            if i > 0 {
                message.push_str(", ");
            }
            match what {
                Expected::Literal("\n") => message.push_str("newline"),
                Expected::Literal("`") => message.push_str("'`'"),
                Expected::Literal(s) if s.chars().all(|c| c.is_ascii_control()) => {
                    message.push_str(&format!("`{}`", s.escape_debug()));
                }
                Expected::Literal(s) => message.push_str(&format!("`{s}`")),
                Expected::Description(s) => message.push_str(s),
                _ => message.push_str("etc"),
            }
        }
    }
    let range = e.unexpected().map_or(0..0, |s| s.start()..s.end());
    Diagnostic::new(Rule::Syntax, crate::SpecPath::root(), message.trim_end().to_owned()).with_span(Span {
        file,
        start: range.start,
        end: range.end,
    })
}

/// A value that is no longer a table keys can be added to, with what toml calls its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Made by a header's path (`a` of `[a.b]`): a header may still define it.
    Implicit,
    /// Made or extended by dotted keys: only more dotted keys of the same table extend it.
    Dotted,
    /// Defined by a header (or the file itself): only headers below it extend it.
    Defined,
}

/// What a closed value is, in toml's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    String,
    Integer,
    Float,
    Boolean,
    Datetime,
    Array,
    InlineTable,
}

impl Ty {
    /// The name toml's messages use; an inline table is a "table" inside another inline table.
    fn name(self, inline: bool) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Integer => "integer",
            Ty::Float => "float",
            Ty::Boolean => "boolean",
            Ty::Datetime => "datetime",
            Ty::Array => "array",
            Ty::InlineTable if inline => "table",
            Ty::InlineTable => "inline table",
        }
    }
}

type TomlSpan = toml_parser::Span;

/// A table while the file is read: its entries already as the tree holds them (the node of a
/// table, or of an array of tables, is filled in when the file is read), and beside them what
/// each entry is meanwhile.
struct Table {
    file: FileId,
    entries: Vec<Entry>,
    slots: Vec<Slot>,
    /// The entries' places by key, once there are more than [`SCAN_ENTRIES`].
    index: Option<Box<Index>>,
    kind: Kind,
    /// The header (`[a.b]`), or the key that made the table.
    span: TomlSpan,
}

/// A table's entries up to this many are found by comparing keys.
const SCAN_ENTRIES: usize = 8;

struct Index {
    places: hashbrown::HashTable<usize>,
    hasher: foldhash::fast::RandomState,
}

enum Slot {
    Table(Box<Table>),
    /// `[[name]]`: the first header, then each table.
    Tables(Box<(TomlSpan, Vec<Table>)>),
    /// Anything written after `=` (the value is the entry's node): closed.
    Closed(Ty, TomlSpan),
}

impl Table {
    fn new(kind: Kind, span: TomlSpan, file: FileId) -> Self {
        Self {
            file,
            entries: Vec::new(),
            slots: Vec::new(),
            index: None,
            kind,
            span,
        }
    }

    /// The place of the entry of `name`.
    fn find(&self, name: &str) -> Option<usize> {
        match &self.index {
            Some(index) => {
                let hash = index.hasher.hash_one(name);
                index.places.find(hash, |&i| self.entries[i].key == name).copied()
            }
            None => self.entries.iter().position(|e| e.key == name),
        }
    }

    /// Adds an entry (of a key the table does not have) and gives its place.
    fn push(&mut self, key: String, key_span: TomlSpan, node: Node, slot: Slot) -> usize {
        let place = self.entries.len();
        self.entries.push(Entry {
            key,
            key_span: span_in(self.file, key_span),
            node,
        });
        self.slots.push(slot);
        let entries = &self.entries;
        match &mut self.index {
            Some(index) => {
                let hash = index.hasher.hash_one(&entries[place].key);
                let hasher = &index.hasher;
                index
                    .places
                    .insert_unique(hash, place, |&i| hasher.hash_one(&entries[i].key));
            }
            None if entries.len() > SCAN_ENTRIES => {
                let hasher = foldhash::fast::RandomState::default();
                let mut places = hashbrown::HashTable::with_capacity(entries.len() * 2);
                for (i, e) in entries.iter().enumerate() {
                    places.insert_unique(hasher.hash_one(&e.key), i, |&j| hasher.hash_one(&entries[j].key));
                }
                self.index = Some(Box::new(Index { places, hasher }));
            }
            None => {}
        }
        place
    }

    /// Adds a table or an array of tables, its node filled in when the file is read.
    fn push_open(&mut self, key: String, key_span: TomlSpan, slot: Slot) -> usize {
        let node = Node {
            value: Value::Null,
            span: span_in(self.file, key_span),
        };
        self.push(key, key_span, node, slot)
    }

    fn key_span(&self, place: usize) -> TomlSpan {
        let s = self.entries[place].key_span;
        TomlSpan::new_unchecked(s.start, s.end)
    }

    /// Gives back the room the table and the tables below it grew into.
    fn shrink(&mut self) {
        self.entries.shrink_to_fit();
        self.slots.shrink_to_fit();
        for slot in &mut self.slots {
            match slot {
                Slot::Table(t) => t.shrink(),
                Slot::Tables(tables) => tables.1.iter_mut().for_each(Table::shrink),
                Slot::Closed(..) => {}
            }
        }
    }

    fn into_node(mut self, start: usize, end: usize) -> Node {
        let file = self.file;
        for (entry, slot) in self.entries.iter_mut().zip(self.slots) {
            match slot {
                Slot::Table(t) => {
                    let (s, e) = (t.span.start(), t.span.end());
                    entry.node = t.into_node(s, e);
                }
                Slot::Tables(tables) => {
                    let (span, tables) = *tables;
                    entry.node = Node {
                        value: Value::Seq(
                            tables
                                .into_iter()
                                .map(|t| {
                                    let (s, e) = (t.span.start(), t.span.end());
                                    t.into_node(s, e)
                                })
                                .collect(),
                        ),
                        span: span_in(file, span),
                    };
                }
                Slot::Closed(..) => {}
            }
        }
        // A table grown key by key has room for up to as many again, which the tree would keep.
        self.entries.shrink_to_fit();
        Node {
            value: Value::Map(self.entries),
            span: Span { file, start, end },
        }
    }
}

fn span_in(file: FileId, s: TomlSpan) -> Span {
    Span {
        file,
        start: s.start(),
        end: s.end(),
    }
}

/// A problem found while building: toml's error, or one of a value (a number out of range)
/// already in this crate's words.
enum Problem {
    Toml(ParseError),
    Spec(Box<Diagnostic>),
}

impl Problem {
    fn diagnostic(self, file: FileId) -> Diagnostic {
        match self {
            Problem::Toml(e) => syntax_error(file, &e),
            Problem::Spec(d) => *d,
        }
    }
}

impl From<ParseError> for Problem {
    fn from(e: ParseError) -> Self {
        Problem::Toml(e)
    }
}

fn duplicate(key: TomlSpan, old: Option<TomlSpan>) -> Problem {
    let e = ParseError::new("duplicate key").with_unexpected(key);
    Problem::Toml(match old {
        Some(old) => e.with_context(old),
        None => e,
    })
}

fn cannot_extend(ty: &str, key: TomlSpan, old: Option<TomlSpan>) -> Problem {
    let e = ParseError::new(format!("cannot extend value of type {ty} with a dotted key")).with_unexpected(key);
    Problem::Toml(match old {
        Some(old) => e.with_context(old),
        None => e,
    })
}

/// A key as written: its text and where.
type Key = (String, TomlSpan);

struct Document<'s> {
    file: FileId,
    source: Source<'s>,
    root: Table,
    /// Where the table of the last header is, which the key/value lines below it fill: the
    /// place of each of its keys in its parent (an array of tables stands for its last table).
    current: Vec<usize>,
    /// The first number no spec holds (out of range, infinite): refused once the piece is
    /// built, after toml's own problems, as toml and then this crate found them before.
    refused: Option<Box<Diagnostic>>,
}

impl Document<'_> {
    /// Parses a piece of whole lines and builds what it says into the tables.
    fn piece(&mut self, tokens: &[Token], events: &mut Vec<Event>) -> Result<(), Problem> {
        events.clear();
        let mut first: Option<ParseError> = None;
        {
            let mut checked = ValidateWhitespace::new(events, self.source);
            let mut guarded = RecursionGuard::new(&mut checked, MAX_DEPTH);
            toml_parser::parser::parse_document(tokens, &mut guarded, &mut first);
        }
        if let Some(e) = first {
            return Err(e.into());
        }
        let mut input = Events { list: events, at: 0 };
        while let Some(event) = input.next() {
            match event.kind() {
                EventKind::StdTableOpen | EventKind::ArrayTableOpen => self.header(event, &mut input)?,
                EventKind::SimpleKey => {
                    let (path, key) = self.key(event, &mut input)?;
                    let value = self.value_after_key(&mut input)?;
                    self.key_value(path, key, value)?;
                }
                _ => {}
            }
        }
        match self.refused.take() {
            Some(d) => Err(Problem::Spec(d)),
            None => Ok(()),
        }
    }

    /// `[a.b]` or `[[a.b]]`.
    fn header(&mut self, open: Event, input: &mut Events<'_>) -> Result<(), Problem> {
        let is_array = open.kind() == EventKind::ArrayTableOpen;
        let mut keys = Vec::new();
        let mut span = open.span();
        while let Some(event) = input.next() {
            match event.kind() {
                EventKind::StdTableClose | EventKind::ArrayTableClose => {
                    span = span.append(event.span());
                    break;
                }
                EventKind::SimpleKey => {
                    let (path, key) = self.key(event, input)?;
                    keys = path;
                    keys.push(key);
                }
                _ => {}
            }
        }
        let Some((name, key_span)) = keys.pop() else {
            return Err(ParseError::new("a table header without a key")
                .with_unexpected(span)
                .into());
        };
        // The last header's table is most likely whole: the room its entries grew into is
        // given back (it grows again if a later header reopens it).
        self.current_table()?.shrink();
        self.current.clear();
        let file = self.file;
        let parent = descend(&mut self.root, keys, false, Some(&mut self.current))?;
        let Some(i) = parent.find(&name) else {
            let table = Table::new(Kind::Defined, span, file);
            let slot = if is_array {
                Slot::Tables(Box::new((span, vec![table])))
            } else {
                Slot::Table(Box::new(table))
            };
            self.current.push(parent.push_open(name, key_span, slot));
            return Ok(());
        };
        let old_key = parent.key_span(i);
        match &mut parent.slots[i] {
            Slot::Tables(tables) if is_array => tables.1.push(Table::new(Kind::Defined, span, file)),
            Slot::Table(t) if !is_array && t.kind == Kind::Implicit => {
                t.kind = Kind::Defined;
                t.span = span;
                parent.entries[i].key_span = span_in(file, key_span);
            }
            Slot::Tables(tables) if is_array => return Err(duplicate(key_span, Some(tables.0))),
            Slot::Closed(_, old) if is_array => return Err(duplicate(key_span, Some(*old))),
            Slot::Table(t) if is_array => return Err(duplicate(key_span, Some(t.span))),
            _ => return Err(duplicate(key_span, Some(old_key))),
        }
        self.current.push(i);
        Ok(())
    }

    /// `key = value` below the last header (or at the top of the file).
    fn key_value(&mut self, path: Vec<Key>, key: Key, value: (Node, Ty, TomlSpan)) -> Result<(), Problem> {
        let table = self.current_table()?;
        let dotted = !path.is_empty();
        let parent = descend(table, path, true, None)?;
        if dotted && parent.kind == Kind::Defined {
            return Err(duplicate(key.1, None));
        }
        insert(parent, key, value)
    }

    /// The table of the last header.
    fn current_table(&mut self) -> Result<&mut Table, Problem> {
        let mut table = &mut self.root;
        for &i in &self.current {
            table = match table.slots.get_mut(i) {
                Some(Slot::Table(t)) => t,
                Some(Slot::Tables(tables)) => match tables.1.last_mut() {
                    Some(t) => t,
                    None => return Err(ParseError::new("an array of tables without a table").into()),
                },
                _ => return Err(ParseError::new("the table of a header went missing").into()),
            };
        }
        Ok(table)
    }

    /// A key, dotted or not, from its first simple key: the keys before the last, and the last.
    fn key(&self, first: Event, input: &mut Events<'_>) -> Result<(Vec<Key>, Key), Problem> {
        let mut keys = vec![self.decode_key(first)?];
        loop {
            let next = input.peek_past_whitespace();
            if next.map(|e| e.kind()) != Some(EventKind::KeySep) {
                break;
            }
            input.skip_whitespace();
            input.next();
            input.skip_whitespace();
            match input.next() {
                Some(e) if e.kind() == EventKind::SimpleKey => keys.push(self.decode_key(e)?),
                _ => return Err(ParseError::new("a dotted key that ends in a dot").into()),
            }
        }
        // toml refuses a dotted key of more than MAX_DEPTH keys before the last.
        if keys.len() > MAX_DEPTH as usize {
            return Err(ParseError::new("recursion limit").into());
        }
        let last = keys.pop().ok_or_else(|| ParseError::new("a key without a name"))?;
        Ok((keys, last))
    }

    fn decode_key(&self, event: Event) -> Result<Key, Problem> {
        let raw = self.raw(event)?;
        let mut text = String::new();
        let mut first: Option<ParseError> = None;
        raw.decode_key(&mut text, &mut first);
        match first {
            Some(e) => Err(e.into()),
            None => Ok((text, event.span())),
        }
    }

    fn raw(&self, event: Event) -> Result<toml_parser::Raw<'_>, Problem> {
        self.source.get(event).ok_or_else(|| {
            ParseError::new("an event outside the file")
                .with_unexpected(event.span())
                .into()
        })
    }

    /// `= value`, after a key.
    fn value_after_key(&mut self, input: &mut Events<'_>) -> Result<(Node, Ty, TomlSpan), Problem> {
        input.skip_whitespace();
        match input.next() {
            Some(e) if e.kind() == EventKind::KeyValSep => {}
            _ => return Err(ParseError::new("a key without `=`").into()),
        }
        input.skip_whitespace();
        match input.next() {
            Some(e) => self.value(e, input),
            None => Err(ParseError::new("a key without a value").into()),
        }
    }

    fn value(&mut self, event: Event, input: &mut Events<'_>) -> Result<(Node, Ty, TomlSpan), Problem> {
        match event.kind() {
            EventKind::Scalar => self.scalar(event),
            EventKind::ArrayOpen => self.array(event, input),
            EventKind::InlineTableOpen => self.inline_table(event, input),
            _ => Err(ParseError::new("a value was expected")
                .with_unexpected(event.span())
                .into()),
        }
    }

    fn scalar(&mut self, event: Event) -> Result<(Node, Ty, TomlSpan), Problem> {
        let span = event.span();
        let at = span_in(self.file, span);
        let raw = self.raw(event)?;
        let mut text = String::new();
        let mut first: Option<ParseError> = None;
        let kind = raw.decode_scalar(&mut text, &mut first);
        if let Some(e) = first {
            return Err(e.into());
        }
        let (value, ty) = match kind {
            ScalarKind::String => (Value::Str(text), Ty::String),
            ScalarKind::Boolean(b) => (Value::Bool(b), Ty::Boolean),
            ScalarKind::DateTime => match text.parse::<toml_datetime::Datetime>() {
                Ok(d) => (Value::Str(d.to_string()), Ty::Datetime),
                Err(e) => return Err(ParseError::new(e.to_string()).with_unexpected(span).into()),
            },
            ScalarKind::Float => {
                let x = text.replace('_', "").parse::<f64>();
                match x
                    .map_err(|_| spec_problem("unreadable float", at))
                    .and_then(|x| finite(x, at))
                {
                    Ok(v) => (v, Ty::Float),
                    Err(d) => (self.refuse(d), Ty::Float),
                }
            }
            ScalarKind::Integer(radix) => match i64::from_str_radix(&text, radix.value()) {
                Ok(n) => (Value::Int(n), Ty::Integer),
                Err(_) => (self.refuse(spec_problem("integer out of range", at)), Ty::Integer),
            },
        };
        Ok((Node { value, span: at }, ty, span))
    }

    /// Keeps the first refused number for the end of the piece; the value stands in meanwhile.
    fn refuse(&mut self, d: Diagnostic) -> Value {
        self.refused.get_or_insert_with(|| Box::new(d));
        Value::Null
    }

    fn array(&mut self, open: Event, input: &mut Events<'_>) -> Result<(Node, Ty, TomlSpan), Problem> {
        let mut items = Vec::new();
        let mut end = open.span();
        while let Some(event) = input.next() {
            end = event.span();
            match event.kind() {
                EventKind::ArrayClose => break,
                EventKind::Scalar | EventKind::ArrayOpen | EventKind::InlineTableOpen => {
                    items.push(self.value(event, input)?.0);
                }
                _ => {}
            }
        }
        let span = open.span().append(end);
        Ok((
            Node {
                value: Value::Seq(items),
                span: span_in(self.file, span),
            },
            Ty::Array,
            span,
        ))
    }

    fn inline_table(&mut self, open: Event, input: &mut Events<'_>) -> Result<(Node, Ty, TomlSpan), Problem> {
        let mut table = Table::new(Kind::Defined, open.span(), self.file);
        let mut end = open.span();
        while let Some(event) = input.next() {
            end = event.span();
            match event.kind() {
                EventKind::InlineTableClose => break,
                EventKind::SimpleKey => {
                    let (path, key) = self.key(event, input)?;
                    let value = self.value_after_key(input)?;
                    let parent = descend_inline(&mut table, path)?;
                    insert(parent, key, value)?;
                }
                _ => {}
            }
        }
        let span = open.span().append(end);
        let node = table.into_node(span.start(), span.end());
        Ok((node, Ty::InlineTable, span))
    }
}

fn spec_problem(message: &str, at: Span) -> Diagnostic {
    Diagnostic::new(Rule::Type, crate::SpecPath::root(), message).with_span(at)
}

/// Adds a key to the table it belongs in, unless the table has it.
fn insert(table: &mut Table, (name, key_span): Key, (node, ty, span): (Node, Ty, TomlSpan)) -> Result<(), Problem> {
    match table.find(&name) {
        Some(old) => Err(duplicate(key_span, Some(table.key_span(old)))),
        None => {
            table.push(name, key_span, node, Slot::Closed(ty, span));
            Ok(())
        }
    }
}

/// What `name` is in `table`, with its place, made a table of `kind` where missing.
fn child(table: &mut Table, name: String, span: TomlSpan, kind: Kind) -> (usize, &mut Slot) {
    let place = match table.find(&name) {
        Some(place) => place,
        None => {
            let sub = Table::new(kind, span, table.file);
            table.push_open(name, span, Slot::Table(Box::new(sub)))
        }
    };
    (place, &mut table.slots[place])
}

/// The table the leading keys of a header (`dotted` false) or of a dotted key below a header
/// (`dotted` true) name, made where missing; an array of tables gives its last table. A header's
/// keys leave their places in `places`.
fn descend<'t>(
    mut table: &'t mut Table,
    keys: Vec<Key>,
    dotted: bool,
    mut places: Option<&mut Vec<usize>>,
) -> Result<&'t mut Table, Problem> {
    for (name, span) in keys {
        let kind = if dotted { Kind::Dotted } else { Kind::Implicit };
        let (place, slot) = child(table, name, span, kind);
        if let Some(places) = places.as_deref_mut() {
            places.push(place);
        }
        table = match slot {
            Slot::Table(t) => {
                if dotted {
                    match t.kind {
                        Kind::Defined => return Err(duplicate(span, None)),
                        Kind::Implicit => t.kind = Kind::Dotted,
                        Kind::Dotted => {}
                    }
                }
                t
            }
            Slot::Tables(tables) => {
                let (old, tables) = &mut **tables;
                let old = *old;
                tables
                    .last_mut()
                    .ok_or_else(|| cannot_extend("array", span, Some(old)))?
            }
            Slot::Closed(Ty::InlineTable, _) => return Err(cannot_extend("inline table", span, None)),
            Slot::Closed(ty, old) => return Err(cannot_extend(ty.name(false), span, Some(*old))),
        };
    }
    Ok(table)
}

/// The table a dotted key's leading keys name inside an inline table, made where missing.
fn descend_inline(mut table: &mut Table, keys: Vec<Key>) -> Result<&mut Table, Problem> {
    for (name, span) in keys {
        let (_, slot) = child(table, name, span, Kind::Dotted);
        table = match slot {
            Slot::Table(t) => t,
            Slot::Closed(Ty::InlineTable, _) | Slot::Tables(..) => return Err(duplicate(span, None)),
            Slot::Closed(ty, old) => return Err(cannot_extend(ty.name(true), span, Some(*old))),
        };
    }
    Ok(table)
}

/// The events of a piece, read in order.
struct Events<'e> {
    list: &'e [Event],
    at: usize,
}

impl Events<'_> {
    fn next(&mut self) -> Option<Event> {
        let e = self.list.get(self.at).copied();
        self.at += usize::from(e.is_some());
        e
    }

    fn skip_whitespace(&mut self) {
        while self
            .list
            .get(self.at)
            .is_some_and(|e| e.kind() == EventKind::Whitespace)
        {
            self.at += 1;
        }
    }

    fn peek_past_whitespace(&self) -> Option<Event> {
        self.list[self.at.min(self.list.len())..]
            .iter()
            .find(|e| e.kind() != EventKind::Whitespace)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Sources;
    use proptest::prelude::*;

    /// The toml crate's reading of a file, as this crate used to convert it: the oracle.
    fn oracle(file: FileId, text: &str) -> Result<Node, Diagnostic> {
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
        oracle_table(file, doc.into_inner(), span)
    }

    fn oracle_table(file: FileId, table: toml::de::DeTable<'_>, span: Span) -> Result<Node, Diagnostic> {
        let mut entries = Vec::new();
        for (k, v) in table {
            let key_span = Span {
                file,
                start: k.span().start,
                end: k.span().end,
            };
            entries.push(Entry {
                key: k.into_inner().into_owned(),
                key_span,
                node: oracle_value(file, v)?,
            });
        }
        Ok(Node {
            value: Value::Map(entries),
            span,
        })
    }

    fn oracle_value(file: FileId, value: toml::Spanned<toml::de::DeValue<'_>>) -> Result<Node, Diagnostic> {
        use toml::de::DeValue;
        let span = Span {
            file,
            start: value.span().start,
            end: value.span().end,
        };
        let problem = |m: &str| Diagnostic::new(Rule::Type, crate::SpecPath::root(), m).with_span(span);
        let value = match value.into_inner() {
            DeValue::String(s) => Value::Str(s.into_owned()),
            DeValue::Integer(i) => {
                Value::Int(i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| problem("integer out of range"))?)
            }
            DeValue::Float(f) => finite(
                f.as_str()
                    .replace('_', "")
                    .parse()
                    .map_err(|_| problem("unreadable float"))?,
                span,
            )?,
            DeValue::Boolean(b) => Value::Bool(b),
            DeValue::Datetime(d) => Value::Str(d.to_string()),
            DeValue::Array(items) => Value::Seq(
                items
                    .into_iter()
                    .map(|v| oracle_value(file, v))
                    .collect::<Result<_, _>>()?,
            ),
            DeValue::Table(t) => return oracle_table(file, t, span),
        };
        Ok(Node { value, span })
    }

    /// The tree with each table's keys sorted: toml moves a table a later header defines to
    /// the end of its parent, this reader leaves it where it first appeared.
    fn sorted(mut node: Node) -> Node {
        match &mut node.value {
            Value::Map(entries) => {
                let taken = std::mem::take(entries);
                *entries = taken
                    .into_iter()
                    .map(|e| Entry {
                        node: sorted(e.node),
                        ..e
                    })
                    .collect();
                entries.sort_by(|a, b| a.key.cmp(&b.key));
            }
            Value::Seq(items) => {
                let taken = std::mem::take(items);
                *items = taken.into_iter().map(sorted).collect();
            }
            _ => {}
        }
        node
    }

    /// How many values of a table toml reads and this crate refuses (numbers out of range).
    fn values_refused(table: &toml::de::DeTable<'_>) -> usize {
        fn refused(value: &toml::de::DeValue<'_>) -> usize {
            use toml::de::DeValue;
            match value {
                DeValue::Integer(i) => usize::from(i64::from_str_radix(i.as_str(), i.radix()).is_err()),
                DeValue::Float(f) => usize::from(
                    f.as_str()
                        .replace('_', "")
                        .parse::<f64>()
                        .map_or(true, |x| !x.is_finite()),
                ),
                DeValue::Array(items) => items.iter().map(|v| refused(v.get_ref())).sum(),
                DeValue::Table(t) => values_refused(t),
                _ => 0,
            }
        }
        table.values().map(|v| refused(v.get_ref())).sum()
    }

    fn brief(r: &Result<Node, Diagnostic>) -> String {
        match r {
            Ok(n) => format!("Ok({:?})", n.to_json()),
            Err(d) => format!("Err({} at {:?})", d.message, d.span.map(|s| s.start..s.end)),
        }
    }

    /// Reads `text` whole and in pieces of one header each, and checks both against toml: the
    /// same tree (up to that order), or a refusal, with toml's message and place where toml
    /// finds one problem only. Returns whether the file was accepted.
    fn agrees(text: &str) -> bool {
        let mut s = Sources::new();
        let f = s.add("t.toml", text);
        let whole = parse_in(f, text, usize::MAX).map(|(n, _)| n);
        let pieces = parse_in(f, text, 1).map(|(n, _)| n);
        let old = oracle(f, text);
        match (&whole, &pieces) {
            (Ok(a), Ok(b)) => assert!(a == b, "{text:?}: whole and in pieces differ:\n{a:?}\n{b:?}"),
            // In pieces, a problem of an earlier piece is found before a syntax error of a later
            // one; read whole, every syntax error comes first.
            (Err(a), Err(b)) => {
                let start = |d: &Diagnostic| d.span.map_or(0, |s| s.start);
                assert!(
                    (&a.message, a.span) == (&b.message, b.span) || start(b) < start(a),
                    "{text:?}: whole {} but in pieces {}",
                    brief(&whole),
                    brief(&pieces)
                );
            }
            _ => panic!("{text:?}: whole {} but in pieces {}", brief(&whole), brief(&pieces)),
        }
        match (whole, old) {
            (Ok(new), Ok(old)) => {
                let (new, old) = (sorted(new), sorted(old));
                assert!(new == old, "{text:?}:\n  new {new:?}\n  toml {old:?}");
                true
            }
            (Err(new), Err(old)) => {
                let (table, errors) = toml::de::DeTable::parse_recoverable(text);
                let problems = errors.len() + values_refused(table.get_ref());
                if problems <= 1 {
                    let place = |d: &Diagnostic| d.span.map(|s| s.start..s.end);
                    assert_eq!(
                        (&new.message, place(&new)),
                        (&old.message, place(&old)),
                        "{text:?}: not toml's problem"
                    );
                }
                false
            }
            (new, old) => panic!("{text:?}:\n  new {}\n  toml {}", brief(&new), brief(&old)),
        }
    }

    #[test]
    fn files_read_as_toml_reads_them() {
        let valid = [
            "",
            "a = 1\n",
            "# only a comment\n\n",
            "a = 1\nb = \"x\"\nc = 'y'\nd = true\ne = 2.5\nf = 1979-05-27T07:32:00Z\ng = 0x1F\nh = 1_000\n",
            "s = \"\"\"\nmulti\nline [x]\n\"\"\"\nt = '''\n[not.a.header]\n'''\n",
            "a.b.c = 1\na.b.d = 2\na.e = 3\n",
            "[a]\nx = 1\n[b]\ny = 2\n",
            "[a.b.c]\nx = 1\n[a]\ny = 2\n",
            "[a.b]\nx = 1\n[c]\n[a]\ny = 2\n",
            "[[a]]\nx = 1\n[[a]]\nx = 2\n[a.b]\ny = 3\n",
            "[[a]]\n[[a.b]]\nx = 1\n[[a.b]]\nx = 2\n[[a]]\n",
            "[a]\nb.c = 1\n[a.b.d]\ne = 2\n",
            "x = { a = 1, b.c = 2, b.d = 3 }\n",
            "x = [1, [2, 3], { a = [] }, \"s\"]\n",
            "x = [\n  1,\n  [2],\n]\n[t]\n",
            "x = {\n  a = 1,\n  b = [\n[1]\n],\n}\n[t]\ny = 1\n",
            "\"quoted key\" = 1\n'lit.key' = 2\n\"a\".\"b\" = 3\n",
            "[ a . b ]\nc = 1\n[[ d ]]\n",
            "a = 1 # trailing\n[t] # header comment\n",
            "a = 1\r\n[t]\r\nb = 2\r\n",
            "\u{feff}a = 1\n",
            "[a.b.c]\n[a.b]\n[a]\n",
            "[[a]]\nb.c = 1\n",
            "[[a]]\n[a.b]\nc = 1\n[[a]]\n[a.b]\nc = 2\n",
            &format!(
                "{}[t]\nk20 = 1\n",
                (0..20).map(|i| format!("[t.k{i}.x]\n")).collect::<String>()
            ),
        ];
        for text in valid {
            assert!(agrees(text), "{text:?} should be accepted");
        }
        let invalid = [
            "a = 1\na = 2\n",
            "[a]\n[a]\n",
            "a = 1\n[a]\n",
            "a.b = 1\n[a]\n",
            "[a]\nb.c = 1\n[a.b]\n",
            "[a.b]\n[a]\nb = 1\n",
            "a = [1]\n[[a]]\n",
            "[a]\n[[a]]\n",
            "[[a]]\n[a]\n",
            "a = {}\n[a.b]\n",
            "a = {}\na.b = 1\n",
            "a = 1\na.b = 2\n",
            "a = [1]\na.b = 2\n",
            "a = 1\n[a.b]\n",
            "a = [1]\n[a.b]\n",
            "x = { a = 1, a = 2 }\n",
            "x = { a = {}, a.b = 1 }\n",
            "x = { a = 1, a.b = 2 }\n",
            "x = { a = [1], a.b = 2 }\n",
            "[a]\nx = 1\n[b]\n[a]\n",
            "[[a]]\nb = 1\n[a.b]\n",
            "[a.b]\nc = 1\n[a]\nb.d = 2\n",
            "a = \n",
            "a = 1 2\n",
            "[a\nb = 1\n",
            "= 1\n",
            "a = \"unterminated\n",
            "a = 99999999999999999999\n",
            "a = 1979-13-27\n",
            "a = inf\n",
            "a = nan\n",
            "a = 0x\n",
            "a = \"bad \\q escape\"\n",
            "a = \"\u{7}\"\n",
            "# \u{7} in a comment\n",
            "[a]\nb = 1\n[a]\n[c]\nd = 1\n",
            "[ [ d ] ]\n",
            "[a.b.c]\n[a]\nb.d = 1\n[a.b]\n",
            "[[t.a]]\n[t]\na.x = 1\n",
            "[[t.a]]\n[[t.a]]\n[t]\na.x = 1\n",
            &format!("a = {}{}\n", "[".repeat(90), "]".repeat(90)),
            &format!("{} = 1\n", vec!["k"; 90].join(".")),
            // Past SCAN_ENTRIES keys, a table finds its keys through its index.
            &format!(
                "{}k3 = 1\n",
                (0..20).map(|i| format!("k{i} = {i}\n")).collect::<String>()
            ),
            &format!("{}[t.k7]\n", (0..20).map(|i| format!("[t.k{i}]\n")).collect::<String>()),
        ];
        for text in invalid {
            assert!(!agrees(text), "{text:?} should be refused");
        }
    }

    /// A header is a place to cut only at the start of a line outside brackets: not inside a
    /// multi-line array or inline table, not inside a multi-line string.
    #[test]
    fn files_are_cut_before_headers_only() {
        let mut s = Sources::new();
        let mut pieces = |text: &str| parse_in(s.add("t.toml", text), text, 1).map(|(_, n)| n).ok();
        assert_eq!(pieces("a = 1\n[x]\nb = 1\n[[y]]\n[y.z]\n"), Some(4));
        assert_eq!(pieces("a = [\n[1],\n[2],\n]\n"), Some(1));
        assert_eq!(pieces("a = {\nb = [\n[1]\n]\n}\n"), Some(1));
        assert_eq!(pieces("a = \"\"\"\n[x]\n\"\"\"\n"), Some(1));
        assert_eq!(pieces("[x] # a\n[y]\n"), Some(2));
        let mut big = String::new();
        for i in 0..2_000 {
            big.push_str(&format!(
                "[services.svc-{i}]\nimage = \"example/app:{i}\"\nports = [{i}, {}]\n",
                i + 1
            ));
        }
        let mut s = Sources::new();
        let n = parse_in(s.add("t.toml", &big), &big, PIECE_TOKENS).map(|(_, n)| n).ok();
        assert!(n.is_some_and(|n| n > 1), "{n:?}");
        assert!(agrees(&big));
    }

    /// Lines of a TOML file, from a few keys so that tables and keys collide often.
    fn line() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec!["a", "b", "c", "\"a\"", "'b'", "a . b"]);
        let path = prop::collection::vec(key.clone(), 1..4).prop_map(|k| k.join("."));
        let value = prop::sample::select(vec![
            "1",
            "-0x10",
            "\"s\"",
            "'l'",
            "true",
            "2.5",
            "1979-05-27",
            "07:32:00",
            "[]",
            "[1, \"x\"]",
            "[{a = 1}, {b = 2}]",
            "{}",
            "{a = 1}",
            "{a.b = 1, a.c = 2}",
            "{a = {}, a.b = 1}",
            "{a = 1, a = 2}",
            "[\n1,\n[2],\n]",
            "\"\"\"\n[a]\n\"\"\"",
            "1 2",
            "",
            "[1",
            "99999999999999999999",
            "nan",
        ]);
        prop_oneof![
            path.clone().prop_map(|p| format!("[{p}]")),
            path.clone().prop_map(|p| format!("[[{p}]]")),
            (path, value).prop_map(|(p, v)| format!("{p} = {v}")),
            Just("# comment".to_owned()),
            Just(String::new()),
            Just("[a".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

        #[test]
        fn generated_files_read_as_toml_reads_them(lines in prop::collection::vec(line(), 0..12)) {
            let text = lines.join("\n") + "\n";
            agrees(&text);
        }
    }
}
