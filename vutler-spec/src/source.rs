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

/// The set of files a stack was loaded from. A clone shares the files' texts (every report of a
/// load holds its sources, and every environment of a folder its base files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    files: Vec<std::sync::Arc<SourceFile>>,
}

impl Sources {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(std::sync::Arc::new(SourceFile {
            name: name.into(),
            text: text.into(),
        }));
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
        self.files.iter().enumerate().map(|(i, f)| (FileId(i), &**f))
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

/// The byte offsets of character indices in a text (YAML's parser counts characters): at once
/// in ASCII text, else by a scan of at most [`CharOffsets::STEP`] characters from a checkpoint,
/// so that locating every node of a file is linear in its size.
#[derive(Debug)]
pub(crate) struct CharOffsets<'t> {
    text: &'t str,
    /// The byte offset of every `STEP`-th character; empty for ASCII text.
    checkpoints: Vec<usize>,
}

impl<'t> CharOffsets<'t> {
    const STEP: usize = 64;

    pub(crate) fn new(text: &'t str) -> Self {
        let checkpoints = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().step_by(Self::STEP).map(|(i, _)| i).collect()
        };
        Self { text, checkpoints }
    }

    /// The byte offset of the character at `index` (the text's length past its end).
    pub(crate) fn byte(&self, index: usize) -> usize {
        if self.checkpoints.is_empty() {
            return index.min(self.text.len());
        }
        let Some(&start) = self.checkpoints.get(index / Self::STEP) else {
            return self.text.len();
        };
        self.text[start..]
            .char_indices()
            .nth(index % Self::STEP)
            .map_or(self.text.len(), |(i, _)| start + i)
    }
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
        let offsets = CharOffsets::new(text);
        assert_eq!(offsets.byte(9), x);
        assert_eq!(offsets.byte(99), text.len());
    }

    #[test]
    fn character_indices_map_to_byte_offsets() {
        let ascii = "abc\ndef";
        let offsets = CharOffsets::new(ascii);
        assert_eq!(
            (offsets.byte(0), offsets.byte(5), offsets.byte(99)),
            (0, 5, ascii.len())
        );
        let text = format!("{}é{}ü\nz", "a".repeat(100), "b".repeat(70));
        let offsets = CharOffsets::new(&text);
        for (char_index, (byte, _)) in text.char_indices().enumerate() {
            assert_eq!(offsets.byte(char_index), byte, "{char_index}");
        }
        assert_eq!(offsets.byte(text.chars().count()), text.len());
    }
}
