//! Verdicts over several trials of one case: the policies a suite or an evaluator can
//! choose, and the judgement of a case from its trials' outcomes. Pure: the suite driver
//! asks after each finished trial whether the case is decided or needs another run, and
//! the readers of stored runs (reports, compare) judge the same rows the same way.

use super::stats::wilson_interval;
use std::fmt;

/// How the trials of a case become one verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// pass^k: every trial passes.
    All,
    /// More than half of the trials pass.
    Majority,
    /// At least m trials pass.
    AtLeast(u32),
    /// Every trial passes, or else the case runs again, up to n more times: a case that
    /// then passes is flaky (not a failure), one that never does fails.
    ConfirmFailures(u32),
}

impl Policy {
    /// `all`, `majority`, `at_least(m)` or `confirm_failures(n)` (as Python's
    /// trialrun.verdicts writes them; spaces are allowed around the number).
    pub fn parse(text: &str) -> Result<Policy, String> {
        let number = |rest: &str, name: &str| -> Result<u32, String> {
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .map(str::trim)
                .ok_or_else(|| format!("{name} takes a number in parentheses, got {text:?}"))?;
            inner
                .parse::<u32>()
                .map_err(|_| format!("{name}(...) takes a whole number, got {text:?}"))
        };
        let text_trim = text.trim();
        if text_trim == "all" || text_trim == "all_trials" {
            return Ok(Policy::All);
        }
        if text_trim == "majority" {
            return Ok(Policy::Majority);
        }
        if let Some(rest) = text_trim.strip_prefix("at_least") {
            let m = number(rest.trim(), "at_least")?;
            if m == 0 {
                return Err("at_least(m) needs m >= 1".into());
            }
            return Ok(Policy::AtLeast(m));
        }
        if let Some(rest) = text_trim.strip_prefix("confirm_failures") {
            let n = number(rest.trim(), "confirm_failures")?;
            if n == 0 {
                return Err("confirm_failures(n) needs n >= 1".into());
            }
            return Ok(Policy::ConfirmFailures(n));
        }
        Err(format!(
            "unknown verdict policy {text:?}: expected \"all\", \"majority\", \
             \"at_least(m)\" or \"confirm_failures(n)\""
        ))
    }

    /// Whether the policy can be met with `repeats` trials per case.
    pub fn check(self, repeats: u32) -> Result<(), String> {
        match self {
            Policy::AtLeast(m) if m > repeats => Err(format!(
                "at_least({m}) can never pass with repeats={repeats}: a case runs {repeats} \
                 trial{}",
                if repeats == 1 { "" } else { "s" }
            )),
            _ => Ok(()),
        }
    }

    /// Re-runs a failing case may get.
    pub fn reruns(self) -> u32 {
        match self {
            Policy::ConfirmFailures(n) => n,
            _ => 0,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::All => f.write_str("all"),
            Policy::Majority => f.write_str("majority"),
            Policy::AtLeast(m) => write!(f, "at_least({m})"),
            Policy::ConfirmFailures(n) => write!(f, "confirm_failures({n})"),
        }
    }
}

/// One policy's word on one column of trials (an evaluator's, or the case's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Pass,
    /// Passed only on a re-run (confirm_failures).
    Rescued,
    Fail,
    /// confirm_failures wants another trial.
    Rerun,
}

/// `policy` on `passed[t]` (whether trial t passed), of which the first `repeats` are the
/// planned trials and the rest re-runs.
pub fn decide(policy: Policy, repeats: u32, passed: &[bool]) -> Decision {
    let planned = &passed[..passed.len().min(repeats as usize)];
    let count = planned.iter().filter(|&&p| p).count() as u32;
    let verdict = |ok: bool| if ok { Decision::Pass } else { Decision::Fail };
    match policy {
        Policy::All => verdict(count == planned.len() as u32),
        Policy::Majority => verdict(2 * count > planned.len() as u32),
        Policy::AtLeast(m) => verdict(count >= m),
        Policy::ConfirmFailures(n) => {
            if count == planned.len() as u32 {
                return Decision::Pass;
            }
            let reruns = &passed[planned.len()..];
            if reruns.iter().any(|&p| p) {
                Decision::Rescued
            } else if (reruns.len() as u32) < n {
                Decision::Rerun
            } else {
                Decision::Fail
            }
        }
    }
}

