//! What can go wrong talking to Twilio, with Twilio's own error code and text when it sent them.

use std::fmt;

use serde::Deserialize;

/// An error from the Twilio REST client. Its text never carries credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum TwilioError {
    /// A setting is unusable; nothing was sent.
    InvalidConfig(String),
    /// A request is malformed (e.g. both `url` and `twiml`); nothing was sent.
    InvalidRequest(String),
    /// Twilio answered with an error status.
    Api {
        /// What was being done, e.g. "create call".
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// Twilio's error code (e.g. 21211), when the body had one.
        code: Option<i64>,
        /// Twilio's message, or the start of a non-JSON body.
        message: Option<String>,
        /// Twilio's link to the error's documentation.
        more_info: Option<String>,
        /// Requests made, retries included.
        attempts: u32,
    },
    /// No HTTP answer: connection refused, TLS failure, timeout.
    Transport {
        /// What was being done.
        operation: &'static str,
        /// The HTTP library's description (URLs hold only account and call ids).
        detail: String,
        /// Requests made, retries included.
        attempts: u32,
    },
    /// Twilio answered with success but a body this client cannot read.
    Decode {
        /// What was being done.
        operation: &'static str,
        /// The JSON parser's complaint.
        detail: String,
    },
    /// The account has no incoming phone number matching this one.
    NumberNotFound {
        /// The number as asked for.
        number: String,
    },
}

impl fmt::Display for TwilioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig(detail) => write!(f, "invalid Twilio settings: {detail}"),
            Self::InvalidRequest(detail) => write!(f, "invalid Twilio request: {detail}"),
            Self::Api {
                operation,
                status,
                code,
                message,
                more_info,
                attempts,
            } => {
                write!(f, "Twilio refused {operation} (HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, ", code {code}")?;
                }
                if *attempts > 1 {
                    write!(f, ", after {attempts} attempts")?;
                }
                write!(f, ")")?;
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                if let Some(more_info) = more_info {
                    // Twilio's messages usually end with a full stop already.
                    let stop = match message {
                        Some(m) if m.ends_with('.') => "",
                        _ => ".",
                    };
                    write!(f, "{stop} See {more_info}")?;
                }
                Ok(())
            }
            Self::Transport {
                operation,
                detail,
                attempts,
            } => write!(
                f,
                "could not reach Twilio to {operation} ({attempts} attempt{}): {detail}",
                if *attempts == 1 { "" } else { "s" }
            ),
            Self::Decode { operation, detail } => {
                write!(
                    f,
                    "Twilio's answer to {operation} could not be read: {detail}"
                )
            }
            Self::NumberNotFound { number } => write!(
                f,
                "the Twilio account has no incoming phone number {number:?}"
            ),
        }
    }
}

impl std::error::Error for TwilioError {}

impl TwilioError {
    /// The HTTP status, for errors Twilio answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Twilio's error code, when it sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => *code,
            _ => None,
        }
    }
}

/// Twilio's error body: `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
    more_info: Option<String>,
}

/// Longest slice of a non-JSON error body kept in the message.
const BODY_EXCERPT: usize = 200;

/// Builds the error for an error status from its body, keeping only Twilio's fields.
pub(crate) fn api_error(
    operation: &'static str,
    status: u16,
    body: &str,
    attempts: u32,
) -> TwilioError {
    let (code, message, more_info) = match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) => (e.code, e.message, e.more_info),
        Err(_) => {
            let text = body.trim();
            let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
            (None, (!excerpt.is_empty()).then_some(excerpt), None)
        }
    };
    TwilioError::Api {
        operation,
        status,
        code,
        message,
        more_info,
        attempts,
    }
}

impl TwilioError {
    /// Replaces any of `secrets` in the error's text, in case a server echoed a credential.
    pub(crate) fn scrub(mut self, secrets: &[&str]) -> Self {
        let clean = |text: &mut String| {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                if text.contains(secret) {
                    *text = text.replace(secret, "<redacted>");
                }
            }
        };
        match &mut self {
            Self::Api {
                message, more_info, ..
            } => {
                message
                    .iter_mut()
                    .chain(more_info.iter_mut())
                    .for_each(clean);
            }
            Self::Transport { detail, .. } | Self::Decode { detail, .. } => clean(detail),
            Self::InvalidConfig(detail) | Self::InvalidRequest(detail) => clean(detail),
            Self::NumberNotFound { .. } => {}
        }
        self
    }
}
