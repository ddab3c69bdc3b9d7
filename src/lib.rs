//! tierbench: a cache-tier simulator and load-testing harness for applications
//! that put Redis (L1) and DynamoDB (L2) in front of the Stripe API.
//!
//! The heart is [`chain::CacheChain`], the read-through chain of the seed
//! architecture, over real tiers ([`store::RedisL1`], [`store::DynamoL2`]) and
//! an HTTP origin ([`origin::StripeHttp`]); [`backends`] provisions real Redis
//! and DynamoDB Local for it.
//!
//! ```no_run
//! use tierbench::chain::{CacheChain, TtlPolicy};
//! use tierbench::clock::SystemClock;
//! use tierbench::origin::{StripeHttp, StripeHttpOptions};
//! use tierbench::store::{DynamoL2, DynamoOptions, RedisL1, RedisOptions};
//! use tierbench::stripe::{CacheKey, ObjectKind};
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let clock = SystemClock::shared();
//! let l1 = RedisL1::connect(&RedisOptions::default()).await?;
//! let l2 = DynamoL2::connect(&DynamoOptions::default()).await?;
//! let origin = StripeHttp::new(StripeHttpOptions::default(), clock.clone())?;
//! let chain = CacheChain::new(l1, l2, origin, TtlPolicy::default(), clock);
//! let served = chain.read(&CacheKey::new(ObjectKind::Customer, "cus_123")).await?;
//! println!("{:?} served version {}", served.layer, served.entry.version);
//! # Ok(()) }
//! ```

/// Implements `AddAssign` as a field-by-field sum (counters of shards, callers
/// or chains adding up). The destructuring makes a field added to the type a
/// compile error here until it is summed too.
macro_rules! sum_fields {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        impl std::ops::AddAssign for $ty {
            fn add_assign(&mut self, other: Self) {
                let Self { $($field),* } = other;
                $( self.$field += $field; )*
            }
        }
    };
}

pub mod backends;
pub mod chain;
pub mod check;
pub mod cli;
pub mod clock;
pub mod cost;
pub mod harness;
pub mod metrics;
pub mod mock;
pub mod origin;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod store;
pub mod stripe;
pub mod workload;
