//! Fault injection: scheduled outage windows (status, hang, reset, slow) and a
//! random error rate, on the mock's clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use super::config::{FaultConfig, FaultKind, OutageWindow};
use super::rng::SplitMix;
use crate::clock::Timestamp;

/// What happens to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Nothing: answer normally.
    None,
    /// An outage window's fault.
    Window(FaultKind),
    /// The error rate drew this request.
    Injected(u16),
}

#[derive(Debug)]
pub(crate) struct Faults {
    windows: RwLock<Vec<OutageWindow>>,
    /// Whether `windows` has any: spares requests the lock when it has none.
    any_windows: AtomicBool,
    error_rate: f64,
    error_status: u16,
    pub hang: Duration,
    started_at: Timestamp,
}

impl Faults {
    pub fn new(config: &FaultConfig, started_at: Timestamp) -> Self {
        Faults {
            windows: RwLock::new(config.outages.clone()),
            any_windows: AtomicBool::new(!config.outages.is_empty()),
            error_rate: config.error_rate,
            error_status: config.error_status,
            hang: config.hang,
            started_at,
        }
    }

    /// Adds a window (relative to when the mock was built).
    pub fn add(&self, window: OutageWindow) {
        self.windows.write().unwrap_or_else(PoisonError::into_inner).push(window);
        self.any_windows.store(true, Ordering::Release);
    }

    /// Removes every window.
    pub fn clear(&self) {
        self.windows.write().unwrap_or_else(PoisonError::into_inner).clear();
        self.any_windows.store(false, Ordering::Release);
    }

    /// The fault for a request arriving at `now` (windows first, then the error rate).
    pub fn draw(&self, now: Timestamp, rng: &mut SplitMix) -> Fault {
        if self.any_windows.load(Ordering::Acquire) {
            let elapsed = now.since(self.started_at);
            let windows = self.windows.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(w) = windows.iter().find(|w| elapsed >= w.start && elapsed < w.start + w.duration)
                && (w.share >= 1.0 || rng.chance(w.share))
            {
                return Fault::Window(w.kind);
            }
        }
        if rng.chance(self.error_rate) { Fault::Injected(self.error_status) } else { Fault::None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_apply_only_inside_and_the_error_rate_holds() {
        let start = Timestamp::from_millis(1_000_000);
        let cfg = FaultConfig {
            outages: vec![OutageWindow {
                start: Duration::from_secs(10),
                duration: Duration::from_secs(5),
                kind: FaultKind::Status(503),
                share: 1.0,
            }],
            error_rate: 0.1,
            ..FaultConfig::default()
        };
        let f = Faults::new(&cfg, start);
        let mut rng = SplitMix::new(1);
        let at = |s| start.plus(Duration::from_secs(s));
        assert_eq!(f.draw(at(12), &mut rng), Fault::Window(FaultKind::Status(503)));
        assert_ne!(f.draw(at(15), &mut rng), Fault::Window(FaultKind::Status(503)));
        let injected = (0..10_000).filter(|_| f.draw(at(100), &mut rng) == Fault::Injected(500)).count();
        assert!((800..1_200).contains(&injected), "{injected}");
        f.clear();
        assert_ne!(f.draw(at(12), &mut rng), Fault::Window(FaultKind::Status(503)));
    }

    #[test]
    fn a_partial_window_hits_its_share_of_requests() {
        let start = Timestamp::from_millis(1_000_000);
        let f = Faults::new(&FaultConfig::default(), start);
        f.add(OutageWindow {
            start: Duration::ZERO,
            duration: Duration::from_secs(10),
            kind: FaultKind::Status(500),
            share: 0.2,
        });
        let mut rng = SplitMix::new(7);
        let hit = (0..10_000)
            .filter(|_| {
                f.draw(start.plus(Duration::from_secs(5)), &mut rng) == Fault::Window(FaultKind::Status(500))
            })
            .count();
        assert!((1_800..2_200).contains(&hit), "{hit} of 10,000 at a 0.2 share");
        assert_eq!(f.draw(start.plus(Duration::from_secs(10)), &mut rng), Fault::None);
    }
}
