//! The Twilio REST client: calls and incoming numbers, with pacing and retries.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use crate::net::retry::{self, Failure, RetryPolicy};

use super::config::{is_sid, TwilioConfig};
use super::error::{api_error, TwilioError};
use super::pacer::Pacer;
use super::resources::{
    check_method, Call, CallTarget, CreateCall, IncomingPhoneNumber, IncomingPhoneNumberPage,
};

const API_VERSION: &str = "2010-04-01";

/// A client for Twilio's REST API. Clones share the HTTP connection pool and the pacer.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    config: Arc<TwilioConfig>,
    http: reqwest::Client,
    pacer: Arc<Pacer>,
}

/// One logical request; `send` may make it several times.
struct Request {
    operation: &'static str,
    method: Method,
    url: Url,
    form: Option<Vec<(&'static str, String)>>,
    /// Whether repeating it after a timeout is harmless (a timed-out create may have created).
    idempotent: bool,
    /// Whether each attempt waits for a calls-per-second slot.
    paced: bool,
}

impl TwilioClient {
    /// A client for these settings; fails on a bad setting before any request.
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioError> {
        config.validate()?;
        let http = http_client(config.timeout)?;
        let pacer = Arc::new(Pacer::new(config.calls_per_second));
        Ok(Self {
            config: Arc::new(config),
            http,
            pacer,
        })
    }

    /// Starts an outbound call (`POST .../Calls.json`), paced to `calls_per_second`.
    pub async fn create_call(&self, call: &CreateCall) -> Result<Call, TwilioError> {
        let form = call.to_form()?;
        let request = Request {
            operation: "create call",
            method: Method::POST,
            url: self.url(&["Calls.json"])?,
            form: Some(form),
            idempotent: false,
            paced: true,
        };
        self.send_json(request).await
    }

    /// The call's current state (`GET .../Calls/{sid}.json`).
    pub async fn fetch_call(&self, call_sid: &str) -> Result<Call, TwilioError> {
        let request = Request {
            operation: "fetch call",
            method: Method::GET,
            url: self.call_url(call_sid)?,
            form: None,
            idempotent: true,
            paced: false,
        };
        self.send_json(request).await
    }

    /// Ends a call (`Status=completed`); Twilio cancels it if it has not been answered yet.
    pub async fn hang_up(&self, call_sid: &str) -> Result<Call, TwilioError> {
        let request = Request {
            operation: "hang up call",
            method: Method::POST,
            url: self.call_url(call_sid)?,
            form: Some(vec![("Status", "completed".into())]),
            idempotent: true,
            paced: false,
        };
        self.send_json(request).await
    }

    /// Redirects a live call to new TwiML or a new webhook. Tested against a fake Twilio;
    /// not bound to Python until the loopback carrier can redirect a live call too.
    #[allow(dead_code)]
    pub async fn update_call(
        &self,
        call_sid: &str,
        target: &CallTarget,
    ) -> Result<Call, TwilioError> {
        let request = Request {
            operation: "update call",
            method: Method::POST,
            url: self.call_url(call_sid)?,
            form: Some(target.to_form()?),
            idempotent: true,
            paced: false,
        };
        self.send_json(request).await
    }

    /// Points an incoming number's voice webhook at `voice_url`.
    ///
    /// `number` is either the number's id (`PN...`) or the number itself (e.g. `+15551234567`),
    /// which is looked up on the account first.
    pub async fn set_incoming_number_voice_url(
        &self,
        number: &str,
        voice_url: &str,
        voice_method: Option<&str>,
    ) -> Result<IncomingPhoneNumber, TwilioError> {
        check_method("voice_method", voice_method)?;
        if voice_url.trim().is_empty() {
            return Err(TwilioError::InvalidRequest(
                "set incoming number voice URL: `voice_url` is empty".into(),
            ));
        }
        let sid = if number.starts_with("PN") && is_sid(number) {
            number.to_string()
        } else {
            self.find_incoming_number(number).await?.sid
        };
        let mut form = vec![("VoiceUrl", voice_url.to_string())];
        if let Some(m) = voice_method {
            form.push(("VoiceMethod", m.to_string()));
        }
        let request = Request {
            operation: "update incoming phone number",
            method: Method::POST,
            url: self.url(&["IncomingPhoneNumbers", &format!("{sid}.json")])?,
            form: Some(form),
            idempotent: true,
            paced: false,
        };
        self.send_json(request).await
    }

