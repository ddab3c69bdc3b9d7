//! Units in scenario files: durations such as `250ms`, `1h`, `1.5s`.

use std::time::Duration;

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
    fn durations_parse_with_units_and_reject_bare_numbers() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("750us"), Ok(Duration::from_micros(750)));
        assert!(parse_duration("60").unwrap_err().contains("no unit"));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
