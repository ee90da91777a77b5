//! Python bindings of telephony: the call server, the loopback carrier, the Twilio REST
//! client and calls. Async methods return asyncio futures of the caller's running loop,
//! resolved from the telephony runtime through `call_soon_threadsafe`, so the Python loop
//! never blocks on the network.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::providers::{PyTextToSpeech, PythonSayCallable};
use super::speech::EspeakSpeech;
use crate::py::bridge::{spawn_for_asyncio, Deliver, Finish};
use crate::py::convert::{pcm_bytes, pcm_samples, secs};
use crate::telephony::call::{
    CallCommands, CallEnd, CallEvent, CallEvents, FarEndWitness, PacingStats,
};
use crate::telephony::loopback::faults::NetworkFaults;
use crate::telephony::loopback::{self, LoopbackConfig, SayVoice};
use crate::telephony::rest::{self, CreateCall, TwilioConfig};
use crate::telephony::server::{self, ServerConfig};
use crate::voice::say::SayWith;

/// Pacing figures as Python sees them: frames, and p50/p99/max lateness in milliseconds.
fn pacing_dict<'py>(py: Python<'py>, pacing: &PacingStats) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("frames", pacing.frames)?;
    dict.set_item("p50_ms", pacing.p50_us as f64 / 1000.0)?;
    dict.set_item("p99_ms", pacing.p99_us as f64 / 1000.0)?;
    dict.set_item("max_ms", pacing.max_us as f64 / 1000.0)?;
    Ok(dict)
}

/// One event of a call.
#[pyclass(frozen, module = "trialrun._core", name = "CallEvent")]
pub struct PyCallEvent(CallEvent);

#[pymethods]
impl PyCallEvent {
    /// status, started, audio, mark, dtmf, recording or ended.
    #[getter]
    fn kind(&self) -> &'static str {
        match &self.0 {
            CallEvent::Status { .. } => "status",
            CallEvent::Started { .. } => "started",
            CallEvent::Audio { .. } => "audio",
            CallEvent::Mark { .. } => "mark",
            CallEvent::Dtmf { .. } => "dtmf",
            CallEvent::Recording { .. } => "recording",
            CallEvent::Ended(_) => "ended",
        }
    }
    /// The call status (status events) or the recording status (recording events).
    #[getter]
    fn status(&self) -> Option<&str> {
        match &self.0 {
            CallEvent::Status { status } | CallEvent::Recording { status, .. } => Some(status),
            _ => None,
        }
    }
    #[getter]
    fn call_sid(&self) -> Option<&str> {
        match &self.0 {
            CallEvent::Started { call_sid, .. } => Some(call_sid),
            _ => None,
        }
    }
    #[getter]
    fn stream_sid(&self) -> Option<&str> {
        match &self.0 {
            CallEvent::Started { stream_sid, .. } => Some(stream_sid),
            _ => None,
        }
    }
    /// The stream's custom parameters (started events).
    #[getter]
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let CallEvent::Started { parameters, .. } = &self.0 else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        for (name, value) in parameters {
            dict.set_item(name, value)?;
        }
        Ok(Some(dict))
    }
    /// Milliseconds from the stream's start (audio events).
    #[getter]
    fn at_ms(&self) -> Option<u64> {
        match &self.0 {
            CallEvent::Audio { at_ms, .. } => Some(*at_ms),
            _ => None,
        }
    }
    /// The far end's audio: 16-bit little-endian PCM at 8 kHz (audio events).
    #[getter]
    fn audio<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        let CallEvent::Audio { samples, .. } = &self.0 else {
            return None;
        };
        Some(pcm_bytes(py, samples))
    }
    /// The mark's name (mark events).
    #[getter]
    fn name(&self) -> Option<&str> {
        match &self.0 {
            CallEvent::Mark { name } => Some(name),
            _ => None,
        }
    }
    #[getter]
    fn digit(&self) -> Option<&str> {
        match &self.0 {
            CallEvent::Dtmf { digit } => Some(digit),
            _ => None,
        }
    }
    #[getter]
    fn recording_url(&self) -> Option<&str> {
        match &self.0 {
            CallEvent::Recording { url, .. } => Some(url),
            _ => None,
        }
    }
    #[getter]
    fn recording_sid(&self) -> Option<&str> {
        match &self.0 {
            CallEvent::Recording { sid, .. } => Some(sid),
            _ => None,
        }
    }
    /// How the call ended (ended events): hung_up, far_end_hung_up, not_answered,
    /// max_duration, silence_timeout, protocol_error or carrier_error.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.end().map(|end| end.reason.as_str())
    }
    #[getter]
    fn detail(&self) -> Option<&str> {
        self.end().and_then(|end| end.detail.as_deref())
    }
    #[getter]
    fn duration_ms(&self) -> Option<u64> {
        self.end().map(|end| end.duration_ms)
    }
    /// Path of the two-channel WAV recording (caller left, agent right), if recorded.
    #[getter]
    fn recording_path(&self) -> Option<&str> {
        self.end().and_then(|end| end.recording_path.as_deref())
    }
    /// Outgoing frames and their lateness against the 20 ms clock (ended events).
    #[getter]
    fn pacing<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(end) = self.end() else {
            return Ok(None);
        };
        pacing_dict(py, &end.pacing).map(Some)
    }
    fn __repr__(&self) -> String {
        match &self.0 {
            CallEvent::Audio { at_ms, samples } => {
                format!("<CallEvent audio at {at_ms} ms, {} samples>", samples.len())
            }
            CallEvent::Ended(end) => format!(
                "<CallEvent ended: {}{}>",
                end.reason,
                end.detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            other => format!("<CallEvent {other:?}>"),
        }
    }
}

