//! How long the tiers take in the simulator: log-normal defaults, or the
//! distributions a live run measured. A live run's `result.json` is the
//! calibration file: the simulator draws the latency of a request served from
//! L1 or L2 from that run's histogram of the same layer, and Stripe's answer
//! time from its origin-served histogram. The corrected histograms are used
//! (intended start to answer), so the live driver's dispatch lag (timer
//! wake-ups), part of every live figure, is part of the simulated ones too.
//! `calibrate` refuses a live run that fell behind its schedule, whose
//! corrected latencies would hold queueing the simulator models itself.

use std::path::Path;
use std::time::Duration;

use crate::metrics::{Latency, Outcome};
use crate::report::RunResult;
use crate::rng::SplitMix;

/// Quantiles a distribution is drawn from: a draw is one table lookup, so a
/// simulated request costs no logarithm or cosine.
const QUANTILES: usize = 4_096;

/// A latency distribution to draw from: a table of its quantiles (µs).
#[derive(Clone, Debug, PartialEq)]
pub struct Dist {
    /// `QUANTILES` values at shares `(i + 0.5) / QUANTILES`, or a measured
    /// histogram's `(cumulative share, value)` steps.
    table: Table,
}

#[derive(Clone, Debug, PartialEq)]
enum Table {
    Quantiles(Vec<u64>),
    Steps(Vec<(f64, u64)>),
}

/// The standard normal's quantile function (Acklam's rational approximation,
/// relative error below 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

impl Dist {
    /// Log-normal through a median `p50` and a 99th percentile `p99`; zero
    /// when `p50` is zero.
    pub fn log_normal(p50: Duration, p99: Duration) -> Self {
        // z of the 99th percentile of the standard normal.
        const Z99: f64 = 2.326_347_874;
        if p50.is_zero() || p99 <= p50 {
            // No spread: exactly the median (the float path would lose a µs).
            return Dist { table: Table::Quantiles(vec![p50.as_micros() as u64]) };
        }
        let mu = p50.as_secs_f64().ln();
        let sigma = (p99.max(p50).as_secs_f64().ln() - mu) / Z99;
        let at = |i: usize| {
            let z = normal_quantile((i as f64 + 0.5) / QUANTILES as f64);
            ((mu + sigma * z).exp().min(3_600.0) * 1e6) as u64
        };
        Dist { table: Table::Quantiles((0..QUANTILES).map(at).collect()) }
    }

    /// Log-normal through `p50_us` and `p99_us` microseconds.
    pub fn log_normal_us(p50_us: u64, p99_us: u64) -> Self {
        Dist::log_normal(Duration::from_micros(p50_us), Duration::from_micros(p99_us))
    }

    /// The distribution a histogram recorded; `None` when it is empty.
    pub fn measured(h: &Latency) -> Option<Self> {
        let hist = h.histogram();
        let total = hist.len();
        if total == 0 {
            return None;
        }
        let mut seen = 0u64;
        let steps = hist
            .iter_recorded()
            .map(|v| {
                seen += v.count_at_value();
                (seen as f64 / total as f64, hist.highest_equivalent(v.value_iterated_to()))
            })
            .collect();
        Some(Dist { table: Table::Steps(steps) })
    }

    /// One draw, µs.
    pub fn sample(&self, rng: &mut SplitMix) -> u64 {
        match &self.table {
            Table::Quantiles(q) => q[((rng.unit() * q.len() as f64) as usize).min(q.len() - 1)],
            Table::Steps(steps) => {
                let u = rng.unit();
                let i = steps.partition_point(|(c, _)| *c < u).min(steps.len() - 1);
                steps[i].1
            }
        }
    }
}

/// The tiers' latencies.
#[derive(Clone, Debug)]
pub struct TierLatency {
    /// A Redis command (GET, SET, DEL).
    pub redis: Dist,
    /// A DynamoDB request (GetItem, PutItem, UpdateItem).
    pub dynamodb: Dist,
    /// Served-from-layer latencies of a live run (`[L1, L2, origin]`): the
    /// first two replace the modelled sums of L1 and L2 hits, the third is
    /// how long Stripe takes (the tiers' time around it included).
    pub served: [Option<Dist>; 3],
    /// Where they came from (for the result's `endpoints`).
    pub source: String,
}

