//! One API request, start to end, in Stripe's order: authenticate, route, pick
//! the account, faults, rate and concurrency limits, latency, then the endpoint
//! (writes under the object's lock and the idempotency key); every answer
//! carries `Request-Id`, `Stripe-Version` and, on objects, the version header.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth;
use super::config::FaultKind;
use super::conn::ConnInfo;
use super::counters::bump;
use super::endpoint::{Endpoint, Route, route};
use super::error::ApiError;
use super::faults::Fault;
use super::idempotency::{Claim, SavedReply};
use super::limits::Refusal;
use super::params::Params;
use super::reads::{Answer, answer};
use super::rng::{SplitMix, id_from, mix};
use super::server::Shared;
use super::writes;
use crate::stripe::OBJECT_VERSION_HEADER;

static REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
static STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");
static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
static ORIGINAL_REQUEST: HeaderName = HeaderName::from_static("original-request");
static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
static SHOULD_RETRY: HeaderName = HeaderName::from_static("stripe-should-retry");
static LIMITED_REASON: HeaderName = HeaderName::from_static("stripe-rate-limited-reason");
static VERSION_HEADER: HeaderName = HeaderName::from_static(OBJECT_VERSION_HEADER);

/// Largest POST body read (Stripe's form bodies are small).
const MAX_BODY_BYTES: usize = 1 << 20;

/// An answer before headers.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: Bytes,
    object_version: Option<u64>,
    should_retry: Option<bool>,
    limited_reason: Option<&'static str>,
    original_request: Option<HeaderValue>,
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply {
            status: e.status,
            body: e.body,
            object_version: None,
            should_retry: e.should_retry,
            limited_reason: e.limited_reason,
            original_request: None,
        }
    }
}

impl From<Answer> for Reply {
    fn from(a: Answer) -> Self {
        Reply {
            status: StatusCode::OK,
            body: a.body,
            object_version: Some(a.fresh.version),
            should_retry: None,
            limited_reason: None,
            original_request: None,
        }
    }
}

/// What every answer to a request echoes.
struct Context {
    request_id: HeaderValue,
    api_version: HeaderValue,
    idempotency_key: Option<HeaderValue>,
}

fn header_bool(b: bool) -> HeaderValue {
    HeaderValue::from_static(if b { "true" } else { "false" })
}

impl Reply {
    fn into_response(self, ctx: Context) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
        h.insert(REQUEST_ID.clone(), ctx.request_id);
        h.insert(STRIPE_VERSION.clone(), ctx.api_version);
        if let Some(v) = self.object_version {
            h.insert(VERSION_HEADER.clone(), HeaderValue::from(v));
        }
        if let Some(k) = ctx.idempotency_key {
            h.insert(IDEMPOTENCY_KEY.clone(), k);
        }
        if let Some(orig) = self.original_request {
            h.insert(ORIGINAL_REQUEST.clone(), orig);
            h.insert(REPLAYED.clone(), header_bool(true));
        }
        if let Some(r) = self.should_retry {
            h.insert(SHOULD_RETRY.clone(), header_bool(r));
        }
        if let Some(reason) = self.limited_reason {
            h.insert(LIMITED_REASON.clone(), HeaderValue::from_static(reason));
        }
        resp
    }
}

/// Stripe API versions look like `2026-07-29.dahlia` (or a bare date).
fn valid_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10
        && b[..10]
            .iter()
            .enumerate()
            .all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
        && (b.len() == 10 || (b[10] == b'.' && b.len() > 11 && b[11..].iter().all(u8::is_ascii_lowercase)))
}

/// The axum handler of every request.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    req: Request,
) -> Response {
    if req.uri().path().starts_with("/_tierbench/") {
        return super::admin::handle(&shared, req).await;
    }
    bump(&shared.counters.requests);
    let seq = shared.request_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut rng = SplitMix::new(mix(shared.config.seed ^ 0x7265_7175, seq));
    let request_id = HeaderValue::try_from(id_from("req_", rng.next_u64(), 14))
        .unwrap_or(HeaderValue::from_static("req_0"));
    let asked_version = req.headers().get(&STRIPE_VERSION).cloned();
    let ctx = Context {
        request_id,
        api_version: asked_version.clone().unwrap_or_else(|| shared.default_version.clone()),
        idempotency_key: req.headers().get(&IDEMPOTENCY_KEY).cloned(),
    };
    let reply = match asked_version.as_ref().map(|v| v.to_str().unwrap_or("")) {
        Some(v) if !valid_version(v) => ApiError::bad_version(v).into(),
        _ => pipeline(&shared, &conn, req, &ctx, &mut rng).await,
    };
    shared.counters.status(reply.status.as_u16());
    reply.into_response(ctx)
}

