//! `tierbench mock-stripe`: flags to a [`MockConfig`], then serve until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{EXIT_INFRA, EXIT_USAGE};
use crate::mock::{
    Endpoint, FaultKind, LatencyDist, MockConfig, MockStripe, OutageWindow, WebhookEndpointConfig, Window,
};

/// Arguments of `mock-stripe` (boxed: they are many, and `Command` stays small).
#[derive(Debug, Args)]
pub struct MockArgs {
    /// The flags.
    #[command(flatten)]
    pub flags: Box<MockFlags>,
}

/// The flags of `mock-stripe`. Defaults model Stripe per the facts sheet:
/// test-mode limits, latencies of hundreds of milliseconds.
#[derive(Debug, Args)]
#[command(next_help_heading = "Server")]
pub struct MockFlags {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (stripe-mock's is 12111; 0 picks a free one).
    #[arg(long, default_value_t = 12111)]
    pub port: u16,
    /// Seed of every random choice (population, latency, faults, webhooks).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Accept only this API key (repeatable); by default any sk_test_/sk_live_/rk_ key.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,

    /// Customers per account.
    #[arg(long, default_value_t = 1_000, help_heading = "Population")]
    pub customers: usize,
    /// Connected accounts besides the platform (same ids, other contents).
    #[arg(long, default_value_t = 1, help_heading = "Population")]
    pub connected_accounts: usize,
    /// Each customer has 0..=N subscriptions (most have 1).
    #[arg(long, default_value_t = 2, help_heading = "Population")]
    pub max_subscriptions: u32,
    /// Each customer has 1..=N attached payment methods.
    #[arg(long, default_value_t = 3, help_heading = "Population")]
    pub max_payment_methods: u32,
    /// Invoices per subscription.
    #[arg(long, default_value_t = 3, help_heading = "Population")]
    pub invoices_per_subscription: u32,
    /// Payment methods per account attached to nobody (for attach).
    #[arg(long, default_value_t = 100, help_heading = "Population")]
    pub unattached_payment_methods: usize,
    /// Extra metadata bytes per object kind, e.g. customer=2000 (repeatable;
    /// kinds: customer, subscription, payment_method, invoice) [default:
    /// subscription=400, invoice=400: ~3.5 KB each].
    #[arg(long, value_name = "KIND=BYTES", value_parser = parse_pad, help_heading = "Population")]
    pub pad_bytes: Vec<(String, usize)>,
    /// Objects say livemode: true.
    #[arg(long, help_heading = "Population")]
    pub livemode: bool,

    /// Multiplies every latency; 0 turns latency (not spikes) off.
    #[arg(long, default_value_t = 1.0, value_parser = parse_non_negative, help_heading = "Latency")]
    pub latency_scale: f64,
    /// Log-normal latency of an endpoint through its p50 and p99, e.g.
    /// customer.retrieve=300:1000 (repeatable; `all` for every endpoint).
    /// Endpoints: customer.{retrieve,list,update}, subscription.{retrieve,list},
    /// payment_method.{retrieve,list,attach,detach}, invoice.{retrieve,list}.
    #[arg(long, value_name = "ENDPOINT=P50_MS:P99_MS", value_parser = parse_latency, help_heading = "Latency")]
    pub latency: Vec<(Option<Endpoint>, LatencyDist)>,
    /// Probability of a latency spike per request.
    #[arg(long, default_value_t = 0.001, value_parser = parse_probability, help_heading = "Latency")]
    pub spike_probability: f64,
    /// Size of a latency spike.
    #[arg(long, default_value_t = 5_000, help_heading = "Latency")]
    pub spike_ms: u64,

    /// Turn every rate and concurrency limit off.
    #[arg(long, help_heading = "Rate limits")]
    pub no_rate_limits: bool,
    /// Global requests/s per account with a live key.
    #[arg(long, default_value_t = 100.0, help_heading = "Rate limits")]
    pub global_rate_live: f64,
    /// Global requests/s per account with a test key.
    #[arg(long, default_value_t = 25.0, help_heading = "Rate limits")]
    pub global_rate_test: f64,
    /// Requests/s per endpoint and account.
    #[arg(long, default_value_t = 25.0, help_heading = "Rate limits")]
    pub endpoint_rate: f64,
    /// Requests/s of one endpoint, e.g. customer.retrieve=50 (repeatable).
    #[arg(long, value_name = "ENDPOINT=RATE", value_parser = parse_endpoint_rate, help_heading = "Rate limits")]
    pub endpoint_rate_for: Vec<(Endpoint, f64)>,
    /// Burst a bucket holds, as time at its rate.
    #[arg(long, default_value_t = 1_000, help_heading = "Rate limits")]
    pub burst_ms: u64,
    /// Requests in flight per account before global-concurrency 429s (0: no limit).
    #[arg(long, default_value_t = 20, help_heading = "Rate limits")]
    pub concurrency: u32,
    /// Requests in flight per endpoint and account before endpoint-concurrency 429s (0: no limit).
    #[arg(long, default_value_t = 0, help_heading = "Rate limits")]
    pub endpoint_concurrency: u32,
    /// How long a write waits for a concurrent write to the same object before lock_timeout.
    #[arg(long, default_value_t = 0, help_heading = "Rate limits")]
    pub lock_wait_ms: u64,

    /// A fault window, seconds after start: START_S:DURATION_S:KIND with KIND
    /// a status (500, 503, ...), hang, reset or slow=MS (repeatable).
    #[arg(long, value_name = "START_S:DURATION_S:KIND", value_parser = parse_outage, help_heading = "Faults")]
    pub outage: Vec<OutageWindow>,
    /// Fraction of requests answered with --error-status.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability, help_heading = "Faults")]
    pub error_rate: f64,
    /// Status of injected errors.
    #[arg(long, default_value_t = 500, help_heading = "Faults")]
    pub error_status: u16,
    /// How long a hanging request hangs before a 500.
    #[arg(long, default_value_t = 120, help_heading = "Faults")]
    pub hang_s: u64,

    /// Random mutations per second (each emits its event).
    #[arg(long, default_value_t = 0.0, value_parser = parse_non_negative, help_heading = "Mutations")]
    pub mutation_rate: f64,

    /// A webhook endpoint URL (repeatable); all get every event, signed with --webhook-secret.
    #[arg(long, value_name = "URL", help_heading = "Webhooks")]
    pub webhook: Vec<String>,
    /// Signing secret (repeatable: two during a rotation give two v1 signatures).
    #[arg(long, value_name = "WHSEC", help_heading = "Webhooks")]
    pub webhook_secret: Vec<String>,
    /// Event types the endpoints receive (repeatable; default all).
    #[arg(long, value_name = "TYPE", help_heading = "Webhooks")]
    pub webhook_event: Vec<String>,
    /// Delivery delay distribution (log-normal).
    #[arg(long, value_name = "P50_MS:P99_MS", default_value = "200:2000", value_parser = parse_dist, help_heading = "Webhooks")]
    pub webhook_delay_ms: LatencyDist,
    /// Fraction of events held back so later ones overtake them.
    #[arg(long, default_value_t = 0.01, value_parser = parse_probability, help_heading = "Webhooks")]
    pub webhook_reorder_rate: f64,
    /// How long a held-back event waits.
    #[arg(long, default_value_t = 1_000, help_heading = "Webhooks")]
    pub webhook_reorder_delay_ms: u64,
    /// Fraction of events delivered twice.
    #[arg(long, default_value_t = 0.01, value_parser = parse_probability, help_heading = "Webhooks")]
    pub webhook_duplicate_rate: f64,
    /// Delay of the duplicate after the first delivery.
    #[arg(long, default_value_t = 500, help_heading = "Webhooks")]
    pub webhook_duplicate_delay_ms: u64,
    /// Fraction of delivery attempts that fail in transit (then retried).
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability, help_heading = "Webhooks")]
    pub webhook_failure_rate: f64,
    /// Retries after a failed attempt.
    #[arg(long, default_value_t = 3, help_heading = "Webhooks")]
    pub webhook_max_retries: u32,
    /// First retry delay (doubles per retry).
    #[arg(long, default_value_t = 1_000, help_heading = "Webhooks")]
    pub webhook_retry_base_ms: u64,
    /// Cap on the retry delay.
    #[arg(long, default_value_t = 60_000, help_heading = "Webhooks")]
    pub webhook_retry_max_ms: u64,
    /// Timeout of one delivery.
    #[arg(long, default_value_t = 10_000, help_heading = "Webhooks")]
    pub webhook_timeout_ms: u64,
    /// A window in which endpoints are down, seconds after start: START_S:DURATION_S (repeatable).
    #[arg(long, value_name = "START_S:DURATION_S", value_parser = parse_window, help_heading = "Webhooks")]
    pub webhook_down: Vec<Window>,
    /// Leave out the test-mode decoy v0= signature.
    #[arg(long, help_heading = "Webhooks")]
    pub no_v0_decoy: bool,

    /// How long idempotency keys are remembered.
    #[arg(long, default_value_t = 86_400, help_heading = "Idempotency")]
    pub idempotency_retention_s: u64,
    /// At most this many idempotency keys are kept (oldest dropped).
    #[arg(long, default_value_t = 10_000, help_heading = "Idempotency")]
    pub idempotency_max_keys: usize,
}

