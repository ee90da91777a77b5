//! The tokio runtime for everything that is not Python: one per process, started on first
//! use, so call servers, loopback carriers, the simulated caller and HTTP clients share its
//! threads rather than each starting their own.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

/// Worker threads: calls are I/O and light audio work, and Python needs a core of its own.
const WORKERS: usize = 2;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The shared runtime (panics only if the OS refuses to start its threads).
pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("trialrun-net")
            .enable_all()
            .build()
            .expect("starting the shared tokio runtime")
    })
}
