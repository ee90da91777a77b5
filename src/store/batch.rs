//! Writing one batch of records in one transaction (runs on the writer thread).

use std::path::Path;

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::error::{StoreError, StoreErrorKind};
use super::model::{CaseRecord, EvaluationRecord, RunRecord, RunStatus};

/// One record to write, as sent by `Writer`.
pub(super) enum Write {
    BeginRun(RunRecord),
    Case(CaseRecord),
    Evaluation(EvaluationRecord),
    FinishRun {
        run_id: String,
        status: RunStatus,
        ended_at: f64,
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
    (id, suite_id, kind, status, started_at, ended_at, grid, git_commit, git_branch) \
    VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8)";
const FINISH_RUN: &str = "UPDATE runs SET status = ?2, ended_at = ?3 WHERE seq = ?1";
const UPSERT_CASE: &str = "INSERT OR REPLACE INTO cases \
    (run, idx, hash, test_case, output, duration_s, error) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const UPSERT_EVALUATION: &str = "INSERT OR REPLACE INTO evaluations \
    (run, case_idx, evaluator_id, score, threshold, verdict, metadata, error, duration_s) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const RUN_SEQ: &str = "SELECT seq FROM runs WHERE id = ?1";

/// Run ids to the store's integer keys, kept by the writer thread across batches.
#[derive(Default)]
pub(super) struct RunKeys(HashMap<String, i64>);

impl RunKeys {
    /// The key of `run_id`: remembered from its BeginRun, else looked up (a run begun by
    /// an earlier writer). None for a run the store does not have.
    fn get(&mut self, tx: &Transaction<'_>, run_id: &str) -> rusqlite::Result<Option<i64>> {
        if let Some(&seq) = self.0.get(run_id) {
            return Ok(Some(seq));
        }
        let seq = tx.prepare_cached(RUN_SEQ)?.query_row([run_id], |row| row.get(0)).optional()?;
        if let Some(seq) = seq {
            self.0.insert(run_id.to_string(), seq);
        }
        Ok(seq)
    }
}

/// Writes `writes` in one transaction. A failing record (say, a case of an unknown run) is
/// recorded in `failures` and skipped; the others still commit.
pub(super) fn write_batch(
    conn: &mut Connection,
    path: &Path,
    writes: &[Write],
    keys: &mut RunKeys,
    failures: &mut Failures,
) {
    let lost = |what: &str| format!("{what}; the batch's {} writes are lost", writes.len());
    // IMMEDIATE: take the write lock now, waiting up to the busy timeout for other writers,
    // rather than failing mid-batch when a read lock cannot be upgraded.
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            return failures.record(StoreError::sqlite(path, &lost("starting a transaction"), e))
        }
    };
    for write in writes {
        if let Err(err) = write_one(&tx, path, write, keys) {
            // Disk full or I/O errors make SQLite roll the whole transaction back.
            if tx.is_autocommit() {
                keys.0.clear(); // runs begun in this batch are gone too
                return failures.record(err.with_note(&lost("SQLite rolled the transaction back")));
            }
            failures.record(err);
        }
    }
    if let Err(e) = tx.commit() {
        keys.0.clear();
        failures.record(StoreError::sqlite(path, &lost("committing"), e));
    }
}

fn write_one(tx: &Transaction<'_>, path: &Path, write: &Write, keys: &mut RunKeys) -> Result<(), StoreError> {
    let fail = |e| StoreError::sqlite(path, &describe(write), e);
    let run_id = match write {
        Write::BeginRun(run) => {
            begin_run(tx, run).map_err(fail)?;
            keys.0.insert(run.id.clone(), tx.last_insert_rowid());
            return Ok(());
        }
        Write::Case(case) => &*case.run_id,
        Write::Evaluation(evaluation) => &*evaluation.run_id,
        Write::FinishRun { run_id, .. } => run_id.as_str(),
    };
    let Some(seq) = keys.get(tx, run_id).map_err(fail)? else {
        let detail = format!("{}: there is no such run", describe(write));
        return Err(StoreError::new(StoreErrorKind::Sqlite, path, detail));
    };
    match write {
        Write::BeginRun(_) => unreachable!("handled above"),
        Write::Case(case) => upsert_case(tx, seq, case),
        Write::Evaluation(evaluation) => upsert_evaluation(tx, seq, evaluation),
        Write::FinishRun { status, ended_at, .. } => finish_run(tx, seq, *status, *ended_at),
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
    ])
}

fn finish_run(tx: &Transaction<'_>, seq: i64, status: RunStatus, ended_at: f64) -> rusqlite::Result<usize> {
    tx.prepare_cached(FINISH_RUN)?.execute(params![seq, status.as_str(), ended_at])
}

fn upsert_case(tx: &Transaction<'_>, seq: i64, case: &CaseRecord) -> rusqlite::Result<usize> {
    tx.prepare_cached(UPSERT_CASE)?.execute(params![
        seq,
        case.index,
        case.hash,
        case.test_case,
        case.output,
        case.duration_s,
        case.error,
    ])
}

fn upsert_evaluation(tx: &Transaction<'_>, seq: i64, e: &EvaluationRecord) -> rusqlite::Result<usize> {
    tx.prepare_cached(UPSERT_EVALUATION)?.execute(params![
        seq,
        e.case_index,
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
            test_case: "x".repeat(4000).into(),
            output: None,
            duration_s: 0.0,
            error: None,
        })
    }

    #[test]
    fn a_full_disk_is_reported_and_the_next_batch_lands_once_there_is_room() {
        let dir = TestDir::new("disk-full");
        let path = dir.path().join("trialrun.db");
        let mut conn = open(&path).unwrap();
        let run = RunRecord {
            id: "r".into(),
            suite_id: "s".into(),
            kind: "suite".into(),
            started_at: 0.0,
            grid: None,
            git_commit: None,
            git_branch: None,
        };
        let mut failures = Failures::default();
        write_batch(&mut conn, &path, &[Write::BeginRun(run)], &mut RunKeys::default(), &mut failures);
        assert!(failures.take().is_none());

        // Simulate a full disk: the file may not grow past its current size (plus a little).
        let pages: i64 = conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .unwrap();
        conn.pragma_update(None, "max_page_count", pages + 2)
            .unwrap();
        let writes: Vec<Write> = (0..50).map(|i| big_case("r", i)).collect();
        write_batch(&mut conn, &path, &writes, &mut RunKeys::default(), &mut failures);
        let err = failures.take().expect("a full database is reported");
        assert!(err.to_string().contains("full"), "{err}");

        conn.pragma_update(None, "max_page_count", 1_000_000)
            .unwrap();
        write_batch(&mut conn, &path, &[big_case("r", 99)], &mut RunKeys::default(), &mut failures);
        assert!(failures.take().is_none());
        let landed: i64 = conn
            .query_row("SELECT count(*) FROM cases WHERE idx = 99", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(landed, 1);
    }
}