impl PyCallEvent {
    fn end(&self) -> Option<&CallEnd> {
        match &self.0 {
            CallEvent::Ended(end) => Some(end),
            _ => None,
        }
    }
}

/// One call: send audio, marks, clear and keys; `await call.next_event()` for what happens.
#[pyclass(frozen, module = "trialrun._core", name = "Call")]
pub struct PyCall {
    #[pyo3(get)]
    id: String,
    commands: CallCommands,
    events: SharedEvents,
}

/// A call's events, shared by the awaits on them: one at a time takes the next event.
pub(crate) type SharedEvents = Arc<tokio::sync::Mutex<CallEvents>>;

#[pymethods]
impl PyCall {
    /// Queues audio: 16-bit little-endian PCM at 8 kHz.
    fn send_audio(&self, py: Python<'_>, pcm: &[u8]) -> PyResult<()> {
        let samples = pcm_samples(pcm)?;
        Ok(py.detach(|| self.commands.send_pcm(&samples))?)
    }
    /// Queues audio already in G.711 mu-law at 8 kHz.
    fn send_mulaw(&self, mulaw: Vec<u8>) -> PyResult<()> {
        Ok(self.commands.send_mulaw(mulaw)?)
    }
    /// Queues key tones (0-9, *, #, A-D), sent in the audio as a phone sends them.
    fn send_dtmf(&self, digits: &str) -> PyResult<()> {
        Ok(self.commands.send_dtmf(digits)?)
    }
    /// Queues a mark: a "mark" event comes back once the audio before it has played.
    fn mark(&self, name: &str) -> PyResult<()> {
        Ok(self.commands.mark(name)?)
    }
    /// Drops audio not yet played (barge-in); marks queued behind it come back at once.
    fn clear(&self) -> PyResult<()> {
        Ok(self.commands.clear()?)
    }
    /// Ends the call; the last event is "ended" with reason hung_up.
    fn hang_up(&self) -> PyResult<()> {
        Ok(self.commands.hang_up()?)
    }
    /// An awaitable of the next event; None once the call ended and every event was taken.
    fn next_event<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.next(py, false)
    }
    /// `async for event in call`: every event, the last being "ended".
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.next(py, true)
    }
}

