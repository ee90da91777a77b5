//! The client against a loopback server that plays Twilio: it checks what it receives and
//! answers with Twilio-shaped JSON.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::*;
use crate::telephony::rest::resources::CallTarget;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "s3cr3t-auth-token-value";
const CALL_SID: &str = "CAaaaabbbbccccddddeeeeffff00001111";

/// One request as the fake Twilio saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    content_type: Option<String>,
    form: Vec<(String, String)>,
    at: Instant,
}

impl Seen {
    fn field(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A scripted answer: status, extra headers, JSON body.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.to_string(),
        }
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    script: VecDeque<Reply>,
}

/// A Twilio stand-in on 127.0.0.1:0; answers from its script, then with a Call resource.
struct FakeTwilio {
    base: String,
    state: Arc<Mutex<State>>,
}

impl FakeTwilio {
    async fn start(script: Vec<Reply>) -> Self {
        let state = Arc::new(Mutex::new(State {
            seen: vec![],
            script: script.into(),
        }));
        let shared = state.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { answer(state, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    fn client(&self) -> TwilioClient {
        TwilioClient::new(self.config()).unwrap()
    }

    fn config(&self) -> TwilioConfig {
        let mut config = TwilioConfig::new(ACCOUNT, TOKEN);
        config.api_base = self.base.clone();
        config.calls_per_second = 1000.0;
        config.backoff_base = Duration::from_millis(5);
        config.backoff_max = Duration::from_millis(20);
        config.timeout = Duration::from_secs(5);
        config
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn answer(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    let seen = Seen {
        method,
        path: uri.path().to_string(),
        query: decode_form(uri.query().unwrap_or("")),
        authorization: header("authorization"),
        content_type: header("content-type"),
        form: decode_form(std::str::from_utf8(&body).unwrap()),
        at: Instant::now(),
    };
    let mut state = state.lock().unwrap();
    state.seen.push(seen);
    let reply = state
        .script
        .pop_front()
        .unwrap_or_else(|| Reply::json(201, call_json("queued")));
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        [("content-type", "application/json")],
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// application/x-www-form-urlencoded, decoded by hand so the test checks the real bytes.
fn decode_form(text: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// A Call resource shaped like Twilio's (trimmed, with fields the client ignores).
fn call_json(status: &str) -> serde_json::Value {
    serde_json::json!({
        "sid": CALL_SID,
        "account_sid": ACCOUNT,
        "status": status,
        "direction": "outbound-api",
        "from": "+15005550006",
        "to": "+15551234567",
        "to_formatted": "(555) 123-4567",
        "parent_call_sid": null,
        "duration": if status == "completed" { serde_json::json!("42") } else { serde_json::Value::Null },
        "start_time": null,
        "end_time": null,
        "date_created": "Tue, 31 Aug 2010 20:36:28 +0000",
        "price": null,
        "price_unit": "USD",
        "answered_by": null,
        "api_version": "2010-04-01",
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL_SID}.json"),
        "subresource_uris": {"recordings": "..."}
    })
}

fn twilio_error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        serde_json::json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status
        }),
    )
}

fn expected_auth() -> String {
    format!("Basic {}", STANDARD.encode(format!("{ACCOUNT}:{TOKEN}")))
}

fn calls_path() -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT}/Calls.json")
}

fn call_path() -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL_SID}.json")
}

