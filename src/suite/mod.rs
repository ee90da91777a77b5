//! The suite engine: validation of a suite before it starts, the grid of parameter
//! combinations, the scheduler of fn calls and evaluations, the pool that runs
//! blocking (sync) user code, and the limits callers report into while it runs (adaptive
//! concurrency, budgets, stops). None of it knows Python: py/ drives it.

pub mod aimd;
pub mod budget;
pub mod grid;
pub mod limits;
pub mod pool;
pub mod scheduler;
pub mod shard;
pub mod tally;
pub mod validate;

pub use scheduler::{Job, Scheduler};
