//! Twilio's REST API (2010-04-01) for what voice tests use: create, fetch and hang up calls;
//! find an incoming number and set its voice URL. Same paths, parameters, Basic auth, JSON
//! shapes and error bodies as Twilio, so a Twilio client pointed here works unchanged.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

use super::call::CallRequest;
use super::faults::NetworkFaults;
use super::leg::Document;
use super::{Carrier, PlaceError};

type Params = Vec<(String, String)>;

pub fn router(carrier: Arc<Carrier>) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(create_call),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{sid}",
            get(fetch_call).post(update_call),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            get(list_numbers),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}",
            post(update_number),
        )
        .route_layer(middleware::from_fn_with_state(
            carrier.clone(),
            require_auth,
        ))
        .with_state(carrier)
}

/// An error body as Twilio sends it.
fn twilio_error(status: StatusCode, code: u32, message: String) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

/// Every route: Basic auth (account sid and auth token) and the account in the path
/// (`/2010-04-01/Accounts/{account}/...`) must be the carrier's.
async fn require_auth(
    State(carrier): State<Arc<Carrier>>,
    request: Request,
    next: Next,
) -> Response {
    let account = request
        .uri()
        .path()
        .split('/')
        .nth(3)
        .unwrap_or_default()
        .to_string();
    match refusal(&carrier, request.headers(), &account) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// The response refusing a request whose credentials or account are wrong.
fn refusal(carrier: &Carrier, headers: &HeaderMap, account: &str) -> Option<Response> {
    let expected = format!(
        "{}:{}",
        carrier.config.account_sid, carrier.config.auth_token
    );
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v).ok());
    if given.as_deref() != Some(expected.as_bytes()) {
        return Some(twilio_error(
            StatusCode::UNAUTHORIZED,
            20003,
            "Authenticate".into(),
        ));
    }
    if account != carrier.config.account_sid {
        let message = format!("The requested resource /Accounts/{account} was not found");
        return Some(twilio_error(StatusCode::NOT_FOUND, 20404, message));
    }
    None
}

fn first<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .filter(|v| !v.is_empty())
}

fn strip_json(sid: &str) -> &str {
    sid.strip_suffix(".json").unwrap_or(sid)
}

/// The create-call parameter that gives a loopback call network faults of its own.
pub const FAULTS_PARAM: &str = "TrialrunNetworkFaults";

async fn create_call(State(carrier): State<Arc<Carrier>>, Form(params): Form<Params>) -> Response {
    let bad = |code, message: String| twilio_error(StatusCode::BAD_REQUEST, code, message);
    let Some(to) = first(&params, "To") else {
        return bad(21201, "No 'To' number is specified".into());
    };
    let Some(from) = first(&params, "From") else {
        return bad(21213, "No 'From' number is specified".into());
    };
    let document = match (first(&params, "Url"), first(&params, "Twiml")) {
        (Some(url), None) => Document::Url {
            url: url.to_string(),
            method: first(&params, "Method").unwrap_or("POST").to_string(),
        },
        (None, Some(twiml)) => Document::Inline(twiml.to_string()),
        (Some(_), Some(_)) => return bad(21205, "Give either Url or Twiml, not both".into()),
        (None, None) => return bad(21205, "Url or Twiml is required".into()),
    };
    if first(&params, "Record") == Some("true") {
        let message = "Record is not supported by the loopback carrier: trialrun's call server \
                       records every call itself (two channels)";
        return bad(21220, message.into());
    }
    let events: HashSet<String> = params
        .iter()
        .filter(|(key, _)| key == "StatusCallbackEvent")
        .flat_map(|(_, value)| value.split_whitespace().map(String::from))
        .collect();
    // trialrun's own parameter (Twilio has none like it): this call's network faults, JSON.
    let faults = match first(&params, FAULTS_PARAM).map(serde_json::from_str::<NetworkFaults>) {
        None => None,
        Some(Ok(faults)) => match faults.validate() {
            Ok(()) => Some(faults),
            Err(e) => return bad(21236, format!("{FAULTS_PARAM}: {e}")),
        },
        Some(Err(e)) => return bad(21236, format!("{FAULTS_PARAM} is not network faults: {e}")),
    };
    let request = CallRequest {
        faults,
        to: to.to_string(),
        from: from.to_string(),
        document,
        status_callback: first(&params, "StatusCallback").map(String::from),
        status_callback_method: first(&params, "StatusCallbackMethod")
            .unwrap_or("POST")
            .to_string(),
        status_callback_events: events,
        send_digits: first(&params, "SendDigits").map(String::from),
        machine_detection: first(&params, "MachineDetection").is_some(),
    };
    match carrier.place(request) {
        Ok(record) => (StatusCode::CREATED, Json(record)).into_response(),
        Err(e @ PlaceError::UnknownNumber { .. }) => bad(21217, e.to_string()),
    }
}

