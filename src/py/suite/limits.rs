//! The Python side of a suite's limits (crate::suite::limits): the object the Python glue
//! (trialrun._limits) reports rate limits, successes, usage and stops into, and the log of
//! one fn or evaluator call (its retries and its usage), bound to the call's contextvars
//! Context so that `trialrun.report_usage` inside fn finds its case.

use crate::net::{bucket, retry};
use crate::store::CallLogRecord;
use crate::suite::budget::{Budget, Price};
use crate::suite::limits::SuiteLimits;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// One call's retried attempts and reported usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallLog {
    /// Per retried attempt: the error it raised and the wait before the next.
    pub retried: Vec<(String, f64)>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub usage_reported: bool,
}

impl CallLog {
    pub fn retries(&self) -> usize {
        self.retried.len()
    }

    /// The attempts as Python dicts {"error", "wait_s"}.
    pub fn attempts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (error, wait) in &self.retried {
            let d = PyDict::new(py);
            d.set_item("error", error)?;
            d.set_item("wait_s", wait)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// {"input_tokens", "output_tokens"}, None when no usage was reported.
    pub fn usage<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        if !self.usage_reported {
            return Ok(None);
        }
        let d = PyDict::new(py);
        d.set_item("input_tokens", self.input_tokens)?;
        d.set_item("output_tokens", self.output_tokens)?;
        Ok(Some(d))
    }

    /// The log as the run store keeps it (`call_logs`); None when there is nothing to keep.
    pub fn record(
        &self,
        run_id: Arc<str>,
        case_index: u32,
        trial: u32,
        evaluator_id: Option<Arc<str>>,
    ) -> Option<CallLogRecord> {
        if self.retried.is_empty() && !self.usage_reported {
            return None;
        }
        let attempts: Vec<serde_json::Value> = self
            .retried
            .iter()
            .map(|(error, wait_s)| serde_json::json!({"error": error, "wait_s": wait_s}))
            .collect();
        let tokens = |n: u64| {
            self.usage_reported
                .then(|| i64::try_from(n).unwrap_or(i64::MAX))
        };
        Some(CallLogRecord {
            run_id,
            case_index,
            trial,
            evaluator_id,
            attempts: (!attempts.is_empty()).then(|| serde_json::Value::from(attempts).to_string()),
            input_tokens: tokens(self.input_tokens),
            output_tokens: tokens(self.output_tokens),
        })
    }
}

#[pyclass(frozen, module = "trialrun._core", name = "SuiteLimits")]
pub struct PySuiteLimits {
    adaptive: bool,
    budget: Budget,
    /// The ContextVar each call's CallRecord is set in.
    pub case_var: Py<PyAny>,
    inner: OnceLock<Arc<SuiteLimits>>,
}

impl PySuiteLimits {
    /// Sizes the limits to the plan's callees (fn's limit first); once.
    pub fn attach(&self, maxima: &[usize]) -> PyResult<Arc<SuiteLimits>> {
        let limits = Arc::new(SuiteLimits::new(maxima, self.adaptive, self.budget.clone()));
        self.inner
            .set(limits.clone())
            .map_err(|_| PyRuntimeError::new_err("SuiteLimits already used by a suite"))?;
        Ok(limits)
    }

    fn get(&self) -> PyResult<&Arc<SuiteLimits>> {
        self.inner
            .get()
            .ok_or_else(|| PyRuntimeError::new_err("SuiteLimits not attached to a suite yet"))
    }
}

