//! Twilio Media Streams WebSocket messages, both directions, and a per-stream order checker.
//!
//! Twilio sends `connected`, `start`, `media`, `mark`, `dtmf` and `stop` to the stream server;
//! the server sends `media`, `mark` and `clear` back (bidirectional `<Connect><Stream>`).
//! On the wire `sequenceNumber`, `chunk` and `timestamp` are decimal strings; here they are
//! numbers, written back as strings. Media payloads are base64 on the wire, bytes here.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Bytes of mu-law audio in 20 ms at 8 kHz, the frame size Twilio itself sends.
pub const FRAME_BYTES: usize = 160;

/// A message Twilio sends to a stream server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Inbound {
    /// First message on the socket: the protocol that follows.
    Connected {
        /// Protocol name, `Call` for voice calls.
        protocol: String,
        /// Semantic version of the protocol.
        version: String,
    },
    /// Stream metadata, sent once after `connected`.
    #[serde(rename_all = "camelCase")]
    Start {
        /// Position of this message on the stream.
        #[serde(with = "num_string")]
        sequence_number: u64,
        /// Stream, call and format details.
        start: StartInfo,
        /// The stream this message belongs to.
        stream_sid: String,
    },
    /// A chunk of call audio.
    #[serde(rename_all = "camelCase")]
    Media {
        /// Position of this message on the stream.
        #[serde(with = "num_string")]
        sequence_number: u64,
        /// The audio and where it sits in the call.
        media: MediaChunk,
        /// The stream this message belongs to.
        stream_sid: String,
    },
    /// Audio the server sent before a mark of this name has finished playing.
    #[serde(rename_all = "camelCase")]
    Mark {
        /// Position of this message on the stream.
        #[serde(with = "num_string")]
        sequence_number: u64,
        /// The mark's name as the server sent it.
        mark: MarkName,
        /// The stream this message belongs to.
        stream_sid: String,
    },
    /// A key press on the call.
    #[serde(rename_all = "camelCase")]
    Dtmf {
        /// Position of this message on the stream.
        #[serde(with = "num_string")]
        sequence_number: u64,
        /// The track and digit.
        dtmf: DtmfInfo,
        /// The stream this message belongs to.
        stream_sid: String,
    },
    /// The stream ended (call hung up or stream stopped).
    #[serde(rename_all = "camelCase")]
    Stop {
        /// Position of this message on the stream.
        #[serde(with = "num_string")]
        sequence_number: u64,
        /// Which call stopped.
        stop: StopInfo,
        /// The stream this message belongs to.
        stream_sid: String,
    },
}

/// Body of a `start` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartInfo {
    /// The stream's id (`MZ...`).
    pub stream_sid: String,
    /// The account's id (`AC...`).
    pub account_sid: String,
    /// The call's id (`CA...`).
    pub call_sid: String,
    /// Tracks streamed: `inbound`, `outbound` or both.
    pub tracks: Vec<String>,
    /// `<Parameter>` name/value pairs from the TwiML `<Stream>`.
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    /// Audio encoding of media payloads.
    pub media_format: MediaFormat,
}

/// Audio format of a stream; Twilio uses `audio/x-mulaw`, 8000 Hz, one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// MIME-style encoding name, e.g. `audio/x-mulaw`.
    pub encoding: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u32,
}

/// Body of an inbound `media` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaChunk {
    /// `inbound` (caller) or `outbound` (what the call plays).
    pub track: String,
    /// Chunk number on this track, from 1.
    #[serde(with = "num_string")]
    pub chunk: u64,
    /// Milliseconds since the stream started.
    #[serde(with = "num_string")]
    pub timestamp: u64,
    /// Decoded audio bytes (mu-law for Twilio).
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
}

/// The name carried by a `mark` message, either direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkName {
    /// The label the server chose.
    pub name: String,
}

/// Body of a `dtmf` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DtmfInfo {
    /// Track the digit was detected on, e.g. `inbound_track`.
    pub track: String,
    /// The key: `0`-`9`, `*` or `#`.
    pub digit: String,
}

/// Body of a `stop` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopInfo {
    /// The account's id.
    pub account_sid: String,
    /// The call's id.
    pub call_sid: String,
}

