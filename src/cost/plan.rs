//! ElastiCache capacity planning: memory of a working set and the cheapest node
//! type (and shard count) that holds it.

use serde::{Deserialize, Serialize};

use super::deployment::Engine;
use super::pricing::Pricing;
use super::units::BYTES_PER_GIB;
use super::usage::RedisWorkingSet;

/// Memory a working set needs, bytes: (keys + values + per-key overhead + TTL
/// overhead for keys with a TTL) x fragmentation, with the pricing table's
/// figures (by default 100 B, 32 B, x1.5).
pub fn working_set_memory_bytes(ws: &RedisWorkingSet, pricing: &Pricing) -> f64 {
    let e = &pricing.elasticache;
    let raw = (ws.key_bytes_total + ws.value_bytes_total) as f64
        + ws.keys as f64 * e.key_overhead_bytes.value
        + ws.keys_with_ttl as f64 * e.ttl_overhead_bytes.value;
    raw * e.fragmentation_ratio.value
}

/// Shards needed: ceil(memory / usable memory per node), at least 1.
pub fn shards_for(memory_bytes: f64, usable_bytes_per_node: f64) -> u64 {
    ((memory_bytes / usable_bytes_per_node).ceil() as u64).max(1)
}

/// One way to hold a working set on nodes of one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePlan {
    /// Canonical node type.
    pub node_type: String,
    /// Usable memory of one node, bytes.
    pub usable_bytes_per_node: f64,
    /// Shards (primaries).
    pub shards: u64,
    /// shards x (1 + replicas).
    pub nodes: u64,
    /// Cluster price, USD per hour.
    pub hour_usd: f64,
    /// Cluster price, USD per month (730 h by default).
    pub month_usd: f64,
}

/// Every node type holding `memory_bytes` with `replicas` per shard, cheapest
/// first (ties: fewer shards first).
pub fn node_plans(pricing: &Pricing, memory_bytes: f64, engine: Engine, replicas: u32) -> Vec<NodePlan> {
    let mut plans: Vec<NodePlan> = pricing
        .elasticache_nodes
        .iter()
        .map(|(name, node)| {
            let usable = pricing.node_usable_bytes(node);
            let shards = shards_for(memory_bytes, usable);
            let nodes = shards * (1 + u64::from(replicas));
            let hour_usd = nodes as f64 * pricing.node_hour_usd(node, engine);
            NodePlan {
                node_type: name.clone(),
                usable_bytes_per_node: usable,
                shards,
                nodes,
                hour_usd,
                month_usd: hour_usd * pricing.billing.hours_per_month.value,
            }
        })
        .collect();
    plans.sort_by(|a, b| a.hour_usd.total_cmp(&b.hour_usd).then(a.shards.cmp(&b.shards)));
    plans
}

/// The cheapest node type holding `memory_bytes` in at most `max_shards`
/// shards (1 = no cluster mode). `None` when no type fits.
pub fn cheapest_node(
    pricing: &Pricing,
    memory_bytes: f64,
    engine: Engine,
    replicas: u32,
    max_shards: u64,
) -> Option<NodePlan> {
    node_plans(pricing, memory_bytes, engine, replicas).into_iter().find(|p| p.shards <= max_shards)
}

/// `memory_bytes` in GiB, for reports.
pub fn gib(memory_bytes: f64) -> f64 {
    memory_bytes / BYTES_PER_GIB
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn memory_adds_overheads_then_fragmentation() {
        // 1,000 keys of 30 B with 1,000 B values, all with a TTL:
        // (30 + 1000 + 100 + 32) x 1.5 = 1,743 B per key
        let ws = RedisWorkingSet {
            keys: 1000,
            keys_with_ttl: 1000,
            key_bytes_total: 30_000,
            value_bytes_total: 1_000_000,
        };
        assert!(close(working_set_memory_bytes(&ws, &Pricing::defaults()), 1_743_000.0));
        // without TTLs: (30 + 1000 + 100) x 1.5 = 1,695 B per key
        let ws = RedisWorkingSet { keys_with_ttl: 0, ..ws };
        assert!(close(working_set_memory_bytes(&ws, &Pricing::defaults()), 1_695_000.0));
    }

    #[test]
    fn cheapest_node_may_shard_unless_told_not_to() {
        let p = Pricing::defaults();
        // 1M keys, 40 B key, 1,200 B value, TTL: (40+1200+100+32) x 1.5 = 2,058 B
        // -> 2.058e9 B = 1.9167 GiB.
        let ws = RedisWorkingSet {
            keys: 1_000_000,
            keys_with_ttl: 1_000_000,
            key_bytes_total: 40_000_000,
            value_bytes_total: 1_200_000_000,
        };
        let mem = working_set_memory_bytes(&ws, &p);
        assert!((gib(mem) - 1.9167).abs() < 0.0001);
        // t4g.micro: usable 0.375 GiB -> 6 shards x 0.016 = 0.096/h
        // t4g.small: usable 1.0275 GiB -> 2 shards x 0.032 = 0.064/h  <- cheapest
        // t4g.medium: usable 2.3175 GiB -> 1 shard x 0.065 = 0.065/h  <- cheapest single shard
        let best = cheapest_node(&p, mem, Engine::RedisOss, 0, u64::MAX).unwrap();
        assert_eq!((best.node_type.as_str(), best.shards, best.nodes), ("cache.t4g.small", 2, 2));
        assert!(close(best.hour_usd, 0.064));
        assert!(close(best.month_usd, 0.064 * 730.0));
        let single = cheapest_node(&p, mem, Engine::RedisOss, 0, 1).unwrap();
        assert_eq!(single.node_type, "cache.t4g.medium");
        assert!(close(single.hour_usd, 0.065));
        let micro =
            node_plans(&p, mem, Engine::RedisOss, 0).into_iter().find(|n| n.node_type == "cache.t4g.micro");
        assert_eq!(micro.unwrap().shards, 6);
        // one replica per shard doubles nodes; Valkey is 0.8 x: 2 x 0.065 x 0.8 = 0.104/h
        let ha = cheapest_node(&p, mem, Engine::Valkey, 1, 1).unwrap();
        assert_eq!((ha.node_type.as_str(), ha.nodes), ("cache.t4g.medium", 2));
        assert!(close(ha.hour_usd, 0.104));
        // 30 GiB fits no single node of the table
        assert!(cheapest_node(&p, 30.0 * BYTES_PER_GIB, Engine::RedisOss, 0, 1).is_none());
    }
}
