//! The sequencer's state machine: which step runs next in which round, given the saved
//! progress, --from / --only, and the outcomes so far. It knows nothing of processes or
//! Python; the session feeds it outcomes and persists its state.

use super::state::SavedState;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Passed,
    Failed,
    Skipped,
    Errored,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Passed => "passed",
            StepOutcome::Failed => "failed",
            StepOutcome::Skipped => "skipped",
            StepOutcome::Errored => "errored",
        }
    }

    pub fn parse(s: &str) -> Option<StepOutcome> {
        Some(match s {
            "passed" => StepOutcome::Passed,
            "failed" => StepOutcome::Failed,
            "skipped" => StepOutcome::Skipped,
            "errored" => StepOutcome::Errored,
            _ => return None,
        })
    }

    /// Counts as done: a rerun does not repeat it.
    pub fn completes(self) -> bool {
        matches!(self, StepOutcome::Passed | StepOutcome::Skipped)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub index: usize,
    pub round: u32,
}

pub struct Sequencer {
    steps: Vec<String>,
    max_rounds: u32,
    only: Option<Vec<String>>,
    continue_on_failure: bool,
    pub state: SavedState,
    cursor: usize,
    failed: bool,
}

impl Sequencer {
    /// `from`: steps before it in the current round count as done, it and those after it
    /// run (again). Names were checked by the caller.
    pub fn new(
        steps: Vec<String>,
        max_rounds: u32,
        mut state: SavedState,
        from: Option<&str>,
        only: Option<Vec<String>>,
        continue_on_failure: bool,
    ) -> Sequencer {
        if let Some(from) = from {
            let at = steps.iter().position(|s| s == from).unwrap_or(0);
            state.completed = steps[..at].to_vec();
            state.finished = false;
        }
        if state.round > max_rounds {
            state.round = max_rounds;
        }
        Sequencer {
            steps,
            max_rounds,
            only,
            continue_on_failure,
            state,
            cursor: 0,
            failed: false,
        }
    }

    /// The next step to run, or None when the sequence is finished or stopped.
    pub fn next_step(&mut self) -> Option<Next> {
        loop {
            if self.state.finished || (self.failed && !self.continue_on_failure) {
                return None;
            }
            while self.cursor < self.steps.len() {
                let name = &self.steps[self.cursor];
                let wanted = self.only.as_ref().is_none_or(|only| only.contains(name));
                if wanted && !self.state.completed.contains(name) {
                    return Some(Next {
                        index: self.cursor,
                        round: self.state.round,
                    });
                }
                self.cursor += 1;
            }
            // End of the round's list: a round with a step not done (failed, or left out
            // by --only) ends the run here; the next run resumes in this round.
            if self.steps.iter().any(|s| !self.state.completed.contains(s)) {
                return None;
            }
            if self.state.round >= self.max_rounds {
                self.state.finished = true;
                return None;
            }
            // The finished round's state stays readable (prometheus-test keeps every round's).
            let finished = std::mem::take(&mut self.state.round_state);
            self.state
                .rounds
                .insert(self.state.round.to_string(), Value::Object(finished));
            self.state.round += 1;
            self.state.completed.clear();
            self.cursor = 0;
        }
    }

    /// Records how the step `next` returned ended.
    pub fn finish(&mut self, next: Next, outcome: StepOutcome, at: f64) {
        let name = self.steps[next.index].clone();
        if outcome.completes() {
            if !self.state.completed.contains(&name) {
                self.state.completed.push(name.clone());
            }
        } else {
            self.failed = true;
        }
        self.state.history.push(serde_json::json!({
            "round": next.round, "step": name, "outcome": outcome.as_str(), "at": at,
        }));
        self.cursor = next.index + 1;
    }

    pub fn max_rounds(&self) -> u32 {
        self.max_rounds
    }

    /// The number of rounds, once known (prometheus-test counts them from a collection).
    pub fn set_max_rounds(&mut self, max_rounds: u32) {
        self.max_rounds = max_rounds.max(1);
        self.state.round = self.state.round.min(self.max_rounds);
    }

    /// A step failed or errored in this run.
    pub fn failed(&self) -> bool {
        self.failed
    }

