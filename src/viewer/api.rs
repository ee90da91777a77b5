//! The JSON API the page reads:
//!
//! - `GET /api/runs?suite=&limit=`: runs, newest first (StoredRun);
//! - `GET /api/runs/{ref}?suite=`: one run with its cases and evaluations (RunData);
//!   ref is a run id, a unique prefix of one, or "latest";
//! - `GET /api/runs/{ref}/summary` and `GET /api/runs/{ref}/cases?...`: what the run page
//!   reads (a summary, and one page of cases at a time; see `run_view`);
//! - `GET /api/runs/{ref}/grid?offset=&limit=&q=&differ=&base=`: the combinations of the
//!   grid search `ref` belongs to side by side, a page of cases at a time (`grid_view`);
//! - `GET /api/recordings/{file}`: a call's WAV from the store's recordings folder only
//!   (`recordings`);
//! - `GET /api/compare?base=&head=&suite=`: {"comparison": Comparison, "regressions":
//!   [Regression], "histograms": [ComparedHistogram]} under the default policy; base and
//!   head default as in `trialrun compare`; with `rows=changed|unchanged|all&offset=&limit=`
//!   a page of the table's rows instead of every case (`compare_view`);
//! - `POST /api/runs/{ref}/review/{hash}` with a JSON body {"grade": "pass"|"fail",
//!   "score": 0..1 or null, "note": text or null}: saves a reviewer's grade of that case
//!   and answers with the run's review queue. The only write: it must come from this
//!   viewer's own page (see `same_origin`), as JSON.
//!
//! Errors are {"error": "..."}: 404 for a run that does not exist, 400 for an ambiguous
//! reference or a bad parameter, 500 when the store cannot be read.
//!
//! SQLite reads block, so each request opens the store and reads it on tokio's blocking
//! pool (spawn_blocking) and serializes the answer there too: the runtime's one thread
//! keeps serving the page while a large run loads.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rusqlite::Connection;
use serde::Serialize;

use super::{compare_view, grid_view, recordings, run_view, App};
use crate::history::{self, HistoryError, Policy};
use crate::report::charts;
use crate::store::{self, StoreError};

/// Runs listed when the request gives no limit.
const DEFAULT_LIMIT: usize = 200;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/runs", get(runs))
        .route("/api/runs/{reference}", get(run))
        .route("/api/runs/{reference}/summary", get(run_view::summary))
        .route("/api/runs/{reference}/cases", get(run_view::cases))
        .route("/api/runs/{reference}/grid", get(grid_view::grid))
        .route("/api/recordings/{file}", get(recordings::recording))
        .route("/api/compare", get(compare))
        .route("/api/runs/{reference}/review/{hash}", post(grade))
}

/// An error answer: its status and the message the page shows.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    #[cfg(test)]
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

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

pub(super) type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The query's parameters; a malformed query string is a 400.
pub(super) fn params(query: Params) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(params)| params)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// A parameter's value; absent and empty are the same.
pub(super) fn param(params: &HashMap<String, String>, name: &str) -> Option<String> {
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
        let previous = store::previous_run(conn, &found)?.map(|r| r.run.id);
        Ok(RunAnswer {
            data: history::load(conn, found)?,
            previous,
        })
    })
    .await
}

/// A run with the id of the run before it (same suite and grid), so the page offers a
/// comparison only when there is something to compare with.
#[derive(Serialize)]
struct RunAnswer {
    #[serde(flatten)]
    data: history::RunData,
    previous: Option<String>,
}

