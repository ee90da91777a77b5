//! The end-of-suite summary: one line per run, then a table per evaluator, then the first
//! failing cases (input, output, what failed) and where to look next.

use crate::evaluation::trials::Judgement;
use crate::evaluation::{fmt_score, Verdict};
use crate::suite::tally::Tally;
use std::fmt::Write;

/// How many failing cases the summary shows in full.
pub const FAILURES_SHOWN: usize = 5;
/// Inputs, outputs and metadata longer than this are cut (the store keeps them whole).
pub const SHOWN_CHARS: usize = 300;

pub struct SummaryInput<'a> {
    pub suite_id: &'a str,
    pub status: &'a str,
    pub duration_s: f64,
    pub runs: usize,
    pub tally: &'a Tally,
    pub store_path: Option<&'a str>,
    /// With trials: each judged case's hash and judgement (empty otherwise).
    pub trial_cases: Vec<(&'a str, Judgement)>,
    /// The first failing cases, at most `FAILURES_SHOWN`.
    pub failing: &'a [FailingCase],
    /// How many cases failed in all.
    pub failing_total: usize,
    /// Why the suite stopped early (status "stopped").
    pub stop_reason: Option<&'a str>,
    /// The run whose stored outputs were judged (`rescore`).
    pub rescored_from: Option<&'a str>,
    /// A grid search's combinations, in the order they ran (empty without a grid).
    pub grid: &'a [GridTotals],
}

/// One grid combination's totals: a row of the matrix a grid search's summary shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GridTotals {
    /// The combination as `model=a, temperature=0` (`common::grid_label`).
    pub label: String,
    pub run_id: String,
    /// Cases that passed, failed (an evaluation failed or errored) and errored (fn raised).
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub evaluators: Vec<GridEvaluator>,
}

/// One evaluator's counts and mean score within a grid combination.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct GridEvaluator {
    pub id: String,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub no_threshold: u64,
    pub mean: Option<f64>,
}

impl GridEvaluator {
    /// Passed of the evaluations with a verdict; None when none had a threshold.
    pub fn pass_rate(&self) -> Option<f64> {
        let judged = self.passed + self.failed + self.errored;
        (judged > 0).then(|| self.passed as f64 / judged as f64)
    }
}

/// Labels and evaluator ids longer than this are cut in the middle in the matrix (both
/// ends of a combination tend to tell combinations apart).
const MATRIX_CELL_CHARS: usize = 40;

/// Most combinations the terminal's matrix lists (a search may have up to 10,000); the
/// best marks still count them all.
const MATRIX_ROWS_SHOWN: usize = 50;

/// `text` cut to `max` characters in the middle, with "…" where it was cut.
fn middle_cut(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(total - tail).collect();
    format!("{start}…{end}")
}

/// Whether `value` is the best of `values` and not every value ties (a column where all
/// combinations are equal has no best).
fn best(value: Option<f64>, values: &[Option<f64>]) -> bool {
    let given: Vec<f64> = values.iter().flatten().copied().collect();
    let Some(value) = value else { return false };
    let top = given.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let all_tie = given.len() == values.len() && given.iter().all(|v| *v == top);
    value == top && !all_tie
}

