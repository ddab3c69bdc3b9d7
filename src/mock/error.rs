//! Errors: Stripe's error answers (status, pretty JSON body, retry headers) and
//! the mock's own failures as a library.

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::config::ConfigError;
use crate::stripe::objects::to_stripe_json;

/// Why the mock could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The configuration has a bad value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Binding or serving the socket failed.
    #[error("mock Stripe socket error: {0}; is the port free and the address local?")]
    Io(#[from] std::io::Error),
    /// The HTTP client for webhook deliveries could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    WebhookClient(String),
}

/// Why a mutation could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutationError {
    /// No such account, object or collection.
    #[error("nothing to mutate: {0}")]
    NotFound(String),
}

/// The 429 body of a rate-limited request, exactly as the facts sheet gives it
/// (that key order), pretty-printed.
pub(crate) const RATE_LIMIT_BODY: &str = "{\n  \"error\": {\n    \"message\": \"Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.\",\n    \"type\": \"invalid_request_error\",\n    \"code\": \"rate_limit\",\n    \"doc_url\": \"https://stripe.com/docs/error-codes/rate-limit\"\n  }\n}";

/// The message of a `lock_timeout` 429.
pub(crate) const LOCK_TIMEOUT_MESSAGE: &str = "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request. If you see this error frequently and are making multiple concurrent requests to a single object, make your requests serially or at a lower rate. See https://stripe.com/docs/rate-limits for more information.";

/// An error answer in Stripe's format.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: Bytes,
    /// `Stripe-Should-Retry`, when Stripe would send it.
    pub should_retry: Option<bool>,
    /// `Stripe-Rate-Limited-Reason`, on rate-limit 429s.
    pub limited_reason: Option<&'static str>,
}

/// What `error` holds: message, type and, when set, code (with its doc_url) and param.
fn error_body(message: &str, error_type: &str, code: Option<&str>, param: Option<&str>) -> Bytes {
    let mut e = Map::new();
    e.insert("message".into(), message.into());
    e.insert("type".into(), error_type.into());
    if let Some(c) = code {
        e.insert("code".into(), c.into());
        e.insert(
            "doc_url".into(),
            format!("https://stripe.com/docs/error-codes/{}", c.replace('_', "-")).into(),
        );
    }
    if let Some(p) = param {
        e.insert("param".into(), p.into());
    }
    let mut top = Map::new();
    top.insert("error".into(), Value::Object(e));
    Bytes::from(to_stripe_json(&Value::Object(top)))
}

impl ApiError {
    fn new(status: StatusCode, body: Bytes) -> Self {
        ApiError { status, body, should_retry: None, limited_reason: None }
    }

    /// An `invalid_request_error`.
    pub fn invalid(status: StatusCode, message: &str, code: Option<&str>, param: Option<&str>) -> Self {
        Self::new(status, error_body(message, "invalid_request_error", code, param))
    }

    /// A bad parameter (400).
    pub fn bad_param(message: &str, param: &str) -> Self {
        Self::invalid(StatusCode::BAD_REQUEST, message, None, Some(param))
    }

    /// 404 `resource_missing` for the object the URL names (`what` is Stripe's
    /// word for it: `customer`, `subscription`, `PaymentMethod`, `invoice`).
    pub fn missing(what: &str, id: &str, param: &str) -> Self {
        let message = format!("No such {what}: '{id}'");
        Self::invalid(StatusCode::NOT_FOUND, &message, Some("resource_missing"), Some(param))
    }

    /// 400 `resource_missing` for an object a parameter names.
    pub fn missing_param_object(what: &str, id: &str, param: &str) -> Self {
        let message = format!("No such {what}: '{id}'");
        Self::invalid(StatusCode::BAD_REQUEST, &message, Some("resource_missing"), Some(param))
    }

    /// 400 for a parameter the endpoint does not take.
    pub fn unknown_param(name: &str) -> Self {
        Self::bad_param(&format!("Received unknown parameter: {name}"), name)
    }

