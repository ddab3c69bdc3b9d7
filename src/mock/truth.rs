//! Ground truth: the current version of the data behind any cache key and when
//! it changed, and when an older version stopped being true (for staleness).

use serde::Serialize;

use super::endpoint::{Endpoint, Route};
use super::params::Params;
use super::reads::answer;
use super::state::{State, Track};
use crate::clock::Timestamp;
use crate::stripe::{CacheKey, ObjectKind};

/// The true state of the data behind a cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Truth {
    /// The version the mock serves now (what its version header says).
    pub version: u64,
    /// When the data took that version.
    pub changed_at: Timestamp,
}

/// The track of `key`'s data without expansions.
fn track<'a>(state: &'a State, key: &CacheKey) -> Option<&'a Track> {
    let acc = &state.accounts[state.account_of(key.account.as_deref())?];
    match key.kind {
        ObjectKind::Customer => acc.customers.get(&key.id).map(|c| &c.obj.track),
        ObjectKind::Subscriptions => acc.customers.get(&key.id).map(|c| &c.subscriptions_track),
        ObjectKind::PaymentMethods => acc.customers.get(&key.id).map(|c| &c.payment_methods_track),
        ObjectKind::Invoice => acc.invoices.get(&key.id).map(|i| &i.obj.track),
    }
}

/// The truth of `key` (account-scoped; with expansions, the newest of the object
/// and what it expands to); `None` when the data does not exist.
pub(crate) fn truth(state: &State, key: &CacheKey) -> Option<Truth> {
    if key.expand.is_empty() {
        return track(state, key).map(|t| Truth { version: t.version, changed_at: t.changed_at });
    }
    let account = state.account_of(key.account.as_deref())?;
    let (endpoint, query) = match key.kind {
        ObjectKind::Customer => (Endpoint::CustomerRetrieve, String::new()),
        ObjectKind::Subscriptions => (Endpoint::SubscriptionList, format!("customer={}&", key.id)),
        ObjectKind::PaymentMethods => (Endpoint::PaymentMethodList, String::new()),
        ObjectKind::Invoice => (Endpoint::InvoiceRetrieve, String::new()),
    };
    let query: String = key.expand.iter().fold(query, |q, e| format!("{q}expand[]={e}&"));
    let route = Route { endpoint, id: if endpoint == Endpoint::SubscriptionList { "" } else { &key.id } };
    let a = answer(state, account, route, &Params::parse(Some(&query), &[])).ok()?;
    Some(Truth { version: a.fresh.version, changed_at: a.fresh.changed_at })
}

/// When `version` of `key`'s data (without expansions) stopped being true;
/// `None` while it is current or when the data does not exist.
pub(crate) fn superseded_at(state: &State, key: &CacheKey, version: u64) -> Option<Timestamp> {
    track(state, key)?.superseded_at(version)
}
