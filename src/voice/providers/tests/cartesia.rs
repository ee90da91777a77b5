//! Cartesia text-to-speech against a fake Cartesia.

use serde_json::json;

use super::*;
use crate::voice::providers::*;

const KEY: &str = "sk_car_test0123456789";

fn config(base: &str) -> CartesiaConfig {
    CartesiaConfig {
        base_url: base.to_string(),
        retry: quick_retry(),
        ..CartesiaConfig::default()
    }
}

#[tokio::test]
async fn synthesis_sends_cartesias_fields_and_reads_raw_pcm() {
    let samples = tone(16_000, 3_200);
    let fake = FakeVendor::start(
        vec![],
        Reply::bytes("application/octet-stream", le_bytes(&samples)),
    )
    .await;
    let tts = CartesiaTts::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    let speech = tts
        .synthesize(
            "Welcome back!",
            Some("a0e99841-438c-4a64-b679-ae501e7d6091"),
        )
        .await
        .unwrap();
    assert_eq!(speech, Audio16::new(16_000, samples));
    assert_eq!(speech.duration_ms(), 200);

    let seen = fake.one();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/tts/bytes");
    assert!(seen.query.is_empty());
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("cartesia-version"), Some("2025-04-16"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        seen.json(),
        json!({
            "model_id": "sonic-2",
            "transcript": "Welcome back!",
            "voice": {"mode": "id", "id": "a0e99841-438c-4a64-b679-ae501e7d6091"},
            "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 16000}
        })
    );
}

#[tokio::test]
async fn the_version_and_rate_are_configurable() {
    let fake = FakeVendor::start(
        vec![],
        Reply::bytes("application/octet-stream", le_bytes(&[7])),
    )
    .await;
    let mut config = config(&fake.base);
    config.version = "2024-06-10".into();
    config.sample_rate = 8_000;
    let tts = CartesiaTts::new(config, ApiKey::new(KEY)).unwrap();
    assert_eq!(
        tts.synthesize("Hi.", None).await.unwrap(),
        Audio16::new(8_000, vec![7])
    );
    let seen = fake.one();
    assert_eq!(seen.header("cartesia-version"), Some("2024-06-10"));
    assert_eq!(seen.json()["output_format"]["sample_rate"], 8000);
    assert_eq!(
        seen.json()["voice"]["id"],
        "694f9389-aac1-45b6-b726-9d9369183238"
    );
}

#[tokio::test]
async fn cartesia_error_bodies_are_surfaced_json_or_text() {
    // Structured errors (Cartesia-Version 2026-03-01 on), an `error` string, plain text
    // (older versions).
    let fake = FakeVendor::start(
        vec![
            Reply::json(
                404,
                json!({
                    "error_code": "voice_not_found",
                    "title": "Voice not found",
                    "message": "No voice with id a0e99841 exists.",
                    "request_id": "550e8400-e29b-41d4-a716-446655440000"
                }),
            ),
            Reply::json(400, json!({"error": "voice not found: a0e99841"})),
        ],
        Reply::text(402, "Payment Required: your plan has run out of credits"),
    )
    .await;
    let tts = CartesiaTts::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    let error = tts.synthesize("Hi.", None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Cartesia refused text to speech (HTTP 404): Voice not found: No voice with id a0e99841 exists. [voice_not_found]"
    );
    let error = tts.synthesize("Hi.", None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Cartesia refused text to speech (HTTP 400): voice not found: a0e99841"
    );
    let error = tts.synthesize("Hi.", None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Cartesia refused text to speech (HTTP 402): Payment Required: your plan has run out of credits"
    );
    assert_eq!(fake.seen().len(), 3, "4xx are not retried");
}

#[tokio::test]
async fn a_429_then_success_is_retried() {
    let fake = FakeVendor::start(
        vec![Reply::text(429, "rate limited").with_header("retry-after", "0")],
        Reply::bytes("application/octet-stream", le_bytes(&[1, -1])),
    )
    .await;
    let tts = CartesiaTts::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    assert_eq!(tts.synthesize("Hi.", None).await.unwrap().samples, [1, -1]);
    assert_eq!(fake.seen().len(), 2);
}
