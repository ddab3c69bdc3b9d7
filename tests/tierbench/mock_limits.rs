//! The mock's rate limiters, concurrency limit and lock contention, over HTTP.
//! Bucket arithmetic runs on a manual clock (no timing flakiness); the one
//! real-time test derives its expectation from the time the burst really took.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;
use tierbench::clock::{ManualClock, SharedClock};
use tierbench::mock::{Endpoint, LatencyDist, MockConfig};

use crate::mock_support::{Mock, config, start};

/// Limits on, latency off, a manual clock.
fn limited(clock: &Arc<ManualClock>) -> MockConfig {
    let mut c = config();
    c.limits.enabled = true;
    c.limits.concurrency = None;
    c.clock = Arc::clone(clock) as SharedClock;
    c
}

async fn statuses(mock: &Mock, paths: &[String], key: &str) -> Vec<u16> {
    let calls = paths.iter().map(|p| async move {
        let r = mock.client.get(mock.url(p)).bearer_auth(key).send().await.unwrap();
        r.status().as_u16()
    });
    join_all(calls).await
}

/// The facts sheet's 429 body, pretty-printed with two spaces, in its key order.
const FACTS_429: &str = r#"{"error":{"message":"Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.","type":"invalid_request_error","code":"rate_limit","doc_url":"https://stripe.com/docs/error-codes/rate-limit"}}"#;

