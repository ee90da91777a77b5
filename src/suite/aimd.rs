//! Adaptive concurrency for callers that hit rate limits: additive increase,
//! multiplicative decrease (AIMD, as TCP's congestion avoidance). A rate limit cuts the
//! limit by a quarter (at least one, never below 1); each window of successes as long as
//! the limit grows it back by one, never above the user's maximum.
//!
//! TCP halves, and so did this at first: the limit then saws between half the level where
//! rate limits began and that level, and a provider's N requests/s with answers taking L
//! seconds wants only about N x L calls in flight, often a handful, so a halving cut
//! throughput deep below N (85% of it, measured with benches/rate_limit.py). A rate limit
//! is not a congested link: the calls it refused are retried after the provider's
//! Retry-After, so a gentler cut loses nothing and keeps the limit near N x L. As TCP's
//! fast recovery does, the limit climbs back one per success to just below the level
//! where it was cut, and probes above that one per window.
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
        self.limit = self.limit.saturating_sub((self.limit / 4).max(1)).max(1);
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
    fn cuts_a_quarter_on_a_rate_limit_at_least_one_and_not_below_one() {
        let mut a = Aimd::new(20);
        assert_eq!(a.limit(), 20);
        assert!(a.rate_limited(a.epoch()));
        assert_eq!(a.limit(), 15);
        let mut limits = vec![];
        for _ in 0..12 {
            a.rate_limited(a.epoch());
            limits.push(a.limit());
        }
        assert_eq!(limits, vec![12, 9, 7, 6, 5, 4, 3, 2, 1, 1, 1, 1]);
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
        assert_eq!(a.limit(), 12);
        assert!(a.rate_limited(a.epoch()));
        assert_eq!(a.limit(), 9);
    }

    #[test]
    fn grows_by_one_per_window_of_successes_up_to_the_max() {
        let mut a = Aimd::new(8);
        a.rate_limited(a.epoch()); // 6
        a.rate_limited(a.epoch()); // 5, last cut at 6
        assert_eq!(a.limit(), 5);
        let mut grew_after = vec![];
        for n in 1..=100 {
            if a.succeeded() {
                grew_after.push(n);
            }
        }
        // a window of 5 successes to probe 6 (one below the cut's level is 5 already),
        // then windows of 6 and 7; never above the maximum
        assert_eq!(grew_after, vec![5, 11, 18]);
        assert_eq!(a.limit(), 8);

        // below the last cut's level, one per success
        let mut b = Aimd::new(100);
        let mut cuts = 0;
        while b.limit() > 2 {
            b.rate_limited(b.epoch()); // 100, 75, 57, ... 4, 3, 2
            cuts += 1;
        }
        assert_eq!(cuts, 15);
        b.ceiling = 10; // as if the provider had taken 10 before
        let mut grew_after = vec![];
        for n in 1..=30 {
            if b.succeeded() {
                grew_after.push(n);
            }
        }
        assert_eq!(grew_after[..8], [1, 2, 3, 4, 5, 6, 7, 16]);
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
        // Never below the capacity's 10 for long, and never far above it: each round
        // runs as many calls as the server takes, and a couple more are refused (and
        // would be retried).
        assert!(tail.iter().all(|&l| (9..=12).contains(&l)), "{tail:?}");
        let mean = tail.iter().sum::<usize>() as f64 / tail.len() as f64;
        assert!((10.0..=12.0).contains(&mean), "{mean}");
    }
}
