//! TLS for WebSocket clients (the loopback carrier's `wss://` streams): rustls on ring,
//! trusting the system's roots (which honour SSL_CERT_FILE and SSL_CERT_DIR) and, when
//! given, the certificates of a PEM file (the CA an agent's own certificate comes from).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// A client configuration trusting the system's roots and those in `ca_file`; an error
/// names the file when it cannot be read or holds no certificate.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    // Roots the system cannot parse are skipped, as browsers do.
    let (_, _) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let named = |e: &dyn std::fmt::Display| format!("ca_file {}: {e}", path.display());
        let pem = std::fs::read(path).map_err(|e| named(&e))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| named(&e))?;
            roots.add(cert).map_err(|e| named(&e))?;
            added += 1;
        }
        if added == 0 {
            return Err(named(&"no PEM certificate in it"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_ca_file_that_is_missing_or_not_pem_is_named() {
        let missing = super::client_config(Some(std::path::Path::new("/nonexistent/ca.pem")));
        assert!(missing
            .unwrap_err()
            .starts_with("ca_file /nonexistent/ca.pem: "));
        let dir = std::env::temp_dir().join(format!("trialrun-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = super::client_config(Some(&junk)).unwrap_err();
        assert!(err.ends_with("no PEM certificate in it"), "{err}");
        assert!(super::client_config(None).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
