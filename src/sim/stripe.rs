//! Stripe as the simulator models it, after the mock: log-normal latency per
//! endpoint with rare spikes, the account's global token bucket (100/s live,
//! 25/s test), a bucket per endpoint (25/s), a limit on requests in flight
//! (20), and the scenario's Stripe faults. A fetch goes through the policy's
//! etiquette with the live client's own parts on a virtual clock: the
//! circuit [`Breaker`], the client budget ([`LocalBudget`]: fail fast, queue
//! or stale when spent), the deadline, and [`retry::decide`] (the SDKs' rules:
//! 5xx and no-answer retried with backoff, rate-limit 429s not).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::mock::limits::{TokenBucket, capacity};
use crate::mock::{CounterSnapshot, LatencyConfig, LimitsConfig};
use crate::sim::engine::ts;
use std::sync::Arc;

use crate::clock::{ManualClock, SharedClock, Timestamp};
use crate::origin::{
    Breaker, BreakerPermit, BudgetScope, CallOutcome, Etiquette, LocalBudget, OnBudgetSpent, OriginError,
    RetryDecision, RetryPolicy, StripeMode, retry,
};
use crate::rng::SplitMix;
use crate::scenario::{FaultKind, FaultSpec, Scenario};
use crate::sim::Dist;
use crate::stripe::ObjectKind;

/// How long a 429 or a 5xx takes to come back (the mock answers before any
/// modelled latency).
const REFUSAL_US: u64 = 2_000;

/// What one fetch (its retries included) came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// From the first attempt to the answer, µs.
    pub took_us: u64,
    /// Whether it returned the object.
    pub ok: bool,
    /// Attempts made.
    pub attempts: u32,
}

/// The etiquette's breaker and budget, on the simulator's clock.
#[derive(Debug)]
struct Guards {
    clock: Arc<ManualClock>,
    breaker: Option<Breaker>,
    budget: Option<(LocalBudget, OnBudgetSpent)>,
    deadline: Duration,
    /// The breaker's permit of the call under way: whether it is the probe.
    pending: Option<bool>,
}

impl Guards {
    fn of(etiquette: &Etiquette, live: bool) -> Option<Self> {
        let breaker_on = etiquette.breaker.enabled;
        let budget_on = etiquette.budget.scope != BudgetScope::Off;
        if !breaker_on && !budget_on {
            return None;
        }
        let clock = ManualClock::new(sim_time(0));
        let shared: SharedClock = clock.clone();
        let mode = if live { StripeMode::Live } else { StripeMode::Test };
        let rates = etiquette.budget.rates(mode);
        // One simulated process: a per-process budget is its share of the
        // instances; a Redis-shared one is the whole budget.
        let rates = match etiquette.budget.scope {
            BudgetScope::Process => rates.split(etiquette.budget.instances),
            _ => rates,
        };
        Some(Guards {
            breaker: breaker_on.then(|| Breaker::new(etiquette.breaker.clone(), shared.clone())),
            budget: budget_on.then(|| (LocalBudget::new(rates, shared), etiquette.on_budget_spent)),
            deadline: etiquette.deadline,
            pending: None,
            clock,
        })
    }
}

/// The Stripe model.
#[derive(Debug)]
pub struct StripeModel {
    latency: LatencyConfig,
    /// Per kind: the mock's distribution (scaled), or a live run's.
    tables: [Dist; 4],
    limits: Option<(TokenBucket, [TokenBucket; 4], Option<u32>)>,
    in_flight: BinaryHeap<Reverse<u64>>,
    faults: Vec<FaultSpec>,
    retry: RetryPolicy,
    attempt_timeout: Duration,
    guards: Option<Guards>,
    rng: SplitMix,
    /// What the mock would have counted.
    pub counters: CounterSnapshot,
    /// Attempts that fell inside each fault's window and were hit by it.
    pub injected: Vec<u64>,
    /// Requests per second of virtual time.
    pub calls_per_second: Vec<u32>,
}

/// The mock endpoint a kind is read from, by index into the latency table.
fn endpoint(kind: ObjectKind) -> crate::mock::Endpoint {
    use crate::mock::Endpoint;
    match kind {
        ObjectKind::Customer => Endpoint::CustomerRetrieve,
        ObjectKind::Subscriptions => Endpoint::SubscriptionList,
        ObjectKind::PaymentMethods => Endpoint::PaymentMethodList,
        ObjectKind::Invoice => Endpoint::InvoiceRetrieve,
    }
}

