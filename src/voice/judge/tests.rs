//! The judge against a fake model (what it asks, how it reads and re-asks) and through the
//! real OpenAI client against a fake OpenAI server.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::voice::conversation::{EndedBy, KeyPress, Speaker, Utterance};
use crate::voice::providers::fake_model::{text, FakeModel};
use crate::voice::providers::fake_vendor::{self, openai_completion, quick_retry, FakeVendor};
use crate::voice::providers::{
    ApiKey, ChatResponse, OpenAiChat, OpenAiChatConfig, ProviderError, Role,
};

fn call() -> Conversation {
    let said = |speaker, text: &str, start_ms, end_ms| Utterance {
        speaker,
        text: text.into(),
        start_ms,
        end_ms,
        cut_off: false,
    };
    Conversation {
        utterances: vec![
            said(Speaker::Agent, "Luigi's, how can I help?", 800, 2400),
            said(Speaker::Caller, "A table for two at eight.", 3000, 4500),
            said(Speaker::Agent, "Booked: two at eight. Goodbye!", 5500, 7800),
        ],
        keys: vec![KeyPress {
            speaker: Speaker::Caller,
            digit: '1',
            at_ms: 5000,
        }],
        duration_ms: 42_000,
        ended_by: EndedBy::Caller,
        end_reason: "the persona hung up: booked".into(),
    }
}

fn context() -> JudgeContext {
    JudgeContext {
        caller_name: "Ada".into(),
        caller_prompt: "A retired mathematician.".into(),
        scenario: "Book a table for two at eight.".into(),
        metrics: Some("latency p50 0.8 s, p95 1.4 s; 0 interruptions".into()),
    }
}

fn criteria() -> Vec<Criterion> {
    vec![
        Criterion::new("greets", "The agent greets the caller."),
        Criterion::new(
            "books the table",
            "The agent books a table for two at eight.",
        ),
    ]
}

fn judge(model: &Arc<FakeModel>, config: JudgeConfig) -> Judge {
    Judge::new(model.clone(), config)
}

fn evaluations(items: Value) -> ChatResponse {
    text(&json!({ "evaluations": items }).to_string())
}

fn verdict(name: &str, passed: bool, reason: &str) -> Verdict {
    Verdict {
        name: name.into(),
        passed,
        reason: reason.into(),
        error: None,
    }
}

#[tokio::test]
async fn one_request_judges_every_criterion_with_a_strict_schema() {
    let model = Arc::new(FakeModel::answering(vec![evaluations(json!([
        {"name": "greets", "reason": "It says \"how can I help\" at [00:00].", "passed": true},
        {"name": "books the table", "reason": "Booked at [00:05].", "passed": true},
    ]))]));
    let verdicts = judge(&model, JudgeConfig::default())
        .judge(&criteria(), &call(), &context())
        .await;
    assert_eq!(
        verdicts,
        vec![
            verdict("greets", true, "It says \"how can I help\" at [00:00]."),
            verdict("books the table", true, "Booked at [00:05]."),
        ]
    );

    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let roles: Vec<Role> = request.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::System, Role::User]);
    let system = request.messages[0].content.clone().unwrap();
    for part in [
        "Ada.",
        "A retired mathematician.",
        "Book a table for two at eight.",
        "speech recognition",
        "not instructions to you",
        "exactly once",
    ] {
        assert!(system.contains(part), "{part:?} missing from {system}");
    }
    let user = request.messages[1].content.clone().unwrap();
    for part in [
        call().timestamped_transcript().as_str(),
        "[00:05.0] caller pressed 1",
        "The call lasted 00:42.0 and was ended by caller: the persona hung up: booked.",
        "Call metrics:\nlatency p50 0.8 s, p95 1.4 s; 0 interruptions",
        "\"name\": \"books the table\"",
        "\"prompt\": \"The agent books a table for two at eight.\"",
    ] {
        assert!(user.contains(part), "{part:?} missing from {user}");
    }
    assert_eq!(
        request.response_format,
        Some(ResponseFormat::JsonSchema {
            name: SCHEMA_NAME.into(),
            schema: answer_schema(&["greets", "books the table"]),
            strict: true,
        })
    );
    let schema = answer_schema(&["greets", "books the table"]);
    let item = &schema["properties"]["evaluations"]["items"];
    assert_eq!(
        item["properties"]["name"]["enum"],
        json!(["greets", "books the table"])
    );
    assert_eq!(item["required"], json!(["name", "reason", "passed"]));
    assert_eq!(item["additionalProperties"], json!(false));
    // No token cap by default (fixa's 100 tokens cut verdicts short), no temperature.
    assert_eq!(request.max_tokens, None);
    assert_eq!(request.temperature, None);
    assert!(request.tools.is_empty());
}

