//! The official Stripe SDKs' retry rules as pure decisions: which failures are
//! retried, and how long to back off before the next attempt.
//!
//! From the facts sheet (stripe-node v22, stripe-ruby, stripe-go):
//! - retried: connection errors and timeouts; `Stripe-Should-Retry` when
//!   present, checked first (`false` vetoes, `true` retries); 409; any status
//!   of 500 or more; a 429 only with `lock_timeout` (which Stripe marks
//!   `Stripe-Should-Retry: true`);
//! - a plain rate-limit 429 is never retried: the client must slow down;
//! - `Retry-After` is ignored: Stripe never sends it and the SDKs removed the
//!   code that read it;
//! - at most 2 retries by default.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::OriginError;
use super::duration_text;
use crate::rng::SplitMix;

/// The backoff curve between attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// stripe-node and stripe-ruby: `min(initial * 2^(n-1), max) * (0.5 * (1 + rand))`,
    /// at least `initial`, for retry `n` = 1, 2, ... The default.
    #[default]
    Exponential,
    /// stripe-go: `initial + initial * n^2`, at most `max`, minus up to 25 %
    /// jitter, at least `initial`.
    Quadratic,
}

/// How a fetch retries.
///
/// By default the SDKs' settings: 2 retries, 500 ms initial delay, 5 s
/// maximum delay, [`Backoff::Exponential`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`maxNetworkRetries`); 0 turns retries off.
    pub max_retries: u32,
    /// The first retry's base delay (`initialNetworkRetryDelay`).
    #[serde(with = "duration_text")]
    pub initial_delay: Duration,
    /// The cap on the base delay (`maxNetworkRetryDelay`).
    #[serde(with = "duration_text")]
    pub max_delay: Duration,
    /// The curve.
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            backoff: Backoff::Exponential,
        }
    }
}

/// Why a failure is worth another attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryReason {
    /// No answer: the connection failed or the attempt timed out.
    Network,
    /// 429 `lock_timeout`: another request held the object.
    LockTimeout,
    /// 409 Conflict.
    Conflict,
    /// A status >= 500.
    ServerError,
    /// Another status that Stripe marked `Stripe-Should-Retry: true`.
    ShouldRetryHeader,
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait `after`, then try again.
    Retry {
        /// The backoff delay.
        after: Duration,
        /// Why the failure is retried.
        reason: RetryReason,
    },
    /// Return the error.
    GiveUp,
}

/// Why the SDKs would retry `error`, or `None` when they would not.
///
/// Failures the client made itself (budget spent, circuit open, deadline
/// passed) and 404s are never retried.
pub fn retry_reason(error: &OriginError) -> Option<RetryReason> {
    let by_status = |status: u16, should_retry: Option<bool>, lock_timeout: bool| match should_retry {
        Some(false) => None,
        Some(true) if status == 429 => Some(RetryReason::LockTimeout),
        _ if status == 409 => Some(RetryReason::Conflict),
        _ if status >= 500 => Some(RetryReason::ServerError),
        Some(true) => Some(RetryReason::ShouldRetryHeader),
        None if status == 429 && lock_timeout => Some(RetryReason::LockTimeout),
        None => None,
    };
    match error {
        OriginError::Transport { .. } | OriginError::TimedOut { .. } => Some(RetryReason::Network),
        OriginError::RateLimited { code, should_retry, .. } => {
            by_status(429, *should_retry, code.as_deref() == Some("lock_timeout"))
        }
        OriginError::Status { status, should_retry, .. } => by_status(*status, *should_retry, false),
        OriginError::NotFound(_)
        | OriginError::DeadlineExceeded { .. }
        | OriginError::BudgetSpent { .. }
        | OriginError::CircuitOpen { .. } => None,
    }
}

/// The delay before retry number `retry` (1 for the first retry), given a
/// uniform draw `unit` in [0, 1) for the jitter.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, unit: f64) -> Duration {
    let initial = policy.initial_delay.as_secs_f64();
    let max = policy.max_delay.as_secs_f64();
    let n = f64::from(retry.max(1));
    let seconds = match policy.backoff {
        Backoff::Exponential => {
            let base = (initial * 2f64.powf(n - 1.0)).min(max);
            (base * 0.5 * (1.0 + unit)).max(initial)
        }
        Backoff::Quadratic => {
            let base = (initial + initial * n * n).min(max);
            (base - base / 4.0 * unit).max(initial)
        }
    };
    Duration::try_from_secs_f64(seconds).unwrap_or(policy.max_delay)
}

