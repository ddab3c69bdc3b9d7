//! `Idempotency-Key` on POSTs: the first answer is saved and replayed (with
//! `Idempotent-Replayed: true`); the same key with another endpoint or other
//! parameters is an error; keys expire after the retention, oldest first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};

use super::error::ApiError;
use crate::clock::Timestamp;

/// A saved first answer.
#[derive(Debug, Clone)]
pub(crate) struct SavedReply {
    pub status: StatusCode,
    pub body: Bytes,
    pub object_version: Option<u64>,
    /// The `Request-Id` of the first request (`Original-Request` on replays).
    pub request_id: HeaderValue,
}

#[derive(Debug)]
enum Slot {
    InFlight,
    Done(Arc<SavedReply>),
}

#[derive(Debug)]
struct Entry {
    operation: String,
    fingerprint: u64,
    slot: Slot,
}

type Key = (usize, String);

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Keys in the order they were first used, with that time.
    order: VecDeque<(Key, Timestamp)>,
}

/// The outcome of presenting a key.
#[derive(Debug)]
pub(crate) enum Claim {
    /// First use: run the request, then [`IdempotencyStore::finish`].
    Fresh,
    /// Seen before with the same request: answer this.
    Replay(Arc<SavedReply>),
    /// Refused (other parameters or endpoint, or the first is still running).
    Refused(ApiError),
}

#[derive(Debug)]
pub(crate) struct IdempotencyStore {
    inner: Mutex<Inner>,
    retention: Duration,
    max_keys: usize,
}

impl IdempotencyStore {
    pub fn new(retention: Duration, max_keys: usize) -> Self {
        IdempotencyStore { inner: Mutex::default(), retention, max_keys }
    }

    /// Presents `key` for `operation` (method and path) with parameters `fingerprint`.
    pub fn claim(
        &self,
        account: usize,
        key: &str,
        operation: &str,
        fingerprint: u64,
        now: Timestamp,
    ) -> Claim {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(((_, _), at)) = inner.order.front() {
            if now.since(*at) <= self.retention && inner.order.len() < self.max_keys {
                break;
            }
            if let Some((k, _)) = inner.order.pop_front() {
                inner.entries.remove(&k);
            }
        }
        let k = (account, key.to_owned());
        match inner.entries.get(&k) {
            Some(e) if e.operation != operation => {
                Claim::Refused(ApiError::idempotency_mismatch(key, "endpoint"))
            }
            Some(e) if e.fingerprint != fingerprint => {
                Claim::Refused(ApiError::idempotency_mismatch(key, "parameters"))
            }
            Some(Entry { slot: Slot::InFlight, .. }) => Claim::Refused(ApiError::idempotency_in_use(key)),
            Some(Entry { slot: Slot::Done(saved), .. }) => Claim::Replay(Arc::clone(saved)),
            None => {
                inner.entries.insert(
                    k.clone(),
                    Entry { operation: operation.to_owned(), fingerprint, slot: Slot::InFlight },
                );
                inner.order.push_back((k, now));
                Claim::Fresh
            }
        }
    }

    /// Saves the answer of a [`Claim::Fresh`] request.
    pub fn finish(&self, account: usize, key: &str, reply: SavedReply) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = inner.entries.get_mut(&(account, key.to_owned())) {
            e.slot = Slot::Done(Arc::new(reply));
        }
    }

    /// Forgets a [`Claim::Fresh`] key whose request never ran (refused before
    /// executing), so a retry runs it.
    pub fn abandon(&self, account: usize, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let k = (account, key.to_owned());
        if matches!(inner.entries.get(&k), Some(Entry { slot: Slot::InFlight, .. })) {
            inner.entries.remove(&k);
            inner.order.retain(|(x, _)| *x != k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> SavedReply {
        SavedReply {
            status: StatusCode::OK,
            body: Bytes::from_static(b"{}"),
            object_version: Some(3),
            request_id: HeaderValue::from_static("req_1"),
        }
    }

    #[test]
    fn replays_mismatches_and_expiry() {
        let s = IdempotencyStore::new(Duration::from_secs(60), 2);
        let t0 = Timestamp::from_millis(0);
        assert!(matches!(s.claim(0, "k", "POST /a", 1, t0), Claim::Fresh));
        assert!(
            matches!(s.claim(0, "k", "POST /a", 1, t0), Claim::Refused(e) if e.status == StatusCode::CONFLICT)
        );
        s.finish(0, "k", saved());
        assert!(matches!(s.claim(0, "k", "POST /a", 1, t0), Claim::Replay(r) if r.object_version == Some(3)));
        assert!(
            matches!(s.claim(0, "k", "POST /a", 2, t0), Claim::Refused(e) if e.status == StatusCode::BAD_REQUEST)
        );
        assert!(matches!(s.claim(0, "k", "POST /b", 1, t0), Claim::Refused(_)));
        // Another account has its own keys.
        assert!(matches!(s.claim(1, "k", "POST /b", 9, t0), Claim::Fresh));
        // Past the retention the key is new again.
        let later = t0.plus(Duration::from_secs(61));
        assert!(matches!(s.claim(0, "k", "POST /a", 2, later), Claim::Fresh));
        s.abandon(0, "k");
        assert!(matches!(s.claim(0, "k", "POST /c", 5, later), Claim::Fresh));
    }
}