fn parse_probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(format!("{p} is not within 0..=1")) }
}

fn parse_non_negative(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if x.is_finite() && x >= 0.0 { Ok(x) } else { Err(format!("{x} is not >= 0")) }
}

fn parse_dist(s: &str) -> Result<LatencyDist, String> {
    let (a, b) = s.split_once(':').ok_or("expected P50_MS:P99_MS, e.g. 300:1000")?;
    let ms = |x: &str| x.trim().parse::<u64>().map_err(|_| format!("{x:?} is not a whole number of ms"));
    Ok(LatencyDist::from_millis(ms(a)?, ms(b)?))
}

fn parse_latency(s: &str) -> Result<(Option<Endpoint>, LatencyDist), String> {
    let (name, dist) = s.split_once('=').ok_or("expected ENDPOINT=P50_MS:P99_MS")?;
    let endpoint =
        if name == "all" { None } else { Some(name.parse::<Endpoint>().map_err(|e| e.to_string())?) };
    Ok((endpoint, parse_dist(dist)?))
}

fn parse_endpoint_rate(s: &str) -> Result<(Endpoint, f64), String> {
    let (name, rate) = s.split_once('=').ok_or("expected ENDPOINT=RATE")?;
    Ok((name.parse::<Endpoint>().map_err(|e| e.to_string())?, parse_non_negative(rate)?))
}

