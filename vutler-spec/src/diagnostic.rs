//! Problems found in a spec, kept as plain data.
//!
//! The spec crate never prints: it returns every [`Diagnostic`] it found, each with a stable
//! code, the spec path of the offending value and, when the value was written in a file, its
//! [`Span`]. Turning them into pretty source excerpts is the caller's business (the CLI does it);
//! [`Report`]'s `Display` gives a plain one-line-per-problem form for logs and tests.

use std::fmt;

use crate::source::{Sources, Span};

/// Stable identifiers of every kind of problem, used as `error[code]` in messages.
pub mod code {
    /// The file could not be read.
    pub const IO: &str = "io";
    /// YAML or TOML syntax error.
    pub const SYNTAX: &str = "syntax";
    /// A value has the wrong type, or a required key is missing.
    pub const TYPE: &str = "type";
    /// A key the spec does not know.
    pub const UNKNOWN_KEY: &str = "unknown-key";
    /// Two entries with the same name.
    pub const DUPLICATE: &str = "duplicate";
    /// An overlay that cannot be applied (`$remove` misuse, a removed entry that does not exist).
    pub const OVERLAY: &str = "overlay";
    /// A reference to something that does not exist.
    pub const DANGLING: &str = "dangling-ref";
    /// A `depends_on` cycle.
    pub const CYCLE: &str = "depends-on-cycle";
    /// `service_healthy` on a service without healthcheck.
    pub const NO_HEALTHCHECK: &str = "no-healthcheck";
    /// Two services publish the same host port.
    pub const PORT_COLLISION: &str = "port-collision";
    /// `container_name` on a replicated service.
    pub const CONTAINER_NAME: &str = "container-name-replicas";
    /// A malformed unit (cpus, size, duration).
    pub const UNIT: &str = "unit";
    /// Resource totals over the target VM.
    pub const CAPACITY: &str = "capacity";
    /// A secret written as a literal value.
    pub const SECRET_LITERAL: &str = "secret-literal";
    /// A value outside its strict grammar (domain names, paths, names, images).
    pub const GRAMMAR: &str = "grammar";
    /// An invalid cron schedule.
    pub const CRON: &str = "cron";
    /// An alert expression that is not valid PromQL.
    pub const PROMQL: &str = "promql";
    /// An alert rule or panel query uses a metric that no scrape job produces, or that the job
    /// its `job="..."` matcher selects does not produce (`scrape_jobs.*.metrics`).
    pub const UNKNOWN_METRIC: &str = "unknown-metric";
    /// A TLS protocol outside TLSv1.2 and TLSv1.3.
    pub const TLS: &str = "tls";
    /// A service without resource limits outside dev.
    pub const LIMITS: &str = "limits";
    /// Any other inconsistency between parts of the spec.
    pub const INVALID: &str = "invalid";
}

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
    /// Stable identifier of the kind of problem (see [`code`]).
    pub code: &'static str,
    /// Spec path of the offending value, e.g. `services.vutler.depends_on[1]`; empty for the
    /// file as a whole.
    pub path: String,
    /// What is wrong, and what was expected.
    pub message: String,
    /// How to fix it, when there is more to say than the message.
    pub help: Option<String>,
    /// Where the offending value was written, when it was.
    pub span: Option<Span>,
    /// Other places that explain the problem, each with a short label (`first defined here`).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            path: path.into(),
            message: message.into(),
            help: None,
            span: None,
            related: Vec::new(),
        }
    }

    /// A warning.
    pub fn warning(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, path, message)
        }
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

    /// The one-line form: `file:line:col: error[code] path: message (help: ...) [label: file:line:col]`.
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
        write!(f, "{level}[{}] ", d.code)?;
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
