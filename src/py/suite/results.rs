//! What a suite run returns: per case its output and evaluations, per run its grid
//! combination, and totals. Built by the driver as work finishes.

use crate::evaluation::stats::wilson_interval;
use crate::evaluation::trials::Judgement;
use crate::evaluation::{fmt_number, fmt_score, Verdict};
use crate::report::common::{case_name, grid_label};
use crate::report::summary::{self, FailingCase, SummaryInput};
use crate::suite::tally::{EvaluatorTally, Tally};
use pyo3::exceptions::PyAssertionError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use std::sync::Arc;

use super::evaluation::PyThreshold;
use super::limits::CallLog;
use crate::py::convert::to_json;

/// One evaluation as the driver records it. Plain Rust holding Python references, so a
/// suite's results add no objects for Python's garbage collector to traverse; Python
/// objects are made when the user first looks (SuiteResult.cases).
pub struct EvaluationData {
    pub evaluator_id: Arc<str>,
    pub score: Option<f64>,
    pub threshold: Option<Py<PyThreshold>>,
    pub verdict: Verdict,
    pub metadata: Option<Py<PyDict>>,
    /// The evaluation's assertions as the evaluator gave them (a list), if any.
    pub assertions: Option<Py<PyAny>>,
    pub error: Option<String>,
    pub duration_s: f64,
    /// Retries and usage, when the suite has limits.
    pub log: Option<Box<CallLog>>,
}

impl EvaluationData {
    fn clone_ref(&self, py: Python<'_>) -> EvaluationData {
        EvaluationData {
            evaluator_id: self.evaluator_id.clone(),
            score: self.score,
            threshold: self.threshold.as_ref().map(|t| t.clone_ref(py)),
            verdict: self.verdict,
            metadata: self.metadata.as_ref().map(|m| m.clone_ref(py)),
            assertions: self.assertions.as_ref().map(|a| a.clone_ref(py)),
            error: self.error.clone(),
            duration_s: self.duration_s,
            log: self.log.clone(),
        }
    }
}

/// One case (in one grid combination) as the driver records it.
pub struct CaseData {
    pub hash: Arc<str>,
    /// Readable name of the case (None: named by its hash).
    pub label: Option<Arc<str>>,
    /// JSON of the case as stored (what the summary shows as its input).
    pub input_json: Arc<str>,
    pub test_case: Py<PyAny>,
    pub run_id: Arc<str>,
    pub grid: Option<Py<PyDict>>,
    pub output: Option<Py<PyAny>>,
    pub duration_s: f64,
    pub error: Option<String>,
    pub evaluations: Vec<EvaluationData>,
    /// Which trial of the case this is (0 when the suite does not repeat).
    pub trial: u32,
    /// With trials: every trial of the case (this one's fields are its first trial's).
    pub trials: Vec<CaseData>,
    /// With trials: the case's verdict under the suite's policies.
    pub judgement: Option<Judgement>,
    /// fn's retries and usage, when the suite has limits.
    pub log: Option<Box<CallLog>>,
}

impl CaseData {
    /// Failed under the suite's policies; with one trial, fn raised or an evaluation
    /// failed or errored.
    pub fn failed(&self) -> bool {
        match &self.judgement {
            Some(j) => !j.passed,
            None => self.trial_failed(),
        }
    }

    /// This trial alone: fn raised, or an evaluation failed or errored.
    fn trial_failed(&self) -> bool {
        self.error.is_some() || self.evaluations.iter().any(|e| e.verdict.is_failure())
    }

    /// The case's judgement, or that of its single trial.
    fn judgement(&self) -> Judgement {
        self.judgement.unwrap_or_else(|| {
            let passed = !self.trial_failed();
            Judgement {
                passed,
                flaky: false,
                trials: 1,
                trials_passed: u32::from(passed),
            }
        })
    }

