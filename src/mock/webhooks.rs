//! Webhook delivery: events go to every registered endpoint over real HTTP,
//! signed (`Stripe-Signature`), after a delay drawn per delivery, some held back
//! (reordered), some sent twice (duplicates), failed attempts retried with
//! exponential backoff, none delivered while an endpoint-down window lasts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::config::{WebhookConfig, WebhookEndpointConfig};
use super::counters::bump;
use super::error::MockError;
use super::rng::{SplitMix, mix};
use super::server::Shared;
use crate::stripe::webhook::{SIGNATURE_HEADER, compute_signature, signature_header};

/// An event ready to send: its id, type and the exact body that is signed.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub id: String,
    pub event_type: String,
    pub body: Bytes,
}

/// A registered endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub id: String,
    pub url: String,
    pub secrets: RwLock<Vec<String>>,
    pub enabled_events: Vec<String>,
}

impl Endpoint {
    fn wants(&self, event_type: &str) -> bool {
        self.enabled_events.is_empty() || self.enabled_events.iter().any(|e| e == "*" || e == event_type)
    }
}

/// The registered endpoints and the queue of events to deliver.
#[derive(Debug)]
pub(crate) struct WebhookHub {
    pub endpoints: RwLock<Vec<Arc<Endpoint>>>,
    next_endpoint: AtomicU64,
    tx: mpsc::UnboundedSender<Arc<Outgoing>>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Arc<Outgoing>>>>,
    seed: u64,
}

impl WebhookHub {
    pub fn new(config: &WebhookConfig, seed: u64) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let hub = WebhookHub {
            endpoints: RwLock::default(),
            next_endpoint: AtomicU64::new(0),
            tx,
            rx: Mutex::new(Some(rx)),
            seed,
        };
        for e in &config.endpoints {
            hub.register(e.clone());
        }
        hub
    }

    /// Adds an endpoint; returns its id (`we_...`).
    pub fn register(&self, config: WebhookEndpointConfig) -> String {
        let n = self.next_endpoint.fetch_add(1, Ordering::Relaxed);
        let id = super::rng::id_from("we_", mix(self.seed ^ 0x7765, n), 24);
        let endpoint = Endpoint {
            id: id.clone(),
            url: config.url,
            secrets: RwLock::new(config.secrets),
            enabled_events: config.enabled_events,
        };
        self.endpoints.write().unwrap_or_else(PoisonError::into_inner).push(Arc::new(endpoint));
        id
    }

    /// Replaces an endpoint's active secrets (a rotation keeps old and new);
    /// false when no endpoint has that id.
    pub fn set_secrets(&self, id: &str, secrets: Vec<String>) -> bool {
        let endpoints = self.endpoints.read().unwrap_or_else(PoisonError::into_inner);
        match endpoints.iter().find(|e| e.id == id) {
            Some(e) => {
                *e.secrets.write().unwrap_or_else(PoisonError::into_inner) = secrets;
                true
            }
            None => false,
        }
    }

    /// How many endpoints receive `event_type`.
    pub fn receivers(&self, event_type: &str) -> usize {
        self.endpoints
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e.wants(event_type))
            .count()
    }

    /// Queues an event for delivery (delivered while the mock serves).
    pub fn send(&self, event: Outgoing) {
        let _ = self.tx.send(Arc::new(event));
    }

    fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<Arc<Outgoing>>> {
        self.rx.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Delivers queued events until `shutdown` resolves; pending deliveries are
/// dropped then.
///
/// # Errors
/// When the HTTP client cannot be built.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), MockError> {
    let Some(mut rx) = shared.webhooks.take_receiver() else { return Ok(()) };
    let cfg = shared.config.webhooks.clone();
    let client = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .build()
        .map_err(|e| MockError::WebhookClient(e.to_string()))?;
    // Decisions are drawn here, in event order, from one seeded stream.
    let mut rng = SplitMix::new(mix(shared.config.seed, 0x0077_6562_686f_6f6b));
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            Some(event) = rx.recv() => {
                let endpoints: Vec<Arc<Endpoint>> = shared.webhooks.endpoints.read()
                    .unwrap_or_else(PoisonError::into_inner).iter().filter(|e| e.wants(&event.event_type)).cloned().collect();
                for endpoint in endpoints {
                    let mut delay = rng.lognormal(cfg.delay_p50, cfg.delay_p99);
                    if rng.chance(cfg.reorder_rate) {
                        bump(&shared.counters.webhooks_reordered);
                        delay += cfg.reorder_delay;
                    }
                    let mut copies = vec![delay];
                    if rng.chance(cfg.duplicate_rate) {
                        bump(&shared.counters.webhooks_duplicated);
                        copies.push(delay + cfg.duplicate_delay);
                    }
                    for delay in copies {
                        let mut injected = 0;
                        while injected <= cfg.max_retries && rng.chance(cfg.failure_rate) {
                            injected += 1;
                        }
                        let plan = Plan { delay, injected_failures: injected };
                        tasks.spawn(deliver(Arc::clone(&shared), client.clone(), Arc::clone(&endpoint), Arc::clone(&event), plan));
                    }
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            else => break,
        }
    }
    tasks.shutdown().await;
    Ok(())
}

/// How one delivery goes: when it starts, and how many of its first attempts
/// fail in transit.
#[derive(Debug, Clone, Copy)]
struct Plan {
    delay: Duration,
    injected_failures: u32,
}

async fn deliver(
    shared: Arc<Shared>,
    client: reqwest::Client,
    endpoint: Arc<Endpoint>,
    event: Arc<Outgoing>,
    plan: Plan,
) {
    let cfg = &shared.config.webhooks;
    tokio::time::sleep(plan.delay).await;
    for attempt in 0..=cfg.max_retries {
        if attempt > 0 {
            bump(&shared.counters.webhook_retries);
            let backoff = cfg.retry_base.saturating_mul(1 << (attempt - 1).min(20)).min(cfg.retry_max);
            tokio::time::sleep(backoff).await;
        }
        let elapsed = shared.elapsed();
        let down = cfg.down.iter().any(|w| w.contains(elapsed));
        let ok =
            attempt >= plan.injected_failures && !down && post(&shared, &client, &endpoint, &event).await;
        if ok {
            bump(&shared.counters.webhooks_delivered);
            return;
        }
        bump(&shared.counters.webhook_attempts_failed);
    }
    bump(&shared.counters.webhooks_abandoned);
}

/// One signed POST; true on a 2xx answer.
async fn post(shared: &Shared, client: &reqwest::Client, endpoint: &Endpoint, event: &Outgoing) -> bool {
    let t = shared.clock.now().as_secs();
    let secrets = endpoint.secrets.read().unwrap_or_else(PoisonError::into_inner).clone();
    let decoy = shared
        .config
        .webhooks
        .v0_decoy
        .then(|| compute_signature("whsec_tierbench_v0_decoy", t, &event.body));
    let header = signature_header(&secrets, t, &event.body, decoy.as_deref());
    let sent = client
        .post(&endpoint.url)
        .header(SIGNATURE_HEADER, header)
        .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(reqwest::header::USER_AGENT, "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .body(event.body.clone())
        .send()
        .await;
    match sent {
        Ok(resp) => resp.status().is_success(),
        Err(e) => {
            tracing::debug!("webhook {} to {} failed: {e}", event.id, endpoint.url);
            false
        }
    }
}
