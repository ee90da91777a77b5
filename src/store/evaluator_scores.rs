//! Per evaluator, a run's verdict counts and scores (first trials): what the viewer's
//! evaluator table and score histograms show, read in one pass over the run's key range.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::error::StoreError;
use super::read::db_path;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct EvaluatorScores {
    pub id: String,
    pub passed: u64,
    pub failed: u64,
    pub no_threshold: u64,
    pub errored: u64,
    /// Every score given (evaluations that errored have none), in the suite's order.
    #[serde(skip)]
    pub scores: Vec<f64>,
    /// Mean of `scores`; None without any.
    pub mean: Option<f64>,
}

/// The run's evaluators by id, with their counts and scores.
pub fn evaluator_scores(
    conn: &Connection,
    run_id: &str,
) -> Result<Vec<EvaluatorScores>, StoreError> {
    let path = db_path(conn);
    let doing = format!("reading the scores of run {run_id}");
    let fail = |e| StoreError::sqlite(&path, &doing, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT e.evaluator_id, e.verdict, e.score FROM evaluations e \
             WHERE e.run = (SELECT seq FROM runs WHERE id = ?1) AND e.trial = 0",
        )
        .map_err(fail)?;
    let mut rows = stmt.query([run_id]).map_err(fail)?;
    let mut by_id: BTreeMap<String, EvaluatorScores> = BTreeMap::new();
    while let Some(row) = rows.next().map_err(fail)? {
        let id = row.get_ref(0).map_err(fail)?.as_str().unwrap_or_default();
        let entry = match by_id.get_mut(id) {
            Some(entry) => entry,
            None => by_id
                .entry(id.to_string())
                .or_insert_with(|| EvaluatorScores {
                    id: id.to_string(),
                    ..EvaluatorScores::default()
                }),
        };
        match row.get_ref(1).map_err(fail)?.as_str().unwrap_or_default() {
            "passed" => entry.passed += 1,
            "failed" => entry.failed += 1,
            "no_threshold" => entry.no_threshold += 1,
            _ => entry.errored += 1,
        }
        if let Some(score) = row.get::<_, Option<f64>>(2).map_err(fail)? {
            entry.scores.push(score);
        }
    }
    Ok(by_id
        .into_values()
        .map(|mut e| {
            e.mean = (!e.scores.is_empty())
                .then(|| e.scores.iter().sum::<f64>() / e.scores.len() as f64);
            e
        })
        .collect())
}
