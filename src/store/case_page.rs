//! One page of a run's cases, filtered, searched and sorted by SQLite, so that a view of a
//! run of 100,000 cases reads a page, not the run.
//!
//! Every condition is anchored on the cases key `(run, idx, trial)` and reaches a case's
//! evaluations through theirs `(run, case_idx, trial, evaluator_id)`: a filter or a sort by
//! score is one key lookup per case, never a scan of the evaluations table.
//! Only the first trial of each case is paged (as `run_cases`).

use std::sync::Arc;

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension};

use super::error::{StoreError, StoreErrorKind};
use super::model::{CaseRecord, EvaluationRecord};
use super::read::db_path;

/// What a page is ordered by (ties are always broken by the case's position).
#[derive(Debug, Clone, PartialEq)]
pub enum CaseSort {
    /// The suite's order.
    Index,
    /// The case's label, or its hash when it has none (case-insensitive).
    Label,
    Hash,
    Duration,
    /// passed, then failed, then errored (fn raised or an evaluator errored).
    Status,
    /// One evaluator's score; cases it did not score come last either way.
    Score(String),
}

/// Which cases a page keeps, by how they ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StatusFilter {
    All,
    /// fn did not raise and no evaluation (of the evaluator, when one is picked) failed or
    /// errored; with an evaluator picked, it must have evaluated the case.
    Passed,
    /// An evaluation (of the evaluator, when one is picked) failed.
    Failed,
    /// fn raised, or an evaluation (of the evaluator, when one is picked) errored.
    Errored,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseQuery {
    pub offset: u64,
    pub limit: u64,
    pub sort: CaseSort,
    pub descending: bool,
    /// Text looked for (ASCII case-insensitively) in the hash, the label, the test case,
    /// the output, fn's traceback and the evaluations' metadata and errors.
    pub search: Option<String>,
    pub status: StatusFilter,
    /// Only this evaluator's evaluations count for `status`; with `StatusFilter::All`, only
    /// cases it evaluated (or whose fn raised) are kept.
    pub evaluator: Option<String>,
    /// Only cases whose output or fn error is not the same in every one of these runs
    /// (the other combinations of a grid search; a case one of them lacks differs).
    pub differ_in: Vec<String>,
}

impl Default for CaseQuery {
    fn default() -> Self {
        CaseQuery {
            offset: 0,
            limit: 50,
            sort: CaseSort::Index,
            descending: false,
            search: None,
            status: StatusFilter::All,
            evaluator: None,
            differ_in: Vec::new(),
        }
    }
}

/// One page: how many cases match in all, and the page's cases with their evaluations
/// (by case, then evaluator id).
#[derive(Debug, Clone, PartialEq)]
pub struct CasePage {
    pub total: u64,
    pub cases: Vec<CaseRecord>,
    pub evaluations: Vec<EvaluationRecord>,
}

/// Why a page cannot be read.
#[derive(Debug)]
pub enum CasePageError {
    Store(StoreError),
    /// The query names something the run does not have (the text says what).
    Invalid(String),
}

impl From<StoreError> for CasePageError {
    fn from(e: StoreError) -> Self {
        CasePageError::Store(e)
    }
}

/// Joins an evaluation `e` to the case `c` it judged (first trials only).
const CASE_EVALUATIONS: &str = "e.run = c.run AND e.case_idx = c.idx AND e.trial = 0";