impl PyCall {
    /// The next event as an asyncio future; at the end None, or StopAsyncIteration when
    /// iterating.
    fn next<'py>(&self, py: Python<'py>, iterating: bool) -> PyResult<Bound<'py, PyAny>> {
        let events = self.events.clone();
        spawn_for_asyncio(py, async move {
            // The lock is held until the event reached its future or was put back, so the
            // next await cannot take a later event first.
            let mut events = events.lock_owned().await;
            let event = events.recv().await;
            Box::new(NextEvent {
                event,
                events,
                iterating,
            }) as Finish
        })
    }

    /// The call's commands and its event stream, for a driver in Rust (the simulated caller).
    pub(crate) fn parts(&self) -> (CallCommands, SharedEvents) {
        (self.commands.clone(), self.events.clone())
    }

    fn new(handle: crate::telephony::call::CallHandle) -> Self {
        let (id, commands, events) = handle.into_parts();
        Self {
            id,
            commands,
            events: Arc::new(tokio::sync::Mutex::new(events)),
        }
    }
}

/// The event one `next_event()` took, for its future; put back if the future was cancelled.
struct NextEvent {
    event: Option<CallEvent>,
    events: tokio::sync::OwnedMutexGuard<CallEvents>,
    iterating: bool,
}

impl Deliver for NextEvent {
    fn deliver(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.event {
            Some(event) => Ok(Py::new(py, PyCallEvent(event))?.into_any()),
            None if self.iterating => Err(PyStopAsyncIteration::new_err(())),
            None => Ok(py.None()),
        }
    }

    fn unwanted(self: Box<Self>) {
        let NextEvent {
            event, mut events, ..
        } = *self;
        if let Some(event) = event {
            events.put_back(event);
        }
    }
}

/// trialrun's call server (see telephony::server).
#[pyclass(frozen, module = "trialrun._core", name = "CallServerCore")]
pub struct CallServerCore {
    server: Mutex<Option<server::CallServer>>,
    #[pyo3(get)]
    url: String,
    #[pyo3(get)]
    port: u16,
}

