//! Results: the versioned `result.json` (histograms serialized so runs merge
//! exactly), `summary.md`, `timeseries.csv`, `report.html`, `latency.hlog`,
//! the terminal table, and the cost/staleness/p99 frontier of a sweep. Files
//! are written atomically.

mod charts;
mod files;
mod hlog;
mod html;
mod merge;
mod schema;
mod table;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use self::files::{result_dir, write_all, write_atomic, write_partial};
pub use self::hlog::interval_log;
pub use self::html::report_html;
pub use self::merge::{MergeError, merge};
pub use self::schema::{RESULT_SCHEMA_PATH, result_schema, result_schema_text};
pub use self::table::{fault_table, frontier, terminal_table};
use crate::backends::BackendKind;
use crate::chain::{ChainCounters, Tier, TtlPolicy};
use crate::cost::{CostBreakdown, CostOptions, Pricing, Usage, estimate};
use crate::metrics::RunMetrics;
use crate::mock::CounterSnapshot;
use crate::origin::EtiquetteSnapshot;
use crate::run::faults::FaultWindow;
use crate::run::{PolicyRun, WebhookCounts};
use crate::stripe::ObjectKind;

/// Version of the result schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One run of a scenario: every policy it ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunResult {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// tierbench's version.
    pub tool_version: String,
    /// `live` or `simulated`.
    pub mode: String,
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub source: String,
    /// This run's id (also its directory name).
    pub run_id: String,
    /// When it started (ISO 8601, UTC).
    pub started_at: String,
    /// When it ended, or the last flush of a run still going.
    pub finished_at: String,
    /// Whether every policy ran to the end (false while running or when interrupted).
    pub complete: bool,
    /// The scenario's seed.
    pub seed: u64,
    /// Seconds of policy time per second of run.
    pub time_scale: f64,
    /// Scheduled load per policy, seconds.
    pub duration_s: f64,
    /// Which backends served.
    pub backend: BackendKind,
    /// Where (without secrets).
    pub endpoints: String,
    /// Each policy's results, in scenario order.
    pub policies: Vec<PolicyResult>,
}

/// TTLs as run, in seconds, per kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TtlView {
    /// L1 TTL per kind.
    #[schemars(schema_with = "crate::metrics::enum_keyed_map::<ObjectKind, f64>")]
    pub l1_s: BTreeMap<ObjectKind, f64>,
    /// L2 TTL per kind.
    #[schemars(schema_with = "crate::metrics::enum_keyed_map::<ObjectKind, f64>")]
    pub l2_s: BTreeMap<ObjectKind, f64>,
    /// Jitter fraction.
    pub jitter: f64,
    /// The stampede and outage defences as run (windows time-compressed).
    pub defences: DefencesView,
}

/// A policy's defences as run, seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefencesView {
    /// In-process coalescing (across the run's callers).
    pub coalesce: bool,
    /// Cross-instance lease: how long a caller waits for the holder's fill; `None`: no lease.
    pub lease_wait_s: Option<f64>,
    /// XFetch beta (0: off).
    pub early_refresh_beta: f64,
    /// Stale-while-revalidate window.
    pub stale_while_revalidate_s: f64,
    /// Stale-if-error window.
    pub stale_if_error_s: f64,
    /// Negative-caching TTL of 404s (0: off).
    pub negative_ttl_s: f64,
}

impl From<&TtlPolicy> for TtlView {
    fn from(p: &TtlPolicy) -> Self {
        let per = |t| ObjectKind::ALL.iter().map(|k| (*k, p.ttl(t, *k).as_secs_f64())).collect();
        let d = &p.defences;
        let defences = DefencesView {
            coalesce: d.coalesce,
            lease_wait_s: d.lease.map(|l| l.wait.as_secs_f64()),
            early_refresh_beta: d.early_refresh_beta,
            stale_while_revalidate_s: d.stale_while_revalidate.as_secs_f64(),
            stale_if_error_s: d.stale_if_error.as_secs_f64(),
            negative_ttl_s: d.negative_ttl.as_secs_f64(),
        };
        TtlView { l1_s: per(Tier::L1), l2_s: per(Tier::L2), jitter: p.jitter, defences }
    }
}

/// The headline numbers of one policy (also in `summary.md` and the table).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Requests finished.
    pub requests: u64,
    /// Finished requests per second of wall time.
    pub requests_per_s: f64,
    /// Share served from L1.
    pub l1_hit_ratio: f64,
    /// Share of L1 misses served from L2.
    pub l2_hit_ratio: f64,
    /// Share served from Stripe.
    pub origin_ratio: f64,
    /// Share of reads that served a version older than the truth.
    pub stale_read_ratio: f64,
    /// Corrected latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// 99th percentile from the actual send (hides queueing).
    pub uncorrected_p99_ms: f64,
    /// Corrected 99th percentile of served requests only (errors left out).
    pub served_p99_ms: f64,
    /// Share of requests that ended in an error.
    pub error_ratio: f64,
    /// Requests the mock Stripe received.
    pub stripe_calls: u64,
    /// Per second of wall time.
    pub stripe_calls_per_s: f64,
    /// Stripe's answers that were 429s.
    pub stripe_429s: u64,
    /// Origin calls per refill that landed in L2 (each an expiry or
    /// invalidation refilled): 1 means no stampede, more means callers raced
    /// to Stripe for the same expiry. 0 when nothing was refilled.
    pub origin_calls_per_fill: f64,
    /// Requests that ended in an error.
    pub errors: u64,
    /// Requests scheduled but never sent.
    pub dropped: u64,
    /// Requests sent later than 5 ms after their intended start (`metrics::LATE_AFTER`): every caller was busy.
    pub late: u64,
    /// Estimated AWS cost per month at this run's rate (the scenario's pricing
    /// and deployment); `None` when the estimate failed.
    pub cost_per_month_usd: Option<f64>,
    /// Share of the Stripe account limit left at the run's peak second, %.
    pub stripe_headroom_pct: Option<f64>,
}

