//! A language model plays the caller: who it is (fixa's `Agent`, the caller's persona, not
//! the agent under test), what it wants (the scenario), and two tools, `end_call` and
//! `press_keys`.
//!
//! Roles are the right way round for the model playing the caller: the agent's words are
//! `user` messages, the caller's own past words `assistant` messages. What is not speech
//! (keys, silence, being talked over) goes to the model as bracketed notes in `user`
//! messages, so its own turns hold only words it said.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use super::keys::phone_keys;
use super::{Persona, Reply, Turn};
use crate::voice::conversation::Speaker;
use crate::voice::providers::{
    ChatRequest, ChatResponse, LanguageModel, Message, ProviderError, Role, Tool,
};

/// The tool the model calls to hang up, with a `reason`.
pub const END_CALL: &str = "end_call";
/// The tool the model calls to press keys, with `digits`.
pub const PRESS_KEYS: &str = "press_keys";
/// The hang-up reason when the model calls `end_call` without one.
pub const DEFAULT_END_REASON: &str = "the caller ended the call";

/// Who the simulated caller is (fixa's `Agent(name, prompt)`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallerPersona {
    pub name: String,
    /// Who they are and how they talk, in the user's words.
    pub prompt: String,
}

impl CallerPersona {
    pub fn new(name: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            prompt: prompt.into(),
        }
    }
}

/// How the persona's model is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmPersonaOptions {
    /// `None`: the server's default (reasoning models accept no other).
    pub temperature: Option<f32>,
    /// `None`: no limit sent.
    pub max_tokens: Option<u32>,
    /// The language the caller speaks ("German", "en-GB"); `None` says nothing about it.
    pub language: Option<String>,
    /// Answers with no text and no tool call are a wait (the agent goes on); this many in
    /// a row is an error, so a broken model cannot hold a silent call open until the
    /// call's time limit.
    pub max_empty_replies: u32,
}

impl Default for LlmPersonaOptions {
    fn default() -> Self {
        Self {
            temperature: None,
            max_tokens: None,
            language: None,
            max_empty_replies: 3,
        }
    }
}

/// A caller played by a language model. One per call (it counts empty answers).
pub struct LlmPersona {
    model: Arc<dyn LanguageModel>,
    caller: CallerPersona,
    scenario: String,
    options: LlmPersonaOptions,
    empty_in_a_row: u32,
}

impl fmt::Debug for LlmPersona {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmPersona")
            .field("caller", &self.caller)
            .field("scenario", &self.scenario)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Names the persona's model in errors about its answers.
const PROVIDER: &str = "persona model";
const OPERATION: &str = "the caller's turn";

impl LlmPersona {
    /// `scenario`: what the caller wants from this call (fixa's scenario prompt).
    pub fn new(
        model: Arc<dyn LanguageModel>,
        caller: CallerPersona,
        scenario: impl Into<String>,
        options: LlmPersonaOptions,
    ) -> Self {
        Self {
            model,
            caller,
            scenario: scenario.into(),
            options,
            empty_in_a_row: 0,
        }
    }

    /// Who the model plays and how it speaks.
    pub fn system_prompt(&self) -> String {
        let mut prompt = String::from(
            "You are a caller on a phone call with a voice agent (an automated phone \
             assistant). The call is a test of that agent, but stay in character for the \
             whole call: you are the person described below, never an AI, and never mention \
             a test.\n",
        );
        let name = self.caller.name.trim();
        let who = self.caller.prompt.trim();
        if !name.is_empty() || !who.is_empty() {
            prompt.push_str("\nWho you are:");
            if !name.is_empty() {
                prompt.push_str(&format!(" {name}."));
            }
            if !who.is_empty() {
                prompt.push_str(&format!("\n{who}"));
            }
            prompt.push('\n');
        }
        let scenario = self.scenario.trim();
        if !scenario.is_empty() {
            prompt.push_str(&format!("\nWhat you want from this call:\n{scenario}\n"));
        }
        prompt.push_str(
            "\nHow to speak: the agent hears your words through speech synthesis. Talk as \
             people do on the phone: naturally and briefly, usually one or two sentences, one \
             thing at a time. Write only the words you say aloud: no stage directions, no \
             actions, no notes in brackets, no markdown, no lists, no emoji.\n",
        );
        if let Some(language) = self.options.language.as_deref().map(str::trim) {
            if !language.is_empty() {
                prompt.push_str(&format!("Speak {language} only.\n"));
            }
        }
        prompt.push_str(&format!(
            "\nWhat you can do besides speaking:\n\
             - When the agent asks you to press keys on your phone (\"press 1\", \"enter your \
             PIN followed by the pound key\"), call {PRESS_KEYS} with the digits (0-9, * and #).\n\
             - When the conversation is over (you got what you wanted, it cannot be had, or \
             you have said goodbye), or you would hang up, call {END_CALL} with a short \
             reason. Say your goodbye in the same answer if you have not yet.\n\
             \nNotes in square brackets in the agent's messages are not speech: they tell you \
             what happened on the line (keys pressed, silence, being talked over).\n"
        ));
        prompt
    }

