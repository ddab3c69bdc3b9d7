//! A circuit breaker in front of Stripe: closed until failures pile up (N in a
//! row, or a failure ratio over a time window), then open (calls fail fast)
//! for a cool-down, then half-open (one probe decides). Driven by the
//! [`Clock`](crate::clock::Clock), so tests step it with a manual clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_text;
use crate::clock::{SharedClock, Timestamp};

/// When the breaker opens and how long it stays open.
///
/// By default: on, opens after 5 failures in a row or when at least half of
/// at least 20 calls in the last 10 s failed, and lets a probe through 5 s
/// after opening.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Whether the breaker acts at all.
    pub enabled: bool,
    /// Failures in a row that open it; 0 turns this rule off.
    pub consecutive_failures: u32,
    /// The failure ratio over [`BreakerConfig::window`] that opens it (0..=1).
    pub failure_ratio: f64,
    /// The window the ratio is measured over (kept as 10 slots).
    #[serde(with = "duration_text")]
    pub window: Duration,
    /// Calls the window needs before the ratio counts.
    pub min_calls: u32,
    /// How long it stays open before a probe.
    #[serde(with = "duration_text")]
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            consecutive_failures: 5,
            failure_ratio: 0.5,
            window: Duration::from_secs(10),
            min_calls: 20,
            cool_down: Duration::from_secs(5),
        }
    }
}

/// Where the breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls fail fast.
    Open,
    /// The cool-down passed: the next call (one at a time) is a probe.
    HalfOpen,
}

/// How a call that passed the breaker ended, as the breaker counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// Stripe answered (any answer but a 5xx: 404s and 429s come from a healthy Stripe).
    Success,
    /// No answer, a timeout, or a 5xx.
    Failure,
    /// No call was made after all (the budget refused it, or it was cancelled).
    Abandoned,
}

const SLOTS: usize = 10;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Which slot-length period of time this slot counts.
    period: u64,
    calls: u32,
    failures: u32,
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Timestamp },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    consecutive: u32,
    slots: [Slot; SLOTS],
}

/// The breaker, shared by every caller of a process.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    clock: SharedClock,
    inner: Mutex<Inner>,
    opens: AtomicU64,
    closes: AtomicU64,
    short_circuits: AtomicU64,
}

/// Leave to make one call; report its outcome with [`BreakerPermit::record`].
/// Dropping it unrecorded counts as [`CallOutcome::Abandoned`].
#[derive(Debug)]
#[must_use = "record the call's outcome"]
pub struct BreakerPermit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl BreakerPermit<'_> {
    /// Whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Reports how the call ended.
    pub fn record(mut self, outcome: CallOutcome) {
        self.recorded = true;
        self.breaker.record(self.probe, outcome);
    }

    /// Gives the permit up for a call whose outcome is reported later with
    /// [`Breaker::record_for`] (the simulator, which cannot hold the borrow
    /// across its call); returns whether it was the probe.
    pub(crate) fn detach(mut self) -> bool {
        self.recorded = true;
        self.probe
    }
}

