//! Capacity planning over the simulator: every policy of a scenario at a
//! target request rate, on every cache shape the pricing table knows (one
//! shard of each node type, whose memory bounds the simulated Redis, or
//! serverless) and both DynamoDB capacity modes; the cheapest setup that meets
//! the constraints, the runners-up, and two curves (L1 hit ratio against L1
//! memory, hit ratios against TTL).

use std::time::Duration;

use crate::cost::{CacheDeployment, CostOptions, DynamoCapacity, Pricing, working_set_memory_bytes};
use crate::report::PolicyResult;
use crate::run::PolicyRun;
use crate::scenario::{Arrival, Scenario};
use crate::sim::{KeySpace, SimError, SimOptions, simulate_over};

/// What a setup must meet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constraints {
    /// Stripe calls at the busiest second, at most this share of the account's limit (0-1).
    pub max_stripe_share: f64,
    /// Stale reads, at most this share of reads (0-1).
    pub max_stale: f64,
    /// Corrected p99 at most this.
    pub max_p99: Duration,
    /// Errors, at most this share of requests (0-1).
    pub max_errors: f64,
}

/// One setup, simulated and priced.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The scenario's policy.
    pub policy: String,
    /// `cache.t4g.small x2` (primary + replicas) or `serverless`.
    pub cache: String,
    /// `on_demand` or `provisioned`.
    pub dynamodb: String,
    /// Estimated monthly cost at the target rate; `None` when pricing failed.
    pub monthly_usd: Option<f64>,
    /// Headline numbers of its simulated run.
    pub l1_hit_ratio: f64,
    /// Stale reads / reads.
    pub stale_ratio: f64,
    /// Corrected p99, ms.
    pub p99_ms: f64,
    /// Errors / requests.
    pub error_ratio: f64,
    /// Busiest-second Stripe calls / the account limit.
    pub stripe_share: f64,
    /// The constraints it breaks (empty: it meets them all).
    pub fails: Vec<String>,
}

/// A point of a curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    /// The x value (bytes of L1 memory, or a TTL multiplier).
    pub x: f64,
    /// L1 hit ratio.
    pub l1_hit_ratio: f64,
    /// Share of reads served by either tier (not by Stripe).
    pub cache_hit_ratio: f64,
    /// Stale reads / reads.
    pub stale_ratio: f64,
}

/// The plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Every setup, cheapest first; those meeting the constraints before the others.
    pub candidates: Vec<Candidate>,
    /// L1 hit ratio against L1 memory (bytes) for the best setup's policy.
    pub memory_curve: Vec<CurvePoint>,
    /// Hit ratios against a multiplier of every TTL of that policy.
    pub ttl_curve: Vec<CurvePoint>,
    /// The working set of that policy unbounded, bytes of Redis memory.
    pub working_set_bytes: f64,
}

/// `scenario` at `target_rps`: arrival rates (bursts too) and callers scaled alike.
pub fn at_rate(scenario: &Scenario, target_rps: f64) -> Scenario {
    let mut s = scenario.clone();
    let base = match &s.workload.arrival {
        Arrival::Constant { rate_per_s } | Arrival::Poisson { rate_per_s } => *rate_per_s,
        Arrival::Ramp { stages } => stages.iter().map(|st| st.rate_per_s).fold(0.0, f64::max),
        Arrival::Closed { .. } => return s,
    };
    let k = if base > 0.0 { target_rps / base } else { 1.0 };
    match &mut s.workload.arrival {
        Arrival::Constant { rate_per_s } | Arrival::Poisson { rate_per_s } => *rate_per_s *= k,
        Arrival::Ramp { stages } => stages.iter_mut().for_each(|st| st.rate_per_s *= k),
        Arrival::Closed { .. } => {}
    }
    s.workload.bursts.iter_mut().for_each(|b| b.rate_per_s *= k);
    s.callers.concurrency = ((f64::from(s.callers.concurrency) * k).ceil() as u32).max(s.callers.concurrency);
    s
}

fn ratio(run: &PolicyRun) -> (f64, f64, f64) {
    let c = &run.metrics.counts;
    let n = c.requests.max(1) as f64;
    (c.l1 as f64 / n, (c.l1 + c.l2) as f64 / n, c.stale as f64 / n)
}

