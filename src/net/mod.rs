//! What every networked room shares: the tokio runtime, the HTTP client set-up (reqwest on
//! rustls) and the retry loop for HTTP requests. A leaf room: it imports no other room.

pub mod http;
pub mod retry;
pub mod runtime;
