//! The one clock abstraction: chain, policy and store models read time only here,
//! so the simulator can drive the same decisions as a live run (DESIGN.md, decision 1).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time: microseconds since the Unix epoch.
///
/// Wall-clock based (not monotonic) because cache entries carry absolute expiry
/// times that DynamoDB's TTL and other processes must understand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp `us` microseconds after the epoch.
    pub const fn from_micros(us: u64) -> Self {
        Timestamp(us)
    }

    /// A timestamp `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms.saturating_mul(1_000))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Milliseconds since the epoch, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }

    /// Whole seconds since the epoch, rounded down.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Whole seconds since the epoch, rounded up (for DynamoDB's `ttl`, so an item
    /// is never deleted before its entry expires).
    pub const fn as_secs_ceil(self) -> u64 {
        self.0.div_ceil(1_000_000)
    }

    /// This time plus `d`, saturating.
    #[inline]
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)))
    }

    /// This time minus `d`, saturating at the epoch.
    pub fn minus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_sub(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)))
    }

    /// How long after `earlier` this is; zero when it is not later.
    #[inline]
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// ISO 8601 in UTC with fixed millisecond precision
    /// (`2025-02-05T12:00:00.000Z`), so strings sort in time order: the
    /// format of `gsi1sk` and `lastUpdated`.
    pub fn to_iso8601(self) -> String {
        let ms = self.as_millis();
        let secs = ms / 1_000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3_600,
            rem % 3_600 / 60,
            rem % 60,
            ms % 1_000
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso8601())
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// A shared clock handle, as the chain and stores hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The machine's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
    }
}

impl SystemClock {
    /// The wall clock as a [`SharedClock`].
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

/// A clock that moves only when told to: for the simulator and for tests that
/// need to step past a TTL without waiting for it.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_us: AtomicU64,
}

impl ManualClock {
    /// A manual clock standing at `start`.
    pub fn new(start: Timestamp) -> Arc<Self> {
        Arc::new(ManualClock { now_us: AtomicU64::new(start.as_micros()) })
    }

    /// A manual clock standing at the wall clock's current time.
    pub fn starting_now() -> Arc<Self> {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.now_us.fetch_add(us, Ordering::SeqCst);
    }

    /// Sets the clock to `t` (may move it backwards).
    pub fn set(&self, t: Timestamp) {
        self.now_us.store(t.as_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now_us.load(Ordering::SeqCst))
    }
}

/// Parses a duration: a non-negative number followed by one of `us`, `ms`,
/// `s`, `m`, `h`, `d` (`90s`, `1.5h`, `250ms`).
///
/// # Errors
/// A message saying what is allowed, when the text is not such a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let allowed = "a number with a unit: us, ms, s, m, h or d (e.g. \"250ms\", \"1h\")";
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration: expected {allowed}"))?;
    let seconds = match unit.trim() {
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3_600.0,
        "d" => value * 86_400.0,
        "" => return Err(format!("{text:?} has no unit: expected {allowed}")),
        other => return Err(format!("{text:?} has unknown unit {other:?}: expected {allowed}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_is_fixed_width_and_sorts_in_time_order() {
        let t = Timestamp::from_millis(1_738_756_800_000); // 2025-02-05T12:00:00Z
        assert_eq!(t.to_iso8601(), "2025-02-05T12:00:00.000Z");
        let later = t.plus(Duration::from_millis(500));
        assert_eq!(later.to_iso8601(), "2025-02-05T12:00:00.500Z");
        assert!(t.to_iso8601() < later.to_iso8601());
        assert_eq!(Timestamp::EPOCH.to_iso8601(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(951_782_400_000).to_iso8601(), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn seconds_round_as_documented() {
        let t = Timestamp::from_micros(10_000_001);
        assert_eq!(t.as_secs(), 10);
        assert_eq!(t.as_secs_ceil(), 11);
        assert_eq!(Timestamp::from_millis(10_000).as_secs_ceil(), 10);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp::from_millis(1_000));
        assert_eq!(c.now(), Timestamp::from_millis(1_000));
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now(), Timestamp::from_millis(3_000));
        assert_eq!(c.now().since(Timestamp::from_millis(1_000)), Duration::from_secs(2));
        assert_eq!(Timestamp::from_millis(1).since(c.now()), Duration::ZERO);
    }
}
