//! OpenAI-compatible chat, transcription and speech against a fake OpenAI.

use serde_json::json;

use super::*;
use crate::audio::wav::{read_wav_bytes, write_wav_bytes, Audio};
use crate::voice::providers::openai::SpeechFormat;
use crate::voice::providers::*;

const KEY: &str = "sk-test-0123456789abcdef";

fn chat_config(base: &str) -> OpenAiChatConfig {
    let mut config = OpenAiChatConfig::new("gpt-4o-mini");
    config.base_url = format!("{base}/v1");
    config.retry = quick_retry();
    config
}

/// A chat completion as OpenAI documents it, with one tool call.
fn tool_call_completion() -> serde_json::Value {
    json!({
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": "call_abc123",
                    "type": "function",
                    "function": {"name": "book_table", "arguments": "{\"party\": 4, \"time\": \"19:30\"}"}
                }],
                "refusal": null
            },
            "logprobs": null,
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99}
    })
}

fn text_completion(content: &str) -> serde_json::Value {
    json!({
        "id": "chatcmpl-def456",
        "object": "chat.completion",
        "created": 1741569953,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129}
    })
}

fn booking_tool() -> Tool {
    Tool {
        name: "book_table".into(),
        description: Some("Books a table".into()),
        parameters: json!({
            "type": "object",
            "properties": {"party": {"type": "integer"}, "time": {"type": "string"}},
            "required": ["party", "time"]
        }),
    }
}

#[tokio::test]
async fn chat_tool_call_round_trip() {
    let fake = FakeVendor::start(
        vec![Reply::json(200, tool_call_completion())],
        Reply::json(200, text_completion("Booked for four at 7:30.")),
    )
    .await;
    let chat = OpenAiChat::new(chat_config(&fake.base), Some(ApiKey::new(KEY))).unwrap();
    let mut request = ChatRequest {
        messages: vec![
            Message::system("You take restaurant bookings."),
            Message::user("A table for 4 at half past seven, please."),
        ],
        tools: vec![booking_tool()],
        tool_choice: Some(ToolChoice::Auto),
        temperature: Some(0.5),
        max_tokens: Some(200),
        ..Default::default()
    };
    let first = chat.chat(request.clone()).await.unwrap();
    assert_eq!(first.text, None);
    assert_eq!(first.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        first.tool_calls,
        vec![ToolCall {
            id: "call_abc123".into(),
            name: "book_table".into(),
            arguments: json!({"party": 4, "time": "19:30"}),
        }]
    );
    assert_eq!(
        first.usage,
        Some(Usage {
            prompt_tokens: 82,
            completion_tokens: 17,
            total_tokens: 99
        })
    );

    // The tool's result goes back with the assistant's call.
    request
        .messages
        .push(Message::assistant_tool_calls(first.tool_calls.clone()));
    request
        .messages
        .push(Message::tool("call_abc123", "{\"confirmed\": true}"));
    let second = chat.chat(request).await.unwrap();
    assert_eq!(second.text.as_deref(), Some("Booked for four at 7:30."));
    assert_eq!(second.finish_reason.as_deref(), Some("stop"));
    assert!(second.tool_calls.is_empty());

    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.path, "/v1/chat/completions");
        assert!(s.query.is_empty());
        assert_eq!(
            s.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(s.header("content-type"), Some("application/json"));
    }
    let body = seen[0].json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You take restaurant bookings."},
            {"role": "user", "content": "A table for 4 at half past seven, please."}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{
            "type": "function",
            "function": {
                "name": "book_table",
                "description": "Books a table",
                "parameters": {
                    "type": "object",
                    "properties": {"party": {"type": "integer"}, "time": {"type": "string"}},
                    "required": ["party", "time"]
                }
            }
        }])
    );
    assert!(body.get("response_format").is_none());

    let messages = &seen[1].json()["messages"];
    assert_eq!(messages.as_array().unwrap().len(), 4);
    let call = &messages[2];
    assert_eq!(call["role"], "assistant");
    assert_eq!(call["content"], serde_json::Value::Null);
    assert_eq!(call["tool_calls"][0]["id"], "call_abc123");
    assert_eq!(call["tool_calls"][0]["type"], "function");
    assert_eq!(call["tool_calls"][0]["function"]["name"], "book_table");
    // Arguments go back as a JSON string, as OpenAI sends them.
    let arguments: serde_json::Value = serde_json::from_str(
        call["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(arguments, json!({"party": 4, "time": "19:30"}));
    assert_eq!(
        messages[3],
        json!({"role": "tool", "content": "{\"confirmed\": true}", "tool_call_id": "call_abc123"})
    );
}

#[tokio::test]
async fn chat_sends_a_json_schema_response_format_and_a_forced_tool() {
    let fake = FakeVendor::start(
        vec![],
        Reply::json(200, text_completion("{\"verdict\": \"pass\"}")),
    )
    .await;
    // A local server (vLLM, Ollama) with no key: no Authorization header.
    let chat = OpenAiChat::new(chat_config(&fake.base), None).unwrap();
    let schema = json!({
        "type": "object",
        "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]}},
        "required": ["verdict"],
        "additionalProperties": false
    });
    let answer = chat
        .chat(ChatRequest {
            messages: vec![Message::user("Judge the call.")],
            response_format: Some(ResponseFormat::JsonSchema {
                name: "verdict".into(),
                schema: schema.clone(),
                strict: true,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(answer.text.as_deref(), Some("{\"verdict\": \"pass\"}"));
    chat.chat(ChatRequest {
        messages: vec![Message::user("Book it.")],
        tools: vec![booking_tool()],
        tool_choice: Some(ToolChoice::Function("book_table".into())),
        response_format: Some(ResponseFormat::JsonObject),
        ..Default::default()
    })
    .await
    .unwrap();

    let seen = fake.seen();
    assert_eq!(seen[0].header("authorization"), None);
    let body = seen[0].json();
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": true}})
    );
    assert!(body.get("tools").is_none());
    assert!(body.get("temperature").is_none());
    assert!(body.get("max_tokens").is_none());
    let body = seen[1].json();
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "book_table"}})
    );
}

