//! The origin's Stripe etiquette against the real mock over HTTP: the rate
//! budget at 5x the limit, SDK-style retries of injected 500s (and no blind
//! retry of a rate-limit 429), the circuit breaker through an outage, and the
//! budget shared by two instances through Redis.

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use tierbench::clock::{ManualClock, SharedClock, SystemClock};
use tierbench::mock::{FaultKind, MockConfig, OutageWindow};
use tierbench::origin::{
    BreakerConfig, BreakerState, Budget, BudgetRates, BudgetScope, Etiquette, Guarded, LocalBudget,
    OnBudgetSpent, Origin, OriginError, OriginGuards, RateBudget, RedisBudget, RetryPolicy, StripeHttp,
    StripeHttpOptions, StripeMode,
};
use tierbench::stripe::{CacheKey, ObjectKind};

use crate::mock_support::{Mock, config, start};

/// Retries as the SDKs do, but with millisecond backoff so tests stay short.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    }
}

/// A guarded origin on `mock` keeping `etiquette`, its budget built from the
/// config for the test key's mode.
async fn guarded(mock: &Mock, etiquette: Etiquette, clock: SharedClock) -> Guarded<StripeHttp> {
    let options = StripeHttpOptions { base_url: mock.running.url(), ..Default::default() };
    let mode = StripeMode::of_key(&options.api_key);
    assert_eq!(mode, StripeMode::Test);
    let budget = Budget::from_config(&etiquette.budget, mode, clock.clone(), None).await.unwrap();
    let guards = OriginGuards::new(etiquette, budget, clock.clone(), 7).unwrap();
    Guarded::new(StripeHttp::new(options, clock).unwrap(), guards)
}

fn customer_keys(mock: &Mock) -> Vec<CacheKey> {
    mock.handle().customer_ids(None).into_iter().map(|id| CacheKey::new(ObjectKind::Customer, id)).collect()
}

/// How a load run's fetches ended.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    budget_spent: u64,
    rate_limited: u64,
    other: u64,
}

/// Open-loop demand: `rate_per_s` fetches a second for `duration`, each in its
/// own task (so a slow or queued fetch never holds back the next).
async fn drive(
    origin: Arc<Guarded<StripeHttp>>,
    keys: &[CacheKey],
    rate_per_s: f64,
    duration: Duration,
) -> Tally {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate_per_s));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut i = 0;
    while started.elapsed() < duration {
        tick.tick().await;
        let (origin, key) = (Arc::clone(&origin), keys[i % keys.len()].clone());
        tasks.push(tokio::spawn(async move { origin.fetch(&key).await }));
        i += 1;
    }
    let mut tally = Tally::default();
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => tally.ok += 1,
            Err(OriginError::BudgetSpent { .. }) => tally.budget_spent += 1,
            Err(OriginError::RateLimited { .. }) => tally.rate_limited += 1,
            Err(e) => {
                eprintln!("unexpected: {e}");
                tally.other += 1;
            }
        }
    }
    tally
}

