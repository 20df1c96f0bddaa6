//! The rendered file tree: an ordered map from relative path to contents.

use std::collections::BTreeMap;
use std::fmt;

/// A rendered tree: relative paths (`nginx/nginx.conf`) to file contents, in path order, so
/// iterating, writing and diffing are deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    files: BTreeMap<String, String>,
}

/// A path that cannot be part of a rendered tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPathError {
    /// The refused path.
    pub path: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl fmt::Display for RenderedPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot render {:?}: {}", self.path, self.reason)
    }
}

impl std::error::Error for RenderedPathError {}

impl Rendered {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file. Paths are relative, `/`-separated, without `.` or `..` segments, and each is
    /// added once: a second file at the same path is a renderer bug, reported as an error.
    pub fn insert(&mut self, path: impl Into<String>, contents: impl Into<String>) -> Result<(), RenderedPathError> {
        let path = path.into();
        let refuse = |reason| {
            Err(RenderedPathError {
                path: path.clone(),
                reason,
            })
        };
        if path.is_empty() || path.starts_with('/') || path.ends_with('/') || path.contains('\\') {
            return refuse("paths are relative and name a file");
        }
        if path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
            return refuse("paths have no empty, `.` or `..` segments");
        }
        if self.files.contains_key(&path) {
            return refuse("rendered twice");
        }
        self.files.insert(path, contents.into());
        Ok(())
    }

    /// Adds every file of another tree, each as [`Rendered::insert`] does.
    pub fn append(&mut self, other: Rendered) -> Result<(), RenderedPathError> {
        other
            .files
            .into_iter()
            .try_for_each(|(path, contents)| self.insert(path, contents))
    }

    /// The contents at a path.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// The files under a folder (`grafana/provisioning`), in path order.
    pub fn under<'a>(&'a self, folder: &str) -> impl Iterator<Item = (&'a str, &'a str)> {
        let prefix = format!("{folder}/");
        self.files
            .range(prefix.clone()..)
            .take_while(move |(p, _)| p.starts_with(&prefix))
            .map(|(p, c)| (p.as_str(), c.as_str()))
    }

    /// Every file, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, c)| (p.as_str(), c.as_str()))
    }

    /// Whether the file at a path is a script to be written executable (it starts with `#!`).
    pub fn is_executable(&self, path: &str) -> bool {
        self.get(path).is_some_and(|c| c.starts_with("#!"))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_and_ordered() {
        let mut r = Rendered::new();
        assert!(r.insert("b/x.conf", "1").is_ok());
        assert!(r.insert("a.yml", "2").is_ok());
        assert_eq!(r.iter().map(|(p, _)| p).collect::<Vec<_>>(), ["a.yml", "b/x.conf"]);
        for bad in ["", "/etc/passwd", "../x", "a/./b", "a//b", "dir/", "a\\b"] {
            assert!(r.insert(bad, "").is_err(), "{bad:?}");
        }
        assert_eq!(r.insert("a.yml", "3").map_err(|e| e.reason), Err("rendered twice"));
        assert_eq!(r.get("a.yml"), Some("2"));
        assert_eq!(r.len(), 2);
    }
}
