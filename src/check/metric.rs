//! The metrics thresholds and baseline checks name: a documented list of
//! friendly names (`p99`, `hit_ratio.l1`, `stale_reads`, ...) and any numeric
//! field of a policy's entry in `result.json` by its dotted path.

use std::fmt;

use serde_json::Value;

use super::stats::{Estimate, proportion, quantile_ms, rate};
use crate::metrics::{Latency, Outcome};
use crate::report::PolicyResult;

/// What a failing metric is about (named in `check`'s verdict).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Latency percentiles.
    Latency,
    /// Hit ratios per layer.
    HitRatio,
    /// Stale reads and their age.
    Staleness,
    /// Estimated AWS cost.
    Cost,
    /// Errors, late and dropped requests, incomplete runs.
    Errors,
    /// Stripe calls, 429s and headroom.
    Stripe,
    /// Requests served.
    Throughput,
    /// Any other field of result.json.
    Other,
}

impl Class {
    /// Every class, for `--tolerance` and docs.
    pub const ALL: [Class; 8] = [
        Class::Latency,
        Class::HitRatio,
        Class::Staleness,
        Class::Cost,
        Class::Errors,
        Class::Stripe,
        Class::Throughput,
        Class::Other,
    ];

    /// Its name in output and flags.
    pub fn name(self) -> &'static str {
        match self {
            Class::Latency => "latency",
            Class::HitRatio => "hit_ratio",
            Class::Staleness => "staleness",
            Class::Cost => "cost",
            Class::Errors => "errors",
            Class::Stripe => "stripe",
            Class::Throughput => "throughput",
            Class::Other => "other",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a metric's values read and are written in thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds; thresholds take a duration (`40ms`, `1.5s`).
    Ms,
    /// A share from 0 to 1; thresholds take `0.9` or `90%`.
    Ratio,
    /// Per second.
    PerS,
    /// A count.
    Count,
    /// US dollars; thresholds take `300` or `$300`.
    Usd,
    /// Percent; thresholds take `20` or `20%`.
    Percent,
    /// A plain number.
    Number,
}

impl Unit {
    /// `value` in this unit, for tables.
    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Ms => format!("{value:.2} ms"),
            Unit::Ratio => format!("{:.2}%", value * 100.0),
            Unit::PerS => format!("{value:.2}/s"),
            Unit::Count => format!("{value:.0}"),
            Unit::Usd => format!("${value:.2}"),
            Unit::Percent => format!("{value:.1}%"),
            Unit::Number => format!("{value:.4}"),
        }
    }
}

/// Which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Smaller values are better (latency, cost, staleness).
    Lower,
    /// Larger values are better (hit ratios, headroom).
    Higher,
    /// No direction (fields of result.json not in the list): changes are shown, never failed.
    Either,
}

