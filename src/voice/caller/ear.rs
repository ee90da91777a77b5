//! The caller's ear: voice-activity detection over the agent's audio, cutting it into
//! stretches of speech (with a little audio before each start, so recognition hears the
//! first syllable) timed on the stream's clock. A pause within a stretch hands out what
//! was said so far, so that recognition can start before the turn gap ends the turn: if
//! nothing more is said, the stretch ends with exactly that audio.

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
    /// Nothing was voiced since the latest `Heard::Paused`: `samples` are its samples.
    pub as_paused: bool,
}

/// What the ear noticed in the audio just heard.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Started {
        at_ms: u64,
    },
    /// The speech in progress paused for the early gap: its 8 kHz PCM so far, as its end
    /// will carry it if nothing more is voiced.
    Paused(Vec<i16>),
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
    /// A pause this long within a stretch hands out the stretch so far; None: never.
    early_gap_ms: Option<u64>,
    /// The latest pause handed out: where its last voiced audio ended (detector time), and
    /// how many samples of `speech` it held.
    paused: Option<(u64, usize)>,
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
            early_gap_ms: None,
            paused: None,
        }
    }

    /// Hands out the stretch so far at each pause of `gap_ms` within it (none unless shorter
    /// than the turn gap, which ends the stretch instead).
    pub fn with_early_gap(mut self, gap_ms: Option<u32>) -> Self {
        self.early_gap_ms = gap_ms.map(u64::from);
        self
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
                    self.paused = None;
                    heard.push(Heard::Started {
                        at_ms: origin + at_ms,
                    });
                }
                VadEvent::SpeechEnded { at_ms, duration_ms } => {
                    heard.push(Heard::Ended(self.cut(origin, at_ms, duration_ms)));
                }
            }
        }
        heard.extend(self.pause().map(Heard::Paused));
        heard
    }

    /// The speech so far, once per pause of the early gap: up to its last voiced audio and
    /// a little silence.
    fn pause(&mut self) -> Option<Vec<i16>> {
        let gap = self.early_gap_ms?;
        let quiet = self.vad.quiet_ms()?;
        let speech = self.speech.as_ref()?;
        let voiced_until = self.vad_now_ms() - quiet;
        if quiet < gap || self.paused.is_some_and(|(until, _)| until == voiced_until) {
            return None;
        }
        let keep = kept(speech.len(), quiet);
        self.paused = Some((voiced_until, keep));
        Some(speech[..keep].to_vec())
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
    /// hangover silence the detector waited through: the latest pause's audio when nothing
    /// was voiced after it.
    fn cut(&mut self, origin: u64, end_ms: u64, duration_ms: u64) -> AgentSpeech {
        let mut samples = self.speech.take().unwrap_or_default();
        let paused = self.paused.take().filter(|(until, _)| *until == end_ms);
        let keep = match paused {
            Some((_, keep)) => keep,
            None => kept(samples.len(), self.vad_now_ms().saturating_sub(end_ms)),
        };
        samples.truncate(keep);
        AgentSpeech {
            start_ms: origin + end_ms - duration_ms,
            end_ms: origin + end_ms,
            samples,
            as_paused: paused.is_some(),
        }
    }

    fn vad_now_ms(&self) -> u64 {
        self.vad.elapsed_ms()
    }
}

/// How many of `heard` samples to keep when the last `quiet_ms` of them are silence: all
/// but that silence, less TAIL_MS.
fn kept(heard: usize, quiet_ms: u64) -> usize {
    let silence = (quiet_ms.saturating_sub(TAIL_MS) * RATE / 1000) as usize;
    heard.saturating_sub(silence)
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

    fn kinds(heard: &[Heard]) -> Vec<String> {
        heard
            .iter()
            .map(|h| match h {
                Heard::Started { .. } => "started".to_string(),
                Heard::Paused(samples) => format!("paused {}", samples.len() / 8),
                Heard::Ended(speech) => format!(
                    "ended {}{}",
                    speech.samples.len() / 8,
                    if speech.as_paused { " as paused" } else { "" }
                ),
            })
            .collect()
    }

    #[test]
    fn each_pause_hands_out_the_stretch_so_far_and_the_end_reuses_the_last() {
        let mut audio = vec![0i16; 8 * 500];
        audio.extend(tone(1000));
        audio.extend(vec![0i16; 8 * 400]); // a pause between sentences
        audio.extend(tone(800));
        audio.extend(vec![0i16; 8 * 1000]);
        let mut ear = Ear::new(700).with_early_gap(Some(300));
        let heard = feed(&mut ear, 0, &audio);
        let kinds = kinds(&heard);
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        let ms = |kind: &str| kind["paused ".len()..].parse::<u64>().unwrap();
        // The pre-roll, 1 s of speech and a little silence; then all of it again with the
        // rest of the pause and the 0.8 s of speech. The end is the second, sample for sample.
        assert_eq!(kinds[0], "started");
        assert!((1200..=1500).contains(&ms(&kinds[1])), "{kinds:?}");
        assert!((2400..=2800).contains(&ms(&kinds[2])), "{kinds:?}");
        let (Heard::Paused(second), Some(Heard::Ended(speech))) = (&heard[2], heard.last()) else {
            panic!("{kinds:?}")
        };
        assert!(speech.as_paused);
        assert_eq!(&speech.samples, second);
        assert_eq!((speech.start_ms, speech.end_ms), (500, 2700));

        // Without an early gap the whole stretch comes at its end, cut the same way.
        let mut ear = Ear::new(700);
        let heard = feed(&mut ear, 0, &audio);
        assert_eq!(heard.len(), 2, "{heard:?}");
        let Heard::Ended(whole) = &heard[1] else {
            panic!("{heard:?}")
        };
        assert!(!whole.as_paused);
        assert_eq!(whole.samples, speech.samples);
    }

    #[test]
    fn speech_after_the_last_pause_is_not_the_pauses_audio() {
        let mut audio = vec![0i16; 8 * 500];
        audio.extend(tone(1000));
        audio.extend(vec![0i16; 8 * 400]);
        audio.extend(tone(600));
        let mut ear = Ear::new(700).with_early_gap(Some(300));
        let heard = feed(&mut ear, 0, &audio);
        assert_eq!(kinds(&heard).len(), 2, "{heard:?}");
        // The call ends mid-sentence: all of the stretch, not the pause's.
        let speech = ear.finish().expect("speech in progress");
        assert!(!speech.as_paused);
        let ms = speech.samples.len() / 8;
        assert!((2200..=2500).contains(&ms), "{ms} ms");
    }
}
