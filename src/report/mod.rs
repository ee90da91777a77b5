//! What a person sees: the live progress bar and the end-of-suite summary.
//! (JUnit XML, JSON and HTML reports join here with the run-history work.)

pub mod call_timeline;
pub mod charts;
pub mod common;
pub mod export;
pub mod html;
pub mod junit;
pub mod progress;
pub mod summary;
pub mod text;
