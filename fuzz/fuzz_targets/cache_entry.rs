//! The cache entry envelope both tiers store (src/chain/entry.rs).
//!
//! 1. `CacheEntry::from_json` on arbitrary text never panics; nor do
//!    `checksum_ok` and `is_live` on what it decodes. A decoded entry re-encodes
//!    (`to_json`) unless it holds non-JSON data under a matching checksum
//!    (which the decoder takes as written), the encoding starts with `{"version":`, decodes to the same
//!    entry and re-encodes to the same text.
//! 2. The other way round: an entry built from fuzzer-chosen fields the way the
//!    chain builds one (times in whole milliseconds, as the envelope stores
//!    them; data any JSON text, in `stored_data`'s form) encodes, and decodes to
//!    the same entry with the same checksum verdict. Data with whitespace around
//!    it decodes to its `stored_data` form.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tierbench::chain::{CacheEntry, checksum, stored_data};
use tierbench::clock::Timestamp;

/// Largest millisecond count a `Timestamp` (µs in a u64) holds exactly.
const MAX_MS: u64 = u64::MAX / 1_000;

fn decode(text: &str) {
    let Ok(entry) = CacheEntry::from_json(text) else { return };
    let _ = entry.checksum_ok();
    let _ = entry.is_live(Timestamp::from_millis(1_780_000_000_000));
    let Ok(encoded) = entry.to_json() else {
        // Data that is not JSON decodes only under a matching checksum: the
        // fast path takes such data as written (see `from_json`).
        assert!(entry.checksum_ok(), "{text:?} decoded to data that does not re-encode");
        return;
    };
    assert!(encoded.starts_with(&format!("{{\"version\":{},", entry.version)), "{encoded}");
    let again = CacheEntry::from_json(&encoded).expect("an encoded entry decodes");
    assert_eq!(again, entry, "{text:?} -> {encoded:?}");
    assert_eq!(again.to_json().unwrap(), encoded);
    assert_eq!(again.checksum_ok(), entry.checksum_ok());
}

#[derive(Arbitrary, Debug)]
struct Fields {
    version: u64,
    fetched_at_ms: u64,
    expires_at_ms: u64,
    /// `None`: the checksum of the data, as the chain writes it.
    checksum: Option<String>,
    api_version: String,
    account: Option<String>,
    /// Used as is when it is JSON, else as a JSON string.
    data: String,
}

fn encode(fields: Fields) {
    let data = if serde_json::value::RawValue::from_string(fields.data.clone()).is_ok() {
        fields.data
    } else {
        serde_json::to_string(&fields.data).unwrap()
    };
    let raw = data.clone();
    let data = stored_data(data);
    let sum = fields.checksum.unwrap_or_else(|| checksum(&data));
    let entry = CacheEntry {
        version: fields.version,
        fetched_at: Timestamp::from_millis(fields.fetched_at_ms % (MAX_MS + 1)),
        expires_at: Timestamp::from_millis(fields.expires_at_ms % (MAX_MS + 1)),
        checksum: sum,
        api_version: fields.api_version,
        account: fields.account,
        data,
    };
    let encoded = entry.to_json().expect("an entry with JSON data encodes");
    let decoded = CacheEntry::from_json(&encoded);
    assert_eq!(decoded.as_ref().ok(), Some(&entry), "{encoded:?} -> {decoded:?}");
    assert_eq!(decoded.unwrap().checksum_ok(), entry.checksum_ok());
    if raw != entry.data {
        let spaced = CacheEntry { data: raw, ..entry.clone() };
        let decoded = CacheEntry::from_json(&spaced.to_json().unwrap()).unwrap();
        assert_eq!(decoded.data, entry.data);
    }
}

fuzz_target!(|bytes: &[u8]| {
    // The whole input as envelope text: where corrupt tier contents are found.
    if let Ok(text) = std::str::from_utf8(bytes) {
        decode(text);
    }
    // The same bytes as entry fields.
    if let Ok(fields) = Fields::arbitrary_take_rest(Unstructured::new(bytes)) {
        encode(fields);
    }
});
