//! `ManualRun`: a run whose results the user adds one by one (Autoblocks' RunManager),
//! written to the run store through the same `Writer` and in the same shape as the suite
//! engine's runs, so `trialrun show`, `compare` and the viewer read it like any run.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use super::convert::{label, stored_output, to_json};
use super::suite::driver::metadata_json;
use super::suite::evaluation::{type_name, PyThreshold};
use super::suite::plan::{hooks, serialize_case};
use crate::evaluation::{check_score, verdict};
use crate::store::{self, CaseRecord, EvaluationRecord, RunRecord, RunStatus, Writer};
use crate::suite::validate;

enum Phase {
    New { run_id: String },
    Started(Open),
    Ended { run_id: String },
}

struct Open {
    run_id: Arc<str>,
    writer: Writer,
    /// The next case's position (the store's key for it).
    next_index: u32,
    hashes: HashSet<String>,
}

/// A run of suite `suite_id` whose results are added by hand: `start()` records the run
/// (status "running"), each `add_result` stores a case and its evaluations at once, and
/// `end()` marks the run completed. A process that dies before `end()` leaves the run
/// "running" until the store sees its writer is gone and marks it interrupted, as an
/// engine run cut short by a crash.
#[pyclass(frozen, module = "trialrun._core", name = "ManualRun")]
pub struct ManualRun {
    suite_id: String,
    store_path: PathBuf,
    phase: Mutex<Phase>,
}

/// One evaluation as given, checked and turned into what the store keeps.
struct Checked {
    evaluator_id: String,
    score: f64,
    threshold: Option<crate::evaluation::Threshold>,
    metadata: Option<String>,
}

fn check_evaluation(i: usize, e: &Bound<'_, PyAny>) -> PyResult<Checked> {
    let py = e.py();
    let what = |field: &str| format!("evaluations[{i}].{field}");
    let attr = |field: &str| {
        e.getattr(PyString::new(py, field)).map_err(|_| {
            PyTypeError::new_err(format!(
                "evaluations[{i}] must be an EvaluationWithId (id, score, threshold, metadata, \
                 assertions), got {} ({}) without {field}",
                type_name(e),
                label(e)
            ))
        })
    };
    let id = attr("id")?;
    let evaluator_id: String = id
        .cast::<PyString>()
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "{} must be a str, got {}",
                what("id"),
                type_name(&id)
            ))
        })?
        .to_string();
    if evaluator_id.trim().is_empty() {
        return Err(PyValueError::new_err(format!(
            "{} must not be empty",
            what("id")
        )));
    }
    let score = attr("score")?;
    let score: f64 = score.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{} must be a number, got {}",
            what("score"),
            type_name(&score)
        ))
    })?;
    let score = check_score(score).map_err(|err| {
        PyValueError::new_err(format!("{} ({evaluator_id:?}): {err}", what("score")))
    })?;
    let threshold = attr("threshold")?;
    let threshold = if threshold.is_none() {
        None
    } else {
        Some(
            threshold
                .cast::<PyThreshold>()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "{} must be a Threshold or None, got {}",
                        what("threshold"),
                        type_name(&threshold)
                    ))
                })?
                .get()
                .inner,
        )
    };
    let metadata = attr("metadata")?;
    let metadata = if metadata.is_none() {
        None
    } else {
        Some(metadata.cast::<PyDict>().cloned().map_err(|_| {
            PyTypeError::new_err(format!(
                "{} must be a dict or None, got {}",
                what("metadata"),
                type_name(&metadata)
            ))
        })?)
    };
    let assertions = attr("assertions")?;
    let assertions = if assertions.is_none() {
        None
    } else if assertions.is_instance_of::<PyList>() || assertions.is_instance_of::<PyTuple>() {
        Some(assertions)
    } else {
        return Err(PyTypeError::new_err(format!(
            "{} must be a list of Assertion or None, got {}",
            what("assertions"),
            type_name(&assertions)
        )));
    };
    Ok(Checked {
        evaluator_id,
        score,
        threshold,
        metadata: metadata_json(metadata.as_ref(), assertions.as_ref()),
    })
}

impl ManualRun {
    fn not_started(&self, doing: &str) -> PyErr {
        PyValueError::new_err(format!(
            "run of {:?}: call start() before {doing}",
            self.suite_id
        ))
    }
}

#[pymethods]
impl ManualRun {
    /// A run of `suite_id`, stored in `store_path` (default: the run store of TRIALRUN_HOME
    /// or of the current folder). Its id is chosen now; nothing is written before `start()`.
    #[new]
    #[pyo3(signature = (suite_id, store_path=None))]
    fn new(suite_id: String, store_path: Option<PathBuf>) -> PyResult<ManualRun> {
        validate::suite_id(&suite_id)?;
        Ok(ManualRun {
            suite_id,
            store_path: store_path.unwrap_or_else(store::default_path),
            phase: Mutex::new(Phase::New {
                run_id: store::new_run_id(),
            }),
        })
    }

