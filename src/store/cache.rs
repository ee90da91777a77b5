//! The cache of fn's outputs (`run_test_suite(cache=True)`): a later run of the same suite
//! whose fn has the same fingerprint takes a case's output from here instead of calling
//! fn. Rows are written by `Writer::cache`, keyed by suite, fingerprint, grid combination,
//! case hash and trial, and outlive the runs that made them until `clear_cache`.

use rusqlite::{params, Connection};

use super::error::StoreError;
use super::read::db_path;

/// One cached output, as stored (pickled by Python).
#[derive(Debug, Clone, PartialEq)]
pub struct CachedOutput {
    /// The grid combination's JSON, "" without grid search.
    pub grid: String,
    pub case_hash: String,
    pub trial: u32,
    pub output: Vec<u8>,
    pub duration_s: f64,
}

/// Every output cached for `suite_id` under `fingerprint`.
pub fn cached_outputs(
    conn: &Connection,
    suite_id: &str,
    fingerprint: &str,
) -> Result<Vec<CachedOutput>, StoreError> {
    let path = db_path(conn);
    let doing = format!("reading the cached outputs of suite {suite_id}");
    let fail = |e| StoreError::sqlite(&path, &doing, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT grid, case_hash, trial, output, duration_s FROM fn_cache \
             WHERE suite_id = ?1 AND fingerprint = ?2",
        )
        .map_err(fail)?;
    let rows = stmt
        .query_map(params![suite_id, fingerprint], |row| {
            Ok(CachedOutput {
                grid: row.get(0)?,
                case_hash: row.get(1)?,
                trial: row.get(2)?,
                output: row.get(3)?,
                duration_s: row.get(4)?,
            })
        })
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail);
    rows
}

/// How many outputs are cached, and their bytes, per suite (by suite id).
pub fn cache_sizes(conn: &Connection) -> Result<Vec<(String, u64, u64)>, StoreError> {
    let path = db_path(conn);
    let fail = |e| StoreError::sqlite(&path, "reading the cache's size", e);
    let mut stmt = conn
        .prepare(
            "SELECT suite_id, count(*), sum(length(output)) FROM fn_cache \
             GROUP BY suite_id ORDER BY suite_id",
        )
        .map_err(fail)?;
    let rows = stmt
        .query_map([], |row| {
            let count: i64 = row.get(1)?;
            let bytes: i64 = row.get(2)?;
            Ok((row.get(0)?, count.unsigned_abs(), bytes.unsigned_abs()))
        })
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail);
    rows
}

/// Deletes the cached outputs of one suite, or of all; returns how many.
pub fn clear_cache(conn: &Connection, suite_id: Option<&str>) -> Result<usize, StoreError> {
    let path = db_path(conn);
    let fail = |e| StoreError::sqlite(&path, "clearing the cache", e);
    match suite_id {
        Some(suite) => conn.execute("DELETE FROM fn_cache WHERE suite_id = ?1", [suite]),
        None => conn.execute("DELETE FROM fn_cache", []),
    }
    .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::CacheRecord;
    use crate::store::test_support::TestDir;
    use crate::store::{open, Writer};

    fn entry(suite: &str, fingerprint: &str, hash: &str, trial: u32) -> CacheRecord {
        CacheRecord {
            suite_id: suite.into(),
            fingerprint: fingerprint.into(),
            grid: "".into(),
            case_hash: hash.into(),
            trial,
            output: hash.as_bytes().to_vec(),
            duration_s: 0.5,
            created_at: 1.0,
        }
    }

    #[test]
    fn outputs_are_found_by_suite_and_fingerprint_and_cleared_per_suite() {
        let dir = TestDir::new("cache");
        let path = dir.path().join("trialrun.db");
        let writer = Writer::start(&path).unwrap();
        writer.cache(entry("s", "f1", "a", 0));
        writer.cache(entry("s", "f1", "a", 1));
        writer.cache(entry("s", "f2", "b", 0));
        writer.cache(entry("t", "f1", "c", 0));
        // Written again: replaces, not duplicates.
        writer.cache(entry("s", "f1", "a", 0));
        writer.close().unwrap();

        let conn = open(&path).unwrap();
        let mut found = cached_outputs(&conn, "s", "f1").unwrap();
        found.sort_by_key(|c| c.trial);
        assert_eq!(found.len(), 2);
        assert_eq!((found[1].case_hash.as_str(), found[1].trial), ("a", 1));
        assert_eq!(found[0].output, b"a");
        assert_eq!(cached_outputs(&conn, "s", "f3").unwrap(), vec![]);
        assert_eq!(
            cache_sizes(&conn).unwrap(),
            vec![("s".to_string(), 3, 3), ("t".to_string(), 1, 1)]
        );
        assert_eq!(clear_cache(&conn, Some("s")).unwrap(), 3);
        assert_eq!(cached_outputs(&conn, "t", "f1").unwrap().len(), 1);
        assert_eq!(clear_cache(&conn, None).unwrap(), 1);
    }
}
