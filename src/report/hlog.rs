//! `latency.hlog`: a run's latency histograms as an HdrHistogram interval log,
//! the format HdrHistogram's own tools (`HistogramLogProcessor`,
//! HistogramLogAnalyzer) read.
//!
//! Values are microseconds, as [`crate::metrics::Latency`] records them;
//! `Interval_Max` is divided by 1000 (milliseconds), and
//! `HistogramLogProcessor -outputValueUnitRatio 1000` prints milliseconds.
//! Tags (one per line, characters HdrHistogram forbids in tags replaced by `_`):
//! - `<policy>`: corrected latency of every outcome, one interval per entry of
//!   the per-second series (the time series `HistogramLogProcessor -tag <policy>` reads);
//! - `<policy>.<corrected|uncorrected>.<outcome>`: the whole policy, one interval.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::RunResult;
use crate::metrics::{Latency, Outcome};

/// What `Interval_Max` is divided by: the histograms count microseconds, the
/// log's maxima read in milliseconds.
pub const MAX_VALUE_DIVISOR: f64 = 1_000.0;

/// The tag of a policy's (or one of its histograms') intervals.
pub fn tag(policy: &str, parts: &[&str]) -> String {
    let safe: String =
        policy.chars().map(|c| if matches!(c, ',' | ' ' | '\r' | '\n') { '_' } else { c }).collect();
    std::iter::once(safe.as_str()).chain(parts.iter().copied()).collect::<Vec<_>>().join(".")
}

/// The name an outcome has in tags (as in `result.json`).
pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::L1 => "l1",
        Outcome::L2 => "l2",
        Outcome::Origin => "origin",
        Outcome::Stale => "stale",
        Outcome::Error => "error",
    }
}

/// The interval log of `result`: whole-policy histograms first (they start at
/// 0), then the per-second series of every policy in time order.
///
/// # Errors
/// When a histogram cannot be encoded.
pub fn interval_log(result: &RunResult) -> io::Result<Vec<u8>> {
    let mut whole: Vec<(String, &Latency, Duration)> = Vec::new();
    let mut series: Vec<(Duration, Duration, String, &Latency)> = Vec::new();
    for p in &result.policies {
        let m = &p.metrics;
        let wall = Duration::from_secs_f64(p.wall_s.max(0.0));
        for (kind, by) in [("corrected", &m.corrected), ("uncorrected", &m.uncorrected)] {
            for (o, h) in by {
                whole.push((tag(&p.name, &[kind, outcome_name(*o)]), h, wall));
            }
        }
        let step = series_step(&m.seconds.iter().map(|s| s.second).collect::<Vec<_>>());
        for s in &m.seconds {
            series.push((Duration::from_secs(s.second), step, tag(&p.name, &[]), &s.latency));
        }
    }
    series.sort_by_key(|(start, ..)| *start);
    let start = parse_iso8601(&result.started_at).unwrap_or(UNIX_EPOCH);
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "tierbench {} {} run {} of scenario {}; values in microseconds (Interval_Max in ms)",
            result.tool_version, result.mode, result.run_id, result.scenario
        ))
        .add_comment("[Histogram log format version 1.3]")
        .with_start_time(start)
        .with_base_time(start)
        .begin_log_with(&mut out, &mut serializer)?;
    out.extend_from_slice(
        b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
    );
    let mut builder = IntervalLogWriterBuilder::new();
    builder.with_max_value_divisor(MAX_VALUE_DIVISOR);
    let mut log = builder.begin_log_with(&mut out, &mut serializer)?;
    let lines = whole.into_iter().map(|(t, h, len)| (Duration::ZERO, len, t, h)).chain(series);
    for (at, len, t, h) in lines {
        let tag = Tag::new(&t).ok_or_else(|| io::Error::other(format!("bad interval log tag {t:?}")))?;
        log.write_histogram(h.histogram(), at, len, Some(tag))
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(out)
}

/// Seconds per entry of a per-second series (longer simulations record in
/// steps): the smallest gap between entries, 1 s by default.
pub fn series_step(seconds: &[u64]) -> Duration {
    let gap = seconds.windows(2).map(|w| w[1].saturating_sub(w[0])).filter(|g| *g > 0).min();
    Duration::from_secs(gap.unwrap_or(1))
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` as a time; `None` for anything else.
fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let millis: u64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    // Days since the epoch of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let days = u64::try_from(era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468).ok()?;
    let secs = days * 86_400 + hh * 3_600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::*;

    #[test]
    fn iso8601_start_times_parse_to_unix_seconds() {
        let t = |s| parse_iso8601(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_millis());
        assert_eq!(t("2025-02-05T12:00:00.500Z"), Some(1_738_756_800_500));
        assert_eq!(t("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(t("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn the_interval_log_reads_back_with_hdrhistograms_own_parser() {
        let mut result = crate::report::schema::tests::run_result();
        result.policies[1].name = "two words,comma".into();
        let log = interval_log(&result).unwrap();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.contains("#[StartTime: 1767225600.000 (seconds since epoch)]"), "{text}");
        assert!(text.contains("\"StartTimestamp\",\"Interval_Length\""), "{text}");
        let (mut starts, mut counts) = (Vec::new(), BTreeMap::<String, Vec<u64>>::new());
        for entry in IntervalLogIterator::new(&log) {
            match entry.expect("every line parses") {
                LogEntry::StartTime(t) | LogEntry::BaseTime(t) => starts.push(t.as_secs()),
                LogEntry::Interval(i) => {
                    let bytes = base64::Engine::decode(
                        &base64::engine::general_purpose::STANDARD,
                        i.encoded_histogram(),
                    )
                    .unwrap();
                    let h: Histogram<u64> = Deserializer::new().deserialize(&mut bytes.as_slice()).unwrap();
                    assert!((i.max() - h.max() as f64 / MAX_VALUE_DIVISOR).abs() < 1e-3 * h.max() as f64);
                    counts
                        .entry(i.tag().expect("every interval is tagged").to_string())
                        .or_default()
                        .push(h.len());
                }
            }
        }
        assert_eq!(starts, vec![1_767_225_600; 2]);
        for p in &result.policies {
            let m = &p.metrics;
            let per_second: Vec<u64> = m.seconds.iter().map(|s| s.latency.count()).collect();
            assert_eq!(counts[&tag(&p.name, &[])], per_second, "{}", p.name);
            for (o, h) in &m.corrected {
                assert_eq!(counts[&tag(&p.name, &["corrected", outcome_name(*o)])], vec![h.count()]);
            }
            for (o, h) in &m.uncorrected {
                assert_eq!(counts[&tag(&p.name, &["uncorrected", outcome_name(*o)])], vec![h.count()]);
            }
        }
        assert!(counts.contains_key("two_words_comma.corrected.l1"), "{:?}", counts.keys());
    }
}
