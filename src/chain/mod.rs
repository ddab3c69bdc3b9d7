//! The cache under test: read-through L1 (Redis) -> L2 (DynamoDB) -> origin
//! (Stripe), fill, promote, invalidate. The TTL decisions live in [`policy`], so
//! the simulator drives the same ones.

pub mod defences;
pub mod flights;
pub mod meter;
pub mod policy;
pub mod read_path;
mod stats;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use tracing::debug;

pub use self::defences::{Defences, Freshness, LeaseConfig};
pub use self::flights::{Flights, Role};
pub use self::meter::{Meter, MeterCounts};
pub use self::policy::{Tier, TtlPolicy};
use self::read_path::{Failure, Found, Input, Lease, ReadPath, Step};
pub use self::read_path::{FetchTime, key_salt};
pub use self::stats::{ChainCounters, ChainStats, Count, Counter};
pub use self::webhook::{Applied, WebhookError, WebhookHandler};
use crate::clock::{SharedClock, Timestamp};
use crate::origin::{Origin, OriginError};
/// The cached entry lives with the tiers that store it; the chain re-exports it.
pub use crate::store::{CacheEntry, checksum, stored_data};
use crate::store::{L1Store, L2Store, Lookup, SameVersion, StoreError};
use crate::stripe::{CacheKey, ObjectKind};

/// The layer that served a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Redis.
    L1,
    /// DynamoDB.
    L2,
    /// The Stripe API.
    Origin,
}

/// A served read (of a [`CacheEntry`] live; of a model's entry in the simulator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served<E = CacheEntry> {
    /// Which layer answered.
    pub layer: Layer,
    /// The entry served (for an origin read, as written to L2).
    pub entry: E,
    /// Served past its expiry by a stale-while-revalidate or stale-if-error window.
    pub stale: bool,
}

impl<E> Served<E> {
    /// Served by `layer` before its expiry.
    pub fn fresh(layer: Layer, entry: E) -> Self {
        Served { layer, entry, stale: false }
    }
}

/// What concurrent misses of one key share (errors as the origin gave them).
pub type Flight = Result<Served, OriginError>;

/// What an invalidation removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Invalidated {
    /// An L1 entry was deleted.
    pub l1: bool,
    /// An L2 entry was expired.
    pub l2: bool,
}

/// A read the chain could not serve, or an invalidation it could not apply.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// Neither tier had the data and the origin failed.
    #[error(transparent)]
    Origin(#[from] OriginError),
    /// A tier failed during an invalidation (the caller should retry it).
    #[error("invalidation failed: {0}")]
    Store(#[from] StoreError),
}

/// How many invalidations a bulk invalidation runs at once.
const BULK_CONCURRENCY: usize = 16;

/// What the chains of one process share: misses in flight and background
/// refreshes in flight.
#[derive(Debug, Default, Clone)]
pub struct ChainGroup {
    flights: Arc<Flights<Flight>>,
    refreshing: Arc<Flights<()>>,
}

/// The live read path's machine.
type LivePath = ReadPath<CacheEntry, OriginError>;
/// The live read path's steps.
type LiveStep = Step<CacheEntry, OriginError>;

/// The read-through chain over an L1, an L2 and an origin: the live driver of
/// [`read_path`], performing its steps against the tiers and the origin.
/// Clones share counters, flights, background refreshes and the fetch-time mean.
#[derive(Debug, Clone)]
pub struct CacheChain<L1, L2, O> {
    l1: L1,
    l2: L2,
    origin: O,
    policy: TtlPolicy,
    clock: SharedClock,
    stats: Arc<ChainStats>,
    flights: Arc<Flights<Flight>>,
    refreshing: Arc<Flights<()>>,
    /// XFetch's delta, updated as fetches land.
    fetch_time: Arc<FetchTime>,
    /// The operations performed.
    meter: Arc<Meter>,
}

/// What a driver holds while it performs a read's steps.
#[derive(Default)]
struct Held<'a> {
    leader: Option<flights::Leader<'a, Flight>>,
    lease: Option<u64>,
    object: Option<(Timestamp, crate::origin::OriginObject)>,
    started: Option<Timestamp>,
}

