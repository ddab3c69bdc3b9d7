//! A Stripe API client over HTTP, as an application's Lambda would call it.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::{Origin, OriginError, OriginObject};
use crate::clock::SharedClock;
use crate::stripe::{CacheKey, DEFAULT_API_VERSION, OBJECT_VERSION_HEADER, ObjectKind};

/// Where the Stripe API is and how to call it.
///
/// By default: the mock's port on loopback (`http://127.0.0.1:12111`), key
/// `sk_test_tierbench`, API version [`DEFAULT_API_VERSION`], 80 s timeout (the
/// SDKs' default), 10 s connect timeout.
#[derive(Clone)]
pub struct StripeHttpOptions {
    /// Base URL, without a trailing slash.
    pub base_url: String,
    /// Secret key (`sk_test_...`); never logged.
    pub api_key: String,
    /// `Stripe-Version` sent with each request.
    pub api_version: String,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Timeout of establishing a connection.
    pub connect_timeout: Duration,
}

impl Default for StripeHttpOptions {
    fn default() -> Self {
        StripeHttpOptions {
            base_url: "http://127.0.0.1:12111".into(),
            api_key: "sk_test_tierbench".into(),
            api_version: DEFAULT_API_VERSION.into(),
            timeout: Duration::from_secs(80),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for StripeHttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeHttpOptions")
            .field("base_url", &self.base_url)
            .field("api_key", &"***")
            .field("api_version", &self.api_version)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The origin over HTTP.
#[derive(Clone)]
pub struct StripeHttp {
    http: reqwest::Client,
    options: StripeHttpOptions,
    clock: SharedClock,
}

impl fmt::Debug for StripeHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeHttp").field("options", &self.options).finish_non_exhaustive()
    }
}

/// The path and query of the request that fetches `key`.
pub(crate) fn request_path(key: &CacheKey) -> (String, Vec<(&'static str, String)>) {
    let mut query: Vec<(&'static str, String)> = Vec::new();
    let path = match key.kind {
        ObjectKind::Customer => format!("/v1/customers/{}", key.id),
        ObjectKind::Subscriptions => {
            query.push(("customer", key.id.clone()));
            "/v1/subscriptions".to_owned()
        }
        ObjectKind::PaymentMethods => format!("/v1/customers/{}/payment_methods", key.id),
        ObjectKind::Invoice => format!("/v1/invoices/{}", key.id),
    };
    query.extend(key.expand.iter().map(|e| ("expand[]", e.clone())));
    (path, query)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Stripe-Should-Retry` as sent: `Some(true)`, `Some(false)`, or `None` when
/// absent or neither (the SDKs compare with the exact strings).
fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match header(headers, "stripe-should-retry") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

impl StripeHttp {
    /// A client for `options`, versioning objects by `clock` when the server
    /// does not tell their version.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (TLS set-up).
    pub fn new(options: StripeHttpOptions, clock: SharedClock) -> Result<Self, OriginError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| OriginError::Transport { url: options.base_url.clone(), message: e.to_string() })?;
        Ok(StripeHttp { http, options, clock })
    }
}

impl Origin for StripeHttp {
    async fn fetch(&self, key: &CacheKey) -> Result<OriginObject, OriginError> {
        let (path, query) = request_path(key);
        let url = format!("{}{path}", self.options.base_url);
        let version = key.api_version.as_deref().unwrap_or(&self.options.api_version);
        let mut req = self
            .http
            .get(&url)
            .query(&query)
            .bearer_auth(&self.options.api_key)
            .header("Stripe-Version", version);
        if let Some(account) = &key.account {
            req = req.header("Stripe-Account", account);
        }
        let timeout = self.options.timeout;
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                OriginError::TimedOut { after: timeout }
            } else {
                OriginError::Transport { url: url.clone(), message: e.to_string() }
            }
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.map_err(transport)?;
        if status.is_success() {
            let object_version = header(&headers, OBJECT_VERSION_HEADER)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| self.clock.now().as_micros());
            let api_version = header(&headers, "stripe-version").unwrap_or(version).to_owned();
            return Ok(OriginObject { data: body, version: object_version, api_version });
        }
        let error: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        let field = |name: &str| error.as_ref().and_then(|e| e["error"][name].as_str()).map(str::to_owned);
        let message = field("message").unwrap_or_else(|| body.chars().take(200).collect());
        let should_retry = should_retry(&headers);
        Err(match status.as_u16() {
            404 => OriginError::NotFound(message),
            429 => OriginError::RateLimited {
                reason: header(&headers, "stripe-rate-limited-reason")
                    .map(str::to_owned)
                    .or_else(|| field("code"))
                    .unwrap_or_else(|| "unknown".into()),
                code: field("code"),
                should_retry,
            },
            code => OriginError::Status { status: code, message, should_retry },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_maps_to_its_endpoint() {
        let p = |k| request_path(&CacheKey::new(k, "x_1"));
        assert_eq!(p(ObjectKind::Customer).0, "/v1/customers/x_1");
        assert_eq!(
            p(ObjectKind::Subscriptions),
            ("/v1/subscriptions".into(), vec![("customer", "x_1".into())])
        );
        assert_eq!(p(ObjectKind::PaymentMethods).0, "/v1/customers/x_1/payment_methods");
        assert_eq!(p(ObjectKind::Invoice).0, "/v1/invoices/x_1");
        let k = CacheKey::new(ObjectKind::Invoice, "in_1").with_expand(["customer"]);
        assert_eq!(request_path(&k).1, vec![("expand[]", "customer".into())]);
    }

    #[test]
    fn stripe_should_retry_is_read_only_as_its_exact_strings() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("stripe-should-retry", v.parse().unwrap());
            should_retry(&h)
        };
        assert_eq!((with("true"), with("false"), with("yes")), (Some(true), Some(false), None));
        assert_eq!(should_retry(&HeaderMap::new()), None);
    }

    #[test]
    fn the_api_key_never_shows_in_debug_output() {
        let o = StripeHttpOptions { api_key: "sk_live_secret".into(), ..Default::default() };
        assert!(!format!("{o:?}").contains("secret"));
    }
}
