//! The raw serde mirror of a scenario file: exactly what TOML says, with spans
//! so validation can name the line. Unknown keys are rejected here.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub duration: Spanned<String>,
    pub time_scale: Option<Spanned<f64>>,
    #[serde(default)]
    pub workload: RawWorkload,
    #[serde(default)]
    pub callers: RawCallers,
    #[serde(default)]
    pub mutations: RawMutations,
    #[serde(default)]
    pub stripe: RawStripe,
    #[serde(default, rename = "policy")]
    pub policies: Vec<Spanned<RawPolicy>>,
    #[serde(default)]
    pub cost: RawCost,
    #[serde(default, rename = "fault")]
    pub faults: Vec<Spanned<RawFault>>,
    pub thresholds: Option<Spanned<toml::Table>>,
}

/// `[[fault]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub kind: String,
    pub at: String,
    pub duration: String,
    pub latency: Option<String>,
    pub rate: Option<f64>,
}

/// `[cost]`: how the run is priced.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCost {
    pub pricing: Option<Spanned<String>>,
    pub lambda_free_tier: Option<bool>,
    pub deployment: Option<Spanned<crate::cost::Deployment>>,
}

/// `[workload]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub customers: Option<Spanned<i64>>,
    pub accounts: Option<Spanned<i64>>,
    pub popularity: Option<Spanned<RawPopularity>>,
    pub mix: Option<Spanned<BTreeMap<String, f64>>>,
    pub arrival: Option<Spanned<RawArrival>>,
    #[serde(default)]
    pub bursts: Vec<Spanned<RawBurst>>,
}

/// `popularity = { kind = ..., ... }`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawPopularity {
    Uniform,
    Zipf { s: f64 },
    Hotspot { hot_fraction: f64, hot_share: f64 },
    Drifting { s: f64, period: String },
}

/// `arrival = { kind = ..., ... }`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawArrival {
    Constant { rate_per_s: f64 },
    Poisson { rate_per_s: f64 },
    Ramp { stages: Vec<RawStage> },
    Closed { callers: i64 },
}

/// One stage of a ramp.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: String,
    pub rate_per_s: f64,
}

/// `[[workload.bursts]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBurst {
    pub at: String,
    pub duration: String,
    pub rate_per_s: f64,
}

/// `[callers]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCallers {
    pub concurrency: Option<Spanned<i64>>,
    pub cold_starts_per_s: Option<Spanned<f64>>,
}

/// `[mutations]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMutations {
    pub rate_per_s: Option<Spanned<f64>>,
    pub mix: Option<Spanned<BTreeMap<String, f64>>>,
}

/// A TTL: one duration for every kind, or a table per kind with `default`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawTtl {
    One(String),
    PerKind(BTreeMap<String, String>),
}

/// `[[policy]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: String,
    pub l1_ttl: Option<Spanned<RawTtl>>,
    pub l2_ttl: Option<Spanned<RawTtl>>,
    pub jitter: Option<Spanned<f64>>,
    pub coalesce: Option<bool>,
    pub lease: Option<Spanned<RawLease>>,
    pub early_refresh_beta: Option<Spanned<f64>>,
    pub stale_while_revalidate: Option<Spanned<String>>,
    pub stale_if_error: Option<Spanned<String>>,
    pub negative_ttl: Option<Spanned<String>>,
    pub etiquette: Option<Spanned<crate::origin::Etiquette>>,
}

/// `lease = true` or `lease = { ttl = "10s", wait = "2s", poll = "10ms" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawLease {
    On(bool),
    Timed { ttl: Option<String>, wait: Option<String>, poll: Option<String> },
}

/// `[stripe]`: how the mock Stripe behaves.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStripe {
    pub mode: Option<Spanned<String>>,
    pub latency_scale: Option<Spanned<f64>>,
    pub rate_limits: Option<bool>,
    pub webhook_delay_p50: Option<Spanned<String>>,
    pub webhook_delay_p99: Option<Spanned<String>>,
    pub duplicate_rate: Option<Spanned<f64>>,
    pub reorder_rate: Option<Spanned<f64>>,
}
