//! Plain records every job (suites now; calls and step sequences later) writes to the run store.
//! JSON-valued fields are already-serialized JSON text: conversions from Python happen in py/.
//! Serialized (exports, the viewer's API), those fields are embedded as JSON, not as strings.

use serde::{Serialize, Serializer};
use std::sync::Arc;

/// Serializes JSON text as the JSON it holds (null when absent; a string if it is not JSON).
pub fn raw_json<T: AsRef<str>, S: Serializer>(text: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match text {
        None => s.serialize_none(),
        Some(t) => raw_json_required(t.as_ref(), s),
    }
}

fn raw_json_required<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match serde_json::value::RawValue::from_string(text.to_string()) {
        Ok(raw) => raw.serialize(s),
        Err(_) => s.serialize_str(text),
    }
}

/// Lifecycle of a run as stored in the `runs.status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Completed,
    Interrupted,
    Failed,
    /// Ended early on purpose: a quota or the run's budget was exhausted (the reason is
    /// kept in `runs.stop_reason`).
    Stopped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        Some(match s {
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "interrupted" => RunStatus::Interrupted,
            "failed" => RunStatus::Failed,
            "stopped" => RunStatus::Stopped,
            _ => return None,
        })
    }
}

/// One run: a suite's grid combination (later: a voice-call batch, a step sequence).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub suite_id: String,
    /// "suite" for test suites; later "calls" and "steps".
    pub kind: String,
    /// Unix time in seconds.
    pub started_at: f64,
    /// JSON object of this run's grid combination, None without grid search.
    #[serde(serialize_with = "raw_json")]
    pub grid: Option<String>,
    pub git_commit: Option<String>,
    pub git_branch: Option<String>,
    /// JSON of the run's trial plan (repeats and verdict policies); None for runs of one
    /// trial per case judged as always (the default).
    #[serde(serialize_with = "raw_json", skip_serializing_if = "Option::is_none")]
    pub trials: Option<String>,
    /// "i/n" when the run is shard i of n of its suite (`suite::shard`); None otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The run whose stored outputs this run re-scored (`rescore`), without calling fn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescored_from: Option<String>,
}

fn is_first_trial(trial: &u32) -> bool {
    *trial == 0
}

/// One test case's pass through the function under test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRecord {
    pub run_id: Arc<str>,
    /// Position of the case in the suite's list; keeps `show` in the user's order.
    pub index: u32,
    pub hash: Arc<str>,
    /// Which trial of the case this row is (0 unless the suite repeats its cases).
    #[serde(skip_serializing_if = "is_first_trial")]
    pub trial: u32,
    /// A readable name for the case (`store::label`); None: views show the hash.
    pub label: Option<Arc<str>>,
    /// JSON of `test_case.serialize()`.
    #[serde(serialize_with = "raw_json_required")]
    pub test_case: Arc<str>,
    /// JSON of the output (None when fn raised).
    #[serde(serialize_with = "raw_json")]
    pub output: Option<String>,
    pub duration_s: f64,
    /// Traceback text when fn raised.
    pub error: Option<String>,
}

/// One evaluator's verdict on one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationRecord {
    pub run_id: Arc<str>,
    /// Position of the case in the suite's list (the store's key for it).
    pub case_index: u32,
    pub case_hash: Arc<str>,
    /// The trial of the case this evaluation judged.
    #[serde(skip_serializing_if = "is_first_trial")]
    pub trial: u32,
    pub evaluator_id: Arc<str>,
    /// None when the evaluator raised or returned something invalid.
    pub score: Option<f64>,
    /// JSON object {"lt":..,"lte":..,"gt":..,"gte":..} with only the set bounds.
    /// Shared: an evaluator nearly always returns the same threshold, and there are four
    /// verdicts, so a suite's records need not allocate either.
    #[serde(serialize_with = "raw_json")]
    pub threshold: Option<Arc<str>>,
    /// "passed", "failed", "no_threshold" or "errored".
    pub verdict: Arc<str>,
    /// JSON of the evaluation's metadata.
    #[serde(serialize_with = "raw_json")]
    pub metadata: Option<String>,
    pub error: Option<String>,
    pub duration_s: f64,
}

/// fn's output for one case and trial, kept for later runs of the same suite and fn
/// (`store::cache`).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheRecord {
    pub suite_id: Arc<str>,
    /// Names fn's code and the user's version (made by Python).
    pub fingerprint: Arc<str>,
    /// The grid combination's JSON, "" without grid search.
    pub grid: Arc<str>,
    pub case_hash: Arc<str>,
    pub trial: u32,
    /// The output, pickled.
    pub output: Vec<u8>,
    pub duration_s: f64,
    pub created_at: f64,
}

/// What one call of fn or of an evaluator went through, when there is something to keep:
/// retried attempts (rate limits) and reported usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallLogRecord {
    #[serde(skip)]
    pub run_id: Arc<str>,
    pub case_index: u32,
    #[serde(skip_serializing_if = "is_first_trial")]
    pub trial: u32,
    /// None for fn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluator_id: Option<Arc<str>>,
    /// JSON list of the retried attempts: [{"error": ..., "wait_s": ...}], the first first.
    #[serde(serialize_with = "raw_json")]
    pub attempts: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
}
