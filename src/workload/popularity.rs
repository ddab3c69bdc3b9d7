//! Which key a request asks for: uniform, Zipf, hotspot, or a Zipf ranking that
//! drifts to other keys over time.

use std::time::Duration;

use crate::rng::{SplitMix, mix};
use crate::scenario::Popularity;

/// Draws key indexes in `0..n` by a popularity model.
#[derive(Clone, Debug)]
pub struct KeySampler {
    n: u64,
    model: Model,
}

#[derive(Clone, Debug)]
enum Model {
    Uniform,
    /// Cumulative probabilities of ranks 0..n (rank 0 the hottest).
    Zipf {
        cdf: Cdf,
    },
    Hotspot {
        hot: u64,
        hot_share: f64,
    },
    Drifting {
        cdf: Cdf,
        period: Duration,
        seed: u64,
    },
}

/// Cumulative probabilities with a guide table (Chen and Asau's indexed
/// search): the draw `u` in `[j/G, (j+1)/G)` lies between the ranks the guide
/// holds at `j` and `j + 1`, so a draw searches a few entries, not all `n`. The
/// rank found is exactly the full binary search's.
#[derive(Clone, Debug)]
struct Cdf {
    values: Vec<f64>,
    guide: Vec<u32>,
}

impl Cdf {
    fn zipf(n: u64, s: f64) -> Self {
        let mut values = Vec::with_capacity(n as usize);
        let mut sum = 0.0;
        for rank in 1..=n {
            sum += (rank as f64).powf(-s);
            values.push(sum);
        }
        values.iter_mut().for_each(|c| *c /= sum);
        // A power of two, so j / G and u * G are exact.
        let slots = (n as usize).next_power_of_two().clamp(1, 1 << 16);
        let guide =
            (0..=slots).map(|j| values.partition_point(|&c| c < j as f64 / slots as f64) as u32).collect();
        Cdf { values, guide }
    }

    /// The first rank whose cumulative probability reaches `u` (the last rank
    /// if rounding leaves `u` above every one).
    fn rank(&self, u: f64) -> u64 {
        let slots = self.guide.len() - 1;
        let j = ((u * slots as f64) as usize).min(slots - 1);
        let last = self.values.len() - 1;
        let (lo, hi) = (self.guide[j] as usize, (self.guide[j + 1] as usize).min(last));
        let lo = lo.min(hi);
        (lo + self.values[lo..=hi].partition_point(|&c| c < u)).min(last) as u64
    }
}

impl KeySampler {
    /// A sampler over `n` keys (at least 1); `seed` moves a drifting ranking.
    pub fn new(n: u64, popularity: &Popularity, seed: u64) -> Self {
        let n = n.max(1);
        let model = match popularity {
            Popularity::Uniform => Model::Uniform,
            Popularity::Zipf { s } => Model::Zipf { cdf: Cdf::zipf(n, *s) },
            Popularity::Hotspot { hot_fraction, hot_share } => {
                let hot = ((n as f64 * hot_fraction).round() as u64).clamp(1, n);
                Model::Hotspot { hot, hot_share: *hot_share }
            }
            Popularity::Drifting { s, period } => {
                Model::Drifting { cdf: Cdf::zipf(n, *s), period: *period, seed }
            }
        };
        KeySampler { n, model }
    }

    /// How many keys there are.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether there are no keys (never: a sampler has at least one).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// A key index for a request at `at` (run time).
    pub fn sample(&self, rng: &mut SplitMix, at: Duration) -> u64 {
        match &self.model {
            Model::Uniform => rng.below(self.n),
            Model::Zipf { cdf } => cdf.rank(rng.unit()),
            Model::Hotspot { hot, hot_share } => {
                if *hot == self.n || rng.chance(*hot_share) {
                    rng.below(*hot)
                } else {
                    hot + rng.below(self.n - hot)
                }
            }
            Model::Drifting { cdf, period, seed } => {
                let epoch = at.as_nanos() / period.as_nanos().max(1);
                let shift = mix(*seed, epoch as u64) % self.n;
                (cdf.rank(rng.unit()) + shift) % self.n
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(s: &KeySampler, draws: usize, at: Duration) -> Vec<usize> {
        let mut rng = SplitMix::new(11);
        let mut c = vec![0; s.len() as usize];
        for _ in 0..draws {
            c[s.sample(&mut rng, at) as usize] += 1;
        }
        c
    }

    #[test]
    fn the_guided_search_finds_the_full_binary_searchs_rank() {
        for n in [1u64, 2, 3, 100, 2_000, 100_003] {
            let cdf = Cdf::zipf(n, 0.99);
            let full = |u: f64| cdf.values.partition_point(|&c| c < u).min(cdf.values.len() - 1) as u64;
            let mut rng = SplitMix::new(n);
            for _ in 0..20_000 {
                let u = rng.unit();
                assert_eq!(cdf.rank(u), full(u), "n {n}, u {u}");
            }
            for u in [0.0, 1e-12, 0.5, 1.0 - 1e-15, 1.0] {
                assert_eq!(cdf.rank(u), full(u), "n {n}, u {u}");
            }
        }
    }

    #[test]
    fn zipf_follows_its_law() {
        let s = KeySampler::new(100, &Popularity::Zipf { s: 1.0 }, 1);
        let c = counts(&s, 200_000, Duration::ZERO);
        // p(rank 1) / p(rank 2) = 2 and p(rank 1) / p(rank 10) = 10 for s = 1.
        let r2 = c[0] as f64 / c[1] as f64;
        let r10 = c[0] as f64 / c[9] as f64;
        assert!((1.85..2.15).contains(&r2), "{r2}");
        assert!((8.5..11.5).contains(&r10), "{r10}");
    }

    #[test]
    fn hotspot_gives_the_hot_set_its_share() {
        let p = Popularity::Hotspot { hot_fraction: 0.1, hot_share: 0.9 };
        let c = counts(&KeySampler::new(1_000, &p, 1), 100_000, Duration::ZERO);
        let hot: usize = c[..100].iter().sum();
        assert!((88_500..91_500).contains(&hot), "{hot}");
    }

    #[test]
    fn uniform_is_flat_and_drifting_moves_the_hot_key() {
        let c = counts(&KeySampler::new(10, &Popularity::Uniform, 1), 100_000, Duration::ZERO);
        assert!(c.iter().all(|&n| (9_000..11_000).contains(&n)), "{c:?}");
        let p = Popularity::Drifting { s: 1.2, period: Duration::from_secs(60) };
        let s = KeySampler::new(1_000, &p, 5);
        let hottest = |at| {
            let c = counts(&s, 20_000, at);
            (0..c.len()).max_by_key(|&i| c[i]).unwrap()
        };
        assert_eq!(hottest(Duration::from_secs(1)), hottest(Duration::from_secs(59)));
        assert_ne!(hottest(Duration::from_secs(1)), hottest(Duration::from_secs(61)));
    }
}
