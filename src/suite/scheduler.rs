//! Which piece of work starts next. An item is one (grid combination x test case); its
//! fn call goes first, then the before-evaluators hook if the suite has one, then each
//! evaluator on its output. One limit bounds fn calls (with their hooks, which run in the
//! call's slot) across the whole suite; each evaluator has its own limit across the suite.
//!
//! The scheduler is a plain state machine: the driver asks for jobs, runs them however
//! it likes (tasks on an event loop, threads) and reports back when each finishes.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// Run fn on item.
    Call { item: usize },
    /// Run the before-evaluators hook on item's output (in the slot of its call).
    Hook { item: usize },
    /// Run evaluator `evaluator` on item's output.
    Evaluate { item: usize, evaluator: usize },
}

/// One evaluator's queue of items waiting for it and its in-flight count.
#[derive(Debug)]
struct Lane {
    limit: usize,
    running: usize,
    waiting: VecDeque<usize>,
}

#[derive(Debug)]
pub struct Scheduler {
    items: usize,
    next_item: usize,
    call_limit: usize,
    calls_running: usize,
    lanes: Vec<Lane>,
    /// Whether a hook follows each successful call.
    hook: bool,
    /// Items whose call succeeded and whose hook waits to start (each holds its call slot).
    hooks_ready: VecDeque<usize>,
    /// Evaluations not yet finished, per item (only meaningful after its call succeeded).
    evaluations_left: Vec<u32>,
    /// Items never to be called (finished by an earlier run that is resumed).
    skipped: Vec<bool>,
    stopped: bool,
}

impl Scheduler {
    pub fn new(items: usize, call_limit: usize, evaluator_limits: &[usize]) -> Scheduler {
        assert!(call_limit > 0 && evaluator_limits.iter().all(|&l| l > 0));
        Scheduler {
            items,
            next_item: 0,
            call_limit,
            calls_running: 0,
            lanes: evaluator_limits
                .iter()
                .map(|&limit| Lane {
                    limit,
                    running: 0,
                    waiting: VecDeque::new(),
                })
                .collect(),
            hook: false,
            hooks_ready: VecDeque::new(),
            evaluations_left: vec![0; items],
            skipped: vec![false; items],
            stopped: false,
        }
    }

    /// `item` is never called: it finished in an earlier run (resume).
    pub fn skip(&mut self, item: usize) {
        self.skipped[item] = true;
        self.pass_skipped();
    }

    /// Moves the next call past skipped items, so `next_item` always names one to call.
    fn pass_skipped(&mut self) {
        while self.next_item < self.items && self.skipped[self.next_item] {
            self.next_item += 1;
        }
    }

    /// The next item to call, when the call limit allows one.
    fn next_call(&mut self) -> Option<Job> {
        if self.calls_running < self.call_limit && self.next_item < self.items {
            let item = self.next_item;
            self.next_item += 1;
            self.pass_skipped();
            self.calls_running += 1;
            return Some(Job::Call { item });
        }
        None
    }

    /// A hook runs after each successful call, before the item's evaluations.
    pub fn with_hook(mut self) -> Scheduler {
        self.hook = true;
        self
    }

    /// The next job that fits within the limits, marked as running. Evaluations come
    /// first so that finished outputs drain before new calls pile up more.
    pub fn next_job(&mut self) -> Option<Job> {
        if self.stopped {
            return None;
        }
        if let Some(item) = self.hooks_ready.pop_front() {
            return Some(Job::Hook { item });
        }
        for (evaluator, lane) in self.lanes.iter_mut().enumerate() {
            if lane.running < lane.limit {
                if let Some(item) = lane.waiting.pop_front() {
                    lane.running += 1;
                    return Some(Job::Evaluate { item, evaluator });
                }
            }
        }
        self.next_call()
    }

    /// Like `next_job`, but a job of the same kind as `like` (another fn call, or the
    /// same evaluator) comes first when one fits: a carrier that just finished a job
    /// keeps its lane busy without waiting for a new task.
    pub fn next_job_like(&mut self, like: Job) -> Option<Job> {
        if self.stopped {
            return None;
        }
        match like {
            Job::Call { .. } => {
                if let Some(job) = self.next_call() {
                    return Some(job);
                }
            }
            Job::Hook { .. } => {}
            Job::Evaluate { evaluator, .. } => {
                let lane = &mut self.lanes[evaluator];
                if lane.running < lane.limit {
                    if let Some(item) = lane.waiting.pop_front() {
                        lane.running += 1;
                        return Some(Job::Evaluate { item, evaluator });
                    }
                }
            }
        }
        self.next_job()
    }