    /// Records the run (status "running") and returns its id. A run starts once.
    fn start(&self, py: Python<'_>) -> PyResult<String> {
        let mut phase = self.phase.lock_py_attached(py).expect("never poisoned");
        if let Phase::Started(Open { run_id, .. }) = &*phase {
            return Err(PyValueError::new_err(format!(
                "run {run_id} has already started"
            )));
        }
        if let Phase::Ended { run_id } = &*phase {
            return Err(PyValueError::new_err(format!("run {run_id} has ended")));
        }
        let Phase::New { run_id } = &*phase else {
            unreachable!("the other phases returned above")
        };
        let run_id = run_id.clone();
        let path = self.store_path.clone();
        let suite_id = self.suite_id.clone();
        let (run_id, writer) = py.detach(move || -> PyResult<_> {
            let writer = Writer::start(&path)?;
            let (git_commit, git_branch) =
                store::git_info(&std::env::current_dir().unwrap_or_default());
            writer.begin_run(RunRecord {
                id: run_id.clone(),
                suite_id,
                kind: "suite".into(),
                started_at: store::now_unix(),
                grid: None,
                git_commit,
                git_branch,
                trials: None,
                shard: None,
                rescored_from: None,
            });
            // The run row exists once start() returns (a reader sees it "running").
            writer.flush()?;
            Ok((run_id, writer))
        })?;
        *phase = Phase::Started(Open {
            run_id: run_id.as_str().into(),
            writer,
            next_index: 0,
            hashes: HashSet::new(),
        });
        Ok(run_id)
    }

