//! The in-process handle on a mock: its address, ground truth, counters,
//! mutations, webhook endpoints and fault windows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;

use super::config::{ConfigError, MockConfig, OutageWindow, WebhookConfig, WebhookEndpointConfig};
use super::counters::CounterSnapshot;
use super::error::MutationError;
use super::server::Shared;
use super::truth::{self, Truth};
use super::writes::Target;
use crate::clock::Timestamp;
use crate::stripe::CacheKey;

/// An event the mock emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmittedEvent {
    /// `evt_...`.
    pub id: String,
    /// `customer.updated`, ...
    pub event_type: String,
    /// The connected account, `None` for the platform.
    pub account: Option<String>,
    /// The id of the object it carries.
    pub object_id: String,
    /// When it was emitted (the change's time).
    pub at: Timestamp,
    /// The exact JSON body webhook endpoints receive (and that is signed).
    pub body: Bytes,
}

/// A cheap, cloneable handle on a [`super::MockStripe`].
#[derive(Clone, Debug)]
pub struct MockHandle {
    shared: Arc<Shared>,
}

impl MockHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        MockHandle { shared }
    }

    /// The address it serves on, once serving.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.shared.addr.get().copied()
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &MockConfig {
        &self.shared.config
    }

    /// The current version of the data behind `key` and when it changed
    /// (scoped by the key's account; with expansions, the newest of the object
    /// and the objects it expands to). `None` when there is no such data.
    pub fn truth(&self, key: &CacheKey) -> Option<Truth> {
        truth::truth(&self.shared.read(), key)
    }

    /// When `version` of `key`'s data stopped being true (the time of the next
    /// change), `None` while it is current. Expansions are ignored. For versions
    /// older than the last 16 changes, the oldest change remembered.
    pub fn superseded_at(&self, key: &CacheKey, version: u64) -> Option<Timestamp> {
        truth::superseded_at(&self.shared.read(), key, version)
    }

    /// The counters now.
    pub fn counters(&self) -> CounterSnapshot {
        self.shared.counters.snapshot()
    }

    /// Changes the data behind `key` (a customer's fields; one of a customer's
    /// subscriptions or payment methods; an invoice), bumps its version and
    /// emits the event(s), which webhook endpoints then receive.
    ///
    /// # Errors
    /// When the key names no account, object or collection member.
    pub fn mutate(&self, key: &CacheKey) -> Result<Vec<EmittedEvent>, MutationError> {
        self.shared.mutate(Target::Key(key))
    }

    /// Makes one random mutation, as the driver does.
    ///
    /// # Errors
    /// Only when the population offers nothing to change.
    pub fn mutate_random(&self) -> Result<Vec<EmittedEvent>, MutationError> {
        self.shared.mutate(Target::Random)
    }

    /// Registers a webhook endpoint; returns its id (`we_...`).
    ///
    /// # Errors
    /// When the URL is not http(s) or there is no secret.
    pub fn add_webhook_endpoint(&self, endpoint: WebhookEndpointConfig) -> Result<String, ConfigError> {
        let check = MockConfig {
            webhooks: WebhookConfig {
                endpoints: vec![endpoint.clone()],
                ..self.shared.config.webhooks.clone()
            },
            ..MockConfig::unthrottled()
        };
        check.validate()?;
        Ok(self.shared.webhooks.register(endpoint))
    }

    /// Replaces the signing secrets of endpoint `id` (during a rotation, pass
    /// old and new: each delivery then carries one `v1` per secret). False when
    /// there is no such endpoint.
    pub fn set_webhook_secrets(&self, id: &str, secrets: Vec<String>) -> bool {
        self.shared.webhooks.set_secrets(id, secrets)
    }

    /// Adds a fault window (its start counts from when the mock was built; see
    /// [`MockHandle::elapsed`]).
    pub fn add_outage(&self, window: OutageWindow) {
        self.shared.faults.add(window);
    }

    /// Removes every fault window.
    pub fn clear_outages(&self) {
        self.shared.faults.clear();
    }

    /// Time since the mock was built, on its clock.
    pub fn elapsed(&self) -> Duration {
        self.shared.elapsed()
    }

    /// The connected accounts (`acct_...`), in order; the platform is not listed.
    pub fn connected_accounts(&self) -> Vec<String> {
        self.shared.read().accounts.iter().filter_map(|a| a.id.clone()).collect()
    }

    /// The customer ids of `account` (`None`: the platform), newest first.
    pub fn customer_ids(&self, account: Option<&str>) -> Vec<String> {
        let state = self.shared.read();
        state.account_of(account).map(|i| state.accounts[i].customer_order.clone()).unwrap_or_default()
    }

    /// The invoice ids of `account`, newest first.
    pub fn invoice_ids(&self, account: Option<&str>) -> Vec<String> {
        let state = self.shared.read();
        state.account_of(account).map(|i| state.accounts[i].invoice_order.clone()).unwrap_or_default()
    }

    /// Payment methods of `account` attached to no customer.
    pub fn unattached_payment_methods(&self, account: Option<&str>) -> Vec<String> {
        let state = self.shared.read();
        state.account_of(account).map(|i| state.accounts[i].unattached.clone()).unwrap_or_default()
    }
}
