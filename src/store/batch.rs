//! Writing one batch of records in one transaction (runs on the writer thread).

use std::path::Path;

use std::collections::HashMap;

use rusqlite::{
    params, CachedStatement, Connection, OptionalExtension, Transaction, TransactionBehavior,
};

use super::error::{StoreError, StoreErrorKind};
use super::model::{
    CacheRecord, CallLogRecord, CaseRecord, EvaluationRecord, RunRecord, RunStatus,
};

/// One record to write, as sent by `Writer`.
pub(super) enum Write {
    BeginRun(RunRecord),
    Case(CaseRecord),
    Evaluation(EvaluationRecord),
    /// A stored run that stopped early runs again (`resume`): "running", written by this
    /// process, its end cleared.
    ResumeRun(String),
    /// fn's output for the cache (outlives runs).
    Cache(CacheRecord),
    /// A call's retries and usage.
    CallLog(CallLogRecord),
    FinishRun {
        run_id: String,
        status: RunStatus,
        ended_at: f64,
        /// Why a stopped run stopped.
        reason: Option<String>,
    },
}

/// The first write error since the last flush, and how many followed it.
#[derive(Default)]
pub(super) struct Failures {
    first: Option<StoreError>,
    later: usize,
}

impl Failures {
    pub(super) fn record(&mut self, err: StoreError) {
        match self.first {
            None => self.first = Some(err),
            Some(_) => self.later += 1,
        }
    }

    /// Hands over the first error (with the count of later ones) and starts afresh.
    pub(super) fn take(&mut self) -> Option<StoreError> {
        let later = std::mem::take(&mut self.later);
        self.first.take().map(|err| err.with_later_failures(later))
    }
}

const INSERT_RUN: &str = "INSERT INTO runs \
    (id, suite_id, kind, status, started_at, ended_at, grid, git_commit, git_branch, writer, \
     trials, shard, rescored_from) \
    VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
const RESUME_RUN: &str = "UPDATE runs SET status = ?2, ended_at = NULL, stop_reason = NULL, \
    writer = ?3 WHERE seq = ?1";
const UPSERT_CALL_LOG: &str = "INSERT OR REPLACE INTO call_logs \
    (run, case_idx, trial, evaluator_id, attempts, input_tokens, output_tokens) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const UPSERT_CACHE: &str = "INSERT OR REPLACE INTO fn_cache \
    (suite_id, fingerprint, grid, case_hash, trial, output, duration_s, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const FINISH_RUN: &str =
    "UPDATE runs SET status = ?2, ended_at = ?3, stop_reason = ?4 WHERE seq = ?1";
const UPSERT_CASE: &str = "INSERT OR REPLACE INTO cases \
    (run, idx, trial, hash, test_case, output, duration_s, error, label) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const UPSERT_EVALUATION: &str = "INSERT OR REPLACE INTO evaluations \
    (run, case_idx, trial, evaluator_id, score, threshold, verdict, metadata, error, \
     duration_s) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const RUN_SEQ: &str = "SELECT seq FROM runs WHERE id = ?1";

/// Run ids to the store's integer keys, kept by the writer thread across batches.
#[derive(Default)]
pub(super) struct RunKeys {
    seqs: HashMap<String, i64>,
    /// The run of the previous lookup: a batch is mostly records of one run, so this
    /// spares hashing the id for each of them.
    last: Option<(String, i64)>,
}

impl RunKeys {
    /// The key of `run_id`: remembered from its BeginRun, else looked up (a run begun by
    /// an earlier writer). None for a run the store does not have.
    fn get(&mut self, tx: &Transaction<'_>, run_id: &str) -> rusqlite::Result<Option<i64>> {
        if let Some((id, seq)) = &self.last {
            if id == run_id {
                return Ok(Some(*seq));
            }
        }
        let seq = match self.seqs.get(run_id) {
            Some(&seq) => Some(seq),
            None => tx
                .prepare_cached(RUN_SEQ)?
                .query_row([run_id], |row| row.get(0))
                .optional()?,
        };
        if let Some(seq) = seq {
            self.insert(run_id, seq);
        }
        Ok(seq)
    }

    fn insert(&mut self, run_id: &str, seq: i64) {
        self.seqs.insert(run_id.to_string(), seq);
        self.last = Some((run_id.to_string(), seq));
    }

    /// Forgets every key (the runs they name were rolled back).
    fn clear(&mut self) {
        self.seqs.clear();
        self.last = None;
    }
}

/// The batch's insert statements, prepared on first use and held for the whole batch
/// (a cache lookup per row, hashing the SQL text, cost ~5% of the writer's time).
struct Statements<'tx> {
    tx: &'tx Transaction<'tx>,
    case: Option<CachedStatement<'tx>>,
    evaluation: Option<CachedStatement<'tx>>,
}

