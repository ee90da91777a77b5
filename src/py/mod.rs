//! The only Rust code that knows Python: classes, conversions, and the driver that runs
//! the suite engine on an asyncio event loop.

mod baselines;
mod bridge;
mod convert;
mod errors;
mod history;
mod manual_run;
mod review;
mod steps;
mod suite;
mod viewer;
mod voice;

use pyo3::prelude::*;

/// Registers the Python types the engine checks against (called once by the package).
#[pyfunction]
fn _bind(
    py: Python<'_>,
    base_test_case: Py<PyAny>,
    base_test_evaluator: Py<PyAny>,
    grid_var: Py<PyAny>,
) -> PyResult<()> {
    let default_serialize = base_test_case.bind(py).getattr("serialize")?.unbind();
    let _ = suite::plan::HOOKS.set(
        py,
        suite::plan::Hooks {
            base_test_case,
            base_test_evaluator,
            default_serialize,
            grid_var,
        },
    );
    Ok(())
}

/// Hex MD5 digest of a str, as Autoblocks' `md5` helper.
#[pyfunction(name = "md5")]
fn md5_hex(text: &str) -> String {
    format!("{:x}", ::md5::compute(text.as_bytes()))
}

/// The run store's path: $TRIALRUN_HOME/trialrun.db, else ./.trialrun/trialrun.db.
#[pyfunction]
fn default_store_path() -> std::path::PathBuf {
    crate::store::default_path()
}

#[pymodule]
pub fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    suite::register(m)?;
    m.add_function(wrap_pyfunction!(_bind, m)?)?;
    m.add_function(wrap_pyfunction!(md5_hex, m)?)?;
    m.add_function(wrap_pyfunction!(default_store_path, m)?)?;
    errors::register(m)?;
    history::register(m)?;
    baselines::register(m)?;
    viewer::register(m)?;
    review::register(m)?;
    manual_run::register(m)?;
    steps::register(m)?;
    voice::register(m)?;
    Ok(())
}
