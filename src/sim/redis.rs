//! Redis (ElastiCache) as the simulator models it: entries with a version and
//! an absolute expiry, lazy expiry on access, and `maxmemory` with Redis's
//! eviction policies approximated the way Redis does it: sample a few keys,
//! evict the best candidate (oldest access, lowest LFU counter, soonest
//! expiry). Memory per entry counts the key, the envelope and Redis's own
//! per-key overhead.

use crate::rng::SplitMix;
use crate::sim::space::Key;

/// Redis's own bytes per key (dict entry, key and value objects, expires
/// entry), about what `MEMORY USAGE` adds beyond key and value.
pub const PER_KEY_OVERHEAD_BYTES: u64 = 90;

/// Which key goes when memory is full (`maxmemory-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// `allkeys-lru`, approximated by sampling (`samples` keys per eviction).
    /// Every cache key has a TTL, so `volatile-lru` (ElastiCache's default)
    /// behaves the same.
    AllKeysLru {
        /// `maxmemory-samples` (Redis's default 5).
        samples: u32,
    },
    /// `allkeys-lfu`: Redis's logarithmic access counter with decay.
    AllKeysLfu {
        /// `maxmemory-samples`.
        samples: u32,
    },
    /// `volatile-ttl`: the sampled key closest to its expiry.
    VolatileTtl {
        /// `maxmemory-samples`.
        samples: u32,
    },
    /// Exact least-recently-used (a reference for the sampled policies).
    ExactLru,
}

impl Eviction {
    /// The policy named as Redis names it (`allkeys-lru`, `volatile-lru`,
    /// `allkeys-lfu`, `volatile-lfu`, `volatile-ttl`) or `exact-lru`.
    pub fn parse(name: &str, samples: u32) -> Result<Self, String> {
        match name {
            "allkeys-lru" | "volatile-lru" => Ok(Eviction::AllKeysLru { samples }),
            "allkeys-lfu" | "volatile-lfu" => Ok(Eviction::AllKeysLfu { samples }),
            "volatile-ttl" => Ok(Eviction::VolatileTtl { samples }),
            "exact-lru" => Ok(Eviction::ExactLru),
            other => Err(format!(
                "unknown eviction policy {other:?}: use allkeys-lru, volatile-lru, allkeys-lfu, \
                 volatile-lfu, volatile-ttl or exact-lru"
            )),
        }
    }
}

const NONE: u32 = u32::MAX;
/// Redis's `LFU_INIT_VAL` and default `lfu-log-factor` and `lfu-decay-time` (1 min).
const LFU_INIT: u8 = 5;
const LFU_LOG_FACTOR: f64 = 10.0;
const LFU_DECAY_US: u64 = 60_000_000;

#[derive(Clone, Copy, Debug)]
struct Slot {
    /// 0: absent.
    version: u32,
    /// Index in `resident`.
    pos: u32,
    expires: u64,
    access: u64,
    bytes: u32,
    lfu: u8,
}

const EMPTY: Slot = Slot { version: 0, pos: NONE, expires: 0, access: 0, bytes: 0, lfu: 0 };

/// The L1 model.
#[derive(Debug)]
pub struct RedisModel {
    slots: Vec<Slot>,
    resident: Vec<Key>,
    /// Exact LRU only: a doubly linked list, head the most recent.
    links: Vec<(u32, u32)>,
    head: u32,
    tail: u32,
    used: u64,
    capacity: Option<u64>,
    eviction: Eviction,
    evictions: u64,
    rng: SplitMix,
}

impl RedisModel {
    /// An empty Redis over `keys` keys holding at most `capacity` bytes
    /// (`None`: unbounded), evicting by `eviction`.
    pub fn new(keys: usize, capacity: Option<u64>, eviction: Eviction, seed: u64) -> Self {
        let exact = eviction == Eviction::ExactLru && capacity.is_some();
        RedisModel {
            slots: vec![EMPTY; keys],
            resident: Vec::new(),
            links: if exact { vec![(NONE, NONE); keys] } else { Vec::new() },
            head: NONE,
            tail: NONE,
            used: 0,
            capacity,
            eviction,
            evictions: 0,
            rng: SplitMix::new(seed),
        }
    }

