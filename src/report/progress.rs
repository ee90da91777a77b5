//! A progress bar on stderr: done/total, failures, rate, time taken and the estimated
//! time left (from the recent rate). Drawn only when asked for
//! (the caller decides: a terminal and not quiet); otherwise every call is a no-op.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    failures: u64,
}

impl Progress {
    pub fn new(label: &str, total: u64, visible: bool) -> Progress {
        let bar = visible.then(|| {
            // 10 redraws a second keeps the cost off the hot path at 100k+ cases/s.
            let bar =
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
            // wide_bar fills what the terminal has left, so the line never wraps.
            let style = ProgressStyle::with_template(
                "{prefix} [{wide_bar:.cyan/blue}] {pos}/{len} {msg} {rate} {elapsed} ETA {eta}",
            )
            .expect("static template")
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            bar.set_message("0 failing");
            bar
        });
        Progress { bar, failures: 0 }
    }

    /// One case finished (its fn and all its evaluations); `failed` if any part failed.
    pub fn case_done(&mut self, failed: bool) {
        if failed {
            self.failures += 1;
        }
        if let Some(bar) = &self.bar {
            if failed {
                bar.set_message(format!("{} failing", self.failures));
            }
            bar.inc(1);
        }
    }

    /// Cases that failed so far (counted whether or not the bar is drawn).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
