//! Run history for Python: listing, loading and comparing stored runs, and their
//! renderings (text, JSON, CSV, JUnit XML, HTML for files and notebooks).
//! Structured values reach Python through their JSON (one Serialize path for all).

use crate::history::{self, compare::Policy, Comparison, RunData};
use crate::report::{export, html, junit, summary, text};
use crate::store::{self, StoredRun};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::{json_loads, to_python};
use super::errors::StoreError;
use pyo3::intern;
use std::path::PathBuf;

/// The store for reading (read-only when it is current, so a store the user may not write
/// can be read).
fn open(store_path: Option<PathBuf>) -> PyResult<rusqlite::Connection> {
    let path = existing(store_path)?;
    Ok(store::open_read(&path)?)
}

/// The store for writing (gc).
fn open_writable(store_path: Option<PathBuf>) -> PyResult<rusqlite::Connection> {
    let path = existing(store_path)?;
    Ok(store::open(&path)?)
}

fn existing(store_path: Option<PathBuf>) -> PyResult<PathBuf> {
    let path = store_path.unwrap_or_else(store::default_path);
    if !path.exists() {
        return Err(StoreError::new_err(format!(
            "{}: no run store here or in a parent folder yet (run a suite first)",
            path.display()
        )));
    }
    Ok(path)
}

fn load_runs(conn: &rusqlite::Connection, ids: &[String]) -> PyResult<Vec<RunData>> {
    ids.iter()
        .map(|id| {
            let run = history::resolve(conn, id, None)?;
            Ok(history::load(conn, run)?)
        })
        .collect()
}

/// A table of stored runs.
#[pyclass(frozen, module = "trialrun._core", name = "RunList", sequence)]
pub struct RunList {
    runs: Vec<StoredRun>,
}

#[pymethods]
impl RunList {
    fn __len__(&self) -> usize {
        self.runs.len()
    }

    /// The i-th run as a dict (id, suite_id, status, started_at, cases, ...).
    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Py<PyAny>> {
        let n = self.runs.len() as isize;
        let i = if index < 0 { index + n } else { index };
        if !(0..n).contains(&i) {
            return Err(pyo3::exceptions::PyIndexError::new_err(
                "run index out of range",
            ));
        }
        to_python(py, &self.runs[i as usize])
    }

    #[getter]
    fn ids(&self) -> Vec<String> {
        self.runs.iter().map(|r| r.run.id.clone()).collect()
    }

    fn text(&self) -> String {
        text::runs_table(&self.runs)
    }

    fn _repr_html_(&self) -> String {
        html::runs_html(&self.runs)
    }

    fn __repr__(&self) -> String {
        self.text()
    }
}

/// One stored run with its cases and evaluations.
#[pyclass(frozen, module = "trialrun._core", name = "StoredRun")]
pub struct PyStoredRun {
    data: RunData,
    /// When the run is one combination of a grid search: every combination's totals.
    grid: Vec<summary::GridTotals>,
}

#[pymethods]
impl PyStoredRun {
    #[getter]
    fn run_id(&self) -> &str {
        &self.data.run.run.id
    }
    #[getter]
    fn suite_id(&self) -> &str {
        &self.data.run.run.suite_id
    }
    /// "running", "completed", "interrupted" or "failed".
    #[getter]
    fn status(&self) -> &'static str {
        self.data.run.status.as_str()
    }
    #[getter]
    fn started_at(&self) -> f64 {
        self.data.run.run.started_at
    }
    #[getter]
    fn ended_at(&self) -> Option<f64> {
        self.data.run.ended_at
    }
    #[getter]
    fn git_commit(&self) -> Option<&str> {
        self.data.run.run.git_commit.as_deref()
    }
    #[getter]
    fn git_branch(&self) -> Option<&str> {
        self.data.run.run.git_branch.as_deref()
    }
    #[getter]
    fn grid(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(
            py,
            &self
                .data
                .run
                .run
                .grid
                .as_ref()
                .map(|g| serde_json::from_str::<serde_json::Value>(g).unwrap_or_default()),
        )
    }
    /// Each case as a dict, with its evaluations.
    #[getter]
    fn cases(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let doc = json_loads(py, &export::run_json(&self.data))?;
        Ok(doc.bind(py).get_item(intern!(py, "cases"))?.unbind())
    }

    /// The run's human review queue: {"jobs": [...], "items": [...]}, each item a case's
    /// review fields and grade (empty lists when nobody asked for a review).
    #[getter]
    fn review(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(py, &self.data.review)
    }

    fn text(&self) -> String {
        text::run_detail(&self.data, &self.grid)
    }
    fn to_json(&self) -> String {
        export::run_json(&self.data)
    }
    fn to_csv(&self) -> String {
        export::run_csv(&self.data)
    }
    fn junit_xml(&self) -> String {
        junit::junit_xml(std::slice::from_ref(&self.data))
    }
    /// A standalone HTML report (standalone=False: a fragment for notebooks).
    #[pyo3(signature = (standalone=true))]
    fn html(&self, standalone: bool) -> String {
        html::run_html_with_grid(&self.data, &self.grid, standalone)
    }
    fn _repr_html_(&self) -> String {
        html::run_html_with_grid(&self.data, &self.grid, false)
    }
    fn __repr__(&self) -> String {
        format!(
            "StoredRun({:?}, suite={:?}, status={:?}, cases={})",
            self.run_id(),
            self.suite_id(),
            self.status(),
            self.data.cases.len()
        )
    }
}

