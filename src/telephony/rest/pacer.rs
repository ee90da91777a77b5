//! Spacing of call creation to the account's calls-per-second limit, shared by all tasks.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Hands out start times at least `interval` apart, in the order tasks ask.
///
/// Each caller reserves the next free slot under the lock and then sleeps outside it,
/// so concurrent callers queue without holding the lock while they wait.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next_slot: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer allowing `per_second` starts per second (must be positive and finite).
    pub fn new(per_second: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next_slot: Mutex::new(None),
        }
    }

    /// Waits for this caller's slot. The first caller goes at once.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}
