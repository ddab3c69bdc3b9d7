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
        cdf: Vec<f64>,
    },
    Hotspot {
        hot: u64,
        hot_share: f64,
    },
    Drifting {
        cdf: Vec<f64>,
        period: Duration,
        seed: u64,
    },
}

fn zipf_cdf(n: u64, s: f64) -> Vec<f64> {
    let mut cdf = Vec::with_capacity(n as usize);
    let mut sum = 0.0;
    for rank in 1..=n {
        sum += (rank as f64).powf(-s);
        cdf.push(sum);
    }
    cdf.iter_mut().for_each(|c| *c /= sum);
    cdf
}

fn rank_from(cdf: &[f64], u: f64) -> u64 {
    cdf.partition_point(|&c| c < u).min(cdf.len() - 1) as u64
}

impl KeySampler {
    /// A sampler over `n` keys (at least 1); `seed` moves a drifting ranking.
    pub fn new(n: u64, popularity: &Popularity, seed: u64) -> Self {
        let n = n.max(1);
        let model = match popularity {
            Popularity::Uniform => Model::Uniform,
            Popularity::Zipf { s } => Model::Zipf { cdf: zipf_cdf(n, *s) },
            Popularity::Hotspot { hot_fraction, hot_share } => {
                let hot = ((n as f64 * hot_fraction).round() as u64).clamp(1, n);
                Model::Hotspot { hot, hot_share: *hot_share }
            }
            Popularity::Drifting { s, period } => {
                Model::Drifting { cdf: zipf_cdf(n, *s), period: *period, seed }
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
            Model::Zipf { cdf } => rank_from(cdf, rng.unit()),
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
                (rank_from(cdf, rng.unit()) + shift) % self.n
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
