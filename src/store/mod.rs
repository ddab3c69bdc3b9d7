//! The two cache tiers behind traits: Redis as L1, DynamoDB as L2. The simulator
//! adds in-memory models of both behind the same traits.

pub mod dynamo;
mod entry;
pub mod memory;
pub mod redis;

use std::future::Future;
use std::time::Duration;

pub use self::entry::{CacheEntry, checksum, stored_data};
use crate::clock::Timestamp;
use crate::stripe::{CacheKey, ObjectKind};

pub use self::dynamo::{Billing, DynamoL2, DynamoOptions, TableSpec};
pub use self::redis::{RedisL1, RedisOptions};

/// What a tier said to a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing stored under the key.
    Absent,
    /// An entry whose envelope could not be decoded, or whose data does not
    /// match its checksum.
    Corrupt,
    /// A decoded entry whose checksum matches its data (verified once, by the
    /// store); the chain judges its expiry.
    Found(CacheEntry),
}

/// What a versioned write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The entry was stored.
    Written,
    /// The tier already held the same version, live and intact; nothing changed.
    Current,
    /// The tier holds a newer version; the write was refused so newer data is
    /// never overwritten by older data.
    Conflict {
        /// The version the tier holds.
        stored_version: u64,
    },
    /// The key was invalidated after this data was fetched: writing it would
    /// bring back data the invalidation removed (a resurrection), so it was refused.
    Invalidated,
}

/// How long an invalidation's tombstone outlives it: a fill whose fetch
/// started before the invalidation and lands within this horizon is refused.
/// Longer than any fill can take (the SDKs' 80 s request timeout, retries).
pub const TOMBSTONE_HORIZON: std::time::Duration = std::time::Duration::from_secs(600);

/// How an L2 write treats an entry of the same version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameVersion {
    /// Keep it when it is live and its checksum matches (a normal fill).
    KeepIfIntact,
    /// Replace it: the reader found it corrupt, whatever its stored checksum says.
    Replace,
}

/// A failure of a tier's server or client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis answered with an error or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// Redis did not answer within the response timeout.
    #[error("redis: no answer within {0:?}")]
    RedisTimeout(std::time::Duration),
    /// DynamoDB answered with an error or could not be reached.
    #[error("dynamodb {operation}: {message}")]
    Dynamo {
        /// The API operation (GetItem, PutItem, ...).
        operation: &'static str,
        /// The error with its full context.
        message: String,
    },
    /// The table exists with another layout than tierbench's.
    #[error("dynamodb table {table:?} exists with another layout: {why}; delete it or name another table")]
    TableMismatch {
        /// The table name.
        table: String,
        /// What differs.
        why: String,
    },
    /// An entry could not be encoded.
    #[error("cannot encode cache entry: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The L1 tier (Redis): fast, in memory, expires entries itself.
pub trait L1Store: Send + Sync {
    /// Reads the entry under `key`.
    fn get(&self, key: &CacheKey) -> impl Future<Output = Result<Lookup, StoreError>> + Send;

    /// Stores `entry` under `key` for `ttl`, unless the tier holds a newer version.
    fn put(
        &self,
        key: &CacheKey,
        entry: &CacheEntry,
        ttl: Duration,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;

    /// Removes the entry under `key`; whether there was one.
    fn delete(&self, key: &CacheKey) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Invalidates `key` at `at`: removes the entry, voids its fill lease and
    /// leaves a tombstone for [`TOMBSTONE_HORIZON`] that refuses writes of data
    /// fetched at or before `at`. When `key` is an object
    /// ([`CacheKey::object`]), the same holds for every variant of it (API
    /// versions, expand sets), cached or in flight, without a scan. Whether
    /// there was an entry.
    fn invalidate(
        &self,
        key: &CacheKey,
        at: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Takes the fill lease of `key` for `ttl` unless someone holds it; the
    /// lease's token when taken.
    fn acquire_lease(
        &self,
        key: &CacheKey,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Gives the lease `token` of `key` back (no-op when it was voided or expired).
    fn release_lease(
        &self,
        key: &CacheKey,
        token: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The L2 tier (DynamoDB): durable, deletes expired items lazily, so readers
/// treat an entry at or past its expiry as a miss.
pub trait L2Store: Send + Sync {
    /// Reads the entry under `key`, expired or not.
    fn get(&self, key: &CacheKey) -> impl Future<Output = Result<Lookup, StoreError>> + Send;

    /// Stores `entry` under `key` unless the tier holds a newer version, or the
    /// same version and `same` says to keep it, or the key was invalidated after
    /// the entry was fetched. The item is kept `retain` past the entry's expiry
    /// (for stale serving).
    fn put(
        &self,
        key: &CacheKey,
        entry: &CacheEntry,
        now: Timestamp,
        same: SameVersion,
        retain: Duration,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;

    /// Invalidates `key` at `now`: the entry expires now, and a tombstone refuses
    /// for [`TOMBSTONE_HORIZON`] writes of data fetched at or before `now`.
    /// When `key` is an object ([`CacheKey::object`]), the same holds for every
    /// variant of it (API versions, expand sets), cached or in flight, without
    /// a scan. Whether there was an entry.
    fn expire(&self, key: &CacheKey, now: Timestamp)
    -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The keys of every live entry of `kind` last updated before `before`
    /// (through the `gsi1` index, every page).
    fn keys_updated_before(
        &self,
        kind: ObjectKind,
        before: Timestamp,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<CacheKey>, StoreError>> + Send;
}
