//! Typed spec paths: where in the merged document a value is (`services.vutler.depends_on[1]`).
//!
//! Diagnostics carry a [`SpecPath`] made of [`Segment`]s rather than a string, so the loader finds
//! the node (and so the file and line) a problem is about without parsing text back.

use std::fmt;

pub use crate::tree::Segment;

/// A path of mapping keys and sequence indices from the document's root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SpecPath(Vec<Segment>);

impl SpecPath {
    /// The document itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// The path of a top-level key.
    pub fn top(key: &str) -> Self {
        Self::root().key(key)
    }

    /// This path, one mapping key deeper.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_owned()));
        next
    }

    /// This path, one sequence index deeper.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(i));
        next
    }

    /// Appends a key in place (for walks that push and pop).
    pub fn push_key(&mut self, key: &str) {
        self.0.push(Segment::Key(key.to_owned()));
    }

    /// Appends an index in place.
    pub fn push_index(&mut self, i: usize) {
        self.0.push(Segment::Index(i));
    }

    /// Removes the last segment.
    pub fn pop(&mut self) {
        self.0.pop();
    }

    /// The path without its last segment (the root stays the root).
    #[must_use]
    pub fn parent(&self) -> Self {
        let mut up = self.clone();
        up.0.pop();
        up
    }

    /// The segments, from the root.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether this is the root.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Segment>> for SpecPath {
    fn from(segments: Vec<Segment>) -> Self {
        Self(segments)
    }
}

impl fmt::Display for SpecPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_display_as_written_in_messages() {
        let p = SpecPath::top("services").key("vutler").key("depends_on").index(1);
        assert_eq!(p.to_string(), "services.vutler.depends_on[1]");
        assert_eq!(p.parent().to_string(), "services.vutler.depends_on");
        assert_eq!(SpecPath::root().to_string(), "");
        assert_eq!(SpecPath::top("a").index(0).index(2).key("b").len(), 4);
    }
}
