//! The scripted persona's choices: lines, rules, `once`, silence, the end of the script.

use super::*;
use crate::voice::persona::scripted::{FinishPolicy, Pattern, Rule, Script, ScriptedPersona};
use crate::voice::persona::scripted::{AGENT_SILENT, SCRIPT_FINISHED};

/// The agent says `agent` (or is silent), the persona decides, the engine records it.
fn step(persona: &mut ScriptedPersona, call: &mut Call, agent: Option<&str>) -> Reply {
    match agent {
        Some(text) => {
            call.said(Speaker::Agent, text);
        }
        None => call.at_ms += 5000,
    }
    let reply = persona.decide(&call.turn(agent.is_none()));
    call.record(&reply);
    reply
}

fn rule(when: &[&str], reply: Reply, once: bool) -> Rule {
    Rule {
        when: Pattern::new(when).unwrap(),
        reply,
        once,
    }
}

fn nudging(limit: u32) -> Script {
    Script {
        lines: vec![say("one"), say("two"), say("three")],
        on_silence: Some(say("Hello? Are you there?")),
        silence_limit: limit,
        ..Script::default()
    }
}

#[tokio::test]
async fn lines_are_said_in_order_then_the_caller_hangs_up() {
    let mut persona =
        ScriptedPersona::new(Script::lines(["Hi, a table please.", "Two people."])).unwrap();
    let mut call = Call::default();
    let persona: &mut dyn Persona = &mut persona;
    assert_eq!(
        call.exchange(persona, Some("Luigi's, hello!"))
            .await
            .unwrap(),
        say("Hi, a table please.")
    );
    assert_eq!(
        call.exchange(persona, Some("How many?")).await.unwrap(),
        say("Two people.")
    );
    assert_eq!(
        call.exchange(persona, Some("Done.")).await.unwrap(),
        hang_up(SCRIPT_FINISHED)
    );
    assert_eq!(SCRIPT_FINISHED, "script finished");
}

#[test]
fn a_matching_rule_answers_instead_of_the_next_line_which_waits() {
    let script = Script {
        lines: vec![say("A table for two."), say("At eight.")],
        rules: vec![rule(&["your name"], say("Ada Lovelace."), false)],
        ..Script::default()
    };
    let mut persona = ScriptedPersona::new(script).unwrap();
    let mut call = Call::default();
    assert_eq!(
        step(&mut persona, &mut call, Some("Welcome to Luigi's!")),
        say("A table for two.")
    );
    assert_eq!(
        step(
            &mut persona,
            &mut call,
            Some("Sure. Could I have YOUR name, please?")
        ),
        say("Ada Lovelace.")
    );
    assert_eq!(
        step(&mut persona, &mut call, Some("Thanks. What time?")),
        say("At eight.")
    );
    // Not `once`: it answers again.
    assert_eq!(
        step(&mut persona, &mut call, Some("Sorry, your name again?")),
        say("Ada Lovelace.")
    );
    assert_eq!(
        step(&mut persona, &mut call, Some("Booked.")),
        hang_up(SCRIPT_FINISHED)
    );
}

#[test]
fn a_once_rule_answers_once_and_the_first_matching_rule_wins() {
    let script = Script {
        lines: vec![say("line one"), say("line two")],
        rules: vec![
            rule(&["press one", "press 1"], keys("1"), true),
            rule(&["press"], say("Which key?"), false),
        ],
        ..Script::default()
    };
    let mut persona = ScriptedPersona::new(script).unwrap();
    let mut call = Call::default();
    assert_eq!(
        step(&mut persona, &mut call, Some("For bookings, press 1.")),
        keys("1")
    );
    // The once rule is spent: the next matching rule answers.
    assert_eq!(
        step(&mut persona, &mut call, Some("Please press one.")),
        say("Which key?")
    );
    assert_eq!(
        step(&mut persona, &mut call, Some("Hello?")),
        say("line one")
    );
}

#[test]
fn rules_hear_only_what_the_agent_said_since_the_caller_last_acted() {
    // The caller answers "press one" with keys only; the agent's next words do not match,
    // and the old "press one" (before the keys) must not answer again.
    let script = Script {
        lines: vec![say("I want to book.")],
        rules: vec![rule(&["press one"], keys("1"), false)],
        ..Script::default()
    };
    let mut persona = ScriptedPersona::new(script).unwrap();
    let mut call = Call::default();
    assert_eq!(
        step(&mut persona, &mut call, Some("Press one for bookings.")),
        keys("1")
    );
    assert_eq!(call.keys.len(), 1);
    assert_eq!(
        step(
            &mut persona,
            &mut call,
            Some("You are through to bookings.")
        ),
        say("I want to book.")
    );
    // Nor what came before the caller's last words.
    assert_eq!(
        step(&mut persona, &mut call, Some("Goodbye.")),
        hang_up(SCRIPT_FINISHED)
    );
}

#[test]
fn patterns_match_whole_words_whatever_the_case_and_punctuation() {
    let p = Pattern::new(["press one"]).unwrap();
    assert!(p.matches("Please,PRESS one!"));
    assert!(p.matches("press one"));
    assert!(p.matches("...press   one."));
    assert!(!p.matches("press onex"));
    assert!(!p.matches("depress one"));
    assert!(!p.matches("press"));
    let no = Pattern::new(["no"]).unwrap();
    assert!(!no.matches("I know."));
    assert!(no.matches("No, thanks."));
    // Apostrophes vanish on both sides, in any of the forms recognisers write them.
    let dont = Pattern::new(["don't"]).unwrap();
    assert!(dont.matches("I dont know"));
    assert!(dont.matches("I don\u{2019}t know"));
    assert_eq!(dont.phrases(), ["dont"]);
    // Any of several phrases; letters beyond ASCII are lower-cased too.
    let any = Pattern::new(["Größe", "1,000"]).unwrap();
    assert!(any.matches("Welche GRÖSSE? Nein: größe!"));
    assert!(any.matches("That is 1,000 dollars."));
    assert!(any.matches("That is 1 000 dollars."));
    assert_eq!(
        Pattern::new(["?!"]).unwrap_err(),
        r#""?!" has no words to listen for"#
    );
    assert_eq!(
        Pattern::new(Vec::<String>::new()).unwrap_err(),
        "no phrases to listen for"
    );
}