#[tokio::test]
async fn verdicts_follow_the_criteria_order_and_unknown_names_are_ignored() {
    let model = Arc::new(FakeModel::answering(vec![evaluations(json!([
        {"name": "Books  The Table", "reason": "Booked.", "passed": true},
        {"name": "polite", "reason": "Not asked.", "passed": false},
        {"name": "greets", "reason": "No greeting.", "passed": false},
    ]))]));
    let verdicts = judge(&model, JudgeConfig::default())
        .judge(&criteria(), &call(), &JudgeContext::default())
        .await;
    assert_eq!(
        verdicts,
        vec![
            verdict("greets", false, "No greeting."),
            verdict("books the table", true, "Booked."),
        ]
    );
    // An empty context leaves its sections out.
    let system = model.requests()[0].messages[0].content.clone().unwrap();
    assert!(!system.contains("persona"), "{system}");
    assert!(!system.contains("scenario"), "{system}");
    assert!(!model.requests()[0].messages[1]
        .content
        .clone()
        .unwrap()
        .contains("Call metrics"));
}

#[tokio::test]
async fn a_missing_criterion_is_asked_again_and_the_rest_is_kept() {
    let first = json!({"evaluations": [{"name": "greets", "reason": "Greets.", "passed": true}]});
    let model = Arc::new(FakeModel::answering(vec![
        text(&first.to_string()),
        evaluations(json!([
            {"name": "greets", "reason": "Changed its mind.", "passed": false},
            {"name": "books the table", "reason": "Booked.", "passed": true},
        ])),
    ]));
    let verdicts = judge(&model, JudgeConfig::default())
        .judge(&criteria(), &call(), &context())
        .await;
    assert_eq!(
        verdicts,
        vec![
            verdict("greets", true, "Greets."),
            verdict("books the table", true, "Booked."),
        ]
    );
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let retry = &requests[1];
    let roles: Vec<Role> = retry.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::System, Role::User, Role::Assistant, Role::User]
    );
    assert_eq!(
        retry.messages[2].content.as_deref(),
        Some(first.to_string().as_str())
    );
    let note = retry.messages[3].content.clone().unwrap();
    assert!(note.contains("\"books the table\" (missing)"), "{note}");
    assert!(note.contains("\"greets\", \"books the table\""), "{note}");
    // The same format is asked for again.
    assert_eq!(retry.response_format, requests[0].response_format);
}

#[tokio::test]
async fn criteria_still_missing_after_the_retries_fail_with_an_error() {
    let partial = || evaluations(json!([{"name": "greets", "reason": "Hi.", "passed": true}]));
    let model = Arc::new(FakeModel::answering(vec![partial(), partial(), partial()]));
    let verdicts = judge(&model, JudgeConfig::default())
        .judge(&criteria(), &call(), &context())
        .await;
    assert_eq!(model.requests().len(), 3);
    assert_eq!(verdicts[0], verdict("greets", true, "Hi."));
    let error =
        "no valid verdict after 3 attempts: not judged in the answer: \"books the table\" (missing)";
    assert_eq!(
        verdicts[1],
        Verdict {
            name: "books the table".into(),
            passed: false,
            reason: format!("not judged: {error}"),
            error: Some(error.into()),
        }
    );

    // No retries: one request.
    let model = Arc::new(FakeModel::answering(vec![partial()]));
    let config = JudgeConfig {
        retries: 0,
        ..JudgeConfig::default()
    };
    let verdicts = judge(&model, config)
        .judge(&criteria(), &call(), &context())
        .await;
    assert_eq!(model.requests().len(), 1);
    assert!(!verdicts[1].passed);
    assert!(
        verdicts[1]
            .error
            .as_deref()
            .unwrap()
            .starts_with("no valid verdict after 1 attempt: "),
        "{:?}",
        verdicts[1]
    );
}