impl<'tx> Statements<'tx> {
    fn new(tx: &'tx Transaction<'tx>) -> Self {
        Statements {
            tx,
            case: None,
            evaluation: None,
        }
    }

    fn held<'s>(
        tx: &'tx Transaction<'tx>,
        slot: &'s mut Option<CachedStatement<'tx>>,
        sql: &str,
    ) -> rusqlite::Result<&'s mut CachedStatement<'tx>> {
        if slot.is_none() {
            *slot = Some(tx.prepare_cached(sql)?);
        }
        Ok(slot.as_mut().expect("prepared above"))
    }

    fn case(&mut self) -> rusqlite::Result<&mut CachedStatement<'tx>> {
        Self::held(self.tx, &mut self.case, UPSERT_CASE)
    }

    fn evaluation(&mut self) -> rusqlite::Result<&mut CachedStatement<'tx>> {
        Self::held(self.tx, &mut self.evaluation, UPSERT_EVALUATION)
    }
}

/// What became of a batch.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Batch {
    /// Committed (records that failed on their own are in `failures`), or lost whole with
    /// the reason in `failures`.
    Done,
    /// Another process held the write lock past the busy timeout: nothing was written, and
    /// the batch may be tried again (with `give_up`, it is lost instead).
    Busy,
}

/// Writes `writes` in one transaction. A failing record (say, a case of an unknown run) is
/// recorded in `failures` and skipped; the others still commit. When the write lock cannot
/// be had, `Busy` leaves the batch to the caller, unless `give_up`.
pub(super) fn write_batch(
    conn: &mut Connection,
    path: &Path,
    writes: &[Write],
    keys: &mut RunKeys,
    failures: &mut Failures,
    give_up: bool,
) -> Batch {
    let lost = |what: &str| format!("{what}; the batch's {} writes are lost", writes.len());
    // IMMEDIATE: take the write lock now, waiting up to the busy timeout for other writers,
    // rather than failing mid-batch when a read lock cannot be upgraded.
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let err = StoreError::sqlite(path, &lost("starting a transaction"), e);
            if err.is_busy() && !give_up {
                return Batch::Busy;
            }
            failures.record(err);
            return Batch::Done;
        }
    };
    let mut statements = Statements::new(&tx);
    for write in writes {
        if let Err(err) = write_one(&mut statements, path, write, keys) {
            // Disk full or I/O errors make SQLite roll the whole transaction back.
            if tx.is_autocommit() {
                keys.clear(); // runs begun in this batch are gone too
                failures.record(err.with_note(&lost("SQLite rolled the transaction back")));
                return Batch::Done;
            }
            failures.record(err);
        }
    }
    drop(statements);
    if let Err(e) = tx.commit() {
        keys.clear();
        failures.record(StoreError::sqlite(path, &lost("committing"), e));
    }
    Batch::Done
}

