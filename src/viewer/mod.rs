//! The local web viewer (`trialrun ui`): a small HTTP server on 127.0.0.1 that serves a
//! plain HTML/CSS/JS page and a read-only JSON API over the run store.
//!
//! - `Viewer::start` binds the port before returning (a busy port fails at once), then
//!   serves on its own thread with a current-thread tokio runtime;
//! - `api` holds the JSON routes, `assets` the embedded page.
//!
//! Pure Rust: the Python class lives in py/viewer.rs.

mod api;
mod assets;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::watch;

use crate::store::{self, StoreError};

/// How long a stop waits for requests in flight before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Sent with every response. The page loads nothing but its own files, cannot be framed,
/// and never posts anywhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'; object-src 'none'";

#[derive(Debug)]
pub enum ViewerError {
    /// The port could not be bound (busy, or not allowed).
    Bind { port: u16, source: io::Error },
    /// The run store cannot be opened (corrupt, newer schema, no permission).
    Store(StoreError),
    /// Setting up the runtime or the server thread failed.
    Io {
        doing: &'static str,
        source: io::Error,
    },
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
            ViewerError::Io { doing, source } => write!(f, "the viewer failed {doing}: {source}"),
        }
    }
}

impl std::error::Error for ViewerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ViewerError::Bind { source, .. } | ViewerError::Io { source, .. } => Some(source),
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
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Viewer {
    /// Checks the store, binds 127.0.0.1:`port` (0: any free port) and starts serving on a
    /// thread of its own. Every failure is reported here, before anything is served.
    pub fn start(store_path: PathBuf, port: u16) -> Result<Viewer, ViewerError> {
        // A corrupt file or a newer schema fails now rather than on the first page.
        drop(store::open(&store_path)?);

        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|source| ViewerError::Bind { port, source })?;
        let io = |doing| move |source| ViewerError::Io { doing, source };
        std_listener
            .set_nonblocking(true)
            .map_err(io("setting up its socket"))?;
        let addr = std_listener
            .local_addr()
            .map_err(io("setting up its socket"))?;

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io("starting its runtime"))?;
        let listener = {
            let _inside = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(io("setting up its socket"))?
        };
        let app = Arc::new(App {
            store_path,
            hosts: [
                format!("127.0.0.1:{}", addr.port()),
                format!("localhost:{}", addr.port()),
            ],
        });
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("trialrun-viewer".into())
            .spawn(move || serve(runtime, listener, router(app), stopped))
            .map_err(io("starting its thread"))?;
        Ok(Viewer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, e.g. `http://127.0.0.1:8123/`.
    #[cfg(test)]
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops accepting connections, lets requests in flight finish (up to a short grace
    /// period) and joins the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                eprintln!("trialrun: the viewer's thread panicked");
            }
        }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The server thread: serves until told to stop (or the Viewer is gone).
fn serve(
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    app: Router,
    stopped: watch::Receiver<bool>,
) {
    let mut signal = stopped.clone();
    let mut grace = stopped;
    runtime.block_on(async move {
        // A dropped sender (Err) means the Viewer is gone: stop as well.
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = signal.wait_for(|stop| *stop).await;
        });
        let deadline = async move {
            let _ = grace.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            result = server => {
                if let Err(e) = result {
                    eprintln!("trialrun: the viewer stopped: {e}");
                }
            }
            () = deadline => {}
        }
    });
    // Store reads still running on the blocking pool are not waited for beyond this.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
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
