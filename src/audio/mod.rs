//! Pure-Rust audio for telephone calls (a leaf room: it uses no other): G.711 mu-law, resampling between 8, 16, 22.05 and
//! 24 kHz, WAV files and two-channel call recordings, DTMF tones, and voice-activity
//! detection.

pub mod dtmf;
pub mod frames;
pub mod goertzel;
pub mod mulaw;
pub mod mulaw_wav;
pub mod pcm;
pub mod recorder;
pub mod resample;
pub mod vad;
pub mod wav;

/// The telephone network's sample rate (G.711, Twilio Media Streams), in Hz.
pub const PHONE_RATE: u32 = 8000;
