//! TwiML voice documents: parsing the verbs the loopback carrier runs, and building answers.
//!
//! Supported: `<Connect><Stream>` (and its `action`), `<Start><Stream>` (with `<Parameter>`s), `<Play>`, `<Say>`,
//! `<Pause>`, `<Gather>` (nesting `<Say>`, `<Play>`, `<Pause>`), `<Redirect>`, `<Hangup>`,
//! `<Reject>`, `<Dial>` (one number, `<Number>`, `<Sip>` or `<Client>`; see `dial`).
//! Anything else is an error naming the element and its line.

use crate::xml::xml_attr;
use std::fmt;

use roxmltree::{Document, Node};

pub mod dial;

pub use dial::{Dial, DialKind, DialTarget};

/// A media stream requested by `<Connect>` or `<Start>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// WebSocket URL (`wss://...`).
    pub url: String,
    /// Optional stream name.
    pub name: Option<String>,
    /// `inbound_track`, `outbound_track` or `both_tracks` when given.
    pub track: Option<String>,
    /// `<Parameter name value>` pairs, in document order.
    pub parameters: Vec<(String, String)>,
}

/// What `<Gather>` listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatherInput {
    /// Key presses only (the default).
    Dtmf,
    /// Speech only.
    Speech,
    /// Either.
    DtmfSpeech,
}

/// A `<Gather>` verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    /// Input kinds accepted.
    pub input: GatherInput,
    /// Stop after this many digits, when given.
    pub num_digits: Option<u32>,
    /// Seconds of silence before giving up (default 5).
    pub timeout: u32,
    /// Key that ends input (default `#`; empty means none).
    pub finish_on_key: String,
    /// Where to send the result; the current document's URL when absent.
    pub action: Option<String>,
    /// HTTP method for `action`, when given.
    pub method: Option<String>,
    /// Nested `<Say>`, `<Play>` and `<Pause>` played while listening.
    pub nested: Vec<Verb>,
}

/// One TwiML verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Bidirectional stream; the call stays on it until the agent closes it, then asks
    /// `action` (with `method`) for what comes next, or goes on to the next verb.
    Connect {
        /// The stream.
        stream: Stream,
        /// Where to ask for the TwiML that follows the stream.
        action: Option<String>,
        /// GET or POST for `action`.
        method: String,
    },
    /// Unidirectional stream forked alongside later verbs.
    Start(Stream),
    /// Play audio from `url`, `loop_count` times (0 = until the call ends).
    Play {
        /// Audio URL.
        url: String,
        /// Repetitions (default 1).
        loop_count: u32,
    },
    /// Speak `text`.
    Say {
        /// Words to speak.
        text: String,
        /// Voice name, when given.
        voice: Option<String>,
        /// Language tag, when given.
        language: Option<String>,
    },
    /// Silence for `length` seconds (default 1).
    Pause {
        /// Seconds.
        length: u32,
    },
    /// Collect digits or speech.
    Gather(Gather),
    /// Fetch TwiML from `url` and continue there.
    Redirect {
        /// Next document's URL.
        url: String,
        /// HTTP method (default `POST`).
        method: String,
    },
    /// Connect the caller to another party.
    Dial(Dial),
    /// End the call.
    Hangup,
    /// Refuse the call.
    Reject,
}

/// A TwiML document the loopback carrier cannot run, with the line of the fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwimlError {
    /// 1-based line number in the document.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TwimlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TwiML line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TwimlError {}

