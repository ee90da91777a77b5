//! Token buckets for provider rate limits (requests or tokens per minute), and a
//! process-wide table of them by key, so every caller using one provider key (the function
//! under test, judges, simulated callers) draws on one budget.
//!
//! A bucket is plain arithmetic over the time passed in: `take` says how long to wait
//! instead of sleeping, so async and sync callers, and tests, wait in their own way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Holds up to `capacity` tokens and gains `rate` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. `capacity` and `rate` must be positive and finite.
    pub fn new(capacity: f64, rate_per_s: f64, now: Instant) -> TokenBucket {
        assert!(
            capacity > 0.0 && capacity.is_finite() && rate_per_s > 0.0 && rate_per_s.is_finite()
        );
        TokenBucket {
            capacity,
            rate: rate_per_s,
            tokens: capacity,
            last: now,
        }
    }

    /// `per_minute` spread over a minute, a minute's worth at most in hand (as providers
    /// count RPM and TPM).
    pub fn per_minute(per_minute: f64, now: Instant) -> TokenBucket {
        TokenBucket::new(per_minute, per_minute / 60.0, now)
    }

    fn refill(&mut self, now: Instant) {
        let gained = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + gained).min(self.capacity);
        self.last = self.last.max(now);
    }

    /// Takes `n` tokens now and returns zero, or reserves them and returns how long the
    /// caller must wait before using them (the bucket goes into debt, so callers queue in
    /// the order they asked). More than the capacity is taken as the capacity: a request
    /// larger than a minute's budget waits a full minute rather than forever.
    pub fn take(&mut self, n: f64, now: Instant) -> Duration {
        self.refill(now);
        let n = n.clamp(0.0, self.capacity);
        self.tokens -= n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// Tokens in hand (negative while in debt).
    #[cfg(test)]
    pub fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }
}

/// The limits of one provider key: requests and tokens per minute, each optional.
#[derive(Debug)]
pub struct KeyLimits {
    requests: Option<TokenBucket>,
    tokens: Option<TokenBucket>,
}

impl KeyLimits {
    pub fn new(
        requests_per_minute: Option<f64>,
        tokens_per_minute: Option<f64>,
        now: Instant,
    ) -> KeyLimits {
        KeyLimits {
            requests: requests_per_minute.map(|r| TokenBucket::per_minute(r, now)),
            tokens: tokens_per_minute.map(|t| TokenBucket::per_minute(t, now)),
        }
    }

    /// One request of `tokens` tokens: the wait before it may be sent (the longer of the
    /// two buckets' waits; both are charged).
    pub fn acquire(&mut self, tokens: f64, now: Instant) -> Duration {
        let a = self.requests.as_mut().map(|b| b.take(1.0, now));
        let b = self.tokens.as_mut().map(|b| b.take(tokens, now));
        a.unwrap_or_default().max(b.unwrap_or_default())
    }
}

/// Every key's limits in this process.
pub fn registry() -> &'static Mutex<HashMap<String, Arc<Mutex<KeyLimits>>>> {
    static KEYS: OnceLock<Mutex<HashMap<String, Arc<Mutex<KeyLimits>>>>> = OnceLock::new();
    KEYS.get_or_init(Default::default)
}

/// Sets (or replaces) the limits of `key`.
pub fn set_limits(key: &str, requests_per_minute: Option<f64>, tokens_per_minute: Option<f64>) {
    let limits = KeyLimits::new(requests_per_minute, tokens_per_minute, Instant::now());
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key.to_string(), Arc::new(Mutex::new(limits)));
}

/// The wait before a request of `tokens` tokens on `key` may go; None when the key has
/// no limits set.
pub fn acquire(key: &str, tokens: f64) -> Option<Duration> {
    let limits = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
        .cloned()?;
    let wait = limits
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .acquire(tokens, Instant::now());
    Some(wait)
}

/// Removes the limits of `key` (true when it had some).
pub fn clear_limits(key: &str) -> bool {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(key)
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_full_bucket_serves_its_capacity_then_paces_at_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3.0, 10.0, t0);
        for _ in 0..3 {
            assert_eq!(b.take(1.0, t0), Duration::ZERO);
        }
        // empty: each further token is 100 ms after the last, queued in order
        assert_eq!(b.take(1.0, t0), ms(100));
        assert_eq!(b.take(1.0, t0), ms(200));
        // 250 ms later the debt of 2 is paid and half a token is in hand
        assert!((b.available(t0 + ms(250)) - 0.5).abs() < 1e-9);
        // refill never exceeds the capacity
        assert_eq!(b.available(t0 + Duration::from_secs(60)), 3.0);
    }

    #[test]
    fn over_capacity_requests_wait_for_a_full_bucket_not_forever() {
        let t0 = Instant::now();
        let mut b = TokenBucket::per_minute(600.0, t0);
        assert_eq!(b.take(600.0, t0), Duration::ZERO);
        let wait = b.take(10_000.0, t0);
        assert_eq!(wait, Duration::from_secs(60));
    }

    #[test]
    fn the_sustained_rate_matches_the_limit() {
        let t0 = Instant::now();
        let mut b = TokenBucket::per_minute(120.0, t0); // 2 per second
        let mut last = Duration::ZERO;
        for _ in 0..240 {
            last = b.take(1.0, t0);
        }
        // 120 at once, then 120 more over 60 s
        assert_eq!(last, Duration::from_secs(60));
    }

    #[test]
    fn a_key_charges_requests_and_tokens_and_waits_for_the_slower() {
        let t0 = Instant::now();
        let mut k = KeyLimits::new(Some(60.0), Some(1_000.0), t0);
        assert_eq!(k.acquire(900.0, t0), Duration::ZERO);
        // 200 more tokens: 100 short, at 1000/60 per s that is 6 s
        let wait = k.acquire(200.0, t0);
        assert!((wait.as_secs_f64() - 6.0).abs() < 1e-6, "{wait:?}");
        let mut only_requests = KeyLimits::new(Some(60.0), None, t0);
        assert_eq!(only_requests.acquire(1e9, t0), Duration::ZERO);
    }

    #[test]
    fn the_registry_shares_one_budget_per_key() {
        let key = "bucket-test-key";
        assert_eq!(acquire(key, 1.0), None);
        set_limits(key, Some(2.0), None);
        assert_eq!(acquire(key, 0.0), Some(Duration::ZERO));
        assert_eq!(acquire(key, 0.0), Some(Duration::ZERO));
        assert!(acquire(key, 0.0).unwrap() > Duration::from_secs(29));
        assert!(clear_limits(key));
        assert_eq!(acquire(key, 1.0), None);
    }
}
