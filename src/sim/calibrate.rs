//! Calibration: a live run and a simulated run of the same scenario, metric by
//! metric, against the tolerances the simulator is held to (hit ratios within
//! 2 points, Stripe calls within 5 %, p50 of served requests and p99 within 20 %).

use std::fmt::Write as _;

use crate::metrics::Outcome;
use crate::report::PolicyResult;

/// How a metric's simulated value may differ from the live one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// Absolute, in percentage points (for ratios shown as %).
    Points(f64),
    /// Relative to the live value, %.
    Percent(f64),
    /// Shown, not held to a bound.
    Shown,
}

/// One metric, live against simulated.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricDiff {
    /// The metric's name.
    pub name: String,
    /// Its live value.
    pub live: f64,
    /// Its simulated value.
    pub sim: f64,
    /// The bound it is held to.
    pub tolerance: Tolerance,
}

impl MetricDiff {
    /// The difference in the tolerance's terms (points, or % of live).
    pub fn difference(&self) -> f64 {
        match self.tolerance {
            Tolerance::Points(_) => self.sim - self.live,
            Tolerance::Percent(_) | Tolerance::Shown => {
                if self.live == 0.0 {
                    if self.sim == 0.0 { 0.0 } else { f64::INFINITY }
                } else {
                    (self.sim - self.live) / self.live * 100.0
                }
            }
        }
    }

    /// Whether the simulated value is within the tolerance.
    pub fn ok(&self) -> bool {
        match self.tolerance {
            Tolerance::Points(p) | Tolerance::Percent(p) => self.difference().abs() <= p,
            Tolerance::Shown => true,
        }
    }
}

/// The calibration table of one policy.
pub fn compare(live: &PolicyResult, sim: &PolicyResult) -> Vec<MetricDiff> {
    let (l, s) = (&live.summary, &sim.summary);
    let pct = |v: f64| v * 100.0;
    let row =
        |name: &str, live: f64, sim: f64, tolerance| MetricDiff { name: name.into(), live, sim, tolerance };
    let served_p50 = |r: &PolicyResult| r.metrics.corrected_served().quantile(0.5).as_secs_f64() * 1e3;
    let layer_p50 = |r: &PolicyResult, o: Outcome| {
        r.metrics.corrected.get(&o).map_or(0.0, |h| h.quantile(0.5).as_secs_f64() * 1e3)
    };
    vec![
        row("L1 hit %", pct(l.l1_hit_ratio), pct(s.l1_hit_ratio), Tolerance::Points(2.0)),
        row("L2 hit % (of L1 misses)", pct(l.l2_hit_ratio), pct(s.l2_hit_ratio), Tolerance::Points(2.0)),
        row("Stripe calls", l.stripe_calls as f64, s.stripe_calls as f64, Tolerance::Percent(5.0)),
        // The median of served requests: the median of all of them sits where
        // L1 hits meet fast 429s, so it moves with the error share, which has
        // its own line.
        row("p50 ms (served)", served_p50(live), served_p50(sim), Tolerance::Percent(20.0)),
        row("p99 ms", l.p99_ms, s.p99_ms, Tolerance::Percent(20.0)),
        row("stale %", pct(l.stale_read_ratio), pct(s.stale_read_ratio), Tolerance::Shown),
        row("errors", l.errors as f64, s.errors as f64, Tolerance::Shown),
        row("Stripe 429s", l.stripe_429s as f64, s.stripe_429s as f64, Tolerance::Shown),
        row(
            "origin-served p50 ms",
            layer_p50(live, Outcome::Origin),
            layer_p50(sim, Outcome::Origin),
            Tolerance::Shown,
        ),
        row("L1-served p50 ms", layer_p50(live, Outcome::L1), layer_p50(sim, Outcome::L1), Tolerance::Shown),
    ]
}

/// The table as text, one metric per line, with a verdict column.
pub fn render(policy: &str, rows: &[MetricDiff]) -> String {
    let mut out = format!(
        "calibration [{policy}]\n{:<26} {:>10} {:>10} {:>10} {:>10}  ok\n",
        "metric", "live", "sim", "diff", "bound"
    );
    for r in rows {
        let (diff, bound) = match r.tolerance {
            Tolerance::Points(p) => (format!("{:+.2} pt", r.difference()), format!("{p} pt")),
            Tolerance::Percent(p) => (format!("{:+.1} %", r.difference()), format!("{p} %")),
            Tolerance::Shown => (format!("{:+.1} %", r.difference()), "-".into()),
        };
        let verdict = match r.tolerance {
            Tolerance::Shown => "",
            _ if r.ok() => "yes",
            _ => "NO",
        };
        let _ = writeln!(
            out,
            "{:<26} {:>10.2} {:>10.2} {:>10} {:>10}  {verdict}",
            r.name, r.live, r.sim, diff, bound
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_are_points_for_ratios_and_percent_for_counts() {
        let d = |live, sim, tolerance| MetricDiff { name: "m".into(), live, sim, tolerance };
        assert!(d(52.3, 54.2, Tolerance::Points(2.0)).ok());
        assert!(!d(52.3, 54.5, Tolerance::Points(2.0)).ok());
        assert!(d(1_000.0, 1_049.0, Tolerance::Percent(5.0)).ok());
        assert!(!d(1_000.0, 940.0, Tolerance::Percent(5.0)).ok());
        assert!(d(0.0, 0.0, Tolerance::Percent(5.0)).ok());
        assert!(!d(0.0, 1.0, Tolerance::Percent(5.0)).ok());
        let text = render("seed", &[d(10.0, 30.0, Tolerance::Percent(20.0))]);
        assert!(text.contains("NO") && text.contains("+200.0 %"), "{text}");
    }
}