/// A message a stream server sends to Twilio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Outbound {
    /// Audio to play to the caller.
    #[serde(rename_all = "camelCase")]
    Media {
        /// The stream to play on.
        stream_sid: String,
        /// The audio.
        media: OutboundMedia,
    },
    /// Ask to be told (by an inbound `mark`) when audio sent so far has played.
    #[serde(rename_all = "camelCase")]
    Mark {
        /// The stream.
        stream_sid: String,
        /// The label to echo back.
        mark: MarkName,
    },
    /// Drop audio queued for playing (barge-in); pending marks come back.
    #[serde(rename_all = "camelCase")]
    Clear {
        /// The stream.
        stream_sid: String,
    },
}

/// Body of an outbound `media` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMedia {
    /// Audio bytes (mu-law, 8 kHz), base64 on the wire.
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
}

/// Why a Media Streams message was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// The text is longer than the allowed maximum.
    TooLarge {
        /// Bytes received.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// Not JSON, or not a JSON object.
    BadJson(String),
    /// No `event` string in the object.
    MissingEvent,
    /// An `event` this side does not know.
    UnknownEvent(String),
    /// A field the event needs is absent.
    MissingField {
        /// The event.
        event: String,
        /// The absent field.
        field: String,
    },
    /// A media payload is not valid base64.
    BadPayload {
        /// The event.
        event: String,
        /// The decoder's complaint.
        detail: String,
    },
    /// A field has the wrong type or value.
    InvalidField {
        /// The event.
        event: String,
        /// serde's description.
        detail: String,
    },
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => write!(
                f,
                "media stream message is {len} bytes, over the {max}-byte limit"
            ),
            Self::BadJson(e) => write!(f, "media stream message is not a JSON object: {e}"),
            Self::MissingEvent => write!(f, "media stream message has no \"event\" string"),
            Self::UnknownEvent(e) => write!(f, "media stream message has unknown event {e:?}"),
            Self::MissingField { event, field } => {
                write!(f, "{event:?} message is missing field {field:?}")
            }
            Self::BadPayload { event, detail } => {
                write!(f, "{event:?} message payload is not base64: {detail}")
            }
            Self::InvalidField { event, detail } => {
                write!(f, "{event:?} message is invalid: {detail}")
            }
        }
    }
}

impl std::error::Error for MediaError {}

const INBOUND_EVENTS: &[&str] = &["connected", "start", "media", "mark", "dtmf", "stop"];
const OUTBOUND_EVENTS: &[&str] = &["media", "mark", "clear"];

/// Parses one text frame Twilio sent, refusing frames over `max_bytes` before parsing.
pub fn parse_inbound(text: &str, max_bytes: usize) -> Result<Inbound, MediaError> {
    parse_tagged(text, max_bytes, INBOUND_EVENTS, MediaFields::inbound)
}

/// Parses one text frame a stream server sent (what the loopback carrier receives).
pub fn parse_outbound(text: &str, max_bytes: usize) -> Result<Outbound, MediaError> {
    parse_tagged(text, max_bytes, OUTBOUND_EVENTS, MediaFields::outbound)
}

/// The fields of a `media` message in Twilio's own form, borrowed from its text.
///
/// Nearly every message is `media`, and decoding it this way skips what serde does for an
/// internally tagged enum: copying every field into an owned value first (a third of the
/// CPU of reading a frame). Anything else, or anything unusual, takes the general path,
/// which also gives the precise errors.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaFields<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    sequence_number: Option<Cow<'a, str>>,
    #[serde(borrow)]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    media: Option<MediaBodyFields<'a>>,
}

#[derive(Deserialize)]
struct MediaBodyFields<'a> {
    #[serde(borrow)]
    track: Option<Cow<'a, str>>,
    #[serde(borrow)]
    chunk: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Option<Cow<'a, str>>,
}

