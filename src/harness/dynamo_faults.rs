//! DynamoDB faults no process signal can make: added latency and throttling.
//! An HTTP proxy on loopback stands between the chain's AWS SDK and DynamoDB
//! (Local or a given endpoint); while a fault holds, it delays each request or
//! answers it the way DynamoDB throttles (HTTP 400
//! `ProvisionedThroughputExceededException`), so the real SDK classifies and
//! retries it as it would in AWS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri, header};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::rng::{SplitMix, mix};

/// DynamoDB's answer to a request above the table's throughput (the body of
/// real DynamoDB's, JSON 1.0 protocol).
const THROTTLED_BODY: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}"#;

/// Headers that belong to one hop and are not forwarded.
const HOP_BY_HOP: [HeaderName; 4] =
    [header::CONNECTION, header::TRANSFER_ENCODING, header::CONTENT_LENGTH, header::UPGRADE];

/// What the proxy does to requests now; the fault driver sets it.
#[derive(Debug, Default)]
pub struct DynamoFaultState {
    added_latency_us: AtomicU64,
    /// Fraction of requests to throttle, as parts per billion.
    throttle_ppb: AtomicU64,
    seq: AtomicU64,
    throttled: AtomicU64,
    delayed: AtomicU64,
}

impl DynamoFaultState {
    /// Delays every request by `latency` (zero ends it).
    pub fn set_latency(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.added_latency_us.store(us, Ordering::SeqCst);
    }

    /// Throttles this fraction of requests (0 ends it).
    pub fn set_throttle(&self, share: f64) {
        self.throttle_ppb.store((share.clamp(0.0, 1.0) * 1e9) as u64, Ordering::SeqCst);
    }

    /// Requests a fault of `kind` acted on so far (delayed or throttled).
    pub fn hits(&self, kind: crate::scenario::FaultKind) -> u64 {
        match kind {
            crate::scenario::FaultKind::DynamoSlow(_) => self.delayed(),
            crate::scenario::FaultKind::DynamoThrottle => self.throttled(),
            _ => 0,
        }
    }

    /// The latency added now.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.added_latency_us.load(Ordering::SeqCst))
    }

    /// The share of requests throttled now.
    pub fn throttle_share(&self) -> f64 {
        self.throttle_ppb.load(Ordering::SeqCst) as f64 / 1e9
    }

    /// Requests answered as throttled so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Requests delayed so far.
    pub fn delayed(&self) -> u64 {
        self.delayed.load(Ordering::Relaxed)
    }

    /// Whether the next request is throttled: a seeded draw per request.
    fn throttle_next(&self, seed: u64) -> bool {
        let ppb = self.throttle_ppb.load(Ordering::SeqCst);
        if ppb == 0 {
            return false;
        }
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        ppb >= 1_000_000_000 || SplitMix::new(mix(seed, n)).unit() * 1e9 < ppb as f64
    }
}

struct App {
    upstream: String,
    client: reqwest::Client,
    state: Arc<DynamoFaultState>,
    seed: u64,
}

fn throttled() -> Response {
    let mut r = Response::new(Body::from(THROTTLED_BODY));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/x-amz-json-1.0"));
    h.insert(
        "x-amzn-requestid",
        header::HeaderValue::from_static("TIERBENCHTHROTTLEDREQUEST0000000000000000000000"),
    );
    r
}

fn bad_gateway(e: &reqwest::Error) -> Response {
    let mut r = Response::new(Body::from(format!("tierbench DynamoDB fault proxy: upstream failed: {e}")));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

async fn forward(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if app.state.throttle_next(app.seed) {
        app.state.throttled.fetch_add(1, Ordering::Relaxed);
        return throttled();
    }
    let latency = app.state.added_latency_us.load(Ordering::SeqCst);
    if latency > 0 {
        app.state.delayed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_micros(latency)).await;
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = app.client.request(method, format!("{}{path}", app.upstream)).body(body);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(name) && name != header::HOST {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(a) => a,
        Err(e) => return bad_gateway(&e),
    };
    let (status, upstream_headers) = (answer.status(), answer.headers().clone());
    let bytes = match answer.bytes().await {
        Ok(b) => b,
        Err(e) => return bad_gateway(&e),
    };
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    for (name, value) in &upstream_headers {
        if !HOP_BY_HOP.contains(name) {
            r.headers_mut().append(name, value.clone());
        }
    }
    r
}

/// The running proxy; stopping or dropping it stops serving.
pub struct DynamoFaultProxy {
    addr: SocketAddr,
    state: Arc<DynamoFaultState>,
    stop: Option<oneshot::Sender<()>>,
}

impl DynamoFaultProxy {
    /// Proxies a free loopback port to `upstream` (an `http://` endpoint);
    /// `seed` draws which requests a partial throttle hits.
    ///
    /// # Errors
    /// When no loopback port can be bound or the HTTP client cannot be built.
    pub async fn start(upstream: &str, seed: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256)
            .build()
            .map_err(std::io::Error::other)?;
        let state = Arc::new(DynamoFaultState::default());
        let app = Arc::new(App {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client,
            state: state.clone(),
            seed,
        });
        let router = Router::new().fallback(forward).with_state(app);
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(DynamoFaultProxy { addr, state, stop: Some(stop) })
    }

    /// The endpoint URL for the SDK.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The switches the fault driver turns.
    pub fn state(&self) -> Arc<DynamoFaultState> {
        self.state.clone()
    }
}

impl Drop for DynamoFaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_throttle_hits_its_share_and_ends_when_cleared() {
        let s = DynamoFaultState::default();
        assert!(!(0..1_000).any(|_| s.throttle_next(7)), "no fault, no throttling");
        s.set_throttle(0.25);
        let hit = (0..10_000).filter(|_| s.throttle_next(7)).count();
        assert!((2_300..2_700).contains(&hit), "a quarter: {hit}");
        s.set_throttle(1.0);
        assert!((0..1_000).all(|_| s.throttle_next(7)));
        s.set_throttle(0.0);
        assert!(!(0..1_000).any(|_| s.throttle_next(7)));
    }

    #[test]
    fn a_throttled_answer_has_dynamodb_s_status_and_error_type() {
        let r = throttled();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_str(THROTTLED_BODY).unwrap();
        assert!(body["__type"].as_str().unwrap().ends_with("#ProvisionedThroughputExceededException"));
    }
}
