//! Recorders and mergeable snapshots: latency per serving layer, corrected for
//! coordinated omission and not, counters, staleness, and a per-second series.

mod latency;

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use self::latency::Latency;
use crate::chain::Layer;

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Served from Redis.
    L1,
    /// Served from DynamoDB.
    L2,
    /// Served from Stripe.
    Origin,
    /// Served from a tier past its expiry, by the policy's
    /// stale-while-revalidate or stale-if-error window.
    Stale,
    /// The caller got an error.
    Error,
}

impl From<Layer> for Outcome {
    fn from(layer: Layer) -> Self {
        match layer {
            Layer::L1 => Outcome::L1,
            Layer::L2 => Outcome::L2,
            Layer::Origin => Outcome::Origin,
        }
    }
}

/// One finished request, with times measured from the run's start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When the schedule meant it to start.
    pub intended: Duration,
    /// When it was actually sent.
    pub started: Duration,
    /// When its answer came.
    pub finished: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// For a stale read: how long ago the served version stopped being true.
    pub stale_age: Option<Duration>,
}

/// Requests started more than this after their intended start count as late:
/// the harness could not keep the schedule (every caller busy). Tokio's timer
/// wakes on whole milliseconds, so every start is up to 1-2 ms after its
/// intended instant even when a caller is free: that is not lateness.
pub const LATE_AFTER: Duration = Duration::from_millis(5);

/// Counts of one run (or one second of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    /// Requests finished.
    pub requests: u64,
    /// Served from L1.
    pub l1: u64,
    /// Served from L2.
    pub l2: u64,
    /// Served from the origin.
    pub origin: u64,
    /// Ended in an error.
    pub errors: u64,
    /// Served past expiry by a stale-while-revalidate / stale-if-error window.
    #[serde(default)]
    pub stale_served: u64,
    /// Served a version older than the truth at serve time.
    pub stale: u64,
    /// Started later than [`LATE_AFTER`] after their intended start.
    pub late: u64,
    /// Scheduled but never sent (no caller free before the run ended).
    pub dropped: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.l1 += o.l1;
        self.l2 += o.l2;
        self.origin += o.origin;
        self.errors += o.errors;
        self.stale_served += o.stale_served;
        self.stale += o.stale;
        self.late += o.late;
        self.dropped += o.dropped;
    }

    /// Counts one finished request.
    pub(crate) fn count(&mut self, s: &Sample) {
        self.requests += 1;
        match s.outcome {
            Outcome::L1 => self.l1 += 1,
            Outcome::L2 => self.l2 += 1,
            Outcome::Origin => self.origin += 1,
            Outcome::Stale => self.stale_served += 1,
            Outcome::Error => self.errors += 1,
        }
        self.stale += u64::from(s.stale_age.is_some());
        self.late += u64::from(s.started.saturating_sub(s.intended) > LATE_AFTER);
    }

    /// Share of finished requests served from L1 (0 when none finished).
    pub fn l1_ratio(&self) -> f64 {
        ratio(self.l1, self.requests)
    }

    /// Share of requests that reached L2 and were served there.
    pub fn l2_ratio(&self) -> f64 {
        ratio(self.l2, self.requests - self.l1)
    }

    /// Share of finished requests that were stale.
    pub fn stale_ratio(&self) -> f64 {
        ratio(self.stale, self.requests)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// One second of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Second {
    /// Seconds since the run's start (by intended start).
    pub second: u64,
    /// What happened in it.
    pub counts: Counts,
    /// Corrected latency of its requests.
    pub latency: Latency,
    /// Requests Stripe received in it (retries and background refreshes
    /// included): live, by wall time since the policy's start, sampled from the
    /// mock's counter each second; simulated, by virtual time.
    #[serde(default)]
    pub stripe_calls: u64,
}

/// What a run measured; merges exactly with other shards of the same run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunMetrics {
    /// Totals.
    pub counts: Counts,
    /// Latency from the intended start (coordinated omission corrected), per outcome.
    #[schemars(schema_with = "crate::metrics::enum_keyed_map::<Outcome, Latency>")]
    pub corrected: BTreeMap<Outcome, Latency>,
    /// Latency from the actual send, per outcome.
    #[schemars(schema_with = "crate::metrics::enum_keyed_map::<Outcome, Latency>")]
    pub uncorrected: BTreeMap<Outcome, Latency>,
    /// How old the served version's replacement was, for stale reads.
    pub staleness_age: Latency,
    /// Per-second series, in order. A simulated run longer than 5 minutes
    /// records it in steps of `ceil(duration / 300)` seconds, each entry named
    /// by its first second.
    pub seconds: Vec<Second>,
}

impl RunMetrics {
    /// Records one finished request.
    pub fn record(&mut self, s: &Sample) {
        self.counts.count(s);
        self.corrected.entry(s.outcome).or_default().record(s.finished.saturating_sub(s.intended));
        self.uncorrected.entry(s.outcome).or_default().record(s.finished.saturating_sub(s.started));
        if let Some(age) = s.stale_age {
            self.staleness_age.record(age);
        }
        let second = s.intended.as_secs();
        let bucket = self.second_mut(second);
        bucket.counts.count(s);
        bucket.latency.record(s.finished.saturating_sub(s.intended));
    }

    /// Counts a request that was scheduled for `intended` but never sent.
    pub fn record_dropped(&mut self, intended: Duration) {
        self.counts.dropped += 1;
        self.second_mut(intended.as_secs()).counts.dropped += 1;
    }

