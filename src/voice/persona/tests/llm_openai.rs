//! The model-played persona through the real OpenAI-compatible client, against a fake
//! OpenAI server that checks what arrives on the wire.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::voice::persona::{CallerPersona, LlmPersona, LlmPersonaOptions};
use crate::voice::providers::fake_vendor::{self, openai_completion, quick_retry, FakeVendor};
use crate::voice::providers::{ApiKey, OpenAiChat, OpenAiChatConfig};

#[tokio::test]
async fn a_call_through_the_openai_client() {
    let fake = FakeVendor::start(
        vec![
            fake_vendor::Reply::json(
                200,
                openai_completion(Some("Hi, I'd like a table for two."), &[]),
            ),
            fake_vendor::Reply::json(
                200,
                openai_completion(None, &[("press_keys", json!({"digits": "2"}))]),
            ),
            fake_vendor::Reply::json(
                200,
                openai_completion(
                    Some("Perfect, thank you. Bye!"),
                    &[("end_call", json!({"reason": "table booked"}))],
                ),
            ),
        ],
        fake_vendor::Reply::json(500, json!({"error": "unexpected"})),
    )
    .await;
    let mut config = OpenAiChatConfig::new("gpt-4o-mini");
    config.base_url = format!("{}/v1", fake.base);
    config.retry = quick_retry();
    let chat = OpenAiChat::new(config, Some(ApiKey::new("sk-test"))).unwrap();
    let options = LlmPersonaOptions {
        temperature: Some(0.8),
        ..LlmPersonaOptions::default()
    };
    let mut persona = LlmPersona::new(
        Arc::new(chat),
        CallerPersona::new("Ada", "Precise and polite."),
        "Book a table for two.",
        options,
    );
    let mut call = Call::default();
    let first = call
        .exchange(&mut persona, Some("Luigi's, hello!"))
        .await
        .unwrap();
    assert_eq!(first, say("Hi, I'd like a table for two."));
    let second = call
        .exchange(
            &mut persona,
            Some("Press 1 for the terrace or 2 for inside."),
        )
        .await
        .unwrap();
    assert_eq!(second, keys("2"));
    let third = call
        .exchange(&mut persona, Some("Done: 8 pm, inside."))
        .await
        .unwrap();
    assert_eq!(
        third,
        Reply {
            say: Some("Perfect, thank you. Bye!".into()),
            keys: None,
            hang_up: Some("table booked".into()),
            barge_in_ms: None
        }
    );

    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
        let body = request.json();
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["temperature"], json!(0.8f32));
        assert!(body.get("max_tokens").is_none(), "{body}");
        assert!(body.get("tool_choice").is_none(), "{body}");
        assert!(body.get("response_format").is_none(), "{body}");
        let tools = body["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 2);
        assert_eq!(tools[0]["type"], "function");
        assert_eq!(tools[0]["function"]["name"], "press_keys");
        assert_eq!(
            tools[0]["function"]["parameters"]["properties"]["digits"]["type"],
            "string"
        );
        assert_eq!(tools[1]["function"]["name"], "end_call");
        assert_eq!(
            tools[1]["function"]["parameters"]["required"],
            json!(["reason"])
        );
    }
    let roles = |i: usize| -> Vec<String> {
        seen[i].json()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(roles(0), ["system", "user"]);
    assert_eq!(roles(1), ["system", "user", "assistant", "user"]);
    // The keys-only reply adds no assistant message: it is a note in the agent's turn.
    assert_eq!(roles(2), ["system", "user", "assistant", "user"]);
    let last = seen[2].json();
    let messages = last["messages"].as_array().unwrap();
    assert!(messages[0]["content"]
        .as_str()
        .unwrap()
        .contains("Book a table for two."));
    assert_eq!(messages[2]["content"], "Hi, I'd like a table for two.");
    assert_eq!(
        messages[3]["content"],
        "Press 1 for the terrace or 2 for inside.\n[You pressed 2.]\nDone: 8 pm, inside."
    );
}