impl MediaFields<'_> {
    fn media(text: &str) -> Option<MediaFields<'_>> {
        serde_json::from_str::<MediaFields>(text)
            .ok()
            .filter(|fields| fields.event == "media")
    }

    /// The `Inbound::Media` of a well-formed inbound media message; None for anything else.
    fn inbound(text: &str) -> Option<Inbound> {
        let MediaFields {
            sequence_number,
            stream_sid,
            media,
            ..
        } = Self::media(text)?;
        let media = media?;
        Some(Inbound::Media {
            sequence_number: sequence_number?.parse().ok()?,
            media: MediaChunk {
                track: media.track?.into_owned(),
                chunk: media.chunk?.parse().ok()?,
                timestamp: media.timestamp?.parse().ok()?,
                payload: STANDARD.decode(media.payload?.as_bytes()).ok()?,
            },
            stream_sid: stream_sid?.into_owned(),
        })
    }

    /// The `Outbound::Media` of a well-formed outbound media message; None for anything else.
    fn outbound(text: &str) -> Option<Outbound> {
        let MediaFields {
            stream_sid, media, ..
        } = Self::media(text)?;
        Some(Outbound::Media {
            stream_sid: stream_sid?.into_owned(),
            media: OutboundMedia {
                payload: STANDARD.decode(media?.payload?.as_bytes()).ok()?,
            },
        })
    }
}

/// Size check, then `media` by its fast path, then typed decoding; a message that does not
/// decode is examined again (JSON, event, payload, fields) to say precisely what is wrong
/// with it.
fn parse_tagged<T: serde::de::DeserializeOwned>(
    text: &str,
    max_bytes: usize,
    known: &[&str],
    media: fn(&str) -> Option<T>,
) -> Result<T, MediaError> {
    if text.len() > max_bytes {
        return Err(MediaError::TooLarge {
            len: text.len(),
            max: max_bytes,
        });
    }
    if let Some(message) = media(text) {
        return Ok(message);
    }
    // Nearly every other message is well formed too: one pass decodes it.
    if let Ok(message) = serde_json::from_str(text) {
        return Ok(message);
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| MediaError::BadJson(e.to_string()))?;
    if !value.is_object() {
        return Err(MediaError::BadJson("expected an object".into()));
    }
    let event = value
        .get("event")
        .and_then(|e| e.as_str())
        .ok_or(MediaError::MissingEvent)?
        .to_string();
    if !known.contains(&event.as_str()) {
        return Err(MediaError::UnknownEvent(event));
    }
    check_payload(&value, &event)?;
    serde_json::from_value(value).map_err(|e| classify(&event, &e.to_string()))
}

/// Reports a media payload that is present but not base64 as its own error.
fn check_payload(value: &serde_json::Value, event: &str) -> Result<(), MediaError> {
    match value
        .get("media")
        .and_then(|m| m.get("payload"))
        .and_then(|p| p.as_str())
    {
        Some(payload) => STANDARD
            .decode(payload)
            .map(|_| ())
            .map_err(|e| MediaError::BadPayload {
                event: event.to_string(),
                detail: e.to_string(),
            }),
        None => Ok(()),
    }
}

/// Turns serde's message into `MissingField` when it is one, `InvalidField` otherwise.
fn classify(event: &str, message: &str) -> MediaError {
    let field = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field.to_string());
    match field {
        Some(field) => MediaError::MissingField {
            event: event.to_string(),
            field,
        },
        None => MediaError::InvalidField {
            event: event.to_string(),
            detail: message.to_string(),
        },
    }
}

impl Inbound {
    /// The wire name of this message's event.
    pub fn event(&self) -> &'static str {
        match self {
            Self::Connected { .. } => "connected",
            Self::Start { .. } => "start",
            Self::Media { .. } => "media",
            Self::Mark { .. } => "mark",
            Self::Dtmf { .. } => "dtmf",
            Self::Stop { .. } => "stop",
        }
    }

    /// The sequence number, absent on `connected`.
    pub fn sequence_number(&self) -> Option<u64> {
        match self {
            Self::Connected { .. } => None,
            Self::Start {
                sequence_number, ..
            }
            | Self::Media {
                sequence_number, ..
            }
            | Self::Mark {
                sequence_number, ..
            }
            | Self::Dtmf {
                sequence_number, ..
            }
            | Self::Stop {
                sequence_number, ..
            } => Some(*sequence_number),
        }
    }

    /// The stream id, absent on `connected`.
    pub fn stream_sid(&self) -> Option<&str> {
        match self {
            Self::Connected { .. } => None,
            Self::Start { stream_sid, .. }
            | Self::Media { stream_sid, .. }
            | Self::Mark { stream_sid, .. }
            | Self::Dtmf { stream_sid, .. }
            | Self::Stop { stream_sid, .. } => Some(stream_sid),
        }
    }

    /// The JSON text Twilio would send for this message.
    pub fn to_text(&self) -> String {
        to_json(self)
    }
}

