//! A piece of user code the engine calls (fn, or an evaluator's evaluate_test_case):
//! whether it is async, and for sync code the pool it blocks in and whether it has
//! proved trivial enough to call inline on the event loop.

use crate::suite::pool::BlockingPool;
use pyo3::prelude::*;
use pyo3::intern;
use pyo3::sync::PyOnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Sync calls that prove this fast move onto the loop thread: a thread hop costs more
/// than the call itself. A pool call's wall time includes waits for the GIL, which the
/// busy loop thread holds, so a trivial callee sometimes looks slow: fast calls add one
/// point, slow ones take SLOW_PENALTY, and PROMOTE_AT points promote. A callee that
/// blocks (I/O, sleep, a model call) is never fast and stays in its pool. One inline
/// call slower than DEMOTE_AFTER sends the callee back, so slow code never holds the
/// loop for long.
const PROMOTE_BELOW: Duration = Duration::from_micros(100);
const PROMOTE_AT: u32 = 32;
const SLOW_PENALTY: u32 = 4;
const DEMOTE_AFTER: Duration = Duration::from_millis(1);

#[derive(Default)]
pub struct SpeedProbe {
    points: AtomicU32,
    inline: AtomicBool,
}

impl SpeedProbe {
    pub fn inline(&self) -> bool {
        self.inline.load(Ordering::Relaxed)
    }

    /// A call that ran on the pool took `took` (wall time inside the user's code).
    pub fn observe_pool(&self, took: Duration) {
        if took < PROMOTE_BELOW {
            if self.points.fetch_add(1, Ordering::Relaxed) + 1 >= PROMOTE_AT {
                self.inline.store(true, Ordering::Relaxed);
            }
        } else {
            let _ = self.points.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| Some(p.saturating_sub(SLOW_PENALTY)));
        }
    }

    /// A call that ran inline took `took`.
    pub fn observe_inline(&self, took: Duration) {
        if took > DEMOTE_AFTER {
            self.points.store(0, Ordering::Relaxed);
            self.inline.store(false, Ordering::Relaxed);
        }
    }
}

pub struct Callee {
    pub func: Py<PyAny>,
    pub is_async: bool,
    /// Threads for a sync callee, sized to its concurrency limit.
    pub pool: Option<BlockingPool>,
    pub speed: std::sync::Arc<SpeedProbe>,
}

impl Callee {
    pub fn new(func: Bound<'_, PyAny>, limit: usize, pool_name: &str) -> PyResult<Callee> {
        let is_async = is_async_callable(&func)?;
        Ok(Callee {
            pool: (!is_async).then(|| BlockingPool::new(pool_name, limit)),
            func: func.unbind(),
            is_async,
            speed: Default::default(),
        })
    }
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