    /// The two tools the model may call.
    pub fn tools() -> Vec<Tool> {
        vec![
            Tool {
                name: PRESS_KEYS.into(),
                description: Some(
                    "Press keys on your phone's keypad, in order, when the agent asks you to."
                        .into(),
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "digits": {
                            "type": "string",
                            "description": "The keys in order, e.g. \"1\" or \"4321#\": 0-9, * and #."
                        }
                    },
                    "required": ["digits"],
                    "additionalProperties": false
                }),
            },
            Tool {
                name: END_CALL.into(),
                description: Some(
                    "Hang up: the conversation is over, or you would hang up now.".into(),
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "reason": {
                            "type": "string",
                            "description": "Why you are hanging up, in a few words."
                        }
                    },
                    "required": ["reason"],
                    "additionalProperties": false
                }),
            },
        ]
    }

    /// The request for `turn`: the system prompt, the call so far, the tools.
    pub fn request(&self, turn: &Turn<'_>) -> ChatRequest {
        let mut messages = vec![Message::system(self.system_prompt())];
        messages.extend(call_messages(turn));
        ChatRequest {
            messages,
            tools: Self::tools(),
            // No tool_choice: "auto" is the default, and some servers refuse it explicitly
            // unless started with automatic tool choice.
            tool_choice: None,
            response_format: None,
            temperature: self.options.temperature,
            max_tokens: self.options.max_tokens,
        }
    }

    /// The caller's reply from the model's answer: its text is said, `press_keys` gives the
    /// keys, `end_call` hangs up after both.
    pub fn read(&mut self, answer: ChatResponse) -> Result<Reply, ProviderError> {
        let mut reply = Reply {
            say: answer.text.as_deref().and_then(spoken),
            ..Reply::default()
        };
        for call in &answer.tool_calls {
            match call.name.as_str() {
                PRESS_KEYS => {
                    let digits = match call.arguments.get("digits") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
                        _ => {
                            return Err(bad_answer(format!(
                                "{PRESS_KEYS} was called without \"digits\" as text: {}",
                                call.arguments
                            )))
                        }
                    };
                    let keys = phone_keys(&digits)
                        .map_err(|e| bad_answer(format!("{PRESS_KEYS} digits: {e}")))?;
                    reply.keys.get_or_insert_with(String::new).push_str(&keys);
                }
                END_CALL => {
                    let reason = call
                        .arguments
                        .get("reason")
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .unwrap_or(DEFAULT_END_REASON);
                    reply.hang_up.get_or_insert_with(|| reason.to_string());
                }
                other => {
                    return Err(bad_answer(format!(
                        "the model called {other:?}, a tool it was not given ({PRESS_KEYS} and {END_CALL} are)"
                    )))
                }
            }
        }
        if !reply.is_empty() {
            self.empty_in_a_row = 0;
            return Ok(reply);
        }
        if answer.finish_reason.as_deref() == Some("length") {
            return Err(bad_answer(
                "the answer was cut off at max_tokens before it said anything (raise max_tokens)"
                    .into(),
            ));
        }
        self.empty_in_a_row += 1;
        if self.empty_in_a_row >= self.options.max_empty_replies.max(1) {
            return Err(bad_answer(format!(
                "the model answered nothing (no text, no tool call) {} turns in a row",
                self.empty_in_a_row
            )));
        }
        Ok(reply)
    }
}

impl Persona for LlmPersona {
    fn reply<'a>(&'a mut self, turn: Turn<'a>) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        let request = self.request(&turn);
        Box::pin(async move {
            let answer = self.model.chat(request).await?;
            self.read(answer)
        })
    }
}