/// Plans `scenario` at `target_rps`.
///
/// # Errors
/// [`SimError`] when a policy cannot be simulated.
pub fn plan(
    scenario: &Scenario,
    target_rps: f64,
    constraints: &Constraints,
    pricing: &Pricing,
    cost_options: &CostOptions,
    options: &SimOptions,
) -> Result<Plan, SimError> {
    let s = at_rate(scenario, target_rps);
    let space = KeySpace::of(&s);
    let (engine, replicas) = match &s.cost.deployment.cache {
        CacheDeployment::Nodes { engine, replicas, .. } => (*engine, *replicas),
        CacheDeployment::Serverless { engine } => (*engine, 1),
    };
    let mut shapes: Vec<(String, CacheDeployment, Option<u64>)> =
        vec![("serverless".into(), CacheDeployment::Serverless { engine }, None)];
    for (name, node) in &pricing.elasticache_nodes {
        let usable = pricing.node_usable_bytes(node) as u64;
        let cache = CacheDeployment::Nodes { engine, node_type: name.clone(), replicas };
        shapes.push((format!("{name} x{}", 1 + replicas), cache, Some(usable)));
    }
    let mut candidates = Vec::new();
    for index in 0..s.policies.len() {
        let mut memo: Vec<(Option<u64>, PolicyRun)> = Vec::new();
        for (label, cache, memory) in &shapes {
            let pos = match memo.iter().position(|(m, _)| m == memory) {
                Some(p) => p,
                None => {
                    let o = SimOptions { l1_maxmemory: *memory, ..options.clone() };
                    memo.push((*memory, simulate_over(&s, index, &o, space)?));
                    memo.len() - 1
                }
            };
            let run = &memo[pos].1;
            for capacity in
                [DynamoCapacity::OnDemand, DynamoCapacity::Provisioned { target_utilisation: None }]
            {
                candidates.push(price(
                    run,
                    label,
                    cache,
                    *memory,
                    capacity,
                    &s,
                    pricing,
                    cost_options,
                    constraints,
                ));
            }
        }
    }
    candidates.sort_by(|a, b| {
        a.fails
            .is_empty()
            .cmp(&b.fails.is_empty())
            .reverse()
            .then(a.monthly_usd.unwrap_or(f64::MAX).total_cmp(&b.monthly_usd.unwrap_or(f64::MAX)))
    });
    let best = candidates.first().map(|c| c.policy.clone()).unwrap_or_default();
    let index = s.policies.iter().position(|p| p.name == best).unwrap_or(0);
    let unbounded = simulate_over(&s, index, &SimOptions { l1_maxmemory: None, ..options.clone() }, space)?;
    let working_set_bytes = working_set_memory_bytes(&unbounded.usage.redis.working_set, pricing);
    let mut memory_curve = Vec::new();
    for share in [0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0] {
        let bytes = (working_set_bytes * share).max(4096.0);
        let o = SimOptions { l1_maxmemory: Some(bytes as u64), ..options.clone() };
        let (l1, cache, stale) = ratio(&simulate_over(&s, index, &o, space)?);
        memory_curve.push(CurvePoint {
            x: bytes,
            l1_hit_ratio: l1,
            cache_hit_ratio: cache,
            stale_ratio: stale,
        });
    }
    let mut ttl_curve = Vec::new();
    for k in [0.25, 0.5, 1.0, 2.0, 4.0, 8.0] {
        let mut t = s.clone();
        let p = &mut t.policies[index].ttl;
        p.l1_default = p.l1_default.mul_f64(k);
        p.l2_default = p.l2_default.mul_f64(k);
        p.l1.values_mut().for_each(|d| *d = d.mul_f64(k));
        p.l2.values_mut().for_each(|d| *d = d.mul_f64(k));
        let (l1, cache, stale) = ratio(&simulate_over(&t, index, options, space)?);
        ttl_curve.push(CurvePoint { x: k, l1_hit_ratio: l1, cache_hit_ratio: cache, stale_ratio: stale });
    }
    Ok(Plan { candidates, memory_curve, ttl_curve, working_set_bytes })
}

#[allow(clippy::too_many_arguments)]
fn price(
    run: &PolicyRun,
    label: &str,
    cache: &CacheDeployment,
    memory: Option<u64>,
    capacity: DynamoCapacity,
    s: &Scenario,
    pricing: &Pricing,
    cost_options: &CostOptions,
    constraints: &Constraints,
) -> Candidate {
    let mut usage = run.usage.clone();
    usage.deployment.cache = cache.clone();
    usage.deployment.dynamodb_capacity = capacity;
    // maxmemory bounds what one shard holds: price the shard, not the
    // unbounded working set.
    if let Some(bytes) = memory {
        let need = working_set_memory_bytes(&usage.redis.working_set, pricing);
        if need > bytes as f64 {
            let k = bytes as f64 / need * 0.99;
            let ws = &mut usage.redis.working_set;
            ws.keys = (ws.keys as f64 * k) as u64;
            ws.keys_with_ttl = (ws.keys_with_ttl as f64 * k) as u64;
            ws.key_bytes_total = (ws.key_bytes_total as f64 * k) as u64;
            ws.value_bytes_total = (ws.value_bytes_total as f64 * k) as u64;
        }
    }
    let priced = PolicyRun { usage, ..run.clone() };
    let r = PolicyResult::from_run(&priced, pricing, cost_options);
    let m = &r.summary;
    let limit = if s.stripe.live_mode { 100.0 } else { 25.0 };
    let peak = run.usage.stripe.peak_calls_per_s.unwrap_or(0.0);
    let stripe_share = peak / limit;
    let mut fails = Vec::new();
    if stripe_share > constraints.max_stripe_share {
        fails.push(format!("Stripe {:.0} % of limit", stripe_share * 100.0));
    }
    if m.stale_read_ratio > constraints.max_stale {
        fails.push(format!("stale {:.2} %", m.stale_read_ratio * 100.0));
    }
    if m.p99_ms > constraints.max_p99.as_secs_f64() * 1e3 {
        fails.push(format!("p99 {:.0} ms", m.p99_ms));
    }
    if m.error_ratio > constraints.max_errors {
        fails.push(format!("errors {:.2} %", m.error_ratio * 100.0));
    }
    if r.cost.is_none() {
        fails.push(format!("no price: {}", r.cost_error.clone().unwrap_or_default()));
    }
    Candidate {
        policy: run.name.clone(),
        cache: label.to_owned(),
        dynamodb: match capacity {
            DynamoCapacity::OnDemand => "on_demand".into(),
            DynamoCapacity::Provisioned { .. } => "provisioned".into(),
        },
        monthly_usd: m.cost_per_month_usd,
        l1_hit_ratio: m.l1_hit_ratio,
        stale_ratio: m.stale_read_ratio,
        p99_ms: m.p99_ms,
        error_ratio: m.error_ratio,
        stripe_share,
        fails,
    }
}
