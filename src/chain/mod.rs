//! The cache under test: read-through L1 (Redis) -> L2 (DynamoDB) -> origin
//! (Stripe), fill, promote, invalidate. The TTL decisions live in [`policy`], so
//! the simulator drives the same ones.

pub mod defences;
mod entry;
pub mod flights;
pub mod policy;
mod stats;
mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{StreamExt, stream};
use tracing::debug;

pub use self::defences::{Defences, Freshness, LeaseConfig};
pub use self::entry::{CacheEntry, checksum, stored_data};
pub use self::flights::{Flights, Role};
pub use self::policy::{Tier, TtlPolicy};
pub use self::stats::{ChainCounters, ChainStats};
pub use self::webhook::{Applied, WebhookError, WebhookHandler};
use crate::clock::{SharedClock, Timestamp};
use crate::origin::{Origin, OriginError};
use crate::store::{L1Store, L2Store, Lookup, SameVersion, StoreError, WriteOutcome};
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

/// A served read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// Which layer answered.
    pub layer: Layer,
    /// The entry served (for an origin read, as written to L2).
    pub entry: CacheEntry,
    /// Served past its expiry by a stale-while-revalidate or stale-if-error window.
    pub stale: bool,
}

impl Served {
    fn fresh(layer: Layer, entry: CacheEntry) -> Self {
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

/// A stable per-key salt for the chain's deterministic draws.
fn key_salt(key: &CacheKey) -> u64 {
    key.id.bytes().fold(key.kind as u64, |h, b| crate::rng::mix(h, u64::from(b)))
}

/// The read-through chain over an L1, an L2 and an origin. Clones share
/// counters, flights and background refreshes.
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
    /// Mean origin fetch time, µs (XFetch's delta), updated as fetches land.
    fetch_us: Arc<AtomicU64>,
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
            fetch_us: Arc::new(AtomicU64::new(300_000)),
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
        let d = &self.policy.defences;
        let now = self.clock.now();
        let mut fallback = None;
        if let Some(entry) = self.read_l1(key).await {
            if entry.is_negative() {
                if entry.is_live(now) {
                    ChainStats::bump(&self.stats.negative_hits);
                    return Err(OriginError::NotFound(key.id.clone()).into());
                }
            } else {
                match d.freshness(entry.expires_at, now) {
                    Freshness::Fresh => {
                        ChainStats::bump(&self.stats.l1_hits);
                        if d.early_refresh_beta > 0.0
                            && d.refresh_early(
                                entry.expires_at,
                                now,
                                self.fetch_delta(),
                                self.policy.jitter_seed,
                                key_salt(key),
                            )
                        {
                            ChainStats::bump(&self.stats.early_refreshes);
                            self.refresh_in_background(key);
                        }
                        return Ok(Served::fresh(Layer::L1, entry));
                    }
                    Freshness::Revalidate => {
                        ChainStats::bump(&self.stats.stale_served);
                        self.refresh_in_background(key);
                        return Ok(Served { layer: Layer::L1, entry, stale: true });
                    }
                    Freshness::IfError => fallback = Some((Layer::L1, entry)),
                    Freshness::Dead => {}
                }
            }
        }
        ChainStats::bump(&self.stats.l1_misses);
        // Boxed: the L2 and origin paths hold SDK futures of several KB that an
        // L1 hit, the common case, should not build and move.
        let result = Box::pin(self.read_coalesced(key, fallback)).await;
        result.map_err(ChainError::from)
    }

    /// The miss path, shared with concurrent misses of `key` when coalescing.
    async fn read_coalesced(&self, key: &CacheKey, fallback: Option<(Layer, CacheEntry)>) -> Flight {
        if !self.policy.defences.coalesce {
            return self.read_below_l1(key, fallback).await;
        }
        match self.flights.join(key) {
            Role::Leader(leader) => {
                let result = self.read_below_l1(key, fallback).await;
                leader.finish(result.clone());
                result
            }
            Role::Follower(follower) => {
                ChainStats::bump(&self.stats.coalesced);
                match follower.wait().await {
                    Some(result) => result,
                    // The leader gave up (cancelled): go alone.
                    None => self.read_below_l1(key, fallback).await,
                }
            }
        }
    }

