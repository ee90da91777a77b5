//! Model providers for voice-agent tests: language models, speech-to-text and
//! text-to-speech behind small object-safe traits, with HTTP clients for OpenAI-compatible
//! servers (OpenAI, vLLM, Ollama, llama.cpp), Deepgram, ElevenLabs and Cartesia, and
//! espeak-ng for offline text-to-speech (no key, no network).
//!
//! Requests go only to the configured base URL (the vendor's public endpoint by default).
//! Keys travel in headers only, never in URLs, errors or `Debug` output. 429, 5xx and
//! connection failures are retried with backoff (the shared [`crate::net::retry`]).

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::Url;
use serde_json::Value;

use crate::audio::pcm;
use crate::net::retry::{self, Answer, Failure, RetryPolicy};

pub mod cartesia;
pub mod chat_body;
pub mod deepgram;
pub mod elevenlabs;
pub mod espeak;
pub mod openai;

pub use cartesia::{CartesiaConfig, CartesiaTts};
pub use deepgram::{DeepgramConfig, DeepgramStt};
pub use elevenlabs::{ElevenLabsConfig, ElevenLabsTts};
pub use openai::{
    MaxTokensField, OpenAiChat, OpenAiChatConfig, OpenAiSpeech, OpenAiSpeechConfig,
    OpenAiTranscription, OpenAiTranscriptionConfig,
};

#[cfg(test)]
pub(crate) mod fake_model;
#[cfg(test)]
pub(crate) mod fake_vendor;
#[cfg(test)]
mod tests;

// ---------------------------------------------------------------------------------------
// Traits

/// A chat model: messages (and tools) in, text or tool calls out.
pub trait LanguageModel: Send + Sync {
    /// One chat completion.
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>>;
}

/// Speech to text for a whole utterance.
pub trait SpeechToText: Send + Sync {
    /// Transcribes mono PCM; `language` is a hint such as `"en"`.
    fn transcribe<'a>(
        &'a self,
        audio: Audio16,
        language: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Transcript, ProviderError>>;
}

/// Text to speech for a whole utterance.
pub trait TextToSpeech: Send + Sync {
    /// Synthesizes `text` with `voice` (the provider's voice name or id), or the configured
    /// default voice.
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>>;

    /// Speaks a TwiML `<Say voice= language=>`. TwiML's voice names (alice, Polly.Joanna)
    /// are Twilio's, not this provider's: by default the configured voice speaks; a provider
    /// that can match a voice or language of its own does.
    fn synthesize_for_say<'a>(
        &'a self,
        text: &'a str,
        _voice: Option<&'a str>,
        _language: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        self.synthesize(text, None)
    }
}

// ---------------------------------------------------------------------------------------
// Chat types

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering the assistant's tool call `tool_call_id`.
    Tool,
}

impl Role {
    /// The wire name: `system`, `user`, `assistant`, `tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    /// The text; `None` for an assistant message that only calls tools.
    pub content: Option<String>,
    /// For `Role::Tool`: the call this answers.
    pub tool_call_id: Option<String>,
    /// For `Role::Assistant`: the tools it called.
    pub tool_calls: Vec<ToolCall>,
}

impl Message {
    fn text(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            tool_call_id: None,
            tool_calls: vec![],
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::text(Role::System, content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::text(Role::User, content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(Role::Assistant, content)
    }

    /// The assistant's turn that called tools (as returned in [`ChatResponse::tool_calls`]).
    #[cfg(test)]
    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            content: None,
            tool_call_id: None,
            tool_calls,
        }
    }

    /// A tool's result for the call `tool_call_id`.
    #[cfg(test)]
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: Some(content.into()),
            tool_call_id: Some(tool_call_id.into()),
            tool_calls: vec![],
        }
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments, parsed from the JSON the model wrote.
    pub arguments: Value,
}

/// A tool the model may call (a function with JSON-schema parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// A JSON schema of the arguments object.
    pub parameters: Value,
}

