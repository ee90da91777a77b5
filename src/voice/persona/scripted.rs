//! A scripted caller: ordered lines, rules that answer what the agent said, a nudge when
//! the agent stays silent. No model, so offline tests can hold whole calls.
//!
//! Built in Rust or from plain data ([`Script::from_json`], what the Python glue passes):
//!
//! ```json
//! {"lines": ["I'd like a table for two.", {"say": "Tonight at eight.", "keys": "1"}],
//!  "rules": [{"when": ["spell your name", "your name"], "say": "Ada Lovelace.", "once": true}],
//!  "on_silence": "Hello? Are you there?", "silence_limit": 2, "finish": "hang_up"}
//! ```
//!
//! or just the list of lines. Everything is checked before a call is made; errors name the
//! culprit (`lines[2].keys: "x" is not a phone key ...`).

use std::fmt;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use super::keys::phone_keys;
use super::{Persona, Reply, Turn};
use crate::voice::conversation::Speaker;
use crate::voice::providers::ProviderError;

/// The hang-up reason when the lines run out (with [`FinishPolicy::HangUp`]).
pub const SCRIPT_FINISHED: &str = "script finished";
/// The hang-up reason when the agent stays silent past [`Script::silence_limit`].
pub const AGENT_SILENT: &str = "the agent stayed silent";
/// The hang-up reason of `"hang_up": true`.
pub const SCRIPTED_HANG_UP: &str = "hung up as scripted";
/// How many silent turns in a row `on_silence` answers by default.
pub const DEFAULT_SILENCE_LIMIT: u32 = 2;

/// What a scripted caller says and does.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Replies given in order, one per caller turn that no rule answers.
    pub lines: Vec<Reply>,
    /// Checked in order before the next line; the first that matches the agent's words
    /// answers instead (the line waits for the next turn).
    pub rules: Vec<Rule>,
    /// The reply when the agent said nothing (e.g. "Hello? Are you there?"). Without it, a
    /// silent turn takes the next line, so the caller can speak first.
    pub on_silence: Option<Reply>,
    /// How many silent turns in a row `on_silence` answers; at the next one the caller
    /// hangs up ([`AGENT_SILENT`]). Speech from the agent starts the count again.
    pub silence_limit: u32,
    /// What happens once the lines run out.
    pub finish: FinishPolicy,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            lines: vec![],
            rules: vec![],
            on_silence: None,
            silence_limit: DEFAULT_SILENCE_LIMIT,
            finish: FinishPolicy::HangUp,
        }
    }
}

/// What the caller does when its lines run out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinishPolicy {
    /// Hang up with [`SCRIPT_FINISHED`].
    #[default]
    HangUp,
    /// Stay on the line saying nothing (rules and `on_silence` still answer), e.g. to test
    /// that the agent ends the call itself.
    Wait,
}

/// When the agent says something matching `when`, reply with `reply`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub when: Pattern,
    pub reply: Reply,
    /// Answer only the first time it matches.
    pub once: bool,
}

/// Phrases to listen for in the agent's words; any one matches. Text and phrases are
/// compared as lower-case words with punctuation dropped, on whole words, because the
/// agent's words come from speech recognition: "press one" matches "Please, press ONE
/// now!", and "no" does not match "I know".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// Normalised: lower-case words joined by single spaces.
    phrases: Vec<String>,
}

impl Pattern {
    /// An error says which phrase has no words.
    pub fn new<I, S>(phrases: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut normalised = vec![];
        for phrase in phrases {
            let words = words(phrase.as_ref());
            if words.is_empty() {
                return Err(format!("{:?} has no words to listen for", phrase.as_ref()));
            }
            normalised.push(words);
        }
        if normalised.is_empty() {
            return Err("no phrases to listen for".into());
        }
        Ok(Self {
            phrases: normalised,
        })
    }

    /// The phrases, normalised.
    #[cfg(test)]
    pub fn phrases(&self) -> &[String] {
        &self.phrases
    }

    pub fn matches(&self, heard: &str) -> bool {
        let heard = format!(" {} ", words(heard));
        self.phrases
            .iter()
            .any(|p| heard.contains(&format!(" {p} ")))
    }
}

/// Lower-case words separated by single spaces: letters and digits are kept, apostrophes
/// dropped ("don't" -> "dont"), anything else separates words.
fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else if !matches!(c, '\'' | '\u{2019}' | '\u{02bc}') {
            gap = true;
        }
    }
    out
}

