//! Lambda-like callers and the open-loop dispatcher that hands them requests at
//! their intended start. Each caller owns its connections and its measurements.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::usage::UsageTally;
use crate::chain::{CacheChain, ChainCounters, ChainError, Served};
use crate::clock::{Clock, SystemClock};
use crate::metrics::{Outcome, RunMetrics, Sample};
use crate::mock::MockHandle;
use crate::origin::{Guarded, Origin, OriginError, StripeHttp};
use crate::store::{DynamoL2, RedisL1};
use crate::stripe::CacheKey;
use crate::workload::Workload;

/// The chain as the harness runs it.
pub type LiveChain = CacheChain<RedisL1, DynamoL2, Guarded<StripeHttp>>;

/// Builds a fresh chain (new connections), as a cold-started Lambda would.
pub type ChainFactory =
    Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, Option<LiveChain>> + Send + Sync>;

/// One request handed to a caller.
#[derive(Debug)]
pub struct Job {
    /// Intended start, from the run's start.
    pub intended: Duration,
    /// What to read.
    pub key: CacheKey,
}

/// What a caller measured (its samples went to the run's recorder).
#[derive(Debug, Default)]
pub struct CallerReport {
    /// Its chains' counters (all of them, across cold starts).
    pub chain: ChainCounters,
    /// Cold starts it went through.
    pub cold_starts: u64,
    /// Origin answers that were 429s.
    pub rate_limited: u64,
    /// What it used, for the cost model.
    pub usage: UsageTally,
}

/// Shared context of every caller.
#[derive(Clone)]
pub struct Context {
    /// The run's start.
    pub t0: Instant,
    /// Ground truth for staleness.
    pub truth: MockHandle,
    /// Makes chains.
    pub factory: ChainFactory,
    /// The run's one recorder (which also feeds the progress line): callers
    /// send samples instead of each keeping histograms (hundreds of callers x
    /// per-second histograms would not fit) or taking a shared lock.
    pub samples: mpsc::UnboundedSender<Sample>,
}

/// Reads `key` through `chain` and measures it against the truth: the sample
/// (times from `t0`; stale when the served version had been superseded at
/// serve time) and the chain's answer.
pub async fn measured_read<O: Origin + Clone + 'static>(
    chain: &CacheChain<RedisL1, DynamoL2, O>,
    truth: &MockHandle,
    t0: Instant,
    intended: Duration,
    key: &CacheKey,
) -> (Sample, Result<Served, ChainError>) {
    let started = t0.elapsed();
    let result = chain.read(key).await;
    let finished = t0.elapsed();
    let (outcome, stale_age) = match &result {
        Ok(Served { layer, entry, stale: served_stale }) => {
            let now = SystemClock.now();
            let stale = truth.superseded_at(key, entry.version).filter(|t| *t <= now).map(|t| now.since(t));
            (if *served_stale { Outcome::Stale } else { Outcome::from(*layer) }, stale)
        }
        Err(_) => (Outcome::Error, None),
    };
    (Sample { intended, started, finished, outcome, stale_age }, result)
}

/// Serves one request and records it.
async fn serve(
    ctx: &Context,
    chain: &LiveChain,
    intended: Duration,
    key: &CacheKey,
    report: &mut CallerReport,
) {
    let (sample, result) = measured_read(chain, &ctx.truth, ctx.t0, intended, key).await;
    if matches!(result, Err(ChainError::Origin(OriginError::RateLimited { .. }))) {
        report.rate_limited += 1;
    }
    report.usage.record_request(sample.finished.saturating_sub(sample.started));
    let _ = ctx.samples.send(sample);
}

/// Opens `n` callers' chains (their connections) at once: a warm fleet, made
/// before the schedule starts so no request waits for it. Cold starts are
/// events of their own (`callers.cold_starts_per_s`).
///
/// # Errors
/// When a chain cannot connect.
pub async fn warm(factory: &ChainFactory, n: usize) -> std::io::Result<Vec<LiveChain>> {
    let chains = futures_util::future::join_all((0..n).map(|_| factory())).await;
    chains.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
        std::io::Error::other(format!(
            "cannot connect the callers' chains ({n} callers) to Redis and DynamoDB"
        ))
    })
}

/// Runs one open-loop caller on its warm `chain`: serves jobs from `jobs`
/// until the channel closes, announcing itself free on `free` after each.
pub async fn open_loop(
    id: usize,
    ctx: Context,
    mut chain: LiveChain,
    mut jobs: mpsc::Receiver<Job>,
    free: mpsc::Sender<usize>,
    cold: Arc<AtomicBool>,
) -> CallerReport {
    let mut report = CallerReport::default();
    if free.send(id).await.is_err() {
        return report;
    }
    while let Some(job) = jobs.recv().await {
        if cold.swap(false, Ordering::Relaxed) {
            let init = Instant::now();
            if let Some(fresh) = (ctx.factory)().await {
                report.usage.record_cold_start(init.elapsed());
                report.chain += chain.stats().snapshot();
                report.usage.add_meter(&chain.meter().snapshot());
                chain = fresh;
                report.cold_starts += 1;
            }
        }
        serve(&ctx, &chain, job.intended, &job.key, &mut report).await;
        if free.send(id).await.is_err() {
            break;
        }
    }
    report.chain += chain.stats().snapshot();
    report.usage.add_meter(&chain.meter().snapshot());
    report
}

/// Runs one closed-loop caller on its warm `chain`: the next request starts
/// when the last returns, until `stop` turns true.
pub async fn closed_loop(
    ctx: Context,
    chain: LiveChain,
    mut workload: Workload,
    mut stop: watch::Receiver<bool>,
) -> CallerReport {
    let mut report = CallerReport::default();
    while !*stop.borrow_and_update() {
        let at = ctx.t0.elapsed();
        let key = workload.next_key(at);
        serve(&ctx, &chain, at, &key, &mut report).await;
    }
    report.chain += chain.stats().snapshot();
    report.usage.add_meter(&chain.meter().snapshot());
    report
}

/// Hands each scheduled request to a free caller at its intended start. Returns
/// how many were dropped (no caller free before `deadline`, or stopped).
pub async fn dispatch(
    t0: Instant,
    schedule: Workload,
    callers: Vec<mpsc::Sender<Job>>,
    mut free: mpsc::Receiver<usize>,
    deadline: Duration,
    mut stop: watch::Receiver<bool>,
    metrics: &mut RunMetrics,
) {
    let mut schedule = schedule;
    for req in schedule.by_ref() {
        tokio::select! {
            biased;
            _ = stop.changed() => {
                metrics.record_dropped(req.intended);
                break;
            }
            () = tokio::time::sleep_until(t0 + req.intended) => {}
        }
        let id = tokio::select! {
            biased;
            _ = stop.changed() => None,
            () = tokio::time::sleep_until(t0 + deadline) => None,
            id = free.recv() => id,
        };
        match id {
            Some(id) if callers[id].send(Job { intended: req.intended, key: req.key }).await.is_ok() => {}
            _ => {
                metrics.record_dropped(req.intended);
                break;
            }
        }
    }
    for rest in schedule {
        metrics.record_dropped(rest.intended);
    }
}