    pub(crate) fn clone_ref(&self, py: Python<'_>) -> CaseData {
        CaseData {
            hash: self.hash.clone(),
            label: self.label.clone(),
            input_json: self.input_json.clone(),
            test_case: self.test_case.clone_ref(py),
            run_id: self.run_id.clone(),
            grid: self.grid.as_ref().map(|g| g.clone_ref(py)),
            output: self.output.as_ref().map(|o| o.clone_ref(py)),
            duration_s: self.duration_s,
            error: self.error.clone(),
            evaluations: self.evaluations.iter().map(|e| e.clone_ref(py)).collect(),
            trial: self.trial,
            trials: self.trials.iter().map(|t| t.clone_ref(py)).collect(),
            judgement: self.judgement,
            log: self.log.clone(),
        }
    }
}

fn opt_ref<T>(py: Python<'_>, v: &Option<Py<T>>) -> Option<Py<T>> {
    v.as_ref().map(|x| x.clone_ref(py))
}

#[pyclass(frozen, module = "trialrun._core", name = "EvaluationResult")]
pub struct EvaluationResult(EvaluationData);

#[pymethods]
impl EvaluationResult {
    #[getter]
    fn evaluator_id(&self) -> &str {
        &self.0.evaluator_id
    }
    #[getter]
    fn score(&self) -> Option<f64> {
        self.0.score
    }
    #[getter]
    fn threshold(&self, py: Python<'_>) -> Option<Py<PyThreshold>> {
        opt_ref(py, &self.0.threshold)
    }
    #[getter]
    fn metadata(&self, py: Python<'_>) -> Option<Py<PyDict>> {
        opt_ref(py, &self.0.metadata)
    }
    /// The assertions the evaluation carried (Autoblocks' `Evaluation.assertions`), if any.
    #[getter]
    fn assertions(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        opt_ref(py, &self.0.assertions)
    }
    /// Traceback or message when the evaluator raised or returned something invalid.
    #[getter]
    fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    #[getter]
    fn duration_s(&self) -> f64 {
        self.0.duration_s
    }
    /// Attempts retried after a rate limit (0 without retries).
    #[getter]
    fn retries(&self) -> usize {
        self.0.log.as_ref().map_or(0, |l| l.retries())
    }
    /// The retried attempts: [{"error": ..., "wait_s": ...}], first first.
    #[getter]
    fn attempts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match &self.0.log {
            Some(l) => l.attempts(py),
            None => Ok(PyList::empty(py)),
        }
    }
    /// Tokens the evaluator reported with trialrun.report_usage, or None.
    #[getter]
    fn usage<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match &self.0.log {
            Some(l) => l.usage(py),
            None => Ok(None),
        }
    }

    /// "passed", "failed", "no_threshold" or "errored".
    #[getter]
    fn verdict(&self) -> &'static str {
        self.0.verdict.as_str()
    }

    /// True / False against the threshold; None without a threshold or on error.
    #[getter]
    fn passed(&self) -> Option<bool> {
        match self.0.verdict {
            Verdict::Passed => Some(true),
            Verdict::Failed => Some(false),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        let score = self
            .0
            .score
            .map(fmt_number)
            .unwrap_or_else(|| "None".into());
        format!(
            "EvaluationResult({:?}, score={score}, verdict={:?})",
            self.0.evaluator_id,
            self.0.verdict.as_str()
        )
    }
}

#[pyclass(frozen, module = "trialrun._core", name = "CaseResult")]
pub struct CaseResult {
    data: CaseData,
    evaluations: Vec<Py<EvaluationResult>>,
}

impl CaseResult {
    fn new(py: Python<'_>, data: CaseData) -> PyResult<CaseResult> {
        let evaluations = data
            .evaluations
            .iter()
            .map(|e| Py::new(py, EvaluationResult(e.clone_ref(py))))
            .collect::<PyResult<_>>()?;
        Ok(CaseResult { data, evaluations })
    }
}