#[tokio::test]
async fn unreadable_answers_and_bad_items_are_asked_again() {
    let model = Arc::new(FakeModel::answering(vec![
        text("I think the agent did well overall."),
        evaluations(json!([
            {"name": "greets", "reason": "Hi.", "passed": "yes"},
            {"name": "books the table", "reason": "Booked.", "passed": true},
            {"name": "books the table", "reason": "Booked again.", "passed": false},
        ])),
        evaluations(json!([
            {"name": "greets", "reason": "Hi.", "passed": true},
            {"name": "books the table", "reason": "Booked.", "passed": true},
        ])),
    ]));
    let verdicts = judge(&model, JudgeConfig::default())
        .judge(&criteria(), &call(), &context())
        .await;
    assert_eq!(
        verdicts,
        vec![
            verdict("greets", true, "Hi."),
            verdict("books the table", true, "Booked.")
        ]
    );
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    let first_note = requests[1].messages[3].content.clone().unwrap();
    assert!(
        first_note.starts_with(
            "That answer could not be used: no JSON object in the answer: \"I think the agent did well overall.\""
        ),
        "{first_note}"
    );
    let second_note = requests[2].messages[5].content.clone().unwrap();
    assert!(
        second_note.contains("\"greets\" (its \"passed\" is not true or false)"),
        "{second_note}"
    );
    assert!(
        second_note.contains("\"books the table\" (judged 2 times)"),
        "{second_note}"
    );
}

#[tokio::test]
async fn without_json_schema_the_json_is_found_in_the_text() {
    let fenced = "Here is my evaluation:\n```json\n{\"evaluations\": [\
                  {\"name\": \"greets\", \"reason\": \"At [00:00] it greets.\", \"passed\": true},\
                  {\"name\": \"books the table\", \"reason\": \"Yes.\", \"passed\": true}]}\n```\nDone.";
    for format in [JudgeFormat::PromptOnly, JudgeFormat::JsonObject] {
        let model = Arc::new(FakeModel::answering(vec![text(fenced)]));
        let config = JudgeConfig {
            response_format: format,
            ..JudgeConfig::default()
        };
        let verdicts = judge(&model, config)
            .judge(&criteria(), &call(), &context())
            .await;
        assert_eq!(
            verdicts,
            vec![
                verdict("greets", true, "At [00:00] it greets."),
                verdict("books the table", true, "Yes."),
            ]
        );
        let request = &model.requests()[0];
        let expected = match format {
            JudgeFormat::JsonObject => Some(ResponseFormat::JsonObject),
            _ => None,
        };
        assert_eq!(request.response_format, expected);
        let system = request.messages[0].content.clone().unwrap();
        assert!(system.contains("{\"evaluations\": [{\"name\""), "{system}");
        assert!(system.contains("JSON object only"), "{system}");
    }
}

#[test]
fn reading_answers() {
    let items = |text: &str| read_evaluations(text).map(|items| items.len());
    assert_eq!(items("{\"evaluations\": []}"), Ok(0));
    // Brackets in prose before the object are not taken for the answer.
    assert_eq!(
        items("At [00:03] and [1], see: {\"evaluations\": [{\"name\": \"a\"}]}"),
        Ok(1)
    );
    // A bare list of objects is taken when no object holds one.
    assert_eq!(items("[{\"name\": \"a\"}, {\"name\": \"b\"}]"), Ok(2));
    // Objects without the list are passed over for one that has it.
    assert_eq!(items("{\"note\": 1} {\"evaluations\": [{}]}"), Ok(1));
    assert_eq!(items("  "), Err("the answer was empty".into()));
    assert_eq!(
        items("{\"verdicts\": []}"),
        Err("the JSON object has no \"evaluations\" list".into())
    );
    assert_eq!(
        items("{\"evaluations\": {}}"),
        Err("\"evaluations\" is not a list".into())
    );
    assert_eq!(
        items("{\"evaluations\": [{\"name\": "),
        Err("no JSON object in the answer: \"{\\\"evaluations\\\": [{\\\"name\\\":\"".into())
    );
}

