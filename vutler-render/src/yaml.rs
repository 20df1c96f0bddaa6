//! YAML text from serde values, readable by YAML 1.1 and 1.2 parsers alike.
//!
//! Outputs are built as typed serde values and turned into text here, never templated. The text
//! is saphyr's emitter's, byte for byte: its block layout (two spaces a level, a sequence's
//! items indented under their key, a mapping in a sequence item begun on the dash's line), and
//! its scalars, which quote every string a YAML 1.1 reader would misread (`yes`, `on`, `80:80`,
//! `0o17`, numbers; `serde_yaml` leaves them plain, and docker-compose v1 and other PyYAML-based
//! tools read YAML 1.1).
//!
//! It is written while the value is serialized: saphyr's emitter needs the whole document as its
//! tree of hashed mappings (and the value first as JSON), which for the files of a stack of
//! thousands of services cost more time and memory than the text itself. Each scalar is still
//! saphyr's, which decides its quoting; the layout of collections and of literal blocks is laid
//! out here, as saphyr's emitter lays them out. The tests hold this emitter to saphyr's on every
//! kind of value and string.

use std::borrow::Cow;

use saphyr::{Scalar, Yaml, YamlEmitter};
use serde::Serialize;
use serde::ser::{self, Error as _};

use crate::RenderError;

/// A value the emitter cannot write (a map key that is no scalar, an integer beyond 64 bits).
type Error = serde_json::Error;

/// Serializes a value as a YAML document (no `---` line), ending with a newline.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, RenderError> {
    emit(value, false)
}

/// Like [`to_string`], with strings of several lines as literal blocks (`|`), line by line as
/// they are (the files a ConfigMap holds).
pub fn to_string_with_blocks<T: Serialize + ?Sized>(value: &T) -> Result<String, RenderError> {
    emit(value, true)
}

fn emit<T: Serialize + ?Sized>(value: &T, blocks: bool) -> Result<String, RenderError> {
    let mut emitter = Emitter::new(blocks);
    value.serialize(&mut emitter)?;
    Ok(emitter.finish())
}

/// A document whose top-level mapping is written a section's entry at a time (the Compose file
/// of thousands of services, a service at a time): no value of the whole document is built.
/// Sections are written in the order they are first pushed to; reopening one is refused, as is
/// any key given twice in one mapping.
#[derive(Debug)]
pub struct Sections {
    emitter: Emitter,
    root: Open,
    /// The section being written.
    section: Option<String>,
    /// Its mapping, when it is written an entry at a time.
    entries: Option<Open>,
}

impl Sections {
    /// An empty document; `blocks` as for [`to_string_with_blocks`].
    pub fn new(blocks: bool) -> Self {
        Self {
            emitter: Emitter::new(blocks),
            root: Open::new(Place::Root, Kind::Map),
            section: None,
            entries: None,
        }
    }

    /// Adds `value` to the mapping `section` under `key`.
    pub fn entry<T: Serialize + ?Sized>(&mut self, section: &str, key: &str, value: &T) -> Result<(), RenderError> {
        if self.section.as_deref() != Some(section) || self.entries.is_none() {
            self.start(section)?;
        }
        let entries = self.entries.get_or_insert_with(|| Open::new(Place::Value, Kind::Map));
        self.emitter.key(entries, key)?;
        value.serialize(&mut self.emitter)?;
        Ok(())
    }

    /// Writes `section` as one value (a scalar, or a collection written whole).
    pub fn value<T: Serialize + ?Sized>(&mut self, section: &str, value: &T) -> Result<(), RenderError> {
        self.start(section)?;
        value.serialize(&mut self.emitter)?;
        Ok(())
    }

    /// The document's text, ending with a newline; an empty mapping when nothing was added.
    pub fn finish(mut self) -> String {
        if let Some(entries) = self.entries.take() {
            self.emitter.close(entries);
        }
        self.emitter.close(self.root);
        self.emitter.finish()
    }

