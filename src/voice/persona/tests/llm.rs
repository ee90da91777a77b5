//! The model-played persona against a fake model: the messages it sends (roles the right
//! way round) and what it makes of the answers.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::voice::persona::llm::{call_messages, DEFAULT_END_REASON, END_CALL, PRESS_KEYS};
use crate::voice::persona::{CallerPersona, LlmPersona, LlmPersonaOptions};
use crate::voice::providers::fake_model::{text, with_tools, FakeModel};
use crate::voice::providers::{ChatResponse, Role};

fn persona(model: &Arc<FakeModel>, options: LlmPersonaOptions) -> LlmPersona {
    LlmPersona::new(
        model.clone(),
        CallerPersona::new("Ada", "A retired mathematician who speaks precisely."),
        "Book a table for two tonight at eight; refuse the bar seats.",
        options,
    )
}

fn roles_and_texts(messages: &[crate::voice::providers::Message]) -> Vec<(Role, String)> {
    messages
        .iter()
        .map(|m| (m.role, m.content.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn the_request_has_the_persona_the_tools_and_the_call_with_roles_inverted() {
    let model = Arc::new(FakeModel::answering(vec![text("Eight o'clock, please.")]));
    let options = LlmPersonaOptions {
        temperature: Some(0.7),
        max_tokens: Some(150),
        language: Some("British English".into()),
        ..LlmPersonaOptions::default()
    };
    let mut persona = persona(&model, options);
    let mut call = Call::default();
    call.said(Speaker::Agent, "Luigi's, how can I help?")
        .said_cut(
            Speaker::Caller,
            "A table for two tonight, if you have",
            true,
        )
        .said(
            Speaker::Agent,
            "Sure. Press 1 for the terrace, 2 for inside.",
        )
        .pressed(Speaker::Caller, "2")
        .pressed(Speaker::Agent, "#")
        .said(Speaker::Agent, " Inside it is. What time? ");
    let reply = persona.reply(call.turn(false)).await.unwrap();
    assert_eq!(reply, say("Eight o'clock, please."));

    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let system = request.messages[0].content.clone().unwrap();
    assert_eq!(request.messages[0].role, Role::System);
    for part in [
        "Ada",
        "A retired mathematician who speaks precisely.",
        "Book a table for two tonight at eight; refuse the bar seats.",
        "Speak British English only.",
        "one or two sentences",
        "no stage directions",
        "no markdown",
        PRESS_KEYS,
        END_CALL,
    ] {
        assert!(system.contains(part), "{part:?} missing from {system}");
    }
    // The agent's words are the user's; the caller's own are the assistant's.
    assert_eq!(
        roles_and_texts(&request.messages[1..]),
        vec![
            (
                Role::User,
                "[The call has connected.]\nLuigi's, how can I help?".into()
            ),
            (
                Role::Assistant,
                "A table for two tonight, if you have".into()
            ),
            (
                Role::User,
                "[The agent talked over you there, so it may not have heard all of that.]\n\
                 Sure. Press 1 for the terrace, 2 for inside.\n\
                 [You pressed 2.]\n\
                 [The agent's side played the key tones #.]\n\
                 Inside it is. What time?"
                    .into()
            ),
        ]
    );
    let tools: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tools, [PRESS_KEYS, END_CALL]);
    assert_eq!(request.tools[0].parameters["required"], json!(["digits"]));
    assert_eq!(request.tools[1].parameters["required"], json!(["reason"]));
    assert_eq!(request.tool_choice, None);
    assert_eq!(request.response_format, None);
    assert_eq!(request.temperature, Some(0.7));
    assert_eq!(request.max_tokens, Some(150));
}

#[test]
fn keys_in_a_row_make_one_note_and_silence_is_a_note() {
    let mut call = Call::default();
    call.said(Speaker::Agent, "Enter your PIN.")
        .pressed(Speaker::Caller, "1234#");
    call.at_ms += 6000;
    let messages = call_messages(&call.turn(true));
    assert_eq!(
        roles_and_texts(&messages),
        vec![(
            Role::User,
            "[The call has connected.]\nEnter your PIN.\n[You pressed 1234#.]\n\
             [Silence: the agent has said nothing for 7 s.]"
                .into()
        )]
    );

    // Nothing said yet: the note counts from the start.
    let call = Call {
        at_ms: 4200,
        ..Call::default()
    };
    assert_eq!(
        roles_and_texts(&call_messages(&call.turn(true))),
        vec![(
            Role::User,
            "[The call has connected.]\n\
             [Silence: the agent has said nothing since the call connected 4 s ago.]"
                .into()
        )]
    );

    // The caller spoke first and the agent has not answered: the model still gets a turn
    // that ends with the user.
    let mut call = Call::default();
    call.said(Speaker::Caller, "Hello?");
    let messages = call_messages(&call.turn(false));
    assert_eq!(
        roles_and_texts(&messages),
        vec![
            (Role::User, "[The call has connected.]".into()),
            (Role::Assistant, "Hello?".into()),
            (Role::User, "[The agent has not answered yet.]".into()),
        ]
    );
}

/// The reply the persona makes of one answer.
async fn read(answer: ChatResponse) -> Result<Reply, ProviderError> {
    let model = Arc::new(FakeModel::answering(vec![answer]));
    let mut persona = persona(&model, LlmPersonaOptions::default());
    let mut call = Call::default();
    call.exchange(&mut persona, Some("Hello?")).await
}

#[tokio::test]
async fn text_and_tool_calls_become_the_reply() {
    assert_eq!(read(text("  Hi there.  ")).await.unwrap(), say("Hi there."));
    assert_eq!(
        read(with_tools(
            Some("Thanks, goodbye!"),
            &[(END_CALL, json!({"reason": " booked "}))]
        ))
        .await
        .unwrap(),
        Reply {
            say: Some("Thanks, goodbye!".into()),
            keys: None,
            hang_up: Some("booked".into()),
            barge_in_ms: None
        }
    );
    assert_eq!(
        read(with_tools(None, &[(END_CALL, json!({}))]))
            .await
            .unwrap(),
        hang_up(DEFAULT_END_REASON)
    );
    assert_eq!(
        read(with_tools(None, &[(PRESS_KEYS, json!({"digits": "1, 2"}))]))
            .await
            .unwrap(),
        keys("12")
    );
    // Two presses in one answer are pressed in order; a number is its digits.
    assert_eq!(
        read(with_tools(
            Some("Okay."),
            &[
                (PRESS_KEYS, json!({"digits": "4"})),
                (PRESS_KEYS, json!({"digits": 21}))
            ]
        ))
        .await
        .unwrap(),
        Reply {
            say: Some("Okay.".into()),
            keys: Some("421".into()),
            hang_up: None,
            barge_in_ms: None
        }
    );
    // The model echoing the notes it was shown does not get them spoken; nor quotes.
    assert_eq!(
        read(text("[You pressed 1.] \"Okay, done.\""))
            .await
            .unwrap(),
        say("Okay, done.")
    );
    assert_eq!(read(text("[pauses]")).await.unwrap(), Reply::default());
}

#[tokio::test]
async fn bad_tool_calls_are_model_errors_that_say_what_was_wrong() {
    let error = read(with_tools(None, &[(PRESS_KEYS, json!({"digits": "12x"}))]))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Decode { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        r#"persona model's answer to the caller's turn could not be read: press_keys digits: "x" is not a phone key (0-9, *, #, A-D) in "12x""#
    );
    let error = read(with_tools(None, &[(PRESS_KEYS, json!({"keys": "1"}))]))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with(r#"press_keys was called without "digits" as text: {"keys":"1"}"#),
        "{error}"
    );
    let error = read(with_tools(Some("Hi"), &[("transfer", json!({}))]))
        .await
        .unwrap_err();
    assert!(
        error.to_string().ends_with(
            r#"the model called "transfer", a tool it was not given (press_keys and end_call are)"#
        ),
        "{error}"
    );
}

#[tokio::test]
async fn empty_answers_are_waits_until_too_many_in_a_row() {
    let empty = || with_tools(None, &[]);
    let model = Arc::new(FakeModel::answering(vec![
        empty(),
        text("Hello?"),
        empty(),
        empty(),
        empty(),
    ]));
    let mut persona = persona(&model, LlmPersonaOptions::default());
    let mut call = Call::default();
    assert_eq!(
        call.exchange(&mut persona, Some("One moment."))
            .await
            .unwrap(),
        Reply::default()
    );
    // Speech in between starts the count again.
    assert_eq!(
        call.exchange(&mut persona, None).await.unwrap(),
        say("Hello?")
    );
    assert_eq!(
        call.exchange(&mut persona, None).await.unwrap(),
        Reply::default()
    );
    assert_eq!(
        call.exchange(&mut persona, None).await.unwrap(),
        Reply::default()
    );
    let error = call.exchange(&mut persona, None).await.unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("the model answered nothing (no text, no tool call) 3 turns in a row"),
        "{error}"
    );
}

#[tokio::test]
async fn an_answer_cut_off_before_any_word_is_an_error_at_once() {
    let mut cut = with_tools(None, &[]);
    cut.finish_reason = Some("length".into());
    let error = read(cut).await.unwrap_err();
    assert!(error.to_string().contains("raise max_tokens"), "{error}");
}

#[tokio::test]
async fn provider_errors_pass_through_unchanged() {
    let refused = ProviderError::Api {
        provider: "OpenAI-compatible",
        operation: "chat completion",
        status: 401,
        message: Some("bad key".into()),
        attempts: 1,
    };
    let model = Arc::new(FakeModel::new(vec![Err(refused.clone())]));
    let mut persona = persona(&model, LlmPersonaOptions::default());
    let error = Call::default()
        .exchange(&mut persona, Some("Hi"))
        .await
        .unwrap_err();
    assert_eq!(error, refused);
}

#[test]
fn the_persona_and_its_future_are_send() {
    fn send<T: Send>(_: &T) {}
    let model = Arc::new(FakeModel::answering(vec![]));
    let mut persona = persona(&model, LlmPersonaOptions::default());
    send(&persona);
    let call = Call::default();
    let future = persona.reply(call.turn(true));
    send(&future);
}