async fn pipeline(
    shared: &Shared,
    conn: &ConnInfo,
    req: Request,
    ctx: &Context,
    rng: &mut SplitMix,
) -> Reply {
    let (parts, body) = req.into_parts();
    let (mode, key) = match auth::authenticate(parts.headers.get(AUTHORIZATION), &shared.config.api_keys) {
        Ok(k) => k,
        Err(e) => return e.into(),
    };
    let path = parts.uri.path();
    let Some(route) = route(&parts.method, path) else {
        return ApiError::unrecognized_url(parts.method.as_str(), path).into();
    };
    let account = match parts.headers.get("stripe-account").map(|a| a.to_str().unwrap_or("")) {
        None => 0,
        Some(a) => match shared.read().account_of(Some(a)) {
            Some(i) => i,
            None => return ApiError::account_invalid(&key, a).into(),
        },
    };
    let mut extra_latency = std::time::Duration::ZERO;
    match shared.faults.draw(shared.clock.now(), rng) {
        Fault::None => {}
        Fault::Injected(status) => {
            bump(&shared.counters.injected_errors);
            return ApiError::server(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            )
            .into();
        }
        Fault::Window(FaultKind::Status(status)) => {
            bump(&shared.counters.fault_status);
            return ApiError::server(StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE))
                .into();
        }
        Fault::Window(FaultKind::Hang) => {
            bump(&shared.counters.fault_hang);
            shared.sleep(shared.faults.hang).await;
            return ApiError::server(StatusCode::INTERNAL_SERVER_ERROR).into();
        }
        Fault::Window(FaultKind::Reset) => {
            bump(&shared.counters.fault_reset);
            conn.reset();
            return ApiError::server(StatusCode::INTERNAL_SERVER_ERROR).into();
        }
        Fault::Window(FaultKind::Slow(d)) => {
            bump(&shared.counters.fault_slow);
            extra_latency = d;
        }
    }
    let _in_flight = match shared.limits.admit(account, mode, route.endpoint) {
        Ok(guard) => guard,
        Err(refusal) => {
            bump(match refusal {
                Refusal::GlobalRate => &shared.counters.limited_global_rate,
                Refusal::EndpointRate => &shared.counters.limited_endpoint_rate,
                Refusal::GlobalConcurrency => &shared.counters.limited_global_concurrency,
                Refusal::EndpointConcurrency => &shared.counters.limited_endpoint_concurrency,
            });
            return ApiError::rate_limited(refusal.reason()).into();
        }
    };
    let latency = extra_latency + latency(shared, route.endpoint, rng);
    let body = if parts.method == Method::POST {
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return ApiError::bad_param("The request body is too large or unreadable.", "body").into();
            }
        }
    } else {
        Bytes::new()
    };
    let params = Params::parse(parts.uri.query(), &body);
    if route.endpoint.is_write() {
        let request = format!("{} {}", parts.method, path);
        // Boxed: keeps the (hot) read path's future small.
        return Box::pin(write(shared, ctx, account, route, &request, &params, latency)).await;
    }
    shared.sleep(latency).await;
    match answer(&shared.read(), account, route, &params) {
        Ok(a) => a.into(),
        Err(e) => e.into(),
    }
}

/// This request's latency: the endpoint's distribution, scaled, plus a rare spike.
fn latency(shared: &Shared, endpoint: Endpoint, rng: &mut SplitMix) -> std::time::Duration {
    let cfg = &shared.config.latency;
    let mut d = std::time::Duration::ZERO;
    if cfg.scale > 0.0 {
        let dist = cfg.of(endpoint);
        d = rng.lognormal(dist.p50, dist.p99).mul_f64(cfg.scale);
    }
    if rng.chance(cfg.spike_probability) {
        bump(&shared.counters.latency_spikes);
        d += cfg.spike;
    }
    d
}

/// A POST: idempotency key first, then the object's write lock (held through
/// the latency, so concurrent writes to one object contend), then the change.
async fn write(
    shared: &Shared,
    ctx: &Context,
    account: usize,
    route: Route<'_>,
    request: &str,
    params: &Params,
    latency: std::time::Duration,
) -> Reply {
    let key = ctx.idempotency_key.as_ref().map(|k| k.to_str().unwrap_or(""));
    // Forgets a claimed key if this request ends before saving its answer
    // (refused by the lock, or the client went away), so a retry runs it.
    let mut pending = None;
    if let Some(k) = key {
        if k.is_empty() || k.len() > 255 {
            return ApiError::bad_param("Idempotency-Key must be 1 to 255 characters.", "idempotency_key")
                .into();
        }
        match shared.idempotency.claim(account, k, request, params.fingerprint(), shared.clock.now()) {
            Claim::Fresh => pending = Some(PendingKey { shared, account, key: k }),
            Claim::Replay(saved) => {
                shared.sleep(latency).await;
                bump(&shared.counters.idempotent_replays);
                return Reply {
                    status: saved.status,
                    body: saved.body.clone(),
                    object_version: saved.object_version,
                    should_retry: None,
                    limited_reason: None,
                    original_request: Some(saved.request_id.clone()),
                };
            }
            Claim::Refused(e) => return e.into(),
        }
    }
    let Some(_lock) = shared.limits.lock(account, route.id).await else {
        bump(&shared.counters.limited_lock_timeout);
        return ApiError::lock_timeout().into();
    };
    shared.sleep(latency).await;
    let now = shared.clock.now();
    let result = writes::apply(&mut shared.write(), account, route, params, now);
    let reply: Reply = match result {
        Ok((answer, changes)) => {
            let request_id = ctx.request_id.to_str().unwrap_or_default();
            shared.publish(changes, Some(request_id), key);
            answer.into()
        }
        Err(e) => e.into(),
    };
    if let Some(p) = pending.take() {
        let saved = SavedReply {
            status: reply.status,
            body: reply.body.clone(),
            object_version: reply.object_version,
            request_id: ctx.request_id.clone(),
        };
        shared.idempotency.finish(p.account, p.key, saved);
        std::mem::forget(p);
    }
    reply
}

/// A claimed idempotency key whose answer is not saved yet.
struct PendingKey<'a> {
    shared: &'a Shared,
    account: usize,
    key: &'a str,
}

impl Drop for PendingKey<'_> {
    fn drop(&mut self) {
        self.shared.idempotency.abandon(self.account, self.key);
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_checked_for_shape() {
        assert!(valid_version("2026-07-29.dahlia"));
        assert!(valid_version("2020-08-27"));
        assert!(!valid_version("2020-08-27."));
        assert!(!valid_version("latest"));
        assert!(!valid_version("2020-8-27"));
    }
}