fn create_with_url() -> CreateCall {
    CreateCall {
        to: "+15551234567".into(),
        from: "+15005550006".into(),
        url: Some("http://127.0.0.1:9/voice?case=a&b=c d".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_call_with_url_sends_twilios_fields() {
    let twilio = FakeTwilio::start(vec![]).await;
    let request = CreateCall {
        method: Some("POST".into()),
        status_callback: Some("http://127.0.0.1:9/status".into()),
        status_callback_event: vec!["initiated".into(), "ringing".into(), "completed".into()],
        status_callback_method: Some("POST".into()),
        record: true,
        recording_channels: Some("dual".into()),
        recording_status_callback: Some("http://127.0.0.1:9/rec".into()),
        timeout_s: Some(25),
        machine_detection: Some("Enable".into()),
        send_digits: Some("ww1234#".into()),
        ..create_with_url()
    };
    let call = twilio.client().create_call(&request).await.unwrap();
    assert_eq!(call.sid, CALL_SID);
    assert_eq!(call.status, "queued");
    assert_eq!(call.direction.as_deref(), Some("outbound-api"));
    assert_eq!(call.duration, None);

    let seen = twilio.seen();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.path, calls_path());
    assert_eq!(got.authorization.as_deref(), Some(expected_auth().as_str()));
    assert_eq!(
        got.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let expected: Vec<(&str, &str)> = vec![
        ("To", "+15551234567"),
        ("From", "+15005550006"),
        ("Url", "http://127.0.0.1:9/voice?case=a&b=c d"),
        ("Method", "POST"),
        ("StatusCallback", "http://127.0.0.1:9/status"),
        ("StatusCallbackMethod", "POST"),
        ("RecordingChannels", "dual"),
        ("RecordingStatusCallback", "http://127.0.0.1:9/rec"),
        ("MachineDetection", "Enable"),
        ("SendDigits", "ww1234#"),
        ("StatusCallbackEvent", "initiated"),
        ("StatusCallbackEvent", "ringing"),
        ("StatusCallbackEvent", "completed"),
        ("Record", "true"),
        ("Timeout", "25"),
    ];
    let form: Vec<(&str, &str)> = got
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(form, expected);
    assert_eq!(
        got.field("StatusCallbackEvent"),
        ["initiated", "ringing", "completed"]
    );
}

#[tokio::test]
async fn create_call_with_twiml_sends_only_set_fields() {
    let twilio = FakeTwilio::start(vec![]).await;
    let twiml = r#"<Response><Say>Hello &amp; goodbye</Say></Response>"#;
    let request = CreateCall {
        to: "client:alice".into(),
        from: "+15005550006".into(),
        twiml: Some(twiml.into()),
        ..Default::default()
    };
    twilio.client().create_call(&request).await.unwrap();
    let got = &twilio.seen()[0];
    let names: Vec<&str> = got.form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["To", "From", "Twiml"]);
    assert_eq!(got.field("Twiml"), [twiml]);
    assert_eq!(got.field("To"), ["client:alice"]);
}

#[tokio::test]
async fn create_call_needs_exactly_one_of_url_and_twiml() {
    let twilio = FakeTwilio::start(vec![]).await;
    let client = twilio.client();
    let both = CreateCall {
        twiml: Some("<Response/>".into()),
        ..create_with_url()
    };
    let err = client.create_call(&both).await.unwrap_err();
    assert!(matches!(err, TwilioError::InvalidRequest(_)), "{err:?}");
    assert!(err.to_string().contains("not both"), "{err}");
    let neither = CreateCall {
        url: None,
        ..create_with_url()
    };
    let err = client.create_call(&neither).await.unwrap_err();
    assert!(err.to_string().contains("neither was set"), "{err}");
    let bad_method = CreateCall {
        method: Some("PUT".into()),
        ..create_with_url()
    };
    let err = client.create_call(&bad_method).await.unwrap_err();
    assert!(err.to_string().contains("\"GET\" or \"POST\""), "{err}");
    assert!(
        twilio.seen().is_empty(),
        "nothing may be sent for a bad request"
    );
}

#[tokio::test]
async fn fetch_call_reads_the_call_resource() {
    let twilio = FakeTwilio::start(vec![Reply::json(200, call_json("completed"))]).await;
    let call = twilio.client().fetch_call(CALL_SID).await.unwrap();
    assert_eq!(call.status, "completed");
    assert_eq!(call.duration_seconds(), Some(42));
    assert!(call.is_finished());
    assert_eq!(call.price_unit.as_deref(), Some("USD"));
    let got = &twilio.seen()[0];
    assert_eq!(got.method, Method::GET);
    assert_eq!(got.path, call_path());
    assert_eq!(got.authorization.as_deref(), Some(expected_auth().as_str()));
    assert!(got.form.is_empty());
}

#[tokio::test]
async fn hang_up_posts_status_completed() {
    let twilio = FakeTwilio::start(vec![Reply::json(200, call_json("completed"))]).await;
    let call = twilio.client().hang_up(CALL_SID).await.unwrap();
    assert_eq!(call.status, "completed");
    let got = &twilio.seen()[0];
    assert_eq!(
        (got.method.clone(), got.path.clone()),
        (Method::POST, call_path())
    );
    assert_eq!(got.form, [("Status".to_string(), "completed".to_string())]);
}

#[tokio::test]
async fn update_call_redirects_with_twiml_or_url() {
    let twilio = FakeTwilio::start(vec![
        Reply::json(200, call_json("in-progress")),
        Reply::json(200, call_json("in-progress")),
    ])
    .await;
    let client = twilio.client();
    let twiml = "<Response><Hangup/></Response>";
    client
        .update_call(CALL_SID, &CallTarget::Twiml(twiml.into()))
        .await
        .unwrap();
    let target = CallTarget::Url {
        url: "http://127.0.0.1:9/next".into(),
        method: Some("GET".into()),
    };
    client.update_call(CALL_SID, &target).await.unwrap();
    let seen = twilio.seen();
    assert_eq!(seen[0].path, call_path());
    assert_eq!(seen[0].form, [("Twiml".to_string(), twiml.to_string())]);
    assert_eq!(seen[1].field("Url"), ["http://127.0.0.1:9/next"]);
    assert_eq!(seen[1].field("Method"), ["GET"]);
}

#[tokio::test]
async fn a_call_sid_that_would_change_the_path_is_refused() {
    let twilio = FakeTwilio::start(vec![]).await;
    let err = twilio.client().fetch_call("../Messages").await.unwrap_err();
    assert!(matches!(err, TwilioError::InvalidRequest(_)), "{err:?}");
    assert!(twilio.seen().is_empty());
}

#[tokio::test]
async fn incoming_number_voice_url_is_set_after_lookup() {
    let number = "+15551230000";
    let listing = serde_json::json!({
        "incoming_phone_numbers": [{
            "sid": "PN0123456789abcdef0123456789abcdef",
            "phone_number": number,
            "friendly_name": "(555) 123-0000",
            "voice_url": "https://old.example/voice",
            "voice_method": "POST",
            "capabilities": {"voice": true}
        }],
        "page": 0, "page_size": 50
    });
    let updated = serde_json::json!({
        "sid": "PN0123456789abcdef0123456789abcdef",
        "phone_number": number,
        "voice_url": "http://127.0.0.1:8765/voice",
        "voice_method": "POST"
    });
    let twilio =
        FakeTwilio::start(vec![Reply::json(200, listing), Reply::json(200, updated)]).await;
    let result = twilio
        .client()
        .set_incoming_number_voice_url(number, "http://127.0.0.1:8765/voice", Some("POST"))
        .await
        .unwrap();
    assert_eq!(
        result.voice_url.as_deref(),
        Some("http://127.0.0.1:8765/voice")
    );
    let seen = twilio.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(
        seen[0].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json")
    );
    assert_eq!(
        seen[0].query,
        [("PhoneNumber".to_string(), number.to_string())]
    );
    assert_eq!(seen[1].method, Method::POST);
    assert_eq!(
        seen[1].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json")
    );
    assert_eq!(seen[1].field("VoiceUrl"), ["http://127.0.0.1:8765/voice"]);
    assert_eq!(seen[1].field("VoiceMethod"), ["POST"]);
}

#[tokio::test]
async fn incoming_number_by_sid_skips_the_lookup() {
    let sid = "PN0123456789abcdef0123456789abcdef";
    let updated = serde_json::json!({"sid": sid, "phone_number": "+15551230000", "voice_url": "http://127.0.0.1:1/v"});
    let twilio = FakeTwilio::start(vec![Reply::json(200, updated)]).await;
    twilio
        .client()
        .set_incoming_number_voice_url(sid, "http://127.0.0.1:1/v", None)
        .await
        .unwrap();
    let seen = twilio.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0]
        .path
        .ends_with(&format!("/IncomingPhoneNumbers/{sid}.json")));
    assert!(seen[0].field("VoiceMethod").is_empty());
}