fn parse_pad(s: &str) -> Result<(String, usize), String> {
    let (kind, bytes) = s.split_once('=').ok_or("expected KIND=BYTES")?;
    if !["customer", "subscription", "payment_method", "invoice"].contains(&kind) {
        return Err(format!("unknown kind {kind:?}: customer, subscription, payment_method, invoice"));
    }
    Ok((kind.to_owned(), bytes.parse().map_err(|_| format!("{bytes:?} is not a byte count"))?))
}

fn parse_window(s: &str) -> Result<Window, String> {
    let (a, b) = s.split_once(':').ok_or("expected START_S:DURATION_S")?;
    let secs = |x: &str| x.parse::<f64>().ok().filter(|v| *v >= 0.0).ok_or(format!("{x:?} is not seconds"));
    Ok(Window { start: Duration::from_secs_f64(secs(a)?), duration: Duration::from_secs_f64(secs(b)?) })
}

fn parse_outage(s: &str) -> Result<OutageWindow, String> {
    let (window, kind) = s.rsplit_once(':').ok_or("expected START_S:DURATION_S:KIND")?;
    let w = parse_window(window)?;
    let kind = match kind {
        "hang" => FaultKind::Hang,
        "reset" => FaultKind::Reset,
        k if k.starts_with("slow=") => {
            FaultKind::Slow(Duration::from_millis(k[5..].parse().map_err(|_| format!("{k:?}: slow=MS"))?))
        }
        k => FaultKind::Status(
            k.parse().map_err(|_| format!("{k:?} is not a status, hang, reset or slow=MS"))?,
        ),
    };
    Ok(OutageWindow { start: w.start, duration: w.duration, kind, share: 1.0 })
}