/// Which requests a latency metric covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layers {
    All,
    Served,
    One(Outcome),
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Latency { q: f64, layers: Layers, corrected: bool },
    StaleAge { q: f64 },
    Share { of: Share },
    Count { of: Counted },
    Rate { of: Counted },
    CostPerMonth,
    CostPerMillion,
    Headroom,
    CallsPerFill,
    Field(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Share {
    L1,
    L2,
    Origin,
    Stale,
    StaleServed,
    Errors,
    Late,
    Dropped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counted {
    Requests,
    Errors,
    Dropped,
    Late,
    StripeCalls,
    Stripe429s,
}

/// A metric by name, as thresholds and `check` use it.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    name: String,
    kind: Kind,
}

/// The documented names, for errors and `--help`.
pub const NAMES: &str = "p50, p90, p95, p99, p999, p9999, max (corrected latency of every request; \
add .l1 .l2 .origin .stale .error or .served for one layer, prefix uncorrected. for latency from the \
actual send), stale_age.p99 (any percentile), hit_ratio.l1, hit_ratio.l2, origin_ratio, stale_reads, \
stale_served_ratio, error_ratio, late_ratio, dropped_ratio, requests, errors, dropped, late, \
stripe_calls, stripe_429s, requests_per_s, stripe_calls_per_s, cost_per_month, cost_per_million, \
stripe_headroom, origin_calls_per_fill, or the dotted path of any numeric field of a policy in \
result.json (e.g. chain.l2_fills, webhooks.keys_invalidated, etiquette.retries_429)";

/// `p99` -> 0.99, `p999` -> 0.999, `p50` -> 0.5, `p100`/`max` -> 1.
fn percentile(text: &str) -> Option<f64> {
    if text == "max" {
        return Some(1.0);
    }
    let digits = text.strip_prefix('p')?;
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits == "100" {
        return Some(1.0);
    }
    format!("0.{digits}").parse().ok()
}

fn layer(text: &str) -> Option<Layers> {
    Some(match text {
        "l1" => Layers::One(Outcome::L1),
        "l2" => Layers::One(Outcome::L2),
        "origin" => Layers::One(Outcome::Origin),
        "stale" => Layers::One(Outcome::Stale),
        "error" => Layers::One(Outcome::Error),
        "served" => Layers::Served,
        _ => return None,
    })
}

impl Metric {
    /// The metric called `name`.
    ///
    /// # Errors
    /// When `name` is neither a documented metric nor a numeric field of a
    /// policy in result.json; the message lists what is allowed.
    pub fn parse(name: &str) -> Result<Metric, String> {
        let kind =
            Self::kind(name.trim()).ok_or_else(|| format!("unknown metric {name:?}; known: {NAMES}"))?;
        Ok(Metric { name: name.trim().to_owned(), kind })
    }

    fn kind(name: &str) -> Option<Kind> {
        let named = match name {
            "hit_ratio.l1" => Kind::Share { of: Share::L1 },
            "hit_ratio.l2" => Kind::Share { of: Share::L2 },
            "origin_ratio" => Kind::Share { of: Share::Origin },
            "stale_reads" => Kind::Share { of: Share::Stale },
            "stale_served_ratio" => Kind::Share { of: Share::StaleServed },
            "error_ratio" => Kind::Share { of: Share::Errors },
            "late_ratio" => Kind::Share { of: Share::Late },
            "dropped_ratio" => Kind::Share { of: Share::Dropped },
            "requests" => Kind::Count { of: Counted::Requests },
            "errors" => Kind::Count { of: Counted::Errors },
            "dropped" => Kind::Count { of: Counted::Dropped },
            "late" => Kind::Count { of: Counted::Late },
            "stripe_calls" => Kind::Count { of: Counted::StripeCalls },
            "stripe_429s" => Kind::Count { of: Counted::Stripe429s },
            "requests_per_s" => Kind::Rate { of: Counted::Requests },
            "stripe_calls_per_s" => Kind::Rate { of: Counted::StripeCalls },
            "cost_per_month" => Kind::CostPerMonth,
            "cost_per_million" => Kind::CostPerMillion,
            "stripe_headroom" => Kind::Headroom,
            "origin_calls_per_fill" => Kind::CallsPerFill,
            _ => return Self::latency(name).or_else(|| Self::field(name)),
        };
        Some(named)
    }

    fn latency(name: &str) -> Option<Kind> {
        if let Some(p) = name.strip_prefix("stale_age.") {
            return percentile(p).map(|q| Kind::StaleAge { q });
        }
        let (corrected, rest) = match name.strip_prefix("uncorrected.") {
            Some(rest) => (false, rest),
            None => (true, name),
        };
        let (p, layers) = match rest.split_once('.') {
            Some((p, l)) => (p, layer(l)?),
            None => (rest, Layers::All),
        };
        percentile(p).map(|q| Kind::Latency { q, layers, corrected })
    }

    fn field(name: &str) -> Option<Kind> {
        let path: Vec<String> = name.split('.').map(str::to_owned).collect();
        super::fields::is_numeric_policy_field(&path).then_some(Kind::Field(path))
    }

    /// Its name as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it is about.
    pub fn class(&self) -> Class {
        match &self.kind {
            Kind::Latency { .. } => Class::Latency,
            Kind::StaleAge { .. } | Kind::Share { of: Share::Stale | Share::StaleServed } => Class::Staleness,
            Kind::Share { of: Share::L1 | Share::L2 | Share::Origin } => Class::HitRatio,
            Kind::Share { .. } | Kind::Count { of: Counted::Errors | Counted::Dropped | Counted::Late } => {
                Class::Errors
            }
            Kind::Count { of: Counted::Requests } | Kind::Rate { of: Counted::Requests } => Class::Throughput,
            Kind::Count { .. } | Kind::Rate { .. } | Kind::Headroom | Kind::CallsPerFill => Class::Stripe,
            Kind::CostPerMonth | Kind::CostPerMillion => Class::Cost,
            Kind::Field(_) => Class::Other,
        }
    }

    /// Its unit.
    pub fn unit(&self) -> Unit {
        match &self.kind {
            Kind::Latency { .. } | Kind::StaleAge { .. } => Unit::Ms,
            Kind::Share { .. } => Unit::Ratio,
            Kind::Count { .. } => Unit::Count,
            Kind::Rate { .. } => Unit::PerS,
            Kind::CostPerMonth | Kind::CostPerMillion => Unit::Usd,
            Kind::Headroom => Unit::Percent,
            Kind::CallsPerFill | Kind::Field(_) => Unit::Number,
        }
    }

    /// Which way is better.
    pub fn better(&self) -> Better {
        match &self.kind {
            Kind::Share { of: Share::L1 | Share::L2 } | Kind::Headroom => Better::Higher,
            Kind::Count { of: Counted::Requests } | Kind::Rate { of: Counted::Requests } => Better::Higher,
            Kind::Field(_) => Better::Either,
            _ => Better::Lower,
        }
    }

    /// Its value in `policy`, with a 99 % interval where the run's samples
    /// give one; `Err` says why it was not measured.
    ///
    /// # Errors
    /// When the policy has no such value (no cost estimate, a field missing).
    pub fn measure(&self, policy: &PolicyResult) -> Result<Estimate, String> {
        let m = &policy.metrics;
        let c = &m.counts;
        Ok(match &self.kind {
            Kind::Latency { q, layers, corrected } => {
                let by = if *corrected { &m.corrected } else { &m.uncorrected };
                let h = match layers {
                    Layers::All if *corrected => m.corrected_all(),
                    Layers::All => m.uncorrected_all(),
                    Layers::Served => {
                        let mut h = Latency::new();
                        by.iter().filter(|(o, _)| **o != Outcome::Error).for_each(|(_, l)| h.merge(l));
                        h
                    }
                    Layers::One(o) => by.get(o).cloned().unwrap_or_default(),
                };
                quantile_ms(&h, *q)
            }
            Kind::StaleAge { q } => quantile_ms(&m.staleness_age, *q),
            Kind::Share { of } => {
                let (k, n) = match of {
                    Share::L1 => (c.l1, c.requests),
                    Share::L2 => (c.l2, c.requests.saturating_sub(c.l1)),
                    Share::Origin => (c.origin, c.requests),
                    Share::Stale => (c.stale, c.requests),
                    Share::StaleServed => (c.stale_served, c.requests),
                    Share::Errors => (c.errors, c.requests),
                    Share::Late => (c.late, c.requests),
                    Share::Dropped => (c.dropped, c.requests + c.dropped),
                };
                proportion(k, n)
            }
            Kind::Count { of } => Estimate::exact(count(policy, *of) as f64),
            Kind::Rate { of } => rate(count(policy, *of), policy.wall_s),
            Kind::CostPerMonth => Estimate::exact(cost(policy)?.total.per_month_usd),
            Kind::CostPerMillion => Estimate::exact(
                cost(policy)?
                    .total
                    .per_million_requests_usd
                    .ok_or("no cost per million requests: the run served none")?,
            ),
            Kind::Headroom => Estimate::exact(cost(policy)?.stripe.headroom_pct),
            Kind::CallsPerFill => Estimate::exact(policy.summary.origin_calls_per_fill),
            Kind::Field(path) => Estimate::exact(field(policy, path)?),
        })
    }
}

fn count(p: &PolicyResult, of: Counted) -> u64 {
    let c = &p.metrics.counts;
    match of {
        Counted::Requests => c.requests,
        Counted::Errors => c.errors,
        Counted::Dropped => c.dropped,
        Counted::Late => c.late,
        Counted::StripeCalls => p.stripe.requests,
        Counted::Stripe429s => p.stripe.rate_limited.total(),
    }
}

fn cost(p: &PolicyResult) -> Result<&crate::cost::CostBreakdown, String> {
    p.cost.as_ref().ok_or_else(|| {
        format!("no cost estimate: {}", p.cost_error.as_deref().unwrap_or("the result has none"))
    })
}

fn field(p: &PolicyResult, path: &[String]) -> Result<f64, String> {
    let doc = serde_json::to_value(p).map_err(|e| e.to_string())?;
    let mut at = &doc;
    for key in path {
        at = at.get(key.as_str()).ok_or_else(|| format!("{} has no field {key:?}", path.join(".")))?;
    }
    match at {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{} is not a number", path.join("."))),
        Value::Null => Err(format!("{} is empty (null) in this result", path.join("."))),
        other => Err(format!("{} is not a number: {other}", path.join("."))),
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_into_their_class_unit_and_direction() {
        let cases = [
            ("p99", Class::Latency, Unit::Ms, Better::Lower),
            ("uncorrected.p999.l1", Class::Latency, Unit::Ms, Better::Lower),
            ("p50.served", Class::Latency, Unit::Ms, Better::Lower),
            ("hit_ratio.l1", Class::HitRatio, Unit::Ratio, Better::Higher),
            ("stale_reads", Class::Staleness, Unit::Ratio, Better::Lower),
            ("stale_age.p99", Class::Staleness, Unit::Ms, Better::Lower),
            ("stripe_calls_per_s", Class::Stripe, Unit::PerS, Better::Lower),
            ("cost_per_month", Class::Cost, Unit::Usd, Better::Lower),
            ("error_ratio", Class::Errors, Unit::Ratio, Better::Lower),
            ("chain.l2_fills", Class::Other, Unit::Number, Better::Either),
            ("summary.p999_ms", Class::Other, Unit::Number, Better::Either),
        ];
        for (name, class, unit, better) in cases {
            let m = Metric::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((m.class(), m.unit(), m.better()), (class, unit, better), "{name}");
        }
        assert_eq!(percentile("p999"), Some(0.999));
        assert_eq!(percentile("p5"), Some(0.5));
        for bad in ["p99.l3", "hit_ratio.l3", "chain.nope", "name", "p", "pxx", "summary"] {
            let e = Metric::parse(bad).expect_err(bad);
            assert!(e.contains("unknown metric") && e.contains("hit_ratio.l1"), "{e}");
        }
    }
}
