//! `<Dial>` on the loopback carrier: the party dialled is simulated, answering as the test
//! said (`LoopbackConfig::dial_targets`): it speaks lines, is busy, does not answer, or
//! fails. While it is connected, the caller hears it through the dialling leg's port and it
//! hears the caller; the dialling leg's TwiML waits, then goes on as Twilio's does (the
//! `action` URL with `DialCallStatus`, else the next verb).

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

use super::call::LegControl;
use super::leg::{Leg, LegEnd, Step};
use super::sid;
use crate::audio::mulaw;
use crate::telephony::playout::Frame;
use crate::telephony::twiml::{dial::normalize_number, Dial, DialKind, DialTarget};

/// How a dialled party answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialAnswer {
    /// Picks up, says these lines (waiting for the caller's reply after each), hangs up.
    Speaks(Vec<String>),
    Busy,
    NoAnswer,
    /// The call cannot be placed (a number that does not exist).
    Failed,
}

/// What answers each party, by `DialTarget::key` ("+15550123", "sip:...", "client:alice").
pub type DialTargets = HashMap<String, DialAnswer>;

/// A party's answer as JSON: "busy", "no-answer", "failed", or {"say": ["line", ...]}.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnswerJson {
    Word(String),
    Say { say: Vec<String> },
}

/// Reads dial targets from JSON (`{"+15550123": {"say": [...]}, "sip:x@y": "busy"}`); an
/// error names the target and what was expected.
pub fn parse_targets(json: &str) -> Result<DialTargets, String> {
    let raw: HashMap<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| format!("dial_targets: {e}"))?;
    let mut targets = DialTargets::new();
    for (name, value) in raw {
        let key = target_key(&name)?;
        let expected = "\"busy\", \"no-answer\", \"failed\" or lines to say";
        let answer = match serde_json::from_value::<AnswerJson>(value) {
            Ok(AnswerJson::Word(word)) => match word.as_str() {
                "busy" => DialAnswer::Busy,
                "no-answer" => DialAnswer::NoAnswer,
                "failed" => DialAnswer::Failed,
                other => {
                    return Err(format!(
                        "dial target {name}: {other:?} is not an answer ({expected})"
                    ))
                }
            },
            Ok(AnswerJson::Say { say }) => {
                if say.is_empty() || say.iter().any(|line| line.trim().is_empty()) {
                    return Err(format!(
                        "dial target {name}: give at least one line to say, none of them blank"
                    ));
                }
                DialAnswer::Speaks(say)
            }
            Err(_) => return Err(format!("dial target {name}: expected {expected}")),
        };
        if targets.insert(key.clone(), answer).is_some() {
            return Err(format!(
                "dial target {name}: {key} is given twice (numbers compare without punctuation)"
            ));
        }
    }
    Ok(targets)
}

/// The key a target name stands for: a phone number (punctuation dropped), `sip:...`, or
/// `client:<identity>`.
pub fn target_key(name: &str) -> Result<String, String> {
    let name = name.trim();
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("sip:") && name.len() > 4 {
        return Ok(name.to_string());
    }
    if let Some(identity) = name.strip_prefix("client:") {
        if !identity.is_empty() {
            return Ok(name.to_string());
        }
    }
    let number = normalize_number(name);
    let digits = number.strip_prefix('+').unwrap_or(&number);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return Ok(number);
    }
    Err(format!(
        "dial target {name:?} is not a phone number, a sip: URI or client:<identity>"
    ))
}

/// One `<Dial>` of a leg, as the call's result reports it.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub target: DialTarget,
    /// The dialled call's own sid (`DialCallSid`).
    pub call_sid: String,
    /// ringing, in-progress, then Twilio's DialCallStatus: completed, busy, no-answer,
    /// failed or canceled.
    pub status: String,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    pub started: Instant,
    pub answered: Option<Instant>,
    pub ended: Option<Instant>,
}

/// How long a party that answers rings first.
const RING_BEFORE_ANSWER: Duration = Duration::from_secs(1);
/// How long a busy line or a call that cannot be placed takes to say so.
const BUSY_AFTER: Duration = Duration::from_millis(500);
/// After each line, how long the party waits for the caller to start replying...
const REPLY_START: Duration = Duration::from_secs(4);
/// ...and how much quiet ends the reply.
const REPLY_END_QUIET: Duration = Duration::from_millis(800);
/// Mean absolute level (16-bit) above which a frame of what the party hears is speech.
const SPEECH_LEVEL: u32 = 300;

/// The leg's transfer in progress: if the `<Dial>` is abandoned (a REST redirect takes the
/// leg elsewhere), it still ends in the record, as `canceled` or, once answered, `completed`.
struct InProgress<'a> {
    control: &'a LegControl,
    index: usize,
    done: bool,
}

