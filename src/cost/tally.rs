//! Counted observations: how many times each distinct thing (an item size, a
//! command and its bytes) was seen, serialised as a list of `{..., count}`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A multiset of `K` with counts. Rounding what is recorded (sizes up to a
/// bucket) bounds its memory and keeps cost estimates conservative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    from = "Vec<Counted<K>>",
    into = "Vec<Counted<K>>",
    bound(serialize = "K: Serialize + Clone + Ord", deserialize = "K: Deserialize<'de> + Ord")
)]
#[schemars(inline)]
pub struct Tally<K: Ord> {
    counts: BTreeMap<K, u64>,
}

/// One entry of a serialised [`Tally`]: the key's fields plus `count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Counted{K}")]
pub struct Counted<K> {
    /// What was seen.
    #[serde(flatten)]
    pub key: K,
    /// How many times.
    pub count: u64,
}

impl<K: Ord> Default for Tally<K> {
    fn default() -> Self {
        Self { counts: BTreeMap::new() }
    }
}

impl<K: Ord> Tally<K> {
    /// An empty tally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `key` once.
    pub fn record(&mut self, key: K) {
        self.record_n(key, 1);
    }

    /// Counts `key` `n` times (a simulator's aggregate, or a merge).
    pub fn record_n(&mut self, key: K, n: u64) {
        if n > 0 {
            *self.counts.entry(key).or_default() += n;
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Self)
    where
        K: Clone,
    {
        for (k, n) in &other.counts {
            self.record_n(k.clone(), *n);
        }
    }

    /// Adds every count of `other`, `times` over (a simulator's aggregate of
    /// `times` alike requests).
    pub fn merge_times(&mut self, other: &Self, times: u64)
    where
        K: Clone,
    {
        for (k, n) in &other.counts {
            self.record_n(k.clone(), *n * times);
        }
    }

    /// Each distinct key with its count, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, u64)> {
        self.counts.iter().map(|(k, n)| (k, *n))
    }

    /// Total count.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// `sum(f(key) x count)`.
    pub fn sum_by(&self, f: impl Fn(&K) -> f64) -> f64 {
        self.iter().map(|(k, n)| f(k) * n as f64).sum()
    }
}

impl<K: Ord> From<Vec<Counted<K>>> for Tally<K> {
    fn from(entries: Vec<Counted<K>>) -> Self {
        let mut t = Self::new();
        for e in entries {
            t.record_n(e.key, e.count);
        }
        t
    }
}

impl<K: Ord> From<Tally<K>> for Vec<Counted<K>> {
    fn from(t: Tally<K>) -> Self {
        t.counts.into_iter().map(|(key, count)| Counted { key, count }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
    struct Size {
        size_bytes: u64,
    }

    #[test]
    fn counts_merge_and_round_trip_through_json() {
        let mut t = Tally::new();
        t.record(Size { size_bytes: 10 });
        t.record(Size { size_bytes: 10 });
        t.record_n(Size { size_bytes: 30 }, 3);
        t.record_n(Size { size_bytes: 50 }, 0);
        assert_eq!(t.total(), 5);
        assert_eq!(t.sum_by(|s| s.size_bytes as f64), 2.0 * 10.0 + 3.0 * 30.0);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"[{"size_bytes":10,"count":2},{"size_bytes":30,"count":3}]"#);
        let back: Tally<Size> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        let mut merged = back.clone();
        merged.merge(&t);
        assert_eq!(merged.total(), 10);
    }
}