/// Stripe's test-mode limits (25/s global and per endpoint, 20 in flight) and
/// its latency (spikes off, so the run's length is predictable).
fn limited_mock_config() -> MockConfig {
    let mut c = config();
    c.limits.enabled = true;
    c.latency.scale = 1.0;
    c.latency.spike_probability = 0.0;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_budget_keeps_429s_under_a_tenth_of_a_percent_at_5x_the_limit() {
    let mock = start(limited_mock_config()).await;
    // The default etiquette: 80 % of 25/s, waiting up to 1 s for a token.
    let etiquette = Etiquette { retry: fast_retries(), ..Etiquette::default() };
    let origin = Arc::new(guarded(&mock, etiquette, SystemClock::shared()).await);
    let started = Instant::now();
    let tally = drive(Arc::clone(&origin), &customer_keys(&mock), 125.0, Duration::from_secs(5)).await;
    let took = started.elapsed().as_secs_f64();
    let counters = mock.handle().counters();
    let snap = origin.guards().snapshot();
    let limited = counters.rate_limited.total();
    eprintln!(
        "budget on: {tally:?} in {took:.1} s; mock saw {} requests, {limited} 429s ({:.3} %); {snap:?}",
        counters.requests,
        100.0 * limited as f64 / counters.requests.max(1) as f64
    );
    assert!(limited * 1_000 <= counters.requests, "{limited} 429s of {} calls", counters.requests);
    assert_eq!(tally.other, 0);
    assert_eq!(tally.ok + tally.budget_spent + tally.rate_limited, snap.fetches);
    assert_eq!(counters.requests, snap.attempts, "every call Stripe saw went through the budget");
    // The budget is spent, not starved: ~burst + 20/s over the run.
    let ceiling = 5.0 + 20.0 * took;
    assert!((tally.ok as f64) >= 0.75 * 20.0 * 5.0, "served only {} in {took:.1} s", tally.ok);
    assert!((tally.ok as f64) <= ceiling + 1.0, "served {} > budget {ceiling:.0}", tally.ok);
    assert!(snap.budget.waited > 0 && snap.budget.refused > 0, "the queue was used and overflowed: {snap:?}");
    mock.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_without_the_budget_5x_the_limit_draws_429s_and_none_is_retried() {
    let mock = start(limited_mock_config()).await;
    let mut etiquette = Etiquette { retry: fast_retries(), ..Etiquette::default() };
    etiquette.budget.scope = BudgetScope::Off;
    let origin = Arc::new(guarded(&mock, etiquette, SystemClock::shared()).await);
    let tally = drive(Arc::clone(&origin), &customer_keys(&mock), 125.0, Duration::from_secs(3)).await;
    let counters = mock.handle().counters();
    let snap = origin.guards().snapshot();
    let limited = counters.rate_limited.total();
    let ratio = limited as f64 / counters.requests.max(1) as f64;
    eprintln!(
        "budget off: {tally:?}; mock saw {} requests, {limited} 429s ({:.1} %)",
        counters.requests,
        100.0 * ratio
    );
    assert!(ratio > 0.5, "5x the limit without a budget: most calls are refused ({ratio:.3})");
    assert_eq!(tally.rate_limited, limited);
    // Not one rate-limit 429 was retried: one call per fetch.
    assert_eq!(counters.requests, snap.fetches);
    assert_eq!(snap.retries.total(), 0);
    assert_eq!(snap.rate_limited, limited);
    assert_eq!(origin.guards().breaker_state(), BreakerState::Closed, "429s are not origin failures");
    mock.stop().await;
}

#[tokio::test]
async fn origin_injected_500s_are_retried_and_every_retry_is_counted() {
    let mut c = config();
    c.faults.error_rate = 0.3;
    let mock = start(c).await;
    let mut etiquette = Etiquette { retry: fast_retries(), ..Etiquette::default() };
    etiquette.budget.scope = BudgetScope::Off;
    // Off: at 30 % errors a breaker would open now and then and blur the counts.
    etiquette.breaker.enabled = false;
    let origin = guarded(&mock, etiquette, SystemClock::shared()).await;
    let keys = customer_keys(&mock);
    let fetches = 200;
    let results: Vec<_> = stream::iter(0..fetches)
        .map(|i| origin.fetch(&keys[i % keys.len()]))
        .buffer_unordered(10)
        .collect()
        .await;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    for e in &failed {
        assert!(matches!(e, OriginError::Status { status: 500, .. }), "only exhausted 500s fail: {e}");
    }
    let counters = mock.handle().counters();
    let snap = origin.guards().snapshot();
    let injected = counters.faults.injected_errors;
    eprintln!(
        "{fetches} fetches, {injected} injected 500s, {} retries, {} failed",
        snap.retries.server_error,
        failed.len()
    );
    // Every injected 500 was retried, except the last of each fetch that failed 3 times.
    assert_eq!(snap.retries.server_error, injected - failed.len() as u64);
    assert_eq!(snap.retries.total(), snap.retries.server_error);
    assert_eq!(counters.requests, fetches as u64 + snap.retries.server_error);
    assert_eq!(snap.attempts, counters.requests);
    // P(3 failures in a row) = 2.7 %: a handful of 200 at most.
    assert!(failed.len() <= 20, "{} failed", failed.len());
    assert!(snap.retries.server_error >= 30, "30 % of ~200+ calls were 500s");
    mock.stop().await;
}

#[tokio::test]
async fn origin_a_rate_limit_429_is_never_retried_blindly() {
    // 2 calls a second, and the mock's clock stands still: the bucket never refills.
    let clock = ManualClock::starting_now();
    let mut c = config();
    c.clock = clock.clone();
    c.limits.enabled = true;
    c.limits.global_test_per_s = 2.0;
    let mock = start(c).await;
    let mut etiquette = Etiquette { retry: fast_retries(), ..Etiquette::default() };
    etiquette.budget.scope = BudgetScope::Off;
    let origin = guarded(&mock, etiquette, clock.clone()).await;
    let key = &customer_keys(&mock)[0];
    let mut limited = 0;
    for _ in 0..6 {
        match origin.fetch(key).await {
            Ok(_) => {}
            Err(OriginError::RateLimited { reason, code, should_retry }) => {
                assert_eq!(
                    (reason.as_str(), code.as_deref(), should_retry),
                    ("global-rate", Some("rate_limit"), None)
                );
                limited += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(limited, 4);
    assert_eq!(mock.handle().counters().requests, 6, "one call per fetch");
    assert_eq!(origin.guards().snapshot().retries.total(), 0);
    mock.stop().await;
}

#[tokio::test]
async fn origin_an_outage_opens_the_breaker_which_fails_fast_then_a_probe_closes_it() {
    let clock = ManualClock::starting_now();
    let mut c = config();
    c.clock = clock.clone();
    c.faults.outages.push(OutageWindow {
        start: Duration::ZERO,
        duration: Duration::from_secs(10),
        kind: FaultKind::Status(503),
        share: 1.0,
    });
    let mock = start(c).await;
    let mut etiquette = Etiquette { retry: fast_retries(), ..Etiquette::default() };
    etiquette.budget.scope = BudgetScope::Off;
    etiquette.breaker = BreakerConfig {
        consecutive_failures: 3,
        cool_down: Duration::from_secs(5),
        ..BreakerConfig::default()
    };
    let origin = guarded(&mock, etiquette, clock.clone()).await;
    let key = &customer_keys(&mock)[0];
    let requests = || mock.handle().counters().requests;

    // The first fetch tries 3 times (503 says Stripe-Should-Retry: true); the
    // third failure in a row opens the breaker.
    let first = origin.fetch(key).await.unwrap_err();
    assert!(matches!(first, OriginError::Status { status: 503, .. }), "{first}");
    assert_eq!(requests(), 3);
    assert_eq!(origin.guards().breaker_state(), BreakerState::Open);

    // While open: fail fast, nothing reaches the mock.
    let started = Instant::now();
    for _ in 0..5 {
        let e = origin.fetch(key).await.unwrap_err();
        assert!(
            matches!(e, OriginError::CircuitOpen { retry_in } if retry_in == Duration::from_secs(5)),
            "{e}"
        );
    }
    assert!(started.elapsed() < Duration::from_millis(100), "failing fast");
    assert_eq!(requests(), 3);

    // After the cool-down, still inside the outage: the probe fails and reopens it.
    clock.advance(Duration::from_secs(5));
    assert_eq!(origin.guards().breaker_state(), BreakerState::HalfOpen);
    let e = origin.fetch(key).await.unwrap_err();
    assert!(
        matches!(e, OriginError::CircuitOpen { .. }),
        "the probe failed; its retry met the open breaker: {e}"
    );
    assert_eq!(requests(), 4, "one probe");
    assert_eq!(origin.guards().breaker_state(), BreakerState::Open);

    // The outage ends; after the next cool-down the probe succeeds and closes it.
    clock.advance(Duration::from_secs(6));
    assert!(origin.fetch(key).await.is_ok());
    assert_eq!(origin.guards().breaker_state(), BreakerState::Closed);
    assert!(origin.fetch(key).await.is_ok());
    assert_eq!(requests(), 6);
    let snap = origin.guards().snapshot();
    assert_eq!((snap.breaker.opens, snap.breaker.closes, snap.breaker.short_circuits), (2, 1, 6));
    assert_eq!(mock.handle().counters().faults.status, 4);
    mock.stop().await;
}

/// A `redis-server` on a free loopback port, killed when dropped.
struct RedisProcess {
    url: String,
    _child: tokio::process::Child,
}

async fn redis_server() -> RedisProcess {
    let bin = tierbench::backends::find_redis().unwrap_or_else(|e| panic!("{e}"));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server starts");
    let url = format!("redis://127.0.0.1:{port}");
    tierbench::backends::probe::wait_redis(&url, Duration::from_secs(10), || Ok(()))
        .await
        .expect("redis-server answers");
    RedisProcess { url, _child: child }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_two_instances_share_one_budget_through_redis_and_fall_back_without_it() {
    let redis = redis_server().await;
    // 20/s with 250 ms of burst (5 tokens) for the account, shared by two instances.
    let rates = BudgetRates { global_per_s: 20.0, endpoint_per_s: 20.0, burst: Duration::from_millis(250) };
    let instance = || async {
        let fallback = LocalBudget::new(rates.split(2), SystemClock::shared());
        RedisBudget::connect(&redis.url, "tb:test-budget", rates, fallback).await.expect("redis budget")
    };
    let (a, b) = (instance().await, instance().await);
    let started = Instant::now();
    let mut granted = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        for budget in [&a, &b] {
            granted += u64::from(budget.try_acquire(ObjectKind::Customer).await);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = started.elapsed().as_secs_f64();
    let expected = 5.0 + 20.0 * took;
    eprintln!(
        "two instances got {granted} tokens in {took:.2} s from one shared 20/s budget (~{expected:.0})"
    );
    assert!((granted as f64 - expected).abs() <= 3.0, "granted {granted}, expected ~{expected:.0}");
    // Waiting: a reservation comes back with the wait the shared queue implies.
    let wait = a.reserve(ObjectKind::Invoice, Duration::from_secs(2)).await.expect("within 2 s");
    assert!(wait <= Duration::from_millis(100), "{wait:?}");
    assert_eq!(a.fallbacks(), 0);

    // Redis goes away: each instance falls back to its half of the budget.
    drop(redis);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut got = 0;
    for _ in 0..10 {
        got += u64::from(a.try_acquire(ObjectKind::Subscriptions).await);
    }
    let took = started.elapsed().as_secs_f64();
    assert!(a.fallbacks() >= 10, "{}", a.fallbacks());
    // This instance's share: 10/s with 2.5 tokens of burst.
    let share = 2.5 + 10.0 * took;
    assert!(got >= 2 && (got as f64) <= share + 1.0, "{got} tokens in {took:.2} s; share ~{share:.1}");
}

#[tokio::test]
async fn origin_queue_waits_for_a_token_and_fail_fast_does_not() {
    let mock = start(config()).await;
    let clock = SystemClock::shared();
    // One token per second: slow enough that a loaded machine's slow call
    // cannot let the fail-fast fetch below find a fresh token.
    let rates = BudgetRates { global_per_s: 1.0, endpoint_per_s: 1.0, burst: Duration::ZERO };
    let budget = Budget::Local(Arc::new(LocalBudget::new(rates, clock.clone())));
    let etiquette = Etiquette {
        on_budget_spent: OnBudgetSpent::Queue { max_wait: Duration::from_millis(1_500) },
        ..Etiquette::default()
    };
    let options = StripeHttpOptions { base_url: mock.running.url(), ..Default::default() };
    let guards = OriginGuards::new(etiquette, budget, clock.clone(), 1).unwrap();
    let origin = Guarded::new(StripeHttp::new(options, clock).unwrap(), guards);
    let key = &customer_keys(&mock)[0];
    let started = Instant::now();
    assert!(origin.fetch(key).await.is_ok());
    assert!(origin.fetch(key).await.is_ok(), "queued for the next token");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "two calls in {took:?} from a budget of one per second");
    let spent = origin.fetch_with(key, OnBudgetSpent::FailFast).await.unwrap_err();
    assert!(matches!(spent, OriginError::BudgetSpent { serve_stale: false, .. }), "{spent}");
    let snap = origin.guards().snapshot();
    assert_eq!((snap.budget.immediate, snap.budget.waited, snap.budget.refused), (1, 1, 1));
    assert_eq!(mock.handle().counters().requests, 2);
    mock.stop().await;
}
