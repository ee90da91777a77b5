//! One call as trialrun's side of it sees it: the events it gets from the far end and the
//! commands it gives, whoever carries the call (Twilio or the loopback carrier).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::audio::{dtmf, mulaw};

/// Something that happened on a call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// The carrier's status callback: queued, initiated, ringing, in-progress, completed,
    /// busy, no-answer, canceled or failed.
    Status { status: String },
    /// The media stream started.
    Started {
        call_sid: String,
        stream_sid: String,
        /// The stream's `<Parameter>`s.
        parameters: BTreeMap<String, String>,
    },
    /// Audio from the far end: 8 kHz PCM placed `at_ms` after the stream started.
    Audio { at_ms: u64, samples: Vec<i16> },
    /// Audio sent before this mark has finished playing at the far end.
    Mark { name: String },
    /// The far end pressed a key.
    Dtmf { digit: String },
    /// A recording is ready at the carrier (its URL carries no credentials).
    Recording {
        sid: String,
        url: String,
        status: String,
    },
    /// The call is over; always the last event.
    Ended(CallEnd),
}

/// Why and how a call ended.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEnd {
    pub reason: EndReason,
    /// What went wrong, for `ProtocolError` and `CarrierError`.
    pub detail: Option<String>,
    /// Milliseconds from the stream's start to its end (0 if it never started).
    pub duration_ms: u64,
    /// Outgoing frames sent, and how late each was against the 20 ms clock.
    pub pacing: PacingStats,
    /// Path of the two-channel WAV recording, when recording was on.
    pub recording_path: Option<String>,
    /// The carrier's sid of a call that ended before its stream started (a started
    /// stream's `Started` event carries it), when a webhook named it.
    pub call_sid: Option<String>,
}

/// Who or what ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// trialrun's side hung up.
    HungUp,
    /// The far end hung up (the stream stopped or the call completed).
    FarEndHungUp,
    /// The far end was busy, did not answer, or refused the call.
    NotAnswered,
    /// The longest call allowed was reached.
    MaxDuration,
    /// Nothing was heard from the far end for the silence timeout.
    SilenceTimeout,
    /// The stream broke the Media Streams protocol.
    ProtocolError,
    /// The carrier could not place or carry the call.
    CarrierError,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HungUp => "hung_up",
            Self::FarEndHungUp => "far_end_hung_up",
            Self::NotAnswered => "not_answered",
            Self::MaxDuration => "max_duration",
            Self::SilenceTimeout => "silence_timeout",
            Self::ProtocolError => "protocol_error",
            Self::CarrierError => "carrier_error",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lateness of outgoing frames against their 20 ms deadlines, in microseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacingStats {
    pub frames: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl PacingStats {
    /// Percentiles of `lateness_us` (sorted in place).
    pub fn from_samples(lateness_us: &mut [u64]) -> Self {
        if lateness_us.is_empty() {
            return Self::default();
        }
        lateness_us.sort_unstable();
        let at = |q: f64| lateness_us[((lateness_us.len() - 1) as f64 * q).round() as usize];
        Self {
            frames: lateness_us.len() as u64,
            p50_us: at(0.50),
            p99_us: at(0.99),
            max_us: *lateness_us.last().expect("not empty"),
        }
    }
}

/// What a carrier that carries both ends of a call (the loopback carrier) saw of the far
/// end: what Twilio's protocol does not tell the near end, for the call's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FarEndReport {
    /// The far end's own call sid (the one its webhook and stream saw).
    pub call_sid: String,
    /// How the far end ended the call, when it did ("hung up through the REST API ...").
    pub hung_up: Option<String>,
    /// What went wrong: the call's failure, or one the far end's TwiML went on after (a
    /// media stream the carrier could not open).
    pub error: Option<String>,
    /// Times the far end's audio ran out while it was speaking and then went on.
    pub underruns: u64,
    /// What network faults the carrier put on the call did, to what the near end sent and
    /// heard.
    pub faults: Option<crate::telephony::loopback::faults::FaultReport>,
    /// The far end's transfers (`<Dial>`), in order.
    pub transfers: Vec<TransferReport>,
}

