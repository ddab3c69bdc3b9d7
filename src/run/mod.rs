//! What a finished policy run measured, live or simulated: the [`PolicyRun`]
//! both drivers return and `report`, `check` and `merge` read, its usage in the
//! cost model's terms, webhook counts and fault windows. It sits below the
//! drivers (`harness`, `sim`), which import it; it imports neither.

pub mod faults;
pub mod usage;
mod webhooks;

use std::time::Duration;

/// At most this many entries in the time series: a long simulation records
/// it in steps of whole seconds (a day at 1 s would hold 86,400 histograms).
/// (A simulated run's series is stepped so; `merge` needs to know.)
pub const MAX_SERIES: u64 = 300;

use self::usage::UsageTally;
pub use self::webhooks::WebhookCounts;
use crate::chain::{ChainCounters, TtlPolicy};
use crate::cost::{DynamoStorage, RedisCommand, RedisWorkingSet, Usage};
use crate::metrics::RunMetrics;
use crate::mock::CounterSnapshot;
use crate::origin::EtiquetteSnapshot;
use crate::scenario::Scenario;

/// What one policy's run measured.
#[derive(Clone, Debug)]
pub struct PolicyRun {
    /// The policy's name.
    pub name: String,
    /// The TTLs as run (time-compressed).
    pub ttl: TtlPolicy,
    /// Requests, latencies, staleness.
    pub metrics: RunMetrics,
    /// Chain counters summed over every caller.
    pub chain: ChainCounters,
    /// What the mock Stripe counted (requests, 429s by reason, webhooks).
    pub stripe: CounterSnapshot,
    /// What the webhook endpoint saw.
    pub webhooks: WebhookCounts,
    /// Origin answers that were 429s, as callers saw them.
    pub rate_limited: u64,
    /// Cold starts the callers went through.
    pub cold_starts: u64,
    /// Wall time from the first intended start to the last answer.
    pub wall: Duration,
    /// What the run used, in the cost model's terms.
    pub usage: Usage,
    /// Whether Ctrl-C cut it short.
    pub interrupted: bool,
    /// What the Stripe etiquette did (budget waits and refusals, retries, breaker).
    pub etiquette: EtiquetteSnapshot,
    /// What callers felt during each injected fault.
    pub faults: Vec<faults::FaultWindow>,
}

/// The busiest second's counts the cost model sizes capacity by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peaks {
    /// L1 misses (each a DynamoDB GetItem).
    pub reads: u64,
    /// Origin-served requests (each a fill: a PutItem).
    pub fills: u64,
    /// Requests that reached Stripe (served or failed).
    pub stripe: u64,
}

impl Peaks {
    /// The peaks of a per-second series.
    pub fn of(metrics: &RunMetrics) -> Self {
        let busiest = |f: fn(&crate::metrics::Counts) -> u64| {
            metrics.seconds.iter().map(|s| f(&s.counts)).max().unwrap_or(0)
        };
        Peaks {
            reads: busiest(|c| c.l2 + c.origin + c.errors),
            fills: busiest(|c| c.origin),
            stripe: busiest(|c| c.origin + c.errors),
        }
    }
}

/// The cost model's input: the callers' tallies, plus invalidations, the
/// working set (distinct keys filled, at the mean entry size, at most
/// `key_space` keys) and Stripe calls.
#[allow(clippy::too_many_arguments)]
pub(crate) fn usage_of(
    mut tally: UsageTally,
    metrics: &RunMetrics,
    peaks: Peaks,
    chain: &ChainCounters,
    webhooks: &WebhookCounts,
    stripe: &CounterSnapshot,
    key_space: u64,
    scenario: &Scenario,
    wall: Duration,
) -> Usage {
    let mean_data = mean_envelope(&tally.redis).saturating_sub(usage::ENVELOPE_OVERHEAD_BYTES);
    tally.record_invalidations(webhooks.keys_invalidated, mean_data);
    let mut usage = tally.into_usage(
        wall.as_secs_f64().max(1e-3),
        metrics.counts.requests,
        stripe.requests,
        peaks.stripe as f64,
        scenario.stripe.live_mode,
    );
    usage.deployment = scenario.cost.deployment.clone();
    derive_usage(&mut usage, metrics, peaks, chain, webhooks.keys_invalidated, key_space);
    usage
}

/// The mean bytes of the Redis writes (an L1 envelope), 0 without any.
fn mean_envelope(redis: &crate::cost::RedisUsage) -> u64 {
    let sets = redis.count(RedisCommand::Set).max(1);
    let bytes = redis
        .ops
        .sum_by(|op| if op.command == RedisCommand::Set { op.transferred_bytes as f64 } else { 0.0 });
    (bytes / sets as f64) as u64
}

/// Fills in what a run's usage derives rather than counts, from its measured
/// totals: the DynamoDB peaks for provisioned capacity and the Stripe peak
/// (from `peaks`), the Redis working set and the DynamoDB storage (from the
/// fills, at the mean entry size, at most `key_space` keys). A merge of
/// shards calls it again over their sum.
pub(crate) fn derive_usage(
    usage: &mut Usage,
    metrics: &RunMetrics,
    peaks: Peaks,
    chain: &ChainCounters,
    keys_invalidated: u64,
    key_space: u64,
) {
    let mean_envelope = mean_envelope(&usage.redis);
    let mean_data = mean_envelope.saturating_sub(usage::ENVELOPE_OVERHEAD_BYTES);
    usage.stripe.peak_calls_per_s = Some(peaks.stripe as f64);
    let (reads, writes) = (usage.dynamodb.reads.total().max(1), usage.dynamodb.writes.total().max(1));
    let (read_units, write_units) = (usage.dynamodb.read_units(), usage.dynamodb.write_units());
    // Peaks for provisioned capacity: the busiest second's L1 misses (each a
    // GetItem) and fills (each a PutItem), at the run's mean units per
    // operation; invalidation writes are spread evenly over the run.
    let per_s = usage.run_duration_s.max(1.0);
    let any = !metrics.seconds.is_empty();
    usage.dynamodb.peak_read_units_per_s = any.then(|| peaks.reads as f64 * read_units / reads as f64);
    usage.dynamodb.peak_write_units_per_s =
        any.then(|| peaks.fills as f64 * write_units / writes as f64 + keys_invalidated as f64 / per_s);
    let keys = (chain.l1_fills + chain.promotions).min(key_space);
    usage.redis.working_set = RedisWorkingSet {
        keys,
        keys_with_ttl: keys,
        key_bytes_total: keys * 40,
        value_bytes_total: keys * mean_envelope,
    };
    let items = chain.l2_fills.min(key_space);
    usage.dynamodb.storage = DynamoStorage {
        item_count: items,
        item_bytes_total: items * (mean_data + usage::ITEM_OVERHEAD_BYTES),
        gsi_item_count: items,
        gsi_bytes_total: items * (mean_data + usage::ITEM_OVERHEAD_BYTES),
    };
}
