//! The query of `GET /api/runs/{ref}/cases` read into a `store::CaseQuery`: every
//! parameter is checked, and a bad one is a 400 that names it and what it accepts.
//!
//! - `offset` (default 0), `limit` (default 50, at most `MAX_LIMIT`): whole numbers;
//! - `sort`: `index` (default), `case`, `hash`, `duration`, `status` or
//!   `score:<evaluator id>`; `dir`: `asc` (default) or `desc`;
//! - `q`: text looked for in the cases (see `store::CaseQuery::search`);
//! - `status`: `all` (default), `passed`, `failed` or `errored`;
//! - `evaluator`: an evaluator id (only its evaluations count for `status`).

use std::collections::HashMap;

use axum::http::StatusCode;

use super::api::{param, ApiError};
use crate::store::{CaseQuery, CaseSort, StatusFilter};

/// Cases a page holds when the request does not say.
pub const DEFAULT_LIMIT: u64 = 50;
/// The most cases one page may hold.
pub const MAX_LIMIT: u64 = 500;

const KNOWN: [&str; 7] = ["offset", "limit", "sort", "dir", "q", "status", "evaluator"];

pub(super) fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// Refuses parameters not in `known`, naming them and the known ones.
pub(super) fn only_known(params: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(bad(format!(
        "unknown parameter {} (known: {})",
        unknown.join(", "),
        known.join(", ")
    )))
}

/// `offset` (default 0) and `limit` (default `default_limit`, from 1 to `max_limit`).
pub(super) fn page(
    params: &HashMap<String, String>,
    default_limit: u64,
    max_limit: u64,
) -> Result<(u64, u64), ApiError> {
    let offset = whole(params, "offset", 0)?;
    let limit = whole(params, "limit", default_limit)?;
    if limit == 0 || limit > max_limit {
        return Err(bad(format!(
            "limit must be from 1 to {max_limit}, got {limit}"
        )));
    }
    Ok((offset, limit))
}

pub(super) fn whole(
    params: &HashMap<String, String>,
    name: &str,
    default: u64,
) -> Result<u64, ApiError> {
    match param(params, name) {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| bad(format!("{name} must be a whole number, got {text:?}"))),
    }
}

pub fn case_query(params: &HashMap<String, String>) -> Result<CaseQuery, ApiError> {
    only_known(params, &KNOWN)?;
    let (offset, limit) = page(params, DEFAULT_LIMIT, MAX_LIMIT)?;
    let sort = match param(params, "sort").as_deref() {
        None | Some("index") => CaseSort::Index,
        Some("case") => CaseSort::Label,
        Some("hash") => CaseSort::Hash,
        Some("duration") => CaseSort::Duration,
        Some("status") => CaseSort::Status,
        Some(other) => match other.strip_prefix("score:") {
            Some(id) if !id.is_empty() => CaseSort::Score(id.to_string()),
            _ => {
                return Err(bad(format!(
                    "cannot sort by {other:?}: sort is one of index, case, hash, duration, \
                     status or score:<evaluator id>"
                )))
            }
        },
    };
    let descending = match param(params, "dir").as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(bad(format!("dir must be asc or desc, got {other:?}"))),
    };
    let status = match param(params, "status").as_deref() {
        None | Some("all") => StatusFilter::All,
        Some("passed") => StatusFilter::Passed,
        Some("failed") => StatusFilter::Failed,
        Some("errored") => StatusFilter::Errored,
        Some(other) => {
            return Err(bad(format!(
                "status must be all, passed, failed or errored, got {other:?}"
            )))
        }
    };
    Ok(CaseQuery {
        offset,
        limit,
        sort,
        descending,
        search: param(params, "q"),
        status,
        evaluator: param(params, "evaluator"),
        differ_in: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<CaseQuery, String> {
        let params = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        case_query(&params).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(query(&[]).unwrap(), CaseQuery::default());
        let q = query(&[
            ("offset", "100"),
            ("limit", "25"),
            ("sort", "score:exact match"),
            ("dir", "desc"),
            ("q", "paris"),
            ("status", "failed"),
            ("evaluator", "exact match"),
        ])
        .unwrap();
        assert_eq!(
            q,
            CaseQuery {
                offset: 100,
                limit: 25,
                sort: CaseSort::Score("exact match".into()),
                descending: true,
                search: Some("paris".into()),
                status: StatusFilter::Failed,
                evaluator: Some("exact match".into()),
                differ_in: vec![],
            }
        );
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (pairs, needle) in [
            (vec![("sort", "colour")], "cannot sort by \\\"colour\\\""),
            (vec![("sort", "score:")], "cannot sort by"),
            (vec![("dir", "up")], "dir must be asc or desc"),
            (vec![("limit", "0")], "limit must be from 1 to 500"),
            (vec![("limit", "501")], "limit must be from 1 to 500"),
            (vec![("offset", "-3")], "offset must be a whole number"),
            (vec![("status", "green")], "status must be"),
            (vec![("page", "2")], "unknown parameter page"),
        ] {
            let error = query(&pairs).unwrap_err();
            assert!(error.contains(needle), "{pairs:?}: {error}");
        }
    }
}
