//! The application's webhook endpoint: verify `Stripe-Signature` over the raw
//! body, map the event to the cache keys it changes, invalidate them.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;

use super::{CacheChain, ChainError};
use crate::origin::Origin;
use crate::store::{L1Store, L2Store};
use crate::stripe::events::{keys_for_event, wholesale_kinds};
use crate::stripe::webhook::{DEFAULT_TOLERANCE, SignatureError, verify};

/// Why a webhook was not applied.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Missing, malformed, forged or too old: rejected with no effect (HTTP 400).
    #[error("webhook rejected: {0}")]
    Signature(#[from] SignatureError),
    /// Signed but not an event object (HTTP 400).
    #[error("webhook body is not a Stripe event: {0}")]
    Body(String),
    /// An invalidation failed; Stripe should deliver again (HTTP 500).
    #[error(transparent)]
    Invalidation(#[from] ChainError),
}

/// What one delivery changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The event's type.
    pub event_type: String,
    /// Keys invalidated.
    pub keys: usize,
    /// Entries invalidated by kind-wide (catalog) events.
    pub bulk: usize,
    /// The event id was applied before (Stripe delivers at least once): nothing done.
    pub duplicate: bool,
}

/// How many recent event ids the handler remembers to drop redeliveries.
/// Stripe retries for up to three days, so a duplicate older than this many
/// events is applied again: harmless, as applying is invalidating.
pub const DEDUPE_CAPACITY: usize = 100_000;

/// The ids of recently applied events, oldest first out (bounded memory).
#[derive(Debug, Default)]
struct SeenEvents {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl SeenEvents {
    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: String) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
            if self.order.len() > DEDUPE_CAPACITY
                && let Some(old) = self.order.pop_front()
            {
                self.ids.remove(&old);
            }
        }
    }
}

/// Verifies and applies webhook deliveries to a chain. Applying an event only
/// invalidates (the next read fetches the current object), so a late or
/// reordered older event can never bring back an older state; redeliveries of
/// an applied event id are dropped.
#[derive(Clone, Debug)]
pub struct WebhookHandler {
    secrets: Vec<String>,
    tolerance: Duration,
    seen: Arc<Mutex<SeenEvents>>,
}

impl WebhookHandler {
    /// A handler accepting signatures by any of `secrets` (several during a
    /// rotation), with Stripe's default 300 s tolerance.
    pub fn new(secrets: Vec<String>) -> Self {
        WebhookHandler { secrets, tolerance: DEFAULT_TOLERANCE, seen: Arc::default() }
    }

    /// Verifies `payload` against `signature` (the `Stripe-Signature` header) at
    /// `now_s`, then invalidates every key the event changes in `chain`.
    ///
    /// # Errors
    /// [`WebhookError`]: nothing is invalidated unless the signature verifies.
    pub async fn apply<
        L1: L1Store + Clone + 'static,
        L2: L2Store + Clone + 'static,
        O: Origin + Clone + 'static,
    >(
        &self,
        chain: &CacheChain<L1, L2, O>,
        payload: &[u8],
        signature: Option<&str>,
        now_s: u64,
    ) -> Result<Applied, WebhookError> {
        let header = signature.ok_or(SignatureError::NoTimestamp)?;
        let mut last = SignatureError::NoMatch;
        let verified = self.secrets.iter().any(|s| match verify(payload, header, s, self.tolerance, now_s) {
            Ok(()) => true,
            Err(e) => {
                last = e;
                false
            }
        });
        if !verified {
            return Err(last.into());
        }
        let event: Value = serde_json::from_slice(payload).map_err(|e| WebhookError::Body(e.to_string()))?;
        if event["object"] != "event" {
            return Err(WebhookError::Body("`object` is not \"event\"".into()));
        }
        let event_type = event["type"].as_str().unwrap_or_default().to_owned();
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        if !id.is_empty() && self.seen.lock().unwrap_or_else(PoisonError::into_inner).contains(&id) {
            return Ok(Applied { event_type, duplicate: true, ..Applied::default() });
        }
        let keys = keys_for_event(&event);
        for key in &keys {
            chain.invalidate(key).await?;
        }
        let mut bulk = 0;
        let now = chain.clock.now();
        for kind in wholesale_kinds(&event_type) {
            bulk += chain.invalidate_kind_before(*kind, now).await?;
        }
        // Remembered only once applied: a failed delivery is retried in full.
        if !id.is_empty() {
            self.seen.lock().unwrap_or_else(PoisonError::into_inner).insert(id);
        }
        Ok(Applied { event_type, keys: keys.len(), bulk, duplicate: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_events_forget_the_oldest_beyond_capacity() {
        let mut seen = SeenEvents::default();
        for i in 0..=DEDUPE_CAPACITY {
            seen.insert(format!("evt_{i}"));
        }
        seen.insert("evt_1".into()); // a duplicate changes nothing
        assert!(!seen.contains("evt_0"), "the oldest was forgotten");
        assert!(seen.contains("evt_1") && seen.contains(&format!("evt_{DEDUPE_CAPACITY}")));
        assert_eq!((seen.ids.len(), seen.order.len()), (DEDUPE_CAPACITY, DEDUPE_CAPACITY));
    }
}
