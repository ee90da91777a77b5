//! The caller's ear: voice-activity detection over the agent's audio, cutting it into
//! stretches of speech (with a little audio before each start, so recognition hears the
//! first syllable) timed on the stream's clock.

use std::collections::VecDeque;

use crate::audio::vad::{Vad, VadConfig, VadEvent};

/// Audio kept from before the detector confirms speech (it needs a few voiced frames).
const PREROLL_MS: u64 = 300;
/// Silence kept after the last voiced frame.
const TAIL_MS: u64 = 150;
const RATE: u64 = crate::audio::PHONE_RATE as u64;

/// One stretch of the agent's speech.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpeech {
    pub start_ms: u64,
    pub end_ms: u64,
    /// 8 kHz PCM from a little before the start to a little after the end.
    pub samples: Vec<i16>,
}

/// What the ear noticed in the audio just heard.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Started { at_ms: u64 },
    Ended(AgentSpeech),
}

pub struct Ear {
    vad: Vad,
    /// Stream time of the first audio heard: the detector counts from there.
    origin_ms: Option<u64>,
    /// The last PREROLL_MS of audio while nobody speaks.
    preroll: VecDeque<i16>,
    /// Audio of the speech in progress.
    speech: Option<Vec<i16>>,
}

impl Ear {
    /// `turn_gap_ms`: silence that ends a stretch of speech (pauses between sentences of
    /// one turn are shorter).
    pub fn new(turn_gap_ms: u32) -> Self {
        Self {
            vad: Vad::with_config(VadConfig {
                hangover_ms: turn_gap_ms,
                ..VadConfig::default()
            }),
            origin_ms: None,
            preroll: VecDeque::new(),
            speech: None,
        }
    }

    pub fn is_speaking(&self) -> bool {
        self.speech.is_some()
    }

    /// Speech is in progress and was voiced within `within_ms` (not in a pause, nor in the
    /// silence after its last word that the detector waits through before it ends).
    pub fn voiced_within(&self, within_ms: u64) -> bool {
        self.speech.is_some() && self.vad.quiet_ms().is_some_and(|ms| ms <= within_ms)
    }

    /// Takes the agent's audio that arrived `at_ms` into the stream.
    pub fn hear(&mut self, at_ms: u64, samples: &[i16]) -> Vec<Heard> {
        let origin = *self.origin_ms.get_or_insert(at_ms);
        let events = self.vad.push(samples);
        match &mut self.speech {
            Some(speech) => speech.extend_from_slice(samples),
            None => {
                self.preroll.extend(samples.iter().copied());
                let keep = (PREROLL_MS * RATE / 1000) as usize;
                let excess = self.preroll.len().saturating_sub(keep);
                self.preroll.drain(..excess);
            }
        }
        let mut heard = Vec::new();
        for event in events {
            match event {
                VadEvent::SpeechStarted { at_ms } => {
                    self.speech = Some(self.preroll.drain(..).collect());
                    heard.push(Heard::Started {
                        at_ms: origin + at_ms,
                    });
                }
                VadEvent::SpeechEnded { at_ms, duration_ms } => {
                    heard.push(Heard::Ended(self.cut(origin, at_ms, duration_ms)));
                }
            }
        }
        heard
    }

    /// Ends speech in progress when the call ends.
    pub fn finish(&mut self) -> Option<AgentSpeech> {
        let origin = self.origin_ms?;
        match self.vad.finish()? {
            VadEvent::SpeechEnded { at_ms, duration_ms } => {
                Some(self.cut(origin, at_ms, duration_ms))
            }
            VadEvent::SpeechStarted { .. } => None,
        }
    }

    /// The finished stretch ending `end_ms` (detector time), trimmed of most of the
    /// hangover silence the detector waited through.
    fn cut(&mut self, origin: u64, end_ms: u64, duration_ms: u64) -> AgentSpeech {
        let mut samples = self.speech.take().unwrap_or_default();
        let heard_ms = samples.len() as u64 * 1000 / RATE;
        let detector_now_ms = self.vad_now_ms();
        let trailing_ms = detector_now_ms
            .saturating_sub(end_ms)
            .saturating_sub(TAIL_MS);
        let keep_ms = heard_ms.saturating_sub(trailing_ms);
        samples.truncate((keep_ms * RATE / 1000) as usize);
        AgentSpeech {
            start_ms: origin + end_ms - duration_ms,
            end_ms: origin + end_ms,
            samples,
        }
    }

    fn vad_now_ms(&self) -> u64 {
        self.vad.elapsed_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: u64) -> Vec<i16> {
        (0..ms * 8)
            .map(|n| (6000.0 * (n as f64 * 0.3).sin()) as i16)
            .collect()
    }

    fn feed(ear: &mut Ear, start_ms: u64, audio: &[i16]) -> Vec<Heard> {
        audio
            .chunks(160)
            .enumerate()
            .flat_map(|(i, frame)| ear.hear(start_ms + i as u64 * 20, frame))
            .collect()
    }

    #[test]
    fn speech_is_cut_out_with_stream_times_and_a_little_context() {
        let mut ear = Ear::new(700);
        let mut audio = vec![0i16; 8 * 1000];
        audio.extend(tone(1500));
        audio.extend(vec![0i16; 8 * 1000]);
        // The stream's audio starts 40 ms in.
        let heard = feed(&mut ear, 40, &audio);
        assert_eq!(heard.len(), 2, "{heard:?}");
        assert_eq!(heard[0], Heard::Started { at_ms: 1040 });
        let Heard::Ended(speech) = &heard[1] else {
            panic!("{heard:?}")
        };
        assert_eq!((speech.start_ms, speech.end_ms), (1040, 2540));
        let ms = speech.samples.len() as u64 / 8;
        assert!(
            (1500 + 100..=1500 + 300 + 200).contains(&ms),
            "{ms} ms kept"
        );
        assert!(!ear.is_speaking());
    }

    #[test]
    fn speech_running_at_the_end_of_the_call_is_finished() {
        let mut ear = Ear::new(700);
        let mut audio = vec![0i16; 8 * 500];
        audio.extend(tone(800));
        let heard = feed(&mut ear, 0, &audio);
        assert_eq!(heard, vec![Heard::Started { at_ms: 500 }]);
        assert!(ear.is_speaking());
        let speech = ear.finish().expect("speech in progress");
        assert_eq!((speech.start_ms, speech.end_ms), (500, 1300));
        assert!(ear.finish().is_none());
    }
}
