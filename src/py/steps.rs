//! Python bindings of the step sequencer: `trialrun._core.StepSession`, one run of a
//! sequence. The Python side (trialrun.steps) calls the user's prepare/execute on its
//! event loop and hands each outcome here; structured values cross as JSON text.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use serde_json::{Map, Value};

use crate::py::errors::StepsConfigError;
use crate::steps::{self, keys, Next, Session, StepOutcome, StepSpec};

fn json_object(what: &str, text: &str) -> PyResult<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(StepsConfigError::new_err(format!(
            "{what}: expected a JSON object"
        ))),
        Err(e) => Err(StepsConfigError::new_err(format!("{what}: {e}"))),
    }
}

/// (index, round, name, description, worker) of the next step.
type NextStep = (usize, u32, String, String, String);

/// (name, port, env, details JSON) of a worker.
type WorkerRow = (
    String,
    u16,
    std::collections::BTreeMap<String, String>,
    String,
);

fn seed(bytes: &[u8]) -> PyResult<[u8; keys::SEED_LEN]> {
    bytes
        .get(..keys::SEED_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "a signing key is 32 bytes (or a 64-byte keypair), got {}",
                bytes.len()
            ))
        })
}

/// The ed25519 public key of a 32-byte seed.
#[pyfunction]
fn keys_public_key(seed_bytes: &[u8]) -> PyResult<Vec<u8>> {
    Ok(keys::public_key(&seed(seed_bytes)?).to_vec())
}

/// The 64-byte ed25519 signature of `message`.
#[pyfunction]
fn keys_sign(seed_bytes: &[u8], message: &[u8]) -> PyResult<Vec<u8>> {
    Ok(keys::sign(&seed(seed_bytes)?, message).to_vec())
}

/// base58(signature || message): prometheus-test's create_signature.
#[pyfunction]
fn keys_signed_message(seed_bytes: &[u8], message: &[u8]) -> PyResult<String> {
    Ok(keys::signed_message(&seed(seed_bytes)?, message))
}

/// The message of a signed message when `public` (base58) signed it; ValueError otherwise.
#[pyfunction]
fn keys_open_signed_message(signed: &str, public: &str) -> PyResult<Vec<u8>> {
    keys::open_signed_message(signed, public).map_err(PyValueError::new_err)
}

#[pyfunction]
fn keys_b58encode(data: &[u8]) -> String {
    keys::b58encode(data)
}

#[pyfunction]
fn keys_b58decode(text: &str) -> PyResult<Vec<u8>> {
    keys::b58decode(text).map_err(PyValueError::new_err)
}

/// The 32-byte seed of a keypair file (raises StepsConfigError naming the file).
#[pyfunction]
fn keys_read_keypair(py: Python<'_>, path: PathBuf) -> PyResult<Vec<u8>> {
    Ok(py.detach(|| keys::read_keypair_file(&path))?.to_vec())
}

/// One run of a step sequence. Dropping it (or `close()`) stops every process it started.
#[pyclass(frozen, module = "trialrun._core", name = "StepSession")]
pub struct StepSession {
    session: Mutex<Session>,
}

impl StepSession {
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Session> {
        self.session
            .lock_py_attached(py)
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the session with the GIL released (the lock is waited for without it):
    /// starting and stopping workers takes seconds, and other Python threads go on.
    fn detached<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Session) -> T + Send) -> T {
        py.detach(|| f(&mut self.session.lock().unwrap_or_else(|p| p.into_inner())))
    }
}