    /// 401: no key.
    pub fn missing_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            error_body(
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
                "invalid_request_error",
                None,
                None,
            ),
        )
    }

    /// 401: a key that is not valid.
    pub fn invalid_key(key: &str) -> Self {
        let message = format!("Invalid API Key provided: {}", super::auth::redact(key));
        Self::new(StatusCode::UNAUTHORIZED, error_body(&message, "invalid_request_error", None, None))
    }

    /// 403: a `Stripe-Account` the key cannot act for.
    pub fn account_invalid(key: &str, account: &str) -> Self {
        let message = format!(
            "The provided key '{}' does not have access to account '{account}' (or that account does not exist). Application access may have been revoked.",
            super::auth::redact(key)
        );
        Self::invalid(StatusCode::FORBIDDEN, &message, Some("account_invalid"), None)
    }

    /// 404 for a method and path no endpoint serves, in Stripe's words.
    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        let hint = if path.ends_with('/') {
            " If you are trying to list objects, remove the trailing slash. If you are trying to retrieve an object, make sure you passed a valid (non-empty) identifier in your code."
        } else {
            ""
        };
        let message = format!(
            "Unrecognized request URL ({method}: {path}).{hint} Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
        );
        Self::new(StatusCode::NOT_FOUND, error_body(&message, "invalid_request_error", None, None))
    }

    /// 400 for a `Stripe-Version` that is not a version.
    pub fn bad_version(given: &str) -> Self {
        let message = format!("Invalid Stripe API version: {given}");
        Self::invalid(StatusCode::BAD_REQUEST, &message, None, None)
    }

    /// 429 from a rate or concurrency limiter: the facts sheet's body, the
    /// reason header, no `Retry-After`.
    pub fn rate_limited(reason: &'static str) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, Bytes::from_static(RATE_LIMIT_BODY.as_bytes()));
        e.limited_reason = Some(reason);
        e
    }

    /// 429 `lock_timeout`: another request holds the object; safe to retry.
    pub fn lock_timeout() -> Self {
        let mut e =
            Self::invalid(StatusCode::TOO_MANY_REQUESTS, LOCK_TIMEOUT_MESSAGE, Some("lock_timeout"), None);
        e.should_retry = Some(true);
        e.limited_reason = Some("resource-specific");
        e
    }

    /// A server-side failure (`api_error`) with `status`.
    pub fn server(status: StatusCode) -> Self {
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "Stripe is temporarily unable to handle this request. Please retry shortly."
        } else {
            "An unknown error occurred"
        };
        let mut e = Self::new(status, error_body(message, "api_error", None, None));
        if status.is_server_error() {
            e.should_retry = Some(true);
        }
        e
    }

    /// 400 `idempotency_error`: a key reused for another request.
    pub fn idempotency_mismatch(key: &str, what: &str) -> Self {
        let message = format!(
            "Keys for idempotent requests can only be used with the same {what} they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
        );
        Self::new(StatusCode::BAD_REQUEST, error_body(&message, "idempotency_error", None, None))
    }

    /// 409: the key's first request is still running.
    pub fn idempotency_in_use(key: &str) -> Self {
        let message = format!(
            "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): {key}. Please try again later."
        );
        let mut e = Self::invalid(StatusCode::CONFLICT, &message, Some("idempotency_key_in_use"), None);
        e.should_retry = Some(true);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_body_is_the_facts_sheet_body_pretty_printed() {
        let facts = r#"{"error":{"message":"Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.","type":"invalid_request_error","code":"rate_limit","doc_url":"https://stripe.com/docs/error-codes/rate-limit"}}"#;
        let ours: Value = serde_json::from_str(RATE_LIMIT_BODY).unwrap();
        assert_eq!(ours, serde_json::from_str::<Value>(facts).unwrap());
        assert_eq!(RATE_LIMIT_BODY.replace("\n", "").replace("  ", "").replace("\": ", "\":"), facts);
    }

    #[test]
    fn missing_objects_answer_the_facts_sheet_404() {
        let e = ApiError::missing("customer", "cus_nope", "id");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let facts = r#"{"error":{"code":"resource_missing","doc_url":"https://stripe.com/docs/error-codes/resource-missing","message":"No such customer: 'cus_nope'","param":"id","type":"invalid_request_error"}}"#;
        let compact: Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(serde_json::to_string(&compact).unwrap(), facts);
        assert!(std::str::from_utf8(&e.body).unwrap().starts_with("{\n  \"error\": {\n    \"code\""));
    }
}
