//! The calls a call server knows: placed or expected, then answered, streaming, ended.
//!
//! A call has two secrets: its id (in the webhook URLs trialrun gives the carrier, so a
//! webhook finds its call) and its stream token (only in the TwiML answer, so only the
//! carrier that fetched the webhook can attach a media stream to the call).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedSender;

use crate::telephony::call::{
    call_channels, CallChannels, CallEnd, CallEvent, CallHandle, EndReason,
};

/// Custom parameter of the stream that carries the stream token.
pub const TOKEN_PARAMETER: &str = "trialrun_token";

/// An unguessable identifier (122 random bits).
pub fn secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

struct Slot {
    token: String,
    /// Twilio's id, once a webhook named it.
    call_sid: Option<String>,
    /// For an expected inbound call: the caller it must come from, if given.
    expected_from: Option<String>,
    answered: bool,
    events: UnboundedSender<CallEvent>,
    /// Some until a media stream takes it.
    channels: Option<CallChannels>,
}

#[derive(Default)]
struct Calls {
    by_id: HashMap<String, Slot>,
    /// Expected inbound calls, oldest first.
    inbound: VecDeque<String>,
}

/// What a voice webhook should answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Connect the call to a stream carrying this token.
    Stream { call_id: String, token: String },
    /// No such call (or it already ended).
    Unknown,
    /// An inbound call nobody expects.
    NotExpected,
}

/// Why a stream could not attach to a call.
#[derive(Debug, PartialEq, Eq)]
pub enum TakeError {
    UnknownToken,
    AlreadyStreaming,
}

#[derive(Default)]
pub struct Registry {
    /// Shared with the calls' handles, which end a call that has no stream yet on hang-up.
    calls: Arc<Mutex<Calls>>,
    /// Woken when an inbound call comes to be expected (a held webhook may now be answered).
    expected: tokio::sync::Notify,
}

impl Registry {
    fn add(&self, expected_from: Option<String>, inbound: bool) -> CallHandle {
        let id = secret();
        let (mut handle, channels) = call_channels(id.clone());
        let weak = Arc::downgrade(&self.calls);
        let call_id = id.clone();
        handle.on_unstreamed_hang_up(move || {
            if let Some(calls) = weak.upgrade() {
                end_unstreamed(&calls, &call_id, EndReason::HungUp, None);
            }
        });
        let slot = Slot {
            token: secret(),
            call_sid: None,
            expected_from,
            answered: false,
            events: channels.events.clone(),
            channels: Some(channels),
        };
        let mut calls = self.calls.lock().expect("registry lock");
        calls.by_id.insert(id.clone(), slot);
        if inbound {
            calls.inbound.push_back(id);
            self.expected.notify_waiters();
        }
        handle
    }

    /// Wakes the webhooks held for an expectation (the server is stopping).
    pub fn wake_held(&self) {
        self.expected.notify_waiters();
    }

