//! Lateness of the frames a call server sends, over all its calls: a load test reads it
//! over the window that matters (every call up and streaming), where per-call figures also
//! hold the setting up and hanging up of all the others.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::call::PacingStats;

/// Buckets of 10 µs up to 10 ms, then of 1 ms up to 1 s; later frames share the last one.
const FINE_US: u64 = 10;
const FINE_END_US: u64 = 10_000;
const COARSE_US: u64 = 1_000;
const COARSE_END_US: u64 = 1_000_000;
const FINE: usize = (FINE_END_US / FINE_US) as usize;
const BUCKETS: usize = FINE + ((COARSE_END_US - FINE_END_US) / COARSE_US) as usize + 1;

/// Counts of frames by lateness, shared by every stream of a server.
pub struct LatenessHistogram {
    counts: Box<[AtomicU64]>,
    max_us: AtomicU64,
}

impl Default for LatenessHistogram {
    fn default() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }
}

impl LatenessHistogram {
    /// Counts one frame sent `late_us` microseconds after its deadline.
    pub fn record(&self, late_us: u64) {
        self.counts[bucket(late_us)].fetch_add(1, Relaxed);
        self.max_us.fetch_max(late_us, Relaxed);
    }

    /// Percentiles of the frames counted so far; with `reset`, counting starts afresh.
    /// A percentile is the upper edge of its bucket (never above the latest frame), so it
    /// overstates by at most 10 µs below 10 ms and 1 ms above.
    pub fn stats(&self, reset: bool) -> PacingStats {
        let take = |value: &AtomicU64| {
            if reset {
                value.swap(0, Relaxed)
            } else {
                value.load(Relaxed)
            }
        };
        let counts: Vec<u64> = self.counts.iter().map(take).collect();
        let max_us = take(&self.max_us);
        let frames: u64 = counts.iter().sum();
        if frames == 0 {
            return PacingStats::default();
        }
        // The same rank as PacingStats::from_samples takes from sorted samples.
        let at = |q: f64| {
            let rank = ((frames - 1) as f64 * q).round() as u64;
            let mut seen = 0;
            let index = counts.iter().position(|&count| {
                seen += count;
                seen > rank
            });
            index.map_or(max_us, |index| upper_edge(index).min(max_us))
        };
        PacingStats {
            frames,
            p50_us: at(0.50),
            p99_us: at(0.99),
            max_us,
        }
    }
}

fn bucket(late_us: u64) -> usize {
    if late_us < FINE_END_US {
        (late_us / FINE_US) as usize
    } else if late_us < COARSE_END_US {
        FINE + ((late_us - FINE_END_US) / COARSE_US) as usize
    } else {
        BUCKETS - 1
    }
}

/// The lateness every frame of a bucket is under (the last bucket has no bound).
fn upper_edge(index: usize) -> u64 {
    if index < FINE {
        (index as u64 + 1) * FINE_US
    } else if index < BUCKETS - 1 {
        FINE_END_US + (index - FINE + 1) as u64 * COARSE_US
    } else {
        u64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_within_a_bucket_of_the_exact_ones() {
        let histogram = LatenessHistogram::default();
        // 1 ms for most frames, 25.4 ms for one in fifty, 2.5 s for the latest.
        let mut samples: Vec<u64> = (0..1000)
            .map(|i| if i % 50 == 0 { 25_400 } else { 1_003 })
            .collect();
        samples.push(2_500_000);
        for &late in &samples {
            histogram.record(late);
        }
        let exact = PacingStats::from_samples(&mut samples.clone());
        let stats = histogram.stats(false);
        assert_eq!((stats.frames, stats.max_us), (exact.frames, exact.max_us));
        assert_eq!((exact.p50_us, exact.p99_us), (1_003, 25_400));
        assert_eq!((stats.p50_us, stats.p99_us), (1_010, 26_000));
        // Reading does not reset; reading with reset does.
        assert_eq!(histogram.stats(true), stats);
        assert_eq!(histogram.stats(false), PacingStats::default());
        histogram.record(7);
        assert_eq!(
            histogram.stats(false),
            PacingStats {
                frames: 1,
                p50_us: 7,
                p99_us: 7,
                max_us: 7
            }
        );
    }

    #[test]
    fn buckets_meet_at_their_edges() {
        for (late, index) in [
            (0, 0),
            (9, 0),
            (10, 1),
            (9_999, FINE - 1),
            (10_000, FINE),
            (10_999, FINE),
            (11_000, FINE + 1),
            (999_999, BUCKETS - 2),
            (1_000_000, BUCKETS - 1),
        ] {
            assert_eq!(bucket(late), index, "{late} µs");
            assert!(
                late < upper_edge(index),
                "{late} µs is under its bucket's edge"
            );
            assert!(
                index == 0 || late >= upper_edge(index - 1),
                "{late} µs is over the previous bucket's edge"
            );
        }
    }
}
