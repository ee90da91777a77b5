//! Plain-text views for the terminal: a table of runs, one run with its failures first,
//! and a comparison of two runs.

use super::common::{case_name, fmt_time, grid_label, group_by_case, parse_verdict};
use super::summary::{grid_matrix, GridTotals};
use crate::evaluation::fmt_score;
use crate::history::compare::{fmt_p, Change, Comparison, Regression};
use crate::history::RunData;
use crate::store::StoredRun;
use std::fmt::Write;

/// Columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn runs_table(runs: &[StoredRun]) -> String {
    if runs.is_empty() {
        return "no runs in the store yet\n".into();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.run.id.clone(),
                match &r.run.shard {
                    Some(shard) => format!("{} (shard {shard})", r.run.suite_id),
                    None => r.run.suite_id.clone(),
                },
                r.verdict.to_string(),
                fmt_time(r.run.started_at),
                r.cases.to_string(),
                r.pass_rate.map(fmt_rate).unwrap_or_else(|| "-".into()),
                r.failed_cases.to_string(),
                r.errored_cases.to_string(),
                r.run.grid.as_deref().map(grid_label).unwrap_or_default(),
                r.run
                    .git_commit
                    .as_deref()
                    .map(|c| c.chars().take(10).collect())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "run",
            "suite",
            "verdict",
            "started (UTC)",
            "cases",
            "passed",
            "failed",
            "errored",
            "grid",
            "commit",
        ],
        &rows,
    )
}

/// A pass rate as a percentage: 100%, 87.5%.
fn fmt_rate(rate: f64) -> String {
    format!("{}%", fmt_score(rate * 100.0))
}

/// One run: its header, the matrix of its grid search (`grid`, when it is one), then each
/// case with failing ones first.
pub fn run_detail(run: &RunData, grid: &[GridTotals]) -> String {
    let r = &run.run;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {}  suite {}  {}",
        r.run.id,
        r.run.suite_id,
        if r.verdict == r.status.as_str() {
            r.verdict.to_string()
        } else {
            format!("{} (status {})", r.verdict, r.status.as_str())
        }
    );
    if let Some(reason) = &r.stop_reason {
        let _ = writeln!(out, "stopped: {reason}");
    }
    if let Some(source) = &r.run.rescored_from {
        let _ = writeln!(out, "re-scored the outputs of run {source}");
    }
    let retried: Vec<usize> = run
        .call_logs
        .iter()
        .map(|l| {
            l.attempts
                .as_deref()
                .and_then(|a| serde_json::from_str::<Vec<serde_json::Value>>(a).ok())
                .map_or(0, |a| a.len())
        })
        .collect();
    let attempts: usize = retried.iter().sum();
    if attempts > 0 {
        let calls = retried.iter().filter(|&&n| n > 0).count();
        let _ = writeln!(
            out,
            "{attempts} attempts retried after rate limits ({calls} calls), apart from failures"
        );
    }
    let _ = writeln!(
        out,
        "started {}{}{}",
        fmt_time(r.run.started_at),
        r.ended_at
            .map(|e| format!(", {:.2} s", e - r.run.started_at))
            .unwrap_or_default(),
        r.run
            .grid
            .as_deref()
            .map(|g| format!(", grid {}", grid_label(g)))
            .unwrap_or_default()
    );
    if let Some(commit) = &r.run.git_commit {
        let _ = writeln!(
            out,
            "git {commit}{}",
            r.run
                .git_branch
                .as_deref()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default()
        );
    }
    let matrix = grid_matrix(grid);
    out.push_str(matrix.trim_start_matches('\n'));
    let grouped = group_by_case(run);
    let failing = |c: &super::common::CaseEvaluations| {
        c.case.error.is_some()
            || c.evaluations
                .iter()
                .any(|e| parse_verdict(&e.verdict).is_failure())
    };
    let mut cases: Vec<_> = grouped.cases.iter().collect();
    cases.sort_by_key(|c| !failing(c)); // stable: failures first, suite order within
    let _ = writeln!(
        out,
        "{} cases, {} failing",
        cases.len(),
        cases.iter().filter(|c| failing(c)).count()
    );
    for c in cases {
        let mark = if failing(c) { "FAIL" } else { "ok  " };
        let _ = writeln!(
            out,
            "\n{mark} {}  ({:.3} s)",
            case_name(&c.case.hash, c.case.label.as_deref()),
            c.case.duration_s
        );
        if let Some(err) = &c.case.error {
            let _ = writeln!(
                out,
                "     fn raised: {}",
                super::common::last_line(err).unwrap_or_default()
            );
        }
        for e in &c.evaluations {
            let score = e.score.map(fmt_score).unwrap_or_else(|| "-".into());
            let _ = write!(
                out,
                "     {:<8} {}  score {score}",
                e.verdict, e.evaluator_id
            );
            if let Some(t) = &e.threshold {
                let _ = write!(out, "  threshold {}", super::common::describe_threshold(t));
            }
            if let Some(m) = &e.metadata {
                let _ = write!(out, "  metadata {m}");
            }
            if let Some(err) = &e.error {
                let _ = write!(
                    out,
                    "  error: {}",
                    super::common::last_line(err).unwrap_or_default()
                );
            }
            out.push('\n');
        }
    }
    out
}

