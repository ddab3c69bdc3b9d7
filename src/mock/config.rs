//! The mock's configuration: every knob with its documented default, and the
//! validation that rejects a bad value naming its key.

use std::fmt;
use std::time::Duration;

use super::endpoint::Endpoint;
use crate::clock::{SharedClock, SystemClock};

/// Everything the mock Stripe does, in one value. `MockConfig::default()` models
/// Stripe as the facts sheet describes it (test-mode limits, latencies of
/// hundreds of milliseconds); [`MockConfig::unthrottled`] turns latency and
/// limits off for tests and benchmarks.
#[derive(Clone)]
pub struct MockConfig {
    /// The one seed every random choice derives from. By default 1.
    pub seed: u64,
    /// What data exists.
    pub population: PopulationConfig,
    /// Which API keys are accepted. By default empty: any well-formed secret or
    /// restricted key (`sk_test_`, `sk_live_`, `rk_test_`, `rk_live_`).
    pub api_keys: Vec<String>,
    /// How long answers take.
    pub latency: LatencyConfig,
    /// Rate and concurrency limits.
    pub limits: LimitsConfig,
    /// Outages and injected errors.
    pub faults: FaultConfig,
    /// Background changes to objects.
    pub mutations: MutationConfig,
    /// Webhook endpoints and delivery realism.
    pub webhooks: WebhookConfig,
    /// How long `Idempotency-Key`s are remembered. By default 24 h (Stripe
    /// prunes keys after at least 24 h).
    pub idempotency_retention: Duration,
    /// At most this many idempotency keys are kept (oldest dropped first), so a
    /// long load run stays flat in memory (each keeps its answer, ~1-5 KB). By
    /// default 10,000.
    pub idempotency_max_keys: usize,
    /// The clock for object times, rate-limit buckets, fault windows and
    /// truth. By default the system clock; tests pass a `ManualClock`.
    pub clock: SharedClock,
}

impl fmt::Debug for MockConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockConfig")
            .field("seed", &self.seed)
            .field("population", &self.population)
            .field("api_keys", &self.api_keys.len())
            .field("latency", &self.latency)
            .field("limits", &self.limits)
            .field("faults", &self.faults)
            .field("mutations", &self.mutations)
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            seed: 1,
            population: PopulationConfig::default(),
            api_keys: Vec::new(),
            latency: LatencyConfig::default(),
            limits: LimitsConfig::default(),
            faults: FaultConfig::default(),
            mutations: MutationConfig::default(),
            webhooks: WebhookConfig::default(),
            idempotency_retention: Duration::from_secs(24 * 3_600),
            idempotency_max_keys: 10_000,
            clock: SystemClock::shared(),
        }
    }
}

impl MockConfig {
    /// The default configuration without latency (spikes included) and
    /// without rate or concurrency limits: for tests and throughput benchmarks.
    pub fn unthrottled() -> Self {
        let mut c = MockConfig::default();
        c.latency.scale = 0.0;
        c.latency.spike_probability = 0.0;
        c.limits.enabled = false;
        c
    }
}

/// The seeded population. Every account (the platform and each connected
/// account) holds the same ids with different contents.
#[derive(Clone, Debug)]
pub struct PopulationConfig {
    /// Customers per account. By default 1,000.
    pub customers: usize,
    /// Connected accounts besides the platform (`acct_...`, derived from the
    /// seed). By default 1.
    pub connected_accounts: usize,
    /// Each customer has 0..=this many subscriptions (most have 1). By default 2.
    pub max_subscriptions_per_customer: u32,
    /// Each customer has 1..=this many attached payment methods. By default 3.
    pub max_payment_methods_per_customer: u32,
    /// Invoices per subscription. By default 3.
    pub invoices_per_subscription: u32,
    /// Payment methods per account attached to no customer (to attach). By default 100.
    pub unattached_payment_methods: usize,
    /// Extra `metadata` bytes per object kind, to model real object sizes. By
    /// default 400 on subscriptions and invoices, none on customers and
    /// payment methods: a customer is then ~0.95 KB, a subscription ~3.45 KB, an
    /// invoice ~3.55 KB, a payment method ~0.85 KB (compact JSON).
    pub pad_bytes: PadBytes,
    /// Whether objects say `livemode: true`. By default false.
    pub livemode: bool,
}

