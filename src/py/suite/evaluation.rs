//! `Threshold` and `Evaluation` as Python classes; the rules live in crate::evaluation.

use crate::evaluation::{self, check_score, fmt_number, Threshold, Verdict};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

#[pyclass(frozen, eq, module = "trialrun._core", name = "Threshold")]
#[derive(PartialEq)]
pub struct PyThreshold {
    pub inner: Threshold,
}

#[pymethods]
impl PyThreshold {
    #[new]
    #[pyo3(signature = (lt=None, lte=None, gt=None, gte=None))]
    fn new(lt: Option<f64>, lte: Option<f64>, gt: Option<f64>, gte: Option<f64>) -> PyResult<Self> {
        Threshold::new(lt, lte, gt, gte)
            .map(|inner| PyThreshold { inner })
            .map_err(|e| PyValueError::new_err(e.0))
    }

    #[getter]
    fn lt(&self) -> Option<f64> {
        self.inner.lt
    }
    #[getter]
    fn lte(&self) -> Option<f64> {
        self.inner.lte
    }
    #[getter]
    fn gt(&self) -> Option<f64> {
        self.inner.gt
    }
    #[getter]
    fn gte(&self) -> Option<f64> {
        self.inner.gte
    }

    /// Whether `score` satisfies every bound.
    fn contains(&self, score: f64) -> bool {
        self.inner.contains(score)
    }

    fn __repr__(&self) -> String {
        self.inner.describe()
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let t = slf.get().inner;
        let args = PyTuple::new(slf.py(), [t.lt, t.lte, t.gt, t.gte])?;
        Ok((slf.get_type().into_any(), args))
    }
}

#[pyclass(frozen, module = "trialrun._core", name = "Evaluation")]
pub struct Evaluation {
    pub score: f64,
    pub threshold: Option<Py<PyThreshold>>,
    pub metadata: Option<Py<PyDict>>,
    /// The assertions behind the score (Autoblocks' `Assertion`s), kept as given.
    pub assertions: Option<Py<PyAny>>,
}

impl Evaluation {
    pub fn threshold_ref(&self, py: Python<'_>) -> Option<Threshold> {
        self.threshold.as_ref().map(|t| t.bind(py).get().inner)
    }

    pub fn verdict(&self, py: Python<'_>) -> Verdict {
        evaluation::verdict(self.score, self.threshold_ref(py).as_ref())
    }
}

#[pymethods]
impl Evaluation {
    #[new]
    #[pyo3(signature = (score, threshold=None, metadata=None, assertions=None))]
    fn new(
        score: &Bound<'_, PyAny>,
        threshold: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        assertions: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let score: f64 = score.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "Evaluation score must be a number between 0 and 1, got {}",
                type_name(score)
            ))
        })?;
        let score =
            check_score(score).map_err(|e| PyValueError::new_err(format!("Evaluation {e}")))?;
        let threshold = match threshold {
            Some(t) if !t.is_none() => Some(
                t.cast::<PyThreshold>()
                    .map_err(|_| {
                        PyTypeError::new_err(format!(
                            "Evaluation threshold must be a Threshold or None, got {}",
                            type_name(t)
                        ))
                    })?
                    .clone()
                    .unbind(),
            ),
            _ => None,
        };
        let metadata = match metadata {
            Some(m) if !m.is_none() => Some(
                m.cast::<PyDict>()
                    .map_err(|_| {
                        PyTypeError::new_err(format!(
                            "Evaluation metadata must be a dict or None, got {}",
                            type_name(m)
                        ))
                    })?
                    .clone()
                    .unbind(),
            ),
            _ => None,
        };
        let assertions = match assertions {
            Some(a) if !a.is_none() => {
                if !(a.is_instance_of::<PyList>() || a.is_instance_of::<PyTuple>()) {
                    return Err(PyTypeError::new_err(format!(
                        "Evaluation assertions must be a list of Assertion or None, got {}",
                        type_name(a)
                    )));
                }
                Some(a.clone().unbind())
            }
            _ => None,
        };
        Ok(Evaluation {
            score,
            threshold,
            metadata,
            assertions,
        })
    }

    #[getter]
    fn score(&self) -> f64 {
        self.score
    }
    #[getter]
    fn threshold(&self, py: Python<'_>) -> Option<Py<PyThreshold>> {
        self.threshold.as_ref().map(|t| t.clone_ref(py))
    }
    #[getter]
    fn metadata(&self, py: Python<'_>) -> Option<Py<PyDict>> {
        self.metadata.as_ref().map(|m| m.clone_ref(py))
    }
    #[getter]
    fn assertions(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.assertions.as_ref().map(|a| a.clone_ref(py))
    }

    /// Pickled as its constructor's arguments: an evaluator run in another process (a Ray
    /// task, a process pool) sends its Evaluation back.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let e = slf.get();
        let none = || py.None().into_bound(py);
        let args = PyTuple::new(
            py,
            [
                e.score.into_pyobject(py)?.into_any(),
                e.threshold
                    .as_ref()
                    .map_or_else(none, |t| t.bind(py).clone().into_any()),
                e.metadata
                    .as_ref()
                    .map_or_else(none, |m| m.bind(py).clone().into_any()),
                e.assertions
                    .as_ref()
                    .map_or_else(none, |a| a.bind(py).clone()),
            ],
        )?;
        Ok((slf.get_type().into_any(), args))
    }

    /// True or False against the threshold; None when there is no threshold.
    fn passed(&self, py: Python<'_>) -> Option<bool> {
        match self.verdict(py) {
            Verdict::Passed => Some(true),
            Verdict::Failed => Some(false),
            _ => None,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut s = format!("Evaluation(score={}", fmt_number(self.score));
        if let Some(t) = self.threshold_ref(py) {
            s.push_str(&format!(", threshold={}", t.describe()));
        }
        if let Some(m) = &self.metadata {
            s.push_str(&format!(", metadata={}", m.bind(py).repr()?));
        }
        if let Some(a) = &self.assertions {
            s.push_str(&format!(", assertions={}", a.bind(py).repr()?));
        }
        s.push(')');
        Ok(s)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<Evaluation>() else {
            return Ok(false);
        };
        let other = other.get();
        let metadata_eq = match (&self.metadata, &other.metadata) {
            (None, None) => true,
            (Some(a), Some(b)) => a.bind(py).eq(b.bind(py))?,
            _ => false,
        };
        let assertions_eq = match (&self.assertions, &other.assertions) {
            (None, None) => true,
            (Some(a), Some(b)) => a.bind(py).eq(b.bind(py))?,
            _ => false,
        };
        Ok(self.score == other.score
            && self.threshold_ref(py) == other.threshold_ref(py)
            && metadata_eq
            && assertions_eq)
    }
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}
