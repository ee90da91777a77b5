//! What all providers share: keys from the environment, redaction, settings checks,
//! connection failures.

use serde_json::json;

use super::*;
use crate::voice::providers::*;

const SECRET: &str = "sk-very-secret-value-42";

#[test]
fn a_missing_variable_is_named() {
    let none = |_: &str| None;
    let error = ApiKey::from_lookup("Deepgram", "DEEPGRAM_API_KEY", none).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Deepgram: no API key: environment variable DEEPGRAM_API_KEY is not set"
    );
    let blank = |_: &str| Some("  ".to_string());
    assert!(ApiKey::from_lookup("Deepgram", "DEEPGRAM_API_KEY", blank).is_err());
    let set = |v: &str| (v == "DEEPGRAM_API_KEY").then(|| "dg-key\n".to_string());
    let key = ApiKey::from_lookup("Deepgram", "DEEPGRAM_API_KEY", set).unwrap();
    assert_eq!(key.expose(), "dg-key");
}

/// Each provider's key variable, and that reading it names the variable when it is unset in
/// this environment (the test does not change the environment: other tests run alongside).
#[test]
fn each_provider_reads_its_own_key_variable_and_names_it_when_unset() {
    use crate::voice::providers::{cartesia, deepgram, elevenlabs, openai};
    let providers = [
        (openai::PROVIDER, openai::KEY_VARIABLE, "OPENAI_API_KEY"),
        (
            deepgram::PROVIDER,
            deepgram::KEY_VARIABLE,
            "DEEPGRAM_API_KEY",
        ),
        (
            elevenlabs::PROVIDER,
            elevenlabs::KEY_VARIABLE,
            "ELEVENLABS_API_KEY",
        ),
        (
            cartesia::PROVIDER,
            cartesia::KEY_VARIABLE,
            "CARTESIA_API_KEY",
        ),
    ];
    for (provider, variable, expected) in providers {
        assert_eq!(variable, expected, "{provider}");
        if std::env::var_os(variable).is_none() {
            let error = ApiKey::from_env(provider, variable).unwrap_err();
            assert!(
                matches!(error, ProviderError::MissingKey { .. }),
                "{error:?}"
            );
            assert!(error.to_string().contains(variable), "{error}");
        }
    }
}

