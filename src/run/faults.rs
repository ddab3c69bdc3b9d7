//! What callers felt during each injected fault, measured from a run's
//! per-second series (live or simulated alike).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::metrics::{Latency, RunMetrics};
use crate::scenario::FaultSpec;

/// What callers felt during one fault, and how long recovery took.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultWindow {
    /// The fault (`redis_pause`, `stripe_outage`, ...).
    pub kind: String,
    /// Start, seconds from the first intended start.
    pub at_s: f64,
    /// Length, seconds.
    pub duration_s: f64,
    /// The fraction of Stripe requests it hit (1 for whole outages and for
    /// faults that are not Stripe's).
    pub rate: f64,
    /// Requests intended to start in the window.
    pub requests: u64,
    /// Of them, errors returned to callers.
    pub errors: u64,
    /// Served past expiry by a stale window.
    pub stale_served: u64,
    /// Served a version older than the truth.
    pub stale_reads: u64,
    /// Served by Stripe.
    pub origin: u64,
    /// DynamoDB requests the fault delayed or throttled (`dynamodb_latency`,
    /// `dynamodb_throttle`; `None` for other faults).
    #[serde(default)]
    pub injected: Option<u64>,
    /// Corrected p99 of the window's requests, ms.
    pub p99_ms: f64,
    /// Seconds after the fault's end until a whole second had no errors and a
    /// p99 within twice the pre-fault p99; `None` if that never happened.
    pub recovery_s: Option<f64>,
}

/// The fault windows of a run, from its per-second series and what the
/// DynamoDB proxy counted per fault (the live fault driver's `injected`; may be empty).
pub fn windows(faults: &[FaultSpec], metrics: &RunMetrics, injected: &[Option<u64>]) -> Vec<FaultWindow> {
    let bare = faults.iter().enumerate().map(|(i, f)| {
        let w = FaultWindow {
            kind: f.kind.name().to_owned(),
            at_s: f.at.as_secs_f64(),
            duration_s: f.duration.as_secs_f64(),
            rate: f.share,
            injected: injected.get(i).copied().flatten(),
            ..FaultWindow::default()
        };
        (w, f.at.as_secs(), f.end().as_secs_f64().ceil() as u64)
    });
    measure(bare.collect(), metrics)
}

/// `windows` measured again over `metrics` (the merged series of a run's
/// shards): what each window counts is recomputed from the series; its
/// fault, times, rate and injected count are kept.
pub fn remeasure(windows: &[FaultWindow], metrics: &RunMetrics) -> Vec<FaultWindow> {
    // Back to whole nanoseconds, as the schedule had them, so the window's
    // last second rounds up as it did when the run measured it.
    let ns = |s: f64| (s * 1e9).round() as u64;
    let bare = windows.iter().map(|w| {
        let (at, end) = (ns(w.at_s), ns(w.at_s) + ns(w.duration_s));
        let bare = FaultWindow {
            kind: w.kind.clone(),
            at_s: w.at_s,
            duration_s: w.duration_s,
            rate: w.rate,
            injected: w.injected,
            ..FaultWindow::default()
        };
        (bare, at / 1_000_000_000, end.div_ceil(1_000_000_000))
    });
    measure(bare.collect(), metrics)
}

/// Fills in each window's counts from the seconds `[from, to)` of `metrics`.
fn measure(bare: Vec<(FaultWindow, u64, u64)>, metrics: &RunMetrics) -> Vec<FaultWindow> {
    let first_fault = bare.iter().map(|(_, from, _)| *from).min().unwrap_or(u64::MAX);
    let mut before = Latency::default();
    for s in metrics.seconds.iter().filter(|s| s.second < first_fault) {
        before.merge(&s.latency);
    }
    let baseline_ms = before.quantile(0.99).as_secs_f64() * 1e3;
    bare.into_iter()
        .map(|(mut w, from, to)| {
            let mut latency = Latency::default();
            for s in metrics.seconds.iter().filter(|s| s.second >= from && s.second < to) {
                w.requests += s.counts.requests;
                w.errors += s.counts.errors;
                w.stale_served += s.counts.stale_served;
                w.stale_reads += s.counts.stale;
                w.origin += s.counts.origin;
                latency.merge(&s.latency);
            }
            w.p99_ms = latency.quantile(0.99).as_secs_f64() * 1e3;
            w.recovery_s = metrics
                .seconds
                .iter()
                .filter(|s| s.second >= to && s.counts.requests > 0)
                .find(|s| {
                    s.counts.errors == 0
                        && (baseline_ms == 0.0
                            || s.latency.quantile(0.99).as_secs_f64() * 1e3 <= 2.0 * baseline_ms)
                })
                .map(|s| (s.second - to) as f64);
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::scenario::FaultKind;

    #[test]
    fn remeasuring_a_runs_own_windows_changes_nothing() {
        let mut metrics = RunMetrics::default();
        for i in 0..400u64 {
            let intended = Duration::from_millis(i * 10);
            let slow = if (130..200).contains(&i) { 90 } else { 1 + i % 7 };
            metrics.record(&crate::metrics::Sample {
                intended,
                started: intended,
                finished: intended + Duration::from_millis(slow),
                outcome: if i % 9 == 0 {
                    crate::metrics::Outcome::Error
                } else {
                    crate::metrics::Outcome::L1
                },
                stale_age: None,
            });
        }
        let at = |ms: u64, for_ms: u64, kind| FaultSpec {
            kind,
            at: Duration::from_millis(ms),
            duration: Duration::from_millis(for_ms),
            share: 0.25,
        };
        // 1.3 s + 0.7 s ends on a whole second, where rounding could add one.
        let faults = [at(1_300, 700, FaultKind::DynamoThrottle), at(100, 200, FaultKind::RedisPause)];
        let measured = windows(&faults, &metrics, &[Some(12)]);
        assert_eq!(remeasure(&measured, &metrics), measured);
        assert_eq!((measured[0].requests, measured[0].injected), (100, Some(12)));
    }
}
