//! What every networked room shares: the tokio runtime, the HTTP client set-up (reqwest on
//! rustls), TLS for WebSocket clients, the retry loop for HTTP requests, and serving an axum app in the background.
//! A leaf room: it imports no other room.

pub mod bucket;
pub mod http;
pub mod retry;
pub mod runtime;
pub mod serve;
pub mod tls;
