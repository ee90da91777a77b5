//! OpenAI-compatible servers (OpenAI, vLLM, Ollama, llama.cpp server): chat completions,
//! audio transcriptions and speech.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    default_retry, pcm_s16le, require_model, wav_bytes, wav_speech, ApiKey, Audio16, ChatRequest,
    ChatResponse, Http, LanguageModel, Message, ProviderError, ResponseFormat, Role, Segment,
    SpeechToText, TextToSpeech, ToolCall, ToolChoice, Transcript, Usage, Word, DEFAULT_TIMEOUT,
};
use crate::net::retry::RetryPolicy;

/// OpenAI's public API; point `base_url` at e.g. `http://127.0.0.1:8000/v1` for vLLM or
/// `http://127.0.0.1:11434/v1` for Ollama.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The environment variable `from_env` reads.
pub const KEY_VARIABLE: &str = "OPENAI_API_KEY";
/// OpenAI's raw `pcm` speech: 16-bit little-endian mono at 24 kHz.
pub const PCM_RATE: u32 = 24_000;

pub const PROVIDER: &str = "OpenAI-compatible";

// ---------------------------------------------------------------------------------------
// Chat completions

/// Settings for [`OpenAiChat`].
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiChatConfig {
    /// Up to the API version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    /// The field [`ChatRequest::max_tokens`] is sent as.
    pub max_tokens_field: MaxTokensField,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The rate budget requests draw on (`net::bucket`); None: "openai".
    pub limit_key: Option<String>,
}

impl OpenAiChatConfig {
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            model: model.into(),
            max_tokens_field: MaxTokensField::MaxTokens,
            timeout: DEFAULT_TIMEOUT,
            retry: default_retry(),
            limit_key: None,
        }
    }
}

/// How the token limit is named on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_tokens`: what vLLM, Ollama and llama.cpp read; deprecated by OpenAI.
    MaxTokens,
    /// `max_completion_tokens`: required by OpenAI's reasoning models (o-series, GPT-5).
    MaxCompletionTokens,
}

/// What a chat request may cost in tokens, before it is sent, for the rate budget: its
/// JSON at about four characters a token, plus the answer's limit when one is set.
fn estimated_tokens(body: &Value, max_tokens: Option<u32>) -> f64 {
    body.to_string().len() as f64 / 4.0 + f64::from(max_tokens.unwrap_or(0))
}

/// `POST {base}/chat/completions`.
#[derive(Clone)]
pub struct OpenAiChat {
    http: Http,
    model: String,
    max_tokens_field: MaxTokensField,
}

impl fmt::Debug for OpenAiChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiChat")
            .field("http", &self.http)
            .field("model", &self.model)
            .field("max_tokens_field", &self.max_tokens_field)
            .finish()
    }
}

impl OpenAiChat {
    /// With an explicit key, or none for local servers that need none.
    pub fn new(config: OpenAiChatConfig, key: Option<ApiKey>) -> Result<Self, ProviderError> {
        require_model(PROVIDER, &config.model)?;
        let mut http = Http::new(
            PROVIDER,
            &config.base_url,
            config.timeout,
            config.retry,
            key,
        )?;
        if let Some(limit_key) = config.limit_key {
            http = http.with_limit_key(limit_key);
        }
        Ok(Self {
            http,
            model: config.model,
            max_tokens_field: config.max_tokens_field,
        })
    }

    /// The JSON body for `request`.
    pub fn body(&self, request: &ChatRequest) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        body.extend(chat_request_fields(request, self.max_tokens_field));
        Value::Object(body)
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        const OP: &str = "chat completion";
        if request.messages.is_empty() {
            return Err(self.http.invalid(OP, "no messages".into()));
        }
        for (i, message) in request.messages.iter().enumerate() {
            if message.role == Role::Tool && message.tool_call_id.is_none() {
                return Err(self.http.invalid(
                    OP,
                    format!("message {i} has role `tool` but no tool_call_id"),
                ));
            }
            if message.role != Role::Assistant && !message.tool_calls.is_empty() {
                return Err(self.http.invalid(
                    OP,
                    format!(
                        "message {i} has tool_calls but role `{}` (only assistant messages call tools)",
                        message.role.as_str()
                    ),
                ));
            }
        }
        let body = self.body(&request);
        let url = self.http.url(&["chat", "completions"]);
        let key = self.http.key();
        let answer = self
            .http
            .send_metered(OP, estimated_tokens(&body, request.max_tokens), |client| {
                let builder = client.post(url.clone()).json(&body);
                match key {
                    Some(key) => builder.bearer_auth(key),
                    None => builder,
                }
            })
            .await?;
        let completion: Completion = self.http.json(OP, &answer)?;
        let choice = completion
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| self.http.decode(OP, "no choices in the answer".into()))?;
        let tool_calls = choice
            .message
            .tool_calls
            .into_iter()
            .map(|call| {
                let arguments = if call.function.arguments.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(&call.function.arguments).map_err(|e| {
                        self.http.decode(
                            OP,
                            format!(
                                "tool call {:?} (id {:?}) has arguments that are not JSON ({e}): {:?}",
                                call.function.name,
                                call.id,
                                excerpt(&call.function.arguments)
                            ),
                        )
                    })?
                };
                Ok(ToolCall {
                    id: call.id,
                    name: call.function.name,
                    arguments,
                })
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        Ok(ChatResponse {
            text: choice.message.content,
            tool_calls,
            finish_reason: choice.finish_reason,
            usage: completion.usage.map(|u| Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u.total_tokens,
            }),
        })
    }
}