impl Default for PopulationConfig {
    fn default() -> Self {
        PopulationConfig {
            customers: 1_000,
            connected_accounts: 1,
            max_subscriptions_per_customer: 2,
            max_payment_methods_per_customer: 3,
            invoices_per_subscription: 3,
            unattached_payment_methods: 100,
            pad_bytes: PadBytes { customer: 0, subscription: 400, payment_method: 0, invoice: 400 },
            livemode: false,
        }
    }
}

/// Extra metadata bytes per object kind (0 each by `Default`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PadBytes {
    /// Added to each customer.
    pub customer: usize,
    /// Added to each subscription.
    pub subscription: usize,
    /// Added to each payment method.
    pub payment_method: usize,
    /// Added to each invoice.
    pub invoice: usize,
}

/// A latency distribution: log-normal through a median and a 99th percentile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyDist {
    /// Median.
    pub p50: Duration,
    /// 99th percentile (>= p50).
    pub p99: Duration,
}

impl LatencyDist {
    /// A distribution through `p50_ms` and `p99_ms` milliseconds.
    pub const fn from_millis(p50_ms: u64, p99_ms: u64) -> Self {
        LatencyDist { p50: Duration::from_millis(p50_ms), p99: Duration::from_millis(p99_ms) }
    }
}

/// How long answers take.
#[derive(Clone, Debug)]
pub struct LatencyConfig {
    /// Per endpoint, indexed by [`Endpoint::index`]. Defaults from the facts
    /// sheet's community measurements: retrieves p50 300 ms / p99 1 s, lists
    /// 400 ms / 1.5 s, updates 500 ms / 2 s, attach and detach 600 ms / 2.5 s.
    pub per_endpoint: [LatencyDist; Endpoint::COUNT],
    /// Multiplies every latency; 0 turns latency off. By default 1.
    pub scale: f64,
    /// Probability that a request gets a spike on top. By default 0.001.
    pub spike_probability: f64,
    /// The spike added. By default 5 s.
    pub spike: Duration,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        let per_endpoint = Endpoint::ALL.map(|e| match e {
            Endpoint::CustomerUpdate => LatencyDist::from_millis(500, 2_000),
            Endpoint::PaymentMethodAttach | Endpoint::PaymentMethodDetach => {
                LatencyDist::from_millis(600, 2_500)
            }
            e if e.is_list() => LatencyDist::from_millis(400, 1_500),
            _ => LatencyDist::from_millis(300, 1_000),
        });
        LatencyConfig { per_endpoint, scale: 1.0, spike_probability: 0.001, spike: Duration::from_secs(5) }
    }
}

impl LatencyConfig {
    /// The distribution of `endpoint`.
    pub fn of(&self, endpoint: Endpoint) -> LatencyDist {
        self.per_endpoint[endpoint.index()]
    }

    /// Sets the distribution of `endpoint`.
    pub fn set(&mut self, endpoint: Endpoint, dist: LatencyDist) {
        self.per_endpoint[endpoint.index()] = dist;
    }
}

/// Rate and concurrency limits (docs.stripe.com/rate-limits).
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    /// Whether any limit applies. By default true.
    pub enabled: bool,
    /// Global requests per second per account with a live key. By default 100.
    pub global_live_per_s: f64,
    /// Global requests per second per account with a test key. By default 25.
    pub global_test_per_s: f64,
    /// Requests per second per endpoint and account, indexed by
    /// [`Endpoint::index`]. By default 25 each.
    pub endpoint_per_s: [f64; Endpoint::COUNT],
    /// How much burst a bucket holds, as time at its rate: capacity =
    /// rate x burst (at least one request). By default 1 s.
    pub burst: Duration,
    /// Requests in flight per account before `global-concurrency` 429s; `None`
    /// for no limit. By default 20 (Stripe's published example; the real number
    /// is not published).
    pub concurrency: Option<u32>,
    /// Requests in flight per endpoint and account before
    /// `endpoint-concurrency` 429s. By default none.
    pub endpoint_concurrency: Option<u32>,
    /// How long a write waits for another write to the same object before a
    /// `lock_timeout` 429. By default 0: it fails at once.
    pub lock_wait: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            enabled: true,
            global_live_per_s: 100.0,
            global_test_per_s: 25.0,
            endpoint_per_s: [25.0; Endpoint::COUNT],
            burst: Duration::from_secs(1),
            concurrency: Some(20),
            endpoint_concurrency: None,
            lock_wait: Duration::ZERO,
        }
    }
}