/// Whether and which tool the model must call (Autoblocks' LLM judges force one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    /// This function by name.
    Function(String),
}

/// The shape the model's text must have.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// Any JSON object.
    JsonObject,
    /// JSON matching `schema` (strict when the server supports it).
    JsonSchema {
        name: String,
        schema: Value,
        strict: bool,
    },
}

/// One chat completion request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub response_format: Option<ResponseFormat>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// Token counts, when the server reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub text: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    /// `stop`, `length`, `tool_calls`, ... as the server said.
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

// ---------------------------------------------------------------------------------------
// Audio types

/// Mono 16-bit PCM and its sample rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio16 {
    pub rate: u32,
    pub samples: Vec<i16>,
}

impl Audio16 {
    pub fn new(rate: u32, samples: Vec<i16>) -> Self {
        Self { rate, samples }
    }

    /// Duration in milliseconds.
    #[cfg(test)]
    pub fn duration_ms(&self) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        self.samples.len() as u64 * 1000 / u64::from(self.rate)
    }
}

/// A transcript, with word or segment times when the vendor gives them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    pub text: String,
    pub words: Vec<Word>,
    pub segments: Vec<Segment>,
    /// The language the vendor detected or was told, when it says.
    pub language: Option<String>,
}

/// A word with its start and end, in seconds from the start of the audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub word: String,
    pub start: f64,
    pub end: f64,
    pub confidence: Option<f64>,
}

/// A stretch of text with its start and end, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

// ---------------------------------------------------------------------------------------
// Keys

