//! Run history: finding runs by reference, loading them whole, and comparing two runs
//! case by case through their test-case hashes.

pub mod compare;
pub mod exported;
pub mod merge;
pub mod trials;

use crate::store::{self, CaseRecord, EvaluationRecord, Review, StoreError, StoredRun};
use rusqlite::Connection;
use std::fmt;

pub use compare::{compare, Comparison, Policy, Regression};

/// Marks the layout of a run exported as JSON (`report::export` writes it, `merge` reads
/// it back), so readers can tell versions apart.
pub const RUN_JSON_FORMAT: &str = "trialrun.run/1";

/// A run with all its cases and evaluations, in the suite's order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunData {
    pub run: StoredRun,
    pub cases: Vec<CaseRecord>,
    pub evaluations: Vec<EvaluationRecord>,
    /// The run's human review queue (empty when nobody asked for a review).
    pub review: Review,
    /// With trials (the suite repeated its cases): every case judged over its trials.
    /// `cases` and `evaluations` hold each case's first trial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trials: Option<trials::RunTrials>,
    /// The retries and usage of the run's calls (suites with limits).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub call_logs: Vec<store::CallLogRecord>,
}

impl RunData {
    /// Each case's evaluations, by case hash.
    pub fn evaluations_by_case(&self) -> std::collections::HashMap<&str, Vec<&EvaluationRecord>> {
        let mut by_case: std::collections::HashMap<&str, Vec<&EvaluationRecord>> =
            std::collections::HashMap::new();
        for e in &self.evaluations {
            by_case.entry(&*e.case_hash).or_default().push(e);
        }
        by_case
    }
}

pub fn load(conn: &Connection, run: StoredRun) -> Result<RunData, StoreError> {
    let cases = store::run_cases(conn, &run.run.id)?;
    let evaluations = store::run_evaluations(conn, &run.run.id)?;
    complete(conn, run, cases, evaluations)
}

/// `load` without the cases' test cases and outputs and the evaluations' metadata
/// (`store::run_outline`): enough to `compare` two runs, read several times faster.
pub fn load_outline(conn: &Connection, run: StoredRun) -> Result<RunData, StoreError> {
    let (cases, evaluations) = store::run_outline(conn, &run.run.id)?;
    complete(conn, run, cases, evaluations)
}

/// A run's data around its cases and evaluations: its review queue, trials and call logs.
fn complete(
    conn: &Connection,
    run: StoredRun,
    cases: Vec<store::CaseRecord>,
    evaluations: Vec<store::EvaluationRecord>,
) -> Result<RunData, StoreError> {
    let review = store::run_review(conn, &run.run.id)?;
    let trials = match &run.run.trials {
        Some(plan) => {
            let (all_cases, all_evaluations) = store::run_trials(conn, &run.run.id)?;
            Some(trials::judge_run(plan, &all_cases, &all_evaluations))
        }
        None => None,
    };
    let call_logs = store::run_call_logs(conn, &run.run.id)?;
    Ok(RunData {
        run,
        cases,
        evaluations,
        review,
        trials,
        call_logs,
    })
}

#[derive(Debug)]
pub enum HistoryError {
    Store(StoreError),
    /// No run answers to the reference (or there is nothing to compare with).
    NotFound(String),
    /// The reference names several runs; the text lists them.
    Ambiguous(String),
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::Store(e) => e.fmt(f),
            HistoryError::NotFound(msg) | HistoryError::Ambiguous(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for HistoryError {}

impl From<StoreError> for HistoryError {
    fn from(e: StoreError) -> Self {
        HistoryError::Store(e)
    }
}

/// A run by reference: "latest" (optionally within `suite`), a run id, or a unique
/// prefix of one.
pub fn resolve(
    conn: &Connection,
    reference: &str,
    suite: Option<&str>,
) -> Result<StoredRun, HistoryError> {
    if reference == "latest" {
        return store::list_runs(conn, suite, 1)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                HistoryError::NotFound(match suite {
                    Some(s) => format!("suite {s:?} has no runs in the store"),
                    None => "the store has no runs yet".to_string(),
                })
            });
    }
    let mut found = store::runs_matching(conn, reference)?;
    if let Some(s) = suite {
        found.retain(|r| r.run.suite_id == s);
    }
    match found.len() {
        0 => Err(HistoryError::NotFound(format!(
            "no run matches {reference:?}"
        ))),
        1 => Ok(found.remove(0)),
        n => {
            let ids: Vec<String> = found
                .iter()
                .map(|r| format!("{} ({})", r.run.id, r.run.suite_id))
                .collect();
            Err(HistoryError::Ambiguous(format!(
                "{reference:?} matches {n}{} runs, give more of the id: {}",
                if n >= 10 { " or more" } else { "" },
                ids.join(", ")
            )))
        }
    }
}

/// The two runs `trialrun compare [BASE] [HEAD]` means: HEAD defaults to the latest run
/// (of `suite`, when given), BASE to the run of the same suite and grid combination
/// before HEAD.
pub fn resolve_pair(
    conn: &Connection,
    base: Option<&str>,
    head: Option<&str>,
    suite: Option<&str>,
) -> Result<(StoredRun, StoredRun), HistoryError> {
    let head = resolve(conn, head.unwrap_or("latest"), suite)?;
    let base = match base {
        Some(reference) => resolve(conn, reference, suite)?,
        None => store::previous_run(conn, &head)?.ok_or_else(|| {
            HistoryError::NotFound(format!(
                "run {} is the first of suite {:?}{}: nothing to compare it with",
                head.run.id,
                head.run.suite_id,
                head.run
                    .grid
                    .as_deref()
                    .map(|g| format!(" with grid {g}"))
                    .unwrap_or_default()
            ))
        })?,
    };
    Ok((base, head))
}

#[cfg(test)]
mod tests;
