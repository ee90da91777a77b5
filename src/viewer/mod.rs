//! The local web viewer (`trialrun ui`): a small HTTP server on 127.0.0.1 that serves a
//! plain HTML/CSS/JS page and a JSON API over the run store: reads, and one write (a
//! reviewer's grade of a case, accepted only from the page itself).
//!
//! - `Viewer::start` binds the port before returning (a busy port fails at once), then
//!   serves on the shared runtime (`net::serve`);
//! - `api` holds the JSON routes, `assets` the embedded page.
//!
//! Pure Rust: the Python class lives in py/viewer.rs.

mod api;
mod assets;
mod case_params;
mod compare_view;
mod grid_view;
mod recordings;
mod run_view;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::net::serve::{Listener, Served};
use crate::store::{self, StoreError};

/// How long a stop waits for requests in flight before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Sent with every response. The page loads nothing but its own files, cannot be framed,
/// submits no forms, and sends its only writes (grades) to this server. Review fields of
/// content type HTML are shown in an iframe that is sandboxed without scripts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'; object-src 'none'";

#[derive(Debug)]
pub enum ViewerError {
    /// The port could not be bound (busy, or not allowed).
    Bind { port: u16, source: io::Error },
    /// The run store cannot be opened (corrupt, newer schema, no permission).
    Store(StoreError),
}

impl fmt::Display for ViewerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViewerError::Bind { port: 0, source } => {
                write!(f, "cannot listen on a free port of 127.0.0.1: {source}")
            }
            ViewerError::Bind { port, source } if source.kind() == io::ErrorKind::AddrInUse => {
                write!(
                    f,
                    "cannot listen on 127.0.0.1:{port}: port {port} is already in use \
                 (by another program or another viewer); pick another port, or 0 for any free one"
                )
            }
            ViewerError::Bind { port, source } => {
                write!(f, "cannot listen on 127.0.0.1:{port}: {source}")
            }
            ViewerError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ViewerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ViewerError::Bind { source, .. } => Some(source),
            ViewerError::Store(e) => Some(e),
        }
    }
}

impl From<StoreError> for ViewerError {
    fn from(e: StoreError) -> Self {
        ViewerError::Store(e)
    }
}

/// What every request handler sees.
struct App {
    store_path: PathBuf,
    /// Host header values this server answers to (DNS-rebinding guard).
    hosts: [String; 2],
}

/// A running viewer. Stops (gracefully) on `stop` or when dropped.
pub struct Viewer {
    served: Served,
}

impl Viewer {
    /// Checks the store, binds 127.0.0.1:`port` (0: any free port) and starts serving.
    /// Every failure is reported here, before anything is served.
    pub fn start(store_path: PathBuf, port: u16) -> Result<Viewer, ViewerError> {
        // A corrupt file or a newer schema fails now rather than on the first page.
        // An existing store is only read (it may be read-only); a missing one is made.
        if store_path.exists() {
            drop(store::open_read(&store_path)?);
        } else {
            drop(store::open(&store_path)?);
        }
        let listener = Listener::bind((Ipv4Addr::LOCALHOST, port).into())
            .map_err(|source| ViewerError::Bind { port, source })?;
        let addr = listener.addr();
        let app = Arc::new(App {
            store_path,
            hosts: [
                format!("127.0.0.1:{}", addr.port()),
                format!("localhost:{}", addr.port()),
            ],
        });
        Ok(Viewer {
            served: Served::start(listener, router(app), SHUTDOWN_GRACE),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.served.addr()
    }

    /// The page's address, e.g. `http://127.0.0.1:8123/`.
    #[cfg(test)]
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr())
    }

    /// Stops accepting connections and lets requests in flight finish, for up to a short
    /// grace period.
    pub fn stop(mut self) {
        self.served.stop();
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(assets::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

async fn not_found(request: Request) -> Response {
    api::ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such page: {}", request.uri().path()),
    )
    .into_response()
}

/// Answers only requests addressed to this server by its loopback name (a web page from
/// elsewhere cannot read the store through DNS rebinding), and adds the security headers.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let mut response = match host {
        Some(host) if app.hosts.iter().any(|allowed| allowed == host) => next.run(request).await,
        _ => {
            let message = format!(
                "this viewer only answers requests for http://{}/",
                app.hosts[0]
            );
            api::ApiError::new(StatusCode::FORBIDDEN, message).into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests;
