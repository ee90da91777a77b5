//! The caller against a simulated far end on tokio's paused clock: an agent that speaks
//! tone "sentences" on a schedule, plays the caller's audio back in real time, echoes marks
//! and honours clear and hang-up, as a carrier and agent would.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::*;
use crate::telephony::call::{call_channels, CallChannels, CallCommand, PacingStats};
use crate::voice::metrics::{CallMetrics, MetricsConfig};
use crate::voice::providers::{Audio16, ProviderError, Transcript};

/// Transcribes the n-th stretch of agent speech as "agent line n".
struct CountingStt(Mutex<u32>, bool);

impl SpeechToText for CountingStt {
    fn transcribe<'a>(
        &'a self,
        audio: Audio16,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Transcript, ProviderError>> {
        async move {
            assert_eq!(audio.rate, 8000);
            assert!(!audio.samples.is_empty());
            if self.1 {
                return Err(ProviderError::Decode {
                    provider: "fake",
                    operation: "transcription",
                    detail: "broken".into(),
                });
            }
            let mut n = self.0.lock().unwrap();
            *n += 1;
            Ok(Transcript {
                text: format!("agent line {n}"),
                ..Transcript::default()
            })
        }
        .boxed()
    }
}

/// 16 kHz "speech": 100 ms of tone per character.
struct ToneTts;

impl TextToSpeech for ToneTts {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        async move { Ok(Audio16::new(16000, tone(16, text.len() as u64 * 100))) }.boxed()
    }
}

/// Each turn a persona saw: the agent's words so far, and whether it was a silence turn.
type SeenTurns = Arc<Mutex<Vec<(Vec<String>, bool)>>>;

/// Replies from a list, recording each turn it saw.
struct ListPersona {
    replies: VecDeque<Reply>,
    seen: SeenTurns,
}

impl Persona for ListPersona {
    fn reply<'a>(&'a mut self, turn: Turn<'a>) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        let lines = turn
            .utterances
            .iter()
            .map(|u| format!("{}: {}", u.speaker, u.text))
            .collect();
        self.seen.lock().unwrap().push((lines, turn.after_silence));
        let reply = self.replies.pop_front().unwrap_or_default();
        async move { Ok(reply) }.boxed()
    }

    fn barge_in_ms(&self) -> Option<u32> {
        self.replies.front()?.barge_in_ms
    }
}

fn say(text: &str) -> Reply {
    Reply {
        say: Some(text.into()),
        ..Reply::default()
    }
}

fn tone(khz: u64, ms: u64) -> Vec<i16> {
    (0..ms * khz)
        .map(|n| (6000.0 * (n as f64 * 2.0 * 440.0 / (khz as f64 * 1000.0)).sin()) as i16)
        .collect()
}

/// What the simulated agent does.
struct AgentPlan {
    /// Speak this long this many ms after the stream starts.
    greeting: Option<(u64, u64)>,
    /// After each caller turn finished playing: wait, then speak this long.
    answer_after_ms: u64,
    answer_ms: u64,
    /// Hang up after answering this many caller turns.
    hang_up_after: Option<usize>,
    /// Start an answer this long after the caller *starts* speaking (talking over it).
    barge_in_after_ms: Option<u64>,
    /// A pause within each stretch of the agent's speech: this far into it, this long.
    pause: Option<(u64, u64)>,
}

/// What the far end saw.
#[derive(Default, Debug)]
struct FarEndLog {
    cleared: u32,
    hung_up: bool,
    caller_audio_ms: u64,
}

