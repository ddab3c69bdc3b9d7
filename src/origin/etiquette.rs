//! The etiquette's configuration: rate budget, what to do when it is spent,
//! retries, breaker, timeouts; every field with its documented default, and the
//! validation that names a bad key.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::breaker::BreakerConfig;
use super::budget::BudgetRates;
use super::duration_text;
use super::retry::RetryPolicy;

/// How a [`super::Guarded`] origin treats Stripe. In TOML:
///
/// ```toml
/// budget = { scope = "process", share_of_limit = 0.8, burst = "250ms" }
/// on_budget_spent = { queue = { max_wait = "1s" } }   # or "fail_fast", or "stale"
/// retry = { max_retries = 2, initial_delay = "500ms", max_delay = "5s", backoff = "exponential" }
/// breaker = { consecutive_failures = 5, failure_ratio = 0.5, window = "10s", min_calls = 20, cool_down = "5s" }
/// attempt_timeout = "10s"
/// deadline = "25s"
/// ```
///
/// By default: a per-process budget at 80 % of the account's limits (20/s in
/// test mode, 80/s live, 20/s per endpoint), waiting up to 1 s for a token;
/// the SDKs' retries; the default [`BreakerConfig`]; 10 s per attempt, 25 s
/// per fetch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Etiquette {
    /// The client-side rate budget.
    pub budget: BudgetConfig,
    /// What a fetch does when the budget has no token for it.
    pub on_budget_spent: OnBudgetSpent,
    /// Which failures are retried, and the backoff.
    pub retry: RetryPolicy,
    /// When calls stop going to a failing Stripe.
    pub breaker: BreakerConfig,
    /// How long one call may take. By default 10 s: far above a retrieve's
    /// ~1 s p99 and a 5 s latency spike, far below the SDKs' 80 s, which would
    /// outlive any caller's patience.
    #[serde(with = "duration_text")]
    pub attempt_timeout: Duration,
    /// How long a fetch may take in all (budget waits, attempts, backoff). By
    /// default 25 s, inside API Gateway's 29 s integration timeout.
    #[serde(with = "duration_text")]
    pub deadline: Duration,
}

impl Default for Etiquette {
    fn default() -> Self {
        Etiquette {
            budget: BudgetConfig::default(),
            on_budget_spent: OnBudgetSpent::default(),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            attempt_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(25),
        }
    }
}

impl Etiquette {
    /// No etiquette: no budget, no breaker, no retries, one 30 s timeout: the
    /// seed's Lambda calling Stripe bare. What a policy without `etiquette` runs.
    pub fn off() -> Self {
        Etiquette {
            budget: BudgetConfig { scope: BudgetScope::Off, ..BudgetConfig::default() },
            retry: RetryPolicy { max_retries: 0, ..RetryPolicy::default() },
            breaker: BreakerConfig { enabled: false, ..BreakerConfig::default() },
            attempt_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(30),
            ..Etiquette::default()
        }
    }
}

/// What a fetch does when the budget has no token for it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OnBudgetSpent {
    /// Fail with [`super::OriginError::BudgetSpent`] at once.
    FailFast,
    /// Wait for a token, up to `max_wait` (and the fetch's deadline), then
    /// fail with `BudgetSpent`. Waiters are served in order.
    Queue {
        /// The longest wait. By default 1 s.
        #[serde(with = "duration_text")]
        max_wait: Duration,
    },
    /// Fail at once with `BudgetSpent { serve_stale: true }`: the chain serves
    /// its stale copy if it has one.
    Stale,
}

impl Default for OnBudgetSpent {
    fn default() -> Self {
        OnBudgetSpent::Queue { max_wait: Duration::from_secs(1) }
    }
}

/// Where the budget's buckets live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    /// No budget: every call goes out (for comparison runs).
    Off,
    /// In this process, shared by its callers. The default.
    #[default]
    Process,
    /// In Redis, shared by every instance (a Lua token bucket per key).
    Redis,
}

/// Test or live mode, from the API key; it picks Stripe's global limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StripeMode {
    /// `sk_test_`/`rk_test_` keys (sandbox limits).
    Test,
    /// Any other key (`sk_live_`/`rk_live_`).
    Live,
}

