//! `<Dial>`: connecting the caller to another party, as Twilio documents it.
//!
//! One party per `<Dial>`: a number as text, or one `<Number>`, `<Sip>` or `<Client>`.
//! What the loopback carrier cannot do faithfully is refused naming the line: several nouns
//! (simultaneous dialling), `<Conference>` and the other nouns, `hangupOnStar`, `record`,
//! and a noun's whisper `url` or `sendDigits`.

use std::fmt;

use roxmltree::Node;

use super::{elements, error, number, optional, TwimlError};

/// What kind of party a `<Dial>` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialKind {
    Number,
    Sip,
    Client,
}

impl DialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::Sip => "sip",
            Self::Client => "client",
        }
    }
}

/// The party a `<Dial>` calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialTarget {
    pub kind: DialKind,
    /// The number, the `sip:` URI, or the client's identity, as written.
    pub address: String,
}

impl DialTarget {
    /// The name a test gives this party by: a number without its punctuation
    /// ("+15550123"), the SIP URI ("sip:billing@example.com"), or "client:" and the identity.
    pub fn key(&self) -> String {
        match self.kind {
            DialKind::Number => normalize_number(&self.address),
            DialKind::Sip => self.address.clone(),
            DialKind::Client => format!("client:{}", self.address),
        }
    }
}

impl fmt::Display for DialTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// A phone number as compared: without the spaces, dashes, dots and parentheses people
/// write in them ("(415) 555-0100" and "4155550100" are one number).
pub fn normalize_number(number: &str) -> String {
    number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect()
}

/// A `<Dial>` verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub target: DialTarget,
    /// Requested when the dialled call ends; without it, the document goes on.
    pub action: Option<String>,
    /// `GET` or `POST` (the default) for `action`.
    pub method: String,
    /// Seconds to ring before giving up (default 30).
    pub timeout: u32,
    /// Longest the parties stay connected, in seconds (default 14400, Twilio's 4 hours).
    pub time_limit: u32,
    /// The caller id the dialled party sees, when given.
    pub caller_id: Option<String>,
}

/// Twilio's defaults and bounds.
const DEFAULT_TIMEOUT: u32 = 30;
const MAX_TIMEOUT: u32 = 600;
const DEFAULT_TIME_LIMIT: u32 = 14_400;

/// Nouns Twilio has that the loopback carrier does not dial.
const OTHER_NOUNS: [&str; 4] = ["Conference", "Queue", "Sim", "Application"];

/// Parses `<Dial>` and its one party.
pub(super) fn parse(node: &Node) -> Result<Dial, TwimlError> {
    refuse_attribute(node, "hangupOnStar", |v| v != "false")?;
    refuse_attribute(node, "record", |v| v != "do-not-record")?;
    let method = node.attribute("method").unwrap_or("POST").trim();
    if !matches!(method, "GET" | "POST") {
        return Err(error(
            node,
            format!("<Dial> method must be GET or POST, not {method:?}"),
        ));
    }
    let timeout = number(node, "timeout", DEFAULT_TIMEOUT)?;
    if !(1..=MAX_TIMEOUT).contains(&timeout) {
        return Err(error(
            node,
            format!("<Dial> timeout must be 1 to {MAX_TIMEOUT} seconds, not {timeout}"),
        ));
    }
    let time_limit = number(node, "timeLimit", DEFAULT_TIME_LIMIT)?;
    if time_limit == 0 {
        return Err(error(
            node,
            "<Dial> timeLimit must be at least 1 second".into(),
        ));
    }
    Ok(Dial {
        target: target(node)?,
        action: optional(node, "action").filter(|a| !a.trim().is_empty()),
        method: method.to_string(),
        timeout,
        time_limit,
        caller_id: optional(node, "callerId"),
    })
}

/// Refuses `name` when it is present with a value `unsupported` says the carrier cannot honour.
fn refuse_attribute(
    node: &Node,
    name: &str,
    unsupported: impl Fn(&str) -> bool,
) -> Result<(), TwimlError> {
    match node.attribute(name) {
        Some(value) if unsupported(value.trim()) => Err(error(
            node,
            format!(
                "<{} {name}=\"{value}\"> is not supported by the loopback carrier",
                node.tag_name().name()
            ),
        )),
        _ => Ok(()),
    }
}