/// The verdict of a case over its trials.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// Not a failure under the policies (flaky cases included).
    pub passed: bool,
    /// Some trials passed and some failed, or confirm_failures rescued the case.
    pub flaky: bool,
    pub trials: u32,
    /// Trials with no failure at all (fn did not raise, no evaluation failed or errored).
    pub trials_passed: u32,
}

impl Judgement {
    pub fn pass_rate(&self) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            f64::from(self.trials_passed) / f64::from(self.trials)
        }
    }

    /// 95% Wilson score interval of the pass rate.
    pub fn interval(&self) -> (f64, f64) {
        wilson_interval(self.trials_passed.into(), self.trials.into())
    }

    /// "passed", "failed" or "flaky" (a case that did not fail but whose trials disagreed).
    pub fn verdict(&self) -> &'static str {
        match (self.passed, self.flaky) {
            (false, _) => "failed",
            (true, true) => "flaky",
            (true, false) => "passed",
        }
    }
}

/// What the trials so far say about a case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CaseState {
    Decided(Judgement),
    /// Run one more trial (a confirm_failures policy has re-runs left).
    Rerun,
}

/// How a suite judges its cases: trials per case and a policy per column.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialPlan {
    pub repeats: u32,
    /// For a case without evaluators, and for evaluators without a policy of their own.
    pub suite: Policy,
    /// Per evaluator, in the suite's order; None: the suite's.
    pub evaluators: Vec<Option<Policy>>,
}

impl TrialPlan {
    /// Whether this plan ever runs or judges more than one trial.
    pub fn has_trials(&self) -> bool {
        self.repeats > 1
            || self.suite.reruns() > 0
            || self.evaluators.iter().flatten().any(|p| p.reruns() > 0)
    }

    pub fn policy(&self, evaluator: usize) -> Policy {
        self.evaluators
            .get(evaluator)
            .copied()
            .flatten()
            .unwrap_or(self.suite)
    }

    /// Judges a case. `fn_failed[t]`: fn raised in trial t; `evaluation_failed[t][e]`:
    /// evaluator e failed or errored in trial t. The case passes when every evaluator's
    /// policy passes on its column (a trial whose fn raised fails every column); without
    /// evaluators the suite's policy judges the trials themselves.
    pub fn judge(&self, fn_failed: &[bool], evaluation_failed: &[Vec<bool>]) -> CaseState {
        self.judge_with(fn_failed, evaluation_failed, false)
    }

    /// `judge` when no more trials will run (the suite was interrupted): a case still
    /// waiting for a re-run has failed.
    pub fn judge_final(&self, fn_failed: &[bool], evaluation_failed: &[Vec<bool>]) -> Judgement {
        match self.judge_with(fn_failed, evaluation_failed, true) {
            CaseState::Decided(j) => j,
            CaseState::Rerun => unreachable!("final judgements are decided"),
        }
    }

    fn judge_with(
        &self,
        fn_failed: &[bool],
        evaluation_failed: &[Vec<bool>],
        last: bool,
    ) -> CaseState {
        let trials = fn_failed.len();
        let evaluators = evaluation_failed.first().map_or(0, Vec::len);
        let trial_passed: Vec<bool> = (0..trials)
            .map(|t| !fn_failed[t] && !evaluation_failed[t].iter().any(|&f| f))
            .collect();
        let decisions: Vec<Decision> = if evaluators == 0 {
            vec![decide(self.suite, self.repeats, &trial_passed)]
        } else {
            (0..evaluators)
                .map(|e| {
                    let column: Vec<bool> = (0..trials)
                        .map(|t| !fn_failed[t] && !evaluation_failed[t][e])
                        .collect();
                    decide(self.policy(e), self.repeats, &column)
                })
                .collect()
        };
        // A column that failed for good decides the case: re-runs could not save it.
        let waiting = decisions.contains(&Decision::Rerun);
        let failed = decisions.contains(&Decision::Fail) || (last && waiting);
        if !failed && waiting {
            return CaseState::Rerun;
        }
        let passed_count = trial_passed.iter().filter(|&&p| p).count() as u32;
        let mixed = passed_count > 0 && (passed_count as usize) < trials;
        CaseState::Decided(Judgement {
            passed: !failed,
            flaky: mixed || decisions.contains(&Decision::Rescued),
            trials: trials as u32,
            trials_passed: passed_count,
        })
    }