/// Runs the far end of the call until it ends; 20 ms ticks on the paused clock.
async fn far_end(mut channels: CallChannels, plan: AgentPlan) -> FarEndLog {
    let mut log = FarEndLog::default();
    let send = |event| channels.events.send(event).ok();
    send(CallEvent::Started {
        call_sid: "CA1".into(),
        stream_sid: "MZ1".into(),
        parameters: Default::default(),
    });
    // Caller audio to play: samples, with marks at positions.
    let mut playout: VecDeque<i16> = VecDeque::new();
    let mut marks: VecDeque<(usize, String)> = VecDeque::new();
    let mut played = 0usize;
    let mut speaking_until: Option<u64> = None;
    let mut next_speech: Option<(u64, u64)> = plan.greeting;
    let mut answered = 0usize;
    let mut caller_started_at: Option<u64> = None;
    let mut spoken_ms = 0; // the length of the agent's speech in progress
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for step in 0u64.. {
        tick.tick().await;
        let now = step * 20;
        while let Ok(command) = channels.commands.try_recv() {
            match command {
                CallCommand::Audio(bytes) => {
                    playout.extend(crate::audio::mulaw::decode_all(&bytes))
                }
                CallCommand::Mark(name) => marks.push_back((played + playout.len(), name)),
                CallCommand::Clear => {
                    log.cleared += 1;
                    played += playout.len();
                    playout.clear();
                }
                CallCommand::Hangup => {
                    log.hung_up = true;
                    send(CallEvent::Ended(end(EndReason::HungUp, now)));
                    return log;
                }
            }
        }
        // The caller's audio plays: 160 samples a tick.
        let frame: Vec<i16> = playout.drain(..playout.len().min(160)).collect();
        if !frame.is_empty() {
            log.caller_audio_ms += 20;
            caller_started_at.get_or_insert(now);
            if let (Some(after), Some(start)) = (plan.barge_in_after_ms, caller_started_at) {
                if now == start + after && speaking_until.is_none() {
                    next_speech = Some((now, plan.answer_ms));
                }
            }
        }
        played += frame.len();
        while marks.front().is_some_and(|(at, _)| *at <= played) {
            let (_, name) = marks.pop_front().unwrap();
            send(CallEvent::Mark { name });
            if playout.is_empty()
                && caller_started_at.take().is_some()
                && plan.barge_in_after_ms.is_none()
            {
                // The caller's turn has played: answer it.
                if plan.hang_up_after == Some(answered) {
                    send(CallEvent::Ended(end(EndReason::FarEndHungUp, now)));
                    return log;
                }
                answered += 1;
                next_speech = Some((now + plan.answer_after_ms, plan.answer_ms));
            }
        }
        if playout.is_empty() {
            caller_started_at = None;
        }
        // The agent's audio.
        if let Some((at, length)) = next_speech {
            if now >= at {
                spoken_ms = length;
                speaking_until = Some(now + length);
                next_speech = None;
            }
        }
        let voiced = speaking_until.is_some_and(|until| now < until)
            && !plan.pause.is_some_and(|(into, length)| {
                let started = speaking_until.unwrap_or(0).saturating_sub(spoken_ms);
                (started + into..started + into + length).contains(&now)
            });
        if speaking_until.is_some_and(|until| now >= until) {
            speaking_until = None;
        }
        let samples = if voiced { tone(8, 20) } else { vec![0; 160] };
        send(CallEvent::Audio {
            at_ms: now,
            samples,
        });
    }
    unreachable!()
}

fn end(reason: EndReason, at: u64) -> CallEnd {
    CallEnd {
        reason,
        detail: None,
        duration_ms: at,
        pacing: PacingStats::default(),
        recording_path: None,
        call_sid: None,
    }
}

async fn call(
    plan: AgentPlan,
    replies: Vec<Reply>,
    stt_fails: bool,
    config: CallerConfig,
) -> (CallerOutcome, FarEndLog, Vec<(Vec<String>, bool)>) {
    let stt = Arc::new(CountingStt(Mutex::new(0), stt_fails));
    call_with(plan, replies, stt, config).await
}

