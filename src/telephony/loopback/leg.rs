//! One leg of a loopback call: its TwiML program, run verb by verb as Twilio runs it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::bridge::Port;
use super::call::LiveCall;
use super::stream_client::{run_stream, StreamCall, StreamEnd};
use super::Carrier;
use crate::audio::dtmf::DtmfDetector;
use crate::audio::mulaw::SILENCE;
use crate::audio::PHONE_RATE;
use crate::audio::{mulaw, resample, wav};
use crate::telephony::twiml::{self, Gather, GatherInput, Verb};

/// Where a leg's TwiML comes from.
#[derive(Debug, Clone)]
pub enum Document {
    Url { url: String, method: String },
    Inline(String),
}

/// How a leg's program ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEnd {
    /// `<Hangup>`, or the program ran out of verbs.
    HungUp,
    /// `<Reject>`.
    Rejected,
    /// The other leg or the carrier ended the call.
    CallEnded,
    /// The REST API hung the leg up (`Status=completed`).
    HungUpByApi,
    /// A webhook failed or its TwiML cannot be run.
    Failed(String),
}

impl LegEnd {
    /// How a leg that ended the call did it, after "the agent" or "the caller".
    pub fn how(&self) -> &'static str {
        match self {
            Self::HungUp => "hung up (<Hangup>, or its TwiML ended)",
            Self::Rejected => "rejected the call (<Reject>)",
            Self::CallEnded => "ended the call",
            Self::HungUpByApi => "hung up through the REST API (Status=completed)",
            Self::Failed(_) => "failed",
        }
    }
}

/// What a leg runs with.
pub struct Leg {
    pub carrier: Arc<Carrier>,
    /// The call this leg is part of, and which of its legs this is.
    pub call: Arc<LiveCall>,
    pub index: usize,
    pub call_sid: String,
    pub port: Port,
    /// The webhook parameters of this leg (CallSid, From, To, Direction, ...).
    pub params: Vec<(String, String)>,
    pub ended: watch::Receiver<bool>,
}

/// Longest `<Play loop="0">` runs: until the call ends, in practice.
const ENDLESS_LOOPS: u32 = 10_000;

/// A fetched TwiML document: its verbs, and its URL (for relative URLs in it).
pub struct Program {
    verbs: VecDeque<Verb>,
    url: String,
}

impl Program {
    /// Whether the document refuses the call.
    pub fn rejects(&self) -> bool {
        matches!(self.verbs.front(), Some(Verb::Reject))
    }
}

impl Leg {
    /// Fetches the leg's first document (the call is answered once it is in hand).
    pub async fn answer(&self, first: &Document) -> Result<Program, String> {
        let (verbs, url) = self.fetch(first, &[]).await?;
        Ok(Program { verbs, url })
    }

    /// Runs the leg's TwiML until it ends or the call does.
    pub async fn run(&self, program: Program) -> LegEnd {
        let Program {
            mut verbs,
            url: mut doc_url,
        } = program;
        // Only redirects asked for from now on count.
        let mut redirects = self.call.legs[self.index].redirect.subscribe();
        redirects.mark_unchanged();
        let mut forks = Vec::new();
        let mut fetched = 0usize;
        let end = loop {
            if *self.ended.borrow() {
                break LegEnd::CallEnded;
            }
            let step = if redirects.has_changed().unwrap_or(false) {
                Step::Redirect
            } else {
                let Some(verb) = verbs.pop_front() else {
                    break LegEnd::HungUp;
                };
                match verb {
                    Verb::Connect {
                        stream,
                        action,
                        method,
                    } => {
                        self.mark_stream_start();
                        let leave = redirected(&mut redirects);
                        let ended =
                            run_stream(&stream, self.stream_call(), &self.port, true, leave).await;
                        match ended {
                            StreamEnd::Left => Step::Redirect,
                            StreamEnd::CallEnded => Step::End(LegEnd::CallEnded),
                            // As Twilio does: the failure is reported and TwiML goes on.
                            StreamEnd::ClosedByServer | StreamEnd::Failed(_) => {
                                if let StreamEnd::Failed(reason) = ended {
                                    self.alert(reason);
                                }
                                match action {
                                    Some(action) => self.goto(&doc_url, &action, method, &[]).await,
                                    None => Step::Next,
                                }
                            }
                        }
                    }
                    Verb::Start(stream) => {
                        self.mark_stream_start();
                        forks.push(self.fork(stream));
                        Step::Next
                    }
                    verb => {
                        let step = self.verb(verb, &doc_url);
                        tokio::select! {
                            step = step => step,
                            () = redirected(&mut redirects) => {
                                self.port.clear(); // what it was saying stops
                                Step::Redirect
                            }
                        }
                    }
                }
            };
            match step {
                Step::Next => {}
                Step::End(end) => break end,
                Step::Goto(next, url) => {
                    // A <Redirect> to itself would fetch as fast as the agent answers, for
                    // the whole call.
                    fetched += 1;
                    if fetched > MAX_TWIML_FETCHES {
                        break LegEnd::Failed(format!(
                            "more than {MAX_TWIML_FETCHES} TwiML documents fetched by <Redirect> \
                             and actions in one call (the last {url}): a redirect loop?"
                        ));
                    }
                    (verbs, doc_url) = (next, url)
                }
                Step::Redirect => {
                    let document = redirects.borrow_and_update().clone();
                    let Some(document) = document else { continue };
                    match self.fetch(&document, &[]).await {
                        Ok((next, url)) => (verbs, doc_url) = (next, url),
                        Err(e) => break LegEnd::Failed(e),
                    }
                }
            }
        };
        for fork in forks {
            fork.abort();
        }
        end
    }