    /// The plan as the run store keeps it (runs.trials): None for a single-trial plan.
    pub fn to_json(&self, evaluator_ids: &[&str]) -> Option<String> {
        if !self.has_trials() {
            return None;
        }
        let evaluators: serde_json::Map<String, serde_json::Value> = evaluator_ids
            .iter()
            .zip(&self.evaluators)
            .filter_map(|(id, p)| Some((id.to_string(), p.as_ref()?.to_string().into())))
            .collect();
        Some(
            serde_json::json!({
                "repeats": self.repeats,
                "verdict": self.suite.to_string(),
                "evaluators": evaluators,
            })
            .to_string(),
        )
    }

    /// The plan in words: "3 trials per case, verdict majority; judge: at_least(2)".
    pub fn describe(&self, evaluator_ids: &[&str]) -> String {
        let mut text = format!(
            "{} trial{} per case, verdict {}",
            self.repeats,
            if self.repeats == 1 { "" } else { "s" },
            self.suite
        );
        for (id, p) in evaluator_ids.iter().zip(&self.evaluators) {
            if let Some(p) = p {
                text.push_str(&format!("; {id}: {p}"));
            }
        }
        text
    }

    /// A stored plan, with evaluator policies lined up with `evaluator_ids`. Anything
    /// unreadable falls back to the suite's `all`.
    pub fn from_json(json: &str, evaluator_ids: &[&str]) -> TrialPlan {
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let policy = |v: &serde_json::Value| v.as_str().and_then(|s| Policy::parse(s).ok());
        TrialPlan {
            repeats: value["repeats"]
                .as_u64()
                .unwrap_or(1)
                .clamp(1, u64::from(u32::MAX)) as u32,
            suite: policy(&value["verdict"]).unwrap_or(Policy::All),
            evaluators: evaluator_ids
                .iter()
                .map(|id| policy(&value["evaluators"][*id]))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(repeats: u32, suite: Policy) -> TrialPlan {
        TrialPlan {
            repeats,
            suite,
            evaluators: vec![],
        }
    }

    /// Judges trials of one evaluator (true = passed).
    fn judge(p: &TrialPlan, trials: &[bool]) -> CaseState {
        let fn_failed = vec![false; trials.len()];
        let evals: Vec<Vec<bool>> = trials.iter().map(|&ok| vec![!ok]).collect();
        p.judge(&fn_failed, &evals)
    }

    fn decided(state: CaseState) -> Judgement {
        match state {
            CaseState::Decided(j) => j,
            CaseState::Rerun => panic!("not decided"),
        }
    }

    #[test]
    fn parses_what_python_writes() {
        assert_eq!(Policy::parse("all"), Ok(Policy::All));
        assert_eq!(Policy::parse("majority"), Ok(Policy::Majority));
        assert_eq!(Policy::parse("at_least(3)"), Ok(Policy::AtLeast(3)));
        assert_eq!(Policy::parse("at_least( 3 )"), Ok(Policy::AtLeast(3)));
        assert_eq!(
            Policy::parse("confirm_failures(2)"),
            Ok(Policy::ConfirmFailures(2))
        );
        assert!(Policy::parse("most")
            .unwrap_err()
            .contains("unknown verdict policy"));
        assert!(Policy::parse("at_least(0)").is_err());
        assert!(Policy::parse("at_least(x)").is_err());
        assert!(Policy::parse("confirm_failures").is_err());
        for p in [
            Policy::All,
            Policy::Majority,
            Policy::AtLeast(2),
            Policy::ConfirmFailures(4),
        ] {
            assert_eq!(Policy::parse(&p.to_string()), Ok(p));
        }
    }

    #[test]
    fn at_least_more_than_the_trials_is_refused() {
        assert!(Policy::AtLeast(3).check(3).is_ok());
        let err = Policy::AtLeast(4).check(3).unwrap_err();
        assert!(
            err.contains("at_least(4)") && err.contains("repeats=3"),
            "{err}"
        );
    }

    #[test]
    fn all_is_pass_to_the_k() {
        let p = plan(3, Policy::All);
        let j = decided(judge(&p, &[true, true, true]));
        assert!(j.passed && !j.flaky);
        assert_eq!(j.verdict(), "passed");
        let j = decided(judge(&p, &[true, false, true]));
        assert!(!j.passed && j.flaky);
        assert_eq!((j.trials, j.trials_passed), (3, 2));
        assert_eq!(j.verdict(), "failed");
    }

    #[test]
    fn majority_needs_more_than_half() {
        let p = plan(4, Policy::Majority);
        assert!(decided(judge(&p, &[true, true, true, false])).passed);
        assert!(!decided(judge(&p, &[true, true, false, false])).passed);
        let p = plan(3, Policy::Majority);
        let j = decided(judge(&p, &[true, false, true]));
        assert!(j.passed && j.flaky);
        assert_eq!(j.verdict(), "flaky");
    }

    #[test]
    fn at_least_counts_passes() {
        let p = plan(5, Policy::AtLeast(2));
        assert!(decided(judge(&p, &[false, false, false, true, true])).passed);
        assert!(!decided(judge(&p, &[false, false, false, false, true])).passed);
    }

    #[test]
    fn confirm_failures_reruns_until_a_pass_or_the_limit() {
        let p = plan(1, Policy::ConfirmFailures(2));
        let j = decided(judge(&p, &[true]));
        assert!(j.passed && !j.flaky);
        assert_eq!(judge(&p, &[false]), CaseState::Rerun);
        assert_eq!(judge(&p, &[false, false]), CaseState::Rerun);
        let j = decided(judge(&p, &[false, true]));
        assert!(j.passed && j.flaky, "rescued is flaky, not a failure");
        assert_eq!(j.verdict(), "flaky");
        let j = decided(judge(&p, &[false, false, false]));
        assert!(!j.passed);
        assert_eq!((j.trials, j.trials_passed), (3, 0));
    }

    #[test]
    fn a_failed_column_stops_reruns_and_fn_errors_fail_every_column() {
        let p = TrialPlan {
            repeats: 1,
            suite: Policy::All,
            evaluators: vec![Some(Policy::ConfirmFailures(3)), None],
        };
        // evaluator 1 (all) failed: no re-run could change the verdict
        let j = decided(p.judge(&[false], &[vec![true, true]]));
        assert!(!j.passed);
        // only the confirming evaluator failed: run again
        assert_eq!(p.judge(&[false], &[vec![true, false]]), CaseState::Rerun);
        // unless no more trials will run: then it failed
        let j = p.judge_final(&[false], &[vec![true, false]]);
        assert!(!j.passed && !j.flaky);
        assert_eq!(
            p.describe(&["judge", "other"]),
            "1 trial per case, verdict all; judge: confirm_failures(3)"
        );
        // fn raised: every column fails, including the one that would confirm
        assert!(!decided(p.judge(&[true], &[vec![false, false]])).passed);
    }

    #[test]
    fn without_evaluators_the_suite_policy_judges_fn() {
        let p = plan(3, Policy::AtLeast(2));
        let j = decided(p.judge(&[false, true, false], &[vec![], vec![], vec![]]));
        assert!(j.passed && j.flaky);
        assert!((j.pass_rate() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn single_plans_store_nothing_and_round_trip_otherwise() {
        assert_eq!(plan(1, Policy::Majority).to_json(&[]), None);
        let p = TrialPlan {
            repeats: 3,
            suite: Policy::Majority,
            evaluators: vec![None, Some(Policy::AtLeast(1))],
        };
        let json = p.to_json(&["a", "b"]).unwrap();
        assert_eq!(TrialPlan::from_json(&json, &["a", "b"]), p);
        // evaluators come back by id, whatever order the reader lists them in
        let back = TrialPlan::from_json(&json, &["b", "a"]);
        assert_eq!(back.evaluators, vec![Some(Policy::AtLeast(1)), None]);
    }
}