impl StripeMode {
    /// The mode of `api_key`: test for `sk_test_`/`rk_test_` keys, live for
    /// any other.
    pub fn of_key(api_key: &str) -> StripeMode {
        if api_key.starts_with("sk_test_") || api_key.starts_with("rk_test_") {
            StripeMode::Test
        } else {
            StripeMode::Live
        }
    }
}

/// The client-side rate budget.
///
/// By default: in this process, 80 % of Stripe's documented limits (100/s live,
/// 25/s test, 25/s per endpoint), 250 ms of burst, one instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Where the buckets live.
    pub scope: BudgetScope,
    /// The account's calls per second, overriding `share_of_limit` x the mode's limit.
    pub rate_per_s: Option<f64>,
    /// The share of Stripe's limits the budget allows (0..=1]. By default 0.8.
    pub share_of_limit: f64,
    /// Stripe's global limit in live mode. By default 100/s.
    pub live_limit_per_s: f64,
    /// Stripe's global limit in test mode. By default 25/s.
    pub test_limit_per_s: f64,
    /// Stripe's per-endpoint limit. By default 25/s.
    pub endpoint_limit_per_s: f64,
    /// Burst as time at the rate (capacity = rate x burst, at least 1 call).
    /// By default 250 ms: small, so a burst never reaches Stripe's own bucket.
    #[serde(with = "duration_text")]
    pub burst: Duration,
    /// Processes sharing the account. With scope `process` each gets
    /// 1/`instances` of the budget; with scope `redis` that is the share each
    /// falls back to while Redis is unreachable. By default 1.
    pub instances: u32,
    /// Prefix of the Redis keys of scope `redis`. By default `tb:stripe-budget`.
    pub redis_key_prefix: String,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            scope: BudgetScope::Process,
            rate_per_s: None,
            share_of_limit: 0.8,
            live_limit_per_s: 100.0,
            test_limit_per_s: 25.0,
            endpoint_limit_per_s: 25.0,
            burst: Duration::from_millis(250),
            instances: 1,
            redis_key_prefix: "tb:stripe-budget".into(),
        }
    }
}

impl BudgetConfig {
    /// The rates for an account in `mode`, before any split over instances.
    pub fn rates(&self, mode: StripeMode) -> BudgetRates {
        let limit = match mode {
            StripeMode::Live => self.live_limit_per_s,
            StripeMode::Test => self.test_limit_per_s,
        };
        BudgetRates {
            global_per_s: self.rate_per_s.unwrap_or(self.share_of_limit * limit),
            endpoint_per_s: self.share_of_limit * self.endpoint_limit_per_s,
            burst: self.burst,
        }
    }
}

/// A configuration value out of range; `key` names it as the fields do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid origin etiquette `{key}`: {problem}")]
pub struct EtiquetteError {
    /// The key, e.g. `budget.share_of_limit`.
    pub key: String,
    /// What is wrong and what is accepted.
    pub problem: String,
}

