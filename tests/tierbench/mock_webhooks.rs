//! Webhook deliveries from the mock to a real HTTP endpoint: signatures,
//! duplicates, reordering, retries with backoff, endpoint-down windows, and the
//! mutation driver. Decisions are seeded; rate checks use binomial bounds.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tierbench::mock::{MockConfig, WebhookEndpointConfig, Window};
use tierbench::stripe::webhook::{DEFAULT_TOLERANCE, verify};
use tierbench::stripe::{CacheKey, ObjectKind};

use crate::mock_support::{Mock, config, start};

/// One delivery as the endpoint saw it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub at: Instant,
    pub signature: String,
    pub body: String,
    pub event_id: String,
}

/// A webhook endpoint on 127.0.0.1:0 recording what it receives.
#[derive(Clone, Default)]
pub struct Endpoint {
    pub log: Arc<Mutex<Vec<Delivery>>>,
    /// Answer 500 to the first attempt of every event.
    fail_first: Arc<AtomicBool>,
    seen: Arc<Mutex<HashSet<String>>>,
}

async fn receive(State(e): State<Endpoint>, headers: HeaderMap, body: String) -> StatusCode {
    let event_id = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if e.fail_first.load(Ordering::Relaxed) && e.seen.lock().unwrap().insert(event_id.clone()) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let signature =
        headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    e.log.lock().unwrap().push(Delivery { at: Instant::now(), signature, body, event_id });
    StatusCode::OK
}