#[pymethods]
impl CaseResult {
    #[getter]
    fn hash(&self) -> &str {
        &self.data.hash
    }
    /// A readable name: the case's `label`/`name`, else its first short string fields;
    /// None when it has neither (views show the hash).
    #[getter]
    fn label(&self) -> Option<&str> {
        self.data.label.as_deref()
    }
    #[getter]
    fn test_case(&self, py: Python<'_>) -> Py<PyAny> {
        self.data.test_case.clone_ref(py)
    }
    #[getter]
    fn run_id(&self) -> &str {
        &self.data.run_id
    }
    /// This case's grid combination, None without grid search.
    #[getter]
    fn grid(&self, py: Python<'_>) -> Option<Py<PyDict>> {
        opt_ref(py, &self.data.grid)
    }
    #[getter]
    fn output(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        opt_ref(py, &self.data.output)
    }
    #[getter]
    fn duration_s(&self) -> f64 {
        self.data.duration_s
    }
    /// fn's attempts retried after a rate limit (0 without retries): a case that passed
    /// after retries passed.
    #[getter]
    fn retries(&self) -> usize {
        self.data.log.as_ref().map_or(0, |l| l.retries())
    }
    /// fn's retried attempts: [{"error": ..., "wait_s": ...}], the original error first.
    #[getter]
    fn attempts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match &self.data.log {
            Some(l) => l.attempts(py),
            None => Ok(PyList::empty(py)),
        }
    }
    /// Tokens fn reported with trialrun.report_usage ({"input_tokens", "output_tokens"}),
    /// or None.
    #[getter]
    fn usage<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match &self.data.log {
            Some(l) => l.usage(py),
            None => Ok(None),
        }
    }
    /// Traceback when fn raised.
    #[getter]
    fn error(&self) -> Option<&str> {
        self.data.error.as_deref()
    }

    #[getter]
    fn evaluations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.evaluations.iter().map(|e| e.clone_ref(py)))
    }

    /// Not a failure: with one trial, no error and no evaluation failed or errored; with
    /// trials, the verdict policies passed (a flaky case passes).
    #[getter]
    fn passed(&self) -> bool {
        !self.data.failed()
    }

    /// Which trial of its case this result is (a case's own result is its trial 0).
    #[getter]
    fn trial(&self) -> u32 {
        self.data.trial
    }

    /// Every trial of the case, in order (a list of one without repeats).
    #[getter]
    fn trials<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyList>> {
        let py = slf.py();
        let this = slf.get();
        if this.data.trials.is_empty() {
            return PyList::new(py, [slf.clone()]);
        }
        let trials = this
            .data
            .trials
            .iter()
            .map(|t| Py::new(py, CaseResult::new(py, t.clone_ref(py))?))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, trials)
    }

    /// Passed trials over trials (1.0 or 0.0 with one trial).
    #[getter]
    fn pass_rate(&self) -> f64 {
        self.data.judgement().pass_rate()
    }

    /// The 95% Wilson score interval of the pass rate, as (low, high).
    #[getter]
    fn ci(&self) -> (f64, f64) {
        let j = self.data.judgement();
        wilson_interval(j.trials_passed.into(), j.trials.into())
    }

    /// Some trials passed and some failed, or confirm_failures rescued the case.
    #[getter]
    fn flaky(&self) -> bool {
        self.data.judgement().flaky
    }

    /// "passed", "failed" or "flaky" (did not fail, but its trials disagreed).
    #[getter]
    fn verdict(&self) -> &'static str {
        self.data.judgement().verdict()
    }

    /// The evaluation of one evaluator, or None.
    fn evaluation(&self, py: Python<'_>, evaluator_id: &str) -> Option<Py<EvaluationResult>> {
        self.evaluations
            .iter()
            .find(|e| &*e.get().0.evaluator_id == evaluator_id)
            .map(|e| e.clone_ref(py))
    }

    fn __repr__(&self) -> String {
        format!(
            "CaseResult(hash={:?}, passed={}, evaluations={}{})",
            self.data.hash,
            if self.data.failed() { "False" } else { "True" },
            self.evaluations.len(),
            match &self.data.judgement {
                Some(j) => format!(
                    ", trials={}, pass_rate={}, verdict={:?}",
                    j.trials,
                    fmt_score(j.pass_rate()),
                    j.verdict()
                ),
                None if self.data.trial > 0 => format!(", trial={}", self.data.trial),
                None => String::new(),
            }
        )
    }
}