/// What an outage window does to each request in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status (500 `api_error`, 503 load shedding, ...).
    Status(u16),
    /// Never answer (until [`FaultConfig::hang`] passes or the mock stops):
    /// the client's timeout fires.
    Hang,
    /// Reset the connection (TCP RST) instead of answering.
    Reset,
    /// Answer normally after this much extra latency.
    Slow(Duration),
}

/// A scheduled fault.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutageWindow {
    /// When it starts, after the mock was built.
    pub start: Duration,
    /// How long it lasts.
    pub duration: Duration,
    /// What it does.
    pub kind: FaultKind,
    /// The fraction of requests in the window it hits (1.0: every one; 0.2:
    /// a partial outage where one request in five fails).
    pub share: f64,
}

/// Outages and injected errors.
#[derive(Clone, Debug)]
pub struct FaultConfig {
    /// Scheduled fault windows. By default none.
    pub outages: Vec<OutageWindow>,
    /// Fraction of requests answered with [`FaultConfig::error_status`]. By default 0.
    pub error_rate: f64,
    /// The status of injected errors. By default 500.
    pub error_status: u16,
    /// How long a hanging request hangs before it gives up with a 500. By
    /// default 120 s (past the SDKs' 80 s timeout).
    pub hang: Duration,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            outages: Vec::new(),
            error_rate: 0.0,
            error_status: 500,
            hang: Duration::from_secs(120),
        }
    }
}

/// Background changes to objects.
#[derive(Clone, Debug, Default)]
pub struct MutationConfig {
    /// Random mutations per second, over all accounts (each bumps one object's
    /// version and emits its event). By default 0.
    pub rate_per_s: f64,
}

/// A webhook endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpointConfig {
    /// Where events are POSTed.
    pub url: String,
    /// Active signing secrets (`whsec_...`): one `v1` each (several during a rotation).
    pub secrets: Vec<String>,
    /// Event types it receives; empty (or `*`) for all.
    pub enabled_events: Vec<String>,
}

impl fmt::Debug for WebhookEndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpointConfig")
            .field("url", &self.url)
            .field("secrets", &self.secrets.len())
            .field("enabled_events", &self.enabled_events)
            .finish()
    }
}

/// A window of time, after the mock was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// When it starts.
    pub start: Duration,
    /// How long it lasts.
    pub duration: Duration,
}

impl Window {
    /// Whether `elapsed` lies in the window.
    pub fn contains(&self, elapsed: Duration) -> bool {
        elapsed >= self.start && elapsed < self.start + self.duration
    }
}

/// Webhook endpoints and delivery realism. Stripe delivers at least once, in no
/// guaranteed order, and retries failures with exponential backoff.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Endpoints registered at start. By default none.
    pub endpoints: Vec<WebhookEndpointConfig>,
    /// Median delivery delay after the change. By default 200 ms.
    pub delay_p50: Duration,
    /// 99th percentile of the delivery delay. By default 2 s.
    pub delay_p99: Duration,
    /// Fraction of events held back by [`WebhookConfig::reorder_delay`], so
    /// later events overtake them. By default 0.01.
    pub reorder_rate: f64,
    /// How long a held-back event waits. By default 1 s.
    pub reorder_delay: Duration,
    /// Fraction of events delivered twice. By default 0.01.
    pub duplicate_rate: f64,
    /// How long after the first delivery the duplicate follows. By default 500 ms.
    pub duplicate_delay: Duration,
    /// Fraction of delivery attempts that fail in transit (then retried). By default 0.
    pub failure_rate: f64,
    /// Retries after a failed attempt before the delivery is abandoned. By default 3.
    pub max_retries: u32,
    /// First retry delay; it doubles per retry. By default 1 s.
    pub retry_base: Duration,
    /// Cap on the retry delay. By default 60 s.
    pub retry_max: Duration,
    /// Timeout of one delivery POST. By default 10 s.
    pub timeout: Duration,
    /// Windows in which every endpoint is down (attempts fail). By default none.
    pub down: Vec<Window>,
    /// Whether to add a test-mode decoy `v0=` signature. By default true.
    pub v0_decoy: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            endpoints: Vec::new(),
            delay_p50: Duration::from_millis(200),
            delay_p99: Duration::from_secs(2),
            reorder_rate: 0.01,
            reorder_delay: Duration::from_secs(1),
            duplicate_rate: 0.01,
            duplicate_delay: Duration::from_millis(500),
            failure_rate: 0.0,
            max_retries: 3,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            down: Vec::new(),
            v0_decoy: true,
        }
    }
}

