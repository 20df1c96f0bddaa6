//! Diagnostics for other tools: `validate --format json` (a stable object of this tool) and
//! `--format sarif` (SARIF 2.1.0, what CI code scanning reads: every rule with its metadata, each
//! result with its rule, level, message and the spec file, line and column it points at).

use serde::Serialize;
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, Message, MultiformatMessageString, Notification, PhysicalLocation, Region,
    ReportingConfiguration, ReportingDescriptor, Result as SarifResult, ResultLevel, Run, RunAutomationDetails, Sarif,
    Suppression, Tool, ToolComponent,
};
use vutler_spec::Rule;
use vutler_spec::diagnostic::{Diagnostic, Severity};
use vutler_spec::source::{Sources, Span};

/// Where a diagnostic points: the file as named in messages, and 1-based positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Place {
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

fn place(sources: &Sources, span: Span) -> Place {
    let start = sources.line_col(span);
    let end = sources.line_col(Span {
        start: span.end,
        ..span
    });
    Place {
        file: sources.get(span.file).name.clone(),
        line: start.line,
        column: start.column,
        end_line: end.line,
        end_column: end.column,
    }
}

/// One diagnostic as `validate --format json` prints it. Field names are a stable interface.
#[derive(Debug, Serialize)]
struct DiagnosticJson<'a> {
    severity: &'static str,
    rule: &'static str,
    path: String,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
    /// Why the spec accepts this warning (its `allow` entry), when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<&'a str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    at: Option<Place>,
}

/// What `validate --format json` prints. Field names are a stable interface.
#[derive(Debug, Serialize)]
pub(crate) struct ValidateJson<'a> {
    env: &'a str,
    valid: bool,
    strict: bool,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<DiagnosticJson<'a>>,
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The JSON of a validation: `valid` is what the exit status says (with `strict`, a warning makes
/// the spec invalid).
pub(crate) fn validate_json<'a>(
    env: &'a str,
    sources: &Sources,
    diagnostics: &'a [Diagnostic],
    strict: bool,
) -> ValidateJson<'a> {
    let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diagnostics.iter().filter(|d| d.is_open_warning()).count();
    ValidateJson {
        env,
        valid: errors == 0 && !(strict && warnings > 0),
        strict,
        errors,
        warnings,
        diagnostics: diagnostics
            .iter()
            .map(|d| DiagnosticJson {
                severity: severity(d.severity),
                rule: d.rule.id(),
                path: d.path.to_string(),
                message: &d.message,
                help: d.help.as_deref(),
                allowed: d.allowed.as_deref(),
                at: d.span.map(|s| place(sources, s)),
            })
            .collect(),
    }
}

/// A spec file's name as a URI reference: a relative path as it is (relative to where the tool
/// ran, the repository's root in CI), an absolute one as a `file://` URI.
fn uri(name: &str) -> String {
    let encoded: String = name
        .chars()
        .map(|c| match c {
            '%' => "%25".to_owned(),
            ' ' => "%20".to_owned(),
            '#' => "%23".to_owned(),
            '?' => "%3F".to_owned(),
            c => c.to_string(),
        })
        .collect();
    if name.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

fn level(s: Severity) -> ResultLevel {
    match s {
        Severity::Error => ResultLevel::Error,
        Severity::Warning => ResultLevel::Warning,
    }
}

/// A way a folder differs from what the spec renders (`check --format sarif`): the rules of
/// `check`'s results, beside the spec's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriftKind {
    /// A file whose bytes differ from the render.
    Changed,
    /// A rendered file the folder lacks.
    Missing,
    /// A file generated before that the spec no longer renders.
    Unexpected,
    /// A generated path that is a symlink or lies behind one.
    NotAFile,
    /// A file whose executable bit is not the rendered one.
    Mode,
}

impl DriftKind {
    const ALL: [DriftKind; 5] = [
        DriftKind::Changed,
        DriftKind::Missing,
        DriftKind::Unexpected,
        DriftKind::NotAFile,
        DriftKind::Mode,
    ];

    /// The rule id; none is a spec rule's.
    pub(crate) fn id(self) -> &'static str {
        match self {
            DriftKind::Changed => "drift-changed",
            DriftKind::Missing => "drift-missing",
            DriftKind::Unexpected => "drift-unexpected",
            DriftKind::NotAFile => "drift-not-a-file",
            DriftKind::Mode => "drift-mode",
        }
    }

    fn summary(self) -> &'static str {
        match self {
            DriftKind::Changed => "A deployed file differs from what the spec renders.",
            DriftKind::Missing => "A file the spec renders is absent from the deployed folder.",
            DriftKind::Unexpected => "A file vutler-render generated before is no longer rendered.",
            DriftKind::NotAFile => "A generated path is a symlink or lies behind one.",
            DriftKind::Mode => "A deployed file's executable bit is not the rendered one.",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            DriftKind::Changed => {
                "The file was edited by hand, or the spec changed since the folder was rendered. Put \
                 the change into the spec and render again (`vutler-render --env ENV --out DIR`), \
                 or render again to undo the edit. Secret-looking values are redacted in the diff."
            }
            DriftKind::Missing => "Render again (`vutler-render --env ENV --out DIR`) to write it.",
            DriftKind::Unexpected => {
                "The spec no longer renders it (a service or feature was removed). Render again: \
                 `--out` removes generated files it no longer renders."
            }
            DriftKind::NotAFile => {
                "A symlink is never followed (it may point at anything on the machine, a secret \
                 included), so the file cannot be checked. Replace the symlink with the rendered file."
            }
            DriftKind::Mode => {
                "A script that lost its executable bit cannot be run by cron or by hand as \
                 `./scripts/...`. Render again, or `chmod +x` it (or `chmod -x` a file that is \
                 rendered not executable)."
            }
        }
    }
}

