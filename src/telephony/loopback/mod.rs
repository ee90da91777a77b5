//! The loopback carrier: an in-process stand-in for the part of Twilio that voice-agent
//! tests use, so any Twilio Media Streams agent can be called with no account, no tunnel
//! and no cost.
//!
//! - `api`: Twilio's REST API for calls and incoming numbers, on a loopback port, so the
//!   same client code places calls here and at Twilio;
//! - `call`: one call: both legs' webhooks, the status callbacks;
//! - `leg`: a leg's TwiML program; `stream_client`: Twilio's side of a media stream;
//! - `bridge`: the real-time audio path between the legs.
//!
//! Webhooks are signed with the carrier's auth token, as Twilio signs them.

mod api;
mod bridge;
mod call;
pub mod dial;
pub mod faults;
mod leg;
mod stream_client;

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

use super::signature;
use crate::audio::resample::resample;
use crate::audio::PHONE_RATE;
use crate::net::runtime::runtime;
use crate::net::serve::{Listener, Served};
use crate::telephony::call::{FarEndReport, FarEndWitness};
use crate::telephony::log::BoundedLog;

pub use call::CallRecord;

/// How long stopping waits for requests in flight before dropping them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What speaks a `<Say>`: mono PCM of `text` and its sample rate (the carrier resamples it
/// to the phone's). `voice` and `language` are TwiML's, whose voice names (alice,
/// Polly.Joanna) are Twilio's. Any text-to-speech provider is one (`voice::say`); the
/// carrier knows only this port.
pub trait SayVoice: Send + Sync {
    fn say<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
        language: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(u32, Vec<i16>), String>>;
}

/// How a loopback carrier is set up.
#[derive(Clone)]
pub struct LoopbackConfig {
    /// Phone numbers this carrier can call, each with its voice webhook URL.
    pub numbers: HashMap<String, String>,
    pub account_sid: String,
    /// Signs webhooks and checks the REST API's Basic auth.
    pub auth_token: String,
    /// Text to speech for `<Say>`; without one, `<Say>` fails the call with a clear reason.
    pub speech: Option<Arc<dyn SayVoice>>,
    pub max_message_bytes: usize,
    pub max_call_duration: Duration,
    /// A PEM file of CA certificates to trust, beside the system's, for `wss://` streams
    /// (an agent serving TLS with a certificate of its own CA).
    pub ca_file: Option<std::path::PathBuf>,
    /// How much of what a stream sends is buffered before it plays (see `playout`): audio
    /// sent in bursts plays without gaps. Zero plays each frame as it comes.
    pub jitter_buffer: Duration,
    /// Network faults on every call's bridge (a call placed with faults of its own uses
    /// those instead).
    pub faults: Option<faults::NetworkFaults>,
    /// What answers each party a `<Dial>` calls (the party is simulated): a `<Dial>` to
    /// one not here fails, naming it.
    pub dial_targets: dial::DialTargets,
    /// Record each call's bridge clock lateness (benchmarks).
    pub measure_lateness: bool,
    pub log_to_stderr: bool,
}

impl Default for LoopbackConfig {
    fn default() -> Self {
        Self {
            numbers: HashMap::new(),
            account_sid: format!("AC{}", super::server::secret_hex()),
            auth_token: super::server::secret_hex(),
            speech: None,
            max_message_bytes: 64 * 1024,
            max_call_duration: Duration::from_secs(600),
            jitter_buffer: Duration::from_millis(80),
            ca_file: None,
            faults: None,
            dial_targets: dial::DialTargets::new(),
            measure_lateness: false,
            log_to_stderr: false,
        }
    }
}

impl fmt::Debug for LoopbackConfig {
    // By hand, so the auth token never reaches a log or an error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackConfig")
            .field("numbers", &self.numbers)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("speech", &self.speech.is_some())
            .field("dial_targets", &self.dial_targets)
            .finish()
    }
}

/// Resolves once `flag` is true (or its sender is gone). The guard `borrow` gives is
/// dropped before each await, so futures using this stay Send.
pub async fn until_set(flag: &mut watch::Receiver<bool>) {
    while !*flag.borrow_and_update() {
        if flag.changed().await.is_err() {
            return;
        }
    }
}

/// True once `flag` is set (or its sender is gone), for loops that stop at the first true:
/// while nothing changed this is one atomic load, where a `changed()` future takes the
/// channel's lock each time it is polled.
pub fn is_set(flag: &mut watch::Receiver<bool>) -> bool {
    match flag.has_changed() {
        Ok(false) => false,
        Ok(true) => *flag.borrow_and_update(),
        Err(_) => true,
    }
}

/// A Twilio-style id: two letters and 32 hex digits.
pub fn sid(prefix: &str) -> String {
    format!("{prefix}{}", super::server::secret_hex())
}

