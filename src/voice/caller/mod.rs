//! The simulated caller: listens to the agent (voice activity + speech-to-text), lets a
//! persona decide what to say, speaks it (text-to-speech, paced by the call server), stops
//! when talked over, presses keys and hangs up; and keeps the [`Conversation`].
//!
//! One caller is one tokio task driving one call's [`CallCommands`] and events; many run at
//! once on the shared runtime. Recognition, the persona and synthesis run while the call's
//! events keep flowing, so barge-in and timing stay exact.

mod ear;
mod turns;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::time::Instant;

use crate::audio::resample::resample;
use crate::audio::{dtmf, PHONE_RATE};
use crate::telephony::call::{
    CallCommands, CallEnd, CallEvent, CallEvents, EndReason, FarEndReport, FarEndWitness,
};
use crate::voice::conversation::{Conversation, EndedBy, KeyPress, Speaker, Utterance};
use crate::voice::persona::{Persona, Reply, Turn};
use crate::voice::providers::{Audio16, SpeechToText, TextToSpeech};

pub use ear::{AgentSpeech, Ear, Heard};
use turns::{Action, Outgoing};

/// How the caller behaves.
#[derive(Debug, Clone)]
pub struct CallerConfig {
    /// The text-to-speech voice (the provider's name or id); None for its default.
    pub voice: Option<String>,
    /// Language hint for recognition, e.g. "en".
    pub language: Option<String>,
    /// Stop speaking when the agent talks over the caller.
    pub barge_in: bool,
    /// Replies the caller gives before it hangs up.
    pub max_turns: u32,
    /// The caller hangs up after this long.
    pub max_duration: Duration,
    /// Silence from the agent (nobody speaking) after which it is the caller's turn anyway.
    pub silence_turn: Duration,
    /// Silence that ends a stretch of the agent's speech, and so its turn.
    pub turn_gap: Duration,
    /// A pause in the agent's speech this long (shorter than `turn_gap`) sends its turn so
    /// far to recognition: when the pause becomes the turn's end, its text is ready or on
    /// its way, from the same audio; when the agent goes on, it is dropped and the next
    /// pause sends the longer turn. None: each turn is recognised once it ends.
    pub early_gap: Option<Duration>,
    /// After the call ends, how long to wait for recognition still running.
    pub drain_timeout: Duration,
}

