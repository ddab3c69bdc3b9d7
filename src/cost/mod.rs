//! The cost model: a pricing table (sourced defaults, user overrides) applied to
//! what a run measured gives a cost breakdown per run, per million requests and
//! per month, Stripe rate-limit headroom, and an ElastiCache capacity plan.
//!
//! ```
//! use tierbench::cost::{CostOptions, Pricing, Usage, estimate};
//!
//! let mut usage = Usage { run_duration_s: 60.0, requests: 6_000, ..Usage::default() };
//! for _ in 0..6_000 {
//!     usage.lambda.record_invocation(std::time::Duration::from_millis(12));
//! }
//! usage.stripe.calls = 300;
//! let cost = estimate(&usage, &Pricing::defaults(), &CostOptions::default())?;
//! println!("${:.2}/month, Stripe headroom {:.0} %", cost.total.per_month_usd, cost.stripe.headroom_pct);
//! # Ok::<(), tierbench::cost::CostError>(())
//! ```
//!
//! Files: `pricing`/`pricing_file` (the table and its loading), `usage` and
//! `deployment` (the input), `units` (AWS metering rules), `model`,
//! `cache_cost`, `dynamo_cost`, `headroom` (the computation), `breakdown` (the
//! output), `plan` (node sizing).

pub mod breakdown;
mod cache_cost;
pub mod deployment;
mod dynamo_cost;
pub mod error;
mod figure;
pub mod headroom;
pub mod model;
pub mod plan;
pub mod pricing;
mod pricing_file;
pub mod tally;
pub mod units;
pub mod usage;

pub use breakdown::{
    CacheSizing, ComponentCost, CostBreakdown, DynamoCapacityCost, DynamoCost, ElastiCacheCost, FreeTier,
    LambdaCost, NatCost, StripeHeadroom, TransferCost,
};
pub use deployment::{
    Architecture, CacheDeployment, Deployment, DynamoCapacity, DynamoRoute, Engine, LambdaConfig, NatGateways,
};
pub use dynamo_cost::provisioned_units;
pub use error::CostError;
pub use figure::Figure;
pub use headroom::stripe_headroom;
pub use model::{CostOptions, estimate};
pub use plan::{NodePlan, cheapest_node, node_plans, working_set_memory_bytes};
pub use pricing::Pricing;
pub use pricing_file::DEFAULT_PRICING_TOML;
pub use tally::Tally;
pub use units::{Consistency, WriteMode};
pub use usage::{
    DynamoStorage, DynamoUsage, GsiWrite, ItemRead, ItemWrite, LambdaUsage, NetworkUsage, RedisCommand,
    RedisOp, RedisUsage, RedisWorkingSet, StripeMode, StripeUsage, Usage,
};
