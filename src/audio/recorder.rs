//! Two-channel call recordings (caller left, agent right) from timestamped 8 kHz frames
//! that may arrive late, out of order or with gaps.

use std::path::Path;

use super::mulaw;
use super::wav::{write_wav, Audio, WavError};

/// Sample rate of call recordings.
pub const RECORDING_RATE: u32 = super::PHONE_RATE;

/// Default longest recording kept (2 hours); later frames are dropped and counted.
pub const DEFAULT_MAX_MS: u64 = 2 * 60 * 60 * 1000;

/// Which side of the call a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The simulated caller (trialrun): left channel.
    Caller,
    /// The voice agent under test: right channel.
    Agent,
}

/// Records a call as two aligned 8 kHz tracks placed by frame timestamp.
#[derive(Debug, Clone)]
pub struct CallRecorder {
    caller: Vec<i16>,
    agent: Vec<i16>,
    max_samples: usize,
    dropped_frames: u64,
}

impl Default for CallRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl CallRecorder {
    /// An empty recorder keeping up to [`DEFAULT_MAX_MS`] of audio.
    pub fn new() -> Self {
        Self::with_max_ms(DEFAULT_MAX_MS)
    }

    /// An empty recorder keeping up to `max_ms` milliseconds of audio.
    pub fn with_max_ms(max_ms: u64) -> Self {
        let max_samples = ms_to_samples(max_ms);
        Self {
            caller: Vec::new(),
            agent: Vec::new(),
            max_samples,
            dropped_frames: 0,
        }
    }

    /// Places 8 kHz PCM that starts `at_ms` after the call began on one side; a later
    /// frame covering the same time overwrites the earlier one; gaps stay silent.
    pub fn push(&mut self, side: Side, at_ms: u64, samples: &[i16]) {
        let start = ms_to_samples(at_ms);
        let end = start.saturating_add(samples.len());
        if end > self.max_samples {
            self.dropped_frames += 1;
            return;
        }
        let track = match side {
            Side::Caller => &mut self.caller,
            Side::Agent => &mut self.agent,
        };
        if track.len() < end {
            track.resize(end, 0);
        }
        track[start..end].copy_from_slice(samples);
    }

    /// Places a mu-law frame (as carried by Twilio Media Streams) on one side.
    pub fn push_mulaw(&mut self, side: Side, at_ms: u64, bytes: &[u8]) {
        self.push(side, at_ms, &mulaw::decode_all(bytes));
    }

    /// Frames refused because they lay beyond the maximum length.
    #[cfg(test)]
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    /// Length of the recording so far in milliseconds (the longer side).
    #[cfg(test)]
    pub fn duration_ms(&self) -> u64 {
        self.caller.len().max(self.agent.len()) as u64 * 1000 / u64::from(RECORDING_RATE)
    }

    /// The recording as stereo audio, both channels padded with silence to the same length.
    pub fn audio(&self) -> Audio {
        let len = self.caller.len().max(self.agent.len());
        let pad = |track: &Vec<i16>| {
            let mut t = track.clone();
            t.resize(len, 0);
            t
        };
        Audio {
            rate: RECORDING_RATE,
            channels: vec![pad(&self.caller), pad(&self.agent)],
        }
    }

    /// Writes the recording as a 16-bit stereo WAV (caller left, agent right).
    pub fn finish(self, path: &Path) -> Result<(), WavError> {
        write_wav(path, &self.audio())
    }
}

fn ms_to_samples(ms: u64) -> usize {
    usize::try_from(ms.saturating_mul(u64::from(RECORDING_RATE)) / 1000).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::wav::{read_wav, tests::temp_path};

    fn frame(value: i16) -> Vec<i16> {
        vec![value; 160]
    }

    #[test]
    fn places_frames_by_timestamp_with_gaps_and_disorder() {
        let mut rec = CallRecorder::new();
        rec.push(Side::Caller, 0, &frame(1));
        rec.push(Side::Caller, 40, &frame(3)); // 20..40 ms is a gap
        rec.push(Side::Agent, 60, &frame(12)); // arrives before the agent's earlier frame
        rec.push(Side::Agent, 20, &frame(11));
        let audio = rec.audio();
        let (left, right) = (&audio.channels[0], &audio.channels[1]);
        assert_eq!(left.len(), 640);
        assert_eq!(right.len(), 640);
        assert!(left[0..160].iter().all(|&s| s == 1));
        assert!(left[160..320].iter().all(|&s| s == 0));
        assert!(left[320..480].iter().all(|&s| s == 3));
        assert!(left[480..640].iter().all(|&s| s == 0)); // padded to the agent's length
        assert!(right[0..160].iter().all(|&s| s == 0));
        assert!(right[160..320].iter().all(|&s| s == 11));
        assert!(right[320..480].iter().all(|&s| s == 0));
        assert!(right[480..640].iter().all(|&s| s == 12));
        assert_eq!(rec.duration_ms(), 80);
    }

    #[test]
    fn finish_writes_stereo_wav_caller_left() {
        let mut rec = CallRecorder::new();
        rec.push_mulaw(Side::Caller, 0, &[mulaw::encode(1000); 160]);
        rec.push(Side::Agent, 10, &[-500; 80]);
        let expected = rec.audio();
        let path = temp_path("call.wav");
        rec.finish(&path).unwrap();
        let back = read_wav(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(back, expected);
        assert_eq!(back.channels[0][0], mulaw::decode(mulaw::encode(1000)));
        assert_eq!(back.channels[1][79], 0);
        assert_eq!(back.channels[1][80], -500);
    }

    #[test]
    fn frames_beyond_the_limit_are_dropped() {
        let mut rec = CallRecorder::with_max_ms(100);
        rec.push(Side::Caller, 80, &frame(5));
        rec.push(Side::Caller, 100, &frame(6));
        rec.push(Side::Agent, u64::MAX, &frame(7));
        assert_eq!(rec.dropped_frames(), 2);
        assert_eq!(rec.audio().len(), 800);
    }
}