    /// Closes the section written so far and begins `section`'s entry, its value to follow.
    fn start(&mut self, section: &str) -> Result<(), Error> {
        if let Some(entries) = self.entries.take() {
            self.emitter.close(entries);
        }
        self.emitter.key(&mut self.root, section)?;
        self.section = Some(section.to_owned());
        Ok(())
    }
}

/// Where a value is written, which decides what goes before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The document itself.
    Root,
    /// After a sequence item's `-`: a collection begins on that line.
    Item,
    /// After a mapping key's `:`: a collection begins on the next line, one level in.
    Value,
}

/// How a literal block ended the text: its last line break is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chomping {
    /// `|`: one line break kept.
    Clip,
    /// `|+`: every trailing line break kept; the document has to be ended (`...`) after it.
    Keep,
}

/// What a collection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A sequence: `[]` when empty.
    Seq,
    /// A mapping of any keys: `{}` when empty, a key given twice refused.
    Map,
    /// A struct's fields, whose names Rust keeps distinct (a flattened struct is a [`Kind::Map`]).
    Fields,
}

/// A collection being written.
#[derive(Debug)]
struct Open {
    place: Place,
    kind: Kind,
    /// No element written yet.
    empty: bool,
    /// An enum variant's mapping of one key around this collection, closed with it.
    variant: Option<Box<Open>>,
    /// Where the keys written so far are in the text, while there are few of them.
    keys: Vec<std::ops::Range<usize>>,
    /// The keys written so far, once there are many.
    many_keys: Option<std::collections::HashSet<Box<str>>>,
}

impl Open {
    /// Mappings with more keys than this remember them in a set rather than scanning the text.
    const SCAN_KEYS: usize = 16;

    fn new(place: Place, kind: Kind) -> Self {
        Self {
            place,
            kind,
            empty: true,
            variant: None,
            keys: Vec::new(),
            many_keys: None,
        }
    }

    /// Remembers the key written at `at` in `text`; `false` when the mapping has it already.
    fn first_key(&mut self, text: &str, at: std::ops::Range<usize>) -> bool {
        if self.kind == Kind::Fields {
            return true;
        }
        let key = &text[at.clone()];
        if let Some(many) = &mut self.many_keys {
            return many.insert(key.into());
        }
        if self.keys.iter().any(|k| &text[k.clone()] == key) {
            return false;
        }
        self.keys.push(at);
        if self.keys.len() > Self::SCAN_KEYS {
            self.many_keys = Some(self.keys.drain(..).map(|k| text[k].into()).collect());
        }
        true
    }
}

/// Writes YAML text as serde walks a value, in saphyr's layout (see the module's docs). `level`
/// is the nesting as saphyr's emitter counts it: -1 at the document, each collection one more.
#[derive(Debug)]
struct Emitter {
    out: String,
    level: isize,
    blocks: bool,
    /// Where the next value goes.
    place: Place,
    /// A literal block ended the text so far, with its line break.
    after_block: Option<Chomping>,
    /// Where saphyr writes a scalar, kept from one to the next.
    scratch: String,
}

impl Emitter {
    fn new(blocks: bool) -> Self {
        Self {
            out: String::new(),
            level: -1,
            blocks,
            place: Place::Root,
            after_block: None,
            scratch: String::new(),
        }
    }

    /// The text, ending with a newline (and ended with `...` after a block keeping its newlines).
    fn finish(mut self) -> String {
        if self.after_block == Some(Chomping::Keep) {
            self.out.push_str("...");
        }
        self.out.push('\n');
        self.out
    }

    fn indent(&mut self) {
        for _ in 0..self.level.max(0) {
            self.out.push_str("  ");
        }
    }

    fn line_break(&mut self) {
        if self.after_block.take().is_none() {
            self.out.push('\n');
        }
    }

    /// Begins a collection of `kind` in the current place.
    fn open(&mut self, kind: Kind) -> Open {
        Open::new(self.place, kind)
    }