#[tokio::test]
async fn an_incoming_number_the_account_lacks_is_named() {
    let empty = serde_json::json!({"incoming_phone_numbers": [], "page": 0});
    let twilio = FakeTwilio::start(vec![Reply::json(200, empty)]).await;
    let err = twilio
        .client()
        .set_incoming_number_voice_url("+15559999999", "http://127.0.0.1:1/v", Some("POST"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TwilioError::NumberNotFound {
            number: "+15559999999".into()
        }
    );
    assert!(err.to_string().contains("+15559999999"), "{err}");
    assert_eq!(twilio.seen().len(), 1, "no update without a number");
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_retried() {
    let mut limited = twilio_error(429, 20429, "Too Many Requests");
    limited.headers.push(("retry-after", "0.3".into()));
    let twilio = FakeTwilio::start(vec![limited]).await;
    let started = Instant::now();
    let call = twilio
        .client()
        .create_call(&create_with_url())
        .await
        .unwrap();
    assert_eq!(call.sid, CALL_SID);
    let seen = twilio.seen();
    assert_eq!(seen.len(), 2, "one 429, then success");
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(300),
        "Retry-After ignored: {gap:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let twilio = FakeTwilio::start(vec![
        Reply::json(500, serde_json::json!({"message": "oops"})),
        Reply {
            status: 503,
            headers: vec![],
            body: "<html>busy</html>".into(),
        },
    ])
    .await;
    let call = twilio.client().fetch_call(CALL_SID).await.unwrap();
    assert_eq!(call.sid, CALL_SID);
    assert_eq!(twilio.seen().len(), 3);
}

