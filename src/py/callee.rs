//! A piece of user code the engine calls (fn, or an evaluator's evaluate_test_case):
//! whether it is async, and for sync code the pool it blocks in and whether it has
//! proved trivial enough to call inline on the event loop.

use crate::suite::pool::BlockingPool;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::intern;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Sync calls this fast, this many times in a row, move onto the loop thread: a thread
/// hop costs more than the call itself. One inline call slower than DEMOTE_AFTER moves
/// the callee back to its pool, so slow sync code never holds the loop for long.
const PROMOTE_BELOW: Duration = Duration::from_micros(100);
const PROMOTE_STREAK: u32 = 32;
const DEMOTE_AFTER: Duration = Duration::from_millis(1);

#[derive(Default)]
pub struct SpeedProbe {
    fast_streak: AtomicU32,
    inline: AtomicBool,
}

impl SpeedProbe {
    pub fn inline(&self) -> bool {
        self.inline.load(Ordering::Relaxed)
    }

    /// A call that ran on the pool took `took` (time inside the user's code).
    pub fn observe_pool(&self, took: Duration) {
        if took < PROMOTE_BELOW {
            if self.fast_streak.fetch_add(1, Ordering::Relaxed) + 1 >= PROMOTE_STREAK {
                self.inline.store(true, Ordering::Relaxed);
            }
        } else {
            self.fast_streak.store(0, Ordering::Relaxed);
        }
    }

    /// A call that ran inline took `took`.
    pub fn observe_inline(&self, took: Duration) {
        if took > DEMOTE_AFTER {
            self.fast_streak.store(0, Ordering::Relaxed);
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

/// Coroutines and other objects with __await__ (a sync callable may return one).
pub fn is_awaitable(obj: &Bound<'_, PyAny>) -> bool {
    static COROUTINE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = obj.py();
    if let Ok(coro) = COROUTINE.import(py, "types", "CoroutineType") {
        if obj.get_type().is(coro) {
            return true;
        }
    }
    if obj.is_none() || obj.is_instance_of::<pyo3::types::PyString>() {
        return false;
    }
    obj.get_type().hasattr(intern!(py, "__await__")).unwrap_or(false)
}