/// A configuration value out of range; `key` names it as the fields do
/// (`webhooks.duplicate_rate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mock configuration `{key}`: {problem}")]
pub struct ConfigError {
    /// The key, e.g. `limits.global_test_per_s` or `latency.customer.retrieve`.
    pub key: String,
    /// What is wrong and what is accepted.
    pub problem: String,
}

fn err(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), problem: problem.into() }
}

fn probability(key: &str, p: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&p) { Ok(()) } else { Err(err(key, format!("must be within 0..=1, got {p}"))) }
}

fn rate(key: &str, r: f64) -> Result<(), ConfigError> {
    if r.is_finite() && r > 0.0 {
        Ok(())
    } else {
        Err(err(key, format!("must be a positive number, got {r}")))
    }
}

impl MockConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// The first bad value, naming its key and the accepted range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.population;
        if p.customers == 0 {
            return Err(err("population.customers", "must be at least 1"));
        }
        if p.customers > 10_000_000 {
            return Err(err("population.customers", "at most 10,000,000 per account"));
        }
        if p.connected_accounts > 1_000 {
            return Err(err("population.connected_accounts", "at most 1,000"));
        }
        if p.max_payment_methods_per_customer == 0 {
            return Err(err("population.max_payment_methods_per_customer", "must be at least 1"));
        }
        if p.max_subscriptions_per_customer > 50 || p.max_payment_methods_per_customer > 50 {
            return Err(err("population.max_subscriptions_per_customer", "at most 50 per customer"));
        }
        if p.invoices_per_subscription > 100 {
            return Err(err("population.invoices_per_subscription", "at most 100"));
        }
        for (key, n) in [
            ("population.pad_bytes.customer", p.pad_bytes.customer),
            ("population.pad_bytes.subscription", p.pad_bytes.subscription),
            ("population.pad_bytes.payment_method", p.pad_bytes.payment_method),
            ("population.pad_bytes.invoice", p.pad_bytes.invoice),
        ] {
            if n > 1_000_000 {
                return Err(err(key, "at most 1,000,000 bytes"));
            }
        }
        if let Some(k) = self.api_keys.iter().find(|k| crate::mock::auth::mode_of(k).is_none()) {
            let shown: String = k.chars().take(8).collect();
            return Err(err(
                "api_keys",
                format!("{shown}... is not a secret key (sk_test_/sk_live_/rk_test_/rk_live_)"),
            ));
        }
        let l = &self.latency;
        if !(l.scale.is_finite() && l.scale >= 0.0) {
            return Err(err("latency.scale", format!("must be >= 0, got {}", l.scale)));
        }
        for e in Endpoint::ALL {
            let d = l.of(e);
            if d.p99 < d.p50 {
                return Err(err(format!("latency.{e}"), format!("p99 {:?} is below p50 {:?}", d.p99, d.p50)));
            }
            if d.p99 > Duration::from_secs(600) {
                return Err(err(format!("latency.{e}"), "p99 above 600 s"));
            }
        }
        probability("latency.spike_probability", l.spike_probability)?;
        let m = &self.limits;
        if m.enabled {
            rate("limits.global_live_per_s", m.global_live_per_s)?;
            rate("limits.global_test_per_s", m.global_test_per_s)?;
            for e in Endpoint::ALL {
                rate(&format!("limits.endpoint_per_s.{e}"), m.endpoint_per_s[e.index()])?;
            }
            if m.burst.is_zero() {
                return Err(err("limits.burst", "must be above 0"));
            }
            if m.concurrency == Some(0) {
                return Err(err("limits.concurrency", "must be at least 1 (or unset for no limit)"));
            }
            if m.endpoint_concurrency == Some(0) {
                return Err(err("limits.endpoint_concurrency", "must be at least 1 (or unset for no limit)"));
            }
        }
        let f = &self.faults;
        probability("faults.error_rate", f.error_rate)?;
        if !(400..=599).contains(&f.error_status) {
            return Err(err(
                "faults.error_status",
                format!("must be a 4xx or 5xx status, got {}", f.error_status),
            ));
        }
        for (i, w) in f.outages.iter().enumerate() {
            if w.duration.is_zero() {
                return Err(err(format!("faults.outages[{i}].duration"), "must be above 0"));
            }
            if !(w.share > 0.0 && w.share <= 1.0) {
                return Err(err(format!("faults.outages[{i}].share"), "must be above 0 and at most 1"));
            }
            if let FaultKind::Status(s) = w.kind
                && !(400..=599).contains(&s)
            {
                return Err(err(format!("faults.outages[{i}].kind"), format!("status {s} is not 4xx/5xx")));
            }
        }
        if !(self.mutations.rate_per_s.is_finite() && self.mutations.rate_per_s >= 0.0) {
            return Err(err("mutations.rate_per_s", "must be >= 0"));
        }
        if self.mutations.rate_per_s > 100_000.0 {
            return Err(err("mutations.rate_per_s", "at most 100,000 per second"));
        }
        let w = &self.webhooks;
        for (i, e) in w.endpoints.iter().enumerate() {
            if !(e.url.starts_with("http://") || e.url.starts_with("https://")) {
                return Err(err(
                    format!("webhooks.endpoints[{i}].url"),
                    format!("{:?} is not an http(s) URL", e.url),
                ));
            }
            if e.secrets.is_empty() || e.secrets.iter().any(String::is_empty) {
                return Err(err(
                    format!("webhooks.endpoints[{i}].secrets"),
                    "needs at least one non-empty secret",
                ));
            }
        }
        if w.delay_p99 < w.delay_p50 {
            return Err(err("webhooks.delay_p99", "is below webhooks.delay_p50"));
        }
        probability("webhooks.reorder_rate", w.reorder_rate)?;
        probability("webhooks.duplicate_rate", w.duplicate_rate)?;
        probability("webhooks.failure_rate", w.failure_rate)?;
        if w.max_retries > 100 {
            return Err(err("webhooks.max_retries", "at most 100"));
        }
        if w.timeout.is_zero() {
            return Err(err("webhooks.timeout", "must be above 0"));
        }
        if self.idempotency_max_keys == 0 {
            return Err(err("idempotency_max_keys", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_the_facts_sheet() {
        let c = MockConfig::default();
        c.validate().unwrap();
        assert_eq!(c.limits.global_test_per_s, 25.0);
        assert_eq!(c.limits.global_live_per_s, 100.0);
        assert_eq!(c.limits.endpoint_per_s[Endpoint::CustomerRetrieve.index()], 25.0);
        assert!(c.latency.of(Endpoint::CustomerRetrieve).p50 >= Duration::from_millis(100));
        MockConfig::unthrottled().validate().unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        let key = |f: &dyn Fn(&mut MockConfig)| {
            let mut c = MockConfig::default();
            f(&mut c);
            c.validate().unwrap_err().key
        };
        assert_eq!(key(&|c| c.webhooks.duplicate_rate = 1.5), "webhooks.duplicate_rate");
        assert_eq!(key(&|c| c.limits.global_test_per_s = 0.0), "limits.global_test_per_s");
        assert_eq!(key(&|c| c.population.customers = 0), "population.customers");
        assert_eq!(
            key(&|c| c.latency.set(Endpoint::InvoiceList, LatencyDist::from_millis(10, 5))),
            "latency.invoice.list"
        );
        assert_eq!(key(&|c| c.api_keys = vec!["pk_test_x".into()]), "api_keys");
        let e = key(&|c| {
            c.faults.outages.push(OutageWindow {
                start: Duration::ZERO,
                duration: Duration::ZERO,
                kind: FaultKind::Hang,
                share: 1.0,
            })
        });
        assert_eq!(e, "faults.outages[0].duration");
    }
}