async fn call_with(
    plan: AgentPlan,
    replies: Vec<Reply>,
    stt: Arc<dyn SpeechToText>,
    config: CallerConfig,
) -> (CallerOutcome, FarEndLog, Vec<(Vec<String>, bool)>) {
    let (handle, channels) = call_channels("c1".into());
    let far = tokio::spawn(far_end(channels, plan));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let persona = Box::new(ListPersona {
        replies: replies.into(),
        seen: seen.clone(),
    });
    let speech = CallerSpeech {
        stt,
        tts: Arc::new(ToneTts),
    };
    let (_, commands, mut events) = handle.into_parts();
    let outcome = run_caller(commands, &mut events, persona, speech, config, None).await;
    let log = far.await.unwrap();
    let seen = seen.lock().unwrap().clone();
    (outcome, log, seen)
}

fn plan() -> AgentPlan {
    AgentPlan {
        greeting: Some((500, 1500)),
        answer_after_ms: 400,
        answer_ms: 1000,
        hang_up_after: None,
        barge_in_after_ms: None,
        pause: None,
    }
}

/// Numbers what it hears, as CountingStt, and notes when each recognition began.
#[derive(Default)]
struct TimedStt(Mutex<Vec<(Instant, usize)>>);

impl SpeechToText for TimedStt {
    fn transcribe<'a>(
        &'a self,
        audio: Audio16,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Transcript, ProviderError>> {
        async move {
            let n = {
                let mut calls = self.0.lock().unwrap();
                calls.push((Instant::now(), audio.samples.len() / 8));
                calls.len()
            };
            tokio::time::sleep(Duration::from_millis(300)).await; // recognition takes time
            Ok(Transcript {
                text: format!("part {n}."),
                ..Transcript::default()
            })
        }
        .boxed()
    }
}

#[tokio::test(start_paused = true)]
async fn a_pause_in_the_agents_turn_starts_recognising_it_before_the_turn_ends() {
    // The greeting: 500 ms in, 2 s long, with a 400 ms pause 1 s into it (two sentences).
    let plan = AgentPlan {
        greeting: Some((500, 2000)),
        pause: Some((1000, 400)),
        hang_up_after: Some(0),
        ..plan()
    };
    let started = Instant::now();
    let stt = Arc::new(TimedStt::default());
    let config = CallerConfig {
        early_gap: Some(Duration::from_millis(300)),
        ..CallerConfig::default()
    };
    let (outcome, _, seen) = call_with(plan, vec![say("hi")], stt.clone(), config).await;
    assert_eq!(outcome.error, None);
    // Each pause sent the turn so far to recognition 300 ms in (not after the 800 ms turn
    // gap): the first sentence, then both. The second is the turn's text; the first, which
    // the agent went on after, is nowhere.
    let calls = stt.0.lock().unwrap().clone();
    let at: Vec<u64> = calls
        .iter()
        .map(|(when, _)| (*when - started).as_millis() as u64)
        .collect();
    assert_eq!(calls.len(), 2, "{at:?}");
    assert!((1780..=1900).contains(&at[0]), "{at:?}");
    assert!((2780..=2900).contains(&at[1]), "{at:?}");
    let lengths: Vec<usize> = calls.iter().map(|(_, ms)| *ms).collect();
    assert!((1100..=1500).contains(&lengths[0]), "{lengths:?}");
    assert!((2300..=2700).contains(&lengths[1]), "{lengths:?}");
    assert_eq!(lines(&outcome)[..2], ["agent: part 2.", "caller: hi"]);
    assert_eq!(seen[0].0, ["agent: part 2."]);
    let greeting = &outcome.conversation.utterances[0];
    assert!((480..=560).contains(&greeting.start_ms), "{greeting:?}");
    assert!((2480..=2560).contains(&greeting.end_ms), "{greeting:?}");
    // Its recognition (300 ms) was done when the turn gap passed: the caller answered then.
    let hi = &outcome.conversation.utterances[1];
    assert!(hi.start_ms >= greeting.end_ms + 780, "{hi:?}");
    assert!(hi.start_ms <= greeting.end_ms + 900, "{hi:?}");
}

