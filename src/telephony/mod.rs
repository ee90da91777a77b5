//! Phone calls: Twilio's protocol (webhook signatures, Media Streams messages, TwiML), the
//! call server trialrun answers calls with, Twilio's REST API client, and the loopback
//! carrier that stands in for Twilio.

pub mod call;
pub mod log;
pub mod loopback;
pub mod media;
pub mod pacing;
pub mod playout;
pub mod rest;
pub mod server;
pub mod signature;
pub mod twiml;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