impl StripeModel {
    /// The Stripe of `scenario` (its mode, latency scale, limits and faults),
    /// called with a policy's `etiquette` (its retries and attempt timeout;
    /// without one, as the live chain: no retries, 30 s). Answers take
    /// `measured` when given (a live run's), else the mock's distributions.
    pub fn new(
        scenario: &Scenario,
        etiquette: &Etiquette,
        measured: Option<crate::sim::Dist>,
        seed: u64,
    ) -> Self {
        let s = &scenario.stripe;
        let mut latency = LatencyConfig { scale: s.latency_scale, ..LatencyConfig::default() };
        if s.latency_scale == 0.0 {
            latency.spike_probability = 0.0;
        }
        let l = LimitsConfig::default();
        let global = if s.live_mode { l.global_live_per_s } else { l.global_test_per_s };
        let limits = s.rate_limits.then(|| {
            let bucket = |rate: f64| TokenBucket::new(rate, capacity(rate, l.burst), ts(0));
            (
                bucket(global),
                ObjectKind::ALL.map(|k| bucket(l.endpoint_per_s[endpoint(k).index()])),
                l.concurrency,
            )
        });
        let tables = ObjectKind::ALL.map(|k| match &measured {
            Some(d) => d.clone(),
            None => {
                let d = latency.of(endpoint(k));
                Dist::log_normal(d.p50.mul_f64(latency.scale), d.p99.mul_f64(latency.scale))
            }
        });
        if measured.is_some() {
            // A measured distribution holds the spikes it saw.
            latency.spike_probability = 0.0;
        }
        StripeModel {
            latency,
            tables,
            limits,
            in_flight: BinaryHeap::new(),
            faults: scenario.faults.clone(),
            retry: etiquette.retry.clone(),
            attempt_timeout: etiquette.attempt_timeout,
            guards: Guards::of(etiquette, s.live_mode),
            rng: SplitMix::new(seed),
            counters: CounterSnapshot::default(),
            calls_per_second: Vec::new(),
            injected: vec![0; scenario.faults.len()],
        }
    }

    /// Answers every call after exactly `us` µs (the parity test's Stripe).
    #[cfg(test)]
    pub(crate) fn fixed_latency(&mut self, us: u64) {
        self.tables = ObjectKind::ALL.map(|_| Dist::log_normal_us(us, us));
        self.latency.spike_probability = 0.0;
    }

    /// A fetch of `kind` starting at `now` (µs of run time): the etiquette's
    /// guards, then attempts with the policy's retries.
    pub fn fetch(&mut self, kind: ObjectKind, now: u64) -> Fetch {
        let deadline = self.guards.as_ref().map_or(u64::MAX, |g| now.saturating_add(us(g.deadline)));
        let mut at = now;
        let mut retries = 0;
        let mut attempts = 0;
        loop {
            let error = match self.guarded_attempt(kind, &mut at, deadline) {
                Ok(true) => return Fetch { took_us: at - now, ok: true, attempts },
                Ok(false) => None,
                Err(e) => Some(e),
            };
            attempts += 1;
            let error = match error {
                Some(e) => e,
                None => {
                    let (took, error) = self.attempt(kind, at);
                    at += took;
                    match error {
                        None => return Fetch { took_us: at - now, ok: true, attempts },
                        Some(e) => e,
                    }
                }
            };
            match retry::decide(&self.retry, retries, &error, &mut self.rng) {
                RetryDecision::Retry { after, .. } if at + us(after) < deadline => {
                    at += us(after);
                    retries += 1;
                }
                _ => return Fetch { took_us: at - now, ok: false, attempts },
            }
        }
    }

    /// The breaker and the budget before an attempt at `*at` (moved on by a
    /// budget wait). `Ok(false)`: go ahead; `Err`: refused without a call.
    /// The breaker hears how the call ends through [`StripeModel::attempt`].
    fn guarded_attempt(
        &mut self,
        kind: ObjectKind,
        at: &mut u64,
        deadline: u64,
    ) -> Result<bool, OriginError> {
        let Some(g) = &mut self.guards else { return Ok(false) };
        g.clock.set(sim_time(*at));
        if let Some(b) = &g.breaker {
            let permit = b.admit().map_err(|retry_in| OriginError::CircuitOpen { retry_in })?;
            g.pending = Some(BreakerPermit::detach(permit));
        }
        if let Some((budget, on_spent)) = &g.budget {
            let remaining = Duration::from_micros(deadline.saturating_sub(*at));
            let max_wait = match on_spent {
                OnBudgetSpent::Queue { max_wait } => (*max_wait).min(remaining),
                OnBudgetSpent::FailFast | OnBudgetSpent::Stale => Duration::ZERO,
            };
            match budget.reserve_now(kind, max_wait) {
                Some(waited) => *at += us(waited),
                None => {
                    if let (Some(b), Some(probe)) = (&g.breaker, g.pending.take()) {
                        b.record_for(probe, CallOutcome::Abandoned);
                    }
                    return Err(OriginError::BudgetSpent {
                        max_wait,
                        serve_stale: *on_spent == OnBudgetSpent::Stale,
                    });
                }
            }
        }
        Ok(false)
    }

