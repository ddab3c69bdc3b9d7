//! Stripe's limiters: token buckets per account (global, by key mode) and per
//! endpoint, requests-in-flight limits, and per-object write locks whose
//! contention answers `lock_timeout`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::auth::ApiMode;
use super::config::LimitsConfig;
use super::endpoint::Endpoint;
use crate::clock::{SharedClock, Timestamp};

/// A token bucket: `rate_per_s` tokens a second up to `capacity`; a request
/// takes one. Time comes from the caller, so tests step a manual clock.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate_per_s: f64,
    capacity: f64,
    /// (tokens, when they were counted)
    state: Mutex<(f64, Timestamp)>,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate_per_s: f64, capacity: f64, now: Timestamp) -> Self {
        TokenBucket { rate_per_s, capacity, state: Mutex::new((capacity, now)) }
    }

    /// Takes a token if one is there at `now`.
    pub fn try_take(&self, now: Timestamp) -> bool {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let refill = now.since(s.1).as_secs_f64() * self.rate_per_s;
        s.0 = (s.0 + refill).min(self.capacity);
        s.1 = s.1.max(now);
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// Gives back a token taken for a request another limiter refused.
    pub fn refund(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 = (s.0 + 1.0).min(self.capacity);
    }
}

/// Which limiter refused a request (its `Stripe-Rate-Limited-Reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    GlobalRate,
    EndpointRate,
    GlobalConcurrency,
    EndpointConcurrency,
}

impl Refusal {
    pub const fn reason(self) -> &'static str {
        match self {
            Refusal::GlobalRate => "global-rate",
            Refusal::EndpointRate => "endpoint-rate",
            Refusal::GlobalConcurrency => "global-concurrency",
            Refusal::EndpointConcurrency => "endpoint-concurrency",
        }
    }
}

/// All limiters of the mock, indexed by account, mode and endpoint.
#[derive(Debug)]
pub(crate) struct Limits {
    config: LimitsConfig,
    clock: SharedClock,
    /// [account][mode]
    global: Vec<[TokenBucket; 2]>,
    /// [account][mode * COUNT + endpoint]
    endpoint: Vec<Vec<TokenBucket>>,
    in_flight: Vec<AtomicU32>,
    /// [account * COUNT + endpoint]
    endpoint_in_flight: Vec<AtomicU32>,
    /// (account, object id) being written.
    locked: Mutex<HashSet<(usize, String)>>,
}

/// Holds a request's place in the in-flight counts until dropped.
#[derive(Debug)]
pub(crate) struct InFlight<'a> {
    counters: [Option<&'a AtomicU32>; 2],
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        for c in self.counters.iter().flatten() {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Holds a write lock on one object until dropped.
#[derive(Debug)]
pub(crate) struct ObjectLock<'a> {
    limits: &'a Limits,
    key: Option<(usize, String)>,
}

impl Drop for ObjectLock<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.limits.locked.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
        }
    }
}

/// A bucket's capacity: `burst` worth of its rate, at least one token.
pub(crate) fn capacity(rate_per_s: f64, burst: Duration) -> f64 {
    (rate_per_s * burst.as_secs_f64()).max(1.0)
}

impl Limits {
    pub fn new(config: &LimitsConfig, accounts: usize, clock: SharedClock) -> Self {
        let now = clock.now();
        let bucket = |rate: f64| TokenBucket::new(rate, capacity(rate, config.burst), now);
        let global = (0..accounts)
            .map(|_| [bucket(config.global_test_per_s), bucket(config.global_live_per_s)])
            .collect();
        let endpoint = (0..accounts)
            .map(|_| (0..2).flat_map(|_| config.endpoint_per_s.iter().map(|r| bucket(*r))).collect())
            .collect();
        Limits {
            config: config.clone(),
            clock,
            global,
            endpoint,
            in_flight: (0..accounts).map(|_| AtomicU32::new(0)).collect(),
            endpoint_in_flight: (0..accounts * Endpoint::COUNT).map(|_| AtomicU32::new(0)).collect(),
            locked: Mutex::new(HashSet::new()),
        }
    }