    /// Adds `calls` Stripe requests to the series entry named `second`
    /// (created if the series has none).
    pub fn add_stripe_calls(&mut self, second: u64, calls: u64) {
        if calls > 0 {
            self.second_mut(second).stripe_calls += calls;
        }
    }

    fn second_mut(&mut self, second: u64) -> &mut Second {
        let i = match self.seconds.binary_search_by_key(&second, |s| s.second) {
            Ok(i) => i,
            Err(i) => {
                self.seconds.insert(i, Second { second, ..Second::default() });
                i
            }
        };
        &mut self.seconds[i]
    }

    /// Adds another shard's (or caller's) measurements.
    pub fn merge(&mut self, other: &RunMetrics) {
        self.counts.add(&other.counts);
        for (k, h) in &other.corrected {
            self.corrected.entry(*k).or_default().merge(h);
        }
        for (k, h) in &other.uncorrected {
            self.uncorrected.entry(*k).or_default().merge(h);
        }
        self.staleness_age.merge(&other.staleness_age);
        for s in &other.seconds {
            let mine = self.second_mut(s.second);
            mine.counts.add(&s.counts);
            mine.latency.merge(&s.latency);
            mine.stripe_calls += s.stripe_calls;
        }
    }

    /// Corrected latency over every outcome.
    pub fn corrected_all(&self) -> Latency {
        all(&self.corrected)
    }

    /// Corrected latency of the requests that were served (errors left out:
    /// a fast failure must not make a policy look fast).
    pub fn corrected_served(&self) -> Latency {
        let mut out = Latency::new();
        self.corrected.iter().filter(|(o, _)| **o != Outcome::Error).for_each(|(_, h)| out.merge(h));
        out
    }

    /// Uncorrected latency over every outcome.
    pub fn uncorrected_all(&self) -> Latency {
        all(&self.uncorrected)
    }
}

fn all(by: &BTreeMap<Outcome, Latency>) -> Latency {
    let mut out = Latency::new();
    by.values().for_each(|h| out.merge(h));
    out
}

/// Schema of a `BTreeMap<K, V>` keyed by a unit enum `K`: `K`'s names as
/// `propertyNames` (schemars leaves the keys of such a map unchecked when the
/// variants carry docs). For `#[schemars(schema_with = ...)]`.
pub(crate) fn enum_keyed_map<K: schemars::JsonSchema, V: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    let mut schema = std::collections::BTreeMap::<K, V>::json_schema(generator);
    schema.insert("propertyNames".into(), generator.subschema_for::<K>().to_value());
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn sample(intended: u64, started: u64, finished: u64, outcome: Outcome) -> Sample {
        Sample {
            intended: ms(intended),
            started: ms(started),
            finished: ms(finished),
            outcome,
            stale_age: None,
        }
    }

    #[test]
    fn a_late_start_shows_in_corrected_latency_only() {
        let mut m = RunMetrics::default();
        // Scheduled at 0, sent at 1000 (the caller was stuck), answered 1 ms later.
        m.record(&sample(0, 1_000, 1_001, Outcome::L1));
        m.record(&sample(5, 5, 6, Outcome::L1));
        let c = &m.corrected[&Outcome::L1];
        let u = &m.uncorrected[&Outcome::L1];
        assert!(c.max() >= ms(1_000), "corrected keeps the wait: {c:?}");
        assert!(u.max() <= ms(2), "uncorrected hides it: {u:?}");
        m.record(&sample(6, 6, 9_000, Outcome::Error));
        assert!(m.corrected_all().max() >= ms(8_000));
        assert!(m.corrected_served().max() < ms(1_100), "errors are left out of served latency");
        assert_eq!((m.counts.late, m.counts.requests, m.counts.l1), (1, 3, 2));
    }

    #[test]
    fn shards_merge_into_the_same_result_as_one_recorder() {
        let samples = [
            sample(0, 0, 3, Outcome::Origin),
            Sample { stale_age: Some(ms(40)), ..sample(10, 10, 11, Outcome::L1) },
            sample(1_200, 1_200, 1_205, Outcome::L2),
            sample(2_500, 2_600, 2_700, Outcome::Error),
        ];
        let mut one = RunMetrics::default();
        let (mut a, mut b) = (RunMetrics::default(), RunMetrics::default());
        for (i, s) in samples.iter().enumerate() {
            one.record(s);
            if i % 2 == 0 { a.record(s) } else { b.record(s) }
        }
        one.record_dropped(ms(2_900));
        b.record_dropped(ms(2_900));
        a.merge(&b);
        assert_eq!(a, one);
        assert_eq!(one.seconds.iter().map(|s| s.second).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(one.counts.stale, 1);
        assert_eq!(one.staleness_age.count(), 1);
        let text = serde_json::to_string(&one).unwrap();
        assert_eq!(serde_json::from_str::<RunMetrics>(&text).unwrap(), one);
    }

    #[test]
    fn ratios_use_the_right_denominators() {
        let c = Counts { requests: 100, l1: 80, l2: 15, origin: 5, stale: 2, ..Counts::default() };
        assert_eq!(c.l1_ratio(), 0.8);
        assert_eq!(c.l2_ratio(), 0.75);
        assert_eq!(c.stale_ratio(), 0.02);
        assert_eq!(Counts::default().l1_ratio(), 0.0);
    }
}
