//! Cartesia text-to-speech: `POST {base}/tts/bytes` → raw PCM.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;

use super::{
    default_retry, pcm_s16le, ApiKey, Audio16, Http, ProviderError, TextToSpeech, DEFAULT_TIMEOUT,
};
use crate::net::retry::RetryPolicy;

/// Cartesia's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.cartesia.ai";
/// The environment variable `from_env` reads.
pub const KEY_VARIABLE: &str = "CARTESIA_API_KEY";
/// The `Cartesia-Version` sent by default (the one Cartesia's quick-start uses).
pub const DEFAULT_VERSION: &str = "2025-04-16";

pub const PROVIDER: &str = "Cartesia";

/// Settings for [`CartesiaTts`].
#[derive(Debug, Clone, PartialEq)]
pub struct CartesiaConfig {
    pub base_url: String,
    /// e.g. `sonic-2`, `sonic-3`.
    pub model_id: String,
    /// Voice id used when `synthesize` is given none.
    pub default_voice: String,
    /// Raw `pcm_s16le` rate asked for.
    pub sample_rate: u32,
    /// The `Cartesia-Version` header (a date).
    pub version: String,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for CartesiaConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            model_id: "sonic-2".into(),
            default_voice: "694f9389-aac1-45b6-b726-9d9369183238".into(),
            sample_rate: 16_000,
            version: DEFAULT_VERSION.into(),
            timeout: DEFAULT_TIMEOUT,
            retry: default_retry(),
        }
    }
}

/// `POST {base}/tts/bytes` with `X-API-Key` and `Cartesia-Version`.
#[derive(Clone)]
pub struct CartesiaTts {
    http: Http,
    config: CartesiaConfig,
}

impl fmt::Debug for CartesiaTts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CartesiaTts")
            .field("http", &self.http)
            .field("model_id", &self.config.model_id)
            .field("default_voice", &self.config.default_voice)
            .field("sample_rate", &self.config.sample_rate)
            .field("version", &self.config.version)
            .finish()
    }
}

impl CartesiaTts {
    pub fn new(config: CartesiaConfig, key: ApiKey) -> Result<Self, ProviderError> {
        if config.sample_rate == 0 {
            return Err(ProviderError::InvalidConfig {
                provider: PROVIDER,
                detail: "sample_rate is 0".into(),
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
        let body = json!({
            "model_id": self.config.model_id,
            "transcript": text,
            "voice": {"mode": "id", "id": voice},
            "output_format": {
                "container": "raw",
                "encoding": "pcm_s16le",
                "sample_rate": self.config.sample_rate,
            },
        });
        let url = self.http.url(&["tts", "bytes"]);
        let key = self.http.key_header("");
        let answer = self
            .http
            .send(OP, |client| {
                client
                    .post(url.clone())
                    .header("X-API-Key", key.clone())
                    .header("Cartesia-Version", &self.config.version)
                    .json(&body)
            })
            .await?;
        pcm_s16le(&self.http, OP, &answer.body, self.config.sample_rate)
    }
}

impl TextToSpeech for CartesiaTts {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        Box::pin(self.run(text, voice))
    }
}