fn write_one(
    statements: &mut Statements<'_>,
    path: &Path,
    write: &Write,
    keys: &mut RunKeys,
) -> Result<(), StoreError> {
    let fail = |e| StoreError::sqlite(path, &describe(write), e);
    let tx = statements.tx;
    let run_id = match write {
        Write::BeginRun(run) => {
            begin_run(tx, run).map_err(fail)?;
            keys.insert(&run.id, tx.last_insert_rowid());
            return Ok(());
        }
        Write::Cache(entry) => {
            cache_output(tx, entry).map_err(fail)?;
            return Ok(());
        }
        Write::ResumeRun(run_id) => run_id.as_str(),
        Write::Case(case) => &*case.run_id,
        Write::Evaluation(evaluation) => &*evaluation.run_id,
        Write::CallLog(log) => &*log.run_id,
        Write::FinishRun { run_id, .. } => run_id.as_str(),
    };
    let Some(seq) = keys.get(tx, run_id).map_err(fail)? else {
        let detail = format!("{}: there is no such run", describe(write));
        return Err(StoreError::new(StoreErrorKind::Sqlite, path, detail));
    };
    match write {
        Write::BeginRun(_) | Write::Cache(_) => unreachable!("handled above"),
        Write::ResumeRun(_) => resume_run(tx, seq),
        Write::CallLog(log) => call_log(tx, seq, log),
        Write::Case(case) => statements
            .case()
            .and_then(|stmt| upsert_case(stmt, seq, case)),
        Write::Evaluation(evaluation) => statements
            .evaluation()
            .and_then(|stmt| upsert_evaluation(stmt, seq, evaluation)),
        Write::FinishRun {
            status,
            ended_at,
            reason,
            ..
        } => finish_run(tx, seq, *status, *ended_at, reason.as_deref()),
    }
    .map_err(fail)?;
    Ok(())
}

fn begin_run(tx: &Transaction<'_>, run: &RunRecord) -> rusqlite::Result<usize> {
    tx.prepare_cached(INSERT_RUN)?.execute(params![
        run.id,
        run.suite_id,
        run.kind,
        RunStatus::Running.as_str(),
        run.started_at,
        run.grid,
        run.git_commit,
        run.git_branch,
        super::liveness::this_process(),
        run.trials,
        run.shard,
        run.rescored_from,
    ])
}

fn resume_run(tx: &Transaction<'_>, seq: i64) -> rusqlite::Result<usize> {
    tx.prepare_cached(RESUME_RUN)?.execute(params![
        seq,
        RunStatus::Running.as_str(),
        super::liveness::this_process(),
    ])
}

fn call_log(tx: &Transaction<'_>, seq: i64, log: &CallLogRecord) -> rusqlite::Result<usize> {
    tx.prepare_cached(UPSERT_CALL_LOG)?.execute(params![
        seq,
        log.case_index,
        log.trial,
        log.evaluator_id.as_deref().unwrap_or(""),
        log.attempts,
        log.input_tokens,
        log.output_tokens,
    ])
}

fn cache_output(tx: &Transaction<'_>, e: &CacheRecord) -> rusqlite::Result<usize> {
    tx.prepare_cached(UPSERT_CACHE)?.execute(params![
        e.suite_id,
        e.fingerprint,
        e.grid,
        e.case_hash,
        e.trial,
        e.output,
        e.duration_s,
        e.created_at,
    ])
}

fn finish_run(
    tx: &Transaction<'_>,
    seq: i64,
    status: RunStatus,
    ended_at: f64,
    reason: Option<&str>,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(FINISH_RUN)?
        .execute(params![seq, status.as_str(), ended_at, reason])
}

fn upsert_case(
    stmt: &mut CachedStatement<'_>,
    seq: i64,
    case: &CaseRecord,
) -> rusqlite::Result<usize> {
    stmt.execute(params![
        seq,
        case.index,
        case.trial,
        case.hash,
        case.test_case,
        case.output,
        case.duration_s,
        case.error,
        case.label,
    ])
}

fn upsert_evaluation(
    stmt: &mut CachedStatement<'_>,
    seq: i64,
    e: &EvaluationRecord,
) -> rusqlite::Result<usize> {
    stmt.execute(params![
        seq,
        e.case_index,
        e.trial,
        e.evaluator_id,
        e.score,
        e.threshold,
        e.verdict,
        e.metadata,
        e.error,
        e.duration_s,
    ])
}

