//! The parity test of the read path's two drivers: one scripted sequence of
//! requests (bursts on a few keys, so misses overlap), object changes (each
//! followed by its webhook) and a Stripe outage goes through the live chain
//! (on in-memory tiers and a scripted origin, in tokio's paused time) and
//! through the simulator's engine (on the same fixed latencies), for every
//! defence (negative caching aside: the simulated Stripe answers no 404s, so
//! that policy runs as one without). Each request must finish at the same instant, served by the same
//! layer with the same version; the chain's counters and the meter's
//! operation counts must be equal.
//!
//! The script stays off what the simulator models otherwise (its named
//! options, `sim::engine`): it steps one read at a time, so a read sees the
//! tiers as they were when it started, plus its own writes and the misses in
//! flight it joins. So no object changes between a read's start and its
//! fetch, no lookup coincides with another read's write to the microsecond,
//! and no tier outage makes reads long enough to span another read's fill
//! (the next step: reads suspended in the event queue between steps).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::chain::meter::Op;
use crate::chain::{CacheChain, ChainGroup, Layer};
use crate::clock::{Clock, SharedClock, Timestamp};
use crate::metrics::Outcome;
use crate::origin::{Origin, OriginError, OriginObject};
use crate::rng::SplitMix;
use crate::scenario::Scenario;
use crate::sim::engine::{Engine, Outputs, Traced, ts};
use crate::sim::latency::{Dist, TierLatency};
use crate::sim::redis::{Eviction, RedisModel};
use crate::sim::space::{Key, KeySpace};
use crate::sim::tiers::TierCosts;
use crate::store::memory::{Behaviour, MemoryL1, MemoryL2};
use crate::stripe::{CacheKey, ObjectKind};

const REDIS_MS: u64 = 1;
const DYNAMO_MS: u64 = 3;
const STRIPE_MS: u64 = 155;
const WEBHOOK_MS: u64 = 50;
/// The simulator's: Stripe refuses in 2 ms in an outage.
const REFUSAL_MS: u64 = 2;

const SCENARIO: &str = r#"
name = "parity"
seed = 5
duration = "20s"
time_scale = 1

[workload]
customers = 4
mix = { customer = 1.0 }
arrival = { kind = "constant", rate_per_s = 10 }

[callers]
concurrency = 1000

[stripe]
latency_scale = 0
rate_limits = false
webhook_delay_p50 = "50ms"
webhook_delay_p99 = "50ms"
duplicate_rate = 0

[[fault]]
kind = "stripe_outage"
at = "12s"
duration = "2s"

[[policy]]
name = "none"
l1_ttl = "1s"
l2_ttl = "3s"

[[policy]]
name = "coalesce"
l1_ttl = "1s"
l2_ttl = "3s"
coalesce = true

[[policy]]
name = "lease"
l1_ttl = "1s"
l2_ttl = "3s"
lease = { wait = "300ms" }

[[policy]]
name = "xfetch"
l1_ttl = "1s"
l2_ttl = "3s"
early_refresh_beta = 1.0

[[policy]]
name = "swr"
l1_ttl = "1s"
l2_ttl = "3s"
stale_while_revalidate = "2s"

[[policy]]
name = "stale-if-error"
l1_ttl = "1s"
l2_ttl = "3s"
stale_if_error = "30s"

[[policy]]
name = "negative"
l1_ttl = "1s"
l2_ttl = "3s"
negative_ttl = "5s"

[[policy]]
name = "jitter"
l1_ttl = "1s"
l2_ttl = "3s"
jitter = 0.4
"#;

fn ms(v: u64) -> u64 {
    v * 1_000
}

/// Requests (µs, key): bursts every 130 ms on random keys, at multiples of
/// 10 ms; object changes at 37 ms past a tenth of a second.
/// (µs, key) pairs in time order.
type Timed = Vec<(u64, Key)>;

