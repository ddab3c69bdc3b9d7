//! Background changes during a run: Stripe objects mutated by the scenario's
//! mix (the mock then emits webhooks), and Lambda cold starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::mock::MockHandle;
use crate::rng::SplitMix;
use crate::scenario::KindMix;
use crate::stripe::{CacheKey, ObjectKind};
use crate::workload::{KeyUniverse, KindChooser};

/// Poisson gaps at `rate_per_s`; [`Duration::MAX`] when the gap is longer than
/// a `Duration` holds (a tiny rate, or `time_scale` scaling it to 0).
fn gap(rng: &mut SplitMix, rate_per_s: f64) -> Duration {
    Duration::try_from_secs_f64(-(1.0 - rng.unit()).ln() / rate_per_s).unwrap_or(Duration::MAX)
}

/// Mutates objects at a rate, choosing kinds by a mix and keys uniformly.
pub struct Driver {
    kinds: KindChooser,
    universe: KeyUniverse,
    rate_per_s: f64,
    rng: SplitMix,
}

impl Driver {
    /// A driver of `rate_per_s` mutations (run time) over `universe`.
    pub fn new(mix: &KindMix, universe: &KeyUniverse, rate_per_s: f64, seed: u64) -> Self {
        Driver {
            kinds: KindChooser::new(mix),
            universe: universe.clone(),
            rate_per_s,
            rng: SplitMix::new(seed),
        }
    }

    fn next_key(&mut self) -> Option<CacheKey> {
        let kind = self.kinds.choose(&mut self.rng);
        let list =
            if kind == ObjectKind::Invoice { &self.universe.invoices } else { &self.universe.customers };
        let (account, id) = list.get(self.rng.below(list.len() as u64) as usize)?;
        let key = CacheKey::new(kind, id.clone());
        Some(match account {
            Some(a) => key.with_account(a.clone()),
            None => key,
        })
    }

    /// Mutates until `duration` after `t0` or until `done`; returns how many it made.
    pub async fn run(
        mut self,
        mock: MockHandle,
        t0: Instant,
        duration: Duration,
        mut done: watch::Receiver<bool>,
    ) -> u64 {
        let mut at = Duration::ZERO;
        let mut made = 0;
        loop {
            at = at.saturating_add(gap(&mut self.rng, self.rate_per_s));
            if at >= duration {
                return made;
            }
            tokio::select! {
                biased;
                _ = done.wait_for(|v| *v) => return made,
                () = tokio::time::sleep_until(t0 + at) => {}
            }
            if let Some(key) = self.next_key()
                && mock.mutate(&key).is_ok()
            {
                made += 1;
            }
        }
    }
}

/// Flags callers for a cold start (new connections before their next request).
pub struct ColdStarts {
    callers: Vec<Arc<AtomicBool>>,
    rate_per_s: f64,
    rng: SplitMix,
}

/// Cold starts at `rate_per_s` over `callers`, chosen at random.
pub fn cold_starts(callers: Vec<Arc<AtomicBool>>, rate_per_s: f64, seed: u64) -> ColdStarts {
    ColdStarts { callers, rate_per_s, rng: SplitMix::new(seed) }
}

impl ColdStarts {
    /// Flags callers until `duration` after `t0` or until `done`; returns how many.
    pub async fn run(mut self, t0: Instant, duration: Duration, mut done: watch::Receiver<bool>) -> u64 {
        let mut at = Duration::ZERO;
        let mut flagged = 0;
        loop {
            at = at.saturating_add(gap(&mut self.rng, self.rate_per_s));
            if at >= duration || self.callers.is_empty() {
                return flagged;
            }
            tokio::select! {
                biased;
                _ = done.wait_for(|v| *v) => return flagged,
                () = tokio::time::sleep_until(t0 + at) => {}
            }
            let i = self.rng.below(self.callers.len() as u64) as usize;
            self.callers[i].store(true, Ordering::Relaxed);
            flagged += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_of_tiny_or_zero_rates_saturate() {
        // Found by fuzzing (fuzz/fuzz_targets/scenario.rs, the same overflow in
        // arrivals): a rate that validates, times a tiny `time_scale`, panicked.
        let mut rng = SplitMix::new(1);
        assert_eq!(gap(&mut rng, 1e-300), Duration::MAX);
        assert_eq!(gap(&mut rng, 0.0), Duration::MAX);
        assert!(gap(&mut rng, 1_000.0) < Duration::from_secs(1));
    }
}
