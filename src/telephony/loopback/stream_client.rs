//! Twilio's side of a Media Stream, as the loopback carrier plays it: connects to the
//! stream URL a TwiML document named, sends `connected` and `start`, then the audio the leg
//! hears (20 ms frames, with key presses detected in it as `dtmf`), and takes the audio,
//! marks and clears the server sends into the leg's mouth.

use std::collections::BTreeMap;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

use super::bridge::Port;
use super::sid;
use crate::audio::{dtmf::DtmfDetector, mulaw};
use crate::telephony::media::{
    parse_outbound, DtmfInfo, Inbound, MarkName, MediaFormat, MediaText, Outbound, StartInfo,
    StopInfo,
};
use crate::telephony::twiml::Stream;

/// Who the stream belongs to.
pub struct StreamCall<'a> {
    pub account_sid: &'a str,
    pub call_sid: &'a str,
    pub max_message_bytes: usize,
    /// TLS for `wss://` URLs.
    pub tls: &'a std::sync::Arc<rustls::ClientConfig>,
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The server closed it: the TwiML continues with the next verb.
    ClosedByServer,
    /// The call ended; `stop` was sent.
    CallEnded,
    /// The leg left the stream (a REST redirect); `stop` was sent.
    Left,
    /// The server could not be reached or broke the protocol.
    Failed(String),
}

/// Runs one stream until the server closes it or the call ends (the port stops giving the
/// leg's audio). `bidirectional` is true for `<Connect><Stream>`: the server's audio is
/// played and marks come back. When `leave` resolves, the stream is stopped and closed
/// (the leg's TwiML moves on, as after a REST redirect).
pub async fn run_stream(
    stream: &Stream,
    call: StreamCall<'_>,
    port: &Port,
    bidirectional: bool,
    leave: impl std::future::Future<Output = ()>,
) -> StreamEnd {
    tokio::pin!(leave);
    let config = WebSocketConfig::default()
        .read_buffer_size(crate::telephony::server::READ_BUFFER)
        .max_message_size(Some(call.max_message_bytes))
        .max_frame_size(Some(call.max_message_bytes));
    // true: no Nagle delay, as on the agent's side; each media frame leaves when written.
    let tls = Connector::Rustls(call.tls.clone()); // for wss:// only
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        stream.url.as_str(),
        Some(config),
        true,
        Some(tls),
    );
    let mut socket = match connecting.await {
        Ok((socket, _)) => socket,
        Err(e) => {
            return StreamEnd::Failed(format!("cannot connect to stream {}: {e}", stream.url))
        }
    };
    let stream_sid = sid("MZ");
    let media_text = MediaText::new(&stream_sid);
    let mut hears = port.listen();
    let (marks_tx, mut marks) = mpsc::unbounded_channel();
    if bidirectional {
        port.send_marks_to(Some(marks_tx));
    }
    let mut sequence = 0u64;
    let mut next_sequence = || {
        sequence += 1;
        sequence
    };
    let connected = Inbound::Connected {
        protocol: "Call".into(),
        version: "1.0.0".into(),
    };
    let start = Inbound::Start {
        sequence_number: next_sequence(),
        stream_sid: stream_sid.clone(),
        start: StartInfo {
            stream_sid: stream_sid.clone(),
            account_sid: call.account_sid.to_string(),
            call_sid: call.call_sid.to_string(),
            tracks: vec!["inbound".into()],
            custom_parameters: stream
                .parameters
                .iter()
                .cloned()
                .collect::<BTreeMap<_, _>>(),
            media_format: MediaFormat {
                encoding: "audio/x-mulaw".into(),
                sample_rate: crate::audio::PHONE_RATE,
                channels: 1,
            },
        },
    };
    for message in [connected, start] {
        if let Err(e) = socket.send(Message::text(message.to_text())).await {
            return StreamEnd::Failed(format!(
                "stream {}: sending {}: {e}",
                stream.url,
                message.event()
            ));
        }
    }
    let stop = |sequence_number| {
        Inbound::Stop {
            sequence_number,
            stream_sid: stream_sid.clone(),
            stop: StopInfo {
                account_sid: call.account_sid.to_string(),
                call_sid: call.call_sid.to_string(),
            },
        }
        .to_text()
    };
    let mut chunk = 0u64;
    let mut detector = DtmfDetector::new();
    let end = loop {
        tokio::select! {
            frame = hears.recv() => {
                let Some(frame) = frame else {
                    // The call ended.
                    let _ = socket.send(Message::text(stop(next_sequence()))).await;
                    break StreamEnd::CallEnded;
                };
                chunk += 1;
                let media = media_text.inbound(next_sequence(), chunk, (chunk - 1) * 20, &frame);
                let mut sent = socket.send(Message::text(media)).await;
                if bidirectional && sent.is_ok() {
                    // Key presses reach bidirectional streams as `dtmf` messages.
                    for (digit, _) in detector.push(&frame.map(mulaw::decode)) {
                        let dtmf = Inbound::Dtmf {
                            sequence_number: next_sequence(),
                            stream_sid: stream_sid.clone(),
                            dtmf: DtmfInfo { track: "inbound_track".into(), digit: digit.to_string() },
                        };
                        sent = socket.send(Message::text(dtmf.to_text())).await;
                        if sent.is_err() {
                            break;
                        }
                    }
                }
                if let Err(e) = sent {
                    break StreamEnd::Failed(format!("stream {}: sending audio: {e}", stream.url));
                }
            }
            () = &mut leave => {
                let _ = socket.send(Message::text(stop(next_sequence()))).await;
                break StreamEnd::Left;
            }
            // A closed channel fails the pattern, which disables the branch: no busy loop.
            Some(name) = marks.recv(), if bidirectional => {
                let mark = Inbound::Mark {
                    sequence_number: next_sequence(),
                    stream_sid: stream_sid.clone(),
                    mark: MarkName { name },
                };
                if let Err(e) = socket.send(Message::text(mark.to_text())).await {
                    break StreamEnd::Failed(format!("stream {}: sending a mark: {e}", stream.url));
                }
            }
            message = socket.next() => {
                let text = match message {
                    None | Some(Ok(Message::Close(_))) => break StreamEnd::ClosedByServer,
                    Some(Err(e)) => break StreamEnd::Failed(format!("stream {}: {e}", stream.url)),
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        break StreamEnd::Failed(format!("stream {}: binary frame; Media Streams messages are JSON text", stream.url));
                    }
                    Some(Ok(_)) => continue, // ping, pong
                };
                match parse_outbound(text.as_str(), call.max_message_bytes) {
                    Err(e) => break StreamEnd::Failed(format!("stream {}: {e}", stream.url)),
                    Ok(Outbound::Media { media, .. }) if bidirectional => port.say(&media.payload),
                    Ok(Outbound::Mark { mark, .. }) if bidirectional => port.mark(&mark.name),
                    Ok(Outbound::Clear { .. }) if bidirectional => port.clear(),
                    // A unidirectional stream cannot speak on the call.
                    Ok(_) => {}
                }
            }
        }
    };
    if bidirectional {
        port.send_marks_to(None);
    }
    // The closing handshake: wait (briefly) for the server's close frame, so it reads our
    // last messages (`stop`) rather than a reset.
    if socket.close(None).await.is_ok() {
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(message)) = socket.next().await {
                if message.is_close() {
                    break;
                }
            }
        })
        .await;
    }
    end
}

/// How long the closing handshake may take before the connection is dropped.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
