//! ElastiCache cost: node-hours of the cluster the working set needs, or
//! Serverless GB-hours (with the minimum) plus ECPU.

use super::breakdown::{CacheSizing, ElastiCacheCost};
use super::deployment::CacheDeployment;
use super::error::CostError;
use super::model::RunScale;
use super::plan::{shards_for, working_set_memory_bytes};
use super::pricing::Pricing;
use super::units::{self, BYTES_PER_GIB};
use super::usage::Usage;

pub(crate) fn elasticache_cost(
    usage: &Usage,
    pricing: &Pricing,
    run: &RunScale,
) -> Result<ElastiCacheCost, CostError> {
    let memory_bytes = working_set_memory_bytes(&usage.redis.working_set, pricing);
    let (per_run_usd, sizing) = match &usage.deployment.cache {
        CacheDeployment::Nodes { engine, node_type, replicas } => {
            let (name, node) = pricing.node(node_type)?;
            let usable = pricing.node_usable_bytes(node);
            let shards = shards_for(memory_bytes, usable);
            let nodes = shards * (1 + u64::from(*replicas));
            let node_hour_usd = pricing.node_hour_usd(node, *engine);
            let sizing = CacheSizing::Nodes {
                engine: *engine,
                node_type: name.to_owned(),
                shards,
                nodes,
                usable_bytes_per_node: usable,
                node_hour_usd,
            };
            (nodes as f64 * node_hour_usd * run.hours, sizing)
        }
        CacheDeployment::Serverless { engine } => {
            let (gb_hour_usd, ecpu_per_million_usd, min_gb) = pricing.serverless(*engine);
            let billed_gb = (memory_bytes / BYTES_PER_GIB).max(min_gb);
            let ecpu = usage.redis.ops.sum_by(|op| units::ecpu(op.transferred_bytes));
            let data_usd = billed_gb * gb_hour_usd * run.hours;
            let ecpu_usd = ecpu * ecpu_per_million_usd / 1e6;
            (
                data_usd + ecpu_usd,
                CacheSizing::Serverless { engine: *engine, billed_gb, ecpu, data_usd, ecpu_usd },
            )
        }
    };
    Ok(ElastiCacheCost { cost: run.cost(per_run_usd), memory_bytes, sizing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::deployment::Engine;
    use crate::cost::model::{CostOptions, estimate};
    use crate::cost::usage::{RedisCommand, RedisWorkingSet};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    fn cost(u: &Usage) -> ElastiCacheCost {
        estimate(u, &Pricing::defaults(), &CostOptions::default()).unwrap().elasticache
    }

    fn one_hour(cache: CacheDeployment) -> Usage {
        let mut u = Usage { run_duration_s: 3600.0, requests: 1000, ..Usage::default() };
        u.deployment.cache = cache;
        u
    }

    #[test]
    fn nodes_cost_node_hours_times_nodes() {
        // default: cache.t4g.small, 1 replica -> 1 shard, 2 nodes x 0.032 x 1 h = 0.064
        let u = one_hour(CacheDeployment::default());
        let c = cost(&u);
        assert!(matches!(c.sizing, CacheSizing::Nodes { shards: 1, nodes: 2, .. }), "{:?}", c.sizing);
        assert!(close(c.cost.per_run_usd, 0.064));
        assert!(close(c.cost.per_month_usd, 0.064 * 730.0));
        // Valkey r7g.large, 2 replicas: 3 nodes x 0.219 x 0.8 = 0.5256
        let valkey =
            CacheDeployment::Nodes { engine: Engine::Valkey, node_type: "r7g.large".to_owned(), replicas: 2 };
        assert!(close(cost(&one_hour(valkey)).cost.per_run_usd, 0.5256));
    }

    #[test]
    fn a_working_set_larger_than_a_node_adds_shards() {
        // 1M keys x (40 + 1200 + 100 + 32) B x 1.5 = 1.9167 GiB; t4g.small holds
        // 1.0275 GiB -> 2 shards x (1 + 1 replica) = 4 nodes x 0.032 = 0.128
        let mut u = one_hour(CacheDeployment::default());
        u.redis.working_set = RedisWorkingSet {
            keys: 1_000_000,
            keys_with_ttl: 1_000_000,
            key_bytes_total: 40_000_000,
            value_bytes_total: 1_200_000_000,
        };
        let c = cost(&u);
        assert!(close(c.memory_bytes, 2.058e9));
        assert!(matches!(c.sizing, CacheSizing::Nodes { shards: 2, nodes: 4, .. }), "{:?}", c.sizing);
        assert!(close(c.cost.per_run_usd, 0.128));
    }

    #[test]
    fn serverless_bills_the_minimum_gb_hours_plus_ecpu() {
        let mut u = one_hour(CacheDeployment::Serverless { engine: Engine::RedisOss });
        // 0.5 GiB of data (after overheads) bills the 1 GB minimum: 0.125 x 1 h
        u.redis.working_set = RedisWorkingSet {
            keys: 1,
            keys_with_ttl: 0,
            key_bytes_total: 0,
            value_bytes_total: (1u64 << 29) * 2 / 3 - 100,
        };
        // 1,000 GETs of 2 KB = 2 ECPU each, 1,000 SETs of 100 B = 1 ECPU each
        u.redis.ops.record_n(
            crate::cost::usage::RedisOp { command: RedisCommand::Get, transferred_bytes: 2048 },
            1000,
        );
        u.redis.ops.record_n(
            crate::cost::usage::RedisOp { command: RedisCommand::Set, transferred_bytes: 100 },
            1000,
        );
        let c = cost(&u);
        assert!(close(c.memory_bytes, 0.5 * BYTES_PER_GIB));
        let CacheSizing::Serverless { billed_gb, ecpu, data_usd, ecpu_usd, .. } = c.sizing else {
            panic!("{:?}", c.sizing)
        };
        assert_eq!(billed_gb, 1.0);
        assert_eq!(ecpu, 3000.0);
        assert!(close(data_usd, 0.125));
        assert!(close(ecpu_usd, 3000.0 * 0.0034 / 1e6));
        // Valkey's minimum is 100 MB, so the 0.5 GB is billed: 0.5 x 0.084
        u.deployment.cache = CacheDeployment::Serverless { engine: Engine::Valkey };
        let CacheSizing::Serverless { billed_gb, data_usd, .. } = cost(&u).sizing else { panic!() };
        assert!(close(billed_gb, 0.5));
        assert!(close(data_usd, 0.042));
    }

    #[test]
    fn unknown_node_type_names_the_known_ones() {
        let u = one_hour(CacheDeployment::Nodes {
            engine: Engine::RedisOss,
            node_type: "cache.x9.huge".to_owned(),
            replicas: 0,
        });
        let err = estimate(&u, &Pricing::defaults(), &CostOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("cache.x9.huge") && err.to_string().contains("cache.t4g.micro"),
            "{err}"
        );
    }
}