/// A transfer of the call by the far end (`<Dial>`), timed in milliseconds from the start
/// of the near end's media stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferReport {
    /// "+15550123", "sip:billing@example.com" or "client:alice".
    pub target: String,
    /// number, sip or client.
    pub kind: &'static str,
    /// The dialled call's sid (Twilio's DialCallSid).
    pub call_sid: String,
    /// ringing or in-progress while it lasts; then completed, busy, no-answer, failed or
    /// canceled (Twilio's DialCallStatus).
    pub status: String,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    pub start_ms: u64,
    /// When the party answered, if it did.
    pub answered_ms: Option<u64>,
    pub ended_ms: Option<u64>,
}

/// A carrier that can report on the far end of calls it carried, by the near end's sid.
pub trait FarEndWitness: Send + Sync {
    /// None when the carrier does not know the call. Before the call has ended, how it
    /// ended is not known yet.
    fn far_end(&self, call_sid: &str) -> Option<FarEndReport>;
}

/// What trialrun's side asks of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallCommand {
    /// Queue mu-law audio to play to the far end.
    Audio(Vec<u8>),
    /// Queue a mark behind the audio queued so far.
    Mark(String),
    /// Drop queued audio (barge-in).
    Clear,
    /// End the call.
    Hangup,
}

/// The handle a caller of trialrun holds: sends commands, receives events.
pub struct CallHandle {
    pub id: String,
    commands: CallCommands,
    events: CallEvents,
}

/// A call's events in order, as their one holder takes them. An event taken by a reader
/// that no longer wants it (an `await` cancelled as the event arrived) is put back, to be
/// the next one taken rather than lost.
pub struct CallEvents {
    receiver: mpsc::UnboundedReceiver<CallEvent>,
    put_back: Option<CallEvent>,
}

impl CallEvents {
    /// The next event; None once the call has ended and every event was taken. Cancel-safe:
    /// a wait dropped before it finished takes nothing.
    pub async fn recv(&mut self) -> Option<CallEvent> {
        match self.put_back.take() {
            Some(event) => Some(event),
            None => self.receiver.recv().await,
        }
    }

    /// The next event if one is waiting.
    #[cfg(test)]
    pub fn try_recv(&mut self) -> Option<CallEvent> {
        self.put_back
            .take()
            .or_else(|| self.receiver.try_recv().ok())
    }

    /// Gives back the event the last `recv` returned, unused: it comes next.
    pub fn put_back(&mut self, event: CallEvent) {
        debug_assert!(self.put_back.is_none(), "one event is put back at a time");
        self.put_back = Some(event);
    }
}

/// The sending half of a handle; clones send to the same call.
#[derive(Clone)]
pub struct CallCommands {
    sender: mpsc::UnboundedSender<CallCommand>,
    /// Ends the call at once if nothing carries it yet: a hang-up queued for a media stream
    /// that never comes would otherwise wait for the stream's deadline and end as an error.
    end_if_unstreamed: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// The other end of a `CallHandle`, held by whatever carries the call.
pub struct CallChannels {
    pub commands: mpsc::UnboundedReceiver<CallCommand>,
    pub events: mpsc::UnboundedSender<CallEvent>,
}

/// A handle and the channels behind it.
pub fn call_channels(id: String) -> (CallHandle, CallChannels) {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let handle = CallHandle {
        id,
        commands: CallCommands {
            sender: command_tx,
            end_if_unstreamed: None,
        },
        events: CallEvents {
            receiver: event_rx,
            put_back: None,
        },
    };
    (
        handle,
        CallChannels {
            commands: command_rx,
            events: event_tx,
        },
    )
}

/// The call has ended: commands go nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallOver;

impl CallHandle {
    /// Where commands for this call go.
    #[cfg(test)]
    pub fn commands(&self) -> &CallCommands {
        &self.commands
    }

    /// The next event; None once the call has ended and every event was taken.
    #[cfg(test)]
    pub async fn next_event(&mut self) -> Option<CallEvent> {
        self.events.recv().await
    }