/// The cells of a grid search's matrix, header first: a row per combination with its
/// cases passed, failed and errored and each evaluator's `mean score / pass rate` (its
/// mean alone without thresholds); " *" marks the best of a column (most cases passed,
/// highest pass rate; mean scores are not marked, as whether higher is better depends on
/// the evaluator). Labels and evaluator ids are cut to `max_chars`. None for fewer than
/// two combinations.
pub fn grid_matrix_cells(rows: &[GridTotals], max_chars: usize) -> Option<Vec<Vec<String>>> {
    if rows.len() < 2 {
        return None;
    }
    let mut ids: Vec<&str> = vec![];
    for r in rows {
        for e in &r.evaluators {
            if !ids.contains(&e.id.as_str()) {
                ids.push(&e.id);
            }
        }
    }
    let mark = |cell: String, is_best: bool| {
        if is_best {
            cell + " *"
        } else {
            cell
        }
    };
    let passed: Vec<Option<f64>> = rows.iter().map(|r| Some(r.passed as f64)).collect();
    let rates: Vec<Vec<Option<f64>>> = ids
        .iter()
        .map(|id| {
            rows.iter()
                .map(|r| {
                    r.evaluators
                        .iter()
                        .find(|e| e.id == *id)
                        .and_then(GridEvaluator::pass_rate)
                })
                .collect()
        })
        .collect();
    let mut header: Vec<String> = ["combination", "passed", "failed", "errored"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    header.extend(ids.iter().map(|id| middle_cut(id, max_chars)));
    let mut table: Vec<Vec<String>> = vec![header];
    for (at, r) in rows.iter().enumerate() {
        let mut cells = vec![
            middle_cut(&r.label, max_chars),
            mark(r.passed.to_string(), best(passed[at], &passed)),
            r.failed.to_string(),
            r.errored.to_string(),
        ];
        for (i, id) in ids.iter().enumerate() {
            let cell = match r.evaluators.iter().find(|e| e.id == *id) {
                None => "-".to_string(),
                Some(e) => {
                    let mean = e.mean.map(fmt_score).unwrap_or_else(|| "-".into());
                    match e.pass_rate() {
                        Some(rate) => mark(
                            format!("{mean} / {}%", fmt_score(rate * 100.0)),
                            best(rates[i][at], &rates[i]),
                        ),
                        None => mean,
                    }
                }
            };
            cells.push(cell);
        }
        table.push(cells);
    }
    Some(table)
}

/// What the matrix's cells mean, under it.
pub const GRID_MATRIX_LEGEND: &str = "per evaluator: mean score / pass rate; * best of its column";

/// A grid search's matrix for the terminal (`grid_matrix_cells`), columns padded; empty
/// for fewer than two combinations.
pub fn grid_matrix(rows: &[GridTotals]) -> String {
    let Some(table) = grid_matrix_cells(rows, MATRIX_CELL_CHARS) else {
        return String::new();
    };
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("\ngrid search: {} combinations\n", rows.len());
    // The header, then at most MATRIX_ROWS_SHOWN combinations.
    for row in table.iter().take(MATRIX_ROWS_SHOWN + 1) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    if rows.len() > MATRIX_ROWS_SHOWN {
        let _ = writeln!(
            out,
            "  ... and {} more combinations (trialrun ui: each one's run)",
            rows.len() - MATRIX_ROWS_SHOWN
        );
    }
    let _ = writeln!(out, "  ({GRID_MATRIX_LEGEND})");
    out
}

/// A grid search's matrix from its stored runs (`store::grid_siblings`) and each run's
/// evaluator counts (`store::evaluator_scores`), in the same order; evaluators in the
/// order of `evaluator_order` (the suite's), others after them.
pub fn stored_grid_totals(
    runs: &[crate::store::StoredRun],
    scores: Vec<Vec<crate::store::EvaluatorScores>>,
    evaluator_order: &[&str],
) -> Vec<GridTotals> {
    runs.iter()
        .zip(scores)
        .map(|(r, mut scores)| {
            scores.sort_by_key(|s| {
                evaluator_order
                    .iter()
                    .position(|id| *id == s.id)
                    .unwrap_or(usize::MAX)
            });
            (r, scores)
        })
        .map(|(r, scores)| GridTotals {
            label: r
                .run
                .grid
                .as_deref()
                .map(super::common::grid_label)
                .unwrap_or_default(),
            run_id: r.run.id.clone(),
            passed: r.cases.saturating_sub(r.failed_cases + r.errored_cases),
            failed: r.failed_cases,
            errored: r.errored_cases,
            evaluators: scores
                .into_iter()
                .map(|s| GridEvaluator {
                    id: s.id,
                    passed: s.passed,
                    failed: s.failed,
                    errored: s.errored,
                    no_threshold: s.no_threshold,
                    mean: s.mean,
                })
                .collect(),
        })
        .collect()
}

/// A failing case as the summary shows it; JSON values as text.
pub struct FailingCase {
    /// Its label and hash (`common::case_name`).
    pub name: String,
    pub run_id: String,
    pub grid: Option<String>,
    pub input: String,
    pub output: Option<String>,
    /// fn's traceback when it raised.
    pub error: Option<String>,
    pub evaluations: Vec<FailingEvaluation>,
}

pub struct FailingEvaluation {
    pub evaluator_id: String,
    pub verdict: Verdict,
    pub score: Option<f64>,
    /// `Threshold(gte=1)` as written.
    pub threshold: Option<String>,
    pub metadata: Option<String>,
    pub error: Option<String>,
}

/// `text` on one line, cut to `SHOWN_CHARS` with a note of how much was left out.
fn trimmed(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    let total = flat.chars().count();
    if total <= SHOWN_CHARS {
        return flat;
    }
    let kept: String = flat.chars().take(SHOWN_CHARS).collect();
    format!("{kept}… ({} more chars)", total - SHOWN_CHARS)
}

fn failing_cases(out: &mut String, s: &SummaryInput) {
    if s.failing.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{} failing case{}{}:",
        s.failing_total,
        if s.failing_total == 1 { "" } else { "s" },
        if s.failing_total > s.failing.len() {
            format!(", the first {}", s.failing.len())
        } else {
            String::new()
        }
    );
    for c in s.failing {
        let grid = c
            .grid
            .as_deref()
            .map(|g| format!("  grid {g}"))
            .unwrap_or_default();
        let _ = writeln!(out, "\n  FAIL {}{grid}", c.name);
        let _ = writeln!(out, "    input:  {}", trimmed(&c.input));
        match (&c.error, &c.output) {
            (Some(err), _) => {
                let last = super::common::last_line(err).unwrap_or("an exception");
                let _ = writeln!(out, "    fn raised: {}", trimmed(last));
            }
            (None, Some(output)) => {
                let _ = writeln!(out, "    output: {}", trimmed(output));
            }
            (None, None) => {}
        }
        for e in &c.evaluations {
            let score = e.score.map(fmt_score).unwrap_or_else(|| "-".into());
            let _ = write!(out, "    {} {}: score {score}", e.evaluator_id, e.verdict);
            if let Some(t) = &e.threshold {
                let _ = write!(out, ", needs {t}");
            }
            out.push('\n');
            if let Some(m) = &e.metadata {
                let _ = writeln!(out, "      metadata: {}", trimmed(m));
            }
            if let Some(err) = &e.error {
                let last = super::common::last_line(err).unwrap_or("an exception");
                let _ = writeln!(out, "      error: {}", trimmed(last));
            }
        }
    }
    if s.store_path.is_some() {
        let mut runs: Vec<&str> = vec![];
        for c in s.failing {
            if !runs.contains(&c.run_id.as_str()) {
                runs.push(&c.run_id);
            }
        }
        let shows: Vec<String> = runs.iter().map(|r| format!("trialrun show {r}")).collect();
        let _ = writeln!(
            out,
            "\n  look closer: {} (every case), or trialrun ui (the browser viewer)",
            shows.join(", ")
        );
    }
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
    if let Some(reason) = s.stop_reason {
        let _ = writeln!(
            out,
            "  stopped: {reason}; {} cases not run",
            t.cases - t.cases_done
        );
    }
    if let Some(run) = s.rescored_from {
        let _ = writeln!(
            out,
            "  re-scored: the outputs of run {run} (fn was not called)"
        );
    }
    if t.cases_resumed > 0 {
        let _ = writeln!(
            out,
            "  resumed: {} cases kept from the interrupted run, {} run now",
            t.cases_resumed,
            t.cases_done - t.cases_resumed
        );
    }
    if t.cache_hits > 0 || t.cache_unpicklable > 0 {
        let calls = t.cases_done.saturating_sub(t.cases_resumed);
        let mut line = format!(
            "  cache: {} of {calls} fn outputs from the cache",
            t.cache_hits
        );
        if t.cache_unpicklable > 0 {
            line += &format!(
                ", {} not cached (could not be pickled)",
                t.cache_unpicklable
            );
        }
        let _ = writeln!(out, "{line}");
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
    out.push_str(&grid_matrix(s.grid));
    if let Some(path) = s.store_path {
        let _ = writeln!(out, "  stored in {path}");
    }
    failing_cases(&mut out, s);
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
            failing: &[],
            failing_total: 0,
            stop_reason: None,
            rescored_from: None,
            grid: &[],
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
            trial_cases: vec![],
            failing: &[],
            failing_total: 0,
            rescored_from: None,
            grid: &[],
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
            failing: &[],
            failing_total: 0,
            stop_reason: None,
            rescored_from: None,
            grid: &[],
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

    #[test]
    fn failing_cases_show_input_output_and_why_then_where_to_look() {
        let mut t = Tally::new(3, &["exact".into()]);
        t.cases_done = 3;
        let long = "x".repeat(400);
        let failing = [
            FailingCase {
                name: "What is 2+2? [h1]".into(),
                run_id: "run-1".into(),
                grid: None,
                input: r#"{"question":"What is 2+2?"}"#.into(),
                output: Some(format!(r#""{long}""#)),
                error: None,
                evaluations: vec![FailingEvaluation {
                    evaluator_id: "exact".into(),
                    verdict: Verdict::Failed,
                    score: Some(0.0),
                    threshold: Some("Threshold(gte=1)".into()),
                    metadata: Some(r#"{"expected":"4"}"#.into()),
                    error: None,
                }],
            },
            FailingCase {
                name: "h2".into(),
                run_id: "run-1".into(),
                grid: Some(r#"{"model":"a"}"#.into()),
                input: "{}".into(),
                output: None,
                error: Some("Traceback\nValueError: down".into()),
                evaluations: vec![],
            },
        ];
        let text = render(&SummaryInput {
            suite_id: "demo",
            status: "completed",
            duration_s: 0.5,
            runs: 1,
            tally: &t,
            store_path: Some("/tmp/s.db"),
            trial_cases: vec![],
            failing: &failing,
            failing_total: 7,
            stop_reason: None,
            rescored_from: None,
            grid: &[],
        });
        let tail = &text[text.find("7 failing cases").expect(&text)..];
        assert!(tail.starts_with("7 failing cases, the first 2:"), "{text}");
        assert!(
            tail.contains(
                "  FAIL What is 2+2? [h1]\n    input:  {\"question\":\"What is 2+2?\"}\n"
            ),
            "{text}"
        );
        assert!(
            tail.contains(&format!(
                "    output: \"{}… (102 more chars)\n",
                "x".repeat(299)
            )),
            "{text}"
        );
        assert!(tail.contains("    exact failed: score 0, needs Threshold(gte=1)\n      metadata: {\"expected\":\"4\"}\n"), "{text}");
        assert!(tail.contains("  FAIL h2  grid {\"model\":\"a\"}\n    input:  {}\n    fn raised: ValueError: down\n"), "{text}");
        assert!(
            tail.contains("look closer: trialrun show run-1 (every case), or trialrun ui"),
            "{text}"
        );
        assert_eq!(tail.matches("trialrun show").count(), 1, "{text}");
    }

    fn combination(label: &str, passed: u64, failed: u64, exact: (u64, u64, f64)) -> GridTotals {
        GridTotals {
            label: label.into(),
            run_id: format!("run-{label}"),
            passed,
            failed,
            errored: 0,
            evaluators: vec![
                GridEvaluator {
                    id: "exact".into(),
                    passed: exact.0,
                    failed: exact.1,
                    mean: Some(exact.2),
                    ..Default::default()
                },
                GridEvaluator {
                    id: "length".into(),
                    no_threshold: exact.0 + exact.1,
                    mean: Some(12.5),
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn a_grid_search_ends_with_its_matrix_and_marks_the_best() {
        let rows = [
            combination("model=a, temp=0", 1, 1, (1, 1, 0.5)),
            combination("model=b, temp=0", 2, 0, (2, 0, 1.0)),
        ];
        let t = Tally::new(4, &["exact".into(), "length".into()]);
        let text = render(&SummaryInput {
            suite_id: "demo",
            status: "completed",
            duration_s: 0.5,
            runs: 2,
            tally: &t,
            store_path: Some("/tmp/s.db"),
            trial_cases: vec![],
            failing: &[],
            failing_total: 0,
            stop_reason: None,
            rescored_from: None,
            grid: &rows,
        });
        let matrix = &text[text.find("grid search: 2 combinations").expect(&text)..];
        let lines: Vec<&str> = matrix.lines().collect();
        assert_eq!(
            lines[1],
            "  combination      passed  failed  errored       exact  length"
        );
        assert_eq!(
            lines[2],
            "  model=a, temp=0       1       1        0   0.5 / 50%    12.5"
        );
        assert_eq!(
            lines[3],
            "  model=b, temp=0     2 *       0        0  1 / 100% *    12.5"
        );
        assert!(lines[4].contains("mean score / pass rate"), "{text}");
        assert!(text.ends_with("  stored in /tmp/s.db\n"), "{text}");
    }

    #[test]
    fn the_matrix_marks_no_best_in_a_tie_and_cuts_long_labels_in_the_middle() {
        let long = format!("model={}-end", "x".repeat(60));
        let rows = [
            combination(&long, 2, 0, (2, 0, 1.0)),
            combination("model=b", 2, 0, (2, 0, 1.0)),
        ];
        let matrix = grid_matrix(&rows);
        assert!(
            matrix.lines().skip(3).take(2).all(|l| !l.contains(" *")),
            "{matrix}"
        );
        let first = matrix.lines().nth(3).unwrap();
        let label = first.trim_start().split("  ").next().unwrap();
        assert_eq!(label.chars().count(), MATRIX_CELL_CHARS, "{matrix}");
        assert!(
            label.starts_with("model=xxx") && label.ends_with("xxx-end"),
            "{label}"
        );
        assert!(label.contains('…'), "{label}");
        // One combination (or none) has no matrix.
        assert_eq!(grid_matrix(&rows[..1]), "");
        // A large search lists its first combinations; the best may be among the rest.
        let mut many: Vec<GridTotals> = (0..60)
            .map(|i| combination(&format!("seed={i}"), 1, 1, (1, 1, 0.5)))
            .collect();
        many[59] = combination("seed=59", 2, 0, (2, 0, 1.0));
        let matrix = grid_matrix(&many);
        assert!(
            matrix.contains("  seed=49  ") && !matrix.contains("seed=50"),
            "{matrix}"
        );
        assert!(
            matrix.contains("  ... and 10 more combinations"),
            "{matrix}"
        );
        assert!(
            matrix
                .lines()
                .filter(|l| l.starts_with("  seed="))
                .all(|l| !l.contains('*')),
            "{matrix}"
        );
    }
}
