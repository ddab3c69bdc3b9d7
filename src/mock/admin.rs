//! The reserved `/_tierbench/` prefix: ground truth, counters, mutations and
//! webhook endpoints over HTTP, for harnesses in other processes. No API key.
//!
//! - `GET  /_tierbench/truth/{kind}/{id}?account=acct_..&expand[]=..` -> version, changed_at
//! - `GET  /_tierbench/counters`
//! - `GET  /_tierbench/accounts`
//! - `POST /_tierbench/mutations` `{"kind": "customer", "id": "cus_..", "account": null}` (or `{}`: random)
//! - `POST /_tierbench/webhook_endpoints` `{"url": "..", "secrets": ["whsec_.."], "enabled_events": []}`

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::WebhookEndpointConfig;
use super::handle::MockHandle;
use super::params::Params;
use super::server::Shared;
use super::truth;
use super::writes::Target;
use crate::stripe::{CacheKey, ObjectKind};

fn json_response(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn problem(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({"error": {"message": message, "type": "tierbench_error"}}))
}

#[derive(Deserialize)]
struct MutationRequest {
    kind: Option<ObjectKind>,
    id: Option<String>,
    account: Option<String>,
}

#[derive(Deserialize)]
struct EndpointRequest {
    url: String,
    secrets: Vec<String>,
    #[serde(default)]
    enabled_events: Vec<String>,
}

/// Answers a request under the reserved prefix.
pub(crate) async fn handle(shared: &std::sync::Arc<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().trim_start_matches("/_tierbench/");
    let segments: Vec<&str> = path.split('/').collect();
    let handle = MockHandle::new(std::sync::Arc::clone(shared));
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["truth", kind, id]) => {
            let Ok(kind) = kind.parse::<ObjectKind>() else {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown kind {kind:?}: customer, subscriptions, payment_methods, invoice"),
                );
            };
            let params = Params::parse(parts.uri.query(), &[]);
            let mut key = CacheKey::new(kind, *id).with_expand(params.expand());
            key.account = params.get("account").filter(|a| !a.is_empty()).map(str::to_owned);
            match truth::truth(&shared.read(), &key) {
                Some(t) => json_response(
                    StatusCode::OK,
                    &json!({"kind": kind, "id": id, "account": key.account, "expand": key.expand,
                        "version": t.version, "changed_at_us": t.changed_at.as_micros(),
                        "changed_at": t.changed_at.to_iso8601()}),
                ),
                None => {
                    problem(StatusCode::NOT_FOUND, &format!("no {kind} {id} in account {:?}", key.account))
                }
            }
        }
        (&Method::GET, ["counters"]) => json_response(StatusCode::OK, &json!(handle.counters())),
        (&Method::GET, ["accounts"]) => {
            json_response(StatusCode::OK, &json!({"connected": handle.connected_accounts()}))
        }
        (&Method::POST, ["mutations"]) => {
            let bytes = to_bytes(body, 1 << 16).await.unwrap_or_default();
            let req: MutationRequest =
                match serde_json::from_slice(if bytes.is_empty() { b"{}" } else { &bytes }) {
                    Ok(r) => r,
                    Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("bad mutation request: {e}")),
                };
            let result = match (req.kind, req.id) {
                (Some(kind), Some(id)) => {
                    let mut key = CacheKey::new(kind, id);
                    key.account = req.account;
                    shared.mutate(Target::Key(&key))
                }
                (None, None) => shared.mutate(Target::Random),
                _ => return problem(StatusCode::BAD_REQUEST, "give both kind and id, or neither (random)"),
            };
            match result {
                Ok(events) => {
                    let list: Vec<Value> = events
                        .iter()
                        .map(|e| json!({"id": e.id, "type": e.event_type, "account": e.account, "object_id": e.object_id}))
                        .collect();
                    json_response(StatusCode::OK, &json!({"events": list}))
                }
                Err(e) => problem(StatusCode::NOT_FOUND, &e.to_string()),
            }
        }
        (&Method::POST, ["webhook_endpoints"]) => {
            let bytes = to_bytes(body, 1 << 16).await.unwrap_or_default();
            let req: EndpointRequest = match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("bad endpoint: {e}")),
            };
            let endpoint = WebhookEndpointConfig {
                url: req.url,
                secrets: req.secrets,
                enabled_events: req.enabled_events,
            };
            match handle.add_webhook_endpoint(endpoint) {
                Ok(id) => json_response(StatusCode::OK, &json!({"id": id})),
                Err(e) => problem(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        _ => problem(
            StatusCode::NOT_FOUND,
            "unknown /_tierbench route: truth/{kind}/{id}, counters, accounts, mutations, webhook_endpoints",
        ),
    }
}
