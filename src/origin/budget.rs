//! The client-side rate budget: token buckets below Stripe's limits (one for the
//! account, one per endpoint), shared by every caller of a process, so the
//! chain slows itself down before Stripe answers 429.
//!
//! Waiting is by reservation: a caller takes a token that may only become
//! available later (the bucket goes into debt) and sleeps until then. Callers
//! are served in the order they reserved, and a newcomer's
//! [`TokenBucket::try_acquire`] cannot jump the queue.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::etiquette::{BudgetConfig, BudgetScope, StripeMode};
use super::redis_budget::RedisBudget;
use crate::clock::{SharedClock, Timestamp};
use crate::stripe::ObjectKind;

/// The rates a budget enforces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetRates {
    /// Calls per second to the whole account.
    pub global_per_s: f64,
    /// Calls per second to one endpoint (one [`ObjectKind`]).
    pub endpoint_per_s: f64,
    /// Burst, as time at the rate: capacity = rate x burst (at least one call).
    pub burst: Duration,
}

impl BudgetRates {
    /// The bucket capacity for `rate_per_s`.
    pub fn capacity(&self, rate_per_s: f64) -> f64 {
        (rate_per_s * self.burst.as_secs_f64()).max(1.0)
    }

    /// These rates split evenly over `instances` processes.
    pub fn split(self, instances: u32) -> BudgetRates {
        let n = f64::from(instances.max(1));
        BudgetRates { global_per_s: self.global_per_s / n, endpoint_per_s: self.endpoint_per_s / n, ..self }
    }
}

/// A failure to set up a budget.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The budget is to be shared through Redis but no Redis URL was given.
    #[error(
        "the stripe rate budget is shared through redis (`budget.scope = \"redis\"`) but no redis URL was given; pass the L1's URL or use `scope = \"process\"`"
    )]
    NoRedisUrl,
    /// Redis could not be reached or refused the script.
    #[error("stripe rate budget in redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// One token bucket: `rate_per_s` tokens a second up to its capacity, on a clock.
#[derive(Debug)]
pub struct TokenBucket {
    rate_per_s: f64,
    capacity: f64,
    clock: SharedClock,
    /// (tokens, when they were counted); tokens below 0 are reserved ahead.
    state: Mutex<(f64, Timestamp)>,
}

impl TokenBucket {
    /// A full bucket. `rate_per_s` must be positive (a zero rate never refills).
    pub fn new(rate_per_s: f64, capacity: f64, clock: SharedClock) -> Self {
        let now = clock.now();
        TokenBucket {
            rate_per_s: rate_per_s.max(f64::MIN_POSITIVE),
            capacity: capacity.max(1.0),
            clock,
            state: Mutex::new((capacity.max(1.0), now)),
        }
    }

    /// Reserves a token usable within `max_wait`: how long to wait before using
    /// it, or `None` (nothing taken) when it would come later than that.
    pub fn reserve(&self, max_wait: Duration) -> Option<Duration> {
        let now = self.clock.now();
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if now > s.1 {
            s.0 = (s.0 + now.since(s.1).as_secs_f64() * self.rate_per_s).min(self.capacity);
            s.1 = now;
        }
        let after = s.0 - 1.0;
        let wait = if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-after / self.rate_per_s).unwrap_or(Duration::MAX)
        };
        if wait > max_wait {
            return None;
        }
        s.0 = after;
        Some(wait)
    }

    /// Takes a token if one is there now (and nobody is queued for it).
    pub fn try_acquire(&self) -> bool {
        self.reserve(Duration::ZERO).is_some()
    }

    /// Gives back a reserved token that was not used.
    pub fn refund(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 = (s.0 + 1.0).min(self.capacity);
    }

    /// Waits for a token until `deadline` (on the bucket's clock): true when
    /// one was taken, false at once when none would come by then. Waiters are
    /// served in the order they called; a waiter dropped early gives its token back.
    pub async fn acquire_until(&self, deadline: Timestamp) -> bool {
        let Some(wait) = self.reserve(deadline.since(self.clock.now())) else { return false };
        sleep_or_refund(wait, || self.refund()).await;
        true
    }
}

/// Sleeps `wait`; calls `refund` if dropped before it passed.
async fn sleep_or_refund(wait: Duration, refund: impl FnOnce()) {
    struct Armed<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Armed<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    if wait.is_zero() {
        return;
    }
    let mut guard = Armed(Some(refund));
    tokio::time::sleep(wait).await;
    guard.0 = None;
}

/// A budget callers draw from before each call to Stripe.
pub trait RateBudget: Send + Sync + fmt::Debug {
    /// Reserves a call to `kind`'s endpoint that may go out within `max_wait`:
    /// how long to wait first, or `None` (nothing reserved) when the budget
    /// has nothing that soon.
    fn reserve(&self, kind: ObjectKind, max_wait: Duration) -> impl Future<Output = Option<Duration>> + Send;

    /// Gives back a reservation that was not used (best effort).
    fn refund(&self, kind: ObjectKind);