#[pymethods]
impl CallServerCore {
    #[new]
    #[pyo3(signature = (*, host="127.0.0.1", port=0, public_url=None, auth_token=None, validate_signatures=true, max_message_bytes=65536, max_call_duration=600.0, silence_timeout=Some(60.0), recordings_dir=None, audio_events=true, log=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        host: &str,
        port: u16,
        public_url: Option<String>,
        auth_token: Option<String>,
        validate_signatures: bool,
        max_message_bytes: usize,
        max_call_duration: f64,
        silence_timeout: Option<f64>,
        recordings_dir: Option<PathBuf>,
        audio_events: bool,
        log: bool,
    ) -> PyResult<Self> {
        let host = host
            .parse()
            .map_err(|_| PyValueError::new_err(format!("host {host:?} is not an IP address")))?;
        if let Some(dir) = &recordings_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                PyValueError::new_err(format!("recordings_dir {}: {e}", dir.display()))
            })?;
        }
        let config = ServerConfig {
            host,
            port,
            public_url,
            auth_token,
            validate_signatures,
            max_message_bytes,
            max_call_duration: secs(max_call_duration, "max_call_duration")?,
            silence_timeout: silence_timeout
                .map(|s| secs(s, "silence_timeout"))
                .transpose()?,
            recordings_dir,
            audio_events,
            log_to_stderr: log,
        };
        let server = server::CallServer::start(config)?;
        let (url, port) = (server.public_url().to_string(), server.addr().port());
        Ok(Self {
            server: Mutex::new(Some(server)),
            url,
            port,
        })
    }

    /// A new outbound call, and the URLs to give the carrier for it: a dict with voice,
    /// status_callback and recording_status_callback.
    fn new_outbound_call<'py>(&self, py: Python<'py>) -> PyResult<(PyCall, Bound<'py, PyDict>)> {
        let guard = self.server.lock().expect("server lock");
        let server = guard.as_ref().ok_or_else(stopped)?;
        let (handle, urls) = server.new_outbound_call();
        let dict = PyDict::new(py);
        dict.set_item("voice", urls.voice)?;
        dict.set_item("status_callback", urls.status_callback)?;
        dict.set_item("recording_status_callback", urls.recording_status_callback)?;
        Ok((PyCall::new(handle), dict))
    }

    /// A call this server expects to receive (from this number, or from anyone).
    #[pyo3(signature = (from_=None))]
    fn expect_inbound_call(&self, from_: Option<String>) -> PyResult<PyCall> {
        let guard = self.server.lock().expect("server lock");
        Ok(PyCall::new(
            guard
                .as_ref()
                .ok_or_else(stopped)?
                .expect_inbound_call(from_),
        ))
    }

    /// The voice webhook URL to set on a number for inbound calls.
    #[getter]
    fn inbound_voice_url(&self) -> PyResult<String> {
        let guard = self.server.lock().expect("server lock");
        Ok(guard.as_ref().ok_or_else(stopped)?.inbound_voice_url())
    }

    /// Ends a call the carrier could not place (its last event says why).
    fn fail_call(&self, call_id: &str, detail: String) {
        if let Some(server) = self.server.lock().expect("server lock").as_ref() {
            server.fail_call(call_id, detail);
        }
    }

    /// Lateness of the frames sent on all calls since the server started, or since the last
    /// call with reset=True.
    #[pyo3(signature = (*, reset=false))]
    fn pacing<'py>(&self, py: Python<'py>, reset: bool) -> PyResult<Bound<'py, PyDict>> {
        let stats = self
            .server
            .lock()
            .expect("server lock")
            .as_ref()
            .ok_or_else(stopped)?
            .pacing(reset);
        pacing_dict(py, &stats)
    }

    fn log_lines(&self) -> Vec<String> {
        self.server
            .lock()
            .expect("server lock")
            .as_ref()
            .map(|s| s.log_lines())
            .unwrap_or_default()
    }

    /// Hangs up every call and stops the server (idempotent).
    fn stop(&self, py: Python<'_>) {
        let server = self.server.lock().expect("server lock").take();
        if let Some(mut server) = server {
            py.detach(move || server.stop());
        }
    }
}

fn stopped() -> PyErr {
    PyRuntimeError::new_err("the call server has been stopped")
}

/// What speaks the loopback carrier's `<Say>`, from what Python gave: a text-to-speech
/// provider or espeak-ng (spoken in Rust, no Python in the loop), or a callable (called on
/// a blocking thread, never on the runtime's workers). One adapter serves all three.
fn say_voice(speech: &Bound<'_, PyAny>) -> PyResult<Arc<dyn SayVoice>> {
    if let Ok(tts) = speech.cast::<PyTextToSpeech>() {
        return Ok(Arc::new(SayWith(tts.get().0.clone())));
    }
    if let Ok(espeak) = speech.cast::<EspeakSpeech>() {
        return Ok(Arc::new(SayWith(espeak.get().text_to_speech())));
    }
    if speech.is_callable() {
        let callable = PythonSayCallable(Arc::new(speech.clone().unbind()));
        return Ok(Arc::new(SayWith(Arc::new(callable))));
    }
    Err(PyTypeError::new_err(format!(
        "speech must be a TextToSpeech, an Espeak or a callable (text, voice, language) -> \
         bytes, not {}",
        speech.get_type().name()?
    )))
}

/// Network faults from their JSON (trialrun.telephony.NetworkFaults writes it).
fn network_faults(json: &str) -> PyResult<NetworkFaults> {
    let faults: NetworkFaults = serde_json::from_str(json)
        .map_err(|e| PyValueError::new_err(format!("network faults: {e}")))?;
    faults.validate().map_err(PyValueError::new_err)?;
    Ok(faults)
}

/// The loopback carrier (see telephony::loopback).
#[pyclass(frozen, module = "trialrun._core", name = "LoopbackCarrierCore")]
pub struct LoopbackCarrierCore {
    carrier: Mutex<Option<loopback::LoopbackCarrier>>,
    #[pyo3(get)]
    api_base: String,
    #[pyo3(get)]
    account_sid: String,
    #[pyo3(get)]
    auth_token: String,
}

