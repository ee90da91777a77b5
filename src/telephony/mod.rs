//! Phone calls: Twilio's protocol (webhook signatures, Media Streams messages, TwiML), the
//! call server trialrun answers calls with, and the audio queue both ends of a stream use.

pub mod call;
pub mod http;
pub mod loopback;
pub mod media;
pub mod playout;
pub mod runtime;
pub mod server;
pub mod signature;
pub mod twiml;

#[cfg(test)]
mod tests;
