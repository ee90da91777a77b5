//! Twilio's REST API (2010-04-01): create, fetch, update and hang up calls, and point an
//! incoming number at a voice webhook.
//!
//! Requests go only to the configured `api_base`, with HTTP Basic auth; credentials never
//! appear in URLs, errors or `Debug` output. Call creation is paced to the account's
//! calls-per-second limit across all tasks sharing a client, and 429, 5xx and connection
//! failures are retried with exponential backoff and jitter, honouring `Retry-After`.

mod client;
mod config;
mod error;
mod pacer;
mod resources;

pub use client::TwilioClient;
pub use config::TwilioConfig;
pub use error::TwilioError;
pub use resources::{Call, CreateCall};

#[cfg(test)]
mod tests;
