//! Baselines of Autoblocks' automatic battles: the response a case's next output is
//! compared with, kept per suite, case hash and evaluator across runs.

use rusqlite::{params, Connection, OptionalExtension};

use super::error::StoreError;
use super::read::db_path;

/// Which baseline: the suite, the case's hash and the battle evaluator's id.
pub struct BaselineKey<'a> {
    pub suite_id: &'a str,
    pub case_hash: &'a str,
    pub evaluator_id: &'a str,
}

/// The stored baseline, or None before the case's first battle.
pub fn baseline(conn: &Connection, key: &BaselineKey) -> Result<Option<String>, StoreError> {
    conn.query_row(
        "SELECT baseline FROM baselines WHERE suite_id = ? AND case_hash = ? AND evaluator_id = ?",
        params![key.suite_id, key.case_hash, key.evaluator_id],
        |row| row.get(0),
    )
    .optional()
    .map_err(|e| StoreError::sqlite(&db_path(conn), "reading a battle baseline", e))
}

/// Makes `text` the baseline (replacing any earlier one).
pub fn save_baseline(
    conn: &Connection,
    key: &BaselineKey,
    text: &str,
    now: f64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO baselines (suite_id, case_hash, evaluator_id, baseline, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (suite_id, case_hash, evaluator_id)
         DO UPDATE SET baseline = excluded.baseline, updated_at = excluded.updated_at",
        params![key.suite_id, key.case_hash, key.evaluator_id, text, now],
    )
    .map(drop)
    .map_err(|e| StoreError::sqlite(&db_path(conn), "saving a battle baseline", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TestDir;

    #[test]
    fn a_baseline_is_kept_per_suite_case_and_evaluator_and_replaced() {
        let dir = TestDir::new("baselines");
        let conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        let key = BaselineKey {
            suite_id: "s",
            case_hash: "h",
            evaluator_id: "battle",
        };
        assert_eq!(baseline(&conn, &key).unwrap(), None);
        save_baseline(&conn, &key, "first", 1.0).unwrap();
        save_baseline(&conn, &key, "second", 2.0).unwrap();
        assert_eq!(baseline(&conn, &key).unwrap().as_deref(), Some("second"));
        let other = BaselineKey {
            evaluator_id: "other",
            ..key
        };
        assert_eq!(baseline(&conn, &other).unwrap(), None);
    }
}