#[pyclass(frozen, module = "trialrun._core", name = "RunInfo")]
pub struct RunInfo {
    #[pyo3(get)]
    pub run_id: String,
    #[pyo3(get)]
    pub grid: Option<Py<PyDict>>,
}

#[pymethods]
impl RunInfo {
    fn __repr__(&self) -> String {
        format!("RunInfo({:?})", self.run_id)
    }
}

/// Up to this many cases a notebook shows every case; beyond, the summary (a page of
/// 100,000 rows would stall the notebook).
const NOTEBOOK_CASES_SHOWN: usize = 200;

#[pyclass(frozen, module = "trialrun._core", name = "SuiteResult")]
pub struct SuiteResult {
    #[pyo3(get)]
    pub suite_id: String,
    /// "completed", "interrupted", "stopped" (see stop_reason) or "skipped".
    #[pyo3(get)]
    pub status: String,
    #[pyo3(get)]
    pub duration_s: f64,
    /// The run store file; None when the suite ran with record=False.
    #[pyo3(get)]
    pub store_path: Option<String>,
    /// Set when the run store could not keep every result (the results here are whole).
    #[pyo3(get)]
    pub store_error: Option<String>,
    /// Why the suite did not run (status "skipped"): the environment's suite filters left
    /// it out, or its case filter matched no case.
    #[pyo3(get)]
    pub skip_reason: Option<String>,
    /// Why the suite stopped before its end (status "stopped"): a quota or the run's
    /// budget exhausted. Cases not run are not in `cases`.
    #[pyo3(get)]
    pub stop_reason: Option<String>,
    /// The run whose stored outputs this suite re-scored (`rescore`).
    #[pyo3(get)]
    pub rescored_from: Option<String>,
    /// (tokens, cost) reported with trialrun.report_usage, when the suite had limits.
    pub usage: Option<(u64, f64)>,
    pub runs: Vec<Py<RunInfo>>,
    pub cases: Vec<CaseData>,
    pub tally: Tally,
    /// CaseResult objects, made on first access.
    pub case_objects: PyOnceLock<Py<PyList>>,
}

impl SuiteResult {
    fn failing(&self) -> impl Iterator<Item = (usize, &CaseData)> {
        self.cases.iter().enumerate().filter(|(_, c)| c.failed())
    }

    fn case_objects<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyList>> {
        self.case_objects
            .get_or_try_init(py, || {
                let objects = self
                    .cases
                    .iter()
                    .map(|c| Py::new(py, CaseResult::new(py, c.clone_ref(py))?))
                    .collect::<PyResult<Vec<_>>>()?;
                Ok::<_, PyErr>(PyList::new(py, objects)?.unbind())
            })
            .map(|l| l.bind(py))
    }

