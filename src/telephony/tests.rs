//! End-to-end: trialrun's call server calls a small Media Streams agent through the
//! loopback carrier's REST API, over real HTTP and WebSockets on loopback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use super::call::{CallEvent, CallHandle, EndReason};
use super::loopback::{LoopbackCarrier, LoopbackConfig};
use super::rest::{CreateCall, TwilioClient, TwilioConfig};
use super::server::{CallServer, ServerConfig};
use super::{signature, twiml};
use crate::audio::{dtmf::DtmfDetector, mulaw};
use crate::net::runtime::runtime;

const AGENT_NUMBER: &str = "+15550100";
const TRIALRUN_NUMBER: &str = "+15550199";

/// What the test agent saw.
#[derive(Default)]
struct AgentLog {
    webhook_params: Vec<(String, String)>,
    signature_valid: bool,
    events: Vec<String>,
    digits: String,
    parameters: Value,
}

struct Agent {
    auth_token: String,
    base: Mutex<String>,
    log: Mutex<AgentLog>,
}

/// The agent: answers with `<Connect><Stream>`, greets with 300 ms of tone and a mark,
/// and after hearing the key 5 says a second tone and hangs up (closes the stream).
async fn voice(
    State(agent): State<Arc<Agent>>,
    headers: axum::http::HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> impl IntoResponse {
    let base = agent.base.lock().unwrap().clone();
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut log = agent.log.lock().unwrap();
    log.signature_valid =
        signature::validate(&agent.auth_token, &format!("{base}/voice"), &params, given);
    log.webhook_params = params;
    let ws = base.replace("http://", "ws://");
    twiml::connect_stream(
        &format!("{ws}/media"),
        &[("greeting".into(), "tone".into())],
    )
}

async fn media(State(agent): State<Arc<Agent>>, ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(move |socket| agent_stream(agent, socket))
}

fn tone(ms: usize) -> String {
    let pcm: Vec<i16> = (0..ms * 8)
        .map(|n| ((n as f32 * 0.2).sin() * 8000.0) as i16)
        .collect();
    STANDARD.encode(mulaw::encode_all(&pcm))
}

async fn agent_stream(agent: Arc<Agent>, mut socket: WebSocket) {
    let mut stream_sid = String::new();
    while let Some(Ok(Message::Text(text))) = socket.recv().await {
        let message: Value = serde_json::from_str(text.as_str()).unwrap();
        let event = message["event"].as_str().unwrap_or("").to_string();
        if event != "media" {
            agent.log.lock().unwrap().events.push(event.clone());
        }
        let reply = |json: Value| Message::Text(json.to_string().into());
        match event.as_str() {
            "start" => {
                stream_sid = message["streamSid"].as_str().unwrap().to_string();
                agent.log.lock().unwrap().parameters = message["start"]["customParameters"].clone();
                let media = serde_json::json!({"event": "media", "streamSid": stream_sid, "media": {"payload": tone(300)}});
                socket.send(reply(media)).await.unwrap();
                let mark = serde_json::json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": "greeting"}});
                socket.send(reply(mark)).await.unwrap();
            }
            "dtmf" => {
                let digit = message["dtmf"]["digit"].as_str().unwrap().to_string();
                agent.log.lock().unwrap().digits.push_str(&digit);
                if digit == "5" {
                    let media = serde_json::json!({"event": "media", "streamSid": stream_sid, "media": {"payload": tone(200)}});
                    socket.send(reply(media)).await.unwrap();
                    let mark = serde_json::json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": "bye"}});
                    socket.send(reply(mark)).await.unwrap();
                }
            }
            "mark" if message["mark"]["name"] == "bye" => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            "stop" => return,
            _ => {}
        }
    }
}

fn start_agent(auth_token: &str) -> (Arc<Agent>, String) {
    let agent = Arc::new(Agent {
        auth_token: auth_token.to_string(),
        base: Mutex::default(),
        log: Mutex::default(),
    });
    let app = Router::new()
        .route("/voice", post(voice))
        .route("/media", get(media))
        .with_state(agent.clone());
    let listener = runtime()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *agent.base.lock().unwrap() = base.clone();
    runtime().spawn(async move { axum::serve(listener, app).await });
    (agent, base)
}

/// Places a call through the carrier's REST API, as a Twilio client would.
async fn create_call(carrier: &LoopbackCarrier, form: &[(&str, &str)]) -> (u16, Value) {
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Calls.json",
        carrier.api_base(),
        carrier.account_sid()
    );
    let response = crate::net::http::client()
        .unwrap()
        .post(url)
        .basic_auth(carrier.account_sid(), Some(carrier.auth_token()))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn next(handle: &mut CallHandle) -> CallEvent {
    tokio::time::timeout(Duration::from_secs(10), handle.next_event())
        .await
        .expect("an event within 10 s")
        .expect("an event")
}

#[test]
fn a_call_through_the_loopback_carrier_carries_audio_marks_and_keys_both_ways() {
    let carrier = LoopbackCarrier::start(LoopbackConfig::default()).unwrap();
    let (agent, agent_base) = start_agent(carrier.auth_token());
    carrier.set_number(AGENT_NUMBER, &format!("{agent_base}/voice"));
    let recordings = std::env::temp_dir().join(format!("trialrun-rec-{}", std::process::id()));
    std::fs::create_dir_all(&recordings).unwrap();
    let server = CallServer::start(ServerConfig {
        auth_token: Some(carrier.auth_token().to_string()),
        recordings_dir: Some(recordings.clone()),
        ..ServerConfig::default()
    })
    .unwrap();

    runtime().block_on(async {
        let (mut handle, urls) = server.new_outbound_call();
        // The Twilio client, pointed at the carrier instead of api.twilio.com.
        let mut config = TwilioConfig::new(carrier.account_sid(), carrier.auth_token());
        config.api_base = carrier.api_base();
        let twilio = TwilioClient::new(config).unwrap();
        let created = twilio
            .create_call(&CreateCall {
                to: AGENT_NUMBER.into(),
                from: TRIALRUN_NUMBER.into(),
                url: Some(urls.voice.clone()),
                status_callback: Some(urls.status_callback.clone()),
                status_callback_event: ["initiated", "ringing", "answered", "completed"]
                    .map(String::from)
                    .to_vec(),
                ..CreateCall::default()
            })
            .await
            .unwrap();
        assert!(created.sid.starts_with("CA"), "{created:?}");
        assert_eq!(created.status, "queued");
        let body = serde_json::json!({"sid": created.sid});
        let mut statuses = Vec::new();
        let mut heard = Vec::new();
        let mut marks = Vec::new();
        let end = loop {
            match next(&mut handle).await {
                CallEvent::Status { status } => statuses.push(status),
                CallEvent::Started {
                    parameters,
                    call_sid,
                    ..
                } => {
                    assert_eq!(call_sid, body["sid"].as_str().unwrap());
                    assert!(
                        parameters.is_empty(),
                        "the stream token is not shown: {parameters:?}"
                    );
                    handle.commands().mark("hello-sent").unwrap();
                }
                CallEvent::Audio { samples, .. } => heard.extend(samples),
                CallEvent::Mark { name } => {
                    marks.push(name);
                    if marks.len() == 1 {
                        handle.commands().send_dtmf("5").unwrap();
                    }
                }
                CallEvent::Ended(end) => break end,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(end.reason, EndReason::FarEndHungUp, "{end:?}");
        assert_eq!(marks, vec!["hello-sent".to_string()]);
        assert!(
            statuses.starts_with(&["initiated".into(), "ringing".into(), "in-progress".into()]),
            "{statuses:?}"
        );
        // The agent's two tones (300 + 200 ms) arrived among the silence.
        let loud = heard
            .chunks(160)
            .filter(|f| crate::audio::frames::rms_dbfs(f) > -30.0)
            .count();
        assert!((20..=30).contains(&loud), "{loud} loud frames");
        assert!(
            end.pacing.frames > 0 && end.pacing.p99_us < 50_000,
            "{:?}",
            end.pacing
        );

        // The recording has the key tones on the caller's channel, the agent's on the right.
        let path = end.recording_path.expect("recorded");
        let audio = crate::audio::wav::read_wav(std::path::Path::new(&path)).unwrap();
        assert_eq!(audio.channels.len(), 2);
        let digits: String = DtmfDetector::new()
            .push(&audio.channels[0])
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(digits, "5");
        // The carrier finishes the call once the agent's stream has closed.
        let mut fetched = twilio.fetch_call(&created.sid).await.unwrap();
        for _ in 0..100 {
            if fetched.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            fetched = twilio.fetch_call(&created.sid).await.unwrap();
        }
        assert_eq!(fetched.status, "completed", "{fetched:?}");
        assert!(
            fetched
                .start_time
                .as_deref()
                .is_some_and(|t| t.ends_with("+0000")),
            "{fetched:?}"
        );
        assert!(fetched.duration_seconds().is_some(), "{fetched:?}");
    });
    let log = agent.log.lock().unwrap();
    assert!(
        log.signature_valid,
        "the carrier signs webhooks as Twilio does"
    );
    let params: HashMap<_, _> = log.webhook_params.iter().cloned().collect();
    assert_eq!(params["Direction"], "inbound");
    assert_eq!(params["From"], TRIALRUN_NUMBER);
    assert_eq!(params["To"], AGENT_NUMBER);
    assert_eq!(log.parameters["greeting"], "tone");
    assert_eq!(log.digits, "5");
    assert!(
        log.events
            .starts_with(&["connected".into(), "start".into()]),
        "{:?}",
        log.events
    );
    std::fs::remove_dir_all(recordings).ok();
}

#[test]
fn network_faults_a_call_cannot_have_are_refused_naming_the_parameter() {
    let carrier = LoopbackCarrier::start(LoopbackConfig::default()).unwrap();
    carrier.set_number(AGENT_NUMBER, "http://127.0.0.1:9/voice");
    runtime().block_on(async {
        for (faults, expected) in [
            (
                r#"{"loss": 1.5}"#,
                "loss must be a share of frames in [0, 1)",
            ),
            (r#"{"los": 0.1}"#, "unknown field `los`"),
            (r#"{"direction": "up"}"#, "unknown variant `up`"),
        ] {
            let (status, body) = create_call(
                &carrier,
                &[
                    ("To", AGENT_NUMBER),
                    ("From", "+1"),
                    ("Url", "http://127.0.0.1:9/x"),
                    ("TrialrunNetworkFaults", faults),
                ],
            )
            .await;
            assert_eq!(status, 400, "{faults}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.starts_with("TrialrunNetworkFaults") && message.contains(expected),
                "{message}"
            );
        }
        assert_eq!(carrier.active_calls(), 0);
    });
}

#[test]
fn a_number_the_carrier_does_not_have_is_refused_with_its_known_numbers() {
    let carrier = LoopbackCarrier::start(LoopbackConfig::default()).unwrap();
    carrier.set_number(AGENT_NUMBER, "http://127.0.0.1:9/voice");
    runtime().block_on(async {
        let (status, body) = create_call(
            &carrier,
            &[
                ("To", "+1999"),
                ("From", "+1"),
                ("Url", "http://127.0.0.1:9/x"),
            ],
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["code"], 21217);
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("+1999") && message.contains(AGENT_NUMBER),
            "{message}"
        );
    });
}

#[test]
fn the_rest_api_refuses_a_wrong_auth_token() {
    let carrier = LoopbackCarrier::start(LoopbackConfig::default()).unwrap();
    runtime().block_on(async {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            carrier.api_base(),
            carrier.account_sid()
        );
        let response = crate::net::http::client()
            .unwrap()
            .post(url)
            .basic_auth(carrier.account_sid(), Some("wrong"))
            .form(&[("To", "+1")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 20003);
    });
}

#[test]
fn a_webhook_with_a_bad_signature_is_refused_and_logged() {
    let server = CallServer::start(ServerConfig {
        auth_token: Some("secret".into()),
        ..ServerConfig::default()
    })
    .unwrap();
    let (_handle, urls) = server.new_outbound_call();
    runtime().block_on(async {
        let response = crate::net::http::client()
            .unwrap()
            .post(&urls.voice)
            .header("X-Twilio-Signature", "bm9wZQ==")
            .form(&[("CallSid", "CA1")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403);
    });
    let log = server.log_lines().join("\n");
    assert!(log.contains("does not match"), "{log}");
    assert!(!log.contains("secret"), "the token is never logged: {log}");
}

#[test]
fn a_server_that_checks_signatures_needs_the_auth_token() {
    let err = CallServer::start(ServerConfig::default())
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("validate_signatures=False"),
        "{err}"
    );
}