impl LoopbackCarrierCore {
    /// What the carrier saw of calls' far ends, for the simulated caller's result.
    pub(crate) fn witness(&self) -> Option<Arc<dyn FarEndWitness>> {
        Some(
            self.carrier
                .lock()
                .expect("carrier lock")
                .as_ref()?
                .witness(),
        )
    }
}

#[pymethods]
impl LoopbackCarrierCore {
    #[new]
    #[pyo3(signature = (numbers, *, account_sid=None, auth_token=None, speech=None, max_call_duration=600.0, jitter_buffer=0.08, ca_file=None, log=false, measure_lateness=false, faults=None, dial_targets=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        numbers: HashMap<String, String>,
        account_sid: Option<String>,
        auth_token: Option<String>,
        speech: Option<Bound<'_, PyAny>>,
        max_call_duration: f64,
        jitter_buffer: f64,
        ca_file: Option<PathBuf>,
        log: bool,
        measure_lateness: bool,
        faults: Option<String>,
        dial_targets: Option<String>,
    ) -> PyResult<Self> {
        let faults = faults.as_deref().map(network_faults).transpose()?;
        let dial_targets = dial_targets
            .as_deref()
            .map(loopback::dial::parse_targets)
            .transpose()
            .map_err(PyValueError::new_err)?
            .unwrap_or_default();
        let mut config = LoopbackConfig {
            faults,
            ca_file,
            jitter_buffer: secs(jitter_buffer, "jitter_buffer")?,
            numbers,
            speech: speech.as_ref().map(say_voice).transpose()?,
            max_call_duration: secs(max_call_duration, "max_call_duration")?,
            log_to_stderr: log,
            measure_lateness,
            dial_targets,
            ..LoopbackConfig::default()
        };
        if let Some(sid) = account_sid {
            config.account_sid = sid;
        }
        if let Some(token) = auth_token {
            config.auth_token = token;
        }
        let carrier = loopback::LoopbackCarrier::start(config)?;
        Ok(Self {
            api_base: carrier.api_base(),
            account_sid: carrier.account_sid().to_string(),
            auth_token: carrier.auth_token().to_string(),
            carrier: Mutex::new(Some(carrier)),
        })
    }

    /// Points a number at a voice webhook.
    fn set_number(&self, number: &str, voice_url: &str) {
        if let Some(carrier) = self.carrier.lock().expect("carrier lock").as_ref() {
            carrier.set_number(number, voice_url);
        }
    }

    fn active_calls(&self) -> usize {
        self.carrier
            .lock()
            .expect("carrier lock")
            .as_ref()
            .map_or(0, |c| c.active_calls())
    }

    /// Bridge-clock lateness of a running call's ticks, in microseconds (with
    /// measure_lateness=True).
    fn lateness(&self, call_sid: &str) -> Option<Vec<u64>> {
        self.carrier
            .lock()
            .expect("carrier lock")
            .as_ref()?
            .lateness(call_sid)
    }

    fn log_lines(&self) -> Vec<String> {
        self.carrier
            .lock()
            .expect("carrier lock")
            .as_ref()
            .map(|c| c.log_lines())
            .unwrap_or_default()
    }

    /// Hangs up every call and stops the REST API (idempotent).
    fn stop(&self, py: Python<'_>) {
        let carrier = self.carrier.lock().expect("carrier lock").take();
        if let Some(mut carrier) = carrier {
            py.detach(move || carrier.stop());
        }
    }
}

/// Twilio's REST API client (see telephony::rest).
#[pyclass(frozen, module = "trialrun._core", name = "TwilioClient")]
pub struct PyTwilioClient {
    client: rest::TwilioClient,
    #[pyo3(get)]
    api_base: String,
}