impl LanguageModel for OpenAiChat {
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>> {
        Box::pin(self.complete(request))
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The OpenAI chat-completions fields of `request`, all but `model` (also what Python
/// language models are handed).
pub fn chat_request_fields(
    request: &ChatRequest,
    max_tokens_field: MaxTokensField,
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert(
        "messages".into(),
        Value::Array(request.messages.iter().map(message_json).collect()),
    );
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|tool| {
                let mut function = Map::new();
                function.insert("name".into(), json!(tool.name));
                if let Some(d) = &tool.description {
                    function.insert("description".into(), json!(d));
                }
                function.insert("parameters".into(), tool.parameters.clone());
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Function(name) => {
                json!({"type": "function", "function": {"name": name}})
            }
        };
        body.insert("tool_choice".into(), choice);
    }
    if let Some(format) = &request.response_format {
        let format = match format {
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => json!({
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": strict},
            }),
        };
        body.insert("response_format".into(), format);
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(n) = request.max_tokens {
        let field = match max_tokens_field {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        };
        body.insert(field.into(), json!(n));
    }
    body
}

fn message_json(message: &Message) -> Value {
    let mut m = Map::new();
    m.insert("role".into(), json!(message.role.as_str()));
    // An assistant turn that only calls tools has `content: null`.
    m.insert(
        "content".into(),
        message.content.as_ref().map_or(Value::Null, |c| json!(c)),
    );
    if let (Role::Tool, Some(id)) = (message.role, &message.tool_call_id) {
        m.insert("tool_call_id".into(), json!(id));
    }
    if !message.tool_calls.is_empty() {
        let calls = message
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments.to_string()},
                })
            })
            .collect();
        m.insert("tool_calls".into(), Value::Array(calls));
    }
    Value::Object(m)
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: WireMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// Transcriptions

/// Settings for [`OpenAiTranscription`].
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiTranscriptionConfig {
    pub base_url: String,
    /// `whisper-1`, `gpt-4o-transcribe`, `gpt-4o-mini-transcribe`, or a local model.
    pub model: String,
    /// Ask for `verbose_json` with word and segment times (whisper-1 and most local
    /// servers; OpenAI's gpt-4o transcribe models take only `json`).
    pub verbose: bool,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl OpenAiTranscriptionConfig {
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            model: model.into(),
            verbose: false,
            timeout: DEFAULT_TIMEOUT,
            retry: default_retry(),
        }
    }
}

/// `POST {base}/audio/transcriptions` (multipart: a WAV file, model, response_format,
/// language).
#[derive(Clone)]
pub struct OpenAiTranscription {
    http: Http,
    model: String,
    verbose: bool,
}

impl fmt::Debug for OpenAiTranscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiTranscription")
            .field("http", &self.http)
            .field("model", &self.model)
            .field("verbose", &self.verbose)
            .finish()
    }
}

impl OpenAiTranscription {
    pub fn new(
        config: OpenAiTranscriptionConfig,
        key: Option<ApiKey>,
    ) -> Result<Self, ProviderError> {
        require_model(PROVIDER, &config.model)?;
        Ok(Self {
            http: Http::new(
                PROVIDER,
                &config.base_url,
                config.timeout,
                config.retry,
                key,
            )?,
            model: config.model,
            verbose: config.verbose,
        })
    }

