//! Scenario files: a raw serde mirror of the TOML, validated into a [`Scenario`]
//! the rest of tierbench uses. Every error names the file, line and key.

mod cost;
mod faults;
mod raw;
mod thresholds;
mod units;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use self::faults::{FaultKind, FaultSpec};
pub use self::units::parse_duration;
use crate::chain::TtlPolicy;
use crate::stripe::ObjectKind;

/// A scenario file that cannot be used, and where.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line of the offending value (the file's first line when unknown).
    pub line: usize,
    /// Dotted key path (`workload.arrival.rate_per_s`).
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// A validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Name (by default the file's stem).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Where it was read from.
    pub source: PathBuf,
    /// The one seed every random choice derives from. By default 1.
    pub seed: u64,
    /// How long the run sends load.
    pub duration: Duration,
    /// How many seconds of policy time one second of the run stands for: TTLs
    /// and mutation timing are divided by it. By default 1.
    pub time_scale: f64,
    /// The traffic.
    pub workload: WorkloadSpec,
    /// Lambda-like callers.
    pub callers: CallerSpec,
    /// Changes to Stripe objects during the run.
    pub mutations: MutationSpec,
    /// How the mock Stripe behaves.
    pub stripe: StripeSpec,
    /// The policies to run (at least one; by default the seed's TTLs).
    pub policies: Vec<PolicySpec>,
    /// How the run is priced.
    pub cost: CostSpec,
    /// Faults injected during each policy's run, in start order.
    pub faults: Vec<FaultSpec>,
    /// `[thresholds]`: bounds every policy's result must meet (exit 1 otherwise).
    pub thresholds: Vec<crate::check::Threshold>,
}

/// `[cost]`: the pricing file, pricing options and the deployment to price.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CostSpec {
    /// A pricing file (relative paths are relative to the scenario file);
    /// `None`: the built-in defaults. `--pricing` overrides it.
    pub pricing: Option<PathBuf>,
    /// Whether Lambda's free tier is deducted. By default not.
    pub options: crate::cost::CostOptions,
    /// How the traffic would be deployed (AZs, NAT, Lambda, cache, DynamoDB mode).
    pub deployment: crate::cost::Deployment,
    /// 1-based line of `[cost.deployment]` (for errors found against the pricing file).
    pub deployment_line: usize,
}

/// How the mock Stripe behaves in a live run.
#[derive(Clone, Debug, PartialEq)]
pub struct StripeSpec {
    /// Live mode (100 req/s account limit) or test mode (25 req/s). By default test.
    pub live_mode: bool,
    /// Multiplies Stripe's latencies (0 turns them off). By default 1.
    pub latency_scale: f64,
    /// Whether Stripe's rate limits apply. By default true.
    pub rate_limits: bool,
    /// Median webhook delivery delay. By default 200 ms.
    pub webhook_delay_p50: Duration,
    /// 99th percentile webhook delivery delay. By default 2 s.
    pub webhook_delay_p99: Duration,
    /// Fraction of events delivered twice. By default 0.01.
    pub duplicate_rate: f64,
    /// Fraction of events delivered late, after newer ones. By default 0.01.
    pub reorder_rate: f64,
}

impl Default for StripeSpec {
    fn default() -> Self {
        StripeSpec {
            live_mode: false,
            latency_scale: 1.0,
            rate_limits: true,
            webhook_delay_p50: Duration::from_millis(200),
            webhook_delay_p99: Duration::from_secs(2),
            duplicate_rate: 0.01,
            reorder_rate: 0.01,
        }
    }
}

/// The traffic of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadSpec {
    /// Customers in the key space. By default 1,000.
    pub customers: u64,
    /// Connected accounts the customers are spread over; 0 means the platform
    /// account only. By default 0.
    pub accounts: u32,
    /// Which keys are asked for how often. By default uniform.
    pub popularity: Popularity,
    /// Share of reads per kind; sums to 1. By default customers only.
    pub mix: KindMix,
    /// When requests start. By default Poisson at 100 req/s.
    pub arrival: Arrival,
    /// Extra load on top of the arrival process.
    pub bursts: Vec<Burst>,
}

