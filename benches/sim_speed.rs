//! The simulator's speed and memory, each against its reference:
//! - simulated requests per second on one thread, on the quickstart scenario's
//!   workload (2 tiers, TTLs, Stripe with its limits, webhooks), against a bare
//!   LRU replay of the same request stream in the same process (the libCacheSim
//!   `cachesim` LRU measured ~7M req/s here: BENCHMARKS.md);
//! - a simulated 24 h at 1,000 req/s (86.4M requests), wall seconds;
//! - peak RSS with ~1M and ~10M keys (memory linear in keys).
//!
//! `cargo bench --bench sim_speed [-- --requests N] [-- --skip-day] [-- --skip-memory]`

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tierbench::scenario::{Arrival, Popularity, Scenario};
use tierbench::sim::space::Requests;
use tierbench::sim::{KeySpace, SimOptions, simulate_over, simulate_policy};

fn quickstart() -> Scenario {
    Scenario::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml")))
        .expect("quickstart")
}

fn peak_rss_mb() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

/// A bare LRU (hash map + recency stamps, evict by scan-free clock) replay of
/// the same stream: the reference a cache simulator's inner loop is held to.
fn lru_replay(s: &Scenario, space: KeySpace, capacity: usize) -> (u64, f64) {
    let mut stamp: HashMap<u32, u64> = HashMap::with_capacity(capacity * 2);
    let mut order = std::collections::VecDeque::new();
    let (mut n, mut hits) = (0u64, 0u64);
    for (i, (_, key)) in Requests::new(s, space).enumerate() {
        n += 1;
        let t = i as u64;
        if stamp.insert(key, t).is_some() {
            hits += 1;
        }
        order.push_back((key, t));
        while stamp.len() > capacity {
            if let Some((k, at)) = order.pop_front()
                && stamp.get(&k) == Some(&at)
            {
                stamp.remove(&k);
            }
        }
        if order.len() > capacity * 8 {
            order.retain(|(k, at)| stamp.get(k) == Some(at));
        }
    }
    (n, hits as f64 / n.max(1) as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value =
        |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse::<f64>().ok());
    let want = value("--requests").unwrap_or(6e6);

    // 1. Quickstart's workload, run long enough for `want` requests.
    let mut s = quickstart();
    let rate = match s.workload.arrival {
        Arrival::Poisson { rate_per_s } => rate_per_s,
        _ => 100.0,
    };
    s.duration = Duration::from_secs_f64(want / rate);
    let space = KeySpace::of(&s);
    let t = Instant::now();
    let run = simulate_policy(&s, 0, &SimOptions::default()).expect("quickstart simulates");
    let sim_s = t.elapsed().as_secs_f64();
    let n = run.metrics.counts.requests;
    let t = Instant::now();
    let (ref_n, ref_hit) = lru_replay(&s, space, space.len());
    let ref_s = t.elapsed().as_secs_f64();
    println!(
        "quickstart workload, {} keys, {:.1} h of run time:",
        space.len(),
        s.duration.as_secs_f64() / 3600.0
    );
    println!(
        "  simulator      {n:>10} requests in {sim_s:6.2} s = {:5.2} M req/s (L1 {:.1} %, {} Stripe calls, {} webhooks)",
        n as f64 / sim_s / 1e6,
        run.metrics.counts.l1_ratio() * 100.0,
        run.stripe.requests,
        run.webhooks.applied
    );
    println!(
        "  bare LRU replay {ref_n:>9} requests in {ref_s:6.2} s = {:5.2} M req/s (hit {:.1} %)",
        ref_n as f64 / ref_s / 1e6,
        ref_hit * 100.0
    );
    println!(
        "  ratio simulator / bare LRU: {:.2}   target >= 2M simulated req/s: {}",
        (n as f64 / sim_s) / (ref_n as f64 / ref_s),
        if n as f64 / sim_s >= 2e6 { "met" } else { "NOT met" }
    );

    // 2. A simulated day at 1,000 req/s, policy time = run time.
    if !flag("--skip-day") {
        let mut day = quickstart();
        day.time_scale = 1.0;
        day.duration = Duration::from_secs(86_400);
        day.workload.arrival = Arrival::Poisson { rate_per_s: 1_000.0 };
        day.callers.concurrency = 1_000;
        let t = Instant::now();
        let run = simulate_policy(&day, 0, &SimOptions::default()).expect("a day simulates");
        let took = t.elapsed().as_secs_f64();
        println!(
            "24 h at 1,000 req/s: {} requests in {took:.1} s ({:.2} M req/s)   target < 60 s: {}",
            run.metrics.counts.requests,
            run.metrics.counts.requests as f64 / took / 1e6,
            if took < 60.0 { "met" } else { "NOT met" }
        );
    }

    // 3. Memory with ~1M then ~10M keys (uniform reads without Stripe's
    // limits, so most reads fill a key).
    if !flag("--skip-memory") {
        let before = peak_rss_mb();
        println!("peak RSS before the memory runs: {before:.0} MB");
        for customers in [170_000u64, 1_700_000] {
            let mut big = quickstart();
            big.workload.customers = customers;
            big.workload.popularity = Popularity::Uniform;
            big.workload.arrival = Arrival::Poisson { rate_per_s: 20_000.0 };
            big.callers.concurrency = 1_000;
            big.duration = Duration::from_secs(100);
            // No 429s and instant answers, so most reads fill a key.
            big.stripe.rate_limits = false;
            big.stripe.latency_scale = 0.0;
            let space = KeySpace::of(&big);
            let run = simulate_over(&big, 0, &SimOptions::default(), space).expect("big simulates");
            println!(
                "{:>10} keys: {} requests, {} L1 fills, peak RSS {:.0} MB (target <= 1,500 MB at 10M keys)",
                space.len(),
                run.metrics.counts.requests,
                run.chain.l1_fills,
                peak_rss_mb()
            );
        }
    }
}
