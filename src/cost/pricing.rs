//! The pricing table: every price and capacity figure the cost model uses, each
//! with its source and date, grouped as in the pricing file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::deployment::Engine;
use super::error::CostError;
use super::figure::{Figure, figure_group};
use super::units::BYTES_PER_GIB;

figure_group! {
    /// `[billing]`: calendar conventions.
    pub struct BillingPricing / BillingOverride {
        /// Hours in a billing month. Default 730.
        hours_per_month,
    }
}

figure_group! {
    /// `[lambda]`: AWS Lambda prices. INIT (cold start) time is billed like
    /// invocation time (all runtimes since 2025-08-01).
    pub struct LambdaPricing / LambdaOverride {
        /// USD per 1M requests. Default 0.20.
        request_per_million_usd,
        /// USD per GB-second on x86_64. Default 0.0000166667.
        x86_64_gb_s_usd,
        /// USD per GB-second on arm64. Default 0.0000133334.
        arm64_gb_s_usd,
        /// Free-tier requests per month (applied only when asked). Default 1M.
        free_requests_per_month,
        /// Free-tier GB-seconds per month (applied only when asked). Default 400,000.
        free_gb_s_per_month,
    }
}

figure_group! {
    /// `[elasticache]`: node-independent ElastiCache figures and memory rules.
    pub struct ElastiCachePricing / ElastiCacheOverride {
        /// Valkey node price as a fraction of the Redis OSS price. Default 0.8.
        valkey_node_price_factor,
        /// Share of maxmemory reserved and not usable for data, percent. Default 25.
        reserved_memory_percent,
        /// Per-key memory overhead, bytes. Default 100 (range 60-100).
        key_overhead_bytes,
        /// Extra per-key overhead when the key has a TTL, bytes. Default 32 (range 16-32).
        ttl_overhead_bytes,
        /// Memory fragmentation multiplier. Default 1.5 (range 1.2-1.5).
        fragmentation_ratio,
        /// Serverless Redis OSS data stored, USD per GB-hour. Default 0.125.
        serverless_redis_gb_hour_usd,
        /// Serverless Redis OSS, USD per 1M ECPU. Default 0.0034.
        serverless_redis_ecpu_per_million_usd,
        /// Serverless Redis OSS minimum billed data, GB. Default 1.
        serverless_redis_min_gb,
        /// Serverless Valkey data stored, USD per GB-hour. Default 0.084.
        serverless_valkey_gb_hour_usd,
        /// Serverless Valkey, USD per 1M ECPU. Default 0.0023.
        serverless_valkey_ecpu_per_million_usd,
        /// Serverless Valkey minimum billed data, GB. Default 0.1.
        serverless_valkey_min_gb,
    }
}

figure_group! {
    /// `[elasticache_nodes."cache.<type>"]`: one node type.
    pub struct NodePricing / NodeOverride {
        /// Redis OSS on-demand price, USD per node-hour.
        redis_oss_hour_usd,
        /// maxmemory of the node type, GiB.
        maxmemory_gib,
    }
}

figure_group! {
    /// `[dynamodb]`: DynamoDB prices (Standard table class) and capacity rules.
    pub struct DynamoPricing / DynamoOverride {
        /// On-demand, USD per 1M read request units. Default 0.125.
        on_demand_read_per_million_usd,
        /// On-demand, USD per 1M write request units. Default 0.625.
        on_demand_write_per_million_usd,
        /// Provisioned, USD per RCU-hour. Default 0.00013.
        provisioned_rcu_hour_usd,
        /// Provisioned, USD per WCU-hour. Default 0.00065.
        provisioned_wcu_hour_usd,
        /// Auto-scaling target utilisation, fraction in (0, 1]. Default 0.70.
        target_utilisation,
        /// Storage, USD per GB-month. Default 0.25.
        storage_gb_month_usd,
        /// Free storage, GB. Default 25.
        storage_free_gb,
        /// Storage overhead per item (table and each GSI), bytes. Default 100.
        item_overhead_bytes,
    }
}

figure_group! {
    /// `[nat]`: NAT gateway prices.
    pub struct NatPricing / NatOverride {
        /// USD per NAT gateway-hour. Default 0.045.
        gateway_hour_usd,
        /// USD per GB processed (both directions). Default 0.045.
        processed_gb_usd,
    }
}

figure_group! {
    /// `[transfer]`: data transfer prices.
    pub struct TransferPricing / TransferOverride {
        /// Cross-AZ transfer, USD per GB, charged on each side (so 2x per GB
        /// that crosses). Default 0.01.
        cross_az_gb_each_direction_usd,
        /// Internet egress, USD per GB beyond the free allowance. Default 0.09.
        internet_egress_gb_usd,
        /// Free internet egress, GB per month. Default 100.
        internet_egress_free_gb_per_month,
    }
}

figure_group! {
    /// `[stripe]`: Stripe's global per-account rate limits.
    pub struct StripeLimits / StripeOverride {
        /// Live mode, requests/s. Default 100.
        live_calls_per_s,
        /// Test mode (sandbox), requests/s. Default 25.
        test_calls_per_s,
    }
}

/// `[meta]`: what the table is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingMeta {
    /// AWS region the prices are for.
    pub region: String,
    /// Currency of every `_usd` figure.
    pub currency: String,
    /// Where the table comes from.
    pub description: String,
}

