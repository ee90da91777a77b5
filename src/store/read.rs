//! Reading runs back (tests now, the CLI later). Works on any connection from `open`, also
//! while a `Writer` is writing: WAL readers see the last committed batch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::error::{StoreError, StoreErrorKind};
use super::model::{CallLogRecord, CaseRecord, EvaluationRecord, RunRecord, RunStatus};

/// A run as stored: its record, where it ended up, and how many cases it holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredRun {
    #[serde(flatten)]
    pub run: RunRecord,
    pub status: RunStatus,
    pub ended_at: Option<f64>,
    /// Why a stopped run stopped (a quota or its budget exhausted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Cases stored for this run.
    pub cases: u64,
    /// Of those, the cases whose function raised (`error` set).
    pub errored_cases: u64,
    /// Cases with an evaluation that failed or errored (fn itself did not raise).
    pub failed_cases: u64,
    /// What a person reads for the run: "passed", "failed" (a case failed or errored, or the
    /// run failed), "interrupted" or "running". `status` keeps the lifecycle as stored.
    pub verdict: &'static str,
    /// Share of the cases that passed (neither failed nor errored); None without cases.
    pub pass_rate: Option<f64>,
}

impl StoredRun {
    /// The verdict and pass rate that follow from the status and the counts.
    pub fn with_counts(mut self) -> StoredRun {
        let bad = self.failed_cases + self.errored_cases;
        self.verdict = match self.status {
            RunStatus::Running => "running",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
            RunStatus::Completed if bad > 0 => "failed",
            RunStatus::Completed => "passed",
        };
        self.pass_rate =
            (self.cases > 0).then(|| self.cases.saturating_sub(bad) as f64 / self.cases as f64);
        self
    }
}

const RUN_COLUMNS: &str = "id, suite_id, kind, status, started_at, ended_at, grid, git_commit, \
    git_branch, \
    (SELECT count(*) FROM cases c WHERE c.run = runs.seq AND c.trial = 0), \
    (SELECT count(*) FROM cases c WHERE c.run = runs.seq AND c.trial = 0 \
        AND c.error IS NOT NULL), \
    (SELECT count(DISTINCT e.case_idx) FROM evaluations e \
        WHERE e.run = runs.seq AND e.trial = 0 AND e.verdict IN ('failed', 'errored')), \
    trials, shard, rescored_from, stop_reason";

/// Runs, newest first, of one suite or of all; at most `limit` (pass usize::MAX for all).
pub fn list_runs(
    conn: &Connection,
    suite_id: Option<&str>,
    limit: usize,
) -> Result<Vec<StoredRun>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    match suite_id {
        Some(suite) => select_runs(
            conn,
            "listing runs",
            "WHERE suite_id = ?",
            params![suite, limit],
        ),
        None => select_runs(conn, "listing runs", "", params![limit]),
    }
}

/// Runs whose id is `reference` or starts with it (at most 10), newest first.
pub fn runs_matching(conn: &Connection, reference: &str) -> Result<Vec<StoredRun>, StoreError> {
    let doing = format!("looking up run {reference:?}");
    let exact = select_runs(conn, &doing, "WHERE id = ?", params![reference, 1])?;
    if !exact.is_empty() {
        return Ok(exact);
    }
    // substr, not LIKE: ids never need escaping that way
    let filter = "WHERE substr(id, 1, length(?1)) = ?1";
    select_runs(conn, &doing, filter, params![reference, 10])
}

/// The run of the same suite and grid combination that started just before `run`.
pub fn previous_run(conn: &Connection, run: &StoredRun) -> Result<Option<StoredRun>, StoreError> {
    let r = &run.run;
    let filter =
        "WHERE suite_id = ?1 AND grid IS ?2 AND (started_at < ?3 OR (started_at = ?3 AND id < ?4))";
    let found = select_runs(
        conn,
        &format!("looking up the run before {}", r.id),
        filter,
        params![r.suite_id, r.grid, r.started_at, r.id, 1],
    )?;
    Ok(found.into_iter().next())
}

/// The runs of `run`'s grid search: the same suite's runs with a grid combination that
/// started at the same moment (a grid search stores one run per combination, all with the
/// start time of the search), in the order the combinations ran. Empty without a grid.
pub fn grid_siblings(conn: &Connection, run: &StoredRun) -> Result<Vec<StoredRun>, StoreError> {
    let r = &run.run;
    if r.grid.is_none() {
        return Ok(Vec::new());
    }
    let mut found = select_runs(
        conn,
        &format!("looking up the grid search of run {}", r.id),
        "WHERE suite_id = ?1 AND started_at = ?2 AND grid IS NOT NULL",
        params![r.suite_id, r.started_at, 10_000],
    )?;
    found.reverse();
    Ok(found)
}

