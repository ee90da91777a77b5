//! Energy-based voice-activity detection on 20 ms frames, for turn-taking: an adaptive
//! noise floor, speech start after a few voiced frames, speech end after a silent hangover.

use super::frames::{rms_dbfs, samples_per_frame, FRAME_MS};

/// A change in voice activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech began at `at_ms` (start of its first voiced frame).
    SpeechStarted {
        /// Stream time of the first voiced frame, in ms.
        at_ms: u64,
    },
    /// Speech ended at `at_ms` (end of its last voiced frame); reported a hangover later.
    SpeechEnded {
        /// Stream time just after the last voiced frame, in ms.
        at_ms: u64,
        /// Length of the speech from start to end, in ms.
        duration_ms: u64,
    },
}

/// Thresholds of the detector; the defaults suit 8 kHz telephone audio.
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// Sample rate of the audio pushed in.
    pub rate: u32,
    /// Frame length in ms.
    pub frame_ms: u32,
    /// A frame is voiced when this many dB above the noise floor...
    pub margin_db: f32,
    /// ...and at least this loud (dBFS).
    pub min_speech_dbfs: f32,
    /// Voiced frames in a row needed to start speech (shorter clicks are ignored).
    pub start_frames: u32,
    /// Silence needed to end speech, in ms.
    pub hangover_ms: u32,
    /// How fast the floor follows quieter frames (0..1 per frame).
    pub floor_fall: f32,
    /// How fast the floor follows louder unvoiced frames (0..1 per frame).
    pub floor_rise: f32,
    /// How fast the floor creeps up during voiced frames, so steady loud noise stops being speech.
    pub floor_rise_voiced: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            rate: super::PHONE_RATE,
            frame_ms: FRAME_MS,
            margin_db: 12.0,
            min_speech_dbfs: -50.0,
            start_frames: 3,
            hangover_ms: 600,
            floor_fall: 0.3,
            floor_rise: 0.05,
            floor_rise_voiced: 0.002,
        }
    }
}

/// Streaming voice-activity detector; feed it audio and collect [`VadEvent`]s.
#[derive(Debug)]
pub struct Vad {
    config: VadConfig,
    frame_len: usize,
    /// Samples waiting to fill a frame.
    pending: Vec<i16>,
    /// Frames processed so far.
    frames_seen: u64,
    /// Noise floor estimate in dBFS; None until the first frame.
    floor_dbfs: Option<f32>,
    /// First frame of the current run of voiced frames (before speech is confirmed).
    voiced_run: Option<(u64, u32)>,
    /// While speaking: first frame of the speech, and the frame after the last voiced one.
    speech: Option<(u64, u64)>,
}

impl Vad {
    /// A detector for 8 kHz audio with default thresholds.
    pub fn new() -> Self {
        Self::with_config(VadConfig::default())
    }

    /// A detector with the given thresholds.
    pub fn with_config(config: VadConfig) -> Self {
        let frame_len = samples_per_frame(config.rate, config.frame_ms).max(1);
        Self {
            config,
            frame_len,
            pending: Vec::new(),
            frames_seen: 0,
            floor_dbfs: None,
            voiced_run: None,
            speech: None,
        }
    }

    /// True while speech is in progress (started and not yet ended).
    #[cfg(test)]
    pub fn is_speaking(&self) -> bool {
        self.speech.is_some()
    }

    /// While speech is in progress: how long since its last voiced frame, in ms (0 while
    /// voiced; up to the hangover in a pause). None when no speech is in progress.
    pub fn quiet_ms(&self) -> Option<u64> {
        let (_, end) = self.speech?;
        Some(self.ms(self.frames_seen - end))
    }

    /// Audio processed so far, in ms (whole frames).
    pub fn elapsed_ms(&self) -> u64 {
        self.ms(self.frames_seen)
    }

    /// Current noise-floor estimate in dBFS.
    #[cfg(test)]
    pub fn noise_floor_dbfs(&self) -> Option<f32> {
        self.floor_dbfs
    }

    /// Feeds audio of any length; returns the events of the frames it completed.
    pub fn push(&mut self, samples: &[i16]) -> Vec<VadEvent> {
        self.pending.extend_from_slice(samples);
        let mut events = Vec::new();
        while self.pending.len() >= self.frame_len {
            let frame: Vec<i16> = self.pending.drain(..self.frame_len).collect();
            events.extend(self.process_frame(&frame));
        }
        events
    }

    /// Processes one whole frame (of the configured length).
    pub fn process_frame(&mut self, frame: &[i16]) -> Option<VadEvent> {
        let level = rms_dbfs(frame);
        let floor = *self.floor_dbfs.get_or_insert(level);
        let voiced = level >= floor + self.config.margin_db && level >= self.config.min_speech_dbfs;
        self.update_floor(level, voiced);
        let index = self.frames_seen;
        self.frames_seen += 1;
        if voiced {
            self.on_voiced(index)
        } else {
            self.on_unvoiced(index)
        }
    }

    /// Ends speech in progress at the end of the stream.
    pub fn finish(&mut self) -> Option<VadEvent> {
        self.voiced_run = None;
        let (start, end) = self.speech.take()?;
        Some(self.ended(start, end))
    }

    fn update_floor(&mut self, level: f32, voiced: bool) {
        let floor = self.floor_dbfs.get_or_insert(level);
        let rate = if voiced {
            self.config.floor_rise_voiced
        } else if level < *floor {
            self.config.floor_fall
        } else {
            self.config.floor_rise
        };
        *floor += rate * (level - *floor);
    }