#[tokio::test(start_paused = true)]
async fn without_an_early_gap_each_turn_is_recognised_once_it_ends() {
    let plan = AgentPlan {
        greeting: Some((500, 2000)),
        pause: Some((1000, 400)),
        hang_up_after: Some(0),
        ..plan()
    };
    let started = Instant::now();
    let stt = Arc::new(TimedStt::default());
    let config = CallerConfig {
        early_gap: None,
        ..CallerConfig::default()
    };
    let (outcome, _, _) = call_with(plan, vec![say("hi")], stt.clone(), config).await;
    assert_eq!(lines(&outcome)[..2], ["agent: part 1.", "caller: hi"]);
    let calls = stt.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let at = (calls[0].0 - started).as_millis() as u64;
    assert!((3280..=3400).contains(&at), "{at}");
    assert!((2300..=2700).contains(&calls[0].1), "{calls:?}"); // the same audio as above
                                                               // Recognition (300 ms) now comes after the turn gap.
    let hi = &outcome.conversation.utterances[1];
    assert!(
        hi.start_ms >= outcome.conversation.utterances[0].end_ms + 1080,
        "{hi:?}"
    );
}

fn lines(outcome: &CallerOutcome) -> Vec<String> {
    outcome
        .conversation
        .utterances
        .iter()
        .map(|u| format!("{}: {}", u.speaker, u.text))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_conversation_takes_turns_and_the_caller_hangs_up() {
    let mut bye = say("bye now");
    bye.hang_up = Some("done".into());
    let replies = vec![
        say("hello there"),
        Reply {
            keys: Some("12".into()),
            ..say("tuesday")
        },
        bye,
    ];
    let (outcome, far, seen) = call(plan(), replies, false, CallerConfig::default()).await;
    assert_eq!(outcome.error, None);
    assert_eq!(
        lines(&outcome),
        [
            "agent: agent line 1",
            "caller: hello there",
            "agent: agent line 2",
            "caller: tuesday",
            "agent: agent line 3",
            "caller: bye now"
        ]
    );
    let c = &outcome.conversation;
    assert_eq!(
        (c.ended_by, c.end_reason.as_str()),
        (EndedBy::Caller, "the caller hung up: done")
    );
    assert!(far.hung_up);
    assert_eq!(c.keys_by(Speaker::Caller), "12");
    // The greeting is timed by the agent's audio: 500 ms in, 1.5 s long.
    let greeting = &c.utterances[0];
    assert!((480..=560).contains(&greeting.start_ms), "{greeting:?}");
    assert!(
        (1480..=1560).contains(&(greeting.end_ms - greeting.start_ms)),
        "{greeting:?}"
    );
    // The caller answers after the turn gap, and its utterance lasts as long as its audio played.
    let hello = &c.utterances[1];
    assert!(hello.start_ms >= greeting.end_ms + 750, "{hello:?}");
    let played = hello.end_ms - hello.start_ms;
    assert!(
        (1100..=1200).contains(&played),
        "'hello there' is 1.1 s of audio, played for {played} ms"
    );
    // The persona saw the agent's words (as the agent's), and its own.
    assert_eq!(seen[0], (vec!["agent: agent line 1".to_string()], false));
    assert_eq!(
        seen[1].0,
        [
            "agent: agent line 1",
            "caller: hello there",
            "agent: agent line 2"
        ]
    );
    assert_eq!(outcome.call_sid.as_deref(), Some("CA1"));
}

#[tokio::test(start_paused = true)]
async fn a_caller_told_to_barge_in_talks_over_the_agent_that_far_into_its_turn() {
    let plan = AgentPlan {
        answer_ms: 3000,
        ..plan()
    };
    let mut bye = say("bye");
    bye.hang_up = Some("done".into());
    let over = Reply {
        barge_in_ms: Some(800),
        ..say("wait")
    };
    let replies = vec![say("hello"), over, bye];
    let (outcome, _, seen) = call(plan, replies, false, CallerConfig::default()).await;
    assert_eq!(outcome.error, None);
    let c = &outcome.conversation;
    let said = |text: &str| c.utterances.iter().find(|u| u.text == text).unwrap();
    let (answer, wait) = (said("agent line 2"), said("wait"));
    // 800 ms into the agent's answer (which goes on: this agent does not stop).
    let into = wait.start_ms - answer.start_ms;
    assert!((800..=860).contains(&into), "{answer:?} {wait:?}");
    assert!(!wait.cut_off && answer.end_ms > wait.end_ms);
    let metrics = CallMetrics::from_conversation(c, &MetricsConfig::default());
    assert_eq!(metrics.interruptions.len(), 1, "{metrics:?}");
    let interruption = &metrics.interruptions[0];
    assert_eq!(
        (interruption.by, interruption.at_ms),
        (Speaker::Caller, wait.start_ms)
    );
    // Asked for the line as the agent began, before it had said anything of this turn.
    assert_eq!(seen[1].0.last().map(String::as_str), Some("caller: hello"));
    assert_eq!(
        c.ended_by,
        EndedBy::Caller,
        "then the call goes on: {:?}",
        lines(&outcome)
    );
}

#[tokio::test(start_paused = true)]
async fn a_barge_in_waits_out_turns_too_short_for_it() {
    // Answers of 500 ms: shorter than the 800 ms to wait; the agent then stays silent,
    // and after the silence turn the caller says its line anyway.
    let plan = AgentPlan {
        answer_ms: 500,
        ..plan()
    };
    let over = Reply {
        barge_in_ms: Some(800),
        hang_up: Some("done".into()),
        ..say("wait")
    };
    let config = CallerConfig {
        silence_turn: Duration::from_secs(2),
        ..CallerConfig::default()
    };
    let (outcome, _, _) = call(plan, vec![say("hello"), over], false, config).await;
    let c = &outcome.conversation;
    let said = |text: &str| c.utterances.iter().find(|u| u.text == text).unwrap();
    let (answer, wait) = (said("agent line 2"), said("wait"));
    assert!(wait.start_ms >= answer.end_ms + 1900, "{answer:?} {wait:?}");
    let metrics = CallMetrics::from_conversation(c, &MetricsConfig::default());
    assert_eq!(metrics.interruptions, vec![]);
    assert_eq!(c.ended_by, EndedBy::Caller);
}

#[tokio::test(start_paused = true)]
async fn talked_over_the_caller_stops_and_its_utterance_is_cut_off() {
    let plan = AgentPlan {
        barge_in_after_ms: Some(600),
        hang_up_after: None,
        ..plan()
    };
    let mut bye = say("ok");
    bye.hang_up = Some("done".into());
    let replies = vec![say("a rather long sentence from the caller"), bye];
    let (outcome, far, _) = call(plan, replies, false, CallerConfig::default()).await;
    assert_eq!(far.cleared, 1, "the caller cleared its audio");
    let cut = &outcome.conversation.utterances[1];
    assert_eq!(cut.speaker, Speaker::Caller);
    assert!(cut.cut_off);
    assert!(
        cut.end_ms - cut.start_ms < 1200,
        "{cut:?}: stopped well before its 3.9 s of audio"
    );
    assert!(far.caller_audio_ms < 3000);
}

#[tokio::test(start_paused = true)]
async fn the_agent_hanging_up_ends_the_call_as_the_agents() {
    let plan = AgentPlan {
        hang_up_after: Some(1),
        ..plan()
    };
    let (outcome, far, _) = call(
        plan,
        vec![say("one"), say("two"), say("three")],
        false,
        CallerConfig::default(),
    )
    .await;
    assert_eq!(outcome.conversation.ended_by, EndedBy::Agent);
    assert_eq!(outcome.error, None);
    assert!(!far.hung_up);
    assert_eq!(outcome.conversation.by(Speaker::Caller).count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_silent_agent_gets_a_turn_after_silence_and_limits_end_the_call() {
    let plan = AgentPlan {
        greeting: None,
        ..plan()
    };
    let config = CallerConfig {
        max_turns: 2,
        silence_turn: Duration::from_secs(3),
        ..CallerConfig::default()
    };
    let (outcome, _, seen) = call(
        plan,
        vec![say("hello?"), say("anyone?"), say("never said")],
        false,
        config,
    )
    .await;
    // The first turn comes from silence (with nothing said yet); the agent answers it, and
    // after the second reply the limit ends the call.
    assert_eq!(seen[0], (vec![], true));
    assert_eq!(seen.len(), 2);
    assert_eq!(outcome.conversation.ended_by, EndedBy::Caller);
    assert!(
        outcome
            .conversation
            .end_reason
            .contains("turn limit (2 replies)"),
        "{}",
        outcome.conversation.end_reason
    );

    let config = CallerConfig {
        max_duration: Duration::from_secs(5),
        ..CallerConfig::default()
    };
    let plan = AgentPlan {
        greeting: None,
        ..self::plan()
    };
    let (outcome, _, _) = call(plan, vec![], false, config).await;
    assert_eq!(outcome.conversation.ended_by, EndedBy::Timeout);
}

#[tokio::test(start_paused = true)]
async fn a_provider_failure_fails_the_call_and_hangs_up() {
    let (outcome, far, _) = call(plan(), vec![say("hi")], true, CallerConfig::default()).await;
    assert!(far.hung_up);
    assert_eq!(outcome.conversation.ended_by, EndedBy::Error);
    let error = outcome.error.expect("an error");
    assert!(
        error.contains("speech recognition failed") && error.contains("broken"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_that_never_connects_ends_at_max_duration_with_an_error() {
    // Nobody carries this call: no event ever comes, and a hang-up goes nowhere. (The timer
    // used to return the same past deadline over and over: a busy loop that never ended.)
    let (handle, _channels) = call_channels("c1".into());
    let persona = Box::new(ListPersona {
        replies: Vec::new().into(),
        seen: Arc::default(),
    });
    let speech = CallerSpeech {
        stt: Arc::new(CountingStt(Mutex::new(0), false)),
        tts: Arc::new(ToneTts),
    };
    let config = CallerConfig {
        max_duration: Duration::from_secs(5),
        ..CallerConfig::default()
    };
    let (_, commands, mut events) = handle.into_parts();
    let began = tokio::time::Instant::now();
    let outcome = run_caller(commands, &mut events, persona, speech, config, None).await;
    assert_eq!(began.elapsed(), Duration::from_secs(5));
    assert_eq!(outcome.conversation.ended_by, EndedBy::Error);
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with("no call was connected within 5 s"),
        "{error}"
    );
}

#[test]
fn an_agent_speaking_past_the_silence_turn_does_not_spin_the_caller() {
    // Before: the silence deadline passed while the agent spoke and the loop woke at once,
    // over and over; on the paused clock time then never moves and the call never ends.
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let plan = AgentPlan {
            greeting: Some((500, 3000)),
            ..plan()
        };
        let mut bye = say("bye");
        bye.hang_up = Some("done".into());
        let config = CallerConfig {
            silence_turn: Duration::from_secs(1),
            ..CallerConfig::default()
        };
        let (outcome, _, _) = runtime.block_on(call(plan, vec![bye], false, config));
        let _ = done_tx.send(outcome);
    });
    let outcome = done
        .recv_timeout(Duration::from_secs(20))
        .expect("the caller spun instead of waiting for the agent to finish");
    assert_eq!(lines(&outcome), ["agent: agent line 1", "caller: bye"]);
}
