//! The JSON API the page reads:
//!
//! - `GET /api/runs?suite=&limit=`: runs, newest first (StoredRun);
//! - `GET /api/runs/{ref}?suite=`: one run with its cases and evaluations (RunData);
//!   ref is a run id, a unique prefix of one, or "latest";
//! - `GET /api/compare?base=&head=&suite=`: {"comparison": Comparison, "regressions":
//!   [Regression]} under the default policy; base and head default as in `trialrun compare`.
//!
//! Errors are {"error": "..."}: 404 for a run that does not exist, 400 for an ambiguous
//! reference or a bad parameter, 500 when the store cannot be read.
//!
//! SQLite reads block, so each request opens the store and reads it on tokio's blocking
//! pool (spawn_blocking) and serializes the answer there too: the runtime's one thread
//! keeps serving the page while a large run loads.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rusqlite::Connection;
use serde::Serialize;

use super::App;
use crate::history::{self, HistoryError, Policy};
use crate::store::{self, StoreError};

/// Runs listed when the request gives no limit.
const DEFAULT_LIMIT: usize = 200;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/runs", get(runs))
        .route("/api/runs/{reference}", get(run))
        .route("/api/compare", get(compare))
}

/// An error answer: its status and the message the page shows.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        json_response(self.status, body.into_bytes())
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        // Runs change while a suite is running: always ask again.
        (header::CACHE_CONTROL, "no-store"),
    ];
    (status, headers, body).into_response()
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The query's parameters; a malformed query string is a 400.
fn params(query: Params) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(params)| params)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// A parameter's value; absent and empty are the same.
fn param(params: &HashMap<String, String>, name: &str) -> Option<String> {
    params.get(name).filter(|value| !value.is_empty()).cloned()
}

async fn runs(State(app): State<Arc<App>>, query: Params) -> Response {
    let answer = params(query).and_then(|params| {
        let limit = match param(&params, "limit") {
            None => DEFAULT_LIMIT,
            Some(text) => text.parse::<usize>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("limit must be a whole number, got {text:?}"),
                )
            })?,
        };
        Ok((param(&params, "suite"), limit))
    });
    match answer {
        Ok((suite, limit)) => {
            read(&app, move |conn| {
                Ok(store::list_runs(conn, suite.as_deref(), limit)?)
            })
            .await
        }
        Err(e) => e.into_response(),
    }
}

async fn run(
    State(app): State<Arc<App>>,
    Path(reference): Path<String>,
    query: Params,
) -> Response {
    let suite = match params(query) {
        Ok(params) => param(&params, "suite"),
        Err(e) => return e.into_response(),
    };
    read(&app, move |conn| {
        let suite = suite.as_deref();
        let found = history::resolve(conn, &reference, suite).map_err(reference_error)?;
        Ok(history::load(conn, found)?)
    })
    .await
}

#[derive(Serialize)]
struct CompareAnswer {
    comparison: history::Comparison,
    regressions: Vec<history::Regression>,
}

async fn compare(State(app): State<Arc<App>>, query: Params) -> Response {
    let params = match params(query) {
        Ok(params) => params,
        Err(e) => return e.into_response(),
    };
    let (base, head, suite) = (
        param(&params, "base"),
        param(&params, "head"),
        param(&params, "suite"),
    );
    read(&app, move |conn| {
        let (base, head, suite) = (base.as_deref(), head.as_deref(), suite.as_deref());
        let (base_run, head_run) =
            history::resolve_pair(conn, base, head, suite).map_err(reference_error)?;
        let comparison = history::compare(
            &history::load(conn, base_run)?,
            &history::load(conn, head_run)?,
        );
        let regressions = comparison.regressions(&Policy::default());
        Ok(CompareAnswer {
            comparison,
            regressions,
        })
    })
    .await
}

/// A failed lookup's answer: 404 when a run is missing, 400 when a reference names
/// several runs, 500 when the store failed.
fn reference_error(error: HistoryError) -> ApiError {
    match error {
        HistoryError::Store(e) => e.into(),
        HistoryError::NotFound(message) => ApiError::new(StatusCode::NOT_FOUND, message),
        HistoryError::Ambiguous(message) => ApiError::new(StatusCode::BAD_REQUEST, message),
    }
}

/// Runs `work` on the blocking pool with a fresh connection and answers with its result
/// as JSON.
async fn read<T, F>(app: &App, work: F) -> Response
where
    T: Serialize,
    F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
{
    let path = app.store_path.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let conn = store::open_read(&path)?;
        let value = work(&conn)?;
        serde_json::to_vec(&value).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the answer: {e}"),
            )
        })
    })
    .await;
    match answer {
        Ok(Ok(body)) => json_response(StatusCode::OK, body),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the store failed: {e}"),
        )
        .into_response(),
    }
}
