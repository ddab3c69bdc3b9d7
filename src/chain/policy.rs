//! The chain's pure decisions: how long a fill or promotion lives in each tier.
//! Live and simulated runs share these (DESIGN.md, decision 1).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::stripe::ObjectKind;

/// A cache tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Redis (ElastiCache).
    L1,
    /// DynamoDB.
    L2,
}

/// TTLs per kind and tier, with optional jitter.
///
/// By default it holds the seed article's values: L2 customer 24 h,
/// subscriptions 1 h, payment methods 2 h, anything else 24 h; L1 1 h for every
/// kind; no jitter.
#[derive(Clone, Debug, PartialEq)]
pub struct TtlPolicy {
    /// L1 TTL per kind; kinds not listed use `l1_default`.
    pub l1: BTreeMap<ObjectKind, Duration>,
    /// L1 TTL of kinds not in `l1`.
    pub l1_default: Duration,
    /// L2 TTL per kind; kinds not listed use `l2_default`.
    pub l2: BTreeMap<ObjectKind, Duration>,
    /// L2 TTL of kinds not in `l2`.
    pub l2_default: Duration,
    /// Fraction (0 to <1) by which a fill's TTL is shortened at random, so keys
    /// filled together do not expire together. 0 disables jitter.
    pub jitter: f64,
    /// Seed of the jitter (and of early-refresh draws): the same seed, key and
    /// time give the same decision.
    pub jitter_seed: u64,
    /// Stampede and outage defences. By default none.
    pub defences: super::Defences,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        let hours = |h: u64| Duration::from_secs(h * 3_600);
        TtlPolicy {
            l1: BTreeMap::new(),
            l1_default: hours(1),
            l2: BTreeMap::from([
                (ObjectKind::Customer, hours(24)),
                (ObjectKind::Subscriptions, hours(1)),
                (ObjectKind::PaymentMethods, hours(2)),
            ]),
            l2_default: hours(24),
            jitter: 0.0,
            jitter_seed: 0,
            defences: super::Defences::default(),
        }
    }
}

impl TtlPolicy {
    /// One TTL for every kind in each tier, without jitter.
    pub fn uniform(l1: Duration, l2: Duration) -> Self {
        TtlPolicy {
            l1: BTreeMap::new(),
            l1_default: l1,
            l2: BTreeMap::new(),
            l2_default: l2,
            jitter: 0.0,
            jitter_seed: 0,
            defences: super::Defences::default(),
        }
    }

    /// The configured TTL of `kind` in `tier`, before jitter.
    #[inline]
    pub fn ttl(&self, tier: Tier, kind: ObjectKind) -> Duration {
        match tier {
            Tier::L1 => self.l1.get(&kind).copied().unwrap_or(self.l1_default),
            Tier::L2 => self.l2.get(&kind).copied().unwrap_or(self.l2_default),
        }
    }

    /// The TTL a fill at `now` of the key salted `salt` ([`super::key_salt`])
    /// gets in `tier`: the configured TTL shortened by up to `jitter` of
    /// itself, deterministically.
    #[inline]
    pub fn fill_ttl(&self, tier: Tier, kind: ObjectKind, salt: u64, now: Timestamp) -> Duration {
        let ttl = self.ttl(tier, kind);
        if self.jitter <= 0.0 {
            return ttl;
        }
        let h = crate::rng::mix(crate::rng::mix(self.jitter_seed ^ (tier as u64), salt), now.as_micros());
        let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
        ttl.mul_f64(1.0 - self.jitter.min(0.999) * unit)
    }

    /// The L1 TTL of an L2 entry promoted at `now`: the rest of its L2 lifetime,
    /// capped by the L1 TTL. `None` when the L2 entry has expired.
    #[inline]
    pub fn promote_ttl(
        &self,
        kind: ObjectKind,
        l2_expires_at: Timestamp,
        now: Timestamp,
    ) -> Option<Duration> {
        let remaining = l2_expires_at.since(now);
        (!remaining.is_zero()).then(|| remaining.min(self.ttl(Tier::L1, kind)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let p = TtlPolicy::default();
        assert_eq!(p.ttl(Tier::L2, ObjectKind::Customer), Duration::from_secs(86_400));
        assert_eq!(p.ttl(Tier::L2, ObjectKind::Subscriptions), Duration::from_secs(3_600));
        assert_eq!(p.ttl(Tier::L2, ObjectKind::PaymentMethods), Duration::from_secs(7_200));
        assert_eq!(p.ttl(Tier::L2, ObjectKind::Invoice), Duration::from_secs(86_400));
        for k in ObjectKind::ALL {
            assert_eq!(p.ttl(Tier::L1, k), Duration::from_secs(3_600));
        }
    }

    #[test]
    fn promotion_never_outlives_the_l2_entry() {
        let p = TtlPolicy::default();
        let now = Timestamp::from_millis(1_000_000);
        let soon = now.plus(Duration::from_secs(90));
        assert_eq!(p.promote_ttl(ObjectKind::Customer, soon, now), Some(Duration::from_secs(90)));
        let late = now.plus(Duration::from_secs(10 * 3_600));
        assert_eq!(p.promote_ttl(ObjectKind::Customer, late, now), Some(Duration::from_secs(3_600)));
        assert_eq!(p.promote_ttl(ObjectKind::Customer, now, now), None);
    }

    #[test]
    fn jitter_shortens_within_bounds_and_is_deterministic() {
        let p = TtlPolicy { jitter: 0.2, jitter_seed: 42, ..TtlPolicy::default() };
        let now = Timestamp::from_millis(5);
        let full = p.ttl(Tier::L1, ObjectKind::Customer);
        let ttls: Vec<_> = (0..200).map(|i| p.fill_ttl(Tier::L1, ObjectKind::Customer, i, now)).collect();
        assert!(ttls.iter().all(|t| *t <= full && *t >= full.mul_f64(0.8)));
        assert!(ttls.iter().any(|t| *t < full.mul_f64(0.95)), "jitter had no effect");
        assert_eq!(ttls[7], p.fill_ttl(Tier::L1, ObjectKind::Customer, 7, now));
        assert_eq!(TtlPolicy::default().fill_ttl(Tier::L1, ObjectKind::Customer, 0, now), full);
    }
}
