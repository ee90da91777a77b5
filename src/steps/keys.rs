//! Worker keypairs and prometheus-test's payload signatures: ed25519 keys (ed25519-dalek),
//! base58 text (bs58), keypair files as Solana and Koii tools write them (a JSON array of
//! the 64 bytes seed + public key), and `create_signature`'s format: base58 of the 64-byte
//! signature followed by the signed bytes (what Koii's namespaceWrapper.payloadSigning
//! produces and its verifiers read).

use super::error::{Result, StepsError};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::path::Path;

pub const SEED_LEN: usize = 32;

/// The public key of a 32-byte seed (the private half of a Solana keypair).
pub fn public_key(seed: &[u8; SEED_LEN]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

pub fn sign(seed: &[u8; SEED_LEN], message: &[u8]) -> [u8; 64] {
    SigningKey::from_bytes(seed).sign(message).to_bytes()
}

/// Whether `signature` is `public`'s signature of `message` (false for a malformed key).
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(public).is_ok_and(|key| {
        key.verify(message, &Signature::from_bytes(signature))
            .is_ok()
    })
}

pub fn b58encode(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

pub fn b58decode(text: &str) -> std::result::Result<Vec<u8>, String> {
    bs58::decode(text)
        .into_vec()
        .map_err(|e| format!("not base58: {e}"))
}

/// base58(signature || message), prometheus-test's `create_signature` output.
pub fn signed_message(seed: &[u8; SEED_LEN], message: &[u8]) -> String {
    let mut combined = sign(seed, message).to_vec();
    combined.extend_from_slice(message);
    b58encode(&combined)
}

/// The message inside a `signed_message`, when `public` (base58) signed it.
pub fn open_signed_message(signed: &str, public: &str) -> std::result::Result<Vec<u8>, String> {
    let bytes = b58decode(signed)?;
    let key: [u8; 32] = b58decode(public)?
        .try_into()
        .map_err(|_| "the public key is not 32 bytes".to_string())?;
    if bytes.len() < 64 {
        return Err(format!(
            "{} bytes: shorter than a signature (64)",
            bytes.len()
        ));
    }
    let (signature, message) = bytes.split_at(64);
    let signature: [u8; 64] = signature.try_into().expect("64 bytes");
    if verify(&key, message, &signature) {
        Ok(message.to_vec())
    } else {
        Err("the signature does not match the public key and message".into())
    }
}

/// The seed of a keypair file: a JSON array of 64 bytes (seed then public key) or of the
/// 32-byte seed, or an object whose "private" is the base58 seed (or 64-byte keypair).
pub fn read_keypair_file(path: &Path) -> Result<[u8; SEED_LEN]> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StepsError::io(path, "reading the keypair file", e))?;
    let bad =
        |why: String| StepsError::config(format!("{}: not a keypair file: {why}", path.display()));
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("line {}: {e}", e.line())))?;
    let bytes: Vec<u8> = match &value {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_u64().filter(|n| *n < 256).map(|n| n as u8))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| bad("expected an array of bytes (0-255)".into()))?,
        serde_json::Value::Object(map) => match map.get("private") {
            Some(serde_json::Value::String(s)) => {
                b58decode(s).map_err(|e| bad(format!("'private': {e}")))?
            }
            _ => {
                return Err(bad(
                    "expected an array of bytes or {\"private\": base58}".into()
                ))
            }
        },
        _ => {
            return Err(bad(
                "expected an array of bytes or {\"private\": base58}".into()
            ))
        }
    };
    let seed: [u8; SEED_LEN] = match bytes.len() {
        32 | 64 => bytes[..SEED_LEN].try_into().expect("32 bytes"),
        n => {
            return Err(bad(format!(
                "{n} bytes, expected 64 (seed and public key) or 32"
            )))
        }
    };
    if bytes.len() == 64 && bytes[SEED_LEN..] != public_key(&seed) {
        return Err(bad(
            "its last 32 bytes are not the public key of its first 32".into(),
        ));
    }
    Ok(seed)
}

/// Writes a new random keypair file (Solana's format); returns its public key (base58).
pub fn generate_keypair_file(path: &Path) -> Result<String> {
    let mut seed = [0u8; SEED_LEN];
    getrandom::fill(&mut seed)
        .map_err(|e| StepsError::config(format!("no randomness for a test key: {e}")))?;
    let public = public_key(&seed);
    let bytes: Vec<u8> = seed.iter().chain(public.iter()).copied().collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| StepsError::io(dir, "creating the keys folder", e))?;
    }
    std::fs::write(
        path,
        serde_json::to_string(&bytes).expect("bytes serialize"),
    )
    .map_err(|e| StepsError::io(path, "writing a test keypair", e))?;
    Ok(b58encode(&public))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8032 section 7.1, TEST 1 and TEST 2: keys and signatures from the standard.
    #[test]
    fn rfc8032_vectors() {
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (seed, public, message, signature) in cases {
            let seed: [u8; 32] = hex(seed).try_into().unwrap();
            assert_eq!(public_key(&seed).to_vec(), hex(public));
            let sig = sign(&seed, &hex(message));
            assert_eq!(sig.to_vec(), hex(signature));
            assert!(verify(&public_key(&seed), &hex(message), &sig));
            assert!(!verify(&public_key(&seed), b"other", &sig));
        }
    }

    #[test]
    fn base58_known_values() {
        // Bitcoin's alphabet: leading zero bytes are '1's.
        assert_eq!(b58encode(b"hello world"), "StV1DL6CwTryKyV");
        assert_eq!(b58encode(&[0, 0, 1]), "112");
        assert_eq!(b58decode("StV1DL6CwTryKyV").unwrap(), b"hello world");
        assert!(b58decode("0OIl").is_err());
    }

    #[test]
    fn signed_messages_open_with_the_right_key_only() {
        let seed = [7u8; 32];
        let public = b58encode(&public_key(&seed));
        let signed = signed_message(&seed, b"{\"a\": 1}");
        assert_eq!(
            open_signed_message(&signed, &public).unwrap(),
            b"{\"a\": 1}"
        );
        let other = b58encode(&public_key(&[8u8; 32]));
        assert!(open_signed_message(&signed, &other).is_err());
    }

    #[test]
    fn keypair_files_round_trip_and_bad_ones_name_the_file() {
        let dir = std::env::temp_dir().join(format!("trialrun-keys-{}", std::process::id()));
        let path = dir.join("k.json");
        let public = generate_keypair_file(&path).unwrap();
        let seed = read_keypair_file(&path).unwrap();
        assert_eq!(b58encode(&public_key(&seed)), public);
        let private = dir.join("private.json");
        std::fs::write(
            &private,
            format!("{{\"private\": \"{}\"}}", b58encode(&seed)),
        )
        .unwrap();
        assert_eq!(read_keypair_file(&private).unwrap(), seed);
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "[1, 2, 3]").unwrap();
        let err = read_keypair_file(&bad).unwrap_err();
        assert!(
            err.message.contains("bad.json") && err.message.contains("3 bytes"),
            "{err}"
        );
        let mut mismatched: Vec<u8> = seed.to_vec();
        mismatched.extend([0u8; 32]);
        std::fs::write(&bad, serde_json::to_string(&mismatched).unwrap()).unwrap();
        assert!(read_keypair_file(&bad).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
