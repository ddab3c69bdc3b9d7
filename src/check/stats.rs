//! Intervals around what a run measured, and whether two runs differ by more
//! than sampling noise: Wilson intervals for proportions, distribution-free
//! order-statistic intervals for latency quantiles (read off the serialized
//! histograms, so no resampling is needed), Poisson intervals for rates, and
//! MOVER intervals (Zou & Donner) for the difference of two estimates.

use crate::metrics::Latency;

/// The two-sided normal quantile of the intervals: 99 % confidence.
pub const Z: f64 = 2.576;

/// A measured value and its 99 % confidence interval (`lo == hi == value`
/// when the value has no sampling noise, e.g. a count or a cost estimate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

impl Estimate {
    /// A value without sampling noise.
    pub fn exact(value: f64) -> Self {
        Estimate { value, lo: value, hi: value }
    }

    /// Whether the estimate carries an interval.
    pub fn has_interval(&self) -> bool {
        self.lo < self.hi
    }
}

/// `k` of `n` as a proportion with its Wilson score interval (which stays in
/// 0..=1 and behaves at 0 and 1, unlike the normal approximation).
pub fn proportion(k: u64, n: u64) -> Estimate {
    if n == 0 {
        return Estimate { value: 0.0, lo: 0.0, hi: 1.0 };
    }
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    let lo = if k == 0.0 { 0.0 } else { (centre - half).max(0.0) };
    let hi = if k == n { 1.0 } else { (centre + half).min(1.0) };
    Estimate { value: p, lo, hi }
}

/// The `q` quantile of `h` in milliseconds, with the distribution-free
/// interval between the order statistics of ranks `nq ± z·sqrt(nq(1-q))`
/// (the interval a bootstrap of the quantile approximates).
pub fn quantile_ms(h: &Latency, q: f64) -> Estimate {
    let n = h.count();
    let ms = |q: f64| h.quantile(q).as_secs_f64() * 1e3;
    if n == 0 {
        return Estimate::exact(0.0);
    }
    let nf = n as f64;
    let sd = (nf * q * (1.0 - q)).sqrt();
    let lo_rank = (nf * q - Z * sd).floor().clamp(1.0, nf);
    let hi_rank = (nf * q + Z * sd).ceil().clamp(1.0, nf);
    Estimate { value: ms(q), lo: ms(lo_rank / nf).min(ms(q)), hi: ms(hi_rank / nf).max(ms(q)) }
}

/// `count` events over `span_s` seconds as a rate, with a Poisson interval.
pub fn rate(count: u64, span_s: f64) -> Estimate {
    let span = span_s.max(1e-9);
    let c = count as f64;
    let half = Z * c.max(1.0).sqrt();
    Estimate { value: c / span, lo: (c - half).max(0.0) / span, hi: (c + half) / span }
}

/// `candidate - baseline` with its interval by the MOVER method: each side's
/// own interval widths combined, so asymmetric intervals (Wilson near 0,
/// quantiles of skewed latencies) stay honest.
pub fn difference(baseline: &Estimate, candidate: &Estimate) -> Estimate {
    let d = candidate.value - baseline.value;
    let below = ((candidate.value - candidate.lo).powi(2) + (baseline.hi - baseline.value).powi(2)).sqrt();
    let above = ((candidate.hi - candidate.value).powi(2) + (baseline.value - baseline.lo).powi(2)).sqrt();
    Estimate { value: d, lo: d - below, hi: d + above }
}

/// Whether an interval of a difference excludes zero (for exact values: any
/// difference at all).
pub fn significant(diff: &Estimate) -> bool {
    if diff.has_interval() { diff.lo > 0.0 || diff.hi < 0.0 } else { diff.value != 0.0 }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn wilson_intervals_cover_the_truth_and_stay_in_range() {
        let e = proportion(900, 1_000);
        assert!(e.lo < 0.9 && 0.9 < e.hi && e.hi - e.lo < 0.06, "{e:?}");
        let zero = proportion(0, 50);
        assert_eq!((zero.value, zero.lo), (0.0, 0.0));
        assert!(zero.hi > 0.05 && zero.hi < 0.2, "{zero:?}");
        let all = proportion(50, 50);
        assert_eq!(all.hi, 1.0);
    }

    #[test]
    fn quantile_intervals_bracket_the_quantile_and_narrow_with_samples() {
        let build = |n: u64| {
            let mut h = Latency::new();
            (1..=n).for_each(|i| h.record(Duration::from_micros(1_000 * (i % 1_000 + 1))));
            h
        };
        let small = quantile_ms(&build(1_000), 0.99);
        let large = quantile_ms(&build(100_000), 0.99);
        assert!(small.lo <= small.value && small.value <= small.hi, "{small:?}");
        assert!((large.value - 990.0).abs() < 10.0, "{large:?}");
        assert!(large.hi - large.lo < small.hi - small.lo, "{small:?} vs {large:?}");
    }

    #[test]
    fn differences_are_significant_only_beyond_noise() {
        let same = difference(&proportion(900, 1_000), &proportion(905, 1_000));
        assert!(!significant(&same), "{same:?}");
        let worse = difference(&proportion(900, 1_000), &proportion(800, 1_000));
        assert!(significant(&worse) && worse.hi < 0.0, "{worse:?}");
        assert!(!significant(&difference(&Estimate::exact(3.0), &Estimate::exact(3.0))));
        assert!(significant(&difference(&Estimate::exact(3.0), &Estimate::exact(3.5))));
        let calls = difference(&rate(1_000, 10.0), &rate(1_030, 10.0));
        assert!(!significant(&calls), "{calls:?}");
    }
}