/// Two runs compared case by case through their hashes.
#[pyclass(frozen, module = "trialrun._core", name = "Comparison")]
pub struct PyComparison {
    c: Comparison,
}

fn policy(
    newly_failing: bool,
    newly_errored: bool,
    max_score_drop: Option<f64>,
    removed_cases: bool,
    alpha: f64,
) -> PyResult<Policy> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "alpha must be a significance level between 0 and 1, got {alpha}"
        )));
    }
    Ok(Policy {
        newly_failing,
        newly_errored,
        max_score_drop,
        removed_cases,
        alpha,
    })
}

#[pymethods]
impl PyComparison {
    #[getter]
    fn base_id(&self) -> &str {
        &self.c.base.run.id
    }
    #[getter]
    fn head_id(&self) -> &str {
        &self.c.head.run.id
    }
    #[getter]
    fn added(&self) -> Vec<String> {
        self.c.added.clone()
    }
    #[getter]
    fn removed(&self) -> Vec<String> {
        self.c.removed.clone()
    }
    /// Per evaluator: compared, newly_failing, newly_passing, base_mean, head_mean, mean_delta.
    #[getter]
    fn evaluators(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(py, &self.c.evaluators)
    }

    /// What counts as a regression: an evaluation newly failing or errored, fn newly
    /// raising, a score dropping by more than max_score_drop, a removed case.
    #[pyo3(signature = (newly_failing=true, newly_errored=true, max_score_drop=None, removed_cases=false, alpha=0.05))]
    fn regressions(
        &self,
        py: Python<'_>,
        newly_failing: bool,
        newly_errored: bool,
        max_score_drop: Option<f64>,
        removed_cases: bool,
        alpha: f64,
    ) -> PyResult<Py<PyAny>> {
        let found = self.c.regressions(&policy(
            newly_failing,
            newly_errored,
            max_score_drop,
            removed_cases,
            alpha,
        )?);
        to_python(py, &found)
    }

    #[pyo3(signature = (newly_failing=true, newly_errored=true, max_score_drop=None, removed_cases=false, alpha=0.05))]
    fn text(
        &self,
        newly_failing: bool,
        newly_errored: bool,
        max_score_drop: Option<f64>,
        removed_cases: bool,
        alpha: f64,
    ) -> PyResult<String> {
        let policy = policy(
            newly_failing,
            newly_errored,
            max_score_drop,
            removed_cases,
            alpha,
        )?;
        let found = self.c.regressions(&policy);
        Ok(text::comparison(&self.c, &found, policy.alpha))
    }

    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(py, &self.c)
    }

    #[pyo3(signature = (standalone=true))]
    fn html(&self, standalone: bool) -> String {
        html::comparison_html(&self.c, &self.c.regressions(&Policy::default()), standalone)
    }

    fn _repr_html_(&self) -> String {
        self.html(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "Comparison(base={:?}, head={:?}, regressions={})",
            self.base_id(),
            self.head_id(),
            self.c.regressions(&Policy::default()).len()
        )
    }
}

#[pyfunction]
#[pyo3(signature = (suite=None, limit=20, store_path=None))]
fn list_runs(
    py: Python<'_>,
    suite: Option<String>,
    limit: usize,
    store_path: Option<PathBuf>,
) -> PyResult<RunList> {
    py.detach(|| {
        let conn = open(store_path)?;
        let runs = store::list_runs(&conn, suite.as_deref(), limit)?;
        Ok(RunList { runs })
    })
}

#[pyfunction]
#[pyo3(signature = (reference="latest", suite=None, store_path=None))]
fn load_run(
    py: Python<'_>,
    reference: &str,
    suite: Option<String>,
    store_path: Option<PathBuf>,
) -> PyResult<PyStoredRun> {
    py.detach(|| {
        let conn = open(store_path)?;
        let run = history::resolve(&conn, reference, suite.as_deref())?;
        let siblings = store::grid_siblings(&conn, &run)?;
        let scores = siblings
            .iter()
            .map(|r| store::evaluator_scores(&conn, &r.run.id))
            .collect::<Result<Vec<_>, _>>()?;
        let data = history::load(&conn, run)?;
        let order = crate::report::common::evaluator_tallies(&data);
        let order: Vec<&str> = order.iter().map(|t| t.id.as_str()).collect();
        Ok(PyStoredRun {
            grid: summary::stored_grid_totals(&siblings, scores, &order),
            data,
        })
    })
}