/// An API key. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key from environment variable `variable`; an error names the variable if it is
    /// unset or empty.
    pub fn from_env(provider: &'static str, variable: &'static str) -> Result<Self, ProviderError> {
        Self::from_lookup(provider, variable, |v| std::env::var(v).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup` (for tests).
    pub(crate) fn from_lookup(
        provider: &'static str,
        variable: &'static str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        match lookup(variable) {
            Some(key) if !key.trim().is_empty() => Ok(Self(key.trim().to_string())),
            _ => Err(ProviderError::MissingKey { provider, variable }),
        }
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

// ---------------------------------------------------------------------------------------
// Errors

/// What went wrong with a provider. Its text names the provider and the operation, and
/// never carries a key.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderError {
    /// The provider was built from the environment and this variable is unset.
    MissingKey {
        provider: &'static str,
        variable: &'static str,
    },
    /// A setting is unusable; nothing was sent.
    InvalidConfig {
        provider: &'static str,
        detail: String,
    },
    /// The request cannot be made (e.g. no voice given and none configured); nothing was sent.
    InvalidRequest {
        provider: &'static str,
        operation: &'static str,
        detail: String,
    },
    /// The vendor answered with an error status.
    Api {
        provider: &'static str,
        operation: &'static str,
        status: u16,
        /// The vendor's error message (and code), or the start of a non-JSON body.
        message: Option<String>,
        /// Requests made, retries included.
        attempts: u32,
    },
    /// No HTTP answer: connection refused, TLS failure, timeout.
    Transport {
        provider: &'static str,
        operation: &'static str,
        detail: String,
        attempts: u32,
    },
    /// A success answer this client cannot read (bad JSON, tool arguments that are not
    /// JSON, odd-length PCM).
    Decode {
        provider: &'static str,
        operation: &'static str,
        detail: String,
    },
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingKey { provider, variable } => write!(
                f,
                "{provider}: no API key: environment variable {variable} is not set"
            ),
            Self::InvalidConfig { provider, detail } => {
                write!(f, "{provider}: invalid settings: {detail}")
            }
            Self::InvalidRequest {
                provider,
                operation,
                detail,
            } => write!(f, "{provider} {operation}: invalid request: {detail}"),
            Self::Api {
                provider,
                operation,
                status,
                message,
                attempts,
            } => {
                write!(f, "{provider} refused {operation} (HTTP {status}")?;
                if *attempts > 1 {
                    write!(f, ", after {attempts} attempts")?;
                }
                write!(f, ")")?;
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Self::Transport {
                provider,
                operation,
                detail,
                attempts,
            } => write!(
                f,
                "could not reach {provider} for {operation} ({attempts} attempt{}): {detail}",
                if *attempts == 1 { "" } else { "s" }
            ),
            Self::Decode {
                provider,
                operation,
                detail,
            } => write!(
                f,
                "{provider}'s answer to {operation} could not be read: {detail}"
            ),
        }
    }
}

impl std::error::Error for ProviderError {}

impl ProviderError {
    /// The HTTP status, for errors the vendor answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Replaces `secret` in the error's text, in case a server echoed it.
    fn scrub(mut self, secret: Option<&ApiKey>) -> Self {
        let Some(secret) = secret.map(ApiKey::expose).filter(|s| !s.is_empty()) else {
            return self;
        };
        let clean = |text: &mut String| {
            if text.contains(secret) {
                *text = text.replace(secret, "<redacted>");
            }
        };
        match &mut self {
            Self::Api { message, .. } => message.iter_mut().for_each(clean),
            Self::InvalidConfig { detail, .. }
            | Self::InvalidRequest { detail, .. }
            | Self::Transport { detail, .. }
            | Self::Decode { detail, .. } => clean(detail),
            Self::MissingKey { .. } => {}
        }
        self
    }
}

/// Longest slice of a non-JSON error body kept in the message.
const BODY_EXCERPT: usize = 300;

/// The vendor's error message from an error body, in any of the shapes the vendors here use:
/// OpenAI `{"error":{"message","type","code"}}`, Deepgram `{"err_code","err_msg"}`,
/// ElevenLabs `{"detail":{"status","message"}}` (or a FastAPI `detail` string or list),
/// Cartesia `{"error_code","title","message"}` (API version 2026-03-01 on; older versions
/// answer plain text); otherwise the start of the text.
pub(crate) fn vendor_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let str_of = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let with_code = |message: Option<String>, code: Option<String>| match (message, code) {
        (Some(m), Some(c)) => Some(format!("{m} [{c}]")),
        (Some(m), None) => Some(m),
        (None, Some(c)) => Some(c),
        (None, None) => None,
    };
    let code_of = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let found = serde_json::from_str::<Value>(text).ok().and_then(|json| {
        if let Some(error) = json.get("error") {
            return match error {
                Value::String(s) => Some(s.clone()),
                Value::Object(_) => with_code(
                    str_of(error.get("message")),
                    code_of(error.get("code")).or_else(|| code_of(error.get("type"))),
                ),
                _ => None,
            };
        }
        if json.get("err_msg").is_some() || json.get("err_code").is_some() {
            return with_code(str_of(json.get("err_msg")), code_of(json.get("err_code")));
        }
        if let Some(detail) = json.get("detail") {
            return match detail {
                Value::String(s) => Some(s.clone()),
                Value::Object(_) => {
                    with_code(str_of(detail.get("message")), code_of(detail.get("status")))
                }
                other => Some(other.to_string().chars().take(BODY_EXCERPT).collect()),
            };
        }
        // Cartesia (2026-03-01 and newer): {"error_code","title","message","request_id"}.
        let message = match (str_of(json.get("title")), str_of(json.get("message"))) {
            (Some(t), Some(m)) => Some(format!("{t}: {m}")),
            (t, m) => m.or(t),
        };
        with_code(message, code_of(json.get("error_code")))
    });
    found.or_else(|| Some(text.chars().take(BODY_EXCERPT).collect()))
}

// ---------------------------------------------------------------------------------------
// Shared HTTP plumbing

/// Default limit on each request, connection to last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The default retry policy: 3 retries from 500 ms, at most 8 s apart; `Retry-After` up
/// to 60 s is honoured.
pub fn default_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        backoff_base: Duration::from_millis(500),
        backoff_max: Duration::from_secs(8),
        max_retry_after: Duration::from_secs(60),
    }
}

/// One provider's connection: base URL, client, retries, key and the rate budget it
/// draws on.
#[derive(Clone)]
pub(crate) struct Http {
    provider: &'static str,
    base: Url,
    client: reqwest::Client,
    retry: RetryPolicy,
    key: Option<ApiKey>,
    /// The process-wide budget (`net::bucket`) each request waits for: by default the
    /// provider's name in lower case ("openai", "deepgram"), so `trialrun.limit_key("openai", ...)` covers fn's own calls (which
    /// acquire it), LLM judges and simulated callers alike.
    limit_key: String,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("provider", &self.provider)
            .field("base", &self.base.as_str())
            .field("retry", &self.retry)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Http {
    pub(crate) fn new(
        provider: &'static str,
        base_url: &str,
        timeout: Duration,
        retry: RetryPolicy,
        key: Option<ApiKey>,
    ) -> Result<Self, ProviderError> {
        let bad = |detail: String| ProviderError::InvalidConfig { provider, detail };
        let base =
            Url::parse(base_url.trim()).map_err(|e| bad(format!("base_url {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad(format!(
                "base_url must be an http(s) URL, got {base_url:?}"
            )));
        }
        if base.query().is_some() || !base.username().is_empty() || base.password().is_some() {
            return Err(bad(
                "base_url must not carry a query or credentials (keys go in headers)".into(),
            ));
        }
        if let Some(key) = &key {
            if reqwest::header::HeaderValue::from_str(key.expose()).is_err() {
                return Err(bad(
                    "the API key has characters not allowed in an HTTP header".into(),
                ));
            }
        }
        if timeout.is_zero() {
            return Err(bad("timeout must be positive".into()));
        }
        let client = crate::net::http::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| bad(format!("could not build the HTTP client: {e}")))?;
        Ok(Self {
            provider,
            base,
            client,
            retry,
            key: key.filter(|k| !k.0.is_empty()),
            // "OpenAI-compatible" draws on "openai", "Deepgram" on "deepgram".
            limit_key: provider
                .split('-')
                .next()
                .unwrap_or(provider)
                .to_lowercase(),
        })
    }

    /// `{base}/{segments...}`, each segment escaped.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new")
            .pop_if_empty()
            .extend(segments);
        url
    }

    pub(crate) fn key(&self) -> Option<&str> {
        self.key.as_ref().map(ApiKey::expose)
    }

    /// `prefix` + the key as a header value marked sensitive (kept out of reqwest's logs).
    pub(crate) fn key_header(&self, prefix: &str) -> reqwest::header::HeaderValue {
        let mut value = reqwest::header::HeaderValue::from_str(&format!(
            "{prefix}{}",
            self.key().unwrap_or_default()
        ))
        .expect("checked in new");
        value.set_sensitive(true);
        value
    }

    /// Draws on another budget than the provider's name (`limit_key`).
    pub(crate) fn with_limit_key(mut self, key: String) -> Self {
        self.limit_key = key;
        self
    }

    /// Sends the request `build` makes (once per attempt), with retries; the vendor's
    /// error status and message become a [`ProviderError`].
    pub(crate) async fn send<F>(
        &self,
        operation: &'static str,
        build: F,
    ) -> Result<Answer, ProviderError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_metered(operation, 0.0, build).await
    }

    /// `send` of a request estimated at `tokens` tokens: it first waits until the key's
    /// budget (requests and tokens per minute, when the user set one) allows it.
    pub(crate) async fn send_metered<F>(
        &self,
        operation: &'static str,
        tokens: f64,
        build: F,
    ) -> Result<Answer, ProviderError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        if let Some(wait) = crate::net::bucket::acquire(&self.limit_key, tokens) {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let client = &self.client;
        let build = &build;
        let result = retry::send(&self.retry, true, || async move { build(client) }).await;
        let error = match result {
            Ok(answer) => return Ok(answer),
            Err(Failure::Status {
                status,
                body,
                attempts,
            }) => ProviderError::Api {
                provider: self.provider,
                operation,
                status: status.as_u16(),
                message: vendor_message(&body),
                attempts,
            },
            Err(Failure::Transport { error, attempts }) => ProviderError::Transport {
                provider: self.provider,
                operation,
                detail: retry::error_chain(&error),
                attempts,
            },
        };
        Err(error.scrub(self.key.as_ref()))
    }

    /// A JSON body from a success answer.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        answer: &Answer,
    ) -> Result<T, ProviderError> {
        serde_json::from_slice(&answer.body).map_err(|e| self.decode(operation, e.to_string()))
    }

    pub(crate) fn decode(&self, operation: &'static str, detail: String) -> ProviderError {
        ProviderError::Decode {
            provider: self.provider,
            operation,
            detail,
        }
        .scrub(self.key.as_ref())
    }

    pub(crate) fn invalid(&self, operation: &'static str, detail: String) -> ProviderError {
        ProviderError::InvalidRequest {
            provider: self.provider,
            operation,
            detail,
        }
    }

    /// Refuses empty text before anything is sent.
    pub(crate) fn require_text(
        &self,
        operation: &'static str,
        text: &str,
    ) -> Result<(), ProviderError> {
        if text.trim().is_empty() {
            return Err(self.invalid(operation, "the text is empty".into()));
        }
        Ok(())
    }

    /// The voice asked for, else the configured one; neither refuses the request.
    pub(crate) fn voice_or_default<'a>(
        &self,
        operation: &'static str,
        voice: Option<&'a str>,
        default_voice: &'a str,
    ) -> Result<&'a str, ProviderError> {
        let voice = voice.unwrap_or(default_voice);
        if voice.trim().is_empty() {
            return Err(self.invalid(operation, "no voice id given or configured".into()));
        }
        Ok(voice)
    }
}

/// Refuses a provider configured with no model, before anything is sent.
pub(crate) fn require_model(provider: &'static str, model: &str) -> Result<(), ProviderError> {
    if model.trim().is_empty() {
        return Err(ProviderError::InvalidConfig {
            provider,
            detail: "model is empty".into(),
        });
    }
    Ok(())
}

/// Raw 16-bit little-endian mono PCM at `rate`.
pub(crate) fn pcm_s16le(
    http: &Http,
    operation: &'static str,
    bytes: &[u8],
    rate: u32,
) -> Result<Audio16, ProviderError> {
    let samples = pcm::from_bytes(bytes).map_err(|e| http.decode(operation, e.to_string()))?;
    Ok(Audio16::new(rate, samples))
}

/// A WAV answer as mono PCM (the first channel if there are several).
pub(crate) fn wav_speech(
    http: &Http,
    operation: &'static str,
    bytes: &[u8],
) -> Result<Audio16, ProviderError> {
    let audio = crate::audio::wav::read_wav_bytes(bytes)
        .map_err(|e| http.decode(operation, e.to_string()))?;
    let rate = audio.rate;
    let samples = audio.channels.into_iter().next().unwrap_or_default();
    Ok(Audio16::new(rate, samples))
}

/// The audio as WAV bytes, for uploads.
pub(crate) fn wav_bytes(
    http: &Http,
    operation: &'static str,
    audio: &Audio16,
) -> Result<Vec<u8>, ProviderError> {
    if audio.rate == 0 {
        return Err(http.invalid(operation, "audio sample rate is 0".into()));
    }
    let audio = crate::audio::wav::Audio::mono(audio.rate, audio.samples.clone());
    crate::audio::wav::write_wav_bytes(&audio).map_err(|e| http.invalid(operation, e.to_string()))
}