#[pymethods]
impl PySuiteLimits {
    #[new]
    #[pyo3(signature = (case_var, *, adaptive=true, max_tokens=None, max_cost=None, prices=None))]
    fn new(
        case_var: Py<PyAny>,
        adaptive: bool,
        max_tokens: Option<u64>,
        max_cost: Option<f64>,
        prices: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PySuiteLimits> {
        if let Some(c) = max_cost {
            if !(c.is_finite() && c > 0.0) {
                return Err(PyValueError::new_err(format!(
                    "max_cost must be a positive number, got {c}"
                )));
            }
        }
        if max_tokens == Some(0) {
            return Err(PyValueError::new_err(
                "max_tokens must be at least 1, got 0",
            ));
        }
        let mut table = std::collections::HashMap::new();
        for (model, pair) in prices.iter().flat_map(|p| p.iter()) {
            let name: String = model.extract().map_err(|_| {
                PyValueError::new_err(format!(
                    "prices keys must be model names (str), got {model}"
                ))
            })?;
            let (input, output): (f64, f64) = pair.extract().map_err(|_| {
                PyValueError::new_err(format!(
                    "prices[{name:?}] must be (input, output) prices per million tokens, got {pair}"
                ))
            })?;
            if !(input.is_finite() && output.is_finite() && input >= 0.0 && output >= 0.0) {
                return Err(PyValueError::new_err(format!(
                    "prices[{name:?}] must be non-negative numbers, got ({input}, {output})"
                )));
            }
            table.insert(
                name,
                Price {
                    input_per_million: input,
                    output_per_million: output,
                },
            );
        }
        if max_cost.is_some() && table.is_empty() {
            return Err(PyValueError::new_err(
                "max_cost needs prices: a dict of model name to (input, output) prices per million tokens",
            ));
        }
        Ok(PySuiteLimits {
            adaptive,
            budget: Budget {
                max_tokens,
                max_cost,
                prices: table,
                ..Default::default()
            },
            case_var,
            inner: OnceLock::new(),
        })
    }

    /// To note when a call of `callee` starts (0 is fn, 1 + i evaluator i).
    fn epoch(&self, callee: usize) -> PyResult<u64> {
        Ok(self.get()?.epoch(callee))
    }

    fn rate_limited(&self, callee: usize, epoch: u64) -> PyResult<()> {
        self.get()?.rate_limited(callee, epoch);
        Ok(())
    }

    fn succeeded(&self, callee: usize) -> PyResult<()> {
        self.get()?.succeeded(callee);
        Ok(())
    }

    /// The current concurrency limit of `callee`; None when it is not adaptive.
    fn limit(&self, callee: usize) -> PyResult<Option<usize>> {
        Ok(self.get()?.limit(callee))
    }

    /// Stops the suite at once with `reason` (an exhausted quota).
    fn stop_now(&self, reason: String) -> PyResult<()> {
        self.get()?.stop_now(reason);
        Ok(())
    }

    /// (tokens, cost) used so far.
    fn used(&self) -> PyResult<(u64, f64)> {
        Ok(self.get()?.used())
    }
}

/// The log of one call, set in its Context by the driver.
#[pyclass(frozen, module = "trialrun._core", name = "CallRecord")]
pub struct CallRecord {
    pub log: Arc<Mutex<CallLog>>,
    pub limits: Arc<SuiteLimits>,
}

#[pymethods]
impl CallRecord {
    /// An attempt that raised `error` is retried after `wait_s`.
    fn retried(&self, error: String, wait_s: f64) {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retried
            .push((error, wait_s));
    }

    /// Counts tokens against the call and the run's budget; ValueError for a model the
    /// price table lacks when the run has a max_cost.
    #[pyo3(signature = (model, input_tokens, output_tokens))]
    fn usage(&self, model: Option<&str>, input_tokens: u64, output_tokens: u64) -> PyResult<()> {
        {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.input_tokens += input_tokens;
            log.output_tokens += output_tokens;
            log.usage_reported = true;
        }
        self.limits
            .usage(model, input_tokens, output_tokens)
            .map_err(PyValueError::new_err)
    }

    #[getter]
    fn retries(&self) -> usize {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).retries()
    }
}

/// `Retry-After` as seconds to wait: delay-seconds or an HTTP date; None when neither.
#[pyfunction]
pub fn retry_after_seconds(value: &str) -> Option<f64> {
    retry::retry_after_value(value, SystemTime::now()).map(|d| d.as_secs_f64())
}

/// Exponential backoff with full jitter: uniform in [0, min(cap_s, base_s * 2^attempt)).
#[pyfunction]
pub fn backoff_seconds(attempt: u32, base_s: f64, cap_s: f64) -> PyResult<f64> {
    let valid = |v: f64| v.is_finite() && v >= 0.0;
    if !(valid(base_s) && valid(cap_s)) {
        return Err(PyValueError::new_err(
            "backoff needs non-negative finite seconds",
        ));
    }
    Ok(retry::full_jitter(
        attempt,
        Duration::from_secs_f64(base_s),
        Duration::from_secs_f64(cap_s),
    )
    .as_secs_f64())
}

/// Sets the shared limits of a provider key (requests and/or tokens per minute).
#[pyfunction]
#[pyo3(signature = (key, requests_per_minute=None, tokens_per_minute=None))]
pub fn set_key_limits(
    key: &str,
    requests_per_minute: Option<f64>,
    tokens_per_minute: Option<f64>,
) -> PyResult<()> {
    for (name, v) in [
        ("requests_per_minute", requests_per_minute),
        ("tokens_per_minute", tokens_per_minute),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                return Err(PyValueError::new_err(format!(
                    "{name} must be a positive number, got {v}"
                )));
            }
        }
    }
    if requests_per_minute.is_none() && tokens_per_minute.is_none() {
        bucket::clear_limits(key);
    } else {
        bucket::set_limits(key, requests_per_minute, tokens_per_minute);
    }
    Ok(())
}

/// Charges one request of `tokens` tokens to `key`: the seconds to wait before sending it
/// (0.0 when it may go now); None when the key has no limits.
#[pyfunction]
#[pyo3(signature = (key, tokens=0.0))]
pub fn reserve_key(key: &str, tokens: f64) -> PyResult<Option<f64>> {
    if !(tokens.is_finite() && tokens >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "tokens must be a non-negative number, got {tokens}"
        )));
    }
    Ok(bucket::acquire(key, tokens).map(|d| d.as_secs_f64()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySuiteLimits>()?;
    m.add_class::<CallRecord>()?;
    m.add_function(wrap_pyfunction!(retry_after_seconds, m)?)?;
    m.add_function(wrap_pyfunction!(backoff_seconds, m)?)?;
    m.add_function(wrap_pyfunction!(set_key_limits, m)?)?;
    m.add_function(wrap_pyfunction!(reserve_key, m)?)?;
    Ok(())
}
