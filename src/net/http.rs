//! HTTP clients (webhooks, `<Play>` audio, Twilio's REST API, model providers): reqwest on
//! rustls. reqwest is built with no crypto provider; ring is installed as the process
//! default once (kept if something else installed one first), and reqwest's platform
//! verifier then checks certificates against the system's roots.

use std::sync::{Once, OnceLock};
use std::time::Duration;

/// Longest wait for a webhook or download; Twilio itself gives webhooks 15 s.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// A client builder with TLS ready.
pub fn builder() -> reqwest::ClientBuilder {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder().user_agent(concat!("trialrun/", env!("CARGO_PKG_VERSION")))
}

static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();

/// The shared client for webhooks and downloads (a cheap clone of one connection pool).
pub fn client() -> Result<reqwest::Client, String> {
    CLIENT
        .get_or_init(|| {
            builder()
                .timeout(WEBHOOK_TIMEOUT)
                .build()
                .map_err(|e| format!("setting up the HTTP client: {e}"))
        })
        .clone()
}