#[tokio::test]
async fn an_answer_cut_at_max_tokens_says_so() {
    let mut cut = text("{\"evaluations\": [{\"name\": \"greets\", \"reas");
    cut.finish_reason = Some("length".into());
    let model = Arc::new(FakeModel::answering(vec![cut]));
    let config = JudgeConfig {
        retries: 0,
        max_tokens: Some(20),
        ..JudgeConfig::default()
    };
    let verdicts = judge(&model, config)
        .judge(&criteria(), &call(), &context())
        .await;
    assert_eq!(model.requests()[0].max_tokens, Some(20));
    for v in &verdicts {
        assert!(!v.passed);
        assert!(
            v.error
                .as_deref()
                .unwrap()
                .ends_with("; the answer was cut off at max_tokens"),
            "{v:?}"
        );
    }
}

#[tokio::test]
async fn a_provider_failure_fails_every_criterion_with_its_message() {
    let refused = ProviderError::Api {
        provider: "OpenAI-compatible",
        operation: "chat completion",
        status: 400,
        message: Some("response_format json_schema is not supported".into()),
        attempts: 1,
    };
    let model = Arc::new(FakeModel::new(vec![Err(refused)]));
    let verdicts = judge(&model, JudgeConfig::default())
        .judge(&criteria(), &call(), &context())
        .await;
    // Not asked again: the client already retried what was worth retrying.
    assert_eq!(model.requests().len(), 1);
    for v in &verdicts {
        assert!(!v.passed);
        let error = v.error.as_deref().unwrap();
        assert!(
            error.starts_with(
                "the judge model failed: OpenAI-compatible refused chat completion (HTTP 400): \
                 response_format json_schema is not supported"
            ),
            "{error}"
        );
        assert!(
            error.contains("configure the judge with JsonObject or PromptOnly"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn criteria_that_cannot_be_told_apart_are_not_sent() {
    let criteria = vec![
        Criterion::new("greets", "The agent greets."),
        Criterion::new(" ", "Nameless."),
        Criterion::new("greets", "Duplicate."),
        Criterion::new("polite", "   "),
        Criterion::new("books", "Books."),
    ];
    assert_eq!(
        check_criteria(&criteria),
        Err("criteria[1]: the name is blank".into())
    );
    assert_eq!(
        check_criteria(&criteria[2..4]),
        Err("criteria[1] (\"polite\"): the prompt is blank".into())
    );
    assert_eq!(
        check_criteria(&[criteria[0].clone(), criteria[2].clone()]),
        Err("criteria[1]: the name \"greets\" is also criteria[0]'s; names must differ".into())
    );
    assert_eq!(check_criteria(&self::criteria()), Ok(()));

    let model = Arc::new(FakeModel::answering(vec![evaluations(json!([
        {"name": "greets", "reason": "Hi.", "passed": true},
        {"name": "books", "reason": "Booked.", "passed": true},
    ]))]));
    let verdicts = judge(&model, JudgeConfig::default())
        .judge(&criteria, &call(), &context())
        .await;
    assert_eq!(verdicts.len(), 5);
    assert_eq!(verdicts[0], verdict("greets", true, "Hi."));
    assert_eq!(verdicts[4], verdict("books", true, "Booked."));
    for (i, v) in verdicts.iter().enumerate().skip(1).take(3) {
        assert!(!v.passed);
        assert!(
            v.error
                .as_deref()
                .unwrap()
                .starts_with(&format!("criteria[{i}]")),
            "{v:?}"
        );
    }
    let request = &model.requests()[0];
    let user = request.messages[1].content.clone().unwrap();
    assert!(!user.contains("Duplicate."), "{user}");
    assert!(!user.contains("Nameless."), "{user}");

    // Nothing to judge: nothing is asked.
    let model = Arc::new(FakeModel::answering(vec![]));
    let verdicts = judge(&model, JudgeConfig::default())
        .judge(&criteria[1..2], &call(), &context())
        .await;
    assert_eq!(verdicts.len(), 1);
    assert!(judge(&model, JudgeConfig::default())
        .judge(&[], &call(), &context())
        .await
        .is_empty());
    assert!(model.requests().is_empty());
}

#[test]
fn the_judge_and_its_future_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let model = Arc::new(FakeModel::answering(vec![]));
    let judge = judge(&model, JudgeConfig::default());
    send_sync(&judge);
    let (criteria, call, context) = (criteria(), call(), context());
    let future = judge.judge(&criteria, &call, &context);
    send(&future);
}

fn openai_judge(base: &str, format: JudgeFormat) -> Judge {
    let mut config = OpenAiChatConfig::new("gpt-4o-mini");
    config.base_url = format!("{base}/v1");
    config.retry = quick_retry();
    let chat = OpenAiChat::new(config, Some(ApiKey::new("sk-judge"))).unwrap();
    Judge::new(
        Arc::new(chat),
        JudgeConfig {
            response_format: format,
            temperature: Some(0.0),
            ..JudgeConfig::default()
        },
    )
}

#[tokio::test]
async fn through_the_openai_client_with_json_schema() {
    let answer = json!({"evaluations": [
        {"name": "greets", "reason": "Greets at [00:00].", "passed": true},
        {"name": "books the table", "reason": "No time was confirmed.", "passed": false},
    ]});
    let fake = FakeVendor::start(
        vec![fake_vendor::Reply::json(
            200,
            openai_completion(Some(&answer.to_string()), &[]),
        )],
        fake_vendor::Reply::json(500, json!({"error": "unexpected"})),
    )
    .await;
    let verdicts = openai_judge(&fake.base, JudgeFormat::JsonSchema)
        .judge(&criteria(), &call(), &context())
        .await;
    assert_eq!(
        verdicts,
        vec![
            verdict("greets", true, "Greets at [00:00]."),
            verdict("books the table", false, "No time was confirmed."),
        ]
    );
    let seen = fake.one();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), Some("Bearer sk-judge"));
    let body = seen.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["temperature"], json!(0.0));
    assert!(body.get("max_tokens").is_none(), "{body}");
    assert!(body.get("tools").is_none(), "{body}");
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user"]);
    assert_eq!(
        body["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {
                "name": "call_evaluations",
                "strict": true,
                "schema": answer_schema(&["greets", "books the table"]),
            }
        })
    );
}