/// Parses a TwiML voice document into its verbs, in order.
pub fn parse(text: &str) -> Result<Vec<Verb>, TwimlError> {
    let doc = Document::parse(text).map_err(|e| TwimlError {
        line: e.pos().row,
        message: format!("not well-formed XML: {e}"),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "Response" {
        return Err(error(
            &root,
            format!(
                "the root element must be <Response>, not <{}>",
                root.tag_name().name()
            ),
        ));
    }
    elements(&root).map(|node| verb(&node)).collect()
}

/// The element children of `node`, skipping text, comments and processing instructions.
fn elements<'a, 'input>(node: &Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(|n| n.is_element())
}

/// An error at `node`'s line.
fn error(node: &Node, message: String) -> TwimlError {
    let line = node.document().text_pos_at(node.range().start).row;
    TwimlError { line, message }
}

/// One top-level verb.
fn verb(node: &Node) -> Result<Verb, TwimlError> {
    match node.tag_name().name() {
        "Connect" => Ok(Verb::Connect {
            stream: stream_child(node)?,
            action: optional(node, "action").filter(|a| !a.trim().is_empty()),
            method: node.attribute("method").unwrap_or("POST").to_string(),
        }),
        "Start" => Ok(Verb::Start(stream_child(node)?)),
        "Gather" => gather(node),
        "Redirect" => Ok(Verb::Redirect {
            url: required_text(node)?,
            method: node.attribute("method").unwrap_or("POST").to_string(),
        }),
        "Hangup" => Ok(Verb::Hangup),
        "Reject" => Ok(Verb::Reject),
        "Dial" => dial::parse(node).map(Verb::Dial),
        _ => media_verb(node),
    }
}

/// `<Say>`, `<Play>` or `<Pause>`: the verbs allowed both at top level and in `<Gather>`.
fn media_verb(node: &Node) -> Result<Verb, TwimlError> {
    match node.tag_name().name() {
        "Say" => Ok(Verb::Say {
            text: node.text().unwrap_or_default().trim().to_string(),
            voice: optional(node, "voice"),
            language: optional(node, "language"),
        }),
        "Play" => Ok(Verb::Play {
            url: required_text(node)?,
            loop_count: number(node, "loop", 1)?,
        }),
        "Pause" => Ok(Verb::Pause {
            length: number(node, "length", 1)?,
        }),
        other => Err(error(
            node,
            format!("<{other}> is not supported by the loopback carrier"),
        )),
    }
}

/// `<Gather>` with its attributes and nested verbs.
fn gather(node: &Node) -> Result<Verb, TwimlError> {
    let input = match node.attribute("input").map(str::trim).unwrap_or("dtmf") {
        "dtmf" => GatherInput::Dtmf,
        "speech" => GatherInput::Speech,
        "dtmf speech" | "speech dtmf" => GatherInput::DtmfSpeech,
        other => {
            return Err(error(
                node,
                format!("<Gather> input must be dtmf, speech or \"dtmf speech\", not {other:?}"),
            ))
        }
    };
    let num_digits = match node.attribute("numDigits") {
        Some(_) => Some(number(node, "numDigits", 0)?),
        None => None,
    };
    let nested = elements(node)
        .map(|child| nested_in_gather(&child))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Verb::Gather(Gather {
        input,
        num_digits,
        timeout: number(node, "timeout", 5)?,
        finish_on_key: node.attribute("finishOnKey").unwrap_or("#").to_string(),
        action: optional(node, "action"),
        method: optional(node, "method"),
        nested,
    }))
}

/// A child of `<Gather>`: only `<Say>`, `<Play>` and `<Pause>` may nest there.
fn nested_in_gather(node: &Node) -> Result<Verb, TwimlError> {
    match node.tag_name().name() {
        "Say" | "Play" | "Pause" => media_verb(node),
        other => Err(error(
            node,
            format!("<{other}> cannot be nested in <Gather> (only <Say>, <Play>, <Pause>)"),
        )),
    }
}

/// The single `<Stream>` inside `<Connect>` or `<Start>`.
fn stream_child(node: &Node) -> Result<Stream, TwimlError> {
    let parent = node.tag_name().name();
    let mut children = elements(node);
    let Some(child) = children.next() else {
        return Err(error(node, format!("<{parent}> needs a <Stream> inside")));
    };
    if child.tag_name().name() != "Stream" {
        return Err(error(
            &child,
            format!(
                "<{parent}><{}> is not supported by the loopback carrier",
                child.tag_name().name()
            ),
        ));
    }
    if let Some(extra) = children.next() {
        return Err(error(
            &extra,
            format!(
                "<{parent}> holds one <Stream>; <{}> is extra",
                extra.tag_name().name()
            ),
        ));
    }
    stream(&child)
}

/// `<Stream url ...>` and its `<Parameter>` children.
fn stream(node: &Node) -> Result<Stream, TwimlError> {
    let url = match node.attribute("url").map(str::trim) {
        Some(url) if !url.is_empty() => url.to_string(),
        _ => return Err(error(node, "<Stream> needs a url attribute".into())),
    };
    let parameters = elements(node)
        .map(|child| parameter(&child))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Stream {
        url,
        name: optional(node, "name"),
        track: optional(node, "track"),
        parameters,
    })
}

/// `<Parameter name="..." value="..."/>`.
fn parameter(node: &Node) -> Result<(String, String), TwimlError> {
    let tag = node.tag_name().name();
    if tag != "Parameter" {
        return Err(error(
            node,
            format!("<{tag}> cannot be nested in <Stream> (only <Parameter>)"),
        ));
    }
    match (node.attribute("name"), node.attribute("value")) {
        (Some(name), Some(value)) => Ok((name.to_string(), value.to_string())),
        _ => Err(error(
            node,
            "<Parameter> needs name and value attributes".into(),
        )),
    }
}