    async fn run(
        &self,
        audio: Audio16,
        language: Option<&str>,
    ) -> Result<Transcript, ProviderError> {
        const OP: &str = "transcription";
        let wav = wav_bytes(&self.http, OP, &audio)?;
        let url = self.http.url(&["audio", "transcriptions"]);
        let key = self.http.key();
        let format = if self.verbose { "verbose_json" } else { "json" };
        let answer = self
            .http
            .send(OP, |client| {
                // A multipart form cannot be cloned; it is built again for each attempt.
                let file = reqwest::multipart::Part::bytes(wav.clone())
                    .file_name("audio.wav")
                    .mime_str("audio/wav")
                    .expect("a valid MIME type");
                let mut form = reqwest::multipart::Form::new()
                    .part("file", file)
                    .text("model", self.model.clone())
                    .text("response_format", format);
                if let Some(language) = language {
                    form = form.text("language", language.to_string());
                }
                if self.verbose {
                    form = form
                        .text("timestamp_granularities[]", "word")
                        .text("timestamp_granularities[]", "segment");
                }
                let builder = client.post(url.clone()).multipart(form);
                match key {
                    Some(key) => builder.bearer_auth(key),
                    None => builder,
                }
            })
            .await?;
        let wire: WireTranscript = self.http.json(OP, &answer)?;
        Ok(Transcript {
            text: wire.text,
            words: wire
                .words
                .into_iter()
                .map(|w| Word {
                    word: w.word,
                    start: w.start,
                    end: w.end,
                    confidence: None,
                })
                .collect(),
            segments: wire
                .segments
                .into_iter()
                .map(|s| Segment {
                    text: s.text,
                    start: s.start,
                    end: s.end,
                })
                .collect(),
            language: wire.language.or_else(|| language.map(str::to_string)),
        })
    }
}

impl SpeechToText for OpenAiTranscription {
    fn transcribe<'a>(
        &'a self,
        audio: Audio16,
        language: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Transcript, ProviderError>> {
        Box::pin(self.run(audio, language))
    }
}

#[derive(Deserialize)]
struct WireTranscript {
    text: String,
    language: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    words: Vec<WireWord>,
    #[serde(default, deserialize_with = "null_as_empty")]
    segments: Vec<WireSegment>,
}

#[derive(Deserialize)]
struct WireWord {
    word: String,
    start: f64,
    end: f64,
}

#[derive(Deserialize)]
struct WireSegment {
    text: String,
    start: f64,
    end: f64,
}

// ---------------------------------------------------------------------------------------
// Speech

/// The audio format asked of `/audio/speech`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechFormat {
    /// Raw 16-bit little-endian mono PCM at 24 kHz (OpenAI's documented `pcm`).
    Pcm,
    /// A WAV file; its header gives the rate (for servers whose `pcm` differs). Decoded and
    /// tested; not yet a choice Python can make.
    #[allow(dead_code)]
    Wav,
}

/// Settings for [`OpenAiSpeech`].
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiSpeechConfig {
    pub base_url: String,
    /// `gpt-4o-mini-tts`, `tts-1`, ... or a local model.
    pub model: String,
    /// Used when `synthesize` is given no voice.
    pub default_voice: String,
    pub format: SpeechFormat,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl OpenAiSpeechConfig {
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            model: model.into(),
            default_voice: "alloy".into(),
            format: SpeechFormat::Pcm,
            timeout: DEFAULT_TIMEOUT,
            retry: default_retry(),
        }
    }
}

/// `POST {base}/audio/speech` with `{model, input, voice, response_format}`.
#[derive(Clone)]
pub struct OpenAiSpeech {
    http: Http,
    config: OpenAiSpeechConfig,
}

impl fmt::Debug for OpenAiSpeech {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiSpeech")
            .field("http", &self.http)
            .field("model", &self.config.model)
            .field("default_voice", &self.config.default_voice)
            .field("format", &self.config.format)
            .finish()
    }
}

impl OpenAiSpeech {
    pub fn new(config: OpenAiSpeechConfig, key: Option<ApiKey>) -> Result<Self, ProviderError> {
        require_model(PROVIDER, &config.model)?;
        Ok(Self {
            http: Http::new(
                PROVIDER,
                &config.base_url,
                config.timeout,
                config.retry,
                key,
            )?,
            config,
        })
    }

    async fn run(&self, text: &str, voice: Option<&str>) -> Result<Audio16, ProviderError> {
        const OP: &str = "speech";
        self.http.require_text(OP, text)?;
        let voice = voice.unwrap_or(&self.config.default_voice);
        let format = match self.config.format {
            SpeechFormat::Pcm => "pcm",
            SpeechFormat::Wav => "wav",
        };
        let body = json!({
            "model": self.config.model,
            "input": text,
            "voice": voice,
            "response_format": format,
        });
        let url = self.http.url(&["audio", "speech"]);
        let key = self.http.key();
        let answer = self
            .http
            .send(OP, |client| {
                let builder = client.post(url.clone()).json(&body);
                match key {
                    Some(key) => builder.bearer_auth(key),
                    None => builder,
                }
            })
            .await?;
        match self.config.format {
            SpeechFormat::Pcm => pcm_s16le(&self.http, OP, &answer.body, PCM_RATE),
            SpeechFormat::Wav => wav_speech(&self.http, OP, &answer.body),
        }
    }
}

impl TextToSpeech for OpenAiSpeech {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        Box::pin(self.run(text, voice))
    }
}