impl InProgress<'_> {
    fn update(&self, change: impl FnOnce(&mut Transfer)) {
        let mut transfers = self.control.transfers.lock().expect("transfers lock");
        change(&mut transfers[self.index]);
    }

    fn answered(&self) {
        self.update(|t| {
            t.answered = Some(Instant::now());
            t.status = "in-progress".into();
        });
    }

    fn finish(&mut self, status: &str, reason: Option<String>) -> Transfer {
        self.done = true;
        let mut transfers = self.control.transfers.lock().expect("transfers lock");
        let transfer = &mut transfers[self.index];
        if transfer.ended.is_some() {
            return transfer.clone(); // closed when the call ended (`close_transfers`)
        }
        transfer.status = status.to_string();
        transfer.reason = reason;
        transfer.ended = Some(Instant::now());
        transfer.clone()
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        if !self.done {
            let answered = self.control.transfers.lock().expect("transfers lock")[self.index]
                .answered
                .is_some();
            self.finish(if answered { "completed" } else { "canceled" }, None);
        }
    }
}

impl Leg {
    /// Runs `<Dial>`: rings the party, connects it to the caller if it answers, then goes
    /// on with the action's TwiML or the next verb.
    pub(super) async fn dial(&self, dial: &Dial, doc_url: &str) -> Step {
        let target = &dial.target;
        let key = target.key();
        let control = &self.call.legs[self.index];
        let dial_sid = sid("CA");
        let index = {
            let mut transfers = control.transfers.lock().expect("transfers lock");
            transfers.push(Transfer {
                target: target.clone(),
                call_sid: dial_sid.clone(),
                status: "ringing".into(),
                reason: None,
                started: Instant::now(),
                answered: None,
                ended: None,
            });
            transfers.len() - 1
        };
        let mut pending = InProgress {
            control,
            index,
            done: false,
        };
        let answer = self.carrier.config.dial_targets.get(&key).cloned();
        let (status, reason) = match answer {
            None => {
                let reason = self.unknown_target(target);
                self.alert(reason.clone());
                ("failed", Some(reason))
            }
            Some(DialAnswer::Failed) => self.ring(BUSY_AFTER, "failed").await,
            Some(DialAnswer::Busy) => self.ring(BUSY_AFTER, "busy").await,
            Some(DialAnswer::NoAnswer) => {
                let rings = Duration::from_secs(dial.timeout.into());
                self.ring(rings, "no-answer").await
            }
            Some(DialAnswer::Speaks(lines)) => {
                let rings = RING_BEFORE_ANSWER.min(Duration::from_secs(dial.timeout.into()));
                match self.ring(rings, "").await {
                    ended @ ("canceled", _) => ended,
                    _ => {
                        pending.answered();
                        let limit = Duration::from_secs(dial.time_limit.into());
                        match timeout(limit, self.speak_as_party(&lines)).await {
                            Ok(Err(e)) => {
                                pending.finish("failed", Some(e.clone()));
                                return Step::End(LegEnd::Failed(e));
                            }
                            Ok(Ok(())) => {}
                            Err(_) => self.port.clear(), // timeLimit: the party is cut off
                        }
                        ("completed", None)
                    }
                }
            }
        };
        let transfer = pending.finish(status, reason);
        self.carrier.log(format!(
            "call {}: <Dial> {key} ({}): {status}",
            self.call_sid,
            target.kind.as_str()
        ));
        if *self.ended.borrow() {
            return Step::End(LegEnd::CallEnded);
        }
        let Some(action) = &dial.action else {
            return Step::Next;
        };
        self.goto(
            doc_url,
            action,
            dial.method.clone(),
            &action_params(&transfer),
        )
        .await
    }

    /// Rings for `length` (the caller hears silence), then ends as `status`; `canceled` if
    /// the call ended first.
    async fn ring(&self, length: Duration, status: &'static str) -> (&'static str, Option<String>) {
        let mut ended = self.ended.clone();
        tokio::select! {
            () = sleep(length) => (status, None),
            _ = super::until_set(&mut ended) => ("canceled", None),
        }
    }

    /// The party's side of the connected call: each line, then the caller's reply.
    async fn speak_as_party(&self, lines: &[String]) -> Result<(), String> {
        let mut hears = self.port.listen();
        for line in lines {
            let pcm = self
                .carrier
                .synthesize(line, None, None)
                .await
                .map_err(|e| format!("<Dial> the party dialled cannot speak: {e}"))?;
            self.port.say(&mulaw::encode_all(&pcm));
            self.until_played().await;
            while hears.try_recv().is_ok() {} // what it heard while speaking
            if !self.caller_replies(&mut hears).await {
                break;
            }
        }
        Ok(())
    }

