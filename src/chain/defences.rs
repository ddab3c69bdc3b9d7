//! Stampede and outage defences a policy can switch on, as pure decisions the
//! live chain and the simulator share (DESIGN.md, decision 1): per-key request
//! coalescing, cross-instance leases, probabilistic early refresh (XFetch),
//! stale-while-revalidate / stale-if-error windows (RFC 5861) and negative
//! caching of 404s.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::rng;

/// Which defences a policy uses. By default none (the seed's chain).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Defences {
    /// Concurrent misses of one key in one process share one fill.
    pub coalesce: bool,
    /// Misses of one key across processes share one fill through a Redis lease.
    pub lease: Option<LeaseConfig>,
    /// XFetch's beta (Vattani et al. 2015): a hit refreshes the entry early
    /// with a probability that grows as expiry nears; 0 turns it off, 1 is the
    /// paper's optimum.
    pub early_refresh_beta: f64,
    /// After expiry, the entry is still served for this long while one caller
    /// refreshes it in the background (RFC 5861 `stale-while-revalidate`).
    pub stale_while_revalidate: Duration,
    /// After expiry, the entry is served for this long when the refresh fails
    /// (RFC 5861 `stale-if-error`): Stripe down, rate limited, budget spent.
    pub stale_if_error: Duration,
    /// How long a 404 is remembered in L1 so the same miss does not go to
    /// Stripe again; zero turns it off.
    pub negative_ttl: Duration,
}

/// A cross-instance fill lease (Nishtala et al. 2013, "Scaling Memcache at
/// Facebook", section 3.2.1): the first miss takes the lease and fills; the
/// others wait for the fill; an invalidation voids the lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How long a lease lives if its holder never fills (crashed, timed out).
    pub ttl: Duration,
    /// How long a caller without the lease waits for the holder's fill before
    /// it fetches itself.
    pub wait: Duration,
    /// How often a waiting caller looks for the fill.
    pub poll: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            ttl: Duration::from_secs(10),
            wait: Duration::from_secs(2),
            poll: Duration::from_millis(10),
        }
    }
}

/// How usable a cached entry is at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Before its expiry.
    Fresh,
    /// Expired, within the stale-while-revalidate window: serve it and refresh.
    Revalidate,
    /// Expired, within the stale-if-error window only: serve it if the refresh fails.
    IfError,
    /// Past every window: a miss.
    Dead,
}

impl Defences {
    /// How long past its expiry a tier keeps an entry, so stale serving can
    /// find it.
    #[inline]
    pub fn retention(&self) -> Duration {
        self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// Whether a stale-if-error or stale-while-revalidate window is set.
    pub fn serves_stale(&self) -> bool {
        !self.retention().is_zero()
    }

    /// How usable an entry expiring at `expires_at` is at `now`.
    #[inline]
    pub fn freshness(&self, expires_at: Timestamp, now: Timestamp) -> Freshness {
        if expires_at > now {
            return Freshness::Fresh;
        }
        let past = now.since(expires_at);
        if past < self.stale_while_revalidate {
            Freshness::Revalidate
        } else if past < self.stale_if_error {
            Freshness::IfError
        } else {
            Freshness::Dead
        }
    }

    /// XFetch: whether a hit at `now` on an entry expiring at `expires_at`
    /// refreshes it early, when a refresh takes about `delta`. The draw is
    /// deterministic in (`seed`, `salt`, `now`), so live and simulated runs of
    /// one seed decide alike.
    #[inline]
    pub fn refresh_early(
        &self,
        expires_at: Timestamp,
        now: Timestamp,
        delta: Duration,
        seed: u64,
        salt: u64,
    ) -> bool {
        if self.early_refresh_beta <= 0.0 || expires_at <= now {
            return false;
        }
        let bits = rng::mix(rng::mix(seed, salt), now.as_micros());
        // u in (0, 1], so ln(u) <= 0 and the lead is >= 0.
        let u = ((bits >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let lead = delta.as_secs_f64() * self.early_refresh_beta * -u.ln();
        now.plus(Duration::from_secs_f64(lead.min(1e9))) >= expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_millis(s * 1_000)
    }

    #[test]
    fn freshness_windows_follow_rfc_5861() {
        let d = Defences {
            stale_while_revalidate: Duration::from_secs(10),
            stale_if_error: Duration::from_secs(60),
            ..Defences::default()
        };
        assert_eq!(d.freshness(at(100), at(99)), Freshness::Fresh);
        assert_eq!(d.freshness(at(100), at(100)), Freshness::Revalidate);
        assert_eq!(d.freshness(at(100), at(109)), Freshness::Revalidate);
        assert_eq!(d.freshness(at(100), at(110)), Freshness::IfError);
        assert_eq!(d.freshness(at(100), at(160)), Freshness::Dead);
        assert_eq!(d.retention(), Duration::from_secs(60));
        assert_eq!(Defences::default().freshness(at(100), at(100)), Freshness::Dead);
        assert!(!Defences::default().serves_stale());
    }

    #[test]
    fn xfetch_refreshes_more_often_as_expiry_nears_and_never_when_off() {
        let d = Defences { early_refresh_beta: 1.0, ..Defences::default() };
        let delta = Duration::from_millis(300);
        let share = |left_ms: u64| {
            let hits = (0..10_000u64)
                .filter(|i| {
                    let now = Timestamp::from_millis(1_000_000 + i);
                    d.refresh_early(now.plus(Duration::from_millis(left_ms)), now, delta, 7, 42)
                })
                .count();
            hits as f64 / 10_000.0
        };
        // P(refresh) = P(delta * -ln u >= left) = exp(-left / delta).
        for left in [30u64, 300, 900] {
            let want = (-(left as f64) / 300.0).exp();
            assert!((share(left) - want).abs() < 0.02, "left {left} ms: {} vs {want}", share(left));
        }
        let off = Defences::default();
        assert!(!off.refresh_early(at(101), at(100), Duration::from_secs(100), 1, 1));
    }
}
