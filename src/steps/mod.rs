//! Step sequences (prometheus-test's API): ordered steps run against worker servers that
//! trialrun starts, over rounds, resumable from a state file.
//!
//! - `config`: config.yaml + workers.json, checked, with file/line/key errors;
//! - `env`: the .env layers workers inherit;
//! - `worker`, `ready`: worker processes (process groups, logs, readiness, stopping);
//! - `procs`: the process table: every process a worker started, pids never reused;
//! - `watchdog`: stops the workers when the runner dies without stopping them;
//! - `state`: test_state.json (atomic writes, fingerprint of steps and config);
//! - `sequencer`: which step runs next in which round;
//! - `data`: MongoDB collections loaded from (Extended) JSON files;
//! - `record`: the run in the run store;
//! - `session`: one run, tying these together.
//!
//! Pure Rust: the Python glue (calling prepare/execute, the context) lives in `py/steps.rs`.

pub mod config;
pub mod data;
pub mod env;
pub mod error;
pub mod keys;
pub mod procs;
#[cfg(test)]
mod properties;
pub mod ready;
pub mod record;
pub mod sequencer;
pub mod session;
pub mod state;
pub mod watchdog;
pub mod worker;

pub use error::{StepsError, StepsErrorKind};
pub use sequencer::{Next, StepOutcome};
pub use session::{Options, Session, StepSpec};
