//! Problems found in a spec, kept as plain data.
//!
//! The spec crate never prints: it returns every [`Diagnostic`] it found, each with the
//! [`Rule`] it breaks, the [`SpecPath`] of the offending value and, when the value was written in
//! a file, its [`Span`]. Turning them into pretty source excerpts is the caller's business (the CLI does it);
//! [`Report`]'s `Display` gives a plain one-line-per-problem form for logs and tests.

use std::fmt;

use crate::path::SpecPath;
use crate::rule::Rule;
use crate::source::{Sources, Span};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The spec is usable but something deserves attention.
    Warning,
    /// The spec cannot be rendered.
    Error,
}

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The rule the spec breaks; its id is what `error[id]` prints.
    pub rule: Rule,
    /// Spec path of the offending value, e.g. `services.vutler.depends_on[1]`; the root for the
    /// file as a whole.
    pub path: SpecPath,
    /// What is wrong, and what was expected.
    pub message: String,
    /// How to fix it, when there is more to say than the message.
    pub help: Option<String>,
    /// Where the offending value was written, when it was.
    pub span: Option<Span>,
    /// Other places that explain the problem, each with a short label (`first defined here`).
    pub related: Vec<(Span, String)>,
    /// Why the spec accepts this warning on purpose (its `allow` entry), when it does.
    pub allowed: Option<String>,
    /// Other places named by spec path, turned into [`Diagnostic::related`] spans once the
    /// spec's tree is at hand (validation works on the deserialized spec, without positions).
    pub(crate) related_paths: Vec<(SpecPath, String)>,
}

impl Diagnostic {
    /// A problem of a rule, with the rule's default severity.
    pub fn new(rule: Rule, path: SpecPath, message: impl Into<String>) -> Self {
        Self {
            severity: rule.default_severity(),
            rule,
            path,
            message: message.into(),
            help: None,
            span: None,
            related: Vec::new(),
            allowed: None,
            related_paths: Vec::new(),
        }
    }

    /// Whether this is a warning the spec does not allow: one that is printed, and fails a
    /// strict run.
    pub fn is_open_warning(&self) -> bool {
        self.severity == Severity::Warning && self.allowed.is_none()
    }

    /// A problem of the file as a whole (no spec path), at a place in it.
    pub fn at(rule: Rule, span: Span, message: impl Into<String>) -> Self {
        Self::new(rule, SpecPath::root(), message).with_span(span)
    }

    /// Attaches a location.
    pub fn with_span(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    /// Attaches a location when there is one.
    pub fn with_span_opt(mut self, span: Option<Span>) -> Self {
        self.span = span.or(self.span);
        self
    }

    /// Attaches a hint on how to fix the problem.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Points at another place that explains the problem.
    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// Points at another place that explains the problem, by its spec path.
    pub(crate) fn with_related_path(mut self, path: SpecPath, label: impl Into<String>) -> Self {
        self.related_paths.push((path, label.into()));
        self
    }

    /// The one-line form: `file:line:col: error[rule] path: message (help: ...) [label: file:line:col]`.
    pub fn display<'a>(&'a self, sources: &'a Sources) -> impl fmt::Display + 'a {
        DisplayDiagnostic {
            diagnostic: self,
            sources,
        }
    }
}

struct DisplayDiagnostic<'a> {
    diagnostic: &'a Diagnostic,
    sources: &'a Sources,
}

impl fmt::Display for DisplayDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diagnostic;
        if let Some(span) = d.span {
            write!(f, "{}: ", self.sources.describe(span))?;
        }
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}[{}] ", d.rule.id())?;
        if !d.path.is_empty() {
            write!(f, "{}: ", d.path)?;
        }
        f.write_str(&d.message)?;
        if let Some(help) = &d.help {
            write!(f, " (help: {help})")?;
        }
        for (span, label) in &d.related {
            write!(f, " [{label}: {}]", self.sources.describe(*span))?;
        }
        Ok(())
    }
}

/// Every problem found while loading a stack, with the files they point into.
#[derive(Debug, Clone)]
pub struct Report {
    /// The files the diagnostics' spans point into.
    pub sources: Sources,
    /// The problems, errors and warnings, in the order they were found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// How many diagnostics are errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{}", d.display(&self.sources))?;
        }
        Ok(())
    }
}

impl std::error::Error for Report {}