    /// fn finished on `item`. Returns true when the item is complete (fn failed, or
    /// there is no hook and no evaluator); otherwise its hook (keeping the call's slot)
    /// or its evaluations are queued.
    pub fn call_finished(&mut self, item: usize, succeeded: bool) -> bool {
        if succeeded && self.hook && !self.stopped {
            self.hooks_ready.push_back(item);
            return false;
        }
        self.hook_finished(item, succeeded)
    }

    /// The hook finished on `item` (or fn did, without a hook): the call's slot is free.
    /// Returns true when the item is complete; otherwise its evaluations are queued.
    pub fn hook_finished(&mut self, item: usize, succeeded: bool) -> bool {
        debug_assert!(self.calls_running > 0);
        self.calls_running -= 1;
        if !succeeded || self.lanes.is_empty() || self.stopped {
            return true;
        }
        self.evaluations_left[item] = self.lanes.len() as u32;
        for lane in &mut self.lanes {
            lane.waiting.push_back(item);
        }
        false
    }

    /// An evaluation finished. Returns true when it was the item's last one.
    pub fn evaluation_finished(&mut self, item: usize, evaluator: usize) -> bool {
        let lane = &mut self.lanes[evaluator];
        debug_assert!(lane.running > 0);
        lane.running -= 1;
        let left = &mut self.evaluations_left[item];
        *left -= 1;
        *left == 0
    }

    /// One more item after the others (a re-run of a failing case): its call is queued
    /// behind every call not yet started. Returns its index; nothing once stopped.
    pub fn add_item(&mut self) -> Option<usize> {
        if self.stopped {
            return None;
        }
        self.items += 1;
        self.evaluations_left.push(0);
        self.skipped.push(false);
        Some(self.items - 1)
    }

    /// Start nothing more: queued work is dropped, running work is left to finish
    /// (or to be cancelled by the driver, which still reports it finished).
    pub fn stop(&mut self) {
        self.stopped = true;
        // Hooks not started give back the slots their calls held.
        self.calls_running -= self.hooks_ready.len();
        self.hooks_ready.clear();
        for lane in &mut self.lanes {
            // Each dropped evaluation no longer counts; running ones still report back.
            for item in lane.waiting.drain(..) {
                self.evaluations_left[item] -= 1;
            }
        }
    }

    /// Changes the limit on fn calls (adaptive concurrency). Calls above a lowered limit
    /// run on; no new one starts until the count is under it.
    pub fn set_call_limit(&mut self, limit: usize) {
        self.call_limit = limit.max(1);
    }

    /// Changes evaluator `evaluator`'s limit, as `set_call_limit`.
    pub fn set_evaluator_limit(&mut self, evaluator: usize, limit: usize) {
        self.lanes[evaluator].limit = limit.max(1);
    }

    /// Start no new fn call; what was called finishes, evaluations included. Returns how
    /// many items will never be called.
    pub fn stop_calls(&mut self) -> usize {
        let left = self.items - self.next_item;
        self.next_item = self.items;
        left
    }

    pub fn running(&self) -> usize {
        self.calls_running + self.lanes.iter().map(|l| l.running).sum::<usize>()
    }

