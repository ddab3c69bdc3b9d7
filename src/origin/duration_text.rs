//! Durations in the etiquette's serde form: text with a unit (`"250ms"`, `"5s"`),
//! the way scenario files write them.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Parses a non-negative number followed by `us`, `ms`, `s`, `m`, `h` or `d`
/// (the scenario files' form: [`crate::clock::parse_duration`]).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    crate::clock::parse_duration(text)
}

/// The shortest exact text of `d`: whole seconds as `s`, else `ms`, else `us`.
pub(crate) fn format(d: Duration) -> String {
    let us = d.as_micros();
    if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1_000) {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}us")
    }
}

/// `#[serde(with = "duration_text")]`.
pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

/// `#[serde(with = "duration_text")]`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_through_text() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert!(parse("60").unwrap_err().contains("no unit"));
        assert!(parse("-1s").is_err());
        for d in [Duration::from_secs(5), Duration::from_millis(250), Duration::from_micros(1_500)] {
            assert_eq!(parse(&format(d)), Ok(d));
        }
        assert_eq!(format(Duration::from_millis(500)), "500ms");
    }
}
