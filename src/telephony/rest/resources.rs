//! Requests and resources of Twilio's 2010-04-01 API, with its exact parameter names.

use serde::{Deserialize, Deserializer};

use super::error::TwilioError;

/// Parameters of `POST /Accounts/{sid}/Calls.json`; unset fields are not sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateCall {
    /// Who to call: a phone number (E.164), `sip:` or `client:` address.
    pub to: String,
    /// The caller id: a number on the account or a verified one.
    pub from: String,
    /// Webhook that returns the call's TwiML; exactly one of `url` and `twiml`.
    pub url: Option<String>,
    /// The call's TwiML inline; exactly one of `url` and `twiml`.
    pub twiml: Option<String>,
    /// HTTP method for `url`: `GET` or `POST` (Twilio's default).
    pub method: Option<String>,
    /// Webhook for call progress events.
    pub status_callback: Option<String>,
    /// Events for `status_callback`: `initiated`, `ringing`, `answered`, `completed`.
    pub status_callback_event: Vec<String>,
    /// HTTP method for `status_callback`.
    pub status_callback_method: Option<String>,
    /// Record the call.
    pub record: bool,
    /// `mono` or `dual` (one channel per leg).
    pub recording_channels: Option<String>,
    /// Webhook told when the recording is ready.
    pub recording_status_callback: Option<String>,
    /// Seconds to let the phone ring before giving up.
    pub timeout_s: Option<u32>,
    /// Answering machine detection: `Enable` or `DetectMessageEnd`.
    pub machine_detection: Option<String>,
    /// Keys to press once the call connects (`0-9`, `#`, `*`, `w` to wait).
    pub send_digits: Option<String>,
    /// trialrun's loopback carrier only: the call's network faults, as JSON (sent as
    /// `TrialrunNetworkFaults`; never set for Twilio).
    pub network_faults: Option<String>,
}

impl CreateCall {
    /// Checks the request and returns its form fields in Twilio's names.
    pub(crate) fn to_form(&self) -> Result<Vec<(&'static str, String)>, TwilioError> {
        let bad = |detail: &str| {
            Err(TwilioError::InvalidRequest(format!(
                "create call: {detail}"
            )))
        };
        if self.to.trim().is_empty() {
            return bad("`to` is empty");
        }
        if self.from.trim().is_empty() {
            return bad("`from` is empty");
        }
        match (&self.url, &self.twiml) {
            (Some(_), Some(_)) => return bad("give exactly one of `url` and `twiml`, not both"),
            (None, None) => return bad("give exactly one of `url` and `twiml`; neither was set"),
            _ => {}
        }
        check_method("method", self.method.as_deref())?;
        check_method(
            "status_callback_method",
            self.status_callback_method.as_deref(),
        )?;
        let mut form = vec![("To", self.to.clone()), ("From", self.from.clone())];
        let mut push = |name: &'static str, value: &Option<String>| {
            if let Some(v) = value {
                form.push((name, v.clone()));
            }
        };
        push("Url", &self.url);
        push("Twiml", &self.twiml);
        push("Method", &self.method);
        push("StatusCallback", &self.status_callback);
        push("StatusCallbackMethod", &self.status_callback_method);
        push("RecordingChannels", &self.recording_channels);
        push("RecordingStatusCallback", &self.recording_status_callback);
        push("MachineDetection", &self.machine_detection);
        push("SendDigits", &self.send_digits);
        push("TrialrunNetworkFaults", &self.network_faults);
        // Repeated fields are how Twilio takes a list.
        for event in &self.status_callback_event {
            form.push(("StatusCallbackEvent", event.clone()));
        }
        if self.record {
            form.push(("Record", "true".into()));
        }
        if let Some(t) = self.timeout_s {
            form.push(("Timeout", t.to_string()));
        }
        Ok(form)
    }
}

