//! Property tests of the parsers that read what carriers and agents send: Media Streams
//! messages, TwiML documents and webhook forms with their signatures. Whatever the input,
//! each gives a value or an error, never a panic; what trialrun writes reads back the same.
//! Case counts are fixed so the whole file runs in a few seconds.

use super::media::{
    parse_inbound, parse_outbound, DtmfInfo, Inbound, MarkName, MediaChunk, MediaError,
    MediaFormat, MediaText, Outbound, OutboundMedia, StartInfo, StopInfo, StreamState,
};
use super::{signature, twiml};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

const MAX_BYTES: usize = 64 * 1024;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any short text, control characters and astral planes included.
fn text() -> impl Strategy<Value = String> {
    ".{0,24}"
}

fn inbound() -> impl Strategy<Value = Inbound> {
    let start = (
        (text(), text(), text(), vec(text(), 0..3)),
        btree_map(text(), text(), 0..4),
        (text(), any::<u32>(), any::<u32>()),
    )
        .prop_map(
            |((stream_sid, account_sid, call_sid, tracks), custom_parameters, format)| StartInfo {
                stream_sid,
                account_sid,
                call_sid,
                tracks,
                custom_parameters,
                media_format: MediaFormat {
                    encoding: format.0,
                    sample_rate: format.1,
                    channels: format.2,
                },
            },
        );
    let chunk = (text(), any::<u64>(), any::<u64>(), vec(any::<u8>(), 0..320)).prop_map(
        |(track, chunk, timestamp, payload)| MediaChunk {
            track,
            chunk,
            timestamp,
            payload,
        },
    );
    prop_oneof![
        (text(), text()).prop_map(|(protocol, version)| Inbound::Connected { protocol, version }),
        (any::<u64>(), start, text()).prop_map(|(sequence_number, start, stream_sid)| {
            Inbound::Start {
                sequence_number,
                start,
                stream_sid,
            }
        }),
        (any::<u64>(), chunk, text()).prop_map(|(sequence_number, media, stream_sid)| {
            Inbound::Media {
                sequence_number,
                media,
                stream_sid,
            }
        }),
        (any::<u64>(), text(), text()).prop_map(|(sequence_number, name, stream_sid)| {
            Inbound::Mark {
                sequence_number,
                mark: MarkName { name },
                stream_sid,
            }
        }),
        (any::<u64>(), text(), text(), text()).prop_map(
            |(sequence_number, track, digit, stream_sid)| Inbound::Dtmf {
                sequence_number,
                dtmf: DtmfInfo { track, digit },
                stream_sid,
            }
        ),
        (any::<u64>(), text(), text(), text()).prop_map(
            |(sequence_number, account_sid, call_sid, stream_sid)| Inbound::Stop {
                sequence_number,
                stop: StopInfo {
                    account_sid,
                    call_sid,
                },
                stream_sid,
            }
        ),
    ]
}

fn outbound() -> impl Strategy<Value = Outbound> {
    prop_oneof![
        (text(), vec(any::<u8>(), 0..320)).prop_map(|(stream_sid, payload)| Outbound::Media {
            stream_sid,
            media: OutboundMedia { payload },
        }),
        (text(), text()).prop_map(|(sid, name)| Outbound::mark(&sid, &name)),
        text().prop_map(|sid| Outbound::clear(&sid)),
    ]
}

/// A message's text damaged as a buggy or hostile peer might: cut short, a character
/// replaced, or something spliced in.
fn damaged(text: &str, at: prop::sample::Index, how: u8, splice: &str) -> String {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let i = bounds[at.index(bounds.len())];
    match how % 3 {
        0 => text[..i].to_string(),
        1 => {
            let next = text[i..].chars().next().map_or(0, char::len_utf8);
            format!("{}{splice}{}", &text[..i], &text[i + next..])
        }
        _ => format!("{}{splice}{}", &text[..i], &text[i..]),
    }
}