/// The whole pricing table. Build it with [`Pricing::defaults`] or
/// [`Pricing::from_file`] (defaults with a user's file merged over them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// What the table is for.
    pub meta: PricingMeta,
    /// Calendar conventions.
    pub billing: BillingPricing,
    /// Lambda.
    pub lambda: LambdaPricing,
    /// ElastiCache figures that do not depend on the node type.
    pub elasticache: ElastiCachePricing,
    /// ElastiCache node types by AWS name (`cache.t4g.micro`).
    pub elasticache_nodes: BTreeMap<String, NodePricing>,
    /// DynamoDB.
    pub dynamodb: DynamoPricing,
    /// NAT gateway.
    pub nat: NatPricing,
    /// Data transfer.
    pub transfer: TransferPricing,
    /// Stripe rate limits.
    pub stripe: StripeLimits,
}

/// `[meta]` in an override file: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetaOverride {
    pub(crate) region: Option<String>,
    pub(crate) currency: Option<String>,
    pub(crate) description: Option<String>,
}

/// An override file: any subset of the pricing table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PricingOverride {
    #[serde(default)]
    pub(crate) meta: Option<MetaOverride>,
    #[serde(default)]
    pub(crate) billing: Option<BillingOverride>,
    #[serde(default)]
    pub(crate) lambda: Option<LambdaOverride>,
    #[serde(default)]
    pub(crate) elasticache: Option<ElastiCacheOverride>,
    #[serde(default)]
    pub(crate) elasticache_nodes: BTreeMap<String, NodeOverride>,
    #[serde(default)]
    pub(crate) dynamodb: Option<DynamoOverride>,
    #[serde(default)]
    pub(crate) nat: Option<NatOverride>,
    #[serde(default)]
    pub(crate) transfer: Option<TransferOverride>,
    #[serde(default)]
    pub(crate) stripe: Option<StripeOverride>,
}

impl Pricing {
    /// Every figure with its dotted key (`dynamodb.storage_gb_month_usd`,
    /// `elasticache_nodes."cache.t4g.micro".maxmemory_gib`), in file order.
    pub fn figures(&self) -> Vec<(String, &Figure)> {
        fn section<'a>(name: &str, figs: Vec<(&'static str, &'a Figure)>) -> Vec<(String, &'a Figure)> {
            figs.into_iter().map(|(k, f)| (format!("{name}.{k}"), f)).collect()
        }
        let mut all = section("billing", self.billing.figures());
        all.extend(section("lambda", self.lambda.figures()));
        all.extend(section("elasticache", self.elasticache.figures()));
        for (node, p) in &self.elasticache_nodes {
            all.extend(section(&format!("elasticache_nodes.\"{node}\""), p.figures()));
        }
        all.extend(section("dynamodb", self.dynamodb.figures()));
        all.extend(section("nat", self.nat.figures()));
        all.extend(section("transfer", self.transfer.figures()));
        all.extend(section("stripe", self.stripe.figures()));
        all
    }

    /// The node type `name` (`cache.r7g.large`; the `cache.` prefix may be left
    /// out) with its canonical name.
    ///
    /// # Errors
    /// [`CostError::UnknownNodeType`] listing the known types.
    pub fn node(&self, name: &str) -> Result<(&str, &NodePricing), CostError> {
        let canonical = if name.starts_with("cache.") { name.to_owned() } else { format!("cache.{name}") };
        self.elasticache_nodes.get_key_value(&canonical).map(|(k, v)| (k.as_str(), v)).ok_or_else(|| {
            CostError::UnknownNodeType {
                node_type: name.to_owned(),
                known: self.elasticache_nodes.keys().cloned().collect::<Vec<_>>().join(", "),
            }
        })
    }

    /// On-demand price of one node of `node` running `engine`, USD per hour
    /// (Valkey = Redis OSS price x `valkey_node_price_factor`).
    pub fn node_hour_usd(&self, node: &NodePricing, engine: Engine) -> f64 {
        match engine {
            Engine::RedisOss => node.redis_oss_hour_usd.value,
            Engine::Valkey => node.redis_oss_hour_usd.value * self.elasticache.valkey_node_price_factor.value,
        }
    }

    /// Memory of one node usable for data, bytes: maxmemory x (1 -
    /// reserved_memory_percent / 100).
    pub fn node_usable_bytes(&self, node: &NodePricing) -> f64 {
        node.maxmemory_gib.value
            * BYTES_PER_GIB
            * (1.0 - self.elasticache.reserved_memory_percent.value / 100.0)
    }

    /// Serverless prices for `engine`: (USD per GB-hour, USD per 1M ECPU, minimum GB).
    pub fn serverless(&self, engine: Engine) -> (f64, f64, f64) {
        let e = &self.elasticache;
        match engine {
            Engine::RedisOss => (
                e.serverless_redis_gb_hour_usd.value,
                e.serverless_redis_ecpu_per_million_usd.value,
                e.serverless_redis_min_gb.value,
            ),
            Engine::Valkey => (
                e.serverless_valkey_gb_hour_usd.value,
                e.serverless_valkey_ecpu_per_million_usd.value,
                e.serverless_valkey_min_gb.value,
            ),
        }
    }
}
