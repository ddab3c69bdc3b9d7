//! An origin that keeps Stripe's etiquette around another: each attempt passes
//! the circuit breaker, then draws from the rate budget, then calls with a
//! timeout; failed attempts are retried as the official SDKs do, within the
//! fetch's deadline.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::breaker::{Breaker, BreakerState, CallOutcome};
use super::budget::{Budget, RateBudget};
use super::etiquette::{Etiquette, EtiquetteError, OnBudgetSpent};
use super::retry::{self, RetryDecision};
use super::stats::{Counters, EtiquetteSnapshot, bump};
use super::{Origin, OriginError, OriginObject};
use crate::clock::SharedClock;
use crate::rng::{SplitMix, mix};
use crate::stripe::CacheKey;

struct Shared {
    etiquette: Etiquette,
    budget: Budget,
    breaker: Breaker,
    counters: Counters,
    seed: u64,
    fetch_seq: AtomicU64,
}

/// The budget, breaker and counters every caller of a process shares: make
/// one, and give a clone to each [`Guarded`] origin.
#[derive(Clone)]
pub struct OriginGuards {
    shared: Arc<Shared>,
}

impl fmt::Debug for OriginGuards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginGuards")
            .field("etiquette", &self.shared.etiquette)
            .field("budget", &self.shared.budget)
            .field("breaker", &self.breaker_state())
            .finish_non_exhaustive()
    }
}

impl OriginGuards {
    /// Guards keeping `etiquette` with `budget` (see [`Budget::from_config`]);
    /// the breaker reads time from `clock`, and retry jitter derives from `seed`.
    ///
    /// # Errors
    /// When `etiquette` has a value out of range.
    pub fn new(
        etiquette: Etiquette,
        budget: Budget,
        clock: SharedClock,
        seed: u64,
    ) -> Result<Self, EtiquetteError> {
        etiquette.validate()?;
        let breaker = Breaker::new(etiquette.breaker.clone(), clock);
        let shared = Shared {
            etiquette,
            budget,
            breaker,
            counters: Counters::default(),
            seed,
            fetch_seq: AtomicU64::new(0),
        };
        Ok(OriginGuards { shared: Arc::new(shared) })
    }

    /// The etiquette kept.
    pub fn etiquette(&self) -> &Etiquette {
        &self.shared.etiquette
    }

    /// Where the breaker stands.
    pub fn breaker_state(&self) -> BreakerState {
        self.shared.breaker.state()
    }

    /// The counters now.
    pub fn snapshot(&self) -> EtiquetteSnapshot {
        let s = &self.shared;
        s.counters.snapshot(s.breaker.counts(), s.budget.redis_fallbacks())
    }
}

/// `O` behind a rate budget, a circuit breaker, SDK-style retries and timeouts.
#[derive(Clone)]
pub struct Guarded<O> {
    inner: O,
    guards: OriginGuards,
}

impl<O: fmt::Debug> fmt::Debug for Guarded<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded").field("inner", &self.inner).field("guards", &self.guards).finish()
    }
}

impl<O: Origin> Guarded<O> {
    /// `inner` kept by `guards` (shared with the process's other callers).
    pub fn new(inner: O, guards: OriginGuards) -> Self {
        Guarded { inner, guards }
    }

    /// The shared guards (for their counters).
    pub fn guards(&self) -> &OriginGuards {
        &self.guards
    }

    /// The origin behind the guards.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// Fetches `key` as [`Origin::fetch`] does, but treating a spent budget as
    /// `on_spent` says (the chain can queue a key it has no stale copy of).
    ///
    /// Each attempt, retries included, passes the breaker (an open breaker
    /// costs no token), then draws a token, then calls within the attempt
    /// timeout; a retry the budget refuses ends the fetch with `BudgetSpent`.
    ///
    /// # Errors
    /// The last attempt's error when the retry rules give up;
    /// [`OriginError::BudgetSpent`], [`OriginError::CircuitOpen`] or
    /// [`OriginError::DeadlineExceeded`] when the guards stop the fetch.
    pub async fn fetch_with(
        &self,
        key: &CacheKey,
        on_spent: OnBudgetSpent,
    ) -> Result<OriginObject, OriginError> {
        let s = &*self.guards.shared;
        bump(&s.counters.fetches);
        let deadline = Instant::now() + s.etiquette.deadline;
        let mut rng = SplitMix::new(mix(s.seed, s.fetch_seq.fetch_add(1, Ordering::Relaxed)));
        let mut attempts = 0;
        let result = loop {
            let error = match self.attempt(key, on_spent, deadline, &mut attempts).await {
                Ok(object) => break Ok(object),
                Err(e) => e,
            };
            match retry::decide(&s.etiquette.retry, attempts.saturating_sub(1), &error, &mut rng) {
                RetryDecision::GiveUp => break Err(error),
                RetryDecision::Retry { after, reason } => {
                    if Instant::now() + after >= deadline {
                        bump(&s.counters.retries_cut_by_deadline);
                        break Err(error);
                    }
                    s.counters.retry(reason);
                    tokio::time::sleep(after).await;
                }
            }
        };
        bump(if result.is_ok() { &s.counters.succeeded } else { &s.counters.failed });
        result
    }

