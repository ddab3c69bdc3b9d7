//! Serves the application's webhook endpoint over HTTP for the mock to deliver
//! to, applying each event to the chain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::callers::LiveChain;
use crate::chain::{ChainCounters, WebhookError, WebhookHandler};
use crate::clock::{Clock, SystemClock};

pub use crate::run::WebhookCounts;

/// The largest webhook body the endpoint reads.
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

#[derive(Default)]
struct Counters {
    refused_down: AtomicU64,
    applied: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    keys: AtomicU64,
}

struct App {
    /// While set (a `webhook_outage` fault), every delivery gets 503.
    down: Arc<std::sync::atomic::AtomicBool>,
    handler: WebhookHandler,
    chain: LiveChain,
    counts: Counters,
}

async fn receive(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if app.down.load(Ordering::SeqCst) {
        app.counts.refused_down.fetch_add(1, Ordering::Relaxed);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let now_s = SystemClock.now().as_secs();
    match app.handler.apply(&app.chain, &body, signature, now_s).await {
        Ok(applied) if applied.duplicate => {
            app.counts.duplicates.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
        Ok(applied) => {
            app.counts.applied.fetch_add(1, Ordering::Relaxed);
            app.counts.keys.fetch_add((applied.keys + applied.bulk) as u64, Ordering::Relaxed);
            StatusCode::OK
        }
        Err(WebhookError::Invalidation(_)) => {
            app.counts.failed.fetch_add(1, Ordering::Relaxed);
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Err(_) => {
            app.counts.rejected.fetch_add(1, Ordering::Relaxed);
            StatusCode::BAD_REQUEST
        }
    }
}

/// The running endpoint.
pub struct WebhookEndpoint {
    /// Where it listens.
    pub addr: SocketAddr,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookEndpoint {
    /// Serves `POST /webhooks/stripe` on a free loopback port, applying events to `chain`.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start(handler: WebhookHandler, chain: LiveChain) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App { down: Arc::default(), handler, chain, counts: Counters::default() });
        // Stripe's events are a few KB; anything far larger is refused unread.
        let router = Router::new()
            .route("/webhooks/stripe", post(receive))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
            .with_state(app.clone());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(WebhookEndpoint { addr, app, stop: Some(stop), task })
    }

    /// The switch a `webhook_outage` fault flips: while on, deliveries get 503.
    pub fn down_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.app.down.clone()
    }

    /// The URL to register with Stripe.
    pub fn url(&self) -> String {
        format!("http://{}/webhooks/stripe", self.addr)
    }

    /// Stops serving and returns what it saw, and what its chain counted
    /// (the invalidations it made).
    pub async fn stop(mut self) -> (WebhookCounts, ChainCounters) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
        let c = &self.app.counts;
        let counts = WebhookCounts {
            applied: c.applied.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            refused_down: c.refused_down.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            keys_invalidated: c.keys.load(Ordering::Relaxed),
        };
        (counts, self.app.chain.stats().snapshot())
    }
}
