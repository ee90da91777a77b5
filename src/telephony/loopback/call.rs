//! One loopback call from creation to end: both legs' webhooks, the bridge between them,
//! the status callbacks Twilio would send, and what the carrier saw of how it ended.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::bridge::{self, Lateness, Lines, Port};
use super::dial::Transfer;
use super::faults::{FaultReport, NetworkFaults};
use super::leg::{Document, Leg, LegEnd};
use super::{sid, Carrier};
use crate::audio::{dtmf, mulaw, PHONE_RATE};
use crate::store::now_unix;
use crate::telephony::call::{FarEndReport, TransferReport};

/// What a REST "create call" asked for.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub to: String,
    pub from: String,
    pub document: Document,
    pub status_callback: Option<String>,
    pub status_callback_method: String,
    /// initiated, ringing, answered, completed; empty means completed only.
    pub status_callback_events: HashSet<String>,
    pub send_digits: Option<String>,
    pub machine_detection: bool,
    /// Network faults for this call, instead of the carrier's.
    pub faults: Option<NetworkFaults>,
}

/// A call's state, as the REST API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub sid: String,
    pub account_sid: String,
    pub to: String,
    pub from: String,
    pub status: String,
    pub direction: String,
    pub api_version: &'static str,
    /// The call that created this one (the callee's leg names the call placed).
    pub parent_call_sid: Option<String>,
    /// RFC 2822 times, as Twilio writes them.
    pub date_created: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Unix time the call was answered, for its duration.
    #[serde(skip)]
    pub answered_at: Option<f64>,
    /// Seconds, as a string (Twilio's form), once ended.
    pub duration: Option<String>,
}

/// The leg placed through the REST API, and the leg of the number it called.
pub const CALLER: usize = 0;
pub const CALLEE: usize = 1;

/// One leg's REST resource and what the REST API can ask of it.
pub struct LegControl {
    pub record: Mutex<CallRecord>,
    /// The latest redirect asked for (REST `Url`/`Twiml`): the leg leaves its TwiML for it.
    pub redirect: watch::Sender<Option<Document>>,
    /// Failures the leg's TwiML went on after (a stream that could not be opened, as Twilio
    /// reports to its debugger), so the call's result can name them.
    pub alerts: Mutex<Vec<String>>,
    /// The leg's `<Dial>`s, in order.
    pub transfers: Mutex<Vec<Transfer>>,
    /// When the leg's first media stream started: its side's times count from there.
    pub stream_started: Mutex<Option<Instant>>,
}

/// How the call ended, as the carrier saw it: set before the legs are disconnected, so a
/// leg's side that learns of the end (its stream's `stop`) finds it.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    /// The leg that ended the call and how, when one did.
    pub by: Option<(usize, String)>,
    /// Why the call failed, when it did.
    pub failure: Option<String>,
}

/// A call the carrier is carrying: both legs.
pub struct LiveCall {
    pub legs: [LegControl; 2],
    pub hang_up: watch::Sender<bool>,
    /// Which leg the REST API hung up, when it did.
    pub hung_up_by: Mutex<Option<usize>>,
    pub ending: Mutex<Option<Ending>>,
    /// Each leg's side of the bridge, once connected (its playout counts underruns).
    pub ports: Mutex<Option<[Port; 2]>>,
    /// Lateness of the bridge clock's ticks, when measured (benchmarks).
    pub lateness: Option<Lateness>,
    /// The network faults on the bridge, caller to callee and back, when the call has any.
    pub faults: Option<Lines>,
}

