//! Running the mock: the shared state behind every request, serving on a
//! listener until a shutdown signal, the mutation driver, and publishing events.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderValue;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::config::MockConfig;
use super::conn::{ConnInfo, MockListener};
use super::counters::{Counters, bump};
use super::error::MockError;
use super::faults::Faults;
use super::handle::{EmittedEvent, MockHandle};
use super::idempotency::IdempotencyStore;
use super::limits::Limits;
use super::population;
use super::rng::{SplitMix, id_from, mix};
use super::state::State;
use super::webhooks::{self, Outgoing, WebhookHub};
use super::writes::{self, Change, Target};
use crate::clock::{SharedClock, Timestamp};
use crate::stripe::DEFAULT_API_VERSION;
use crate::stripe::objects::{EventFields, event, to_stripe_json};

/// Everything requests share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: MockConfig,
    pub clock: SharedClock,
    pub state: RwLock<State>,
    pub counters: Counters,
    pub limits: Limits,
    pub faults: Faults,
    pub idempotency: IdempotencyStore,
    pub webhooks: WebhookHub,
    pub request_seq: AtomicU64,
    event_seq: AtomicU64,
    mutation_seq: AtomicU64,
    pub addr: OnceLock<SocketAddr>,
    pub started_at: Timestamp,
    pub shutdown: watch::Sender<bool>,
    pub default_version: HeaderValue,
}

impl Shared {
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Time since the mock was built, on its clock.
    pub fn elapsed(&self) -> Duration {
        self.clock.now().since(self.started_at)
    }

    /// Waits `d`, or less if the mock shuts down meanwhile.
    pub async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        let mut stop = self.shutdown.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }

    /// Makes a mutation with its own seeded stream, and publishes its events.
    pub fn mutate(&self, target: Target<'_>) -> Result<Vec<EmittedEvent>, super::error::MutationError> {
        let n = self.mutation_seq.fetch_add(1, Ordering::Relaxed);
        let mut rng = SplitMix::new(mix(self.config.seed ^ 0x6d75_7461, n));
        let now = self.clock.now();
        let changes = writes::mutate(&mut self.write(), target, &mut rng, now)?;
        Ok(self.publish(changes, None, None))
    }

    /// Counts `changes` and queues their events for the webhook endpoints.
    pub fn publish(
        &self,
        changes: Vec<Change>,
        request_id: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Vec<EmittedEvent> {
        let now = self.clock.now();
        let mut emitted = Vec::with_capacity(changes.len());
        for change in changes {
            bump(&self.counters.mutations);
            bump(&self.counters.events);
            let n = self.event_seq.fetch_add(1, Ordering::Relaxed);
            let id = id_from("evt_", mix(self.config.seed ^ 0x6576_7400, n), 24);
            let fields = EventFields {
                id: &id,
                event_type: change.event_type,
                created: now.as_secs() as i64,
                api_version: DEFAULT_API_VERSION,
                account: change.account.as_deref(),
                request_id,
                idempotency_key,
                pending_webhooks: self.webhooks.receivers(change.event_type),
                livemode: self.config.population.livemode,
            };
            let object_id = change.object["id"].as_str().unwrap_or_default().to_owned();
            let value = event(&fields, change.object, change.previous);
            let body = Bytes::from(to_stripe_json(&value));
            emitted.push(EmittedEvent {
                id: id.clone(),
                event_type: change.event_type.to_owned(),
                account: change.account,
                object_id,
                at: now,
                body: body.clone(),
            });
            self.webhooks.send(Outgoing { id, event_type: change.event_type.to_owned(), body });
        }
        emitted
    }
}

/// The mock Stripe: built from a configuration (the population is generated
/// then), served on a listener until a shutdown signal.
///
/// ```no_run
/// # async fn demo() -> Result<(), tierbench::mock::MockError> {
/// use tierbench::mock::{MockConfig, MockStripe};
/// let running = MockStripe::spawn(MockConfig::unthrottled()).await?;
/// println!("mock Stripe at {}", running.url());
/// let counters = running.handle().counters();
/// running.stop().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MockStripe {
    shared: Arc<Shared>,
}

