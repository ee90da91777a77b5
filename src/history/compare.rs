//! Two runs side by side: cases matched by hash, and per evaluator what newly fails,
//! what newly passes and how scores moved.

use super::RunData;
use crate::evaluation::stats::fisher_drop_p_value;
use crate::store::{EvaluationRecord, StoredRun};
use std::collections::HashMap;

/// One evaluation as a comparison sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Side {
    pub score: Option<f64>,
    /// "passed", "failed", "no_threshold" or "errored".
    pub verdict: String,
}

impl Side {
    fn failing(&self) -> bool {
        self.verdict == "failed" || self.verdict == "errored"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Passed (or had no verdict) in base, failed or errored in head.
    NewlyFailing,
    /// Failed or errored in base, passes (or has no verdict) in head.
    NewlyPassing,
    /// The same verdict on both sides.
    Same,
    /// Only in head (a new evaluator, or the case's fn raised in base).
    Added,
    /// Only in base.
    Removed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::NewlyFailing => "newly_failing",
            Change::NewlyPassing => "newly_passing",
            Change::Same => "same",
            Change::Added => "added",
            Change::Removed => "removed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvaluationDiff {
    pub evaluator_id: String,
    pub base: Option<Side>,
    pub head: Option<Side>,
    pub change: Change,
}

impl EvaluationDiff {
    /// head score minus base score, when both have one.
    pub fn delta(&self) -> Option<f64> {
        Some(self.head.as_ref()?.score? - self.base.as_ref()?.score?)
    }
}

/// A case present in both runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CaseDiff {
    pub hash: String,
    /// The case's readable label (head's, else base's); None: named by its hash.
    pub label: Option<String>,
    pub base_error: Option<String>,
    pub head_error: Option<String>,
    pub evaluations: Vec<EvaluationDiff>,
}