impl Outbound {
    /// A `media` message carrying `mulaw` audio.
    #[cfg(test)]
    pub fn media(stream_sid: &str, mulaw: &[u8]) -> Self {
        Self::Media {
            stream_sid: stream_sid.to_string(),
            media: OutboundMedia {
                payload: mulaw.to_vec(),
            },
        }
    }

    /// A `mark` message with this name.
    pub fn mark(stream_sid: &str, name: &str) -> Self {
        Self::Mark {
            stream_sid: stream_sid.to_string(),
            mark: MarkName {
                name: name.to_string(),
            },
        }
    }

    /// A `clear` message.
    pub fn clear(stream_sid: &str) -> Self {
        Self::Clear {
            stream_sid: stream_sid.to_string(),
        }
    }

    /// The JSON text to send to Twilio.
    pub fn to_text(&self) -> String {
        to_json(self)
    }
}

/// The text of one stream's `media` messages, both directions, built without intermediate
/// values (each direction carries 50 a second).
#[derive(Debug, Clone)]
pub struct MediaText {
    /// The stream sid as a JSON string.
    sid: String,
}

impl MediaText {
    pub fn new(stream_sid: &str) -> Self {
        Self {
            sid: serde_json::to_string(stream_sid).unwrap_or_default(),
        }
    }

    /// The same text as `Outbound::media(stream_sid, mulaw).to_text()`.
    pub fn outbound(&self, mulaw: &[u8]) -> String {
        let mut text = String::with_capacity(self.sid.len() + mulaw.len() * 4 / 3 + 64);
        text.push_str("{\"event\":\"media\",\"streamSid\":");
        text.push_str(&self.sid);
        text.push_str(",\"media\":{\"payload\":\"");
        STANDARD.encode_string(mulaw, &mut text);
        text.push_str("\"}}");
        text
    }

    /// The same text as the `Inbound::Media` message Twilio sends (track "inbound").
    pub fn inbound(
        &self,
        sequence_number: u64,
        chunk: u64,
        timestamp: u64,
        mulaw: &[u8],
    ) -> String {
        let mut text = String::with_capacity(self.sid.len() + mulaw.len() * 4 / 3 + 128);
        let mut digits = itoa::Buffer::new();
        text.push_str("{\"event\":\"media\",\"sequenceNumber\":\"");
        text.push_str(digits.format(sequence_number));
        text.push_str("\",\"media\":{\"track\":\"inbound\",\"chunk\":\"");
        text.push_str(digits.format(chunk));
        text.push_str("\",\"timestamp\":\"");
        text.push_str(digits.format(timestamp));
        text.push_str("\",\"payload\":\"");
        STANDARD.encode_string(mulaw, &mut text);
        text.push_str("\"},\"streamSid\":");
        text.push_str(&self.sid);
        text.push('}');
        text
    }
}

/// `media` messages for `mulaw` audio cut into frames of `frame_bytes` (0 means one frame).
#[cfg(test)]
pub fn media_frames(stream_sid: &str, mulaw: &[u8], frame_bytes: usize) -> Vec<Outbound> {
    let size = if frame_bytes == 0 {
        mulaw.len().max(1)
    } else {
        frame_bytes
    };
    mulaw
        .chunks(size)
        .map(|chunk| Outbound::media(stream_sid, chunk))
        .collect()
}

/// Serializes a message; these types have only string keys, so this cannot fail.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Numbers written as decimal strings (Twilio's form); plain JSON numbers are accepted too.
mod num_string {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrNum {
        Str(String),
        Num(u64),
    }

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match StrOrNum::deserialize(d)
            .map_err(|_| D::Error::custom("expected a number as a decimal string"))?
        {
            StrOrNum::Num(n) => Ok(n),
            StrOrNum::Str(s) => s
                .parse()
                .map_err(|_| D::Error::custom(format!("{s:?} is not a decimal number"))),
        }
    }
}