    /// Nothing running and nothing left to start.
    pub fn is_done(&self) -> bool {
        self.running() == 0
            && (self.stopped
                || (self.next_item == self.items
                    && self.hooks_ready.is_empty()
                    && self.lanes.iter().all(|l| l.waiting.is_empty())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the scheduler to the end, finishing jobs in FIFO order, and checks limits.
    fn drive(
        items: usize,
        call_limit: usize,
        limits: &[usize],
        fail: impl Fn(usize) -> bool,
    ) -> Vec<Job> {
        drive_with(
            Scheduler::new(items, call_limit, limits),
            call_limit,
            limits,
            fail,
        )
    }

    fn drive_with(
        mut s: Scheduler,
        call_limit: usize,
        limits: &[usize],
        fail: impl Fn(usize) -> bool,
    ) -> Vec<Job> {
        let mut running: VecDeque<Job> = VecDeque::new();
        let mut log = vec![];
        loop {
            while let Some(job) = s.next_job() {
                running.push_back(job);
                log.push(job);
                let calls = running
                    .iter()
                    .filter(|j| matches!(j, Job::Call { .. } | Job::Hook { .. }))
                    .count();
                assert!(calls <= call_limit);
                for (e, &limit) in limits.iter().enumerate() {
                    let n = running
                        .iter()
                        .filter(|j| matches!(j, Job::Evaluate { evaluator, .. } if *evaluator == e))
                        .count();
                    assert!(n <= limit);
                }
            }
            match running.pop_front() {
                Some(Job::Call { item }) => {
                    s.call_finished(item, !fail(item));
                }
                Some(Job::Hook { item }) => {
                    s.hook_finished(item, true);
                }
                Some(Job::Evaluate { item, evaluator }) => {
                    s.evaluation_finished(item, evaluator);
                }
                None => break,
            }
        }
        assert!(s.is_done());
        log
    }

    #[test]
    fn every_item_called_and_evaluated_once_within_limits() {
        let log = drive(100, 7, &[3, 1], |_| false);
        assert_eq!(
            log.iter().filter(|j| matches!(j, Job::Call { .. })).count(),
            100
        );
        assert_eq!(
            log.iter()
                .filter(|j| matches!(j, Job::Evaluate { .. }))
                .count(),
            200
        );
    }

    #[test]
    fn a_hook_follows_each_successful_call_in_its_slot_before_the_evaluations() {
        let s = Scheduler::new(20, 3, &[2, 1]).with_hook();
        let log = drive_with(s, 3, &[2, 1], |item| item % 5 == 0);
        let hooks: Vec<usize> = log
            .iter()
            .filter_map(|j| match j {
                Job::Hook { item } => Some(*item),
                _ => None,
            })
            .collect();
        assert_eq!(hooks.len(), 16); // not after the 4 failed calls
        assert!(hooks.iter().all(|item| item % 5 != 0));
        for (i, job) in log.iter().enumerate() {
            if let Job::Evaluate { item, .. } = job {
                let hook = log.iter().position(|j| *j == Job::Hook { item: *item });
                assert!(
                    hook.is_some_and(|h| h < i),
                    "evaluation of {item} before its hook"
                );
            }
        }
    }

    #[test]
    fn stopping_gives_back_the_slots_of_hooks_not_started() {
        let mut s = Scheduler::new(3, 2, &[1]).with_hook();
        assert_eq!(s.next_job(), Some(Job::Call { item: 0 }));
        assert_eq!(s.next_job(), Some(Job::Call { item: 1 }));
        assert!(!s.call_finished(0, true));
        s.stop();
        assert_eq!(s.next_job(), None);
        assert!(
            s.call_finished(1, true),
            "a call after the stop completes its item"
        );
        assert!(s.is_done());
    }

    #[test]
    fn failed_calls_skip_their_evaluators() {
        let log = drive(10, 2, &[2], |item| item % 2 == 0);
        let evals: Vec<usize> = log
            .iter()
            .filter_map(|j| match j {
                Job::Evaluate { item, .. } => Some(*item),
                _ => None,
            })
            .collect();
        assert_eq!(evals, vec![1, 3, 5, 7, 9]);
    }

    #[test]
    fn item_completes_with_its_last_evaluation() {
        let mut s = Scheduler::new(1, 1, &[1, 1]);
        assert_eq!(s.next_job(), Some(Job::Call { item: 0 }));
        assert!(!s.call_finished(0, true));
        assert_eq!(
            s.next_job(),
            Some(Job::Evaluate {
                item: 0,
                evaluator: 0
            })
        );
        assert_eq!(
            s.next_job(),
            Some(Job::Evaluate {
                item: 0,
                evaluator: 1
            })
        );
        assert!(!s.evaluation_finished(0, 1));
        assert!(s.evaluation_finished(0, 0));
        assert!(s.is_done());
    }

    #[test]
    fn next_job_like_prefers_the_same_kind() {
        let fresh = || {
            let mut s = Scheduler::new(3, 1, &[2]);
            assert_eq!(s.next_job(), Some(Job::Call { item: 0 }));
            s.call_finished(0, true); // queues an evaluation of item 0
            s
        };
        // plain order: evaluations first
        assert_eq!(
            fresh().next_job(),
            Some(Job::Evaluate {
                item: 0,
                evaluator: 0
            })
        );
        // after a call, another call first; then, with no call slot left, the rest
        let mut s = fresh();
        assert_eq!(
            s.next_job_like(Job::Call { item: 0 }),
            Some(Job::Call { item: 1 })
        );
        assert_eq!(
            s.next_job_like(Job::Call { item: 1 }),
            Some(Job::Evaluate {
                item: 0,
                evaluator: 0
            })
        );
    }

    #[test]
    fn an_added_item_runs_after_the_others_and_not_after_a_stop() {
        let mut s = Scheduler::new(1, 1, &[1]);
        assert_eq!(s.next_job(), Some(Job::Call { item: 0 }));
        assert!(!s.call_finished(0, true));
        assert_eq!(s.add_item(), Some(1));
        assert!(!s.is_done());
        assert_eq!(
            s.next_job(),
            Some(Job::Evaluate {
                item: 0,
                evaluator: 0
            })
        );
        assert_eq!(s.next_job(), Some(Job::Call { item: 1 }));
        assert!(s.evaluation_finished(0, 0));
        assert!(!s.call_finished(1, true));
        assert_eq!(
            s.next_job(),
            Some(Job::Evaluate {
                item: 1,
                evaluator: 0
            })
        );
        assert!(s.evaluation_finished(1, 0));
        assert!(s.is_done());
        s.stop();
        assert_eq!(s.add_item(), None);
    }

    #[test]
    fn a_lowered_call_limit_holds_back_new_calls_until_under_it() {
        let mut s = Scheduler::new(10, 4, &[]);
        for item in 0..4 {
            assert_eq!(s.next_job(), Some(Job::Call { item }));
        }
        s.set_call_limit(2);
        s.call_finished(0, true);
        assert_eq!(s.next_job(), None, "3 running, limit 2");
        s.call_finished(1, true);
        assert_eq!(s.next_job(), None, "2 running, limit 2");
        s.call_finished(2, true);
        assert_eq!(s.next_job(), Some(Job::Call { item: 4 }));
        s.set_call_limit(0); // never below one
        s.call_finished(3, true);
        s.call_finished(4, true);
        assert_eq!(s.next_job(), Some(Job::Call { item: 5 }));
    }

    #[test]
    fn stopping_calls_lets_started_items_finish_their_evaluations() {
        let mut s = Scheduler::new(5, 2, &[1]);
        assert_eq!(s.next_job(), Some(Job::Call { item: 0 }));
        assert_eq!(s.next_job(), Some(Job::Call { item: 1 }));
        assert_eq!(s.stop_calls(), 3);
        assert!(!s.call_finished(0, true));
        assert_eq!(
            s.next_job(),
            Some(Job::Evaluate {
                item: 0,
                evaluator: 0
            })
        );
        assert!(s.evaluation_finished(0, 0));
        assert!(!s.call_finished(1, true));
        assert_eq!(
            s.next_job(),
            Some(Job::Evaluate {
                item: 1,
                evaluator: 0
            })
        );
        assert!(s.evaluation_finished(1, 0));
        assert_eq!(s.next_job(), None);
        assert!(s.is_done());
    }

    #[test]
    fn no_evaluators_completes_on_call() {
        let mut s = Scheduler::new(2, 5, &[]);
        assert!(matches!(s.next_job(), Some(Job::Call { item: 0 })));
        assert!(s.call_finished(0, true));
    }

    #[test]
    fn stop_with_an_item_half_evaluated_keeps_counts_straight() {
        // evaluator 0 runs on item 0 while evaluator 1's turn on it is still queued
        let mut s = Scheduler::new(1, 1, &[1, 1]);
        s.next_job();
        s.call_finished(0, true);
        s.lanes[1].running = 1; // evaluator 1 busy elsewhere, so item 0 waits in its lane
        assert_eq!(
            s.next_job(),
            Some(Job::Evaluate {
                item: 0,
                evaluator: 0
            })
        );
        assert_eq!(s.next_job(), None);
        s.stop();
        assert!(
            s.evaluation_finished(0, 0),
            "the running evaluation was the item's last"
        );
        s.lanes[1].running = 0;
        assert!(s.is_done());
    }

    #[test]
    fn stop_drops_queued_work_and_waits_for_running() {
        let mut s = Scheduler::new(10, 2, &[1]);
        let a = s.next_job().unwrap();
        let b = s.next_job().unwrap();
        assert_eq!(s.next_job(), None);
        s.call_finished(0, true); // queues an evaluation
        s.stop();
        assert_eq!(s.next_job(), None);
        assert!(!s.is_done()); // b still running
        assert_eq!((a, b), (Job::Call { item: 0 }, Job::Call { item: 1 }));
        s.call_finished(1, true);
        assert!(s.is_done());
    }

    #[test]
    fn skipped_items_are_never_called_even_last_ones() {
        let mut s = Scheduler::new(6, 2, &[1]);
        for item in [0, 2, 3, 5] {
            s.skip(item);
        }
        let log = drive_with(s, 2, &[1], |_| false);
        let calls: Vec<usize> = log
            .iter()
            .filter_map(|j| match j {
                Job::Call { item } => Some(*item),
                _ => None,
            })
            .collect();
        assert_eq!(calls, vec![1, 4]);

        // All skipped: done at once, nothing to start.
        let mut s = Scheduler::new(2, 1, &[]);
        s.skip(1);
        s.skip(0);
        assert!(s.is_done());
        assert_eq!(s.next_job(), None);
    }
}
