//! The cache under test: read-through L1 (Redis) -> L2 (DynamoDB) -> origin
//! (Stripe), fill, promote, invalidate. The TTL decisions live in [`policy`], so
//! the simulator drives the same ones.

mod entry;
pub mod policy;
mod stats;
mod webhook;

use std::sync::Arc;

use futures_util::{StreamExt, stream};
use tracing::warn;

pub use self::entry::{CacheEntry, checksum, stored_data};
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
}

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

/// The read-through chain over an L1, an L2 and an origin.
#[derive(Debug)]
pub struct CacheChain<L1, L2, O> {
    l1: L1,
    l2: L2,
    origin: O,
    policy: TtlPolicy,
    clock: SharedClock,
    stats: Arc<ChainStats>,
}

impl<L1: L1Store, L2: L2Store, O: Origin> CacheChain<L1, L2, O> {
    /// A chain over the given tiers and origin, deciding TTLs by `policy` and
    /// reading time from `clock`.
    pub fn new(l1: L1, l2: L2, origin: O, policy: TtlPolicy, clock: SharedClock) -> Self {
        CacheChain { l1, l2, origin, policy, clock, stats: Arc::default() }
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
    /// to the next layer; only an origin failure fails the read.
    ///
    /// # Errors
    /// [`ChainError::Origin`] when neither tier could serve and the origin failed.
    pub async fn read(&self, key: &CacheKey) -> Result<Served, ChainError> {
        if let Some(entry) = self.read_l1(key).await {
            ChainStats::bump(&self.stats.l1_hits);
            return Ok(Served { layer: Layer::L1, entry });
        }
        ChainStats::bump(&self.stats.l1_misses);
        // Boxed: the L2 and origin paths hold SDK futures of several KB that an
        // L1 hit, the common case, should not build and move.
        Box::pin(self.read_below_l1(key)).await
    }

    async fn read_below_l1(&self, key: &CacheKey) -> Result<Served, ChainError> {
        let same_version = match self.read_l2(key).await {
            Ok(entry) => {
                ChainStats::bump(&self.stats.l2_hits);
                self.promote(key, &entry).await;
                return Ok(Served { layer: Layer::L2, entry });
            }
            Err(same_version) => same_version,
        };
        ChainStats::bump(&self.stats.l2_misses);
        let entry = self.fetch_and_fill(key, same_version).await?;
        Ok(Served { layer: Layer::Origin, entry })
    }

    async fn read_l1(&self, key: &CacheKey) -> Option<CacheEntry> {
        let lookup = match self.l1.get(key).await {
            Ok(l) => l,
            Err(e) => {
                ChainStats::bump(&self.stats.l1_errors);
                warn!(?key, error = %e, "L1 read failed; falling through");
                return None;
            }
        };
        match lookup {
            Lookup::Found(e) if e.checksum_ok() => e.is_live(self.clock.now()).then_some(e),
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

    /// The live, intact L2 entry, or why there is none.
    async fn read_l2(&self, key: &CacheKey) -> Result<CacheEntry, SameVersion> {
        let lookup = match self.l2.get(key).await {
            Ok(l) => l,
            Err(e) => {
                ChainStats::bump(&self.stats.l2_errors);
                warn!(pk = %key.pk(), sk = %key.sk(), error = %e, "L2 read failed; falling through");
                return Err(SameVersion::KeepIfIntact);
            }
        };
        match lookup {
            Lookup::Found(e) if e.checksum_ok() => {
                if e.is_live(self.clock.now()) {
                    Ok(e)
                } else {
                    ChainStats::bump(&self.stats.l2_expired);
                    Err(SameVersion::KeepIfIntact)
                }
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
        match self.l1.put(key, &entry, ttl).await {
            Ok(WriteOutcome::Written | WriteOutcome::Current) => ChainStats::bump(&self.stats.promotions),
            Ok(WriteOutcome::Conflict { .. }) => ChainStats::bump(&self.stats.l1_conflicts),
            Err(_) => ChainStats::bump(&self.stats.l1_errors),
        }
    }

    async fn fetch_and_fill(
        &self,
        key: &CacheKey,
        same_version: SameVersion,
    ) -> Result<CacheEntry, ChainError> {
        let object = match self.origin.fetch(key).await {
            Ok(o) => o,
            Err(e) => {
                ChainStats::bump(&self.stats.origin_errors);
                return Err(e.into());
            }
        };
        ChainStats::bump(&self.stats.origin_fetches);
        let now = self.clock.now();
        let l1_ttl = self.policy.fill_ttl(Tier::L1, key.kind, &key.id, now);
        let l2_ttl = self.policy.fill_ttl(Tier::L2, key.kind, &key.id, now);
        // Checksum what the envelope keeps: the JSON without a trailing newline.
        let data = stored_data(object.data);
        let l2_entry = CacheEntry {
            version: object.version,
            fetched_at: now,
            expires_at: now.plus(l2_ttl),
            checksum: checksum(&data),
            api_version: object.api_version,
            account: key.account.clone(),
            data,
        };
        let l1_entry = CacheEntry { expires_at: now.plus(l1_ttl), ..l2_entry.clone() };
        let (r1, r2) =
            tokio::join!(self.l1.put(key, &l1_entry, l1_ttl), self.l2.put(key, &l2_entry, now, same_version));
        let s = &self.stats;
        match r1 {
            Ok(WriteOutcome::Written | WriteOutcome::Current) => ChainStats::bump(&s.l1_fills),
            Ok(WriteOutcome::Conflict { .. }) => ChainStats::bump(&s.l1_conflicts),
            Err(_) => ChainStats::bump(&s.l1_errors),
        }
        match r2 {
            Ok(WriteOutcome::Written) => ChainStats::bump(&s.l2_fills),
            Ok(WriteOutcome::Current) => ChainStats::bump(&s.l2_current),
            Ok(WriteOutcome::Conflict { .. }) => ChainStats::bump(&s.l2_conflicts),
            Err(_) => ChainStats::bump(&s.l2_errors),
        }
        Ok(l2_entry)
    }

    /// Removes `key` from both tiers: Redis DEL and DynamoDB expire-now on the
    /// full composite key.
    ///
    /// # Errors
    /// When either tier fails; the invalidation should then be retried.
    pub async fn invalidate(&self, key: &CacheKey) -> Result<Invalidated, ChainError> {
        let now = self.clock.now();
        let (l1, l2) = tokio::join!(self.l1.delete(key), self.l2.expire(key, now));
        ChainStats::bump(&self.stats.invalidations);
        Ok(Invalidated { l1: l1?, l2: l2? })
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