/// What a failed write was doing, for the error message (built only on failure).
fn describe(write: &Write) -> String {
    match write {
        Write::BeginRun(run) => format!("starting run {}", run.id),
        Write::Case(case) => format!("writing case {} of run {}", case.hash, case.run_id),
        Write::Evaluation(e) => format!(
            "writing evaluation {} of case {} in run {}",
            e.evaluator_id, e.case_hash, e.run_id
        ),
        Write::FinishRun { run_id, .. } => format!("finishing run {run_id}"),
        Write::ResumeRun(run_id) => format!("resuming run {run_id}"),
        Write::CallLog(log) => format!(
            "writing the retries of case {} of run {}",
            log.case_index, log.run_id
        ),
        Write::Cache(e) => format!(
            "caching the output of case {} of suite {}",
            e.case_hash, e.suite_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open::open;
    use crate::store::test_support::TestDir;

    fn big_case(run_id: &str, index: u32) -> Write {
        Write::Case(CaseRecord {
            run_id: run_id.into(),
            index,
            hash: format!("h{index}").into(),
            trial: 0,
            label: None,
            test_case: "x".repeat(4000).into(),
            output: None,
            duration_s: 0.0,
            error: None,
        })
    }

    fn run(id: &str) -> Write {
        Write::BeginRun(RunRecord {
            id: id.into(),
            suite_id: "s".into(),
            kind: "suite".into(),
            started_at: 0.0,
            grid: None,
            git_commit: None,
            git_branch: None,
            trials: None,
            shard: None,
            rescored_from: None,
        })
    }

    #[test]
    fn records_of_interleaved_runs_land_in_their_own_run() {
        let dir = TestDir::new("interleaved");
        let path = dir.path().join("trialrun.db");
        let mut conn = open(&path).unwrap();
        let mut keys = RunKeys::default();
        let mut failures = Failures::default();
        write_batch(
            &mut conn,
            &path,
            &[run("a")],
            &mut keys,
            &mut failures,
            false,
        );
        // "a" is remembered from the earlier batch, "b" is begun in this one, "c" is unknown.
        let mut writes = vec![run("b")];
        for i in 0..6 {
            writes.push(big_case(["a", "b", "b", "a", "c", "a"][i as usize], i));
        }
        write_batch(&mut conn, &path, &writes, &mut keys, &mut failures, false);
        let err = failures.take().expect("the unknown run is reported");
        assert!(
            err.to_string()
                .contains("case h4 of run c: there is no such run"),
            "{err}"
        );
        let rows: Vec<(String, u32)> = conn
            .prepare("SELECT run_id, idx FROM case_results ORDER BY idx")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected = [("a", 0), ("b", 1), ("b", 2), ("a", 3), ("a", 5)];
        assert_eq!(rows, expected.map(|(run, i)| (run.to_string(), i)));
    }

    #[test]
    fn a_full_disk_is_reported_and_the_next_batch_lands_once_there_is_room() {
        let dir = TestDir::new("disk-full");
        let path = dir.path().join("trialrun.db");
        let mut conn = open(&path).unwrap();
        let mut failures = Failures::default();
        write_batch(
            &mut conn,
            &path,
            &[run("r")],
            &mut RunKeys::default(),
            &mut failures,
            false,
        );
        assert!(failures.take().is_none());

        // Simulate a full disk: the file may not grow past its current size (plus a little).
        let pages: i64 = conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .unwrap();
        conn.pragma_update(None, "max_page_count", pages + 2)
            .unwrap();
        let writes: Vec<Write> = (0..50).map(|i| big_case("r", i)).collect();
        write_batch(
            &mut conn,
            &path,
            &writes,
            &mut RunKeys::default(),
            &mut failures,
            false,
        );
        let err = failures.take().expect("a full database is reported");
        assert!(err.to_string().contains("full"), "{err}");

        conn.pragma_update(None, "max_page_count", 1_000_000)
            .unwrap();
        write_batch(
            &mut conn,
            &path,
            &[big_case("r", 99)],
            &mut RunKeys::default(),
            &mut failures,
            false,
        );
        assert!(failures.take().is_none());
        let landed: i64 = conn
            .query_row("SELECT count(*) FROM cases WHERE idx = 99", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(landed, 1);
    }
}
