//! Running counts of a suite's outcomes, per evaluator and overall: what the progress bar,
//! the summary and the result object's totals show.

use crate::evaluation::trials::Judgement;
use crate::evaluation::Verdict;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluatorTally {
    pub id: String,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub no_threshold: u64,
    score_sum: f64,
    scored: u64,
}

impl EvaluatorTally {
    pub fn new(id: &str) -> EvaluatorTally {
        EvaluatorTally {
            id: id.to_string(),
            ..Default::default()
        }
    }

    pub fn add(&mut self, verdict: Verdict, score: Option<f64>) {
        match verdict {
            Verdict::Passed => self.passed += 1,
            Verdict::Failed => self.failed += 1,
            Verdict::Errored => self.errored += 1,
            Verdict::NoThreshold => self.no_threshold += 1,
        }
        if let Some(s) = score {
            self.score_sum += s;
            self.scored += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.errored + self.no_threshold
    }

    pub fn mean_score(&self) -> Option<f64> {
        (self.scored > 0).then(|| self.score_sum / self.scored as f64)
    }
}

/// Case verdicts of a suite that runs several trials per case (repeats, or a policy that
/// re-runs failures). The counts above it then count trials.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseVerdicts {
    /// Cases (x grid combinations) in the suite.
    pub cases: u64,
    /// Cases judged so far, and of those the ones that did not fail (flaky included),
    /// the ones that failed, and the ones marked flaky (whatever their verdict).
    pub judged: u64,
    pub passed: u64,
    pub failed: u64,
    pub flaky: u64,
    /// The suite's trial plan in words, for the summary ("3 trials per case, majority").
    pub plan: String,
}

impl CaseVerdicts {
    pub fn add(&mut self, j: &Judgement) {
        self.judged += 1;
        if j.passed {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        if j.flaky {
            self.flaky += 1;
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Work items: cases x grid combinations, times trials when the suite repeats.
    pub cases: u64,
    pub cases_done: u64,
    pub cases_errored: u64,
    pub evaluators: Vec<EvaluatorTally>,
    /// Set when the suite judges cases over trials: failures are then cases that fail
    /// their policies, not failed trials.
    pub verdicts: Option<CaseVerdicts>,
    /// Attempts of fn and evaluators retried after a rate limit (not failures).
    pub retries: u64,
    /// Cases whose fn was retried.
    pub cases_retried: u64,
    /// Cases kept from the run this one resumed (not run again).
    pub cases_resumed: u64,
    /// fn calls answered from the cache, and outputs not cached because they could not
    /// be pickled.
    pub cache_hits: u64,
    pub cache_unpicklable: u64,
}

impl Tally {
    pub fn new(cases: u64, evaluator_ids: &[String]) -> Tally {
        Tally {
            cases,
            evaluators: evaluator_ids
                .iter()
                .map(|id| EvaluatorTally::new(id))
                .collect(),
            ..Default::default()
        }
    }

    pub fn failures(&self) -> u64 {
        if let Some(v) = &self.verdicts {
            return v.failed;
        }
        self.cases_errored
            + self
                .evaluators
                .iter()
                .map(|e| e.failed + e.errored)
                .sum::<u64>()
    }

    /// Every case ran without error and no evaluation failed or errored.
    pub fn passed(&self) -> bool {
        if let Some(v) = &self.verdicts {
            return v.failed == 0 && v.judged == v.cases && self.cases_done == self.cases;
        }
        self.failures() == 0 && self.cases_done == self.cases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_means() {
        let mut t = Tally::new(3, &["a".into()]);
        t.evaluators[0].add(Verdict::Passed, Some(1.0));
        t.evaluators[0].add(Verdict::Failed, Some(0.0));
        t.evaluators[0].add(Verdict::Errored, None);
        t.cases_done = 3;
        assert_eq!(t.evaluators[0].mean_score(), Some(0.5));
        assert_eq!(t.evaluators[0].total(), 3);
        assert_eq!(t.failures(), 2);
        assert!(!t.passed());
    }
}
