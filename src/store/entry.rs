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
    String::from_utf8_lossy(&hex128(xxhash_rust::xxh3::xxh3_128(data.as_bytes()))).into_owned()
}

/// `v` as 32 lowercase hex digits (`{:032x}` without the formatting machinery:
/// every L1 hit verifies a checksum).
fn hex128(v: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[((v >> (124 - 4 * i)) & 0xf) as usize];
    }
    out
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
        self.checksum.as_bytes() == hex128(xxhash_rust::xxh3::xxh3_128(self.data.as_bytes()))
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

    /// Decodes an envelope written by [`CacheEntry::to_json`] and verifies its
    /// checksum (once: the fast path verifies as it decodes); `None` when it is
    /// damaged either way.
    pub fn from_json_verified(text: &str) -> Option<CacheEntry> {
        if let Some(entry) = Self::from_verified_json(text) {
            return Some(entry);
        }
        Self::from_json(text).ok().filter(CacheEntry::checksum_ok)
    }

    /// Decodes an envelope written by [`CacheEntry::to_json`].
    ///
    /// An envelope in the writer's layout (`data` last) whose checksum matches
    /// its data is taken as written, without scanning the data as JSON again:
    /// the writer checked it, and that scan was the largest cost of an L1 hit.
    /// Anything else is parsed in full, so damaged data is reported as a
    /// checksum failure and a damaged envelope as an error.
    ///
    /// # Errors
    /// When the text is not such an envelope (a corrupt entry).
    pub fn from_json(text: &str) -> Result<CacheEntry, serde_json::Error> {
        if let Some(entry) = Self::from_verified_json(text) {
            return Ok(entry);
        }
        let w: Wire<'_> = serde_json::from_str(text)?;
        let data = w.data.get().to_owned();
        Self::from_parts(
            w.version,
            w.fetched_at_ms,
            w.expires_at_ms,
            w.checksum,
            w.api_version,
            w.account,
            data,
        )
    }

    /// The fast path of [`CacheEntry::from_json`]: the header (everything before
    /// `,"data":`) parsed as JSON, the rest up to the closing brace as data,
    /// accepted only when the data's checksum is the header's.
    fn from_verified_json(text: &str) -> Option<CacheEntry> {
        const DATA: &str = ",\"data\":";
        let at = text.find(DATA)?;
        let data = text[at + DATA.len()..].strip_suffix('}')?;
        let json_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        let (first, last) = (*data.as_bytes().first()?, *data.as_bytes().last()?);
        if json_ws(first) || json_ws(last) {
            return None;
        }
        let mut head = String::with_capacity(at + 1);
        head.push_str(&text[..at]);
        head.push('}');
        let h: Header<'_> = serde_json::from_str(&head).ok()?;
        if h.data.0 || h.checksum.as_bytes() != hex128(xxhash_rust::xxh3::xxh3_128(data.as_bytes())) {
            return None;
        }
        let data = data.to_owned();
        Self::from_parts(
            h.version,
            h.fetched_at_ms,
            h.expires_at_ms,
            h.checksum,
            h.api_version,
            h.account,
            data,
        )
        .ok()
    }

    fn from_parts(
        version: u64,
        fetched_at_ms: u64,
        expires_at_ms: u64,
        checksum: Cow<'_, str>,
        api_version: Cow<'_, str>,
        account: Option<Cow<'_, str>>,
        data: String,
    ) -> Result<CacheEntry, serde_json::Error> {
        let time = |ms: u64, field: &str| {
            if ms <= u64::MAX / 1_000 {
                Ok(Timestamp::from_millis(ms))
            } else {
                Err(<serde_json::Error as serde::de::Error>::custom(format!("{field} {ms} is out of range")))
            }
        };
        Ok(CacheEntry {
            version,
            fetched_at: time(fetched_at_ms, "fetched_at_ms")?,
            expires_at: time(expires_at_ms, "expires_at_ms")?,
            checksum: checksum.into_owned(),
            api_version: api_version.into_owned(),
            account: account.map(Cow::into_owned),
            data,
        })
    }
}

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

/// The envelope's fields before `data`, for [`CacheEntry::from_json`]'s fast
/// path; a `data` field among them sends it to the full parse.
#[derive(Deserialize)]
struct Header<'a> {
    version: u64,
    fetched_at_ms: u64,
    expires_at_ms: u64,
    #[serde(borrow)]
    checksum: Cow<'a, str>,
    #[serde(borrow)]
    api_version: Cow<'a, str>,
    #[serde(borrow)]
    account: Option<Cow<'a, str>>,
    #[serde(default)]
    data: Seen,
}

/// Whether a field was present (with any value, `null` too).
#[derive(Default)]
struct Seen(bool);

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Seen(true))
    }
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

    #[test]
    fn the_fast_path_decodes_what_the_full_parse_decodes() {
        let e = entry();
        let text = e.to_json().unwrap();
        assert_eq!(CacheEntry::from_verified_json(&text), Some(e.clone()));
        let w: Wire<'_> = serde_json::from_str(&text).unwrap();
        assert_eq!(w.data.get(), e.data);
        // Damaged data misses the fast path; the full parse keeps the damage
        // for the checksum to report.
        let damaged = text.replace("a@b.c", "a@b.d");
        assert_eq!(CacheEntry::from_verified_json(&damaged), None);
        assert!(!CacheEntry::from_json(&damaged).unwrap().checksum_ok());
    }

    #[test]
    fn envelopes_off_the_writers_layout_take_the_full_parse() {
        let e = entry();
        let text = e.to_json().unwrap();
        // A field after `data`: the fast path's data would include it.
        let trailing = format!("{},\"extra\":1}}", &text[..text.len() - 1]);
        assert_eq!(CacheEntry::from_verified_json(&trailing), None);
        assert_eq!(CacheEntry::from_json(&trailing).unwrap(), e);
        // A second `data` before the one the fast path finds: a duplicate field.
        let twice = text.replacen("{\"version\":7", "{\"data\":null,\"version\":7", 1);
        assert_eq!(CacheEntry::from_verified_json(&twice), None);
        assert!(CacheEntry::from_json(&twice).is_err());
        // Whitespace around the data.
        let spaced = text.replace("\"data\":{", "\"data\": {");
        assert_eq!(CacheEntry::from_verified_json(&spaced), None);
        assert_eq!(CacheEntry::from_json(&spaced).unwrap(), e);
    }

    #[test]
    fn data_under_a_matching_checksum_is_taken_as_written() {
        // The contract of the fast path: only a writer that computed the
        // checksum of this exact data could have stored it, so it is not
        // scanned as JSON again; the full parse would refuse it.
        let data = "{not json";
        let text = format!(
            "{{\"version\":1,\"fetched_at_ms\":1,\"expires_at_ms\":2,\"checksum\":\"{}\",\"api_version\":\"\",\"account\":null,\"data\":{data}}}",
            checksum(data)
        );
        let e = CacheEntry::from_json(&text).unwrap();
        assert_eq!(e.data, data);
        assert!(e.checksum_ok());
        assert!(e.to_json().is_err(), "it cannot be written back as an envelope");
        assert!(serde_json::from_str::<Wire<'_>>(&text).is_err());
    }

    #[test]
    fn checksums_are_32_lowercase_hex_digits() {
        let v = xxhash_rust::xxh3::xxh3_128(b"x");
        assert_eq!(checksum("x"), format!("{v:032x}"));
        assert_eq!(&hex128(1), b"00000000000000000000000000000001");
    }
}