impl Endpoint {
    /// Starts the endpoint; returns it and its URL.
    pub async fn start(fail_first: bool) -> (Endpoint, String) {
        let e = Endpoint::default();
        e.fail_first.store(fail_first, Ordering::Relaxed);
        let app = axum::Router::new().route("/hook", post(receive)).with_state(e.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (e, url)
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `n` distinct events arrived (at most 20 s).
    pub async fn wait_for_events(&self, n: usize) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let d = self.deliveries();
            if d.iter().map(|x| &x.event_id).collect::<HashSet<_>>().len() >= n {
                return d;
            }
            assert!(Instant::now() < deadline, "only {} deliveries arrived", d.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The mock's webhook counters once it counts `n` deliveries (or after 5 s):
/// the endpoint records a delivery before the mock has read its answer.
async fn counted_delivered(mock: &Mock, n: u64) -> tierbench::mock::Webhooks {
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.handle().counters().webhooks.delivered < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    mock.handle().counters().webhooks
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Webhooks without delays, reorders, duplicates or failures.
fn plain(url: &str, secrets: &[&str]) -> MockConfig {
    let mut c = config();
    let w = &mut c.webhooks;
    w.endpoints = vec![WebhookEndpointConfig {
        url: url.to_owned(),
        secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        enabled_events: Vec::new(),
    }];
    w.delay_p50 = Duration::from_millis(5);
    w.delay_p99 = Duration::from_millis(5);
    w.reorder_rate = 0.0;
    w.duplicate_rate = 0.0;
    c
}

#[tokio::test]
async fn mock_webhook_events_are_signed_verify_and_name_their_keys() {
    let (endpoint, url) = Endpoint::start(false).await;
    let mock = start(plain(&url, &["whsec_old"])).await;
    let cus = mock.handle().customer_ids(None)[0].clone();
    let key = CacheKey::new(ObjectKind::Customer, cus.clone());
    let emitted = mock.handle().mutate(&key).unwrap();
    let got = endpoint.wait_for_events(1).await;
    let d = &got[0];
    assert_eq!(d.body.as_bytes(), &emitted[0].body[..], "the exact emitted body");
    assert!(d.signature.starts_with("t=") && d.signature.contains(",v1=") && d.signature.contains(",v0="));
    assert_eq!(verify(d.body.as_bytes(), &d.signature, "whsec_old", DEFAULT_TOLERANCE, now_s()), Ok(()));
    assert!(verify(d.body.as_bytes(), &d.signature, "whsec_other", DEFAULT_TOLERANCE, now_s()).is_err());
    let event: serde_json::Value = serde_json::from_str(&d.body).unwrap();
    assert_eq!((event["object"].as_str(), event["type"].as_str()), (Some("event"), Some("customer.updated")));
    assert_eq!(event["data"]["object"]["id"], cus.as_str());
    assert!(event["data"]["previous_attributes"].is_object());
    assert!(d.body.starts_with("{\n  \"id\": \"evt_"), "pretty-printed like Stripe");
    assert_eq!(tierbench::stripe::events::keys_for_event(&event), vec![key.clone()]);
    // Rotation: two secrets, two v1 signatures, either verifies.
    let id = mock
        .handle()
        .add_webhook_endpoint(WebhookEndpointConfig {
            url: url.clone(),
            secrets: vec!["whsec_a".into()],
            enabled_events: vec!["invoice.paid".into()],
        })
        .unwrap();
    assert!(mock.handle().set_webhook_secrets(&id, vec!["whsec_a".into(), "whsec_b".into()]));
    let open = mock.get("/v1/invoices?status=open&limit=1").await.json();
    let inv = open["data"][0]["id"].as_str().expect("an open invoice").to_owned();
    let paid = mock.handle().mutate(&CacheKey::new(ObjectKind::Invoice, inv)).unwrap();
    assert_eq!(paid[0].event_type, "invoice.paid");
    let deadline = Instant::now() + Duration::from_secs(20);
    while endpoint.deliveries().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the invoice.paid event reached {} endpoints",
            endpoint.deliveries().len() - 1
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = endpoint.deliveries();
    let rotated: Vec<&Delivery> = got.iter().filter(|d| d.signature.matches("v1=").count() == 2).collect();
    assert_eq!(rotated.len(), 1, "only the rotated endpoint signs twice");
    assert_eq!(rotated[0].event_id, paid[0].id);
    for secret in ["whsec_a", "whsec_b"] {
        assert_eq!(
            verify(rotated[0].body.as_bytes(), &rotated[0].signature, secret, DEFAULT_TOLERANCE, now_s()),
            Ok(())
        );
    }
    // The customer.updated event did not go to the endpoint that enabled only invoice.paid.
    assert_eq!(got.iter().filter(|d| d.event_id == emitted[0].id).count(), 1);
    mock.stop().await;
}

#[tokio::test]
async fn mock_duplicates_and_reorderings_occur_at_the_configured_rates() {
    let (endpoint, url) = Endpoint::start(false).await;
    let mut c = plain(&url, &["whsec_x"]);
    c.webhooks.reorder_rate = 0.2;
    c.webhooks.reorder_delay = Duration::from_millis(1_500);
    c.webhooks.duplicate_rate = 0.1;
    c.webhooks.duplicate_delay = Duration::from_millis(50);
    c.seed = 42;
    let mock = start(c).await;
    let n = 300;
    let mut emitted_at: HashMap<String, (usize, Instant)> = HashMap::new();
    for i in 0..n {
        for e in mock.handle().mutate_random().unwrap() {
            emitted_at.insert(e.id, (i, Instant::now()));
        }
    }
    let events = emitted_at.len();
    let got = endpoint.wait_for_events(events).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // late duplicates
    let got = if got.len() < endpoint.deliveries().len() { endpoint.deliveries() } else { got };
    let counters = mock.handle().counters().webhooks;
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for d in &got {
        *copies.entry(&d.event_id).or_default() += 1;
    }
    let duplicated = copies.values().filter(|c| **c > 1).count() as u64;
    assert_eq!(duplicated, counters.duplicated, "what arrived twice is what the mock duplicated");
    // Binomial(events, 0.1), events ~ 300: mean ~30, sd ~5.2.
    assert!((15..=50).contains(&duplicated), "{duplicated} duplicates of {events}");
    // Held-back events arrive >= 1.5 s after their change; the others within ~5 ms
    // plus scheduling (allow 1 s on a busy machine).
    let mut first_arrival: HashMap<&str, Instant> = HashMap::new();
    for d in &got {
        first_arrival.entry(&d.event_id).or_insert(d.at);
    }
    let held = first_arrival
        .iter()
        .filter(|(id, at)| at.duration_since(emitted_at[**id].1) >= Duration::from_millis(1_000))
        .count() as u64;
    assert_eq!(held, counters.reordered);
    assert!((35..=90).contains(&held), "{held} of {events} held back");
    // And they really arrive out of order: some later event arrives before them.
    let mut by_arrival: Vec<(&str, Instant)> = first_arrival.iter().map(|(id, at)| (*id, *at)).collect();
    by_arrival.sort_by_key(|(_, at)| *at);
    let order: Vec<usize> = by_arrival.iter().map(|(id, _)| emitted_at[*id].0).collect();
    let inversions = order.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions >= 1, "no out-of-order delivery");
    // Every copy verifies.
    assert!(
        got.iter()
            .all(|d| verify(d.body.as_bytes(), &d.signature, "whsec_x", DEFAULT_TOLERANCE, now_s()).is_ok())
    );
    mock.stop().await;
}

#[tokio::test]
async fn mock_failed_deliveries_are_retried_with_backoff_or_abandoned() {
    let (endpoint, url) = Endpoint::start(true).await;
    let mut c = plain(&url, &["whsec_x"]);
    c.webhooks.retry_base = Duration::from_millis(200);
    let mock = start(c).await;
    let ids = mock.handle().customer_ids(None);
    let t0 = Instant::now();
    for id in ids.iter().take(5) {
        mock.handle().mutate(&CacheKey::new(ObjectKind::Customer, id.clone())).unwrap();
    }
    let got = endpoint.wait_for_events(5).await;
    assert!(
        got.iter().all(|d| d.at.duration_since(t0) >= Duration::from_millis(190)),
        "retries wait the backoff"
    );
    let w = counted_delivered(&mock, 5).await;
    assert_eq!((w.delivered, w.attempts_failed, w.retries, w.abandoned), (5, 5, 5, 0));
    mock.stop().await;
    // Injected failures on every attempt: given up after the last retry.
    let (endpoint, url) = Endpoint::start(false).await;
    let mut c = plain(&url, &["whsec_x"]);
    c.webhooks.failure_rate = 1.0;
    c.webhooks.max_retries = 2;
    c.webhooks.retry_base = Duration::from_millis(10);
    let mock = start(c).await;
    mock.handle().mutate(&CacheKey::new(ObjectKind::Customer, ids[0].clone())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.handle().counters().webhooks.abandoned == 0 {
        assert!(Instant::now() < deadline, "never abandoned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let w = mock.handle().counters().webhooks;
    assert_eq!((w.delivered, w.attempts_failed, w.abandoned), (0, 3, 1));
    assert!(endpoint.deliveries().is_empty());
    mock.stop().await;
}

#[tokio::test]
async fn mock_endpoint_down_windows_hold_deliveries_until_they_end() {
    let (endpoint, url) = Endpoint::start(false).await;
    let mut c = plain(&url, &["whsec_x"]);
    c.webhooks.down = vec![Window { start: Duration::ZERO, duration: Duration::from_millis(1_000) }];
    c.webhooks.retry_base = Duration::from_millis(250);
    c.webhooks.max_retries = 6;
    let mock = start(c).await;
    let t0 = Instant::now();
    let window_ends = t0 + Duration::from_millis(1_000).saturating_sub(mock.handle().elapsed());
    mock.handle()
        .mutate(&CacheKey::new(ObjectKind::Customer, mock.handle().customer_ids(None)[0].clone()))
        .unwrap();
    let got = endpoint.wait_for_events(1).await;
    assert!(got[0].at >= window_ends, "delivered inside the down window");
    let w = counted_delivered(&mock, 1).await;
    assert!(w.attempts_failed >= 1 && w.delivered == 1, "{w:?}");
    mock.stop().await;
}

#[tokio::test]
async fn mock_the_mutation_driver_changes_objects_at_its_rate() {
    let (endpoint, url) = Endpoint::start(false).await;
    let mut c = plain(&url, &["whsec_x"]);
    c.mutations.rate_per_s = 50.0;
    let mock = start(c).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let counters = mock.handle().counters();
    let m = counters.mutations;
    assert!((20..=80).contains(&m), "{m} mutations in ~1 s at 50/s");
    mock.stop().await;
    let received = endpoint.deliveries().len() as u64;
    assert!(
        received > 0 && received <= counters.events,
        "{received} deliveries of {} events",
        counters.events
    );
}
