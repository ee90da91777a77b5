//! trialrun's Rust core. Everything but `py` is plain Rust, unit-tested with `cargo test`;
//! `py` holds every Python conversion and the #[pymodule].

pub(crate) mod audio;
pub(crate) mod evaluation;
pub(crate) mod history;
pub(crate) mod net;
pub(crate) mod report;
pub(crate) mod steps;
pub(crate) mod store;
pub(crate) mod suite;
pub(crate) mod telephony;
pub(crate) mod viewer;
pub(crate) mod voice;
pub(crate) mod xml;

mod py;

pub use py::_core;
