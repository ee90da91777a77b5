//! ElevenLabs text-to-speech against a fake ElevenLabs.

use serde_json::json;

use super::*;
use crate::voice::providers::*;

const KEY: &str = "xi-test-key-0123456789";

fn config(base: &str) -> ElevenLabsConfig {
    ElevenLabsConfig {
        base_url: base.to_string(),
        retry: quick_retry(),
        ..ElevenLabsConfig::default()
    }
}

#[tokio::test]
async fn synthesis_asks_for_16_khz_pcm_and_reads_it() {
    // 100 ms of raw pcm_16000.
    let samples = tone(16_000, 1_600);
    let fake = FakeVendor::start(vec![], Reply::bytes("audio/pcm", le_bytes(&samples))).await;
    let tts = ElevenLabsTts::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    let speech = tts
        .synthesize("Your table is booked.", Some("JBFqnCBsd6RMkjVDRZzb"))
        .await
        .unwrap();
    assert_eq!(speech, Audio16::new(16_000, samples));
    assert_eq!(speech.duration_ms(), 100);

    let seen = fake.one();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb");
    assert_eq!(
        seen.query,
        [("output_format".to_string(), "pcm_16000".to_string())]
    );
    assert_eq!(seen.header("xi-api-key"), Some(KEY));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        seen.json(),
        json!({"text": "Your table is booked.", "model_id": "eleven_flash_v2_5"})
    );
}

#[tokio::test]
async fn the_default_voice_and_rate_come_from_the_config() {
    let fake = FakeVendor::start(vec![], Reply::bytes("audio/pcm", le_bytes(&[1, 2, 3]))).await;
    let mut config = config(&fake.base);
    config.sample_rate = 24_000;
    config.default_voice = "voice/with?odd#chars".into();
    let tts = ElevenLabsTts::new(config, ApiKey::new(KEY)).unwrap();
    let speech = tts.synthesize("Hi.", None).await.unwrap();
    assert_eq!(speech.rate, 24_000);
    let seen = fake.one();
    // The voice id is one escaped path segment: it cannot change the path or the query.
    assert_eq!(seen.path, "/v1/text-to-speech/voice%2Fwith%3Fodd%23chars");
    assert_eq!(seen.query_value("output_format"), Some("pcm_24000"));
}

#[tokio::test]
async fn elevenlabs_error_bodies_are_surfaced() {
    let fake = FakeVendor::start(
        vec![],
        Reply::json(
            401,
            json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
        ),
    )
    .await;
    let tts = ElevenLabsTts::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    let error = tts.synthesize("Hi.", None).await.unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert_eq!(fake.seen().len(), 1, "a 401 is not retried");
    let text = error.to_string();
    assert_eq!(
        text,
        "ElevenLabs refused text to speech (HTTP 401): Invalid API key [invalid_api_key]"
    );
}

#[tokio::test]
async fn a_429_then_success_is_retried() {
    let fake = FakeVendor::start(
        vec![Reply::json(429, json!({"detail": {"status": "too_many_concurrent_requests", "message": "Too many concurrent requests."}}))],
        Reply::bytes("audio/pcm", le_bytes(&[5, 6])),
    )
    .await;
    let tts = ElevenLabsTts::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    assert_eq!(tts.synthesize("Hi.", None).await.unwrap().samples, [5, 6]);
    assert_eq!(fake.seen().len(), 2);
}

#[test]
fn a_rate_without_a_pcm_format_is_refused() {
    let config = ElevenLabsConfig {
        sample_rate: 12_345,
        ..ElevenLabsConfig::default()
    };
    let error = ElevenLabsTts::new(config, ApiKey::new(KEY)).unwrap_err();
    assert!(error.to_string().contains("sample_rate 12345"), "{error}");
}
