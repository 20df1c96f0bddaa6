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
    ///
    /// `promql-parser` compiles the regular expression of every `=~`/`!~` matcher, which costs
    /// more than parsing the rest (a stack of 10,000 alert rules with `code=~"5.."` compiled it
    /// 10,000 times). Each distinct pattern is checked once here, and the syntax tree is parsed
    /// from the expression with each regex matcher replaced by one that needs no regex and
    /// selects the same way for [`selectors`] (which does not follow regex matchers) and for
    /// the parser's "at least one matcher that does not match the empty string" rule. Any
    /// problem is reported by parsing the expression as written, so messages are the parser's.
    pub fn parse(text: &str) -> Result<(Self, Expr), String> {
        let first_line = |e: String| e.lines().next().unwrap_or_default().trim().to_owned();
        let parsed = match without_regexes(text) {
            Some(plain) => promql_parser::parser::parse(&plain).ok(),
            None => None,
        };
        match parsed {
            Some(ast) => Ok((Self(text.to_owned()), ast)),
            None => promql_parser::parser::parse(text)
                .map(|ast| (Self(text.to_owned()), ast))
                .map_err(first_line),
        }
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

/// The value a regex matcher that cannot match the empty string is parsed as: an equality
/// matcher (no regex), never read as a metric or job name (see [`vector`]).
const REGEX_STANDIN: &str = "__vutler_regex__";

/// The expression with every label matcher's regex that is valid replaced by a matcher that
/// needs none: `=~re` by `="<stand-in>"`, or by `=~""` when `re` matches the empty string (and
/// `!~` alike), so that whether a selector has a matcher that does not match the empty string is
/// unchanged. `None` when a pattern is invalid or the text does not scan (the caller parses the
/// text as written, for the parser's message).
fn without_regexes(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied, mut depth) = (0, 0, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => i = text[i..].find('\n').map_or(bytes.len(), |n| i + n),
            q @ (b'"' | b'\'' | b'`') => i = string_end(bytes, i, q)?,
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            op @ (b'=' | b'!') if depth > 0 && bytes.get(i + 1) == Some(&b'~') => {
                let mut start = i + 2;
                while bytes.get(start).is_some_and(u8::is_ascii_whitespace) {
                    start += 1;
                }
                let quote = *bytes.get(start)?;
                if !matches!(quote, b'"' | b'\'' | b'`') {
                    return None;
                }
                let end = string_end(bytes, start, quote)?;
                let matches_empty = pattern_matches_empty(&text[start..end])?;
                out.push_str(&text[copied..i]);
                out.push_str(match (op, matches_empty) {
                    (b'=', true) => "=~\"\"",
                    (b'=', false) => "=\"__vutler_regex__\"",
                    (_, true) => "!~\"\"",
                    (_, false) => "!=\"__vutler_regex__\"",
                });
                (i, copied) = (end, end);
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// One past the closing quote of the string literal opening at `start` (backslash escapes in
/// `"` and `'` strings, none in raw `` ` `` ones); `None` when it is not closed on its line.
fn string_end(bytes: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            b'\n' if quote != b'`' => return None,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Whether the regex of a matcher's string literal (as written, quotes included) matches the
/// empty string; `None` when it is not a valid pattern. Each distinct literal is compiled once
/// per thread, by the parser itself (so validity is exactly the parser's), and remembered.
fn pattern_matches_empty(literal: &str) -> Option<bool> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static SEEN: RefCell<HashMap<String, Option<bool>>> = RefCell::new(HashMap::new());
    }
    if let Some(known) = SEEN.with(|seen| seen.borrow().get(literal).copied()) {
        return known;
    }
    let probe = format!("x{{l=~{literal}}}");
    let verdict = match promql_parser::parser::parse(&probe) {
        Ok(Expr::VectorSelector(vs)) => vs.matchers.matchers.iter().find_map(|m| match &m.op {
            MatchOp::Re(re) => Some(re.is_match("")),
            _ => None,
        }),
        _ => None,
    };
    SEEN.with(|seen| seen.borrow_mut().insert(literal.to_owned(), verdict));
    verdict
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
                .filter(move |x| x.name == label && x.op == MatchOp::Equal && x.value != REGEX_STANDIN)
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

    /// `(metric, jobs)` of each selector, the same whether the regexes are replaced or not.
    fn sel(expr: &str) -> Vec<(Option<String>, Vec<String>)> {
        let ast = promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let plain = selectors(&ast).into_iter().map(|s| (s.metric, s.jobs)).collect();
        let (_, fast) = Expression::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let fast: Vec<_> = selectors(&fast).into_iter().map(|s| (s.metric, s.jobs)).collect();
        assert_eq!(fast, plain, "{expr}");
        plain
    }

    /// What the parser accepts and refuses is the same with the regexes replaced, and so is
    /// its message.
    #[test]
    fn regex_matchers_are_checked_as_the_parser_checks_them() {
        for expr in [
            r#"up{job=~"a|b"}"#,
            r#"{job=~".*"}"#,
            r#"{job=~".+"}"#,
            r#"{job!~".*", x="1"}"#,
            r#"{job!~"x"}"#,
            r#"{job=~"("}"#,
            r#"rate(x{code=~'5..'}[5m]) # a comment with =~ "("
                > 0"#,
            r#"x{a=~`raw\d`, b!~"esc\"aped"}"#,
            r#"x{a=~"5..", b=~"5.."} or y{c=~"5.."}"#,
            r#"label_replace(up, "a", "$1", "b", "=~(.*)")"#,
            r#"x{a=~"unclosed}"#,
            r#"x{a=~ "spaced"}"#,
            r#"x{a=~bare}"#,
        ] {
            let as_written = promql_parser::parser::parse(expr)
                .map(|_| ())
                .map_err(|e| e.lines().next().unwrap_or_default().trim().to_owned());
            let ours = Expression::parse(expr).map(|_| ());
            assert_eq!(ours, as_written, "{expr}");
        }
        assert_eq!(
            without_regexes(r#"x{a=~"5.."}"#).as_deref(),
            Some(r#"x{a="__vutler_regex__"}"#)
        );
        assert_eq!(without_regexes(r#"x{a!~".*"}"#).as_deref(), Some(r#"x{a!~""}"#));
        // A `=~` outside braces is not a matcher: left alone.
        assert_eq!(
            without_regexes(r#"label_replace(up, "=~", "x")"#).as_deref(),
            Some(r#"label_replace(up, "=~", "x")"#)
        );
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
