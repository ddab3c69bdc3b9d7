//! The chain's webhook endpoint on arbitrary bodies (src/chain/webhook.rs,
//! src/stripe/events.rs).
//!
//! The input is the raw body. It is signed with the endpoint's secret and handed
//! to the real `WebhookHandler::apply` over in-memory tiers that record what they
//! are told. Nothing may panic, and:
//! - a body that is not JSON, or not an object with `"object": "event"`, is
//!   rejected as `Body` and invalidates nothing;
//! - an event invalidates exactly `keys_for_event`'s keys in both tiers, plus the
//!   keys L2 lists for each of `wholesale_kinds(type)`;
//! - every key has Redis and DynamoDB keys, and the DynamoDB pair parses back to
//!   the same key (when the account has no `#`, the pk's separator);
//! - the same body unsigned, or signed with another secret, changes nothing;
//! - a redelivery of an applied event (same `id`) is a duplicate and changes
//!   nothing.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tierbench::chain::{CacheChain, CacheEntry, TtlPolicy, WebhookError, WebhookHandler};
use tierbench::clock::{ManualClock, Timestamp};
use tierbench::origin::{Origin, OriginError, OriginObject};
use tierbench::store::{L1Store, L2Store, Lookup, SameVersion, StoreError, WriteOutcome};
use tierbench::stripe::events::{keys_for_event, wholesale_kinds};
use tierbench::stripe::webhook::{SignatureError, signature_header};
use tierbench::stripe::{CacheKey, ObjectKind};

const SECRET: &str = "whsec_fuzz";
const NOW_S: u64 = 1_780_000_000;
/// Keys the fake L2 lists for every kind-wide invalidation.
const PER_KIND: usize = 2;

/// Records deletions and invalidations; holds nothing.
#[derive(Clone, Default)]
struct L1(Arc<Mutex<Vec<CacheKey>>>);

