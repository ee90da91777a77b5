//! Python bindings of the voice side: model providers as opaque handles (built-in HTTP
//! clients, or Python objects adapted to the Rust traits), personas, and the simulated
//! caller run on a call, resolving an asyncio future with what the call came to.
//!
//! Python objects used as providers are called on a blocking thread with the GIL, never on
//! the runtime's workers, so a slow model in Python does not stall other calls' audio.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::caller::{keys_list, utterances_list};
use crate::audio::PHONE_RATE;
use crate::py::bridge::{spawn_for_asyncio, Finish};
use crate::py::convert::{pcm_bytes, pcm_samples, secs, to_json, to_python};
use crate::voice::persona::{
    CallerPersona, LlmPersona, LlmPersonaOptions, Persona, Reply, ScriptedPersona, Turn,
};
use crate::voice::providers::chat_body::chat_request_from_body;
use crate::voice::providers::openai::chat_request_fields;
use crate::voice::providers::{
    ApiKey, Audio16, CartesiaConfig, CartesiaTts, ChatRequest, ChatResponse, DeepgramConfig,
    DeepgramStt, ElevenLabsConfig, ElevenLabsTts, LanguageModel, MaxTokensField, OpenAiChat,
    OpenAiChatConfig, OpenAiSpeech, OpenAiSpeechConfig, OpenAiTranscription,
    OpenAiTranscriptionConfig, ProviderError, SpeechToText, TextToSpeech, ToolCall, Transcript,
};

// ---------------------------------------------------------------------------------------
// Provider handles

/// A key given in Python, else the vendor's environment variable (the error names it).
fn key_or_env(
    key: Option<String>,
    provider: &'static str,
    variable: &'static str,
) -> PyResult<ApiKey> {
    match key {
        Some(key) => Ok(ApiKey::new(key)),
        None => Ok(ApiKey::from_env(provider, variable)?),
    }
}

/// The key for an OpenAI-compatible server: the one given; none for a server of the user's
/// own (a base_url was given); else OPENAI_API_KEY, required.
fn openai_key(api_key: Option<String>, own_server: bool) -> PyResult<Option<ApiKey>> {
    match (api_key, own_server) {
        (Some(key), _) => Ok(Some(ApiKey::new(key))),
        (None, true) => Ok(None),
        (None, false) => key_or_env(
            None,
            "OpenAI",
            crate::voice::providers::openai::KEY_VARIABLE,
        )
        .map(Some),
    }
}

fn timeout(seconds: f64) -> PyResult<Duration> {
    secs(seconds, "timeout")
}

/// A language model (chat completions).
#[pyclass(frozen, module = "trialrun._core", name = "LanguageModel")]
pub struct PyLanguageModel(pub(crate) Arc<dyn LanguageModel>);

#[pymethods]
impl PyLanguageModel {
    /// An OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp). Without
    /// `api_key`, OPENAI_API_KEY is read when `base_url` is OpenAI's; a local server needs none.
    /// Each request first waits for the rate budget `limit_key` (default "openai") when
    /// `trialrun.limit_key` set one, shared with fn's own calls and every other provider.
    #[staticmethod]
    #[pyo3(signature = (model, *, base_url=None, api_key=None, max_completion_tokens=false, timeout=60.0, limit_key=None))]
    fn openai(
        model: String,
        base_url: Option<String>,
        api_key: Option<String>,
        max_completion_tokens: bool,
        timeout: f64,
        limit_key: Option<String>,
    ) -> PyResult<Self> {
        let mut config = OpenAiChatConfig::new(model);
        config.limit_key = limit_key;
        let local = base_url.is_some();
        if let Some(url) = base_url {
            config.base_url = url;
        }
        if max_completion_tokens {
            config.max_tokens_field = MaxTokensField::MaxCompletionTokens;
        }
        config.timeout = self::timeout(timeout)?;
        let chat = OpenAiChat::new(config, openai_key(api_key, local)?)?;
        Ok(Self(Arc::new(chat)))
    }

