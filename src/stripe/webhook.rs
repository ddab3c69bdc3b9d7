//! Signing and verifying webhook payloads the way Stripe does (`Stripe-Signature`).
//!
//! `v1` is the hex HMAC-SHA256, keyed with the endpoint secret (`whsec_...`), of
//! `"{t}.{raw_body}"`. During a secret rotation the header carries one `v1` per
//! active secret. Other schemes (`v0`, a test-mode decoy) are ignored. Verification
//! mirrors stripe-node: the same checks in the same order, the same error texts,
//! a constant-time comparison, and a tolerance on the timestamp's age (300 s by
//! default; future timestamps pass).

use std::fmt::Write as _;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature scheme Stripe's libraries check.
pub const EXPECTED_SCHEME: &str = "v1";

/// How old a signature's timestamp may be by default (stripe-node's
/// `DEFAULT_TOLERANCE`).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a payload's signature was rejected. The messages are stripe-node's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header has no `t=` (or an unparsable one).
    #[error("Unable to extract timestamp and signatures from header")]
    NoTimestamp,
    /// The header has no `v1=` entry.
    #[error("No signatures found with expected scheme")]
    NoSignatures,
    /// No `v1` matches the payload under the secret: wrong secret, or the body was
    /// changed (re-serialized JSON, other line endings).
    #[error("No signatures found matching the expected signature for payload")]
    NoMatch,
    /// The timestamp is older than the tolerance (a replay, or a clock far off).
    #[error("Timestamp outside the tolerance zone")]
    TooOld,
}

/// The hex `v1` signature of `payload` signed at `timestamp_s` with `secret`.
pub fn compute_signature(secret: &str, timestamp_s: u64, payload: &[u8]) -> String {
    hex::encode(mac_for(secret, timestamp_s, payload).finalize().into_bytes())
}

fn mac_for(secret: &str, timestamp_s: u64, payload: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The `Stripe-Signature` value for `payload` signed at `timestamp_s`: `t=...`
/// followed by one `v1=...` per secret (several during a rotation), then
/// `v0=<decoy>` if `decoy_v0` is given (what test mode sends; verifiers ignore it).
pub fn signature_header<S: AsRef<str>>(
    secrets: &[S],
    timestamp_s: u64,
    payload: &[u8],
    decoy_v0: Option<&str>,
) -> String {
    let mut header = format!("t={timestamp_s}");
    for secret in secrets {
        let _ = write!(header, ",v1={}", compute_signature(secret.as_ref(), timestamp_s, payload));
    }
    if let Some(decoy) = decoy_v0 {
        let _ = write!(header, ",v0={decoy}");
    }
    header
}

/// The timestamp and the `v1` signatures of a header, as stripe-node parses it.
///
/// # Errors
/// [`SignatureError::NoTimestamp`] or [`SignatureError::NoSignatures`].
pub fn parse_header(header: &str) -> Result<(u64, Vec<&str>), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let mut kv = item.split('=');
        match (kv.next(), kv.next()) {
            (Some("t"), Some(t)) => timestamp = t.trim().parse::<u64>().ok(),
            (Some(EXPECTED_SCHEME), Some(sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignatures);
    }
    Ok((timestamp, signatures))
}

/// Checks that `header` signs `payload` with `secret` and that its timestamp is
/// at most `tolerance` older than `now_s` (a zero tolerance skips that check).
///
/// # Errors
/// The first check that fails, in stripe-node's order: header shape, signature,
/// then age.
pub fn verify(
    payload: &[u8],
    header: &str,
    secret: &str,
    tolerance: Duration,
    now_s: u64,
) -> Result<(), SignatureError> {
    let (timestamp, signatures) = parse_header(header)?;
    let matches = signatures.iter().any(|sig| {
        // `verify_slice` compares in constant time.
        hex::decode(sig).is_ok_and(|bytes| mac_for(secret, timestamp, payload).verify_slice(&bytes).is_ok())
    });
    if !matches {
        return Err(SignatureError::NoMatch);
    }
    if !tolerance.is_zero() && now_s.saturating_sub(timestamp) > tolerance.as_secs() {
        return Err(SignatureError::TooOld);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"{\n  \"id\": \"evt_1\",\n  \"object\": \"event\"\n}";

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Independent check: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog")
        // is the RFC 4231-style well-known vector below; here split as "{t}.{body}".
        let sig = compute_signature("key", 0, b"quick");
        let mut mac = HmacSha256::new_from_slice(b"key").unwrap();
        mac.update(b"0.quick");
        assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sig.len(), 64);
        let known = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        let mut mac = HmacSha256::new_from_slice(b"key").unwrap();
        mac.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(hex::encode(mac.finalize().into_bytes()), known);
    }

    #[test]
    fn a_signed_payload_verifies_and_a_changed_one_does_not() {
        let header = signature_header(&["whsec_a"], 1_000, BODY, Some("deadbeef"));
        assert!(header.starts_with("t=1000,v1="));
        assert!(header.ends_with(",v0=deadbeef"));
        assert_eq!(verify(BODY, &header, "whsec_a", DEFAULT_TOLERANCE, 1_100), Ok(()));
        assert_eq!(verify(b"{}", &header, "whsec_a", DEFAULT_TOLERANCE, 1_100), Err(SignatureError::NoMatch));
        assert_eq!(verify(BODY, &header, "whsec_b", DEFAULT_TOLERANCE, 1_100), Err(SignatureError::NoMatch));
    }

    #[test]
    fn rotation_carries_one_v1_per_secret_and_either_secret_verifies() {
        let header = signature_header(&["whsec_old", "whsec_new"], 50, BODY, None);
        assert_eq!(header.matches("v1=").count(), 2);
        assert_eq!(verify(BODY, &header, "whsec_old", DEFAULT_TOLERANCE, 60), Ok(()));
        assert_eq!(verify(BODY, &header, "whsec_new", DEFAULT_TOLERANCE, 60), Ok(()));
    }

    #[test]
    fn errors_follow_stripe_node_in_order_and_text() {
        let e = verify(BODY, "v1=abc", "s", DEFAULT_TOLERANCE, 0).unwrap_err();
        assert_eq!(e.to_string(), "Unable to extract timestamp and signatures from header");
        let e = verify(BODY, "t=5,v0=abc", "s", DEFAULT_TOLERANCE, 0).unwrap_err();
        assert_eq!(e.to_string(), "No signatures found with expected scheme");
        let old = signature_header(&["s"], 1_000, BODY, None);
        assert_eq!(verify(BODY, &old, "s", DEFAULT_TOLERANCE, 1_300), Ok(()));
        let e = verify(BODY, &old, "s", DEFAULT_TOLERANCE, 1_301).unwrap_err();
        assert_eq!(e.to_string(), "Timestamp outside the tolerance zone");
        assert_eq!(verify(BODY, &old, "s", Duration::ZERO, 99_999), Ok(()));
        assert_eq!(verify(BODY, "t=1,v1=zz", "s", DEFAULT_TOLERANCE, 1), Err(SignatureError::NoMatch));
    }
}
