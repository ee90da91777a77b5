//! One Media Streams WebSocket: trialrun's side of a call's audio.
//!
//! The carrier sends `connected` and `start` (carrying the call's stream token), then audio,
//! marks, key presses and `stop`. trialrun sends its queued audio as 20 ms frames on a real
//! time clock, marks behind the audio they follow, and `clear` on barge-in. Anything that
//! breaks the protocol ends this call with the reason, and only this call.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use super::registry::{user_parameters, TakeError, TOKEN_PARAMETER};
use super::Shared;
use crate::audio::frames::rms_dbfs;
use crate::audio::mulaw;
use crate::audio::recorder::{CallRecorder, Side};
use crate::telephony::call::{
    CallChannels, CallCommand, CallEnd, CallEvent, EndReason, PacingStats,
};
use crate::telephony::media::{parse_inbound, Inbound, MediaText, Outbound, StreamState};
use crate::telephony::playout::Playout;

/// How long the carrier has to send `connected` and `start` after the socket opens.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Audio clock period: one frame of audio is sent every 20 ms.
const FRAME: Duration = Duration::from_millis(20);
/// Far-end audio louder than this counts as something heard (for the silence timeout).
const HEARD_DBFS: f32 = -45.0;

/// Bytes read from a socket at a time. Media Streams messages are a few hundred bytes, and
/// tungstenite zeroes this much before every read, even one that finds nothing to read:
/// its 128 KiB default cost a third of the CPU of a call, 4 KiB still 3% (measured with 100
/// and 500 calls).
pub const READ_BUFFER: usize = 1024;

/// WebSocket close codes (RFC 6455).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_POLICY: u16 = 1008;

pub async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let max = shared.config.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let mut session = Session::new(shared, socket);
            session.run().await;
        })
}

/// A socket error: the far end going away (reset, closed without the closing handshake) is a
/// hang-up; anything else (a message over the size limit, bad UTF-8, a malformed frame)
/// breaks the protocol.
fn socket_error(error: axum::Error) -> Ending {
    use tokio_tungstenite::tungstenite::error::{Error, ProtocolError};
    let detail = format!("media stream error: {error}");
    let gone = match error.into_inner().downcast::<Error>() {
        Ok(inner) => matches!(
            *inner,
            Error::Io(_)
                | Error::ConnectionClosed
                | Error::AlreadyClosed
                | Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        ),
        Err(_) => false,
    };
    let reason = if gone {
        EndReason::FarEndHungUp
    } else {
        EndReason::ProtocolError
    };
    Ending::new(reason, detail)
}

/// How a session ended, before it is reported.
struct Ending {
    reason: EndReason,
    detail: Option<String>,
}