fn call_dict(py: Python<'_>, call: &rest::Call) -> PyResult<Py<PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item("sid", &call.sid)?;
    dict.set_item("status", &call.status)?;
    dict.set_item("direction", &call.direction)?;
    dict.set_item("from", &call.from)?;
    dict.set_item("to", &call.to)?;
    dict.set_item("duration", call.duration_seconds())?;
    dict.set_item("start_time", &call.start_time)?;
    dict.set_item("end_time", &call.end_time)?;
    dict.set_item("answered_by", &call.answered_by)?;
    Ok(dict.into_any().unbind())
}

#[pymethods]
impl PyTwilioClient {
    #[new]
    #[pyo3(signature = (account_sid, auth_token, *, api_base=None, calls_per_second=1.0, max_retries=3, timeout=15.0))]
    fn new(
        account_sid: String,
        auth_token: String,
        api_base: Option<String>,
        calls_per_second: f64,
        max_retries: u32,
        timeout: f64,
    ) -> PyResult<Self> {
        let mut config = TwilioConfig::new(account_sid, auth_token);
        if let Some(base) = api_base {
            config.api_base = base;
        }
        config.calls_per_second = calls_per_second;
        config.max_retries = max_retries;
        config.timeout = secs(timeout, "timeout")?;
        let api_base = config.api_base.clone();
        let client =
            rest::TwilioClient::new(config).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { client, api_base })
    }

    /// Creates a call (Twilio's parameters, in snake case); resolves to the call as a dict.
    #[pyo3(signature = (*, to, from_, url=None, twiml=None, method=None, status_callback=None, status_callback_event=None, status_callback_method=None, record=false, recording_channels=None, recording_status_callback=None, timeout=None, machine_detection=None, send_digits=None, network_faults=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_call<'py>(
        &self,
        py: Python<'py>,
        to: String,
        from_: String,
        url: Option<String>,
        twiml: Option<String>,
        method: Option<String>,
        status_callback: Option<String>,
        status_callback_event: Option<Vec<String>>,
        status_callback_method: Option<String>,
        record: bool,
        recording_channels: Option<String>,
        recording_status_callback: Option<String>,
        timeout: Option<u32>,
        machine_detection: Option<String>,
        send_digits: Option<String>,
        network_faults: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = CreateCall {
            network_faults,
            to,
            from: from_,
            url,
            twiml,
            method,
            status_callback,
            status_callback_event: status_callback_event.unwrap_or_default(),
            status_callback_method,
            record,
            recording_channels,
            recording_status_callback,
            timeout_s: timeout,
            machine_detection,
            send_digits,
        };
        let client = self.client.clone();
        spawn_for_asyncio(py, async move {
            let result = client.create_call(&request).await;
            Box::new(move |py: Python<'_>| call_dict(py, &result?)) as Finish
        })
    }

    fn fetch_call<'py>(&self, py: Python<'py>, sid: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        spawn_for_asyncio(py, async move {
            let result = client.fetch_call(&sid).await;
            Box::new(move |py: Python<'_>| call_dict(py, &result?)) as Finish
        })
    }

    fn hang_up<'py>(&self, py: Python<'py>, sid: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        spawn_for_asyncio(py, async move {
            let result = client.hang_up(&sid).await;
            Box::new(move |py: Python<'_>| call_dict(py, &result?)) as Finish
        })
    }

    /// Points an incoming number (E.164 or PN sid) at a voice webhook; resolves to None.
    #[pyo3(signature = (number, voice_url, method="POST"))]
    fn set_incoming_number_voice_url<'py>(
        &self,
        py: Python<'py>,
        number: String,
        voice_url: String,
        method: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, method) = (self.client.clone(), method.to_string());
        spawn_for_asyncio(py, async move {
            let result = client
                .set_incoming_number_voice_url(&number, &voice_url, Some(&method))
                .await;
            Box::new(move |py: Python<'_>| {
                result?;
                Ok(py.None())
            }) as Finish
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCallEvent>()?;
    m.add_class::<PyCall>()?;
    m.add_class::<CallServerCore>()?;
    m.add_class::<LoopbackCarrierCore>()?;
    m.add_class::<PyTwilioClient>()?;
    Ok(())
}
