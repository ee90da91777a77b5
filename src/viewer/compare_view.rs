//! The compare page's rows, a page at a time: `GET /api/compare?...&rows=&offset=&limit=`.
//!
//! A comparison has a row per case in both runs and evaluator, plus one for a case whose fn
//! newly raised, ordered as the page shows them: newly failing or errored first, then
//! newly passing, then added and removed evaluations ("changed"), then the rest ("same",
//! "unchanged"); head's case order within each. With `rows`:
//!
//! - `rows`: `changed`, `unchanged` or `all`: which rows the page holds;
//! - `offset` (default 0), `limit` (default 200, at most 1000);
//!
//! the answer's `comparison.cases` is empty (the rows stand in for it: a comparison of two
//! runs of 100,000 cases is not sent whole) and it gains `rows`: {which, total, offset,
//! limit, items}, and `counts`: {changed, unchanged}. Each row carries the metadata and
//! errors of both sides, which the page would otherwise read from both runs whole.
//! Without `rows` the answer is the whole comparison, as before.

use std::collections::HashMap;

use serde::Serialize;

use super::api::{param, ApiError};
use super::case_params::{bad, page};
use crate::history::compare::{Change, Side};
use crate::history::{Comparison, RunData};
use rusqlite::Connection;

use crate::store::model::raw_json;
use crate::store::{self, EvaluationRecord, StoreError};

/// Rows a page holds when the request does not say.
pub const DEFAULT_LIMIT: u64 = 200;
/// The most rows one page may hold.
pub const MAX_LIMIT: u64 = 1000;

/// Which rows a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Which {
    Changed,
    Unchanged,
    All,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RowQuery {
    pub which: Which,
    pub offset: u64,
    pub limit: u64,
}

