//! Typed spec paths: where in the merged document a value is (`services.vutler.depends_on[1]`).
//!
//! Diagnostics carry a [`SpecPath`] made of [`Segment`]s rather than a string, so the loader finds
//! the node (and so the file and line) a problem is about without parsing text back.

use std::fmt;
use std::sync::Arc;

pub use crate::tree::Segment;

/// A path of mapping keys and sequence indices from the document's root.
///
/// Paths share their prefixes: one deeper is one link onto its parent, so that naming the path of
/// every value checked (most of which never reach a diagnostic) costs the same at any depth.
#[derive(Clone, Default)]
pub struct SpecPath(Option<Arc<Link>>);

/// The last segment of a path, after the path before it.
struct Link {
    parent: SpecPath,
    segment: Segment,
    len: usize,
}

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
        self.then(Segment::Key(key.to_owned()))
    }

    /// This path, one sequence index deeper.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        self.then(Segment::Index(i))
    }

    fn then(&self, segment: Segment) -> Self {
        Self(Some(Arc::new(Link {
            parent: self.clone(),
            segment,
            len: self.len() + 1,
        })))
    }

    /// Appends a key in place (for walks that push and pop).
    pub fn push_key(&mut self, key: &str) {
        *self = self.key(key);
    }

    /// Appends an index in place.
    pub fn push_index(&mut self, i: usize) {
        *self = self.index(i);
    }

    /// Removes the last segment.
    pub fn pop(&mut self) {
        if let Some(link) = self.0.take() {
            *self = link.parent.clone();
        }
    }

    /// The path without its last segment (the root stays the root).
    #[must_use]
    pub fn parent(&self) -> Self {
        self.0.as_ref().map(|link| link.parent.clone()).unwrap_or_default()
    }

    /// The segments, from the root.
    pub fn segments(&self) -> Vec<Segment> {
        let mut segments: Vec<Segment> = self.links().map(|link| link.segment.clone()).collect();
        segments.reverse();
        segments
    }

    /// The last segment, then the one before it, up to the first.
    fn links(&self) -> impl Iterator<Item = &Link> {
        std::iter::successors(self.0.as_deref(), |link| link.parent.0.as_deref())
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |link| link.len)
    }

    /// Whether this is the root.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl PartialEq for SpecPath {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        for (a, b) in self.links().zip(other.links()) {
            if std::ptr::eq(a, b) {
                // The rest is one shared prefix.
                return true;
            }
            if a.segment != b.segment {
                return false;
            }
        }
        true
    }
}

impl Eq for SpecPath {}

impl std::hash::Hash for SpecPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for link in self.links() {
            link.segment.hash(state);
        }
    }
}

impl fmt::Debug for SpecPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SpecPath").field(&self.segments()).finish()
    }
}

impl From<Vec<Segment>> for SpecPath {
    fn from(segments: Vec<Segment>) -> Self {
        segments
            .into_iter()
            .fold(Self::root(), |path, segment| path.then(segment))
    }
}

impl fmt::Display for SpecPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments().iter().enumerate() {
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
        assert_eq!(SpecPath::root().parent(), SpecPath::root());
    }

    #[test]
    fn paths_are_equal_by_their_segments() {
        use std::collections::HashSet;
        let a = SpecPath::top("services").key("app").index(1);
        let b = SpecPath::from(vec![
            Segment::Key("services".into()),
            Segment::Key("app".into()),
            Segment::Index(1),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.segments(), b.segments());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_ne!(a, a.parent());
        assert_ne!(a, SpecPath::top("services").key("app").index(2));
        assert_ne!(SpecPath::top("x").key("y"), SpecPath::top("y").key("y"));
        let mut walked = SpecPath::top("services");
        walked.push_key("app");
        walked.push_index(1);
        assert_eq!(walked, a);
        walked.pop();
        walked.pop();
        walked.pop();
        assert!(walked.is_empty());
        let set: HashSet<SpecPath> = [a.clone(), b, a.parent()].into_iter().collect();
        assert_eq!(set.len(), 2);
    }
}