    /// Takes a token for `kind` if there is one now.
    fn try_acquire(&self, kind: ObjectKind) -> impl Future<Output = bool> + Send {
        async move { self.reserve(kind, Duration::ZERO).await.is_some() }
    }

    /// Waits up to `max_wait` for a token for `kind`: how long it waited, or
    /// `None` when none would come in time. Dropped while waiting, it refunds.
    fn acquire_within(
        &self,
        kind: ObjectKind,
        max_wait: Duration,
    ) -> impl Future<Output = Option<Duration>> + Send {
        async move {
            let wait = self.reserve(kind, max_wait).await?;
            sleep_or_refund(wait, || self.refund(kind)).await;
            Some(wait)
        }
    }
}

/// A budget in this process: a bucket for the account and one per endpoint.
#[derive(Debug)]
pub struct LocalBudget {
    rates: BudgetRates,
    global: TokenBucket,
    endpoints: [TokenBucket; ObjectKind::ALL.len()],
}

/// The position of `kind` in [`ObjectKind::ALL`]: its endpoint bucket.
pub(crate) fn kind_index(kind: ObjectKind) -> usize {
    ObjectKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl LocalBudget {
    /// Full buckets at `rates`, on `clock`.
    pub fn new(rates: BudgetRates, clock: SharedClock) -> Self {
        let bucket = |rate: f64| TokenBucket::new(rate, rates.capacity(rate), clock.clone());
        LocalBudget {
            rates,
            global: bucket(rates.global_per_s),
            endpoints: ObjectKind::ALL.map(|_| bucket(rates.endpoint_per_s)),
        }
    }

    /// The rates it enforces.
    pub fn rates(&self) -> BudgetRates {
        self.rates
    }

    /// [`RateBudget::reserve`] without the future: both buckets or neither.
    pub fn reserve_now(&self, kind: ObjectKind, max_wait: Duration) -> Option<Duration> {
        let endpoint = &self.endpoints[kind_index(kind)];
        let e = endpoint.reserve(max_wait)?;
        match self.global.reserve(max_wait) {
            Some(g) => Some(e.max(g)),
            None => {
                endpoint.refund();
                None
            }
        }
    }

    /// Takes a token for `kind` if both buckets have one now.
    pub fn try_acquire_now(&self, kind: ObjectKind) -> bool {
        self.reserve_now(kind, Duration::ZERO).is_some()
    }

    /// Waits for a token for `kind` until `deadline` (on the budget's clock).
    pub async fn acquire_until(&self, kind: ObjectKind, deadline: Timestamp) -> bool {
        let max_wait = deadline.since(self.global.clock.now());
        self.acquire_within(kind, max_wait).await.is_some()
    }
}

impl RateBudget for LocalBudget {
    fn reserve(&self, kind: ObjectKind, max_wait: Duration) -> impl Future<Output = Option<Duration>> + Send {
        std::future::ready(self.reserve_now(kind, max_wait))
    }

    fn refund(&self, kind: ObjectKind) {
        self.endpoints[kind_index(kind)].refund();
        self.global.refund();
    }
}

/// The budget a [`super::Guarded`] origin draws from: none, this process's,
/// or one shared by every instance through Redis. Clones share the budget.
#[derive(Clone, Debug)]
pub enum Budget {
    /// No budget: every call goes out.
    Unlimited,
    /// Buckets in this process.
    Local(Arc<LocalBudget>),
    /// Buckets in Redis, shared by every instance.
    Redis(Arc<RedisBudget>),
}

impl Budget {
    /// The budget `config` describes for an account in `mode`; `redis_url` is
    /// needed for [`BudgetScope::Redis`].
    ///
    /// # Errors
    /// With scope redis: no URL, or Redis unreachable.
    pub async fn from_config(
        config: &BudgetConfig,
        mode: StripeMode,
        clock: SharedClock,
        redis_url: Option<&str>,
    ) -> Result<Budget, BudgetError> {
        let rates = config.rates(mode);
        Ok(match config.scope {
            BudgetScope::Off => Budget::Unlimited,
            BudgetScope::Process => {
                Budget::Local(Arc::new(LocalBudget::new(rates.split(config.instances), clock)))
            }
            BudgetScope::Redis => {
                let url = redis_url.ok_or(BudgetError::NoRedisUrl)?;
                let fallback = LocalBudget::new(rates.split(config.instances), clock);
                let shared = RedisBudget::connect(url, &config.redis_key_prefix, rates, fallback).await?;
                Budget::Redis(Arc::new(shared))
            }
        })
    }

    /// Calls that fell back to the local budget because Redis failed.
    pub fn redis_fallbacks(&self) -> u64 {
        match self {
            Budget::Redis(r) => r.fallbacks(),
            Budget::Unlimited | Budget::Local(_) => 0,
        }
    }
}

impl RateBudget for Budget {
    async fn reserve(&self, kind: ObjectKind, max_wait: Duration) -> Option<Duration> {
        match self {
            Budget::Unlimited => Some(Duration::ZERO),
            Budget::Local(b) => b.reserve_now(kind, max_wait),
            Budget::Redis(b) => b.reserve(kind, max_wait).await,
        }
    }

    fn refund(&self, kind: ObjectKind) {
        match self {
            Budget::Unlimited => {}
            Budget::Local(b) => b.refund(kind),
            Budget::Redis(b) => b.refund(kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::clock::{Clock, ManualClock, SystemClock};

    fn bucket(rate: f64, capacity: f64) -> (TokenBucket, Arc<ManualClock>) {
        let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
        (TokenBucket::new(rate, capacity, clock.clone()), clock)
    }

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate() {
        let (b, clock) = bucket(20.0, 5.0);
        assert_eq!((0..10).filter(|_| b.try_acquire()).count(), 5);
        clock.advance(Duration::from_millis(100));
        assert_eq!((0..10).filter(|_| b.try_acquire()).count(), 2);
        clock.advance(Duration::from_secs(60));
        assert_eq!((0..10).filter(|_| b.try_acquire()).count(), 5, "never more than its capacity");
    }

    #[test]
    fn reservations_queue_in_order_and_a_newcomer_cannot_jump_them() {
        let (b, clock) = bucket(10.0, 1.0);
        assert_eq!(b.reserve(Duration::ZERO), Some(Duration::ZERO));
        let waits: Vec<_> = (0..3).map(|_| b.reserve(Duration::from_secs(1)).unwrap()).collect();
        let ms: Vec<u128> = waits.iter().map(|w| w.as_millis()).collect();
        assert_eq!(ms, [100, 200, 300], "each waiter one token-interval after the last");
        clock.advance(Duration::from_millis(150));
        assert!(!b.try_acquire(), "tokens refilled so far are promised to the queue");
        // A reservation past the deadline takes nothing.
        assert_eq!(b.reserve(Duration::from_millis(100)), None);
        assert_eq!(b.reserve(Duration::from_millis(300)).map(|w| w.as_millis()), Some(250));
        clock.advance(Duration::from_secs(1));
        assert!(b.try_acquire());
    }

    #[test]
    fn a_refund_returns_the_token() {
        let (b, _) = bucket(1.0, 1.0);
        assert!(b.try_acquire());
        assert!(!b.try_acquire());
        b.refund();
        assert!(b.try_acquire());
    }

    #[test]
    fn the_endpoint_bucket_binds_below_the_global_one_and_refusals_take_nothing() {
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let rates =
            BudgetRates { global_per_s: 80.0, endpoint_per_s: 20.0, burst: Duration::from_millis(250) };
        let b = LocalBudget::new(rates, clock.clone());
        // Capacities: 20 global, 5 per endpoint.
        let customers = (0..30).filter(|_| b.try_acquire_now(ObjectKind::Customer)).count();
        assert_eq!(customers, 5);
        let invoices = (0..30).filter(|_| b.try_acquire_now(ObjectKind::Invoice)).count();
        assert_eq!(invoices, 5);
        clock.advance(Duration::from_secs(1));
        // Global (20) runs out before the four endpoints (4 x 5) do.
        let all: usize =
            ObjectKind::ALL.iter().map(|k| (0..10).filter(|_| b.try_acquire_now(*k)).count()).sum();
        assert_eq!(all, 20);
        // A global refusal gives the endpoint token back.
        clock.advance(Duration::from_millis(50)); // +4 global, +1 per endpoint
        assert_eq!((0..10).filter(|_| b.try_acquire_now(ObjectKind::Customer)).count(), 1);
    }

    #[tokio::test]
    async fn waiters_are_served_in_order_at_the_rate() {
        let b = Arc::new(TokenBucket::new(50.0, 1.0, SystemClock::shared()));
        assert!(b.try_acquire());
        let started = Instant::now();
        let order = Arc::new(Mutex::new(Vec::new()));
        let deadline = SystemClock.now().plus(Duration::from_secs(2));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (b, order) = (Arc::clone(&b), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                assert!(b.acquire_until(deadline).await, "a token within 2 s");
                order.lock().unwrap().push(i);
            }));
            // Let the task reserve before the next one is spawned.
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        let took = started.elapsed();
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert!(took >= Duration::from_millis(95), "5 tokens at 50/s take ~100 ms: {took:?}");
        // No token by a deadline already passed.
        let (slow, _) = bucket(0.001, 1.0);
        assert!(slow.try_acquire());
        assert!(!slow.acquire_until(Timestamp::EPOCH).await);
    }

    #[tokio::test]
    async fn a_cancelled_wait_gives_its_token_back() {
        let b = TokenBucket::new(10.0, 1.0, SystemClock::shared());
        assert!(b.try_acquire());
        let deadline = SystemClock.now().plus(Duration::from_secs(5));
        let waited = tokio::time::timeout(Duration::from_millis(20), b.acquire_until(deadline)).await;
        assert!(waited.is_err(), "cancelled while waiting");
        // The refund cancels the debt: the next token is ~100 ms away, not ~200.
        let next = b.reserve(Duration::from_secs(1)).unwrap();
        assert!(next <= Duration::from_millis(100), "{next:?}");
    }
}