/// The one party: the `<Dial>`'s text, or its one noun.
fn target(node: &Node) -> Result<DialTarget, TwimlError> {
    let nouns: Vec<Node> = elements(node).collect();
    let text = own_text(node);
    match (nouns.as_slice(), text.is_empty()) {
        ([], true) => Err(error(
            node,
            "<Dial> needs a number as its text, or a <Number>, <Sip> or <Client> inside".into(),
        )),
        ([], false) => Ok(DialTarget {
            kind: DialKind::Number,
            address: text,
        }),
        ([_, ..], false) => Err(error(
            node,
            format!("<Dial> holds both the text {text:?} and nouns: give one party"),
        )),
        ([noun], true) => noun_target(noun),
        ([_, second, ..], true) => Err(error(
            second,
            format!(
                "<Dial> holds {} nouns: dialling several parties at once is not supported by \
                 the loopback carrier",
                nouns.len()
            ),
        )),
    }
}

/// `<Number>`, `<Sip>` or `<Client>`.
fn noun_target(noun: &Node) -> Result<DialTarget, TwimlError> {
    let tag = noun.tag_name().name();
    if matches!(tag, "Number" | "Sip" | "Client") {
        refuse_attribute(noun, "url", |_| true)?;
        refuse_attribute(noun, "sendDigits", |_| true)?;
    }
    match tag {
        "Number" => {
            let address = required(noun, &own_text(noun), "a phone number")?;
            Ok(DialTarget {
                kind: DialKind::Number,
                address,
            })
        }
        "Sip" => {
            let address = required(noun, &own_text(noun), "a sip: URI")?;
            if !address
                .get(..4)
                .is_some_and(|s| s.eq_ignore_ascii_case("sip:"))
            {
                return Err(error(
                    noun,
                    format!("<Sip> needs a sip: URI as its text, not {address:?}"),
                ));
            }
            Ok(DialTarget {
                kind: DialKind::Sip,
                address,
            })
        }
        "Client" => Ok(DialTarget {
            kind: DialKind::Client,
            address: client_identity(noun)?,
        }),
        other if OTHER_NOUNS.contains(&other) => Err(error(
            noun,
            format!("<Dial><{other}> is not supported by the loopback carrier"),
        )),
        other => Err(error(
            noun,
            format!("<{other}> cannot be nested in <Dial> (only <Number>, <Sip>, <Client>)"),
        )),
    }
}

/// A `<Client>`'s identity: its text, or its `<Identity>` child's (with `<Parameter>`s beside).
fn client_identity(noun: &Node) -> Result<String, TwimlError> {
    let mut identity = None;
    for child in elements(noun) {
        match child.tag_name().name() {
            "Identity" => identity = Some(own_text(&child)),
            "Parameter" => {}
            other => {
                return Err(error(
                    &child,
                    format!(
                        "<{other}> cannot be nested in <Client> (only <Identity>, <Parameter>)"
                    ),
                ))
            }
        }
    }
    let text = identity.unwrap_or_else(|| own_text(noun));
    let text = text.strip_prefix("client:").unwrap_or(&text).to_string();
    required(noun, &text, "an identity (as its text or in <Identity>)")
}

/// The text directly inside `node` (not its children's), trimmed.
fn own_text(node: &Node) -> String {
    node.children()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim()
        .to_string()
}

