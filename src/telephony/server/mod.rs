//! The call server: trialrun's end of phone calls, reached by Twilio (or the loopback
//! carrier) over HTTP and WebSocket.
//!
//! - `webhook`: the voice webhook (answered with `<Connect><Stream>`), call status and
//!   recording status callbacks, all checked against `X-Twilio-Signature`;
//! - `stream`: the Media Streams WebSocket of each call;
//! - `registry`: which calls exist, and the secrets that tie webhooks and streams to them.
//!
//! URLs handed to the carrier are built from the public base URL (the seed's `ngrok_url`),
//! so trialrun works behind any tunnel or proxy without running one itself.

mod registry;
mod stream;
mod webhook;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use super::call::{CallHandle, EndReason, PacingStats};
use super::log::BoundedLog;
use super::pacing::LatenessHistogram;
use crate::net::serve::{Listener, Served};

pub use registry::secret as secret_hex;
pub use stream::READ_BUFFER;

/// How long stopping waits for requests in flight before dropping them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How a call server is set up.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on; loopback unless a tunnel or proxy must reach it.
    pub host: IpAddr,
    /// Port to listen on; 0 takes a free one.
    pub port: u16,
    /// Public base URL the carrier reaches this server by (e.g. an https tunnel); by
    /// default `http://host:port`.
    pub public_url: Option<String>,
    /// The account auth token webhooks are signed with.
    pub auth_token: Option<String>,
    /// Whether webhooks must carry a valid signature. Turned off only explicitly.
    pub validate_signatures: bool,
    /// Largest Media Streams message accepted; a bigger one ends that call.
    pub max_message_bytes: usize,
    /// Longest call; it is hung up when reached.
    pub max_call_duration: Duration,
    /// A call on which nothing is heard from the far end for this long is hung up.
    pub silence_timeout: Option<Duration>,
    /// Where two-channel WAV recordings are written (none when None).
    pub recordings_dir: Option<PathBuf>,
    /// Whether the far end's audio is passed on as events (off when only the recording,
    /// marks and the end matter, as in load tests).
    pub audio_events: bool,
    /// Also print log lines to stderr.
    pub log_to_stderr: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            public_url: None,
            auth_token: None,
            validate_signatures: true,
            max_message_bytes: 64 * 1024,
            max_call_duration: Duration::from_secs(600),
            silence_timeout: Some(Duration::from_secs(60)),
            recordings_dir: None,
            audio_events: true,
            log_to_stderr: false,
        }
    }
}

impl fmt::Debug for ServerConfig {
    // By hand, so the auth token never reaches a log or an error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("public_url", &self.public_url)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("validate_signatures", &self.validate_signatures)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_call_duration", &self.max_call_duration)
            .field("silence_timeout", &self.silence_timeout)
            .field("recordings_dir", &self.recordings_dir)
            .finish()
    }
}

/// The configuration once the port is known.
struct Resolved {
    config: ServerConfig,
    public_base: String,
}

impl std::ops::Deref for Resolved {
    type Target = ServerConfig;
    fn deref(&self) -> &ServerConfig {
        &self.config
    }
}

impl Resolved {
    /// `https://example.ngrok.app` or `http://127.0.0.1:PORT`, without a trailing slash.
    fn public_base(&self) -> &str {
        &self.public_base
    }

    /// The WebSocket form of the public base: ws:// or wss://.
    fn ws_base(&self) -> String {
        match self.public_base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => format!("ws://{}", self.public_base),
        }
    }

    /// The token to check signatures with; None when checks are off.
    fn signing_token(&self) -> Option<&str> {
        if self.validate_signatures {
            self.auth_token.as_deref()
        } else {
            None
        }
    }
}

/// What every handler shares.
struct Shared {
    config: Resolved,
    registry: registry::Registry,
    /// Lateness of every frame sent, over all calls.
    pacing: LatenessHistogram,
    /// Ends the calls streaming, at their next clock tick.
    stopping: AtomicBool,
    log: BoundedLog,
}

impl Shared {
    fn log(&self, line: String) {
        self.log.push(line);
    }
}