proptest! {
    #![proptest_config(cases(400))]

    #[test]
    fn inbound_messages_read_back_as_twilio_wrote_them(message in inbound()) {
        prop_assert_eq!(parse_inbound(&message.to_text(), usize::MAX), Ok(message));
    }

    #[test]
    fn outbound_messages_read_back_as_trialrun_wrote_them(message in outbound()) {
        prop_assert_eq!(parse_outbound(&message.to_text(), usize::MAX), Ok(message));
    }

    /// The hand-built text of the 50-a-second media messages, read by the fast path, is the
    /// typed message the general path reads.
    #[test]
    fn media_text_is_the_message_both_paths_read(
        sid in text(),
        (sequence_number, chunk, timestamp) in (any::<u64>(), any::<u64>(), any::<u64>()),
        payload in vec(any::<u8>(), 0..320),
    ) {
        let writer = MediaText::new(&sid);
        let inbound_text = writer.inbound(sequence_number, chunk, timestamp, &payload);
        let expected = Inbound::Media {
            sequence_number,
            media: MediaChunk { track: "inbound".into(), chunk, timestamp, payload: payload.clone() },
            stream_sid: sid.clone(),
        };
        let general: Inbound = serde_json::from_str(&inbound_text).unwrap();
        prop_assert_eq!(&general, &expected);
        prop_assert_eq!(parse_inbound(&inbound_text, usize::MAX), Ok(expected));
        let outbound_text = writer.outbound(&payload);
        let expected = Outbound::Media { stream_sid: sid, media: OutboundMedia { payload } };
        let general: Outbound = serde_json::from_str(&outbound_text).unwrap();
        prop_assert_eq!(&general, &expected);
        prop_assert_eq!(parse_outbound(&outbound_text, usize::MAX), Ok(expected));
    }

    #[test]
    fn any_text_is_a_message_or_an_error(text in "(?s).{0,200}") {
        let _ = parse_inbound(&text, MAX_BYTES);
        let _ = parse_outbound(&text, MAX_BYTES);
    }

    /// Damaged messages are refused or read, never a panic; the stream's order check takes
    /// whatever was read, and a refused message leaves its state as it was.
    #[test]
    fn damaged_messages_never_break_the_reader_or_the_order_check(
        messages in vec(inbound(), 1..12),
        damage in vec((any::<prop::sample::Index>(), any::<u8>(), "[{}\":,0-9a-z\\\\]{0,3}"), 12),
    ) {
        let mut state = StreamState::new();
        for (message, (at, how, splice)) in messages.iter().zip(&damage) {
            let text = damaged(&message.to_text(), *at, *how, splice);
            if let Ok(read) = parse_inbound(&text, MAX_BYTES) {
                let before = format!("{state:?}");
                if state.observe(&read).is_err() {
                    prop_assert_eq!(before, format!("{state:?}"));
                }
            }
        }
    }

    #[test]
    fn text_over_the_limit_is_refused_before_it_is_read(
        message in inbound(),
        slack in 0usize..8,
    ) {
        let text = message.to_text();
        let max = text.len().saturating_sub(slack + 1);
        let refused = matches!(
            parse_inbound(&text, max),
            Err(MediaError::TooLarge { len, max: m }) if len == text.len() && m == max
        );
        prop_assert!(refused);
    }
}

/// XML-ish text: TwiML's verbs and attributes with values of every shape, and noise.
fn twiml_text() -> impl Strategy<Value = String> {
    let tag = prop_oneof![
        Just("Response"),
        Just("Say"),
        Just("Play"),
        Just("Pause"),
        Just("Gather"),
        Just("Connect"),
        Just("Start"),
        Just("Stream"),
        Just("Parameter"),
        Just("Redirect"),
        Just("Hangup"),
        Just("Reject"),
        Just("Dial"),
    ];
    let attribute = prop_oneof![
        Just("length"),
        Just("loop"),
        Just("timeout"),
        Just("numDigits"),
        Just("input"),
        Just("url"),
        Just("name"),
        Just("value"),
        Just("finishOnKey"),
    ];
    let value = prop_oneof![
        Just("4294967295".to_string()),
        Just("4294967296".to_string()),
        Just("-1".to_string()),
        Just(" 7 ".to_string()),
        Just("dtmf speech".to_string()),
        Just("wss://127.0.0.1:1/s".to_string()),
        "[^\"<&]{0,12}",
    ];
    let element =
        (tag, vec((attribute, value), 0..3), "[^<&]{0,8}").prop_map(|(tag, attributes, body)| {
            let attributes: String = attributes
                .iter()
                .map(|(name, value)| format!(" {name}=\"{value}\""))
                .collect();
            format!("<{tag}{attributes}>{body}</{tag}>")
        });
    let leaf = prop_oneof![element.clone(), "(?s).{0,12}"];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        (element.clone(), vec(inner, 0..4)).prop_map(|(outer, children)| {
            let close = outer.rfind("</").unwrap();
            format!(
                "{}{}{}",
                &outer[..close],
                children.concat(),
                &outer[close..]
            )
        })
    })
    .prop_map(|body| format!("<Response>{body}</Response>"))
}

