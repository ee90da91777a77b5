//! Lanes: coroutines implemented in Rust that real asyncio Tasks drive, each carrying
//! one async job after another. When a job's coroutine finishes, its lane records
//! the result and steps the next job's coroutine within the same task step: no Task is
//! created per job and no loop iteration is lost between jobs. Each job's steps run in
//! its own contextvars Context; `asyncio.current_task()` is the lane's real Task.

use super::driver::{Ending, Finished, SuiteRun};
use pyo3::exceptions::{PyKeyboardInterrupt, PyStopIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::{intern, PyTypeInfo};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// Jobs a lane may finish in one task step before it yields to the loop, so a suite
/// of coroutines that never suspend cannot starve other tasks.
const JOBS_PER_STEP: usize = 64;

/// One async job in progress.
pub struct AsyncJob {
    pub job: crate::suite::Job,
    /// The coroutine (or an awaitable's __await__ iterator) being stepped.
    pub inner: Py<PyAny>,
    /// The job's own contextvars.Context, entered for every step.
    pub context: Py<PyAny>,
    pub started: Instant,
}

impl AsyncJob {
    /// An async job for `awaitable`: coroutines are stepped directly, other awaitables
    /// through their __await__ iterator.
    pub fn new(
        job: crate::suite::Job,
        awaitable: &Bound<'_, PyAny>,
        context: Py<PyAny>,
        started: Instant,
    ) -> PyResult<AsyncJob> {
        let py = awaitable.py();
        let inner = if awaitable.get_type().name()? == "coroutine" {
            awaitable.clone()
        } else {
            awaitable.call_method0(intern!(py, "__await__"))?
        };
        Ok(AsyncJob {
            job,
            inner: inner.unbind(),
            context,
            started,
        })
    }
}

enum Resume<'py> {
    Send(Bound<'py, PyAny>),
    Throw(Bound<'py, PyAny>),
}

#[pyclass(frozen, module = "trialrun._core")]
pub struct Lane {
    run: Py<SuiteRun>,
    current: Mutex<Option<AsyncJob>>,
    /// The task driving this lane.
    task: OnceLock<Py<PyAny>>,
}

impl Lane {
    pub fn new(run: Py<SuiteRun>, current: AsyncJob) -> Lane {
        Lane {
            run,
            current: Mutex::new(Some(current)),
            task: OnceLock::new(),
        }
    }

    pub fn set_task(&self, task: Py<PyAny>) {
        let _ = self.task.set(task);
    }

    /// Cancels the driving task: its job sees CancelledError, is recorded, and the
    /// lane ends.
    pub fn cancel(&self, py: Python<'_>) -> PyResult<()> {
        if let Some(task) = self.task.get() {
            task.bind(py).call_method0(intern!(py, "cancel"))?;
        }
        Ok(())
    }

    /// Steps the current job; when it finishes, records it and goes on with the next
    /// job the driver hands over. Some(value) to yield to the task, None when done.
    fn advance<'py>(
        slf: &Bound<'py, Self>,
        mut resume: Resume<'py>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        // A CancelledError thrown in by the task (interrupt, loop shutdown) stops the
        // suite and ends this lane; one raised by user code fails only its job.
        let cancelled_from_outside = matches!(&resume, Resume::Throw(e) if is_cancelled_error(e));
        for _ in 0..JOBS_PER_STEP {
            let Some((job, inner, context, started)) = slf.get().current(py) else {
                return Ok(None);
            };
            let inner = inner.bind(py);
            let stepped = match resume {
                Resume::Send(v) => context.call_method1(
                    py,
                    intern!(py, "run"),
                    (inner.getattr(intern!(py, "send"))?, v),
                ),
                Resume::Throw(e) => context.call_method1(
                    py,
                    intern!(py, "run"),
                    (inner.getattr(intern!(py, "throw"))?, e),
                ),
            };
            let outcome = match stepped {
                Ok(yielded) => return Ok(Some(yielded)),
                Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
                    Ending::Value(e.value(py).getattr(intern!(py, "value"))?.unbind())
                }
                Err(e) if is_cancelled_error(e.value(py).as_any()) => Ending::Cancelled,
                Err(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => {
                    // Ctrl-C (on Python 3.10 it lands inside whatever code runs), or user
                    // code raising it: not this job's failure. The suite stops and its
                    // future raises it, as for a sync call. Not raised out of this task:
                    // a task started eagerly (3.12+) would raise it into whoever started
                    // the lane, not to the caller. SystemExit, like any other exception,
                    // errors the job (as pytest reports sys.exit() in a test).
                    let run = slf.get().run.bind(py);
                    SuiteRun::interrupt_raising(run, e)?;
                    let finished = Finished {
                        job,
                        outcome: Ending::Cancelled,
                        started,
                        ended: Instant::now(),
                    };
                    SuiteRun::lane_finished(run, slf, finished, false);
                    *slf.get().current.lock().unwrap() = None;
                    return Ok(None);
                }
                Err(e) => Ending::Raised(crate::py::convert::format_pyerr(py, &e)),
            };
            let run = slf.get().run.bind(py);
            if cancelled_from_outside && matches!(outcome, Ending::Cancelled) {
                // Only interrupt() cancels lanes from the engine's side; anyone else
                // (loop shutdown, a cancel-everything loop) means the suite must stop.
                SuiteRun::interrupt(run)?;
            }
            let finished = Finished {
                job,
                outcome,
                started,
                ended: Instant::now(),
            };
            let next = SuiteRun::lane_finished(run, slf, finished, !cancelled_from_outside);
            let has_next = next.is_some();
            *slf.get().current.lock().unwrap() = next;
            if !has_next {
                return Ok(None);
            }
            resume = Resume::Send(py.None().into_bound(py));
        }
        Ok(Some(py.None())) // a bare yield: the task steps us again on the next iteration
    }

    fn current(
        &self,
        py: Python<'_>,
    ) -> Option<(crate::suite::Job, Py<PyAny>, Py<PyAny>, Instant)> {
        let guard = self.current.lock().unwrap();
        guard.as_ref().map(|l| {
            (
                l.job,
                l.inner.clone_ref(py),
                l.context.clone_ref(py),
                l.started,
            )
        })
    }
}

fn is_cancelled_error(e: &Bound<'_, PyAny>) -> bool {
    let py = e.py();
    py.import("asyncio")
        .and_then(|m| m.getattr("CancelledError"))
        .and_then(|t| e.is_instance(&t))
        .unwrap_or(false)
}

#[pymethods]
impl Lane {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Option<Py<PyAny>>> {
        Lane::advance(slf, Resume::Send(slf.py().None().into_bound(slf.py())))
    }

    fn send(slf: &Bound<'_, Self>, value: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Lane::advance(slf, Resume::Send(value))?.ok_or_else(|| PyStopIteration::new_err(()))
    }

    #[pyo3(signature = (typ, val=None, _tb=None))]
    fn throw(
        slf: &Bound<'_, Self>,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let exc = if typ.is_instance(&pyo3::exceptions::PyBaseException::type_object(py))? {
            typ
        } else if let Some(v) = val.filter(|v| !v.is_none()) {
            typ.call1((v,))?
        } else {
            typ.call0()
                .map_err(|_| PyTypeError::new_err("throw() needs an exception"))?
        };
        if slf.get().current(py).is_none() {
            return Err(PyErr::from_value(exc));
        }
        Lane::advance(slf, Resume::Throw(exc))?.ok_or_else(|| PyStopIteration::new_err(()))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if let Some((_, inner, context, _)) = self.current(py) {
            let close = inner.bind(py).getattr(intern!(py, "close"))?;
            context.call_method1(py, intern!(py, "run"), (close,))?;
        }
        Ok(())
    }
}