impl<L1, L2, O> CacheChain<L1, L2, O>
where
    L1: L1Store + Clone + 'static,
    L2: L2Store + Clone + 'static,
    O: Origin + Clone + 'static,
{
    /// A chain over the given tiers and origin, deciding TTLs and defences by
    /// `policy` and reading time from `clock`.
    pub fn new(l1: L1, l2: L2, origin: O, policy: TtlPolicy, clock: SharedClock) -> Self {
        CacheChain {
            l1,
            l2,
            origin,
            policy,
            clock,
            stats: Arc::default(),
            flights: Arc::default(),
            refreshing: Arc::default(),
            fetch_time: Arc::default(),
            meter: Arc::default(),
        }
    }

    /// This chain, sharing misses in flight (when the policy coalesces) and
    /// background refreshes with every chain of `group` (the callers of one
    /// process), so one refresh serves them all.
    pub fn in_group(mut self, group: &ChainGroup) -> Self {
        self.flights = group.flights.clone();
        self.refreshing = group.refreshing.clone();
        self
    }

    /// The chain's counters (shared: they keep counting).
    pub fn stats(&self) -> &Arc<ChainStats> {
        &self.stats
    }

    /// The operations the chain performed (shared: it keeps counting).
    pub fn meter(&self) -> &Arc<Meter> {
        &self.meter
    }

    /// The L1 tier.
    pub fn l1(&self) -> &L1 {
        &self.l1
    }

    /// The L2 tier.
    pub fn l2(&self) -> &L2 {
        &self.l2
    }

    /// The TTL policy.
    pub fn policy(&self) -> &TtlPolicy {
        &self.policy
    }

    /// Serves `key` from the first layer that has it live and intact, filling
    /// or promoting into the layers above. Tier failures count and fall through
    /// to the next layer. The policy's defences apply: coalescing, leases,
    /// early refresh, stale windows, negative caching.
    ///
    /// # Errors
    /// [`ChainError::Origin`] when neither tier could serve and the origin failed
    /// (or a 404 is remembered).
    pub async fn read(&self, key: &CacheKey) -> Result<Served, ChainError> {
        let mut path = LivePath::new(key.kind, self.salt(key), self.fetch_time.delta());
        let input = Input::L1(self.lookup_l1(key).await);
        self.meter_step(&path, &Step::ReadL1, &input, 0);
        let step = path.step(&self.policy, self.clock.now(), input, &mut &*self.stats);
        // Boxed: the L2 and origin steps hold SDK futures of several KB that an
        // L1 hit, the common case, should not build and move.
        let result = match step {
            Step::Done { result, refresh } => self.finish(key, result, refresh, None),
            step => Box::pin(self.drive(key, path, step)).await,
        };
        result.map_err(ChainError::from)
    }

    /// Fetches `key` from the origin and writes both tiers, whatever they hold
    /// (a refresh). Writes of data an invalidation overtook are refused.
    ///
    /// # Errors
    /// When the origin fails.
    pub async fn refresh(&self, key: &CacheKey) -> Result<CacheEntry, OriginError> {
        let path = LivePath::refresh(key.kind, self.salt(key));
        let step = path.first();
        self.drive(key, path, step).await.map(|s| s.entry)
    }

    /// The key's salt when the policy draws by key (jitter, XFetch); else 0,
    /// without hashing the id on every hit.
    fn salt(&self, key: &CacheKey) -> u64 {
        let p = &self.policy;
        if p.jitter > 0.0 || p.defences.early_refresh_beta > 0.0 { key_salt(key.kind, &key.id) } else { 0 }
    }

    /// Performs `path`'s steps from `step` until the read is over, metering
    /// each operation as it is performed.
    async fn drive(&self, key: &CacheKey, mut path: LivePath, mut step: LiveStep) -> Flight {
        let mut held = Held::default();
        loop {
            let step_now = match step {
                Step::Done { result, refresh } => return self.finish(key, result, refresh, held.leader),
                other => other,
            };
            let mut bytes = 0;
            let input = match &step_now {
                Step::Done { .. } => unreachable!("handled above"),
                Step::ReadL1 => Input::L1(self.lookup_l1(key).await),
                Step::DeleteL1 => Input::Deleted(self.l1.delete(key).await.is_ok()),
                Step::JoinFlight => Input::Flight(match self.flights.join(key) {
                    Role::Leader(leader) => {
                        held.leader = Some(leader);
                        read_path::Flight::Lead
                    }
                    Role::Follower(follower) => match follower.wait().await {
                        Some(result) => read_path::Flight::Joined(result),
                        None => read_path::Flight::Alone,
                    },
                }),
                Step::ReadL2 => Input::L2(self.lookup_l2(key).await),
                Step::Promote { ttl, retain } => {
                    let now = self.clock.now();
                    let l2 = path.held().unwrap_or_else(|| unreachable!("a promotion holds its entry"));
                    bytes = l2.data.len();
                    let entry = CacheEntry { expires_at: now.plus(*ttl), ..l2.clone() };
                    Input::Promoted(Some(self.l1.put(key, &entry, *ttl + *retain).await.map_err(drop)))
                }
                Step::AcquireLease { ttl } => Input::Lease(match self.l1.acquire_lease(key, *ttl).await {
                    Ok(Some(token)) => {
                        held.lease = Some(token);
                        Lease::Taken
                    }
                    Ok(None) => Lease::Held,
                    Err(_) => Lease::Failed,
                }),
                Step::Poll { after } => {
                    tokio::time::sleep(*after).await;
                    Input::L1(self.lookup_l1(key).await)
                }
                Step::Fetch => {
                    let started = self.clock.now();
                    held.started = Some(started);
                    Input::Fetched(match self.origin.fetch(key).await {
                        Ok(object) => {
                            self.fetch_time.note(self.clock.now().since(started));
                            bytes = object.data.len();
                            held.object = Some((started, object));
                            Ok(())
                        }
                        Err(e) => Err(e),
                    })
                }
                Step::Fill { l1_ttl, l2_ttl, retain, same_version } => {
                    let (started, object) =
                        held.object.take().unwrap_or_else(|| unreachable!("a fill follows a fetch"));
                    self.fill(key, started, object, [*l1_ttl, *l2_ttl], *retain, *same_version).await
                }
                Step::RememberNotFound { ttl } => {
                    let at = held.started.unwrap_or_else(|| self.clock.now());
                    let entry = CacheEntry::negative(at, at.plus(*ttl), key.account.clone());
                    bytes = entry.data.len();
                    Input::Remembered(self.l1.put(key, &entry, *ttl).await.map_err(drop))
                }
                Step::ReleaseLease => {
                    let token =
                        held.lease.take().unwrap_or_else(|| unreachable!("a release follows a lease"));
                    Input::Released(self.l1.release_lease(key, token).await.is_ok())
                }
            };
            self.meter_step(&path, &step_now, &input, bytes as u64);
            step = path.step(&self.policy, self.clock.now(), input, &mut &*self.stats);
        }
    }

    /// Meters what performing `step` made. The data moved is the entry the
    /// answer carries, else `data` (what the step itself wrote or fetched).
    fn meter_step(
        &self,
        path: &LivePath,
        step: &LiveStep,
        input: &Input<CacheEntry, OriginError>,
        data: u64,
    ) {
        let data = match input {
            Input::L1(Found::Entry(e)) | Input::L2(Found::Entry(e)) | Input::Filled { entry: e, .. } => {
                e.data.len() as u64
            }
            _ => data,
        };
        for op in path.performed(step, input).into_iter().flatten() {
            self.meter.add(op, meter::op_bytes(op, data));
        }
    }

    /// Writes a fetched object to both tiers: the entry's `fetched_at` is when
    /// the fetch started (the data is at least that new, and an invalidation
    /// after it refuses the write: no resurrection).
    async fn fill(
        &self,
        key: &CacheKey,
        started: Timestamp,
        object: crate::origin::OriginObject,
        [l1_ttl, l2_ttl]: [Duration; 2],
        retain: Duration,
        same_version: SameVersion,
    ) -> read_path::Input<CacheEntry, OriginError> {
        let now = self.clock.now();
        // Checksum what the envelope keeps: the JSON without a trailing newline.
        let data = stored_data(object.data);
        let l2_entry = CacheEntry {
            version: object.version,
            fetched_at: started,
            expires_at: now.plus(l2_ttl),
            checksum: checksum(&data),
            api_version: object.api_version,
            account: key.account.clone(),
            data,
        };
        let l1_entry = CacheEntry { expires_at: now.plus(l1_ttl), ..l2_entry.clone() };
        let (r1, r2) = tokio::join!(
            self.l1.put(key, &l1_entry, l1_ttl + retain),
            self.l2.put(key, &l2_entry, now, same_version, retain)
        );
        Input::Filled { entry: l2_entry, writes: Some((r1.map_err(drop), r2.map_err(drop))) }
    }

    /// The end of a read: starts its background refresh and hands its result
    /// to the misses that joined it.
    fn finish(
        &self,
        key: &CacheKey,
        result: Result<Served, Failure<OriginError>>,
        refresh: bool,
        leader: Option<flights::Leader<'_, Flight>>,
    ) -> Flight {
        if refresh {
            self.refresh_in_background(key);
        }
        let result = result.map_err(|f| match f {
            Failure::NotFound => OriginError::NotFound(key.id.clone()),
            Failure::Origin(e) => e,
        });
        if let Some(leader) = leader {
            leader.finish(result.clone());
        }
        result
    }

    /// Refreshes `key` from the origin in a background task, once per key at
    /// a time (stale-while-revalidate, early refresh).
    fn refresh_in_background(&self, key: &CacheKey) {
        let Role::Leader(leader) = self.refreshing.join(key) else {
            return;
        };
        drop(leader); // the refresh task below holds its own flight
        let me = self.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let Role::Leader(flight) = me.refreshing.join(&key) else {
                return;
            };
            let _ = me.refresh(&key).await;
            flight.finish(());
        });
    }

    /// What L1 holds under `key`, as the read path takes it. Failures are
    /// counted by the path and reported per fault window; one line per failed
    /// read would drown the terminal in an outage.
    async fn lookup_l1(&self, key: &CacheKey) -> Found<CacheEntry> {
        match self.l1.get(key).await {
            Ok(Lookup::Found(e)) => Found::Entry(e),
            Ok(Lookup::Absent) => Found::Absent,
            Ok(Lookup::Corrupt) => Found::Corrupt,
            Err(e) => {
                debug!(?key, error = %e, "L1 read failed; falling through");
                Found::Failed
            }
        }
    }

    /// What L2 holds under `key` (expired items too, for stale serving).
    async fn lookup_l2(&self, key: &CacheKey) -> Found<CacheEntry> {
        match self.l2.get(key).await {
            Ok(Lookup::Found(e)) => Found::Entry(e),
            Ok(Lookup::Absent) => Found::Absent,
            Ok(Lookup::Corrupt) => Found::Corrupt,
            Err(e) => {
                debug!(pk = %key.pk(), sk = %key.sk(), error = %e, "L2 read failed; falling through");
                Found::Failed
            }
        }
    }

    /// Removes `key` from both tiers (Redis DEL, DynamoDB expire-now on the
    /// full composite key), voids its fill lease, and leaves tombstones so a
    /// fill whose fetch started before now cannot bring the old data back.
    ///
    /// # Errors
    /// When either tier fails; the invalidation should then be retried.
    pub async fn invalidate(&self, key: &CacheKey) -> Result<Invalidated, ChainError> {
        let now = self.clock.now();
        let (l1, l2) = tokio::join!(self.l1.invalidate(key, now), self.l2.expire(key, now));
        let done = Invalidated { l1: l1?, l2: l2? };
        // Counted once both tiers took it, as the webhook endpoint counts keys.
        ChainStats::bump(&self.stats.invalidations);
        Ok(done)
    }

    /// Invalidates every live entry of `kind` last updated before `before`
    /// (found through `gsi1`, every page): the seed's `findStaleCustomers`
    /// followed by an invalidation of each. Returns how many were invalidated.
    ///
    /// # Errors
    /// When the index query or an invalidation fails.
    pub async fn invalidate_kind_before(
        &self,
        kind: ObjectKind,
        before: Timestamp,
    ) -> Result<usize, ChainError> {
        let keys = self.l2.keys_updated_before(kind, before, self.clock.now()).await?;
        let count = keys.len();
        // Index-based, so the stream's closure borrows no key per item and the
        // future stays Send for any caller (an HTTP handler, say).
        let keys = &keys;
        let mut results =
            stream::iter(0..count).map(|i| self.invalidate(&keys[i])).buffer_unordered(BULK_CONCURRENCY);
        while let Some(r) = results.next().await {
            r?;
        }
        Ok(count)
    }
}
