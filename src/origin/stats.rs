//! What the etiquette did, counted: budget waits and refusals, retries by
//! reason, breaker opens and short-circuits, timeouts. Relaxed atomics, read
//! through a serializable snapshot that results can report.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::retry::RetryReason;

/// Live counters of one set of guards.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub fetches: AtomicU64,
    pub attempts: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub rate_limited: AtomicU64,
    pub timeouts: AtomicU64,
    pub deadline_exceeded: AtomicU64,
    pub budget_immediate: AtomicU64,
    pub budget_waited: AtomicU64,
    pub budget_wait_us: AtomicU64,
    pub budget_refused: AtomicU64,
    pub retry_network: AtomicU64,
    pub retry_lock_timeout: AtomicU64,
    pub retry_conflict: AtomicU64,
    pub retry_server_error: AtomicU64,
    pub retry_should_retry_header: AtomicU64,
    pub retries_cut_by_deadline: AtomicU64,
}

/// Adds one.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

sum_fields!(EtiquetteSnapshot {
    fetches,
    attempts,
    succeeded,
    failed,
    rate_limited,
    timeouts,
    deadline_exceeded,
    budget,
    retries,
    breaker,
});
sum_fields!(BudgetCounts { immediate, waited, wait_total_ms, refused, redis_fallbacks });
sum_fields!(RetryCounts {
    network,
    lock_timeout,
    conflict,
    server_error,
    should_retry_header,
    cut_by_deadline
});
sum_fields!(BreakerCounts { opens, closes, short_circuits });

impl Counters {
    /// Counts a retry.
    pub fn retry(&self, reason: RetryReason) {
        bump(match reason {
            RetryReason::Network => &self.retry_network,
            RetryReason::LockTimeout => &self.retry_lock_timeout,
            RetryReason::Conflict => &self.retry_conflict,
            RetryReason::ServerError => &self.retry_server_error,
            RetryReason::ShouldRetryHeader => &self.retry_should_retry_header,
        });
    }

    /// A snapshot, with the breaker's `(opens, closes, short_circuits)` and
    /// the budget's Redis fallbacks.
    pub fn snapshot(&self, breaker: (u64, u64, u64), redis_fallbacks: u64) -> EtiquetteSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EtiquetteSnapshot {
            fetches: g(&self.fetches),
            attempts: g(&self.attempts),
            succeeded: g(&self.succeeded),
            failed: g(&self.failed),
            rate_limited: g(&self.rate_limited),
            timeouts: g(&self.timeouts),
            deadline_exceeded: g(&self.deadline_exceeded),
            budget: BudgetCounts {
                immediate: g(&self.budget_immediate),
                waited: g(&self.budget_waited),
                wait_total_ms: g(&self.budget_wait_us) / 1_000,
                refused: g(&self.budget_refused),
                redis_fallbacks,
            },
            retries: RetryCounts {
                network: g(&self.retry_network),
                lock_timeout: g(&self.retry_lock_timeout),
                conflict: g(&self.retry_conflict),
                server_error: g(&self.retry_server_error),
                should_retry_header: g(&self.retry_should_retry_header),
                cut_by_deadline: g(&self.retries_cut_by_deadline),
            },
            breaker: BreakerCounts { opens: breaker.0, closes: breaker.1, short_circuits: breaker.2 },
        }
    }
}

/// Budget draws.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetCounts {
    /// Tokens taken without waiting.
    pub immediate: u64,
    /// Tokens taken after waiting in the queue.
    pub waited: u64,
    /// Total time spent waiting for those, in ms.
    pub wait_total_ms: u64,
    /// Calls refused: no token in time (each one a `BudgetSpent`).
    pub refused: u64,
    /// Reservations served by the local fallback because Redis failed.
    pub redis_fallbacks: u64,
}

/// Retries made, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RetryCounts {
    /// After connection errors and timeouts.
    pub network: u64,
    /// After 429 `lock_timeout`.
    pub lock_timeout: u64,
    /// After 409.
    pub conflict: u64,
    /// After a status >= 500.
    pub server_error: u64,
    /// After another status marked `Stripe-Should-Retry: true`.
    pub should_retry_header: u64,
    /// Retries the rules allowed but the fetch's deadline left no time for.
    pub cut_by_deadline: u64,
}

impl RetryCounts {
    /// Retries made (those cut by the deadline excluded).
    pub fn total(&self) -> u64 {
        self.network + self.lock_timeout + self.conflict + self.server_error + self.should_retry_header
    }
}

/// Circuit breaker transitions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BreakerCounts {
    /// Times it opened (a failed half-open probe reopens it: counted again).
    pub opens: u64,
    /// Times a probe closed it.
    pub closes: u64,
    /// Calls failed fast while it was open (`CircuitOpen`).
    pub short_circuits: u64,
}

/// A copy of the etiquette's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EtiquetteSnapshot {
    /// Fetches asked of the guarded origin.
    pub fetches: u64,
    /// Calls made to the inner origin (first attempts and retries).
    pub attempts: u64,
    /// Fetches that returned an object.
    pub succeeded: u64,
    /// Fetches that returned an error (404s and local refusals included).
    pub failed: u64,
    /// 429s Stripe answered (each a call that went out over budget, or lock contention).
    pub rate_limited: u64,
    /// Attempts cut by the attempt timeout.
    pub timeouts: u64,
    /// Fetches that ran out of their deadline.
    pub deadline_exceeded: u64,
    /// Budget draws.
    pub budget: BudgetCounts,
    /// Retries by reason.
    pub retries: RetryCounts,
    /// Breaker transitions.
    pub breaker: BreakerCounts,
}
