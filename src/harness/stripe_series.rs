//! Stripe calls per second of a live run, sampled from the mock's request
//! counter once a second (the mock counts every request it receives:
//! retries and background refreshes included).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::metrics::RunMetrics;
use crate::mock::MockHandle;

/// What the sampler saw: `(second since t0, calls in it)`, and the counter at
/// the last sample.
pub(super) type Sampled = (Vec<(u64, u64)>, u64);

/// Samples `mock`'s request counter every second from `t0` until `done`. A
/// tick the runtime delays folds the missed seconds into the one it lands in.
pub(super) fn sample(mock: MockHandle, t0: Instant, mut done: watch::Receiver<bool>) -> JoinHandle<Sampled> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(t0 + Duration::from_secs(1), Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let (mut calls, mut last) = (Vec::new(), mock.counters().requests);
        let mut take = |calls: &mut Vec<(u64, u64)>| {
            let now = mock.counters().requests;
            let second = t0.elapsed().as_secs().saturating_sub(1);
            calls.push((second, now.saturating_sub(last)));
            last = now;
        };
        loop {
            tokio::select! {
                _ = tick.tick() => take(&mut calls),
                _ = done.wait_for(|v| *v) => break,
            }
        }
        (calls, last)
    })
}

/// Puts sampled calls into `metrics`' per-second series, and the calls since
/// the last sample (up to `total`, the mock's final count) into the current second.
pub(super) fn record(metrics: &mut RunMetrics, (calls, last): Sampled, total: u64, t0: Instant) {
    for (second, n) in calls {
        metrics.add_stripe_calls(second, n);
    }
    metrics.add_stripe_calls(t0.elapsed().as_secs(), total.saturating_sub(last));
}