impl Ending {
    fn new(reason: EndReason, detail: impl Into<Option<String>>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

struct Session {
    shared: Arc<Shared>,
    socket: WebSocket,
    state: StreamState,
    stream_sid: String,
    media_text: MediaText,
    call_id: Option<String>,
    playout: Playout,
    /// The last far-end frame, decoded.
    pcm: Vec<i16>,
    recorder: Option<CallRecorder>,
    lateness_us: Vec<u64>,
    started: Instant,
}

impl Session {
    fn new(shared: Arc<Shared>, socket: WebSocket) -> Self {
        let recorder = shared
            .config
            .recordings_dir
            .is_some()
            .then(CallRecorder::new);
        Self {
            shared,
            socket,
            state: StreamState::new(),
            stream_sid: String::new(),
            media_text: MediaText::new(""),
            call_id: None,
            playout: Playout::new(),
            pcm: Vec::new(),
            recorder,
            lateness_us: Vec::new(),
            started: Instant::now(),
        }
    }

    async fn run(&mut self) {
        let channels = match tokio::time::timeout(START_TIMEOUT, self.handshake()).await {
            Ok(Ok(channels)) => channels,
            Ok(Err(ending)) => return self.refuse(ending).await,
            Err(_) => {
                let detail = format!("no \"start\" within {} s", START_TIMEOUT.as_secs());
                return self
                    .refuse(Ending::new(EndReason::ProtocolError, detail))
                    .await;
            }
        };
        let CallChannels {
            mut commands,
            events,
        } = channels;
        let ending = self.stream(&mut commands, &events).await;
        self.finish(ending, &events).await;
    }

    /// Reads `connected` then `start`, and attaches the stream to the call its token names.
    async fn handshake(&mut self) -> Result<CallChannels, Ending> {
        loop {
            let message = match self.next_message().await? {
                Some(message) => message,
                None => continue,
            };
            if let Inbound::Start {
                start, stream_sid, ..
            } = message
            {
                let token = start
                    .custom_parameters
                    .get(TOKEN_PARAMETER)
                    .cloned()
                    .unwrap_or_default();
                let (call_id, channels) = match self.shared.registry.take_stream(&token) {
                    Ok(taken) => taken,
                    Err(TakeError::UnknownToken) => {
                        let detail =
                            "unknown stream token: not a call this server answered".to_string();
                        return Err(Ending::new(EndReason::ProtocolError, detail));
                    }
                    Err(TakeError::AlreadyStreaming) => {
                        let detail = "the call already has a media stream".to_string();
                        return Err(Ending::new(EndReason::ProtocolError, detail));
                    }
                };
                self.started = Instant::now();
                self.stream_sid = stream_sid.clone();
                self.media_text = MediaText::new(&stream_sid);
                self.call_id = Some(call_id);
                let _ = channels.events.send(CallEvent::Started {
                    call_sid: start.call_sid,
                    stream_sid,
                    parameters: user_parameters(start.custom_parameters),
                });
                return Ok(channels);
            }
        }
    }

    /// The next Media Streams message in protocol order; None for frames that carry none
    /// (pings). Errors end the session.
    async fn next_message(&mut self) -> Result<Option<Inbound>, Ending> {
        let frame = match self.socket.recv().await {
            None => {
                return Err(Ending::new(
                    EndReason::FarEndHungUp,
                    "the media stream closed".to_string(),
                ))
            }
            Some(Err(e)) => return Err(socket_error(e)),
            Some(Ok(frame)) => frame,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Close(_) => return Err(Ending::new(EndReason::FarEndHungUp, None)),
            Message::Ping(_) | Message::Pong(_) => return Ok(None),
            Message::Binary(_) => {
                let detail = "binary frame: Media Streams messages are JSON text".to_string();
                return Err(Ending::new(EndReason::ProtocolError, detail));
            }
        };
        let message = parse_inbound(text.as_str(), self.shared.config.max_message_bytes)
            .map_err(|e| Ending::new(EndReason::ProtocolError, e.to_string()))?;
        self.state
            .observe(&message)
            .map_err(|e| Ending::new(EndReason::ProtocolError, e.to_string()))?;
        Ok(Some(message))
    }

    /// The call's life once streaming: until either side ends it.
    async fn stream(
        &mut self,
        commands: &mut tokio::sync::mpsc::UnboundedReceiver<CallCommand>,
        events: &tokio::sync::mpsc::UnboundedSender<CallEvent>,
    ) -> Ending {
        let max_call_duration = self.shared.config.max_call_duration;
        let silence_timeout = self.shared.config.silence_timeout;
        let hard_stop = self.started + max_call_duration;
        let mut last_heard = Instant::now();
        let mut clock = interval_at(self.started + FRAME, FRAME);
        // A late tick still plays its frame: the far end's clock keeps running.
        clock.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                message = self.next_message() => {
                    let message = match message {
                        Ok(Some(message)) => message,
                        Ok(None) => continue,
                        Err(ending) => return ending,
                    };
                    match message {
                        Inbound::Media { media, .. } => {
                            // Decoded into a buffer kept across frames: 50 a second.
                            self.pcm.clear();
                            self.pcm.extend(media.payload.iter().map(|&byte| mulaw::decode(byte)));
                            if rms_dbfs(&self.pcm) > HEARD_DBFS {
                                last_heard = Instant::now();
                            }
                            if let Some(recorder) = &mut self.recorder {
                                recorder.push(Side::Agent, media.timestamp, &self.pcm);
                            }
                            if self.shared.config.audio_events {
                                let _ = events.send(CallEvent::Audio { at_ms: media.timestamp, samples: self.pcm.clone() });
                            }
                        }
                        Inbound::Mark { mark, .. } => {
                            let _ = events.send(CallEvent::Mark { name: mark.name });
                        }
                        Inbound::Dtmf { dtmf, .. } => {
                            let _ = events.send(CallEvent::Dtmf { digit: dtmf.digit });
                        }
                        Inbound::Stop { .. } => return Ending::new(EndReason::FarEndHungUp, None),
                        Inbound::Connected { .. } | Inbound::Start { .. } => {
                            unreachable!("StreamState refuses these after start")
                        }
                    }
                }
                deadline = clock.tick() => {
                    // All but the far end's messages is looked at on the clock, which ticks all
                    // through the call: the limits, the server's stop, the user's commands. As
                    // select branches they were polled at every message (the stop under a lock
                    // all calls share).
                    if deadline >= hard_stop {
                        let detail = format!("calls are limited to {} s", max_call_duration.as_secs());
                        return Ending::new(EndReason::MaxDuration, detail);
                    }
                    if self.shared.stopping.load(Ordering::Relaxed) {
                        return Ending::new(EndReason::HungUp, "the call server stopped".to_string());
                    }
                    if let Err(ending) = self.take_commands(commands, events).await {
                        return ending;
                    }
                    if let Err(ending) = self.play_frame(deadline.into_std()).await {
                        return ending;
                    }
                    if silence_timeout.is_some_and(|limit| last_heard.elapsed() >= limit) {
                        let detail = format!("nothing heard for {} s", silence_timeout.unwrap_or_default().as_secs());
                        return Ending::new(EndReason::SilenceTimeout, detail);
                    }
                }
            }
        }
    }

