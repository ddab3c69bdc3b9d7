//! In-process request coalescing ("singleflight"): concurrent misses of one key
//! share the first caller's fill instead of each going to Stripe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::stripe::CacheKey;

type Slot<T> = watch::Receiver<Option<T>>;

/// The fills in flight, by key. Share one (`Arc`) among the chains of one
/// process to coalesce across them.
#[derive(Debug)]
pub struct Flights<T> {
    inflight: Mutex<HashMap<CacheKey, Slot<T>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights { inflight: Mutex::new(HashMap::new()) }
    }
}

/// A caller's part in a flight.
pub enum Role<'a, T> {
    /// Do the work and [`Leader::finish`] with its result.
    Leader(Leader<'a, T>),
    /// Someone else is doing it: [`Follower::wait`] for their result.
    Follower(Follower<T>),
}

/// The caller doing the work. Dropping it without finishing (cancelled,
/// panicked) lets the followers try again themselves.
pub struct Leader<'a, T> {
    flights: &'a Flights<T>,
    key: CacheKey,
    tx: watch::Sender<Option<T>>,
}

/// A caller waiting for the leader.
pub struct Follower<T> {
    rx: Slot<T>,
}

impl<T: Clone> Flights<T> {
    /// Joins the flight of `key`, leading it when none is in the air.
    pub fn join(&self, key: &CacheKey) -> Role<'_, T> {
        let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rx) = map.get(key)
            && rx.has_changed().is_ok()
        {
            return Role::Follower(Follower { rx: rx.clone() });
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.clone(), rx);
        Role::Leader(Leader { flights: self, key: key.clone(), tx })
    }

    /// Keys with a fill in flight now.
    pub fn len(&self) -> usize {
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no fill is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Leader<'_, T> {
    /// Hands `result` to every follower and lands the flight.
    pub fn finish(self, result: T) {
        self.tx.send_replace(Some(result));
    }
}

impl<T> Drop for Leader<'_, T> {
    fn drop(&mut self) {
        let mut map = self.flights.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if map.get(&self.key).is_some_and(|rx| rx.same_channel(&self.tx.subscribe())) {
            map.remove(&self.key);
        }
    }
}

impl<T: Clone> Follower<T> {
    /// The leader's result; `None` when the leader gave up without one.
    pub async fn wait(mut self) -> Option<T> {
        loop {
            if let Some(v) = self.rx.borrow_and_update().clone() {
                return Some(v);
            }
            if self.rx.changed().await.is_err() {
                return self.rx.borrow().clone();
            }
        }
    }
}

/// A flight group shared by several chains.
pub type SharedFlights<T> = Arc<Flights<T>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::ObjectKind;

    #[tokio::test]
    async fn followers_get_the_leaders_result_and_a_new_flight_starts_after() {
        let flights = Flights::<u32>::default();
        let key = CacheKey::new(ObjectKind::Customer, "cus_1");
        let Role::Leader(leader) = flights.join(&key) else { panic!("first caller leads") };
        let followers: Vec<_> = (0..3)
            .map(|_| match flights.join(&key) {
                Role::Follower(f) => f,
                Role::Leader(_) => panic!("a flight is in the air"),
            })
            .collect();
        leader.finish(7);
        for f in followers {
            assert_eq!(f.wait().await, Some(7));
        }
        assert!(flights.is_empty());
        assert!(matches!(flights.join(&key), Role::Leader(_)));
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers_empty_handed() {
        let flights = Flights::<u32>::default();
        let key = CacheKey::new(ObjectKind::Invoice, "in_1");
        let leader = flights.join(&key);
        let Role::Follower(f) = flights.join(&key) else { panic!("follows") };
        drop(leader);
        assert_eq!(f.wait().await, None);
        assert!(matches!(flights.join(&key), Role::Leader(_)));
    }
}
