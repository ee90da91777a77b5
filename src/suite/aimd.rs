//! Adaptive concurrency for callers that hit rate limits: additive increase,
//! multiplicative decrease (AIMD, as TCP's congestion avoidance). A rate limit halves the
//! limit (never below 1); each window of successes as long as the limit grows it back by
//! one, never above the user's maximum.
//!
//! Plain AIMD saws between half the limit where rate limits began and that limit, so it
//! averages three quarters of what the provider takes. As TCP's fast recovery does, the
//! limit climbs back faster (one per success) to just below the level where it was cut,
//! and probes above that one per window. Measured with benches/rate_limit.py (a server
//! answering 429 above N requests/s) the suite still reaches only about 85% of N.
//!
//! Calls that were already in flight when the limit was cut would each cut it again for
//! the same overload; `epoch` tells them apart: a rate limit counts only for a call that
//! started at or after the last cut.

#[derive(Debug, Clone, PartialEq)]
pub struct Aimd {
    max: usize,
    limit: usize,
    /// Successes since the limit last changed.
    successes: usize,
    /// Cuts so far.
    epoch: u64,
    /// The limit at the last cut: below it, recovery is fast.
    ceiling: usize,
}

impl Aimd {
    /// Starts at `max` (so a run that meets no rate limit runs as without AIMD).
    pub fn new(max: usize) -> Aimd {
        assert!(max > 0);
        Aimd {
            max,
            limit: max,
            successes: 0,
            epoch: 0,
            ceiling: 0,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// To note when a call starts, and hand back with its rate limit.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A call that started in `started` was rate limited. Returns whether the limit was cut.
    pub fn rate_limited(&mut self, started: u64) -> bool {
        if started < self.epoch {
            return false; // in flight before the last cut: that overload is handled
        }
        self.ceiling = self.limit;
        self.limit = (self.limit / 2).max(1);
        self.successes = 0;
        self.epoch += 1;
        true
    }

    /// A call succeeded. Returns whether the limit grew.
    pub fn succeeded(&mut self) -> bool {
        if self.limit >= self.max {
            return false;
        }
        self.successes += 1;
        let recovering = self.limit + 1 < self.ceiling;
        if !recovering && self.successes < self.limit {
            return false;
        }
        self.successes = 0;
        self.limit += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_a_rate_limit_and_not_below_one() {
        let mut a = Aimd::new(20);
        assert_eq!(a.limit(), 20);
        assert!(a.rate_limited(a.epoch()));
        assert_eq!(a.limit(), 10);
        for _ in 0..10 {
            a.rate_limited(a.epoch());
        }
        assert_eq!(a.limit(), 1);
    }

    #[test]
    fn calls_in_flight_before_a_cut_do_not_cut_again() {
        let mut a = Aimd::new(16);
        let before = a.epoch();
        assert!(a.rate_limited(before));
        // eight other calls started before the cut come back rate limited too
        for _ in 0..8 {
            assert!(!a.rate_limited(before));
        }
        assert_eq!(a.limit(), 8);
        assert!(a.rate_limited(a.epoch()));
        assert_eq!(a.limit(), 4);
    }

    #[test]
    fn grows_by_one_per_window_of_successes_up_to_the_max() {
        let mut a = Aimd::new(6);
        a.rate_limited(a.epoch()); // 3
        let mut grew_after = vec![];
        for n in 1..=100 {
            if a.succeeded() {
                grew_after.push(n);
            }
        }
        // one success each back to 5, just below the level of the cut (6); then a window
        // of 5 successes to probe 6; never above the maximum
        assert_eq!(grew_after, vec![1, 2, 7]);
        assert_eq!(a.limit(), 6);

        // above the last cut's level, one per window
        let mut b = Aimd::new(100);
        for _ in 0..5 {
            b.rate_limited(b.epoch()); // 100 -> 3, last cut at 6
        }
        assert_eq!(b.limit(), 3);
        let mut grew_after = vec![];
        for n in 1..=30 {
            if b.succeeded() {
                grew_after.push(n);
            }
        }
        assert_eq!(grew_after, vec![1, 2, 7, 13, 20, 28]);
    }

    #[test]
    fn settles_near_the_capacity_of_a_simulated_server() {
        // A server that takes at most 10 calls at once: every call above that is limited.
        let capacity = 10;
        let mut a = Aimd::new(64);
        let mut limits = vec![];
        for _round in 0..400 {
            let epoch = a.epoch();
            let n = a.limit();
            for i in 0..n {
                if i < capacity {
                    a.succeeded();
                } else {
                    a.rate_limited(epoch);
                }
            }
            limits.push(a.limit());
        }
        let tail = &limits[200..];
        assert!(tail.iter().all(|&l| (5..=11).contains(&l)), "{tail:?}");
        let mean = tail.iter().sum::<usize>() as f64 / tail.len() as f64;
        assert!((7.0..=11.0).contains(&mean), "{mean}");
    }
}