#[test]
fn silence_gets_a_nudge_up_to_the_limit_then_a_hang_up() {
    let mut persona = ScriptedPersona::new(nudging(2)).unwrap();
    let mut call = Call::default();
    let nudge = say("Hello? Are you there?");
    assert_eq!(step(&mut persona, &mut call, None), nudge);
    assert_eq!(step(&mut persona, &mut call, None), nudge);
    assert_eq!(step(&mut persona, &mut call, None), hang_up(AGENT_SILENT));
}

#[test]
fn agent_speech_starts_the_silence_count_again() {
    let mut persona = ScriptedPersona::new(nudging(2)).unwrap();
    let mut call = Call::default();
    let nudge = say("Hello? Are you there?");
    assert_eq!(step(&mut persona, &mut call, None), nudge);
    assert_eq!(
        step(&mut persona, &mut call, Some("Sorry, hello!")),
        say("one")
    );
    assert_eq!(step(&mut persona, &mut call, None), nudge);
    assert_eq!(step(&mut persona, &mut call, None), nudge);
    assert_eq!(step(&mut persona, &mut call, None), hang_up(AGENT_SILENT));
}

#[test]
fn a_silence_limit_of_zero_hangs_up_at_the_first_silence() {
    let mut persona = ScriptedPersona::new(nudging(0)).unwrap();
    assert_eq!(
        step(&mut persona, &mut Call::default(), None),
        hang_up(AGENT_SILENT)
    );
}

#[test]
fn without_a_nudge_a_silent_turn_takes_the_next_line() {
    // The agent says nothing at the start: the caller speaks first. Rules do not answer
    // silence, even if the agent's last words (answered already) match.
    let script = Script {
        lines: vec![say("Hi, is this Luigi's?"), say("Great.")],
        rules: vec![rule(&["luigi's"], say("rule"), false)],
        ..Script::default()
    };
    let mut persona = ScriptedPersona::new(script).unwrap();
    let mut call = Call::default();
    assert_eq!(
        step(&mut persona, &mut call, None),
        say("Hi, is this Luigi's?")
    );
    assert_eq!(
        step(&mut persona, &mut call, Some("Yes, Luigi's.")),
        say("rule")
    );
    assert_eq!(step(&mut persona, &mut call, None), say("Great."));
    assert_eq!(
        step(&mut persona, &mut call, None),
        hang_up(SCRIPT_FINISHED)
    );
}

#[test]
fn finish_wait_stays_on_the_line_and_still_answers_rules_and_silence() {
    let script = Script {
        lines: vec![say("Bye then.")],
        rules: vec![rule(&["anything else"], say("No, thanks."), false)],
        on_silence: Some(say("Hello?")),
        silence_limit: 1,
        finish: FinishPolicy::Wait,
    };
    let mut persona = ScriptedPersona::new(script).unwrap();
    let mut call = Call::default();
    assert_eq!(
        step(&mut persona, &mut call, Some("Done!")),
        say("Bye then.")
    );
    assert_eq!(
        step(&mut persona, &mut call, Some("Goodbye.")),
        Reply::default()
    );
    assert_eq!(
        step(&mut persona, &mut call, Some("Anything else?")),
        say("No, thanks.")
    );
    assert_eq!(step(&mut persona, &mut call, None), say("Hello?"));
    assert_eq!(step(&mut persona, &mut call, None), hang_up(AGENT_SILENT));
}

#[test]
fn scripts_built_in_rust_are_checked_and_their_keys_normalised() {
    let script = Script {
        lines: vec![
            Reply {
                keys: Some("1, 2 #".into()),
                ..Reply::default()
            },
            say("  hi "),
        ],
        ..Script::default()
    };
    let persona = ScriptedPersona::new(script).unwrap();
    assert_eq!(persona.script().lines, vec![keys("12#"), say("hi")]);

    let bad = |script: Script| ScriptedPersona::new(script).unwrap_err().to_string();
    assert_eq!(
        bad(Script {
            lines: vec![say("ok"), keys("9x")],
            ..Script::default()
        }),
        r#"lines[1].keys: "x" is not a phone key (0-9, *, #, A-D) in "9x""#
    );
    assert_eq!(
        bad(Script {
            rules: vec![rule(&["hi"], Reply::default(), false)],
            ..Script::default()
        }),
        "rules[0]: says nothing, presses no keys and does not hang up"
    );
    assert_eq!(
        bad(Script {
            on_silence: Some(hang_up(" ")),
            ..Script::default()
        }),
        "on_silence.hang_up: blank reason (give one, or true)"
    );
}

#[test]
fn the_persona_is_send_so_the_engine_can_move_it() {
    fn send<T: Send + 'static>(_: &T) {}
    send(&ScriptedPersona::new(Script::default()).unwrap());
    let boxed: Box<dyn Persona> = Box::new(ScriptedPersona::new(Script::default()).unwrap());
    drop(boxed);
}