impl Default for TierLatency {
    /// Loopback Redis and DynamoDB Local as measured on these machines:
    /// Redis GET p50 0.2 ms / p99 1 ms; DynamoDB Local GetItem p50 2 ms / p99 8 ms.
    fn default() -> Self {
        TierLatency {
            redis: Dist::log_normal_us(200, 1_000),
            dynamodb: Dist::log_normal_us(2_000, 8_000),
            served: [None, None, None],
            source: "default tier latencies".into(),
        }
    }
}

/// Why a calibration file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("calibration file {path}: {why}")]
pub struct CalibrationError {
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub why: String,
}

/// The newest `result.json` of a live run under `dir` (a scenario's results
/// directory, whose run ids sort by time); `None` when there is none.
pub fn newest_live_result(dir: &Path) -> Option<std::path::PathBuf> {
    let mut runs: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path().join("result.json"))
        .filter(|p| p.is_file())
        .collect();
    runs.sort();
    runs.into_iter().rev().find(|p| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["mode"] == "live" && v["complete"] == true)
    })
}

impl TierLatency {
    /// The latencies a live run measured: policy `policy` (the first when
    /// `None`) of the `result.json` at `path`.
    pub fn calibrated(path: &Path, policy: Option<&str>) -> Result<Self, CalibrationError> {
        let err = |why: String| CalibrationError { path: path.display().to_string(), why };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        let result: RunResult =
            serde_json::from_str(&text).map_err(|e| err(format!("not a tierbench result.json: {e}")))?;
        if result.mode != "live" {
            return Err(err(format!("it is a {} run; calibrate from a live run", result.mode)));
        }
        let p = match policy {
            Some(name) => result.policies.iter().find(|p| p.name == name),
            None => result.policies.first(),
        }
        .ok_or_else(|| err(format!("it has no policy {}", policy.unwrap_or("at all"))))?;
        let of = |o: Outcome| p.metrics.corrected.get(&o).and_then(Dist::measured);
        let served = [of(Outcome::L1), of(Outcome::L2), of(Outcome::Origin)];
        if served.iter().all(Option::is_none) {
            return Err(err(format!("policy {} served no request", p.name)));
        }
        Ok(TierLatency {
            served,
            source: format!("latencies calibrated from {} [{}]", path.display(), p.name),
            ..TierLatency::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_normal_table_has_its_median_and_99th_percentile() {
        let d = Dist::log_normal(Duration::from_millis(300), Duration::from_millis(1_000));
        let mut rng = SplitMix::new(9);
        let mut draws: Vec<u64> = (0..40_000).map(|_| d.sample(&mut rng)).collect();
        draws.sort_unstable();
        let (p50, p99) = (draws[20_000] as f64 / 1e3, draws[39_600] as f64 / 1e3);
        assert!((290.0..310.0).contains(&p50), "{p50}");
        assert!((950.0..1_050.0).contains(&p99), "{p99}");
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_quantile(0.001) + 3.090_232).abs() < 1e-6);
        assert_eq!(Dist::log_normal_us(0, 5).sample(&mut rng), 0);
    }

    #[test]
    fn a_measured_distribution_draws_what_was_recorded() {
        let mut h = Latency::new();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let d = Dist::measured(&h).unwrap();
        let mut rng = SplitMix::new(4);
        let mut draws: Vec<u64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        draws.sort_unstable();
        let (p50, p99) = (draws[10_000] as f64 / 1e3, draws[19_800] as f64 / 1e3);
        assert!((48.0..53.0).contains(&p50), "{p50}");
        assert!((97.0..101.0).contains(&p99), "{p99}");
        assert!(Dist::measured(&Latency::new()).is_none());
    }
}