    /// Notes when the leg's first stream starts: the origin of the times its side of the
    /// call reports (utterances are timed from the stream's start).
    fn mark_stream_start(&self) {
        self.call.legs[self.index]
            .stream_started
            .lock()
            .expect("stream start lock")
            .get_or_insert_with(Instant::now);
    }

    /// A failure the leg's TwiML goes on after: logged, and kept for the call's result.
    pub(super) fn alert(&self, reason: String) {
        self.carrier
            .log(format!("call {}: {reason}", self.call_sid));
        self.call.legs[self.index]
            .alerts
            .lock()
            .expect("alerts lock")
            .push(reason);
    }

    /// `<Start><Stream>`: a stream of what the leg hears, beside its TwiML until the call ends.
    fn fork(&self, stream: twiml::Stream) -> tokio::task::JoinHandle<()> {
        let carrier = self.carrier.clone();
        let (call, index) = (self.call.clone(), self.index);
        let (call_sid, port) = (self.call_sid.clone(), self.port.clone());
        tokio::spawn(async move {
            let stream_call = StreamCall {
                account_sid: &carrier.config.account_sid,
                call_sid: &call_sid,
                max_message_bytes: carrier.config.max_message_bytes,
                tls: &carrier.tls,
            };
            let stays = std::future::pending();
            if let StreamEnd::Failed(reason) =
                run_stream(&stream, stream_call, &port, false, stays).await
            {
                carrier.log(format!("call {call_sid}: {reason}"));
                call.legs[index]
                    .alerts
                    .lock()
                    .expect("alerts lock")
                    .push(reason);
            }
        })
    }

    /// Runs one verb other than the streams.
    async fn verb(&self, verb: Verb, doc_url: &str) -> Step {
        let failed = |e| Step::End(LegEnd::Failed(e));
        match verb {
            Verb::Connect { .. } | Verb::Start(_) => Step::Next, // run by `run`
            Verb::Play { url, loop_count } => match self.play(doc_url, &url, loop_count).await {
                Ok(()) => Step::Next,
                Err(e) => failed(e),
            },
            Verb::Say {
                text,
                voice,
                language,
            } => match self.say(&text, voice.as_deref(), language.as_deref()).await {
                Ok(()) => Step::Next,
                Err(e) => failed(e),
            },
            Verb::Pause { length } => {
                self.pause(Duration::from_secs(length.into())).await;
                Step::Next
            }
            Verb::Gather(gather) => match self.gather(&gather, doc_url).await {
                Err(e) => failed(e),
                Ok(None) => Step::Next,
                Ok(Some(digits)) => {
                    let action = gather.action.as_deref().unwrap_or(doc_url);
                    let method = gather.method.clone().unwrap_or_else(|| "POST".into());
                    let extra = [("Digits".to_string(), digits)];
                    self.goto(doc_url, action, method, &extra).await
                }
            },
            Verb::Redirect { url, method } => self.goto(doc_url, &url, method, &[]).await,
            Verb::Dial(dial) => self.dial(&dial, doc_url).await,
            Verb::Hangup => Step::End(LegEnd::HungUp),
            Verb::Reject => Step::End(LegEnd::Rejected),
        }
    }

