//! Pure-Rust audio for telephone calls: G.711 mu-law, resampling between 8, 16, 22.05 and
//! 24 kHz, WAV files and two-channel call recordings, DTMF tones, and voice-activity
//! detection.

pub mod dtmf;
pub mod frames;
pub mod goertzel;
pub mod mulaw;
pub mod mulaw_wav;
pub mod recorder;
pub mod resample;
pub mod vad;
pub mod wav;
