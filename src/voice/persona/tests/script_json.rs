//! Scripts from plain data (what the Python glue passes), and errors that name the culprit.

use serde_json::json;

use super::*;
use crate::voice::persona::scripted::{FinishPolicy, Script, ScriptedPersona};
use crate::voice::persona::scripted::{DEFAULT_SILENCE_LIMIT, SCRIPTED_HANG_UP};

#[test]
fn a_list_of_lines() {
    let script = Script::from_json(&json!([
        "Hi, I'd like a table.",
        {"say": "For two.", "keys": "1 2"},
        {"keys": 3},
        {"say": "Bye!", "hang_up": true},
        {"hang_up": " booked "},
        {"say": "x", "hang_up": false, "keys": null},
    ]))
    .unwrap();
    assert_eq!(
        script.lines,
        vec![
            say("Hi, I'd like a table."),
            Reply {
                say: Some("For two.".into()),
                keys: Some("12".into()),
                hang_up: None,
                barge_in_ms: None
            },
            keys("3"),
            Reply {
                say: Some("Bye!".into()),
                hang_up: Some(SCRIPTED_HANG_UP.into()),
                keys: None,
                barge_in_ms: None
            },
            hang_up("booked"),
            say("x"),
        ]
    );
    assert!(script.rules.is_empty());
    assert_eq!(script.on_silence, None);
    assert_eq!(script.silence_limit, DEFAULT_SILENCE_LIMIT);
    assert_eq!(script.finish, FinishPolicy::HangUp);
}

#[test]
fn the_object_form_with_every_field() {
    let script = Script::from_json(&json!({
        "lines": ["Hello.", {"say": "Thanks.", "hang_up": "done"}],
        "rules": [
            {"when": "your name", "say": "Ada."},
            {"when": ["press one", "press 1"], "keys": "1", "once": true},
            {"when": "goodbye", "say": "Bye.", "hang_up": "agent said goodbye", "once": false},
        ],
        "on_silence": {"say": "Hello? Are you there?"},
        "silence_limit": 3,
        "finish": "wait",
    }))
    .unwrap();
    assert_eq!(script.lines.len(), 2);
    assert_eq!(script.rules.len(), 3);
    assert_eq!(script.rules[0].when.phrases(), ["your name"]);
    assert_eq!(script.rules[0].reply, say("Ada."));
    assert!(!script.rules[0].once);
    assert_eq!(script.rules[1].when.phrases(), ["press one", "press 1"]);
    assert_eq!(script.rules[1].reply, keys("1"));
    assert!(script.rules[1].once);
    assert_eq!(
        script.rules[2].reply,
        Reply {
            say: Some("Bye.".into()),
            keys: None,
            hang_up: Some("agent said goodbye".into()),
            barge_in_ms: None
        }
    );
    assert_eq!(script.on_silence, Some(say("Hello? Are you there?")));
    assert_eq!(script.silence_limit, 3);
    assert_eq!(script.finish, FinishPolicy::Wait);

    // `on_silence` as plain text, and every field optional.
    let script = Script::from_json(&json!({"on_silence": "Hello?", "finish": "hang_up"})).unwrap();
    assert_eq!(script.on_silence, Some(say("Hello?")));
    assert!(script.lines.is_empty());
    assert!(ScriptedPersona::from_json(&json!({"rules": [{"when": "hi", "say": "hi"}]})).is_ok());
}

#[test]
fn a_line_can_barge_in_and_the_persona_says_so_before_the_agent_is_done() {
    let mut persona = ScriptedPersona::from_json(&json!([
        "Hello.",
        {"say": "Sorry, Tuesday.", "barge_in_ms": 800},
        "Bye."
    ]))
    .unwrap();
    assert_eq!(persona.next_barge_in_ms(), None);
    let mut call = Call::default();
    call.said(Speaker::Agent, "Welcome, how can I help?");
    assert_eq!(
        persona.decide(&call.turn(false)).say.as_deref(),
        Some("Hello.")
    );
    assert_eq!(persona.next_barge_in_ms(), Some(800));
    // Asked as the agent starts its answer: the planned line, whatever rules there are.
    let mut turn = call.turn(false);
    turn.barging_in = true;
    let reply = persona.decide(&turn);
    assert_eq!(
        (reply.say.as_deref(), reply.barge_in_ms),
        (Some("Sorry, Tuesday."), Some(800))
    );
    assert_eq!(persona.next_barge_in_ms(), None);
}

