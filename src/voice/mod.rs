//! Voice calls: model providers, the simulated caller and its persona, and the conversation
//! record that call metrics and judges read. Call audio is the `audio` room's.

pub mod caller;
pub mod conversation;
pub mod judge;
pub mod metrics;
pub mod persona;
pub mod providers;
pub mod say;