    /// Stores one case: `test_case` (a BaseTestCase: its hash() and serialize() as the suite
    /// engine stores them), its `output`, fn's duration in seconds, and the evaluations made
    /// of it (objects with id, score, threshold, metadata and assertions, as
    /// EvaluationWithId). `error` marks the case as failed (the text is kept as fn's error);
    /// `evaluation_errors` are (evaluator id, error text) of evaluators that raised.
    /// Everything is checked before anything is written; the case is committed when this
    /// returns. Returns the case's hash.
    #[pyo3(signature = (test_case, output, duration_s=0.0, evaluations=None, *, error=None, evaluation_errors=None))]
    #[allow(clippy::too_many_arguments)]
    fn add_result(
        &self,
        py: Python<'_>,
        test_case: &Bound<'_, PyAny>,
        output: &Bound<'_, PyAny>,
        duration_s: f64,
        evaluations: Option<Vec<Bound<'_, PyAny>>>,
        error: Option<String>,
        evaluation_errors: Option<Vec<(String, String)>>,
    ) -> PyResult<String> {
        if !duration_s.is_finite() || duration_s < 0.0 {
            return Err(PyValueError::new_err(format!(
                "duration_s must be a non-negative number of seconds, not {duration_s}"
            )));
        }
        let hooks = hooks(py)?;
        if !test_case.is_instance(hooks.base_test_case.bind(py))? {
            return Err(PyTypeError::new_err(format!(
                "test_case must be a BaseTestCase, got {} ({})",
                type_name(test_case),
                label(test_case)
            )));
        }
        let hash = test_case.call_method0(intern!(py, "hash"))?;
        let hash: String = hash
            .cast::<PyString>()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "test case {}: hash() must return a str, got {}",
                    label(test_case),
                    type_name(&hash)
                ))
            })?
            .to_string();
        let evaluations = evaluations.unwrap_or_default();
        let checked: Vec<Checked> = evaluations
            .iter()
            .enumerate()
            .map(|(i, e)| check_evaluation(i, e))
            .collect::<PyResult<_>>()?;
        let evaluation_errors = evaluation_errors.unwrap_or_default();
        let mut seen = HashSet::new();
        let ids = checked
            .iter()
            .map(|c| &c.evaluator_id)
            .chain(evaluation_errors.iter().map(|(id, _)| id));
        for id in ids {
            if !seen.insert(id) {
                return Err(PyValueError::new_err(format!(
                    "evaluations: evaluator id {id:?} is given twice for case {hash:?}"
                )));
            }
        }
        // These run user code (serialize()), so before the lock: code that asks this run
        // anything (its run_id) would otherwise wait on itself.
        let test_case_json: Arc<str> = serialize_case(test_case, hooks)?.into();
        let case_label = super::suite::labels::case_labels(
            std::slice::from_ref(test_case),
            std::slice::from_ref(&test_case_json),
        )
        .pop()
        .flatten();
        // An output whose own serialize() raises is refused with its error, as the SDK raises.
        let output_json = to_json(&stored_output(output)?);
        let mut phase = self.phase.lock_py_attached(py).expect("never poisoned");
        let open = match &mut *phase {
            Phase::Started(open) => open,
            Phase::New { .. } => return Err(self.not_started("adding results")),
            Phase::Ended { run_id } => {
                return Err(PyValueError::new_err(format!(
                    "run {run_id} has ended: no more results can be added"
                )))
            }
        };
        let index = open.next_index as usize;
        validate::hash(index, &hash, &|_| label(test_case))?;
        if open.hashes.contains(&hash) {
            return Err(PyValueError::new_err(format!(
                "run {}: a case with hash {hash:?} was already added (hashes identify cases, \
                 so they must be unique within a run)",
                open.run_id
            )));
        }
        let case_hash: Arc<str> = hash.as_str().into();
        let record = CaseRecord {
            run_id: open.run_id.clone(),
            index: open.next_index,
            hash: case_hash.clone(),
            trial: 0,
            label: case_label,
            test_case: test_case_json,
            output: Some(output_json),
            duration_s,
            error,
        };
        open.writer.case(record);
        for c in checked {
            open.writer.evaluation(EvaluationRecord {
                run_id: open.run_id.clone(),
                case_index: open.next_index,
                case_hash: case_hash.clone(),
                trial: 0,
                evaluator_id: c.evaluator_id.into(),
                score: Some(c.score),
                threshold: c.threshold.map(|t| t.to_json().into()),
                verdict: verdict(c.score, c.threshold.as_ref()).shared_str(),
                metadata: c.metadata,
                error: None,
                duration_s: 0.0,
            });
        }
        for (evaluator_id, error) in evaluation_errors {
            open.writer.evaluation(EvaluationRecord {
                run_id: open.run_id.clone(),
                case_index: open.next_index,
                case_hash: case_hash.clone(),
                trial: 0,
                evaluator_id: evaluator_id.into(),
                score: None,
                threshold: None,
                verdict: crate::evaluation::Verdict::Errored.shared_str(),
                metadata: None,
                error: Some(error),
                duration_s: 0.0,
            });
        }
        open.next_index += 1;
        open.hashes.insert(hash.clone());
        let writer = &open.writer;
        py.detach(|| writer.flush())?;
        Ok(hash)
    }

    /// Marks the run completed and closes its writer.
    fn end(&self, py: Python<'_>) -> PyResult<()> {
        let mut phase = self.phase.lock_py_attached(py).expect("never poisoned");
        let placeholder = Phase::Ended {
            run_id: String::new(),
        };
        match std::mem::replace(&mut *phase, placeholder) {
            Phase::Started(open) => {
                let run_id = open.run_id.to_string();
                *phase = Phase::Ended {
                    run_id: run_id.clone(),
                };
                open.writer
                    .finish_run(&run_id, RunStatus::Completed, store::now_unix());
                py.detach(|| open.writer.close())?;
                Ok(())
            }
            new @ Phase::New { .. } => {
                *phase = new;
                Err(self.not_started("ending the run"))
            }
            Phase::Ended { run_id } => {
                let message = format!("run {run_id} has already ended");
                *phase = Phase::Ended { run_id };
                Err(PyValueError::new_err(message))
            }
        }
    }

    #[getter]
    fn suite_id(&self) -> &str {
        &self.suite_id
    }

    /// The store file the run is written to.
    #[getter]
    fn store_path(&self) -> PathBuf {
        self.store_path.clone()
    }

    /// The run's id (chosen at construction, stored from `start()` on).
    #[getter]
    fn run_id(&self, py: Python<'_>) -> String {
        match &*self.phase.lock_py_attached(py).expect("never poisoned") {
            Phase::New { run_id } | Phase::Ended { run_id } => run_id.clone(),
            Phase::Started(open) => open.run_id.to_string(),
        }
    }

    /// Whether start() has been called.
    #[getter]
    fn started(&self, py: Python<'_>) -> bool {
        !matches!(
            &*self.phase.lock_py_attached(py).expect("never poisoned"),
            Phase::New { .. }
        )
    }

    /// Whether end() has been called.
    #[getter]
    fn ended(&self, py: Python<'_>) -> bool {
        matches!(
            &*self.phase.lock_py_attached(py).expect("never poisoned"),
            Phase::Ended { .. }
        )
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "ManualRun({:?}, run_id={:?}, ended={})",
            self.suite_id,
            self.run_id(py),
            self.ended(py)
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ManualRun>()
}
