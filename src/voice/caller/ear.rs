//! The caller's ear: voice-activity detection over the agent's audio, cutting it into
//! stretches of speech (with a little audio before each start, so recognition hears the
//! first syllable) timed on the stream's clock. A pause within a stretch hands what was
//! said so far out as a phrase, so that recognition can start before the turn ends.

use std::collections::VecDeque;

use crate::audio::vad::{Vad, VadConfig, VadEvent};

/// Audio kept from before the detector confirms speech (it needs a few voiced frames).
const PREROLL_MS: u64 = 300;
/// Silence kept after the last voiced frame.
const TAIL_MS: u64 = 150;
const RATE: u64 = crate::audio::PHONE_RATE as u64;
/// What is left of a stretch after its phrases, shorter than this, is its trailing silence.
const MIN_REST_MS: u64 = 250;

/// One stretch of the agent's speech.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpeech {
    pub start_ms: u64,
    pub end_ms: u64,
    /// 8 kHz PCM from a little before the start to a little after the end, less the
    /// phrases already handed out (empty when they hold all of it).
    pub samples: Vec<i16>,
}

/// What the ear noticed in the audio just heard.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Started {
        at_ms: u64,
    },
    /// The speech in progress paused: its 8 kHz PCM since the last phrase (or its start).
    Phrase(Vec<i16>),
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
    /// A pause this long within a stretch hands out a phrase; None: never.
    phrase_gap_ms: Option<u64>,
    /// Where in `speech` the audio not yet handed out as a phrase starts.
    phrase_from: usize,
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
            phrase_gap_ms: None,
            phrase_from: 0,
        }
    }

    /// Hands out a phrase at each pause of `gap_ms` within a stretch (ignored unless shorter
    /// than the turn gap, which ends the stretch instead).
    pub fn with_phrases(mut self, gap_ms: Option<u32>) -> Self {
        self.phrase_gap_ms = gap_ms.map(u64::from);
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
                    self.phrase_from = 0;
                    heard.push(Heard::Started {
                        at_ms: origin + at_ms,
                    });
                }
                VadEvent::SpeechEnded { at_ms, duration_ms } => {
                    heard.push(Heard::Ended(self.cut(origin, at_ms, duration_ms)));
                }
            }
        }
        heard.extend(self.phrase().map(Heard::Phrase));
        heard
    }

    /// The speech since the last phrase, when it has paused for the phrase gap: up to its
    /// last voiced audio and a little silence.
    fn phrase(&mut self) -> Option<Vec<i16>> {
        let gap = self.phrase_gap_ms?;
        let quiet = self.vad.quiet_ms()?;
        let speech = self.speech.as_ref()?;
        if quiet < gap {
            return None;
        }
        let silence = (quiet.saturating_sub(TAIL_MS) * RATE / 1000) as usize;
        let end = speech.len().saturating_sub(silence);
        if end <= self.phrase_from + (MIN_REST_MS * RATE / 1000) as usize {
            return None; // nothing said since the last phrase
        }
        let phrase = speech[self.phrase_from..end].to_vec();
        self.phrase_from = end;
        Some(phrase)
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
        if self.phrase_from > 0 {
            // What the phrases hold is not heard twice; a rest this short is silence.
            let from = self.phrase_from.min(samples.len());
            let rest = samples.len() - from;
            samples.drain(
                ..if rest as u64 * 1000 / RATE < MIN_REST_MS {
                    samples.len()
                } else {
                    from
                },
            );
            self.phrase_from = 0;
        }
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

    #[test]
    fn pauses_hand_out_phrases_and_the_end_only_the_rest() {
        let mut audio = vec![0i16; 8 * 500];
        audio.extend(tone(1000));
        audio.extend(vec![0i16; 8 * 400]); // a pause between sentences
        audio.extend(tone(800));
        audio.extend(vec![0i16; 8 * 1000]);
        let mut ear = Ear::new(700).with_phrases(Some(300));
        let heard = feed(&mut ear, 0, &audio);
        let kinds: Vec<_> = heard
            .iter()
            .map(|h| match h {
                Heard::Started { .. } => "started".to_string(),
                Heard::Phrase(samples) => format!("phrase {}", samples.len() / 8),
                Heard::Ended(speech) => format!("ended {}", speech.samples.len()),
            })
            .collect();
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        assert_eq!((&kinds[0][..], &kinds[3][..]), ("started", "ended 0"));
        let ms = |kind: &str| kind["phrase ".len()..].parse::<u64>().unwrap();
        // The pre-roll, 1 s of speech and a little silence; then the rest of the pause, the
        // 0.8 s of speech and a little silence. Nothing is left for the end.
        assert!((1200..=1500).contains(&ms(&kinds[1])), "{kinds:?}");
        assert!((1000..=1300).contains(&ms(&kinds[2])), "{kinds:?}");
        let Some(Heard::Ended(speech)) = heard.last() else {
            panic!("not ended")
        };
        assert_eq!((speech.start_ms, speech.end_ms), (500, 2700));

        // Without phrases the whole stretch comes at its end.
        let mut ear = Ear::new(700);
        let heard = feed(&mut ear, 0, &audio);
        assert_eq!(heard.len(), 2, "{heard:?}");
        let Heard::Ended(speech) = &heard[1] else {
            panic!("{heard:?}")
        };
        assert!(
            (2300..=2700).contains(&(speech.samples.len() / 8)),
            "{heard:?}"
        );
    }

    #[test]
    fn a_call_ending_mid_phrase_leaves_the_rest_to_its_end() {
        let mut audio = vec![0i16; 8 * 500];
        audio.extend(tone(1000));
        audio.extend(vec![0i16; 8 * 400]);
        audio.extend(tone(600));
        let mut ear = Ear::new(700).with_phrases(Some(300));
        let heard = feed(&mut ear, 0, &audio);
        assert_eq!(heard.len(), 2);
        assert!(matches!(heard[1], Heard::Phrase(_)));
        let speech = ear.finish().expect("speech in progress");
        let ms = speech.samples.len() / 8;
        assert!((700..=950).contains(&ms), "{ms} ms left"); // the pause's rest and 0.6 s
    }
}