/// An attribute's value when present.
fn optional(node: &Node, name: &str) -> Option<String> {
    node.attribute(name).map(str::to_string)
}

/// A whole-number attribute, `default` when absent.
fn number(node: &Node, name: &str, default: u32) -> Result<u32, TwimlError> {
    match node.attribute(name) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|_| {
            error(
                node,
                format!(
                    "<{}> {name} must be a whole number, not {raw:?}",
                    node.tag_name().name()
                ),
            )
        }),
    }
}

/// The element's trimmed text, which must not be empty (a URL for `<Play>`, `<Redirect>`).
fn required_text(node: &Node) -> Result<String, TwimlError> {
    match node.text().map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text.to_string()),
        _ => Err(error(
            node,
            format!("<{}> needs a URL as its text", node.tag_name().name()),
        )),
    }
}

/// The TwiML a voice webhook answers with to connect the call to a bidirectional stream.
///
/// Pass per-call values (ids, tokens) as `params`: they reach the stream server in the
/// `start` message's `customParameters` and stay out of the URL.
pub fn connect_stream(url: &str, params: &[(String, String)]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Connect>");
    xml.push_str(&format!("<Stream url=\"{}\">", xml_attr(url)));
    for (name, value) in params {
        xml.push_str(&format!(
            "<Parameter name=\"{}\" value=\"{}\"/>",
            xml_attr(name),
            xml_attr(value)
        ));
    }
    xml.push_str("</Stream></Connect></Response>");
    xml
}

