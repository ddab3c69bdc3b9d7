//! The simulator against theory (a TTL cache under Poisson load; an LRU cache
//! under Zipf load, by Che's approximation) and against itself (determinism).

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::report::PolicyResult;

fn scenario(text: &str) -> Scenario {
    Scenario::parse(Path::new("oracle.toml"), text).unwrap()
}

/// Tiers and Stripe that answer at once, so only the policy decides hits.
fn instant() -> SimOptions {
    let zero = Dist::log_normal_us(0, 0);
    SimOptions {
        latency: TierLatency { redis: zero.clone(), dynamodb: zero, ..TierLatency::default() },
        ..SimOptions::default()
    }
}

fn one_key(rate: f64, ttl_s: f64, duration_s: u64) -> Scenario {
    scenario(&format!(
        "duration = \"{duration_s}s\"\nseed = 11\n[workload]\ncustomers = 1\nmix = {{ customer = 1 }}\n\
         arrival = {{ kind = \"poisson\", rate_per_s = {rate} }}\n[callers]\nconcurrency = 1000\n\
         [stripe]\nlatency_scale = 0\nrate_limits = false\n\
         [[policy]]\nname = \"t\"\nl1_ttl = \"{}ms\"\nl2_ttl = \"100d\"\n",
        (ttl_s * 1e3) as u64
    ))
}

#[test]
fn a_ttl_cache_under_poisson_load_hits_lambda_t_over_1_plus_lambda_t() {
    // A key read at rate lambda with TTL T (no reset on hit) has renewal cycles of
    // one miss then lambda*T hits on average: hit ratio lambda*T / (1 + lambda*T).
    for (rate, ttl_s) in [(1.0, 0.5), (1.0, 2.0), (5.0, 2.0), (2.0, 0.1)] {
        let s = one_key(rate, ttl_s, 40_000);
        let space = KeySpace { customers: 1, invoices: 0 };
        let run = simulate_over(&s, 0, &instant(), space).unwrap();
        let c = &run.metrics.counts;
        let measured = c.l1 as f64 / c.requests as f64;
        let lt = rate * ttl_s;
        let theory = lt / (1.0 + lt);
        assert!(
            (measured - theory).abs() < 0.01,
            "lambda {rate}/s, T {ttl_s} s: simulated {measured:.4}, theory {theory:.4} ({} requests)",
            c.requests
        );
        assert_eq!(c.errors, 0);
    }
}

/// Che's approximation (Che, Tung, Wang 2002): with characteristic time t_c
/// solving sum_i (1 - exp(-p_i t_c)) = C, key i hits with 1 - exp(-p_i t_c).
fn che_hit_ratio(p: &[f64], capacity: f64) -> f64 {
    let filled = |t: f64| p.iter().map(|pi| 1.0 - (-pi * t).exp()).sum::<f64>();
    let (mut lo, mut hi) = (0.0, 1.0);
    while filled(hi) < capacity {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if filled(mid) < capacity { lo = mid } else { hi = mid }
    }
    p.iter().map(|pi| pi * (1.0 - (-pi * lo).exp())).sum()
}

#[test]
fn an_lru_bounded_l1_under_zipf_load_matches_ches_approximation() {
    let (n, s_exp, capacity) = (2_000u64, 0.8, 200u64);
    let s = scenario(&format!(
        "duration = \"300s\"\ntime_scale = 1\nseed = 5\n[workload]\ncustomers = {n}\n\
         popularity = {{ kind = \"zipf\", s = {s_exp} }}\nmix = {{ customer = 1 }}\n\
         arrival = {{ kind = \"constant\", rate_per_s = 2000 }}\n[callers]\nconcurrency = 1000\n\
         [stripe]\nlatency_scale = 0\nrate_limits = false\n\
         [[policy]]\nname = \"lru\"\nl1_ttl = \"100d\"\nl2_ttl = \"100d\"\n"
    ));
    let per_entry = engine::l1_bytes(crate::stripe::ObjectKind::Customer) + redis::PER_KEY_OVERHEAD_BYTES;
    let options =
        SimOptions { l1_maxmemory: Some(capacity * per_entry), eviction: Eviction::ExactLru, ..instant() };
    let space = KeySpace { customers: n, invoices: 0 };
    let run = simulate_over(&s, 0, &options, space).unwrap();
    let c = &run.metrics.counts;
    let measured = c.l1 as f64 / c.requests as f64;
    let weights: Vec<f64> = (1..=n).map(|r| (r as f64).powf(-s_exp)).collect();
    let total: f64 = weights.iter().sum();
    let p: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let theory = che_hit_ratio(&p, capacity as f64);
    assert!(
        (measured - theory).abs() < 0.02,
        "exact LRU of {capacity} of {n} keys, Zipf {s_exp}: simulated {measured:.4}, Che {theory:.4}"
    );
    // Redis's sampled LRU (5 samples) lands near exact LRU, a little below.
    let sampled = SimOptions { eviction: Eviction::AllKeysLru { samples: 5 }, ..options };
    let run = simulate_over(&s, 0, &sampled, space).unwrap();
    let approx = run.metrics.counts.l1 as f64 / run.metrics.counts.requests as f64;
    assert!((approx - measured).abs() < 0.05, "sampled LRU {approx:.4} vs exact {measured:.4}");
}

