//! Shared test helpers: provisioned backends, a scriptable Stripe origin, chains.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tierbench::backends::{BackendChoice, BackendConfig, Backends, Lifetime, provision};
use tierbench::chain::{CacheChain, TtlPolicy};
use tierbench::clock::{ManualClock, SharedClock};
use tierbench::origin::{StripeHttp, StripeHttpOptions};
use tierbench::store::{DynamoL2, DynamoOptions, RedisL1, RedisOptions};
use tierbench::stripe::OBJECT_VERSION_HEADER;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The chain under test in these tests.
pub type LiveChain = CacheChain<RedisL1, DynamoL2, StripeHttp>;

/// Provisions real Redis + DynamoDB Local the way `choice` says, or fails the
/// test saying what is missing.
pub async fn backends(choice: BackendChoice) -> Backends {
    backends_with(choice, BackendConfig::default()).await
}

/// [`backends`] with `config` (its startup timeout raised for loaded machines).
pub async fn backends_with(choice: BackendChoice, config: BackendConfig) -> Backends {
    let config = BackendConfig { startup_timeout: Duration::from_secs(90), ..config };
    match provision(choice, &config, Lifetime::Scoped).await {
        Ok(b) => b,
        Err(e) => panic!(
            "cannot provision {choice:?} backends: {e}\n(`bash .ci/run` installs and starts everything these tests need)"
        ),
    }
}

/// `(account, path) -> (version, body)`.
type Objects = HashMap<(String, String), (u64, String)>;

/// A Stripe origin whose objects the test sets: `path -> (version, body)`,
/// keyed by `Stripe-Account` too (empty for the platform).
#[derive(Clone, Default)]
pub struct FakeStripe {
    objects: Arc<Mutex<Objects>>,
    calls: Arc<AtomicUsize>,
    /// Answer delay, and the status every answer gets while an outage lasts.
    behaviour: Arc<Mutex<(std::time::Duration, Option<u16>)>>,
}

impl FakeStripe {
    /// Sets the object served at `path` (with query) for `account`.
    pub fn set(&self, account: &str, path: &str, version: u64, body: &str) {
        let key = (account.to_owned(), path.to_owned());
        self.objects.lock().unwrap().insert(key, (version, body.to_owned()));
    }

    /// How many requests reached the origin.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Delays every answer by `delay`.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.behaviour.lock().unwrap().0 = delay;
    }

    /// Answers every request with `status` (an outage) until called with `None`.
    pub fn set_outage(&self, status: Option<u16>) {
        self.behaviour.lock().unwrap().1 = status;
    }
}

impl Respond for FakeStripe {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let account = request.headers.get("stripe-account").and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut path = request.url.path().to_owned();
        if let Some(q) = request.url.query() {
            path = format!("{path}?{q}");
        }
        let (delay, outage) = *self.behaviour.lock().unwrap();
        if let Some(status) = outage {
            return ResponseTemplate::new(status).set_delay(delay).set_body_raw(
                r#"{"error":{"message":"An unknown error occurred","type":"api_error"}}"#,
                "application/json",
            );
        }
        let found = self.objects.lock().unwrap().get(&(account.to_owned(), path)).cloned();
        let answer = match found {
            Some((version, body)) => ResponseTemplate::new(200)
                .set_body_raw(body.clone(), "application/json")
                .insert_header(OBJECT_VERSION_HEADER, version.to_string().as_str())
                .insert_header("Stripe-Version", "2026-07-29.dahlia"),
            None => ResponseTemplate::new(404).set_body_raw(
                r#"{"error":{"code":"resource_missing","message":"No such object","type":"invalid_request_error"}}"#,
                "application/json",
            ),
        };
        answer.set_delay(delay)
    }
}

/// A running fake origin.
pub struct Origin {
    /// Its objects.
    pub stripe: FakeStripe,
    /// The server (stops when dropped).
    pub server: MockServer,
}

/// Starts a fake Stripe origin on loopback.
pub async fn origin() -> Origin {
    let server = MockServer::start().await;
    let stripe = FakeStripe::default();
    Mock::given(wiremock::matchers::any()).respond_with(stripe.clone()).mount(&server).await;
    Origin { stripe, server }
}

/// A customer body of about 1 KB with `email`.
pub fn customer(id: &str, email: &str) -> String {
    format!(
        r#"{{"id":"{id}","object":"customer","address":null,"balance":0,"created":1721954054,"currency":"usd","default_source":null,"delinquent":false,"description":"tierbench test customer","discount":null,"email":"{email}","invoice_prefix":"ABC123","invoice_settings":{{"custom_fields":null,"default_payment_method":null,"footer":null,"rendering_options":null}},"livemode":false,"metadata":{{"plan":"pro","padding":"{pad}"}},"name":"Test Customer","next_invoice_sequence":1,"phone":null,"preferred_locales":[],"shipping":null,"tax_exempt":"none","test_clock":null}}"#,
        pad = "x".repeat(400)
    )
}

/// Everything one chain test needs, built on provisioned backends.
pub struct Setup {
    /// The chain.
    pub chain: LiveChain,
    /// The chain's clock, to step past TTLs.
    pub clock: Arc<ManualClock>,
    /// The fake origin.
    pub origin: Origin,
    /// The backends (stopped by [`Setup::finish`]).
    pub backends: Backends,
}

impl Setup {
    /// Stops the backends.
    pub async fn finish(self) {
        self.backends.stop().await.expect("backends stop cleanly");
    }
}

/// Provisions backends, starts an origin, and builds a chain with `policy`
/// and a manual clock standing at the wall clock's now.
pub async fn setup(choice: BackendChoice, policy: TtlPolicy, dynamo: DynamoOptions) -> Setup {
    let backends = backends(choice).await;
    let origin = origin().await;
    let clock = ManualClock::starting_now();
    let chain = chain_on(&backends, &origin.server.uri(), policy, dynamo, clock.clone()).await;
    Setup { chain, clock, origin, backends }
}

/// A chain (its own Redis connection, DynamoDB client and HTTP client: one
/// "instance") on `backends` with the origin at `origin_url`.
pub async fn chain_on(
    backends: &Backends,
    origin_url: &str,
    policy: TtlPolicy,
    dynamo: DynamoOptions,
    clock: SharedClock,
) -> LiveChain {
    let redis = RedisOptions { url: backends.endpoints.redis_url.clone(), ..RedisOptions::default() };
    let dynamo = DynamoOptions {
        endpoint_url: backends.endpoints.dynamodb_endpoint.clone(),
        region: backends.endpoints.region.clone(),
        ..dynamo
    };
    let l1 = RedisL1::connect(&redis).await.expect("redis connects");
    let l2 = DynamoL2::connect(&dynamo).await.expect("dynamodb connects and the table is created");
    let http = StripeHttp::new(
        StripeHttpOptions { base_url: origin_url.to_owned(), ..Default::default() },
        clock.clone(),
    )
    .expect("http client");
    CacheChain::new(l1, l2, http, policy, clock)
}