    /// Any Python object with `chat(request: dict) -> str | dict`: the request is an OpenAI
    /// chat-completions body without `model` (messages, tools, response_format, ...); the
    /// answer is the text, or {"content", "tool_calls": [{"id", "name", "arguments"}]}, or an
    /// OpenAI completion.
    #[staticmethod]
    fn python(py: Python<'_>, obj: Py<PyAny>) -> PyResult<Self> {
        require_method(py, &obj, "chat", "language-model")?;
        Ok(Self(Arc::new(PythonChat(Arc::new(obj)))))
    }

    /// One chat completion: `request` is an OpenAI chat-completions body without `model`
    /// (messages, tools, tool_choice, response_format, temperature, max_tokens); an awaitable
    /// of {"content", "tool_calls": [{"id", "name", "arguments"}], "finish_reason",
    /// "usage"}. A bad body raises ValueError naming the field, before any request.
    fn chat<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body: serde_json::Value =
            serde_json::from_str(&to_json(request.as_any())).map_err(|e| {
                PyValueError::new_err(format!("the chat request is not JSON data: {e}"))
            })?;
        let body = body.as_object().cloned().unwrap_or_default();
        let request = chat_request_from_body(&body)
            .map_err(|e| PyValueError::new_err(format!("chat request: {e}")))?;
        let model = self.0.clone();
        spawn_for_asyncio(py, async move {
            let answer = model.chat(request).await;
            Box::new(move |py: Python<'_>| -> PyResult<Py<PyAny>> {
                let answer = answer?;
                let tool_calls: Vec<serde_json::Value> = answer
                    .tool_calls
                    .iter()
                    .map(|c| serde_json::json!({"id": c.id, "name": c.name, "arguments": c.arguments}))
                    .collect();
                let usage = answer.usage.map(|u| {
                    serde_json::json!({
                        "prompt_tokens": u.prompt_tokens,
                        "completion_tokens": u.completion_tokens,
                        "total_tokens": u.total_tokens,
                    })
                });
                to_python(
                    py,
                    &serde_json::json!({
                        "content": answer.text,
                        "tool_calls": tool_calls,
                        "finish_reason": answer.finish_reason,
                        "usage": usage,
                    }),
                )
            }) as Finish
        })
    }

    fn __repr__(&self) -> String {
        "LanguageModel(...)".into()
    }
}

/// Speech to text.
#[pyclass(frozen, module = "trialrun._core", name = "SpeechToText")]
pub struct PySpeechToText(pub(crate) Arc<dyn SpeechToText>);

#[pymethods]
impl PySpeechToText {
    /// OpenAI-compatible `audio/transcriptions` (OpenAI, faster-whisper-server, LocalAI...).
    #[staticmethod]
    #[pyo3(signature = (model="whisper-1".to_string(), *, base_url=None, api_key=None, timeout=60.0))]
    fn openai(
        model: String,
        base_url: Option<String>,
        api_key: Option<String>,
        timeout: f64,
    ) -> PyResult<Self> {
        let mut config = OpenAiTranscriptionConfig::new(model);
        let local = base_url.is_some();
        if let Some(url) = base_url {
            config.base_url = url;
        }
        config.timeout = self::timeout(timeout)?;
        let stt = OpenAiTranscription::new(config, openai_key(api_key, local)?)?;
        Ok(Self(Arc::new(stt)))
    }

    /// Deepgram's pre-recorded API; the key defaults to DEEPGRAM_API_KEY.
    #[staticmethod]
    #[pyo3(signature = (model=None, *, base_url=None, api_key=None, timeout=60.0))]
    fn deepgram(
        model: Option<String>,
        base_url: Option<String>,
        api_key: Option<String>,
        timeout: f64,
    ) -> PyResult<Self> {
        let mut config = DeepgramConfig::default();
        if let Some(model) = model {
            config.model = model;
        }
        if let Some(url) = base_url {
            config.base_url = url;
        }
        config.timeout = self::timeout(timeout)?;
        let key = key_or_env(
            api_key,
            crate::voice::providers::deepgram::PROVIDER,
            crate::voice::providers::deepgram::KEY_VARIABLE,
        )?;
        Ok(Self(Arc::new(DeepgramStt::new(config, key)?)))
    }

