//! HTML views of runs: one rendering for two uses. `standalone` gives a whole document for
//! a report file (inline CSS, no scripts, no external requests); otherwise a <div> for a
//! notebook's `_repr_html_`, whose styles apply only inside it and whose size is bounded.

use super::charts;
use super::common::{
    evaluator_tallies, failure_reason, grid_label, group_by_case, iso_utc, last_line,
    parse_verdict, pretty_json, run_title, CaseEvaluations,
};
use super::summary::{self, GridTotals};
use crate::evaluation::{fmt_score, Verdict};
use crate::history::compare::{
    CaseDiff, Change, Comparison, EvaluationDiff, EvaluatorSummary, Regression, Side,
};
use crate::history::RunData;
use crate::store::{RunRecord, RunStatus, StoredRun};
use crate::suite::tally::EvaluatorTally;
use crate::xml::{xml_attr as attr, xml_text as text};
use std::fmt::Write;

/// Rows (cases, runs, regressions) a notebook fragment shows at most.
pub const MAX_FRAGMENT_ROWS: usize = 2000;
/// Characters of one text block (metadata, traceback, output) a notebook fragment shows.
pub const MAX_FRAGMENT_TEXT: usize = 20_000;

/// Every rule is scoped under `.trialrun`, so a fragment styles nothing else in a notebook.
/// Colours are set explicitly so the report reads the same under dark notebook themes.
const CSS: &str = "\
.trialrun{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;background:#fff;padding:8px 12px;overflow-x:auto}
.trialrun h2{font-size:1.3em;margin:.3em 0 .5em}
.trialrun h3{font-size:1.1em;margin:1.2em 0 .4em}
.trialrun table{border-collapse:collapse;margin:.3em 0 .8em}
.trialrun th,.trialrun td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
.trialrun th{background:#f6f8fa;font-weight:600}
.trialrun .num{text-align:right;font-variant-numeric:tabular-nums}
.trialrun code,.trialrun pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.trialrun pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;border:1px solid #d0d7de;padding:6px 8px;margin:4px 0;max-height:30em;overflow:auto}
.trialrun .chip{display:inline-block;padding:0 6px;margin:1px 4px 1px 0;border-radius:4px}
.trialrun .ok{background:#dafbe1}
.trialrun .bad{background:#ffebe9}
.trialrun .none{background:#eaeef2}
.trialrun tr.failing>td:first-child{box-shadow:inset 3px 0 #cf222e}
.trialrun .note,.trialrun .label{color:#59636e}
.trialrun .label{font-size:.85em;margin-top:4px}
.trialrun summary{cursor:pointer}
.trialrun .charts{display:flex;flex-wrap:wrap;gap:8px 20px;align-items:flex-start;margin:.3em 0 .8em}
.trialrun .charts svg{max-width:100%;height:auto}
";

/// How much a rendering holds: everything in a file, a bounded part in a notebook.
#[derive(Clone, Copy)]
struct Limits {
    rows: usize,
    text: usize,
}

impl Limits {
    fn new(standalone: bool) -> Limits {
        if standalone {
            Limits {
                rows: usize::MAX,
                text: usize::MAX,
            }
        } else {
            Limits {
                rows: MAX_FRAGMENT_ROWS,
                text: MAX_FRAGMENT_TEXT,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------

/// A run: its header, counts per evaluator, then its cases with failures first.
pub fn run_html(run: &RunData, standalone: bool) -> String {
    run_html_with_grid(run, &[], standalone)
}

/// `run_html` with, when the run is a combination of a grid search, the matrix of that
/// search (`summary::grid_matrix_cells`) under its evaluators.
pub fn run_html_with_grid(run: &RunData, grid: &[GridTotals], standalone: bool) -> String {
    let limits = Limits::new(standalone);
    let title = run_title(&run.run.run);
    let mut body = format!("<h2>Run of {}</h2>\n", text(&title));
    body.push_str(&key_values(&run_facts(&run.run)));
    body.push_str(&evaluators_table(&evaluator_tallies(run)));
    body.push_str(&grid_matrix_table(grid));
    body.push_str(&charts_section(
        "Score distributions",
        charts::run_histograms(&run.evaluations)
            .into_iter()
            .map(|(_, svg)| svg),
    ));
    body.push_str(&cases_section(run, limits));
    page(&format!("trialrun: {title}"), &body, standalone)
}

/// The header's (label, HTML) pairs.
fn run_facts(run: &StoredRun) -> Vec<(&'static str, String)> {
    let r = &run.run;
    let mut facts = vec![
        ("suite", text(&r.suite_id)),
        ("run", code(&r.id)),
        ("status", status_chip(run.status)),
        ("started", text(&iso_utc(r.started_at))),
        (
            "ended",
            run.ended_at
                .map(|t| text(&iso_utc(t)))
                .unwrap_or_else(|| "—".into()),
        ),
        ("duration", duration(run)),
        (
            "cases",
            format!("{} ({} where fn raised)", run.cases, run.errored_cases),
        ),
    ];
    if let Some(git) = git_label(r) {
        facts.push(("git", text(&git)));
    }
    if let Some(grid) = &r.grid {
        facts.push(("grid", text(&grid_label(grid))));
    }
    facts
}

fn evaluators_table(tallies: &[EvaluatorTally]) -> String {
    if tallies.is_empty() {
        return "<p class=\"note\">No evaluations.</p>\n".into();
    }
    let rows: Vec<String> = tallies
        .iter()
        .map(|t| {
            row(&[
                td("", &text(&t.id)),
                count_cell(t.passed, "ok"),
                count_cell(t.failed, "bad"),
                count_cell(t.errored, "bad"),
                td("num", &t.no_threshold.to_string()),
                td("num", &optional_score(t.mean_score())),
            ])
        })
        .collect();
    let header = [
        "evaluator",
        "passed",
        "failed",
        "errored",
        "no threshold",
        "mean score",
    ];
    format!("<h3>Evaluators</h3>\n{}", table(&header, &rows))
}

/// A grid search's matrix as a table; empty for fewer than two combinations.
fn grid_matrix_table(grid: &[GridTotals]) -> String {
    let Some(cells) = summary::grid_matrix_cells(grid, usize::MAX) else {
        return String::new();
    };
    let (header, rows) = cells.split_first().expect("a header row");
    let rows: Vec<String> = rows
        .iter()
        .map(|cells| {
            let tds: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| td(if i == 0 { "" } else { "num" }, &text(c)))
                .collect();
            row(&tds)
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    format!(
        "<h3>Grid search: {} combinations</h3>\n{}<p class=\"note\">{}</p>\n",
        grid.len(),
        table(&header, &rows),
        text(summary::GRID_MATRIX_LEGEND)
    )
}

fn cases_section(run: &RunData, limits: Limits) -> String {
    let grouped = group_by_case(run);
    let mut cases = grouped.cases;
    cases.sort_by_key(case_rank); // stable: suite order within each rank
    let failing = cases
        .iter()
        .filter(|c| case_rank(c) < Rank::Passing)
        .count();
    let mut out = format!(
        "<h3>Cases</h3>\n<p>{} cases, {failing} failing.</p>\n",
        cases.len()
    );
    let rows: Vec<String> = cases
        .iter()
        .take(limits.rows)
        .map(|c| case_row(c, limits))
        .collect();
    out.push_str(&table(&["#", "case", "fn time", "evaluations"], &rows));
    out.push_str(&left_out(cases.len(), limits.rows, "cases"));
    if !grouped.unmatched.is_empty() {
        let n = grouped.unmatched.len();
        let _ = writeln!(
            out,
            "<p class=\"note\">{n} evaluations belong to no stored case and are not shown.</p>"
        );
    }
    out
}

/// Where a case goes in the table: fn errors first, then failing evaluations, then the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    FnRaised,
    EvaluationFailing,
    Passing,
}

fn case_rank(c: &CaseEvaluations) -> Rank {
    if c.case.error.is_some() {
        Rank::FnRaised
    } else if c
        .evaluations
        .iter()
        .any(|e| parse_verdict(&e.verdict).is_failure())
    {
        Rank::EvaluationFailing
    } else {
        Rank::Passing
    }
}

fn case_row(c: &CaseEvaluations, limits: Limits) -> String {
    let case = c.case;
    let mut outcome = String::new();
    if let Some(traceback) = &case.error {
        let summary = format!(
            "fn raised {}",
            last_line(traceback).unwrap_or("an exception")
        );
        outcome.push_str(&chip("bad", "fn raised"));
        outcome.push_str(&details(&text(&summary), &pre(traceback, limits)));
    }
    for e in &c.evaluations {
        let verdict = parse_verdict(&e.verdict);
        let label = format!(
            "{}: {} {}",
            e.evaluator_id,
            optional_score(e.score),
            e.verdict
        );
        outcome.push_str(&chip(tone(verdict), &label));
    }
    // What went wrong, under the chips: metadata and tracebacks of failing evaluations.
    for e in c
        .evaluations
        .iter()
        .filter(|e| parse_verdict(&e.verdict).is_failure())
    {
        let summary = text(&format!("{}: {}", e.evaluator_id, failure_reason(e)));
        let mut content = String::new();
        if let Some(metadata) = &e.metadata {
            content.push_str(&labelled("metadata", &pre(&pretty_json(metadata), limits)));
        }
        if let Some(traceback) = &e.error {
            content.push_str(&labelled("traceback", &pre(traceback, limits)));
        }
        outcome.push_str(&details(&summary, &content));
    }
    if case.error.is_none() && c.evaluations.is_empty() {
        outcome.push_str("<span class=\"note\">no evaluators</span>");
    }
    // A voice call: its timeline and numbers, open (the recording stays in the store's
    // folder; the viewer plays it).
    let call = case
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
        .filter(super::call_timeline::is_call);
    if let Some(call) = &call {
        if let (Some(svg), Some(line)) = (
            super::call_timeline::svg(call, true),
            super::call_timeline::metrics_line(call),
        ) {
            let _ = write!(
                outcome,
                "<div class=\"call\">{svg}<div class=\"note\">{}</div></div>",
                text(&line)
            );
        }
    }
    let mut io = labelled("test case", &pre(&pretty_json(&case.test_case), limits));
    if let Some(output) = &case.output {
        io.push_str(&labelled("output", &pre(&pretty_json(output), limits)));
    }
    outcome.push_str(&details("test case and output", &io));
    let class = if case_rank(c) < Rank::Passing {
        " class=\"failing\""
    } else {
        ""
    };
    format!(
        "<tr{class}>{}{}{}{}</tr>",
        td("num", &case.index.to_string()),
        td("", &code(&case.hash)),
        td("num", &format!("{:.3} s", case.duration_s)),
        td("", &outcome)
    )
}

// ---------------------------------------------------------------------------------------
// Two runs compared
// ---------------------------------------------------------------------------------------

/// Base against head: the two runs, per evaluator changes, the regressions, then the cases
/// side by side (changed first), and the cases only one run has.
pub fn comparison_html(c: &Comparison, regressions: &[Regression], standalone: bool) -> String {
    let limits = Limits::new(standalone);
    let (base, head) = (run_title(&c.base.run), run_title(&c.head.run));
    let title = if base == head {
        base
    } else {
        format!("{base} → {head}")
    };
    let mut body = format!("<h2>Comparison of {}</h2>\n", text(&title));
    body.push_str(&sides_table(&c.base, &c.head));
    let changed = c.cases.iter().filter(|d| case_changed(d)).count();
    let _ = writeln!(
        body,
        "<p>{} cases matched by hash: {changed} changed; {} added, {} removed.</p>",
        c.cases.len(),
        c.added.len(),
        c.removed.len()
    );
    body.push_str(&evaluator_changes_table(&c.evaluators));
    body.push_str(&charts_section(
        "Score distributions (cases in both runs)",
        charts::compared_histograms(c).into_iter().map(|h| h.svg),
    ));
    body.push_str(&regressions_section(regressions, limits));
    body.push_str(&case_diffs_section(&c.cases, limits));
    body.push_str(&hash_list("Added cases (only in head)", &c.added, limits));
    body.push_str(&hash_list(
        "Removed cases (only in base)",
        &c.removed,
        limits,
    ));
    page(&format!("trialrun: {title}"), &body, standalone)
}

fn sides_table(base: &StoredRun, head: &StoredRun) -> String {
    let (base_facts, head_facts) = (run_facts(base), run_facts(head));
    // Both lists start with the same labels; the optional ones (git, grid) may differ.
    let mut labels: Vec<&str> = base_facts.iter().map(|(l, _)| *l).collect();
    labels.extend(
        head_facts
            .iter()
            .map(|(l, _)| *l)
            .filter(|l| !labels.contains(l))
            .collect::<Vec<_>>(),
    );
    let value = |facts: &[(&str, String)], label: &str| {
        facts
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "—".into())
    };
    let rows: Vec<String> = labels
        .iter()
        .map(|l| {
            row(&[
                th(l),
                td("", &value(&base_facts, l)),
                td("", &value(&head_facts, l)),
            ])
        })
        .collect();
    table(&["", "base", "head"], &rows)
}

fn evaluator_changes_table(evaluators: &[EvaluatorSummary]) -> String {
    if evaluators.is_empty() {
        return "<p class=\"note\">No evaluations in either run.</p>\n".into();
    }
    let rows: Vec<String> = evaluators
        .iter()
        .map(|e| {
            row(&[
                td("", &text(&e.id)),
                td("num", &e.compared.to_string()),
                count_cell(e.newly_failing.len() as u64, "bad"),
                count_cell(e.newly_passing.len() as u64, "ok"),
                td("num", &optional_score(e.base_mean)),
                td("num", &optional_score(e.head_mean)),
                td("num", &optional_delta(e.mean_delta)),
            ])
        })
        .collect();
    let header = [
        "evaluator",
        "compared",
        "newly failing",
        "newly passing",
        "base mean",
        "head mean",
        "mean delta",
    ];
    format!("<h3>Evaluators</h3>\n{}", table(&header, &rows))
}

fn regressions_section(regressions: &[Regression], limits: Limits) -> String {
    if regressions.is_empty() {
        return "<h3>Regressions</h3>\n<p><span class=\"chip ok\">none</span></p>\n".into();
    }
    let items: String = regressions
        .iter()
        .take(limits.rows)
        .map(|r| {
            let evaluator = r
                .evaluator_id
                .as_deref()
                .map(|e| format!(" / {}", text(e)))
                .unwrap_or_default();
            format!(
                "<li>{}{evaluator}: {}</li>\n",
                code(&r.hash),
                text(&r.reason)
            )
        })
        .collect();
    format!(
        "<h3>Regressions ({})</h3>\n<ul>\n{items}</ul>\n{}",
        regressions.len(),
        left_out(regressions.len(), limits.rows, "regressions")
    )
}

/// A case whose fn outcome or any evaluation verdict differs between the runs.
fn case_changed(d: &CaseDiff) -> bool {
    d.base_error.is_some() != d.head_error.is_some()
        || d.evaluations.iter().any(|e| e.change != Change::Same)
}

fn case_diffs_section(cases: &[CaseDiff], limits: Limits) -> String {
    let mut ordered: Vec<&CaseDiff> = cases.iter().collect();
    ordered.sort_by_key(|d| !case_changed(d)); // stable: head's order within
    let rows: Vec<String> = ordered
        .iter()
        .take(limits.rows)
        .map(|d| case_diff_rows(d))
        .collect();
    let header = ["case", "evaluator", "base", "head", "delta", "change"];
    format!(
        "<h3>Cases in both runs</h3>\n{}{}",
        table(&header, &rows),
        left_out(cases.len(), limits.rows, "cases")
    )
}

/// One line of a case's comparison: its fn, or one evaluator. Cells are HTML.
struct DiffLine {
    what: String,
    base: String,
    head: String,
    delta: String,
    change: String,
}

/// The table rows of one case: the hash cell spans its lines.
fn case_diff_rows(d: &CaseDiff) -> String {
    let mut lines = vec![];
    if d.base_error.is_some() || d.head_error.is_some() {
        lines.push(fn_line(d));
    }
    lines.extend(d.evaluations.iter().map(evaluation_line));
    if lines.is_empty() {
        let none = || td("note", "—");
        lines.push(DiffLine {
            what: none(),
            base: none(),
            head: none(),
            delta: none(),
            change: td("note", "no evaluations"),
        });
    }
    let span = lines.len();
    let class = if case_changed(d) {
        " class=\"failing\""
    } else {
        ""
    };
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let hash = if i == 0 {
                format!("<td rowspan=\"{span}\">{}</td>", code(&d.hash))
            } else {
                String::new()
            };
            let class = if i == 0 { class } else { "" };
            format!(
                "<tr{class}>{hash}{}{}{}{}{}</tr>",
                l.what, l.base, l.head, l.delta, l.change
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn fn_line(d: &CaseDiff) -> DiffLine {
    let side = |error: &Option<String>| match error {
        Some(traceback) => td(
            "bad",
            &text(&format!("raised {}", last_line(traceback).unwrap_or(""))),
        ),
        None => td("ok", "ran"),
    };
    let change = match (d.base_error.is_some(), d.head_error.is_some()) {
        (false, true) => td("bad", "newly raised"),
        (true, false) => td("ok", "fixed"),
        _ => td("", "same"),
    };
    DiffLine {
        what: td("", "fn"),
        base: side(&d.base_error),
        head: side(&d.head_error),
        delta: td("", ""),
        change,
    }
}

fn evaluation_line(e: &EvaluationDiff) -> DiffLine {
    let side = |s: &Option<Side>| match s {
        Some(s) => td(
            tone(parse_verdict(&s.verdict)),
            &text(&format!("{} {}", s.verdict, optional_score(s.score))),
        ),
        None => td("note", "—"),
    };
    let change_tone = match e.change {
        Change::NewlyFailing => "bad",
        Change::NewlyPassing => "ok",
        _ => "",
    };
    DiffLine {
        what: td("", &text(&e.evaluator_id)),
        base: side(&e.base),
        head: side(&e.head),
        delta: td("num", &optional_delta(e.delta())),
        change: td(change_tone, &e.change.as_str().replace('_', " ")),
    }
}

fn hash_list(heading: &str, hashes: &[String], limits: Limits) -> String {
    if hashes.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = hashes.iter().take(limits.rows).map(|h| code(h)).collect();
    format!(
        "<h3>{heading}: {}</h3>\n<p>{}</p>\n{}",
        hashes.len(),
        shown.join(" "),
        left_out(hashes.len(), limits.rows, "cases")
    )
}

// ---------------------------------------------------------------------------------------
// A list of runs
// ---------------------------------------------------------------------------------------

/// A notebook fragment: one row per run, newest first as given.
pub fn runs_html(runs: &[StoredRun]) -> String {
    let limits = Limits::new(false);
    if runs.is_empty() {
        return page(
            "",
            "<p class=\"note\">No runs in the store yet.</p>\n",
            false,
        );
    }
    let rows: Vec<String> = runs
        .iter()
        .take(limits.rows)
        .map(|r| {
            row(&[
                td("", &code(&r.run.id)),
                td("", &text(&r.run.suite_id)),
                td("", &verdict_chip(r.verdict)),
                td("", &text(&iso_utc(r.run.started_at))),
                td("num", &r.cases.to_string()),
                td(
                    "num",
                    &r.pass_rate
                        .map(|p| format!("{}%", fmt_score(p * 100.0)))
                        .unwrap_or_else(|| "—".into()),
                ),
                count_cell(r.failed_cases, "bad"),
                count_cell(r.errored_cases, "bad"),
                td(
                    "",
                    &text(&r.run.grid.as_deref().map(grid_label).unwrap_or_default()),
                ),
                td("", &text(&git_label(&r.run).unwrap_or_default())),
            ])
        })
        .collect();
    let header = [
        "run",
        "suite",
        "verdict",
        "started (UTC)",
        "cases",
        "passed",
        "failed",
        "errored",
        "grid",
        "git",
    ];
    let body = format!(
        "{}{}{}",
        table(&header, &rows),
        left_out(runs.len(), limits.rows, "runs"),
        grid_searches_section(&runs[..runs.len().min(limits.rows)])
    );
    page("", &body, false)
}

/// The pass rate of each combination of the grid searches among `runs`, as bars; empty
/// without a grid search of two combinations or more.
fn grid_searches_section(runs: &[StoredRun]) -> String {
    let mut out = String::new();
    for (suite, started_at, svg) in charts::grid_searches(runs) {
        let _ = write!(
            out,
            "<h3>Grid search of {}, {}: pass rate per combination</h3>\n<div class=\"charts\">{svg}</div>\n",
            text(&suite),
            text(&iso_utc(started_at))
        );
    }
    out
}

/// The pass-rate bars of a grid search's runs shown together (a suite result's runs in a
/// notebook): the runs' `grid_searches_section`.
pub fn grid_searches_html(runs: &[StoredRun]) -> String {
    let section = grid_searches_section(runs);
    if section.is_empty() {
        section
    } else {
        page("", &section, false)
    }
}

/// A titled row of charts; empty without any.
fn charts_section(title: &str, svgs: impl Iterator<Item = String>) -> String {
    let svgs: String = svgs.collect();
    if svgs.is_empty() {
        return String::new();
    }
    format!(
        "<h3>{}</h3>\n<div class=\"charts\">{svgs}</div>\n",
        text(title)
    )
}

// ---------------------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------------------

/// A view's body as a whole document (for a file) or as a self-styled <div> (for a notebook).
fn page(title: &str, body: &str, standalone: bool) -> String {
    if standalone {
        format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<div class=\"trialrun\">\n{body}</div>\n</body>\n</html>\n",
            text(title)
        )
    } else {
        format!("<div class=\"trialrun\">\n<style>\n{CSS}</style>\n{body}</div>\n")
    }
}

/// A table from a header and rendered rows.
fn table(header: &[&str], rows: &[String]) -> String {
    let head: String = header.iter().map(|h| th(h)).collect();
    format!(
        "<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{}\n</tbody>\n</table>\n",
        rows.join("\n")
    )
}

/// A two-column table of labels and HTML values.
fn key_values(facts: &[(&str, String)]) -> String {
    let rows: Vec<String> = facts
        .iter()
        .map(|(label, value)| row(&[th(label), td("", value)]))
        .collect();
    format!(
        "<table>\n<tbody>\n{}\n</tbody>\n</table>\n",
        rows.join("\n")
    )
}

fn row(cells: &[String]) -> String {
    format!("<tr>{}</tr>", cells.concat())
}

/// A cell holding `html`; `class` is one of this module's own class names.
fn td(class: &str, html: &str) -> String {
    if class.is_empty() {
        format!("<td>{html}</td>")
    } else {
        format!("<td class=\"{class}\">{html}</td>")
    }
}

/// A count, coloured only when there is something to count.
fn count_cell(n: u64, tone: &str) -> String {
    let class = if n > 0 {
        format!("num {tone}")
    } else {
        "num".to_string()
    };
    td(&class, &n.to_string())
}

fn th(label: &str) -> String {
    format!("<th>{}</th>", text(label))
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", text(s))
}

fn chip(tone: &str, label: &str) -> String {
    format!(
        "<span class=\"chip {tone}\" title=\"{}\">{}</span>",
        attr(label),
        text(label)
    )
}

fn details(summary_html: &str, content_html: &str) -> String {
    format!("<details><summary>{summary_html}</summary>{content_html}</details>")
}

fn labelled(label: &str, html: &str) -> String {
    format!("<div class=\"label\">{}</div>{html}", text(label))
}

/// A text block, cut in notebook fragments to keep them small.
fn pre(s: &str, limits: Limits) -> String {
    match s.char_indices().nth(limits.text) {
        None => format!("<pre>{}</pre>", text(s)),
        Some((cut, _)) => {
            let more = s[cut..].chars().count();
            format!(
                "<pre>{}</pre><p class=\"note\">{more} more characters left out of this view; a standalone report shows them all.</p>",
                text(&s[..cut])
            )
        }
    }
}

/// The line saying how many of `total` items a view did not show.
fn left_out(total: usize, shown: usize, what: &str) -> String {
    if total <= shown {
        return String::new();
    }
    format!(
        "<p class=\"note\">{} more {what} left out of this view; a standalone report shows them all.</p>\n",
        total - shown
    )
}

/// The colour class of a verdict: green passes, red failures, grey scores without threshold.
fn tone(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "ok",
        Verdict::Failed | Verdict::Errored => "bad",
        Verdict::NoThreshold => "none",
    }
}

fn status_chip(status: RunStatus) -> String {
    let tone = match status {
        RunStatus::Completed => "ok",
        RunStatus::Running => "none",
        RunStatus::Interrupted | RunStatus::Failed | RunStatus::Stopped => "bad",
    };
    chip(tone, status.as_str())
}

/// A run's verdict as shown in lists: a run with failing cases reads "failed".
fn verdict_chip(verdict: &str) -> String {
    let tone = match verdict {
        "passed" => "ok",
        "running" => "none",
        _ => "bad",
    };
    chip(tone, verdict)
}

fn duration(run: &StoredRun) -> String {
    match run.ended_at {
        Some(end) => format!("{:.2} s", end - run.run.started_at),
        None => "—".into(),
    }
}

/// `main @ 0123456789` (the commit's first ten characters), when git was known.
fn git_label(r: &RunRecord) -> Option<String> {
    let commit: Option<String> = r
        .git_commit
        .as_deref()
        .map(|c| c.chars().take(10).collect());
    match (r.git_branch.as_deref(), commit) {
        (Some(branch), Some(commit)) => Some(format!("{branch} @ {commit}")),
        (Some(only), None) => Some(only.to_string()),
        (None, Some(only)) => Some(only),
        (None, None) => None,
    }
}

fn optional_score(score: Option<f64>) -> String {
    score.map(fmt_score).unwrap_or_else(|| "—".into())
}

/// A score change with its sign: `+0.1`, `-0.25`.
fn optional_delta(delta: Option<f64>) -> String {
    match delta {
        Some(d) if fmt_score(d) != "0" && d > 0.0 => format!("+{}", fmt_score(d)),
        Some(d) => fmt_score(d),
        None => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::export::tests::sample_run;

    fn position(html: &str, needle: &str) -> usize {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the HTML"))
    }

    #[test]
    fn run_lists_failures_first() {
        let html = run_html(&sample_run(), false);
        // Suite order is ok, tricky, raises, bare: fn errors, then failing evaluations.
        let (raises, tricky, ok, bare) = (
            position(&html, "<code>raises</code>"),
            position(&html, "<code>tricky</code>"),
            position(&html, "<code>ok</code>"),
            position(&html, "<code>bare</code>"),
        );
        assert!(raises < tricky && tricky < ok && ok < bare, "{html}");
        assert!(html.contains("4 cases, 2 failing."));
        assert!(html.contains("judge: score 0.2 outside Threshold(gte=1)"));
        assert!(html.contains("<span class=\"chip none\" title=\"length: 0.7 no_threshold\">"));
        // metadata pretty-printed, in its order, escaped
        assert!(
            html.contains("<pre>{\n  \"reason\": \"said \\\"no\\\", then\\nleft\",\n  \"z\": 1"),
            "{html}"
        );
        assert!(html.contains("Run of my-suite [model=a, temperature=0]"));
    }

    #[test]
    fn fragment_and_document() {
        let run = sample_run();
        let fragment = run_html(&run, false);
        assert!(fragment.starts_with("<div class=\"trialrun\">\n<style>"));
        assert!(fragment.trim_end().ends_with("</div>"));
        assert!(!fragment.contains("<html"));
        let document = run_html(&run, true);
        assert!(document.starts_with("<!doctype html>"));
        assert!(document.contains("<title>trialrun: my-suite [model=a, temperature=0]</title>"));
        // The charts' SVG namespace is a name, never fetched; nothing else may refer out.
        assert!(document.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        let without_namespace = document.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for external in ["<script", "http://", "https://", "<link", "@import"] {
            assert!(!without_namespace.contains(external), "{external}");
        }
        // Every CSS rule is scoped to the report.
        assert!(CSS.lines().all(|rule| rule.starts_with(".trialrun")));
    }

    #[test]
    fn user_strings_are_escaped() {
        let mut run = sample_run();
        let evil = "<script>alert('x')</script>";
        run.cases[0].hash = evil.into();
        run.evaluations[0].case_hash = evil.into();
        run.evaluations[1].case_hash = evil.into();
        run.cases[1].output = Some(format!("\"{evil}\""));
        run.evaluations[3].error = Some(format!("ValueError: {evil}"));
        run.run.run.suite_id = evil.into();
        let html = run_html(&run, true);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("<code>&lt;script&gt;alert('x')&lt;/script&gt;</code>"));
        let runs = runs_html(&[run.run.clone()]);
        assert!(!runs.contains("<script"));
    }

    #[test]
    fn fragments_leave_out_rows_and_say_so() {
        let mut run = sample_run();
        let template = run.cases[3].clone();
        run.cases = (0..MAX_FRAGMENT_ROWS as u32 + 5)
            .map(|i| {
                let mut c = template.clone();
                c.index = i;
                c.hash = format!("h{i}").into();
                c
            })
            .collect();
        run.evaluations.clear();
        let fragment = run_html(&run, false);
        assert!(fragment.contains("5 more cases left out of this view"));
        assert!(
            fragment.contains("<code>h1999</code>") && !fragment.contains("<code>h2000</code>")
        );
        let document = run_html(&run, true);
        assert!(!document.contains("left out") && document.contains("<code>h2004</code>"));

        let runs = vec![run.run.clone(); MAX_FRAGMENT_ROWS + 1];
        assert!(runs_html(&runs).contains("1 more runs left out"));
    }

    #[test]
    fn long_text_is_cut_in_fragments_only() {
        let mut run = sample_run();
        run.cases[2].error = Some("x".repeat(MAX_FRAGMENT_TEXT + 7));
        assert!(run_html(&run, false).contains("7 more characters left out"));
        assert!(!run_html(&run, true).contains("more characters left out"));
    }

    fn side(verdict: &str, score: f64) -> Option<Side> {
        Some(Side {
            score: Some(score),
            verdict: verdict.into(),
        })
    }

    fn sample_comparison() -> Comparison {
        let run = sample_run();
        let diff = |hash: &str, base: Option<Side>, head: Option<Side>, change| CaseDiff {
            hash: hash.into(),
            label: None,
            base_error: None,
            head_error: None,
            evaluations: vec![EvaluationDiff {
                evaluator_id: "judge".into(),
                base,
                head,
                change,
            }],
        };
        let mut raised = diff("raised", side("passed", 1.0), None, Change::Removed);
        raised.head_error = Some("Traceback\nKeyError: 'k'".into());
        Comparison {
            base: run.run.clone(),
            head: run.run.clone(),
            cases: vec![
                diff(
                    "steady",
                    side("passed", 1.0),
                    side("passed", 0.9),
                    Change::Same,
                ),
                diff(
                    "<b>broke</b>",
                    side("passed", 1.0),
                    side("failed", 0.25),
                    Change::NewlyFailing,
                ),
                raised,
            ],
            added: vec!["fresh".into()],
            removed: vec!["gone".into()],
            reviews: vec![],
            evaluators: vec![EvaluatorSummary {
                id: "judge".into(),
                compared: 2,
                newly_failing: vec!["<b>broke</b>".into()],
                newly_passing: vec![],
                base_mean: Some(1.0),
                head_mean: Some(0.575),
                mean_delta: Some(-0.425),
            }],
            trials: None,
        }
    }

    #[test]
    fn comparison_puts_changed_cases_first() {
        let c = sample_comparison();
        let regressions = c.regressions(&crate::history::Policy::default());
        let html = comparison_html(&c, &regressions, false);
        assert!(!html.contains("<b>"), "hashes are escaped");
        let broke = position(
            &html,
            "<td rowspan=\"1\"><code>&lt;b&gt;broke&lt;/b&gt;</code>",
        );
        let raised = position(&html, "<td rowspan=\"2\"><code>raised</code>");
        let steady = position(&html, "<td rowspan=\"1\"><code>steady</code>");
        assert!(broke < raised && raised < steady);
        assert!(html.contains("<td class=\"bad\">failed 0.25</td><td class=\"num\">-0.75</td><td class=\"bad\">newly failing</td>"));
        assert!(html.contains("<td class=\"bad\">newly raised</td>"));
        assert!(html.contains("<h3>Regressions (2)</h3>"));
        assert!(html.contains(
            "<li><code>&lt;b&gt;broke&lt;/b&gt;</code> / judge: passed -&gt; failed</li>"
        ));
        assert!(html.contains("<td class=\"num\">-0.425</td>"));
        assert!(html.contains("3 cases matched by hash: 2 changed; 1 added, 1 removed."));
        assert!(position(&html, "Added cases") < position(&html, "<code>fresh</code>"));
        assert!(position(&html, "Removed cases") < position(&html, "<code>gone</code>"));
        assert!(comparison_html(&c, &[], true).contains("<span class=\"chip ok\">none</span>"));
    }

    #[test]
    fn runs_table() {
        let run = sample_run().run;
        let html = runs_html(&[run]);
        assert!(html.contains("<td><code>run-1</code></td><td>my-suite</td>"));
        assert!(html.contains("<td>model=a, temperature=0</td><td>main @ 0123456789</td>"));
        // One case failed an evaluation, one raised: the completed run reads failed.
        assert!(
            html.contains("<span class=\"chip bad\" title=\"failed\">failed</span>"),
            "{html}"
        );
        assert!(html.contains("<td class=\"num\">50%</td><td class=\"num bad\">1</td><td class=\"num bad\">1</td>"), "{html}");
        assert!(runs_html(&[]).contains("No runs in the store yet."));
    }
}