    /// Begins an element of `open`: for its first, what separates the collection from what is
    /// before it; for the others, a new line.
    fn element(&mut self, open: &mut Open) {
        if open.empty {
            open.empty = false;
            if open.place == Place::Value {
                self.out.push('\n');
                self.level += 1;
                self.indent();
                self.level -= 1;
            } else if open.place == Place::Item {
                self.out.push(' ');
            }
            self.level += 1;
        } else {
            self.line_break();
            self.indent();
        }
    }

    /// Ends a collection: `[]` or `{}` when nothing was written in it.
    fn close(&mut self, open: Open) {
        if open.empty {
            if open.place != Place::Root {
                self.out.push(' ');
            }
            self.out.push_str(if open.kind == Kind::Seq { "[]" } else { "{}" });
        } else {
            self.level -= 1;
        }
        if let Some(variant) = open.variant {
            self.close(*variant);
        }
    }

    /// A mapping key of `open`, with its colon; the value is to follow. A key given twice is
    /// refused: serde_json kept the last value at the first key's place, and readers of YAML do
    /// not agree on what two keys mean.
    fn key(&mut self, open: &mut Open, key: &str) -> Result<(), Error> {
        self.element(open);
        let start = self.out.len();
        // A literal block cannot be an implicit key: a key is never one.
        self.saphyr(Scalar::String(Cow::Borrowed(key)));
        if !open.first_key(&self.out, start..self.out.len()) {
            return Err(Error::custom(format!("the key `{key}` is given twice in one mapping")));
        }
        self.out.push(':');
        self.place = Place::Value;
        Ok(())
    }

    /// The text before a scalar in the current place.
    fn before_scalar(&mut self) {
        if self.place != Place::Root {
            self.out.push(' ');
        }
    }

    /// A scalar as saphyr writes it outside a literal block: plain, or double-quoted where a
    /// YAML 1.1 or 1.2 reader would read it as something else.
    fn saphyr(&mut self, scalar: Scalar<'_>) {
        self.scratch.clear();
        // Writing into a String does not fail, and every scalar is written.
        let _ = YamlEmitter::new(&mut self.scratch).dump(&Yaml::Value(scalar));
        let text = self.scratch.strip_prefix("---\n").unwrap_or(&self.scratch);
        self.out.push_str(text);
    }

    /// A scalar value in the current place.
    fn scalar(&mut self, scalar: Scalar<'_>) {
        self.before_scalar();
        match scalar {
            Scalar::String(text) if self.blocks && is_block(&text) => self.literal_block(&text),
            // JSON has no infinite or NaN number: serde_json makes them null.
            Scalar::FloatingPoint(x) if !x.is_finite() => self.saphyr(Scalar::Null),
            other => self.saphyr(other),
        }
    }

    fn literal_block(&mut self, v: &str) {
        let indented = v.trim_start_matches('\n').starts_with([' ', '\t']);
        let trailing = v.len() - v.trim_end_matches('\n').len();
        let keep = trailing > 1;
        let chomp = if keep {
            "+"
        } else if trailing == 1 {
            ""
        } else {
            "-"
        };
        self.out.push('|');
        if indented {
            self.out.push('2');
        }
        self.out.push_str(chomp);
        let previous = self.level;
        self.level += 1;
        if self.level == 0 && (indented || has_document_marker_line(v)) {
            // At the document's level no indentation is written; `|2` needs its two spaces, and
            // a line `---` or `...` would end the document.
            self.level = 1;
        }
        for line in v.lines() {
            self.out.push('\n');
            self.indent();
            self.out.push_str(line);
        }
        if trailing > 0 {
            self.out.push('\n');
            self.after_block = Some(if keep { Chomping::Keep } else { Chomping::Clip });
        }
        self.level = previous;
    }

    /// An enum variant's mapping of one key, `variant`, its value to follow.
    fn variant(&mut self, variant: &str) -> Result<Open, Error> {
        let mut outer = self.open(Kind::Fields);
        self.key(&mut outer, variant)?;
        Ok(outer)
    }
}

