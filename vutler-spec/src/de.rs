//! The document tree as a serde [`Deserializer`] ([`Reader`]): the raw types are read from the
//! [`Node`]s directly, without first building a JSON copy of the spec. A tree is read by
//! reference (strings lent) or by value (strings moved, each value freed once read).
//!
//! It reads a tree exactly as `serde_json::Value` reads the same document (a non-negative
//! integer is an unsigned one, an enum is a string or a mapping of one key, a struct may be a
//! list), so that the messages serde gives are the ones the diagnostics were written for.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, Unexpected, Visitor};

use crate::tree::{Entry, Node, Value};

/// A problem serde found while reading a tree: its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// A tree serde reads: borrowed (`&Node`: its strings lent to the raw layer) or owned (`Node`:
/// its strings moved into the raw layer, and each value freed once read, so that the tree and
/// the raw layer read from it are not held whole at once).
pub trait Tree<'de>: Sized {
    /// A string of the tree.
    type Text: Text<'de>;
    /// The items of a sequence.
    type Items: ExactSizeIterator<Item = Self>;
    /// The entries of a mapping.
    type Entries: ExactSizeIterator<Item = (Self::Text, Self)>;

    /// The value, taken apart.
    fn parts(self) -> Parts<Self::Text, Self::Items, Self::Entries>;

    /// Whether the value is `null` (looked at, not taken apart).
    fn is_null(&self) -> bool;
}

/// A value of a [`Tree`] taken apart.
pub enum Parts<S, I, E> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(S),
    Seq(I),
    Map(E),
}

/// A string of a [`Tree`], which a visitor is given borrowed or owned.
pub trait Text<'de>: Sized {
    /// The text.
    fn as_str(&self) -> &str;
    /// Gives the text to the visitor.
    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error>;
}

impl<'de> Text<'de> for &'de str {
    fn as_str(&self) -> &str {
        self
    }

    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self)
    }
}

impl<'de> Text<'de> for String {
    fn as_str(&self) -> &str {
        self
    }

    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_string(self)
    }
}

fn entry_ref(e: &Entry) -> (&str, &Node) {
    (&e.key, &e.node)
}

fn entry_owned(e: Entry) -> (String, Node) {
    (e.key, e.node)
}

impl<'de> Tree<'de> for &'de Node {
    type Text = &'de str;
    type Items = std::slice::Iter<'de, Node>;
    type Entries = std::iter::Map<std::slice::Iter<'de, Entry>, fn(&'de Entry) -> (&'de str, &'de Node)>;

    fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    fn parts(self) -> Parts<Self::Text, Self::Items, Self::Entries> {
        match &self.value {
            Value::Null => Parts::Null,
            Value::Bool(b) => Parts::Bool(*b),
            Value::Int(i) => Parts::Int(*i),
            Value::Float(f) => Parts::Float(*f),
            Value::Str(s) => Parts::Str(s),
            Value::Seq(items) => Parts::Seq(items.iter()),
            Value::Map(entries) => Parts::Map(entries.iter().map(entry_ref as fn(&'de Entry) -> _)),
        }
    }
}

impl<'de> Tree<'de> for Node {
    type Text = String;
    type Items = std::vec::IntoIter<Node>;
    type Entries = std::iter::Map<std::vec::IntoIter<Entry>, fn(Entry) -> (String, Node)>;

    fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    fn parts(self) -> Parts<Self::Text, Self::Items, Self::Entries> {
        match self.value {
            Value::Null => Parts::Null,
            Value::Bool(b) => Parts::Bool(b),
            Value::Int(i) => Parts::Int(i),
            Value::Float(f) => Parts::Float(f),
            Value::Str(s) => Parts::Str(s),
            Value::Seq(items) => Parts::Seq(items.into_iter()),
            Value::Map(entries) => Parts::Map(entries.into_iter().map(entry_owned as fn(Entry) -> _)),
        }
    }
}

impl<'de, S: Text<'de>, I, E> Parts<S, I, E> {
    fn invalid_type(&self, expected: &dyn de::Expected) -> Error {
        let unexpected = match self {
            Parts::Null => Unexpected::Unit,
            Parts::Bool(b) => Unexpected::Bool(*b),
            Parts::Int(i) => match u64::try_from(*i) {
                Ok(u) => Unexpected::Unsigned(u),
                Err(_) => Unexpected::Signed(*i),
            },
            Parts::Float(f) => Unexpected::Float(*f),
            Parts::Str(s) => Unexpected::Str(s.as_str()),
            Parts::Seq(_) => Unexpected::Seq,
            Parts::Map(_) => Unexpected::Map,
        };
        de::Error::invalid_type(unexpected, expected)
    }
}

/// A [`Tree`] as a serde [`Deserializer`]: `T::deserialize(Reader(&node))` or
/// `T::deserialize(Reader(node))`.
pub struct Reader<T>(pub T);

fn visit_seq<'de, T: Tree<'de>, V: Visitor<'de>>(items: T::Items, visitor: V) -> Result<V::Value, Error> {
    let len = items.len();
    let mut seq = Items(items);
    let value = visitor.visit_seq(&mut seq)?;
    if seq.0.len() > 0 {
        return Err(de::Error::invalid_length(len, &"fewer elements in array"));
    }
    Ok(value)
}

/// The items of a sequence, read in order.
struct Items<I>(I);

impl<'de, T: Tree<'de>, I: ExactSizeIterator<Item = T>> de::SeqAccess<'de> for Items<I> {
    type Error = Error;

    fn next_element_seed<D: DeserializeSeed<'de>>(&mut self, seed: D) -> Result<Option<D::Value>, Error> {
        self.0.next().map(|node| seed.deserialize(Reader(node))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

fn visit_map<'de, T: Tree<'de>, V: Visitor<'de>>(entries: T::Entries, visitor: V) -> Result<V::Value, Error> {
    let len = entries.len();
    let mut map = Entries::<T> { entries, value: None };
    let value = visitor.visit_map(&mut map)?;
    if map.entries.len() > 0 {
        return Err(de::Error::invalid_length(len, &"fewer elements in map"));
    }
    Ok(value)
}

macro_rules! numbers {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                match self.0.parts() {
                    Parts::Int(i) => match u64::try_from(i) {
                        Ok(u) => visitor.visit_u64(u),
                        Err(_) => visitor.visit_i64(i),
                    },
                    Parts::Float(f) => visitor.visit_f64(f),
                    other => Err(other.invalid_type(&visitor)),
                }
            }
        )*
    };
}