    /// Admits a request or says which limiter refuses it, in Stripe's order:
    /// rate limiters (endpoint, then global: endpoint requests count against the
    /// global limit too), then concurrency limiters.
    pub fn admit(&self, account: usize, mode: ApiMode, endpoint: Endpoint) -> Result<InFlight<'_>, Refusal> {
        let mut guard = InFlight { counters: [None, None] };
        if !self.config.enabled {
            return Ok(guard);
        }
        let now = self.clock.now();
        let ep = &self.endpoint[account][mode.index() * Endpoint::COUNT + endpoint.index()];
        if !ep.try_take(now) {
            return Err(Refusal::EndpointRate);
        }
        if !self.global[account][mode.index()].try_take(now) {
            ep.refund();
            return Err(Refusal::GlobalRate);
        }
        if let Some(max) = self.config.concurrency {
            let c = &self.in_flight[account];
            if c.fetch_add(1, Ordering::AcqRel) >= max {
                c.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::GlobalConcurrency);
            }
            guard.counters[0] = Some(c);
        }
        if let Some(max) = self.config.endpoint_concurrency {
            let c = &self.endpoint_in_flight[account * Endpoint::COUNT + endpoint.index()];
            if c.fetch_add(1, Ordering::AcqRel) >= max {
                c.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::EndpointConcurrency);
            }
            guard.counters[1] = Some(c);
        }
        Ok(guard)
    }

    /// Locks object `id` of `account` for a write, waiting up to the configured
    /// `lock_wait`; `None` when another write keeps it (a `lock_timeout`).
    /// Locks are taken even with limits off, so writes to one object stay serial.
    pub async fn lock(&self, account: usize, id: &str) -> Option<ObjectLock<'_>> {
        let key = (account, id.to_owned());
        let deadline = tokio::time::Instant::now() + self.config.lock_wait;
        loop {
            if self.locked.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone()) {
                return Some(ObjectLock { limits: self, key: Some(key) });
            }
            if !self.config.enabled || tokio::time::Instant::now() >= deadline {
                return if self.config.enabled { None } else { self.wait_unlimited(key).await };
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// With limits off a write waits for the lock as long as it takes.
    async fn wait_unlimited(&self, key: (usize, String)) -> Option<ObjectLock<'_>> {
        loop {
            if self.locked.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone()) {
                return Some(ObjectLock { limits: self, key: Some(key) });
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, ManualClock};

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_capacity() {
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let b = TokenBucket::new(25.0, 25.0, clock.now());
        assert_eq!((0..40).filter(|_| b.try_take(clock.now())).count(), 25);
        clock.advance(Duration::from_millis(200));
        assert_eq!((0..40).filter(|_| b.try_take(clock.now())).count(), 5);
        clock.advance(Duration::from_secs(60));
        assert_eq!((0..40).filter(|_| b.try_take(clock.now())).count(), 25);
    }

    #[test]
    fn a_burst_at_three_times_the_rate_is_refused_for_the_excess_only() {
        // 75 req/s offered for 10 s against 25/s with 1 s of burst: the bucket
        // admits 25/s plus its initial 25, the rest (the excess) is refused.
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let b = TokenBucket::new(25.0, 25.0, clock.now());
        let mut admitted = 0;
        for _ in 0..750 {
            clock.advance(Duration::from_micros(13_333));
            admitted += usize::from(b.try_take(clock.now()));
        }
        assert!((270..=276).contains(&admitted), "admitted {admitted}");
    }

    #[test]
    fn endpoint_then_global_then_concurrency() {
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let cfg = LimitsConfig {
            global_test_per_s: 3.0,
            endpoint_per_s: [2.0; Endpoint::COUNT],
            concurrency: Some(1),
            ..LimitsConfig::default()
        };
        let limits = Limits::new(&cfg, 1, Arc::clone(&clock) as SharedClock);
        let a = limits.admit(0, ApiMode::Test, Endpoint::CustomerRetrieve).unwrap();
        // One in flight: the next is refused for concurrency, after its tokens were taken.
        assert_eq!(
            limits.admit(0, ApiMode::Test, Endpoint::InvoiceRetrieve).unwrap_err(),
            Refusal::GlobalConcurrency
        );
        drop(a);
        // CustomerRetrieve's bucket of 2 gives its second token, then none.
        drop(limits.admit(0, ApiMode::Test, Endpoint::CustomerRetrieve).unwrap());
        assert_eq!(
            limits.admit(0, ApiMode::Test, Endpoint::CustomerRetrieve).unwrap_err(),
            Refusal::EndpointRate
        );
        // Three requests took the global bucket's 3 tokens (a concurrency refusal still counts).
        assert_eq!(limits.admit(0, ApiMode::Test, Endpoint::InvoiceList).unwrap_err(), Refusal::GlobalRate);
        // Live mode has its own buckets.
        assert!(limits.admit(0, ApiMode::Live, Endpoint::InvoiceList).is_ok());
    }

    #[tokio::test]
    async fn a_locked_object_times_out_a_second_writer() {
        let cfg = LimitsConfig { lock_wait: Duration::from_millis(50), ..LimitsConfig::default() };
        let limits = Limits::new(&cfg, 1, crate::clock::SystemClock::shared());
        let held = limits.lock(0, "cus_1").await.unwrap();
        assert!(limits.lock(0, "cus_1").await.is_none());
        assert!(limits.lock(0, "cus_2").await.is_some());
        drop(held);
        assert!(limits.lock(0, "cus_1").await.is_some());
    }
}