/// Bytes written as standard base64 strings.
mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text)
            .map_err(|e| D::Error::custom(format!("payload is not base64: {e}")))
    }
}

/// Where a stream is in its life: connected, then start, then traffic, then stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing received yet.
    New,
    /// `connected` received; `start` must come next.
    Connected,
    /// `start` received; media, marks and digits may flow.
    Started,
    /// `stop` received; nothing more may come.
    Stopped,
}

/// An event that breaks the order of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// This event is not allowed in the current phase.
    UnexpectedEvent {
        /// The event received.
        event: &'static str,
        /// The phase the stream was in.
        phase: Phase,
    },
    /// A sequence number is not one more than the previous.
    SequenceGap {
        /// The number that should have come.
        expected: u64,
        /// The number that came.
        got: u64,
        /// The event carrying it.
        event: &'static str,
    },
    /// A message names a different stream than `start` did.
    StreamSidMismatch {
        /// The `start` message's stream.
        expected: String,
        /// The stream this message named.
        got: String,
    },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEvent { event, phase } => {
                let wanted = match phase {
                    Phase::New => "\"connected\" first",
                    Phase::Connected => "\"start\" after \"connected\"",
                    Phase::Started => "media, mark, dtmf or stop after \"start\"",
                    Phase::Stopped => "nothing after \"stop\"",
                };
                write!(
                    f,
                    "media stream got {event:?} out of order: expected {wanted}"
                )
            }
            Self::SequenceGap {
                expected,
                got,
                event,
            } => {
                write!(
                    f,
                    "media stream {event:?} has sequenceNumber {got}, expected {expected}"
                )
            }
            Self::StreamSidMismatch { expected, got } => {
                write!(f, "media stream message names streamSid {got:?}, but the stream started as {expected:?}")
            }
        }
    }
}

impl std::error::Error for StreamError {}

/// Checks the order of inbound events on one stream.
#[derive(Debug, Clone)]
pub struct StreamState {
    phase: Phase,
    stream_sid: Option<String>,
    last_sequence: Option<u64>,
}

impl Default for StreamState {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamState {
    /// A stream that has received nothing.
    pub fn new() -> Self {
        Self {
            phase: Phase::New,
            stream_sid: None,
            last_sequence: None,
        }
    }

    /// The current phase.
    #[cfg(test)]
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The stream id from `start`, once received.
    #[cfg(test)]
    pub fn stream_sid(&self) -> Option<&str> {
        self.stream_sid.as_deref()
    }

    /// Accepts `message` if it may come next, updating the state; the state is unchanged on error.
    pub fn observe(&mut self, message: &Inbound) -> Result<(), StreamError> {
        let next = self.next_phase(message)?;
        self.check_stream_sid(message)?;
        self.check_sequence(message)?;
        if let (Phase::Connected, Some(sid)) = (self.phase, message.stream_sid()) {
            self.stream_sid = Some(sid.to_string());
        }
        if let Some(n) = message.sequence_number() {
            self.last_sequence = Some(n);
        }
        self.phase = next;
        Ok(())
    }

    /// The phase after `message`, or the error if it may not come now.
    fn next_phase(&self, message: &Inbound) -> Result<Phase, StreamError> {
        let next = match (self.phase, message) {
            (Phase::New, Inbound::Connected { .. }) => Phase::Connected,
            (Phase::Connected, Inbound::Start { .. }) => Phase::Started,
            (
                Phase::Started,
                Inbound::Media { .. } | Inbound::Mark { .. } | Inbound::Dtmf { .. },
            ) => Phase::Started,
            (Phase::Started, Inbound::Stop { .. }) => Phase::Stopped,
            (phase, _) => {
                return Err(StreamError::UnexpectedEvent {
                    event: message.event(),
                    phase,
                })
            }
        };
        Ok(next)
    }