    /// The entry of `key` at `now` as `(version, expires µs)`; an entry past
    /// `expires + retention` is deleted on access, as Redis expires lazily
    /// (the retention is the policy's stale window, added to the TTL).
    pub fn get(&mut self, key: Key, now: u64, retention: u64) -> Option<(u32, u64)> {
        let s = self.slots[key as usize];
        if s.version == 0 {
            return None;
        }
        if now >= s.expires.saturating_add(retention) {
            self.remove(key);
            return None;
        }
        self.touch(key, now);
        Some((s.version, s.expires))
    }

    /// Sets `key` to `version` until `expires` (plus `retention` kept for stale
    /// serving), then evicts while over `maxmemory`.
    pub fn set(&mut self, key: Key, version: u32, expires: u64, bytes: u64, now: u64) {
        let i = key as usize;
        if self.slots[i].version == 0 {
            self.slots[i].pos = self.resident.len() as u32;
            self.resident.push(key);
            self.slots[i].lfu = LFU_INIT;
            self.link_front(key);
        } else {
            self.used -= u64::from(self.slots[i].bytes);
        }
        let bytes = u32::try_from(bytes + PER_KEY_OVERHEAD_BYTES).unwrap_or(u32::MAX);
        let s = &mut self.slots[i];
        (s.version, s.expires, s.bytes) = (version.max(1), expires, bytes);
        self.used += u64::from(bytes);
        self.touch(key, now);
        while self.capacity.is_some_and(|c| self.used > c) && self.resident.len() > 1 {
            self.evict_one(key, now);
        }
    }

    /// The version `key` holds, without touching it (0: none).
    pub fn version(&self, key: Key) -> u32 {
        self.slots[key as usize].version
    }

    /// The version `key` holds at `now` (0: none, or expired past `retention`:
    /// Redis has dropped it, so it refuses no write).
    pub fn live_version(&self, key: Key, now: u64, retention: u64) -> u32 {
        let s = self.slots[key as usize];
        if now >= s.expires.saturating_add(retention) { 0 } else { s.version }
    }

    /// Deletes `key` (`DEL`); whether it was there.
    pub fn delete(&mut self, key: Key) -> bool {
        let there = self.slots[key as usize].version != 0;
        if there {
            self.remove(key);
        }
        there
    }

    /// Empties Redis (a restart without persistence).
    pub fn flush(&mut self) {
        while let Some(&k) = self.resident.last() {
            self.remove(k);
        }
    }

    /// Bytes held.
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    /// Keys held (expired ones not yet removed included).
    pub fn keys(&self) -> usize {
        self.resident.len()
    }

