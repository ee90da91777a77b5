//! Retries for the HTTP clients (Twilio's REST API, the model providers): one request is
//! sent again on 429, 5xx and connection failures, with exponential backoff and jitter,
//! honouring `Retry-After`; other answers end it at once.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};

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

/// `Retry-After` as a wait from now: seconds (decimals accepted) or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    retry_after_value(value, SystemTime::now())
}

/// One `Retry-After` value as a wait from `now`: delay-seconds (RFC 9110; decimals
/// accepted, as some providers send them) or an HTTP date (a date already past means
/// no wait). None when it is neither.
pub fn retry_after_value(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(MAX_RETRY_AFTER_S)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Longer waits than a day are taken as a day (no overflow on absurd values).
const MAX_RETRY_AFTER_S: f64 = 86_400.0;

/// Exponential backoff with full jitter: a wait drawn uniformly from
/// [0, min(cap, base * 2^attempt)) (attempt 0 is the first retry). Spreading waits over
/// the whole range keeps many callers that hit a limit together from retrying together.
pub fn full_jitter(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(20)).min(cap);
    ceiling.mul_f64(unit_random())
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
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "1.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
        // a date in the past: no wait
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        assert!(is_retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable(StatusCode::BAD_GATEWAY));
        assert!(!is_retryable(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn retry_after_values() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let wait = |v: &str| retry_after_value(v, now);
        assert_eq!(wait("120"), Some(Duration::from_secs(120)));
        assert_eq!(wait(" 0.25 "), Some(Duration::from_millis(250)));
        assert_eq!(wait("0"), Some(Duration::ZERO));
        assert_eq!(
            wait("Wed, 21 Oct 2015 07:28:30 GMT"),
            Some(Duration::from_secs(30))
        );
        // RFC 850 and asctime forms are HTTP dates too
        assert_eq!(
            wait("Wednesday, 21-Oct-15 07:29:00 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(wait("Tue, 20 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(wait("-1"), None);
        assert_eq!(wait("NaN"), None);
        assert_eq!(wait("inf"), None);
        assert_eq!(wait(""), None);
        assert_eq!(wait("1e12"), Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn full_jitter_stays_under_the_doubling_ceiling_and_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        let mut spread = (Duration::MAX, Duration::ZERO);
        for _ in 0..200 {
            let first = full_jitter(0, base, cap);
            assert!(first < base);
            assert!(full_jitter(2, base, cap) < Duration::from_millis(400));
            let late = full_jitter(30, base, cap);
            assert!(late < cap);
            spread = (spread.0.min(late), spread.1.max(late));
        }
        // full jitter: draws cover the range, not only its upper half
        assert!(spread.0 < Duration::from_millis(500), "{spread:?}");
        assert!(spread.1 > Duration::from_millis(1500), "{spread:?}");
    }
}
