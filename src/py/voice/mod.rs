//! Bindings of calls: telephony (the call server, the loopback carrier, Twilio's REST
//! client, calls), offline speech, model providers and personas, and the simulated caller
//! and judge run on a call.

mod caller;
mod providers;
mod speech;
mod telephony;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    telephony::register(m)?;
    speech::register(m)?;
    providers::register(m)?;
    caller::register(m)?;
    Ok(())
}
