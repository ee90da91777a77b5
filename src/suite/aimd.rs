//! Adaptive concurrency for callers that hit rate limits: additive increase,
//! multiplicative decrease (AIMD, as TCP's congestion avoidance). A rate limit halves the
//! limit (never below 1); each window of successes as long as the limit grows it back by
//! one, never above the user's maximum.
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
        if self.successes < self.limit {
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
        // 3 successes to reach 4, 4 more to reach 5, 5 more to reach 6, then no more
        assert_eq!(grew_after, vec![3, 7, 12]);
        assert_eq!(a.limit(), 6);
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