    /// Any Python object with `transcribe(pcm: bytes, rate: int, language: str | None) -> str`.
    #[staticmethod]
    fn python(py: Python<'_>, obj: Py<PyAny>) -> PyResult<Self> {
        require_method(py, &obj, "transcribe", "speech-to-text")?;
        Ok(Self(Arc::new(PythonStt(Arc::new(obj)))))
    }

    fn __repr__(&self) -> String {
        "SpeechToText(...)".into()
    }
}

/// Text to speech.
#[pyclass(frozen, module = "trialrun._core", name = "TextToSpeech")]
pub struct PyTextToSpeech(pub(crate) Arc<dyn TextToSpeech>);

#[pymethods]
impl PyTextToSpeech {
    /// OpenAI-compatible `audio/speech`.
    #[staticmethod]
    #[pyo3(signature = (model="gpt-4o-mini-tts".to_string(), *, voice=None, base_url=None, api_key=None, timeout=60.0))]
    fn openai(
        model: String,
        voice: Option<String>,
        base_url: Option<String>,
        api_key: Option<String>,
        timeout: f64,
    ) -> PyResult<Self> {
        let mut config = OpenAiSpeechConfig::new(model);
        let local = base_url.is_some();
        if let Some(url) = base_url {
            config.base_url = url;
        }
        if let Some(voice) = voice {
            config.default_voice = voice;
        }
        config.timeout = self::timeout(timeout)?;
        let tts = OpenAiSpeech::new(config, openai_key(api_key, local)?)?;
        Ok(Self(Arc::new(tts)))
    }

    /// ElevenLabs; the key defaults to ELEVENLABS_API_KEY.
    #[staticmethod]
    #[pyo3(signature = (voice=None, *, model_id=None, base_url=None, api_key=None, timeout=60.0))]
    fn elevenlabs(
        voice: Option<String>,
        model_id: Option<String>,
        base_url: Option<String>,
        api_key: Option<String>,
        timeout: f64,
    ) -> PyResult<Self> {
        let mut config = ElevenLabsConfig::default();
        let fields = (
            &mut config.default_voice,
            &mut config.model_id,
            &mut config.base_url,
            &mut config.timeout,
        );
        vendor_tts_settings(fields, voice, model_id, base_url, timeout)?;
        let key = key_or_env(
            api_key,
            crate::voice::providers::elevenlabs::PROVIDER,
            crate::voice::providers::elevenlabs::KEY_VARIABLE,
        )?;
        Ok(Self(Arc::new(ElevenLabsTts::new(config, key)?)))
    }

    /// Cartesia; the key defaults to CARTESIA_API_KEY.
    #[staticmethod]
    #[pyo3(signature = (voice=None, *, model_id=None, base_url=None, api_key=None, timeout=60.0))]
    fn cartesia(
        voice: Option<String>,
        model_id: Option<String>,
        base_url: Option<String>,
        api_key: Option<String>,
        timeout: f64,
    ) -> PyResult<Self> {
        let mut config = CartesiaConfig::default();
        let fields = (
            &mut config.default_voice,
            &mut config.model_id,
            &mut config.base_url,
            &mut config.timeout,
        );
        vendor_tts_settings(fields, voice, model_id, base_url, timeout)?;
        let key = key_or_env(
            api_key,
            crate::voice::providers::cartesia::PROVIDER,
            crate::voice::providers::cartesia::KEY_VARIABLE,
        )?;
        Ok(Self(Arc::new(CartesiaTts::new(config, key)?)))
    }

    /// espeak-ng, offline, in Rust (no Python in the loop): `trialrun.voice.offline.Espeak().core`.
    #[staticmethod]
    fn espeak(engine: &super::speech::EspeakSpeech) -> Self {
        Self(engine.text_to_speech())
    }

    /// Any Python object with `synthesize(text: str, voice: str | None) -> (bytes, rate)`
    /// (16-bit mono PCM and its sample rate).
    #[staticmethod]
    fn python(py: Python<'_>, obj: Py<PyAny>) -> PyResult<Self> {
        require_method(py, &obj, "synthesize", "text-to-speech")?;
        Ok(Self(Arc::new(PythonTts(Arc::new(obj)))))
    }

    fn __repr__(&self) -> String {
        "TextToSpeech(...)".into()
    }
}

