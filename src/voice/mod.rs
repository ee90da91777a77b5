//! Voice calls: the audio toolbox for phoning voice agents, model providers, the simulated
//! caller's persona, and the conversation record that call metrics and judges read.

pub mod audio;
pub mod caller;
pub mod conversation;
pub mod judge;
pub mod metrics;
pub mod persona;
pub mod providers;
