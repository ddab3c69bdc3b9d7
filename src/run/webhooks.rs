//! What the webhook endpoint saw.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the endpoint saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookCounts {
    /// Deliveries verified and applied.
    pub applied: u64,
    /// Redeliveries of an event already applied (dropped).
    #[serde(default)]
    pub duplicates: u64,
    /// Deliveries answered 503 while a `webhook_outage` fault held the endpoint down.
    #[serde(default)]
    pub refused_down: u64,
    /// Deliveries refused (bad signature or body).
    pub rejected: u64,
    /// Deliveries whose invalidation failed (answered 500: Stripe retries).
    pub failed: u64,
    /// Cache keys invalidated.
    pub keys_invalidated: u64,
}

sum_fields!(WebhookCounts { applied, duplicates, refused_down, rejected, failed, keys_invalidated });
