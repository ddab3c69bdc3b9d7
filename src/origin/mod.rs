//! The origin behind the cache: the Stripe API (or the mock) over HTTP.

mod http;

use std::future::Future;

pub use self::http::{StripeHttp, StripeHttpOptions};
use crate::stripe::CacheKey;

/// What the origin answered for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginObject {
    /// The JSON body, byte for byte.
    pub data: String,
    /// The object's version: the mock's ground truth when it tells it
    /// (see [`crate::stripe::OBJECT_VERSION_HEADER`]), else the fetch time in µs.
    pub version: u64,
    /// The API version the data is in (`Stripe-Version` of the answer).
    pub api_version: String,
}

/// Why the origin gave no object.
#[derive(Clone, Debug, thiserror::Error)]
pub enum OriginError {
    /// 404 `resource_missing`.
    #[error("stripe has no such object: {0}")]
    NotFound(String),
    /// 429: Stripe's rate limiter refused the call.
    #[error("stripe rate limited the call ({reason}); slow down or serve from cache")]
    RateLimited {
        /// `Stripe-Rate-Limited-Reason`, or the error code.
        reason: String,
        /// Whether Stripe said the call may be retried (`Stripe-Should-Retry`).
        should_retry: bool,
    },
    /// Any other non-2xx answer.
    #[error("stripe answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Stripe's error message, or the body.
        message: String,
    },
    /// No answer: connection refused or reset, timeout.
    #[error("cannot reach stripe at {url}: {message}")]
    Transport {
        /// Where the request went (without credentials).
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// Where cache misses go.
pub trait Origin: Send + Sync {
    /// Fetches the data `key` names.
    fn fetch(&self, key: &CacheKey) -> impl Future<Output = Result<OriginObject, OriginError>> + Send;
}