impl L1Store for L1 {
    async fn get(&self, _: &CacheKey) -> Result<Lookup, StoreError> {
        Ok(Lookup::Absent)
    }
    async fn put(&self, _: &CacheKey, _: &CacheEntry, _: Duration) -> Result<WriteOutcome, StoreError> {
        Ok(WriteOutcome::Written)
    }
    async fn delete(&self, key: &CacheKey) -> Result<bool, StoreError> {
        self.0.lock().unwrap().push(key.clone());
        Ok(true)
    }
    async fn invalidate(&self, key: &CacheKey, _: Timestamp) -> Result<bool, StoreError> {
        self.0.lock().unwrap().push(key.clone());
        Ok(true)
    }
    async fn acquire_lease(&self, _: &CacheKey, _: Duration) -> Result<Option<u64>, StoreError> {
        Ok(Some(1))
    }
    async fn release_lease(&self, _: &CacheKey, _: u64) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Records expiries; lists `PER_KIND` keys of each kind as stale.
#[derive(Clone, Default)]
struct L2(Arc<Mutex<Vec<CacheKey>>>);

impl L2Store for L2 {
    async fn get(&self, _: &CacheKey) -> Result<Lookup, StoreError> {
        Ok(Lookup::Absent)
    }
    async fn put(
        &self,
        _: &CacheKey,
        _: &CacheEntry,
        _: Timestamp,
        _: SameVersion,
        _: Duration,
    ) -> Result<WriteOutcome, StoreError> {
        Ok(WriteOutcome::Written)
    }
    async fn expire(&self, key: &CacheKey, _: Timestamp) -> Result<bool, StoreError> {
        self.0.lock().unwrap().push(key.clone());
        Ok(true)
    }
    async fn keys_updated_before(
        &self,
        kind: ObjectKind,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Vec<CacheKey>, StoreError> {
        Ok((0..PER_KIND).map(|i| CacheKey::new(kind, format!("stale_{i}"))).collect())
    }
}

#[derive(Clone)]
struct NoOrigin;

impl Origin for NoOrigin {
    async fn fetch(&self, key: &CacheKey) -> Result<OriginObject, OriginError> {
        Err(OriginError::NotFound(key.id.clone()))
    }
}

/// Runs a future whose every await is ready at once (the in-memory tiers).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the handler never finished over in-memory tiers");
}

fn chain() -> CacheChain<L1, L2, NoOrigin> {
    let clock = ManualClock::new(Timestamp::from_millis(NOW_S * 1_000));
    CacheChain::new(L1::default(), L2::default(), NoOrigin, TtlPolicy::default(), clock)
}

fn sorted(mut keys: Vec<CacheKey>) -> Vec<CacheKey> {
    keys.sort();
    keys
}

fn check_key(key: &CacheKey) {
    let _ = key.redis_key("tb");
    let (pk, sk) = (key.pk(), key.sk());
    let back = CacheKey::from_dynamo(&pk, &sk);
    if !key.account.as_deref().is_some_and(|a| a.contains('#')) {
        assert_eq!(back.as_ref().ok(), Some(key), "pk={pk:?} sk={sk:?} -> {back:?}");
    }
}

fuzz_target!(|body: &[u8]| {
    let handler = WebhookHandler::new(vec!["whsec_old".into(), SECRET.into()]);
    let header = signature_header(&[SECRET], NOW_S - 1, body, Some("00"));

    // Unsigned or signed with an unknown secret: rejected, nothing touched.
    let c = chain();
    let unsigned = block_on(handler.apply(&c, body, None, NOW_S));
    assert!(matches!(unsigned, Err(WebhookError::Signature(SignatureError::NoTimestamp))));
    let forged = signature_header(&["whsec_other"], NOW_S - 1, body, None);
    let r = block_on(handler.apply(&c, body, Some(&forged), NOW_S));
    assert!(matches!(r, Err(WebhookError::Signature(SignatureError::NoMatch))), "{r:?}");
    assert!(c.l1().0.lock().unwrap().is_empty() && c.l2().0.lock().unwrap().is_empty());

    // Signed: what the handler does is what the event names.
    let c = chain();
    let result = block_on(handler.apply(&c, body, Some(&header), NOW_S));
    let l1 = std::mem::take(&mut *c.l1().0.lock().unwrap());
    let l2 = std::mem::take(&mut *c.l2().0.lock().unwrap());
    let event = serde_json::from_slice::<Value>(body).ok().filter(|v| v["object"] == "event");
    let Some(event) = event else {
        assert!(matches!(result, Err(WebhookError::Body(_))), "{result:?}");
        assert!(l1.is_empty() && l2.is_empty());
        return;
    };
    let applied = result.expect("a signed event applies over in-memory tiers");
    let event_type = event["type"].as_str().unwrap_or_default();
    assert_eq!(applied.event_type, event_type);
    assert!(!applied.duplicate);
    let keys = keys_for_event(&event);
    keys.iter().for_each(check_key);
    assert!(keys.len() <= 2, "one event names at most two keys: {keys:?}");
    assert_eq!(applied.keys, keys.len());
    let wholesale = wholesale_kinds(event_type);
    assert_eq!(applied.bulk, wholesale.len() * PER_KIND);
    let mut expected_l1 = keys.clone();
    for kind in wholesale {
        expected_l1.extend((0..PER_KIND).map(|i| CacheKey::new(*kind, format!("stale_{i}"))));
    }
    let expected_l1 = sorted(expected_l1);
    assert_eq!(sorted(l1), expected_l1);
    assert_eq!(sorted(l2), expected_l1);
    // Keys carry the event's account, never an API version or expansions.
    for key in &keys {
        assert_eq!(key.account.as_deref(), event["account"].as_str());
        assert!(key.api_version.is_none() && key.expand.is_empty());
        assert!(!key.id.is_empty());
    }

    // A redelivery of an event with an id is a duplicate: nothing is touched.
    let again = block_on(handler.apply(&c, body, Some(&header), NOW_S)).expect("a redelivery applies");
    let has_id = event["id"].as_str().is_some_and(|id| !id.is_empty());
    assert_eq!(again.duplicate, has_id, "{again:?}");
    if has_id {
        assert_eq!((again.keys, again.bulk), (0, 0));
        assert!(c.l1().0.lock().unwrap().is_empty() && c.l2().0.lock().unwrap().is_empty());
    }
});