/// The settings ElevenLabs and Cartesia share (voice, model, base URL, timeout), where given.
fn vendor_tts_settings(
    (default_voice, model, url, timeout_field): (
        &mut String,
        &mut String,
        &mut String,
        &mut Duration,
    ),
    voice: Option<String>,
    model_id: Option<String>,
    base_url: Option<String>,
    timeout: f64,
) -> PyResult<()> {
    for (field, value) in [(default_voice, voice), (model, model_id), (url, base_url)] {
        if let Some(value) = value {
            *field = value;
        }
    }
    *timeout_field = self::timeout(timeout)?;
    Ok(())
}

fn require_method(py: Python<'_>, obj: &Py<PyAny>, name: &str, what: &str) -> PyResult<()> {
    let bound = obj.bind(py);
    if !bound.getattr(name).is_ok_and(|m| m.is_callable()) {
        let type_name = bound.get_type().name()?;
        return Err(PyValueError::new_err(format!(
            "a {what} provider needs a {name}() method; {type_name} has none"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Python objects as providers

/// Runs `f` with the GIL on a blocking thread; a Python exception becomes a provider error.
async fn with_python<T: Send + 'static>(
    provider: &'static str,
    operation: &'static str,
    f: impl FnOnce(Python<'_>) -> PyResult<T> + Send + 'static,
) -> Result<T, ProviderError> {
    // Never attach to an interpreter that is shutting down (the process is exiting mid-call).
    let joined = tokio::task::spawn_blocking(move || Python::try_attach(f)).await;
    let decode = |detail: String| ProviderError::Decode {
        provider,
        operation,
        detail,
    };
    match joined {
        Ok(Some(Ok(value))) => Ok(value),
        Ok(Some(Err(e))) => Err(decode(e.to_string())),
        Ok(None) => Err(decode("Python is shutting down".into())),
        Err(e) => Err(decode(format!("the Python provider's thread failed: {e}"))),
    }
}

struct PythonChat(Arc<Py<PyAny>>);

impl LanguageModel for PythonChat {
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>> {
        let obj = self.0.clone();
        let fields = chat_request_fields(&request, MaxTokensField::MaxTokens);
        with_python("Python language model", "chat", move |py| {
            let request = to_python(py, &fields)?;
            chat_answer(&obj.bind(py).call_method1("chat", (request,))?)
        })
        .boxed()
    }
}

/// A Python language model's answer: text, a {content, tool_calls} dict, or an OpenAI
/// completion (its first choice's message).
fn chat_answer(answer: &Bound<'_, PyAny>) -> PyResult<ChatResponse> {
    let text_only = |text| ChatResponse {
        text,
        tool_calls: vec![],
        finish_reason: None,
        usage: None,
    };
    if answer.is_none() {
        return Ok(text_only(None));
    }
    if let Ok(text) = answer.extract::<String>() {
        return Ok(text_only(Some(text)));
    }
    let mut message = answer
        .cast::<PyDict>()
        .map_err(|_| PyValueError::new_err("chat() must return a str, a dict or None"))?
        .clone();
    if let Some(choices) = message.get_item("choices")? {
        let first = choices
            .get_item(0)
            .map_err(|_| PyValueError::new_err("the completion has no choices"))?;
        message = first
            .get_item("message")?
            .cast_into::<PyDict>()
            .map_err(|_| PyValueError::new_err("choices[0].message must be a dict"))?;
    }
    let text = match message.get_item("content")? {
        Some(v) if !v.is_none() => Some(
            v.extract::<String>()
                .map_err(|_| PyValueError::new_err("content must be a str"))?,
        ),
        _ => None,
    };
    let mut tool_calls = Vec::new();
    if let Some(calls) = message.get_item("tool_calls")?.filter(|c| !c.is_none()) {
        for (i, call) in calls.try_iter()?.enumerate() {
            let call = call?;
            // OpenAI's shape nests name and arguments under "function".
            let function = match call.get_item("function") {
                Ok(f) => f,
                Err(_) => call.clone(),
            };
            let name: String = function
                .get_item("name")
                .and_then(|n| n.extract())
                .map_err(|_| PyValueError::new_err(format!("tool_calls[{i}] has no name")))?;
            let arguments = match function.get_item("arguments") {
                Err(_) => serde_json::json!({}),
                Ok(a) if a.is_none() => serde_json::json!({}),
                Ok(a) => match a.extract::<String>() {
                    Ok(text) => serde_json::from_str(&text).map_err(|e| {
                        PyValueError::new_err(format!("tool_calls[{i}].arguments is not JSON: {e}"))
                    })?,
                    Err(_) => serde_json::from_str(&to_json(&a)).map_err(|e| {
                        PyValueError::new_err(format!("tool_calls[{i}].arguments: {e}"))
                    })?,
                },
            };
            let id = call
                .get_item("id")
                .and_then(|v| v.extract::<String>())
                .unwrap_or_else(|_| format!("call_{i}"));
            tool_calls.push(ToolCall {
                id,
                name,
                arguments,
            });
        }
    }
    Ok(ChatResponse {
        text,
        tool_calls,
        finish_reason: None,
        usage: None,
    })
}

struct PythonStt(Arc<Py<PyAny>>);

impl SpeechToText for PythonStt {
    fn transcribe<'a>(
        &'a self,
        audio: Audio16,
        language: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Transcript, ProviderError>> {
        let obj = self.0.clone();
        let language = language.map(str::to_string);
        with_python("Python speech-to-text", "transcription", move |py| {
            let pcm = pcm_bytes(py, &audio.samples);
            let text: String = obj
                .bind(py)
                .call_method1("transcribe", (pcm, audio.rate, language))?
                .extract()?;
            Ok(Transcript {
                text,
                ..Transcript::default()
            })
        })
        .boxed()
    }
}

struct PythonTts(Arc<Py<PyAny>>);

impl TextToSpeech for PythonTts {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        let obj = self.0.clone();
        let (text, voice) = (text.to_string(), voice.map(str::to_string));
        with_python("Python text-to-speech", "speech", move |py| {
            let (pcm, rate): (Vec<u8>, u32) = obj
                .bind(py)
                .call_method1("synthesize", (text, voice))?
                .extract()?;
            Ok(Audio16::new(rate, pcm_samples(&pcm)?))
        })
        .boxed()
    }
}

/// The loopback carrier's `speech=` callable, `(text, voice, language) -> bytes` of 16-bit
/// PCM at 8 kHz, as a text-to-speech provider: it is handed TwiML's voice and language.
pub(super) struct PythonSayCallable(pub(super) Arc<Py<PyAny>>);

impl PythonSayCallable {
    fn speak(
        &self,
        text: &str,
        voice: Option<&str>,
        language: Option<&str>,
    ) -> BoxFuture<'static, Result<Audio16, ProviderError>> {
        let callable = self.0.clone();
        let (text, voice, language) = (
            text.to_string(),
            voice.map(str::to_string),
            language.map(str::to_string),
        );
        with_python("the speech callable", "speech", move |py| {
            let out = callable.bind(py).call1((text, voice, language))?;
            let bytes: Vec<u8> = out
                .extract()
                .map_err(|_| PyTypeError::new_err("it must return bytes (16-bit PCM at 8 kHz)"))?;
            Ok(Audio16::new(PHONE_RATE, pcm_samples(&bytes)?))
        })
        .boxed()
    }
}

impl TextToSpeech for PythonSayCallable {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        self.speak(text, voice, None)
    }

    fn synthesize_for_say<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
        language: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        self.speak(text, voice, language)
    }
}

/// A Python persona: `reply(turn: dict) -> dict | str | None`, the dict having any of
/// "say", "keys" and "hang_up" (a reason, or True).
struct PythonPersona(Arc<Py<PyAny>>);

impl Persona for PythonPersona {
    fn reply<'a>(&'a mut self, turn: Turn<'a>) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        let obj = self.0.clone();
        let utterances = turn.utterances.to_vec();
        let keys = turn.keys.to_vec();
        let (elapsed_ms, replies, after_silence) =
            (turn.elapsed_ms, turn.replies, turn.after_silence);
        with_python("Python persona", "reply", move |py| {
            let turn = PyDict::new(py);
            turn.set_item("transcript", utterances_list(py, &utterances)?)?;
            turn.set_item("keys", keys_list(py, &keys)?)?;
            turn.set_item("elapsed", elapsed_ms as f64 / 1000.0)?;
            turn.set_item("replies", replies)?;
            turn.set_item("after_silence", after_silence)?;
            reply_from_python(&obj.bind(py).call_method1("reply", (turn,))?)
        })
        .boxed()
    }
}

