//! What a suite takes from the run store instead of calling user code:
//! - resume: the cases an earlier run of the suite finished (fn and every evaluator), kept
//!   as they are, in the same run, which continues;
//! - cache: fn's outputs cached by an earlier run of the same suite and fn;
//! - rescore: the outputs a stored run's fn gave, judged again by the suite's evaluators.
//!
//! Everything is read before the suite starts, so a missing or mismatched run fails the
//! suite before any work.

use super::evaluation::PyThreshold;
use super::plan::Plan;
use super::results::{CaseData, EvaluationData};
use crate::evaluation::{Threshold, Verdict};
use crate::py::convert::json_loads;
use crate::py::errors::SuiteValidationError;
use crate::store::{self, CaseRecord, EvaluationRecord, RunStatus};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// (grid combination, case in the plan, trial).
pub type Key = (usize, usize, u32);

/// A case an earlier run finished: its row and its evaluations' rows.
pub struct StoredCase {
    pub case: CaseRecord,
    pub evaluations: Vec<EvaluationRecord>,
}

/// fn's output for one trial, taken instead of calling fn.
pub enum Replayed {
    /// From the cache: pickled by Python.
    Pickled { output: Vec<u8>, duration_s: f64 },
    /// From the re-scored run: its JSON, or the error fn raised there.
    Stored {
        output: Option<String>,
        error: Option<String>,
        duration_s: f64,
    },
}

/// Where fn's outputs are cached, for writing new ones.
pub struct CacheKey {
    pub fingerprint: Arc<str>,
    /// Per grid combination, its JSON ("" without grid search).
    pub grids: Vec<Arc<str>>,
}

/// The options that take results from the store (`SuiteRun(resume=, cache=, rescore=)`).
pub struct Options<'a> {
    pub resume: bool,
    /// fn's fingerprint, when outputs are cached.
    pub cache: Option<String>,
    /// The run whose outputs are judged again.
    pub rescore: Option<String>,
    /// Makes a stored output (JSON text) the object evaluators get; json.loads by default.
    pub decode: Option<Py<PyAny>>,
    pub store_path: &'a Path,
}

pub struct Prior {
    /// Per grid combination: the stored run it continues (resume).
    pub resumed: Vec<Option<String>>,
    /// The run re-scored.
    pub rescored_from: Option<String>,
    /// Finished cases of the runs resumed.
    finished: HashMap<Key, StoredCase>,
    /// fn's outputs to use instead of calling it.
    outputs: HashMap<Key, Replayed>,
    pub cache: Option<CacheKey>,
    /// Turns a stored JSON output into a Python object.
    decode: Option<Py<PyAny>>,
    /// pickle.loads and pickle.dumps, with the cache.
    pickle: Option<(Py<PyAny>, Py<PyAny>)>,
    /// Keys whose output was taken from the store (not to be cached again).
    taken: HashSet<Key>,
    /// Cache hits and outputs that could not be pickled, for the summary.
    pub hits: u64,
    pub unpicklable: u64,
}

fn invalid(msg: String) -> PyErr {
    SuiteValidationError::new_err(msg)
}

