//! The virtual-time simulator: the live chain's decisions ([`crate::chain::policy`],
//! [`crate::chain::defences`]) driven by a discrete-event loop over models of
//! Redis (TTL, lazy expiry, `maxmemory` eviction), DynamoDB (lazy TTL
//! deletion), Stripe (the mock's latency, limits and faults) and webhook
//! delivery, so hours of policy time run in seconds. It returns the same
//! [`PolicyRun`] a live run does; results say `mode: simulated`.

pub mod calibrate;
mod engine;
pub mod latency;
#[cfg(test)]
mod parity;
pub mod plan;
mod record;
pub mod redis;
pub mod space;
pub mod stripe;
#[cfg(test)]
mod tests;
mod tiers;

use std::time::Duration;

pub use self::latency::{CalibrationError, Dist, TierLatency, newest_live_result};
pub use self::record::MAX_SERIES;
pub use self::redis::{Eviction, RedisModel};
pub use self::space::{KeySpace, data_bytes};
use crate::mock::CounterSnapshot;
use crate::origin::EtiquetteSnapshot;
use crate::rng::mix;
use crate::run::{PolicyRun, faults, usage_of};
use crate::scenario::Scenario;

/// How the simulator models what a scenario does not say.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Tier latencies (defaults, or calibrated from a live run).
    pub latency: TierLatency,
    /// Redis `maxmemory`, bytes; `None`: unbounded (as the live runs' Redis).
    pub l1_maxmemory: Option<u64>,
    /// Redis `maxmemory-policy` when bounded.
    pub eviction: Eviction,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            latency: TierLatency::default(),
            l1_maxmemory: None,
            eviction: Eviction::AllKeysLru { samples: 5 },
        }
    }
}

/// What the simulator cannot run (yet), naming the scenario key.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A scenario feature without a model.
    #[error("{file}: {key}: {why}")]
    Unsupported {
        /// The scenario file.
        file: String,
        /// The key (`workload.arrival`, `policy.etiquette.budget`, ...).
        key: String,
        /// What is missing and what to do instead.
        why: String,
    },
}

/// Refuses a scenario feature the simulator has no model of.
pub fn check(scenario: &Scenario) -> Result<(), SimError> {
    let refuse = |key: &str, why: &str| {
        Err(SimError::Unsupported {
            file: scenario.source.display().to_string(),
            key: key.into(),
            why: why.into(),
        })
    };
    if crate::workload::Workload::closed_loop(scenario).is_some() {
        return refuse(
            "workload.arrival",
            "closed-loop arrivals are not simulated; use an open-loop arrival or run live",
        );
    }
    Ok(())
}

/// Simulates policy `index` of `scenario` with fresh caches, as
/// [`crate::harness::run_policy`] runs it live: the same requests (seeded
/// alike), the same time compression, the same outputs.
///
/// # Errors
/// [`SimError`] when the scenario uses something without a model.
pub fn simulate_policy(
    scenario: &Scenario,
    index: usize,
    options: &SimOptions,
) -> Result<PolicyRun, SimError> {
    let space = KeySpace::of(scenario);
    simulate_over(scenario, index, options, space)
}

/// [`simulate_policy`] over a given key space (tests and `plan` size it).
///
/// # Errors
/// As [`simulate_policy`].
pub fn simulate_over(
    scenario: &Scenario,
    index: usize,
    options: &SimOptions,
    space: KeySpace,
) -> Result<PolicyRun, SimError> {
    check(scenario)?;
    let seed = mix(scenario.seed, 40 + index as u64);
    let policy = scenario.scaled_policy(index);
    let redis = RedisModel::new(space.len(), options.l1_maxmemory, options.eviction, mix(seed, 3));
    let tiers = tiers::TierCosts::new(options.latency.clone(), &scenario.faults, mix(seed, 4));
    let etiquette = &scenario.policies[index].etiquette;
    let engine = engine::Engine::new(scenario, policy.clone(), space, redis, tiers, seed, etiquette);
    let out = engine.run(space::Requests::new(scenario, space), space::Mutations::new(scenario, space));
    let peaks = out.recorder.peaks();
    let step = out.recorder.step();
    let (mut metrics, mut tally) = out.recorder.finish();
    tally.add_meter(&out.meter);
    for (second, calls) in (0u64..).zip(&out.stripe.calls_per_second) {
        metrics.add_stripe_calls(second / step * step, u64::from(*calls));
    }
    let wall = Duration::from_micros(out.last_finish).max(scenario.duration);
    let mut stripe: CounterSnapshot = out.stripe.counters;
    stripe.mutations = out.mutations;
    stripe.events = out.mutations;
    stripe.webhooks.delivered = out.webhooks.applied + out.webhooks.duplicates;
    stripe.webhooks.attempts_failed = out.webhooks.refused_down;
    let key_space = space.len() as u64;
    let usage =
        usage_of(tally, &metrics, peaks, &out.chain, &out.webhooks, &stripe, key_space, scenario, wall);
    let faults = faults::windows(&scenario.faults, &metrics, &out.tiers.injected_report());
    Ok(PolicyRun {
        name: scenario.policies[index].name.clone(),
        ttl: policy,
        rate_limited: stripe.rate_limited.total(),
        metrics,
        chain: out.chain,
        stripe,
        webhooks: out.webhooks,
        cold_starts: 0,
        wall,
        usage,
        interrupted: false,
        etiquette: EtiquetteSnapshot::default(),
        faults,
    })
}