/// The trial plan of the run whose id is exactly `run_id` (None inside: one trial per
/// case); None when no run has that id. Reads no counts, unlike `runs_matching`.
pub fn run_trial_plan(
    conn: &Connection,
    run_id: &str,
) -> Result<Option<Option<String>>, StoreError> {
    let path = db_path(conn);
    conn.prepare_cached("SELECT trials FROM runs WHERE id = ?")
        .and_then(|mut stmt| stmt.query_row([run_id], |r| r.get(0)).optional())
        .map_err(|e| StoreError::sqlite(&path, &format!("looking up run {run_id}"), e))
}

/// The newest run of a suite's grid combination and shard that was not a re-scoring:
/// the one `resume` continues when it stopped early.
pub fn latest_run(
    conn: &Connection,
    suite_id: &str,
    grid: Option<&str>,
    shard: Option<&str>,
) -> Result<Option<StoredRun>, StoreError> {
    let filter = "WHERE suite_id = ?1 AND grid IS ?2 AND shard IS ?3 AND kind = 'suite' \
        AND rescored_from IS NULL";
    let found = select_runs(
        conn,
        &format!("looking up the latest run of suite {suite_id}"),
        filter,
        params![suite_id, grid, shard, 1],
    )?;
    Ok(found.into_iter().next())
}

