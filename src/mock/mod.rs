//! The mock Stripe server: a seeded, stateful population served over HTTP with
//! Stripe's answers, latency, rate limits, faults and signed webhooks, plus the
//! ground truth a harness needs to measure staleness.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tierbench::mock::{MockConfig, MockStripe};
//! use tierbench::stripe::{CacheKey, ObjectKind};
//!
//! let mock = MockStripe::spawn(MockConfig::unthrottled()).await?;
//! let handle = mock.handle().clone();
//! let customer = handle.customer_ids(None)[0].clone();
//! let key = CacheKey::new(ObjectKind::Customer, customer);
//! let before = handle.truth(&key).unwrap().version;
//! handle.mutate(&key)?; // bumps the version and emits customer.updated
//! assert!(handle.truth(&key).unwrap().version > before);
//! mock.stop().await?;
//! # Ok(()) }
//! ```

mod admin;
mod api;
mod auth;
mod config;
mod conn;
mod counters;
mod endpoint;
mod error;
mod expand;
mod faults;
mod handle;
mod idempotency;
pub(crate) mod limits;
mod params;
mod population;
mod reads;
use crate::rng;
mod server;
mod state;
mod truth;
mod webhooks;
mod writes;

pub use auth::ApiMode;
pub use config::{
    ConfigError, FaultConfig, FaultKind, LatencyConfig, LatencyDist, LimitsConfig, MockConfig,
    MutationConfig, OutageWindow, PadBytes, PopulationConfig, WebhookConfig, WebhookEndpointConfig, Window,
};
pub use counters::{CounterSnapshot, Faults, RateLimited, Webhooks};
pub use endpoint::{Endpoint, EndpointParseError};
pub use error::{MockError, MutationError};
pub use handle::{EmittedEvent, MockHandle};
pub use population::invoice_count;
pub use server::{MockStripe, RunningMock, serve};
pub use truth::Truth;
