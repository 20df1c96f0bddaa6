//! What a PromQL expression reads: the metric and the scrape jobs each of its selectors names.
//!
//! Expressions are parsed by `promql-parser`; this module only walks the syntax tree it returns,
//! so alert rules and panel queries can be checked against the scrape jobs that feed them.

use promql_parser::label::{METRIC_NAME, MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};

/// The label Prometheus sets to the name of the scrape job a series came from.
pub const JOB_LABEL: &str = "job";

/// Series Prometheus writes itself, for every target of every job (`up`, `scrape_*`) or for
/// alerting rules (`ALERTS*`): no exporter has to produce them.
pub const SYNTHETIC_METRICS: [&str; 7] = [
    "up",
    "ALERTS",
    "ALERTS_FOR_STATE",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Whether Prometheus produces the series itself, whatever the job (see [`SYNTHETIC_METRICS`]).
pub fn is_synthetic(metric: &str) -> bool {
    SYNTHETIC_METRICS.contains(&metric)
}

/// A PromQL expression that parses, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Expression(String);

impl Expression {
    /// Parses an expression; `Err` is the parser's first line of explanation.
    pub fn parse(text: &str) -> Result<(Self, Expr), String> {
        promql_parser::parser::parse(text)
            .map(|ast| (Self(text.to_owned()), ast))
            .map_err(|e| e.lines().next().unwrap_or_default().trim().to_owned())
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One vector or matrix selector of an expression (one alternative of a selector whose label
/// matchers are joined with `or`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric selected: the selector's name (`up` in `up{job="x"}`) or the value of a
    /// `__name__="..."` matcher; `None` when it selects by other labels only.
    pub metric: Option<String>,
    /// The values of its `job="..."` equality matchers (regular expressions are not followed).
    pub jobs: Vec<String>,
}

/// Every selector of an expression, in the order they are written.
pub fn selectors(expr: &Expr) -> Vec<Selector> {
    let mut out = Vec::new();
    walk(expr, &mut out);
    out
}

fn walk(expr: &Expr, out: &mut Vec<Selector>) {
    match expr {
        Expr::Aggregate(a) => {
            // The parameter (`topk(3, ...)`, `quantile(0.9, ...)`) is written first.
            if let Some(param) = &a.param {
                walk(param, out);
            }
            walk(&a.expr, out);
        }
        Expr::Unary(u) => walk(&u.expr, out),
        Expr::Binary(b) => {
            walk(&b.lhs, out);
            walk(&b.rhs, out);
        }
        Expr::Paren(p) => walk(&p.expr, out),
        Expr::Subquery(s) => walk(&s.expr, out),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::VectorSelector(vs) => vector(vs, out),
        Expr::MatrixSelector(ms) => vector(&ms.vs, out),
        Expr::Call(c) => {
            for arg in &c.args.args {
                walk(arg, out);
            }
        }
        Expr::Extension(e) => {
            for child in e.expr.children() {
                walk(child, out);
            }
        }
    }
}

fn vector(vs: &VectorSelector, out: &mut Vec<Selector>) {
    let m = &vs.matchers;
    // Without `or`, every matcher is in `matchers`; with it, each alternative is a group of
    // `or_matchers` (and `matchers` is empty).
    let groups: Vec<&[Matcher]> = if m.or_matchers.is_empty() {
        vec![&m.matchers]
    } else {
        m.or_matchers.iter().map(Vec::as_slice).collect()
    };
    for group in groups {
        let equal = |label: &'static str| {
            group
                .iter()
                .filter(move |x| x.name == label && x.op == MatchOp::Equal)
                .map(|x| x.value.clone())
        };
        let mut jobs: Vec<String> = Vec::new();
        for job in equal(JOB_LABEL) {
            if !jobs.contains(&job) {
                jobs.push(job);
            }
        }
        out.push(Selector {
            metric: vs.name.clone().or_else(|| equal(METRIC_NAME).next()),
            jobs,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(metric, jobs)` of each selector.
    fn sel(expr: &str) -> Vec<(Option<String>, Vec<String>)> {
        let ast = promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        selectors(&ast).into_iter().map(|s| (s.metric, s.jobs)).collect()
    }

    fn s(metric: &str, jobs: &[&str]) -> (Option<String>, Vec<String>) {
        (
            (!metric.is_empty()).then(|| metric.to_owned()),
            jobs.iter().map(|j| (*j).to_owned()).collect(),
        )
    }

    #[test]
    fn names_and_job_matchers_of_plain_selectors() {
        assert_eq!(sel("up"), [s("up", &[])]);
        assert_eq!(sel(r#"up{job="postgres"} == 0"#), [s("up", &["postgres"])]);
        assert_eq!(
            sel(r#"{__name__="pg_up", job="postgres"}"#),
            [s("pg_up", &["postgres"])]
        );
        assert_eq!(sel(r#"{job="postgres"}"#), [s("", &["postgres"])]);
    }

    #[test]
    fn only_job_equality_matchers_count() {
        assert_eq!(sel(r#"up{job=~"postgres|redis"}"#), [s("up", &[])]);
        assert_eq!(sel(r#"up{job!="postgres", instance="x"}"#), [s("up", &[])]);
        assert_eq!(sel(r#"{__name__=~"pg_.*", job="postgres"}"#), [s("", &["postgres"])]);
    }

    #[test]
    fn or_matchers_are_separate_selectors() {
        assert_eq!(
            sel(r#"up{job="a" or job="b", instance="x"}"#),
            [s("up", &["a"]), s("up", &["b"])]
        );
    }

    #[test]
    fn walks_every_kind_of_expression_in_written_order() {
        assert_eq!(
            sel(r#"rate(a_total{code=~"5.."}[5m]) / ignoring(code) -b > bool 1"#),
            [s("a_total", &[]), s("b", &[])]
        );
        assert_eq!(
            sel("histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))"),
            [s("h_bucket", &[])]
        );
        assert_eq!(sel("topk(scalar(q), m)"), [s("q", &[]), s("m", &[])]);
        assert_eq!(sel(r#"count_values("v", m)"#), [s("m", &[])]);
        assert_eq!(
            sel("max_over_time((a + b)[30m:1m] offset 5m)"),
            [s("a", &[]), s("b", &[])]
        );
        assert_eq!(
            sel(r#"label_replace(absent(up{job="x"}), "a", "$1", "b", "(.*)")"#),
            [s("up", &["x"])]
        );
        assert_eq!(sel("vector(1) + 2"), []);
    }

    #[test]
    fn synthetic_series_are_known() {
        assert!(is_synthetic("up") && is_synthetic("ALERTS") && is_synthetic("scrape_series_added"));
        assert!(!is_synthetic("pg_up"));
    }
}