    /// Keys evicted for memory.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    fn touch(&mut self, key: Key, now: u64) {
        let s = &mut self.slots[key as usize];
        if let Eviction::AllKeysLfu { .. } = self.eviction {
            let decay = now.saturating_sub(s.access) / LFU_DECAY_US;
            s.lfu = s.lfu.saturating_sub(u8::try_from(decay).unwrap_or(u8::MAX));
            let base = f64::from(s.lfu.saturating_sub(LFU_INIT));
            if s.lfu < 255 && self.rng.unit() < 1.0 / (base * LFU_LOG_FACTOR + 1.0) {
                s.lfu += 1;
            }
        }
        s.access = now;
        if !self.links.is_empty() {
            self.unlink(key);
            self.link_front(key);
        }
    }

    fn evict_one(&mut self, keep: Key, now: u64) {
        let victim = match self.eviction {
            Eviction::ExactLru => self.tail,
            Eviction::AllKeysLru { samples } => self.sample(samples, keep, |s| s.access),
            Eviction::AllKeysLfu { samples } => self.sample(samples, keep, |s| {
                let decay = now.saturating_sub(s.access) / LFU_DECAY_US;
                u64::from(s.lfu).saturating_sub(decay)
            }),
            Eviction::VolatileTtl { samples } => self.sample(samples, keep, |s| s.expires),
        };
        if victim != NONE && victim != keep {
            self.remove(victim);
            self.evictions += 1;
        } else if let Some(&other) = self.resident.iter().find(|k| **k != keep) {
            self.remove(other);
            self.evictions += 1;
        }
    }

    /// Of `samples` random resident keys (never `keep`), the one with the lowest `score`.
    fn sample(&mut self, samples: u32, keep: Key, score: impl Fn(&Slot) -> u64) -> Key {
        let mut best = (u64::MAX, NONE);
        for _ in 0..samples.max(1) {
            let k = self.resident[self.rng.below(self.resident.len() as u64) as usize];
            let v = score(&self.slots[k as usize]);
            if k != keep && v < best.0 {
                best = (v, k);
            }
        }
        best.1
    }

    fn remove(&mut self, key: Key) {
        let i = key as usize;
        let pos = self.slots[i].pos as usize;
        self.used -= u64::from(self.slots[i].bytes);
        let last = self.resident.pop().unwrap_or(key);
        if last != key {
            self.resident[pos] = last;
            self.slots[last as usize].pos = pos as u32;
        }
        self.unlink(key);
        self.slots[i] = EMPTY;
    }

    fn link_front(&mut self, key: Key) {
        if self.links.is_empty() {
            return;
        }
        self.links[key as usize] = (NONE, self.head);
        if self.head != NONE {
            self.links[self.head as usize].0 = key;
        }
        self.head = key;
        if self.tail == NONE {
            self.tail = key;
        }
    }

    fn unlink(&mut self, key: Key) {
        if self.links.is_empty() {
            return;
        }
        let (prev, next) = self.links[key as usize];
        if prev != NONE {
            self.links[prev as usize].1 = next;
        } else if self.head == key {
            self.head = next;
        }
        if next != NONE {
            self.links[next as usize].0 = prev;
        } else if self.tail == key {
            self.tail = prev;
        }
        self.links[key as usize] = (NONE, NONE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_go_on_access_and_stale_retention_keeps_them() {
        let mut r = RedisModel::new(4, None, Eviction::AllKeysLru { samples: 5 }, 1);
        r.set(1, 3, 100, 10, 0);
        assert_eq!(r.get(1, 99, 0), Some((3, 100)));
        assert_eq!(r.get(1, 150, 60), Some((3, 100)), "inside the stale window");
        assert_eq!(r.get(1, 160, 60), None);
        assert_eq!((r.keys(), r.used_bytes()), (0, 0));
    }

    #[test]
    fn exact_lru_evicts_the_least_recently_used() {
        let per = 10 + PER_KEY_OVERHEAD_BYTES;
        let mut r = RedisModel::new(8, Some(3 * per), Eviction::ExactLru, 1);
        for k in 0..3 {
            r.set(k, 1, 1_000, 10, u64::from(k));
        }
        r.get(0, 5, 0);
        r.set(3, 1, 1_000, 10, 6);
        assert_eq!(r.version(1), 0, "key 1 was the least recently used");
        assert!(r.version(0) == 1 && r.version(2) == 1 && r.version(3) == 1);
        assert_eq!((r.evictions(), r.keys()), (1, 3));
        assert!(r.delete(0) && !r.delete(0));
        r.flush();
        assert_eq!((r.keys(), r.used_bytes()), (0, 0));
    }

    #[test]
    fn sampled_policies_stay_within_maxmemory() {
        for e in ["allkeys-lru", "allkeys-lfu", "volatile-ttl"] {
            let e = Eviction::parse(e, 5).unwrap();
            let mut r = RedisModel::new(1_000, Some(50 * 100), e, 3);
            for k in 0..1_000u32 {
                r.set(k, 1, u64::from(k) * 7, 10, u64::from(k));
                assert!(r.used_bytes() <= 50 * 100);
            }
            assert!(r.keys() >= 49 && r.evictions() >= 900, "{e:?}: {}", r.keys());
        }
        assert!(Eviction::parse("noeviction", 5).unwrap_err().contains("allkeys-lru"));
    }
}