/// Runs selected by `filter` (a WHERE clause whose parameters come first in `params`,
/// followed by the row limit), newest first.
fn select_runs(
    conn: &Connection,
    doing: &str,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredRun>, StoreError> {
    let path = db_path(conn);
    let fail = |e| StoreError::sqlite(&path, doing, e);
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs {filter} ORDER BY started_at DESC, id DESC LIMIT ?"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(fail)?;
    let rows: Vec<RawRun> = stmt
        .query_map(params, RawRun::from_row)
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    rows.into_iter().map(|raw| raw.into_stored(&path)).collect()
}

/// Deletes all but the newest `keep` finished runs of each suite and grid combination
/// (with their cases and evaluations). Runs still running are never deleted.
/// Returns how many runs were deleted.
/// Runs beyond the newest `keep` of each suite and grid combination (never running ones):
/// what `delete_old_runs` removes.
const OLD_RUNS: &str = "SELECT id FROM ( \
        SELECT id, started_at, row_number() OVER ( \
            PARTITION BY suite_id, grid ORDER BY started_at DESC, id DESC) AS newer \
        FROM runs WHERE status != 'running') \
    WHERE newer > ?1";

pub fn delete_old_runs(conn: &Connection, keep: usize) -> Result<usize, StoreError> {
    let path = db_path(conn);
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    conn.execute(
        &format!("DELETE FROM runs WHERE status != 'running' AND id IN ({OLD_RUNS})"),
        params![keep],
    )
    .map_err(|e| StoreError::sqlite(&path, "deleting old runs", e))
}

/// The ids `delete_old_runs(conn, keep)` would delete, oldest first (for `gc --dry-run`).
pub fn old_runs(conn: &Connection, keep: usize) -> Result<Vec<String>, StoreError> {
    let path = db_path(conn);
    let fail = |e| StoreError::sqlite(&path, "listing old runs", e);
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare(&format!(
            "SELECT id FROM runs WHERE id IN ({OLD_RUNS}) ORDER BY started_at, id"
        ))
        .map_err(fail)?;
    let rows = stmt
        .query_map(params![keep], |row| row.get(0))
        .map_err(fail)?;
    rows.collect::<Result<_, _>>().map_err(fail)
}

/// The cases of one run in the suite's order: each case's first trial (the only one,
/// unless the suite repeats its cases; `run_trials` has them all).
pub fn run_cases(conn: &Connection, run_id: &str) -> Result<Vec<CaseRecord>, StoreError> {
    select_cases(conn, run_id, "AND trial = 0")
}

/// `run_cases` without each case's test case and output (empty and None), and
/// `run_evaluations` without metadata (None): what a comparison of two large runs needs
/// (hashes, labels, errors, verdicts and scores). Read from the tables by the run's key,
/// without the views' joins, each evaluation's hash taken from its case: several times
/// faster than the whole run.
pub fn run_outline(
    conn: &Connection,
    run_id: &str,
) -> Result<(Vec<CaseRecord>, Vec<EvaluationRecord>), StoreError> {
    let path = db_path(conn);
    let doing = format!("reading the outline of run {run_id}");
    let fail = |e| StoreError::sqlite(&path, &doing, e);
    let run: Arc<str> = Arc::from(run_id);
    let empty: Arc<str> = Arc::from("");
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM runs WHERE id = ?")
        .and_then(|mut stmt| stmt.query_row([run_id], |r| r.get(0)).optional())
        .map_err(fail)?;
    let Some(seq) = seq else {
        return Ok((vec![], vec![]));
    };
    let cases: Vec<CaseRecord> = conn
        .prepare_cached(
            "SELECT idx, hash, duration_s, error, label FROM cases \
             WHERE run = ?1 AND trial = 0 ORDER BY idx",
        )
        .and_then(|mut stmt| {
            stmt.query_map([seq], |row| {
                Ok(CaseRecord {
                    run_id: run.clone(),
                    index: row.get(0)?,
                    trial: 0,
                    hash: Arc::from(row.get_ref(1)?.as_str()?),
                    label: row.get::<_, Option<String>>(4)?.map(Arc::from),
                    test_case: empty.clone(),
                    output: None,
                    duration_s: row.get(2)?,
                    error: row.get(3)?,
                })
            })?
            .collect()
        })
        .map_err(fail)?;
    // Cases are in position order: an evaluation finds its case's hash by binary search.
    let hash_of = |index: u32| -> Arc<str> {
        match cases.binary_search_by_key(&index, |c| c.index) {
            Ok(at) => cases[at].hash.clone(),
            Err(_) => empty.clone(),
        }
    };
    let mut evaluator_ids: Vec<Arc<str>> = vec![];
    let evaluations: Vec<EvaluationRecord> = conn
        .prepare_cached(
            "SELECT case_idx, evaluator_id, score, threshold, verdict, error, duration_s \
             FROM evaluations WHERE run = ?1 AND trial = 0 ORDER BY case_idx, evaluator_id",
        )
        .and_then(|mut stmt| {
            stmt.query_map([seq], |row| {
                let index: u32 = row.get(0)?;
                let id = row.get_ref(1)?.as_str()?;
                // A run has a few evaluators: share one Arc per id.
                let evaluator_id = match evaluator_ids.iter().find(|e| &***e == id) {
                    Some(e) => e.clone(),
                    None => {
                        evaluator_ids.push(Arc::from(id));
                        evaluator_ids[evaluator_ids.len() - 1].clone()
                    }
                };
                Ok(EvaluationRecord {
                    run_id: run.clone(),
                    case_index: index,
                    trial: 0,
                    case_hash: hash_of(index),
                    evaluator_id,
                    score: row.get(2)?,
                    threshold: row.get::<_, Option<String>>(3)?.map(Arc::from),
                    verdict: Arc::from(row.get_ref(4)?.as_str()?),
                    metadata: None,
                    error: row.get(5)?,
                    duration_s: row.get(6)?,
                })
            })?
            .collect()
        })
        .map_err(fail)?;
    Ok((cases, evaluations))
}

/// The evaluations of one run's first trials, ordered by their case's position, then
/// evaluator id.
pub fn run_evaluations(
    conn: &Connection,
    run_id: &str,
) -> Result<Vec<EvaluationRecord>, StoreError> {
    select_evaluations(conn, run_id, "AND trial = 0")
}

/// The retries and usage kept for a run's calls, by case, trial, then fn before its
/// evaluators.
pub fn run_call_logs(conn: &Connection, run_id: &str) -> Result<Vec<CallLogRecord>, StoreError> {
    let path = db_path(conn);
    let fail = |e| StoreError::sqlite(&path, &format!("reading the call logs of run {run_id}"), e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT l.case_idx, l.trial, l.evaluator_id, l.attempts, l.input_tokens, \
             l.output_tokens FROM call_logs l JOIN runs r ON r.seq = l.run \
             WHERE r.id = ?1 ORDER BY l.case_idx, l.trial, l.evaluator_id",
        )
        .map_err(fail)?;
    let run: Arc<str> = Arc::from(run_id);
    let rows = stmt
        .query_map([run_id], |row| {
            let evaluator: String = row.get(2)?;
            Ok(CallLogRecord {
                run_id: run.clone(),
                case_index: row.get(0)?,
                trial: row.get(1)?,
                evaluator_id: (!evaluator.is_empty()).then(|| Arc::from(evaluator)),
                attempts: row.get(3)?,
                input_tokens: row.get(4)?,
                output_tokens: row.get(5)?,
            })
        })
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail);
    rows
}

/// Every trial's case row of a run, by case, then trial (no evaluations).
pub fn run_case_trials(conn: &Connection, run_id: &str) -> Result<Vec<CaseRecord>, StoreError> {
    select_cases(conn, run_id, "")
}

