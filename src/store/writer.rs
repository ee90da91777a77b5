//! `Writer`: the one way runs are written. Callers (Python threads, at up to a few hundred
//! thousand records per second) only append records to a shared buffer; a dedicated thread
//! takes the whole buffer at once and commits it.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::batch::{write_batch, Batch, Failures, RunKeys, Write};
use super::error::{StoreError, StoreErrorKind};
use super::model::{
    CacheRecord, CallLogRecord, CaseRecord, EvaluationRecord, RunRecord, RunStatus,
};
use super::open::open;

/// How long the writer waits for another process's write lock.
#[derive(Clone, Copy)]
struct Patience {
    /// Each try's wait (SQLite's busy timeout); None keeps the store's.
    busy_timeout: Option<Duration>,
    /// How long records are kept and tried again while the lock stays taken, before they
    /// are reported lost.
    retry_for: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            busy_timeout: None,
            retry_for: Duration::from_secs(60),
        }
    }
}

/// Most records committed in one transaction: bounds how long one commit holds the write
/// lock against other processes, and how much work a crash can lose.
const MAX_BATCH: usize = 5_000;

/// Page cache of the writer's connection, in KiB (negative for SQLite: "KiB, not pages").
const WRITER_CACHE_KIB: i64 = -32 * 1024;

enum Message {
    /// Records are waiting in the buffer (sent when it stops being empty).
    Wake,
    /// Answered, once everything buffered before it is committed, with the first error
    /// since the previous flush.
    Flush(SyncSender<Option<StoreError>>),
}

/// Records written but not yet taken by the writer thread. A buffer rather than a channel
/// message per record: a channel allocates a block per 31 messages and frees it on the
/// other thread, which measured a quarter of the callers' extra CPU when storing.
#[derive(Default)]
struct Pending(Mutex<Vec<Write>>);

impl Pending {
    fn lock(&self) -> MutexGuard<'_, Vec<Write>> {
        // A panic elsewhere never leaves the Vec half-changed: push and swap are whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Batched, asynchronous writer of one store file. Send + Sync (`std::sync::mpsc::Sender`
/// is Sync since Rust 1.72): the record methods take `&self`; the buffer's lock is held
/// only to append.
pub struct Writer {
    path: PathBuf,
    /// None once closed.
    sender: Option<Sender<Message>>,
    pending: Arc<Pending>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Opens the store on the calling thread, so a bad path or a corrupt file fails here and
    /// not at the first flush, then hands the connection to the "trialrun-store" thread.
    pub fn start(path: &Path) -> Result<Writer, StoreError> {
        Writer::start_with(path, Patience::default())
    }

    fn start_with(path: &Path, patience: Patience) -> Result<Writer, StoreError> {
        let conn = open(path)?;
        if let Some(busy) = patience.busy_timeout {
            conn.busy_timeout(busy)
                .map_err(|e| StoreError::sqlite(path, "configuring the writer", e))?;
        }
        // A bigger page cache than SQLite's 2 MB default, so large batches do not spill
        // pages mid-transaction. Memory is only taken as pages are used.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(|e| StoreError::sqlite(path, "configuring the writer", e))?;
        // The writer resolves every record's run itself (batch::RunKeys) and reports an
        // unknown one, so SQLite's per-row foreign key checks would only repeat that work
        // (they cost ~30% of insert throughput). Deletes cascade on the connection that
        // deletes, which keeps foreign keys on.
        conn.pragma_update(None, "foreign_keys", false)
            .map_err(|e| StoreError::sqlite(path, "configuring the writer", e))?;
        let (sender, inbox) = mpsc::channel();
        let pending = Arc::new(Pending::default());
        let thread_pending = Arc::clone(&pending);
        let thread_path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("trialrun-store".to_string())
            .spawn(move || {
                write_loop(
                    conn,
                    &thread_path,
                    inbox,
                    &thread_pending,
                    patience.retry_for,
                )
            })
            .map_err(|e| {
                let detail = format!("it could not be started: {e}");
                StoreError::new(StoreErrorKind::WriterStopped, path, detail)
            })?;
        Ok(Writer {
            path: path.to_path_buf(),
            sender: Some(sender),
            pending,
            thread: Some(thread),
        })
    }

