//! The personas: scripted ones offline, model-played ones against a fake model and a fake
//! OpenAI server.

use super::{Persona, Reply, Turn};
use crate::voice::conversation::{KeyPress, Speaker, Utterance};
use crate::voice::providers::ProviderError;

mod llm;
mod llm_openai;
mod script_json;
mod scripted;

/// A call as the caller engine records it, built turn by turn: each utterance lasts a
/// second, with half a second between them.
#[derive(Default)]
pub(super) struct Call {
    pub utterances: Vec<Utterance>,
    pub keys: Vec<KeyPress>,
    pub at_ms: u64,
    pub replies: u32,
}

impl Call {
    pub fn said(&mut self, speaker: Speaker, text: &str) -> &mut Self {
        self.said_cut(speaker, text, false)
    }

    pub fn said_cut(&mut self, speaker: Speaker, text: &str, cut_off: bool) -> &mut Self {
        self.utterances.push(Utterance {
            speaker,
            text: text.into(),
            start_ms: self.at_ms,
            end_ms: self.at_ms + 1000,
            cut_off,
        });
        self.at_ms += 1500;
        self
    }

    pub fn pressed(&mut self, speaker: Speaker, digits: &str) -> &mut Self {
        for digit in digits.chars() {
            self.keys.push(KeyPress {
                speaker,
                digit,
                at_ms: self.at_ms,
            });
            self.at_ms += 100;
        }
        self.at_ms += 400;
        self
    }

    /// The persona's view now.
    pub fn turn(&self, after_silence: bool) -> Turn<'_> {
        Turn {
            utterances: &self.utterances,
            keys: &self.keys,
            elapsed_ms: self.at_ms,
            replies: self.replies,
            after_silence,
            barging_in: false,
        }
    }

    /// What the engine does with a reply: it says the words, then presses the keys.
    pub fn record(&mut self, reply: &Reply) {
        if let Some(say) = &reply.say {
            self.said(Speaker::Caller, say);
        }
        if let Some(keys) = &reply.keys {
            self.pressed(Speaker::Caller, keys);
        }
        self.replies += 1;
    }

    /// One exchange: the agent says `agent` (or stays silent for 5 s when `None`), the
    /// persona replies, and the reply is recorded.
    pub async fn exchange(
        &mut self,
        persona: &mut dyn Persona,
        agent: Option<&str>,
    ) -> Result<Reply, ProviderError> {
        match agent {
            Some(text) => {
                self.said(Speaker::Agent, text);
            }
            None => self.at_ms += 5000,
        }
        let reply = persona.reply(self.turn(agent.is_none())).await?;
        self.record(&reply);
        Ok(reply)
    }
}

pub(super) fn say(text: &str) -> Reply {
    Reply {
        say: Some(text.into()),
        ..Reply::default()
    }
}

pub(super) fn keys(digits: &str) -> Reply {
    Reply {
        keys: Some(digits.into()),
        ..Reply::default()
    }
}

pub(super) fn hang_up(reason: &str) -> Reply {
    Reply {
        hang_up: Some(reason.into()),
        ..Reply::default()
    }
}
