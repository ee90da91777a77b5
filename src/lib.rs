//! trialrun's Rust core. Everything but `py` is plain Rust, unit-tested with `cargo test`;
//! `py` holds every Python conversion and the #[pymodule].

pub mod evaluation;
pub mod history;
pub mod report;
pub mod store;
pub mod suite;
pub mod viewer;
pub mod voice;

mod py;

pub use py::_core;