#[tokio::test]
async fn a_400_is_not_retried_and_carries_twilios_error() {
    let twilio = FakeTwilio::start(vec![twilio_error(
        400,
        21211,
        "The 'To' number +1555 is not a valid phone number.",
    )])
    .await;
    let request = CreateCall {
        to: "+1555".into(),
        ..create_with_url()
    };
    let err = twilio.client().create_call(&request).await.unwrap_err();
    assert_eq!(twilio.seen().len(), 1);
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.code(), Some(21211));
    assert_eq!(
        err.to_string(),
        "Twilio refused create call (HTTP 400, code 21211): The 'To' number +1555 is not a valid \
         phone number. See https://www.twilio.com/docs/errors/21211"
    );
}

#[tokio::test]
async fn retries_stop_after_max_retries() {
    let busy = || twilio_error(503, 20503, "Service Unavailable");
    let twilio = FakeTwilio::start((0..10).map(|_| busy()).collect()).await;
    let mut config = twilio.config();
    config.max_retries = 2;
    let err = TwilioClient::new(config)
        .unwrap()
        .fetch_call(CALL_SID)
        .await
        .unwrap_err();
    assert_eq!(twilio.seen().len(), 3, "first attempt and two retries");
    assert!(
        matches!(
            err,
            TwilioError::Api {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_ends_the_retries() {
    let mut limited = twilio_error(429, 20429, "Too Many Requests");
    limited.headers.push(("retry-after", "3600".into()));
    let twilio = FakeTwilio::start(vec![limited]).await;
    let err = twilio.client().fetch_call(CALL_SID).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(twilio.seen().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    // A port that was just free: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = TwilioConfig::new(ACCOUNT, TOKEN);
    config.api_base = format!("http://127.0.0.1:{port}");
    config.max_retries = 2;
    config.backoff_base = Duration::from_millis(1);
    config.calls_per_second = 1000.0; // each attempt is paced; keep the test quick
    let err = TwilioClient::new(config)
        .unwrap()
        .create_call(&create_with_url())
        .await
        .unwrap_err();
    assert!(
        matches!(err, TwilioError::Transport { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("could not reach Twilio to create call (3 attempts)"),
        "{err}"
    );
}

#[tokio::test]
async fn create_call_is_paced_across_concurrent_tasks() {
    let twilio = FakeTwilio::start(vec![]).await;
    let mut config = twilio.config();
    config.calls_per_second = 20.0;
    let client = TwilioClient::new(config).unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.create_call(&create_with_url()).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // Six starts 50 ms apart: the last at 250 ms.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(240), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
    // Arrival times jitter with the scheduling of a loaded machine (gaps of 27 ms were seen
    // in CI), so the spread of all six is checked: unpaced, they arrive within milliseconds.
    let mut times: Vec<Instant> = twilio.seen().iter().map(|s| s.at).collect();
    times.sort();
    assert!(
        times[5] - times[0] >= Duration::from_millis(200),
        "{:?}",
        times[5] - times[0]
    );
}

#[tokio::test]
async fn other_requests_are_not_paced() {
    let twilio = FakeTwilio::start(vec![]).await;
    let mut config = twilio.config();
    config.calls_per_second = 1.0;
    let client = TwilioClient::new(config).unwrap();
    let started = Instant::now();
    for _ in 0..3 {
        client.fetch_call(CALL_SID).await.unwrap();
    }
    // Paced at 1/s, three requests would take at least 2 s.
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn api_key_is_used_for_basic_auth_with_the_account_in_the_path() {
    let twilio = FakeTwilio::start(vec![Reply::json(200, call_json("queued"))]).await;
    let mut config = twilio.config();
    config.api_key_sid = Some("SKkeykeykey".into());
    config.api_key_secret = Some("key-secret".into());
    TwilioClient::new(config)
        .unwrap()
        .fetch_call(CALL_SID)
        .await
        .unwrap();
    let got = &twilio.seen()[0];
    assert_eq!(got.path, call_path());
    let expected = format!("Basic {}", STANDARD.encode("SKkeykeykey:key-secret"));
    assert_eq!(got.authorization.as_deref(), Some(expected.as_str()));
}

#[test]
fn bad_settings_fail_before_any_request() {
    type Change = fn(&mut TwilioConfig);
    let cases: Vec<(Change, &str)> = vec![
        (|c| c.account_sid = "AC/../x".into(), "account_sid"),
        (|c| c.auth_token = String::new(), "auth_token is empty"),
        (|c| c.api_key_sid = Some("SK1".into()), "given together"),
        (|c| c.api_base = "ftp://host".into(), "api_base"),
        (
            |c| c.api_base = "https://user:pw@host".into(),
            "no path or user info",
        ),
        (|c| c.api_base = "https://host/2010-04-01".into(), "no path"),
        (|c| c.calls_per_second = 0.0, "calls_per_second"),
        (|c| c.calls_per_second = f64::NAN, "calls_per_second"),
    ];
    for (change, expected) in cases {
        let mut config = TwilioConfig::new(ACCOUNT, TOKEN);
        change(&mut config);
        let err = TwilioClient::new(config).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    let mut config = TwilioConfig::new(ACCOUNT, TOKEN);
    config.api_base = "http://127.0.0.1:8080/".into();
    TwilioClient::new(config).unwrap();
}

#[test]
fn debug_output_redacts_credentials() {
    let mut config = TwilioConfig::new(ACCOUNT, TOKEN);
    config.api_key_sid = Some("SKkey".into());
    config.api_key_secret = Some("the-key-secret".into());
    let client = TwilioClient::new(config.clone()).unwrap();
    for text in [
        format!("{config:?}"),
        format!("{client:?}"),
        format!("{config:#?}"),
    ] {
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains("the-key-secret"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(text.contains(ACCOUNT), "{text}");
    }
}

#[tokio::test]
async fn a_server_echoing_the_token_does_not_leak_it_into_errors() {
    let twilio = FakeTwilio::start(vec![twilio_error(
        401,
        20003,
        &format!("bad token {TOKEN}"),
    )])
    .await;
    let err = twilio.client().fetch_call(CALL_SID).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains("bad token <redacted>"), "{text}");
}

#[tokio::test]
async fn https_requests_go_through_rustls() {
    // A TCP listener that records the first bytes: a TLS ClientHello starts with 0x16 0x03.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let first_bytes = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 2];
        socket.read_exact(&mut buf).await.unwrap();
        buf
    });
    let mut config = TwilioConfig::new(ACCOUNT, TOKEN);
    config.api_base = format!("https://127.0.0.1:{port}");
    config.max_retries = 0;
    config.timeout = Duration::from_secs(2);
    let err = TwilioClient::new(config)
        .unwrap()
        .fetch_call(CALL_SID)
        .await
        .unwrap_err();
    assert!(matches!(err, TwilioError::Transport { .. }), "{err:?}");
    assert_eq!(first_bytes.await.unwrap(), [0x16, 0x03]);
}

#[test]
fn the_default_base_is_twilios_https_endpoint() {
    let config = TwilioConfig::new(ACCOUNT, TOKEN);
    assert_eq!(config.api_base, "https://api.twilio.com");
    assert_eq!((config.calls_per_second, config.max_retries), (1.0, 3));
    TwilioClient::new(config).unwrap();
}