fn script() -> (Timed, Timed) {
    let mut rng = SplitMix::new(11);
    let mut requests = Vec::new();
    let mut at = 0;
    while at < ms(19_000) {
        let burst = 1 + (rng.unit() * 4.0) as u64;
        for i in 0..burst {
            let key = (rng.unit() * 4.0) as Key;
            requests.push((at + ms(10 * (i % 2)), key));
        }
        at += ms(130);
    }
    requests.sort_by_key(|(t, _)| *t);
    let mutations = (1..18).map(|s| (ms(s * 1_000 + 337), (s % 4) as Key)).collect();
    (requests, mutations)
}

/// Time as tokio's (paused) clock tells it, on the simulator's epoch.
#[derive(Debug)]
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        ts(self.0.elapsed().as_micros() as u64)
    }
}

/// Stripe as the simulator models it: a fixed latency, each object's version,
/// and a 503 in the outage window.
#[derive(Debug, Clone)]
struct ScriptedOrigin {
    clock: SharedClock,
    versions: Arc<Mutex<HashMap<String, u64>>>,
    outage: (Timestamp, Timestamp),
}

impl Origin for ScriptedOrigin {
    async fn fetch(&self, key: &CacheKey) -> Result<OriginObject, OriginError> {
        let now = self.clock.now();
        if (self.outage.0..self.outage.1).contains(&now) {
            tokio::time::sleep(Duration::from_millis(REFUSAL_MS)).await;
            return Err(OriginError::Status { status: 503, message: String::new(), should_retry: None });
        }
        let version = *self.versions.lock().unwrap().get(&key.id).unwrap_or(&1);
        tokio::time::sleep(Duration::from_millis(STRIPE_MS)).await;
        Ok(OriginObject {
            data: format!("{{\"id\":\"{}\",\"v\":{version}}}", key.id),
            version,
            api_version: "x".into(),
        })
    }
}

fn key_of(space: &KeySpace, k: Key) -> CacheKey {
    CacheKey::new(ObjectKind::Customer, space.name(k))
}

/// What the live driver did: per request, the chain's counters, the meter.
type LiveRun = (Vec<Traced>, crate::chain::ChainCounters, crate::chain::MeterCounts);

fn live(scenario: &Scenario, index: usize, space: KeySpace) -> LiveRun {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    rt.block_on(async {
        let clock: SharedClock = Arc::new(TokioClock(tokio::time::Instant::now()));
        let window = |f: &crate::scenario::FaultSpec| {
            (ts(f.at.as_micros() as u64), ts((f.at + f.duration).as_micros() as u64))
        };
        let stripe_down = window(&scenario.faults[0]);
        let redis = Behaviour { latency: Duration::from_millis(REDIS_MS), ..Behaviour::default() };
        let dynamo = Behaviour { latency: Duration::from_millis(DYNAMO_MS), ..Behaviour::default() };
        let versions = Arc::new(Mutex::new(HashMap::new()));
        let origin = ScriptedOrigin { clock: clock.clone(), versions: versions.clone(), outage: stripe_down };
        let chain = CacheChain::new(
            MemoryL1::new(clock.clone(), redis),
            MemoryL2::new(clock.clone(), dynamo),
            origin,
            scenario.scaled_policy(index),
            clock.clone(),
        )
        .in_group(&ChainGroup::default());
        let t0 = tokio::time::Instant::now();
        let (requests, mutations) = script();
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (at, k) in mutations {
            let (versions, chain, key) = (versions.clone(), chain.clone(), key_of(&space, k));
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(t0 + Duration::from_micros(at)).await;
                *versions.lock().unwrap().entry(key.id.clone()).or_insert(1) += 1;
                tokio::time::sleep(Duration::from_millis(WEBHOOK_MS)).await;
                chain.invalidate(&key).await.expect("in-memory tiers up");
            }));
        }
        for (at, k) in requests {
            let (chain, served, key) = (chain.clone(), served.clone(), key_of(&space, k));
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(t0 + Duration::from_micros(at)).await;
                let result = chain.read(&key).await;
                let finished = t0.elapsed().as_micros() as u64;
                let (outcome, version) = match &result {
                    Ok(s) if s.stale => (Outcome::Stale, Some(s.entry.version as u32)),
                    Ok(s) => (
                        match s.layer {
                            Layer::L1 => Outcome::L1,
                            Layer::L2 => Outcome::L2,
                            Layer::Origin => Outcome::Origin,
                        },
                        Some(s.entry.version as u32),
                    ),
                    Err(_) => (Outcome::Error, None),
                };
                served.lock().unwrap().push(Traced { key: k, start: at, finished, outcome, version });
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Background refreshes still running.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut trace = served.lock().unwrap().clone();
        trace.sort_by_key(|t| (t.start, t.finished, t.version));
        (trace, chain.stats().snapshot(), chain.meter().snapshot())
    })
}

