//! The suite engine on an asyncio loop: argument checks (plan), sync and async user code
//! (callee), the lanes that step coroutines (lane), the driver that schedules jobs and
//! records results (driver), and the result and evaluation classes Python sees.

mod callee;
pub(crate) mod driver;
pub(crate) mod evaluation;
pub(crate) mod labels;
mod lane;
pub(crate) mod limits;
pub(crate) mod plan;
mod prior;
mod results;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<evaluation::PyThreshold>()?;
    m.add_class::<evaluation::Evaluation>()?;
    m.add_class::<results::EvaluationResult>()?;
    m.add_class::<results::CaseResult>()?;
    m.add_class::<results::RunInfo>()?;
    m.add_class::<results::SuiteResult>()?;
    m.add_class::<driver::SuiteRun>()?;
    limits::register(m)?;
    Ok(())
}