/// What the API and the calls share.
pub struct Carrier {
    config: LoopbackConfig,
    http: reqwest::Client,
    /// TLS for `wss://` streams.
    tls: Arc<rustls::ClientConfig>,
    /// Numbers and their voice webhooks; the REST API can change them.
    numbers: Mutex<HashMap<String, String>>,
    /// Calls in progress, by the sid of each of their legs.
    calls: Mutex<HashMap<String, (Arc<call::LiveCall>, usize)>>,
    /// Calls that ended, kept so they can still be fetched.
    ended: Mutex<HashMap<String, (Arc<call::LiveCall>, usize)>>,
    log: BoundedLog,
}

impl Carrier {
    fn log(&self, line: String) {
        self.log.push(line);
    }

    /// Requests a webhook as Twilio does (signed, form-encoded for POST, query for GET)
    /// and returns its body.
    async fn webhook(
        &self,
        url: &str,
        method: &str,
        params: &[(String, String)],
    ) -> Result<String, String> {
        let get = method.eq_ignore_ascii_case("GET");
        let full_url = if get {
            let mut parsed =
                reqwest::Url::parse(url).map_err(|e| format!("webhook URL {url:?}: {e}"))?;
            parsed
                .query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            parsed.to_string()
        } else {
            url.to_string()
        };
        let signed: &[(String, String)] = if get { &[] } else { params };
        let signature = signature::expected_signature(&self.config.auth_token, &full_url, signed);
        let request = if get {
            self.http.get(&full_url)
        } else {
            self.http.post(&full_url).form(params)
        };
        let response = request
            .header("X-Twilio-Signature", signature)
            .header("User-Agent", "TwilioProxy/1.1")
            .send()
            .await
            .map_err(|e| format!("webhook {url} cannot be reached: {e}"))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| format!("webhook {url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("webhook {url} answered HTTP {}", status.as_u16()));
        }
        Ok(body)
    }

    /// Fetches audio for `<Play>`.
    async fn download(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("<Play> {url} cannot be fetched: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "<Play> {url} answered HTTP {}",
                response.status().as_u16()
            ));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("<Play> {url}: {e}"))?;
        Ok(bytes.to_vec())
    }

    async fn synthesize(
        &self,
        text: &str,
        voice: Option<&str>,
        language: Option<&str>,
    ) -> Result<Vec<i16>, String> {
        let Some(speech) = self.config.speech.clone() else {
            return Err(
                "<Say> needs text to speech: give the loopback carrier a speech provider".into(),
            );
        };
        let (rate, pcm) = speech
            .say(text, voice, language)
            .await
            .map_err(|e| format!("<Say>: text to speech failed: {e}"))?;
        resample(&pcm, rate, PHONE_RATE).map_err(|e| format!("<Say>: {e}"))
    }

    /// Moves a call that ended (both its legs) to the ended calls.
    fn forget(&self, call: &Arc<call::LiveCall>) {
        let mut calls = self.calls.lock().expect("calls lock");
        let mut ended = self.ended.lock().expect("ended lock");
        for leg in [call::CALLER, call::CALLEE] {
            let sid = call.sid(leg);
            calls.remove(&sid);
            ended.insert(sid, (call.clone(), leg));
        }
    }

    /// Places a call: it runs on the shared runtime; the record is returned at once.
    fn place(self: &Arc<Self>, request: call::CallRequest) -> Result<CallRecord, PlaceError> {
        let Some(callee_url) = self
            .numbers
            .lock()
            .expect("numbers lock")
            .get(&request.to)
            .cloned()
        else {
            let mut known: Vec<String> = self
                .numbers
                .lock()
                .expect("numbers lock")
                .keys()
                .cloned()
                .collect();
            known.sort();
            return Err(PlaceError::UnknownNumber {
                to: request.to.clone(),
                known,
            });
        };
        let call = call::LiveCall::new(self, &request);
        let record = call.snapshot();
        {
            let mut calls = self.calls.lock().expect("calls lock");
            for leg in [call::CALLER, call::CALLEE] {
                calls.insert(call.sid(leg), (call.clone(), leg));
            }
        }
        runtime().spawn(call::run_call(self.clone(), call, request, callee_url));
        Ok(record)
    }

    /// A leg's call, live or ended, by the leg's sid.
    fn find(&self, call_sid: &str) -> Option<(Arc<call::LiveCall>, usize)> {
        if let Some(found) = self.calls.lock().expect("calls lock").get(call_sid) {
            return Some(found.clone());
        }
        self.ended
            .lock()
            .expect("ended lock")
            .get(call_sid)
            .cloned()
    }

    fn record(&self, call_sid: &str) -> Option<CallRecord> {
        self.find(call_sid)
            .map(|(call, leg)| call.leg_snapshot(leg))
    }

    /// Hangs up a live call through one of its legs; false if no such leg is live.
    fn hang_up(&self, call_sid: &str) -> bool {
        match self.calls.lock().expect("calls lock").get(call_sid) {
            Some((call, leg)) => {
                call.hung_up_by
                    .lock()
                    .expect("hung up lock")
                    .get_or_insert(*leg);
                call.hang_up.send_replace(true);
                true
            }
            None => false,
        }
    }

    /// Sends a live leg to new TwiML; false if no such leg is live. A call that has ended
    /// stays among the live ones while its end is reported, and is not in progress then.
    fn redirect(&self, call_sid: &str, document: leg::Document) -> bool {
        match self.calls.lock().expect("calls lock").get(call_sid) {
            Some((call, _)) if call.ending.lock().expect("ending lock").is_some() => false,
            Some((call, leg)) => {
                call.legs[*leg].redirect.send_replace(Some(document));
                true
            }
            None => false,
        }
    }
}