impl LiveCall {
    pub fn new(carrier: &Carrier, request: &CallRequest) -> Arc<LiveCall> {
        let record = |direction: &str, parent: Option<String>, status: &str| CallRecord {
            sid: sid("CA"),
            account_sid: carrier.config.account_sid.clone(),
            to: request.to.clone(),
            from: request.from.clone(),
            status: status.into(),
            direction: direction.into(),
            api_version: "2010-04-01",
            parent_call_sid: parent,
            date_created: rfc2822(now_unix()),
            start_time: None,
            end_time: None,
            answered_at: None,
            duration: None,
        };
        let caller = record("outbound-api", None, "queued");
        // The number dialled receives its own inbound call, with its own sid: the one its
        // webhook and stream see, and the one it hangs up or redirects through the REST API.
        let callee = record("inbound", Some(caller.sid.clone()), "ringing");
        let leg = |record| LegControl {
            record: Mutex::new(record),
            redirect: watch::channel(None).0,
            alerts: Mutex::default(),
            transfers: Mutex::default(),
            stream_started: Mutex::default(),
        };
        let lateness = carrier.config.measure_lateness.then(Default::default);
        let faults = request
            .faults
            .as_ref()
            .or(carrier.config.faults.as_ref())
            .map(|faults| Arc::new(Mutex::new(faults.lines())));
        Arc::new(LiveCall {
            legs: [leg(caller), leg(callee)],
            hang_up: watch::channel(false).0,
            hung_up_by: Mutex::default(),
            ending: Mutex::default(),
            ports: Mutex::default(),
            lateness,
            faults,
        })
    }

    /// The REST resource of the leg placed.
    pub fn snapshot(&self) -> CallRecord {
        self.leg_snapshot(CALLER)
    }

    pub fn leg_snapshot(&self, leg: usize) -> CallRecord {
        self.legs[leg].record.lock().expect("call lock").clone()
    }

    pub fn sid(&self, leg: usize) -> String {
        self.legs[leg].record.lock().expect("call lock").sid.clone()
    }

    fn set_status(&self, leg: usize, status: &str) {
        self.legs[leg].record.lock().expect("call lock").status = status.to_string();
    }

    /// What the leg `near` learns of the other leg: its sid, its underruns and what failed
    /// at its end so far, and, once the call has ended, how.
    pub fn far_end_report(&self, near: usize) -> Option<FarEndReport> {
        let ending = self.ending.lock().expect("ending lock").clone();
        let far = 1 - near;
        let underruns = self
            .ports
            .lock()
            .expect("ports lock")
            .as_ref()
            .map_or(0, |ports| ports[far].underruns());
        let ending = ending.unwrap_or_default();
        let alerts = self.legs[far].alerts.lock().expect("alerts lock");
        let hung_up = ending
            .by
            .as_ref()
            .filter(|(leg, _)| *leg == far)
            .map(|(_, how)| how.clone());
        Some(FarEndReport {
            call_sid: self.sid(far),
            hung_up,
            error: ending.failure.clone().or_else(|| alerts.first().cloned()),
            underruns,
            faults: self.fault_report(near),
            transfers: self.transfer_reports(near),
        })
    }

    /// The far leg's `<Dial>`s, timed from the start of leg `near`'s stream (or from each
    /// transfer's own start, when `near` had none).
    fn transfer_reports(&self, near: usize) -> Vec<TransferReport> {
        let origin = *self.legs[near]
            .stream_started
            .lock()
            .expect("stream start lock");
        let transfers = self.legs[1 - near]
            .transfers
            .lock()
            .expect("transfers lock");
        transfers
            .iter()
            .map(|t| {
                let since = |at: Instant| {
                    at.saturating_duration_since(origin.unwrap_or(t.started))
                        .as_millis() as u64
                };
                TransferReport {
                    target: t.target.key(),
                    kind: t.target.kind.as_str(),
                    call_sid: t.call_sid.clone(),
                    status: t.status.clone(),
                    reason: t.reason.clone(),
                    start_ms: since(t.started),
                    answered_ms: t.answered.map(since),
                    ended_ms: t.ended.map(since),
                }
            })
            .collect()
    }

    /// What the call's network faults did to what leg `near` sent and heard so far.
    pub fn fault_report(&self, near: usize) -> Option<FaultReport> {
        let lines = self.faults.as_ref()?.lock().expect("fault lines lock");
        let report = |line: usize| lines[line].as_ref().map(|line| line.report().clone());
        // Line 0 carries what the caller's leg says to the callee's.
        Some(FaultReport {
            sent: report(near),
            heard: report(1 - near),
        })
    }
}

