//! The origin behind the cache: the Stripe API (or the mock) over HTTP, and the
//! etiquette a well-behaved client keeps with it ([`Guarded`]): a client-side
//! rate budget, the official SDKs' retries, a circuit breaker and timeouts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tierbench::clock::SystemClock;
//! use tierbench::origin::{Budget, Etiquette, Guarded, Origin, OriginGuards};
//! use tierbench::origin::{StripeHttp, StripeHttpOptions, StripeMode};
//! use tierbench::stripe::{CacheKey, ObjectKind};
//!
//! let clock = SystemClock::shared();
//! let options = StripeHttpOptions::default();
//! let etiquette = Etiquette::default(); // 80 % of the account's limit, SDK retries, a breaker
//! let mode = StripeMode::of_key(&options.api_key);
//! let budget = Budget::from_config(&etiquette.budget, mode, clock.clone(), None).await?;
//! // One set of guards per process, shared by every caller's origin.
//! let guards = OriginGuards::new(etiquette, budget, clock.clone(), 7)?;
//! let origin = Guarded::new(StripeHttp::new(options, clock)?, guards.clone());
//! let object = origin.fetch(&CacheKey::new(ObjectKind::Customer, "cus_123")).await?;
//! println!("version {}; {:?}", object.version, guards.snapshot());
//! # Ok(()) }
//! ```

mod breaker;
mod budget;
mod duration_text;
mod etiquette;
mod guarded;
mod http;
mod redis_budget;
pub mod retry;
mod stats;

use std::future::Future;
use std::time::Duration;

pub use self::breaker::{Breaker, BreakerConfig, BreakerPermit, BreakerState, CallOutcome};
pub use self::budget::{Budget, BudgetError, BudgetRates, LocalBudget, RateBudget, TokenBucket};
pub use self::etiquette::{BudgetConfig, BudgetScope, Etiquette, EtiquetteError, OnBudgetSpent, StripeMode};
pub use self::guarded::{Guarded, OriginGuards};
pub use self::http::{StripeHttp, StripeHttpOptions};
pub use self::redis_budget::RedisBudget;
pub use self::retry::{Backoff, RetryDecision, RetryPolicy, RetryReason};
pub use self::stats::{BreakerCounts, BudgetCounts, EtiquetteSnapshot, RetryCounts};
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
        /// The error's `code` (`rate_limit`, `lock_timeout`), when the body has one.
        code: Option<String>,
        /// `Stripe-Should-Retry`, when Stripe sent it.
        should_retry: Option<bool>,
    },
    /// Any other non-2xx answer (409, 5xx, other 4xx).
    #[error("stripe answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Stripe's error message, or the body.
        message: String,
        /// `Stripe-Should-Retry`, when Stripe sent it.
        should_retry: Option<bool>,
    },
    /// No answer: connection refused or reset.
    #[error("cannot reach stripe at {url}: {message}")]
    Transport {
        /// Where the request went (without credentials).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// One attempt got no answer within its timeout.
    #[error("stripe did not answer within {after:?}; raise the attempt timeout if Stripe is only slow")]
    TimedOut {
        /// The timeout that fired.
        after: Duration,
    },
    /// The whole fetch, retries and waits included, ran out of time.
    #[error(
        "no answer from stripe within the {deadline:?} deadline ({attempts} attempt(s)); serve from cache or raise the deadline"
    )]
    DeadlineExceeded {
        /// The deadline of the fetch.
        deadline: Duration,
        /// Calls made before it passed.
        attempts: u32,
    },
    /// The client-side rate budget had no token in time: no call was made.
    /// The fetch fails at once when no token would come within `max_wait`.
    #[error(
        "client-side stripe rate budget spent (no token within {max_wait:?}); serve stale data, queue longer, or raise the budget"
    )]
    BudgetSpent {
        /// The longest the policy would have waited (zero unless it queues).
        max_wait: Duration,
        /// Whether the policy says serve stale data ([`OnBudgetSpent::Stale`]).
        serve_stale: bool,
    },
    /// The circuit breaker is open after repeated failures: no call was made.
    #[error(
        "stripe circuit breaker is open after repeated failures; failing fast, next probe in {retry_in:?}"
    )]
    CircuitOpen {
        /// How long until the breaker lets a probe through (zero: a probe is in flight).
        retry_in: Duration,
    },
}

impl OriginError {
    /// Whether this is the origin failing (no answer, or a 5xx): what a circuit
    /// breaker counts. 404s, other 4xx and 429s are answers from a healthy Stripe.
    pub fn is_origin_failure(&self) -> bool {
        match self {
            OriginError::Transport { .. }
            | OriginError::TimedOut { .. }
            | OriginError::DeadlineExceeded { .. } => true,
            OriginError::Status { status, .. } => *status >= 500,
            OriginError::NotFound(_)
            | OriginError::RateLimited { .. }
            | OriginError::BudgetSpent { .. }
            | OriginError::CircuitOpen { .. } => false,
        }
    }

    /// Whether the client refused the call itself (budget or breaker): Stripe never saw it.
    pub fn is_refused_locally(&self) -> bool {
        matches!(self, OriginError::BudgetSpent { .. } | OriginError::CircuitOpen { .. })
    }
}

/// Where cache misses go.
pub trait Origin: Send + Sync {
    /// Fetches the data `key` names.
    fn fetch(&self, key: &CacheKey) -> impl Future<Output = Result<OriginObject, OriginError>> + Send;
}
