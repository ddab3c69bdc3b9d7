//! The live driver: runs one policy of a scenario against real Redis and
//! DynamoDB and the mock Stripe over HTTP, open loop (or closed loop), and
//! returns what it measured.

pub mod callers;
pub mod dynamo_faults;
pub mod faults;
mod mutations;
pub mod progress;
mod stripe_series;
pub mod webhooks;

pub(crate) use crate::run::usage_of;
pub use crate::run::{Peaks, PolicyRun, WebhookCounts, usage};

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use self::callers::{CallerReport, ChainFactory, Context};
use self::usage::UsageTally;
use crate::backends::Endpoints;
use crate::chain::{CacheChain, ChainCounters, WebhookHandler};
use crate::clock::SystemClock;
use crate::metrics::{RunMetrics, Sample};
use crate::mock::{MockConfig, MockError, MockStripe, WebhookEndpointConfig};
use crate::origin::{Budget, Guarded, OriginGuards, StripeHttp, StripeHttpOptions, StripeMode};
use crate::rng::mix;
use crate::scenario::Scenario;
use crate::store::{DynamoL2, DynamoOptions, RedisL1, RedisOptions, StoreError, TableSpec};
use crate::workload::{KeyUniverse, Workload};

/// Requests may finish this long after the schedule ends before the rest count as dropped.
const GRACE: Duration = Duration::from_secs(10);

/// How often a running policy's measurements are handed out to be flushed.
pub const PARTIAL_EVERY: Duration = Duration::from_secs(5);