fn reply_from_python(value: &Bound<'_, PyAny>) -> PyResult<Reply> {
    if value.is_none() {
        return Ok(Reply::default());
    }
    if let Ok(text) = value.extract::<String>() {
        return Ok(Reply {
            say: Some(text),
            ..Reply::default()
        });
    }
    let dict = value
        .cast::<PyDict>()
        .map_err(|_| PyValueError::new_err("a persona's reply must be a str, a dict or None"))?;
    let text = |key: &str| -> PyResult<Option<String>> {
        match dict.get_item(key)? {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => v
                .extract()
                .map(Some)
                .map_err(|_| PyValueError::new_err(format!("reply[{key:?}] must be a str"))),
        }
    };
    let hang_up =
        match dict.get_item("hang_up")? {
            Some(v) if v.is_none() => None,
            Some(v) if v.extract::<bool>().is_ok() => v
                .extract::<bool>()?
                .then(|| "the persona ended the call".to_string()),
            Some(v) => Some(v.extract::<String>().map_err(|_| {
                PyValueError::new_err("reply[\"hang_up\"] must be a reason or True")
            })?),
            None => None,
        };
    Ok(Reply {
        say: text("say")?,
        keys: text("keys")?,
        hang_up,
        barge_in_ms: None,
    })
}

