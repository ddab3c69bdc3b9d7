//! The application's webhook endpoint: verify `Stripe-Signature` over the raw
//! body, map the event to the cache keys it changes, invalidate them.

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
}

/// Verifies and applies webhook deliveries to a chain.
#[derive(Clone, Debug)]
pub struct WebhookHandler {
    secrets: Vec<String>,
    tolerance: Duration,
}

impl WebhookHandler {
    /// A handler accepting signatures by any of `secrets` (several during a
    /// rotation), with Stripe's default 300 s tolerance.
    pub fn new(secrets: Vec<String>) -> Self {
        WebhookHandler { secrets, tolerance: DEFAULT_TOLERANCE }
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
        let keys = keys_for_event(&event);
        for key in &keys {
            chain.invalidate(key).await?;
        }
        let mut bulk = 0;
        let now = chain.clock.now();
        for kind in wholesale_kinds(&event_type) {
            bulk += chain.invalidate_kind_before(*kind, now).await?;
        }
        Ok(Applied { event_type, keys: keys.len(), bulk })
    }
}