    /// Takes what the user asked for since the last tick: commands wait for the clock, at
    /// most 20 ms, rather than wake the session.
    async fn take_commands(
        &mut self,
        commands: &mut tokio::sync::mpsc::UnboundedReceiver<CallCommand>,
        events: &tokio::sync::mpsc::UnboundedSender<CallEvent>,
    ) -> Result<(), Ending> {
        use tokio::sync::mpsc::error::TryRecvError;
        loop {
            match commands.try_recv() {
                Ok(CallCommand::Audio(bytes)) => self.playout.push_audio(&bytes),
                Ok(CallCommand::Mark(name)) => self.playout.push_mark(&name),
                Ok(CallCommand::Clear) => {
                    // Marks not yet sent will never come back from the far end.
                    for name in self.playout.clear() {
                        let _ = events.send(CallEvent::Mark { name });
                    }
                    let clear = Outbound::clear(&self.stream_sid).to_text();
                    self.send_text(clear).await?;
                }
                Ok(CallCommand::Hangup) | Err(TryRecvError::Disconnected) => {
                    return Err(Ending::new(EndReason::HungUp, None));
                }
                Err(TryRecvError::Empty) => return Ok(()),
            }
        }
    }

    /// One clock tick: sends the marks reached, then the next frame, if any.
    async fn play_frame(&mut self, deadline: std::time::Instant) -> Result<(), Ending> {
        let tick = self.playout.tick();
        for name in tick.marks {
            let mark = Outbound::mark(&self.stream_sid, &name).to_text();
            self.send_text(mark).await?;
        }
        if let Some(frame) = tick.frame {
            let late_us = std::time::Instant::now()
                .saturating_duration_since(deadline)
                .as_micros() as u64;
            self.lateness_us.push(late_us);
            self.shared.pacing.record(late_us);
            if let Some(recorder) = &mut self.recorder {
                let at_ms = deadline
                    .saturating_duration_since(self.started.into_std())
                    .as_millis() as u64;
                recorder.push_mulaw(Side::Caller, at_ms.saturating_sub(20), &frame);
            }
            let media = self.media_text.outbound(&frame);
            self.send_text(media).await?;
        }
        Ok(())
    }

    async fn send_text(&mut self, text: String) -> Result<(), Ending> {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| Ending::new(EndReason::FarEndHungUp, format!("sending failed: {e}")))
    }

    /// Ends a stream that never attached to a call.
    async fn refuse(&mut self, ending: Ending) {
        let detail = ending.detail.unwrap_or_else(|| ending.reason.to_string());
        self.shared.log(format!("media stream refused: {detail}"));
        self.close(CLOSE_POLICY, &detail).await;
    }

    /// Closes the socket, writes the recording and reports the end of the call.
    async fn finish(
        &mut self,
        ending: Ending,
        events: &tokio::sync::mpsc::UnboundedSender<CallEvent>,
    ) {
        let call_id = self.call_id.clone().unwrap_or_default();
        let code = if ending.reason == EndReason::ProtocolError {
            CLOSE_POLICY
        } else {
            CLOSE_NORMAL
        };
        let close_reason = ending
            .detail
            .clone()
            .unwrap_or_else(|| ending.reason.to_string());
        self.close(code, &close_reason).await;
        let mut detail = ending.detail;
        let recording_path = match (self.recorder.take(), &self.shared.config.recordings_dir) {
            (Some(recorder), Some(dir)) => {
                let path = dir.join(format!("{call_id}.wav"));
                match tokio::task::spawn_blocking({
                    let path = path.clone();
                    move || recorder.finish(&path)
                })
                .await
                {
                    Ok(Ok(())) => Some(path.display().to_string()),
                    Ok(Err(e)) => {
                        let note = format!("recording not written to {}: {e}", path.display());
                        self.shared.log(note.clone());
                        detail = Some(detail.map_or(note.clone(), |d| format!("{d}; {note}")));
                        None
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        if ending.reason == EndReason::ProtocolError {
            self.shared.log(format!(
                "call {call_id}: media stream closed: {close_reason}"
            ));
        }
        let end = CallEnd {
            reason: ending.reason,
            detail,
            duration_ms: self.started.elapsed().as_millis() as u64,
            pacing: PacingStats::from_samples(&mut self.lateness_us),
            recording_path,
            call_sid: None,
        };
        // Forgotten first: a status callback arriving now finds no call, so nothing can
        // follow "ended" on the call's events.
        self.shared.registry.remove(&call_id);
        let _ = events.send(CallEvent::Ended(end));
    }

    async fn close(&mut self, code: u16, reason: &str) {
        // Close reasons are limited to 123 bytes by the protocol.
        let mut reason = reason.to_string();
        while reason.len() > 120 {
            reason.pop();
        }
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }
}
