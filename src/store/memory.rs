//! In-memory L1 and L2 with the real tiers' rules, for behaviour tests of the
//! chain that run in-process in milliseconds: expiry by the injected clock,
//! versioned writes, tombstones of invalidations (variants included), leases,
//! DynamoDB's write conditions and lazy expiry. Each operation takes a fixed
//! latency (`tokio::time::sleep`, so a paused tokio clock makes runs exact)
//! and fails like a paused server inside an outage window. Reads see the state
//! after their latency; writes apply at once, then take theirs. The Redis and
//! DynamoDB Local tests stay the real-parts layer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::CacheEntry;
use super::{L1Store, L2Store, Lookup, SameVersion, StoreError, TOMBSTONE_HORIZON, WriteOutcome};
use crate::clock::{SharedClock, Timestamp};
use crate::stripe::{CacheKey, ObjectKind};

/// How an in-memory tier answers: its latency and its outages.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Every operation takes this long.
    pub latency: Duration,
    /// Operations starting inside one of these windows fail after `timeout`.
    pub outages: Vec<(Timestamp, Timestamp)>,
    /// How long a failing operation takes.
    pub timeout: Duration,
}

/// Which tier an in-memory store stands for (the error it fails with).
#[derive(Clone, Copy, Debug)]
enum Tier {
    Redis,
    Dynamo,
}

impl Behaviour {
    /// Fails, after `timeout`, an operation starting at `at` inside an outage.
    async fn refuse_if_down(&self, at: Timestamp, tier: Tier) -> Result<(), StoreError> {
        if !self.outages.iter().any(|(a, b)| (*a..*b).contains(&at)) {
            return Ok(());
        }
        tokio::time::sleep(self.timeout).await;
        Err(match tier {
            Tier::Redis => StoreError::RedisTimeout(self.timeout),
            Tier::Dynamo => StoreError::Dynamo { operation: "in-memory", message: "outage".into() },
        })
    }

    /// A read: refused in an outage, else answered after the latency.
    async fn read(&self, at: Timestamp, tier: Tier) -> Result<(), StoreError> {
        self.refuse_if_down(at, tier).await?;
        tokio::time::sleep(self.latency).await;
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct L1State {
    /// Entry and when Redis drops it.
    entries: HashMap<CacheKey, (CacheEntry, Timestamp)>,
    /// Invalidation times (of objects: their variants too).
    tombstones: HashMap<CacheKey, Timestamp>,
    /// Lease token and when it lapses.
    leases: HashMap<CacheKey, (u64, Timestamp)>,
    next_token: u64,
}

impl L1State {
    fn invalidated_after(&self, key: &CacheKey, fetched_at: Timestamp, now: Timestamp) -> bool {
        [key.clone(), key.object()].iter().any(|k| {
            self.tombstones.get(k).is_some_and(|at| *at >= fetched_at && now.since(*at) < TOMBSTONE_HORIZON)
        })
    }
}

/// An in-memory Redis: expires entries itself, refuses older versions and
/// writes an invalidation overtook.
#[derive(Debug, Clone)]
pub struct MemoryL1 {
    state: Arc<Mutex<L1State>>,
    clock: SharedClock,
    behaviour: Behaviour,
}

impl MemoryL1 {
    /// An empty L1 on `clock`, answering as `behaviour` says.
    pub fn new(clock: SharedClock, behaviour: Behaviour) -> Self {
        MemoryL1 { state: Arc::default(), clock, behaviour }
    }

    /// Drops every entry (a Redis restarted empty).
    pub fn flush(&self) {
        let mut s = lock(&self.state);
        s.entries.clear();
        s.leases.clear();
    }
}

impl L1Store for MemoryL1 {
    async fn get(&self, key: &CacheKey) -> Result<Lookup, StoreError> {
        self.behaviour.read(self.clock.now(), Tier::Redis).await?;
        let now = self.clock.now();
        let s = lock(&self.state);
        Ok(match s.entries.get(key) {
            Some((e, drop_at)) if *drop_at > now => Lookup::Found(e.clone()),
            _ => Lookup::Absent,
        })
    }

    async fn put(
        &self,
        key: &CacheKey,
        entry: &CacheEntry,
        ttl: Duration,
    ) -> Result<WriteOutcome, StoreError> {
        let now = self.clock.now();
        self.behaviour.refuse_if_down(now, Tier::Redis).await?;
        let outcome = {
            let mut s = lock(&self.state);
            let stored = s.entries.get(key).filter(|(_, d)| *d > now).map(|(e, _)| e.version);
            if s.invalidated_after(key, entry.fetched_at, now) {
                WriteOutcome::Invalidated
            } else if let Some(v) = stored.filter(|v| *v > entry.version) {
                WriteOutcome::Conflict { stored_version: v }
            } else {
                s.entries.insert(key.clone(), (entry.clone(), now.plus(ttl)));
                WriteOutcome::Written
            }
        };
        tokio::time::sleep(self.behaviour.latency).await;
        Ok(outcome)
    }

    async fn delete(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let now = self.clock.now();
        self.behaviour.refuse_if_down(now, Tier::Redis).await?;
        let had = lock(&self.state).entries.remove(key).is_some();
        tokio::time::sleep(self.behaviour.latency).await;
        Ok(had)
    }

    async fn invalidate(&self, key: &CacheKey, at: Timestamp) -> Result<bool, StoreError> {
        let now = self.clock.now();
        self.behaviour.refuse_if_down(now, Tier::Redis).await?;
        let had = {
            let mut s = lock(&self.state);
            s.tombstones.insert(key.clone(), at);
            let gone: Vec<CacheKey> = s
                .entries
                .keys()
                .filter(|k| *k == key || (!key.is_variant() && k.object() == *key))
                .cloned()
                .collect();
            for k in &gone {
                s.leases.remove(k);
            }
            s.leases.remove(key);
            gone.iter().filter(|k| s.entries.remove(*k).is_some_and(|(_, d)| d > now)).count() > 0
        };
        tokio::time::sleep(self.behaviour.latency).await;
        Ok(had)
    }

    async fn acquire_lease(&self, key: &CacheKey, ttl: Duration) -> Result<Option<u64>, StoreError> {
        self.behaviour.read(self.clock.now(), Tier::Redis).await?;
        let now = self.clock.now();
        let mut s = lock(&self.state);
        if s.leases.get(key).is_some_and(|(_, until)| *until > now) {
            return Ok(None);
        }
        s.next_token += 1;
        let token = s.next_token;
        s.leases.insert(key.clone(), (token, now.plus(ttl)));
        Ok(Some(token))
    }

    async fn release_lease(&self, key: &CacheKey, token: u64) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.behaviour.refuse_if_down(now, Tier::Redis).await?;
        {
            let mut s = lock(&self.state);
            if s.leases.get(key).is_some_and(|(t, _)| *t == token) {
                s.leases.remove(key);
            }
        }
        tokio::time::sleep(self.behaviour.latency).await;
        Ok(())
    }
}

#[derive(Debug, Default, Clone)]
struct Item {
    entry: Option<CacheEntry>,
    invalidated_at: Option<Timestamp>,
}

/// An in-memory DynamoDB table: keeps expired items (lazy TTL deletion),
/// writes under the live store's conditions, tombstones by update.
#[derive(Debug, Clone)]
pub struct MemoryL2 {
    items: Arc<Mutex<HashMap<CacheKey, Item>>>,
    clock: SharedClock,
    behaviour: Behaviour,
}

impl MemoryL2 {
    /// An empty table on `clock`, answering as `behaviour` says.
    pub fn new(clock: SharedClock, behaviour: Behaviour) -> Self {
        MemoryL2 { items: Arc::default(), clock, behaviour }
    }
}

impl L2Store for MemoryL2 {
    async fn get(&self, key: &CacheKey) -> Result<Lookup, StoreError> {
        self.behaviour.read(self.clock.now(), Tier::Dynamo).await?;
        Ok(match lock(&self.items).get(key).and_then(|i| i.entry.clone()) {
            Some(e) => Lookup::Found(e),
            None => Lookup::Absent,
        })
    }