    /// The account's IncomingPhoneNumber for `number`, looked up by exact number.
    pub async fn find_incoming_number(
        &self,
        number: &str,
    ) -> Result<IncomingPhoneNumber, TwilioError> {
        if number.trim().is_empty() {
            return Err(TwilioError::InvalidRequest(
                "find incoming phone number: the number is empty".into(),
            ));
        }
        let mut url = self.url(&["IncomingPhoneNumbers.json"])?;
        url.query_pairs_mut().append_pair("PhoneNumber", number);
        let request = Request {
            operation: "list incoming phone numbers",
            method: Method::GET,
            url,
            form: None,
            idempotent: true,
            paced: false,
        };
        let page: IncomingPhoneNumberPage = self.send_json(request).await?;
        page.incoming_phone_numbers
            .into_iter()
            .find(|n| n.phone_number == number)
            .ok_or_else(|| TwilioError::NumberNotFound {
                number: number.to_string(),
            })
    }

    /// `{api_base}/2010-04-01/Accounts/{AccountSid}/{segments...}`, each segment escaped.
    fn url(&self, segments: &[&str]) -> Result<Url, TwilioError> {
        let mut url = Url::parse(self.config.base())
            .map_err(|e| TwilioError::InvalidConfig(format!("api_base: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| TwilioError::InvalidConfig("api_base cannot take a path".into()))?
            .pop_if_empty()
            .extend([API_VERSION, "Accounts", &self.config.account_sid])
            .extend(segments);
        Ok(url)
    }

    fn call_url(&self, call_sid: &str) -> Result<Url, TwilioError> {
        if !is_sid(call_sid) {
            return Err(TwilioError::InvalidRequest(format!(
                "call sid must be letters and digits (a \"CA...\" id), got {call_sid:?}"
            )));
        }
        self.url(&["Calls", &format!("{call_sid}.json")])
    }

    async fn send_json<T: DeserializeOwned>(&self, request: Request) -> Result<T, TwilioError> {
        let operation = request.operation;
        let body = self.send(request).await?;
        serde_json::from_str(&body).map_err(|e| TwilioError::Decode {
            operation,
            detail: e.to_string(),
        })
    }

    /// Makes the request, retrying 429, 5xx and connection failures with backoff.
    async fn send(&self, request: Request) -> Result<String, TwilioError> {
        let (user, password) = self.config.basic_auth();
        let policy = RetryPolicy {
            max_retries: self.config.max_retries,
            backoff_base: self.config.backoff_base,
            backoff_max: self.config.backoff_max,
            max_retry_after: self.config.max_retry_after,
        };
        let request = &request;
        let result = retry::send(&policy, request.idempotent, || async move {
            if request.paced {
                self.pacer.wait().await;
            }
            let builder = self
                .http
                .request(request.method.clone(), request.url.clone())
                .basic_auth(user, Some(password));
            match &request.form {
                Some(form) => builder.form(form),
                None => builder,
            }
        })
        .await;
        let error = match result {
            Ok(answer) => return Ok(String::from_utf8_lossy(&answer.body).into_owned()),
            Err(Failure::Status {
                status,
                body,
                attempts,
            }) => api_error(
                request.operation,
                status.as_u16(),
                &String::from_utf8_lossy(&body),
                attempts,
            ),
            Err(Failure::Transport { error, attempts }) => TwilioError::Transport {
                operation: request.operation,
                detail: retry::error_chain(&error),
                attempts,
            },
        };
        Err(error.scrub(&[password]))
    }
}

/// A client with TLS set up (net::http) and this timeout.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, TwilioError> {
    crate::net::http::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| TwilioError::InvalidConfig(format!("could not build the HTTP client: {e}")))
}
