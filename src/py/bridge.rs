//! asyncio <-> tokio: Rust work started from Python runs on the shared tokio runtime and is
//! awaited as an asyncio future of the caller's loop.
//!
//! - The future is resolved on the loop's own thread (`call_soon_threadsafe`), where its
//!   result is turned into Python, so the loop never blocks on the network.
//! - Cancelling the asyncio future aborts the tokio task at its next `.await`, so the Rust
//!   side stops waiting and takes nothing more (a cancelled `next_event()` takes no event).
//! - A result that finished just as its future was cancelled is handed back to its
//!   [`Deliver::unwanted`], so what must not be lost (a call's event) is kept for the next
//!   taker rather than dropped.

use std::future::Future;
use std::sync::Mutex;

use pyo3::prelude::*;
use tokio::task::AbortHandle;

use crate::net::runtime::runtime;

/// What finished Rust work hands back to Python.
pub(crate) trait Deliver: Send + 'static {
    /// The future's result (or exception), made on the loop's thread while it still waits.
    fn deliver(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>>;

    /// The future was cancelled before the result reached it.
    fn unwanted(self: Box<Self>) {}
}

impl<F> Deliver for F
where
    F: for<'py> FnOnce(Python<'py>) -> PyResult<Py<PyAny>> + Send + 'static,
{
    fn deliver(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        (*self)(py)
    }
}

/// What a finished background task hands back, to be turned into Python on the loop.
pub(crate) type Finish = Box<dyn Deliver>;

/// Runs `work` on the shared runtime; returns an asyncio future of the running loop that
/// resolves with what it delivers, and whose cancellation aborts `work`.
pub(crate) fn spawn_for_asyncio<'py>(
    py: Python<'py>,
    work: impl Future<Output = Finish> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let (event_loop_ref, future_ref) = (event_loop.unbind(), future.clone().unbind());
    let task = runtime().spawn(async move {
        let finish = work.await;
        // Waiting for the GIL must not stall a runtime worker (and every call on it). A
        // runtime thread never attaches to an interpreter that is shutting down (a call
        // ending as the process exits): nobody awaits the result then.
        tokio::task::spawn_blocking(move || {
            Python::try_attach(|py| {
                let resolve = Resolve {
                    future: future_ref,
                    finish: Mutex::new(Some(finish)),
                };
                // A closed loop has nobody waiting for the result.
                let _ = event_loop_ref
                    .bind(py)
                    .call_method1("call_soon_threadsafe", (resolve,));
            })
        });
    });
    let abort = AbortOnCancel(task.abort_handle());
    future.call_method1("add_done_callback", (abort,))?;
    Ok(future)
}

/// Sets the future's result on the loop's thread, unless it was cancelled meanwhile.
#[pyclass(frozen)]
struct Resolve {
    future: Py<PyAny>,
    finish: Mutex<Option<Finish>>,
}

#[pymethods]
impl Resolve {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let Some(finish) = self.finish.lock().expect("resolve lock").take() else {
            return Ok(());
        };
        let future = self.future.bind(py);
        if future.call_method0("done")?.is_truthy()? {
            finish.unwanted();
            return Ok(());
        }
        match finish.deliver(py) {
            Ok(value) => future.call_method1("set_result", (value,))?,
            Err(error) => future.call_method1("set_exception", (error.into_value(py),))?,
        };
        Ok(())
    }
}

/// The future's done-callback: a cancelled future aborts its tokio task.
#[pyclass(frozen)]
struct AbortOnCancel(AbortHandle);

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}