#[derive(Debug)]
pub enum ServerError {
    /// Signatures are to be checked but no auth token was given.
    NoAuthToken,
    /// The public URL is not an http(s) URL.
    BadPublicUrl(String),
    Bind {
        addr: SocketAddr,
        source: io::Error,
    },
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAuthToken => f.write_str(
                "the call server checks X-Twilio-Signature on every webhook, so it needs the \
                 auth token (auth_token=, or TWILIO_AUTH_TOKEN); for local use only, pass \
                 validate_signatures=False",
            ),
            Self::BadPublicUrl(url) => {
                write!(f, "public_url {url:?} must start with http:// or https://")
            }
            Self::Bind { addr, source } if source.kind() == io::ErrorKind::AddrInUse => {
                write!(f, "cannot listen on {addr}: the port is already in use; pick another, or 0 for any free port")
            }
            Self::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
        }
    }
}

impl std::error::Error for ServerError {}

/// URLs to give the carrier for one outbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallUrls {
    pub voice: String,
    pub status_callback: String,
    pub recording_status_callback: String,
}

/// A running call server. Stops on `stop` or when dropped.
pub struct CallServer {
    shared: Arc<Shared>,
    served: Served,
}

impl CallServer {
    /// Checks the configuration, binds the port and starts serving on the shared runtime.
    pub fn start(config: ServerConfig) -> Result<CallServer, ServerError> {
        if config.validate_signatures && config.auth_token.as_deref().is_none_or(str::is_empty) {
            return Err(ServerError::NoAuthToken);
        }
        if let Some(url) = &config.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ServerError::BadPublicUrl(url.clone()));
            }
        }
        let addr = SocketAddr::new(config.host, config.port);
        let listener = Listener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
        let addr = listener.addr();
        let public_base = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{addr}"),
        };
        let log = BoundedLog::new("trialrun call server", config.log_to_stderr);
        let shared = Arc::new(Shared {
            config: Resolved {
                config,
                public_base,
            },
            registry: registry::Registry::default(),
            pacing: LatenessHistogram::default(),
            stopping: AtomicBool::new(false),
            log,
        });
        let app = router(shared.clone());
        Ok(CallServer {
            shared,
            served: Served::start(listener, app, STOP_GRACE),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.served.addr()
    }

    /// The base URL the carrier is given.
    pub fn public_url(&self) -> &str {
        self.shared.config.public_base()
    }

    /// A new outbound call and the URLs to place it with.
    pub fn new_outbound_call(&self) -> (CallHandle, CallUrls) {
        let handle = self.shared.registry.add_outbound();
        let base = self.shared.config.public_base();
        let id = &handle.id;
        let urls = CallUrls {
            voice: format!("{base}/twilio/voice?call={id}"),
            status_callback: format!("{base}/twilio/status?call={id}"),
            recording_status_callback: format!("{base}/twilio/recording?call={id}"),
        };
        (handle, urls)
    }

    /// The voice webhook URL to set on a number for inbound calls.
    pub fn inbound_voice_url(&self) -> String {
        format!("{}/twilio/voice", self.shared.config.public_base())
    }

    /// A call this server expects to receive (from `from`, or from anyone).
    pub fn expect_inbound_call(&self, from: Option<String>) -> CallHandle {
        self.shared.registry.add_inbound(from)
    }

    /// Ends a call the carrier could not place.
    pub fn fail_call(&self, call_id: &str, detail: String) {
        self.shared
            .registry
            .end_unstreamed(call_id, EndReason::CarrierError, Some(detail));
    }

    /// Lateness of the frames sent on all calls since the server started, or since the
    /// last read with `reset`.
    pub fn pacing(&self, reset: bool) -> PacingStats {
        self.shared.pacing.stats(reset)
    }

    /// The server's log: refused webhooks and streams, protocol errors, with reasons.
    pub fn log_lines(&self) -> Vec<String> {
        self.shared.log.lines()
    }

    /// Hangs up every call, stops accepting connections and waits for the server to end.
    pub fn stop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.shared.registry.wake_held();
        for call_id in self.shared.registry.unstreamed() {
            let detail = Some("the call server stopped".to_string());
            self.shared
                .registry
                .end_unstreamed(&call_id, EndReason::HungUp, detail);
        }
        self.served.stop();
    }
}

impl Drop for CallServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/twilio/voice", post(webhook::voice))
        .route("/twilio/status", post(webhook::status))
        .route("/twilio/recording", post(webhook::recording))
        .route("/twilio/stream", get(stream::upgrade))
        .with_state(shared)
}
