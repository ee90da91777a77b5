//! A stored run's cases judged over their trials, as the suite judged them: the run keeps
//! its trial plan (repeats and verdict policies), and every trial's rows.

use crate::evaluation::trials::{Judgement, TrialPlan};
use crate::evaluation::Verdict;
use crate::store::{CaseRecord, EvaluationRecord};
use std::collections::BTreeMap;

/// One trial as reports list it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrialOutcome {
    pub trial: u32,
    pub passed: bool,
    /// Why not: "fn raised: <last line>", or "<evaluator id> failed" / "... errored".
    pub failures: Vec<String>,
    pub duration_s: f64,
}

/// One case over its trials.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CaseTrials {
    pub index: u32,
    pub hash: String,
    pub trials: u32,
    pub passed_trials: u32,
    pub pass_rate: f64,
    /// 95% Wilson score interval of the pass rate.
    pub ci: (f64, f64),
    /// "passed", "failed" or "flaky".
    pub verdict: &'static str,
    /// Not a failure under the run's policies (flaky included).
    pub passed: bool,
    pub flaky: bool,
    pub outcomes: Vec<TrialOutcome>,
}

impl CaseTrials {
    fn from_judgement(index: u32, hash: String, j: Judgement, outcomes: Vec<TrialOutcome>) -> Self {
        CaseTrials {
            index,
            hash,
            trials: j.trials,
            passed_trials: j.trials_passed,
            pass_rate: j.pass_rate(),
            ci: j.interval(),
            verdict: j.verdict(),
            passed: j.passed,
            flaky: j.flaky,
            outcomes,
        }
    }
}

/// A run's trial plan in words and its cases judged over their trials.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunTrials {
    pub plan: String,
    pub cases: Vec<CaseTrials>,
}

impl RunTrials {
    pub fn case(&self, hash: &str) -> Option<&CaseTrials> {
        self.cases.iter().find(|c| c.hash == hash)
    }
}

/// Judges every case of a run from all its trial rows, with the run's stored plan.
/// A case's hash is its first trial's.
pub fn judge_run(
    plan_json: &str,
    cases: &[CaseRecord],
    evaluations: &[EvaluationRecord],
) -> RunTrials {
    let mut ids: Vec<&str> = vec![];
    for e in evaluations {
        if !ids.contains(&&*e.evaluator_id) {
            ids.push(&e.evaluator_id);
        }
    }
    let plan = TrialPlan::from_json(plan_json, &ids);
    // (case index, trial) -> failing evaluator columns and failure notes
    let mut failing: BTreeMap<(u32, u32), (Vec<bool>, Vec<String>)> = BTreeMap::new();
    for e in evaluations {
        let verdict = Verdict::parse(&e.verdict).unwrap_or(Verdict::Errored);
        if verdict.is_failure() {
            let entry = failing
                .entry((e.case_index, e.trial))
                .or_insert_with(|| (vec![false; ids.len()], vec![]));
            if let Some(col) = ids.iter().position(|id| *id == &*e.evaluator_id) {
                entry.0[col] = true;
            }
            entry.1.push(format!("{} {}", e.evaluator_id, verdict));
        }
    }
    let mut by_case: BTreeMap<u32, Vec<&CaseRecord>> = BTreeMap::new();
    for c in cases {
        by_case.entry(c.index).or_default().push(c);
    }
    let mut out = vec![];
    for (index, mut rows) in by_case {
        rows.sort_by_key(|c| c.trial);
        let mut fn_failed = vec![];
        let mut evaluation_failed = vec![];
        let mut outcomes = vec![];
        for c in &rows {
            let (columns, mut notes) = failing
                .remove(&(index, c.trial))
                .unwrap_or_else(|| (vec![false; ids.len()], vec![]));
            if let Some(err) = &c.error {
                let line = err.lines().map(str::trim).rfind(|l| !l.is_empty());
                notes.insert(0, format!("fn raised: {}", line.unwrap_or("")));
            }
            outcomes.push(TrialOutcome {
                trial: c.trial,
                passed: notes.is_empty(),
                failures: notes,
                duration_s: c.duration_s,
            });
            fn_failed.push(c.error.is_some());
            evaluation_failed.push(columns);
        }
        let j = plan.judge_final(&fn_failed, &evaluation_failed);
        out.push(CaseTrials::from_judgement(
            index,
            rows[0].hash.to_string(),
            j,
            outcomes,
        ));
    }
    RunTrials {
        plan: plan.describe(&ids),
        cases: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn case(index: u32, trial: u32, error: Option<&str>) -> CaseRecord {
        CaseRecord {
            run_id: "r".into(),
            index,
            hash: format!("h{index}").into(),
            trial,
            label: None,
            test_case: "{}".into(),
            output: None,
            duration_s: 0.1,
            error: error.map(String::from),
        }
    }

    fn eval(index: u32, trial: u32, verdict: &str) -> EvaluationRecord {
        EvaluationRecord {
            run_id: "r".into(),
            case_index: index,
            case_hash: format!("h{index}").into(),
            trial,
            evaluator_id: "judge".into(),
            score: None,
            threshold: None,
            verdict: Arc::from(verdict),
            metadata: None,
            error: None,
            duration_s: 0.0,
        }
    }

    #[test]
    fn stored_trials_are_judged_with_the_stored_plan() {
        let cases = vec![
            case(0, 0, None),
            case(0, 1, None),
            case(0, 2, None),
            case(1, 0, Some("Traceback\nValueError: boom")),
            case(1, 1, None),
            case(1, 2, None),
        ];
        let evals = vec![
            eval(0, 0, "passed"),
            eval(0, 1, "failed"),
            eval(0, 2, "passed"),
            eval(1, 1, "failed"),
            eval(1, 2, "failed"),
        ];
        let plan = r#"{"repeats":3,"verdict":"majority","evaluators":{}}"#;
        let run = judge_run(plan, &cases, &evals);
        assert_eq!(run.plan, "3 trials per case, verdict majority");
        let a = &run.cases[0];
        assert_eq!((a.passed_trials, a.trials, a.verdict), (2, 3, "flaky"));
        assert!(a.passed && a.flaky);
        assert_eq!(a.outcomes[1].failures, vec!["judge failed".to_string()]);
        let b = &run.cases[1];
        assert_eq!((b.passed_trials, b.verdict), (0, "failed"));
        assert_eq!(
            b.outcomes[0].failures,
            vec!["fn raised: ValueError: boom".to_string()]
        );
    }
}
