//! Twilio's webhooks: the voice webhook (answered with TwiML that connects the call to a
//! media stream), the call status callback and the recording status callback.
//!
//! Every request must carry a valid `X-Twilio-Signature` for the URL trialrun gave out
//! (public base URL + path + query), unless signature checks were turned off.

use std::sync::Arc;

use axum::extract::{OriginalUri, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::registry::{Answer, TOKEN_PARAMETER};
use super::Shared;
use crate::telephony::call::{CallEvent, EndReason};
use crate::telephony::{signature, twiml};

/// How long after answering a call's voice webhook its media stream may take to start.
const STREAM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long an inbound call nobody expects yet rings before it is refused: a call placed
/// just before the test that expects it is answered (the carrier waits 15 s for a webhook).
const INBOUND_HOLD: std::time::Duration = std::time::Duration::from_secs(10);

/// The `?call=` query of the URLs trialrun hands the carrier.
#[derive(Debug, Deserialize)]
pub struct CallQuery {
    call: Option<String>,
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or("")
}

/// Checks the signature against the public URL of this request; the reason on failure.
fn check_signature(
    shared: &Shared,
    uri: &OriginalUri,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(), String> {
    let Some(token) = shared.config.signing_token() else {
        return Ok(());
    };
    let url = format!("{}{}", shared.config.public_base(), uri.0);
    let Some(given) = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(format!("{}: no X-Twilio-Signature header", uri.0.path()));
    };
    if signature::validate(token, &url, params, given) {
        Ok(())
    } else {
        Err(format!(
            "{}: X-Twilio-Signature does not match (check the auth token and public_url)",
            uri.0.path()
        ))
    }
}

/// The call a signed callback is about; the refusal otherwise.
fn callback_call(
    shared: &Shared,
    uri: &OriginalUri,
    headers: &HeaderMap,
    params: &Params,
    query: CallQuery,
) -> Result<String, Box<Response>> {
    if let Err(reason) = check_signature(shared, uri, headers, params) {
        return Err(Box::new(forbidden(shared, reason)));
    }
    query
        .call
        .ok_or_else(|| Box::new((StatusCode::NOT_FOUND, "no such call").into_response()))
}

fn forbidden(shared: &Shared, reason: String) -> Response {
    shared.log(format!("webhook refused: {reason}"));
    (StatusCode::FORBIDDEN, "invalid signature").into_response()
}

fn twiml_response(xml: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

pub async fn voice(
    State(shared): State<Arc<Shared>>,
    uri: OriginalUri,
    Query(query): Query<CallQuery>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    if let Err(reason) = check_signature(&shared, &uri, &headers, &params) {
        return forbidden(&shared, reason);
    }
    let call_sid = param(&params, "CallSid").to_string();
    let from = param(&params, "From");
    let mut answer = shared
        .registry
        .answer(query.call.as_deref(), &call_sid, from);
    if answer == Answer::NotExpected {
        // Early: it rings until a test expects it, or the hold runs out.
        let deadline = tokio::time::Instant::now() + INBOUND_HOLD;
        loop {
            let added = shared.registry.expectation_added();
            tokio::pin!(added);
            added.as_mut().enable();
            answer = shared.registry.answer(None, &call_sid, from);
            let stopping = shared.stopping.load(std::sync::atomic::Ordering::Relaxed);
            if answer != Answer::NotExpected
                || stopping
                || tokio::time::timeout_at(deadline, added).await.is_err()
            {
                break;
            }
        }
    }
    match answer {
        Answer::Stream { call_id, token } => {
            // A carrier that fetched the TwiML but never opens the stream must not leave
            // the call waiting forever.
            let waiting = shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep(STREAM_WAIT).await;
                let detail = format!(
                    "the carrier answered the call but opened no media stream within {} s",
                    STREAM_WAIT.as_secs()
                );
                if waiting.registry.end_unstreamed(
                    &call_id,
                    EndReason::CarrierError,
                    Some(detail.clone()),
                ) {
                    waiting.log(format!("call {call_sid:?}: {detail}"));
                }
            });
            let url = format!("{}/twilio/stream", shared.config.ws_base());
            twiml_response(twiml::connect_stream(
                &url,
                &[(TOKEN_PARAMETER.to_string(), token)],
            ))
        }
        Answer::Unknown => {
            shared.log(format!(
                "voice webhook for call {call_sid:?}: no such call, or it already ended"
            ));
            (StatusCode::NOT_FOUND, "no such call").into_response()
        }
        Answer::NotExpected => {
            shared.log(format!(
                "inbound call {call_sid:?} from {from:?} rejected: no inbound call was expected \
                 within {} s of it ringing",
                INBOUND_HOLD.as_secs()
            ));
            twiml_response(twiml::reject("busy"))
        }
    }
}

/// Statuses after which a call is over.
fn terminal(status: &str) -> Option<EndReason> {
    match status {
        "completed" => Some(EndReason::FarEndHungUp),
        "busy" | "no-answer" | "canceled" => Some(EndReason::NotAnswered),
        "failed" => Some(EndReason::CarrierError),
        _ => None,
    }
}

pub async fn status(
    State(shared): State<Arc<Shared>>,
    uri: OriginalUri,
    Query(query): Query<CallQuery>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let call_id = match callback_call(&shared, &uri, &headers, &params, query) {
        Ok(call_id) => call_id,
        Err(refused) => return *refused,
    };
    let status = param(&params, "CallStatus").to_string();
    if status.is_empty() {
        return (StatusCode::BAD_REQUEST, "CallStatus missing").into_response();
    }
    shared
        .registry
        .note_call_sid(&call_id, param(&params, "CallSid"));
    shared.registry.notify(
        &call_id,
        CallEvent::Status {
            status: status.clone(),
        },
    );
    if let Some(reason) = terminal(&status) {
        // A streaming call ends with its stream; one that never streamed ends here.
        let detail = (reason != EndReason::FarEndHungUp).then(|| format!("call status {status}"));
        shared.registry.end_unstreamed(&call_id, reason, detail);
    }
    StatusCode::NO_CONTENT.into_response()
}

pub async fn recording(
    State(shared): State<Arc<Shared>>,
    uri: OriginalUri,
    Query(query): Query<CallQuery>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let call_id = match callback_call(&shared, &uri, &headers, &params, query) {
        Ok(call_id) => call_id,
        Err(refused) => return *refused,
    };
    let event = CallEvent::Recording {
        sid: param(&params, "RecordingSid").to_string(),
        url: param(&params, "RecordingUrl").to_string(),
        status: param(&params, "RecordingStatus").to_string(),
    };
    shared.registry.notify(&call_id, event);
    StatusCode::NO_CONTENT.into_response()
}
