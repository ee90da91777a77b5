//! ElevenLabs text-to-speech: `POST {base}/v1/text-to-speech/{voice_id}` → raw PCM.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;

use super::{
    default_retry, pcm_s16le, ApiKey, Audio16, Http, ProviderError, TextToSpeech, DEFAULT_TIMEOUT,
};
use crate::net::retry::RetryPolicy;

/// ElevenLabs' public API (without the `/v1`).
pub const DEFAULT_BASE_URL: &str = "https://api.elevenlabs.io";
/// The environment variable `from_env` reads.
pub const KEY_VARIABLE: &str = "ELEVENLABS_API_KEY";

pub const PROVIDER: &str = "ElevenLabs";

/// Settings for [`ElevenLabsTts`].
#[derive(Debug, Clone, PartialEq)]
pub struct ElevenLabsConfig {
    pub base_url: String,
    /// e.g. `eleven_flash_v2_5`, `eleven_multilingual_v2`.
    pub model_id: String,
    /// Voice id used when `synthesize` is given none.
    pub default_voice: String,
    /// Raw PCM rate, sent as `output_format=pcm_{rate}` (8000, 16000, 22050, 24000, 44100).
    pub sample_rate: u32,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ElevenLabsConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            model_id: "eleven_flash_v2_5".into(),
            // "Rachel", one of the premade voices.
            default_voice: "21m00Tcm4TlvDq8ikWAM".into(),
            sample_rate: 16_000,
            timeout: DEFAULT_TIMEOUT,
            retry: default_retry(),
        }
    }
}

/// `POST {base}/v1/text-to-speech/{voice_id}?output_format=pcm_16000` with `xi-api-key`.
#[derive(Clone)]
pub struct ElevenLabsTts {
    http: Http,
    config: ElevenLabsConfig,
}

impl fmt::Debug for ElevenLabsTts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElevenLabsTts")
            .field("http", &self.http)
            .field("model_id", &self.config.model_id)
            .field("default_voice", &self.config.default_voice)
            .field("sample_rate", &self.config.sample_rate)
            .finish()
    }
}

impl ElevenLabsTts {
    pub fn new(config: ElevenLabsConfig, key: ApiKey) -> Result<Self, ProviderError> {
        if !matches!(
            config.sample_rate,
            8000 | 16000 | 22050 | 24000 | 44100 | 48000
        ) {
            return Err(ProviderError::InvalidConfig {
                provider: PROVIDER,
                detail: format!(
                    "sample_rate {} has no pcm_ output format",
                    config.sample_rate
                ),
            });
        }
        Ok(Self {
            http: Http::new(
                PROVIDER,
                &config.base_url,
                config.timeout,
                config.retry,
                Some(key),
            )?,
            config,
        })
    }

    async fn run(&self, text: &str, voice: Option<&str>) -> Result<Audio16, ProviderError> {
        const OP: &str = "text to speech";
        self.http.require_text(OP, text)?;
        let voice = self
            .http
            .voice_or_default(OP, voice, &self.config.default_voice)?;
        let mut url = self.http.url(&["v1", "text-to-speech", voice]);
        url.query_pairs_mut()
            .append_pair("output_format", &format!("pcm_{}", self.config.sample_rate));
        let body = json!({"text": text, "model_id": self.config.model_id});
        let key = self.http.key_header("");
        let answer = self
            .http
            .send(OP, |client| {
                client
                    .post(url.clone())
                    .header("xi-api-key", key.clone())
                    .json(&body)
            })
            .await?;
        pcm_s16le(&self.http, OP, &answer.body, self.config.sample_rate)
    }
}

impl TextToSpeech for ElevenLabsTts {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        Box::pin(self.run(text, voice))
    }
}
