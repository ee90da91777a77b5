//! trialrun's Rust core. Everything but `py` is plain Rust, unit-tested with `cargo test`;
//! `py` holds every Python conversion and the #[pymodule].

pub mod audio;
pub mod evaluation;
pub mod history;
pub mod net;
pub mod report;
pub mod steps;
pub mod store;
pub mod suite;
pub mod telephony;
pub mod viewer;
pub mod voice;
pub mod xml;

mod py;

pub use py::_core;
