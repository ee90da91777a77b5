//! Running counts of a suite's outcomes, per evaluator and overall: what the progress bar,
//! the summary and the result object's totals show.

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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub cases: u64,
    pub cases_done: u64,
    pub cases_errored: u64,
    pub evaluators: Vec<EvaluatorTally>,
    /// Attempts of fn and evaluators retried after a rate limit (not failures).
    pub retries: u64,
    /// Cases whose fn was retried.
    pub cases_retried: u64,
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
        self.cases_errored
            + self
                .evaluators
                .iter()
                .map(|e| e.failed + e.errored)
                .sum::<u64>()
    }

    /// Every case ran without error and no evaluation failed or errored.
    pub fn passed(&self) -> bool {
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