#[tokio::test]
async fn max_completion_tokens_is_sent_when_configured() {
    let fake = FakeVendor::start(vec![], Reply::json(200, text_completion("ok"))).await;
    let mut config = chat_config(&fake.base);
    config.max_tokens_field = MaxTokensField::MaxCompletionTokens;
    let chat = OpenAiChat::new(config, Some(ApiKey::new(KEY))).unwrap();
    chat.chat(ChatRequest {
        messages: vec![Message::user("hi")],
        max_tokens: Some(64),
        ..Default::default()
    })
    .await
    .unwrap();
    let body = fake.one().json();
    assert_eq!(body["max_completion_tokens"], 64);
    assert!(body.get("max_tokens").is_none());
}

#[tokio::test]
async fn malformed_messages_are_refused_before_sending() {
    let fake = FakeVendor::start(vec![], Reply::json(200, text_completion("ok"))).await;
    let chat = OpenAiChat::new(chat_config(&fake.base), None).unwrap();
    let mut orphan = Message::tool("x", "result");
    orphan.tool_call_id = None;
    let error = chat
        .chat(ChatRequest {
            messages: vec![Message::user("hi"), orphan],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::InvalidRequest { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("message 1 has role `tool` but no tool_call_id"),
        "{error}"
    );
    let error = chat.chat(ChatRequest::default()).await.unwrap_err();
    assert!(error.to_string().contains("no messages"), "{error}");
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn tool_arguments_that_are_not_json_name_the_tool() {
    let mut completion = tool_call_completion();
    completion["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] =
        json!("{\"party\": 4, \"time\": ");
    let fake = FakeVendor::start(vec![], Reply::json(200, completion)).await;
    let chat = OpenAiChat::new(chat_config(&fake.base), Some(ApiKey::new(KEY))).unwrap();
    let error = chat
        .chat(ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Decode { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("\"book_table\""), "{text}");
    assert!(text.contains("not JSON"), "{text}");
    assert!(text.contains("chat completion"), "{text}");
}

#[tokio::test]
async fn openai_error_bodies_are_surfaced_and_400_is_not_retried() {
    let error_body = json!({
        "error": {
            "message": "Invalid schema for response_format 'verdict': 'additionalProperties' is required to be supplied and to be false.",
            "type": "invalid_request_error",
            "param": "response_format",
            "code": null
        }
    });
    let fake = FakeVendor::start(vec![], Reply::json(400, error_body)).await;
    let chat = OpenAiChat::new(chat_config(&fake.base), Some(ApiKey::new(KEY))).unwrap();
    let error = chat
        .chat(ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert_eq!(fake.seen().len(), 1, "a 400 is not retried");
    let text = error.to_string();
    assert!(
        text.starts_with("OpenAI-compatible refused chat completion (HTTP 400)"),
        "{text}"
    );
    assert!(
        text.contains("'additionalProperties' is required"),
        "{text}"
    );
    assert!(text.contains("[invalid_request_error]"), "{text}");
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_then_succeeds() {
    let limited = Reply::json(
        429,
        json!({"error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests", "code": "rate_limit_exceeded"}}),
    )
    .with_header("retry-after", "0.2");
    let fake = FakeVendor::start(vec![limited], Reply::json(200, text_completion("hello"))).await;
    let chat = OpenAiChat::new(chat_config(&fake.base), Some(ApiKey::new(KEY))).unwrap();
    let started = std::time::Instant::now();
    let answer = chat
        .chat(ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(answer.text.as_deref(), Some("hello"));
    assert_eq!(fake.seen().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn retries_end_with_the_last_error_and_the_attempt_count() {
    let fake = FakeVendor::start(
        vec![],
        Reply::json(503, json!({"error": {"message": "The server is overloaded", "type": "server_error", "code": null}})),
    )
    .await;
    let chat = OpenAiChat::new(chat_config(&fake.base), Some(ApiKey::new(KEY))).unwrap();
    let error = chat
        .chat(ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(fake.seen().len(), 3, "1 attempt + max_retries 2");
    let text = error.to_string();
    assert!(text.contains("HTTP 503, after 3 attempts"), "{text}");
    assert!(
        text.contains("The server is overloaded [server_error]"),
        "{text}"
    );
}

fn transcription_config(base: &str, verbose: bool) -> OpenAiTranscriptionConfig {
    let mut config = OpenAiTranscriptionConfig::new("whisper-1");
    config.base_url = format!("{base}/v1");
    config.verbose = verbose;
    config.retry = quick_retry();
    config
}

#[tokio::test]
async fn transcription_uploads_a_wav_and_reads_the_text() {
    let fake = FakeVendor::start(
        vec![],
        Reply::json(200, json!({"text": "I'd like to book a table.", "usage": {"type": "duration", "seconds": 1}})),
    )
    .await;
    let stt = OpenAiTranscription::new(
        transcription_config(&fake.base, false),
        Some(ApiKey::new(KEY)),
    )
    .unwrap();
    let samples = tone(16_000, 1600);
    let transcript = stt
        .transcribe(Audio16::new(16_000, samples.clone()), Some("en"))
        .await
        .unwrap();
    assert_eq!(transcript.text, "I'd like to book a table.");
    assert!(transcript.words.is_empty());

    let seen = fake.one();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1/audio/transcriptions");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let content_type = seen.header("content-type").unwrap();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let parts = multipart(content_type, &seen.body);
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["file", "model", "response_format", "language"]);
    let file = &parts[0];
    assert_eq!(file.filename.as_deref(), Some("audio.wav"));
    assert_eq!(file.content_type.as_deref(), Some("audio/wav"));
    assert_eq!(
        read_wav_bytes(&file.data).unwrap(),
        Audio::mono(16_000, samples)
    );
    assert_eq!(parts[1].text(), "whisper-1");
    assert_eq!(parts[2].text(), "json");
    assert_eq!(parts[3].text(), "en");
}

#[tokio::test]
async fn verbose_transcription_reads_words_and_segments() {
    let fake = FakeVendor::start(
        vec![],
        Reply::json(
            200,
            json!({
                "task": "transcribe",
                "language": "english",
                "duration": 1.2,
                "text": "Hello there.",
                "words": [
                    {"word": "Hello", "start": 0.0, "end": 0.46},
                    {"word": "there", "start": 0.5, "end": 0.9}
                ],
                "segments": [{
                    "id": 0, "seek": 0, "start": 0.0, "end": 1.2, "text": " Hello there.",
                    "tokens": [50364, 2425, 456, 13], "temperature": 0.0, "avg_logprob": -0.28,
                    "compression_ratio": 0.76, "no_speech_prob": 0.01
                }]
            }),
        ),
    )
    .await;
    let stt = OpenAiTranscription::new(transcription_config(&fake.base, true), None).unwrap();
    let transcript = stt
        .transcribe(Audio16::new(8_000, tone(8_000, 800)), None)
        .await
        .unwrap();
    assert_eq!(transcript.text, "Hello there.");
    assert_eq!(transcript.language.as_deref(), Some("english"));
    assert_eq!(
        transcript.words,
        vec![
            Word {
                word: "Hello".into(),
                start: 0.0,
                end: 0.46,
                confidence: None
            },
            Word {
                word: "there".into(),
                start: 0.5,
                end: 0.9,
                confidence: None
            },
        ]
    );
    assert_eq!(
        transcript.segments,
        vec![Segment {
            text: " Hello there.".into(),
            start: 0.0,
            end: 1.2
        }]
    );

    let seen = fake.one();
    assert_eq!(seen.header("authorization"), None);
    let parts = multipart(seen.header("content-type").unwrap(), &seen.body);
    let field = |name: &str| -> Vec<&str> {
        parts
            .iter()
            .filter(|p| p.name == name)
            .map(Part::text)
            .collect()
    };
    assert_eq!(field("response_format"), ["verbose_json"]);
    assert_eq!(field("timestamp_granularities[]"), ["word", "segment"]);
    assert!(field("language").is_empty());
    let wav = read_wav_bytes(&parts[0].data).unwrap();
    assert_eq!(wav.rate, 8_000);
}

#[tokio::test]
async fn transcription_upload_is_rebuilt_for_a_retry() {
    let fake = FakeVendor::start(
        vec![Reply::json(
            500,
            json!({"error": {"message": "internal error", "type": "server_error"}}),
        )],
        Reply::json(200, json!({"text": "ok"})),
    )
    .await;
    let stt = OpenAiTranscription::new(
        transcription_config(&fake.base, false),
        Some(ApiKey::new(KEY)),
    )
    .unwrap();
    let transcript = stt
        .transcribe(Audio16::new(16_000, tone(16_000, 320)), None)
        .await
        .unwrap();
    assert_eq!(transcript.text, "ok");
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body.len(), seen[1].body.len());
}

fn speech_config(base: &str, format: SpeechFormat) -> OpenAiSpeechConfig {
    let mut config = OpenAiSpeechConfig::new("gpt-4o-mini-tts");
    config.base_url = format!("{base}/v1");
    config.format = format;
    config.retry = quick_retry();
    config
}

#[tokio::test]
async fn speech_pcm_is_24_khz_16_bit_little_endian() {
    // 250 ms at 24 kHz, as raw PCM like OpenAI's `pcm`.
    let samples = tone(24_000, 6_000);
    let fake = FakeVendor::start(vec![], Reply::bytes("audio/pcm", le_bytes(&samples))).await;
    let tts = OpenAiSpeech::new(
        speech_config(&fake.base, SpeechFormat::Pcm),
        Some(ApiKey::new(KEY)),
    )
    .unwrap();
    let speech = tts
        .synthesize("Hello, how can I help?", Some("coral"))
        .await
        .unwrap();
    assert_eq!(speech.rate, 24_000);
    assert_eq!(speech.samples, samples);
    assert_eq!(speech.duration_ms(), 250);

    let seen = fake.one();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1/audio/speech");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        seen.json(),
        json!({"model": "gpt-4o-mini-tts", "input": "Hello, how can I help?", "voice": "coral", "response_format": "pcm"})
    );
}

#[tokio::test]
async fn speech_wav_takes_the_rate_from_the_header_and_the_default_voice() {
    let samples = tone(22_050, 2_205);
    let wav = write_wav_bytes(&Audio::mono(22_050, samples.clone())).unwrap();
    let fake = FakeVendor::start(vec![], Reply::bytes("audio/wav", wav)).await;
    let tts = OpenAiSpeech::new(speech_config(&fake.base, SpeechFormat::Wav), None).unwrap();
    let speech = tts.synthesize("Hi.", None).await.unwrap();
    assert_eq!(speech, Audio16::new(22_050, samples));
    let body = fake.one().json();
    assert_eq!(body["voice"], "alloy");
    assert_eq!(body["response_format"], "wav");
}

#[tokio::test]
async fn odd_length_pcm_is_a_decode_error() {
    let fake = FakeVendor::start(vec![], Reply::bytes("audio/pcm", vec![1, 2, 3])).await;
    let tts = OpenAiSpeech::new(
        speech_config(&fake.base, SpeechFormat::Pcm),
        Some(ApiKey::new(KEY)),
    )
    .unwrap();
    let error = tts.synthesize("Hi.", None).await.unwrap_err();
    assert!(matches!(error, ProviderError::Decode { .. }), "{error:?}");
    assert!(
        error.to_string().contains("even number of bytes, not 3"),
        "{error}"
    );
}