impl Etiquette {
    /// Checks every value's range.
    ///
    /// # Errors
    /// The first value out of range, named by its key.
    pub fn validate(&self) -> Result<(), EtiquetteError> {
        let err = |key: &str, problem: &str| Err(EtiquetteError { key: key.into(), problem: problem.into() });
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let b = &self.budget;
        if b.rate_per_s.is_some_and(|r| !positive(r)) {
            return err("budget.rate_per_s", "must be a positive number of calls per second");
        }
        if !(positive(b.share_of_limit) && b.share_of_limit <= 1.0) {
            return err("budget.share_of_limit", "must be in (0, 1]");
        }
        for (key, v) in [
            ("budget.live_limit_per_s", b.live_limit_per_s),
            ("budget.test_limit_per_s", b.test_limit_per_s),
            ("budget.endpoint_limit_per_s", b.endpoint_limit_per_s),
        ] {
            if !positive(v) {
                return err(key, "must be a positive number of calls per second");
            }
        }
        if b.instances == 0 {
            return err("budget.instances", "must be at least 1");
        }
        if b.scope == BudgetScope::Redis && b.redis_key_prefix.is_empty() {
            return err("budget.redis_key_prefix", "must not be empty with scope \"redis\"");
        }
        if self.retry.initial_delay > self.retry.max_delay {
            return err("retry.initial_delay", "must not exceed retry.max_delay");
        }
        let br = &self.breaker;
        if !(0.0..=1.0).contains(&br.failure_ratio) || br.failure_ratio.is_nan() {
            return err("breaker.failure_ratio", "must be in [0, 1]");
        }
        if br.window.is_zero() {
            return err("breaker.window", "must be longer than zero");
        }
        if self.attempt_timeout.is_zero() {
            return err("attempt_timeout", "must be longer than zero");
        }
        if self.deadline < self.attempt_timeout {
            return err("deadline", "must be at least attempt_timeout");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::Backoff;

    #[test]
    fn defaults_are_eighty_percent_of_the_limits() {
        let e = Etiquette::default();
        assert_eq!(e.validate(), Ok(()));
        let test = e.budget.rates(StripeMode::Test);
        assert_eq!((test.global_per_s, test.endpoint_per_s), (20.0, 20.0));
        let live = e.budget.rates(StripeMode::Live);
        assert_eq!((live.global_per_s, live.endpoint_per_s), (80.0, 20.0));
        assert_eq!(live.split(4).global_per_s, 20.0);
        assert_eq!(StripeMode::of_key("sk_test_abc"), StripeMode::Test);
        assert_eq!(StripeMode::of_key("rk_live_abc"), StripeMode::Live);
    }

    #[test]
    fn toml_reads_every_policy_and_rejects_unknown_keys() {
        let e: Etiquette = toml::from_str(
            r#"
            on_budget_spent = { queue = { max_wait = "250ms" } }
            deadline = "30s"
            [budget]
            scope = "redis"
            rate_per_s = 10.0
            [retry]
            backoff = "quadratic"
            [breaker]
            cool_down = "2s"
            "#,
        )
        .unwrap();
        assert_eq!(e.on_budget_spent, OnBudgetSpent::Queue { max_wait: Duration::from_millis(250) });
        assert_eq!(e.deadline, Duration::from_secs(30));
        assert_eq!((e.budget.scope, e.budget.rate_per_s), (BudgetScope::Redis, Some(10.0)));
        assert_eq!(e.budget.share_of_limit, 0.8, "unset keys keep their defaults");
        assert_eq!(e.retry.backoff, Backoff::Quadratic);
        assert_eq!(e.breaker.cool_down, Duration::from_secs(2));
        for (text, expected) in
            [("\"stale\"", OnBudgetSpent::Stale), ("\"fail_fast\"", OnBudgetSpent::FailFast)]
        {
            let e: Etiquette = toml::from_str(&format!("on_budget_spent = {text}")).unwrap();
            assert_eq!(e.on_budget_spent, expected);
        }
        let unknown = toml::from_str::<Etiquette>("[budget]\nrate = 5.0").unwrap_err();
        assert!(unknown.to_string().contains("unknown field `rate`"), "{unknown}");
        assert!(toml::from_str::<Etiquette>("deadline = \"25\"").is_err(), "a duration needs a unit");
        let round: Etiquette = toml::from_str(&toml::to_string(&e).unwrap()).unwrap();
        assert_eq!(round, e);
    }

    #[test]
    fn validation_names_the_bad_key() {
        let key = |f: &dyn Fn(&mut Etiquette)| {
            let mut e = Etiquette::default();
            f(&mut e);
            e.validate().unwrap_err().key
        };
        assert_eq!(key(&|e| e.budget.share_of_limit = 1.5), "budget.share_of_limit");
        assert_eq!(key(&|e| e.budget.rate_per_s = Some(0.0)), "budget.rate_per_s");
        assert_eq!(key(&|e| e.budget.instances = 0), "budget.instances");
        assert_eq!(key(&|e| e.breaker.failure_ratio = 2.0), "breaker.failure_ratio");
        assert_eq!(key(&|e| e.deadline = Duration::from_secs(1)), "deadline");
        assert_eq!(key(&|e| e.retry.initial_delay = Duration::from_secs(9)), "retry.initial_delay");
    }
}
