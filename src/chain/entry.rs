//! The cache entry envelope both tiers store (DESIGN.md, decision 5): Stripe JSON
//! plus version, fetch and expiry times, checksum, API version and account.

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
    /// The Stripe JSON, byte for byte as the origin sent it.
    pub data: String,
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

    pub fn checksum_ok(&self) -> bool {
        checksum(&self.data) == self.checksum
    }

    /// Whether the entry is still servable at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }

    /// Encodes the entry as the JSON envelope stored in Redis. `version` comes
    /// first so a server-side script can read it without parsing the rest.
    ///
    /// # Errors
    /// When `data` is not valid JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let data = RawValue::from_string(self.data.clone())?;
        serde_json::to_string(&Wire {
            version: self.version,
            fetched_at_ms: self.fetched_at.as_millis(),
            expires_at_ms: self.expires_at.as_millis(),
            checksum: &self.checksum,
            api_version: &self.api_version,
            account: self.account.as_deref(),
            data: &data,
        })
    }

    /// Decodes an envelope written by [`CacheEntry::to_json`].
    ///
    /// # Errors
    /// When the text is not such an envelope (a corrupt entry).
    pub fn from_json(text: &str) -> Result<CacheEntry, serde_json::Error> {
        let w: Wire<'_> = serde_json::from_str(text)?;
        Ok(CacheEntry {
            version: w.version,
            fetched_at: Timestamp::from_millis(w.fetched_at_ms),
            expires_at: Timestamp::from_millis(w.expires_at_ms),
            checksum: w.checksum.to_owned(),
            api_version: w.api_version.to_owned(),
            account: w.account.map(str::to_owned),
            data: w.data.get().to_owned(),
        })
    }
}

/// The data of a negative entry (JSON `null`: no Stripe object is `null`).
const NEGATIVE_DATA: &str = "null";

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    version: u64,
    fetched_at_ms: u64,
    expires_at_ms: u64,
    #[serde(borrow)]
    checksum: &'a str,
    #[serde(borrow)]
    api_version: &'a str,
    #[serde(borrow)]
    account: Option<&'a str>,
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
    fn an_entry_is_dead_at_its_expiry() {
        let e = entry();
        assert!(e.is_live(Timestamp::from_millis(4_999)));
        assert!(!e.is_live(Timestamp::from_millis(5_000)));
    }
}