impl Default for CallerConfig {
    fn default() -> Self {
        Self {
            voice: None,
            language: Some("en".into()),
            barge_in: true,
            max_turns: 12,
            max_duration: Duration::from_secs(180),
            silence_turn: Duration::from_secs(6),
            turn_gap: Duration::from_millis(800),
            early_gap: Some(DEFAULT_EARLY_GAP),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Half the default turn gap: longer than the pauses between a text-to-speech engine's
/// sentences (espeak-ng's are 300 ms), so that those seldom cost a recognition in vain.
const DEFAULT_EARLY_GAP: Duration = Duration::from_millis(400);

/// The caller's speech providers.
#[derive(Clone)]
pub struct CallerSpeech {
    pub stt: Arc<dyn SpeechToText>,
    pub tts: Arc<dyn TextToSpeech>,
}

/// What the call came to.
#[derive(Debug, Clone)]
pub struct CallerOutcome {
    pub conversation: Conversation,
    pub call_sid: Option<String>,
    pub recording_path: Option<String>,
    /// Why the call failed (carrier, stream or provider), if it did.
    pub error: Option<String>,
    /// What the carrier saw of the agent's end, when it can tell (the loopback carrier).
    pub far_end: Option<FarEndReport>,
    /// When the stream started, the origin of the conversation's times, on the wall clock
    /// (None if it never started): what the agent did elsewhere meanwhile (its model's
    /// tool calls, a transfer through another API) is placed on the same clock by it.
    pub stream_started_at: Option<SystemTime>,
}

/// After hanging up, how long the caller waits for the call's end before giving up on it.
const HANG_UP_GRACE: Duration = Duration::from_secs(5);

/// A pause in the agent's speech longer than this is not talked over: a barge-in that
/// comes due in it waits for the agent's voice (or for the next turn).
const BARGE_IN_PAUSE_MS: u64 = 100;

/// Words the caller cannot make out.
const INAUDIBLE: &str = "(inaudible)";

/// A persona's turn, with the agent speech it answers transcribed first.
struct Thought {
    heard: Option<Utterance>,
    reply: Reply,
    /// The reply's speech at 8 kHz.
    audio: Option<Vec<i16>>,
}

/// A reply the persona planned to say over the agent (a script line's `barge_in_ms`).
struct BargeIn {
    /// How far into the agent's speech the caller starts.
    after_ms: u32,
    /// When: the start of the agent's speech in progress plus `after_ms`; None while the
    /// agent is not speaking (a turn that ended sooner does not count).
    due: Option<Instant>,
}

type Thinking = BoxFuture<'static, (Box<dyn Persona>, Result<Thought, String>)>;
type Transcribing = BoxFuture<'static, Utterance>;
/// The agent's turn so far, being recognised since it paused: its text.
type Early = tokio::task::JoinHandle<Result<String, String>>;

/// A turn of the agent's: its audio, and its recognition if that started at its last pause
/// (of the same audio).
struct TurnSpeech {
    early: Option<Early>,
    speech: AgentSpeech,
}

/// Drives one call until it ends. `events` is the call's event stream (the caller takes
/// every event; nothing else should read it). `witness`: a carrier that can say how the
/// agent's end of the call went (who hung up and how, what failed), which Twilio's protocol
/// does not tell the caller.
pub async fn run_caller(
    commands: CallCommands,
    events: &mut CallEvents,
    persona: Box<dyn Persona>,
    speech: CallerSpeech,
    config: CallerConfig,
    witness: Option<Arc<dyn FarEndWitness>>,
) -> CallerOutcome {
    let mut caller = Caller::new(commands, persona, speech, config);
    caller.witness = witness;
    let ended = loop {
        let timer = caller.next_timer();
        tokio::select! {
            event = events.recv() => match event {
                Some(CallEvent::Ended(end)) => break Some(end),
                Some(event) => caller.on_event(event),
                None => break None,
            },
            (persona, thought) = async { caller.thinking.as_mut().expect("guarded").await }, if caller.thinking.is_some() => {
                caller.thinking = None;
                caller.persona = Some(persona);
                caller.on_thought(thought);
            },
            Some(heard) = caller.transcribing.next(), if !caller.transcribing.is_empty() => {
                caller.record(heard);
            },
            _ = tokio::time::sleep_until(timer) => if caller.on_timer() {
                break None;
            },
        }
    };
    caller.finish(ended).await
}

struct Caller {
    commands: CallCommands,
    persona: Option<Box<dyn Persona>>,
    speech: CallerSpeech,
    config: CallerConfig,
    conversation: Vec<Utterance>,
    keys: Vec<KeyPress>,
    call_sid: Option<String>,
    /// When the stream started (the conversation's clock); the call's start until then.
    started: Option<Instant>,
    created: Instant,
    ear: Ear,
    /// The agent's turn in progress, recognised from its latest pause.
    early: Option<Early>,
    thinking: Option<Thinking>,
    transcribing: FuturesUnordered<Transcribing>,
    outgoing: Outgoing,
    replies: u32,
    /// Last time anyone was heard or the caller finished something.
    last_activity: Instant,
    /// Set once the caller has decided to end the call: who ended it and why.
    ending: Option<(EndedBy, String)>,
    /// When it decided so.
    ending_since: Option<Instant>,
    error: Option<String>,
    witness: Option<Arc<dyn FarEndWitness>>,
    /// A reply to be said over the agent, from when the agent starts speaking until it is.
    barge_in: Option<BargeIn>,
}

impl Caller {
    fn new(
        commands: CallCommands,
        persona: Box<dyn Persona>,
        speech: CallerSpeech,
        config: CallerConfig,
    ) -> Self {
        let now = Instant::now();
        let early_gap = config
            .early_gap
            .filter(|gap| *gap < config.turn_gap)
            .map(|gap| gap.as_millis() as u32);
        let ear = Ear::new(config.turn_gap.as_millis() as u32).with_early_gap(early_gap);
        Self {
            commands,
            persona: Some(persona),
            speech,
            config,
            conversation: Vec::new(),
            keys: Vec::new(),
            call_sid: None,
            started: None,
            created: now,
            ear,
            early: None,
            thinking: None,
            transcribing: FuturesUnordered::new(),
            outgoing: Outgoing::default(),
            replies: 0,
            last_activity: now,
            ending: None,
            ending_since: None,
            error: None,
            witness: None,
            barge_in: None,
        }
    }

    /// Milliseconds on the stream's clock.
    fn now_ms(&self) -> u64 {
        self.started.map_or(0, |t| t.elapsed().as_millis() as u64)
    }

    fn next_timer(&self) -> Instant {
        if let Some(since) = self.ending_since {
            // Always ahead: a deadline already past would wake the loop at once, forever.
            return since + HANG_UP_GRACE;
        }
        let limit = self.started.unwrap_or(self.created) + self.config.max_duration;
        if self.started.is_none() {
            return limit;
        }
        let mut next = limit;
        // The silence turn is armed only while nothing else is going on: while the agent
        // speaks or the caller acts, its deadline may pass, and a past deadline would wake
        // the loop at once, over and over (a core spun for as long as the agent spoke past
        // `silence_turn`). Whatever ends that state is an event, after which this is asked again.
        let waiting_for_silence = match &self.barge_in {
            None => self.idle(),
            Some(_) => self.thinking.is_none() && !self.ear.is_speaking(),
        };
        if waiting_for_silence {
            next = next.min(self.last_activity + self.config.silence_turn);
        }
        // Only while ahead: a barge-in whose reply is not ready yet goes when it is.
        if let Some(due) = self.barge_in.as_ref().and_then(|b| b.due) {
            if due > Instant::now() {
                next = next.min(due);
            }
        }
        next
    }

    /// Acts on the timer; true when the caller gives up waiting for the call's end.
    fn on_timer(&mut self) -> bool {
        let now = Instant::now();
        if let Some(since) = self.ending_since {
            return now >= since + HANG_UP_GRACE;
        }
        if now >= self.started.unwrap_or(self.created) + self.config.max_duration {
            let limit = self.config.max_duration.as_secs_f64();
            if self.started.is_none() {
                // Nothing carries a hang-up of a call that never connected: give up now.
                self.fail(format!(
                    "no call was connected within {limit:.0} s (the scenario's max_duration): \
                     for an inbound test, the agent did not call, or its call did not reach \
                     trialrun's number"
                ));
                return true;
            }
            self.end_call(
                EndedBy::Timeout,
                format!("the caller's longest call ({limit:.0} s) was reached"),
            );
            return false;
        }
        if let Some(barge) = &self.barge_in {
            if barge.due.is_some_and(|due| now >= due) {
                self.act();
            } else if self.thinking.is_none()
                && !self.ear.is_speaking()
                && now >= self.last_activity + self.config.silence_turn
            {
                // The agent stays silent: the line planned to go over it is said anyway.
                self.barge_in = None;
                self.last_activity = now;
                self.act();
            }
            return false;
        }
        if self.idle() && now >= self.last_activity + self.config.silence_turn {
            self.last_activity = now;
            self.think(None, true, false);
        }
        false
    }

    /// Nobody is speaking, and the caller is neither thinking nor acting.
    fn idle(&self) -> bool {
        self.thinking.is_none()
            && self.outgoing.is_idle()
            && !self.ear.is_speaking()
            && self.ending.is_none()
    }

    fn on_event(&mut self, event: CallEvent) {
        match event {
            CallEvent::Started { call_sid, .. } => {
                self.started = Some(Instant::now());
                self.last_activity = Instant::now();
                self.call_sid = Some(call_sid);
            }
            CallEvent::Audio { at_ms, samples } => {
                for heard in self.ear.hear(at_ms, &samples) {
                    self.on_heard(heard);
                }
                // A barge-in that came due in a pause goes once the agent speaks again.
                let now = Instant::now();
                if let Some(BargeIn { due: Some(due), .. }) = &self.barge_in {
                    if now >= *due {
                        self.act();
                    }
                }
            }
            CallEvent::Mark { name } => {
                let now_ms = self.now_ms();
                if let Some(done) = self.outgoing.marked(&name) {
                    if let Some(index) = done.utterance {
                        self.conversation[index].end_ms = now_ms;
                    }
                    self.last_activity = Instant::now();
                    self.act();
                }
            }
            CallEvent::Dtmf { digit } => {
                let at_ms = self.now_ms();
                for digit in digit.chars() {
                    self.keys.push(KeyPress {
                        speaker: Speaker::Agent,
                        digit,
                        at_ms,
                    });
                }
                self.last_activity = Instant::now();
            }
            CallEvent::Status { .. } | CallEvent::Recording { .. } | CallEvent::Ended(_) => {}
        }
    }

    fn on_heard(&mut self, heard: Heard) {
        self.last_activity = Instant::now();
        match heard {
            Heard::Started { at_ms } => {
                self.plan_barge_in(at_ms);
                if self.config.barge_in {
                    if let Some(index) = self.outgoing.cut_speech() {
                        let _ = self.commands.clear();
                        let now_ms = self.now_ms();
                        let utterance = &mut self.conversation[index];
                        utterance.end_ms = now_ms.max(utterance.start_ms);
                        utterance.cut_off = true;
                    }
                }
            }
            Heard::Paused(samples) => {
                let stt = self.speech.stt.clone();
                let language = self.config.language.clone();
                let early =
                    tokio::spawn(
                        async move { recognise(&*stt, samples, language.as_deref()).await },
                    );
                // The agent went on after the pause before: what it said then is stale.
                if let Some(stale) = self.early.replace(early) {
                    stale.abort();
                }
            }
            Heard::Ended(speech) => {
                let speech = self.turn_speech(speech);
                if let Some(barge) = &mut self.barge_in {
                    // It stopped before the caller went over it: the next turn counts.
                    barge.due = None;
                }
                // The agent finished a turn: answer it, unless an answer is already on its
                // way (then this speech is only transcribed for the record).
                if self.ending.is_some()
                    || self.thinking.is_some()
                    || !self.outgoing.is_idle()
                    || self.barge_in.is_some()
                {
                    self.transcribe_for_record(speech);
                    self.act();
                } else {
                    self.think(Some(speech), false, false);
                }
            }
        }
    }

    /// A finished turn, with its recognition from its last pause when that heard the same
    /// audio (else that is stale, and dropped).
    fn turn_speech(&mut self, speech: AgentSpeech) -> TurnSpeech {
        let early = self.early.take();
        let early = match early {
            Some(early) if speech.as_paused => Some(early),
            Some(stale) => {
                stale.abort();
                None
            }
            None => None,
        };
        TurnSpeech { early, speech }
    }

    /// The agent started speaking (at `at_ms` on the stream's clock): if the persona plans
    /// to talk over this turn, its reply is made ready now and goes out `after_ms` in.
    fn plan_barge_in(&mut self, at_ms: u64) {
        let due = |after_ms: u32, started: Option<Instant>| {
            started.map(|t| t + Duration::from_millis(at_ms + u64::from(after_ms)))
        };
        if let Some(barge) = &mut self.barge_in {
            barge.due = due(barge.after_ms, self.started);
            return;
        }
        if self.thinking.is_some() || !self.outgoing.is_idle() || self.ending.is_some() {
            return;
        }
        let Some(after_ms) = self.persona.as_ref().and_then(|p| p.barge_in_ms()) else {
            return;
        };
        self.barge_in = Some(BargeIn {
            after_ms,
            due: due(after_ms, self.started),
        });
        self.think(None, false, true);
    }

    /// Asks the persona for its reply, transcribing `speech` first.
    fn think(&mut self, speech: Option<TurnSpeech>, after_silence: bool, barging_in: bool) {
        if self.replies >= self.config.max_turns {
            if let Some(speech) = speech {
                self.transcribe_for_record(speech);
            }
            let limit = self.config.max_turns;
            self.end_call(
                EndedBy::Caller,
                format!("the caller's turn limit ({limit} replies) was reached"),
            );
            return;
        }
        let Some(mut persona) = self.persona.take() else {
            return;
        };
        let stt = self.speech.stt.clone();
        let tts = self.speech.tts.clone();
        let language = self.config.language.clone();
        let voice = self.config.voice.clone();
        let mut utterances = sorted(self.conversation.clone());
        let keys = self.keys.clone();
        let elapsed_ms = self.now_ms();
        let replies = self.replies;
        self.thinking = Some(
            async move {
                let result = async {
                    let heard = match speech {
                        Some(speech) => Some(transcribe(&*stt, speech, language.as_deref()).await?),
                        None => None,
                    };
                    if let Some(heard) = &heard {
                        insert_by_start(&mut utterances, heard.clone());
                    }
                    let turn = Turn {
                        utterances: &utterances,
                        keys: &keys,
                        elapsed_ms,
                        replies,
                        after_silence,
                        barging_in,
                    };
                    let reply = persona
                        .reply(turn)
                        .await
                        .map_err(|e| format!("the persona failed: {e}"))?;
                    let audio = match reply
                        .say
                        .as_deref()
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                    {
                        Some(text) => Some(speak(&*tts, text, voice.as_deref()).await?),
                        None => None,
                    };
                    Ok(Thought {
                        heard,
                        reply,
                        audio,
                    })
                }
                .await;
                (persona, result)
            }
            .boxed(),
        );
    }

    fn transcribe_for_record(&mut self, speech: TurnSpeech) {
        let stt = self.speech.stt.clone();
        let language = self.config.language.clone();
        self.transcribing.push(
            async move {
                let (start_ms, end_ms) = (speech.speech.start_ms, speech.speech.end_ms);
                transcribe(&*stt, speech, language.as_deref())
                    .await
                    .unwrap_or_else(|error| Utterance {
                        speaker: Speaker::Agent,
                        text: format!("{INAUDIBLE}: {error}"),
                        start_ms,
                        end_ms,
                        cut_off: false,
                    })
            }
            .boxed(),
        );
    }

    fn on_thought(&mut self, thought: Result<Thought, String>) {
        let thought = match thought {
            Ok(thought) => thought,
            Err(error) => {
                self.error = Some(error.clone());
                self.end_call(EndedBy::Error, error);
                return;
            }
        };
        if let Some(heard) = thought.heard {
            self.record(heard);
        }
        if self.ending.is_some() {
            return;
        }
        let reply = thought.reply;
        if reply.say.is_some() || reply.keys.is_some() {
            self.replies += 1;
        }
        if let (Some(text), Some(audio)) = (reply.say, thought.audio) {
            self.outgoing.push(Action::Say {
                text: text.trim().to_string(),
                audio,
            });
        }
        if let Some(keys) = reply.keys.filter(|k| !k.is_empty()) {
            self.outgoing.push(Action::Keys(keys));
        }
        if let Some(reason) = reply.hang_up {
            self.outgoing.push(Action::HangUp(reason));
        }
        if self.outgoing.is_idle() {
            self.barge_in = None; // nothing to say over the agent after all
        }
        self.last_activity = Instant::now();
        self.act();
    }

    /// Starts the next outgoing action, unless one is playing or the agent is speaking (a
    /// caller waits for the agent to finish; the actions are held until then). A reply
    /// planned to go over the agent waits instead until the agent has spoken long enough.
    fn act(&mut self) {
        if self.ending.is_some() {
            return;
        }
        if let Some(barge) = &self.barge_in {
            let due = barge.due.is_some_and(|due| Instant::now() >= due);
            // Over the agent's voice, not into a pause or the silence after its last word.
            if self.outgoing.is_idle() || !due || !self.ear.voiced_within(BARGE_IN_PAUSE_MS) {
                return;
            }
            self.barge_in = None; // it goes out now, over the agent
        } else if self.ear.is_speaking() {
            return;
        }
        let now_ms = self.now_ms();
        let Some(action) = self.outgoing.start_next() else {
            return;
        };
        let sent = match action {
            Action::Say { text, audio } => {
                let duration_ms = audio.len() as u64 / 8;
                let index = self.record(Utterance {
                    speaker: Speaker::Caller,
                    text,
                    start_ms: now_ms,
                    end_ms: now_ms + duration_ms,
                    cut_off: false,
                });
                self.outgoing.playing_utterance(index);
                self.commands
                    .send_pcm(&audio)
                    .and_then(|()| self.commands.mark(self.outgoing.mark_name()))
            }
            Action::Keys(keys) => {
                if let Err(e) = self.commands.send_dtmf(&keys) {
                    self.fail(format!("pressing {keys:?}: {e}"));
                    return;
                }
                let tone_ms = dtmf::TONE_MS + dtmf::GAP_MS;
                for (i, digit) in keys.chars().enumerate() {
                    let at_ms = now_ms + i as u64 * u64::from(tone_ms);
                    self.keys.push(KeyPress {
                        speaker: Speaker::Caller,
                        digit,
                        at_ms,
                    });
                }
                self.commands.mark(self.outgoing.mark_name())
            }
            Action::HangUp(reason) => {
                self.end_call(EndedBy::Caller, format!("the caller hung up: {reason}"));
                return;
            }
        };
        if sent.is_err() {
            // The call is over; its Ended event is on its way.
            self.outgoing.clear();
        }
    }

    fn fail(&mut self, error: String) {
        self.error = Some(error.clone());
        self.end_call(EndedBy::Error, error);
    }

    fn end_call(&mut self, by: EndedBy, reason: String) {
        if self.ending.is_none() {
            self.ending = Some((by, reason));
            self.ending_since = Some(Instant::now());
        }
        self.outgoing.clear();
        let _ = self.commands.hang_up();
    }

    /// Adds an utterance; returns its index (stable: the record is sorted at the end).
    fn record(&mut self, utterance: Utterance) -> usize {
        self.conversation.push(utterance);
        self.conversation.len() - 1
    }

    async fn finish(mut self, ended: Option<CallEnd>) -> CallerOutcome {
        let now_ms = self.now_ms();
        if let Some(index) = self.outgoing.cut_speech() {
            let utterance = &mut self.conversation[index];
            utterance.end_ms = utterance.end_ms.min(now_ms).max(utterance.start_ms);
        }
        if let Some(speech) = self.ear.finish() {
            let speech = self.turn_speech(speech);
            self.transcribe_for_record(speech);
        }
        // Speech the persona was about to answer is still part of the record.
        let thinking = self.thinking.take();
        let drain_timeout = self.config.drain_timeout;
        let drain = async {
            if let Some(thinking) = thinking {
                if let (_, Ok(thought)) = thinking.await {
                    if let Some(heard) = thought.heard {
                        self.record(heard);
                    }
                }
            }
            while let Some(heard) = self.transcribing.next().await {
                self.record(heard);
            }
        };
        let drained = tokio::time::timeout(drain_timeout, drain).await.is_ok();
        if !drained && self.error.is_none() {
            self.error = Some(format!(
                "speech recognition did not finish within {} s of the call's end",
                drain_timeout.as_secs()
            ));
        }
        let sid = self
            .call_sid
            .clone()
            .or_else(|| ended.as_ref().and_then(|end| end.call_sid.clone()));
        let far_end = match (&self.witness, sid) {
            (Some(witness), Some(sid)) => witness.far_end(&sid),
            _ => None,
        };
        let (mut ended_by, mut end_reason, duration_ms, recording_path) = match ended {
            Some(end) => {
                let (by, reason) = self
                    .ending
                    .take()
                    .unwrap_or_else(|| ended_by_carrier(&end, far_end.as_ref()));
                if matches!(
                    end.reason,
                    EndReason::ProtocolError | EndReason::CarrierError | EndReason::NotAnswered
                ) && self.error.is_none()
                {
                    self.error = Some(reason.clone());
                }
                (by, reason, end.duration_ms, end.recording_path)
            }
            None => {
                let (by, reason) = match self.ending.take() {
                    // Never connected: the reason given when the caller gave up.
                    Some(ending) if self.started.is_none() => ending,
                    _ => (
                        EndedBy::Error,
                        "the call's end never came (its events stopped, or it went on after \
                         the caller hung up)"
                            .to_string(),
                    ),
                };
                self.error.get_or_insert_with(|| reason.clone());
                (by, reason, now_ms, None)
            }
        };
        // What failed at the agent's end (its webhook, its TwiML, a stream the carrier could
        // not open) is the call's error, however the call then ended: never a normal ending.
        if let Some(failure) = far_end.as_ref().and_then(|f| f.error.as_deref()) {
            let failure = format!("the call failed at the agent's end: {failure}");
            // The carrier's cause replaces its bare status ("call status failed"); a failure
            // of the caller's own (a provider) stays the error.
            let bare = self.error.as_deref() == Some(end_reason.as_str());
            if self.error.is_none() || bare {
                self.error = Some(failure.clone());
            }
            (ended_by, end_reason) = (EndedBy::Error, failure);
        }
        CallerOutcome {
            conversation: Conversation {
                utterances: sorted(self.conversation),
                keys: self.keys,
                duration_ms,
                ended_by,
                end_reason,
            },
            call_sid: self.call_sid,
            recording_path,
            error: self.error,
            far_end,
            stream_started_at: self
                .started
                .and_then(|t| SystemTime::now().checked_sub(t.elapsed())),
        }
    }
}

/// Who ended a call the caller did not end, from the call's end and what the carrier saw of
/// the agent's end.
fn ended_by_carrier(end: &CallEnd, far_end: Option<&FarEndReport>) -> (EndedBy, String) {
    if let Some(how) = far_end.and_then(|f| f.hung_up.as_deref()) {
        return (EndedBy::Agent, format!("the agent {how}"));
    }
    let detail = end
        .detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    match end.reason {
        EndReason::FarEndHungUp => (EndedBy::Agent, "the agent hung up".into()),
        EndReason::HungUp => (EndedBy::Caller, "the caller hung up".into()),
        EndReason::MaxDuration => (
            EndedBy::Timeout,
            "the call server's longest call was reached".into(),
        ),
        EndReason::SilenceTimeout => (
            EndedBy::Timeout,
            "the call server heard nothing for its silence timeout".into(),
        ),
        EndReason::NotAnswered => (EndedBy::Error, format!("the call was not answered{detail}")),
        EndReason::ProtocolError => (
            EndedBy::Error,
            format!("the media stream broke the protocol{detail}"),
        ),
        EndReason::CarrierError => (
            EndedBy::Error,
            format!("the carrier could not carry the call{detail}"),
        ),
    }
}

fn sorted(mut utterances: Vec<Utterance>) -> Vec<Utterance> {
    utterances.sort_by_key(|u| u.start_ms);
    utterances
}

fn insert_by_start(utterances: &mut Vec<Utterance>, utterance: Utterance) -> usize {
    let index = utterances.partition_point(|u| u.start_ms <= utterance.start_ms);
    utterances.insert(index, utterance);
    index
}

/// The text of a turn: its early recognition's, or its audio's recognised now.
async fn transcribe(
    stt: &dyn SpeechToText,
    turn: TurnSpeech,
    language: Option<&str>,
) -> Result<Utterance, String> {
    let TurnSpeech { early, speech } = turn;
    let (start_ms, end_ms) = (speech.start_ms, speech.end_ms);
    let text = match early {
        Some(early) => early
            .await
            .map_err(|e| format!("speech recognition failed: {e}"))??,
        None if speech.samples.is_empty() => String::new(),
        None => recognise(stt, speech.samples, language).await?,
    };
    Ok(Utterance {
        speaker: Speaker::Agent,
        text: if text.is_empty() {
            INAUDIBLE.to_string()
        } else {
            text
        },
        start_ms,
        end_ms,
        cut_off: false,
    })
}

/// The text of 8 kHz speech, trimmed.
async fn recognise(
    stt: &dyn SpeechToText,
    samples: Vec<i16>,
    language: Option<&str>,
) -> Result<String, String> {
    let transcript = stt
        .transcribe(Audio16::new(PHONE_RATE, samples), language)
        .await
        .map_err(|e| format!("speech recognition failed: {e}"))?;
    Ok(transcript.text.trim().to_string())
}

async fn speak(
    tts: &dyn TextToSpeech,
    text: &str,
    voice: Option<&str>,
) -> Result<Vec<i16>, String> {
    let speech = tts
        .synthesize(text, voice)
        .await
        .map_err(|e| format!("speech synthesis failed: {e}"))?;
    resample(&speech.samples, speech.rate, PHONE_RATE).map_err(|e| format!("speech synthesis: {e}"))
}

#[cfg(test)]
mod tests;