impl Prior {
    /// Reads what `options` take from the store. None when they take nothing.
    pub fn load(py: Python<'_>, plan: &Plan, options: Options<'_>) -> PyResult<Option<Prior>> {
        if !options.resume && options.cache.is_none() && options.rescore.is_none() {
            return Ok(None);
        }
        let path = options.store_path;
        let conn = if path.exists() || options.resume || options.cache.is_some() {
            Some(py.detach(|| store::open(path))?)
        } else {
            None
        };
        let by_hash: HashMap<&str, usize> = plan
            .hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (&**h, i))
            .collect();
        let mut prior = Prior {
            resumed: vec![None; plan.combinations.len()],
            rescored_from: None,
            finished: HashMap::new(),
            outputs: HashMap::new(),
            cache: None,
            decode: options.decode,
            pickle: None,
            taken: HashSet::new(),
            hits: 0,
            unpicklable: 0,
        };
        if options.resume {
            let conn = conn.as_ref().expect("opened for resume");
            prior.load_resumed(plan, conn, &by_hash)?;
        }
        if let Some(run) = &options.rescore {
            let Some(conn) = conn.as_ref() else {
                return Err(invalid(format!(
                    "rescore: there is no run store at {}, so no run {run:?} to re-score",
                    path.display()
                )));
            };
            prior.load_rescored(plan, conn, run, &by_hash)?;
        }
        if let Some(fingerprint) = options.cache {
            let conn = conn.as_ref().expect("opened for the cache");
            prior.load_cache(py, plan, conn, fingerprint, &by_hash)?;
        }
        Ok(Some(prior))
    }

    fn load_resumed(
        &mut self,
        plan: &Plan,
        conn: &rusqlite::Connection,
        by_hash: &HashMap<&str, usize>,
    ) -> PyResult<()> {
        let ids: Vec<&str> = plan.evaluators.iter().map(|e| &*e.id).collect();
        let trials = plan.trials.to_json(&ids);
        let shard = plan.shard.map(|s| s.to_string());
        for (k, combo) in plan.combinations.iter().enumerate() {
            let latest = store::latest_run(
                conn,
                &plan.suite_id,
                combo.grid_json.as_deref(),
                shard.as_deref(),
            )?;
            let Some(run) = latest else { continue };
            let id = &run.run.id;
            match run.status {
                RunStatus::Completed => continue, // nothing to resume: a new run
                RunStatus::Running => {
                    return Err(invalid(format!(
                        "resume: run {id} of suite {} is still running in another process; \
                         wait for it or stop it first",
                        plan.suite_id
                    )))
                }
                RunStatus::Interrupted | RunStatus::Failed | RunStatus::Stopped => {}
            }
            if run.run.trials != trials {
                let show = |t: &Option<String>| t.clone().unwrap_or_else(|| "one trial".into());
                return Err(invalid(format!(
                    "resume: run {id} ran with trials {}, this suite asks for {}; resume needs \
                     the same repeats and verdict policies",
                    show(&run.run.trials),
                    show(&trials)
                )));
            }
            let (cases, evaluations) = store::run_trials(conn, id)?;
            let mut by_case: HashMap<(u32, u32), Vec<EvaluationRecord>> = HashMap::new();
            for e in evaluations {
                by_case.entry((e.case_index, e.trial)).or_default().push(e);
            }
            for case in cases {
                let Some(&index) = by_hash.get(&*case.hash) else {
                    continue; // no longer in the suite
                };
                let evaluations = by_case
                    .remove(&(case.index, case.trial))
                    .unwrap_or_default();
                // Finished: fn raised, or every evaluator of the suite left a row (an
                // evaluator that returned None leaves none: its case runs again).
                let done = case.error.is_some()
                    || ids
                        .iter()
                        .all(|id| evaluations.iter().any(|e| &*e.evaluator_id == *id));
                if done {
                    let key = (k, index, case.trial);
                    self.finished.insert(key, StoredCase { case, evaluations });
                }
            }
            self.resumed[k] = Some(id.clone());
        }
        Ok(())
    }

    fn load_rescored(
        &mut self,
        plan: &Plan,
        conn: &rusqlite::Connection,
        reference: &str,
        by_hash: &HashMap<&str, usize>,
    ) -> PyResult<()> {
        let found = store::runs_matching(conn, reference)?;
        let run = match found.as_slice() {
            [run] => run,
            [] => return Err(invalid(format!("rescore: no stored run {reference:?}"))),
            many => {
                let ids: Vec<&str> = many.iter().map(|r| r.run.id.as_str()).collect();
                return Err(invalid(format!(
                    "rescore: {reference:?} names several runs ({}); give more of the id",
                    ids.join(", ")
                )));
            }
        };
        if run.run.suite_id != plan.suite_id {
            return Err(invalid(format!(
                "rescore: run {} is of suite {:?}, not {:?}",
                run.run.id, run.run.suite_id, plan.suite_id
            )));
        }
        if plan.combinations.len() != 1 || plan.combinations[0].grid_json != run.run.grid {
            return Err(invalid(format!(
                "rescore: run {} ran grid combination {}; re-score it with that one only",
                run.run.id,
                run.run.grid.as_deref().unwrap_or("(none)")
            )));
        }
        let cases = store::run_case_trials(conn, &run.run.id)?;
        for case in cases {
            if let Some(&index) = by_hash.get(&*case.hash) {
                let replayed = Replayed::Stored {
                    output: case.output,
                    error: case.error,
                    duration_s: case.duration_s,
                };
                self.outputs.insert((0, index, case.trial), replayed);
            }
        }
        self.rescored_from = Some(run.run.id.clone());
        Ok(())
    }

    fn load_cache(
        &mut self,
        py: Python<'_>,
        plan: &Plan,
        conn: &rusqlite::Connection,
        fingerprint: String,
        by_hash: &HashMap<&str, usize>,
    ) -> PyResult<()> {
        let grids: Vec<Arc<str>> = plan
            .combinations
            .iter()
            .map(|c| Arc::from(c.grid_json.as_deref().unwrap_or("")))
            .collect();
        let entries = store::cached_outputs(conn, &plan.suite_id, &fingerprint)?;
        let combo_of: HashMap<&str, usize> =
            grids.iter().enumerate().map(|(k, g)| (&**g, k)).collect();
        for e in entries {
            let (Some(&k), Some(&index)) =
                (combo_of.get(e.grid.as_str()), by_hash.get(&*e.case_hash))
            else {
                continue;
            };
            // A re-scored run's own output comes first: it is what is being judged.
            self.outputs
                .entry((k, index, e.trial))
                .or_insert(Replayed::Pickled {
                    output: e.output,
                    duration_s: e.duration_s,
                });
        }
        let pickle = py.import("pickle")?;
        self.pickle = Some((
            pickle.getattr("loads")?.unbind(),
            pickle.getattr("dumps")?.unbind(),
        ));
        self.cache = Some(CacheKey {
            fingerprint: fingerprint.into(),
            grids,
        });
        Ok(())
    }

    /// The finished cases of resumed runs, to be kept instead of run.
    pub fn take_finished(&mut self) -> Vec<(Key, StoredCase)> {
        self.finished.drain().collect()
    }

    /// Keeps a finished case for `take_finished_trial`.
    pub fn put_back(&mut self, key: Key, stored: StoredCase) {
        self.finished.insert(key, stored);
    }

    /// A finished case of a resumed run, for a trial added while the suite runs (a re-run).
    pub fn take_finished_trial(&mut self, key: Key) -> Option<StoredCase> {
        self.finished.remove(&key)
    }

    /// Whether fn is never called (re-scoring): an output missing from the run is an error.
    pub fn replays_only(&self) -> bool {
        self.rescored_from.is_some()
    }

    /// fn's output for `key` from the cache or the re-scored run, as Python's value (Ok)
    /// or fn's error (Err); None when fn must be called.
    pub fn take_output(
        &mut self,
        py: Python<'_>,
        key: Key,
    ) -> Option<(Result<Py<PyAny>, String>, f64)> {
        let replayed = self.outputs.remove(&key)?;
        if self.cache.is_some() {
            self.taken.insert(key);
        }
        Some(match replayed {
            Replayed::Pickled { output, duration_s } => {
                let (loads, _) = self.pickle.as_ref().expect("set with the cache");
                let value = loads
                    .bind(py)
                    .call1((PyBytes::new(py, &output),))
                    .map(Bound::unbind)
                    .map_err(|e| {
                        let tb = crate::py::convert::format_pyerr(py, &e);
                        format!("the cached output could not be unpickled:\n{tb}")
                    });
                if value.is_ok() {
                    self.hits += 1;
                }
                (value, duration_s)
            }
            Replayed::Stored {
                output,
                error,
                duration_s,
            } => {
                let value = match (error, output) {
                    (Some(error), _) => Err(error),
                    (None, text) => self.decode(py, text.as_deref()),
                };
                (value, duration_s)
            }
        })
    }

    /// Whether `key`'s output was taken from the store (once: the mark is cleared).
    pub fn came_from_store(&mut self, key: Key) -> bool {
        self.taken.remove(&key)
    }

    fn decode(&self, py: Python<'_>, text: Option<&str>) -> Result<Py<PyAny>, String> {
        let Some(text) = text else {
            return Ok(py.None());
        };
        let value = json_value(py, text).map_err(|e| crate::py::convert::format_pyerr(py, &e));
        match (&self.decode, value) {
            (Some(decode), Ok(value)) => decode
                .bind(py)
                .call1((value,))
                .map(Bound::unbind)
                .map_err(|e| {
                    let tb = crate::py::convert::format_pyerr(py, &e);
                    format!("load_output raised on the stored output:\n{tb}")
                }),
            (_, value) => value,
        }
    }

    /// fn's output pickled for the cache; None (counted) when it cannot be pickled.
    pub fn pickled(&mut self, py: Python<'_>, output: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
        let (_, dumps) = self.pickle.as_ref()?;
        match dumps.bind(py).call1((output,)) {
            Ok(bytes) => match bytes.cast::<PyBytes>() {
                Ok(b) => Some(b.as_bytes().to_vec()),
                Err(_) => None,
            },
            Err(_) => {
                self.unpicklable += 1;
                None
            }
        }
    }

    /// A stored case as a result: its output decoded, its evaluations as they were.
    pub fn case_data(
        &self,
        py: Python<'_>,
        plan: &Plan,
        case: usize,
        stored: StoredCase,
        run_id: Arc<str>,
        grid: Option<Py<PyDict>>,
    ) -> CaseData {
        let c = stored.case;
        let output = c
            .output
            .as_deref()
            .and_then(|text| json_value(py, text).ok());
        CaseData {
            hash: plan.hashes[case].clone(),
            label: plan.labels[case].clone(),
            input_json: plan.case_json[case].clone(),
            test_case: plan.cases[case].clone_ref(py),
            run_id,
            grid,
            output,
            duration_s: c.duration_s,
            error: c.error,
            evaluations: stored
                .evaluations
                .into_iter()
                .map(|e| evaluation_data(py, e))
                .collect(),
            trial: c.trial,
            trials: vec![],
            judgement: None,
            log: None,
        }
    }
}

