//! The grid view of a run page: the combinations of a grid search side by side, case by
//! case, each combination's output with a word diff against one of them.
//!
//! `GET /api/runs/{ref}/grid?offset=&limit=&q=&differ=&base=` answers for the grid search
//! that run `ref` belongs to:
//!
//! - `base`: the run id of the combination the others are diffed against (default: the
//!   first combination); its cases set the order and are what is paged and searched;
//! - `offset` (default 0), `limit` (default 50, at most 500);
//! - `q`: text looked for in the base combination's cases (as the cases API's `q`);
//! - `differ`: `1` keeps only cases whose output (or fn's error) is not the same in every
//!   combination, `0` (default) keeps all.
//!
//! A run that is not part of a grid search of two or more combinations is a 400.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use super::api::{param, params, read, reference_error, ApiError, Params};
use super::case_params::{bad, only_known, page, DEFAULT_LIMIT, MAX_LIMIT};
use super::App;
use crate::history;
use crate::report::common::{grid_label, parse_verdict, pretty_json};
use crate::store::{self, CaseQuery, CaseRecord, EvaluationRecord, StoredRun};

const KNOWN: [&str; 5] = ["offset", "limit", "q", "differ", "base"];

/// Longest a diff may take before it settles for a coarser one (whole runs of words
/// replaced), so one huge output cannot hold up a page.
const DIFF_DEADLINE: Duration = Duration::from_millis(200);

/// The parameters of a grid page, checked.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct GridQuery {
    pub offset: u64,
    pub limit: u64,
    pub search: Option<String>,
    pub differ: bool,
    pub base: Option<String>,
}

pub(super) fn grid_query(params: &HashMap<String, String>) -> Result<GridQuery, ApiError> {
    only_known(params, &KNOWN)?;
    let (offset, limit) = page(params, DEFAULT_LIMIT, MAX_LIMIT)?;
    let differ = match param(params, "differ").as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => return Err(bad(format!("differ must be 0 or 1, got {other:?}"))),
    };
    Ok(GridQuery {
        offset,
        limit,
        search: param(params, "q"),
        differ,
        base: param(params, "base"),
    })
}

/// A combination of the search: its run, its label and pass rate.
#[derive(Serialize)]
struct Combination {
    id: String,
    grid: String,
    cases: u64,
    passed: u64,
    pass_rate: Option<f64>,
}

/// One evaluation as a cell shows it.
#[derive(Serialize)]
struct Score {
    evaluator_id: String,
    score: Option<f64>,
    verdict: String,
}

/// A run of words the diff kept, added or removed: `=`, `+` or `-`, and the text.
#[derive(Debug, PartialEq, Serialize)]
pub(super) struct DiffPart(&'static str, String);

/// One combination's side of a case.
#[derive(Serialize)]
struct Side {
    run_id: String,
    /// "passed", "failed", "errored" (fn raised or an evaluator errored) or "missing"
    /// (the combination has no such case: it was not run, or the search stopped early).
    status: &'static str,
    /// The output as shown: a string output as its text, other JSON laid out.
    text: Option<String>,
    /// fn's traceback when it raised.
    error: Option<String>,
    duration_s: Option<f64>,
    evaluations: Vec<Score>,
    /// Against the base combination's text: None for the base itself, for a side without
    /// output, and where the texts are the same.
    diff: Option<Vec<DiffPart>>,
    /// The output (and error) equal the base combination's.
    same: bool,
}

#[derive(Serialize)]
struct GridCase {
    hash: String,
    label: Option<String>,
    test_case: String,
    /// Not every combination has the same output (or error).
    differ: bool,
    /// One per combination, in `combinations` order.
    sides: Vec<Side>,
}

#[derive(Serialize)]
struct GridAnswer {
    run_id: String,
    suite_id: String,
    base: String,
    combinations: Vec<Combination>,
    total: u64,
    offset: u64,
    limit: u64,
    differ: bool,
    cases: Vec<GridCase>,
}

/// Output text as a person reads it: a JSON string's own text, other JSON laid out.
fn shown(output: &str) -> String {
    match serde_json::from_str::<String>(output) {
        Ok(text) => text,
        Err(_) => pretty_json(output),
    }
}

/// The words of `new` against `old`: runs of kept (`=`), added (`+`) and removed (`-`) text.
pub(super) fn word_diff(old: &str, new: &str) -> Vec<DiffPart> {
    let diff = TextDiff::configure()
        .timeout(DIFF_DEADLINE)
        .diff_words(old, new);
    let mut parts: Vec<DiffPart> = vec![];
    for change in diff.iter_all_changes() {
        let tag = match change.tag() {
            ChangeTag::Equal => "=",
            ChangeTag::Insert => "+",
            ChangeTag::Delete => "-",
        };
        match parts.last_mut() {
            Some(DiffPart(last, text)) if *last == tag => text.push_str(change.value()),
            _ => parts.push(DiffPart(tag, change.value().to_string())),
        }
    }
    parts
}

fn status(case: &CaseRecord, evaluations: &[EvaluationRecord]) -> &'static str {
    let verdicts = || evaluations.iter().map(|e| parse_verdict(&e.verdict));
    if case.error.is_some() || verdicts().any(|v| v == crate::evaluation::Verdict::Errored) {
        "errored"
    } else if verdicts().any(|v| v.is_failure()) {
        "failed"
    } else {
        "passed"
    }
}