/// A script that cannot be used: `path` names the culprit (`lines[2].keys`, `rules[0]`,
/// `script`), `message` what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub path: String,
    pub message: String,
}

impl ScriptError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ScriptError {}

impl Script {
    /// Lines only, each said in turn.
    #[cfg(test)]
    pub fn lines<I, S>(lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            lines: lines
                .into_iter()
                .map(|s| Reply {
                    say: Some(s.into()),
                    ..Reply::default()
                })
                .collect(),
            ..Self::default()
        }
    }

    /// From plain data: a list of lines, or an object with `lines`, `rules`, `on_silence`,
    /// `silence_limit` and `finish` (`"hang_up"` or `"wait"`). A line (and `on_silence`) is
    /// a string to say, or `{"say", "keys", "hang_up"}` with `hang_up` a reason or `true`;
    /// a rule is `{"when", "say", "keys", "hang_up", "once"}` with `when` a phrase or a list
    /// of phrases. The result is checked as [`check`](Self::check) does.
    pub fn from_json(value: &Value) -> Result<Self, ScriptError> {
        let mut script = match value {
            Value::Array(lines) => Self {
                lines: lines_from(lines)?,
                ..Self::default()
            },
            Value::Object(fields) => script_from(fields)?,
            other => {
                return Err(ScriptError::new(
                    "script",
                    format!(
                        "expected a list of lines or an object with \"lines\", got {}",
                        describe(other)
                    ),
                ))
            }
        };
        script.check()?;
        Ok(script)
    }

    /// Checks every reply and normalises its keys ("1, 2" -> "12"): text to say is not
    /// blank, keys are phone keys, a hang-up has a reason, and no reply is empty.
    pub fn check(&mut self) -> Result<(), ScriptError> {
        for (i, line) in self.lines.iter_mut().enumerate() {
            check_reply(&format!("lines[{i}]"), line)?;
        }
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let path = format!("rules[{i}]");
            check_reply(&path, &mut rule.reply)?;
            only_lines_barge_in(&path, &rule.reply)?;
        }
        if let Some(reply) = &mut self.on_silence {
            check_reply("on_silence", reply)?;
            only_lines_barge_in("on_silence", reply)?;
        }
        Ok(())
    }
}

/// Rules answer what the agent said and `on_silence` its silence: neither can be said over
/// the agent before it has said anything.
fn only_lines_barge_in(path: &str, reply: &Reply) -> Result<(), ScriptError> {
    match reply.barge_in_ms {
        Some(_) => Err(ScriptError::new(
            format!("{path}.barge_in_ms"),
            "only lines can barge in (a rule or on_silence answers what the agent said or did not say)",
        )),
        None => Ok(()),
    }
}

fn check_reply(path: &str, reply: &mut Reply) -> Result<(), ScriptError> {
    if let Some(say) = &mut reply.say {
        *say = say.trim().to_string();
        if say.is_empty() {
            return Err(ScriptError::new(
                format!("{path}.say"),
                "nothing to say (blank text)",
            ));
        }
    }
    if let Some(keys) = &mut reply.keys {
        *keys = phone_keys(keys)
            .map_err(|e| ScriptError::new(format!("{path}.keys"), e.to_string()))?;
    }
    if let Some(reason) = &mut reply.hang_up {
        *reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(ScriptError::new(
                format!("{path}.hang_up"),
                "blank reason (give one, or true)",
            ));
        }
    }
    if reply.is_empty() {
        return Err(ScriptError::new(
            path,
            "says nothing, presses no keys and does not hang up",
        ));
    }
    if reply.barge_in_ms.is_some() && reply.say.is_none() {
        return Err(ScriptError::new(
            format!("{path}.barge_in_ms"),
            "barging in needs something to say (\"say\")",
        ));
    }
    Ok(())
}

const SCRIPT_KEYS: &[&str] = &["lines", "rules", "on_silence", "silence_limit", "finish"];
const REPLY_KEYS: &[&str] = &["say", "keys", "hang_up", "barge_in_ms"];
const RULE_KEYS: &[&str] = &["when", "say", "keys", "hang_up", "once"];

