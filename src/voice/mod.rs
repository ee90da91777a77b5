//! Voice calls: the audio toolbox for phoning voice agents (later also providers, the
//! simulated caller and call metrics).

pub mod audio;
pub mod providers;