    /// One HTTP request at `now`: how long it took and how it failed.
    fn attempt(&mut self, kind: ObjectKind, now: u64) -> (u64, Option<OriginError>) {
        self.counters.requests += 1;
        let second = usize::try_from(now / 1_000_000).unwrap_or(usize::MAX);
        if self.calls_per_second.len() <= second {
            self.calls_per_second.resize(second + 1, 0);
        }
        self.calls_per_second[second] += 1;
        let mut extra = 0;
        for (i, f) in self.faults.iter().enumerate() {
            let (start, end) = (f.at.as_micros() as u64, (f.at + f.duration).as_micros() as u64);
            if now < start || now >= end || !self.rng.chance(f.share) {
                continue;
            }
            let status =
                |status: u16| OriginError::Status { status, message: String::new(), should_retry: None };
            let failed = match f.kind {
                FaultKind::StripeOutage => Some((REFUSAL_US, status(503))),
                FaultKind::StripeErrors => Some((REFUSAL_US, status(500))),
                FaultKind::Stripe429Storm => Some((REFUSAL_US, rate_limited())),
                FaultKind::StripeHang => {
                    let after = self.attempt_timeout;
                    Some((after.as_micros() as u64, OriginError::TimedOut { after }))
                }
                FaultKind::StripeSlow(d) => {
                    extra += d.as_micros() as u64;
                    None
                }
                _ => continue,
            };
            self.injected[i] += 1;
            if let Some((took, e)) = failed {
                self.count_failure(&e);
                let outcome = if e.is_origin_failure() { CallOutcome::Failure } else { CallOutcome::Success };
                self.breaker_heard(now + took, outcome);
                return (took, Some(e));
            }
        }
        let latency = self.sample_latency(kind) + extra;
        if let Some(refused) = self.admit(kind, now, latency) {
            self.counters.status_4xx += 1;
            self.breaker_heard(now + REFUSAL_US, CallOutcome::Success);
            return (REFUSAL_US, Some(refused));
        }
        self.counters.status_2xx += 1;
        self.breaker_heard(now + latency, CallOutcome::Success);
        (latency, None)
    }

    /// Tells the breaker how a call ended (a 429 is a healthy Stripe's answer).
    fn breaker_heard(&mut self, at: u64, outcome: CallOutcome) {
        if let Some(Guards { breaker: Some(b), clock, pending, .. }) = &mut self.guards
            && let Some(probe) = pending.take()
        {
            clock.set(sim_time(at));
            b.record_for(probe, outcome);
        }
    }

    fn count_failure(&mut self, e: &OriginError) {
        match e {
            OriginError::Status { .. } => self.counters.status_5xx += 1,
            OriginError::RateLimited { .. } => {
                self.counters.status_4xx += 1;
                self.counters.rate_limited.global_rate += 1;
            }
            _ => {}
        }
    }

    /// The mock's limiters in Stripe's order: the endpoint's bucket, the
    /// global bucket (a refusal there gives the endpoint's token back), then
    /// requests in flight.
    fn admit(&mut self, kind: ObjectKind, now: u64, latency: u64) -> Option<OriginError> {
        let Some((global, endpoints, concurrency)) = &mut self.limits else {
            return None;
        };
        let rl = &mut self.counters.rate_limited;
        if !endpoints[kind as usize].try_take(ts(now)) {
            rl.endpoint_rate += 1;
            return Some(rate_limited());
        }
        if !global.try_take(ts(now)) {
            endpoints[kind as usize].refund();
            rl.global_rate += 1;
            return Some(rate_limited());
        }
        while self.in_flight.peek().is_some_and(|Reverse(end)| *end <= now) {
            self.in_flight.pop();
        }
        if concurrency.is_some_and(|c| self.in_flight.len() >= c as usize) {
            rl.global_concurrency += 1;
            return Some(rate_limited());
        }
        self.in_flight.push(Reverse(now + latency));
        None
    }