/// Every trial of a run: its case rows and evaluation rows, by case, then trial.
pub fn run_trials(
    conn: &Connection,
    run_id: &str,
) -> Result<(Vec<CaseRecord>, Vec<EvaluationRecord>), StoreError> {
    Ok((
        select_cases(conn, run_id, "")?,
        select_evaluations(conn, run_id, "")?,
    ))
}

fn select_cases(
    conn: &Connection,
    run_id: &str,
    filter: &str,
) -> Result<Vec<CaseRecord>, StoreError> {
    let path = db_path(conn);
    let fail = |e| StoreError::sqlite(&path, &format!("reading the cases of run {run_id}"), e);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT run_id, idx, trial, hash, test_case, output, duration_s, error, label \
             FROM case_results WHERE run_id = ? {filter} ORDER BY idx, trial"
        ))
        .map_err(fail)?;
    let rows = stmt
        .query_map([run_id], |row| {
            Ok(CaseRecord {
                run_id: row.get(0)?,
                index: row.get(1)?,
                trial: row.get(2)?,
                hash: row.get(3)?,
                label: row.get(8)?,
                test_case: row.get(4)?,
                output: row.get(5)?,
                duration_s: row.get(6)?,
                error: row.get(7)?,
            })
        })
        .map_err(fail)?;
    rows.collect::<Result<_, _>>().map_err(fail)
}

fn select_evaluations(
    conn: &Connection,
    run_id: &str,
    filter: &str,
) -> Result<Vec<EvaluationRecord>, StoreError> {
    let path = db_path(conn);
    let doing = format!("reading the evaluations of run {run_id}");
    let fail = |e| StoreError::sqlite(&path, &doing, e);
    // LEFT JOIN: an evaluation whose case row is missing is still returned (sorted first).
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT run_id, case_idx, trial, case_hash, evaluator_id, score, threshold, \
                    verdict, metadata, error, duration_s \
             FROM evaluation_results WHERE run_id = ? {filter} \
             ORDER BY case_idx, trial, evaluator_id"
        ))
        .map_err(fail)?;
    let rows = stmt
        .query_map([run_id], |row| {
            Ok(EvaluationRecord {
                run_id: row.get(0)?,
                case_index: row.get(1)?,
                trial: row.get(2)?,
                // An evaluation of a case with no row (a damaged store) keeps its index.
                case_hash: row.get::<_, Option<String>>(3)?.unwrap_or_default().into(),
                evaluator_id: row.get(4)?,
                score: row.get(5)?,
                threshold: row.get::<_, Option<String>>(6)?.map(Arc::from),
                verdict: row.get::<_, String>(7)?.into(),
                metadata: row.get(8)?,
                error: row.get(9)?,
                duration_s: row.get(10)?,
            })
        })
        .map_err(fail)?;
    rows.collect::<Result<_, _>>().map_err(fail)
}

/// A runs row before its status text is checked (row closures can only fail with SQLite
/// errors, so the check happens after).
struct RawRun {
    run: RunRecord,
    status: String,
    ended_at: Option<f64>,
    stop_reason: Option<String>,
    cases: u64,
    errored_cases: u64,
    failed_cases: u64,
}

impl RawRun {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRun> {
        Ok(RawRun {
            run: RunRecord {
                id: row.get(0)?,
                suite_id: row.get(1)?,
                kind: row.get(2)?,
                started_at: row.get(4)?,
                grid: row.get(6)?,
                git_commit: row.get(7)?,
                git_branch: row.get(8)?,
                trials: row.get(12)?,
                shard: row.get(13)?,
                rescored_from: row.get(14)?,
            },
            status: row.get(3)?,
            ended_at: row.get(5)?,
            stop_reason: row.get(15)?,
            cases: count(row, 9)?,
            errored_cases: count(row, 10)?,
            failed_cases: count(row, 11)?,
        })
    }

    fn into_stored(self, path: &Path) -> Result<StoredRun, StoreError> {
        let status = RunStatus::parse(&self.status).ok_or_else(|| {
            let detail = format!(
                "run {} has an unknown status {:?}",
                self.run.id, self.status
            );
            StoreError::new(StoreErrorKind::Corrupt, path, detail)
        })?;
        Ok(StoredRun {
            run: self.run,
            status,
            ended_at: self.ended_at,
            stop_reason: self.stop_reason,
            cases: self.cases,
            errored_cases: self.errored_cases,
            failed_cases: self.failed_cases,
            verdict: "",
            pass_rate: None,
        }
        .with_counts())
    }
}

/// A count(*) column (an i64 in SQLite, never negative).
fn count(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(index)?;
    Ok(value.unsigned_abs())
}

/// The connection's file, for error messages.
pub(crate) fn db_path(conn: &Connection) -> PathBuf {
    match conn.path() {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(":memory:"),
    }
}