/// Whether saphyr writes a string as a literal block (with blocks on).
fn is_block(s: &str) -> bool {
    s.contains('\n')
        && !s.trim_start_matches('\n').is_empty()
        && s.chars().all(|c| {
            matches!(c,
                '\t' | '\n' | '\x20'..='\x7e' | '\u{0085}' | '\u{00a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fefe}'
                | '\u{ff00}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
        })
}

fn has_document_marker_line(s: &str) -> bool {
    let is_marker = |start: usize| {
        let line = &s.as_bytes()[start..];
        (line.starts_with(b"---") || line.starts_with(b"..."))
            && matches!(line.get(3), None | Some(b' ' | b'\t' | b'\n'))
    };
    is_marker(0)
        || ["\n---", "\n..."]
            .into_iter()
            .any(|marker| s.contains(marker) && s.match_indices(marker).any(|(i, _)| is_marker(i + 1)))
}

/// A collection being serialized.
#[derive(Debug)]
struct Compound<'e> {
    emitter: &'e mut Emitter,
    open: Open,
}

impl Compound<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.emitter.element(&mut self.open);
        self.emitter.out.push('-');
        self.emitter.place = Place::Item;
        value.serialize(&mut *self.emitter)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.emitter.key(&mut self.open, key)?;
        value.serialize(&mut *self.emitter)
    }

    fn end(self) {
        self.emitter.close(self.open);
    }
}

/// Serializer methods of integers that every i64 holds, written as one.
macro_rules! widened {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<(), Error> {
            self.serialize_i64(i64::from(v))
        }
    )*};
}

impl<'e> ser::Serializer for &'e mut Emitter {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'e>;
    type SerializeTuple = Compound<'e>;
    type SerializeTupleStruct = Compound<'e>;
    type SerializeTupleVariant = Compound<'e>;
    type SerializeMap = Compound<'e>;
    type SerializeStruct = Compound<'e>;
    type SerializeStructVariant = Compound<'e>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.scalar(Scalar::Boolean(v));
        Ok(())
    }

    widened!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32);
    widened!(serialize_u8: u8, serialize_u16: u16, serialize_u32: u32);

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.scalar(Scalar::Integer(v));
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        match (i64::try_from(v), u64::try_from(v)) {
            (Ok(v), _) => self.serialize_i64(v),
            (_, Ok(v)) => self.serialize_u64(v),
            _ => Err(Error::custom("number out of range")),
        }
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        match i64::try_from(v) {
            Ok(v) => self.serialize_i64(v),
            // As serde_json's number reads back: a float.
            #[allow(clippy::cast_precision_loss)]
            Err(_) => self.serialize_f64(v as f64),
        }
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        match u64::try_from(v) {
            Ok(v) => self.serialize_u64(v),
            Err(_) => Err(Error::custom("number out of range")),
        }
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.scalar(Scalar::FloatingPoint(v.into()));
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.scalar(Scalar::String(Cow::Borrowed(v)));
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq as _;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        ser::SerializeSeq::end(seq)
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.scalar(Scalar::Null);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let outer = self.variant(variant)?;
        value.serialize(&mut *self)?;
        self.close(outer);
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'e>, Error> {
        compound(self, Kind::Seq, None)
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'e>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'e>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'e>, Error> {
        compound(self, Kind::Seq, Some(variant))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'e>, Error> {
        compound(self, Kind::Map, None)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'e>, Error> {
        compound(self, Kind::Fields, None)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'e>, Error> {
        compound(self, Kind::Fields, Some(variant))
    }
}

/// A collection of `kind` begun in the emitter's current place; for an enum variant, inside
/// the mapping of one key, the variant's name.
fn compound<'e>(emitter: &'e mut Emitter, kind: Kind, variant: Option<&'static str>) -> Result<Compound<'e>, Error> {
    let outer = variant.map(|v| emitter.variant(v).map(Box::new)).transpose()?;
    let mut open = emitter.open(kind);
    open.variant = outer;
    Ok(Compound { emitter, open })
}

