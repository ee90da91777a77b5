//! A piece of user code the engine calls (fn, or an evaluator's evaluate_test_case):
//! whether it is async, and for sync code the pool of threads it runs on. Sync code
//! never runs on the event loop: however fast its past calls were, the next one may
//! block (a cache miss, a network call).

use crate::suite::pool::{BlockingPool, Session};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::sync::{Arc, Mutex};

pub struct Callee {
    pub func: Py<PyAny>,
    pub is_async: bool,
    /// Threads for a sync callee, sized to its concurrency limit.
    pub pool: Option<BlockingPool>,
}

impl Callee {
    pub fn new(func: Bound<'_, PyAny>, limit: usize, pool_name: &str) -> PyResult<Callee> {
        let is_async = is_async_callable(&func)?;
        Ok(Callee {
            pool: (!is_async)
                .then(|| BlockingPool::with_session(pool_name, limit, Some(attached()))),
            func: func.unbind(),
            is_async,
        })
    }
}

/// Pool workers run their queued calls attached to the interpreter: the calls attach
/// again themselves (a no-op then), and the GIL changes hands once per batch.
///
/// Workers queue to attach, one at a time. CPython makes each thread waiting for the GIL
/// wake every 5 ms (a timed wait on one shared mutex), so thousands of new workers waiting
/// at once (a suite's first batch at a high concurrency, spawned while the loop holds the
/// GIL) woke each other in a herd that cost more than the calls: 4,000 sync calls of
/// 50 ms took 35 s against 0.5 s for a ThreadPoolExecutor. Queued on ENTRY instead, they
/// sleep until woken, and one waits for the GIL.
fn attached() -> Session {
    static ENTRY: Mutex<()> = Mutex::new(());
    Arc::new(|run: &mut dyn FnMut()| {
        // No thread holds the GIL while waiting here (workers enter from outside Python),
        // and the holder only waits for the GIL: no lock order to invert.
        let entry = ENTRY.lock().unwrap_or_else(|p| p.into_inner());
        Python::attach(|_| {
            drop(entry);
            run()
        })
    })
}

/// `async def` functions, methods, partials of them, and objects with an async __call__.
pub fn is_async_callable(func: &Bound<'_, PyAny>) -> PyResult<bool> {
    static CHECK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = func.py();
    let check = CHECK.import(py, "inspect", "iscoroutinefunction")?;
    if check.call1((func,))?.is_truthy()? {
        return Ok(true);
    }
    if !func.is_instance_of::<pyo3::types::PyFunction>() {
        if let Ok(call) = func.get_type().getattr(intern!(py, "__call__")) {
            return check.call1((call,))?.is_truthy();
        }
    }
    Ok(false)
}

/// Coroutines, futures and any object whose type defines __await__ (a sync callable
/// may return one). Reads the type's am_await slot: no attribute lookup, no exception.
pub fn is_awaitable(obj: &Bound<'_, PyAny>) -> bool {
    let ty = obj.get_type();
    // SAFETY: PyType_GetSlot only reads the slot of a live type object (limited API >= 3.10).
    unsafe { !pyo3::ffi::PyType_GetSlot(ty.as_type_ptr(), pyo3::ffi::Py_am_await).is_null() }
}