    /// Fetches the document at `url` (relative to the current one), which the leg runs
    /// next: a `<Redirect>`, a `<Gather>`'s or a `<Connect>`'s action.
    pub(super) async fn goto(
        &self,
        doc_url: &str,
        url: &str,
        method: String,
        extra: &[(String, String)],
    ) -> Step {
        let fetched = match join(doc_url, url) {
            Ok(url) => self.fetch(&Document::Url { url, method }, extra).await,
            Err(e) => Err(e),
        };
        match fetched {
            Ok((next, url)) => Step::Goto(next, url),
            Err(e) => Step::End(LegEnd::Failed(e)),
        }
    }

    fn stream_call(&self) -> StreamCall<'_> {
        StreamCall {
            account_sid: &self.carrier.config.account_sid,
            call_sid: &self.call_sid,
            max_message_bytes: self.carrier.config.max_message_bytes,
            tls: &self.carrier.tls,
        }
    }

    /// Fetches and parses a TwiML document; returns its verbs and its URL (for relative
    /// URLs in it). `extra` parameters are added to the leg's, replacing any of the same name.
    pub(super) async fn fetch(
        &self,
        document: &Document,
        extra: &[(String, String)],
    ) -> Result<(VecDeque<Verb>, String), String> {
        let (text, url) = match document {
            Document::Inline(text) => (text.clone(), String::new()),
            Document::Url { url, method } => {
                let mut params = self.params.clone();
                params.retain(|(name, _)| extra.iter().all(|(given, _)| given != name));
                params.extend_from_slice(extra);
                (
                    self.carrier.webhook(url, method, &params).await?,
                    url.clone(),
                )
            }
        };
        let verbs = twiml::parse(&text).map_err(|e| {
            let from = if url.is_empty() {
                "the call's Twiml".to_string()
            } else {
                url.clone()
            };
            format!("cannot run the TwiML from {from}: {e}")
        })?;
        Ok((verbs.into(), url))
    }

    async fn play(&self, doc_url: &str, url: &str, loop_count: u32) -> Result<(), String> {
        let url = join(doc_url, url)?;
        let bytes = self.carrier.download(&url).await?;
        let audio = wav::read_wav_bytes(&bytes)
            .map_err(|e| format!("<Play> {url}: not a WAV file trialrun can read: {e}"))?;
        let mono = audio.channels.first().cloned().unwrap_or_default();
        let pcm = resample::resample(&mono, audio.rate, PHONE_RATE)
            .map_err(|e| format!("<Play> {url}: {e}"))?;
        let encoded = mulaw::encode_all(&pcm);
        let loops = if loop_count == 0 {
            ENDLESS_LOOPS
        } else {
            loop_count
        };
        for _ in 0..loops {
            self.port.say(&encoded);
            self.until_played().await;
            if *self.ended.borrow() {
                break;
            }
        }
        Ok(())
    }

    async fn say(
        &self,
        text: &str,
        voice: Option<&str>,
        language: Option<&str>,
    ) -> Result<(), String> {
        let pcm = self.carrier.synthesize(text, voice, language).await?;
        self.port.say(&mulaw::encode_all(&pcm));
        self.until_played().await;
        Ok(())
    }

    async fn pause(&self, length: Duration) {
        let mut ended = self.ended.clone();
        tokio::select! {
            () = sleep(length) => {}
            _ = super::until_set(&mut ended) => {}
        }
    }

    /// Waits until the mouth has played everything queued (or the call ended).
    pub(super) async fn until_played(&self) {
        while self.port.queued_ms() > 0 && !*self.ended.borrow() {
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `<Gather input="dtmf">`: plays its nested verbs while listening for key presses
    /// in what the leg hears. Returns the digits, or None if nothing was pressed.
    async fn gather(&self, gather: &Gather, doc_url: &str) -> Result<Option<String>, String> {
        if gather.input == GatherInput::Speech {
            return Err(
                "<Gather input=\"speech\"> is not supported by the loopback carrier (only dtmf)"
                    .into(),
            );
        }
        let mut hears = self.port.listen();
        // The prompt is queued at once (keys are heard while it plays): bounded, so that a
        // <Pause length="4294967295"/> or a <Play loop="100000"> cannot take the memory.
        let mut room = MAX_GATHER_PROMPT_SECS as usize * PHONE_RATE as usize;
        let queue = |audio: &[u8], room: &mut usize| {
            let n = audio.len().min(*room);
            *room -= n;
            self.port.say(&audio[..n]);
        };
        for verb in &gather.nested {
            match verb {
                Verb::Say {
                    text,
                    voice,
                    language,
                } => {
                    let pcm = self
                        .carrier
                        .synthesize(text, voice.as_deref(), language.as_deref())
                        .await?;
                    queue(&mulaw::encode_all(&pcm), &mut room);
                }
                Verb::Play { url, loop_count } => {
                    // Relative to the document, as a top-level <Play>'s.
                    let url = join(doc_url, url)?;
                    let bytes = self.carrier.download(&url).await?;
                    let audio =
                        wav::read_wav_bytes(&bytes).map_err(|e| format!("<Play> {url}: {e}"))?;
                    let mono = audio.channels.first().cloned().unwrap_or_default();
                    let pcm = resample::resample(&mono, audio.rate, PHONE_RATE)
                        .map_err(|e| format!("<Play> {url}: {e}"))?;
                    let encoded = mulaw::encode_all(&pcm);
                    for _ in 0..(*loop_count).max(1) {
                        if room == 0 || encoded.is_empty() {
                            break;
                        }
                        queue(&encoded, &mut room);
                    }
                }
                Verb::Pause { length } => {
                    let samples = (*length as usize)
                        .saturating_mul(PHONE_RATE as usize)
                        .min(room);
                    queue(&vec![SILENCE; samples], &mut room);
                }
                _ => {}
            }
        }
        let mut detector = DtmfDetector::new();
        let mut digits = String::new();
        let timeout = Duration::from_secs(gather.timeout.into());
        let mut quiet_since: Option<Instant> = None;
        let mut ended = self.ended.clone();
        let hung_up = super::until_set(&mut ended);
        tokio::pin!(hung_up);
        loop {
            // The timeout runs from the end of the prompt, and again from each key press.
            if quiet_since.is_none() && self.port.queued_ms() == 0 {
                quiet_since = Some(Instant::now());
            }
            if quiet_since.is_some_and(|since| since.elapsed() >= timeout) {
                break;
            }
            tokio::select! {
                frame = hears.recv() => {
                    let Some(frame) = frame else { break };
                    for (key, _) in detector.push(&frame.map(mulaw::decode)) {
                        self.port.clear(); // a key press stops the prompt
                        if gather.finish_on_key.contains(key) {
                            return Ok((!digits.is_empty()).then_some(digits));
                        }
                        digits.push(key);
                        quiet_since = Some(Instant::now());
                        if gather.num_digits.is_some_and(|n| digits.len() >= n as usize) {
                            return Ok(Some(digits));
                        }
                    }
                }
                () = &mut hung_up => break,
            }
        }
        Ok((!digits.is_empty()).then_some(digits))
    }
}

/// Most TwiML documents one leg fetches on its own (`<Redirect>`, actions).
const MAX_TWIML_FETCHES: usize = 200;

/// Most prompt audio a `<Gather>` queues, in seconds (Twilio ends a call after 4 hours; a
/// prompt longer than this is cut there).
const MAX_GATHER_PROMPT_SECS: u32 = 600;

/// What running a verb leads to.
pub(super) enum Step {
    Next,
    End(LegEnd),
    /// A new document (a `<Gather>` action, a `<Redirect>`), and its URL.
    Goto(VecDeque<Verb>, String),
    /// The REST API asked for a redirect: the leg leaves its TwiML for the new document.
    Redirect,
}

/// Resolves once a redirect is asked for (never, once nobody can ask).
async fn redirected(redirects: &mut watch::Receiver<Option<Document>>) {
    if redirects.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves `url` against the document it appeared in.
pub(super) fn join(base: &str, url: &str) -> Result<String, String> {
    if url.starts_with("http://") || url.starts_with("https://") || url.starts_with("ws") {
        return Ok(url.to_string());
    }
    let base = reqwest::Url::parse(base)
        .map_err(|_| format!("relative URL {url:?} in TwiML that has no URL of its own"))?;
    base.join(url)
        .map(String::from)
        .map_err(|e| format!("bad URL {url:?} in TwiML: {e}"))
}
