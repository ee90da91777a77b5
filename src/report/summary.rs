//! The end-of-suite summary: one line per run, then a table per evaluator.

use crate::evaluation::fmt_score;
use crate::evaluation::trials::Judgement;
use crate::suite::tally::Tally;
use std::fmt::Write;

pub struct SummaryInput<'a> {
    pub suite_id: &'a str,
    pub status: &'a str,
    pub duration_s: f64,
    pub runs: usize,
    pub tally: &'a Tally,
    pub store_path: Option<&'a str>,
    /// With trials: each judged case's hash and judgement (empty otherwise).
    pub trial_cases: Vec<(&'a str, Judgement)>,
}

/// Most failing or flaky cases listed under a summary of trials.
const LISTED_CASES: usize = 20;

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
        "{} {}: {}/{} {} in {} run{} ({:.2} s), {} errored",
        verdict,
        s.suite_id,
        t.cases_done,
        t.cases,
        if t.verdicts.is_some() {
            "trials"
        } else {
            "cases"
        },
        s.runs,
        if s.runs == 1 { "" } else { "s" },
        s.duration_s,
        t.cases_errored,
    );
    if let Some(v) = &t.verdicts {
        let flaky = flaky_passed(s).min(v.passed);
        let _ = writeln!(
            out,
            "  cases: {} passed, {flaky} flaky, {} failed, of {} ({})",
            v.passed - flaky,
            v.failed,
            v.cases,
            v.plan
        );
        let listed = s.trial_cases.iter().filter(|(_, j)| !j.passed || j.flaky);
        for (hash, j) in listed.clone().take(LISTED_CASES) {
            let (lo, hi) = j.interval();
            let _ = writeln!(
                out,
                "    {:<6} {hash}: {}/{} trials passed, pass rate {} (95% CI {}-{})",
                j.verdict(),
                j.trials_passed,
                j.trials,
                fmt_score(j.pass_rate()),
                fmt_score(lo),
                fmt_score(hi)
            );
        }
        let more = listed.count().saturating_sub(LISTED_CASES);
        if more > 0 {
            let _ = writeln!(out, "    ... and {more} more failed or flaky cases");
        }
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

/// Cases that passed their policies but are flaky (counted under flaky, not passed).
fn flaky_passed(s: &SummaryInput) -> u64 {
    s.trial_cases
        .iter()
        .filter(|(_, j)| j.passed && j.flaky)
        .count() as u64
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
            trial_cases: vec![],
        });
        assert!(
            text.starts_with("FAILED demo: 2/2 cases in 1 run"),
            "{text}"
        );
        assert!(
            text.contains("has-all-substrings        1       1       0            0       0.75"),
            "{text}"
        );
    }

    #[test]
    fn with_trials_counts_cases_by_verdict_and_lists_the_failed_and_flaky() {
        use crate::suite::tally::CaseVerdicts;
        let judged = |passed, flaky, trials_passed| Judgement {
            passed,
            flaky,
            trials: 3,
            trials_passed,
        };
        let cases = vec![
            ("steady", judged(true, false, 3)),
            ("wobbly", judged(true, true, 2)),
            ("broken", judged(false, true, 1)),
        ];
        let mut t = Tally::new(9, &[]);
        t.cases_done = 9;
        let mut v = CaseVerdicts {
            cases: 3,
            plan: "3 trials per case, verdict majority".into(),
            ..Default::default()
        };
        for (_, j) in &cases {
            v.add(j);
        }
        t.verdicts = Some(v);
        let text = render(&SummaryInput {
            suite_id: "demo",
            status: "completed",
            duration_s: 0.5,
            runs: 1,
            tally: &t,
            store_path: None,
            trial_cases: cases,
        });
        assert!(
            text.starts_with("FAILED demo: 9/9 trials in 1 run"),
            "{text}"
        );
        assert!(
            text.contains(
                "cases: 1 passed, 1 flaky, 1 failed, of 3 (3 trials per case, verdict majority)"
            ),
            "{text}"
        );
        assert!(
            text.contains("flaky  wobbly: 2/3 trials passed, pass rate 0.667 (95% CI 0.208-0.939)"),
            "{text}"
        );
        assert!(text.contains("failed broken: 1/3"), "{text}");
        assert!(!text.contains("steady"), "{text}");
    }
}