/// The traits of a sequence's serializer, each writing an element with [`Compound::item`].
macro_rules! sequence {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.item(value)
            }

            fn end(self) -> Result<(), Error> {
                Compound::end(self);
                Ok(())
            }
        }
    )*};
}

sequence!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// The traits of a struct's serializer, each writing a field with [`Compound::field`].
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                self.field(key, value)
            }

            fn end(self) -> Result<(), Error> {
                Compound::end(self);
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let key = key_text(key)?;
        self.emitter.key(&mut self.open, &key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.emitter)
    }

    fn end(self) -> Result<(), Error> {
        Compound::end(self);
        Ok(())
    }
}

/// A mapping key as text, as serde_json writes it: its own key serializer decides (a string, a
/// number or a boolean written out, anything else refused), so that the files are as before.
fn key_text<T: Serialize + ?Sized>(key: &T) -> Result<String, Error> {
    use ser::{SerializeMap as _, Serializer as _};
    let mut map = serde_json::value::Serializer.serialize_map(Some(1))?;
    map.serialize_key(key)?;
    map.serialize_value(&())?;
    match map.end()? {
        serde_json::Value::Object(entries) => entries.into_iter().next().map(|(key, _)| key),
        _ => None,
    }
    .ok_or_else(|| Error::custom("serde_json wrote a map key as no map"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use saphyr::Mapping;
    use serde_json::{Value as J, json};

    use super::*;

    /// saphyr's emitter on the whole value, as the files were written before this emitter: the
    /// text this one must write.
    fn saphyr(value: &J, blocks: bool) -> String {
        fn convert(value: &J) -> Yaml<'_> {
            match value {
                J::Null => Yaml::Value(Scalar::Null),
                J::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
                J::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => Yaml::Value(Scalar::Integer(i)),
                    (None, Some(f)) => Yaml::Value(Scalar::FloatingPoint(f.into())),
                    (None, None) => Yaml::Value(Scalar::String(Cow::Owned(n.to_string()))),
                },
                J::String(s) => Yaml::Value(Scalar::String(Cow::Borrowed(s))),
                J::Array(items) => Yaml::Sequence(items.iter().map(convert).collect()),
                J::Object(map) => {
                    let mut out = Mapping::new();
                    for (k, v) in map {
                        out.insert(Yaml::Value(Scalar::String(Cow::Borrowed(k))), convert(v));
                    }
                    Yaml::Mapping(out)
                }
            }
        }
        let mut out = String::new();
        let mut emitter = YamlEmitter::new(&mut out);
        emitter.multiline(blocks);
        emitter.dump(&convert(value)).unwrap_or_else(|e| panic!("{e}"));
        let body = out
            .strip_prefix("---\n")
            .or_else(|| out.strip_prefix("---"))
            .unwrap_or(&out);
        format!("{body}\n")
    }

    fn check(value: &J) {
        for blocks in [false, true] {
            let ours = emit(value, blocks).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ours, saphyr(value, blocks), "blocks: {blocks}, value: {value}");
            // What is written reads back as the value (as JSON has it: numbers as numbers). A
            // document that is one literal block is left out: libyaml reads saphyr's `|+` block
            // at the top level, unindented, as two documents (no rendered file is one string).
            if value.is_string() && blocks {
                continue;
            }
            let back: J = serde_yaml::from_str(&ours).unwrap_or_else(|e| panic!("{e}: {ours}"));
            assert_eq!(&back, value, "read back, blocks: {blocks}: {ours}");
        }
    }

    #[test]
    fn ambiguous_strings_are_quoted_and_layout_is_block() {
        let value = json!({
            "command": ["redis-server", "--appendonly", "yes", "on", "80:80", "0.5", "3"],
            "n": 3,
            "empty": {},
            "nested": { "a": [{ "b": "plain-text" }] }
        });
        let text = to_string(&value).unwrap_or_default();
        assert_eq!(
            text,
            "command:\n  - redis-server\n  - \"--appendonly\"\n  - \"yes\"\n  - \"on\"\n  - \"80:80\"\n  - \"0.5\"\n  - \"3\"\nn: 3\nempty: {}\nnested:\n  a:\n    - b: plain-text\n"
        );
        check(&value);
    }

    #[test]
    fn every_kind_of_value_is_written_as_saphyr_writes_it() {
        let values = [
            json!({
                "services": {
                    "yes": { "image": "x:1", "ports": ["80:80", "443:443"], "environment": {} },
                    "on": { "command": [["a", "b"], []], "labels": { "a.b": "0o17" } },
                    "plain": {}
                },
                "groups": [
                    { "name": "g", "rules": [{ "alert": "A", "expr": "up == 0", "for": "5m" }] },
                    ["nested", ["deeper"]],
                    "scalar",
                    null
                ],
                "80:80": "quoted key",
                "empty_map": {},
                "empty_list": [],
                "n": 3,
                "f": 0.5,
                "whole": 2.0,
                "big": 1e300,
                "t": true
            }),
            json!({ "data": { "nginx.conf": "a {\n\n  b;\n}\n", "one": "line" }, "k": ["x\n\ny\n"] }),
            json!({
                "data": { "a": "kept\n\n", "b": "x\ny", "c": "no newline\nat the end", " lead": "\n  indented\n" },
                "list": ["kept\n\n\n", "x\n", { "m": "x\n" }, ["a\nb\n\n", "---\n"]],
                "after": "x\ny\n"
            }),
            json!(["top", { "level": "sequence" }, [[]], [{}], [[1, [2]]]]),
            json!({}),
            json!([]),
            json!("scalar"),
            json!("a\nroot\nblock\n\n"),
            json!(" root\nindented"),
            json!("---\nmarker"),
            json!(null),
            json!(12),
            json!({ "a": { "b": { "c": { "d": [{ "e": { "f": [] } }] } } } }),
        ];
        for value in &values {
            check(value);
        }
    }

    #[test]
    fn sections_an_entry_at_a_time_are_the_whole_document() {
        let value = json!({
            "services": { "yes": { "a": "x\n\n" }, "b": {}, "c": [] },
            "networks": { "n": { "driver": "bridge" } },
            "empty": {},
            "last": "x\n\n"
        });
        for blocks in [false, true] {
            let mut sections = Sections::new(blocks);
            let J::Object(top) = &value else { unreachable!() };
            for (section, v) in top {
                match v {
                    J::Object(entries) if !entries.is_empty() => {
                        for (key, entry) in entries {
                            sections.entry(section, key, entry).unwrap_or_else(|e| panic!("{e}"));
                        }
                    }
                    other => sections.value(section, other).unwrap_or_else(|e| panic!("{e}")),
                }
            }
            assert_eq!(sections.finish(), saphyr(&value, blocks), "blocks: {blocks}");
        }
        assert_eq!(Sections::new(false).finish(), "{}\n");
    }

    #[test]
    fn enums_and_keys_are_written_as_json_has_them() {
        #[derive(Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(u8, &'static str),
            Struct { a: Option<u8>, b: f64 },
        }
        let value = (
            vec![
                E::Unit,
                E::New(1),
                E::Tuple(2, "no"),
                E::Struct { a: None, b: f64::NAN },
            ],
            std::collections::BTreeMap::from([(1, "one"), (20, "twenty")]),
            u64::MAX,
            'c',
            (),
        );
        let json = serde_json::to_value(&value).unwrap_or_else(|e| panic!("{e}"));
        for blocks in [false, true] {
            assert_eq!(emit(&value, blocks).unwrap_or_default(), saphyr(&json, blocks));
        }
        // Keys as serde_json's own key serializer has them, refused where it refuses them.
        fn same_as_json<T: Serialize>(value: &T) {
            match serde_json::to_value(value) {
                Ok(json) => assert_eq!(emit(value, false).unwrap_or_default(), saphyr(&json, false)),
                Err(e) => assert!(emit(value, false).is_err(), "serde_json refuses it: {e}"),
            }
        }
        same_as_json(&std::collections::BTreeMap::from([(1_i128 << 100, 1), (-3, 2)]));
        same_as_json(&std::collections::BTreeMap::from([(true, 1)]));
        struct FloatKeys;
        impl Serialize for FloatKeys {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map([(0.1_f32, 1), (2.0, 2)])
            }
        }
        same_as_json(&FloatKeys);
        same_as_json(&std::collections::HashMap::from([(Some("a"), 1)]));
        same_as_json(&std::collections::HashMap::from([(vec![1], 2)]));
        same_as_json(&std::collections::HashMap::from([('c', ())]));
        #[derive(Serialize, PartialEq, Eq, Hash)]
        enum K {
            Unit,
        }
        same_as_json(&std::collections::HashMap::from([(K::Unit, 1)]));
        assert!(to_string(&std::collections::HashMap::from([(vec![1], 2)])).is_err());
    }

    /// Two keys in one mapping are refused (serde_json kept the last value at the first's place),
    /// beyond the mapping size where keys are remembered in a set too; so is reopening a section.
    #[test]
    fn a_key_given_twice_is_refused() {
        #[derive(Serialize)]
        struct Flat {
            a: u8,
            #[serde(flatten)]
            rest: indexmap::IndexMap<String, u8>,
        }
        for n in [0, 3, 40] {
            let mut rest: indexmap::IndexMap<String, u8> = (0..n).map(|i| (format!("k{i}"), 0)).collect();
            assert!(
                to_string(&Flat {
                    a: 1,
                    rest: rest.clone()
                })
                .is_ok()
            );
            rest.insert("a".to_owned(), 2);
            let refused = to_string(&Flat { a: 1, rest }).map(|t| t.len());
            assert!(refused.is_err(), "{n}: {refused:?}");
        }
        let mut sections = Sections::new(false);
        sections.entry("services", "a", &1).unwrap_or_else(|e| panic!("{e}"));
        sections.entry("networks", "n", &1).unwrap_or_else(|e| panic!("{e}"));
        assert!(sections.entry("services", "b", &1).is_err(), "a section reopened");
        let mut sections = Sections::new(false);
        sections.entry("services", "a", &1).unwrap_or_else(|e| panic!("{e}"));
        assert!(sections.entry("services", "a", &2).is_err(), "an entry given twice");
    }

    /// Text of every kind the emitter decides on: YAML 1.1 words, numbers, indicators, line
    /// breaks (and the document markers after them), leading and trailing spaces, control and
    /// other characters blocks may not hold.
    fn text() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "a",
            "yes",
            "No",
            "on",
            "~",
            "null",
            "0x1f",
            "0o17",
            "1",
            "-2",
            "3.5",
            "1e3",
            ".inf",
            "+.5",
            " ",
            "\t",
            "\n",
            "\n\n",
            "---",
            "...",
            ":",
            ": ",
            "#",
            "-",
            "- ",
            "|",
            ">",
            "&",
            "*",
            "!",
            "%",
            "@",
            "`",
            "\"",
            "'",
            "\\",
            "{",
            "}",
            "[",
            "]",
            ",",
            "?",
            "=",
            "\r",
            "\x07",
            "\x7f",
            "\u{85}",
            "\u{feff}",
            "\u{2028}",
            "é",
            "\u{1F600}",
        ]);
        prop::collection::vec(pieces, 0..6).prop_map(|p| p.concat())
    }

    fn value() -> impl Strategy<Value = J> {
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            any::<i64>().prop_map(J::from),
            (-1e6..1e6f64).prop_map(J::from),
            text().prop_map(J::String),
        ];
        leaf.prop_recursive(5, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(J::Array),
                prop::collection::vec((text(), inner), 0..5)
                    .prop_map(|entries| J::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_value_is_written_as_saphyr_writes_it(value in value()) {
            for blocks in [false, true] {
                let ours = emit(&value, blocks).unwrap_or_else(|e| panic!("{e}"));
                prop_assert_eq!(&ours, &saphyr(&value, blocks), "blocks: {}", blocks);
            }
        }
    }
}
