//! Errors at the Python boundary: every exception class `trialrun._core` defines, and the
//! `From` conversions that let bindings use `?` on the core's errors. Which Python class
//! each core error becomes is decided here and nowhere else.

use pyo3::create_exception;
use pyo3::exceptions::{PyLookupError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::audio::pcm::OddLength;
use crate::history::HistoryError;
use crate::steps::{StepsError, StepsErrorKind};
use crate::suite::validate::SpecError;
use crate::telephony::call::{CallOver, DtmfError};
use crate::telephony::loopback::StartError;
use crate::telephony::rest;
use crate::telephony::server::ServerError;
use crate::viewer::ViewerError;
use crate::voice::providers::ProviderError;

create_exception!(
    _core,
    SuiteValidationError,
    PyValueError,
    "A suite's arguments are invalid; the message names the culprit. Raised before any fn call."
);
create_exception!(
    _core,
    StoreError,
    PyRuntimeError,
    "The run store cannot be used: locked beyond the timeout, corrupted, newer than this trialrun, or not writable. The message names the file."
);
create_exception!(
    _core,
    StepsConfigError,
    PyValueError,
    "A step sequence's configuration, step list, data file or saved state is invalid; the message names the file, line and key, or the step. Raised before anything starts."
);
create_exception!(
    _core,
    WorkerError,
    PyRuntimeError,
    "A worker could not start, become ready, or stopped running; the message has the tail of its log."
);
create_exception!(
    _core,
    StepsDataError,
    PyRuntimeError,
    "Loading the MongoDB test data failed, or a collection has fewer documents than its required_count."
);
create_exception!(
    _core,
    TwilioError,
    PyRuntimeError,
    "Twilio (or the loopback carrier) refused a request or could not be reached; the message has Twilio's code and explanation."
);
create_exception!(
    _core,
    CallOverError,
    PyRuntimeError,
    "The call has ended: nothing more can be sent on it."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add(
        "SuiteValidationError",
        py.get_type::<SuiteValidationError>(),
    )?;
    m.add("StoreError", py.get_type::<StoreError>())?;
    m.add("StepsConfigError", py.get_type::<StepsConfigError>())?;
    m.add("WorkerError", py.get_type::<WorkerError>())?;
    m.add("StepsDataError", py.get_type::<StepsDataError>())?;
    m.add("TwilioError", py.get_type::<TwilioError>())?;
    m.add("CallOverError", py.get_type::<CallOverError>())?;
    Ok(())
}

impl From<crate::store::StoreError> for PyErr {
    fn from(e: crate::store::StoreError) -> Self {
        StoreError::new_err(e.to_string())
    }
}

impl From<HistoryError> for PyErr {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::Store(e) => e.into(),
            HistoryError::NotFound(msg) | HistoryError::Ambiguous(msg) => {
                PyLookupError::new_err(msg)
            }
        }
    }
}

impl From<crate::history::merge::MergeError> for PyErr {
    fn from(e: crate::history::merge::MergeError) -> Self {
        use crate::history::merge::MergeError;
        match e {
            MergeError::Store(e) => e.into(),
            MergeError::Refused(msg) => pyo3::exceptions::PyValueError::new_err(msg),
        }
    }
}

impl From<crate::store::ReviewError> for PyErr {
    fn from(e: crate::store::ReviewError) -> Self {
        use crate::store::ReviewError;
        match e {
            ReviewError::Store(e) => e.into(),
            ReviewError::NotFound(msg) => PyLookupError::new_err(msg),
            ReviewError::Invalid(msg) => PyValueError::new_err(msg),
        }
    }
}

impl From<StepsError> for PyErr {
    fn from(e: StepsError) -> Self {
        match e.kind {
            StepsErrorKind::Config => StepsConfigError::new_err(e.message),
            StepsErrorKind::Worker => WorkerError::new_err(e.message),
            StepsErrorKind::Data => StepsDataError::new_err(e.message),
            StepsErrorKind::Io => PyRuntimeError::new_err(e.message),
        }
    }
}

/// Settings and requests are the caller's to fix (ValueError); the rest is the provider's.
impl From<ProviderError> for PyErr {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::MissingKey { .. }
            | ProviderError::InvalidConfig { .. }
            | ProviderError::InvalidRequest { .. } => PyValueError::new_err(e.to_string()),
            other => PyRuntimeError::new_err(other.to_string()),
        }
    }
}

impl From<rest::TwilioError> for PyErr {
    fn from(e: rest::TwilioError) -> Self {
        TwilioError::new_err(e.to_string())
    }
}

impl From<CallOver> for PyErr {
    fn from(_: CallOver) -> Self {
        CallOverError::new_err("the call has ended")
    }
}

impl From<DtmfError> for PyErr {
    fn from(e: DtmfError) -> Self {
        match e {
            DtmfError::UnknownDigit(_) => PyValueError::new_err(e.to_string()),
            DtmfError::CallOver => CallOver.into(),
        }
    }
}

impl From<OddLength> for PyErr {
    fn from(e: OddLength) -> Self {
        PyValueError::new_err(e.to_string())
    }
}

/// A port that cannot be bound is the system's refusal (OSError); a bad store is a StoreError.
impl From<ViewerError> for PyErr {
    fn from(e: ViewerError) -> Self {
        match e {
            ViewerError::Bind { .. } => PyOSError::new_err(e.to_string()),
            ViewerError::Store(e) => e.into(),
        }
    }
}

impl From<SpecError> for PyErr {
    fn from(e: SpecError) -> Self {
        SuiteValidationError::new_err(e.0)
    }
}

/// A call server or loopback carrier that cannot start was given settings it cannot use.
impl From<ServerError> for PyErr {
    fn from(e: ServerError) -> Self {
        PyValueError::new_err(e.to_string())
    }
}

impl From<StartError> for PyErr {
    fn from(e: StartError) -> Self {
        PyValueError::new_err(e.to_string())
    }
}