async fn fetch_call(
    State(carrier): State<Arc<Carrier>>,
    Path((_, sid)): Path<(String, String)>,
) -> Response {
    match carrier.record(strip_json(&sid)) {
        Some(record) => Json(record).into_response(),
        None => not_found_call(&sid),
    }
}

fn not_found_call(sid: &str) -> Response {
    let message = format!(
        "The requested resource /Calls/{} was not found",
        strip_json(sid)
    );
    twilio_error(StatusCode::NOT_FOUND, 20404, message)
}

/// Hangs up (`Status=completed`, or `canceled`) or redirects (`Url` or `Twiml`) a live call
/// through either of its legs' sids, as Twilio's "update a call" does.
async fn update_call(
    State(carrier): State<Arc<Carrier>>,
    Path((_, sid)): Path<(String, String)>,
    Form(params): Form<Params>,
) -> Response {
    let sid = strip_json(&sid);
    let bad = |code, message: String| twilio_error(StatusCode::BAD_REQUEST, code, message);
    let document = match (first(&params, "Url"), first(&params, "Twiml")) {
        (Some(url), None) => Some(Document::Url {
            url: url.to_string(),
            method: first(&params, "Method").unwrap_or("POST").to_string(),
        }),
        (None, Some(twiml)) => Some(Document::Inline(twiml.to_string())),
        (Some(_), Some(_)) => return bad(21205, "Give either Url or Twiml, not both".into()),
        (None, None) => None,
    };
    match (first(&params, "Status"), document) {
        (Some("completed" | "canceled"), _) => {
            carrier.hang_up(sid);
        }
        (Some(other), _) => return bad(21218, format!("Invalid Status {other:?}")),
        (None, Some(document)) => {
            if carrier.record(sid).is_none() {
                return not_found_call(sid);
            }
            if !carrier.redirect(sid, document) {
                return bad(21220, "Call is not in-progress. Cannot redirect.".into());
            }
        }
        (None, None) => {
            return bad(
                21218,
                "Give Status=completed to hang up, or Url or Twiml to redirect".into(),
            )
        }
    }
    match carrier.record(sid) {
        Some(record) => Json(record).into_response(),
        None => not_found_call(sid),
    }
}

/// Numbers are exposed as incoming numbers with a sid derived from the number.
fn number_sid(number: &str) -> String {
    format!("PN{:x}", md5::compute(number.as_bytes()))
}

fn number_json(number: &str, voice_url: &str) -> serde_json::Value {
    json!({
        "sid": number_sid(number),
        "phone_number": number,
        "voice_url": voice_url,
        "voice_method": "POST",
    })
}

#[derive(serde::Deserialize)]
struct NumberQuery {
    #[serde(rename = "PhoneNumber")]
    phone_number: Option<String>,
}

async fn list_numbers(
    State(carrier): State<Arc<Carrier>>,
    Query(query): Query<NumberQuery>,
) -> Response {
    let numbers = carrier.numbers.lock().expect("numbers lock");
    let mut list: Vec<serde_json::Value> = numbers
        .iter()
        .filter(|(number, _)| {
            query
                .phone_number
                .as_ref()
                .is_none_or(|want| want == *number)
        })
        .map(|(number, url)| number_json(number, url))
        .collect();
    list.sort_by(|a, b| a["phone_number"].as_str().cmp(&b["phone_number"].as_str()));
    Json(json!({ "incoming_phone_numbers": list })).into_response()
}

async fn update_number(
    State(carrier): State<Arc<Carrier>>,
    Path((_, sid)): Path<(String, String)>,
    Form(params): Form<Params>,
) -> Response {
    let sid = strip_json(&sid);
    let mut numbers = carrier.numbers.lock().expect("numbers lock");
    let Some(number) = numbers
        .keys()
        .find(|number| number_sid(number) == sid)
        .cloned()
    else {
        let message = format!("The requested resource /IncomingPhoneNumbers/{sid} was not found");
        return twilio_error(StatusCode::NOT_FOUND, 20404, message);
    };
    if let Some(url) = first(&params, "VoiceUrl") {
        numbers.insert(number.clone(), url.to_string());
    }
    Json(number_json(&number, &numbers[&number])).into_response()
}
