//! The run page's two reads, so that a run of any size opens fast:
//!
//! - `GET /api/runs/{ref}/summary`: the run, the run before it, per evaluator its verdict
//!   counts, mean and score histogram (counts and SVG), the pass rates of its grid
//!   search's combinations (when it is one), its review queue and its trial plan;
//! - `GET /api/runs/{ref}/cases?offset=&limit=&sort=&dir=&q=&status=&evaluator=`: one
//!   page of its cases with their evaluations, review items and trials (`case_params`
//!   lists the parameters), and how many cases match in all.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::api::{param, params, read, reference_error, ApiError, Params};
use super::case_params::case_query;
use super::App;
use crate::history::{self, trials::CaseTrials};
use crate::report::call_timeline;
use crate::report::charts::{self, PassRateBar, ScoreRange, Series};
use crate::report::common::grid_label;
use crate::store::{self, CaseRecord, EvaluationRecord, StoredRun};

#[derive(Serialize)]
struct EvaluatorChart {
    #[serde(flatten)]
    scores: store::EvaluatorScores,
    /// How many evaluations have a score (the histogram's total).
    scored: usize,
    /// The histogram's span and counts per bin.
    range: (f64, f64),
    histogram: Vec<u64>,
    svg: String,
}

#[derive(Serialize)]
struct GridRun {
    id: String,
    grid: String,
    passed: u64,
    cases: u64,
    pass_rate: Option<f64>,
}

#[derive(Serialize)]
struct GridChart {
    runs: Vec<GridRun>,
    svg: String,
}

#[derive(Serialize)]
struct SummaryAnswer {
    run: StoredRun,
    previous: Option<String>,
    evaluators: Vec<EvaluatorChart>,
    grid: Option<GridChart>,
    review: store::Review,
    /// The trial plan in words, for runs that repeat their cases.
    trials: Option<String>,
}

pub(super) async fn summary(
    State(app): State<Arc<App>>,
    Path(reference): Path<String>,
    query: Params,
) -> Response {
    let suite = match params(query) {
        Ok(params) => param(&params, "suite"),
        Err(e) => return e.into_response(),
    };
    read(&app, move |conn| {
        let run = history::resolve(conn, &reference, suite.as_deref()).map_err(reference_error)?;
        let id = run.run.id.clone();
        let previous = store::previous_run(conn, &run)?.map(|r| r.run.id);
        let evaluators = store::evaluator_scores(conn, &id)?
            .into_iter()
            .map(evaluator_chart)
            .collect();
        let grid = grid_chart(&run, store::grid_siblings(conn, &run)?);
        let trials = match &run.run.trials {
            Some(plan) => {
                let (cases, evaluations) = store::run_trials(conn, &id)?;
                Some(history::trials::judge_run(plan, &cases, &evaluations).plan)
            }
            None => None,
        };
        Ok(SummaryAnswer {
            previous,
            evaluators,
            grid,
            review: store::run_review(conn, &id)?,
            trials,
            run,
        })
    })
    .await
}

fn evaluator_chart(scores: store::EvaluatorScores) -> EvaluatorChart {
    let range = ScoreRange::of([&scores.scores[..]]);
    let histogram = range.counts(&scores.scores);
    let svg = charts::histogram_svg(
        &scores.id,
        range,
        &[Series {
            name: "",
            counts: histogram.clone(),
        }],
    );
    EvaluatorChart {
        scored: scores.scores.len(),
        range: (range.lo, range.hi),
        histogram,
        svg,
        scores,
    }
}

/// The pass rates of the grid search `run` belongs to; None for a run without a grid, or
/// the only combination of its search.
fn grid_chart(run: &StoredRun, siblings: Vec<StoredRun>) -> Option<GridChart> {
    if siblings.len() < 2 {
        return None;
    }
    let runs: Vec<GridRun> = siblings
        .iter()
        .map(|r| GridRun {
            id: r.run.id.clone(),
            grid: r.run.grid.as_deref().map(grid_label).unwrap_or_default(),
            passed: r.cases.saturating_sub(r.failed_cases + r.errored_cases),
            cases: r.cases,
            pass_rate: r.pass_rate,
        })
        .collect();
    let bars: Vec<PassRateBar> = runs
        .iter()
        .map(|r| PassRateBar {
            label: &r.grid,
            run_id: &r.id,
            passed: r.passed,
            total: r.cases,
            current: r.id == run.run.id,
        })
        .collect();
    let svg = charts::pass_rates_svg(&bars);
    Some(GridChart { runs, svg })
}

/// A case of a page, with what the table and its detail show.
#[derive(Serialize)]
struct CaseRow {
    #[serde(flatten)]
    case: CaseRecord,
    evaluations: Vec<EvaluationRecord>,
    review: Option<store::review::ReviewItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trials: Option<CaseTrials>,
    /// A voice call's timeline (SVG) and numbers, when the output is a call's result.
    #[serde(skip_serializing_if = "Option::is_none")]
    call: Option<CallView>,
}

#[derive(Serialize)]
struct CallView {
    timeline: String,
    metrics: String,
}

impl CallView {
    fn of(case: &CaseRecord) -> Option<CallView> {
        let output: serde_json::Value = serde_json::from_str(case.output.as_deref()?).ok()?;
        Some(CallView {
            timeline: call_timeline::svg(&output, false)?,
            metrics: call_timeline::metrics_line(&output)?,
        })
    }
}

#[derive(Serialize)]
struct CasesAnswer {
    run_id: String,
    total: u64,
    offset: u64,
    limit: u64,
    cases: Vec<CaseRow>,
}

pub(super) async fn cases(
    State(app): State<Arc<App>>,
    Path(reference): Path<String>,
    query: Params,
) -> Response {
    let query = match params(query).and_then(|p| case_query(&p)) {
        Ok(query) => query,
        Err(e) => return e.into_response(),
    };
    read(&app, move |conn| {
        // An exact id (the page's links) is looked up without the run's counts.
        let (id, plan) = match store::run_trial_plan(conn, &reference)? {
            Some(plan) => (reference, plan),
            None => {
                let run = history::resolve(conn, &reference, None).map_err(reference_error)?;
                (run.run.id, run.run.trials)
            }
        };
        let page = store::case_page(conn, &id, &query).map_err(|e| match e {
            store::CasePageError::Store(e) => ApiError::from(e),
            store::CasePageError::Invalid(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, message)
            }
        })?;
        let review = store::run_review(conn, &id)?;
        let mut trials: HashMap<String, CaseTrials> = match &plan {
            Some(plan) => {
                let (cases, evaluations) = store::run_trials(conn, &id)?;
                history::trials::judge_run(plan, &cases, &evaluations)
                    .cases
                    .into_iter()
                    .map(|t| (t.hash.clone(), t))
                    .collect()
            }
            None => HashMap::new(),
        };
        let mut evaluations = page.evaluations.into_iter().peekable();
        let cases = page
            .cases
            .into_iter()
            .map(|case| {
                let mut mine = Vec::new();
                while let Some(e) = evaluations.next_if(|e| e.case_index == case.index) {
                    mine.push(e);
                }
                CaseRow {
                    evaluations: mine,
                    review: review.item(&case.hash).cloned(),
                    trials: trials.remove(&*case.hash),
                    call: CallView::of(&case),
                    case,
                }
            })
            .collect();
        Ok(CasesAnswer {
            run_id: id,
            total: page.total,
            offset: query.offset,
            limit: query.limit,
            cases,
        })
    })
    .await
}
