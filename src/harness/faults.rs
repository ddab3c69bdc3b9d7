//! Fault injection during a run: pauses Redis or DynamoDB Local (local
//! processes), breaks the mock Stripe, takes the webhook endpoint down, each
//! for its window; and what callers felt in each window.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::metrics::{Latency, RunMetrics};
use crate::mock::{FaultKind as MockFault, MockHandle, OutageWindow};
use crate::scenario::{FaultKind, FaultSpec};

/// The backend processes faults can pause (local backends only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultTargets {
    /// redis-server's pid.
    pub redis_pid: Option<u32>,
    /// DynamoDB Local's (the JVM's) pid.
    pub dynamodb_pid: Option<u32>,
}

impl FaultTargets {
    /// The targets among `pids` (the backends' processes), by command name.
    pub fn from_pids(pids: &[u32]) -> Self {
        let comm = |p: &u32| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        FaultTargets {
            redis_pid: pids.iter().copied().find(|p| comm(p).starts_with("redis")),
            dynamodb_pid: pids.iter().copied().find(|p| comm(p).starts_with("java")),
        }
    }

    fn pid(&self, kind: FaultKind) -> Option<u32> {
        match kind {
            FaultKind::RedisPause => self.redis_pid,
            FaultKind::DynamoPause => self.dynamodb_pid,
            _ => None,
        }
    }
}

/// Why a fault schedule cannot run.
#[derive(Debug, thiserror::Error)]
#[error("fault {kind} needs local backends (a process to pause); run with --backend local")]
pub struct FaultError {
    /// The fault's name.
    pub kind: &'static str,
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: signalling a backend process this run started.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// A running fault schedule; stopping (or dropping) it ends every fault.
pub struct FaultDriver {
    task: Option<JoinHandle<()>>,
    paused: Vec<u32>,
    webhook_down: Arc<AtomicBool>,
}

impl FaultDriver {
    /// Checks `faults` can run on `targets`.
    ///
    /// # Errors
    /// [`FaultError`] for a pause without a process to pause.
    pub fn check(faults: &[FaultSpec], targets: &FaultTargets) -> Result<(), FaultError> {
        match faults.iter().find(|f| f.kind.needs_processes() && targets.pid(f.kind).is_none()) {
            Some(f) => Err(FaultError { kind: f.kind.name() }),
            None => Ok(()),
        }
    }

    /// Starts `faults`, timed from `t0` (the run's first intended start).
    /// Stripe faults are scheduled in the mock; the webhook endpoint reads
    /// `webhook_down`.
    pub fn start(
        faults: &[FaultSpec],
        targets: FaultTargets,
        t0: Instant,
        mock: &MockHandle,
        webhook_down: Arc<AtomicBool>,
    ) -> Self {
        let since_mock_start = mock.elapsed().saturating_sub(t0.elapsed());
        for f in faults {
            let kind = match f.kind {
                FaultKind::StripeOutage => MockFault::Status(503),
                FaultKind::StripeErrors => MockFault::Status(500),
                FaultKind::Stripe429Storm => MockFault::Status(429),
                FaultKind::StripeSlow(d) => MockFault::Slow(d),
                FaultKind::StripeHang => MockFault::Hang,
                _ => continue,
            };
            mock.add_outage(OutageWindow { start: since_mock_start + f.at, duration: f.duration, kind });
        }
        let timed: Vec<FaultSpec> = faults
            .iter()
            .copied()
            .filter(|f| f.kind.needs_processes() || f.kind == FaultKind::WebhookOutage)
            .collect();
        let paused: Vec<u32> = timed.iter().filter_map(|f| targets.pid(f.kind)).collect();
        let down = webhook_down.clone();
        let task = tokio::spawn(async move {
            // (time, fault, starting?) in time order.
            let mut edges: Vec<(Duration, FaultSpec, bool)> =
                timed.iter().flat_map(|f| [(f.at, *f, true), (f.end(), *f, false)]).collect();
            edges.sort_by_key(|e| e.0);
            for (at, f, starting) in edges {
                tokio::time::sleep_until(t0 + at).await;
                match (targets.pid(f.kind), starting) {
                    (Some(pid), true) => signal(pid, libc::SIGSTOP),
                    (Some(pid), false) => signal(pid, libc::SIGCONT),
                    (None, on) => down.store(on, Ordering::SeqCst),
                }
            }
        });
        FaultDriver { task: Some(task), paused, webhook_down }
    }

    /// Ends every fault now (resumes paused processes, brings webhooks back).
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        for pid in &self.paused {
            signal(*pid, libc::SIGCONT);
        }
        self.webhook_down.store(false, Ordering::SeqCst);
    }
}

impl Drop for FaultDriver {
    fn drop(&mut self) {
        self.stop();
    }
}

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
    /// Corrected p99 of the window's requests, ms.
    pub p99_ms: f64,
    /// Seconds after the fault's end until a whole second had no errors and a
    /// p99 within twice the pre-fault p99; `None` if that never happened.
    pub recovery_s: Option<f64>,
}

/// The fault windows of a run, from its per-second series.
pub fn windows(faults: &[FaultSpec], metrics: &RunMetrics) -> Vec<FaultWindow> {
    let first_fault = faults.iter().map(|f| f.at.as_secs()).min().unwrap_or(u64::MAX);
    let mut before = Latency::default();
    for s in metrics.seconds.iter().filter(|s| s.second < first_fault) {
        before.merge(&s.latency);
    }
    let baseline_ms = before.quantile(0.99).as_secs_f64() * 1e3;
    faults
        .iter()
        .map(|f| {
            let (from, to) = (f.at.as_secs(), f.end().as_secs_f64().ceil() as u64);
            let mut w = FaultWindow {
                kind: f.kind.name().to_owned(),
                at_s: f.at.as_secs_f64(),
                duration_s: f.duration.as_secs_f64(),
                ..FaultWindow::default()
            };
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