/// What a live call should do next ([`TwilioClient::update_call`](super::TwilioClient::update_call)).
#[derive(Debug, Clone, PartialEq)]
#[allow(dead_code)] // see TwilioClient::update_call
pub enum CallTarget {
    /// Fetch new TwiML from this webhook, with `GET` or `POST` (default).
    Url {
        /// The webhook.
        url: String,
        /// Its HTTP method.
        method: Option<String>,
    },
    /// Run this TwiML.
    Twiml(String),
}

#[allow(dead_code)] // see TwilioClient::update_call
impl CallTarget {
    pub(crate) fn to_form(&self) -> Result<Vec<(&'static str, String)>, TwilioError> {
        match self {
            Self::Url { url, method } => {
                check_method("method", method.as_deref())?;
                let mut form = vec![("Url", url.clone())];
                if let Some(m) = method {
                    form.push(("Method", m.clone()));
                }
                Ok(form)
            }
            Self::Twiml(twiml) => Ok(vec![("Twiml", twiml.clone())]),
        }
    }
}

/// Twilio accepts only these two methods for webhooks.
pub(crate) fn check_method(field: &str, method: Option<&str>) -> Result<(), TwilioError> {
    match method {
        None | Some("GET") | Some("POST") => Ok(()),
        Some(other) => Err(TwilioError::InvalidRequest(format!(
            "`{field}` must be \"GET\" or \"POST\", got {other:?}"
        ))),
    }
}

/// A Call resource as Twilio returns it; fields not listed are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Call {
    /// The call's id (`CA...`).
    pub sid: String,
    /// The account's id.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// `queued`, `ringing`, `in-progress`, `canceled`, `completed`, `failed`, `busy`, `no-answer`.
    pub status: String,
    /// `inbound`, `outbound-api` or `outbound-dial`.
    #[serde(default)]
    pub direction: Option<String>,
    /// The caller.
    #[serde(default)]
    pub from: Option<String>,
    /// The called party.
    #[serde(default)]
    pub to: Option<String>,
    /// The call that created this one, for `<Dial>` legs.
    #[serde(default)]
    pub parent_call_sid: Option<String>,
    /// Seconds the call lasted, once it ended (Twilio sends a string).
    #[serde(default, deserialize_with = "string_or_number")]
    pub duration: Option<String>,
    /// When the call was answered, RFC 2822.
    #[serde(default)]
    pub start_time: Option<String>,
    /// When the call ended, RFC 2822.
    #[serde(default)]
    pub end_time: Option<String>,
    /// When the resource was created, RFC 2822.
    #[serde(default)]
    pub date_created: Option<String>,
    /// What the call cost (negative, as Twilio writes it), once known.
    #[serde(default, deserialize_with = "string_or_number")]
    pub price: Option<String>,
    /// Currency of `price`, e.g. `USD`.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// Answering machine detection's result, e.g. `human`.
    #[serde(default)]
    pub answered_by: Option<String>,
}

impl Call {
    /// The duration in seconds, when Twilio gave one.
    pub fn duration_seconds(&self) -> Option<u64> {
        self.duration.as_deref()?.trim().parse().ok()
    }

    /// Whether the call has ended, one way or another.
    #[cfg(test)]
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status.as_str(),
            "completed" | "canceled" | "failed" | "busy" | "no-answer"
        )
    }
}

/// An IncomingPhoneNumber resource; only the fields this client uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IncomingPhoneNumber {
    /// The number's id (`PN...`).
    pub sid: String,
    /// The number, E.164.
    pub phone_number: String,
    /// Webhook called when the number receives a call.
    #[serde(default)]
    pub voice_url: Option<String>,
    /// Its HTTP method.
    #[serde(default)]
    pub voice_method: Option<String>,
    /// The name the account gave it.
    #[serde(default)]
    pub friendly_name: Option<String>,
}

/// One page of `GET .../IncomingPhoneNumbers.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct IncomingPhoneNumberPage {
    pub incoming_phone_numbers: Vec<IncomingPhoneNumber>,
}

/// Twilio writes numbers such as `duration` as strings; accept plain numbers too.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}
