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
];

/// The schema version this build of trialrun writes and understands.
pub(crate) const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to `LATEST_VERSION`, refusing files that are not ours or too new.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        let version = user_version(conn, path)?;
        check_identity(conn, path, version)?;
        if version > LATEST_VERSION {
            return Err(newer_schema(path, version));
        }
        if version == LATEST_VERSION {
            return Ok(());
        }
        apply_next_step(conn, path, version)?;
    }
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