/// The TwiML that refuses a call (`reason` is "busy" or "rejected").
pub fn reject(reason: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Reject reason=\"{}\"/></Response>",
        xml_attr(reason)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> Verb {
        let verbs = parse(&format!("<Response>{body}</Response>")).unwrap();
        assert_eq!(verbs.len(), 1, "{verbs:?}");
        verbs.into_iter().next().unwrap()
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn connect_and_start_stream() {
        let xml = r#"<Connect><Stream url="wss://agent.test/media" name="s1" track="inbound_track"><Parameter name="case" value="c-7"/><Parameter name="run" value="r1"/></Stream></Connect>"#;
        assert_eq!(
            one(xml),
            Verb::Connect {
                stream: Stream {
                    url: "wss://agent.test/media".into(),
                    name: Some("s1".into()),
                    track: Some("inbound_track".into()),
                    parameters: vec![("case".into(), "c-7".into()), ("run".into(), "r1".into())],
                },
                action: None,
                method: "POST".into(),
            }
        );
        let then = r#"<Connect action="/after" method="GET"><Stream url="wss://x/y"/></Connect>"#;
        match one(then) {
            Verb::Connect { action, method, .. } => {
                assert_eq!(
                    (action.as_deref(), method.as_str()),
                    (Some("/after"), "GET")
                );
            }
            other => panic!("{other:?}"),
        }
        match one(r#"<Start><Stream url="wss://x/y"/></Start>"#) {
            Verb::Start(stream) => {
                assert_eq!(stream.url, "wss://x/y");
                assert!(
                    stream.parameters.is_empty() && stream.track.is_none() && stream.name.is_none()
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn simple_verbs_and_defaults() {
        let verbs = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <!-- greeting -->
  <Say voice="Polly.Amy" language="en-GB"> Hello there </Say>
  <Say>Hi</Say>
  <Play loop="3">https://cdn.test/a.wav</Play>
  <Play> https://cdn.test/b.wav </Play>
  <Pause length="2"/>
  <Pause/>
  <Redirect method="GET">https://agent.test/next</Redirect>
  <Redirect>/again</Redirect>
  <Hangup/>
  <Reject reason="busy"/>
</Response>"#,
        )
        .unwrap();
        assert_eq!(
            verbs,
            vec![
                Verb::Say {
                    text: "Hello there".into(),
                    voice: Some("Polly.Amy".into()),
                    language: Some("en-GB".into())
                },
                Verb::Say {
                    text: "Hi".into(),
                    voice: None,
                    language: None
                },
                Verb::Play {
                    url: "https://cdn.test/a.wav".into(),
                    loop_count: 3
                },
                Verb::Play {
                    url: "https://cdn.test/b.wav".into(),
                    loop_count: 1
                },
                Verb::Pause { length: 2 },
                Verb::Pause { length: 1 },
                Verb::Redirect {
                    url: "https://agent.test/next".into(),
                    method: "GET".into()
                },
                Verb::Redirect {
                    url: "/again".into(),
                    method: "POST".into()
                },
                Verb::Hangup,
                Verb::Reject,
            ]
        );
        assert_eq!(parse("<Response/>").unwrap(), vec![]);
    }

    #[test]
    fn gather_with_nested_verbs() {
        let xml = r#"<Gather input="dtmf speech" numDigits="4" timeout="3" finishOnKey="*" action="/done" method="GET"><Say>Enter your PIN</Say><Pause length="1"/><Play>https://cdn.test/beep.wav</Play></Gather>"#;
        assert_eq!(
            one(xml),
            Verb::Gather(Gather {
                input: GatherInput::DtmfSpeech,
                num_digits: Some(4),
                timeout: 3,
                finish_on_key: "*".into(),
                action: Some("/done".into()),
                method: Some("GET".into()),
                nested: vec![
                    Verb::Say {
                        text: "Enter your PIN".into(),
                        voice: None,
                        language: None
                    },
                    Verb::Pause { length: 1 },
                    Verb::Play {
                        url: "https://cdn.test/beep.wav".into(),
                        loop_count: 1
                    },
                ],
            })
        );
        assert_eq!(
            one("<Gather/>"),
            Verb::Gather(Gather {
                input: GatherInput::Dtmf,
                num_digits: None,
                timeout: 5,
                finish_on_key: "#".into(),
                action: None,
                method: None,
                nested: vec![],
            })
        );
        assert!(matches!(
            one(r#"<Gather input="speech"/>"#),
            Verb::Gather(Gather {
                input: GatherInput::Speech,
                ..
            })
        ));
    }

    #[test]
    fn errors_name_the_element_and_line() {
        assert_eq!(
            err("<Response>\n  <Say>hi</Say>\n  <Enqueue>support</Enqueue>\n</Response>"),
            "TwiML line 3: <Enqueue> is not supported by the loopback carrier"
        );
        assert_eq!(
            err("<Response><Connect>\n<Stream/>\n</Connect></Response>"),
            "TwiML line 2: <Stream> needs a url attribute"
        );
        assert_eq!(
            err("\n<Say>hi</Say>"),
            "TwiML line 2: the root element must be <Response>, not <Say>"
        );
        assert_eq!(
            err("<Response>\n<Gather>\n<Hangup/></Gather></Response>"),
            "TwiML line 3: <Hangup> cannot be nested in <Gather> (only <Say>, <Play>, <Pause>)"
        );
        assert_eq!(
            err("<Response>\n\n<Pause length=\"soon\"/></Response>"),
            "TwiML line 3: <Pause> length must be a whole number, not \"soon\""
        );
        assert_eq!(
            err("<Response><Connect><Room>r</Room></Connect></Response>"),
            "TwiML line 1: <Connect><Room> is not supported by the loopback carrier"
        );
        assert_eq!(
            err("<Response><Start/></Response>"),
            "TwiML line 1: <Start> needs a <Stream> inside"
        );
        assert_eq!(
            err("<Response>\n<Play/></Response>"),
            "TwiML line 2: <Play> needs a URL as its text"
        );
        assert_eq!(
            err("<Response><Connect><Stream url=\"wss://x\">\n<Parameter name=\"a\"/></Stream></Connect></Response>"),
            "TwiML line 2: <Parameter> needs name and value attributes"
        );
        assert!(err(r#"<Response><Gather input="touch"/></Response>"#).contains("input must be"));
        let malformed = err("<Response>\n<Say>hi</Response>");
        assert!(
            malformed.starts_with("TwiML line 2: not well-formed XML"),
            "{malformed}"
        );
    }

    #[test]
    fn connect_stream_escapes_and_parses_back() {
        let params = vec![
            ("case".to_string(), "a&b <c> \"d\" 'e'".to_string()),
            ("multi\nline".to_string(), "tab\there".to_string()),
        ];
        let xml = connect_stream("wss://agent.test/media?x=1&y=2", &params);
        assert!(
            xml.contains("url=\"wss://agent.test/media?x=1&amp;y=2\""),
            "{xml}"
        );
        assert!(
            xml.contains("value=\"a&amp;b &lt;c&gt; &quot;d&quot; &#39;e&#39;\""),
            "{xml}"
        );
        assert_eq!(
            parse(&xml).unwrap(),
            vec![Verb::Connect {
                stream: Stream {
                    url: "wss://agent.test/media?x=1&y=2".into(),
                    name: None,
                    track: None,
                    parameters: params,
                },
                action: None,
                method: "POST".into(),
            }]
        );
    }
}