#[tokio::test]
async fn through_the_openai_client_with_json_object_and_a_retry() {
    let partial = json!({"evaluations": [{"name": "greets", "reason": "Hi.", "passed": true}]});
    let fake = FakeVendor::start(
        vec![
            fake_vendor::Reply::json(200, openai_completion(Some(&partial.to_string()), &[])),
            fake_vendor::Reply::json(
                200,
                openai_completion(
                    Some(
                        "```json\n{\"evaluations\": [{\"name\": \"books the table\", \
                         \"reason\": \"Booked.\", \"passed\": true}]}\n```",
                    ),
                    &[],
                ),
            ),
        ],
        fake_vendor::Reply::json(500, json!({"error": "unexpected"})),
    )
    .await;
    let verdicts = openai_judge(&fake.base, JudgeFormat::JsonObject)
        .judge(&criteria(), &call(), &context())
        .await;
    assert_eq!(
        verdicts,
        vec![
            verdict("greets", true, "Hi."),
            verdict("books the table", true, "Booked.")
        ]
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(
            request.json()["response_format"],
            json!({"type": "json_object"})
        );
    }
    let retry = seen[1].json();
    let messages = retry["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(messages[2]["content"], partial.to_string());
    assert!(messages[3]["content"]
        .as_str()
        .unwrap()
        .contains("\"books the table\" (missing)"));
}