/// Why a live run could not run.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Redis or DynamoDB failed while setting up.
    #[error("backend: {0}")]
    Store(#[from] StoreError),
    /// The mock Stripe could not start.
    #[error(transparent)]
    Mock(#[from] MockError),
    /// A local socket could not be bound.
    #[error("cannot serve the webhook endpoint: {0}")]
    Io(#[from] std::io::Error),
    /// The scenario's faults cannot run on these backends.
    #[error(transparent)]
    Fault(#[from] faults::FaultError),
}

fn mock_config(scenario: &Scenario) -> MockConfig {
    let s = &scenario.stripe;
    let mut c = MockConfig { seed: scenario.seed, ..MockConfig::default() };
    c.population.customers = usize::try_from(scenario.workload.customers).unwrap_or(usize::MAX);
    c.population.connected_accounts = scenario.workload.accounts as usize;
    c.latency.scale = s.latency_scale;
    if s.latency_scale == 0.0 {
        c.latency.spike_probability = 0.0;
    }
    c.limits.enabled = s.rate_limits;
    c.webhooks.delay_p50 = scenario.to_run_time(s.webhook_delay_p50);
    c.webhooks.delay_p99 = scenario.to_run_time(s.webhook_delay_p99);
    c.webhooks.duplicate_rate = s.duplicate_rate;
    c.webhooks.reorder_rate = s.reorder_rate;
    c.mutations.rate_per_s = 0.0; // the harness drives mutations by the scenario's mix
    c
}

fn api_key(scenario: &Scenario) -> String {
    if scenario.stripe.live_mode { "sk_live_tierbench".into() } else { "sk_test_tierbench".into() }
}

/// The keys the mock holds: each customer and invoice under every account,
/// interleaved so popularity ranks spread over accounts.
fn universe(handle: &crate::mock::MockHandle) -> KeyUniverse {
    let mut accounts: Vec<Option<String>> = vec![None];
    accounts.extend(handle.connected_accounts().into_iter().map(Some));
    let per = |ids: &dyn Fn(Option<&str>) -> Vec<String>| {
        let lists: Vec<(Option<String>, Vec<String>)> =
            accounts.iter().map(|a| (a.clone(), ids(a.as_deref()))).collect();
        let longest = lists.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
        let mut out = Vec::new();
        for i in 0..longest {
            for (a, l) in &lists {
                if let Some(id) = l.get(i) {
                    out.push((a.clone(), id.clone()));
                }
            }
        }
        out
    };
    KeyUniverse { customers: per(&|a| handle.customer_ids(a)), invoices: per(&|a| handle.invoice_ids(a)) }
}

/// Runs policy `index` of `scenario` with fresh caches (its own table and key
/// prefix) until the schedule ends or `stop` turns true, handing the
/// measurements so far to `partial` every [`PARTIAL_EVERY`] (for flushing).
///
/// # Errors
/// [`HarnessError`] when setting up fails; failures during the run are measured, not returned.
pub async fn run_policy(
    scenario: &Scenario,
    index: usize,
    endpoints: &Endpoints,
    run_id: &str,
    targets: &faults::FaultTargets,
    stop: watch::Receiver<bool>,
    partial: Option<watch::Sender<RunMetrics>>,
) -> Result<PolicyRun, HarnessError> {
    let table = TableSpec { name: format!("tierbench-{run_id}-{index}"), ..TableSpec::default() };
    let direct = DynamoOptions { table, ..endpoints.dynamo_options() };
    // DynamoDB latency and throttling faults need the fault proxy between the
    // callers and DynamoDB: for the whole run, so every window compares alike.
    let mut targets = targets.clone();
    let proxy = match &direct.endpoint_url {
        Some(url) if scenario.faults.iter().any(|f| f.kind.is_dynamo_proxy()) => {
            let p = dynamo_faults::DynamoFaultProxy::start(url, mix(scenario.seed, 23)).await?;
            targets.dynamodb_proxy = Some(p.state());
            Some(p)
        }
        _ => None,
    };
    faults::FaultDriver::check(&scenario.faults, &targets)?;
    let dynamo = DynamoOptions {
        endpoint_url: proxy.as_ref().map(|p| p.url()).or(direct.endpoint_url.clone()),
        ..direct.clone()
    };
    let policy = scenario.scaled_policy(index);
    let mock = MockStripe::spawn(mock_config(scenario)).await?;
    let redis = RedisOptions { key_prefix: format!("tb:{run_id}:{index}"), ..endpoints.redis_options() };
    let owner = DynamoL2::connect(&direct).await?;
    RedisL1::connect(&redis).await?; // fail early, before any load
    let origin = StripeHttpOptions {
        base_url: mock.url(),
        api_key: api_key(scenario),
        timeout: Duration::from_secs(30),
        ..StripeHttpOptions::default()
    };
    // Coalescing and background refreshes span every caller of the run, as in
    // one server process (Lambdas, one request each, coalesce only through a lease).
    let group = crate::chain::ChainGroup::default();
    // One budget, breaker and counter set for every caller of the run.
    let etiquette = scenario.policies[index].etiquette.clone();
    let mode = StripeMode::of_key(&origin.api_key);
    let budget =
        Budget::from_config(&etiquette.budget, mode, SystemClock::shared(), Some(&endpoints.redis_url))
            .await
            .map_err(|e| std::io::Error::other(format!("stripe budget: {e}")))?;
    let guards = OriginGuards::new(etiquette, budget, SystemClock::shared(), scenario.seed)
        .map_err(|e| std::io::Error::other(format!("stripe etiquette: {e}")))?;
    let factory: ChainFactory = {
        let (redis, dynamo, origin, policy) = (redis.clone(), dynamo.clone(), origin.clone(), policy.clone());
        let guards = guards.clone();
        Arc::new(move || {
            let (redis, dynamo, origin, policy, group) =
                (redis.clone(), dynamo.clone(), origin.clone(), policy.clone(), group.clone());
            let guards = guards.clone();
            async move {
                let clock = SystemClock::shared();
                let l1 = RedisL1::connect(&redis).await.ok()?;
                let l2 = DynamoL2::open(&dynamo).await;
                let http = Guarded::new(StripeHttp::new(origin, clock.clone()).ok()?, guards);
                Some(CacheChain::new(l1, l2, http, policy, clock).in_group(&group))
            }
            .boxed()
        })
    };
    let secret = format!("whsec_tierbench_{run_id}");
    let hook_chain =
        factory().await.ok_or_else(|| std::io::Error::other("cannot connect the webhook chain"))?;
    let hook =
        webhooks::WebhookEndpoint::start(WebhookHandler::new(vec![secret.clone()]), hook_chain).await?;
    mock.handle()
        .add_webhook_endpoint(WebhookEndpointConfig {
            url: hook.url(),
            secrets: vec![secret],
            enabled_events: vec![],
        })
        .map_err(MockError::Config)?;

    let universe = universe(mock.handle());
    let progress = Arc::new(progress::Progress::default());
    let callers_n =
        Workload::closed_loop(scenario).map_or(scenario.callers.concurrency as usize, |n| n as usize);
    let mut warm = callers::warm(&factory, callers_n).await?.into_iter();
    let t0 = Instant::now();
    let mut fault_driver =
        faults::FaultDriver::start(&scenario.faults, targets, t0, mock.handle(), hook.down_flag());
    let (samples, mut recorded) = mpsc::unbounded_channel::<Sample>();
    let recorder_progress = progress.clone();
    let recorder = tokio::spawn(async move {
        let mut m = RunMetrics::default();
        let mut flush = tokio::time::interval(PARTIAL_EVERY);
        flush.tick().await;
        loop {
            tokio::select! {
                s = recorded.recv() => match s {
                    Some(s) => {
                        recorder_progress.record(&s);
                        m.record(&s);
                    }
                    None => break,
                },
                _ = flush.tick(), if partial.is_some() => {
                    if let Some(p) = &partial {
                        p.send_replace(m.clone());
                    }
                }
            }
        }
        m
    });
    let ctx = Context { t0, truth: mock.handle().clone(), factory, samples };
    let (done_tx, done_rx) = watch::channel(false);
    let stripe_series = stripe_series::sample(mock.handle().clone(), t0, done_rx.clone());
    let mut background = Vec::new();
    if scenario.mutations.rate_per_s > 0.0 {
        let rate = scenario.mutations.rate_per_s * scenario.time_scale;
        let driver = mutations::Driver::new(&scenario.mutations.mix, &universe, rate, mix(scenario.seed, 21));
        background.push(tokio::spawn(driver.run(
            mock.handle().clone(),
            t0,
            scenario.duration,
            done_rx.clone(),
        )));
    }
    let label = format!("{} [{}]", scenario.name, scenario.policies[index].name);
    let reporter = {
        let (p, total, mut d) = (progress.clone(), scenario.duration, done_rx.clone());
        tokio::spawn(async move { p.report(&label, total, Duration::from_secs(1), d.wait_for(|v| *v)).await })
    };

    let mut metrics = RunMetrics::default();
    let mut stop_any = stop.clone();
    let reports: Vec<CallerReport> = match Workload::closed_loop(scenario) {
        Some(n) => {
            let (halt_tx, halt_rx) = watch::channel(false);
            let tasks: Vec<_> = (0..n as u64)
                .map(|i| {
                    let mut own = scenario.clone();
                    own.seed = mix(scenario.seed, 100 + i);
                    let w = Workload::new(&own, universe.clone());
                    let chain = warm.next().expect("one warm chain per caller");
                    tokio::spawn(callers::closed_loop(ctx.clone(), chain, w, halt_rx.clone()))
                })
                .collect();
            tokio::select! {
                _ = stop_any.wait_for(|v| *v) => {}
                () = tokio::time::sleep(scenario.duration) => {}
            }
            let _ = halt_tx.send(true);
            join(tasks).await
        }
        None => {
            let c = scenario.callers.concurrency as usize;
            let (free_tx, free_rx) = mpsc::channel(c);
            let colds: Vec<Arc<AtomicBool>> = (0..c).map(|_| Arc::new(AtomicBool::new(false))).collect();
            let (mut senders, mut tasks) = (Vec::new(), Vec::new());
            for (id, (cold, chain)) in colds.iter().zip(warm.by_ref()).enumerate() {
                let (tx, rx) = mpsc::channel(1);
                senders.push(tx);
                tasks.push(tokio::spawn(callers::open_loop(
                    id,
                    ctx.clone(),
                    chain,
                    rx,
                    free_tx.clone(),
                    cold.clone(),
                )));
            }
            drop(free_tx);
            if scenario.callers.cold_starts_per_s > 0.0 {
                let cs =
                    mutations::cold_starts(colds, scenario.callers.cold_starts_per_s, mix(scenario.seed, 22));
                background.push(tokio::spawn(cs.run(t0, scenario.duration, done_rx.clone())));
            }
            let schedule = Workload::new(scenario, universe.clone());
            callers::dispatch(
                t0,
                schedule,
                senders,
                free_rx,
                scenario.duration + GRACE,
                stop.clone(),
                &mut metrics,
            )
            .await;
            join(tasks).await
        }
    };
    let wall = t0.elapsed();
    fault_driver.finish().await;
    drop(ctx); // the last sender: the recorder ends once callers have finished
    if let Ok(recorded) = recorder.await {
        metrics.merge(&recorded);
    }
    let _ = done_tx.send(true);
    for b in background {
        let _ = b.await;
    }

    let _ = reporter.await;
    let (mut chain, mut rate_limited, mut cold_starts) = (ChainCounters::default(), 0, 0);
    let mut tally = UsageTally::default();
    for r in &reports {
        chain += r.chain;
        rate_limited += r.rate_limited;
        cold_starts += r.cold_starts;
        tally.merge(&r.usage);
    }
    // The endpoint's chain makes the invalidations: its counters join the callers'.
    let (webhooks, hook_chain) = hook.stop().await;
    chain += hook_chain;
    let stripe = mock.handle().counters();
    if let Ok(sampled) = stripe_series.await {
        stripe_series::record(&mut metrics, sampled, stripe.requests, t0);
    }
    // Every kind of key can be cached once per customer (invoices per invoice).
    let key_space = (universe.customers.len() * 3 + universe.invoices.len()) as u64;
    let peaks = Peaks::of(&metrics);
    let usage = usage_of(tally, &metrics, peaks, &chain, &webhooks, &stripe, key_space, scenario, wall);
    let _ = mock.stop().await;
    let _ = owner.client().delete_table().table_name(owner.table()).send().await;
    let fault_windows = faults::windows(&scenario.faults, &metrics, &fault_driver.injected());
    drop(proxy);
    Ok(PolicyRun {
        name: scenario.policies[index].name.clone(),
        ttl: policy,
        metrics,
        chain,
        stripe,
        webhooks,
        rate_limited,
        cold_starts,
        wall,
        usage,
        interrupted: *stop.borrow(),
        etiquette: guards.snapshot(),
        faults: fault_windows,
    })
}

async fn join(tasks: Vec<tokio::task::JoinHandle<CallerReport>>) -> Vec<CallerReport> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(r) = t.await {
            out.push(r);
        }
    }
    out
}