    /// Marks a stored run that stopped early as running again, written by this process
    /// (`resume`); its rows stay, and rows written again replace theirs.
    pub fn resume_run(&self, run_id: &str) {
        self.push(Write::ResumeRun(run_id.to_string()));
    }

    /// Keeps what a call of fn or an evaluator went through (retries, usage).
    pub fn call_log(&self, log: CallLogRecord) {
        self.push(Write::CallLog(log));
    }

    /// Keeps fn's output of one case in the cache.
    pub fn cache(&self, entry: CacheRecord) {
        self.push(Write::Cache(entry));
    }

    /// Records a new run with status "running" (`run.started_at` as given).
    pub fn begin_run(&self, run: RunRecord) {
        self.push(Write::BeginRun(run));
    }

    /// Records (or replaces, by run id and hash) one case.
    pub fn case(&self, case: CaseRecord) {
        self.push(Write::Case(case));
    }

    /// Records (or replaces, by run id, case hash and evaluator id) one evaluation.
    pub fn evaluation(&self, evaluation: EvaluationRecord) {
        self.push(Write::Evaluation(evaluation));
    }

    /// Sets the final status and end time of a run.
    pub fn finish_run(&self, run_id: &str, status: RunStatus, ended_at: f64) {
        self.finish_run_because(run_id, status, ended_at, None);
    }

    /// `finish_run`, with why a stopped run stopped (kept in `runs.stop_reason`).
    pub fn finish_run_because(
        &self,
        run_id: &str,
        status: RunStatus,
        ended_at: f64,
        reason: Option<String>,
    ) {
        self.push(Write::FinishRun {
            run_id: run_id.into(),
            status,
            ended_at,
            reason,
        });
    }

    /// Blocks until everything sent before this call is committed. Returns the first error
    /// the writer met since the previous flush (later batches were still attempted).
    pub fn flush(&self) -> Result<(), StoreError> {
        let Some(sender) = &self.sender else {
            return Ok(()); // closed: nothing can be pending
        };
        let (reply, answer) = mpsc::sync_channel(1);
        if sender.send(Message::Flush(reply)).is_err() {
            return Err(self.stopped());
        }
        match answer.recv() {
            Ok(None) => Ok(()),
            Ok(Some(err)) => Err(err),
            Err(_) => Err(self.stopped()),
        }
    }

    /// Flushes, stops the thread and reports the last error, if any.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shutdown()
    }

    fn push(&self, write: Write) {
        let Some(sender) = &self.sender else { return };
        let mut pending = self.pending.lock();
        pending.push(write);
        // Only the first record of a batch wakes the thread; it takes the later ones with it.
        if pending.len() == 1 {
            drop(pending);
            // A send only fails when the thread is gone (the next flush reports that):
            // nothing will take the buffer, so it must not grow.
            if sender.send(Message::Wake).is_err() {
                self.pending.lock().clear();
            }
        }
    }

