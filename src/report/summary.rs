//! The end-of-suite summary: one line per run, then a table per evaluator.

use crate::evaluation::fmt_score;
use crate::suite::tally::Tally;
use std::fmt::Write;

pub struct SummaryInput<'a> {
    pub suite_id: &'a str,
    pub status: &'a str,
    pub duration_s: f64,
    pub runs: usize,
    pub tally: &'a Tally,
    pub store_path: Option<&'a str>,
    /// Why the suite stopped early (status "stopped").
    pub stop_reason: Option<&'a str>,
}

pub fn render(s: &SummaryInput) -> String {
    let t = s.tally;
    let mut out = String::new();
    let verdict = if s.status != "completed" {
        s.status.to_uppercase()
    } else if t.passed() {
        "PASSED".to_string()
    } else {
        "FAILED".to_string()
    };
    let _ = writeln!(
        out,
        "{} {}: {}/{} cases in {} run{} ({:.2} s), {} errored",
        verdict,
        s.suite_id,
        t.cases_done,
        t.cases,
        s.runs,
        if s.runs == 1 { "" } else { "s" },
        s.duration_s,
        t.cases_errored,
    );
    if let Some(reason) = s.stop_reason {
        let _ = writeln!(
            out,
            "  stopped: {reason}; {} cases not run",
            t.cases - t.cases_done
        );
    }
    if t.retries > 0 {
        let _ = writeln!(
            out,
            "  {} attempts retried after rate limits ({} cases), counted apart from failures",
            t.retries, t.cases_retried
        );
    }
    if !t.evaluators.is_empty() {
        let width = t
            .evaluators
            .iter()
            .map(|e| e.id.chars().count())
            .max()
            .unwrap_or(0)
            .max(9);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>7} {:>7} {:>7} {:>12} {:>10}",
            "evaluator", "passed", "failed", "errored", "no threshold", "mean score"
        );
        for e in &t.evaluators {
            let mean = e.mean_score().map(fmt_score).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "  {:<width$}  {:>7} {:>7} {:>7} {:>12} {:>10}",
                e.id, e.passed, e.failed, e.errored, e.no_threshold, mean
            );
        }
    }
    if let Some(path) = s.store_path {
        let _ = writeln!(out, "  stored in {path}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::Verdict;

    #[test]
    fn shows_counts_per_evaluator() {
        let mut t = Tally::new(2, &["has-all-substrings".into()]);
        t.cases_done = 2;
        t.evaluators[0].add(Verdict::Passed, Some(1.0));
        t.evaluators[0].add(Verdict::Failed, Some(0.5));
        let text = render(&SummaryInput {
            suite_id: "demo",
            status: "completed",
            duration_s: 0.5,
            runs: 1,
            tally: &t,
            store_path: None,
            stop_reason: None,
        });
        assert!(
            text.starts_with("FAILED demo: 2/2 cases in 1 run"),
            "{text}"
        );
        assert!(
            text.contains("has-all-substrings        1       1       0            0       0.75"),
            "{text}"
        );
        assert!(
            !text.contains("retried") && !text.contains("stopped"),
            "{text}"
        );
    }

    #[test]
    fn shows_a_stop_and_retries_apart_from_failures() {
        let mut t = Tally::new(10, &[]);
        t.cases_done = 4;
        t.retries = 7;
        t.cases_retried = 3;
        let text = render(&SummaryInput {
            suite_id: "demo",
            status: "stopped",
            duration_s: 0.5,
            runs: 1,
            tally: &t,
            store_path: None,
            stop_reason: Some("budget exhausted: 120 tokens used of max_tokens=100"),
        });
        assert!(text.starts_with("STOPPED demo: 4/10 cases"), "{text}");
        assert!(
            text.contains(
                "stopped: budget exhausted: 120 tokens used of max_tokens=100; 6 cases not run"
            ),
            "{text}"
        );
        assert!(
            text.contains("7 attempts retried after rate limits (3 cases)"),
            "{text}"
        );
    }
}