    /// Per grid combination, its cases' and evaluators' totals (empty without a grid).
    fn grid_totals(&self, py: Python<'_>) -> Vec<summary::GridTotals> {
        if self.runs.len() < 2 {
            return vec![];
        }
        let mut rows: Vec<summary::GridTotals> = self
            .runs
            .iter()
            .map(|r| {
                let r = r.bind(py).get();
                summary::GridTotals {
                    label: r
                        .grid
                        .as_ref()
                        .map(|g| grid_label(&to_json(g.bind(py).as_any())))
                        .unwrap_or_default(),
                    run_id: r.run_id.clone(),
                    passed: 0,
                    failed: 0,
                    errored: 0,
                    evaluators: vec![],
                }
            })
            .collect();
        let mut tallies: Vec<Vec<EvaluatorTally>> = vec![vec![]; rows.len()];
        let at_run: std::collections::HashMap<String, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.run_id.clone(), i))
            .collect();
        for c in &self.cases {
            let Some(&at) = at_run.get(&*c.run_id) else {
                continue;
            };
            let row = &mut rows[at];
            if !c.failed() {
                row.passed += 1;
            } else if c.error.is_some() {
                row.errored += 1;
            } else {
                row.failed += 1;
            }
            let tally = &mut tallies[at];
            for e in &c.evaluations {
                let i = match tally.iter().position(|t| *t.id == *e.evaluator_id) {
                    Some(i) => i,
                    None => {
                        tally.push(EvaluatorTally::new(&e.evaluator_id));
                        tally.len() - 1
                    }
                };
                tally[i].add(e.verdict, e.score);
            }
        }
        for (row, tally) in rows.iter_mut().zip(tallies) {
            row.evaluators = tally
                .into_iter()
                .map(|t| summary::GridEvaluator {
                    mean: t.mean_score(),
                    id: t.id,
                    passed: t.passed,
                    failed: t.failed,
                    errored: t.errored,
                    no_threshold: t.no_threshold,
                })
                .collect();
        }
        rows
    }

    /// One paragraph per failing case: its hash, grid, error or failing evaluations with metadata.
    fn failure_lines(&self, py: Python<'_>, limit: usize) -> Vec<String> {
        let mut lines = vec![];
        let failing: Vec<_> = self.failing().collect();
        for (_, c) in failing.iter().take(limit) {
            let grid = c
                .grid
                .as_ref()
                .map(|g| format!(" grid={}", to_json(g.bind(py).as_any())))
                .unwrap_or_default();
            match &c.judgement {
                Some(j) => {
                    lines.push(format!(
                        "case {}{grid}: {}",
                        case_name(&c.hash, c.label.as_deref()),
                        trials_line(j)
                    ));
                    for t in c.trials.iter().filter(|t| t.trial_failed()) {
                        lines.push(format!("  trial {}:", t.trial));
                        trial_failures(&mut lines, py, t, 4);
                    }
                }
                None => {
                    lines.push(format!(
                        "case {}{grid}:",
                        case_name(&c.hash, c.label.as_deref())
                    ));
                    trial_failures(&mut lines, py, c, 2);
                }
            }
        }
        if failing.len() > limit {
            lines.push(format!(
                "... and {} more failing cases",
                failing.len() - limit
            ));
        }
        lines
    }
}

/// "1/3 trials passed (pass rate 0.333, 95% CI 0.061-0.792), flaky".
pub(crate) fn trials_line(j: &Judgement) -> String {
    let (lo, hi) = j.interval();
    format!(
        "{}/{} trials passed (pass rate {}, 95% CI {}-{}){}",
        j.trials_passed,
        j.trials,
        fmt_score(j.pass_rate()),
        fmt_score(lo),
        fmt_score(hi),
        if j.flaky { ", flaky" } else { "" }
    )
}

/// What failed in one trial of a case: fn's traceback, failing and erroring evaluations,
/// indented by `pad`.
fn trial_failures(lines: &mut Vec<String>, py: Python<'_>, c: &CaseData, pad: usize) {
    let at = " ".repeat(pad);
    if let Some(err) = &c.error {
        lines.push(format!("{at}fn raised:\n{}", indent(err, pad + 2)));
    }
    for e in &c.evaluations {
        match e.verdict {
            Verdict::Failed => {
                let threshold = e
                    .threshold
                    .as_ref()
                    .map(|t| t.bind(py).get().inner.describe())
                    .unwrap_or_default();
                let metadata = e
                    .metadata
                    .as_ref()
                    .map(|m| format!(" metadata={}", to_json(m.bind(py).as_any())))
                    .unwrap_or_default();
                lines.push(format!(
                    "{at}{} failed: score {} outside {threshold}{metadata}",
                    e.evaluator_id,
                    e.score.map(fmt_score).unwrap_or_default()
                ));
            }
            Verdict::Errored => lines.push(format!(
                "{at}{} errored:\n{}",
                e.evaluator_id,
                indent(e.error.as_deref().unwrap_or(""), pad + 2)
            )),
            _ => {}
        }
    }
}