/// A persona for one call.
#[pyclass(frozen, module = "trialrun._core", name = "Persona")]
pub struct PyPersona(pub(super) Mutex<Option<Box<dyn Persona>>>);

impl PyPersona {
    pub(crate) fn new(persona: Box<dyn Persona>) -> Self {
        Self(Mutex::new(Some(persona)))
    }
}

#[pymethods]
impl PyPersona {
    /// A caller following a script: a list of lines, or {"lines", "rules", "on_silence"}
    /// (see ScriptedPersona). Errors name the bad entry, e.g. `script: lines[2].keys: ...`.
    #[staticmethod]
    fn scripted(script: &Bound<'_, PyAny>) -> PyResult<Self> {
        let value: serde_json::Value = serde_json::from_str(&to_json(script))
            .map_err(|e| PyValueError::new_err(format!("script: not plain data: {e}")))?;
        let persona = ScriptedPersona::from_json(&value)
            .map_err(|e| PyValueError::new_err(format!("script: {e}")))?;
        Ok(Self::new(Box::new(persona)))
    }

    /// A caller played by a language model: who calls (fixa's Agent) and what it wants
    /// (the scenario's prompt).
    #[staticmethod]
    #[pyo3(signature = (model, *, agent_name, agent_prompt, scenario_prompt, temperature=None, max_tokens=None, language=None))]
    #[allow(clippy::too_many_arguments)]
    fn llm(
        model: &PyLanguageModel,
        agent_name: String,
        agent_prompt: String,
        scenario_prompt: String,
        temperature: Option<f32>,
        max_tokens: Option<u32>,
        language: Option<String>,
    ) -> Self {
        let options = LlmPersonaOptions {
            temperature,
            max_tokens,
            language,
            ..LlmPersonaOptions::default()
        };
        let caller = CallerPersona::new(agent_name, agent_prompt);
        Self::new(Box::new(LlmPersona::new(
            model.0.clone(),
            caller,
            scenario_prompt,
            options,
        )))
    }

    /// A Python object with `reply(turn: dict) -> dict | str | None`.
    #[staticmethod]
    fn python(py: Python<'_>, obj: Py<PyAny>) -> PyResult<Self> {
        require_method(py, &obj, "reply", "persona")?;
        Ok(Self::new(Box::new(PythonPersona(Arc::new(obj)))))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLanguageModel>()?;
    m.add_class::<PySpeechToText>()?;
    m.add_class::<PyTextToSpeech>()?;
    m.add_class::<PyPersona>()?;
    Ok(())
}
