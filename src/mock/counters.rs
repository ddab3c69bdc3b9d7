//! What the mock did, counted: requests, answers, 429s by reason, faults,
//! replays, mutations and webhook deliveries.

use std::sync::atomic::{AtomicU64, Ordering};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Live counters (relaxed atomics; read them through [`Counters::snapshot`]).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub status_2xx: AtomicU64,
    pub status_4xx: AtomicU64,
    pub status_5xx: AtomicU64,
    pub limited_global_rate: AtomicU64,
    pub limited_endpoint_rate: AtomicU64,
    pub limited_global_concurrency: AtomicU64,
    pub limited_endpoint_concurrency: AtomicU64,
    pub limited_lock_timeout: AtomicU64,
    pub fault_status: AtomicU64,
    pub fault_hang: AtomicU64,
    pub fault_reset: AtomicU64,
    pub fault_slow: AtomicU64,
    pub injected_errors: AtomicU64,
    pub latency_spikes: AtomicU64,
    pub idempotent_replays: AtomicU64,
    pub mutations: AtomicU64,
    pub events: AtomicU64,
    pub webhooks_delivered: AtomicU64,
    pub webhooks_duplicated: AtomicU64,
    pub webhooks_reordered: AtomicU64,
    pub webhook_attempts_failed: AtomicU64,
    pub webhook_retries: AtomicU64,
    pub webhooks_abandoned: AtomicU64,
}

/// Adds one.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

sum_fields!(RateLimited {
    global_rate,
    endpoint_rate,
    global_concurrency,
    endpoint_concurrency,
    lock_timeout
});
sum_fields!(Faults { status, hang, reset, slow, injected_errors, latency_spikes });
sum_fields!(Webhooks { delivered, duplicated, reordered, attempts_failed, retries, abandoned });
sum_fields!(CounterSnapshot {
    requests,
    status_2xx,
    status_4xx,
    status_5xx,
    rate_limited,
    faults,
    idempotent_replays,
    mutations,
    events,
    webhooks,
});

/// 429s by `Stripe-Rate-Limited-Reason`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimited {
    /// `global-rate`: the account's token bucket was empty.
    pub global_rate: u64,
    /// `endpoint-rate`: the endpoint's token bucket was empty.
    pub endpoint_rate: u64,
    /// `global-concurrency`: too many requests in flight for the account.
    pub global_concurrency: u64,
    /// `endpoint-concurrency`: too many in flight for the endpoint.
    pub endpoint_concurrency: u64,
    /// `resource-specific` (`lock_timeout`): a concurrent write held the object.
    pub lock_timeout: u64,
}

impl RateLimited {
    /// All 429s together.
    pub fn total(&self) -> u64 {
        self.global_rate
            + self.endpoint_rate
            + self.global_concurrency
            + self.endpoint_concurrency
            + self.lock_timeout
    }
}

/// Faults injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Faults {
    /// Requests answered with an outage window's status.
    pub status: u64,
    /// Requests left hanging.
    pub hang: u64,
    /// Connections reset.
    pub reset: u64,
    /// Requests slowed by a window.
    pub slow: u64,
    /// Requests failed by the error rate.
    pub injected_errors: u64,
    /// Requests that drew a latency spike.
    pub latency_spikes: u64,
}

/// Webhook deliveries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Webhooks {
    /// Successful deliveries (2xx from the endpoint), duplicates included.
    pub delivered: u64,
    /// Extra deliveries of an event already scheduled (at-least-once).
    pub duplicated: u64,
    /// Events held back so later events overtake them.
    pub reordered: u64,
    /// Attempts that failed (injected, endpoint down, non-2xx, transport).
    pub attempts_failed: u64,
    /// Attempts retried after a failure.
    pub retries: u64,
    /// Deliveries given up after the last retry.
    pub abandoned: u64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CounterSnapshot {
    /// API requests received (the reserved `/_tierbench` prefix excluded).
    pub requests: u64,
    /// Answers with a 2xx status.
    pub status_2xx: u64,
    /// Answers with a 4xx status (429s included).
    pub status_4xx: u64,
    /// Answers with a 5xx status.
    pub status_5xx: u64,
    /// 429s by reason.
    pub rate_limited: RateLimited,
    /// Faults injected.
    pub faults: Faults,
    /// `Idempotency-Key` replays answered from the saved first answer.
    pub idempotent_replays: u64,
    /// Changes made to objects (API writes, the driver, the handle).
    pub mutations: u64,
    /// Events emitted.
    pub events: u64,
    /// Webhook deliveries.
    pub webhooks: Webhooks,
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            requests: g(&self.requests),
            status_2xx: g(&self.status_2xx),
            status_4xx: g(&self.status_4xx),
            status_5xx: g(&self.status_5xx),
            rate_limited: RateLimited {
                global_rate: g(&self.limited_global_rate),
                endpoint_rate: g(&self.limited_endpoint_rate),
                global_concurrency: g(&self.limited_global_concurrency),
                endpoint_concurrency: g(&self.limited_endpoint_concurrency),
                lock_timeout: g(&self.limited_lock_timeout),
            },
            faults: Faults {
                status: g(&self.fault_status),
                hang: g(&self.fault_hang),
                reset: g(&self.fault_reset),
                slow: g(&self.fault_slow),
                injected_errors: g(&self.injected_errors),
                latency_spikes: g(&self.latency_spikes),
            },
            idempotent_replays: g(&self.idempotent_replays),
            mutations: g(&self.mutations),
            events: g(&self.events),
            webhooks: Webhooks {
                delivered: g(&self.webhooks_delivered),
                duplicated: g(&self.webhooks_duplicated),
                reordered: g(&self.webhooks_reordered),
                attempts_failed: g(&self.webhook_attempts_failed),
                retries: g(&self.webhook_retries),
                abandoned: g(&self.webhooks_abandoned),
            },
        }
    }

    /// Counts an answer's status.
    pub fn status(&self, status: u16) {
        match status {
            200..=299 => bump(&self.status_2xx),
            400..=499 => bump(&self.status_4xx),
            500..=599 => bump(&self.status_5xx),
            _ => {}
        }
    }
}