/// A comparison: per evaluator counts, then the regressions and changed cases.
pub fn comparison(c: &Comparison, regressions: &[Regression], alpha: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "base {}  {}  ({} cases)",
        c.base.run.id,
        fmt_time(c.base.run.started_at),
        c.base.cases
    );
    let _ = writeln!(
        out,
        "head {}  {}  ({} cases)",
        c.head.run.id,
        fmt_time(c.head.run.started_at),
        c.head.cases
    );
    let _ = writeln!(
        out,
        "{} cases matched by hash, {} added, {} removed\n",
        c.cases.len(),
        c.added.len(),
        c.removed.len()
    );
    let mean = |m: Option<f64>| m.map(fmt_score).unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = c
        .evaluators
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.compared.to_string(),
                e.newly_failing.len().to_string(),
                e.newly_passing.len().to_string(),
                mean(e.base_mean),
                mean(e.head_mean),
                e.mean_delta
                    .map(|d| format!("{:+}", (d * 1000.0).round() / 1000.0))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "evaluator",
            "compared",
            "newly failing",
            "newly passing",
            "base mean",
            "head mean",
            "mean delta",
        ],
        &rows,
    ));
    if c.evaluators.iter().any(|e| e.mean_delta.is_some()) {
        out.push_str("(means and delta over the cases scored in both runs)\n");
    }
    let changed: Vec<_> = c
        .cases
        .iter()
        .flat_map(|case| case.evaluations.iter().map(move |e| (case, e)))
        .filter(|(_, e)| matches!(e.change, Change::NewlyFailing | Change::NewlyPassing))
        .collect();
    if !changed.is_empty() {
        out.push_str("\nchanged verdicts:\n");
        for (case, e) in changed {
            let side = |s: &Option<crate::history::compare::Side>| {
                s.as_ref()
                    .map(|s| {
                        format!(
                            "{} {}",
                            s.verdict,
                            s.score.map(fmt_score).unwrap_or_else(|| "-".into())
                        )
                    })
                    .unwrap_or_else(|| "-".into())
            };
            let _ = writeln!(
                out,
                "  {}  {}  {} -> {}",
                case_name(&case.hash, case.label.as_deref()),
                e.evaluator_id,
                side(&e.base),
                side(&e.head)
            );
        }
    }
    for (label, hashes) in [("added", &c.added), ("removed", &c.removed)] {
        if !hashes.is_empty() {
            let shown: Vec<&str> = hashes.iter().take(20).map(String::as_str).collect();
            let more = if hashes.len() > 20 {
                format!(" and {} more", hashes.len() - 20)
            } else {
                String::new()
            };
            let _ = writeln!(out, "\n{label}: {}{more}", shown.join(", "));
        }
    }
    trial_rates(&mut out, c, alpha);
    human_grades(&mut out, c);
    if regressions.is_empty() {
        out.push_str("\nno regressions\n");
    } else {
        let _ = writeln!(out, "\n{} regression(s):", regressions.len());
        for r in regressions {
            let _ = writeln!(
                out,
                "  {}{}: {}",
                case_name(&r.hash, r.label.as_deref()),
                r.evaluator_id
                    .as_deref()
                    .map(|e| format!(" / {e}"))
                    .unwrap_or_default(),
                r.reason
            );
        }
    }
    out
}

/// With trials: the cases whose pass rate changed, with the test's p-value for a drop,
/// and the cases flaky in both runs.
fn trial_rates(out: &mut String, c: &Comparison, alpha: f64) {
    let Some(t) = &c.trials else {
        return;
    };
    let _ = writeln!(
        out,
        "\npass rates over trials (a drop is a regression when the {} gives p < {alpha}):",
        t.test
    );
    let rows: Vec<Vec<String>> = t
        .cases
        .iter()
        .filter(|d| d.base_rate() != d.head_rate())
        .map(|d| {
            vec![
                d.hash.clone(),
                format!("{}/{}", d.base_passed, d.base_trials),
                format!("{}/{}", d.head_passed, d.head_trials),
                if d.head_rate() < d.base_rate() {
                    fmt_p(d.p_value)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("  no case's pass rate changed\n");
    } else {
        out.push_str(&table(&["case", "base", "head", "p (drop)"], &rows));
    }
    if !t.flaky_in_both.is_empty() {
        let _ = writeln!(out, "flaky in both runs: {}", t.flaky_in_both.join(", "));
    }
}

/// The human review grades of both runs, one line per graded case.
fn human_grades(out: &mut String, c: &Comparison) {
    if c.reviews.is_empty() {
        return;
    }
    let show = |g: &Option<crate::history::compare::HumanGrade>| match g {
        None => "-".to_string(),
        Some(g) => {
            let mut s = g.grade.to_string();
            if let Some(score) = g.score {
                let _ = write!(s, " {}", fmt_score(score));
            }
            if let Some(note) = &g.note {
                let _ = write!(s, " ({})", note.lines().next().unwrap_or_default());
            }
            s
        }
    };
    out.push_str("\nhuman review grades (base -> head):\n");
    for r in &c.reviews {
        let _ = writeln!(out, "  {}  {} -> {}", r.hash, show(&r.base), show(&r.head));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns() {
        let t = table(&["a", "bb"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "a     bb\nlong  x\n");
    }
}