/// What the summary shows of a failing case (JSON text; the report trims it).
fn failing_case(py: Python<'_>, c: &CaseData) -> FailingCase {
    let json = |v: &Bound<'_, PyAny>| to_json(v);
    FailingCase {
        name: case_name(&c.hash, c.label.as_deref()),
        run_id: c.run_id.to_string(),
        grid: c.grid.as_ref().map(|g| json(g.bind(py).as_any())),
        input: c.input_json.to_string(),
        output: c.output.as_ref().map(|o| json(o.bind(py))),
        error: c.error.clone(),
        evaluations: c
            .evaluations
            .iter()
            .filter(|e| e.verdict.is_failure())
            .map(|e| summary::FailingEvaluation {
                evaluator_id: e.evaluator_id.to_string(),
                verdict: e.verdict,
                score: e.score,
                threshold: e
                    .threshold
                    .as_ref()
                    .map(|t| t.bind(py).get().inner.describe()),
                metadata: e.metadata.as_ref().map(|m| json(m.bind(py).as_any())),
                error: e.error.clone(),
            })
            .collect(),
    }
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[pymethods]
impl SuiteResult {
    /// The result of a suite that was not run (Autoblocks' suite filters): no runs, no
    /// cases, status "skipped"; it counts as passed, as the SDK reports nothing for it.
    #[staticmethod]
    fn _skipped(suite_id: String, reason: String) -> SuiteResult {
        SuiteResult {
            suite_id,
            status: "skipped".into(),
            duration_s: 0.0,
            store_path: None,
            store_error: None,
            skip_reason: Some(reason),
            stop_reason: None,
            rescored_from: None,
            usage: None,
            runs: vec![],
            cases: vec![],
            tally: Tally::new(0, &[]),
            case_objects: PyOnceLock::new(),
        }
    }

    /// Every finished case, in suite order (grid combination, then test case).
    #[getter]
    fn cases<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        Ok(self.case_objects(py)?.clone())
    }

    /// One entry per grid combination (a single one without grid search).
    #[getter]
    fn runs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.runs.iter().map(|r| r.clone_ref(py)))
    }

    #[getter]
    fn run_ids(&self, py: Python<'_>) -> Vec<String> {
        self.runs
            .iter()
            .map(|r| r.bind(py).get().run_id.clone())
            .collect()
    }

    /// Completed, every case ran without error, and no evaluation failed or errored.
    #[getter]
    fn passed(&self) -> bool {
        (self.status == "completed" || self.status == "skipped") && self.tally.passed()
    }

    /// Counts: cases, cases_errored, failures, and per evaluator passed / failed /
    /// errored / no_threshold / mean_score.
    #[getter]
    fn totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = &self.tally;
        let d = PyDict::new(py);
        d.set_item("cases", t.cases)?;
        d.set_item("cases_done", t.cases_done)?;
        d.set_item("cases_errored", t.cases_errored)?;
        d.set_item("failures", t.failures())?;
        d.set_item("not_run", t.cases - t.cases_done)?;
        d.set_item("retries", t.retries)?;
        d.set_item("cases_retried", t.cases_retried)?;
        d.set_item("cases_resumed", t.cases_resumed)?;
        d.set_item("cache_hits", t.cache_hits)?;
        if let Some((tokens, cost)) = self.usage {
            d.set_item("tokens", tokens)?;
            d.set_item("cost", cost)?;
        }
        let evaluators = PyDict::new(py);
        for e in &t.evaluators {
            let row = PyDict::new(py);
            row.set_item("passed", e.passed)?;
            row.set_item("failed", e.failed)?;
            row.set_item("errored", e.errored)?;
            row.set_item("no_threshold", e.no_threshold)?;
            row.set_item("mean_score", e.mean_score())?;
            evaluators.set_item(&e.id, row)?;
        }
        d.set_item("evaluators", evaluators)?;
        if let Some(v) = &t.verdicts {
            let row = PyDict::new(py);
            row.set_item("cases", v.cases)?;
            row.set_item("passed", v.passed)?;
            row.set_item("failed", v.failed)?;
            row.set_item("flaky", v.flaky)?;
            row.set_item("plan", &v.plan)?;
            d.set_item("verdicts", row)?;
        }
        Ok(d)
    }

    /// The failing cases (fn raised, or an evaluation failed or errored).
    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let objects = self.case_objects(py)?;
        PyList::new(
            py,
            self.failing()
                .map(|(i, _)| objects.get_item(i))
                .collect::<PyResult<Vec<_>>>()?,
        )
    }

    /// A readable list of failing cases and their metadata ("" when all passed).
    #[pyo3(signature = (limit=20))]
    fn failure_report(&self, py: Python<'_>, limit: usize) -> String {
        self.failure_lines(py, limit).join("\n")
    }

    /// The console summary: counts per evaluator, then the first failing cases with
    /// their input, output and failing evaluations, and where to look next.
    fn summary(&self, py: Python<'_>) -> String {
        if let Some(reason) = &self.skip_reason {
            return format!("SKIPPED {}: {reason}\n", self.suite_id);
        }
        let failing: Vec<FailingCase> = self
            .failing()
            .take(summary::FAILURES_SHOWN)
            .map(|(_, c)| failing_case(py, c))
            .collect();
        summary::render(&SummaryInput {
            suite_id: &self.suite_id,
            status: &self.status,
            duration_s: self.duration_s,
            runs: self.runs.len(),
            tally: &self.tally,
            store_path: self.store_path.as_deref(),
            trial_cases: self
                .cases
                .iter()
                .filter_map(|c| Some((&*c.hash, c.judgement?)))
                .collect(),
            failing: &failing,
            failing_total: self.failing().count(),
            stop_reason: self.stop_reason.as_deref(),
            rescored_from: self.rescored_from.as_deref(),
            grid: &self.grid_totals(py),
        })
    }

    /// Raises AssertionError listing the failing cases unless the suite passed.
    #[pyo3(signature = (limit=20))]
    fn assert_passed(&self, py: Python<'_>, limit: usize) -> PyResult<()> {
        if self.passed() {
            return Ok(());
        }
        let mut msg = format!(
            "suite {:?} {}: {} failing case(s) of {}",
            self.suite_id,
            if self.status == "completed" {
                "failed"
            } else {
                self.status.as_str()
            },
            self.failing().count(),
            self.cases.len()
        );
        let lines = self.failure_lines(py, limit);
        if !lines.is_empty() {
            msg.push('\n');
            msg.push_str(&lines.join("\n"));
        }
        Err(PyAssertionError::new_err(msg))
    }

    fn __len__(&self) -> usize {
        self.cases.len()
    }

    /// Jupyter: this suite's stored runs as HTML, failures first; for a large suite (or one
    /// run with record=False) its summary, whose first failures and pointers to `trialrun
    /// show` and the viewer stand in for every case.
    fn _repr_html_(&self, py: Python<'_>) -> PyResult<String> {
        match &self.store_path {
            Some(path) if self.cases.len() <= NOTEBOOK_CASES_SHOWN => {
                crate::py::history::html_for_runs(py, self.run_ids(py), Some(path.into()), false)
            }
            _ => Ok(format!(
                "<pre>{}</pre>",
                crate::xml::xml_text(&self.summary(py))
            )),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "SuiteResult({:?}, status={:?}, cases={}, failures={})",
            self.suite_id,
            self.status,
            self.cases.len(),
            self.tally.failures()
        )
    }
}