    /// Waits until the caller has replied (spoken, then gone quiet) or has not begun to
    /// within `REPLY_START`; false once the call has ended.
    async fn caller_replies(&self, hears: &mut mpsc::UnboundedReceiver<Frame>) -> bool {
        let began = Instant::now();
        let mut last_speech: Option<Instant> = None;
        loop {
            match last_speech {
                None if began.elapsed() >= REPLY_START => return true,
                Some(at) if at.elapsed() >= REPLY_END_QUIET => return true,
                _ => {}
            }
            match timeout(Duration::from_millis(100), hears.recv()).await {
                Ok(None) => return false,
                Ok(Some(frame)) if is_speech(&frame) => last_speech = Some(Instant::now()),
                _ => {}
            }
            if *self.ended.borrow() {
                return false;
            }
        }
    }

    fn unknown_target(&self, target: &DialTarget) -> String {
        let mut known: Vec<&String> = self.carrier.config.dial_targets.keys().collect();
        known.sort();
        let known = if known.is_empty() {
            "(none)".to_string()
        } else {
            known
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let what = match target.kind {
            DialKind::Number => "number",
            DialKind::Sip => "SIP address",
            DialKind::Client => "client",
        };
        format!(
            "<Dial> {target}: the loopback carrier has no dial target for this {what} (give \
             LoopbackCarrier(dial_targets={{...}}) what answers it); its dial targets are: {known}"
        )
    }
}

/// Ends the transfers still ringing or connected when the call ends, as Twilio reports
/// them: `completed` once answered, else `canceled`.
pub fn close_transfers(control: &LegControl) {
    let now = Instant::now();
    for transfer in control
        .transfers
        .lock()
        .expect("transfers lock")
        .iter_mut()
        .filter(|t| t.ended.is_none())
    {
        transfer.status = if transfer.answered.is_some() {
            "completed"
        } else {
            "canceled"
        }
        .into();
        transfer.ended = Some(now);
    }
}

/// What Twilio adds to the action request of a `<Dial>`.
fn action_params(transfer: &Transfer) -> Vec<(String, String)> {
    let mut params = vec![
        ("CallStatus".to_string(), "in-progress".to_string()),
        ("DialCallStatus".into(), transfer.status.clone()),
        ("DialCallSid".into(), transfer.call_sid.clone()),
        (
            "DialBridged".into(),
            transfer.answered.is_some().to_string(),
        ),
    ];
    if let (Some(answered), Some(ended)) = (transfer.answered, transfer.ended) {
        let seconds = ended.saturating_duration_since(answered).as_secs_f64();
        params.push((
            "DialCallDuration".into(),
            format!("{}", seconds.round() as u64),
        ));
    }
    params
}

/// Whether a frame the party hears is speech rather than a quiet line.
fn is_speech(frame: &Frame) -> bool {
    let total: u32 = frame
        .iter()
        .map(|&b| u32::from(mulaw::decode(b).unsigned_abs()))
        .sum();
    total / frame.len() as u32 > SPEECH_LEVEL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_by_key_and_bad_ones_are_named() {
        let targets = parse_targets(
            r#"{"+1 (555) 012-3": {"say": ["Billing, hello."]}, "sip:b@x.test": "busy",
                "client:alice": "no-answer", "+15550999": "failed"}"#,
        )
        .unwrap();
        assert_eq!(
            targets["+15550123"],
            DialAnswer::Speaks(vec!["Billing, hello.".into()])
        );
        assert_eq!(targets["sip:b@x.test"], DialAnswer::Busy);
        assert_eq!(targets["client:alice"], DialAnswer::NoAnswer);
        assert_eq!(targets["+15550999"], DialAnswer::Failed);
        let bad = |json: &str| parse_targets(json).unwrap_err();
        assert_eq!(
            bad(r#"{"billing": "busy"}"#),
            "dial target \"billing\" is not a phone number, a sip: URI or client:<identity>"
        );
        assert!(
            bad(r#"{"+1": "engaged"}"#).starts_with("dial target +1: \"engaged\" is not an answer")
        );
        assert_eq!(
            bad(r#"{"+1": {"say": []}}"#),
            "dial target +1: give at least one line to say, none of them blank"
        );
        assert!(bad(r#"{"+1": 3}"#).starts_with("dial target +1: expected"));
        assert!(bad(r#"{"+1 2": "busy", "+12": "busy"}"#).contains("given twice"));
    }

    #[test]
    fn speech_is_told_from_a_quiet_line() {
        assert!(!is_speech(&[mulaw::SILENCE; 160]));
        assert!(is_speech(&[mulaw::encode(8000); 160]));
    }
}
