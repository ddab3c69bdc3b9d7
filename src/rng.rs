//! Seeded randomness shared by the mock, the workload and the simulator: a small
//! counter-based generator, so every request, mutation and delivery draws its
//! own stream from the seed without a lock.

use std::time::Duration;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and good enough for
/// simulation; seeding it with `mix(seed, n)` gives independent streams.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

/// The SplitMix64 output function: a bijection on u64.
pub const fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Combines a seed with a stream number (or salt) into a new seed.
pub const fn mix(seed: u64, n: u64) -> u64 {
    finalize(finalize(seed ^ 0x9e37_79b9_7f4a_7c15) ^ n)
}

impl SplitMix {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        finalize(self.0)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64 }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]: ln stays finite
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal draw whose median is `p50` and 99th percentile `p99`.
    /// Zero when `p50` is zero.
    pub fn lognormal(&mut self, p50: Duration, p99: Duration) -> Duration {
        if p50.is_zero() {
            return Duration::ZERO;
        }
        // z of the 99th percentile of the standard normal.
        const Z99: f64 = 2.326_347_874;
        let mu = p50.as_secs_f64().ln();
        let sigma = (p99.max(p50).as_secs_f64().ln() - mu) / Z99;
        Duration::from_secs_f64((mu + sigma * self.normal()).exp().min(3_600.0))
    }
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `prefix` followed by `len` base-62 characters drawn from `n`; the first 11
/// characters encode `n` exactly, so distinct `n` give distinct ids.
pub fn id_from(prefix: &str, n: u64, len: usize) -> String {
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    let mut x = n;
    let mut extra = finalize(n);
    for i in 0..len {
        let digit = if i < 11 {
            let d = x % 62;
            x /= 62;
            d
        } else {
            let d = extra % 62;
            extra /= 62;
            d
        };
        out.push(BASE62[digit as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_hits_its_median_and_p99() {
        let mut rng = SplitMix::new(7);
        let mut draws: Vec<f64> = (0..20_000)
            .map(|_| rng.lognormal(Duration::from_millis(300), Duration::from_millis(1_200)).as_secs_f64())
            .collect();
        draws.sort_by(f64::total_cmp);
        let p50 = draws[10_000];
        let p99 = draws[19_800];
        assert!((0.28..0.32).contains(&p50), "p50 {p50}");
        assert!((1.05..1.35).contains(&p99), "p99 {p99}");
        assert_eq!(rng.lognormal(Duration::ZERO, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn streams_are_deterministic_and_ids_distinct() {
        let a: Vec<u64> = (0..4).map(|_| SplitMix::new(mix(1, 2)).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(SplitMix::new(mix(1, 2)).next_u64(), SplitMix::new(mix(1, 3)).next_u64());
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|i| id_from("cus_", mix(9, i), 14)).collect();
        assert_eq!(ids.len(), 10_000);
        assert_eq!(id_from("cus_", 5, 14).len(), 18);
        let mut r = SplitMix::new(3);
        let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
        assert!((2_200..2_800).contains(&hits), "{hits}");
        assert!((0..1_000).all(|_| r.below(10) < 10));
    }
}
