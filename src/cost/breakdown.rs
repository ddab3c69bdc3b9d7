//! The cost model's output: each component per run, per million requests and
//! per month, with the quantities behind it, plus Stripe headroom.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deployment::Engine;
use super::usage::StripeMode;

/// One cost three ways. Every rule is linear in time (hourly charges x hours,
/// monthly allowances prorated), so the month is the run scaled by
/// `hours_per_month / run hours`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ComponentCost {
    /// What the run's duration and traffic cost, USD.
    pub per_run_usd: f64,
    /// Per million client requests, USD. `None` when the run served none.
    pub per_million_requests_usd: Option<f64>,
    /// A month (730 h by default) at the run's rate, USD.
    pub per_month_usd: f64,
}

impl ComponentCost {
    pub(crate) fn scale(per_run_usd: f64, requests: u64, month_factor: f64) -> Self {
        Self {
            per_run_usd,
            per_million_requests_usd: (requests > 0).then(|| per_run_usd / requests as f64 * 1e6),
            per_month_usd: per_run_usd * month_factor,
        }
    }
}

/// Whether Lambda's monthly free tier is deducted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FreeTier {
    /// List prices; the free tier is shared by every function of the account.
    /// The default.
    #[default]
    Excluded,
    /// 1M requests and 400,000 GB-s a month deducted (prorated to the run).
    Included,
}

/// Lambda: requests plus GB-seconds (INIT and waiting on Stripe included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LambdaCost {
    /// The total.
    pub cost: ComponentCost,
    /// Invocations billed in the run.
    pub invocations: u64,
    /// GB-seconds billed in the run (invocations + INIT), before any free tier.
    pub billed_gb_s: f64,
    /// Request charge of the run, USD.
    pub requests_usd: f64,
    /// Duration charge of the run, USD.
    pub duration_usd: f64,
    /// Whether the free tier was deducted.
    pub free_tier: FreeTier,
}

/// How the ElastiCache charge was sized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CacheSizing {
    /// Node-based cluster.
    Nodes {
        /// Engine.
        engine: Engine,
        /// Canonical node type.
        node_type: String,
        /// ceil(memory / usable memory per node), at least 1.
        shards: u64,
        /// shards x (1 + replicas).
        nodes: u64,
        /// Usable memory of one node, bytes.
        usable_bytes_per_node: f64,
        /// Price of one node, USD per hour.
        node_hour_usd: f64,
    },
    /// Serverless.
    Serverless {
        /// Engine.
        engine: Engine,
        /// max(memory, minimum), GB.
        billed_gb: f64,
        /// ECPU consumed in the run.
        ecpu: f64,
        /// Data-stored charge of the run, USD.
        data_usd: f64,
        /// ECPU charge of the run, USD.
        ecpu_usd: f64,
    },
}

/// ElastiCache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ElastiCacheCost {
    /// The total.
    pub cost: ComponentCost,
    /// Estimated memory of the working set (overheads and fragmentation
    /// included), bytes.
    pub memory_bytes: f64,
    /// How it was sized.
    pub sizing: CacheSizing,
}

/// How DynamoDB requests were charged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DynamoCapacityCost {
    /// Per request unit.
    OnDemand {
        /// Read charge of the run, USD.
        read_usd: f64,
        /// Write charge of the run, USD.
        write_usd: f64,
    },
    /// Provisioned for the peak.
    Provisioned {
        /// Peak read units/s sized for.
        peak_read_units_per_s: f64,
        /// Peak write units/s sized for.
        peak_write_units_per_s: f64,
        /// Target utilisation used.
        target_utilisation: f64,
        /// ceil(peak reads / utilisation), at least 1.
        rcu: u64,
        /// ceil(peak writes / utilisation), at least 1.
        wcu: u64,
        /// Capacity charge of the run, USD.
        capacity_usd: f64,
    },
}

/// DynamoDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DynamoCost {
    /// The total.
    pub cost: ComponentCost,
    /// Read units consumed in the run (GetItem + Query).
    pub read_units: f64,
    /// Write units consumed in the run (GSI writes included).
    pub write_units: f64,
    /// How requests were charged.
    pub capacity: DynamoCapacityCost,
    /// Stored GB beyond the free allowance (item overhead and GSIs included).
    pub storage_billable_gb: f64,
    /// Storage charge of the run, USD.
    pub storage_usd: f64,
}

/// NAT gateways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NatCost {
    /// The total.
    pub cost: ComponentCost,
    /// NAT gateways running.
    pub gateways: u32,
    /// Bytes processed in the run (Stripe, DynamoDB without a gateway endpoint,
    /// other).
    pub processed_bytes: u64,
    /// Gateway-hours charge of the run, USD.
    pub hours_usd: f64,
    /// Processing charge of the run, USD.
    pub processed_usd: f64,
}

/// Data transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TransferCost {
    /// The total.
    pub cost: ComponentCost,
    /// Bytes that crossed an AZ boundary in the run.
    pub cross_az_bytes: u64,
    /// Whether `cross_az_bytes` was estimated from Redis traffic.
    pub cross_az_estimated: bool,
    /// Cross-AZ charge of the run (both sides), USD.
    pub cross_az_usd: f64,
    /// Bytes sent to the internet in the run.
    pub internet_egress_bytes: u64,
    /// Internet egress charge of the run (after the prorated free allowance), USD.
    pub internet_egress_usd: f64,
}

/// Stripe calls against the account's global rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StripeHeadroom {
    /// Which limit applies.
    pub mode: StripeMode,
    /// Average calls/s over the run.
    pub avg_calls_per_s: f64,
    /// Peak calls/s, when measured.
    pub peak_calls_per_s: Option<f64>,
    /// The limit, requests/s.
    pub limit_per_s: f64,
    /// Peak (or, without one, average) as a percentage of the limit.
    pub used_pct: f64,
    /// 100 - `used_pct`; negative when over the limit.
    pub headroom_pct: f64,
}

/// The whole estimate for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CostBreakdown {
    /// The run's duration, seconds.
    pub run_duration_s: f64,
    /// Client requests served in the run.
    pub requests: u64,
    /// hours_per_month / run hours: run -> month multiplier.
    pub month_factor: f64,
    /// Lambda.
    pub lambda: LambdaCost,
    /// ElastiCache.
    pub elasticache: ElastiCacheCost,
    /// DynamoDB.
    pub dynamodb: DynamoCost,
    /// NAT gateways.
    pub nat: NatCost,
    /// Data transfer.
    pub transfer: TransferCost,
    /// Sum of the components.
    pub total: ComponentCost,
    /// Stripe rate-limit headroom.
    pub stripe: StripeHeadroom,
    /// Assumptions a reader must know (free tier, estimates, averages used
    /// for peaks), in plain sentences.
    pub assumptions: Vec<String>,
}
