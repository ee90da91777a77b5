//! The database schema as an ordered list of migrations.
//!
//! `PRAGMA user_version` holds how many steps a file has received. A later trialrun appends
//! steps to `MIGRATIONS` and never edits the old ones, so any older file can be brought up to
//! date by running the steps it lacks, one transaction each.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::error::{StoreError, StoreErrorKind};

/// Marks a file as a trialrun store (`PRAGMA application_id`, the ASCII bytes "trrn"), so that
/// another application's SQLite file is refused rather than "migrated".
pub(crate) const APPLICATION_ID: i32 = 0x7472_726e;

/// Step `i` brings a database from version `i` to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // v1: runs, their cases and the evaluations of those cases.
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        suite_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        grid TEXT,
        git_commit TEXT,
        git_branch TEXT
    );
    CREATE INDEX runs_by_suite ON runs (suite_id, started_at);
    CREATE TABLE cases (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        hash TEXT NOT NULL,
        test_case TEXT NOT NULL,
        output TEXT,
        duration_s REAL NOT NULL,
        error TEXT,
        PRIMARY KEY (run_id, hash)
    );
    CREATE TABLE evaluations (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        case_hash TEXT NOT NULL,
        evaluator_id TEXT NOT NULL,
        score REAL,
        threshold TEXT,
        verdict TEXT NOT NULL,
        metadata TEXT,
        error TEXT,
        duration_s REAL NOT NULL,
        PRIMARY KEY (run_id, case_hash, evaluator_id)
    );",
    // v2: integer keys. Rows are keyed by the run's sequence number and the case's
    // position, so a run's rows append to the B-trees instead of landing at random
    // places by hash (5x faster to write). Hashes stay unique per run by validation.
    "CREATE TABLE runs_v2 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        suite_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        grid TEXT,
        git_commit TEXT,
        git_branch TEXT
    );
    INSERT INTO runs_v2 (id, suite_id, kind, status, started_at, ended_at, grid, git_commit, git_branch)
        SELECT id, suite_id, kind, status, started_at, ended_at, grid, git_commit, git_branch
        FROM runs ORDER BY started_at, id;
    CREATE TABLE cases_v2 (
        run INTEGER NOT NULL REFERENCES runs_v2 (seq) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        hash TEXT NOT NULL,
        test_case TEXT NOT NULL,
        output TEXT,
        duration_s REAL NOT NULL,
        error TEXT,
        PRIMARY KEY (run, idx)
    ) WITHOUT ROWID;
    INSERT INTO cases_v2
        SELECT r.seq, c.idx, c.hash, c.test_case, c.output, c.duration_s, c.error
        FROM cases c JOIN runs_v2 r ON r.id = c.run_id;
    CREATE TABLE evaluations_v2 (
        run INTEGER NOT NULL REFERENCES runs_v2 (seq) ON DELETE CASCADE,
        case_idx INTEGER NOT NULL,
        evaluator_id TEXT NOT NULL,
        score REAL,
        threshold TEXT,
        verdict TEXT NOT NULL,
        metadata TEXT,
        error TEXT,
        duration_s REAL NOT NULL,
        PRIMARY KEY (run, case_idx, evaluator_id)
    ) WITHOUT ROWID;
    INSERT INTO evaluations_v2
        SELECT r.seq, c.idx, e.evaluator_id, e.score, e.threshold, e.verdict, e.metadata, e.error, e.duration_s
        FROM evaluations e
        JOIN runs_v2 r ON r.id = e.run_id
        JOIN cases c ON c.run_id = e.run_id AND c.hash = e.case_hash;
    DROP TABLE evaluations;
    DROP TABLE cases;
    DROP TABLE runs;
    ALTER TABLE runs_v2 RENAME TO runs;
    ALTER TABLE cases_v2 RENAME TO cases;
    ALTER TABLE evaluations_v2 RENAME TO evaluations;
    CREATE INDEX runs_by_suite ON runs (suite_id, started_at);
    -- Readable shapes for readers (trialrun's own and anyone querying the file): the
    -- run id and case hash joined in.
    CREATE VIEW case_results AS
        SELECT r.id AS run_id, c.idx, c.hash, c.test_case, c.output, c.duration_s, c.error
        FROM cases c JOIN runs r ON r.seq = c.run;
    CREATE VIEW evaluation_results AS
        SELECT r.id AS run_id, e.case_idx, c.hash AS case_hash, e.evaluator_id, e.score,
               e.threshold, e.verdict, e.metadata, e.error, e.duration_s
        FROM evaluations e
        JOIN runs r ON r.seq = e.run
        LEFT JOIN cases c ON c.run = e.run AND c.idx = e.case_idx;",
    // v3: the baselines of Autoblocks' automatic battles, one per suite, case and
    // evaluator; they outlive runs (gc keeps them).
    "CREATE TABLE baselines (
        suite_id TEXT NOT NULL,
        case_hash TEXT NOT NULL,
        evaluator_id TEXT NOT NULL,
        baseline TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (suite_id, case_hash, evaluator_id)
    ) WITHOUT ROWID;",
    // v4: which process writes each run ("host pid start"), so a run whose writer died is
    // marked interrupted when the store is next opened.
    "ALTER TABLE runs ADD COLUMN writer TEXT;",
    // v5: the local human review queue (Autoblocks' human review jobs, kept here).
    // A job asks people to grade a run's cases; an item holds what a reviewer sees of one
    // case (the fields of its serialize_for_human_review, JSON lists of {name, value,
    // contentType}) and the grade given. Items are keyed by case hash, which is unique
    // within a run and is what reviewers name a case by.
    "CREATE TABLE review_jobs (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
        name TEXT NOT NULL,
        assignees TEXT NOT NULL,
        rubric_id TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX review_jobs_by_run ON review_jobs (run);
    CREATE TABLE review_items (
        run INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
        case_hash TEXT NOT NULL,
        input_fields TEXT,
        output_fields TEXT,
        grade TEXT CHECK (grade IN ('pass', 'fail')),
        score REAL CHECK (score >= 0 AND score <= 1),
        note TEXT,
        graded_at REAL,
        PRIMARY KEY (run, case_hash)
    ) WITHOUT ROWID;",
    // v6: trials. A suite with repeats runs each case several times and keeps every
    // trial: case and evaluation rows gain the trial's index (0 for every older row) in
    // their keys; a run keeps its trial plan (repeats, verdict policies) as JSON, NULL
    // for one trial per case. The readable views gain the trial and match it.
    "ALTER TABLE runs ADD COLUMN trials TEXT;
    DROP VIEW case_results;
    DROP VIEW evaluation_results;
    CREATE TABLE cases_v6 (
        run INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        trial INTEGER NOT NULL DEFAULT 0,
        hash TEXT NOT NULL,
        test_case TEXT NOT NULL,
        output TEXT,
        duration_s REAL NOT NULL,
        error TEXT,
        PRIMARY KEY (run, idx, trial)
    ) WITHOUT ROWID;
    INSERT INTO cases_v6 (run, idx, trial, hash, test_case, output, duration_s, error)
        SELECT run, idx, 0, hash, test_case, output, duration_s, error FROM cases;
    CREATE TABLE evaluations_v6 (
        run INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
        case_idx INTEGER NOT NULL,
        trial INTEGER NOT NULL DEFAULT 0,
        evaluator_id TEXT NOT NULL,
        score REAL,
        threshold TEXT,
        verdict TEXT NOT NULL,
        metadata TEXT,
        error TEXT,
        duration_s REAL NOT NULL,
        PRIMARY KEY (run, case_idx, trial, evaluator_id)
    ) WITHOUT ROWID;
    INSERT INTO evaluations_v6 (run, case_idx, trial, evaluator_id, score, threshold, verdict,
                                metadata, error, duration_s)
        SELECT run, case_idx, 0, evaluator_id, score, threshold, verdict, metadata, error,
               duration_s FROM evaluations;
    DROP TABLE evaluations;
    DROP TABLE cases;
    ALTER TABLE cases_v6 RENAME TO cases;
    ALTER TABLE evaluations_v6 RENAME TO evaluations;
    CREATE VIEW case_results AS
        SELECT r.id AS run_id, c.idx, c.trial, c.hash, c.test_case, c.output, c.duration_s,
               c.error
        FROM cases c JOIN runs r ON r.seq = c.run;
    CREATE VIEW evaluation_results AS
        SELECT r.id AS run_id, e.case_idx, e.trial, c.hash AS case_hash, e.evaluator_id,
               e.score, e.threshold, e.verdict, e.metadata, e.error, e.duration_s
        FROM evaluations e
        JOIN runs r ON r.seq = e.run
        LEFT JOIN cases c ON c.run = e.run AND c.idx = e.case_idx AND c.trial = e.trial;",
    // v7: a readable label per case (`store::label`), shown beside or instead of the
    // hash. Older rows have none and show their hash.
    "ALTER TABLE cases ADD COLUMN label TEXT;
    DROP VIEW case_results;
    CREATE VIEW case_results AS
        SELECT r.id AS run_id, c.idx, c.trial, c.hash, c.test_case, c.output, c.duration_s,
               c.error, c.label
        FROM cases c JOIN runs r ON r.seq = c.run;",
    // v8: why a run with status 'stopped' stopped (a quota or its budget exhausted).
    "ALTER TABLE runs ADD COLUMN stop_reason TEXT;",
    // v9: the shard of the suite a run ran ("2/4": the second of four), for `merge`.
    "ALTER TABLE runs ADD COLUMN shard TEXT;",
    // v10: the run a re-scoring run took its outputs from; the cache of fn's outputs
    // (`store::cache`), kept across runs by suite, fn fingerprint, grid combination ('' for
    // none), case and trial (outputs are pickled by Python; rows outlive runs); and the
    // calls' retries and usage.
    "ALTER TABLE runs ADD COLUMN rescored_from TEXT;
    CREATE TABLE fn_cache (
        suite_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        grid TEXT NOT NULL,
        case_hash TEXT NOT NULL,
        trial INTEGER NOT NULL,
        output BLOB NOT NULL,
        duration_s REAL NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (suite_id, fingerprint, grid, case_hash, trial)
    ) WITHOUT ROWID;
    -- What a call of fn ('' as evaluator_id) or of an evaluator went through when the
    -- suite had limits: its retried attempts (JSON [{error, wait_s}], the original error
    -- first) and the tokens it reported. Rows only for calls with something to say.
    CREATE TABLE call_logs (
        run INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
        case_idx INTEGER NOT NULL,
        trial INTEGER NOT NULL DEFAULT 0,
        evaluator_id TEXT NOT NULL DEFAULT '',
        attempts TEXT,
        input_tokens INTEGER,
        output_tokens INTEGER,
        PRIMARY KEY (run, case_idx, trial, evaluator_id)
    ) WITHOUT ROWID;",
];

