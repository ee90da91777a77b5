//! What a suite run returns: per case its output and evaluations, per run its grid
//! combination, and totals. Built by the driver as work finishes.

use crate::evaluation::{fmt_number, fmt_score, Verdict};
use crate::report::summary::{self, SummaryInput};
use crate::suite::tally::Tally;
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
    pub test_case: Py<PyAny>,
    pub run_id: Arc<str>,
    pub grid: Option<Py<PyDict>>,
    pub output: Option<Py<PyAny>>,
    pub duration_s: f64,
    pub error: Option<String>,
    pub evaluations: Vec<EvaluationData>,
    /// fn's retries and usage, when the suite has limits.
    pub log: Option<Box<CallLog>>,
}

impl CaseData {
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.evaluations.iter().any(|e| e.verdict.is_failure())
    }

    fn clone_ref(&self, py: Python<'_>) -> CaseData {
        CaseData {
            hash: self.hash.clone(),
            test_case: self.test_case.clone_ref(py),
            run_id: self.run_id.clone(),
            grid: self.grid.as_ref().map(|g| g.clone_ref(py)),
            output: self.output.as_ref().map(|o| o.clone_ref(py)),
            duration_s: self.duration_s,
            error: self.error.clone(),
            evaluations: self.evaluations.iter().map(|e| e.clone_ref(py)).collect(),
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

    /// No error, and no evaluation failed or errored.
    #[getter]
    fn passed(&self) -> bool {
        !self.data.failed()
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
            "CaseResult(hash={:?}, passed={}, evaluations={})",
            self.data.hash,
            if self.data.failed() { "False" } else { "True" },
            self.evaluations.len()
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
            lines.push(format!("case {}{grid}:", c.hash));
            if let Some(err) = &c.error {
                lines.push(format!("  fn raised:\n{}", indent(err, 4)));
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
                            "  {} failed: score {} outside {threshold}{metadata}",
                            e.evaluator_id,
                            e.score.map(fmt_score).unwrap_or_default()
                        ));
                    }
                    Verdict::Errored => lines.push(format!(
                        "  {} errored:\n{}",
                        e.evaluator_id,
                        indent(e.error.as_deref().unwrap_or(""), 4)
                    )),
                    _ => {}
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

    /// The console summary: counts per evaluator.
    fn summary(&self) -> String {
        if let Some(reason) = &self.skip_reason {
            return format!("SKIPPED {}: {reason}\n", self.suite_id);
        }
        summary::render(&SummaryInput {
            suite_id: &self.suite_id,
            status: &self.status,
            duration_s: self.duration_s,
            runs: self.runs.len(),
            tally: &self.tally,
            store_path: self.store_path.as_deref(),
            stop_reason: self.stop_reason.as_deref(),
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

    /// Jupyter: this suite's stored runs as HTML, failures first (a summary when the
    /// suite ran with record=False).
    fn _repr_html_(&self, py: Python<'_>) -> PyResult<String> {
        match &self.store_path {
            Some(path) => {
                crate::py::history::html_for_runs(py, self.run_ids(py), Some(path.into()), false)
            }
            None => Ok(format!(
                "<pre>{}</pre>",
                crate::xml::xml_text(&self.summary())
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