fn required(node: &Node, text: &str, what: &str) -> Result<String, TwimlError> {
    if text.is_empty() {
        return Err(error(
            node,
            format!("<{}> needs {what}", node.tag_name().name()),
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{parse as parse_twiml, Verb};
    use super::*;

    fn dial(body: &str) -> Dial {
        match parse_twiml(&format!("<Response>{body}</Response>"))
            .unwrap()
            .as_slice()
        {
            [Verb::Dial(dial)] => dial.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn err(text: &str) -> String {
        parse_twiml(text).unwrap_err().to_string()
    }

    #[test]
    fn a_bare_number_with_twilios_defaults() {
        let d = dial("<Dial> +1 (555) 012-3 </Dial>");
        assert_eq!(
            d,
            Dial {
                target: DialTarget {
                    kind: DialKind::Number,
                    address: "+1 (555) 012-3".into()
                },
                action: None,
                method: "POST".into(),
                timeout: 30,
                time_limit: 14_400,
                caller_id: None,
            }
        );
        assert_eq!(d.target.key(), "+15550123");
    }

    #[test]
    fn nouns_and_attributes() {
        let d = dial(
            r#"<Dial action="/after" method="GET" timeout="7" timeLimit="60" callerId="+15550100" hangupOnStar="false" record="do-not-record"><Number>+15550123</Number></Dial>"#,
        );
        assert_eq!(d.action.as_deref(), Some("/after"));
        assert_eq!((d.method.as_str(), d.timeout, d.time_limit), ("GET", 7, 60));
        assert_eq!(d.caller_id.as_deref(), Some("+15550100"));
        assert_eq!(d.target.kind, DialKind::Number);
        let sip = dial("<Dial><Sip> sip:billing@example.com </Sip></Dial>").target;
        assert_eq!(
            (sip.kind, sip.key().as_str()),
            (DialKind::Sip, "sip:billing@example.com")
        );
        let client = dial("<Dial><Client>alice</Client></Dial>").target;
        assert_eq!(
            (client.kind, client.key().as_str()),
            (DialKind::Client, "client:alice")
        );
        let nested = dial(
            r#"<Dial><Client><Identity>bob</Identity><Parameter name="a" value="b"/></Client></Dial>"#,
        );
        assert_eq!(nested.target.key(), "client:bob");
    }

    #[test]
    fn what_cannot_be_dialled_is_refused_naming_the_line() {
        let cases = [
            ("<Dial/>", "TwiML line 2: <Dial> needs a number as its text, or a <Number>, <Sip> or <Client> inside"),
            ("<Dial>\n<Number>+1</Number>\n<Number>+2</Number></Dial>", "TwiML line 4: <Dial> holds 2 nouns: dialling several parties at once is not supported by the loopback carrier"),
            ("<Dial><Conference>room</Conference></Dial>", "TwiML line 2: <Dial><Conference> is not supported by the loopback carrier"),
            ("<Dial><Say>hi</Say></Dial>", "TwiML line 2: <Say> cannot be nested in <Dial> (only <Number>, <Sip>, <Client>)"),
            ("<Dial hangupOnStar=\"true\">+1</Dial>", "TwiML line 2: <Dial hangupOnStar=\"true\"> is not supported by the loopback carrier"),
            ("<Dial record=\"record-from-answer\">+1</Dial>", "TwiML line 2: <Dial record=\"record-from-answer\"> is not supported by the loopback carrier"),
            ("<Dial timeout=\"soon\">+1</Dial>", "TwiML line 2: <Dial> timeout must be a whole number, not \"soon\""),
            ("<Dial timeout=\"0\">+1</Dial>", "TwiML line 2: <Dial> timeout must be 1 to 600 seconds, not 0"),
            ("<Dial method=\"PUT\">+1</Dial>", "TwiML line 2: <Dial> method must be GET or POST, not \"PUT\""),
            ("<Dial><Sip>billing@example.com</Sip></Dial>", "TwiML line 2: <Sip> needs a sip: URI as its text, not \"billing@example.com\""),
            ("<Dial><Number> </Number></Dial>", "TwiML line 2: <Number> needs a phone number"),
            ("<Dial><Client/></Dial>", "TwiML line 2: <Client> needs an identity (as its text or in <Identity>)"),
            ("<Dial><Number url=\"/whisper\">+1</Number></Dial>", "TwiML line 2: <Number url=\"/whisper\"> is not supported by the loopback carrier"),
            ("<Dial>+1<Number>+2</Number></Dial>", "TwiML line 2: <Dial> holds both the text \"+1\" and nouns: give one party"),
        ];
        for (body, expected) in cases {
            assert_eq!(err(&format!("<Response>\n{body}</Response>")), expected);
        }
    }
}
