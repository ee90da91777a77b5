//! The battle baselines of the run store, for Autoblocks' BaseAutomaticBattle.

use crate::store::{self, BaselineKey};
use pyo3::prelude::*;
use std::path::PathBuf;

/// The baseline of (suite, case hash, evaluator), or None before its first battle.
#[pyfunction]
fn _battle_baseline(
    py: Python<'_>,
    store_path: PathBuf,
    suite_id: &str,
    case_hash: &str,
    evaluator_id: &str,
) -> PyResult<Option<String>> {
    let key = BaselineKey {
        suite_id,
        case_hash,
        evaluator_id,
    };
    Ok(py.detach(|| store::baseline(&store::open(&store_path)?, &key))?)
}

/// Makes `baseline` the one of (suite, case hash, evaluator).
#[pyfunction]
fn _save_battle_baseline(
    py: Python<'_>,
    store_path: PathBuf,
    suite_id: &str,
    case_hash: &str,
    evaluator_id: &str,
    baseline: &str,
) -> PyResult<()> {
    let key = BaselineKey {
        suite_id,
        case_hash,
        evaluator_id,
    };
    Ok(py.detach(|| {
        store::save_baseline(
            &store::open(&store_path)?,
            &key,
            baseline,
            store::now_unix(),
        )
    })?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_battle_baseline, m)?)?;
    m.add_function(wrap_pyfunction!(_save_battle_baseline, m)?)?;
    Ok(())
}
