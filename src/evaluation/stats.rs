//! The statistics trial reports rest on: the Wilson score interval of a pass rate, and a
//! one-sided Fisher exact test of a drop in pass rate between two runs.

/// The 97.5th percentile of the standard normal: a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// The 95% Wilson score interval of `passed` successes in `trials` (both bounds in
/// [0, 1]); (0, 1) without trials. Chosen over the normal (Wald) interval because it stays
/// inside [0, 1] and keeps its coverage at the small trial counts suites use (1 to 20).
pub fn wilson_interval(passed: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let n = trials as f64;
    let p = passed.min(trials) as f64 / n;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = Z_95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// One-sided Fisher exact test that head's pass rate is lower than base's, on the table
/// [[base passed, base failed], [head passed, head failed]]: the probability, with the
/// margins fixed, of base holding at least as many of the passes as it does
/// (scipy's `fisher_exact(table, alternative="greater")`).
pub fn fisher_drop_p_value(
    base_passed: u64,
    base_failed: u64,
    head_passed: u64,
    head_failed: u64,
) -> f64 {
    let base_trials = base_passed + base_failed;
    let passes = base_passed + head_passed;
    let total = base_trials + head_passed + head_failed;
    let fails = total - passes;
    // Base's passes x range over [lo, hi]; P(x) = C(passes, x) C(fails, base_trials - x)
    // / C(total, base_trials), summed in log space so large tables do not overflow.
    let lo = base_trials.saturating_sub(fails);
    let hi = base_trials.min(passes);
    let log_p = |x: u64| {
        ln_choose(passes, x) + ln_choose(fails, base_trials - x) - ln_choose(total, base_trials)
    };
    let tail: f64 = (base_passed.max(lo)..=hi).map(|x| log_p(x).exp()).sum();
    tail.min(1.0)
}

/// ln C(n, k).
fn ln_choose(n: u64, k: u64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// ln n!, summed exactly up to 256 and by Stirling's series beyond (error < 1e-12).
fn ln_factorial(n: u64) -> f64 {
    if n <= 256 {
        return (2..=n).map(|i| (i as f64).ln()).sum();
    }
    let n = n as f64;
    n * n.ln() - n + 0.5 * (2.0 * std::f64::consts::PI * n).ln() + 1.0 / (12.0 * n)
        - 1.0 / (360.0 * n * n * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn wilson_matches_the_textbook_values() {
        // 8 of 10: (0.4902, 0.9433), as tabulated (Newcombe 1998, method 3).
        let (lo, hi) = wilson_interval(8, 10);
        assert!((lo - 0.490_161).abs() < 1e-5, "{lo}");
        assert!((hi - 0.943_318).abs() < 1e-5, "{hi}");
        // All passed still leaves room below 1; none passed room above 0.
        let (lo, hi) = wilson_interval(5, 5);
        assert!((lo - 0.565_518).abs() < 1e-5 && close(hi, 1.0), "{lo} {hi}");
        let (lo, hi) = wilson_interval(0, 5);
        assert!(close(lo, 0.0) && (hi - 0.434_482).abs() < 1e-5, "{lo} {hi}");
        // One trial says little.
        let (lo, hi) = wilson_interval(1, 1);
        assert!((lo - 0.206_549).abs() < 1e-5 && close(hi, 1.0));
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }

    #[test]
    fn fisher_matches_scipy() {
        // scipy.stats.fisher_exact([[3, 1], [1, 3]], alternative="greater") == 17/70
        assert!(close(fisher_drop_p_value(3, 1, 1, 3), 17.0 / 70.0));
        // fisher_exact([[8, 2], [1, 5]], "greater") == 0.024475524475524476
        assert!(close(
            fisher_drop_p_value(8, 2, 1, 5),
            0.024_475_524_475_524_476
        ));
        // fisher_exact([[10, 0], [5, 5]], "greater") == 0.016253869969040248
        assert!(close(
            fisher_drop_p_value(10, 0, 5, 5),
            0.016_253_869_969_040_248
        ));
        // fisher_exact([[9, 1], [8, 2]], "greater") == 0.5
        assert!(close(fisher_drop_p_value(9, 1, 8, 2), 0.5));
        // fisher_exact([[20, 0], [10, 10]], "greater") == 0.00021795989537925023
        assert!(close(
            fisher_drop_p_value(20, 0, 10, 10),
            0.000_217_959_895_379_250_23
        ));
    }

    #[test]
    fn fisher_edges() {
        // No drop at all, or a rise: nothing to see.
        assert!(close(
            fisher_drop_p_value(5, 5, 5, 5),
            fisher_drop_p_value(5, 5, 5, 5)
        ));
        assert!(fisher_drop_p_value(2, 8, 9, 1) > 0.99);
        // Everything passed (or failed) on both sides: p = 1.
        assert!(close(fisher_drop_p_value(4, 0, 4, 0), 1.0));
        assert!(close(fisher_drop_p_value(0, 4, 0, 4), 1.0));
        // One trial each, pass -> fail: 0.5, never significant at 0.05.
        assert!(close(fisher_drop_p_value(1, 0, 0, 1), 0.5));
        // Large tables stay finite and tiny for a big drop.
        let p = fisher_drop_p_value(1000, 0, 0, 1000);
        assert!(p.is_finite() && p < 1e-100);
        let p = fisher_drop_p_value(500, 500, 500, 500);
        assert!(p > 0.4 && p < 0.6, "{p}");
    }
}