#[pymethods]
impl StepSession {
    /// Reads and checks the configuration, the steps ((name, description, worker) tuples)
    /// and the saved state. Starts nothing. Raises StepsConfigError naming the culprit.
    #[new]
    #[pyo3(signature = (config_file, overrides_json, steps, python, fallback_id, force_reset=false, from_step=None, only=Vec::new(), store_path=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        config_file: PathBuf,
        overrides_json: &str,
        steps: Vec<(String, String, String)>,
        python: PathBuf,
        fallback_id: String,
        force_reset: bool,
        from_step: Option<String>,
        only: Vec<String>,
        store_path: Option<PathBuf>,
    ) -> PyResult<StepSession> {
        let overrides = json_object("config_overrides", overrides_json)?;
        let options = steps::Options {
            config_file,
            overrides,
            steps: steps
                .into_iter()
                .map(|(name, description, worker)| StepSpec {
                    name,
                    description,
                    worker,
                })
                .collect(),
            force_reset,
            from: from_step,
            only,
            python,
            fallback_id,
            store_path,
        };
        let session = py.detach(|| Session::prepare(options))?;
        Ok(StepSession {
            session: Mutex::new(session),
        })
    }

    /// Config warnings and what the session decided (resume point, data loaded).
    #[getter]
    fn notes(&self, py: Python<'_>) -> Vec<String> {
        self.lock(py).notes.clone()
    }

    /// One line per unknown config key (file, line, key); also among `notes`.
    #[getter]
    fn config_warnings(&self, py: Python<'_>) -> Vec<String> {
        self.lock(py).config.warnings.clone()
    }

    #[getter]
    fn suite_id(&self, py: Python<'_>) -> String {
        self.lock(py).suite_id.clone()
    }

    #[getter]
    fn state_path(&self, py: Python<'_>) -> PathBuf {
        self.lock(py).state_path.clone()
    }

    #[getter]
    fn run_id(&self, py: Python<'_>) -> Option<String> {
        self.lock(py).run_id().map(str::to_string)
    }

    /// The checked configuration as JSON: the known keys plus any unknown ones.
    fn config_json(&self, py: Python<'_>) -> String {
        let s = self.lock(py);
        let c = &s.config;
        let mut doc = c.extra.clone();
        let mongodb = c.mongodb.as_ref().map(|m| {
            let collections: Map<String, Value> = m
                .collections
                .iter()
                .map(|col| {
                    let v = serde_json::json!({"data_file": col.data_file, "required_count": col.required_count});
                    (col.name.clone(), v)
                })
                .collect();
            serde_json::json!({"database": m.database, "collections": collections})
        });
        let known = serde_json::json!({
            "task_id": c.task_id, "base_port": c.base_port, "max_rounds": s.max_rounds(),
            "rounds_collection": c.rounds_collection, "server_entrypoint": c.server_entrypoint,
            "base_dir": c.tests_dir, "middle_server_url": c.extra.get("middle_server_url"),
            "data_dir": c.data_dir, "workers_config": c.workers_config, "mongodb": mongodb,
            "step_timeout": c.step_timeout, "retries": c.retries,
            "continue_on_failure": c.continue_on_failure, "config_file": c.config_file,
            "tests_dir": c.tests_dir, "project_dir": c.project_dir,
        });
        if let Value::Object(known) = known {
            doc.extend(known);
        }
        Value::Object(doc).to_string()
    }

    /// Opens the run store and records the run as started (raises trialrun.StoreError).
    fn begin_record(&self, py: Python<'_>) -> PyResult<()> {
        Ok(self.detached(py, |s| s.begin_record())?)
    }

    /// Finds or starts MongoDB and loads the collections when due:
    /// (mongo_uri, database, loaded, embedded); Nones without a mongodb section.
    fn start_data(&self, py: Python<'_>) -> PyResult<(Option<String>, Option<String>, bool, bool)> {
        let d = self.detached(py, |s| s.start_data())?;
        Ok((d.mongo_uri, d.database, d.loaded, d.embedded))
    }

    /// Starts every worker and waits until all are ready (raises WorkerError).
    fn start_workers(&self, py: Python<'_>) -> PyResult<()> {
        Ok(self.detached(py, |s| s.start_workers())?)
    }

    /// Each worker as (name, port, env, details JSON); url is http://127.0.0.1:port.
    /// details: {"data": workers.json's other keys, "keypairs": {role: key file}}.
    fn workers(&self, py: Python<'_>) -> Vec<WorkerRow> {
        let s = self.lock(py);
        s.workers()
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let details = serde_json::json!({
                    "data": s.config.workers[i].data,
                    "keypairs": s.keypairs(i),
                });
                (l.name.clone(), l.port, l.env.clone(), details.to_string())
            })
            .collect()
    }

    /// Counts the rounds from rounds_collection when max_rounds is not set (after the data
    /// and post_load_callback are in); returns the number of rounds.
    fn count_rounds(&self, py: Python<'_>) -> PyResult<u32> {
        Ok(self.detached(py, |s| s.count_rounds())?)
    }

    /// (name, pid) of each running process, the embedded MongoDB server included.
    fn pids(&self, py: Python<'_>) -> Vec<(String, u32)> {
        self.lock(py).pids()
    }

    /// (round_state, global_state, finished rounds' states by round number) as JSON.
    fn states_json(&self, py: Python<'_>) -> (String, String, String) {
        let s = self.lock(py);
        (
            Value::Object(s.round_state().clone()).to_string(),
            Value::Object(s.global_state().clone()).to_string(),
            Value::Object(s.past_rounds().clone()).to_string(),
        )
    }

    /// The next step as (index, round, name, description, worker), or None when the
    /// sequence is finished or stopped. Raises WorkerError when a worker has died.
    fn next_step(&self, py: Python<'_>) -> PyResult<Option<NextStep>> {
        let next = self.detached(py, |s| s.next_step())?;
        Ok(next.map(|(n, spec)| (n.index, n.round, spec.name, spec.description, spec.worker)))
    }

    /// When the named worker is no longer running: why, with its log tail.
    fn worker_down(&self, py: Python<'_>, worker: &str) -> Option<String> {
        self.lock(py).worker_down(worker)
    }

    /// Records a finished step in the state file (atomically) and the run store.
    #[pyo3(signature = (index, round, outcome, output_json, error, reason, attempts, duration_s, round_state_json, global_state_json))]
    #[allow(clippy::too_many_arguments)]
    fn finish_step(
        &self,
        py: Python<'_>,
        index: usize,
        round: u32,
        outcome: &str,
        output_json: Option<String>,
        error: Option<String>,
        reason: Option<String>,
        attempts: u32,
        duration_s: f64,
        round_state_json: &str,
        global_state_json: &str,
    ) -> PyResult<()> {
        let outcome = StepOutcome::parse(outcome)
            .ok_or_else(|| PyValueError::new_err(format!("unknown outcome {outcome:?}")))?;
        let round_state = json_object("round_state", round_state_json)?;
        let global_state = json_object("global_state", global_state_json)?;
        Ok(self.detached(py, |s| {
            s.finish_step(
                Next { index, round },
                outcome,
                output_json,
                error,
                reason,
                attempts,
                duration_s,
                round_state,
                global_state,
            )
        })?)
    }

    /// Every round completed.
    #[getter]
    fn finished(&self, py: Python<'_>) -> bool {
        self.lock(py).finished()
    }

    #[getter]
    fn round(&self, py: Python<'_>) -> u32 {
        self.lock(py).round()
    }

    /// Stops every process and records the run's end; returns a store error's message
    /// (the run's results may be incomplete in the store), else None.
    #[pyo3(signature = (interrupted=false, errored=false))]
    fn close(&self, py: Python<'_>, interrupted: bool, errored: bool) -> Option<String> {
        self.detached(py, |s| s.close(interrupted, errored))
            .map(|e| e.to_string())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<StepSession>()?;
    m.add_function(wrap_pyfunction!(keys_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(keys_sign, m)?)?;
    m.add_function(wrap_pyfunction!(keys_signed_message, m)?)?;
    m.add_function(wrap_pyfunction!(keys_open_signed_message, m)?)?;
    m.add_function(wrap_pyfunction!(keys_b58encode, m)?)?;
    m.add_function(wrap_pyfunction!(keys_b58decode, m)?)?;
    m.add_function(wrap_pyfunction!(keys_read_keypair, m)?)?;
    Ok(())
}
