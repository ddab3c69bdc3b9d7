//! When requests are meant to start (open loop): constant, Poisson or ramp
//! stages, with bursts on top. A stream, so a long simulated run never holds
//! its whole schedule in memory.

use std::time::Duration;

use crate::rng::{SplitMix, mix};
use crate::scenario::{Arrival, Burst};

/// `s` seconds, or [`Duration::MAX`] when that is more than a `Duration` holds
/// (a tiny rate's gap: the next arrival falls after the run).
fn secs_saturating(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

/// One source of arrivals: a rate that is piecewise constant over time.
#[derive(Clone, Debug)]
struct Source {
    /// (end of segment, rate per second); the last segment ends at the run's end.
    segments: Vec<(Duration, f64)>,
    poisson: bool,
    next: Option<Duration>,
    rng: SplitMix,
}

impl Source {
    fn new(start: Duration, segments: Vec<(Duration, f64)>, poisson: bool, rng: SplitMix) -> Self {
        let mut s = Source { segments, poisson, next: None, rng };
        s.next = s.after(start, true);
        s
    }

    /// The first arrival after `t` (at `t` itself for the very first one of a
    /// constant source), or `None` past the last segment.
    fn after(&mut self, mut t: Duration, first: bool) -> Option<Duration> {
        loop {
            let &(end, rate) = self.segments.iter().find(|(end, _)| *end > t)?;
            let gap = if self.poisson {
                let u = 1.0 - self.rng.unit(); // (0, 1]
                secs_saturating(-u.ln() / rate)
            } else if first {
                Duration::ZERO
            } else {
                secs_saturating(1.0 / rate)
            };
            let candidate = t.saturating_add(gap);
            if candidate < end {
                return Some(candidate);
            }
            // The segment ended first: memorylessness lets a Poisson source
            // restart at the boundary; a constant one starts the next segment.
            t = end;
            if !self.poisson {
                return self.segments.iter().find(|(e, _)| *e > t).map(|_| t);
            }
        }
    }

    fn pop(&mut self) -> Option<Duration> {
        let now = self.next?;
        self.next = self.after(now, false);
        Some(now)
    }
}

/// Intended start times, in order, from 0 to the run's duration.
#[derive(Clone, Debug)]
pub struct Arrivals {
    sources: Vec<Source>,
}

impl Arrivals {
    /// The schedule of `arrival` plus `bursts` over `duration`, seeded by `seed`.
    /// A closed-loop arrival has no schedule (the stream is empty).
    pub fn new(arrival: &Arrival, bursts: &[Burst], duration: Duration, seed: u64) -> Self {
        let mut sources = Vec::new();
        let rng = |n| SplitMix::new(mix(seed, n));
        match arrival {
            Arrival::Constant { rate_per_s } => {
                sources.push(Source::new(Duration::ZERO, vec![(duration, *rate_per_s)], false, rng(0)));
            }
            Arrival::Poisson { rate_per_s } => {
                sources.push(Source::new(Duration::ZERO, vec![(duration, *rate_per_s)], true, rng(0)));
            }
            Arrival::Ramp { stages } => {
                let mut end = Duration::ZERO;
                let mut segments: Vec<(Duration, f64)> = stages
                    .iter()
                    .map(|s| {
                        end = end.saturating_add(s.duration);
                        (end.min(duration), s.rate_per_s)
                    })
                    .collect();
                if let Some(last) = stages.last()
                    && end < duration
                {
                    segments.push((duration, last.rate_per_s));
                }
                sources.push(Source::new(Duration::ZERO, segments, true, rng(0)));
            }
            Arrival::Closed { .. } => {}
        }
        for (i, b) in bursts.iter().enumerate() {
            let end = b.at.saturating_add(b.duration).min(duration);
            if b.at < end {
                sources.push(Source::new(b.at, vec![(end, b.rate_per_s)], true, rng(1 + i as u64)));
            }
        }
        Arrivals { sources }
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let i = (0..self.sources.len())
            .filter(|&i| self.sources[i].next.is_some())
            .min_by_key(|&i| self.sources[i].next)?;
        self.sources[i].pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Stage;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let a: Vec<_> = Arrivals::new(&Arrival::Constant { rate_per_s: 4.0 }, &[], secs(2), 1).collect();
        assert_eq!(a.len(), 8);
        assert_eq!(a[0], Duration::ZERO);
        assert_eq!(a[1], Duration::from_millis(250));
    }

    #[test]
    fn poisson_keeps_its_rate_and_order_and_repeats_with_the_seed() {
        let a: Vec<_> = Arrivals::new(&Arrival::Poisson { rate_per_s: 1_000.0 }, &[], secs(20), 3).collect();
        assert!((19_400..20_600).contains(&a.len()), "{}", a.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        let again: Vec<_> =
            Arrivals::new(&Arrival::Poisson { rate_per_s: 1_000.0 }, &[], secs(20), 3).collect();
        assert_eq!(a, again);
        let other: Vec<_> =
            Arrivals::new(&Arrival::Poisson { rate_per_s: 1_000.0 }, &[], secs(20), 4).collect();
        assert_ne!(a, other);
    }

    #[test]
    fn ramps_and_bursts_add_load_where_they_say() {
        let ramp = Arrival::Ramp {
            stages: vec![
                Stage { duration: secs(10), rate_per_s: 100.0 },
                Stage { duration: secs(10), rate_per_s: 500.0 },
            ],
        };
        let burst = Burst { at: secs(25), duration: secs(2), rate_per_s: 2_000.0 };
        let a: Vec<_> = Arrivals::new(&ramp, &[burst], secs(30), 9).collect();
        let in_window = |from: u64, to: u64| a.iter().filter(|t| **t >= secs(from) && **t < secs(to)).count();
        assert!((850..1_150).contains(&in_window(0, 10)), "{}", in_window(0, 10));
        assert!((4_600..5_400).contains(&in_window(10, 20)), "{}", in_window(10, 20));
        // After the last stage its rate holds, and the burst adds 4,000 over 2 s.
        assert!((2_200..2_800).contains(&in_window(20, 25)), "{}", in_window(20, 25));
        assert!((4_600..5_400).contains(&in_window(25, 27)), "{}", in_window(25, 27));
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.last().unwrap() < &secs(30));
        assert_eq!(Arrivals::new(&Arrival::Closed { callers: 3 }, &[], secs(5), 1).count(), 0);
    }

    #[test]
    fn tiny_rates_and_huge_durations_do_not_overflow() {
        // Found by fuzzing (fuzz/fuzz_targets/scenario.rs): scenarios that
        // validate panicked here, on a gap too long for a Duration or on
        // durations whose sum overflows.
        let huge = secs(18_000_000_000_000_000_000);
        for arrival in [Arrival::Constant { rate_per_s: 1e-300 }, Arrival::Poisson { rate_per_s: 1e-300 }] {
            let a: Vec<_> = Arrivals::new(&arrival, &[], huge, 1).collect();
            assert!(a.len() <= 1, "{a:?}");
        }
        let ramp = Arrival::Ramp {
            stages: vec![
                Stage { duration: huge, rate_per_s: 1e-300 },
                Stage { duration: huge, rate_per_s: 1e-300 },
            ],
        };
        let burst = Burst { at: huge, duration: huge, rate_per_s: 1e-300 };
        assert!(Arrivals::new(&ramp, &[burst], Duration::MAX, 1).take(10).count() <= 10);
    }
}