    /// Every message after `start` must name the same stream.
    fn check_stream_sid(&self, message: &Inbound) -> Result<(), StreamError> {
        match (&self.stream_sid, message.stream_sid()) {
            (Some(expected), Some(got)) if expected != got => Err(StreamError::StreamSidMismatch {
                expected: expected.clone(),
                got: got.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Sequence numbers go up by exactly one from whatever `start` carried.
    fn check_sequence(&self, message: &Inbound) -> Result<(), StreamError> {
        match (self.last_sequence, message.sequence_number()) {
            (Some(last), Some(got)) if Some(got) != last.checked_add(1) => {
                Err(StreamError::SequenceGap {
                    expected: last.saturating_add(1),
                    got,
                    event: message.event(),
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_text_is_the_serialized_message() {
        let fast = MediaText::new("MZ\"odd").outbound(&[0, 1, 254, 255]);
        assert_eq!(
            fast,
            Outbound::media("MZ\"odd", &[0, 1, 254, 255]).to_text()
        );
        assert_eq!(
            parse_outbound(&fast, 1000).unwrap(),
            Outbound::media("MZ\"odd", &[0, 1, 254, 255])
        );
        for (sequence_number, chunk, timestamp) in
            [(7, 3, 40), (0, 1, 0), (u64::MAX, 1_234_567_890, 10)]
        {
            let inbound = Inbound::Media {
                sequence_number,
                stream_sid: "MZ1".into(),
                media: MediaChunk {
                    track: "inbound".into(),
                    chunk,
                    timestamp,
                    payload: vec![9; 160],
                },
            };
            assert_eq!(
                MediaText::new("MZ1").inbound(sequence_number, chunk, timestamp, &[9; 160]),
                inbound.to_text()
            );
        }
    }

    const MAX: usize = 64 * 1024;
    const SID: &str = "MZ18ad3ab5a668481ce02b83e7395059f0";

    const CONNECTED: &str = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;
    const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC123","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","callSid":"CA123","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"case":"billing-1","agent":"v2"}},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#;
    const MEDIA: &str = r#"{"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/38AAQ=="},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#;
    const MARK: &str = r#"{"event":"mark","sequenceNumber":"3","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","mark":{"name":"greeting-done"}}"#;
    const DTMF: &str = r#"{"event":"dtmf","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","sequenceNumber":"4","dtmf":{"track":"inbound_track","digit":"7"}}"#;
    const STOP: &str = r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC123","callSid":"CA123"},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#;

    fn parse(text: &str) -> Inbound {
        parse_inbound(text, MAX).unwrap()
    }

    fn assert_same_json(a: &str, b: &str) {
        let a: serde_json::Value = serde_json::from_str(a).unwrap();
        let b: serde_json::Value = serde_json::from_str(b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn inbound_messages_round_trip() {
        for text in [CONNECTED, START, MEDIA, MARK, DTMF, STOP] {
            let message = parse(text);
            assert_same_json(&message.to_text(), text);
            assert_eq!(parse(&message.to_text()), message);
        }
    }

    #[test]
    fn inbound_fields_are_typed() {
        match parse(START) {
            Inbound::Start {
                sequence_number,
                start,
                stream_sid,
            } => {
                assert_eq!(sequence_number, 1);
                assert_eq!(stream_sid, SID);
                assert_eq!(start.call_sid, "CA123");
                assert_eq!(start.tracks, ["inbound", "outbound"]);
                assert_eq!(start.custom_parameters["case"], "billing-1");
                assert_eq!(
                    start.media_format,
                    MediaFormat {
                        encoding: "audio/x-mulaw".into(),
                        sample_rate: 8000,
                        channels: 1
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        match parse(MEDIA) {
            Inbound::Media { media, .. } => {
                assert_eq!((media.chunk, media.timestamp), (1, 5));
                assert_eq!(media.payload, [0xff, 0x7f, 0x00, 0x01]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(DTMF).sequence_number(), Some(4));
        assert_eq!(parse(CONNECTED).stream_sid(), None);
    }

    #[test]
    fn media_messages_read_the_same_by_the_fast_path_as_by_serde() {
        let inbound = [
            MEDIA,
            // Fields in another order, an escaped slash, an extra field.
            r#"{"streamSid":"MZ1","media":{"payload":"\/38AAQ==","timestamp":"5","chunk":"1","track":"inbound"},"sequenceNumber":"2","event":"media","extra":true}"#,
            // Escapes in strings, an empty payload.
            r#"{"event":"media","sequenceNumber":"2","media":{"track":"in\u0062ound","chunk":"1","timestamp":"5","payload":""},"streamSid":"MZ\"1"}"#,
        ];
        for text in inbound {
            let fast = MediaFields::inbound(text).expect("taken by the fast path");
            assert_eq!(
                fast,
                serde_json::from_str::<Inbound>(text).unwrap(),
                "{text}"
            );
            assert_eq!(parse(text), fast);
        }
        // Numbers as JSON numbers: the general path reads them.
        let numbers = r#"{"event":"media","sequenceNumber":2,"media":{"track":"inbound","chunk":1,"timestamp":5,"payload":"/38AAQ=="},"streamSid":"MZ1"}"#;
        assert_eq!(MediaFields::inbound(numbers), None);
        assert_eq!(
            parse(numbers),
            serde_json::from_str::<Inbound>(numbers).unwrap()
        );
        let outbound = [
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/38AAQ=="}}"#,
            r#"{"media":{"payload":"\/38AAQ=="},"streamSid":"MZ1","event":"media"}"#,
        ];
        for text in outbound {
            assert_eq!(
                MediaFields::outbound(text),
                Some(serde_json::from_str::<Outbound>(text).unwrap()),
                "{text}"
            );
            assert_eq!(
                parse_outbound(text, MAX).unwrap(),
                serde_json::from_str::<Outbound>(text).unwrap()
            );
        }
        // What the fast path does not take goes the general way, with its precise errors.
        for text in [
            MARK,
            DTMF,
            START,
            r#"{"event":"media","sequenceNumber":"x"}"#,
        ] {
            assert_eq!(MediaFields::inbound(text), None, "{text}");
        }
        let bad = r#"{"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"!!"},"streamSid":"MZ1"}"#;
        assert!(matches!(
            parse_inbound(bad, MAX),
            Err(MediaError::BadPayload { .. })
        ));
    }

    #[test]
    fn start_without_custom_parameters_is_accepted() {
        let text = START.replace(
            r#","customParameters":{"case":"billing-1","agent":"v2"}"#,
            "",
        );
        match parse(&text) {
            Inbound::Start { start, .. } => assert!(start.custom_parameters.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn outbound_messages_serialize_as_twilio_expects() {
        assert_same_json(
            &Outbound::media(SID, &[0xff, 0x7f, 0x00, 0x01]).to_text(),
            r#"{"event":"media","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","media":{"payload":"/38AAQ=="}}"#,
        );
        assert_same_json(
            &Outbound::mark(SID, "reply-1").to_text(),
            r#"{"event":"mark","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","mark":{"name":"reply-1"}}"#,
        );
        assert_same_json(
            &Outbound::clear(SID).to_text(),
            r#"{"event":"clear","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#,
        );
        for message in [
            Outbound::media(SID, b"abc"),
            Outbound::mark(SID, "m"),
            Outbound::clear(SID),
        ] {
            assert_eq!(parse_outbound(&message.to_text(), MAX).unwrap(), message);
        }
    }

    #[test]
    fn media_frames_split_audio() {
        let audio: Vec<u8> = (0..=255).cycle().take(400).collect();
        let frames = media_frames(SID, &audio, FRAME_BYTES);
        let sizes: Vec<usize> = frames
            .iter()
            .map(|f| match f {
                Outbound::Media { media, .. } => media.payload.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, [160, 160, 80]);
        assert!(media_frames(SID, &[], FRAME_BYTES).is_empty());
        assert_eq!(media_frames(SID, &audio, 0).len(), 1);
    }

    #[test]
    fn oversize_message_is_rejected_before_parsing() {
        let err = parse_inbound("{ not even json", 4).unwrap_err();
        assert_eq!(err, MediaError::TooLarge { len: 15, max: 4 });
        assert!(err.to_string().contains("over the 4-byte limit"));
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        assert!(matches!(
            parse_inbound("{\"event\":", MAX),
            Err(MediaError::BadJson(_))
        ));
        assert!(matches!(
            parse_inbound("[1,2]", MAX),
            Err(MediaError::BadJson(_))
        ));
        assert_eq!(
            parse_inbound(r#"{"protocol":"Call"}"#, MAX),
            Err(MediaError::MissingEvent)
        );
        assert_eq!(
            parse_inbound(r#"{"event":"clear","streamSid":"x"}"#, MAX),
            Err(MediaError::UnknownEvent("clear".into()))
        );
        assert_eq!(
            parse_outbound(CONNECTED, MAX),
            Err(MediaError::UnknownEvent("connected".into()))
        );
        let no_sid = MEDIA.replace(r#","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0""#, "");
        assert_eq!(
            parse_inbound(&no_sid, MAX),
            Err(MediaError::MissingField {
                event: "media".into(),
                field: "streamSid".into()
            })
        );
        let no_track = MEDIA.replace(r#""track":"inbound","#, "");
        assert_eq!(
            parse_inbound(&no_track, MAX),
            Err(MediaError::MissingField {
                event: "media".into(),
                field: "track".into()
            })
        );
        let bad_payload = MEDIA.replace("/38AAQ==", "not base64!");
        let err = parse_inbound(&bad_payload, MAX).unwrap_err();
        assert!(matches!(err, MediaError::BadPayload { .. }), "{err:?}");
        assert!(err.to_string().contains("not base64"));
        let bad_seq = MEDIA.replace(r#""sequenceNumber":"2""#, r#""sequenceNumber":"two""#);
        let err = parse_inbound(&bad_seq, MAX).unwrap_err();
        assert!(matches!(err, MediaError::InvalidField { .. }), "{err:?}");
        assert!(
            err.to_string().contains("\"two\" is not a decimal number"),
            "{err}"
        );
    }

    #[test]
    fn a_whole_stream_in_order_is_accepted() {
        let mut state = StreamState::new();
        for text in [CONNECTED, START, MEDIA, MARK, DTMF, STOP] {
            state.observe(&parse(text)).unwrap();
        }
        assert_eq!(state.phase(), Phase::Stopped);
        assert_eq!(state.stream_sid(), Some(SID));
    }

    #[test]
    fn events_out_of_order_are_rejected() {
        let mut state = StreamState::new();
        let err = state.observe(&parse(START)).unwrap_err();
        assert_eq!(
            err,
            StreamError::UnexpectedEvent {
                event: "start",
                phase: Phase::New
            }
        );
        assert!(err.to_string().contains("expected \"connected\" first"));
        state.observe(&parse(CONNECTED)).unwrap();
        assert!(state.observe(&parse(MEDIA)).is_err());
        assert!(state.observe(&parse(CONNECTED)).is_err());
        state.observe(&parse(START)).unwrap();
        assert!(state.observe(&parse(START)).is_err());
        state.observe(&parse(MEDIA)).unwrap();
        let stop = STOP.replace(r#""5""#, r#""3""#);
        state.observe(&parse(&stop)).unwrap();
        let late = MARK.replace(r#""3""#, r#""4""#);
        let err = state.observe(&parse(&late)).unwrap_err();
        assert!(err.to_string().contains("nothing after \"stop\""), "{err}");
    }

    #[test]
    fn sequence_gaps_and_repeats_are_rejected() {
        let mut state = StreamState::new();
        state.observe(&parse(CONNECTED)).unwrap();
        state.observe(&parse(START)).unwrap();
        let err = state.observe(&parse(MARK)).unwrap_err();
        assert_eq!(
            err,
            StreamError::SequenceGap {
                expected: 2,
                got: 3,
                event: "mark"
            }
        );
        assert_eq!(
            err.to_string(),
            "media stream \"mark\" has sequenceNumber 3, expected 2"
        );
        state.observe(&parse(MEDIA)).unwrap();
        assert!(matches!(
            state.observe(&parse(MEDIA)),
            Err(StreamError::SequenceGap {
                expected: 3,
                got: 2,
                ..
            })
        ));
    }

    #[test]
    fn a_different_stream_sid_is_rejected() {
        let mut state = StreamState::new();
        state.observe(&parse(CONNECTED)).unwrap();
        state.observe(&parse(START)).unwrap();
        let other = MEDIA.replace(SID, "MZother");
        let err = state.observe(&parse(&other)).unwrap_err();
        assert_eq!(
            err,
            StreamError::StreamSidMismatch {
                expected: SID.into(),
                got: "MZother".into()
            }
        );
        state.observe(&parse(MEDIA)).unwrap();
    }
}
