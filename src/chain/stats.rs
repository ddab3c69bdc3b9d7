//! What the chain counted: hits and misses per tier, fills, promotions,
//! conflicts, checksum failures, invalidations and tier errors.

use std::sync::atomic::{AtomicU64, Ordering};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Live counters, shared by every caller of one chain.
        #[derive(Debug, Default)]
        pub struct ChainStats {
            $( $(#[$doc])* pub $name: AtomicU64, )*
        }

        /// A copy of [`ChainStats`] at one moment; adds up across chains.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        pub struct ChainCounters {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl ChainStats {
            /// The counters now.
            pub fn snapshot(&self) -> ChainCounters {
                ChainCounters { $( $name: self.$name.load(Ordering::Relaxed), )* }
            }
        }

        /// One of the chain's counters, named as its field.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Counter {
            $( $(#[$doc])* $name, )*
        }

        impl Count for ChainCounters {
            #[inline]
            fn bump(&mut self, c: Counter) {
                match c { $( Counter::$name => self.$name += 1, )* }
            }
        }

        impl Count for &ChainStats {
            #[inline]
            fn bump(&mut self, c: Counter) {
                let a = match c { $( Counter::$name => &self.$name, )* };
                a.fetch_add(1, Ordering::Relaxed);
            }
        }

        impl std::ops::AddAssign for ChainCounters {
            fn add_assign(&mut self, other: ChainCounters) {
                $( self.$name += other.$name; )*
            }
        }
    };
}

/// Where the read path counts: live, the shared atomic [`ChainStats`]; in
/// the simulator, plain [`ChainCounters`].
pub trait Count {
    /// Adds one to `c`.
    fn bump(&mut self, c: Counter);
}

counters! {
    /// Reads served from L1.
    l1_hits,
    /// Reads L1 could not serve (absent, expired, corrupt or failed).
    l1_misses,
    /// Reads served from L2.
    l2_hits,
    /// Reads that reached L2 and went on to the origin.
    l2_misses,
    /// L2 reads that found an item at or past its expiry (DynamoDB had not
    /// deleted it yet): counted as misses.
    l2_expired,
    /// Origin fetches that returned an object.
    origin_fetches,
    /// Origin fetches that failed.
    origin_errors,
    /// Entries written to L1 after an origin fetch.
    l1_fills,
    /// Entries written to L2 after an origin fetch.
    l2_fills,
    /// L2 hits copied into L1.
    promotions,
    /// L1 writes refused because L1 held a newer version.
    l1_conflicts,
    /// L2 writes refused because L2 held a newer version.
    l2_conflicts,
    /// L2 writes skipped because L2 already held that version, live and intact.
    l2_current,
    /// L1 entries whose checksum did not match or that could not be decoded.
    l1_checksum_failures,
    /// L2 entries whose checksum did not match or that could not be decoded.
    l2_checksum_failures,
    /// Keys invalidated.
    invalidations,
    /// L1 operations that failed (Redis unreachable, timeout).
    l1_errors,
    /// L2 operations that failed (DynamoDB unreachable, timeout, throttled).
    l2_errors,
    /// Misses that waited for another caller's fill in this process.
    coalesced,
    /// Misses that found another instance's fill lease taken and waited.
    lease_waits,
    /// Lease waits that ended without the holder's fill (then fetched alone).
    lease_timeouts,
    /// Hits that refreshed the entry early (XFetch).
    early_refreshes,
    /// Background refreshes (early or stale-while-revalidate) that filled.
    refreshes,
    /// Reads served past expiry inside the stale-while-revalidate window.
    stale_served,
    /// Reads served past expiry because the origin failed (stale-if-error).
    stale_if_error,
    /// 404s remembered in L1 (negative caching).
    negative_fills,
    /// Reads answered "not found" from a remembered 404.
    negative_hits,
    /// Writes refused because the key was invalidated after the data was
    /// fetched (a resurrection prevented).
    resurrections_refused,
}

impl ChainStats {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