#[pyfunction]
#[pyo3(signature = (base=None, head=None, suite=None, store_path=None))]
fn compare_runs(
    py: Python<'_>,
    base: Option<String>,
    head: Option<String>,
    suite: Option<String>,
    store_path: Option<PathBuf>,
) -> PyResult<PyComparison> {
    py.detach(|| {
        // A run exported as JSON (a CI job's artifact) compares as a stored one.
        let exported = |reference: &Option<String>| -> PyResult<Option<RunData>> {
            match reference.as_deref().map(std::path::Path::new) {
                Some(path) if path.extension().is_some_and(|e| e == "json") && path.is_file() => {
                    let run = history::exported::read(path)
                        .and_then(|e| e.into_run_data())
                        .map_err(pyo3::exceptions::PyValueError::new_err)?;
                    Ok(Some(run))
                }
                _ => Ok(None),
            }
        };
        let (base_file, head_file) = (exported(&base)?, exported(&head)?);
        let (base, head) = match (base_file, head_file) {
            (Some(b), Some(h)) => (b, h),
            (b, h) => {
                let conn = open(store_path)?;
                let load = |reference: &str| -> PyResult<RunData> {
                    let run = history::resolve(&conn, reference, suite.as_deref())?;
                    Ok(history::load(&conn, run)?)
                };
                match (b, h) {
                    (Some(b), None) => (b, load(head.as_deref().unwrap_or("latest"))?),
                    (None, Some(h)) => match base.as_deref() {
                        Some(reference) => (load(reference)?, h),
                        None => {
                            return Err(pyo3::exceptions::PyLookupError::new_err(
                                "an exported HEAD run has no run before it in this store: \
                                 give BASE too",
                            ))
                        }
                    },
                    _ => {
                        let (b, h) = history::resolve_pair(
                            &conn,
                            base.as_deref(),
                            head.as_deref(),
                            suite.as_deref(),
                        )?;
                        (history::load(&conn, b)?, history::load(&conn, h)?)
                    }
                }
            }
        };
        Ok(PyComparison {
            c: history::compare(&base, &head),
        })
    })
}

/// Deletes all but the newest `keep` runs of each suite and grid combination.
#[pyfunction]
#[pyo3(signature = (keep, store_path=None))]
fn gc_runs(py: Python<'_>, keep: usize, store_path: Option<PathBuf>) -> PyResult<usize> {
    py.detach(|| {
        let conn = open_writable(store_path)?;
        Ok(store::delete_old_runs(&conn, keep)?)
    })
}

/// What re-scoring a stored run needs of it: (run id, suite id, grid JSON, trials JSON,
/// and with `cases` [(case hash, case JSON)] of its cases' first trials in the suite's
/// order, else []).
#[pyfunction]
#[pyo3(signature = (reference, cases=true, store_path=None))]
#[allow(clippy::type_complexity)]
fn stored_suite(
    py: Python<'_>,
    reference: &str,
    cases: bool,
    store_path: Option<PathBuf>,
) -> PyResult<(
    String,
    String,
    Option<String>,
    Option<String>,
    Vec<(String, String)>,
)> {
    py.detach(|| {
        let conn = open(store_path)?;
        let run = history::resolve(&conn, reference, None)?;
        let cases = match cases {
            true => store::run_cases(&conn, &run.run.id)?
                .into_iter()
                .map(|c| (c.hash.to_string(), c.test_case.to_string()))
                .collect(),
            false => vec![],
        };
        let r = run.run;
        Ok((r.id, r.suite_id, r.grid, r.trials, cases))
    })
}

/// A voice call's timeline (SVG, with its look inside) and its numbers in a line, from
/// its result as JSON; None when it is not a call's result (for notebooks).
#[pyfunction]
fn call_timeline(output_json: &str) -> Option<(String, String)> {
    let output: serde_json::Value = serde_json::from_str(output_json).ok()?;
    Some((
        crate::report::call_timeline::svg(&output, true)?,
        crate::report::call_timeline::metrics_line(&output)?,
    ))
}

/// Deletes the cached fn outputs of one suite, or of every suite; returns how many.
#[pyfunction]
#[pyo3(signature = (suite=None, store_path=None))]
fn clear_cache(
    py: Python<'_>,
    suite: Option<String>,
    store_path: Option<PathBuf>,
) -> PyResult<usize> {
    py.detach(|| {
        let conn = open_writable(store_path)?;
        Ok(store::clear_cache(&conn, suite.as_deref())?)
    })
}

