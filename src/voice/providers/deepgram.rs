//! Deepgram pre-recorded speech-to-text: `POST {base}/v1/listen` with the WAV as the body.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;

use super::{
    default_retry, require_model, wav_bytes, ApiKey, Audio16, Http, ProviderError, SpeechToText,
    Transcript, Word, DEFAULT_TIMEOUT,
};
use crate::net::retry::RetryPolicy;

/// Deepgram's public API (without the `/v1`).
pub const DEFAULT_BASE_URL: &str = "https://api.deepgram.com";
/// The environment variable `from_env` reads.
pub const KEY_VARIABLE: &str = "DEEPGRAM_API_KEY";

pub const PROVIDER: &str = "Deepgram";

/// Settings for [`DeepgramStt`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeepgramConfig {
    pub base_url: String,
    /// e.g. `nova-3`.
    pub model: String,
    /// Punctuation and formatting (`smart_format=true`).
    pub smart_format: bool,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for DeepgramConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            model: "nova-3".into(),
            smart_format: true,
            timeout: DEFAULT_TIMEOUT,
            retry: default_retry(),
        }
    }
}

/// `POST {base}/v1/listen?model=..&smart_format=true[&language=..]`, `Authorization: Token
/// KEY`, body = the audio as a WAV.
#[derive(Clone)]
pub struct DeepgramStt {
    http: Http,
    config: DeepgramConfig,
}

impl fmt::Debug for DeepgramStt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeepgramStt")
            .field("http", &self.http)
            .field("model", &self.config.model)
            .field("smart_format", &self.config.smart_format)
            .finish()
    }
}

impl DeepgramStt {
    pub fn new(config: DeepgramConfig, key: ApiKey) -> Result<Self, ProviderError> {
        require_model(PROVIDER, &config.model)?;
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

    async fn run(
        &self,
        audio: Audio16,
        language: Option<&str>,
    ) -> Result<Transcript, ProviderError> {
        const OP: &str = "transcription";
        let wav = wav_bytes(&self.http, OP, &audio)?;
        let mut url = self.http.url(&["v1", "listen"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("model", &self.config.model);
            if self.config.smart_format {
                query.append_pair("smart_format", "true");
            }
            if let Some(language) = language {
                query.append_pair("language", language);
            }
        }
        let auth = self.http.key_header("Token ");
        let answer = self
            .http
            .send(OP, |client| {
                client
                    .post(url.clone())
                    .header(reqwest::header::AUTHORIZATION, auth.clone())
                    .header(reqwest::header::CONTENT_TYPE, "audio/wav")
                    .body(wav.clone())
            })
            .await?;
        let wire: Listen = self.http.json(OP, &answer)?;
        let channel = wire.results.channels.into_iter().next();
        let detected = channel.as_ref().and_then(|c| c.detected_language.clone());
        let alternative = channel
            .and_then(|c| c.alternatives.into_iter().next())
            .ok_or_else(|| {
                self.http
                    .decode(OP, "no results.channels[0].alternatives[0]".into())
            })?;
        Ok(Transcript {
            text: alternative.transcript,
            words: alternative
                .words
                .into_iter()
                .map(|w| Word {
                    word: w.punctuated_word.unwrap_or(w.word),
                    start: w.start,
                    end: w.end,
                    confidence: w.confidence,
                })
                .collect(),
            segments: vec![],
            language: detected.or_else(|| language.map(str::to_string)),
        })
    }
}

impl SpeechToText for DeepgramStt {
    fn transcribe<'a>(
        &'a self,
        audio: Audio16,
        language: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Transcript, ProviderError>> {
        Box::pin(self.run(audio, language))
    }
}

#[derive(Deserialize)]
struct Listen {
    results: Results,
}

#[derive(Deserialize)]
struct Results {
    #[serde(default)]
    channels: Vec<Channel>,
}

#[derive(Deserialize)]
struct Channel {
    #[serde(default)]
    alternatives: Vec<Alternative>,
    detected_language: Option<String>,
}

#[derive(Deserialize)]
struct Alternative {
    #[serde(default)]
    transcript: String,
    #[serde(default)]
    words: Vec<WireWord>,
}

#[derive(Deserialize)]
struct WireWord {
    word: String,
    start: f64,
    end: f64,
    confidence: Option<f64>,
    punctuated_word: Option<String>,
}