    /// Resolves when an inbound call comes to be expected after this was enabled; see
    /// `tokio::sync::Notify::notified`.
    pub fn expectation_added(&self) -> tokio::sync::futures::Notified<'_> {
        self.expected.notified()
    }

    /// A call trialrun is about to place; its id goes into the webhook URLs.
    pub fn add_outbound(&self) -> CallHandle {
        self.add(None, false)
    }

    /// A call trialrun expects to receive (from `from`, or from anyone).
    pub fn add_inbound(&self, from: Option<String>) -> CallHandle {
        self.add(from, true)
    }

    /// Matches a voice webhook to its call: by the id in its URL, else (inbound) to the
    /// oldest expected call whose caller matches.
    pub fn answer(&self, call_id: Option<&str>, call_sid: &str, from: &str) -> Answer {
        let mut calls = self.calls.lock().expect("registry lock");
        let id = match call_id {
            Some(id) => id.to_string(),
            None => {
                // Expectations nobody waits on any more (their caller gave up) are dropped.
                let gone: Vec<String> = calls
                    .inbound
                    .iter()
                    .filter(|id| calls.by_id[*id].events.is_closed())
                    .cloned()
                    .collect();
                for id in &gone {
                    calls.by_id.remove(id);
                }
                calls.inbound.retain(|id| !gone.contains(id));
                let position = calls.inbound.iter().position(|id| {
                    let slot = &calls.by_id[id];
                    slot.expected_from
                        .as_deref()
                        .is_none_or(|want| want == from)
                });
                match position.and_then(|p| calls.inbound.remove(p)) {
                    Some(id) => id,
                    None => return Answer::NotExpected,
                }
            }
        };
        let Some(slot) = calls.by_id.get_mut(&id) else {
            return Answer::Unknown;
        };
        if slot.channels.is_none() {
            return Answer::Unknown; // already streaming: a second answer would be a replay
        }
        slot.answered = true;
        if !call_sid.is_empty() {
            slot.call_sid = Some(call_sid.to_string());
        }
        Answer::Stream {
            call_id: id,
            token: slot.token.clone(),
        }
    }

    /// Hands a call's channels to the stream carrying its token.
    pub fn take_stream(&self, token: &str) -> Result<(String, CallChannels), TakeError> {
        let mut calls = self.calls.lock().expect("registry lock");
        let found = calls
            .by_id
            .iter_mut()
            .find(|(_, slot)| slot.answered && slot.token == token);
        let Some((id, slot)) = found else {
            return Err(TakeError::UnknownToken);
        };
        match slot.channels.take() {
            Some(channels) => Ok((id.clone(), channels)),
            None => Err(TakeError::AlreadyStreaming),
        }
    }

    /// Passes an event to a call; false if there is no such call.
    pub fn notify(&self, call_id: &str, event: CallEvent) -> bool {
        let calls = self.calls.lock().expect("registry lock");
        match calls.by_id.get(call_id) {
            Some(slot) => slot.events.send(event).is_ok(),
            None => false,
        }
    }

    /// Ends a call that has no stream (not answered, refused, carrier error); a streaming
    /// call ends with its stream instead. Returns whether it ended here.
    pub fn end_unstreamed(&self, call_id: &str, reason: EndReason, detail: Option<String>) -> bool {
        end_unstreamed(&self.calls, call_id, reason, detail)
    }

    /// Notes the carrier's sid of a call, from a callback that named it.
    pub fn note_call_sid(&self, call_id: &str, call_sid: &str) {
        let mut calls = self.calls.lock().expect("registry lock");
        if let Some(slot) = calls.by_id.get_mut(call_id) {
            if slot.call_sid.is_none() && !call_sid.is_empty() {
                slot.call_sid = Some(call_sid.to_string());
            }
        }
    }

    /// Forgets a call whose stream has ended (its session sent the Ended event).
    pub fn remove(&self, call_id: &str) {
        self.calls
            .lock()
            .expect("registry lock")
            .by_id
            .remove(call_id);
    }

    /// Ids of calls that have no stream yet.
    pub fn unstreamed(&self) -> Vec<String> {
        let calls = self.calls.lock().expect("registry lock");
        calls
            .by_id
            .iter()
            .filter(|(_, slot)| slot.channels.is_some())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Twilio's sid of a call, once known.
    #[cfg(test)]
    pub fn call_sid(&self, call_id: &str) -> Option<String> {
        let calls = self.calls.lock().expect("registry lock");
        calls
            .by_id
            .get(call_id)
            .and_then(|slot| slot.call_sid.clone())
    }
}

/// See `Registry::end_unstreamed`.
fn end_unstreamed(
    calls: &Mutex<Calls>,
    call_id: &str,
    reason: EndReason,
    detail: Option<String>,
) -> bool {
    let mut calls = calls.lock().expect("registry lock");
    let unstreamed = calls
        .by_id
        .get(call_id)
        .is_some_and(|slot| slot.channels.is_some());
    if !unstreamed {
        return false;
    }
    let slot = calls.by_id.remove(call_id).expect("checked above");
    calls.inbound.retain(|id| id != call_id);
    let _ = slot.events.send(CallEvent::Ended(CallEnd {
        reason,
        detail,
        duration_ms: 0,
        pacing: Default::default(),
        recording_path: None,
        call_sid: slot.call_sid,
    }));
    true
}

