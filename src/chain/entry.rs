//! The cache entry envelope both tiers store (DESIGN.md, decision 5): Stripe JSON
//! plus version, fetch and expiry times, checksum, API version and account.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::clock::Timestamp;

/// One cached piece of Stripe data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    /// The origin object's version this entry was filled from.
    pub version: u64,
    /// When the origin answered.
    pub fetched_at: Timestamp,
    /// When this entry stops being served (a read at or after it is a miss).
    pub expires_at: Timestamp,
    /// [`checksum`] of `data`, as stored; verified on every read.
    pub checksum: String,
    /// The Stripe API version the data is in.
    pub api_version: String,
    /// The connected account the data belongs to (`None`: the platform).
    pub account: Option<String>,
    /// The Stripe JSON, byte for byte as the origin sent it but for whitespace
    /// around it (see [`CacheEntry::to_json`]).
    pub data: String,
}

/// `data` as an entry stores it: without the JSON whitespace around the value
/// (a body ending in a newline), which the JSON envelope cannot keep. The chain
/// checksums this form, so the checksum still matches once read back.
pub fn stored_data(data: String) -> String {
    let json_ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let trimmed = data.trim_matches(json_ws);
    if trimmed.len() == data.len() { data } else { trimmed.to_owned() }
}

/// The checksum of entry data: its XXH3-128 in hex (32 characters).
///
/// It detects damage (truncation, bit flips, a foreign writer's edit), not
/// tampering: whoever can write to the cache can also write a matching
/// checksum, whatever the hash. XXH3 costs ~0.1 us on a 1.2 KB object where
/// SHA-256 cost ~1 us, which is a tenth of an L1 hit's CPU budget.
pub fn checksum(data: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(data.as_bytes()))
}

impl CacheEntry {
    /// Whether the stored checksum matches the data.
    /// A remembered 404: Stripe had no such object at `fetched_at`.
    pub fn negative(fetched_at: Timestamp, expires_at: Timestamp, account: Option<String>) -> Self {
        let data = NEGATIVE_DATA.to_owned();
        CacheEntry {
            version: 0,
            fetched_at,
            expires_at,
            checksum: checksum(&data),
            api_version: String::new(),
            account,
            data,
        }
    }

    /// Whether this is a remembered 404 rather than Stripe data.
    pub fn is_negative(&self) -> bool {
        self.version == 0 && self.data == NEGATIVE_DATA
    }

    /// Whether `data` still matches `checksum` (the entry is intact).
    pub fn checksum_ok(&self) -> bool {
        checksum(&self.data) == self.checksum
    }

    /// Whether the entry is still servable at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }

    /// Encodes the entry as the JSON envelope stored in Redis. `version` comes
    /// first so a server-side script can read it without parsing the rest.
    /// `data` is embedded as JSON, so whitespace around it is not kept: an
    /// entry decodes to itself when its data is in [`stored_data`]'s form.
    ///
    /// # Errors
    /// When `data` is not valid JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let data = RawValue::from_string(self.data.clone())?;
        serde_json::to_string(&Wire {
            version: self.version,
            fetched_at_ms: self.fetched_at.as_millis(),
            expires_at_ms: self.expires_at.as_millis(),
            checksum: Cow::Borrowed(&self.checksum),
            api_version: Cow::Borrowed(&self.api_version),
            account: self.account.as_deref().map(Cow::Borrowed),
            data: &data,
        })
    }

    /// Decodes an envelope written by [`CacheEntry::to_json`].
    ///
    /// # Errors
    /// When the text is not such an envelope (a corrupt entry).
    pub fn from_json(text: &str) -> Result<CacheEntry, serde_json::Error> {
        let w: Wire<'_> = serde_json::from_str(text)?;
        // A time past what a `Timestamp` holds (year 586,000) is damage, or
        // another unit than ms; saturating it would keep the entry forever and
        // break the round trip through `to_json`.
        let time = |ms: u64, field: &str| {
            if ms <= u64::MAX / 1_000 {
                Ok(Timestamp::from_millis(ms))
            } else {
                Err(<serde_json::Error as serde::de::Error>::custom(format!("{field} {ms} is out of range")))
            }
        };
        Ok(CacheEntry {
            version: w.version,
            fetched_at: time(w.fetched_at_ms, "fetched_at_ms")?,
            expires_at: time(w.expires_at_ms, "expires_at_ms")?,
            checksum: w.checksum.into_owned(),
            api_version: w.api_version.into_owned(),
            account: w.account.map(Cow::into_owned),
            data: w.data.get().to_owned(),
        })
    }
}

