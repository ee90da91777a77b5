//! What a suite's callers report while it runs, and what the scheduler must do about it:
//! rate limits and successes (adaptive concurrency per callee: fn is callee 0, evaluator
//! i is callee 1 + i), token usage against the run's budget, and a stop (quota exhausted:
//! at once; budget exhausted: no new case starts).
//!
//! Callers (fn and evaluators, on any thread) report; the driver polls `changes` when it
//! schedules, which costs one atomic load while nothing changed.

use super::aimd::Aimd;
use super::budget::Budget;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Cancel what runs and start nothing more (an exhausted quota: every call would fail).
    Now(String),
    /// Start no new case; what runs finishes (a budget used up: finished work is paid for).
    Drain(String),
}

impl Stop {
    pub fn reason(&self) -> &str {
        match self {
            Stop::Now(r) | Stop::Drain(r) => r,
        }
    }
}

/// What the driver must apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// Current limit per callee.
    pub limits: Vec<usize>,
    pub stop: Option<Stop>,
}

#[derive(Debug)]
struct State {
    /// Per callee; None where concurrency is not adaptive.
    aimd: Vec<Option<Aimd>>,
    budget: Budget,
    stop: Option<Stop>,
    /// Rate limits reported, per callee.
    rate_limits: Vec<u64>,
}

#[derive(Debug)]
pub struct SuiteLimits {
    state: Mutex<State>,
    changed: AtomicBool,
}

impl SuiteLimits {
    /// `maxima`: the user's limit per callee (fn first). `adaptive`: whether rate limits
    /// shrink them.
    pub fn new(maxima: &[usize], adaptive: bool, budget: Budget) -> SuiteLimits {
        SuiteLimits {
            state: Mutex::new(State {
                aimd: maxima
                    .iter()
                    .map(|&m| adaptive.then(|| Aimd::new(m)))
                    .collect(),
                budget,
                stop: None,
                rate_limits: vec![0; maxima.len()],
            }),
            changed: AtomicBool::new(false),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The epoch of callee's limit, to hand back with a rate limit.
    pub fn epoch(&self, callee: usize) -> u64 {
        self.state().aimd[callee].as_ref().map_or(0, Aimd::epoch)
    }

    pub fn rate_limited(&self, callee: usize, epoch: u64) {
        let mut s = self.state();
        s.rate_limits[callee] += 1;
        if let Some(a) = s.aimd[callee].as_mut() {
            if a.rate_limited(epoch) {
                self.changed.store(true, Ordering::Release);
            }
        }
    }

    pub fn succeeded(&self, callee: usize) {
        if let Some(a) = self.state().aimd[callee].as_mut() {
            if a.succeeded() {
                self.changed.store(true, Ordering::Release);
            }
        }
    }

    /// The current limit of callee (its maximum when not adaptive: None).
    pub fn limit(&self, callee: usize) -> Option<usize> {
        self.state().aimd[callee].as_ref().map(Aimd::limit)
    }

    pub fn rate_limits(&self) -> Vec<u64> {
        self.state().rate_limits.clone()
    }

    /// Counts usage; once the budget is used up the suite drains. An error (unpriced
    /// model under a max_cost) is for the caller to raise.
    pub fn usage(&self, model: Option<&str>, input: u64, output: u64) -> Result<(), String> {
        let mut s = self.state();
        let counted = s.budget.add(model, input, output);
        if s.stop.is_none() {
            if let Some(reason) = s.budget.exhausted() {
                s.stop = Some(Stop::Drain(reason));
                self.changed.store(true, Ordering::Release);
            }
        }
        counted
    }

    /// (tokens, cost) used so far.
    pub fn used(&self) -> (u64, f64) {
        let s = self.state();
        (s.budget.tokens, s.budget.cost)
    }

    /// Stops the suite at once (the first stop wins; a drain becomes a stop now).
    pub fn stop_now(&self, reason: String) {
        let mut s = self.state();
        if !matches!(s.stop, Some(Stop::Now(_))) {
            s.stop = Some(Stop::Now(reason));
            self.changed.store(true, Ordering::Release);
        }
    }

    pub fn stop(&self) -> Option<Stop> {
        self.state().stop.clone()
    }

    /// What changed since the last call, if anything.
    pub fn changes(&self) -> Option<Changes> {
        if !self.changed.swap(false, Ordering::AcqRel) {
            return None;
        }
        let s = self.state();
        Some(Changes {
            limits: s
                .aimd
                .iter()
                .map(|a| a.as_ref().map_or(usize::MAX, Aimd::limit))
                .collect(),
            stop: s.stop.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_reach_the_driver_once() {
        let l = SuiteLimits::new(&[8, 2], true, Budget::default());
        assert_eq!(l.changes(), None);
        l.rate_limited(0, l.epoch(0));
        let c = l.changes().unwrap();
        assert_eq!(c.limits, vec![6, 2]); // a quarter off
        assert_eq!(c.stop, None);
        assert_eq!(l.changes(), None, "nothing new");
        l.rate_limited(1, 0);
        assert_eq!(l.changes().unwrap().limits, vec![6, 1]);
        assert_eq!(l.rate_limits(), vec![1, 1]);
    }

    #[test]
    fn without_adaptive_concurrency_limits_stay() {
        let l = SuiteLimits::new(&[8], false, Budget::default());
        l.rate_limited(0, 0);
        assert_eq!(l.changes(), None);
        assert_eq!(l.limit(0), None);
        assert_eq!(l.rate_limits(), vec![1]);
    }

    #[test]
    fn a_used_up_budget_drains_and_a_quota_stops_at_once() {
        let budget = Budget {
            max_tokens: Some(100),
            ..Default::default()
        };
        let l = SuiteLimits::new(&[4], false, budget);
        l.usage(None, 60, 0).unwrap();
        assert_eq!(l.changes(), None);
        l.usage(None, 30, 20).unwrap();
        let stop = l.changes().unwrap().stop.unwrap();
        assert!(matches!(&stop, Stop::Drain(r) if r.starts_with("budget exhausted")));
        l.stop_now("quota exhausted".into());
        assert_eq!(
            l.changes().unwrap().stop,
            Some(Stop::Now("quota exhausted".into()))
        );
        l.stop_now("again".into());
        assert_eq!(l.changes(), None, "the first stop now stands");
        assert_eq!(l.used(), (110, 0.0));
    }
}