    fn sample_latency(&mut self, kind: ObjectKind) -> u64 {
        let base = self.tables[kind as usize].sample(&mut self.rng);
        let spike = self.rng.chance(self.latency.spike_probability);
        base + if spike { self.latency.spike.as_micros() as u64 } else { 0 }
    }
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Virtual time `t` µs as the simulator's wall-clock instant.
fn sim_time(t: u64) -> Timestamp {
    crate::sim::engine::ts(t)
}

fn rate_limited() -> OriginError {
    OriginError::RateLimited {
        reason: "global-rate".into(),
        code: Some("rate_limit".into()),
        should_retry: None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn model(extra: &str) -> StripeModel {
        // No budget, no breaker; the SDKs' retries.
        let etiquette = Etiquette { retry: RetryPolicy::default(), ..Etiquette::off() };
        model_with(extra, &etiquette)
    }

    fn model_with(extra: &str, etiquette: &Etiquette) -> StripeModel {
        let text = format!("duration = \"60s\"\nseed = 3\n[stripe]\nmode = \"live\"\n{extra}");
        StripeModel::new(&Scenario::parse(Path::new("t.toml"), &text).unwrap(), etiquette, None, 1)
    }

    #[test]
    fn latency_follows_the_mocks_retrieve_distribution() {
        let mut m = model("");
        let mut took: Vec<u64> =
            (0..2_000).map(|i| m.fetch(ObjectKind::Customer, i * 100_000).took_us).collect();
        took.sort_unstable();
        let p50 = took[1_000] as f64 / 1e3;
        assert!((270.0..330.0).contains(&p50), "p50 {p50} ms");
        assert_eq!(m.counters.requests, 2_000);
    }

    #[test]
    fn above_the_endpoint_rate_stripe_answers_429_and_the_sdk_does_not_retry() {
        // Instant answers: nothing stays in flight, only the buckets refuse.
        let mut m = model("latency_scale = 0\n");
        // 100 customer reads in one second: the endpoint bucket holds 25 and
        // refills 25 in that second.
        let ok = (0..100).filter(|i| m.fetch(ObjectKind::Customer, i * 10_000).ok).count();
        assert!((45..=52).contains(&ok), "{ok} answered");
        assert_eq!(m.counters.requests, 100, "429s are not retried");
        let rl = m.counters.rate_limited;
        assert_eq!(rl.endpoint_rate + rl.global_concurrency + rl.global_rate, 100 - ok as u64);
    }

    #[test]
    fn an_outage_is_retried_then_fails_and_is_counted_as_injected() {
        let mut m = model("[[fault]]\nkind = \"stripe_outage\"\nat = \"10s\"\nduration = \"10s\"\n");
        let f = m.fetch(ObjectKind::Invoice, 12_000_000);
        assert!(!f.ok);
        assert_eq!(f.attempts, 3, "two SDK retries");
        assert_eq!((m.injected[0], m.counters.status_5xx), (3, 3));
        assert!(m.fetch(ObjectKind::Invoice, 30_000_000).ok);
    }

    #[test]
    fn the_etiquettes_budget_and_breaker_keep_calls_from_stripe() {
        // Default etiquette: a budget of 80 % of the 25/s endpoint limit
        // (burst 250 ms) that queues up to 1 s, and a breaker.
        let mut m = model_with("latency_scale = 0\n", &Etiquette::default());
        let ok = (0..100).filter(|i| m.fetch(ObjectKind::Customer, i * 10_000).ok).count();
        assert_eq!(m.counters.rate_limited.total(), 0, "the budget stays under Stripe's limits");
        assert!((20..=45).contains(&ok), "{ok} answered: the rest waited past 1 s or failed fast");
        let outage = "[[fault]]\nkind = \"stripe_outage\"\nat = \"10s\"\nduration = \"30s\"\n";
        let mut m = model_with(outage, &Etiquette::default());
        for i in 0..50 {
            assert!(!m.fetch(ObjectKind::Invoice, 10_000_000 + i * 100_000).ok);
        }
        // 5 failures in a row open the breaker; calls stop until the cool-down.
        assert!(m.counters.requests < 30, "{} calls reached a dead Stripe", m.counters.requests);
    }
}
