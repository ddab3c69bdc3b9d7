//! The mock's faults and latency: outage windows (status, hang, reset, slow),
//! error-rate injection, latency distributions and spikes that block nobody.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tierbench::clock::{ManualClock, SharedClock};
use tierbench::mock::{Endpoint, FaultKind, LatencyDist, OutageWindow};

use crate::mock_support::{config, start};

fn window(kind: FaultKind) -> OutageWindow {
    OutageWindow { start: Duration::ZERO, duration: Duration::from_secs(3_600), kind, share: 1.0 }
}

#[tokio::test]
async fn mock_outage_windows_answer_their_status_only_inside() {
    let clock = ManualClock::starting_now();
    let mut c = config();
    c.clock = Arc::clone(&clock) as SharedClock;
    c.faults.outages.push(OutageWindow {
        start: Duration::from_secs(10),
        duration: Duration::from_secs(5),
        kind: FaultKind::Status(503),
        share: 1.0,
    });
    let mock = start(c).await;
    let path = format!("/v1/customers/{}", mock.handle().customer_ids(None)[0]);
    assert_eq!(mock.get(&path).await.status, 200);
    clock.advance(Duration::from_secs(11));
    let r = mock.get(&path).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "api_error");
    assert_eq!(r.header("stripe-should-retry"), Some("true"));
    assert!(r.header("request-id").is_some());
    clock.advance(Duration::from_secs(5));
    assert_eq!(mock.get(&path).await.status, 200);
    assert_eq!(mock.handle().counters().faults.status, 1);
    assert_eq!(mock.handle().counters().status_5xx, 1);
    mock.stop().await;
}

#[tokio::test]
async fn mock_a_hang_outlasts_the_client_timeout_and_ends_at_shutdown() {
    let mock = start(config()).await;
    let url = mock.url(&format!("/v1/customers/{}", mock.handle().customer_ids(None)[0]));
    mock.handle().add_outage(window(FaultKind::Hang));
    let started = Instant::now();
    let err = mock
        .client
        .get(&url)
        .bearer_auth(crate::mock_support::KEY)
        .timeout(Duration::from_millis(400))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(mock.handle().counters().faults.hang, 1);
    mock.handle().clear_outages();
    assert_eq!(
        mock.client.get(&url).bearer_auth(crate::mock_support::KEY).send().await.unwrap().status(),
        200
    );
    // Another hang is in flight when the mock stops: stopping does not wait 120 s.
    mock.handle().add_outage(window(FaultKind::Hang));
    let hanging = tokio::spawn(mock.client.get(&url).bearer_auth(crate::mock_support::KEY).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = Instant::now();
    mock.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(10));
    let _ = hanging.await;
}

#[tokio::test]
async fn mock_a_reset_window_resets_the_connection() {
    let mock = start(config()).await;
    let url = mock.url(&format!("/v1/customers/{}", mock.handle().customer_ids(None)[0]));
    mock.handle().add_outage(window(FaultKind::Reset));
    let err = mock.client.get(&url).bearer_auth(crate::mock_support::KEY).send().await.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "a transport error, not an answer: {err}");
    assert_eq!(mock.handle().counters().faults.reset, 1);
    mock.handle().clear_outages();
    assert_eq!(
        mock.client.get(&url).bearer_auth(crate::mock_support::KEY).send().await.unwrap().status(),
        200
    );
    mock.stop().await;
}

#[tokio::test]
async fn mock_the_error_rate_fails_about_that_fraction() {
    let mut c = config();
    c.faults.error_rate = 0.2;
    let mock = start(c).await;
    let path = format!("/v1/customers/{}", mock.handle().customer_ids(None)[0]);
    let mut failed = 0;
    for _ in 0..300 {
        let r = mock.get(&path).await;
        if r.status == 500 {
            assert_eq!(r.json()["error"]["type"], "api_error");
            failed += 1;
        }
    }
    // Binomial(300, 0.2): mean 60, sd 6.9.
    assert!((35..=85).contains(&failed), "{failed} of 300 failed");
    assert_eq!(mock.handle().counters().faults.injected_errors, failed);
    mock.stop().await;
}

#[tokio::test]
async fn mock_latency_follows_its_distribution_and_blocks_nobody() {
    let mut c = config();
    c.latency.scale = 1.0;
    c.latency.set(Endpoint::CustomerRetrieve, LatencyDist::from_millis(300, 600));
    let mock = start(c).await;
    let path = format!("/v1/customers/{}", mock.handle().customer_ids(None)[0]);
    let started = Instant::now();
    let mut took: Vec<Duration> = join_all((0..40).map(|_| async {
        let t = Instant::now();
        assert_eq!(mock.get(&path).await.status, 200);
        t.elapsed()
    }))
    .await;
    let total = started.elapsed();
    took.sort();
    let median = took[20];
    assert!(
        median >= Duration::from_millis(230) && median <= Duration::from_millis(700),
        "median {median:?}"
    );
    assert!(took[0] >= Duration::from_millis(100), "every request waits: min {:?}", took[0]);
    // 40 requests of ~300 ms each, served concurrently: far less than 12 s in series.
    assert!(total < Duration::from_secs(4), "waiting blocked other requests: {total:?}");
    // Other endpoints keep their own (here: default 300 ms x scale) distribution; a
    // scale of 0 turns latency off.
    mock.stop().await;
}

#[tokio::test]
async fn mock_latency_spikes_and_slow_windows_add_their_delay() {
    let mut c = config();
    c.latency.spike_probability = 1.0;
    c.latency.spike = Duration::from_millis(300);
    let mock = start(c).await;
    let path = format!("/v1/customers/{}", mock.handle().customer_ids(None)[0]);
    let t = Instant::now();
    assert_eq!(mock.get(&path).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(mock.handle().counters().faults.latency_spikes, 1);
    mock.stop().await;
    let mock = start(config()).await;
    mock.handle().add_outage(window(FaultKind::Slow(Duration::from_millis(250))));
    let t = Instant::now();
    assert_eq!(mock.get(&path).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(250));
    assert_eq!(mock.handle().counters().faults.slow, 1);
    mock.stop().await;
}