/// The schema version this build of trialrun writes and understands.
pub(crate) const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to `LATEST_VERSION`, refusing files that are not ours or too new.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        let version = {
            // One read transaction, so the version and the tables are read from the same
            // state: another process may migrate between two bare reads, and a version read
            // before its commit with tables read after would look like a foreign file.
            let snapshot = conn
                .transaction()
                .map_err(|e| StoreError::sqlite(path, "reading the schema version", e))?;
            let version = user_version(&snapshot, path)?;
            check_identity(&snapshot, path, version)?;
            version
        };
        if version > LATEST_VERSION {
            return Err(newer_schema(path, version));
        }
        if version == LATEST_VERSION {
            return Ok(());
        }
        apply_next_step(conn, path, version)?;
    }
}

/// Whether the file lacks migrations this trialrun has (refusing files that are not ours
/// or too new, as `migrate` does).
pub(crate) fn needs_migration(conn: &Connection, path: &Path) -> Result<bool, StoreError> {
    let version = user_version(conn, path)?;
    check_identity(conn, path, version)?;
    if version > LATEST_VERSION {
        return Err(newer_schema(path, version));
    }
    Ok(version < LATEST_VERSION)
}

/// Applies the step after `seen_version`, unless another process got there first.
fn apply_next_step(
    conn: &mut Connection,
    path: &Path,
    seen_version: i64,
) -> Result<(), StoreError> {
    let fail = |e| StoreError::sqlite(path, "migrating the schema", e);
    // IMMEDIATE takes the write lock up front, so two processes opening a fresh file at once
    // serialize here instead of both creating the tables.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    let version = user_version(&tx, path)?;
    if version != seen_version {
        // Someone else migrated meanwhile; the caller re-checks from the top.
        return Ok(());
    }
    let step = MIGRATIONS[version as usize];
    tx.execute_batch(step).map_err(fail)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(fail)?;
    tx.pragma_update(None, "user_version", version + 1)
        .map_err(fail)?;
    tx.commit().map_err(fail)
}