fn simulated(scenario: &Scenario, index: usize, space: KeySpace) -> Outputs {
    let latency = TierLatency {
        redis: Dist::log_normal_us(ms(REDIS_MS), ms(REDIS_MS)),
        dynamodb: Dist::log_normal_us(ms(DYNAMO_MS), ms(DYNAMO_MS)),
        served: [None, None, None],
        source: "parity".into(),
    };
    let tiers = TierCosts::new(latency, &scenario.faults, 1);
    let redis = RedisModel::new(space.len(), None, Eviction::ExactLru, 2);
    let etiquette = &scenario.policies[index].etiquette;
    let engine =
        Engine::new(scenario, scenario.scaled_policy(index), space, redis, tiers, 3, etiquette).traced();
    let engine = engine.with_fixed_origin(ms(STRIPE_MS));
    let (requests, mutations) = script();
    let mut out = engine.run(requests.into_iter(), mutations.into_iter());
    out.trace.sort_by_key(|t| (t.start, t.finished, t.version));
    out
}

#[test]
fn live_and_simulated_drivers_take_the_same_steps_for_every_defence() {
    let scenario = Scenario::parse(std::path::Path::new("parity.toml"), SCENARIO).expect("a valid scenario");
    let space = KeySpace::of(&scenario);
    for (index, policy) in scenario.policies.iter().enumerate() {
        let (trace, chain, meter) = live(&scenario, index, space);
        let sim = simulated(&scenario, index, space);
        assert_eq!(trace.len(), sim.trace.len(), "{}: requests", policy.name);
        for (i, (l, s)) in trace.iter().zip(&sim.trace).enumerate() {
            if l != s {
                let show = |t: &[Traced]| {
                    t[..=i]
                        .iter()
                        .filter(|x| x.key == l.key)
                        .rev()
                        .take(20)
                        .map(|x| format!("  {x:?}\n"))
                        .collect::<String>()
                };
                panic!(
                    "{}: request {i} differs; live:\n{}simulated:\n{}",
                    policy.name,
                    show(&trace),
                    show(&sim.trace)
                );
            }
        }
        assert_eq!(chain, sim.chain, "{}: counters, live (left) and simulated (right)", policy.name);
        // Each defence did something to compare.
        let fired = match policy.name.as_str() {
            "coalesce" => chain.coalesced,
            "lease" => chain.lease_waits,
            "xfetch" => chain.early_refreshes,
            "swr" => chain.stale_served,
            "stale-if-error" => chain.stale_if_error,
            // No defence acts here; the script's outage, L2 hits and refused
            // fills (invalidations racing fetches) must have happened. The
            // simulated Stripe answers no 404s, so `negative` runs as `none`.
            _ => chain.origin_errors.min(chain.l2_hits).min(chain.resurrections_refused),
        };
        assert!(fired > 0, "{}: the defence never acted: {chain:?}", policy.name);
        for op in Op::ALL {
            assert_eq!(
                meter.count(op),
                sim.meter.count(op),
                "{}: {op:?} metered, live (left) and simulated (right)",
                policy.name
            );
        }
    }
}
