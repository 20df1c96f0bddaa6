//! Spec source files and byte spans into them.
//!
//! Every node of a parsed spec remembers the file and byte range it came from, so that a
//! diagnostic found long after parsing (a dangling reference, a resource total) can still point
//! at the line the operator has to edit.

use std::fmt;
use std::ops::Range;

/// Index of a file in a [`Sources`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub(crate) usize);

impl FileId {
    /// The position of this file in its [`Sources`] set.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A byte range in one spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// The file the range lies in.
    pub file: FileId,
    /// First byte of the range.
    pub start: usize,
    /// One past the last byte of the range.
    pub end: usize,
}

impl Span {
    /// The byte range, for use with a diagnostics renderer.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// A spec file: the name it is reported under and its full text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Name used in diagnostics, usually the path relative to the working directory.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// A 1-based line and column (in characters) of a position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The set of files a stack was loaded from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile {
            name: name.into(),
            text: text.into(),
        });
        FileId(self.files.len() - 1)
    }

    /// The file behind an id.
    ///
    /// # Panics
    /// When the id belongs to another set, which is a bug in the caller.
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    /// Every file with its id, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i), f))
    }

    /// Line and column of the start of a span.
    pub fn line_col(&self, span: Span) -> LineCol {
        line_col(&self.get(span.file).text, span.start)
    }

    /// `file:line:col` of the start of a span.
    pub fn describe(&self, span: Span) -> String {
        format!("{}:{}", self.get(span.file).name, self.line_col(span))
    }
}

/// Line and column of a byte offset in a text (offsets past the end clamp to the end).
pub(crate) fn line_col(text: &str, offset: usize) -> LineCol {
    let offset = floor_char_boundary(text, offset);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    LineCol {
        line,
        column: before[line_start..].chars().count() + 1,
    }
}

/// Byte offset of a 1-based line and 0-based character column.
pub(crate) fn offset_of(text: &str, line: usize, char_col: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let line_text = &text[start..];
    let line_end = line_text.find('\n').unwrap_or(line_text.len());
    let col = line_text[..line_end]
        .char_indices()
        .nth(char_col)
        .map_or(line_end, |(i, _)| i);
    start + col
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let text = "a: 1\nbé: x\n";
        assert_eq!(line_col(text, 0), LineCol { line: 1, column: 1 });
        let x = text.find('x').unwrap_or_default();
        assert_eq!(line_col(text, x), LineCol { line: 2, column: 5 });
        assert_eq!(offset_of(text, 2, 4), x);
        assert_eq!(offset_of(text, 9, 0), text.len());
    }
}
