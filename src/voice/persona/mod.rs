//! The simulated caller's mind: a persona decides, each time the agent finishes a turn, what
//! the caller says, which keys it presses and whether it hangs up.
//!
//! Two kinds: a language model playing the persona (agent prompt + scenario prompt, with
//! `end_call` and `press_keys` tools), and a script (ordered lines and simple rules) that
//! needs no model, for offline tests.

use futures_util::future::BoxFuture;

use super::conversation::{KeyPress, Utterance};
use super::providers::ProviderError;

/// What the persona sees when it is the caller's turn.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    /// Everything said so far, both sides, in order. The last agent utterance, if any, is
    /// what the caller is answering.
    pub utterances: &'a [Utterance],
    /// Keys pressed so far by either side.
    pub keys: &'a [KeyPress],
    /// Milliseconds since the call's stream started.
    pub elapsed_ms: u64,
    /// Replies the caller has given so far (0 on its first turn).
    pub replies: u32,
    /// True when the turn came because the agent stayed silent (it said nothing at the
    /// start, or stopped answering), not because it finished speaking.
    pub after_silence: bool,
    /// True when the agent has just started speaking and the caller asks for the reply it
    /// planned to say over it ([`Persona::barge_in_ms`]).
    pub barging_in: bool,
}

/// What the caller does on its turn: say something, then press keys, then hang up; any
/// part may be absent. An empty reply lets the agent go on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub say: Option<String>,
    pub keys: Option<String>,
    /// Hang up (after what is said has played), with the reason.
    pub hang_up: Option<String>,
    /// Say it over the agent: once the agent has spoken this many milliseconds of its next
    /// turn, rather than after the turn.
    pub barge_in_ms: Option<u32>,
}

impl Reply {
    pub fn is_empty(&self) -> bool {
        self.say.is_none() && self.keys.is_none() && self.hang_up.is_none()
    }
}

/// A simulated caller's decisions. One persona serves one call.
pub trait Persona: Send {
    fn reply<'a>(&'a mut self, turn: Turn<'a>) -> BoxFuture<'a, Result<Reply, ProviderError>>;

    /// When the caller's next reply is to be said over the agent: after this many ms of the
    /// agent's next turn (the caller then asks for it with `Turn::barging_in` as soon as the
    /// agent starts speaking). None: it waits for the agent's turn to end, as usual.
    fn barge_in_ms(&self) -> Option<u32> {
        None
    }
}

pub mod keys;
pub mod llm;
pub mod scripted;

pub use llm::{CallerPersona, LlmPersona, LlmPersonaOptions};
pub use scripted::ScriptedPersona;

#[cfg(test)]
mod tests;
