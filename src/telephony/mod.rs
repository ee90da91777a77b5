//! Twilio's protocol, without networking: webhook signatures, Media Streams messages, TwiML.

pub mod media;
pub mod rest;
pub mod signature;
pub mod twiml;
