//! Python bindings of the local viewer (trialrun ui): `trialrun._core.Viewer`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::PyType;

use crate::store;
use crate::viewer::{self};

/// The local web viewer, serving the run store on 127.0.0.1 until `stop()` (or the end of
/// a `with` block, or garbage collection).
#[pyclass(frozen, module = "trialrun._core", name = "Viewer")]
pub struct Viewer {
    addr: SocketAddr,
    /// None once stopped.
    running: Mutex<Option<viewer::Viewer>>,
}

#[pymethods]
impl Viewer {
    /// Starts serving `store_path` (default: the run store of TRIALRUN_HOME or of the
    /// current folder) on 127.0.0.1:`port` (0: any free port). Raises OSError when the
    /// port cannot be bound, trialrun.StoreError when the store cannot be opened.
    #[new]
    #[pyo3(signature = (store_path=None, port=0))]
    fn new(py: Python<'_>, store_path: Option<PathBuf>, port: u16) -> PyResult<Viewer> {
        let store_path = store_path.unwrap_or_else(store::default_path);
        let running = py.detach(|| viewer::Viewer::start(store_path, port))?;
        Ok(Viewer {
            addr: running.addr(),
            running: Mutex::new(Some(running)),
        })
    }

    /// The page's address, e.g. "http://127.0.0.1:8123/".
    #[getter]
    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    #[getter]
    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Whether it still serves (False after stop()).
    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        self.running
            .lock_py_attached(py)
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Stops serving and waits for the server thread; stopping twice is harmless.
    fn stop(&self, py: Python<'_>) {
        // Taken under the lock, stopped after releasing it, with the GIL released.
        let running = self
            .running
            .lock_py_attached(py)
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(running) = running {
            py.detach(|| running.stop());
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (_exc_type=None, _exc_value=None, _traceback=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<Bound<'_, PyType>>,
        _exc_value: Option<Bound<'_, PyAny>>,
        _traceback: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.stop(py);
        false
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = if self.running(py) {
            "running"
        } else {
            "stopped"
        };
        format!("<trialrun Viewer {} ({state})>", self.url())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Viewer>()
}