impl CaseDiff {
    /// fn raised in head but not in base.
    pub fn newly_errored(&self) -> bool {
        self.head_error.is_some() && self.base_error.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct EvaluatorSummary {
    pub id: String,
    /// Cases evaluated by this evaluator in both runs.
    pub compared: usize,
    pub newly_failing: Vec<String>,
    pub newly_passing: Vec<String>,
    /// Mean scores in each run over the cases scored in both, the same cases as
    /// `mean_delta`, so that `head_mean - base_mean == mean_delta`.
    pub base_mean: Option<f64>,
    pub head_mean: Option<f64>,
    /// Mean of per-case score deltas, over cases scored in both runs.
    pub mean_delta: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    pub base: StoredRun,
    pub head: StoredRun,
    /// Cases in both runs, in head's order.
    pub cases: Vec<CaseDiff>,
    /// Hashes only in head, in head's order.
    pub added: Vec<String>,
    /// Hashes only in base, in base's order.
    pub removed: Vec<String>,
    /// Human grades: every case graded in either run, head's order, then base's others.
    pub reviews: Vec<ReviewDiff>,
    pub evaluators: Vec<EvaluatorSummary>,
    /// When either run has several trials per case: pass rates compared case by case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trials: Option<TrialComparison>,
}

/// The statistical test behind trial regressions, as reports name it.
pub const TRIAL_TEST: &str = "one-sided Fisher exact test";

/// One case's trials in both runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CaseTrialDiff {
    pub hash: String,
    pub base_passed: u32,
    pub base_trials: u32,
    pub head_passed: u32,
    pub head_trials: u32,
    /// P-value of the one-sided Fisher exact test that head's pass rate is lower.
    pub p_value: f64,
    pub base_flaky: bool,
    pub head_flaky: bool,
}

impl CaseTrialDiff {
    pub fn base_rate(&self) -> f64 {
        rate(self.base_passed, self.base_trials)
    }
    pub fn head_rate(&self) -> f64 {
        rate(self.head_passed, self.head_trials)
    }
}

fn rate(passed: u32, trials: u32) -> f64 {
    if trials == 0 {
        0.0
    } else {
        f64::from(passed) / f64::from(trials)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrialComparison {
    /// TRIAL_TEST.
    pub test: &'static str,
    /// Cases in both runs, in head's order.
    pub cases: Vec<CaseTrialDiff>,
    /// Cases flaky in both runs.
    pub flaky_in_both: Vec<String>,
}

/// (passed trials, trials, flaky) of a case: from its judged trials, or, in a run of one
/// trial per case, from its row and its evaluations.
fn trial_counts(run: &RunData, case: &crate::store::CaseRecord) -> (u32, u32, bool) {
    if let Some(c) = run.trials.as_ref().and_then(|t| t.case(&case.hash)) {
        return (c.passed_trials, c.trials, c.flaky);
    }
    let failed = case.error.is_some()
        || run.evaluations.iter().any(|e| {
            e.case_index == case.index && (&*e.verdict == "failed" || &*e.verdict == "errored")
        });
    (u32::from(!failed), 1, false)
}

fn trial_comparison(base: &RunData, head: &RunData) -> Option<TrialComparison> {
    if base.trials.is_none() && head.trials.is_none() {
        return None;
    }
    let base_cases: HashMap<&str, &crate::store::CaseRecord> =
        base.cases.iter().map(|c| (&*c.hash, c)).collect();
    let cases: Vec<CaseTrialDiff> = head
        .cases
        .iter()
        .filter_map(|h| {
            let b = base_cases.get(&*h.hash)?;
            let (bp, bt, bf) = trial_counts(base, b);
            let (hp, ht, hf) = trial_counts(head, h);
            Some(CaseTrialDiff {
                hash: h.hash.to_string(),
                base_passed: bp,
                base_trials: bt,
                head_passed: hp,
                head_trials: ht,
                p_value: fisher_drop_p_value(
                    bp.into(),
                    (bt - bp).into(),
                    hp.into(),
                    (ht - hp).into(),
                ),
                base_flaky: bf,
                head_flaky: hf,
            })
        })
        .collect();
    let flaky_in_both = cases
        .iter()
        .filter(|c| c.base_flaky && c.head_flaky)
        .map(|c| c.hash.clone())
        .collect();
    Some(TrialComparison {
        test: TRIAL_TEST,
        cases,
        flaky_in_both,
    })
}

/// A reviewer's grade as a comparison shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HumanGrade {
    /// "pass" or "fail".
    pub grade: &'static str,
    pub score: Option<f64>,
    pub note: Option<String>,
}

/// One case's human grades in both runs (None: not graded there, or not in that run).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReviewDiff {
    pub hash: String,
    pub base: Option<HumanGrade>,
    pub head: Option<HumanGrade>,
}

fn human_grade(run: &RunData, hash: &str) -> Option<HumanGrade> {
    let item = run.review.item(hash)?;
    Some(HumanGrade {
        grade: item.grade?.as_str(),
        score: item.score,
        note: item.note.clone(),
    })
}

/// Each case graded in either run, in head's case order, then base's.
fn review_diffs(base: &RunData, head: &RunData) -> Vec<ReviewDiff> {
    if base.review.items.is_empty() && head.review.items.is_empty() {
        return vec![];
    }
    let mut seen = std::collections::HashSet::new();
    head.cases
        .iter()
        .chain(&base.cases)
        .filter(|c| seen.insert(&*c.hash))
        .filter_map(|c| {
            let (b, h) = (human_grade(base, &c.hash), human_grade(head, &c.hash));
            (b.is_some() || h.is_some()).then(|| ReviewDiff {
                hash: c.hash.to_string(),
                base: b,
                head: h,
            })
        })
        .collect()
}

/// What counts as a regression (the CLI's options).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// An evaluation that passed in base fails or errors in head.
    pub newly_failing: bool,
    /// fn raises in head for a case that ran in base.
    pub newly_errored: bool,
    /// A score dropping by more than this, whatever the verdicts.
    pub max_score_drop: Option<f64>,
    /// A case of base missing from head.
    pub removed_cases: bool,
    /// With trials: a drop in a case's pass rate is a regression when the one-sided
    /// Fisher exact test's p-value is below this level.
    pub alpha: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            newly_failing: true,
            newly_errored: true,
            max_score_drop: None,
            removed_cases: false,
            alpha: 0.05,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Regression {
    pub hash: String,
    pub label: Option<String>,
    pub evaluator_id: Option<String>,
    pub reason: String,
}

fn side(e: &EvaluationRecord) -> Side {
    Side {
        score: e.score,
        verdict: e.verdict.to_string(),
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Evaluations of a run by (case hash, evaluator id).
fn index(run: &RunData) -> HashMap<(&str, &str), &EvaluationRecord> {
    run.evaluations
        .iter()
        .map(|e| ((&*e.case_hash, &*e.evaluator_id), e))
        .collect()
}

/// Evaluator ids in order of first appearance: head's, then base's others.
fn evaluator_ids<'a>(base: &'a RunData, head: &'a RunData) -> Vec<&'a str> {
    let mut ids: Vec<&str> = vec![];
    for e in head.evaluations.iter().chain(&base.evaluations) {
        if !ids.contains(&&*e.evaluator_id) {
            ids.push(&e.evaluator_id);
        }
    }
    ids
}

pub fn compare(base: &RunData, head: &RunData) -> Comparison {
    let base_cases: HashMap<&str, &crate::store::CaseRecord> =
        base.cases.iter().map(|c| (&*c.hash, c)).collect();
    let head_hashes: std::collections::HashSet<&str> =
        head.cases.iter().map(|c| &*c.hash).collect();
    let base_evals = index(base);
    let head_evals = index(head);
    let ids = evaluator_ids(base, head);

    let mut cases = Vec::with_capacity(head.cases.len());
    let mut added = vec![];
    for h in &head.cases {
        let Some(b) = base_cases.get(&*h.hash) else {
            added.push(h.hash.to_string());
            continue;
        };
        let evaluations = ids
            .iter()
            .filter_map(|id| {
                let base = base_evals.get(&(&*h.hash, *id)).map(|e| side(e));
                let head = head_evals.get(&(&*h.hash, *id)).map(|e| side(e));
                let change = match (&base, &head) {
                    (None, None) => return None,
                    (None, Some(_)) => Change::Added,
                    (Some(_), None) => Change::Removed,
                    (Some(b), Some(h)) => match (b.failing(), h.failing()) {
                        (false, true) => Change::NewlyFailing,
                        (true, false) => Change::NewlyPassing,
                        _ => Change::Same,
                    },
                };
                Some(EvaluationDiff {
                    evaluator_id: id.to_string(),
                    base,
                    head,
                    change,
                })
            })
            .collect();
        cases.push(CaseDiff {
            hash: h.hash.to_string(),
            label: h
                .label
                .as_deref()
                .or(b.label.as_deref())
                .map(str::to_string),
            base_error: b.error.clone(),
            head_error: h.error.clone(),
            evaluations,
        });
    }
    let removed = base
        .cases
        .iter()
        .filter(|c| !head_hashes.contains(&*c.hash))
        .map(|c| c.hash.to_string())
        .collect();

    let evaluators = ids
        .iter()
        .map(|id| {
            let diffs = || {
                cases
                    .iter()
                    .flat_map(|c| c.evaluations.iter().map(move |e| (c, e)))
                    .filter(|(_, e)| e.evaluator_id == *id)
            };
            let with = |change| {
                diffs()
                    .filter(|(_, e)| e.change == change)
                    .map(|(c, _)| c.hash.clone())
                    .collect()
            };
            // Scores of the cases scored in both runs: one set for both means and the delta.
            let both = || {
                diffs()
                    .filter_map(|(_, e)| Some((e.base.as_ref()?.score?, e.head.as_ref()?.score?)))
            };
            EvaluatorSummary {
                id: id.to_string(),
                compared: diffs()
                    .filter(|(_, e)| e.base.is_some() && e.head.is_some())
                    .count(),
                newly_failing: with(Change::NewlyFailing),
                newly_passing: with(Change::NewlyPassing),
                base_mean: mean(both().map(|(b, _)| b)),
                head_mean: mean(both().map(|(_, h)| h)),
                mean_delta: mean(both().map(|(b, h)| h - b)),
            }
        })
        .collect();

    Comparison {
        base: base.run.clone(),
        head: head.run.clone(),
        cases,
        added,
        removed,
        reviews: review_diffs(base, head),
        evaluators,
        trials: trial_comparison(base, head),
    }
}

impl Comparison {
    /// Every regression `policy` counts, in head's case order.
    pub fn regressions(&self, policy: &Policy) -> Vec<Regression> {
        let mut out = vec![];
        if let Some(trials) = &self.trials {
            // Trials replace per-evaluation verdicts: a case regressed when its pass rate
            // dropped more than chance explains.
            for c in &trials.cases {
                if c.head_rate() < c.base_rate() && c.p_value < policy.alpha {
                    let label = self.cases.iter().find(|d| d.hash == c.hash);
                    out.push(Regression {
                        hash: c.hash.clone(),
                        label: label.and_then(|d| d.label.clone()),
                        evaluator_id: None,
                        reason: format!(
                            "pass rate {}/{} -> {}/{} ({TRIAL_TEST}: p = {} < {})",
                            c.base_passed,
                            c.base_trials,
                            c.head_passed,
                            c.head_trials,
                            fmt_p(c.p_value),
                            policy.alpha
                        ),
                    });
                }
            }
        }
        for c in self.cases.iter().filter(|_| self.trials.is_none()) {
            if policy.newly_errored && c.newly_errored() {
                out.push(Regression {
                    hash: c.hash.clone(),
                    label: c.label.clone(),
                    evaluator_id: None,
                    reason: "fn newly raised".into(),
                });
            }
            for e in &c.evaluations {
                let reg = |reason: String| Regression {
                    hash: c.hash.clone(),
                    label: c.label.clone(),
                    evaluator_id: Some(e.evaluator_id.clone()),
                    reason,
                };
                if policy.newly_failing && e.change == Change::NewlyFailing {
                    let head = e.head.as_ref().map(|h| h.verdict.as_str()).unwrap_or("");
                    let base = e.base.as_ref().map(|b| b.verdict.as_str()).unwrap_or("");
                    out.push(reg(format!("{base} -> {head}")));
                } else if let (Some(limit), Some(delta)) = (policy.max_score_drop, e.delta()) {
                    if -delta > limit {
                        out.push(reg(format!(
                            "score dropped by {} (more than {})",
                            crate::evaluation::fmt_score(-delta),
                            limit
                        )));
                    }
                }
            }
        }
        if policy.removed_cases {
            out.extend(self.removed.iter().map(|h| Regression {
                hash: h.clone(),
                label: None,
                evaluator_id: None,
                reason: "case removed".into(),
            }));
        }
        out
    }
}

/// A p-value for reading: four significant digits.
pub fn fmt_p(p: f64) -> String {
    if p >= 0.001 {
        format!("{:.4}", p)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{p:.3e}")
    }
}