    fn on_voiced(&mut self, index: u64) -> Option<VadEvent> {
        if let Some((_, last)) = self.speech.as_mut() {
            *last = index + 1;
            return None;
        }
        let (start, count) = match self.voiced_run {
            Some((start, count)) => (start, count + 1),
            None => (index, 1),
        };
        self.voiced_run = Some((start, count));
        if count < self.config.start_frames {
            return None;
        }
        self.voiced_run = None;
        self.speech = Some((start, index + 1));
        Some(VadEvent::SpeechStarted {
            at_ms: self.ms(start),
        })
    }

    fn on_unvoiced(&mut self, index: u64) -> Option<VadEvent> {
        self.voiced_run = None;
        let (start, end) = self.speech?;
        let silent_ms = self.ms(index + 1 - end);
        if silent_ms < u64::from(self.config.hangover_ms) {
            return None;
        }
        self.speech = None;
        Some(self.ended(start, end))
    }

    fn ended(&self, start: u64, end: u64) -> VadEvent {
        VadEvent::SpeechEnded {
            at_ms: self.ms(end),
            duration_ms: self.ms(end - start),
        }
    }

    fn ms(&self, frames: u64) -> u64 {
        frames * u64::from(self.config.frame_ms)
    }
}

impl Default for Vad {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }

    fn tone(ms: usize, amplitude: f64) -> Vec<i16> {
        (0..ms * 8)
            .map(|n| {
                (amplitude * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 8000.0).sin()) as i16
            })
            .collect()
    }

    fn noise(len: usize, amplitude: i32, seed: u32) -> Vec<i16> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (((state >> 16) as i32 - 32768) * amplitude / 32768) as i16
            })
            .collect()
    }

    fn run(audio: &[i16]) -> Vec<VadEvent> {
        let mut vad = Vad::new();
        let mut events = Vec::new();
        for chunk in audio.chunks(160) {
            events.extend(vad.push(chunk));
        }
        events.extend(vad.finish());
        events
    }

    fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
        a.iter().zip(b).map(|(x, y)| x.saturating_add(*y)).collect()
    }

    #[test]
    fn tone_bursts_give_exact_events() {
        let audio = [
            silence(500),
            tone(1000, 8000.0),
            silence(1000),
            tone(400, 3000.0),
            silence(1000),
        ]
        .concat();
        assert_eq!(
            run(&audio),
            vec![
                VadEvent::SpeechStarted { at_ms: 500 },
                VadEvent::SpeechEnded {
                    at_ms: 1500,
                    duration_ms: 1000
                },
                VadEvent::SpeechStarted { at_ms: 2500 },
                VadEvent::SpeechEnded {
                    at_ms: 2900,
                    duration_ms: 400
                },
            ]
        );
    }

    #[test]
    fn bursts_over_a_noise_floor_and_pauses_within_hangover() {
        let speech = [
            silence(300),
            tone(500, 6000.0),
            silence(300),
            tone(500, 6000.0),
            silence(900),
        ]
        .concat();
        let audio = mix(&speech, &noise(speech.len(), 60, 7)); // floor about -58 dBFS
        assert_eq!(
            run(&audio),
            vec![
                VadEvent::SpeechStarted { at_ms: 300 },
                VadEvent::SpeechEnded {
                    at_ms: 1600,
                    duration_ms: 1300
                },
            ]
        );
    }

    #[test]
    fn events_are_reported_after_the_hangover() {
        let mut vad = Vad::new();
        assert!(vad.push(&silence(100)).is_empty());
        let events = vad.push(&tone(60, 8000.0));
        assert_eq!(events, vec![VadEvent::SpeechStarted { at_ms: 100 }]);
        assert!(vad.is_speaking());
        assert!(vad.push(&silence(580)).is_empty());
        assert_eq!(
            vad.push(&silence(20)),
            vec![VadEvent::SpeechEnded {
                at_ms: 160,
                duration_ms: 60
            }]
        );
        assert!(!vad.is_speaking());
    }

    #[test]
    fn short_clicks_are_ignored() {
        let audio = [
            silence(200),
            tone(40, 20000.0),
            silence(500),
            tone(20, 20000.0),
            silence(500),
        ]
        .concat();
        assert!(run(&audio).is_empty());
    }

    #[test]
    fn steady_noise_is_not_speech() {
        assert!(run(&noise(8000 * 3, 100, 1)).is_empty()); // about -55 dBFS
        assert!(run(&noise(8000 * 3, 1500, 2)).is_empty()); // about -32 dBFS, from the start
        let mut vad = Vad::new();
        vad.push(&noise(8000, 100, 3));
        let floor = vad.noise_floor_dbfs().unwrap();
        assert!((floor + 55.0).abs() < 3.0, "floor={floor}");
    }

    #[test]
    fn works_at_16k() {
        let config = VadConfig {
            rate: 16000,
            ..VadConfig::default()
        };
        let mut vad = Vad::with_config(config);
        let mut audio = vec![0i16; 16 * 200];
        audio.extend((0..16 * 300).map(|n| (5000.0 * (n as f64 * 0.2).sin()) as i16));
        audio.extend(vec![0i16; 16 * 700]);
        let events = vad.push(&audio);
        assert_eq!(
            events,
            vec![
                VadEvent::SpeechStarted { at_ms: 200 },
                VadEvent::SpeechEnded {
                    at_ms: 500,
                    duration_ms: 300
                },
            ]
        );
    }
}
