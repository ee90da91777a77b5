//! What was said on a call, by whom and when: the record the simulated caller keeps, and
//! what call metrics and judges read.
//!
//! Times are milliseconds from the start of the media stream. A caller utterance spans from
//! its first frame leaving trialrun to the mark that says it finished playing (or to the
//! `clear` that cut it); an agent utterance spans the agent's voice activity, sentences less
//! than a turn gap apart being one utterance.

use std::fmt;

/// Who spoke or pressed a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// The simulated caller (trialrun's side).
    Caller,
    /// The voice agent under test.
    Agent,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Agent => "agent",
        }
    }
}

impl fmt::Display for Speaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stretch of speech.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub speaker: Speaker,
    /// What was said: the caller's own words, or the agent's as transcribed.
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Cut short: the caller stopped (cleared its audio) because the agent talked over it.
    pub cut_off: bool,
}

/// A key press, sent or heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPress {
    pub speaker: Speaker,
    pub digit: char,
    pub at_ms: u64,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The simulated caller hung up (the persona decided to, or ran out of turns).
    Caller,
    /// The agent hung up.
    Agent,
    /// A limit ended it: the longest call allowed, or silence.
    Timeout,
    /// The call failed: the carrier, the stream or a provider broke.
    Error,
}

impl EndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Agent => "agent",
            Self::Timeout => "timeout",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for EndedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole call as heard from the caller's side.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Every utterance of both sides, ordered by start time.
    pub utterances: Vec<Utterance>,
    /// Keys pressed by either side, ordered by time.
    pub keys: Vec<KeyPress>,
    /// From the stream's start to its end.
    pub duration_ms: u64,
    pub ended_by: EndedBy,
    /// Why, in words: "the persona hung up: booked", "the agent hung up", "max_duration", ...
    pub end_reason: String,
}

impl Conversation {
    /// The utterances of one side.
    #[cfg(test)]
    pub fn by(&self, speaker: Speaker) -> impl Iterator<Item = &Utterance> {
        self.utterances.iter().filter(move |u| u.speaker == speaker)
    }

    /// The keys one side pressed, as a string ("12#").
    #[cfg(test)]
    pub fn keys_by(&self, speaker: Speaker) -> String {
        self.keys
            .iter()
            .filter(|k| k.speaker == speaker)
            .map(|k| k.digit)
            .collect()
    }

    /// The transcript with times, one line per utterance or key, for judges and reports:
    /// `[00:01.2-00:03.9] agent: Thank you for calling.` / `[00:05.0] caller pressed 1`.
    pub fn timestamped_transcript(&self) -> String {
        enum Line<'a> {
            Said(&'a Utterance),
            Key(&'a KeyPress),
        }
        let mut lines: Vec<(u64, Line)> = self
            .utterances
            .iter()
            .map(|u| (u.start_ms, Line::Said(u)))
            .chain(self.keys.iter().map(|k| (k.at_ms, Line::Key(k))))
            .collect();
        lines.sort_by_key(|(at, _)| *at);
        let mut out = String::new();
        for (_, line) in lines {
            match line {
                Line::Said(u) => {
                    out.push_str(&format!(
                        "[{}-{}] {}: {}{}\n",
                        clock(u.start_ms),
                        clock(u.end_ms),
                        u.speaker,
                        u.text,
                        if u.cut_off { " [cut off]" } else { "" }
                    ));
                }
                Line::Key(k) => {
                    out.push_str(&format!(
                        "[{}] {} pressed {}\n",
                        clock(k.at_ms),
                        k.speaker,
                        k.digit
                    ));
                }
            }
        }
        out
    }
}

/// `mm:ss.t`
pub fn clock(ms: u64) -> String {
    format!("{:02}:{:02}.{}", ms / 60_000, ms / 1000 % 60, ms / 100 % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(speaker: Speaker, text: &str, start_ms: u64, end_ms: u64) -> Utterance {
        Utterance {
            speaker,
            text: text.into(),
            start_ms,
            end_ms,
            cut_off: false,
        }
    }

    #[test]
    fn transcript_interleaves_speech_and_keys_by_time() {
        let conversation = Conversation {
            utterances: vec![
                said(Speaker::Agent, "Hello.", 1200, 3900),
                said(Speaker::Caller, "Hi.", 65_000, 66_000),
            ],
            keys: vec![KeyPress {
                speaker: Speaker::Caller,
                digit: '1',
                at_ms: 5000,
            }],
            duration_ms: 70_000,
            ended_by: EndedBy::Caller,
            end_reason: "done".into(),
        };
        assert_eq!(
            conversation.timestamped_transcript(),
            "[00:01.2-00:03.9] agent: Hello.\n[00:05.0] caller pressed 1\n[01:05.0-01:06.0] caller: Hi.\n"
        );
        assert_eq!(conversation.keys_by(Speaker::Caller), "1");
        assert_eq!(conversation.keys_by(Speaker::Agent), "");
        assert_eq!(conversation.by(Speaker::Agent).count(), 1);
    }
}