#[test]
fn errors_name_the_culprit() {
    let cases = [
        (
            json!(["a", {"say": "b", "barge_in_ms": -5}]),
            "lines[1].barge_in_ms: expected whole milliseconds of the agent's turn, got the number -5",
        ),
        (
            json!([{"keys": "1", "barge_in_ms": 800}]),
            r#"lines[0].barge_in_ms: barging in needs something to say ("say")"#,
        ),
        (
            json!({"rules": [{"when": "hi", "say": "x", "barge_in_ms": 800}]}),
            "rules[0].barge_in_ms: only lines can barge in (a rule or on_silence answers what the agent said or did not say)",
        ),
        (
            json!(["a", "b", {"keys": "x"}]),
            r#"lines[2].keys: "x" is not a phone key (0-9, *, #, A-D)"#,
        ),
        (
            json!([{"keys": "12z"}]),
            r#"lines[0].keys: "z" is not a phone key (0-9, *, #, A-D) in "12z""#,
        ),
        (
            json!([{"keys": ""}]),
            r#"lines[0].keys: "" has no keys to press"#,
        ),
        (
            json!([{"keys": [1]}]),
            r#"lines[0].keys: expected keys as text ("1#"), got a list"#,
        ),
        (
            json!({"rules": [{"say": "hi"}]}),
            r#"rules[0]: missing "when""#,
        ),
        (
            json!({"rules": ["hi"]}),
            r#"rules[0]: expected an object with "when", got "hi""#,
        ),
        (
            json!({"rules": [{"when": "hi"}]}),
            "rules[0]: says nothing, presses no keys and does not hang up",
        ),
        (
            json!({"rules": [{"when": ["ok", 3], "say": "x"}]}),
            "rules[0].when[1]: expected text, got the number 3",
        ),
        (
            json!({"rules": [{"when": "?!", "say": "x"}]}),
            r#"rules[0].when: "?!" has no words to listen for"#,
        ),
        (
            json!({"rules": [{"when": [], "say": "x"}]}),
            "rules[0].when: no phrases to listen for",
        ),
        (
            json!({"rules": [{"when": 1, "say": "x"}]}),
            "rules[0].when: expected a phrase or a list of phrases, got the number 1",
        ),
        (
            json!({"rules": [{"when": "hi", "say": "x", "once": "yes"}]}),
            r#"rules[0].once: expected true or false, got "yes""#,
        ),
        (
            json!({"rules": [{"when": "hi", "sya": "x"}]}),
            r#"rules[0]: unknown key "sya" (expected when, say, keys, hang_up, once)"#,
        ),
        (
            json!({"rules": {"when": "hi"}}),
            "rules: expected a list, got an object",
        ),
        (
            json!({"lines": ["a"], "rule": []}),
            r#"script: unknown key "rule" (expected lines, rules, on_silence, silence_limit, finish)"#,
        ),
        (
            json!(42),
            r#"script: expected a list of lines or an object with "lines", got the number 42"#,
        ),
        (
            json!("hello"),
            r#"script: expected a list of lines or an object with "lines", got "hello""#,
        ),
        (
            json!({"lines": "hello"}),
            r#"lines: expected a list, got "hello""#,
        ),
        (
            json!([{"sya": "hi"}]),
            r#"lines[0]: unknown key "sya" (expected say, keys, hang_up, barge_in_ms)"#,
        ),
        (
            json!(["ok", {}]),
            "lines[1]: says nothing, presses no keys and does not hang up",
        ),
        (json!(["  "]), "lines[0].say: nothing to say (blank text)"),
        (
            json!([7]),
            r#"lines[0]: expected text to say or an object with "say", "keys", "hang_up", got the number 7"#,
        ),
        (
            json!([{"say": 5}]),
            "lines[0].say: expected text, got the number 5",
        ),
        (
            json!([{"hang_up": ""}]),
            "lines[0].hang_up: blank reason (give one, or true)",
        ),
        (
            json!([{"hang_up": 1}]),
            "lines[0].hang_up: expected a reason or true, got the number 1",
        ),
        (
            json!({"on_silence": {"keys": "#x"}}),
            r##"on_silence.keys: "x" is not a phone key (0-9, *, #, A-D) in "#x""##,
        ),
        (
            json!({"on_silence": []}),
            r#"on_silence: expected text to say or an object with "say", "keys", "hang_up", got a list"#,
        ),
        (
            json!({"silence_limit": -1}),
            "silence_limit: expected a whole number of turns, got the number -1",
        ),
        (
            json!({"silence_limit": 1.5}),
            "silence_limit: expected a whole number of turns, got the number 1.5",
        ),
        (
            json!({"finish": "stop"}),
            r#"finish: expected "hang_up" or "wait", got "stop""#,
        ),
    ];
    for (value, expected) in cases {
        let error = Script::from_json(&value).unwrap_err();
        assert_eq!(error.to_string(), expected, "for {value}");
        assert_eq!(format!("{}: {}", error.path, error.message), expected);
    }
    // Long strings are not echoed whole.
    let long = "x".repeat(500);
    let error = Script::from_json(&json!({"finish": long}))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        r#"finish: expected "hang_up" or "wait", got a long string"#
    );
}