impl FarEndWitness for Carrier {
    fn far_end(&self, call_sid: &str) -> Option<FarEndReport> {
        let (call, leg) = self.find(call_sid)?;
        call.far_end_report(leg)
    }
}

/// Why a call could not be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceError {
    UnknownNumber { to: String, known: Vec<String> },
}

impl fmt::Display for PlaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownNumber { to, known } => write!(
                f,
                "the loopback carrier has no number {to}; its numbers are: {}",
                if known.is_empty() {
                    "(none)".to_string()
                } else {
                    known.join(", ")
                }
            ),
        }
    }
}

#[derive(Debug)]
pub struct StartError(String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A running loopback carrier: its REST API listens on 127.0.0.1.
pub struct LoopbackCarrier {
    carrier: Arc<Carrier>,
    served: Served,
}

impl LoopbackCarrier {
    /// Checks the numbers' URLs and starts the REST API on a free loopback port.
    pub fn start(config: LoopbackConfig) -> Result<LoopbackCarrier, StartError> {
        if let Some(faults) = &config.faults {
            faults.validate().map_err(StartError)?;
        }
        if config.speech.is_none() {
            let mut speakers: Vec<&String> = config
                .dial_targets
                .iter()
                .filter(|(_, answer)| matches!(answer, dial::DialAnswer::Speaks(_)))
                .map(|(key, _)| key)
                .collect();
            speakers.sort();
            if let Some(first) = speakers.first() {
                return Err(StartError(format!(
                    "dial target {first} says lines: the loopback carrier needs speech (a \
                     text-to-speech provider) to speak them"
                )));
            }
        }
        for (number, url) in &config.numbers {
            if reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
                return Err(StartError(format!(
                    "number {number}: {url:?} is not an http(s) voice webhook URL"
                )));
            }
        }
        let http = crate::net::http::client().map_err(StartError)?;
        let tls = crate::net::tls::client_config(config.ca_file.as_deref()).map_err(StartError)?;
        let listener = Listener::bind((Ipv4Addr::LOCALHOST, 0).into())
            .map_err(|e| StartError(format!("cannot listen on 127.0.0.1: {e}")))?;
        let log = BoundedLog::new("trialrun loopback carrier", config.log_to_stderr);
        let carrier = Arc::new(Carrier {
            numbers: Mutex::new(config.numbers.clone()),
            config,
            http,
            tls,
            calls: Mutex::default(),
            ended: Mutex::default(),
            log,
        });
        let app = api::router(carrier.clone());
        Ok(LoopbackCarrier {
            carrier,
            served: Served::start(listener, app, STOP_GRACE),
        })
    }

    /// The REST API's base URL, to use in place of `https://api.twilio.com`.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.served.addr())
    }

    pub fn account_sid(&self) -> &str {
        &self.carrier.config.account_sid
    }

    pub fn auth_token(&self) -> &str {
        &self.carrier.config.auth_token
    }

    /// Points `number` at a voice webhook (as setting a Twilio number's voice URL does).
    pub fn set_number(&self, number: &str, voice_url: &str) {
        self.carrier
            .numbers
            .lock()
            .expect("numbers lock")
            .insert(number.to_string(), voice_url.to_string());
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        let calls = self.carrier.calls.lock().expect("calls lock");
        calls
            .values()
            .filter(|(_, leg)| *leg == call::CALLER)
            .count()
    }

    /// What the carrier saw of the far end of the call one of whose legs is `call_sid`.
    pub fn witness(&self) -> Arc<dyn FarEndWitness> {
        self.carrier.clone()
    }

    /// The lateness of every bridge clock tick so far, of calls still running and ended.
    pub fn lateness(&self, call_sid: &str) -> Option<Vec<u64>> {
        let lateness = self
            .carrier
            .calls
            .lock()
            .expect("calls lock")
            .get(call_sid)?
            .0
            .lateness
            .clone()?;
        let samples = lateness.lock().expect("lateness lock").clone();
        Some(samples)
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.carrier.log.lines()
    }

    /// Hangs up every call and stops the REST API.
    pub fn stop(&mut self) {
        for (call, _) in self.carrier.calls.lock().expect("calls lock").values() {
            call.hang_up.send_replace(true);
        }
        self.served.stop();
    }
}

impl Drop for LoopbackCarrier {
    fn drop(&mut self) {
        self.stop();
    }
}