/// A page of the run `run_id`'s cases as `query` asks.
pub fn case_page(
    conn: &Connection,
    run_id: &str,
    query: &CaseQuery,
) -> Result<CasePage, CasePageError> {
    let path = db_path(conn);
    let doing = format!("reading a page of the cases of run {run_id}");
    let fail = |e| StoreError::sqlite(&path, &doing, e);
    let seq: i64 = conn
        .query_row("SELECT seq FROM runs WHERE id = ?", [run_id], |r| r.get(0))
        .optional()
        .map_err(fail)?
        .ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Sqlite,
                &path,
                format!("run {run_id} is not in the store"),
            )
        })?;
    for (what, evaluator) in [
        ("evaluator", query.evaluator.as_deref()),
        (
            "sort",
            match &query.sort {
                CaseSort::Score(id) => Some(id.as_str()),
                _ => None,
            },
        ),
    ] {
        if let Some(id) = evaluator {
            if !has_evaluator(conn, seq, id).map_err(fail)? {
                let known = evaluator_ids(conn, seq).map_err(fail)?;
                return Err(CasePageError::Invalid(format!(
                    "{what}: run {run_id} has no evaluator {id:?} (it has: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
    }

    let mut sql_params: Vec<(&str, &dyn ToSql)> = vec![(":run", &seq)];
    let mut conditions = vec!["c.run = :run AND c.trial = 0".to_string()];
    let of_evaluator = match &query.evaluator {
        Some(id) => {
            sql_params.push((":ev", id));
            format!("{CASE_EVALUATIONS} AND e.evaluator_id = :ev")
        }
        None => CASE_EVALUATIONS.to_string(),
    };
    let any = |verdicts: &str| {
        format!("EXISTS (SELECT 1 FROM evaluations e WHERE {of_evaluator} AND e.verdict IN ({verdicts}))")
    };
    match query.status {
        StatusFilter::All => {
            if query.evaluator.is_some() {
                conditions.push(format!(
                    "(c.error IS NOT NULL OR EXISTS (SELECT 1 FROM evaluations e WHERE {of_evaluator}))"
                ));
            }
        }
        StatusFilter::Failed => conditions.push(any("'failed'")),
        StatusFilter::Errored => {
            conditions.push(format!("(c.error IS NOT NULL OR {})", any("'errored'")))
        }
        StatusFilter::Passed => {
            conditions.push(format!(
                "c.error IS NULL AND NOT {}",
                any("'failed', 'errored'")
            ));
            if query.evaluator.is_some() {
                conditions.push(format!(
                    "EXISTS (SELECT 1 FROM evaluations e WHERE {of_evaluator})"
                ));
            }
        }
    }
    let pattern = query.search.as_deref().map(like_pattern);
    if let Some(pattern) = &pattern {
        sql_params.push((":q", pattern));
        let like = |column: &str| format!("{column} LIKE :q ESCAPE '\\'");
        conditions.push(format!(
            "({} OR {} OR {} OR {} OR {} OR EXISTS (SELECT 1 FROM evaluations e \
             WHERE {CASE_EVALUATIONS} AND ({} OR {})))",
            like("c.hash"),
            like("c.label"),
            like("c.test_case"),
            like("c.output"),
            like("c.error"),
            like("e.metadata"),
            like("e.error"),
        ));
    }
    if !query.differ_in.is_empty() {
        let mut differs = vec![];
        for other in &query.differ_in {
            let other_seq = run_seq(conn, other).map_err(fail)?.ok_or_else(|| {
                CasePageError::Invalid(format!("run {other} is not in the store"))
            })?;
            // The same case sits at the same position in each combination of a search.
            differs.push(format!(
                "NOT EXISTS (SELECT 1 FROM cases o WHERE o.run = {other_seq} AND o.idx = c.idx \
                 AND o.trial = 0 AND o.hash = c.hash AND o.output IS c.output \
                 AND o.error IS c.error)"
            ));
        }
        conditions.push(format!("({})", differs.join(" OR ")));
    }
    let filter = conditions.join(" AND ");

    let direction = if query.descending { "DESC" } else { "ASC" };
    let order = match &query.sort {
        CaseSort::Index => format!("c.idx {direction}"),
        CaseSort::Label => {
            format!("coalesce(c.label, c.hash) COLLATE NOCASE {direction}, c.hash {direction}, c.idx")
        }
        CaseSort::Hash => format!("c.hash {direction}, c.idx"),
        CaseSort::Duration => format!("c.duration_s {direction}, c.idx"),
        CaseSort::Status => format!(
            "CASE WHEN c.error IS NOT NULL OR {} THEN 2 WHEN {} THEN 1 ELSE 0 END {direction}, c.idx",
            any("'errored'"),
            any("'failed'")
        ),
        CaseSort::Score(id) => {
            sql_params.push((":sort_ev", id));
            let score = format!(
                "(SELECT e.score FROM evaluations e WHERE {CASE_EVALUATIONS} \
                 AND e.evaluator_id = :sort_ev)"
            );
            format!("{score} IS NULL, {score} {direction}, c.idx")
        }
    };

    let total: i64 = {
        let sql = format!("SELECT count(*) FROM cases c WHERE {filter}");
        let count_params: Vec<(&str, &dyn ToSql)> = sql_params
            .iter()
            .filter(|(name, _)| *name != ":sort_ev")
            .copied()
            .collect();
        let mut stmt = conn.prepare(&sql).map_err(fail)?;
        stmt.query_row(&count_params[..], |r| r.get(0))
            .map_err(fail)?
    };

    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    sql_params.push((":limit", &limit));
    sql_params.push((":offset", &offset));
    let sql = format!(
        "SELECT c.idx, c.hash, c.test_case, c.output, c.duration_s, c.error, c.label \
         FROM cases c WHERE {filter} ORDER BY {order} LIMIT :limit OFFSET :offset"
    );
    let run_id: Arc<str> = Arc::from(run_id);
    let cases: Vec<CaseRecord> = {
        let mut stmt = conn.prepare(&sql).map_err(fail)?;
        let rows = stmt
            .query_map(&sql_params[..], |row| {
                Ok(CaseRecord {
                    run_id: run_id.clone(),
                    index: row.get(0)?,
                    trial: 0,
                    hash: Arc::from(row.get::<_, String>(1)?),
                    test_case: Arc::from(row.get::<_, String>(2)?),
                    output: row.get(3)?,
                    duration_s: row.get(4)?,
                    error: row.get(5)?,
                    label: row.get::<_, Option<String>>(6)?.map(Arc::from),
                })
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)?
    };

    let mut evaluations = Vec::new();
    for case in &cases {
        evaluations.extend(first_trial_evaluations(conn, seq, case).map_err(fail)?);
    }
    Ok(CasePage {
        total: total.unsigned_abs(),
        cases,
        evaluations,
    })
}

/// A case with its evaluations (by evaluator id).
pub type CaseWithEvaluations = (CaseRecord, Vec<EvaluationRecord>);

fn run_seq(conn: &Connection, run_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT seq FROM runs WHERE id = ?")?
        .query_row([run_id], |r| r.get(0))
        .optional()
}

/// The first trials of the cases `wanted` (position and hash, as another combination of
/// the same grid search holds them) in the run `run_id`, each with its evaluations (by
/// evaluator id); None where the run has no such case. A case at another position is
/// found by its hash.
pub fn cases_at(
    conn: &Connection,
    run_id: &str,
    wanted: &[(u32, &str)],
) -> Result<Vec<Option<CaseWithEvaluations>>, StoreError> {
    let path = db_path(conn);
    let doing = format!("reading cases of run {run_id}");
    let fail = |e| StoreError::sqlite(&path, &doing, e);
    let Some(seq) = run_seq(conn, run_id).map_err(fail)? else {
        return Ok(wanted.iter().map(|_| None).collect());
    };
    let run: Arc<str> = Arc::from(run_id);
    let columns = "idx, hash, test_case, output, duration_s, error, label";
    let case = |row: &rusqlite::Row| {
        Ok(CaseRecord {
            run_id: run.clone(),
            index: row.get(0)?,
            trial: 0,
            hash: Arc::from(row.get::<_, String>(1)?),
            test_case: Arc::from(row.get::<_, String>(2)?),
            output: row.get(3)?,
            duration_s: row.get(4)?,
            error: row.get(5)?,
            label: row.get::<_, Option<String>>(6)?.map(Arc::from),
        })
    };
    let mut found = Vec::with_capacity(wanted.len());
    for (index, hash) in wanted {
        let at_index = conn
            .prepare_cached(&format!(
                "SELECT {columns} FROM cases WHERE run = ?1 AND idx = ?2 AND trial = 0 AND hash = ?3"
            ))
            .and_then(|mut stmt| stmt.query_row(params![seq, index, hash], case).optional())
            .map_err(fail)?;
        let record = match at_index {
            Some(record) => Some(record),
            None => conn
                .prepare_cached(&format!(
                    "SELECT {columns} FROM cases WHERE run = ?1 AND hash = ?2 AND trial = 0"
                ))
                .and_then(|mut stmt| stmt.query_row(params![seq, hash], case).optional())
                .map_err(fail)?,
        };
        let Some(record) = record else {
            found.push(None);
            continue;
        };
        let evaluations = first_trial_evaluations(conn, seq, &record).map_err(fail)?;
        found.push(Some((record, evaluations)));
    }
    Ok(found)
}

/// `%text%` for LIKE, with LIKE's own characters (and the escape) escaped.
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// The evaluations of `case`'s first trial (a case of run `seq`), by evaluator id.
fn first_trial_evaluations(
    conn: &Connection,
    seq: i64,
    case: &CaseRecord,
) -> rusqlite::Result<Vec<EvaluationRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT evaluator_id, score, threshold, verdict, metadata, error, duration_s \
         FROM evaluations WHERE run = ?1 AND case_idx = ?2 AND trial = 0 \
         ORDER BY evaluator_id",
    )?;
    let rows = stmt.query_map(params![seq, case.index], |row| {
        Ok(EvaluationRecord {
            run_id: case.run_id.clone(),
            case_index: case.index,
            case_hash: case.hash.clone(),
            trial: 0,
            evaluator_id: Arc::from(row.get::<_, String>(0)?),
            score: row.get(1)?,
            threshold: row.get::<_, Option<String>>(2)?.map(Arc::from),
            verdict: Arc::from(row.get::<_, String>(3)?),
            metadata: row.get(4)?,
            error: row.get(5)?,
            duration_s: row.get(6)?,
        })
    })?;
    rows.collect()
}

/// Whether any case of the run was evaluated by `evaluator`. Stops at the first one found
/// (nearly always the first case).
fn has_evaluator(conn: &Connection, seq: i64, evaluator: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM evaluations WHERE run = ?1 AND evaluator_id = ?2)",
    )?
    .query_row(params![seq, evaluator], |r| r.get(0))
}

/// The run's evaluator ids, sorted (for error messages).
fn evaluator_ids(conn: &Connection, seq: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT evaluator_id FROM evaluations WHERE run = ?1 ORDER BY evaluator_id",
    )?;
    let rows = stmt.query_map([seq], |r| r.get(0))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{write_run, Case, TestDir};
    use crate::store::Writer;

    fn hashes(page: &CasePage) -> Vec<&str> {
        page.cases.iter().map(|c| &*c.hash).collect()
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
    }

    #[test]
    fn pages_filters_searches_and_sorts() {
        let dir = TestDir::new("case-page");
        let path = dir.path().join("trialrun.db");
        let names: Vec<String> = (0..30u32).map(|i| format!("h{i:02}")).collect();
        let cases: Vec<Case> = names
            .iter()
            .enumerate()
            .map(|(i, hash)| {
                let score = (i % 10) as f64 / 10.0;
                let verdict = if score >= 0.5 { "passed" } else { "failed" };
                let error = (i == 7).then_some("boom 100%");
                let evaluations = if error.is_some() {
                    vec![]
                } else {
                    vec![("quality", Some(score), verdict, None)]
                };
                (hash.as_str(), error, evaluations)
            })
            .collect();
        let writer = Writer::start(&path).unwrap();
        write_run(&writer, "r1", "s", 1.0, &cases);
        writer.close().unwrap();
        let conn = crate::store::open_read(&path).unwrap();
        let page = |q: CaseQuery| case_page(&conn, "r1", &q).unwrap();

        let first = page(CaseQuery {
            limit: 5,
            ..CaseQuery::default()
        });
        assert_eq!(first.total, 30);
        assert_eq!(hashes(&first), ["h00", "h01", "h02", "h03", "h04"]);
        assert!(first.evaluations.iter().all(|e| e.case_index < 5));

        let third = page(CaseQuery {
            offset: 10,
            limit: 5,
            ..CaseQuery::default()
        });
        assert_eq!(hashes(&third), ["h10", "h11", "h12", "h13", "h14"]);

        // by score, best first; ties in the suite's order
        let best = page(CaseQuery {
            limit: 3,
            sort: CaseSort::Score("quality".into()),
            descending: true,
            ..CaseQuery::default()
        });
        assert_eq!(hashes(&best), ["h09", "h19", "h29"]);

        let errored = page(CaseQuery {
            status: StatusFilter::Errored,
            ..CaseQuery::default()
        });
        assert_eq!((errored.total, hashes(&errored)), (1, vec!["h07"]));

        let failed = page(CaseQuery {
            status: StatusFilter::Failed,
            sort: CaseSort::Status,
            ..CaseQuery::default()
        });
        assert_eq!(failed.total, 15);
        let passed = page(CaseQuery {
            status: StatusFilter::Passed,
            evaluator: Some("quality".into()),
            ..CaseQuery::default()
        });
        assert_eq!(passed.total, 14); // h07 raised: never "passed"

        // "%" is a character to look for, not a wildcard
        let searched = page(CaseQuery {
            search: Some("0%".into()),
            ..CaseQuery::default()
        });
        assert_eq!(hashes(&searched), ["h07"]);
        let by_hash = page(CaseQuery {
            search: Some("H2".into()),
            limit: 100,
            ..CaseQuery::default()
        });
        assert_eq!(by_hash.total, 10);

        let wrong = case_page(
            &conn,
            "r1",
            &CaseQuery {
                sort: CaseSort::Score("nope".into()),
                ..CaseQuery::default()
            },
        );
        match wrong {
            Err(CasePageError::Invalid(message)) => {
                assert!(message.contains("\"nope\""), "{message}");
                assert!(message.contains("quality"), "{message}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}
