//! The Stripe domain shared by the mock and the chain: the kinds of object a cache
//! holds, and the cache key of each, scoped by connected account; object shapes,
//! events and the cache keys they invalidate, webhook signing and verifying.

pub mod events;
mod key;
mod kind;
pub mod objects;
pub mod webhook;

pub use key::{CacheKey, KeyParseError};
pub use kind::{KindParseError, ObjectKind};

/// Response header in which the mock Stripe tells the version of the object it
/// served (ground truth for staleness). Real Stripe sends no such header; the
/// chain then uses the fetch time as the version.
pub const OBJECT_VERSION_HEADER: &str = "tierbench-object-version";

/// The API version tierbench speaks by default (facts/stripe.md).
pub const DEFAULT_API_VERSION: &str = "2026-07-29.dahlia";
