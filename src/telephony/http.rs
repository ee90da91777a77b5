//! The HTTP client telephony uses (webhooks, `<Play>` audio, Twilio's REST API): reqwest on
//! rustls with the ring provider, shared so connections are pooled.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use std::time::Duration;

/// Longest wait for a webhook or download; Twilio itself gives webhooks 15 s.
const TIMEOUT: Duration = Duration::from_secs(15);

static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();

/// The shared client (a cheap clone of one pool).
pub fn client() -> Result<reqwest::Client, String> {
    CLIENT.get_or_init(build).clone()
}

fn build() -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("setting up TLS: {e}"))?
        .with_root_certificates(root_certificates())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("setting up the HTTP client: {e}"))
}

/// The system's trusted roots (Debian's ca-certificates), read once.
fn root_certificates() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for path in ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"] {
        let Ok(pem) = std::fs::read(path) else { continue };
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem).flatten() {
            let _ = roots.add(cert);
        }
        break;
    }
    roots
}