    async fn put(
        &self,
        key: &CacheKey,
        entry: &CacheEntry,
        now: Timestamp,
        same: SameVersion,
        _retain: Duration,
    ) -> Result<WriteOutcome, StoreError> {
        let started = self.clock.now();
        self.behaviour.refuse_if_down(started, Tier::Dynamo).await?;
        let outcome = {
            let mut items = lock(&self.items);
            let tomb = |k: &CacheKey| items.get(k).and_then(|i| i.invalidated_at);
            let overtaken =
                [tomb(key), tomb(&key.object())].into_iter().flatten().any(|at| at >= entry.fetched_at);
            let old = items.get(key).and_then(|i| i.entry.clone());
            let allowed = match (&old, same) {
                (None, _) => true,
                (Some(o), SameVersion::KeepIfIntact) => {
                    o.version < entry.version
                        || (o.version == entry.version
                            && (o.expires_at <= now || o.checksum != entry.checksum))
                }
                (Some(o), SameVersion::Replace) => o.version <= entry.version,
            };
            if overtaken {
                WriteOutcome::Invalidated
            } else if !allowed {
                let stored = old.map_or(u64::MAX, |o| o.version);
                if stored > entry.version {
                    WriteOutcome::Conflict { stored_version: stored }
                } else {
                    WriteOutcome::Current
                }
            } else {
                items.entry(key.clone()).or_default().entry = Some(entry.clone());
                WriteOutcome::Written
            }
        };
        tokio::time::sleep(self.behaviour.latency).await;
        Ok(outcome)
    }

    async fn expire(&self, key: &CacheKey, now: Timestamp) -> Result<bool, StoreError> {
        let started = self.clock.now();
        self.behaviour.refuse_if_down(started, Tier::Dynamo).await?;
        let had = {
            let mut items = lock(&self.items);
            let keys: Vec<CacheKey> = items
                .keys()
                .filter(|k| *k == key || (!key.is_variant() && k.object() == *key))
                .cloned()
                .chain(std::iter::once(key.clone()))
                .collect();
            let mut had = false;
            for k in keys {
                let item = items.entry(k).or_default();
                item.invalidated_at = Some(item.invalidated_at.map_or(now, |at| at.max(now)));
                if let Some(e) = &mut item.entry {
                    had |= e.expires_at > now;
                    e.expires_at = e.expires_at.min(now);
                }
            }
            had
        };
        tokio::time::sleep(self.behaviour.latency).await;
        Ok(had)
    }

    async fn keys_updated_before(
        &self,
        kind: ObjectKind,
        before: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<CacheKey>, StoreError> {
        self.behaviour.read(self.clock.now(), Tier::Dynamo).await?;
        let items = lock(&self.items);
        Ok(items
            .iter()
            .filter(|(k, i)| {
                k.kind == kind
                    && i.entry.as_ref().is_some_and(|e| e.fetched_at < before && e.expires_at > now)
            })
            .map(|(k, _)| k.clone())
            .collect())
    }
}