fn quickstart() -> Scenario {
    Scenario::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml"))).unwrap()
}

fn json(run: &crate::harness::PolicyRun) -> String {
    let pricing = crate::cost::Pricing::defaults();
    let r = PolicyResult::from_run(run, &pricing, &crate::cost::CostOptions::default());
    serde_json::to_string(&r).unwrap()
}

#[test]
fn the_same_scenario_and_seed_give_the_same_result() {
    let s = quickstart();
    let a = simulate_policy(&s, 0, &SimOptions::default()).unwrap();
    let b = simulate_policy(&s, 0, &SimOptions::default()).unwrap();
    assert_eq!(json(&a), json(&b));
    assert!(a.metrics.counts.requests > 2_500 && a.metrics.counts.l1 > 0 && a.chain.l2_fills > 0);
    let mut other = s.clone();
    other.seed += 1;
    let c = simulate_policy(&other, 0, &SimOptions::default()).unwrap();
    assert_ne!(json(&a), json(&c), "another seed, another run");
}

#[test]
fn webhooks_invalidate_and_stale_reads_are_measured_against_the_truth() {
    // Slow webhooks and a long TTL: reads between a change and its webhook are stale.
    let base = "duration = \"200s\"\ntime_scale = 1\nseed = 3\n[workload]\ncustomers = 20\n\
                mix = { customer = 1 }\narrival = { kind = \"poisson\", rate_per_s = 200 }\n\
                [callers]\nconcurrency = 1000\n[mutations]\nrate_per_s = 0.5\nmix = { customer = 1 }\n\
                [stripe]\nlatency_scale = 0\nrate_limits = false\n";
    let slow = scenario(&format!(
        "{base}webhook_delay_p50 = \"5s\"\nwebhook_delay_p99 = \"10s\"\n[[policy]]\nname = \"p\"\nl1_ttl = \"1h\"\n"
    ));
    let space = KeySpace { customers: 20, invoices: 0 };
    let run = simulate_over(&slow, 0, &instant(), space).unwrap();
    let c = &run.metrics.counts;
    assert!(run.webhooks.applied > 50, "{:?}", run.webhooks);
    assert_eq!(run.chain.invalidations, run.webhooks.applied);
    // Each change leaves its key stale until the webhook lands (~5 s of 200 s
    // per change, 100 changes over 20 keys): a few percent of reads.
    let stale = c.stale as f64 / c.requests as f64;
    assert!((0.01..0.2).contains(&stale), "stale share {stale}");
    let age = run.metrics.staleness_age.quantile(0.5);
    assert!(age > Duration::from_secs(1) && age < Duration::from_secs(10), "median stale age {age:?}");
}

#[test]
fn a_stripe_outage_fails_reads_unless_stale_if_error_covers_them() {
    let text = |extra: &str| {
        format!(
            "duration = \"120s\"\ntime_scale = 1\nseed = 8\n[workload]\ncustomers = 50\n\
             mix = {{ customer = 1 }}\narrival = {{ kind = \"poisson\", rate_per_s = 50 }}\n\
             [callers]\nconcurrency = 1000\n[stripe]\nrate_limits = false\n\
             [[fault]]\nkind = \"stripe_outage\"\nat = \"60s\"\nduration = \"30s\"\n\
             [[policy]]\nname = \"p\"\nl1_ttl = \"10s\"\nl2_ttl = \"10s\"\n{extra}"
        )
    };
    let space = KeySpace { customers: 50, invoices: 0 };
    let bare = simulate_over(&scenario(&text("")), 0, &SimOptions::default(), space).unwrap();
    let covered =
        simulate_over(&scenario(&text("stale_if_error = \"1h\"\n")), 0, &SimOptions::default(), space)
            .unwrap();
    assert!(bare.metrics.counts.errors > 100, "{:?}", bare.metrics.counts);
    assert_eq!(bare.faults.len(), 1);
    assert!(bare.faults[0].errors > 100);
    assert!(covered.metrics.counts.errors * 10 < bare.metrics.counts.errors, "{:?}", covered.metrics.counts);
    assert!(covered.chain.stale_if_error > 100);
    for run in [&bare, &covered] {
        let calls: u64 = run.metrics.seconds.iter().map(|s| s.stripe_calls).sum();
        assert_eq!(calls, run.stripe.requests, "Stripe calls per second add up");
        let outage = run.metrics.seconds.iter().filter(|s| (60..90).contains(&s.second));
        assert!(outage.map(|s| s.stripe_calls).sum::<u64>() > 0, "calls to a dead Stripe are calls too");
    }
}
