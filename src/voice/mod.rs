//! Voice calls: the audio toolbox for phoning voice agents, model providers, the simulated
//! caller's persona, and the conversation record that call metrics and judges read.

pub mod audio;
pub mod conversation;
pub mod judge;
pub mod persona;
pub mod providers;