#[tokio::test]
async fn mock_rate_limited_answers_carry_the_facts_sheet_body_and_headers() {
    let clock = ManualClock::starting_now();
    let mut c = limited(&clock);
    c.limits.global_test_per_s = 5.0;
    let mock = start(c).await;
    let id = mock.handle().customer_ids(None)[0].clone();
    for _ in 0..5 {
        assert_eq!(mock.get(&format!("/v1/customers/{id}")).await.status, 200);
    }
    let r = mock.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(r.status, 429);
    let facts: Value = serde_json::from_str(FACTS_429).unwrap();
    assert_eq!(r.json(), facts);
    let pretty = "{\n  \"error\": {\n    \"message\": \"Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.\",\n    \"type\": \"invalid_request_error\",\n    \"code\": \"rate_limit\",\n    \"doc_url\": \"https://stripe.com/docs/error-codes/rate-limit\"\n  }\n}";
    assert_eq!(r.text, pretty);
    assert_eq!(r.header("stripe-rate-limited-reason"), Some("global-rate"));
    assert!(r.header("retry-after").is_none(), "Stripe never sends Retry-After");
    assert!(r.header("stripe-should-retry").is_none(), "a plain rate limit is not to be retried");
    assert!(r.header("request-id").unwrap().starts_with("req_"));
    assert!(r.header("stripe-version").is_some());
    assert_eq!(mock.handle().counters().rate_limited.global_rate, 1);
    // The chain's origin client reads it as a rate limit with that reason.
    let origin = tierbench::origin::StripeHttp::new(
        tierbench::origin::StripeHttpOptions { base_url: mock.running.url(), ..Default::default() },
        tierbench::clock::SystemClock::shared(),
    )
    .unwrap();
    use tierbench::origin::Origin as _;
    let key = tierbench::stripe::CacheKey::new(tierbench::stripe::ObjectKind::Customer, id);
    match origin.fetch(&key).await {
        Err(tierbench::origin::OriginError::RateLimited { reason, code, should_retry }) => {
            assert_eq!(
                (reason.as_str(), code.as_deref(), should_retry),
                ("global-rate", Some("rate_limit"), None)
            );
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    clock.advance(Duration::from_secs(1));
    assert!(origin.fetch(&key).await.is_ok(), "the bucket refilled");
    mock.stop().await;
}

#[tokio::test]
async fn mock_a_burst_at_three_times_the_limit_is_refused_for_the_excess_only() {
    let clock = ManualClock::starting_now();
    let mut c = limited(&clock);
    c.limits.global_test_per_s = 20.0;
    let mock = start(c).await;
    let ids = mock.handle().customer_ids(None);
    let paths: Vec<String> = (0..60).map(|i| format!("/v1/customers/{}", ids[i % ids.len()])).collect();
    // One second's worth of burst at 3x: the limit's worth passes, the excess does not.
    let burst = statuses(&mock, &paths, crate::mock_support::KEY).await;
    assert_eq!(burst.iter().filter(|s| **s == 200).count(), 20);
    assert_eq!(burst.iter().filter(|s| **s == 429).count(), 40);
    clock.advance(Duration::from_secs(1));
    let next = statuses(&mock, &paths, crate::mock_support::KEY).await;
    assert_eq!(next.iter().filter(|s| **s == 200).count(), 20);
    assert_eq!(mock.handle().counters().rate_limited.global_rate, 80);
    mock.stop().await;
}

#[tokio::test]
async fn mock_a_paced_burst_in_real_time_is_refused_for_about_the_excess() {
    // 3x a 20/s limit, paced over ~2 s of wall time. Admitted = burst capacity +
    // rate x the time the burst really took (measured, so a slow machine does not
    // make it flaky), give or take a few.
    let mut c = config();
    c.limits.enabled = true;
    c.limits.concurrency = None;
    c.limits.global_test_per_s = 20.0;
    c.limits.burst = Duration::from_millis(250); // capacity 5
    let mock = start(c).await;
    let id = mock.handle().customer_ids(None)[0].clone();
    let mut tick = tokio::time::interval(Duration::from_millis(1_000 / 60));
    let started = Instant::now();
    let mut admitted = 0;
    let sent = 120;
    for _ in 0..sent {
        tick.tick().await;
        admitted += usize::from(mock.get(&format!("/v1/customers/{id}")).await.status == 200);
    }
    let took = started.elapsed().as_secs_f64();
    let expected = 5.0 + 20.0 * took;
    assert!(
        (admitted as f64 - expected).abs() <= 6.0,
        "admitted {admitted} of {sent} in {took:.2} s; expected ~{expected:.0}"
    );
    assert!(sent - admitted >= 50, "the excess ({}) is refused", sent - admitted);
    mock.stop().await;
}

#[tokio::test]
async fn mock_live_keys_get_the_live_limit_and_endpoints_their_own() {
    let clock = ManualClock::starting_now();
    let mut c = limited(&clock);
    c.limits.global_live_per_s = 10.0;
    c.limits.global_test_per_s = 3.0;
    c.limits.endpoint_per_s[Endpoint::CustomerRetrieve.index()] = 6.0;
    let mock = start(c).await;
    let ids = mock.handle().customer_ids(None);
    let customers: Vec<String> = (0..8).map(|i| format!("/v1/customers/{}", ids[i])).collect();
    let live = statuses(&mock, &customers, "sk_live_tierbench").await;
    assert_eq!(live.iter().filter(|s| **s == 200).count(), 6, "the endpoint limit (6) binds first");
    let r = mock.client.get(mock.url(&customers[0])).bearer_auth("sk_live_tierbench").send().await.unwrap();
    assert_eq!(r.headers()["stripe-rate-limited-reason"], "endpoint-rate");
    // Another endpoint still passes, until the live global limit (10) is spent.
    let invoices: Vec<String> =
        mock.handle().invoice_ids(None).iter().take(6).map(|i| format!("/v1/invoices/{i}")).collect();
    let other = statuses(&mock, &invoices, "sk_live_tierbench").await;
    assert_eq!(other.iter().filter(|s| **s == 200).count(), 4);
    // Test mode has its own, smaller bucket.
    let test = statuses(&mock, &invoices, crate::mock_support::KEY).await;
    assert_eq!(test.iter().filter(|s| **s == 200).count(), 3);
    let counted = mock.handle().counters().rate_limited;
    assert_eq!((counted.endpoint_rate, counted.global_rate), (3, 5));
    mock.stop().await;
}

#[tokio::test]
async fn mock_the_concurrency_limit_refuses_requests_beyond_it() {
    let mut c = config();
    c.limits.enabled = true;
    c.limits.global_test_per_s = 1_000.0;
    c.limits.endpoint_per_s = [1_000.0; Endpoint::COUNT];
    c.limits.concurrency = Some(3);
    c.latency.scale = 1.0;
    c.latency.set(Endpoint::CustomerRetrieve, LatencyDist::from_millis(2_000, 2_000));
    let mock = start(c).await;
    let id = mock.handle().customer_ids(None)[0].clone();
    let paths: Vec<String> = (0..6).map(|_| format!("/v1/customers/{id}")).collect();
    let got = statuses(&mock, &paths, crate::mock_support::KEY).await;
    assert_eq!(got.iter().filter(|s| **s == 200).count(), 3, "{got:?}");
    assert_eq!(mock.handle().counters().rate_limited.global_concurrency, 3);
    mock.stop().await;
}

#[tokio::test]
async fn mock_concurrent_writes_to_one_object_get_lock_timeout() {
    let mut c = config();
    c.limits.enabled = true;
    c.limits.global_test_per_s = 1_000.0;
    c.limits.endpoint_per_s = [1_000.0; Endpoint::COUNT];
    c.latency.scale = 1.0;
    c.latency.set(Endpoint::CustomerUpdate, LatencyDist::from_millis(1_500, 1_500));
    let mock = start(c).await;
    let ids = mock.handle().customer_ids(None);
    let (path_a, path_b) = (format!("/v1/customers/{}", ids[0]), format!("/v1/customers/{}", ids[1]));
    let first = mock.post(&path_a, "name=First", &[]);
    let contenders = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tokio::join!(mock.post(&path_a, "name=Second", &[]), mock.post(&path_b, "name=Other", &[]))
    };
    let (first, (second, other)) = tokio::join!(first, contenders);
    assert_eq!(first.status, 200);
    assert_eq!(other.status, 200, "another object is not locked");
    assert_eq!(second.status, 429, "{}", second.text);
    assert_eq!(second.json()["error"]["code"], "lock_timeout");
    assert_eq!(second.header("stripe-should-retry"), Some("true"));
    assert_eq!(second.header("stripe-rate-limited-reason"), Some("resource-specific"));
    assert!(second.json()["error"]["message"].as_str().unwrap().starts_with("This object cannot be accessed right now because another API request or Stripe process is currently accessing it."));
    assert_eq!(mock.handle().counters().rate_limited.lock_timeout, 1);
    mock.stop().await;
}