    async fn read_below_l1(&self, key: &CacheKey, mut fallback: Option<(Layer, CacheEntry)>) -> Flight {
        let now = self.clock.now();
        let same_version = match self.read_l2(key).await {
            Ok(entry) => match self.policy.defences.freshness(entry.expires_at, now) {
                Freshness::Fresh => {
                    ChainStats::bump(&self.stats.l2_hits);
                    self.promote(key, &entry).await;
                    return Ok(Served::fresh(Layer::L2, entry));
                }
                Freshness::Revalidate => {
                    ChainStats::bump(&self.stats.stale_served);
                    self.refresh_in_background(key);
                    return Ok(Served { layer: Layer::L2, entry, stale: true });
                }
                Freshness::IfError => {
                    fallback = fallback.or(Some((Layer::L2, entry)));
                    SameVersion::KeepIfIntact
                }
                Freshness::Dead => SameVersion::KeepIfIntact,
            },
            Err(same_version) => same_version,
        };
        ChainStats::bump(&self.stats.l2_misses);
        match self.fetch_leased(key, same_version).await {
            Ok(served) => Ok(served),
            Err(e) if !matches!(e, OriginError::NotFound(_)) && fallback.is_some() => {
                ChainStats::bump(&self.stats.stale_if_error);
                let (layer, entry) = fallback.unwrap_or_else(|| unreachable!("checked above"));
                Ok(Served { layer, entry, stale: true })
            }
            Err(e) => Err(e),
        }
    }