/// Per suite with cached fn outputs: (suite id, outputs, bytes).
#[pyfunction]
#[pyo3(signature = (store_path=None))]
fn cache_sizes(py: Python<'_>, store_path: Option<PathBuf>) -> PyResult<Vec<(String, u64, u64)>> {
    py.detach(|| {
        let conn = open(store_path)?;
        Ok(store::cache_sizes(&conn)?)
    })
}

/// The ids `gc_runs(keep)` would delete, oldest first; deletes nothing.
#[pyfunction]
#[pyo3(signature = (keep, store_path=None))]
fn old_runs(py: Python<'_>, keep: usize, store_path: Option<PathBuf>) -> PyResult<Vec<String>> {
    py.detach(|| {
        let conn = open(store_path)?;
        Ok(store::old_runs(&conn, keep)?)
    })
}

/// Merges the shard runs in `sources` (run stores, or runs exported as JSON) into one run
/// per suite and grid combination, written to the store at `store_path` (made if need
/// be). Returns what was made: dicts of run_id, suite_id, grid (JSON or None), shards,
/// cases and status. Raises ValueError naming the culprit when the shards do not fit.
#[pyfunction]
#[pyo3(signature = (sources, store_path=None, allow_mixed_commits=false))]
fn merge_shards<'py>(
    py: Python<'py>,
    sources: Vec<PathBuf>,
    store_path: Option<PathBuf>,
    allow_mixed_commits: bool,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let merged = py.detach(|| {
        let into = store_path.unwrap_or_else(store::default_path);
        let shards = history::merge::read_sources(&sources)?;
        history::merge::merge(shards, &into, allow_mixed_commits)
    })?;
    merged
        .into_iter()
        .map(|m| {
            let d = PyDict::new(py);
            d.set_item("run_id", m.run_id)?;
            d.set_item("suite_id", m.suite_id)?;
            d.set_item("grid", m.grid)?;
            d.set_item("shards", m.shards)?;
            d.set_item("cases", m.cases)?;
            d.set_item("status", m.status.as_str())?;
            Ok(d)
        })
        .collect()
}

/// JUnit XML for stored runs (by id).
#[pyfunction]
#[pyo3(signature = (run_ids, store_path=None))]
fn junit_for_runs(
    py: Python<'_>,
    run_ids: Vec<String>,
    store_path: Option<PathBuf>,
) -> PyResult<String> {
    if run_ids.is_empty() {
        return Ok(junit::junit_xml(&[])); // nothing was recorded: no store needed
    }
    py.detach(|| {
        let conn = open(store_path)?;
        Ok(junit::junit_xml(&load_runs(&conn, &run_ids)?))
    })
}

/// HTML of stored runs (by id): a suite result in a notebook, or its report file.
#[pyfunction]
#[pyo3(signature = (run_ids, store_path=None, standalone=false))]
pub fn html_for_runs(
    py: Python<'_>,
    run_ids: Vec<String>,
    store_path: Option<PathBuf>,
    standalone: bool,
) -> PyResult<String> {
    py.detach(|| {
        let conn = open(store_path)?;
        let runs = load_runs(&conn, &run_ids)?;
        // In a notebook, a grid search's runs: their pass rates as bars first.
        let stored: Vec<_> = runs.iter().map(|r| r.run.clone()).collect();
        let grid = html::grid_searches_html(&stored);
        Ok(std::iter::once(grid)
            .filter(|g| !g.is_empty() && !standalone)
            .chain(runs.iter().map(|r| html::run_html(r, standalone)))
            .collect::<Vec<_>>()
            .join("\n"))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RunList>()?;
    m.add_class::<PyStoredRun>()?;
    m.add_class::<PyComparison>()?;
    m.add_function(wrap_pyfunction!(list_runs, m)?)?;
    m.add_function(wrap_pyfunction!(load_run, m)?)?;
    m.add_function(wrap_pyfunction!(compare_runs, m)?)?;
    m.add_function(wrap_pyfunction!(gc_runs, m)?)?;
    m.add_function(wrap_pyfunction!(old_runs, m)?)?;
    m.add_function(wrap_pyfunction!(clear_cache, m)?)?;
    m.add_function(wrap_pyfunction!(call_timeline, m)?)?;
    m.add_function(wrap_pyfunction!(stored_suite, m)?)?;
    m.add_function(wrap_pyfunction!(cache_sizes, m)?)?;
    m.add_function(wrap_pyfunction!(merge_shards, m)?)?;
    m.add_function(wrap_pyfunction!(junit_for_runs, m)?)?;
    m.add_function(wrap_pyfunction!(html_for_runs, m)?)?;
    Ok(())
}
