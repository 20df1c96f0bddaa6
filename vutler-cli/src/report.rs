//! Diagnostics for other tools: `validate --format json` (a stable object of this tool) and
//! `--format sarif` (SARIF 2.1.0, what CI code scanning reads: every rule with its metadata, each
//! result with its rule, level, message and the spec file, line and column it points at).

use serde::Serialize;
use serde_sarif::sarif::{
    ArtifactLocation, Location, Message, MultiformatMessageString, PhysicalLocation, Region, ReportingConfiguration,
    ReportingDescriptor, Result as SarifResult, ResultLevel, Run, Sarif, Suppression, Tool, ToolComponent,
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

/// One SARIF run: the tool with every rule of the model (id, summary, explanation, default
/// level), and one result per diagnostic.
pub(crate) fn sarif_run(sources: &Sources, diagnostics: &[Diagnostic]) -> Run {
    let rules: Vec<ReportingDescriptor> = Rule::ALL
        .iter()
        .map(|r| {
            ReportingDescriptor::builder()
                .id(r.id())
                .name(r.id())
                .short_description(MultiformatMessageString::builder().text(r.summary()).build())
                .full_description(MultiformatMessageString::builder().text(r.explanation()).build())
                .default_configuration(
                    ReportingConfiguration::builder()
                        .level(serde_json::json!(severity(r.default_severity())))
                        .build(),
                )
                .build()
        })
        .collect();
    let results: Vec<SarifResult> = diagnostics
        .iter()
        .map(|d| {
            let mut text = format!("{}: {}", d.path, d.message);
            if let Some(help) = &d.help {
                text.push_str(&format!(" (help: {help})"));
            }
            let index = Rule::ALL.iter().position(|r| *r == d.rule).unwrap_or_default();
            let location = d.span.map(|s| {
                let p = place(sources, s);
                Location::builder()
                    .physical_location(
                        PhysicalLocation::builder()
                            .artifact_location(ArtifactLocation::builder().uri(uri(&p.file)).build())
                            .region(
                                Region::builder()
                                    .start_line(p.line as i64)
                                    .start_column(p.column as i64)
                                    .end_line(p.end_line as i64)
                                    .end_column(p.end_column as i64)
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
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
    let driver = ToolComponent::builder()
        .name("vutler-render")
        .version(env!("CARGO_PKG_VERSION"))
        .rules(rules)
        .build();
    Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results)
        .build()
}

/// A SARIF 2.1.0 log of these runs (one per environment).
pub(crate) fn sarif_log(runs: Vec<Run>) -> Sarif {
    Sarif::builder()
        .schema(serde_sarif::sarif::SCHEMA_URL)
        .version(serde_json::json!("2.1.0"))
        .runs(runs)
        .build()
}