fn user_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| StoreError::sqlite(path, "reading the schema version", e))
}

/// Refuses SQLite files that belong to another application: a versioned file must carry our
/// application id, and an unversioned one must be empty (a file we just created).
fn check_identity(conn: &Connection, path: &Path, version: i64) -> Result<(), StoreError> {
    let read = |sql: &str| -> Result<i64, StoreError> {
        conn.query_row(sql, [], |row| row.get(0))
            .map_err(|e| StoreError::sqlite(path, "reading the file header", e))
    };
    let problem = if version == 0 {
        let objects = read("SELECT count(*) FROM sqlite_schema")?;
        (objects > 0).then(|| "it holds tables but no trialrun schema version".to_string())
    } else {
        let app_id = read("PRAGMA application_id")?;
        (app_id != i64::from(APPLICATION_ID))
            .then(|| format!("its application id is {app_id}, not trialrun's"))
    };
    match problem {
        Some(detail) => Err(StoreError::new(StoreErrorKind::Corrupt, path, detail)),
        None => Ok(()),
    }
}

fn newer_schema(path: &Path, version: i64) -> StoreError {
    StoreError::new(
        StoreErrorKind::NewerSchema,
        path,
        format!("schema version {version}, this trialrun supports up to {LATEST_VERSION}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TestDir;
    use crate::store::{list_runs, run_cases, run_evaluations};

    /// A file as trialrun 0.1 with schema v1 left it: the first step only, and rows.
    fn v1_store(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            r#"INSERT INTO runs VALUES ('old', 's', 'suite', 'completed', 1.0, 2.0, '{"m":"a"}', 'abc', 'main');
               INSERT INTO runs VALUES ('new', 's', 'suite', 'interrupted', 3.0, 4.0, NULL, NULL, NULL);
               INSERT INTO cases VALUES ('old', 0, 'h0', '{"x":0}', '0', 0.1, NULL);
               INSERT INTO cases VALUES ('old', 1, 'h1', '{"x":1}', NULL, 0.2, 'Traceback');
               INSERT INTO cases VALUES ('new', 0, 'h0', '{"x":0}', '5', 0.3, NULL);
               INSERT INTO evaluations VALUES ('old', 'h0', 'judge', 1.0, '{"gte":1}', 'passed', '{"k":1}', NULL, 0.01);
               INSERT INTO evaluations VALUES ('new', 'h0', 'judge', 0.0, '{"gte":1}', 'failed', NULL, NULL, 0.02);"#,
        )
        .unwrap();
    }

    #[test]
    fn a_v1_store_is_migrated_with_its_rows() {
        let dir = TestDir::new("migrate-v1");
        let path = dir.path().join("trialrun.db");
        v1_store(&path);
        let conn = crate::store::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, LATEST_VERSION);

        let runs = list_runs(&conn, Some("s"), 10).unwrap();
        let ids: Vec<&str> = runs.iter().map(|r| r.run.id.as_str()).collect();
        assert_eq!(ids, vec!["new", "old"]);
        assert_eq!((runs[1].cases, runs[1].errored_cases), (2, 1));
        assert_eq!(runs[1].run.grid.as_deref(), Some(r#"{"m":"a"}"#));
        assert_eq!(runs[0].status.as_str(), "interrupted");

        let cases = run_cases(&conn, "old").unwrap();
        assert_eq!(
            cases
                .iter()
                .map(|c| (c.index, &*c.hash))
                .collect::<Vec<_>>(),
            vec![(0, "h0"), (1, "h1")]
        );
        assert_eq!(cases[1].error.as_deref(), Some("Traceback"));
        let evaluations = run_evaluations(&conn, "old").unwrap();
        assert_eq!(evaluations.len(), 1);
        let e = &evaluations[0];
        assert_eq!(
            (e.case_index, &*e.case_hash, &*e.verdict),
            (0, "h0", "passed")
        );
        assert_eq!(e.metadata.as_deref(), Some(r#"{"k":1}"#));
        assert_eq!(
            &*run_evaluations(&conn, "new").unwrap()[0].verdict,
            "failed"
        );
    }

    /// A file as trialrun left it before the review queue (schema v2), with a run.
    #[test]
    fn a_v2_store_gains_an_empty_review_queue_its_runs_can_use() {
        let dir = TestDir::new("migrate-v2");
        let path = dir.path().join("trialrun.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute_batch(
                r#"INSERT INTO runs (id, suite_id, kind, status, started_at) VALUES ('r', 's', 'suite', 'completed', 1.0);
                   INSERT INTO cases VALUES (1, 0, 'h0', '{}', '1', 0.1, NULL);"#,
            )
            .unwrap();
        }
        let conn = crate::store::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, LATEST_VERSION);
        assert_eq!(
            crate::store::run_review(&conn, "r").unwrap(),
            Default::default()
        );
        let grade = crate::store::Grade::new("pass", Some(0.5), None).unwrap();
        crate::store::grade_case(&conn, "r", "h0", &grade, 2.0).unwrap();
        assert_eq!(crate::store::run_review(&conn, "r").unwrap().items.len(), 1);
    }

    /// A store from before labels: its cases read back with none, new cases keep theirs.
    #[test]
    fn a_store_before_labels_gains_the_column() {
        let dir = TestDir::new("migrate-labels");
        let path = dir.path().join("trialrun.db");
        let before = MIGRATIONS
            .iter()
            .position(|step| step.contains("ADD COLUMN label"))
            .unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            for step in &MIGRATIONS[..before] {
                conn.execute_batch(step).unwrap();
            }
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.pragma_update(None, "user_version", before as i64)
                .unwrap();
            conn.execute_batch(
                r#"INSERT INTO runs (id, suite_id, kind, status, started_at) VALUES ('r', 's', 'suite', 'completed', 1.0);
                   INSERT INTO cases (run, idx, hash, test_case, output, duration_s)
                       VALUES (1, 0, 'h0', '{"q":"hi"}', '1', 0.1);"#,
            )
            .unwrap();
        }
        let conn = crate::store::open(&path).unwrap();
        let cases = run_cases(&conn, "r").unwrap();
        assert_eq!((&*cases[0].hash, cases[0].label.as_deref()), ("h0", None));
        conn.execute("UPDATE cases SET label = 'says hi'", [])
            .unwrap();
        assert_eq!(
            run_cases(&conn, "r").unwrap()[0].label.as_deref(),
            Some("says hi")
        );
    }
}