/// One policy's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyResult {
    /// Policy name.
    pub name: String,
    /// TTLs as run (time-compressed).
    pub ttl: TtlView,
    /// Headline numbers.
    pub summary: Summary,
    /// Histograms, counts, staleness, per-second series.
    pub metrics: RunMetrics,
    /// Chain counters (fills, promotions, conflicts, ...).
    pub chain: ChainCounters,
    /// What the mock Stripe counted.
    pub stripe: CounterSnapshot,
    /// What the webhook endpoint saw.
    pub webhooks: WebhookCounts,
    /// What the run used, as the cost model counts it.
    pub usage: Usage,
    /// The cost estimate (the scenario's `[cost]`: pricing file, deployment).
    pub cost: Option<CostBreakdown>,
    /// Why there is no cost estimate.
    pub cost_error: Option<String>,
    /// Lambda cold starts simulated.
    pub cold_starts: u64,
    /// Wall seconds the policy ran.
    pub wall_s: f64,
    /// Whether Ctrl-C cut it short.
    pub interrupted: bool,
    /// What the Stripe etiquette did: budget waits and refusals, retries by
    /// reason, breaker transitions (all zero without an `etiquette`).
    pub etiquette: EtiquetteSnapshot,
    /// Each injected fault: errors, stale answers, origin calls and p99 in its
    /// window, and recovery time after it.
    pub faults: Vec<FaultWindow>,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl PolicyResult {
    /// The result of a finished policy run, its cost estimated with `pricing`
    /// and `options` (the deployment is in the run's usage).
    pub fn from_run(run: &PolicyRun, pricing: &Pricing, options: &CostOptions) -> Self {
        let (cost, cost_error) = match estimate(&run.usage, pricing, options) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let wall_s = run.wall.as_secs_f64().max(1e-9);
        PolicyResult {
            name: run.name.clone(),
            ttl: TtlView::from(&run.ttl),
            summary: summarize(&run.metrics, &run.chain, &run.stripe, wall_s, cost.as_ref()),
            metrics: run.metrics.clone(),
            chain: run.chain,
            stripe: run.stripe,
            webhooks: run.webhooks,
            usage: run.usage.clone(),
            cost,
            cost_error,
            cold_starts: run.cold_starts,
            wall_s,
            interrupted: run.interrupted,
            etiquette: run.etiquette,
            faults: run.faults.clone(),
        }
    }

    /// A policy still running: what its requests measured so far, nothing else.
    pub fn partial(name: &str, ttl: &TtlPolicy, metrics: RunMetrics) -> Self {
        let wall_s = metrics.seconds.last().map_or(1.0, |s| s.second as f64 + 1.0);
        PolicyResult {
            name: name.to_owned(),
            ttl: TtlView::from(ttl),
            summary: summarize(
                &metrics,
                &ChainCounters::default(),
                &CounterSnapshot::default(),
                wall_s,
                None,
            ),
            metrics,
            chain: ChainCounters::default(),
            stripe: CounterSnapshot::default(),
            webhooks: WebhookCounts::default(),
            usage: Usage::default(),
            cost: None,
            cost_error: Some("partial: the policy was still running when this was written".into()),
            cold_starts: 0,
            wall_s,
            interrupted: false,
            etiquette: EtiquetteSnapshot::default(),
            faults: Vec::new(),
        }
    }
}

fn summarize(
    m: &RunMetrics,
    chain: &ChainCounters,
    stripe: &CounterSnapshot,
    wall_s: f64,
    cost: Option<&CostBreakdown>,
) -> Summary {
    let c = &m.counts;
    let all = m.corrected_all();
    Summary {
        requests: c.requests,
        requests_per_s: c.requests as f64 / wall_s,
        l1_hit_ratio: c.l1_ratio(),
        l2_hit_ratio: c.l2_ratio(),
        origin_ratio: if c.requests == 0 { 0.0 } else { c.origin as f64 / c.requests as f64 },
        stale_read_ratio: c.stale_ratio(),
        p50_ms: ms(all.quantile(0.5)),
        p99_ms: ms(all.quantile(0.99)),
        p999_ms: ms(all.quantile(0.999)),
        uncorrected_p99_ms: ms(m.uncorrected_all().quantile(0.99)),
        served_p99_ms: ms(m.corrected_served().quantile(0.99)),
        error_ratio: if c.requests == 0 { 0.0 } else { c.errors as f64 / c.requests as f64 },
        stripe_calls: stripe.requests,
        stripe_calls_per_s: stripe.requests as f64 / wall_s,
        stripe_429s: stripe.rate_limited.total(),
        origin_calls_per_fill: if chain.l2_fills == 0 {
            0.0
        } else {
            (chain.origin_fetches + chain.origin_errors) as f64 / chain.l2_fills as f64
        },
        errors: c.errors,
        dropped: c.dropped,
        late: c.late,
        cost_per_month_usd: cost.map(|c| c.total.per_month_usd),
        stripe_headroom_pct: cost.map(|c| c.stripe.headroom_pct),
    }
}