    /// One attempt: breaker, budget, call.
    async fn attempt(
        &self,
        key: &CacheKey,
        on_spent: OnBudgetSpent,
        deadline: Instant,
        attempts: &mut u32,
    ) -> Result<OriginObject, OriginError> {
        let s = &*self.guards.shared;
        let permit = s.breaker.admit().map_err(|retry_in| OriginError::CircuitOpen { retry_in })?;
        let exceeded = |attempts| {
            bump(&s.counters.deadline_exceeded);
            OriginError::DeadlineExceeded { deadline: s.etiquette.deadline, attempts }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(exceeded(*attempts));
        }
        let max_wait = match on_spent {
            OnBudgetSpent::Queue { max_wait } => max_wait.min(remaining),
            OnBudgetSpent::FailFast | OnBudgetSpent::Stale => Duration::ZERO,
        };
        match s.budget.acquire_within(key.kind, max_wait).await {
            Some(waited) if waited.is_zero() => bump(&s.counters.budget_immediate),
            Some(waited) => {
                bump(&s.counters.budget_waited);
                let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
                s.counters.budget_wait_us.fetch_add(us, Ordering::Relaxed);
            }
            None => {
                bump(&s.counters.budget_refused);
                // The permit drops unrecorded: no call, nothing for the breaker.
                return Err(OriginError::BudgetSpent {
                    max_wait,
                    serve_stale: on_spent == OnBudgetSpent::Stale,
                });
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(exceeded(*attempts));
        }
        let limit = s.etiquette.attempt_timeout.min(remaining);
        *attempts += 1;
        bump(&s.counters.attempts);
        let result = match tokio::time::timeout(limit, self.inner.fetch(key)).await {
            Ok(result) => result,
            Err(_) if limit < s.etiquette.attempt_timeout => Err(exceeded(*attempts)),
            Err(_) => {
                bump(&s.counters.timeouts);
                Err(OriginError::TimedOut { after: limit })
            }
        };
        match &result {
            Err(e) if e.is_origin_failure() => permit.record(CallOutcome::Failure),
            Err(OriginError::RateLimited { .. }) => {
                bump(&s.counters.rate_limited);
                permit.record(CallOutcome::Success);
            }
            _ => permit.record(CallOutcome::Success),
        }
        result
    }
}

impl<O: Origin> Origin for Guarded<O> {
    async fn fetch(&self, key: &CacheKey) -> Result<OriginObject, OriginError> {
        self.fetch_with(key, self.guards.shared.etiquette.on_budget_spent).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::clock::{ManualClock, Timestamp};
    use crate::origin::{BreakerConfig, BudgetRates, LocalBudget, RetryPolicy};
    use crate::stripe::ObjectKind;

    /// An origin that answers from a script, then successes.
    struct Scripted {
        answers: Mutex<VecDeque<Result<(), OriginError>>>,
        calls: AtomicU64,
    }

    impl Scripted {
        fn new(answers: Vec<Result<(), OriginError>>) -> Self {
            Scripted { answers: Mutex::new(answers.into()), calls: AtomicU64::new(0) }
        }
    }

    impl Origin for Scripted {
        async fn fetch(&self, _key: &CacheKey) -> Result<OriginObject, OriginError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = self.answers.lock().unwrap().pop_front().unwrap_or(Ok(()));
            next.map(|()| OriginObject { data: "{}".into(), version: 1, api_version: "v".into() })
        }
    }

    fn status(code: u16) -> Result<(), OriginError> {
        Err(OriginError::Status { status: code, message: "m".into(), should_retry: None })
    }

    fn fast() -> Etiquette {
        Etiquette {
            retry: RetryPolicy {
                initial_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
                ..RetryPolicy::default()
            },
            ..Etiquette::default()
        }
    }

    fn guarded(e: Etiquette, budget: Budget, answers: Vec<Result<(), OriginError>>) -> Guarded<Scripted> {
        let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
        let guards = OriginGuards::new(e, budget, clock, 1).unwrap();
        Guarded::new(Scripted::new(answers), guards)
    }