    /// The fill, behind a cross-instance lease when the policy has one: the
    /// lease holder fills; the others wait for its fill in L1, then go alone.
    async fn fetch_leased(&self, key: &CacheKey, same_version: SameVersion) -> Flight {
        let Some(lease) = self.policy.defences.lease else {
            return self.fetch_and_fill(key, same_version).await.map(|e| Served::fresh(Layer::Origin, e));
        };
        match self.l1.acquire_lease(key, lease.ttl).await {
            Ok(Some(token)) => {
                let filled = self.fetch_and_fill(key, same_version).await;
                if self.l1.release_lease(key, token).await.is_err() {
                    ChainStats::bump(&self.stats.l1_errors);
                }
                filled.map(|e| Served::fresh(Layer::Origin, e))
            }
            Ok(None) => {
                ChainStats::bump(&self.stats.lease_waits);
                let deadline = tokio::time::Instant::now() + lease.wait;
                while tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(lease.poll).await;
                    if let Some(entry) = self.read_l1(key).await
                        && !entry.is_negative()
                        && entry.is_live(self.clock.now())
                    {
                        return Ok(Served::fresh(Layer::L1, entry));
                    }
                }
                ChainStats::bump(&self.stats.lease_timeouts);
                self.fetch_and_fill(key, same_version).await.map(|e| Served::fresh(Layer::Origin, e))
            }
            Err(_) => {
                ChainStats::bump(&self.stats.l1_errors);
                self.fetch_and_fill(key, same_version).await.map(|e| Served::fresh(Layer::Origin, e))
            }
        }
    }

    /// Fetches `key` from the origin and writes both tiers, whatever they hold
    /// (a refresh). Writes of data an invalidation overtook are refused.
    ///
    /// # Errors
    /// When the origin fails.
    pub async fn refresh(&self, key: &CacheKey) -> Result<CacheEntry, OriginError> {
        self.fetch_and_fill(key, SameVersion::KeepIfIntact).await
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
            if me.fetch_and_fill(&key, SameVersion::KeepIfIntact).await.is_ok() {
                ChainStats::bump(&me.stats.refreshes);
            }
            flight.finish(());
        });
    }

    /// XFetch's delta: how long a refresh takes, from recent fetches.
    fn fetch_delta(&self) -> Duration {
        Duration::from_micros(self.fetch_us.load(Ordering::Relaxed))
    }

    /// The L1 entry under `key`, live or not (expiry is the caller's decision);
    /// `None` when absent, corrupt (then deleted) or L1 failed.
    async fn read_l1(&self, key: &CacheKey) -> Option<CacheEntry> {
        let lookup = match self.l1.get(key).await {
            Ok(l) => l,
            Err(e) => {
                ChainStats::bump(&self.stats.l1_errors);
                // Counted (`l1_errors`) and reported per fault window; one
                // line per failed read would drown the terminal in an outage.
                debug!(?key, error = %e, "L1 read failed; falling through");
                return None;
            }
        };
        match lookup {
            Lookup::Found(e) if e.checksum_ok() => Some(e),
            Lookup::Absent => None,
            Lookup::Found(_) | Lookup::Corrupt => {
                ChainStats::bump(&self.stats.l1_checksum_failures);
                // Delete it so the fill that follows is not judged against a
                // version number read from damaged data.
                if self.l1.delete(key).await.is_err() {
                    ChainStats::bump(&self.stats.l1_errors);
                }
                None
            }
        }
    }

    /// The intact L2 entry (expired ones too, for stale serving), or why there
    /// is none.
    async fn read_l2(&self, key: &CacheKey) -> Result<CacheEntry, SameVersion> {
        let lookup = match self.l2.get(key).await {
            Ok(l) => l,
            Err(e) => {
                ChainStats::bump(&self.stats.l2_errors);
                debug!(pk = %key.pk(), sk = %key.sk(), error = %e, "L2 read failed; falling through");
                return Err(SameVersion::KeepIfIntact);
            }
        };
        match lookup {
            Lookup::Found(e) if e.checksum_ok() => {
                if !e.is_live(self.clock.now()) {
                    ChainStats::bump(&self.stats.l2_expired);
                }
                Ok(e)
            }
            Lookup::Absent => Err(SameVersion::KeepIfIntact),
            // The fill that follows replaces it, even with the same version.
            Lookup::Found(_) | Lookup::Corrupt => {
                ChainStats::bump(&self.stats.l2_checksum_failures);
                Err(SameVersion::Replace)
            }
        }
    }

    /// Copies an L2 hit into L1 for the rest of its L2 lifetime, capped by the L1 TTL.
    async fn promote(&self, key: &CacheKey, l2_entry: &CacheEntry) {
        let now = self.clock.now();
        let Some(ttl) = self.policy.promote_ttl(key.kind, l2_entry.expires_at, now) else {
            return;
        };
        let entry = CacheEntry { expires_at: now.plus(ttl), ..l2_entry.clone() };
        let outcome = self.l1.put(key, &entry, ttl + self.policy.defences.retention()).await;
        self.count_l1_write(outcome, &self.stats.promotions);
    }

    fn count_l1_write(&self, outcome: Result<WriteOutcome, StoreError>, written: &AtomicU64) {
        let s = &self.stats;
        match outcome {
            Ok(WriteOutcome::Written | WriteOutcome::Current) => ChainStats::bump(written),
            Ok(WriteOutcome::Conflict { .. }) => ChainStats::bump(&s.l1_conflicts),
            Ok(WriteOutcome::Invalidated) => ChainStats::bump(&s.resurrections_refused),
            Err(_) => ChainStats::bump(&s.l1_errors),
        }
    }

    /// Fetches `key` from the origin and writes it to both tiers. The entry's
    /// `fetched_at` is when the fetch started: the data is at least that new,
    /// and an invalidation after it refuses the write (no resurrection).
    async fn fetch_and_fill(
        &self,
        key: &CacheKey,
        same_version: SameVersion,
    ) -> Result<CacheEntry, OriginError> {
        let started = self.clock.now();
        let object = match self.origin.fetch(key).await {
            Ok(o) => o,
            Err(e) => {
                ChainStats::bump(&self.stats.origin_errors);
                if matches!(e, OriginError::NotFound(_)) {
                    self.remember_not_found(key, started).await;
                }
                return Err(e);
            }
        };
        ChainStats::bump(&self.stats.origin_fetches);
        let now = self.clock.now();
        let took = now.since(started).as_micros() as u64;
        let mean = self.fetch_us.load(Ordering::Relaxed);
        self.fetch_us.store(mean - mean / 8 + took / 8, Ordering::Relaxed);
        let retain = self.policy.defences.retention();
        let l1_ttl = self.policy.fill_ttl(Tier::L1, key.kind, &key.id, now);
        let l2_ttl = self.policy.fill_ttl(Tier::L2, key.kind, &key.id, now);
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
        let s = &self.stats;
        self.count_l1_write(r1, &s.l1_fills);
        match r2 {
            Ok(WriteOutcome::Written) => ChainStats::bump(&s.l2_fills),
            Ok(WriteOutcome::Current) => ChainStats::bump(&s.l2_current),
            Ok(WriteOutcome::Conflict { .. }) => ChainStats::bump(&s.l2_conflicts),
            Ok(WriteOutcome::Invalidated) => ChainStats::bump(&s.resurrections_refused),
            Err(_) => ChainStats::bump(&s.l2_errors),
        }
        Ok(l2_entry)
    }

    /// Negative caching: remembers in L1 that Stripe has no `key`.
    async fn remember_not_found(&self, key: &CacheKey, fetched_at: Timestamp) {
        let ttl = self.policy.defences.negative_ttl;
        if ttl.is_zero() {
            return;
        }
        let entry = CacheEntry::negative(fetched_at, fetched_at.plus(ttl), key.account.clone());
        let outcome = self.l1.put(key, &entry, ttl).await;
        self.count_l1_write(outcome, &self.stats.negative_fills);
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
