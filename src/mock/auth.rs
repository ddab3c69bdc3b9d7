//! API-key authentication as Stripe does it: `Authorization: Bearer sk_...` (or
//! HTTP Basic with the key as user); the key's prefix decides test or live mode.

use std::borrow::Cow;

use axum::http::HeaderValue;

use super::error::ApiError;

/// Test or live mode, from the key's prefix; it picks the global rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiMode {
    /// `sk_test_` / `rk_test_`: sandbox limits (25 req/s by default).
    Test,
    /// `sk_live_` / `rk_live_`: live limits (100 req/s by default).
    Live,
}

impl ApiMode {
    /// 0 for test, 1 for live: an index into per-mode tables.
    pub(crate) const fn index(self) -> usize {
        match self {
            ApiMode::Test => 0,
            ApiMode::Live => 1,
        }
    }
}

/// The mode of a well-formed secret or restricted key, `None` for anything else.
pub(crate) fn mode_of(key: &str) -> Option<ApiMode> {
    let rest = key.strip_prefix("sk_").or_else(|| key.strip_prefix("rk_"))?;
    let (mode, tail) = if let Some(t) = rest.strip_prefix("test_") {
        (ApiMode::Test, t)
    } else {
        (ApiMode::Live, rest.strip_prefix("live_")?)
    };
    let ok = !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some(mode)
}

/// A key as Stripe shows it in errors: prefix, stars, last four characters.
pub(crate) fn redact(key: &str) -> String {
    let keep_head = key.find('_').and_then(|i| key[i + 1..].find('_').map(|j| i + j + 2)).unwrap_or(0);
    let n = key.chars().count();
    if n <= keep_head + 4 {
        return key.to_owned();
    }
    let tail: String = key.chars().skip(n - 4).collect();
    format!("{}{}{tail}", &key[..keep_head], "*".repeat(n - keep_head - 4))
}

/// The key a request carries, and its mode.
///
/// # Errors
/// 401 when the key is missing, malformed, or not among `accepted` (when that
/// list is not empty).
pub(crate) fn authenticate<'a>(
    header: Option<&'a HeaderValue>,
    accepted: &[String],
) -> Result<(ApiMode, Cow<'a, str>), ApiError> {
    let value = header.and_then(|h| h.to_str().ok()).map(str::trim).unwrap_or_default();
    let key: Cow<'a, str> = if let Some(k) = value.strip_prefix("Bearer ") {
        Cow::Borrowed(k.trim())
    } else if let Some(b) = value.strip_prefix("Basic ") {
        let decoded = decode_base64(b.trim()).and_then(|bytes| String::from_utf8(bytes).ok());
        match decoded {
            Some(user_pass) => Cow::Owned(user_pass.split(':').next().unwrap_or_default().to_owned()),
            None => return Err(ApiError::missing_key()),
        }
    } else {
        return Err(ApiError::missing_key());
    };
    if key.is_empty() {
        return Err(ApiError::missing_key());
    }
    match mode_of(&key) {
        Some(mode) if accepted.is_empty() || accepted.iter().any(|a| *a == key) => Ok((mode, key)),
        _ => Err(ApiError::invalid_key(&key)),
    }
}

/// Standard base64 (padding optional); `None` on a bad character.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(h: &str) -> Result<ApiMode, u16> {
        let v = HeaderValue::from_str(h).unwrap();
        authenticate(Some(&v), &[]).map(|(m, _)| m).map_err(|e| e.status.as_u16())
    }

    #[test]
    fn bearer_and_basic_keys_pick_the_mode() {
        assert_eq!(auth("Bearer sk_test_abc"), Ok(ApiMode::Test));
        assert_eq!(auth("Bearer sk_live_abc"), Ok(ApiMode::Live));
        assert_eq!(auth("Bearer rk_live_abc"), Ok(ApiMode::Live));
        // "sk_test_abc:" in base64
        assert_eq!(auth("Basic c2tfdGVzdF9hYmM6"), Ok(ApiMode::Test));
        assert_eq!(auth("Bearer pk_test_abc"), Err(401));
        assert_eq!(auth("Bearer sk_test_"), Err(401));
        assert_eq!(auth("Token sk_test_abc"), Err(401));
        assert!(authenticate(None, &[]).is_err());
        let only = vec!["sk_test_right".to_owned()];
        let wrong = HeaderValue::from_static("Bearer sk_test_wrong");
        assert!(authenticate(Some(&wrong), &only).is_err());
        let right = HeaderValue::from_static("Bearer sk_test_right");
        assert!(authenticate(Some(&right), &only).is_ok());
    }

    #[test]
    fn keys_are_redacted_like_stripe() {
        assert_eq!(redact("sk_test_abcdefgh1234"), "sk_test_********1234");
        assert_eq!(redact("sk_test_ab"), "sk_test_ab");
        assert_eq!(redact("rk_live_0123456789"), "rk_live_******6789");
    }
}