/// The flag that sets configuration key `key`, for error messages.
fn flag_for(key: &str) -> &'static str {
    const FLAGS: [(&str, &str); 24] = [
        ("population.customers", "--customers"),
        ("population.connected_accounts", "--connected-accounts"),
        ("population.max_subscriptions_per_customer", "--max-subscriptions"),
        ("population.max_payment_methods_per_customer", "--max-payment-methods"),
        ("population.invoices_per_subscription", "--invoices-per-subscription"),
        ("population.pad_bytes", "--pad-bytes"),
        ("api_keys", "--api-key"),
        ("latency.scale", "--latency-scale"),
        ("latency.spike_probability", "--spike-probability"),
        ("latency.", "--latency"),
        ("limits.global_live_per_s", "--global-rate-live"),
        ("limits.global_test_per_s", "--global-rate-test"),
        ("limits.endpoint_per_s", "--endpoint-rate / --endpoint-rate-for"),
        ("limits.burst", "--burst-ms"),
        ("faults.error_status", "--error-status"),
        ("faults.outages", "--outage"),
        ("mutations.rate_per_s", "--mutation-rate"),
        ("webhooks.endpoints", "--webhook / --webhook-secret"),
        ("webhooks.delay_p99", "--webhook-delay-ms"),
        ("webhooks.max_retries", "--webhook-max-retries"),
        ("webhooks.timeout", "--webhook-timeout-ms"),
        ("idempotency_max_keys", "--idempotency-max-keys"),
        ("limits.", "--concurrency / --endpoint-concurrency"),
        ("webhooks.", "--webhook-*"),
    ];
    FLAGS.iter().find(|(k, _)| key.starts_with(k)).map_or("a flag", |(_, f)| f)
}

