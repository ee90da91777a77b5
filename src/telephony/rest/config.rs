//! How to reach Twilio: credentials, base URL, rate and retry settings.

use std::fmt;
use std::time::Duration;

use super::error::TwilioError;

/// Twilio's public REST endpoint; tests point `api_base` at a loopback server instead.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// Settings for a [`TwilioClient`](super::TwilioClient).
///
/// `Debug` is written by hand so that the auth token and API key secret never reach logs.
#[derive(Clone)]
pub struct TwilioConfig {
    /// The account (`AC...`); it is part of every resource URL.
    pub account_sid: String,
    /// The account's auth token; used for Basic auth unless an API key is given.
    pub auth_token: String,
    /// An API key (`SK...`) to authenticate with instead of the auth token.
    pub api_key_sid: Option<String>,
    /// The API key's secret; required together with `api_key_sid`.
    pub api_key_secret: Option<String>,
    /// Scheme and host, without a path: `https://api.twilio.com` by default.
    pub api_base: String,
    /// Outbound calls created per second; Twilio's default for new accounts is 1.
    pub calls_per_second: f64,
    /// Retries after the first attempt, on 429, 5xx and connection errors.
    pub max_retries: u32,
    /// Limit on each HTTP request, connection to last body byte.
    pub timeout: Duration,
    /// First backoff delay; it doubles on each retry, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff delay, before jitter.
    pub backoff_max: Duration,
    /// Longest `Retry-After` to wait for; a longer one ends the retries with the 429 error.
    pub max_retry_after: Duration,
}

impl TwilioConfig {
    /// Settings for an account and its auth token, with the defaults for everything else.
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            api_key_sid: None,
            api_key_secret: None,
            api_base: DEFAULT_API_BASE.to_string(),
            calls_per_second: 1.0,
            max_retries: 3,
            timeout: Duration::from_secs(30),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// Checks the settings, so that a bad one fails before any request.
    pub(crate) fn validate(&self) -> Result<(), TwilioError> {
        let bad = |detail: String| Err(TwilioError::InvalidConfig(detail));
        if !is_sid(&self.account_sid) {
            return bad(format!(
                "account_sid must be letters and digits (an \"AC...\" id), got {:?}",
                self.account_sid
            ));
        }
        match (&self.api_key_sid, &self.api_key_secret) {
            (Some(sid), Some(secret)) => {
                if sid.is_empty() || secret.is_empty() {
                    return bad("api_key_sid and api_key_secret must not be empty".into());
                }
            }
            (None, None) => {
                if self.auth_token.is_empty() {
                    return bad("auth_token is empty and no API key was given".into());
                }
            }
            _ => return bad("api_key_sid and api_key_secret must be given together".into()),
        }
        let base = self.api_base.as_str();
        let authority = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .map(|rest| rest.trim_end_matches('/'));
        match authority {
            Some(a) if !a.is_empty() && !a.contains(['/', '?', '#', '@']) => {}
            // '@' would put credentials in the URL; a path would be silently doubled.
            _ => {
                return bad(format!(
                    "api_base must be http(s)://host[:port] with no path or user info, got {:?}",
                    self.api_base
                ))
            }
        }
        if !(self.calls_per_second.is_finite() && self.calls_per_second > 0.0) {
            return bad(format!(
                "calls_per_second must be a positive number, got {}",
                self.calls_per_second
            ));
        }
        if self.timeout.is_zero() {
            return bad("timeout must be above zero".into());
        }
        Ok(())
    }

    /// The Basic auth user and password: the API key if given, else the account and token.
    pub(crate) fn basic_auth(&self) -> (&str, &str) {
        match (&self.api_key_sid, &self.api_key_secret) {
            (Some(sid), Some(secret)) => (sid, secret),
            _ => (&self.account_sid, &self.auth_token),
        }
    }

    /// `api_base` without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.api_base.trim_end_matches('/')
    }
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "<empty>" };
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &redacted(!self.auth_token.is_empty()))
            .field("api_key_sid", &self.api_key_sid)
            .field(
                "api_key_secret",
                &self
                    .api_key_secret
                    .as_ref()
                    .map(|s| redacted(!s.is_empty())),
            )
            .field("api_base", &self.api_base)
            .field("calls_per_second", &self.calls_per_second)
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("max_retry_after", &self.max_retry_after)
            .finish()
    }
}

/// Twilio ids (`AC...`, `CA...`, `PN...`) are letters and digits; checking keeps paths intact.
pub(crate) fn is_sid(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}