#[test]
fn debug_output_never_shows_the_key() {
    let key = || ApiKey::new(SECRET);
    let shown = [
        format!("{:?}", key()),
        format!(
            "{:?}",
            OpenAiChat::new(OpenAiChatConfig::new("m"), Some(key())).unwrap()
        ),
        format!(
            "{:?}",
            OpenAiTranscription::new(OpenAiTranscriptionConfig::new("m"), Some(key())).unwrap()
        ),
        format!(
            "{:?}",
            OpenAiSpeech::new(OpenAiSpeechConfig::new("m"), Some(key())).unwrap()
        ),
        format!(
            "{:?}",
            DeepgramStt::new(DeepgramConfig::default(), key()).unwrap()
        ),
        format!(
            "{:?}",
            ElevenLabsTts::new(ElevenLabsConfig::default(), key()).unwrap()
        ),
        format!(
            "{:?}",
            CartesiaTts::new(CartesiaConfig::default(), key()).unwrap()
        ),
    ];
    for text in shown {
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}

#[tokio::test]
async fn a_server_echoing_the_key_does_not_leak_it_into_errors() {
    let fake = FakeVendor::start(
        vec![],
        Reply::json(401, json!({"error": {"message": format!("Incorrect API key provided: {SECRET}."), "type": "invalid_request_error", "code": "invalid_api_key"}})),
    )
    .await;
    let mut config = OpenAiChatConfig::new("gpt-4o-mini");
    config.base_url = fake.base.clone();
    config.retry = quick_retry();
    let chat = OpenAiChat::new(config, Some(ApiKey::new(SECRET))).unwrap();
    let error = chat
        .chat(ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        text.contains("Incorrect API key provided: <redacted>. [invalid_api_key]"),
        "{text}"
    );
    // The key went in the header only, never in the URL.
    let seen = fake.one();
    assert_eq!(seen.path, "/chat/completions");
    assert!(seen.query.is_empty());
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config = DeepgramConfig {
        base_url: base,
        retry: quick_retry(),
        ..DeepgramConfig::default()
    };
    let stt = DeepgramStt::new(config, ApiKey::new(SECRET)).unwrap();
    let error = stt
        .transcribe(Audio16::new(16_000, vec![0; 16]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Transport { attempts: 3, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with("could not reach Deepgram for transcription (3 attempts)"),
        "{text}"
    );
    assert!(!text.contains(SECRET));
}

#[test]
fn bad_settings_fail_before_any_request() {
    let with_base = |base: &str| {
        let mut config = OpenAiChatConfig::new("m");
        config.base_url = base.into();
        OpenAiChat::new(config, None).unwrap_err().to_string()
    };
    assert!(with_base("not a url").contains("base_url"));
    assert!(with_base("ftp://127.0.0.1/v1").contains("http(s)"));
    assert!(with_base("http://127.0.0.1/v1?key=abc").contains("must not carry a query"));
    assert!(OpenAiChat::new(OpenAiChatConfig::new(" "), None)
        .unwrap_err()
        .to_string()
        .contains("model is empty"));
    let error =
        ElevenLabsTts::new(ElevenLabsConfig::default(), ApiKey::new("bad\nkey")).unwrap_err();
    assert!(error.to_string().contains("not allowed in an HTTP header"));
    assert!(!error.to_string().contains("bad\nkey"));
}

#[test]
fn the_defaults_are_the_vendors_https_endpoints() {
    assert_eq!(
        OpenAiChatConfig::new("m").base_url,
        "https://api.openai.com/v1"
    );
    assert_eq!(
        DeepgramConfig::default().base_url,
        "https://api.deepgram.com"
    );
    assert_eq!(
        ElevenLabsConfig::default().base_url,
        "https://api.elevenlabs.io"
    );
    assert_eq!(
        CartesiaConfig::default().base_url,
        "https://api.cartesia.ai"
    );
}

#[test]
fn the_traits_are_object_safe() {
    let chat: Box<dyn LanguageModel> =
        Box::new(OpenAiChat::new(OpenAiChatConfig::new("m"), None).unwrap());
    let stt: Vec<Box<dyn SpeechToText>> = vec![
        Box::new(OpenAiTranscription::new(OpenAiTranscriptionConfig::new("m"), None).unwrap()),
        Box::new(DeepgramStt::new(DeepgramConfig::default(), ApiKey::new("k")).unwrap()),
    ];
    let tts: Vec<std::sync::Arc<dyn TextToSpeech>> = vec![
        std::sync::Arc::new(OpenAiSpeech::new(OpenAiSpeechConfig::new("m"), None).unwrap()),
        std::sync::Arc::new(
            ElevenLabsTts::new(ElevenLabsConfig::default(), ApiKey::new("k")).unwrap(),
        ),
        std::sync::Arc::new(CartesiaTts::new(CartesiaConfig::default(), ApiKey::new("k")).unwrap()),
    ];
    drop((chat, stt, tts));
}

#[test]
fn vendor_messages_in_every_shape() {
    let m = |body: &str| vendor_message(body.as_bytes());
    assert_eq!(m(""), None);
    assert_eq!(
        m(r#"{"error":{"message":"bad","type":"t","code":"c"}}"#).unwrap(),
        "bad [c]"
    );
    assert_eq!(
        m(r#"{"error":{"message":"bad","type":"t","code":null}}"#).unwrap(),
        "bad [t]"
    );
    assert_eq!(
        m(r#"{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials."}"#).unwrap(),
        "Invalid credentials. [INVALID_AUTH]"
    );
    assert_eq!(
        m(r#"{"detail":{"status":"quota_exceeded","message":"Over quota"}}"#).unwrap(),
        "Over quota [quota_exceeded]"
    );
    assert_eq!(m(r#"{"detail":"Not Found"}"#).unwrap(), "Not Found");
    assert!(m(r#"{"detail":[{"loc":["body","text"],"msg":"field required","type":"value_error.missing"}]}"#).unwrap().contains("field required"));
    assert_eq!(m(r#"{"error":"plain"}"#).unwrap(), "plain");
    assert_eq!(m(r#"{"message":"Unauthorized"}"#).unwrap(), "Unauthorized");
    assert_eq!(
        m(r#"{"error_code":null,"title":"Bad request","message":"transcript is empty","request_id":"r"}"#).unwrap(),
        "Bad request: transcript is empty"
    );
    assert_eq!(
        m("<html>Bad gateway</html>").unwrap(),
        "<html>Bad gateway</html>"
    );
    assert_eq!(m(&"x".repeat(1000)).unwrap().len(), 300);
}
