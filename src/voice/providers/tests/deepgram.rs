//! Deepgram pre-recorded transcription against a fake Deepgram.

use serde_json::json;

use super::*;
use crate::audio::wav::{read_wav_bytes, Audio};
use crate::voice::providers::*;

const KEY: &str = "dg-test-key-abcdef0123";

fn config(base: &str) -> DeepgramConfig {
    DeepgramConfig {
        base_url: base.to_string(),
        retry: quick_retry(),
        ..DeepgramConfig::default()
    }
}

/// A pre-recorded answer as Deepgram documents it (metadata trimmed to its usual fields).
fn listen_answer() -> serde_json::Value {
    json!({
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": "5d3c2a61-8f0e-4a4b-9b8e-2f2d6f0c1e11",
            "sha256": "154e291ecfa8be6ab8343560bcc109008fa7853eb5372533e8efdefc9b504c33",
            "created": "2024-02-06T19:56:16.180Z",
            "duration": 1.2,
            "channels": 1,
            "models": ["30089e05-99d1-4376-b32e-c263170674af"]
        },
        "results": {
            "channels": [{
                "alternatives": [{
                    "transcript": "Hello, I'd like a table.",
                    "confidence": 0.99,
                    "words": [
                        {"word": "hello", "start": 0.08, "end": 0.4, "confidence": 0.99, "punctuated_word": "Hello,"},
                        {"word": "i'd", "start": 0.48, "end": 0.64, "confidence": 0.98, "punctuated_word": "I'd"},
                        {"word": "like", "start": 0.64, "end": 0.8, "confidence": 0.97, "punctuated_word": "like"},
                        {"word": "a", "start": 0.8, "end": 0.88, "confidence": 0.99, "punctuated_word": "a"},
                        {"word": "table", "start": 0.88, "end": 1.12, "confidence": 0.96, "punctuated_word": "table."}
                    ]
                }]
            }]
        }
    })
}

#[tokio::test]
async fn transcription_posts_the_wav_and_reads_transcript_and_words() {
    let fake = FakeVendor::start(vec![], Reply::json(200, listen_answer())).await;
    let stt = DeepgramStt::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    let samples = tone(8_000, 800);
    let transcript = stt
        .transcribe(Audio16::new(8_000, samples.clone()), Some("en-US"))
        .await
        .unwrap();
    assert_eq!(transcript.text, "Hello, I'd like a table.");
    assert_eq!(transcript.words.len(), 5);
    assert_eq!(
        transcript.words[0],
        Word {
            word: "Hello,".into(),
            start: 0.08,
            end: 0.4,
            confidence: Some(0.99)
        }
    );
    assert_eq!(transcript.words[4].word, "table.");
    assert_eq!(transcript.language.as_deref(), Some("en-US"));

    let seen = fake.one();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1/listen");
    assert_eq!(
        seen.query,
        [
            ("model".to_string(), "nova-3".to_string()),
            ("smart_format".to_string(), "true".to_string()),
            ("language".to_string(), "en-US".to_string()),
        ]
    );
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Token {KEY}").as_str())
    );
    assert_eq!(seen.header("content-type"), Some("audio/wav"));
    assert_eq!(
        read_wav_bytes(&seen.body).unwrap(),
        Audio::mono(8_000, samples)
    );
}

#[tokio::test]
async fn no_language_no_query_pair_and_no_words_is_fine() {
    let fake = FakeVendor::start(
        vec![],
        Reply::json(200, json!({
            "metadata": {"request_id": "r", "duration": 0.5, "channels": 1},
            "results": {"channels": [{"alternatives": [{"transcript": "", "confidence": 0.0, "words": []}]}]}
        })),
    )
    .await;
    let stt = DeepgramStt::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    let transcript = stt
        .transcribe(Audio16::new(16_000, vec![0; 160]), None)
        .await
        .unwrap();
    assert_eq!(transcript, Transcript::default());
    assert_eq!(fake.one().query_value("language"), None);
}

#[tokio::test]
async fn deepgram_error_bodies_are_surfaced() {
    let fake = FakeVendor::start(
        vec![],
        Reply::json(
            400,
            json!({
                "err_code": "Bad Request",
                "err_msg": "Bad Request: failed to process audio: corrupt or unsupported data",
                "request_id": "6e9c1ab2-7d5f-4b1e-8d7a-3c2b1a0f9e8d"
            }),
        ),
    )
    .await;
    let stt = DeepgramStt::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    let error = stt
        .transcribe(Audio16::new(16_000, vec![0; 16]), None)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert_eq!(fake.seen().len(), 1);
    let text = error.to_string();
    assert!(
        text.starts_with("Deepgram refused transcription (HTTP 400)"),
        "{text}"
    );
    assert!(
        text.contains("failed to process audio: corrupt or unsupported data [Bad Request]"),
        "{text}"
    );
}

#[tokio::test]
async fn a_429_then_success_is_retried() {
    let fake = FakeVendor::start(
        vec![Reply::json(
            429,
            json!({"err_code": "TOO_MANY_REQUESTS", "err_msg": "Too many requests."}),
        )],
        Reply::json(200, listen_answer()),
    )
    .await;
    let stt = DeepgramStt::new(config(&fake.base), ApiKey::new(KEY)).unwrap();
    let transcript = stt
        .transcribe(Audio16::new(16_000, vec![0; 160]), None)
        .await
        .unwrap();
    assert_eq!(transcript.text, "Hello, I'd like a table.");
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the same audio is sent again");
}