    /// The next event if one is waiting.
    #[cfg(test)]
    pub fn try_next_event(&mut self) -> Option<CallEvent> {
        self.events.try_recv()
    }

    /// What hanging up does while no media stream carries the call (end it there and then).
    pub fn on_unstreamed_hang_up(&mut self, end: impl Fn() + Send + Sync + 'static) {
        self.commands.end_if_unstreamed = Some(Arc::new(end));
    }

    /// The id, the commands and the events, apart (for holders that share them).
    pub fn into_parts(self) -> (String, CallCommands, CallEvents) {
        (self.id, self.commands, self.events)
    }
}

impl CallCommands {
    /// Queues 8 kHz PCM audio.
    pub fn send_pcm(&self, samples: &[i16]) -> Result<(), CallOver> {
        self.send(CallCommand::Audio(mulaw::encode_all(samples)))
    }

    /// Queues mu-law audio as it is.
    pub fn send_mulaw(&self, bytes: Vec<u8>) -> Result<(), CallOver> {
        self.send(CallCommand::Audio(bytes))
    }

    /// Queues key tones for `digits` (in-band, as a phone sends them).
    pub fn send_dtmf(&self, digits: &str) -> Result<(), DtmfError> {
        let bytes = dtmf::phone_tones(digits).map_err(|e| DtmfError::UnknownDigit(e.0))?;
        self.send(CallCommand::Audio(bytes))
            .map_err(|_| DtmfError::CallOver)
    }

    pub fn mark(&self, name: &str) -> Result<(), CallOver> {
        self.send(CallCommand::Mark(name.to_string()))
    }

    pub fn clear(&self) -> Result<(), CallOver> {
        self.send(CallCommand::Clear)
    }

    /// Ends the call: a streaming call through its stream, one with no stream yet at once.
    pub fn hang_up(&self) -> Result<(), CallOver> {
        // Queued first, so a stream that takes the call meanwhile still reads it.
        self.send(CallCommand::Hangup)?;
        if let Some(end) = &self.end_if_unstreamed {
            end();
        }
        Ok(())
    }

    fn send(&self, command: CallCommand) -> Result<(), CallOver> {
        self.sender.send(command).map_err(|_| CallOver)
    }
}

/// Why key tones could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfError {
    UnknownDigit(char),
    CallOver,
}

impl fmt::Display for DtmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownDigit(c) => write!(f, "{c:?} is not a phone key (0-9, *, #, A-D)"),
            Self::CallOver => f.write_str("the call has ended"),
        }
    }
}

impl fmt::Display for CallOver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the call has ended")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_percentiles() {
        let mut samples: Vec<u64> = (1..=100).collect();
        let stats = PacingStats::from_samples(&mut samples);
        assert_eq!(
            (stats.frames, stats.p50_us, stats.p99_us, stats.max_us),
            (100, 51, 99, 100)
        );
        assert_eq!(PacingStats::from_samples(&mut []), PacingStats::default());
    }

    #[test]
    fn dtmf_is_sent_as_tones_a_detector_hears() {
        let (handle, mut channels) = call_channels("c".into());
        handle.commands().send_dtmf("1#").unwrap();
        let Some(CallCommand::Audio(bytes)) = channels.commands.try_recv().ok() else {
            panic!("audio expected");
        };
        let mut detector = dtmf::DtmfDetector::new();
        let digits: String = detector
            .push(&mulaw::decode_all(&bytes))
            .into_iter()
            .map(|(digit, _)| digit)
            .collect();
        assert_eq!(digits, "1#");
        assert_eq!(
            handle.commands().send_dtmf("x"),
            Err(DtmfError::UnknownDigit('x'))
        );
    }

    #[test]
    fn commands_after_the_call_ended_say_so() {
        let (handle, channels) = call_channels("c".into());
        drop(channels);
        assert_eq!(handle.commands().hang_up(), Err(CallOver));
        assert_eq!(handle.commands().send_dtmf("1"), Err(DtmfError::CallOver));
    }
}