    fn key() -> CacheKey {
        CacheKey::new(ObjectKind::Customer, "cus_1")
    }

    #[tokio::test]
    async fn server_errors_are_retried_up_to_the_limit_and_counted() {
        let g = guarded(fast(), Budget::Unlimited, vec![status(500), status(503)]);
        assert!(g.fetch(&key()).await.is_ok());
        let snap = g.guards().snapshot();
        assert_eq!((snap.attempts, snap.retries.server_error, snap.succeeded), (3, 2, 1));

        let g = guarded(fast(), Budget::Unlimited, vec![status(500), status(500), status(500)]);
        let err = g.fetch(&key()).await.unwrap_err();
        assert!(matches!(err, OriginError::Status { status: 500, .. }), "{err}");
        assert_eq!(g.inner().calls.load(Ordering::SeqCst), 3, "1 + max_retries (2)");
    }

    #[tokio::test]
    async fn a_rate_limit_429_and_a_404_are_not_retried() {
        let limited =
            Err(OriginError::RateLimited { reason: "global-rate".into(), code: None, should_retry: None });
        let g = guarded(fast(), Budget::Unlimited, vec![limited, Err(OriginError::NotFound("x".into()))]);
        assert!(matches!(g.fetch(&key()).await, Err(OriginError::RateLimited { .. })));
        assert!(matches!(g.fetch(&key()).await, Err(OriginError::NotFound(_))));
        let snap = g.guards().snapshot();
        assert_eq!((snap.attempts, snap.retries.total(), snap.rate_limited), (2, 0, 1));
    }

    #[tokio::test]
    async fn a_spent_budget_fails_fast_or_says_serve_stale_without_calling() {
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let rates = BudgetRates { global_per_s: 1.0, endpoint_per_s: 1.0, burst: Duration::ZERO };
        let budget = Budget::Local(Arc::new(LocalBudget::new(rates, clock)));
        let e = Etiquette { on_budget_spent: OnBudgetSpent::FailFast, ..fast() };
        let g = guarded(e, budget, vec![]);
        assert!(g.fetch(&key()).await.is_ok());
        let spent = g.fetch(&key()).await.unwrap_err();
        assert!(matches!(spent, OriginError::BudgetSpent { serve_stale: false, .. }), "{spent}");
        let stale = g.fetch_with(&key(), OnBudgetSpent::Stale).await.unwrap_err();
        assert!(matches!(stale, OriginError::BudgetSpent { serve_stale: true, .. }));
        assert_eq!(g.inner().calls.load(Ordering::SeqCst), 1);
        let snap = g.guards().snapshot();
        assert_eq!((snap.budget.immediate, snap.budget.refused), (1, 2));
        assert_eq!(g.guards().breaker_state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn an_open_breaker_fails_fast_without_calling() {
        let e = Etiquette {
            breaker: BreakerConfig { consecutive_failures: 3, ..BreakerConfig::default() },
            attempt_timeout: Duration::from_millis(20),
            ..fast()
        };
        let g = guarded(e, Budget::Unlimited, vec![status(502), status(502), status(502)]);
        assert!(g.fetch(&key()).await.is_err());
        assert_eq!(g.guards().breaker_state(), BreakerState::Open);
        let open = g.fetch(&key()).await.unwrap_err();
        assert!(matches!(open, OriginError::CircuitOpen { .. }), "{open}");
        assert_eq!(g.inner().calls.load(Ordering::SeqCst), 3, "no call while open");
        let snap = g.guards().snapshot();
        assert_eq!((snap.breaker.opens, snap.breaker.short_circuits), (1, 1));
    }

    #[tokio::test]
    async fn a_hanging_origin_is_cut_by_the_attempt_timeout_then_the_deadline() {
        struct Hang;
        impl Origin for Hang {
            async fn fetch(&self, _key: &CacheKey) -> Result<OriginObject, OriginError> {
                std::future::pending().await
            }
        }
        let e = Etiquette {
            attempt_timeout: Duration::from_millis(30),
            deadline: Duration::from_millis(50),
            breaker: BreakerConfig { enabled: false, ..BreakerConfig::default() },
            ..fast()
        };
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let g = Guarded::new(Hang, OriginGuards::new(e, Budget::Unlimited, clock, 1).unwrap());
        let err = g.fetch(&key()).await.unwrap_err();
        assert!(matches!(err, OriginError::DeadlineExceeded { attempts: 2, .. }), "{err}");
        let snap = g.guards().snapshot();
        assert_eq!((snap.timeouts, snap.retries.network, snap.deadline_exceeded), (1, 1, 1));
    }
}