/// One difference between a folder and the render, for SARIF.
#[derive(Debug, Clone)]
pub(crate) struct DriftFinding {
    pub(crate) kind: DriftKind,
    /// The file in the folder, as the folder was named plus its path in the tree.
    pub(crate) file: String,
    /// The first line of the file that differs, when there is one.
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
}

/// What one SARIF run holds besides the tool: the command and environment it is of (each run of
/// a log needs its own `automationDetails.id`, which code scanning takes as the category), the
/// spec's diagnostics, `check`'s findings, and why the run stopped early, if it did.
pub(crate) struct RunOf<'a> {
    pub(crate) command: &'a str,
    pub(crate) env: &'a str,
    pub(crate) sources: &'a Sources,
    pub(crate) diagnostics: &'a [Diagnostic],
    pub(crate) drift: &'a [DriftFinding],
    pub(crate) failure: Option<String>,
}

fn descriptor(id: &str, summary: &str, explanation: &str, level: &str) -> ReportingDescriptor {
    ReportingDescriptor::builder()
        .id(id)
        .name(id)
        .short_description(MultiformatMessageString::builder().text(summary).build())
        .full_description(MultiformatMessageString::builder().text(explanation).build())
        .default_configuration(
            ReportingConfiguration::builder()
                .level(serde_json::json!(level))
                .build(),
        )
        .build()
}

fn location(file: &str, region: Option<Region>) -> Location {
    let artifact = PhysicalLocation::builder().artifact_location(ArtifactLocation::builder().uri(uri(file)).build());
    let physical = match region {
        Some(region) => artifact.region(region).build(),
        None => artifact.build(),
    };
    Location::builder().physical_location(physical).build()
}

/// One SARIF run: the tool with every rule of the model (id, summary, explanation, default
/// level) and of `check`, and one result per diagnostic and per finding.
pub(crate) fn sarif_run(run: RunOf<'_>) -> Run {
    let RunOf {
        command,
        env,
        sources,
        diagnostics,
        drift,
        failure,
    } = run;
    let rules: Vec<ReportingDescriptor> = Rule::ALL
        .iter()
        .map(|r| descriptor(r.id(), r.summary(), r.explanation(), severity(r.default_severity())))
        .chain(
            DriftKind::ALL
                .iter()
                .map(|k| descriptor(k.id(), k.summary(), k.explanation(), "error")),
        )
        .collect();
    let mut results: Vec<SarifResult> = diagnostics
        .iter()
        .map(|d| {
            let mut text = format!("{}: {}", d.path, d.message);
            if let Some(help) = &d.help {
                text.push_str(&format!(" (help: {help})"));
            }
            let index = Rule::ALL.iter().position(|r| *r == d.rule).unwrap_or_default();
            let location = d.span.map(|s| {
                let p = place(sources, s);
                let region = Region::builder()
                    .start_line(p.line as i64)
                    .start_column(p.column as i64)
                    .end_line(p.end_line as i64)
                    .end_column(p.end_column as i64)
                    .build();
                location(&p.file, Some(region))
            });
            let result = SarifResult::builder()
                .rule_id(d.rule.id())
                .rule_index(index as i64)
                .level(level(d.severity))
                .message(Message::builder().text(text).build())
                .locations(location.into_iter().collect::<Vec<_>>());
            // A warning the spec allows is a suppression in the source, with its reason.
            match &d.allowed {
                Some(reason) => result
                    .suppressions(vec![
                        Suppression::builder()
                            .kind(serde_json::json!("inSource"))
                            .justification(reason.as_str())
                            .build(),
                    ])
                    .build(),
                None => result.build(),
            }
        })
        .collect();
    results.extend(drift.iter().map(|f| {
        let index = Rule::ALL.len() + DriftKind::ALL.iter().position(|k| *k == f.kind).unwrap_or_default();
        let region = f.line.map(|line| Region::builder().start_line(line as i64).build());
        SarifResult::builder()
            .rule_id(f.kind.id())
            .rule_index(index as i64)
            .level(ResultLevel::Error)
            .message(Message::builder().text(f.message.as_str()).build())
            .locations(vec![location(&f.file, region)])
            .build()
    }));
    let driver = ToolComponent::builder()
        .name("vutler-render")
        .version(env!("CARGO_PKG_VERSION"))
        .rules(rules)
        .build();
    // A run that stopped early (a folder that cannot be read) says so, rather than reading as a
    // clean one.
    let invocation = match failure {
        Some(why) => Invocation::builder()
            .execution_successful(false)
            .tool_execution_notifications(vec![
                Notification::builder()
                    .level(serde_json::json!("error"))
                    .message(Message::builder().text(why).build())
                    .build(),
            ])
            .build(),
        None => Invocation::builder().execution_successful(true).build(),
    };
    Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .automation_details(
            RunAutomationDetails::builder()
                .id(format!("vutler-render/{command}/{env}/"))
                .build(),
        )
        .invocations(vec![invocation])
        .results(results)
        .build()
}

/// The run of a command on an environment whose only results are the spec's diagnostics.
pub(crate) fn spec_run(command: &str, env: &str, report: &vutler_spec::Report) -> Run {
    sarif_run(RunOf {
        command,
        env,
        sources: &report.sources,
        diagnostics: &report.diagnostics,
        drift: &[],
        failure: None,
    })
}

/// A SARIF 2.1.0 log of these runs (one per environment).
pub(crate) fn sarif_log(runs: Vec<Run>) -> Sarif {
    Sarif::builder()
        .schema(serde_sarif::sarif::SCHEMA_URL)
        .version(serde_json::json!("2.1.0"))
        .runs(runs)
        .build()
}