/// Python's value of stored JSON (JSON trialrun wrote). Most outputs are text, made here
/// directly; other values go straight to the C scanner of Python's json module, skipping
/// `json.loads`'s Python-level wrapper, which cost more per case than the rest of
/// re-scoring it. Anything the scanner does not take goes through `json.loads`, for its
/// error.
fn json_value(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    static SCAN: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    if text.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(text) {
            return Ok(pyo3::types::PyString::new(py, &s).into_any().unbind());
        }
    }
    let scan = SCAN.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let decoder = py.import("json")?.getattr("JSONDecoder")?.call0()?;
        Ok(decoder.getattr("scan_once")?.unbind())
    })?;
    if let Ok(found) = scan.bind(py).call1((text, 0)) {
        if let Ok((value, end)) = found.extract::<(Bound<'_, PyAny>, usize)>() {
            if end == text.chars().count() {
                return Ok(value.unbind());
            }
        }
    }
    json_loads(py, text)
}

/// A stored evaluation as the engine holds one.
fn evaluation_data(py: Python<'_>, e: EvaluationRecord) -> EvaluationData {
    let mut metadata = e
        .metadata
        .as_deref()
        .and_then(|text| json_loads(py, text).ok())
        .and_then(|m| m.into_bound(py).cast_into::<PyDict>().ok());
    // Assertions are kept inside the stored metadata (driver::metadata_json).
    let mut assertions = None;
    if let Some(m) = &metadata {
        if let Ok(Some(a)) = m.get_item(super::driver::STORED_ASSERTIONS_KEY) {
            let _ = m.del_item(super::driver::STORED_ASSERTIONS_KEY);
            assertions = Some(a.unbind());
            if m.is_empty() {
                metadata = None;
            }
        }
    }
    EvaluationData {
        evaluator_id: e.evaluator_id,
        score: e.score,
        threshold: e
            .threshold
            .as_deref()
            .and_then(parse_threshold)
            .and_then(|inner| Py::new(py, PyThreshold { inner }).ok()),
        verdict: Verdict::parse(&e.verdict).unwrap_or(Verdict::Errored),
        metadata: metadata.map(Bound::unbind),
        assertions,
        error: e.error,
        duration_s: e.duration_s,
        log: None,
    }
}

/// A threshold from its stored JSON ({"gte": 0.5}).
fn parse_threshold(text: &str) -> Option<Threshold> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    let bound = |name: &str| map.get(name).and_then(serde_json::Value::as_f64);
    Threshold::new(bound("lt"), bound("lte"), bound("gt"), bound("gte")).ok()
}