    fn shutdown(&mut self) -> Result<(), StoreError> {
        let flushed = self.flush();
        // Dropping the sender ends the thread's receive loop.
        self.sender = None;
        // Joined, not left to finish on its own: the thread's last act is closing its
        // connection, which unmaps the WAL index (-shm). Another SQLite library in this
        // process (Python's sqlite3 reading the store right after a run) would reset that
        // file as if no one used it, and a mapping still alive here would then fault.
        let joined = match self.thread.take() {
            Some(thread) => thread.join(),
            None => Ok(()),
        };
        match (flushed, joined) {
            (Err(err), _) => Err(err),
            (Ok(()), Err(_)) => Err(self.stopped()),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    fn stopped(&self) -> StoreError {
        let detail = "it panicked; records sent since the last flush may be lost";
        StoreError::new(StoreErrorKind::WriterStopped, &self.path, detail)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // close() already reported; a writer dropped without close() must still not lose
        // an error silently, and Drop has no caller to return it to.
        if self.sender.is_some() {
            if let Err(err) = self.shutdown() {
                eprintln!("trialrun: {err}");
            }
        }
    }
}

/// Once woken, the writer pauses this long before it takes the buffer, so records gather
/// into batches. Without the pause it would take them one by one, and every record would
/// wake it (a futex syscall paid by the caller, which holds the GIL): measured, that
/// doubled the CPU cost of storing a suite. Durability lags by at most this much more.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// Storing is background work: on a machine with few cores the writer should not take a
/// core from the suite's own threads (the event loop, the sync pools), which hand the GIL
/// back and forth and stall when woken onto a busy core. A niceness of 10 lets them run
/// first; the writer still gets the idle time, which is all it needs to keep up.
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread's id; failure leaves the priority as is.
    // The thread id comes from the raw syscall: glibc's gettid() wrapper is from 2.30, and
    // the manylinux2014 wheel must load on glibc 2.17 (scripts/build_wheels.sh).
    #[cfg(target_os = "linux")]
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// The writer thread: blocks while idle; once woken, lingers, then takes every buffered
/// record and commits them, MAX_BATCH per transaction. Ends when the Writer drops its sender.
fn write_loop(
    mut conn: Connection,
    path: &Path,
    inbox: Receiver<Message>,
    pending: &Pending,
    retry_for: Duration,
) {
    lower_priority();
    let mut failures = Failures::default();
    let mut keys = RunKeys::default();
    // Takes the shared buffer's records each round; both keep their capacity.
    let mut writes = Vec::new();
    let mut flushes = Vec::new();
    // Since when another process has held the write lock against us.
    let mut busy_since: Option<Instant> = None;
    loop {
        // Records left by a busy store are tried again at once (each try waits the busy
        // timeout); otherwise wait for news. Ends once the Writer is gone and all is written.
        let first = if writes.is_empty() {
            match inbox.recv() {
                Ok(message) => Some(message),
                Err(_) => break,
            }
        } else {
            inbox.try_recv().ok()
        };
        let mut next = first;
        while let Some(message) = next {
            if let Message::Flush(reply) = message {
                flushes.push(reply);
            }
            next = inbox.try_recv().ok();
        }
        // A flush is waited on: answer it without lingering.
        if flushes.is_empty() {
            std::thread::sleep(LINGER);
        }
        writes.append(&mut *pending.lock());
        let mut written = 0;
        while written < writes.len() {
            let batch = &writes[written..writes.len().min(written + MAX_BATCH)];
            let give_up = busy_since.is_some_and(|since| since.elapsed() >= retry_for);
            match write_batch(&mut conn, path, batch, &mut keys, &mut failures, give_up) {
                Batch::Done => {
                    written += batch.len();
                    busy_since = None;
                }
                Batch::Busy => {
                    // Another process holds the lock: keep the rest and try again (each
                    // try already waited the busy timeout); new records join them.
                    busy_since.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        // Records are freed here, off the callers' threads.
        writes.drain(..written);
        if !writes.is_empty() {
            continue; // flushes wait until the retry lands or gives up
        }
        // The batch is committed (or its failures recorded): answer flushes made before it.
        for reply in flushes.drain(..) {
            let _ = reply.send(failures.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::read::{list_runs, run_cases, run_evaluations, StoredRun};
    use crate::store::test_support::TestDir;

    fn run(id: &str, suite_id: &str, started_at: f64) -> RunRecord {
        RunRecord {
            id: id.to_string(),
            suite_id: suite_id.to_string(),
            kind: "suite".to_string(),
            started_at,
            grid: Some(r#"{"model":"small","temperature":0.1}"#.to_string()),
            git_commit: Some("0123456789abcdef0123456789abcdef01234567".to_string()),
            git_branch: None,
            trials: None,
            shard: None,
            rescored_from: None,
        }
    }

    /// Varied values: None and Some, awkward floats, non-ASCII text.
    fn case(run_id: &str, i: u32) -> CaseRecord {
        let failed = i % 7 == 0;
        CaseRecord {
            run_id: run_id.into(),
            index: i,
            hash: format!("{:016x}", u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)).into(),
            trial: 0,
            label: (i % 2 == 0).then(|| format!("question {i} ✓").into()),
            test_case: format!(r#"{{"input":"question {i} — ünïcode ✓","n":{i}}}"#).into(),
            output: (!failed).then(|| format!(r#""answer {i}""#)),
            duration_s: f64::from(i) * 0.1 + 1e-9,
            error: failed.then(|| format!("Traceback ...\nValueError: case {i}")),
        }
    }

    fn evaluation(case: &CaseRecord, evaluator: usize) -> EvaluationRecord {
        let errored = case.index % 11 == 0;
        EvaluationRecord {
            run_id: case.run_id.clone(),
            case_index: case.index,
            case_hash: case.hash.clone(),
            trial: 0,
            evaluator_id: format!("evaluator-{evaluator}").into(),
            score: (!errored).then(|| f64::from(case.index) / 3.0),
            threshold: (evaluator == 0).then(|| r#"{"gte":0.5}"#.into()),
            verdict: if errored { "errored" } else { "passed" }.into(),
            metadata: (evaluator == 1).then(|| r#"{"reason":"ok"}"#.to_string()),
            error: errored.then(|| "boom".to_string()),
            duration_s: 0.25,
        }
    }

    /// Sends one run of `cases` cases with two evaluations each, returning what was sent.
    fn send_run(
        writer: &Writer,
        record: RunRecord,
        cases: u32,
    ) -> (Vec<CaseRecord>, Vec<EvaluationRecord>) {
        writer.begin_run(record.clone());
        let mut sent_cases = Vec::new();
        let mut sent_evaluations = Vec::new();
        for i in 0..cases {
            let case = case(&record.id, i);
            for evaluator in 0..2 {
                let evaluation = evaluation(&case, evaluator);
                writer.evaluation(evaluation.clone());
                sent_evaluations.push(evaluation);
            }
            writer.case(case.clone());
            sent_cases.push(case);
        }
        writer.finish_run(&record.id, RunStatus::Completed, record.started_at + 12.5);
        (sent_cases, sent_evaluations)
    }

    #[test]
    fn writer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Writer>();
    }

    #[test]
    fn records_are_committed_soon_without_a_flush() {
        let dir = TestDir::new("no-flush");
        let path = dir.path().join("trialrun.db");
        let writer = Writer::start(&path).unwrap();
        let reader = crate::store::open::open(&path).unwrap();
        let committed = || -> i64 {
            reader
                .query_row("SELECT count(*) FROM cases", [], |r| r.get(0))
                .unwrap()
        };
        let record = run("soon", "suite-a", 1.0);
        writer.begin_run(record.clone());
        // Two waves: the second arrives after the first was taken, so it needs its own wake.
        for wave in 0..2u32 {
            for i in 0..3 {
                writer.case(case(&record.id, wave * 3 + i));
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while committed() < i64::from(wave * 3 + 3) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "wave {wave} not committed"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        writer.close().unwrap();
    }

    #[test]
    fn round_trip_of_a_run_with_10k_cases_and_20k_evaluations() {
        let dir = TestDir::new("round-trip");
        let path = dir.path().join("trialrun.db");
        let writer = Writer::start(&path).unwrap();
        let record = run(
            &crate::store::new_run_id(),
            "suite-a",
            1_700_000_000.123_456,
        );
        let (cases, mut evaluations) = send_run(&writer, record.clone(), 10_000);
        writer.flush().unwrap();

        let conn = open(&path).unwrap();
        let runs = list_runs(&conn, None, 10).unwrap();
        assert_eq!(runs.len(), 1);
        let stored = &runs[0];
        assert_eq!(stored.run, record);
        assert_eq!(stored.status, RunStatus::Completed);
        assert_eq!(stored.ended_at, Some(record.started_at + 12.5));
        assert_eq!(stored.cases, 10_000);
        assert_eq!(
            stored.errored_cases,
            cases.iter().filter(|c| c.error.is_some()).count() as u64
        );

        assert_eq!(run_cases(&conn, &record.id).unwrap(), cases);
        // Read back by case position, then evaluator id: sent in that order already.
        evaluations.sort_by_key(|e| (cases_index(&cases, &e.case_hash), e.evaluator_id.clone()));
        assert_eq!(run_evaluations(&conn, &record.id).unwrap(), evaluations);
        writer.close().unwrap();
    }

    fn cases_index(cases: &[CaseRecord], hash: &str) -> u32 {
        cases.iter().find(|c| &*c.hash == hash).unwrap().index
    }

    #[test]
    fn a_stopped_run_keeps_why() {
        let dir = TestDir::new("stopped");
        let path = dir.path().join("trialrun.db");
        let writer = Writer::start(&path).unwrap();
        writer.begin_run(run("r1", "s", 1.0));
        writer.begin_run(run("r2", "s", 1.5));
        writer.finish_run_because(
            "r1",
            RunStatus::Stopped,
            2.0,
            Some("quota exhausted: insufficient_quota".into()),
        );
        writer.finish_run("r2", RunStatus::Completed, 2.0);
        writer.close().unwrap();
        let conn = open(&path).unwrap();
        let runs = list_runs(&conn, Some("s"), 10).unwrap();
        let status = |id: &str| runs.iter().find(|r| r.run.id == id).unwrap().status;
        assert_eq!(status("r1"), RunStatus::Stopped);
        let reason = |id: &str| -> Option<String> {
            conn.query_row("SELECT stop_reason FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(
            reason("r1").as_deref(),
            Some("quota exhausted: insufficient_quota")
        );
        assert_eq!(reason("r2"), None);
    }

    #[test]
    fn running_status_until_finished_and_replace_on_same_key() {
        let dir = TestDir::new("replace");
        let path = dir.path().join("trialrun.db");
        let writer = Writer::start(&path).unwrap();
        writer.begin_run(run("r1", "s", 1.0));
        let first = case("r1", 3);
        writer.case(first.clone());
        writer.flush().unwrap();
        let conn = open(&path).unwrap();
        let runs = list_runs(&conn, Some("s"), 10).unwrap();
        assert_eq!(
            (runs[0].status, runs[0].ended_at),
            (RunStatus::Running, None)
        );

        // Same (run_id, hash): the retried case replaces the first attempt.
        let retried = CaseRecord {
            output: Some("\"second\"".into()),
            ..first
        };
        writer.case(retried.clone());
        writer.finish_run("r1", RunStatus::Interrupted, 2.0);
        writer.close().unwrap();
        assert_eq!(run_cases(&conn, "r1").unwrap(), vec![retried]);
        let runs = list_runs(&conn, Some("s"), 10).unwrap();
        assert_eq!(
            (runs[0].status, runs[0].ended_at),
            (RunStatus::Interrupted, Some(2.0))
        );
    }

    #[test]
    fn list_runs_is_newest_first_filtered_and_limited() {
        let dir = TestDir::new("list");
        let path = dir.path().join("trialrun.db");
        let writer = Writer::start(&path).unwrap();
        for (id, suite, at) in [
            ("a", "s1", 1.0),
            ("b", "s2", 2.0),
            ("c", "s1", 3.0),
            ("d", "s1", 4.0),
        ] {
            writer.begin_run(run(id, suite, at));
        }
        writer.close().unwrap();
        let conn = open(&path).unwrap();
        let ids = |runs: Vec<StoredRun>| runs.into_iter().map(|r| r.run.id).collect::<Vec<_>>();
        assert_eq!(
            ids(list_runs(&conn, None, usize::MAX).unwrap()),
            ["d", "c", "b", "a"]
        );
        assert_eq!(ids(list_runs(&conn, Some("s1"), 2).unwrap()), ["d", "c"]);
        assert!(list_runs(&conn, Some("nope"), 10).unwrap().is_empty());
        assert!(run_cases(&conn, "nope").unwrap().is_empty());
    }

    #[test]
    fn two_writers_on_one_file_from_two_threads_lose_nothing() {
        let dir = TestDir::new("two-writers");
        let path = dir.path().join("trialrun.db");
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            for name in ["left", "right"] {
                let (path, barrier) = (&path, &barrier);
                scope.spawn(move || {
                    barrier.wait(); // both open the fresh file at once, too
                    let writer = Writer::start(path).unwrap();
                    send_run(&writer, run(name, "shared", 5.0), 8_000);
                    writer.close().unwrap();
                });
            }
        });
        let conn = open(&path).unwrap();
        let runs = list_runs(&conn, Some("shared"), 10).unwrap();
        assert_eq!(runs.len(), 2);
        for stored in runs {
            assert_eq!(stored.cases, 8_000, "{}", stored.run.id);
            assert_eq!(stored.status, RunStatus::Completed);
            assert_eq!(
                run_evaluations(&conn, &stored.run.id).unwrap().len(),
                16_000
            );
        }
    }

    #[test]
    fn flush_reports_a_failed_write_once_and_later_batches_land() {
        let dir = TestDir::new("errors");
        let path = dir.path().join("trialrun.db");
        let writer = Writer::start(&path).unwrap();
        writer.begin_run(run("known", "s", 1.0));
        writer.case(case("unknown-run", 0)); // no such run
        writer.case(case("known", 1)); // same batch: still lands
        writer.finish_run("also-unknown", RunStatus::Failed, 2.0);
        let err = writer.flush().unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Sqlite);
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("of run unknown-run"), "{message}");
        assert!(message.contains("there is no such run"), "{message}");
        assert!(
            message.contains("1 more failed write after it"),
            "{message}"
        );

        writer.flush().unwrap(); // already reported
        writer.case(case("known", 2));
        writer.finish_run("known", RunStatus::Completed, 3.0);
        writer.close().unwrap();

        let conn = open(&path).unwrap();
        let indexes: Vec<u32> = run_cases(&conn, "known")
            .unwrap()
            .iter()
            .map(|c| c.index)
            .collect();
        assert_eq!(indexes, [1, 2]);
        assert_eq!(
            list_runs(&conn, None, 10).unwrap()[0].status,
            RunStatus::Completed
        );
    }

    #[test]
    fn records_wait_for_another_process_lock_and_then_land() {
        let dir = TestDir::new("busy-retry");
        let path = dir.path().join("trialrun.db");
        let patience = Patience {
            busy_timeout: Some(Duration::from_millis(20)),
            retry_for: Duration::from_secs(30),
        };
        let writer = Writer::start_with(&path, patience).unwrap();
        let other = open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        writer.begin_run(run("r", "s", 1.0));
        writer.case(case("r", 0));
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        // Many 20 ms tries fail while the lock is held; none of them loses the records.
        writer.flush().unwrap();
        release.join().unwrap();
        let conn = open(&path).unwrap();
        assert_eq!(run_cases(&conn, "r").unwrap().len(), 1);
    }

    #[test]
    fn records_are_reported_lost_once_the_lock_stays_taken_too_long() {
        let dir = TestDir::new("busy-give-up");
        let path = dir.path().join("trialrun.db");
        let patience = Patience {
            busy_timeout: Some(Duration::from_millis(20)),
            retry_for: Duration::from_millis(200),
        };
        let writer = Writer::start_with(&path, patience).unwrap();
        let other = open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        writer.begin_run(run("r", "s", 1.0));
        let err = writer.flush().unwrap_err();
        assert!(err.is_busy(), "{err}");
        assert!(err.to_string().contains("writes are lost"), "{err}");
        other.execute_batch("COMMIT").unwrap();
        // Later records land again.
        writer.begin_run(run("q", "s", 2.0));
        writer.flush().unwrap();
    }

    #[test]
    fn start_fails_before_any_work_on_a_corrupt_file() {
        let dir = TestDir::new("start-corrupt");
        let path = dir.path().join("trialrun.db");
        std::fs::write(&path, vec![0xA5; 4096]).unwrap();
        let err = Writer::start(&path)
            .err()
            .expect("a corrupt file is refused");
        assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    }

    /// Field 19 of /proc/<pid>/task/<tid>/stat is the niceness.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_writer_thread_runs_at_lower_priority() {
        let dir = TestDir::new("nice");
        let writer = Writer::start(&dir.path().join("trialrun.db")).unwrap();
        writer.flush().unwrap(); // the thread has started and lowered its priority
        let mut seen = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let task = task.unwrap().path();
            let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            if comm.trim() != "trialrun-store" {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(task.join("stat")) else {
                continue; // another test's writer, ended meanwhile
            };
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            let nice: i64 = after_name.split(' ').nth(16).unwrap().parse().unwrap();
            assert_eq!(nice, 10, "{stat}");
            seen += 1;
        }
        assert!(seen >= 1);
        writer.close().unwrap();
    }

    #[test]
    fn writes_run_on_the_named_thread() {
        let dir = TestDir::new("thread-name");
        let writer = Writer::start(&dir.path().join("trialrun.db")).unwrap();
        let name = writer
            .thread
            .as_ref()
            .unwrap()
            .thread()
            .name()
            .map(str::to_string);
        assert_eq!(name.as_deref(), Some("trialrun-store"));
    }
}