fn bad_answer(detail: String) -> ProviderError {
    ProviderError::Decode {
        provider: PROVIDER,
        operation: OPERATION,
        detail,
    }
}

/// The words to say from the model's text: bracketed notes dropped (the model may echo
/// the notes it is shown), whitespace collapsed, wrapping quotes removed; `None` if
/// nothing is left.
fn spoken(text: &str) -> Option<String> {
    let mut kept = String::with_capacity(text.len());
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => kept.push(c),
            _ => {}
        }
    }
    let words = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    let words = words
        .strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .filter(|w| !w.contains('"'))
        .map(str::trim)
        .unwrap_or(&words);
    (!words.is_empty()).then(|| words.to_string())
}

const CONNECTED: &str = "[The call has connected.]";
const AWAITING: &str = "[The agent has not answered yet.]";
const TALKED_OVER: &str =
    "[The agent talked over you there, so it may not have heard all of that.]";

/// The call so far as chat messages for the model playing the caller: the agent's words
/// (and notes about the line) as `user`, the caller's as `assistant`, merged so roles
/// alternate, starting and ending with `user`.
pub fn call_messages(turn: &Turn<'_>) -> Vec<Message> {
    enum Event<'t> {
        Said(&'t crate::voice::conversation::Utterance),
        Keys(Speaker, String),
    }
    let mut timed: Vec<(u64, Event)> = turn
        .utterances
        .iter()
        .map(|u| (u.start_ms, Event::Said(u)))
        .chain(
            turn.keys
                .iter()
                .map(|k| (k.at_ms, Event::Keys(k.speaker, k.digit.to_string()))),
        )
        .collect();
    timed.sort_by_key(|(at, _)| *at);
    // Keys pressed one after another by one side make one note.
    let mut events: Vec<Event> = vec![];
    for (_, event) in timed {
        if let (Some(Event::Keys(last, digits)), Event::Keys(speaker, digit)) =
            (events.last_mut(), &event)
        {
            if last == speaker {
                digits.push_str(digit);
                continue;
            }
        }
        events.push(event);
    }

    let mut parts: Vec<(Role, String)> = vec![(Role::User, CONNECTED.into())];
    for event in events {
        match event {
            Event::Said(u) if u.text.trim().is_empty() => {}
            Event::Said(u) if u.speaker == Speaker::Agent => {
                parts.push((Role::User, u.text.trim().to_string()))
            }
            Event::Said(u) => {
                parts.push((Role::Assistant, u.text.trim().to_string()));
                if u.cut_off {
                    parts.push((Role::User, TALKED_OVER.into()));
                }
            }
            Event::Keys(Speaker::Caller, digits) => {
                parts.push((Role::User, format!("[You pressed {digits}.]")))
            }
            Event::Keys(Speaker::Agent, digits) => parts.push((
                Role::User,
                format!("[The agent's side played the key tones {digits}.]"),
            )),
        }
    }
    if turn.after_silence {
        parts.push((Role::User, silence_note(turn)));
    } else if parts
        .last()
        .is_some_and(|(role, _)| *role == Role::Assistant)
    {
        parts.push((Role::User, AWAITING.into()));
    }

    let mut messages: Vec<Message> = vec![];
    for (role, text) in parts {
        match messages.last_mut() {
            Some(last) if last.role == role => {
                let content = last.content.get_or_insert_with(String::new);
                content.push('\n');
                content.push_str(&text);
            }
            _ => messages.push(match role {
                Role::Assistant => Message::assistant(text),
                _ => Message::user(text),
            }),
        }
    }
    messages
}

/// How long the line has been quiet, for a turn that came after the agent's silence.
fn silence_note(turn: &Turn<'_>) -> String {
    let seconds = |since_ms: u64| (turn.elapsed_ms.saturating_sub(since_ms) + 500) / 1000;
    if turn.utterances.iter().any(|u| u.speaker == Speaker::Agent) {
        let last_end = turn.utterances.iter().map(|u| u.end_ms).max().unwrap_or(0);
        format!(
            "[Silence: the agent has said nothing for {} s.]",
            seconds(last_end)
        )
    } else {
        format!(
            "[Silence: the agent has said nothing since the call connected {} s ago.]",
            seconds(0)
        )
    }
}
