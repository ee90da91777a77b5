//! Retries for the HTTP clients (Twilio's REST API, the model providers): one request is
//! sent again on 429, 5xx and connection failures, with exponential backoff and jitter,
//! honouring `Retry-After`; other answers end it at once.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay; it doubles on each retry, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff delay, before jitter.
    pub backoff_max: Duration,
    /// Longest `Retry-After` to wait for; a longer one ends the retries with that answer.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// Exponential backoff from `backoff_base`, capped, with jitter in [50%, 100%].
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.backoff_max);
        capped.mul_f64(0.5 + 0.5 * unit_random())
    }
}

/// A successful answer (2xx).
#[derive(Debug)]
pub struct Answer {
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why the request finally failed.
#[derive(Debug)]
pub enum Failure {
    /// The server answered with an error status (after any retries).
    Status {
        /// The last status.
        status: StatusCode,
        /// The last body.
        body: Vec<u8>,
        /// Requests made, retries included.
        attempts: u32,
    },
    /// No (complete) answer: refused, TLS failure, timeout, body cut short.
    Transport {
        /// The HTTP library's error.
        error: reqwest::Error,
        /// Requests made, retries included.
        attempts: u32,
    },
}

/// Sends the request that `attempt` builds (called again for each retry, after anything it
/// awaits first, e.g. a pacer) until it succeeds, fails for good, or retries run out.
///
/// A refused connection is always retried (nothing was sent); a timeout or a body cut short
/// only when `idempotent` (a timed-out create may have created).
pub async fn send<F, Fut>(
    policy: &RetryPolicy,
    idempotent: bool,
    mut attempt: F,
) -> Result<Answer, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = reqwest::RequestBuilder>,
{
    let mut attempts: u32 = 0;
    loop {
        attempts += 1;
        let can_retry = attempts <= policy.max_retries;
        let (failure, wait) = match attempt().await.send().await {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Ok(body) if status.is_success() => {
                        return Ok(Answer {
                            body: body.to_vec(),
                        })
                    }
                    Ok(body) => {
                        let wait =
                            retry_after(&headers).unwrap_or_else(|| policy.backoff(attempts));
                        let retry =
                            can_retry && is_retryable(status) && wait <= policy.max_retry_after;
                        let failure = Failure::Status {
                            status,
                            body: body.to_vec(),
                            attempts,
                        };
                        (failure, retry.then_some(wait))
                    }
                    Err(error) => (
                        Failure::Transport { error, attempts },
                        (can_retry && idempotent).then(|| policy.backoff(attempts)),
                    ),
                }
            }
            Err(error) => {
                let retry = error.is_connect() || (error.is_timeout() && idempotent);
                (
                    Failure::Transport { error, attempts },
                    (can_retry && retry).then(|| policy.backoff(attempts)),
                )
            }
        };
        match wait {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return Err(failure),
        }
    }
}

/// 429 and 5xx are worth another try.
pub fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` in seconds (decimals accepted); an HTTP date is ignored in favour of backoff.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// The error and all its sources: they say why (refused, TLS, timeout); reqwest's top line
/// alone does not.
pub fn error_chain(e: &reqwest::Error) -> String {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    detail
}

/// A number in [0, 1) for jitter, from std's randomly keyed hasher (no RNG crate needed).
fn unit_random() -> f64 {
    let bits = RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let policy = RetryPolicy {
            max_retries: 5,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(300),
            max_retry_after: Duration::from_secs(1),
        };
        for _ in 0..20 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = policy.backoff(2);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            let tenth = policy.backoff(10);
            assert!(tenth >= Duration::from_millis(150) && tenth <= Duration::from_millis(300));
        }
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "1.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
        assert!(is_retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable(StatusCode::BAD_GATEWAY));
        assert!(!is_retryable(StatusCode::BAD_REQUEST));
    }
}