impl<'de, T: Tree<'de>> Deserializer<'de> for Reader<T> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.parts() {
            Parts::Null => visitor.visit_unit(),
            Parts::Bool(b) => visitor.visit_bool(b),
            Parts::Int(i) => match u64::try_from(i) {
                Ok(u) => visitor.visit_u64(u),
                Err(_) => visitor.visit_i64(i),
            },
            Parts::Float(f) => visitor.visit_f64(f),
            Parts::Str(s) => s.visit(visitor),
            Parts::Seq(items) => visit_seq::<T, V>(items, visitor),
            Parts::Map(entries) => visit_map::<T, V>(entries, visitor),
        }
    }

    numbers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64);

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.parts() {
            Parts::Bool(b) => visitor.visit_bool(b),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.parts() {
            Parts::Str(s) => s.visit(visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.parts() {
            Parts::Str(s) => s.visit(visitor),
            Parts::Seq(items) => visit_seq::<T, V>(items, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // Only `null` is looked at here: a value stays whole for the visitor.
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.parts() {
            Parts::Null => visitor.visit_unit(),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.parts() {
            Parts::Seq(items) => visit_seq::<T, V>(items, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.parts() {
            Parts::Map(entries) => visit_map::<T, V>(entries, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0.parts() {
            Parts::Seq(items) => visit_seq::<T, V>(items, visitor),
            Parts::Map(entries) => visit_map::<T, V>(entries, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0.parts() {
            Parts::Map(mut entries) if entries.len() == 1 => match entries.next() {
                Some((name, value)) => visitor.visit_enum(Variant::<T> {
                    name,
                    value: Some(value),
                }),
                None => Err(de::Error::invalid_value(Unexpected::Map, &"map with a single key")),
            },
            Parts::Map(_) => Err(de::Error::invalid_value(Unexpected::Map, &"map with a single key")),
            Parts::Str(name) => visitor.visit_enum(Variant::<T> { name, value: None }),
            other => Err(other.invalid_type(&"string or map")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// The entries of a mapping, read in order.
struct Entries<'de, T: Tree<'de>> {
    entries: T::Entries,
    value: Option<T>,
}

impl<'de, T: Tree<'de>> de::MapAccess<'de> for Entries<'de, T> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, node)) => {
                self.value = Some(node);
                seed.deserialize(Key(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<D: DeserializeSeed<'de>>(&mut self, seed: D) -> Result<D::Value, Error> {
        match self.value.take() {
            Some(node) => seed.deserialize(Reader(node)),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A mapping key: a string, read as the type the key has (a name, an enum's variant).
struct Key<S>(S);

macro_rules! parsed_keys {
    ($($method:ident => $visit:ident),*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                match self.0.as_str().parse() {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => self.0.visit(visitor),
                }
            }
        )*
    };
}

impl<'de, S: Text<'de>> Deserializer<'de> for Key<S> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.visit(visitor)
    }

    parsed_keys!(deserialize_i8 => visit_i8, deserialize_i16 => visit_i16, deserialize_i32 => visit_i32,
        deserialize_i64 => visit_i64, deserialize_u8 => visit_u8, deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32, deserialize_u64 => visit_u64, deserialize_bool => visit_bool);

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        StrDeserializer::<Error>::new(self.0.as_str()).deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct
        map struct identifier ignored_any
    }
}

/// An enum's variant: its name, and its value when it was given as a mapping of one key.
struct Variant<'de, T: Tree<'de>> {
    name: T::Text,
    value: Option<T>,
}

/// The value of an enum's variant, once its name is read.
struct VariantValue<T> {
    value: Option<T>,
}

impl<'de, T: Tree<'de>> de::EnumAccess<'de> for Variant<'de, T> {
    type Error = Error;
    type Variant = VariantValue<T>;

    fn variant_seed<D: DeserializeSeed<'de>>(self, seed: D) -> Result<(D::Value, Self::Variant), Error> {
        let variant = seed.deserialize(Key(self.name))?;
        Ok((variant, VariantValue { value: self.value }))
    }
}

impl<'de, T: Tree<'de>> de::VariantAccess<'de> for VariantValue<T> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            None => Ok(()),
            Some(node) => <() as serde::Deserialize>::deserialize(Reader(node)),
        }
    }

    fn newtype_variant_seed<D: DeserializeSeed<'de>>(self, seed: D) -> Result<D::Value, Error> {
        match self.value {
            Some(node) => seed.deserialize(Reader(node)),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &"newtype variant")),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.value.map(Tree::parts) {
            Some(Parts::Seq(items)) => visit_seq::<T, V>(items, visitor),
            Some(other) => Err(other.invalid_type(&"tuple variant")),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &"tuple variant")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        match self.value.map(Tree::parts) {
            Some(Parts::Map(entries)) => visit_map::<T, V>(entries, visitor),
            Some(other) => Err(other.invalid_type(&"struct variant")),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &"struct variant")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use crate::source::Sources;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Point {
        x: u32,
        y: Option<i64>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Dot,
        Circle(f64),
        Line { from: Point, to: Point },
        Pair(u8, u8),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u16),
        Text(String),
    }

    /// What the tree gives and what serde_json gives for the same document, as text.
    fn both<T: for<'de> Deserialize<'de> + std::fmt::Debug>(yaml: &str) -> (String, String) {
        let mut sources = Sources::new();
        let file = sources.add("t.yaml", yaml);
        let node = crate::tree::parse_yaml(file, yaml).unwrap_or_else(|d| panic!("{yaml}: {}", d.message));
        let node = node.get("v").unwrap_or_else(|| panic!("{yaml}: no `v`"));
        let ours = T::deserialize(super::Reader(node))
            .map(|v| format!("{v:?}"))
            .unwrap_or_else(|e| e.to_string());
        // Read by value, the tree gives the same, and the same problem.
        let owned = T::deserialize(super::Reader(node.clone()))
            .map(|v| format!("{v:?}"))
            .unwrap_or_else(|e| e.to_string());
        assert_eq!(ours, owned, "{yaml}: by reference and by value");
        let json = serde_json::from_value::<T>(node.to_json())
            .map(|v| format!("{v:?}"))
            .unwrap_or_else(|e| e.to_string());
        (ours, json)
    }

    #[test]
    fn a_tree_reads_as_serde_json_reads_the_same_document() {
        let points = [
            "v: {x: 1, y: -2}",
            "v: {x: 1}",
            "v: {x: 1, y: ~}",
            "v: [3, 4]",
            "v: [3, 4, 5]",
            "v: {x: -1}",
            "v: {x: 1.5}",
            "v: {x: '1'}",
            "v: {x: 1, z: 2}",
            "v: {y: 2}",
            "v: 7",
            "v: [1]",
        ];
        for doc in points {
            let (ours, json) = both::<Point>(doc);
            assert_eq!(ours, json, "{doc}");
        }
        let shapes = [
            "v: dot",
            "v: {circle: 2.5}",
            "v: {circle: 2}",
            "v: {line: {from: {x: 1}, to: {x: 2, y: 3}}}",
            "v: {pair: [1, 2]}",
            "v: {pair: [1]}",
            "v: {dot: ~}",
            "v: {dot: 1}",
            "v: circle",
            "v: {circle: 1, dot: ~}",
            "v: square",
            "v: [dot]",
            "v: {line: 3}",
        ];
        for doc in shapes {
            let (ours, json) = both::<Shape>(doc);
            assert_eq!(ours, json, "{doc}");
        }
        for doc in ["v: 7", "v: seven", "v: 70000", "v: [7]", "v: true"] {
            let (ours, json) = both::<Either>(doc);
            assert_eq!(ours, json, "{doc}");
        }
        for doc in ["v: {1: a, 2: b}", "v: [a, b]"] {
            let (ours, json) = both::<std::collections::BTreeMap<u32, String>>(doc);
            assert_eq!(ours, json, "{doc}");
        }
        // Where serde_json says "expected key to be a number in quotes", the key is named.
        let (ours, _) = both::<std::collections::BTreeMap<u32, String>>("v: {one: a}");
        assert_eq!(ours, "invalid type: string \"one\", expected u32");
        for doc in ["v: [true, false]", "v: [1, 'a']", "v: ~", "v: yes"] {
            let (ours, json) = both::<Option<Vec<bool>>>(doc);
            assert_eq!(ours, json, "{doc}");
        }
    }
}