fn script_from(fields: &Map<String, Value>) -> Result<Script, ScriptError> {
    only_keys("script", fields, SCRIPT_KEYS)?;
    let mut script = Script::default();
    match fields.get("lines") {
        None | Some(Value::Null) => {}
        Some(Value::Array(lines)) => script.lines = lines_from(lines)?,
        Some(other) => {
            return Err(ScriptError::new(
                "lines",
                format!("expected a list, got {}", describe(other)),
            ))
        }
    }
    match fields.get("rules") {
        None | Some(Value::Null) => {}
        Some(Value::Array(rules)) => {
            script.rules = rules
                .iter()
                .enumerate()
                .map(|(i, r)| rule_from(&format!("rules[{i}]"), r))
                .collect::<Result<_, _>>()?
        }
        Some(other) => {
            return Err(ScriptError::new(
                "rules",
                format!("expected a list, got {}", describe(other)),
            ))
        }
    }
    match fields.get("on_silence") {
        None | Some(Value::Null) => {}
        Some(value) => script.on_silence = Some(reply_from("on_silence", value)?),
    }
    match fields.get("silence_limit") {
        None | Some(Value::Null) => {}
        Some(value) => {
            script.silence_limit = value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ScriptError::new(
                        "silence_limit",
                        format!("expected a whole number of turns, got {}", describe(value)),
                    )
                })?
        }
    }
    match fields.get("finish") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "hang_up" => script.finish = FinishPolicy::HangUp,
        Some(Value::String(s)) if s == "wait" => script.finish = FinishPolicy::Wait,
        Some(other) => {
            return Err(ScriptError::new(
                "finish",
                format!("expected \"hang_up\" or \"wait\", got {}", describe(other)),
            ))
        }
    }
    Ok(script)
}

fn lines_from(lines: &[Value]) -> Result<Vec<Reply>, ScriptError> {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| reply_from(&format!("lines[{i}]"), line))
        .collect()
}

/// A line: a string to say, or an object with `say`, `keys`, `hang_up`.
fn reply_from(path: &str, value: &Value) -> Result<Reply, ScriptError> {
    match value {
        Value::String(say) => Ok(Reply {
            say: Some(say.clone()),
            ..Reply::default()
        }),
        Value::Object(fields) => {
            only_keys(path, fields, REPLY_KEYS)?;
            reply_fields(path, fields)
        }
        other => Err(ScriptError::new(
            path,
            format!(
                "expected text to say or an object with \"say\", \"keys\", \"hang_up\", got {}",
                describe(other)
            ),
        )),
    }
}

fn reply_fields(path: &str, fields: &Map<String, Value>) -> Result<Reply, ScriptError> {
    let say = match fields.get("say") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ScriptError::new(
                format!("{path}.say"),
                format!("expected text, got {}", describe(other)),
            ))
        }
    };
    let keys = match fields.get("keys") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        // `"keys": 1` in a dict is a natural slip; its digits are the keys.
        Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
        Some(other) => {
            return Err(ScriptError::new(
                format!("{path}.keys"),
                format!("expected keys as text (\"1#\"), got {}", describe(other)),
            ))
        }
    };
    let hang_up = match fields.get("hang_up") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(SCRIPTED_HANG_UP.to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ScriptError::new(
                format!("{path}.hang_up"),
                format!("expected a reason or true, got {}", describe(other)),
            ))
        }
    };
    let barge_in_ms = match fields.get("barge_in_ms") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ScriptError::new(
                        format!("{path}.barge_in_ms"),
                        format!(
                            "expected whole milliseconds of the agent's turn, got {}",
                            describe(value)
                        ),
                    )
                })?,
        ),
    };
    Ok(Reply {
        say,
        keys,
        hang_up,
        barge_in_ms,
    })
}

fn rule_from(path: &str, value: &Value) -> Result<Rule, ScriptError> {
    let Value::Object(fields) = value else {
        return Err(ScriptError::new(
            path,
            format!("expected an object with \"when\", got {}", describe(value)),
        ));
    };
    if fields.contains_key("barge_in_ms") {
        let barge_in = Reply {
            barge_in_ms: Some(0),
            ..Reply::default()
        };
        only_lines_barge_in(path, &barge_in)?;
    }
    only_keys(path, fields, RULE_KEYS)?;
    let when_path = format!("{path}.when");
    let phrases = match fields.get("when") {
        None | Some(Value::Null) => return Err(ScriptError::new(path, "missing \"when\"")),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(ScriptError::new(
                    format!("{when_path}[{i}]"),
                    format!("expected text, got {}", describe(other)),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ScriptError::new(
                &when_path,
                format!(
                    "expected a phrase or a list of phrases, got {}",
                    describe(other)
                ),
            ))
        }
    };
    let when = Pattern::new(&phrases).map_err(|message| ScriptError::new(&when_path, message))?;
    let once = match fields.get("once") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ScriptError::new(
                format!("{path}.once"),
                format!("expected true or false, got {}", describe(other)),
            ))
        }
    };
    Ok(Rule {
        when,
        reply: reply_fields(path, fields)?,
        once,
    })
}