fn side(
    run_id: &str,
    found: Option<store::CaseWithEvaluations>,
    base: Option<&CaseRecord>,
) -> Side {
    let Some((case, evaluations)) = found else {
        return Side {
            run_id: run_id.to_string(),
            status: "missing",
            text: None,
            error: None,
            duration_s: None,
            evaluations: vec![],
            diff: None,
            same: false,
        };
    };
    let same = base.is_some_and(|b| b.output == case.output && b.error == case.error);
    let text = case.output.as_deref().map(shown);
    let diff = match (base.and_then(|b| b.output.as_deref()), &text) {
        (Some(base_output), Some(text)) if !same => Some(word_diff(&shown(base_output), text)),
        _ => None,
    };
    Side {
        run_id: run_id.to_string(),
        status: status(&case, &evaluations),
        text,
        error: case.error.clone(),
        duration_s: Some(case.duration_s),
        evaluations: evaluations
            .iter()
            .map(|e| Score {
                evaluator_id: e.evaluator_id.to_string(),
                score: e.score,
                verdict: e.verdict.to_string(),
            })
            .collect(),
        diff,
        same,
    }
}

fn combination(r: &StoredRun) -> Combination {
    Combination {
        id: r.run.id.clone(),
        grid: r.run.grid.as_deref().map(grid_label).unwrap_or_default(),
        cases: r.cases,
        passed: r.cases.saturating_sub(r.failed_cases + r.errored_cases),
        pass_rate: r.pass_rate,
    }
}

pub(super) async fn grid(
    State(app): State<Arc<App>>,
    Path(reference): Path<String>,
    query: Params,
) -> Response {
    let query = match params(query).and_then(|p| grid_query(&p)) {
        Ok(query) => query,
        Err(e) => return e.into_response(),
    };
    read(&app, move |conn| {
        let run = history::resolve(conn, &reference, None).map_err(reference_error)?;
        let siblings = store::grid_siblings(conn, &run)?;
        if siblings.len() < 2 {
            return Err(bad(format!(
                "run {} is not part of a grid search of several combinations{}",
                run.run.id,
                if run.run.grid.is_none() {
                    " (it has no grid)"
                } else {
                    ""
                }
            )));
        }
        let base_id = match &query.base {
            None => siblings[0].run.id.clone(),
            Some(id) if siblings.iter().any(|r| r.run.id == *id) => id.clone(),
            Some(id) => {
                let ids: Vec<&str> = siblings.iter().map(|r| r.run.id.as_str()).collect();
                return Err(bad(format!(
                    "base: {id:?} is not a combination of this grid search (its runs: {})",
                    ids.join(", ")
                )));
            }
        };
        let others: Vec<String> = siblings
            .iter()
            .map(|r| r.run.id.clone())
            .filter(|id| *id != base_id)
            .collect();
        let page = store::case_page(
            conn,
            &base_id,
            &CaseQuery {
                offset: query.offset,
                limit: query.limit,
                search: query.search.clone(),
                differ_in: if query.differ { others } else { vec![] },
                ..CaseQuery::default()
            },
        )
        .map_err(|e| match e {
            store::CasePageError::Store(e) => ApiError::from(e),
            store::CasePageError::Invalid(message) => bad(message),
        })?;
        let wanted: Vec<(u32, &str)> = page.cases.iter().map(|c| (c.index, &*c.hash)).collect();
        // Each combination's cases of the page, in the page's order.
        let mut columns: Vec<Vec<Option<store::CaseWithEvaluations>>> = vec![];
        for r in &siblings {
            columns.push(store::cases_at(conn, &r.run.id, &wanted)?);
        }
        let base_at = siblings
            .iter()
            .position(|r| r.run.id == base_id)
            .expect("the base is a sibling");
        let mut cases = Vec::with_capacity(page.cases.len());
        for (row, base) in page.cases.iter().enumerate() {
            let sides: Vec<Side> = siblings
                .iter()
                .zip(columns.iter_mut())
                .map(|(r, column)| side(&r.run.id, column[row].take(), Some(base)))
                .collect();
            let differ = sides.iter().any(|s| !s.same);
            debug_assert!(sides[base_at].same);
            cases.push(GridCase {
                hash: base.hash.to_string(),
                label: base.label.as_deref().map(str::to_string),
                test_case: base.test_case.to_string(),
                differ,
                sides,
            });
        }
        Ok(GridAnswer {
            run_id: run.run.id.clone(),
            suite_id: run.run.suite_id.clone(),
            base: base_id,
            combinations: siblings.iter().map(combination).collect(),
            total: page.total,
            offset: query.offset,
            limit: query.limit,
            differ: query.differ,
            cases,
        })
    })
    .await
}
