//! The simulator's recorder: the live recorder's figures (the same
//! [`RunMetrics`]) without its per-request map lookups, and the Lambda time
//! the cost model prices (the tiers' and Stripe's operations are metered by
//! the driver, [`crate::chain::meter`]).

use std::time::Duration;

use crate::cost::units::billed_ms;
use crate::metrics::{Latency, Outcome, RunMetrics, Sample, Second};
use crate::run::Peaks;
use crate::run::usage::UsageTally;

const OUTCOMES: [Outcome; 5] = [Outcome::L1, Outcome::L2, Outcome::Origin, Outcome::Stale, Outcome::Error];

pub use crate::run::MAX_SERIES;

/// Requests recorded as they finish.
#[derive(Debug, Default)]
pub struct Recorder {
    metrics: RunMetrics,
    /// Seconds per time-series entry.
    step: u64,
    /// Exact per-second peaks' inputs: (L1 misses, origin-served, reached Stripe).
    per_second: Vec<[u32; 3]>,
    corrected: [Latency; 5],
    uncorrected: [Latency; 5],
    billed_ms: u64,
}

impl Recorder {
    /// A recorder for a run of `duration`: its time series in steps of
    /// `ceil(duration / MAX_SERIES)` seconds (1 s up to 5 minutes).
    pub fn new(duration: Duration) -> Self {
        let step = duration.as_secs().div_ceil(MAX_SERIES).max(1);
        Recorder { step, ..Recorder::default() }
    }

    /// Records one request.
    pub fn record(&mut self, s: &Sample) {
        let i = OUTCOMES.iter().position(|o| *o == s.outcome).unwrap_or(4);
        let corrected = s.finished.saturating_sub(s.intended);
        self.corrected[i].record(corrected);
        let service = s.finished.saturating_sub(s.started);
        self.uncorrected[i].record(service);
        self.metrics.counts.count(s);
        if let Some(age) = s.stale_age {
            self.metrics.staleness_age.record(age);
        }
        let second = s.intended.as_secs();
        let bucket = self.second(second);
        bucket.counts.count(s);
        bucket.latency.record(corrected);
        let i = second as usize;
        if self.per_second.len() <= i {
            self.per_second.resize(i + 1, [0; 3]);
        }
        let p = &mut self.per_second[i];
        let (reached, origin) = match s.outcome {
            Outcome::Origin => (true, true),
            Outcome::Error => (true, false),
            _ => (false, false),
        };
        p[0] += u32::from(reached || s.outcome == Outcome::L2);
        p[1] += u32::from(origin);
        p[2] += u32::from(reached);
        self.billed_ms += billed_ms(service);
    }

    /// Counts a request scheduled at `intended` that no caller could send.
    pub fn dropped(&mut self, intended: Duration) {
        self.metrics.counts.dropped += 1;
        self.second(intended.as_secs()).counts.dropped += 1;
    }

    fn second(&mut self, second: u64) -> &mut Second {
        let second = second / self.step.max(1) * self.step.max(1);
        let seconds = &mut self.metrics.seconds;
        // Requests come in intended-start order: almost always the last entry.
        if seconds.last().is_some_and(|s| s.second == second) {
            let last = seconds.len() - 1;
            return &mut seconds[last];
        }
        if seconds.last().is_none_or(|s| s.second < second) {
            seconds.push(Second { second, ..Second::default() });
        }
        let i = seconds.partition_point(|s| s.second < second);
        if seconds[i].second != second {
            seconds.insert(i, Second { second, ..Second::default() });
        }
        &mut seconds[i]
    }

    /// Seconds per entry of the time series.
    pub fn step(&self) -> u64 {
        self.step.max(1)
    }

    /// The busiest second's counts, from the exact per-second counts.
    pub fn peaks(&self) -> Peaks {
        let max = |i: usize| self.per_second.iter().map(|p| u64::from(p[i])).max().unwrap_or(0);
        Peaks { reads: max(0), fills: max(1), stripe: max(2) }
    }

    /// The measurements and the Lambda usage.
    pub fn finish(mut self) -> (RunMetrics, UsageTally) {
        for (i, o) in OUTCOMES.iter().enumerate() {
            if self.corrected[i].count() > 0 {
                self.metrics.corrected.insert(*o, std::mem::take(&mut self.corrected[i]));
                self.metrics.uncorrected.insert(*o, std::mem::take(&mut self.uncorrected[i]));
            }
        }
        let mut tally = UsageTally::default();
        tally.lambda.invocations = self.metrics.counts.requests;
        tally.lambda.billed_duration_ms_total = self.billed_ms;
        (self.metrics, tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Layer;

    #[test]
    fn records_as_the_live_recorder_does() {
        let ms = Duration::from_millis;
        let samples = [
            (
                Sample {
                    intended: ms(0),
                    started: ms(0),
                    finished: ms(3),
                    outcome: Outcome::Origin,
                    stale_age: None,
                },
                Some(Layer::Origin),
            ),
            (
                Sample {
                    intended: ms(10),
                    started: ms(10),
                    finished: ms(11),
                    outcome: Outcome::L1,
                    stale_age: Some(ms(40)),
                },
                Some(Layer::L1),
            ),
            (
                Sample {
                    intended: ms(1_200),
                    started: ms(1_300),
                    finished: ms(1_305),
                    outcome: Outcome::Error,
                    stale_age: None,
                },
                None,
            ),
        ];
        let (mut live, mut sim) = (RunMetrics::default(), Recorder::new(Duration::from_secs(3)));
        for (s, _layer) in &samples {
            live.record(s);
            sim.record(s);
        }
        live.record_dropped(ms(2_500));
        sim.dropped(ms(2_500));
        assert_eq!(sim.peaks(), Peaks::of(&live));
        let (m, tally) = sim.finish();
        assert_eq!(m, live);
        assert_eq!(tally.lambda.invocations, 3);
        assert_eq!(tally.lambda.billed_duration_ms_total, 3 + 1 + 5);
    }

    #[test]
    fn a_long_run_keeps_a_short_series_and_exact_peaks() {
        let mut sim = Recorder::new(Duration::from_secs(86_400));
        for i in 0..1_000u64 {
            let at = Duration::from_secs(i * 86);
            let s =
                Sample { intended: at, started: at, finished: at, outcome: Outcome::Origin, stale_age: None };
            sim.record(&s);
        }
        assert_eq!(sim.peaks(), Peaks { reads: 1, fills: 1, stripe: 1 });
        let (m, _) = sim.finish();
        assert!(m.seconds.len() <= MAX_SERIES as usize, "{}", m.seconds.len());
        assert_eq!(m.seconds.iter().map(|s| s.counts.requests).sum::<u64>(), 1_000);
    }
}
