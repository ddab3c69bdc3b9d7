//! A latency histogram (HdrHistogram, µs, 3 significant digits) that
//! serializes exactly (compressed V2 encoding in base64), so results from
//! shards and runs merge without loss.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize, Serializer};

/// Highest recordable latency: one hour (longer values are clamped to it).
const MAX_US: u64 = 3_600_000_000;

/// Latencies in microseconds, from 1 µs to 1 h at 3 significant digits.
#[derive(Clone, PartialEq)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new_with_bounds(1, MAX_US, 3).expect("static bounds are valid"))
    }
}

impl fmt::Debug for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Latency(n={}, p50={:?}, p99={:?})", self.count(), self.quantile(0.5), self.quantile(0.99))
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one latency (at least 1 µs, at most 1 h).
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(MAX_US).clamp(1, MAX_US);
        self.0.saturating_record(us);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Latency) {
        // Both share the same bounds, so addition cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at quantile `q` (0 to 1); zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(if self.0.is_empty() { 0 } else { self.0.value_at_quantile(q) })
    }

    /// The largest value; zero when empty.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.0.max())
    }

    /// The mean; zero when empty.
    pub fn mean(&self) -> Duration {
        Duration::from_secs_f64(self.0.mean() / 1e6)
    }

    /// The underlying histogram (for exporters).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.0
    }

    /// The compressed V2 encoding in base64, as HdrHistogram's own tools read it.
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new().serialize(&self.0, &mut bytes).expect("writing to a Vec cannot fail");
        BASE64.encode(bytes)
    }

    /// Decodes [`Latency::to_base64`].
    ///
    /// # Errors
    /// A message when the text is not such an encoding.
    pub fn from_base64(text: &str) -> Result<Latency, String> {
        let bytes = BASE64.decode(text).map_err(|e| format!("histogram is not base64: {e}"))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("bad histogram: {e:?}"))?;
        let mut out = Latency::new();
        out.0.add(&h).map_err(|e| format!("histogram out of range: {e:?}"))?;
        Ok(out)
    }
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl schemars::JsonSchema for Latency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Latency".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "contentEncoding": "base64",
            "description": "A latency histogram in microseconds (1 µs to 1 h, 3 significant digits): \
                HdrHistogram's compressed V2 encoding (V2 + DEFLATE) in standard base64, \
                as HdrHistogram's own tools read it."
        })
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Latency::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_quantiles_and_round_trips_exactly() {
        let mut h = Latency::new();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5);
        assert!(p50 >= Duration::from_millis(50) && p50 <= Duration::from_micros(50_100), "{p50:?}");
        let text = serde_json::to_string(&h).unwrap();
        let back: Latency = serde_json::from_str(&text).unwrap();
        assert_eq!(back, h);
        assert!(serde_json::from_str::<Latency>("\"!!\"").is_err());
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Latency::new(), Latency::new(), Latency::new());
        for us in [5, 70, 900, 12_000, 3_000_000] {
            a.record(Duration::from_micros(us));
            all.record(Duration::from_micros(us));
        }
        for us in [1, 44, 44, 8_000_000_000] {
            b.record(Duration::from_micros(us));
            all.record(Duration::from_micros(us));
        }
        a.merge(&b);
        assert_eq!(a, all);
        let max = a.max().as_secs_f64();
        assert!((3_600.0..3_604.0).contains(&max), "clamped at one hour, got {max}");
    }
}