/// The data of a negative entry (JSON `null`: no Stripe object is `null`).
const NEGATIVE_DATA: &str = "null";

/// The envelope's fields. Strings are borrowed from the text when they hold no
/// escape (always, for what [`CacheEntry::to_json`] writes of a hex checksum and
/// Stripe's version and account ids) and unescaped otherwise, so any envelope
/// `to_json` writes, or another JSON writer writes for it, decodes.
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    version: u64,
    fetched_at_ms: u64,
    expires_at_ms: u64,
    #[serde(borrow)]
    checksum: Cow<'a, str>,
    #[serde(borrow)]
    api_version: Cow<'a, str>,
    #[serde(borrow)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CacheEntry {
        let data = r#"{"id":"cus_1","object":"customer","email":"a@b.c"}"#.to_owned();
        CacheEntry {
            version: 7,
            fetched_at: Timestamp::from_millis(1_000),
            expires_at: Timestamp::from_millis(5_000),
            checksum: checksum(&data),
            api_version: "2026-07-29.dahlia".into(),
            account: Some("acct_1".into()),
            data,
        }
    }

    #[test]
    fn json_envelope_round_trips_and_starts_with_version() {
        let e = entry();
        let text = e.to_json().unwrap();
        assert!(text.starts_with(r#"{"version":7,"#), "{text}");
        assert_eq!(CacheEntry::from_json(&text).unwrap(), e);
    }

    #[test]
    fn checksum_detects_changed_data() {
        let mut e = entry();
        assert!(e.checksum_ok());
        e.data = e.data.replace("a@b.c", "x@b.c");
        assert!(!e.checksum_ok());
        assert!(CacheEntry::from_json("{\"version\":1").is_err());
    }

    #[test]
    fn data_is_stored_without_whitespace_around_it() {
        // Found by fuzzing (fuzz/fuzz_targets/cache_entry.rs): the envelope
        // drops whitespace around `data`, so an entry filled from a body ending
        // in a newline was checksummed over bytes it no longer had when read:
        // every read of it was a checksum failure.
        let body = "\n {\"id\":\"cus_1\"}\r\n".to_owned();
        let data = stored_data(body);
        assert_eq!(data, "{\"id\":\"cus_1\"}");
        let e = CacheEntry { checksum: checksum(&data), data, ..entry() };
        let back = CacheEntry::from_json(&e.to_json().unwrap()).unwrap();
        assert!(back.checksum_ok());
        assert_eq!(back, e);
        let plain = entry().data;
        assert_eq!(stored_data(plain.clone()), plain);
    }

    #[test]
    fn times_a_timestamp_cannot_hold_are_corrupt() {
        // Found by fuzzing (fuzz/fuzz_targets/cache_entry.rs): such a time was
        // saturated, so the entry never expired and re-encoded to another time.
        let max_ms = u64::MAX / 1_000;
        let text = entry()
            .to_json()
            .unwrap()
            .replace("\"expires_at_ms\":5000", &format!("\"expires_at_ms\":{max_ms}"));
        let e = CacheEntry::from_json(&text).unwrap();
        assert_eq!(CacheEntry::from_json(&e.to_json().unwrap()).unwrap(), e);
        let bad = text.replace(&max_ms.to_string(), &(max_ms + 1).to_string());
        assert!(CacheEntry::from_json(&bad).unwrap_err().to_string().contains("expires_at_ms"));
    }

    #[test]
    fn fields_that_need_escaping_round_trip() {
        // Found by fuzzing (fuzz/fuzz_targets/cache_entry.rs): fields were
        // borrowed `&str`s, so a string with an escape failed to decode, and an
        // entry whose account or API version held a `"` or a `\` was written
        // in a form its own reader took for corrupt.
        let mut e = entry();
        e.account = Some("acct_\"quoted\"\\".into());
        e.api_version = "2026-07-29.dahlia\n".into();
        let text = e.to_json().unwrap();
        assert_eq!(CacheEntry::from_json(&text).unwrap(), e);
        // Another writer's escapes (`\u005f` for `_`) decode to the same entry.
        let foreign =
            entry().to_json().unwrap().replace("acct_1", "acct\\u005f1").replace(".dahlia", "\\u002edahlia");
        assert_eq!(CacheEntry::from_json(&foreign).unwrap(), entry());
    }

    #[test]
    fn an_entry_is_dead_at_its_expiry() {
        let e = entry();
        assert!(e.is_live(Timestamp::from_millis(4_999)));
        assert!(!e.is_live(Timestamp::from_millis(5_000)));
    }
}