impl MockFlags {
    /// The mock configuration these flags describe.
    pub fn config(&self) -> MockConfig {
        let mut c = MockConfig { seed: self.seed, api_keys: self.api_keys.clone(), ..MockConfig::default() };
        let p = &mut c.population;
        p.customers = self.customers;
        p.connected_accounts = self.connected_accounts;
        p.max_subscriptions_per_customer = self.max_subscriptions;
        p.max_payment_methods_per_customer = self.max_payment_methods;
        p.invoices_per_subscription = self.invoices_per_subscription;
        p.unattached_payment_methods = self.unattached_payment_methods;
        p.livemode = self.livemode;
        for (kind, bytes) in &self.pad_bytes {
            match kind.as_str() {
                "customer" => p.pad_bytes.customer = *bytes,
                "subscription" => p.pad_bytes.subscription = *bytes,
                "payment_method" => p.pad_bytes.payment_method = *bytes,
                _ => p.pad_bytes.invoice = *bytes,
            }
        }
        c.latency.scale = self.latency_scale;
        for (endpoint, dist) in &self.latency {
            match endpoint {
                Some(e) => c.latency.set(*e, *dist),
                None => c.latency.per_endpoint = [*dist; Endpoint::COUNT],
            }
        }
        c.latency.spike_probability = self.spike_probability;
        c.latency.spike = Duration::from_millis(self.spike_ms);
        let l = &mut c.limits;
        l.enabled = !self.no_rate_limits;
        l.global_live_per_s = self.global_rate_live;
        l.global_test_per_s = self.global_rate_test;
        l.endpoint_per_s = [self.endpoint_rate; Endpoint::COUNT];
        for (e, r) in &self.endpoint_rate_for {
            l.endpoint_per_s[e.index()] = *r;
        }
        l.burst = Duration::from_millis(self.burst_ms);
        l.concurrency = (self.concurrency > 0).then_some(self.concurrency);
        l.endpoint_concurrency = (self.endpoint_concurrency > 0).then_some(self.endpoint_concurrency);
        l.lock_wait = Duration::from_millis(self.lock_wait_ms);
        c.faults.outages = self.outage.clone();
        c.faults.error_rate = self.error_rate;
        c.faults.error_status = self.error_status;
        c.faults.hang = Duration::from_secs(self.hang_s);
        c.mutations.rate_per_s = self.mutation_rate;
        let w = &mut c.webhooks;
        w.endpoints = self
            .webhook
            .iter()
            .map(|url| WebhookEndpointConfig {
                url: url.clone(),
                secrets: self.webhook_secret.clone(),
                enabled_events: self.webhook_event.clone(),
            })
            .collect();
        w.delay_p50 = self.webhook_delay_ms.p50;
        w.delay_p99 = self.webhook_delay_ms.p99;
        w.reorder_rate = self.webhook_reorder_rate;
        w.reorder_delay = Duration::from_millis(self.webhook_reorder_delay_ms);
        w.duplicate_rate = self.webhook_duplicate_rate;
        w.duplicate_delay = Duration::from_millis(self.webhook_duplicate_delay_ms);
        w.failure_rate = self.webhook_failure_rate;
        w.max_retries = self.webhook_max_retries;
        w.retry_base = Duration::from_millis(self.webhook_retry_base_ms);
        w.retry_max = Duration::from_millis(self.webhook_retry_max_ms);
        w.timeout = Duration::from_millis(self.webhook_timeout_ms);
        w.down = self.webhook_down.clone();
        w.v0_decoy = !self.no_v0_decoy;
        c.idempotency_retention = Duration::from_secs(self.idempotency_retention_s);
        c.idempotency_max_keys = self.idempotency_max_keys;
        c
    }
}

/// Serves the mock until Ctrl-C or SIGTERM. Bad configuration exits 2 naming
/// the flag; a port that cannot be bound exits 3.
///
/// # Errors
/// Failures while serving.
pub async fn run(args: MockArgs) -> anyhow::Result<ExitCode> {
    let args = args.flags;
    let config = args.config();
    let summary = format!(
        "seed {}, {} customers x {} accounts",
        config.seed,
        config.population.customers,
        config.population.connected_accounts + 1
    );
    let mock = match MockStripe::new(config) {
        Ok(m) => m,
        Err(crate::mock::MockError::Config(e)) => {
            eprintln!("error: {} ({}): {}", flag_for(&e.key), e.key, e.problem);
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(e) => return Err(e.into()),
    };
    let listener = match tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot listen on {}:{}: {e}; pick another --port or stop what uses it",
                args.host, args.port
            );
            return Ok(ExitCode::from(EXIT_INFRA));
        }
    };
    let addr = listener.local_addr()?;
    println!("mock Stripe listening on http://{addr} ({summary}); Ctrl-C stops it");
    mock.serve(listener, stop_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_parse_and_reject_with_reasons() {
        assert_eq!(parse_outage("10:5:503").unwrap().kind, FaultKind::Status(503));
        assert_eq!(parse_outage("0:1.5:slow=200").unwrap().kind, FaultKind::Slow(Duration::from_millis(200)));
        assert_eq!(parse_outage("0:1:reset").unwrap().duration, Duration::from_millis(1_000));
        assert!(parse_outage("0:1:boom").is_err());
        assert_eq!(parse_latency("all=0:0").unwrap(), (None, LatencyDist::from_millis(0, 0)));
        assert!(parse_latency("customer.fetch=1:2").unwrap_err().contains("customer.retrieve"));
        assert!(parse_probability("1.5").is_err());
        assert_eq!(flag_for("webhooks.duplicate_rate"), "--webhook-*");
        assert_eq!(flag_for("latency.customer.retrieve"), "--latency");
    }
}