/// The row query of a compare request; None without `rows` (the whole comparison).
pub fn row_query(params: &HashMap<String, String>) -> Result<Option<RowQuery>, ApiError> {
    let which = match param(params, "rows").as_deref() {
        None => {
            if let Some(name) = ["offset", "limit"]
                .iter()
                .find(|n| params.contains_key(**n))
            {
                return Err(bad(format!(
                    "{name} pages the rows: give rows=changed, unchanged or all with it"
                )));
            }
            return Ok(None);
        }
        Some("changed") => Which::Changed,
        Some("unchanged") => Which::Unchanged,
        Some("all") => Which::All,
        Some(other) => {
            return Err(bad(format!(
                "rows must be changed, unchanged or all, got {other:?}"
            )))
        }
    };
    let (offset, limit) = page(params, DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok(Some(RowQuery {
        which,
        offset,
        limit,
    }))
}

/// One row of the compare table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub hash: String,
    pub label: Option<String>,
    /// None for the row of a case whose fn newly raised.
    pub evaluator_id: Option<String>,
    /// "newly_errored", or the evaluation's `Change`.
    pub change: &'static str,
    pub base: Option<Side>,
    pub head: Option<Side>,
    /// head score minus base score, when both have one.
    pub delta: Option<f64>,
    /// The evaluations' metadata, as the JSON they hold.
    #[serde(serialize_with = "raw_json")]
    pub base_metadata: Option<String>,
    pub base_error: Option<String>,
    #[serde(serialize_with = "raw_json")]
    pub head_metadata: Option<String>,
    pub head_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RowPage {
    pub which: Which,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub items: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct RowCounts {
    pub changed: u64,
    pub unchanged: u64,
}

/// Where a row sorts: newly failing or errored, newly passing, added or removed, same.
fn rank(change: Change) -> u8 {
    match change {
        Change::NewlyFailing => 0,
        Change::NewlyPassing => 1,
        Change::Added | Change::Removed => 2,
        Change::Same => 3,
    }
}

/// The metadata and errors of the evaluations of `hashes` in `run` (loaded as an outline,
/// without them), read from the store for these cases only: by (hash, evaluator id).
fn page_records(
    conn: &Connection,
    run: &RunData,
    hashes: &[&str],
) -> Result<HashMap<(String, String), EvaluationRecord>, StoreError> {
    let index: HashMap<&str, u32> = run.cases.iter().map(|c| (&*c.hash, c.index)).collect();
    let wanted: Vec<(u32, &str)> = hashes
        .iter()
        .filter_map(|h| Some((*index.get(h)?, *h)))
        .collect();
    let mut records = HashMap::new();
    for (_, evaluations) in store::cases_at(conn, &run.run.run.id, &wanted)?
        .into_iter()
        .flatten()
    {
        for e in evaluations {
            records.insert((e.case_hash.to_string(), e.evaluator_id.to_string()), e);
        }
    }
    Ok(records)
}

/// The rows `query` asks for, and how many rows changed and did not. `base` and `head`
/// may be outlines (`history::load_outline`): the page's metadata is read here.
pub fn rows(
    conn: &Connection,
    comparison: &Comparison,
    base: &RunData,
    head: &RunData,
    query: &RowQuery,
) -> Result<(RowPage, RowCounts), StoreError> {
    // (rank, case, evaluation or None for the fn row), in head's order; sorted stably.
    let mut keys: Vec<(u8, usize, Option<usize>)> = vec![];
    for (c, case) in comparison.cases.iter().enumerate() {
        if case.newly_errored() {
            keys.push((0, c, None));
        }
        for (e, evaluation) in case.evaluations.iter().enumerate() {
            keys.push((rank(evaluation.change), c, Some(e)));
        }
    }
    keys.sort_by_key(|k| k.0);
    let changed = keys.iter().filter(|k| k.0 < 3).count();
    let counts = RowCounts {
        changed: changed as u64,
        unchanged: (keys.len() - changed) as u64,
    };
    let chosen = match query.which {
        Which::Changed => &keys[..changed],
        Which::Unchanged => &keys[changed..],
        Which::All => &keys[..],
    };
    let start = usize::try_from(query.offset)
        .unwrap_or(usize::MAX)
        .min(chosen.len());
    let end = start
        .saturating_add(usize::try_from(query.limit).unwrap_or(usize::MAX))
        .min(chosen.len());
    let page = &chosen[start..end];
    let mut hashes: Vec<&str> = page
        .iter()
        .map(|&(_, c, _)| comparison.cases[c].hash.as_str())
        .collect();
    hashes.dedup();
    let (base_records, head_records) = (
        page_records(conn, base, &hashes)?,
        page_records(conn, head, &hashes)?,
    );
    let items = page
        .iter()
        .map(|&(_, c, e)| {
            let case = &comparison.cases[c];
            match e {
                None => Row {
                    hash: case.hash.clone(),
                    label: case.label.clone(),
                    evaluator_id: None,
                    change: "newly_errored",
                    base: None,
                    head: None,
                    delta: None,
                    base_metadata: None,
                    base_error: None,
                    head_metadata: None,
                    head_error: case.head_error.clone(),
                },
                Some(e) => {
                    let diff = &case.evaluations[e];
                    let key = (case.hash.clone(), diff.evaluator_id.clone());
                    let (b, h) = (base_records.get(&key), head_records.get(&key));
                    Row {
                        hash: case.hash.clone(),
                        label: case.label.clone(),
                        evaluator_id: Some(diff.evaluator_id.clone()),
                        change: diff.change.as_str(),
                        base: diff.base.clone(),
                        head: diff.head.clone(),
                        delta: diff.delta(),
                        base_metadata: b.and_then(|r| r.metadata.clone()),
                        base_error: b.and_then(|r| r.error.clone()),
                        head_metadata: h.and_then(|r| r.metadata.clone()),
                        head_error: h.and_then(|r| r.error.clone()),
                    }
                }
            }
        })
        .collect();
    Ok((
        RowPage {
            which: query.which,
            total: chosen.len() as u64,
            offset: query.offset,
            limit: query.limit,
            items,
        },
        counts,
    ))
}
