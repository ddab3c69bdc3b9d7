//! Thresholds: absolute bounds on a metric, k6-like (`p99 < 40ms`,
//! `hit_ratio.l1 > 90%`), from a scenario's `[thresholds]` or `--threshold`.

use std::fmt;

use super::metric::{Metric, Unit};
use crate::scenario::parse_duration;

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Op::Lt => value < bound,
            Op::Le => value <= bound,
            Op::Gt => value > bound,
            Op::Ge => value >= bound,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// `metric op bound`, the bound in the metric's unit (ms, a 0-1 share, USD, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// What is bounded.
    pub metric: Metric,
    /// How.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

impl Threshold {
    /// A threshold from a whole expression such as `p99 < 40ms`.
    ///
    /// # Errors
    /// What is wrong with the metric, the operator or the bound.
    pub fn parse(expression: &str) -> Result<Threshold, String> {
        let at = expression
            .find(['<', '>'])
            .ok_or_else(|| format!("{expression:?} has no comparison: write e.g. \"p99 < 40ms\""))?;
        Self::condition(&expression[..at], &expression[at..])
    }

    /// A threshold on `metric` from a condition such as `< 40ms` (a
    /// scenario's `[thresholds]` entry).
    ///
    /// # Errors
    /// What is wrong with the metric, the operator or the bound.
    pub fn condition(metric: &str, condition: &str) -> Result<Threshold, String> {
        let metric = Metric::parse(metric)?;
        let c = condition.trim();
        let (op, rest) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find_map(|(s, op)| c.strip_prefix(s).map(|rest| (op, rest.trim())))
            .ok_or_else(|| format!("{c:?} must start with <, <=, > or >= (e.g. \"< 40ms\")"))?;
        let bound = bound(metric.unit(), rest)?;
        Ok(Threshold { metric, op, bound })
    }

    /// Whether `value` meets it.
    pub fn holds(&self, value: f64) -> bool {
        self.op.holds(value, self.bound)
    }
}

fn number(text: &str) -> Result<f64, String> {
    let v: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?;
    if v.is_finite() { Ok(v) } else { Err(format!("{text:?} is not a finite number")) }
}

/// `text` as a bound in `unit`.
fn bound(unit: Unit, text: &str) -> Result<f64, String> {
    match unit {
        Unit::Ms => parse_duration(text)
            .map(|d| d.as_secs_f64() * 1e3)
            .map_err(|e| format!("a latency bound needs a unit such as 40ms or 1.5s: {e}")),
        Unit::Ratio => {
            let v = match text.strip_suffix('%') {
                Some(pct) => number(pct)? / 100.0,
                None => number(text)?,
            };
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(format!("a share is between 0 and 1 (or 0% and 100%), got {text:?}"))
            }
        }
        Unit::Percent => number(text.strip_suffix('%').unwrap_or(text)),
        Unit::Usd => number(text.strip_prefix('$').unwrap_or(text)),
        Unit::PerS => number(text.strip_suffix("/s").unwrap_or(text)),
        Unit::Count | Unit::Number => number(text),
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.metric, self.op.symbol(), self.metric.unit().show(self.bound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_take_the_metric_s_units() {
        let t = Threshold::parse("p99 < 40ms").unwrap();
        assert_eq!((t.op, t.bound), (Op::Lt, 40.0));
        assert!(t.holds(39.9) && !t.holds(40.0));
        assert_eq!(Threshold::parse("hit_ratio.l1 >= 90%").unwrap().bound, 0.9);
        assert_eq!(Threshold::parse("hit_ratio.l1 > 0.9").unwrap().bound, 0.9);
        assert_eq!(Threshold::parse("stale_reads < 0.1%").unwrap().bound, 0.001);
        assert_eq!(Threshold::parse("cost_per_month < $300").unwrap().bound, 300.0);
        assert_eq!(Threshold::parse("p99.l1<=1.5s").unwrap().bound, 1_500.0);
        assert_eq!(
            Threshold::parse("stripe_calls_per_s < 50").unwrap().to_string(),
            "stripe_calls_per_s < 50.00/s"
        );
    }

    #[test]
    fn bad_conditions_say_what_is_wrong() {
        for (bad, says) in [
            ("p99 < 40", "unit"),
            ("hit_ratio.l1 > 1.5", "between 0 and 1"),
            ("p99 = 40ms", "no comparison"),
            ("p98.5 < 40ms", "unknown metric"),
            ("cost_per_month < lots", "not a number"),
        ] {
            let e = Threshold::parse(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(Threshold::condition("p99", "40ms").unwrap_err().contains("must start with"));
    }
}