/// A stream's custom parameters without trialrun's own token.
pub fn user_parameters(mut parameters: BTreeMap<String, String>) -> BTreeMap<String, String> {
    parameters.remove(TOKEN_PARAMETER);
    parameters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::call::{CallCommand, CallOver};

    #[test]
    fn an_outbound_call_is_answered_by_id_and_streams_once() {
        let registry = Registry::default();
        let handle = registry.add_outbound();
        let Answer::Stream { call_id, token } = registry.answer(Some(&handle.id), "CA1", "+1")
        else {
            panic!("answered");
        };
        assert_eq!(call_id, handle.id);
        assert_eq!(registry.call_sid(&call_id).as_deref(), Some("CA1"));
        assert!(registry.take_stream(&token).is_ok());
        assert_eq!(
            registry.take_stream(&token).err(),
            Some(TakeError::AlreadyStreaming)
        );
        assert_eq!(
            registry.answer(Some(&handle.id), "CA1", "+1"),
            Answer::Unknown
        );
    }

    #[test]
    fn tokens_and_ids_are_unguessable_and_distinct() {
        let registry = Registry::default();
        let a = registry.add_outbound();
        let b = registry.add_outbound();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 32);
        assert_eq!(registry.answer(Some("nope"), "CA", "+1"), Answer::Unknown);
        assert_eq!(
            registry.take_stream("nope").err(),
            Some(TakeError::UnknownToken)
        );
    }

    #[test]
    fn a_token_is_useless_before_its_call_is_answered() {
        let registry = Registry::default();
        let handle = registry.add_outbound();
        let token = registry.calls.lock().unwrap().by_id[&handle.id]
            .token
            .clone();
        assert_eq!(
            registry.take_stream(&token).err(),
            Some(TakeError::UnknownToken)
        );
    }

    #[test]
    fn inbound_calls_match_the_expected_caller_oldest_first() {
        let registry = Registry::default();
        let from_b = registry.add_inbound(Some("+2".into()));
        let anyone = registry.add_inbound(None);
        let answer = registry.answer(None, "CA1", "+9");
        assert!(matches!(answer, Answer::Stream { ref call_id, .. } if *call_id == anyone.id));
        let answer = registry.answer(None, "CA2", "+2");
        assert!(matches!(answer, Answer::Stream { ref call_id, .. } if *call_id == from_b.id));
        assert_eq!(registry.answer(None, "CA3", "+2"), Answer::NotExpected);
    }

    #[test]
    fn an_unstreamed_call_ends_with_a_last_event() {
        let registry = Registry::default();
        let mut handle = registry.add_outbound();
        assert!(registry.end_unstreamed(&handle.id, EndReason::NotAnswered, Some("busy".into())));
        assert!(!registry.end_unstreamed(&handle.id, EndReason::NotAnswered, None));
        let Some(CallEvent::Ended(end)) = handle.try_next_event() else {
            panic!("ended");
        };
        assert_eq!(
            (end.reason, end.detail.as_deref()),
            (EndReason::NotAnswered, Some("busy"))
        );
        assert!(handle.try_next_event().is_none());
    }

    #[test]
    fn hanging_up_a_call_with_no_stream_ends_it_at_once() {
        let registry = Registry::default();
        let mut ringing = registry.add_outbound();
        let mut answered = registry.add_outbound();
        let Answer::Stream { token, .. } = registry.answer(Some(&answered.id), "CA1", "+1") else {
            panic!("answered");
        };
        for handle in [&mut ringing, &mut answered] {
            handle.commands().hang_up().unwrap();
            let Some(CallEvent::Ended(end)) = handle.try_next_event() else {
                panic!("ended at once");
            };
            assert_eq!(end.reason, EndReason::HungUp);
            assert_eq!(handle.commands().hang_up(), Err(CallOver));
        }
        assert_eq!(
            registry.take_stream(&token).err(),
            Some(TakeError::UnknownToken)
        );
    }

    #[test]
    fn hanging_up_a_streaming_call_goes_through_its_stream() {
        let registry = Registry::default();
        let mut handle = registry.add_outbound();
        let Answer::Stream { token, .. } = registry.answer(Some(&handle.id), "CA1", "+1") else {
            panic!("answered");
        };
        let (_, mut channels) = registry.take_stream(&token).unwrap();
        handle.commands().hang_up().unwrap();
        assert!(
            handle.try_next_event().is_none(),
            "the stream reports the end"
        );
        assert!(matches!(
            channels.commands.try_recv(),
            Ok(CallCommand::Hangup)
        ));
    }
}