impl Drop for BreakerPermit<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.record(self.probe, CallOutcome::Abandoned);
        }
    }
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig, clock: SharedClock) -> Self {
        Breaker {
            config,
            clock,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                consecutive: 0,
                slots: [Slot::default(); SLOTS],
            }),
            opens: AtomicU64::new(0),
            closes: AtomicU64::new(0),
            short_circuits: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where it stands now (an open breaker whose cool-down passed reads half-open).
    pub fn state(&self) -> BreakerState {
        match self.lock().phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if self.clock.now() < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Lets a call through, or says how long until a probe may go (zero while
    /// a probe is in flight).
    ///
    /// # Errors
    /// The wait, when the breaker is open or half-open with its probe out.
    pub fn admit(&self) -> Result<BreakerPermit<'_>, Duration> {
        let permit = |probe| BreakerPermit { breaker: self, probe, recorded: false };
        if !self.config.enabled {
            return Ok(permit(false));
        }
        let now = self.clock.now();
        let mut inner = self.lock();
        let refused = match inner.phase {
            Phase::Closed => return Ok(permit(false)),
            Phase::Open { until } if now < until => until.since(now),
            Phase::Open { .. } | Phase::HalfOpen { probing: false } => {
                inner.phase = Phase::HalfOpen { probing: true };
                return Ok(permit(true));
            }
            Phase::HalfOpen { probing: true } => Duration::ZERO,
        };
        drop(inner);
        self.short_circuits.fetch_add(1, Ordering::Relaxed);
        Err(refused)
    }

    /// Reports the outcome of a call let through by a detached permit.
    pub(crate) fn record_for(&self, probe: bool, outcome: CallOutcome) {
        self.record(probe, outcome);
    }

    fn record(&self, probe: bool, outcome: CallOutcome) {
        if !self.config.enabled {
            return;
        }
        let now = self.clock.now();
        let mut inner = self.lock();
        if probe {
            inner.phase = match outcome {
                CallOutcome::Success => {
                    inner.consecutive = 0;
                    inner.slots = [Slot::default(); SLOTS];
                    self.closes.fetch_add(1, Ordering::Relaxed);
                    Phase::Closed
                }
                CallOutcome::Failure => self.open(now),
                CallOutcome::Abandoned => Phase::HalfOpen { probing: false },
            };
            return;
        }
        if outcome == CallOutcome::Abandoned {
            return;
        }
        let failed = outcome == CallOutcome::Failure;
        self.count(&mut inner, now, failed);
        // Late outcomes of calls admitted before the breaker opened change nothing.
        if !matches!(inner.phase, Phase::Closed) {
            return;
        }
        if !failed {
            inner.consecutive = 0;
            return;
        }
        inner.consecutive += 1;
        let (calls, failures) = self.window_totals(&inner, now);
        let by_run =
            self.config.consecutive_failures > 0 && inner.consecutive >= self.config.consecutive_failures;
        let by_ratio = calls >= self.config.min_calls.max(1)
            && f64::from(failures) >= self.config.failure_ratio * f64::from(calls);
        if by_run || by_ratio {
            inner.phase = self.open(now);
        }
    }

    fn open(&self, now: Timestamp) -> Phase {
        self.opens.fetch_add(1, Ordering::Relaxed);
        Phase::Open { until: now.plus(self.config.cool_down) }
    }

    fn slot_us(&self) -> u64 {
        (u64::try_from(self.config.window.as_micros()).unwrap_or(u64::MAX) / SLOTS as u64).max(1)
    }

    fn count(&self, inner: &mut Inner, now: Timestamp, failed: bool) {
        let period = now.as_micros() / self.slot_us();
        let slot = &mut inner.slots[(period % SLOTS as u64) as usize];
        if slot.period != period {
            *slot = Slot { period, calls: 0, failures: 0 };
        }
        slot.calls += 1;
        slot.failures += u32::from(failed);
    }

    /// Calls and failures in the window ending now.
    fn window_totals(&self, inner: &Inner, now: Timestamp) -> (u32, u32) {
        let current = now.as_micros() / self.slot_us();
        inner
            .slots
            .iter()
            .filter(|s| s.period + (SLOTS as u64) > current && s.period <= current)
            .fold((0, 0), |(c, f), s| (c + s.calls, f + s.failures))
    }

    /// (opens, closes, short-circuited calls) so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (g(&self.opens), g(&self.closes), g(&self.short_circuits))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    fn breaker(config: BreakerConfig) -> (Breaker, Arc<ManualClock>) {
        let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
        (Breaker::new(config, clock.clone()), clock)
    }

    fn call(b: &Breaker, outcome: CallOutcome) -> bool {
        match b.admit() {
            Ok(p) => {
                p.record(outcome);
                true
            }
            Err(_) => false,
        }
    }

    #[test]
    fn consecutive_failures_open_it_and_a_success_resets_the_run() {
        let (b, _) = breaker(BreakerConfig::default());
        for _ in 0..4 {
            assert!(call(&b, CallOutcome::Failure));
        }
        assert!(call(&b, CallOutcome::Success));
        for _ in 0..4 {
            assert!(call(&b, CallOutcome::Failure));
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(call(&b, CallOutcome::Failure));
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.admit().unwrap_err(), Duration::from_secs(5));
        assert_eq!(b.counts(), (1, 0, 1));
    }

    #[test]
    fn a_failure_ratio_over_the_window_opens_it_once_enough_calls_were_seen() {
        let cfg = BreakerConfig { consecutive_failures: 0, ..BreakerConfig::default() };
        let (b, clock) = breaker(cfg);
        // Alternating failures: ratio 0.5, never more than one in a row.
        for i in 0..19 {
            let outcome = if i % 2 == 0 { CallOutcome::Success } else { CallOutcome::Failure };
            assert!(call(&b, outcome));
            clock.advance(Duration::from_millis(100));
        }
        assert_eq!(b.state(), BreakerState::Closed, "19 calls are under min_calls");
        assert!(call(&b, CallOutcome::Failure)); // 20 calls, 10 failures
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let cfg = BreakerConfig { consecutive_failures: 0, min_calls: 4, ..BreakerConfig::default() };
        let (b, clock) = breaker(cfg);
        for _ in 0..3 {
            assert!(call(&b, CallOutcome::Failure));
        }
        clock.advance(Duration::from_secs(11));
        assert!(call(&b, CallOutcome::Success));
        assert!(call(&b, CallOutcome::Success));
        assert!(call(&b, CallOutcome::Success));
        assert!(call(&b, CallOutcome::Failure)); // 1 of 4 in the window
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_outcome_decides() {
        let cfg = BreakerConfig { consecutive_failures: 2, ..BreakerConfig::default() };
        let (b, clock) = breaker(cfg);
        call(&b, CallOutcome::Failure);
        call(&b, CallOutcome::Failure);
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(Duration::from_secs(5));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.admit().unwrap();
        assert!(probe.is_probe());
        assert_eq!(b.admit().unwrap_err(), Duration::ZERO, "one probe at a time");
        probe.record(CallOutcome::Failure);
        assert_eq!(b.state(), BreakerState::Open, "a failed probe reopens it");
        clock.advance(Duration::from_secs(5));
        // An abandoned probe (budget refused it) frees the slot for the next.
        drop(b.admit().unwrap());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.admit().unwrap().record(CallOutcome::Success);
        assert_eq!(b.state(), BreakerState::Closed);
        // Counting starts over: one failure does not reopen it.
        assert!(call(&b, CallOutcome::Failure));
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.counts(), (2, 1, 1));
    }

    #[test]
    fn late_outcomes_do_not_move_an_open_breaker_and_off_means_off() {
        let cfg = BreakerConfig { consecutive_failures: 1, ..BreakerConfig::default() };
        let (b, clock) = breaker(cfg);
        let slow = b.admit().unwrap();
        call(&b, CallOutcome::Failure);
        assert_eq!(b.state(), BreakerState::Open);
        slow.record(CallOutcome::Success);
        assert_eq!(b.state(), BreakerState::Open, "only the probe closes it");
        clock.advance(Duration::from_secs(5));
        assert!(b.admit().unwrap().is_probe());

        let (off, _) =
            breaker(BreakerConfig { enabled: false, consecutive_failures: 1, ..BreakerConfig::default() });
        for _ in 0..10 {
            assert!(call(&off, CallOutcome::Failure));
        }
        assert_eq!(off.state(), BreakerState::Closed);
    }
}