/// Whether to retry after attempt `retries_done + 1` failed with `error`, and
/// after how long; the jitter draws from `rng`.
pub fn decide(
    policy: &RetryPolicy,
    retries_done: u32,
    error: &OriginError,
    rng: &mut SplitMix,
) -> RetryDecision {
    if retries_done >= policy.max_retries {
        return RetryDecision::GiveUp;
    }
    match retry_reason(error) {
        Some(reason) => {
            RetryDecision::Retry { after: backoff_delay(policy, retries_done + 1, rng.unit()), reason }
        }
        None => RetryDecision::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, should_retry: Option<bool>) -> OriginError {
        OriginError::Status { status, message: "m".into(), should_retry }
    }

    fn limited(code: &str, should_retry: Option<bool>) -> OriginError {
        OriginError::RateLimited { reason: "r".into(), code: Some(code.into()), should_retry }
    }

    #[test]
    fn the_facts_sheet_cases_retry_exactly_as_the_sdks_do() {
        use RetryReason::*;
        let transport = OriginError::Transport { url: "u".into(), message: "reset".into() };
        let cases: Vec<(&str, OriginError, Option<RetryReason>)> = vec![
            ("connection error", transport, Some(Network)),
            ("timeout", OriginError::TimedOut { after: Duration::from_secs(1) }, Some(Network)),
            ("409", status(409, None), Some(Conflict)),
            ("500", status(500, None), Some(ServerError)),
            ("503 load shedding", status(503, Some(true)), Some(ServerError)),
            ("500 with Stripe-Should-Retry: false", status(500, Some(false)), None),
            ("429 rate limit", limited("rate_limit", None), None),
            ("429 rate limit, Should-Retry false", limited("rate_limit", Some(false)), None),
            ("429 lock_timeout", limited("lock_timeout", Some(true)), Some(LockTimeout)),
            ("429 lock_timeout, header lost", limited("lock_timeout", None), Some(LockTimeout)),
            ("429 with Stripe-Should-Retry: true", limited("rate_limit", Some(true)), Some(LockTimeout)),
            ("400", status(400, None), None),
            ("400 with Stripe-Should-Retry: true", status(400, Some(true)), Some(ShouldRetryHeader)),
            ("401", status(401, None), None),
            ("404", OriginError::NotFound("No such customer".into()), None),
            ("budget spent", OriginError::BudgetSpent { max_wait: Duration::ZERO, serve_stale: false }, None),
            ("circuit open", OriginError::CircuitOpen { retry_in: Duration::ZERO }, None),
            ("deadline", OriginError::DeadlineExceeded { deadline: Duration::ZERO, attempts: 1 }, None),
        ];
        for (name, error, expected) in cases {
            assert_eq!(retry_reason(&error), expected, "{name}");
        }
    }

    #[test]
    fn retries_stop_at_the_limit_and_never_retry_a_plain_rate_limit() {
        let policy = RetryPolicy::default();
        let mut rng = SplitMix::new(1);
        let e = status(500, None);
        assert!(matches!(decide(&policy, 0, &e, &mut rng), RetryDecision::Retry { .. }));
        assert!(matches!(decide(&policy, 1, &e, &mut rng), RetryDecision::Retry { .. }));
        assert_eq!(decide(&policy, 2, &e, &mut rng), RetryDecision::GiveUp, "SDK default: 2 retries");
        assert_eq!(decide(&policy, 0, &limited("rate_limit", None), &mut rng), RetryDecision::GiveUp);
        let off = RetryPolicy { max_retries: 0, ..RetryPolicy::default() };
        assert_eq!(decide(&off, 0, &e, &mut rng), RetryDecision::GiveUp);
    }

    #[test]
    fn exponential_backoff_is_the_node_and_ruby_formula() {
        let p = RetryPolicy::default();
        let ms = |retry, unit| backoff_delay(&p, retry, unit).as_millis();
        // Retry 1: 0.5 s x [0.5, 1) = [0.25, 0.5), floored at 0.5 s.
        assert_eq!((ms(1, 0.0), ms(1, 0.999)), (500, 500));
        // Retry 2: 1 s x [0.5, 1): [0.5, 1).
        assert_eq!((ms(2, 0.0), ms(2, 0.5)), (500, 750));
        // Retry 3: 2 s x [0.5, 1).
        assert_eq!(ms(3, 0.5), 1_500);
        // The base is capped at 5 s, so the delay stays in [2.5, 5) s.
        assert_eq!((ms(10, 0.0), ms(10, 0.5)), (2_500, 3_750));
    }

    #[test]
    fn quadratic_backoff_is_the_go_formula() {
        let p = RetryPolicy { backoff: Backoff::Quadratic, ..RetryPolicy::default() };
        let ms = |retry, unit| backoff_delay(&p, retry, unit).as_millis();
        // 500 ms + 500 ms x n^2, minus up to 25 %.
        assert_eq!((ms(1, 0.0), ms(1, 0.999)), (1_000, 750));
        assert_eq!(ms(2, 0.0), 2_500);
        assert_eq!((ms(3, 0.0), ms(3, 0.5)), (5_000, 4_375), "capped at 5 s");
    }

    #[test]
    fn jitter_is_deterministic_per_seed_and_within_bounds() {
        let p = RetryPolicy::default();
        let e = OriginError::Transport { url: "u".into(), message: "m".into() };
        let draws = |seed| {
            let mut rng = SplitMix::new(seed);
            (0..50).map(|_| decide(&p, 1, &e, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
        for d in draws(3) {
            let RetryDecision::Retry { after, reason } = d else { panic!("retried") };
            assert_eq!(reason, RetryReason::Network);
            assert!(after >= Duration::from_millis(500) && after < Duration::from_secs(1), "{after:?}");
        }
    }
}