fn only_keys(path: &str, fields: &Map<String, Value>, allowed: &[&str]) -> Result<(), ScriptError> {
    match fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(ScriptError::new(
            path,
            format!("unknown key {key:?} (expected {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// A JSON value in an error: short strings and numbers as they are, other kinds by name.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() <= 40 => format!("{s:?}"),
        Value::String(_) => "a long string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A caller that follows a [`Script`]. One per call: it remembers the next line, spent
/// `once` rules and silent turns.
#[derive(Debug, Clone)]
pub struct ScriptedPersona {
    script: Script,
    next_line: usize,
    spent: Vec<bool>,
    silent_turns: u32,
}

impl ScriptedPersona {
    /// Checks the script ([`Script::check`]).
    pub fn new(mut script: Script) -> Result<Self, ScriptError> {
        script.check()?;
        let spent = vec![false; script.rules.len()];
        Ok(Self {
            script,
            next_line: 0,
            spent,
            silent_turns: 0,
        })
    }

    pub fn from_json(value: &Value) -> Result<Self, ScriptError> {
        Self::new(Script::from_json(value)?)
    }

    #[cfg(test)]
    pub fn script(&self) -> &Script {
        &self.script
    }

    /// The reply to `turn`: on a silent turn `on_silence` (up to the limit, then hang up);
    /// otherwise the first unspent rule matching what the agent said; otherwise the next
    /// line; otherwise the finish policy.
    /// The next line's `barge_in_ms`, when it has one.
    pub fn next_barge_in_ms(&self) -> Option<u32> {
        self.script.lines.get(self.next_line)?.barge_in_ms
    }

    pub fn decide(&mut self, turn: &Turn<'_>) -> Reply {
        if turn.barging_in {
            // The line planned to be said over the agent, whatever the agent says.
            if let Some(line) = self.script.lines.get(self.next_line) {
                self.next_line += 1;
                return line.clone();
            }
        }
        if turn.after_silence {
            self.silent_turns += 1;
            if let Some(nudge) = &self.script.on_silence {
                if self.silent_turns > self.script.silence_limit {
                    return hang_up(AGENT_SILENT);
                }
                return nudge.clone();
            }
        } else {
            self.silent_turns = 0;
            let heard = agent_words(turn);
            let rules = self.script.rules.iter().zip(self.spent.iter_mut());
            for (rule, spent) in rules {
                if !*spent && rule.when.matches(&heard) {
                    *spent = rule.once;
                    return rule.reply.clone();
                }
            }
        }
        if let Some(line) = self.script.lines.get(self.next_line) {
            self.next_line += 1;
            return line.clone();
        }
        match self.script.finish {
            FinishPolicy::HangUp => hang_up(SCRIPT_FINISHED),
            FinishPolicy::Wait => Reply::default(),
        }
    }
}

impl Persona for ScriptedPersona {
    fn reply<'a>(&'a mut self, turn: Turn<'a>) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        let reply = self.decide(&turn);
        Box::pin(std::future::ready(Ok(reply)))
    }

    fn barge_in_ms(&self) -> Option<u32> {
        self.next_barge_in_ms()
    }
}

fn hang_up(reason: &str) -> Reply {
    Reply {
        hang_up: Some(reason.to_string()),
        ..Reply::default()
    }
}

/// What the agent said since the caller last spoke or pressed a key: what the caller is
/// answering (usually the last agent utterance).
fn agent_words(turn: &Turn<'_>) -> String {
    let after = turn
        .utterances
        .iter()
        .rposition(|u| u.speaker == Speaker::Caller)
        .map_or(0, |i| i + 1);
    let last_key = turn
        .keys
        .iter()
        .filter(|k| k.speaker == Speaker::Caller)
        .map(|k| k.at_ms)
        .max();
    turn.utterances[after..]
        .iter()
        .filter(|u| u.speaker == Speaker::Agent && last_key.is_none_or(|at| u.start_ms >= at))
        .map(|u| u.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