#[derive(Serialize)]
struct CompareAnswer {
    comparison: history::Comparison,
    regressions: Vec<history::Regression>,
    /// Per evaluator, the scores of the cases in both runs: base and head histograms
    /// overlaid on shared bins.
    histograms: Vec<charts::ComparedHistogram>,
    /// With `rows`: a page of the table's rows (`compare_view`), and how many there are.
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<compare_view::RowPage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<compare_view::RowCounts>,
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
    let row_query = match compare_view::row_query(&params) {
        Ok(query) => query,
        Err(e) => return e.into_response(),
    };
    read(&app, move |conn| {
        let (base, head, suite) = (base.as_deref(), head.as_deref(), suite.as_deref());
        let (base_run, head_run) =
            history::resolve_pair(conn, base, head, suite).map_err(reference_error)?;
        // A page of rows reads the runs' outlines, and the metadata of its rows alone.
        let load = match row_query {
            Some(_) => history::load_outline,
            None => history::load,
        };
        let (base_data, head_data) = (load(conn, base_run)?, load(conn, head_run)?);
        let mut comparison = history::compare(&base_data, &head_data);
        let regressions = comparison.regressions(&Policy::default());
        let histograms = charts::compared_histograms(&comparison);
        let (rows, counts) = match &row_query {
            Some(query) => {
                let (rows, counts) =
                    compare_view::rows(conn, &comparison, &base_data, &head_data, query)?;
                // The rows stand in for the cases: a large comparison is not sent whole.
                comparison.cases = Vec::new();
                (Some(rows), Some(counts))
            }
            None => (None, None),
        };
        Ok(CompareAnswer {
            histograms,
            comparison,
            regressions,
            rows,
            counts,
        })
    })
    .await
}

/// A grade as the page sends it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GradeBody {
    grade: String,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    note: Option<String>,
}

/// Refuses a write that a page of another site could have sent (CSRF): such a request
/// cannot carry a JSON content type without a CORS preflight, which this server never
/// grants, and browsers name its origin in Origin and Sec-Fetch-Site. Clients that are
/// not browsers (the CLI, scripts) send neither header and pass; the Host check in
/// `guard` has already refused requests addressed to another name.
fn same_origin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    let forbidden = |why: String| Err(ApiError::new(StatusCode::FORBIDDEN, why));
    if let Some(origin) = text(header::ORIGIN) {
        let ours = app.hosts.iter().any(|h| origin == format!("http://{h}"));
        if !ours {
            return forbidden(format!(
                "grades are only accepted from this viewer's own page, not from {origin:?}"
            ));
        }
    }
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        if site != "same-origin" && site != "none" {
            return forbidden(format!(
                "grades are only accepted from this viewer's own page (Sec-Fetch-Site: {site})"
            ));
        }
    }
    let json = text(header::CONTENT_TYPE)
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a grade must be sent as JSON (Content-Type: application/json)",
        ));
    }
    Ok(())
}

async fn grade(
    State(app): State<Arc<App>>,
    Path((reference, hash)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = same_origin(&app, &headers) {
        return e.into_response();
    }
    let body: GradeBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            let message = format!("the grade is not valid JSON of the expected shape: {e}");
            return ApiError::new(StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let grade = match store::Grade::new(&body.grade, body.score, body.note.as_deref()) {
        Ok(grade) => grade,
        Err(e) => return review_error(e).into_response(),
    };
    write(&app, move |conn| {
        let run = history::resolve(conn, &reference, None).map_err(reference_error)?;
        store::grade_case(conn, &run.run.id, &hash, &grade, store::now_unix())
            .map_err(review_error)?;
        Ok(store::run_review(conn, &run.run.id)?)
    })
    .await
}

fn review_error(error: store::ReviewError) -> ApiError {
    match error {
        store::ReviewError::Store(e) => e.into(),
        store::ReviewError::NotFound(message) => ApiError::new(StatusCode::NOT_FOUND, message),
        store::ReviewError::Invalid(message) => ApiError::new(StatusCode::BAD_REQUEST, message),
    }
}

/// A failed lookup's answer: 404 when a run is missing, 400 when a reference names
/// several runs, 500 when the store failed.
pub(super) fn reference_error(error: HistoryError) -> ApiError {
    match error {
        HistoryError::Store(e) => e.into(),
        HistoryError::NotFound(message) => ApiError::new(StatusCode::NOT_FOUND, message),
        HistoryError::Ambiguous(message) => ApiError::new(StatusCode::BAD_REQUEST, message),
    }
}

/// Runs `work` on the blocking pool with a fresh read-only connection and answers with
/// its result as JSON.
pub(super) async fn read<T, F>(app: &App, work: F) -> Response
where
    T: Serialize,
    F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
{
    with_store(app, false, work).await
}

/// `read`, on a connection that may write (the one write: a grade).
async fn write<T, F>(app: &App, work: F) -> Response
where
    T: Serialize,
    F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
{
    with_store(app, true, work).await
}

async fn with_store<T, F>(app: &App, writable: bool, work: F) -> Response
where
    T: Serialize,
    F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
{
    let path = app.store_path.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let conn = if writable {
            store::open(&path)?
        } else {
            store::open_read(&path)?
        };
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