/// Runs `call` to its end. `callee_url` is the voice webhook of the number called.
pub async fn run_call(
    carrier: Arc<Carrier>,
    call: Arc<LiveCall>,
    request: CallRequest,
    callee_url: String,
) {
    let call_sid = call.sid(CALLER);
    let notify = |status: &'static str, event: &'static str| {
        let (carrier, call, request) = (carrier.clone(), call.clone(), request.clone());
        async move {
            call.set_status(CALLER, status);
            status_callback(&carrier, &call, &request, status, event).await;
        }
    };
    notify("initiated", "initiated").await;
    notify("ringing", "ringing").await;

    let (ended_tx, ended) = watch::channel(false);
    let base = |direction: &str, status: &str, sid: &str| {
        let mut params = vec![
            ("AccountSid".to_string(), carrier.config.account_sid.clone()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("CallSid".into(), sid.to_string()),
            ("CallStatus".into(), status.into()),
            ("Direction".into(), direction.into()),
            ("From".into(), request.from.clone()),
            ("To".into(), request.to.clone()),
        ];
        if request.machine_detection && direction == "outbound-api" {
            params.push(("AnsweredBy".into(), "unknown".into()));
        }
        params
    };
    let callee_sid = call.sid(CALLEE);
    let jitter_ms = carrier.config.jitter_buffer.as_millis() as u64;
    let (caller_port, callee_port) = (Port::new(jitter_ms), Port::new(jitter_ms));
    *call.ports.lock().expect("ports lock") = Some([caller_port.clone(), callee_port.clone()]);
    let leg = |index: usize, port: &Port, params| Leg {
        carrier: carrier.clone(),
        call: call.clone(),
        index,
        call_sid: call.sid(index),
        port: port.clone(),
        params,
        ended: ended.clone(),
    };
    let callee = leg(
        CALLEE,
        &callee_port,
        base("inbound", "ringing", &callee_sid),
    );
    let caller = leg(
        CALLER,
        &caller_port,
        base("outbound-api", "in-progress", &call_sid),
    );
    // The number dialled answers (its webhook's TwiML) before the caller's document is
    // fetched, as when Twilio connects an outbound call.
    let callee_program = match callee
        .answer(&Document::Url {
            url: callee_url,
            method: "POST".into(),
        })
        .await
    {
        Ok(program) if program.rejects() => {
            return finish(&carrier, &call, &request, "busy", Ending::default()).await
        }
        Ok(program) => program,
        Err(reason) => {
            let ending = Ending {
                failure: Some(reason),
                ..Ending::default()
            };
            return finish(&carrier, &call, &request, "failed", ending).await;
        }
    };
    for control in &call.legs {
        let mut record = control.record.lock().expect("call lock");
        let now = now_unix();
        record.answered_at = Some(now);
        record.start_time = Some(rfc2822(now));
    }
    call.set_status(CALLEE, "in-progress");
    notify("in-progress", "answered").await;
    if let Some(digits) = &request.send_digits {
        send_digits(&caller_port, digits);
    }
    let clock = tokio::spawn(bridge::run(
        caller_port.clone(),
        callee_port.clone(),
        ended.clone(),
        call.lateness.clone(),
        call.faults.clone(),
    ));
    let callee_task = tokio::spawn(async move { callee.run(callee_program).await });
    // The caller's document is fetched once the callee has answered; if it cannot be run,
    // the call fails and the callee is hung up on, as Twilio does after an application error.
    let caller_document = request.document.clone();
    let caller_task = tokio::spawn(async move {
        match caller.answer(&caller_document).await {
            Ok(program) => caller.run(program).await,
            Err(reason) => LegEnd::Failed(reason),
        }
    });

    let mut hang_up = call.hang_up.subscribe();
    let max = carrier.config.max_call_duration;
    let panicked = |leg: &str| LegEnd::Failed(format!("the {leg}'s leg panicked"));
    let (by, first_end) = tokio::select! {
        end = callee_task => (Some(CALLEE), end.unwrap_or_else(|_| panicked("callee"))),
        end = caller_task => (Some(CALLER), end.unwrap_or_else(|_| panicked("caller"))),
        _ = super::until_set(&mut hang_up) => (*call.hung_up_by.lock().expect("hung up lock"), LegEnd::HungUpByApi),
        () = tokio::time::sleep(max) => {
            carrier.log(format!("call {call_sid}: hung up after the maximum call duration ({} s)", max.as_secs()));
            (None, LegEnd::CallEnded)
        }
    };
    let mut ending = Ending::default();
    let status = match first_end {
        LegEnd::Failed(reason) => {
            ending.failure = Some(reason);
            "failed"
        }
        end => {
            ending.by = by.map(|leg| (leg, end.how().to_string()));
            "completed"
        }
    };
    for control in &call.legs {
        super::dial::close_transfers(control);
    }
    // Known before the legs hear of the end, so whoever asks on `stop` finds it.
    *call.ending.lock().expect("ending lock") = Some(ending.clone());
    // One side is done: the other is disconnected (its streams get `stop`).
    let _ = ended_tx.send(true);
    let _ = clock.await;
    finish(&carrier, &call, &request, status, ending).await;
}

/// Records the end of a call, reports it to the status callback and forgets it.
async fn finish(
    carrier: &Carrier,
    call: &Arc<LiveCall>,
    request: &CallRequest,
    status: &str,
    ending: Ending,
) {
    let call_sid = call.sid(CALLER);
    if let Some(reason) = &ending.failure {
        carrier.log(format!("call {call_sid}: {reason}"));
    }
    *call.ending.lock().expect("ending lock") = Some(ending);
    let end = now_unix();
    for control in &call.legs {
        let mut record = control.record.lock().expect("call lock");
        record.end_time = Some(rfc2822(end));
        let duration = record.answered_at.map_or(0.0, |start| end - start);
        record.duration = Some(format!("{}", duration.round() as u64));
        record.status = status.to_string();
    }
    status_callback(carrier, call, request, status, "completed").await;
    carrier.forget(call);
}

/// SendDigits: key tones played into the call once it connects; `w` waits half a second.
fn send_digits(port: &Port, digits: &str) {
    for key in digits.chars() {
        if key == 'w' {
            port.say(&[mulaw::SILENCE; PHONE_RATE as usize / 2]);
        } else if let Ok(tones) = dtmf::phone_tones(key.encode_utf8(&mut [0; 4])) {
            port.say(&tones);
        }
    }
}

/// Posts a status callback if the request asked for this event.
async fn status_callback(
    carrier: &Carrier,
    call: &LiveCall,
    request: &CallRequest,
    status: &str,
    event: &str,
) {
    let Some(url) = &request.status_callback else {
        return;
    };
    let wanted = if request.status_callback_events.is_empty() {
        event == "completed"
    } else {
        request.status_callback_events.contains(event)
    };
    if !wanted {
        return;
    }
    let record = call.snapshot();
    let mut params = vec![
        ("AccountSid".to_string(), record.account_sid.clone()),
        ("ApiVersion".into(), "2010-04-01".into()),
        ("CallSid".into(), record.sid.clone()),
        ("CallStatus".into(), status.into()),
        ("Direction".into(), record.direction.clone()),
        ("From".into(), record.from.clone()),
        ("To".into(), record.to.clone()),
    ];
    if let Some(duration) = &record.duration {
        params.push(("CallDuration".into(), duration.clone()));
    }
    if let Err(e) = carrier
        .webhook(url, &request.status_callback_method, &params)
        .await
    {
        carrier.log(format!(
            "call {}: status callback {status}: {e}",
            record.sid
        ));
    }
}

/// A Unix time as RFC 2822 in UTC ("Tue, 31 Aug 2010 20:36:28 +0000"), Twilio's form.
pub fn rfc2822(unix: f64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = unix.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc2822_matches_twilio_examples() {
        assert_eq!(
            super::rfc2822(1_283_286_988.0),
            "Tue, 31 Aug 2010 20:36:28 +0000"
        );
        assert_eq!(
            super::rfc2822(951_782_400.0),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
    }
}
