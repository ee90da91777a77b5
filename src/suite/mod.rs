//! The suite engine: validation of a suite before it starts, the grid of parameter
//! combinations, the scheduler of fn calls and evaluations, and the pool that runs
//! blocking (sync) user code. None of it knows Python: py/ drives it.

pub mod grid;
pub mod pool;
pub mod scheduler;
pub mod tally;
pub mod validate;

pub use scheduler::{Job, Scheduler};