/// Key popularity.
#[derive(Clone, Debug, PartialEq)]
pub enum Popularity {
    /// Every key equally likely.
    Uniform,
    /// Zipf with exponent `s` over the key rank.
    Zipf {
        /// Exponent (0.99 is typical of web caches).
        s: f64,
    },
    /// A hot set of `hot_fraction` of the keys gets `hot_share` of the requests.
    Hotspot {
        /// Fraction of keys that are hot (0 < f < 1).
        hot_fraction: f64,
        /// Fraction of requests they get (0 < s < 1).
        hot_share: f64,
    },
    /// Zipf whose ranking shifts to other keys every `period`.
    Drifting {
        /// Exponent.
        s: f64,
        /// How often the hot set moves.
        period: Duration,
    },
}

/// Weights per object kind, summing to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct KindMix(pub Vec<(ObjectKind, f64)>);

/// The arrival process.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrival {
    /// Evenly spaced requests (open loop).
    Constant {
        /// Requests per second.
        rate_per_s: f64,
    },
    /// Exponentially spaced requests (open loop).
    Poisson {
        /// Mean requests per second.
        rate_per_s: f64,
    },
    /// Constant-rate stages one after another (open loop); the last one holds.
    Ramp {
        /// The stages.
        stages: Vec<Stage>,
    },
    /// N callers each sending the next request when the last one returns.
    Closed {
        /// Concurrent callers.
        callers: u32,
    },
}

/// One stage of a ramp.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    /// How long it lasts.
    pub duration: Duration,
    /// Requests per second during it.
    pub rate_per_s: f64,
}

/// Extra constant-rate load during a window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Burst {
    /// When it starts, from the run's start.
    pub at: Duration,
    /// How long it lasts.
    pub duration: Duration,
    /// Extra requests per second.
    pub rate_per_s: f64,
}

/// Lambda-like callers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallerSpec {
    /// Callers serving requests at once, each with its own connections. By default 8.
    pub concurrency: u32,
    /// Cold starts per second: a caller drops its connections and makes new
    /// ones. By default 0.
    pub cold_starts_per_s: f64,
}

/// Changes to Stripe objects during the run.
#[derive(Clone, Debug, PartialEq)]
pub struct MutationSpec {
    /// Mutations per second (in policy time). By default 0.
    pub rate_per_s: f64,
    /// Share of mutations per kind. By default customers only.
    pub mix: KindMix,
}

/// A named TTL policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicySpec {
    /// Its name in reports.
    pub name: String,
    /// TTLs and defences in policy time (before `time_scale`).
    pub ttl: TtlPolicy,
    /// How callers treat Stripe: rate budget, retries, breaker, timeouts.
    /// Without an `etiquette` table: none ([`crate::origin::Etiquette::off`]).
    pub etiquette: crate::origin::Etiquette,
}

impl Scenario {
    /// Reads and validates the scenario file at `path`.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file, line and key of the first problem.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.display().to_string(),
            line: 1,
            key: "(file)".into(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Validates scenario `text`, reporting errors against `path`.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file, line and key of the first problem.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        validate::parse(path, text)
    }

    /// `d` of policy time in run time: divided by `time_scale`, saturating at
    /// [`Duration::MAX`] (a tiny `time_scale` validates but would overflow).
    pub fn to_run_time(&self, d: Duration) -> Duration {
        Duration::try_from_secs_f64(d.as_secs_f64() / self.time_scale).unwrap_or(Duration::MAX)
    }

    /// Policy `index` with its TTLs divided by `time_scale`, as a live run uses it.
    pub fn scaled_policy(&self, index: usize) -> TtlPolicy {
        let scale = |d: Duration| self.to_run_time(d);
        let mut p = self.policies[index].ttl.clone();
        p.l1_default = scale(p.l1_default);
        p.l2_default = scale(p.l2_default);
        p.l1.values_mut().for_each(|d| *d = scale(*d));
        p.l2.values_mut().for_each(|d| *d = scale(*d));
        // Windows are policy time; lease timings are the chain's own (wall).
        let d = &mut p.defences;
        (d.stale_while_revalidate, d.stale_if_error) =
            (scale(d.stale_while_revalidate), scale(d.stale_if_error));
        d.negative_ttl = scale(d.negative_ttl);
        p.jitter_seed = self.seed;
        p
    }
}

#[cfg(test)]
mod tests;
