//! What a suite run returns: per case its output and evaluations, per run its grid
//! combination, and totals. Built by the driver as work finishes.

use crate::evaluation::{fmt_number, Verdict};
use crate::report::summary::{self, SummaryInput};
use crate::suite::tally::Tally;
use pyo3::exceptions::PyAssertionError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::convert::to_json;
use super::evaluation::PyThreshold;

#[pyclass(frozen, module = "trialrun._core", name = "EvaluationResult")]
pub struct EvaluationResult {
    #[pyo3(get)]
    pub evaluator_id: String,
    #[pyo3(get)]
    pub score: Option<f64>,
    #[pyo3(get)]
    pub threshold: Option<Py<PyThreshold>>,
    pub verdict: Verdict,
    #[pyo3(get)]
    pub metadata: Option<Py<PyDict>>,
    #[pyo3(get)]
    pub error: Option<String>,
    #[pyo3(get)]
    pub duration_s: f64,
}

#[pymethods]
impl EvaluationResult {
    /// "passed", "failed", "no_threshold" or "errored".
    #[getter]
    fn verdict(&self) -> &'static str {
        self.verdict.as_str()
    }

    /// True / False against the threshold; None without a threshold or on error.
    #[getter]
    fn passed(&self) -> Option<bool> {
        match self.verdict {
            Verdict::Passed => Some(true),
            Verdict::Failed => Some(false),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        let score = self.score.map(fmt_number).unwrap_or_else(|| "None".into());
        format!("EvaluationResult({:?}, score={score}, verdict={:?})", self.evaluator_id, self.verdict.as_str())
    }
}

#[pyclass(frozen, module = "trialrun._core", name = "CaseResult")]
pub struct CaseResult {
    #[pyo3(get)]
    pub hash: String,
    #[pyo3(get)]
    pub test_case: Py<PyAny>,
    #[pyo3(get)]
    pub run_id: String,
    /// This case's grid combination, None without grid search.
    #[pyo3(get)]
    pub grid: Option<Py<PyDict>>,
    #[pyo3(get)]
    pub output: Option<Py<PyAny>>,
    #[pyo3(get)]
    pub duration_s: f64,
    /// Traceback when fn raised.
    #[pyo3(get)]
    pub error: Option<String>,
    pub evaluations: Vec<Py<EvaluationResult>>,
}

impl CaseResult {
    pub fn failed(&self, py: Python<'_>) -> bool {
        self.error.is_some() || self.evaluations.iter().any(|e| e.bind(py).get().verdict.is_failure())
    }
}

#[pymethods]
impl CaseResult {
    #[getter]
    fn evaluations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.evaluations.iter().map(|e| e.clone_ref(py)))
    }

    /// No error, and no evaluation failed or errored.
    #[getter]
    fn passed(&self, py: Python<'_>) -> bool {
        !self.failed(py)
    }

    /// The evaluation of one evaluator, or None.
    fn evaluation(&self, py: Python<'_>, evaluator_id: &str) -> Option<Py<EvaluationResult>> {
        self.evaluations.iter().find(|e| e.bind(py).get().evaluator_id == evaluator_id).map(|e| e.clone_ref(py))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "CaseResult(hash={:?}, passed={}, evaluations={})",
            self.hash,
            if self.failed(py) { "False" } else { "True" },
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
    /// "completed" or "interrupted".
    #[pyo3(get)]
    pub status: String,
    #[pyo3(get)]
    pub duration_s: f64,
    #[pyo3(get)]
    pub store_path: String,
    /// Set when the run store could not keep every result (the results here are whole).
    #[pyo3(get)]
    pub store_error: Option<String>,
    pub runs: Vec<Py<RunInfo>>,
    pub cases: Vec<Py<CaseResult>>,
    pub tally: Tally,
}

impl SuiteResult {
    fn failing<'a>(&'a self, py: Python<'a>) -> impl Iterator<Item = &'a Py<CaseResult>> + 'a {
        self.cases.iter().filter(move |c| c.bind(py).get().failed(py))
    }

    /// One paragraph per failing case: its hash, grid, error or failing evaluations with metadata.
    fn failure_lines(&self, py: Python<'_>, limit: usize) -> Vec<String> {
        let mut lines = vec![];
        let failing: Vec<_> = self.failing(py).collect();
        for case in failing.iter().take(limit) {
            let c = case.bind(py).get();
            let grid = c.grid.as_ref().map(|g| format!(" grid={}", to_json(g.bind(py).as_any()))).unwrap_or_default();
            lines.push(format!("case {}{grid}:", c.hash));
            if let Some(err) = &c.error {
                lines.push(format!("  fn raised:\n{}", indent(err, 4)));
            }
            for e in &c.evaluations {
                let e = e.bind(py).get();
                match e.verdict {
                    Verdict::Failed => {
                        let threshold = e
                            .threshold
                            .as_ref()
                            .map(|t| t.bind(py).get().inner.describe())
                            .unwrap_or_default();
                        let metadata = e.metadata.as_ref().map(|m| format!(" metadata={}", to_json(m.bind(py).as_any()))).unwrap_or_default();
                        lines.push(format!(
                            "  {} failed: score {} outside {threshold}{metadata}",
                            e.evaluator_id,
                            e.score.map(fmt_number).unwrap_or_default()
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
            lines.push(format!("... and {} more failing cases", failing.len() - limit));
        }
        lines
    }
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines().map(|l| format!("{pad}{l}")).collect::<Vec<_>>().join("\n")
}

#[pymethods]
impl SuiteResult {
    #[getter]
    fn cases<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.cases.iter().map(|c| c.clone_ref(py)))
    }

    /// One entry per grid combination (a single one without grid search).
    #[getter]
    fn runs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.runs.iter().map(|r| r.clone_ref(py)))
    }

    #[getter]
    fn run_ids(&self, py: Python<'_>) -> Vec<String> {
        self.runs.iter().map(|r| r.bind(py).get().run_id.clone()).collect()
    }

    /// Completed, every case ran without error, and no evaluation failed or errored.
    #[getter]
    fn passed(&self) -> bool {
        self.status == "completed" && self.tally.passed()
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
        PyList::new(py, self.failing(py).map(|c| c.clone_ref(py)))
    }

    /// A readable list of failing cases and their metadata ("" when all passed).
    #[pyo3(signature = (limit=20))]
    fn failure_report(&self, py: Python<'_>, limit: usize) -> String {
        self.failure_lines(py, limit).join("\n")
    }

    /// The console summary: counts per evaluator.
    fn summary(&self) -> String {
        summary::render(&SummaryInput {
            suite_id: &self.suite_id,
            status: &self.status,
            duration_s: self.duration_s,
            runs: self.runs.len(),
            tally: &self.tally,
            store_path: Some(&self.store_path),
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
            if self.status == "completed" { "failed" } else { self.status.as_str() },
            self.failing(py).count(),
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