    pub fn set_states(
        &mut self,
        round_state: Map<String, Value>,
        global_state: Map<String, Value>,
    ) {
        self.state.round_state = round_state;
        self.state.global_state = global_state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::state::{Fingerprint, SavedState};

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn fresh() -> SavedState {
        SavedState::fresh(Fingerprint {
            steps: vec![],
            config: Map::new(),
        })
    }

    /// Runs the sequencer, failing the steps in `fail` (as "step#round"); returns the order.
    fn drive(seq: &mut Sequencer, fail: &[&str]) -> Vec<String> {
        let mut ran = vec![];
        while let Some(next) = seq.next_step() {
            let label = format!("{}#{}", seq.steps[next.index], next.round);
            let outcome = if fail.contains(&label.as_str()) {
                StepOutcome::Failed
            } else {
                StepOutcome::Passed
            };
            ran.push(label);
            seq.finish(next, outcome, 0.0);
        }
        ran
    }

    #[test]
    fn rounds_run_every_step_in_order_and_round_state_is_cleared() {
        let mut seq = Sequencer::new(names(&["a", "b"]), 2, fresh(), None, None, false);
        let first = seq.next_step().unwrap();
        seq.state.round_state.insert("x".into(), Value::from(1));
        seq.finish(first, StepOutcome::Passed, 0.0);
        let rest = drive(&mut seq, &[]);
        assert_eq!(rest, ["b#1", "a#2", "b#2"]);
        assert!(seq.state.finished);
        assert!(seq.state.round_state.is_empty());
        // Each finished round's state is kept by its number.
        assert_eq!(seq.state.rounds["1"]["x"], Value::from(1));
        assert!(!seq.failed());
    }

    #[test]
    fn a_failure_stops_the_run_and_a_rerun_resumes_at_the_failed_step() {
        let mut seq = Sequencer::new(names(&["a", "b", "c"]), 2, fresh(), None, None, false);
        assert_eq!(
            drive(&mut seq, &["b#2"]),
            ["a#1", "b#1", "c#1", "a#2", "b#2"]
        );
        assert!(seq.failed() && !seq.state.finished);
        assert_eq!(
            (seq.state.round, seq.state.completed.clone()),
            (2, names(&["a"]))
        );
        let mut again = Sequencer::new(
            names(&["a", "b", "c"]),
            2,
            seq.state.clone(),
            None,
            None,
            false,
        );
        assert_eq!(drive(&mut again, &[]), ["b#2", "c#2"]);
        assert!(again.state.finished);
    }

    #[test]
    fn continue_on_failure_finishes_the_round_but_not_the_next() {
        let mut seq = Sequencer::new(names(&["a", "b", "c"]), 2, fresh(), None, None, true);
        assert_eq!(drive(&mut seq, &["a#1"]), ["a#1", "b#1", "c#1"]);
        assert_eq!(seq.state.completed, names(&["b", "c"]));
        let mut again = Sequencer::new(
            names(&["a", "b", "c"]),
            2,
            seq.state.clone(),
            None,
            None,
            false,
        );
        assert_eq!(drive(&mut again, &[]), ["a#1", "a#2", "b#2", "c#2"]);
    }

    #[test]
    fn skipped_counts_as_done_and_errored_does_not() {
        let mut seq = Sequencer::new(names(&["a", "b"]), 1, fresh(), None, None, false);
        let n = seq.next_step().unwrap();
        seq.finish(n, StepOutcome::Skipped, 0.0);
        let n = seq.next_step().unwrap();
        seq.finish(n, StepOutcome::Errored, 0.0);
        assert_eq!(seq.next_step(), None);
        assert_eq!(seq.state.completed, names(&["a"]));
        assert_eq!(seq.state.history.len(), 2);
        assert_eq!(seq.state.history[1]["outcome"], "errored");
    }

    #[test]
    fn from_and_only() {
        let mut seq = Sequencer::new(names(&["a", "b", "c"]), 2, fresh(), Some("b"), None, false);
        assert_eq!(drive(&mut seq, &[]), ["b#1", "c#1", "a#2", "b#2", "c#2"]);
        let mut seq = Sequencer::new(
            names(&["a", "b", "c"]),
            2,
            fresh(),
            None,
            Some(names(&["c"])),
            false,
        );
        assert_eq!(drive(&mut seq, &[]), ["c#1"]);
        assert!(!seq.state.finished, "steps left out by --only are not done");
    }

    #[test]
    fn a_finished_state_runs_nothing() {
        let mut state = fresh();
        state.finished = true;
        let mut seq = Sequencer::new(names(&["a"]), 1, state, None, None, false);
        assert_eq!(seq.next_step(), None);
    }
}
