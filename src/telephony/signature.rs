//! `X-Twilio-Signature`: HMAC-SHA1 over the request URL and its sorted POST parameters.
//!
//! Twilio signs a form-encoded webhook by taking the full URL it requested (query string
//! included), appending every POST parameter as name then value with no separators, sorted
//! by name, keying HMAC-SHA1 with the account auth token and base64-encoding the digest.
//! The token is only ever a key here: it is never logged, returned or put in a URL.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// The signature Twilio would send for a form-encoded POST to `url` with `params`.
pub fn expected_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac_for(auth_token, url, params).finalize().into_bytes())
}

/// Whether `header` is a valid `X-Twilio-Signature` for this request (constant-time compare).
///
/// Twilio's helper libraries accept the URL both with and without the scheme's default
/// port (`:443` for https, `:80` for http), since proxies add or drop it; so does this.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(tag) = STANDARD.decode(header.trim()) else {
        return false;
    };
    url_variants(url).iter().any(|candidate| {
        mac_for(auth_token, candidate, params)
            .verify_slice(&tag)
            .is_ok()
    })
}

/// The keyed MAC fed with the URL and the sorted parameters.
fn mac_for(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    // HMAC accepts keys of any length, so this cannot fail; fall back to an empty key anyway.
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| HmacSha1::new(&Default::default()));
    mac.update(url.as_bytes());
    for (name, value) in sorted(params) {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// Parameters sorted by name, then by value when a name repeats.
fn sorted(params: &[(String, String)]) -> Vec<&(String, String)> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted
}

/// The URL as given plus, if it differs, the URL with its default port added or removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    if let Some(other) = toggle_default_port(url) {
        variants.push(other);
    }
    variants
}

/// `https://h/p` becomes `https://h:443/p` and back; other ports and schemes give `None`.
fn toggle_default_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((user, hostport)) => (Some(user), hostport),
        None => (None, authority),
    };
    let host = match split_port(hostport) {
        Some((host, port)) if port == default_port => host.to_string(),
        Some(_) => return None,
        None => format!("{hostport}:{default_port}"),
    };
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    Some(format!("{scheme}://{userinfo}{host}{tail}"))
}

/// Splits `host:port` (IPv6 literals in brackets allowed); `None` when there is no port.
fn split_port(hostport: &str) -> Option<(&str, &str)> {
    let (host, port) = hostport.rsplit_once(':')?;
    let is_port = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let bracket_ok = !host.contains('[') || host.ends_with(']');
    (is_port && bracket_ok).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // Twilio's documented example: token, URL, parameters and resulting signature as given
    // in "Validating Signatures from Twilio" (https://www.twilio.com/docs/usage/webhooks/webhooks-security,
    // formerly https://www.twilio.com/docs/usage/security#validating-requests).
    const DOC_TOKEN: &str = "12345";
    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOC_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    fn doc_params() -> Vec<(String, String)> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn twilio_documented_example() {
        assert_eq!(
            expected_signature(DOC_TOKEN, DOC_URL, &doc_params()),
            DOC_SIGNATURE
        );
        assert!(validate(DOC_TOKEN, DOC_URL, &doc_params(), DOC_SIGNATURE));
    }

    #[test]
    fn tampered_parameter_fails() {
        let mut params = doc_params();
        params[2].1 = "9999".into();
        assert!(!validate(DOC_TOKEN, DOC_URL, &params, DOC_SIGNATURE));
        let mut extra = doc_params();
        extra.push(("Evil".into(), "1".into()));
        assert!(!validate(DOC_TOKEN, DOC_URL, &extra, DOC_SIGNATURE));
        assert!(!validate(
            DOC_TOKEN,
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &doc_params(),
            DOC_SIGNATURE
        ));
    }

    #[test]
    fn wrong_token_fails() {
        assert!(!validate("54321", DOC_URL, &doc_params(), DOC_SIGNATURE));
    }

    #[test]
    fn malformed_header_fails_without_panicking() {
        for header in ["", "not base64!!", "AAAA", "0/KCTR6DLpKmkAf8muzZqo1nDg"] {
            assert!(
                !validate(DOC_TOKEN, DOC_URL, &doc_params(), header),
                "{header:?}"
            );
        }
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut reversed = doc_params();
        reversed.reverse();
        assert_eq!(
            expected_signature(DOC_TOKEN, DOC_URL, &reversed),
            DOC_SIGNATURE
        );
    }

    #[test]
    fn repeated_keys_sign_each_value_in_sorted_order() {
        let a = p(&[("To", "x"), ("Digit", "2"), ("Digit", "1")]);
        let b = p(&[("Digit", "1"), ("To", "x"), ("Digit", "2")]);
        let sig = expected_signature("tok", "https://h/p", &a);
        assert_eq!(sig, expected_signature("tok", "https://h/p", &b));
        // Equivalent to signing the concatenation by hand.
        let mut mac = HmacSha1::new_from_slice(b"tok").unwrap();
        mac.update(b"https://h/pDigit1Digit2Tox");
        assert_eq!(sig, STANDARD.encode(mac.finalize().into_bytes()));
        let dropped = p(&[("Digit", "1"), ("To", "x")]);
        assert!(!validate("tok", "https://h/p", &dropped, &sig));
    }

    #[test]
    fn default_port_is_accepted_either_way() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let sig_with = expected_signature(DOC_TOKEN, with_port, &doc_params());
        assert!(validate(DOC_TOKEN, DOC_URL, &doc_params(), &sig_with));
        assert!(validate(DOC_TOKEN, with_port, &doc_params(), DOC_SIGNATURE));
        // A non-default port is part of the signed URL and is never dropped.
        let other = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
        assert!(!validate(DOC_TOKEN, other, &doc_params(), DOC_SIGNATURE));
    }

    #[test]
    fn port_toggling() {
        assert_eq!(
            toggle_default_port("http://u:pw@h/x").as_deref(),
            Some("http://u:pw@h:80/x")
        );
        assert_eq!(
            toggle_default_port("http://h:80?q=1").as_deref(),
            Some("http://h?q=1")
        );
        assert_eq!(
            toggle_default_port("https://[::1]:443/").as_deref(),
            Some("https://[::1]/")
        );
        assert_eq!(
            toggle_default_port("https://[::1]/").as_deref(),
            Some("https://[::1]:443/")
        );
        assert_eq!(toggle_default_port("https://h:8080/"), None);
        assert_eq!(toggle_default_port("wss://h/"), None);
        assert_eq!(toggle_default_port("garbage"), None);
    }
}