impl MockStripe {
    /// Validates `config` and builds the population.
    ///
    /// # Errors
    /// [`MockError::Config`] naming the bad key.
    pub fn new(config: MockConfig) -> Result<Self, MockError> {
        config.validate()?;
        let clock = Arc::clone(&config.clock);
        let now = clock.now();
        let state = population::build(config.seed, &config.population, now);
        let accounts = state.accounts.len();
        let default_version = HeaderValue::from_static(DEFAULT_API_VERSION);
        let shared = Shared {
            clock: Arc::clone(&clock),
            state: RwLock::new(state),
            counters: Counters::default(),
            limits: Limits::new(&config.limits, accounts, Arc::clone(&clock)),
            faults: Faults::new(&config.faults, now),
            idempotency: IdempotencyStore::new(config.idempotency_retention, config.idempotency_max_keys),
            webhooks: WebhookHub::new(&config.webhooks, config.seed),
            request_seq: AtomicU64::new(0),
            event_seq: AtomicU64::new(0),
            mutation_seq: AtomicU64::new(0),
            addr: OnceLock::new(),
            started_at: now,
            shutdown: watch::channel(false).0,
            default_version,
            config,
        };
        Ok(MockStripe { shared: Arc::new(shared) })
    }

    /// A handle for ground truth, counters, mutations and webhook endpoints;
    /// valid before, while and after serving.
    pub fn handle(&self) -> MockHandle {
        MockHandle::new(Arc::clone(&self.shared))
    }

    /// Serves on `listener` until `shutdown` resolves, running the mutation
    /// driver and webhook deliveries meanwhile. Hanging and sleeping requests
    /// end at shutdown; pending webhook deliveries are dropped.
    ///
    /// # Errors
    /// When the listener fails or the webhook client cannot be built.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), MockError> {
        let shared = self.shared;
        let listener = MockListener::new(listener);
        let addr = listener.addr()?;
        let _ = shared.addr.set(addr);
        let deliveries = tokio::spawn(webhooks::run(Arc::clone(&shared), shared.shutdown.subscribe()));
        let driver = tokio::spawn(drive_mutations(Arc::clone(&shared), shared.shutdown.subscribe()));
        let app = Router::new().fallback(super::api::handle).with_state(Arc::clone(&shared));
        let stop = shared.shutdown.clone();
        let signal = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<ConnInfo>())
            .with_graceful_shutdown(signal)
            .await;
        let _ = shared.shutdown.send(true);
        driver.abort();
        let delivered = deliveries.await;
        served?;
        match delivered {
            Ok(result) => result,
            Err(_) => Ok(()),
        }
    }

    /// Binds `127.0.0.1:0`, serves in a task, and returns at once.
    ///
    /// # Errors
    /// Configuration and bind failures.
    pub async fn spawn(config: MockConfig) -> Result<RunningMock, MockError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::new(config)?.spawn_on(listener)
    }

    /// Serves on `listener` in a task and returns at once.
    ///
    /// # Errors
    /// When the listener has no local address.
    pub fn spawn_on(self, listener: TcpListener) -> Result<RunningMock, MockError> {
        let addr = listener.local_addr()?;
        let handle = self.handle();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(listener, async move {
            let _ = rx.await;
        }));
        Ok(RunningMock { addr, handle, stop: Some(tx), task })
    }
}

/// Serves `config`'s mock on `listener` until `shutdown` resolves.
///
/// # Errors
/// See [`MockStripe::new`] and [`MockStripe::serve`].
pub async fn serve(
    listener: TcpListener,
    config: MockConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MockError> {
    MockStripe::new(config)?.serve(listener, shutdown).await
}

/// A mock serving in a background task.
#[derive(Debug)]
pub struct RunningMock {
    addr: SocketAddr,
    handle: MockHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), MockError>>,
}

impl RunningMock {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`, the base URL for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The mock's handle.
    pub fn handle(&self) -> &MockHandle {
        &self.handle
    }

    /// Stops serving and waits for the server task to end.
    ///
    /// # Errors
    /// The server's own error, if it failed.
    pub async fn stop(mut self) -> Result<(), MockError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.unwrap_or(Ok(()))
    }
}

impl Drop for RunningMock {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Makes random mutations at the configured rate until shutdown.
async fn drive_mutations(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let rate = shared.config.mutations.rate_per_s;
    if rate <= 0.0 {
        return;
    }
    // Ticks of at least 10 ms; each makes the mutations due by then.
    let period = Duration::from_secs_f64((1.0 / rate).max(0.01));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due = 0.0;
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            _ = ticks.tick() => {
                due += rate * period.as_secs_f64();
                while due >= 1.0 {
                    due -= 1.0;
                    if let Err(e) = shared.mutate(Target::Random) {
                        tracing::debug!("mutation skipped: {e}");
                    }
                }
            }
        }
    }
}