/// Characters XML 1.0 can carry.
fn xml_text() -> impl Strategy<Value = String> {
    "[\t\n\r -\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]{0,24}"
}

proptest! {
    #![proptest_config(cases(400))]

    /// Whatever an agent's webhook answers, the carrier gets its verbs or an error whose
    /// line is in the document.
    #[test]
    fn any_twiml_is_verbs_or_an_error_naming_a_line_in_it(
        text in prop_oneof![twiml_text(), "(?s).{0,200}"],
    ) {
        if let Err(e) = twiml::parse(&text) {
            let lines = text.split('\n').count() as u32;
            prop_assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}: {e}", e.line);
        }
    }

    /// The answer the call server gives reads back as the stream and parameters it holds.
    #[test]
    fn connect_stream_reads_back_as_written(
        url in xml_text().prop_filter("a URL", |u| !u.trim().is_empty()),
        parameters in vec((xml_text(), xml_text()), 0..4),
    ) {
        let verbs = twiml::parse(&twiml::connect_stream(&url, &parameters)).unwrap();
        let expected = twiml::Stream {
            url: url.trim().to_string(),
            name: None,
            track: None,
            parameters,
        };
        let connect = twiml::Verb::Connect { stream: expected, action: None, method: "POST".into() };
        prop_assert_eq!(verbs, vec![connect]);
    }

    /// Characters XML cannot carry do not make the answer unreadable.
    #[test]
    fn connect_stream_with_any_characters_still_parses(
        url in "[a-z]{1,4}(?s).{0,16}",
        parameters in vec(("(?s).{0,8}", "(?s).{0,8}"), 0..3),
    ) {
        prop_assert!(twiml::parse(&twiml::connect_stream(&url, &parameters)).is_ok());
    }
}

/// A body as a carrier form-encodes a webhook's parameters (application/x-www-form-urlencoded).
fn form_body(params: &[(String, String)]) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    params
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The webhooks' own extractor: what a handler gets from this body.
fn read_form(body: Vec<u8>) -> Option<Vec<(String, String)>> {
    use axum::extract::{Form, FromRequest};
    let request = axum::http::Request::post("/twilio/status")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(body))
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(Form::<Vec<(String, String)>>::from_request(request, &()))
        .ok()
        .map(|Form(params)| params)
}

proptest! {
    #![proptest_config(cases(300))]

    /// A webhook signed by the carrier verifies after its trip through the wire, and no
    /// longer does once any value changed.
    #[test]
    fn signed_forms_verify_after_the_wire_and_fail_once_changed(
        params in vec((text(), text()), 0..6),
        token in ".{1,32}",
        url in "https?://127\\.0\\.0\\.1:[0-9]{1,5}/[a-z/?=&]{0,20}",
        changed in any::<prop::sample::Index>(),
    ) {
        let header = signature::expected_signature(&token, &url, &params);
        let read = read_form(form_body(&params).into_bytes()).unwrap();
        prop_assert_eq!(&read, &params);
        prop_assert!(signature::validate(&token, &url, &read, &header));
        if !read.is_empty() {
            let mut tampered = read.clone();
            let i = changed.index(tampered.len());
            tampered[i].1.push('x');
            prop_assert!(!signature::validate(&token, &url, &tampered, &header));
        }
    }

    #[test]
    fn any_body_is_a_form_or_refused_and_any_header_is_checked_without_panic(
        body in vec(any::<u8>(), 0..200),
        header in "(?s).{0,40}",
    ) {
        if let Some(params) = read_form(body) {
            let url = "http://127.0.0.1/x";
            let right = signature::expected_signature("token", url, &params);
            let valid = signature::validate("token", url, &params, &header);
            prop_assert_eq!(valid, header.trim() == right);
        }
    }
}
