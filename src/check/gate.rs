//! The gate: a result against its thresholds and, optionally, against a
//! baseline, one [`Row`] per policy and metric.

use std::collections::{BTreeMap, BTreeSet};

use super::metric::{Better, Class, Metric, Unit};
use super::stats::{Estimate, difference, significant};
use super::threshold::Threshold;
use crate::report::{PolicyResult, RunResult};

/// How a row came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Within its threshold, or no significant change from the baseline.
    Pass,
    /// Significantly better than the baseline.
    Improved,
    /// Significantly worse than the baseline, but within the tolerance.
    Within,
    /// Broke a threshold, or significantly worse than the baseline by more than the tolerance.
    Fail,
}

impl Status {
    /// Its word in tables.
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "ok",
            Status::Improved => "improved",
            Status::Within => "worse, within tolerance",
            Status::Fail => "FAIL",
        }
    }
}

/// One check of one metric of one policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The policy.
    pub policy: String,
    /// The metric's name (or `run` for the run as a whole).
    pub metric: String,
    /// What it is about.
    pub class: Class,
    /// How its values read.
    pub unit: Unit,
    /// What was checked: `< 40.00 ms` or `vs baseline (±25%)`.
    pub check: String,
    /// The baseline's value, for regression rows.
    pub baseline: Option<Estimate>,
    /// The result's value (`None` when it could not be measured).
    pub value: Option<Estimate>,
    /// The change against the baseline, as shown (`+12.3% [+5.0%, +20.1%]`).
    pub change: String,
    /// How it came out.
    pub status: Status,
    /// Why, in words.
    pub detail: String,
}

/// Allowed worsening before a significant change fails: absolute points
/// for shares (hit ratio, stale reads, errors), relative for the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerances {
    absolute: BTreeMap<Class, f64>,
    relative: BTreeMap<Class, f64>,
    per_metric: BTreeMap<String, f64>,
}

impl Default for Tolerances {
    fn default() -> Self {
        let absolute = [
            (Class::HitRatio, 0.02),
            (Class::Staleness, 0.005),
            (Class::Errors, 0.005),
            (Class::Other, 0.01),
        ];
        let relative = [
            (Class::Latency, 0.25),
            (Class::Staleness, 0.25),
            (Class::Cost, 0.10),
            (Class::Stripe, 0.15),
            (Class::Errors, 0.10),
            (Class::Throughput, 0.10),
            (Class::Other, 0.10),
        ];
        Tolerances {
            absolute: absolute.into_iter().collect(),
            relative: relative.into_iter().collect(),
            per_metric: BTreeMap::new(),
        }
    }
}

impl Tolerances {
    /// Applies `NAME=VALUE`: a class (`latency=40%`, `hit_ratio=1pt`) or a
    /// metric (`p99=50%`, `hit_ratio.l1=0.5pt`). `pt` is absolute points of a
    /// share, `%` relative; a bare number is a share for share metrics and a
    /// fraction (0.25 = 25 %) for the rest.
    ///
    /// # Errors
    /// What is wrong with the name or the value.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (name, value) =
            spec.split_once('=').ok_or_else(|| format!("{spec:?}: write NAME=VALUE, e.g. latency=40%"))?;
        let (name, value) = (name.trim(), value.trim());
        let (number, absolute) = if let Some(v) = value.strip_suffix("pt") {
            (v.trim().parse::<f64>().map(|v| v / 100.0), Some(true))
        } else if let Some(v) = value.strip_suffix('%') {
            (v.trim().parse::<f64>().map(|v| v / 100.0), Some(false))
        } else {
            (value.parse::<f64>(), None)
        };
        let v = number
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("{spec:?}: {value:?} is not a tolerance such as 25% or 2pt"))?;
        if let Some(class) = Class::ALL.into_iter().find(|c| c.name() == name) {
            let table = match absolute {
                Some(true) => &mut self.absolute,
                Some(false) => &mut self.relative,
                None => return Err(format!("{spec:?}: a class tolerance needs % (relative) or pt (points)")),
            };
            table.insert(class, v);
            return Ok(());
        }
        let metric = Metric::parse(name).map_err(|e| {
            let classes: Vec<&str> = Class::ALL.iter().map(|c| c.name()).collect();
            format!("{spec:?}: not a class ({}) and {e}", classes.join(", "))
        })?;
        let share = metric.unit() == Unit::Ratio;
        if absolute.is_some_and(|abs| abs != share) {
            let want = if share { "points (pt) for a share" } else { "% (relative) for this metric" };
            return Err(format!("{spec:?}: give {want}"));
        }
        self.per_metric.insert(metric.name().to_owned(), v);
        Ok(())
    }

    /// `(tolerance, absolute?)` for `metric`.
    fn of(&self, metric: &Metric) -> (f64, bool) {
        let absolute = metric.unit() == Unit::Ratio;
        let table = if absolute { &self.absolute } else { &self.relative };
        let v = self
            .per_metric
            .get(metric.name())
            .or_else(|| table.get(&metric.class()))
            .copied()
            .unwrap_or(if absolute { 0.01 } else { 0.10 });
        (v, absolute)
    }
}

/// Metrics checked against a baseline when none are named.
pub const DEFAULT_METRICS: [&str; 8] = [
    "p50",
    "p99",
    "hit_ratio.l1",
    "hit_ratio.l2",
    "stale_reads",
    "error_ratio",
    "stripe_calls_per_s",
    "cost_per_month",
];

/// Every policy of `result` against `thresholds`.
pub fn thresholds(result: &RunResult, thresholds: &[Threshold]) -> Vec<Row> {
    let mut rows = Vec::new();
    for p in &result.policies {
        for t in thresholds {
            let unit = t.metric.unit();
            let (value, status, detail) = match t.metric.measure(p) {
                Ok(v) if t.holds(v.value) => (Some(v), Status::Pass, String::new()),
                Ok(v) => {
                    (Some(v), Status::Fail, format!("{} is {}, must be {t}", t.metric, unit.show(v.value)))
                }
                Err(e) => (None, Status::Fail, format!("not measured: {e}")),
            };
            let check = t.to_string()[t.metric.name().len()..].trim().to_owned();
            rows.push(Row {
                policy: p.name.clone(),
                metric: t.metric.name().to_owned(),
                class: t.metric.class(),
                unit,
                check,
                baseline: None,
                value,
                change: String::new(),
                status,
                detail,
            });
        }
    }
    rows
}

/// A run that did not finish fails the gate: its figures cover part of the schedule.
pub fn completeness(result: &RunResult) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut fail = |policy: &str, detail: String| {
        rows.push(Row {
            policy: policy.to_owned(),
            metric: "run".into(),
            class: Class::Errors,
            unit: Unit::Count,
            check: "complete".into(),
            baseline: None,
            value: None,
            change: String::new(),
            status: Status::Fail,
            detail,
        });
    };
    if !result.complete {
        fail("(all)", "the run did not finish (interrupted or failed): its figures cover part of it".into());
    }
    for p in result.policies.iter().filter(|p| p.interrupted) {
        fail(&p.name, "Ctrl-C cut this policy short".into());
    }
    rows
}

/// Whether `result` and `baseline` can be compared at all.
///
/// # Errors
/// When they are of different scenarios or modes (a usage error, exit 2).
pub fn comparable(result: &RunResult, baseline: &RunResult) -> Result<Vec<String>, String> {
    if result.scenario != baseline.scenario {
        return Err(format!(
            "the baseline is of scenario {:?}, the result of {:?}",
            baseline.scenario, result.scenario
        ));
    }
    if result.mode != baseline.mode {
        return Err(format!(
            "the baseline is {}, the result {}: compare like with like",
            baseline.mode, result.mode
        ));
    }
    let mut notes = Vec::new();
    if result.seed != baseline.seed {
        notes.push(format!(
            "seeds differ ({} vs baseline {}): differences include sampling noise",
            result.seed, baseline.seed
        ));
    }
    if (result.duration_s - baseline.duration_s).abs() > 1e-9 || result.time_scale != baseline.time_scale {
        notes.push("durations or time scales differ from the baseline's".into());
    }
    let names: BTreeSet<&str> = baseline.policies.iter().map(|p| p.name.as_str()).collect();
    for p in result.policies.iter().filter(|p| !names.contains(p.name.as_str())) {
        notes.push(format!("policy {:?} has no baseline", p.name));
    }
    Ok(notes)
}

/// Every policy of `baseline` against the same policy of `result`, on `metrics`.
pub fn regressions(
    result: &RunResult,
    baseline: &RunResult,
    metrics: &[Metric],
    tol: &Tolerances,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for base in &baseline.policies {
        let Some(p) = result.policies.iter().find(|p| p.name == base.name) else {
            rows.push(Row {
                policy: base.name.clone(),
                metric: "run".into(),
                class: Class::Errors,
                unit: Unit::Count,
                check: "vs baseline".into(),
                baseline: None,
                value: None,
                change: String::new(),
                status: Status::Fail,
                detail: format!("policy {:?} of the baseline is missing from the result", base.name),
            });
            continue;
        };
        rows.extend(metrics.iter().map(|m| regression(m, base, p, tol)));
    }
    rows
}

fn regression(metric: &Metric, base: &PolicyResult, p: &PolicyResult, tol: &Tolerances) -> Row {
    let (tolerance, absolute) = tol.of(metric);
    let check = if absolute {
        format!("vs baseline (±{:.1}pt)", tolerance * 100.0)
    } else {
        format!("vs baseline (±{:.0}%)", tolerance * 100.0)
    };
    let mut row = Row {
        policy: p.name.clone(),
        metric: metric.name().to_owned(),
        class: metric.class(),
        unit: metric.unit(),
        check,
        baseline: None,
        value: None,
        change: String::new(),
        status: Status::Pass,
        detail: String::new(),
    };
    let b = match metric.measure(base) {
        Ok(b) => b,
        Err(e) => {
            row.detail = format!("baseline not measured ({e}): not compared");
            row.value = metric.measure(p).ok();
            return row;
        }
    };
    row.baseline = Some(b);
    let v = match metric.measure(p) {
        Ok(v) => v,
        Err(e) => {
            row.status = Status::Fail;
            row.detail = format!("not measured: {e}");
            return row;
        }
    };
    row.value = Some(v);
    let d = difference(&b, &v);
    let scale = if absolute { 1.0 } else { b.value.abs() };
    let (change, lo, hi) = if scale > 0.0 {
        (d.value / scale, d.lo / scale, d.hi / scale)
    } else if d.value == 0.0 {
        (0.0, 0.0, 0.0)
    } else {
        (f64::INFINITY.copysign(d.value), d.lo.signum() * f64::INFINITY, d.hi.signum() * f64::INFINITY)
    };
    row.change = show_change(change, lo, hi, absolute, d.has_interval());
    let worse = match metric.better() {
        Better::Lower => change > 0.0,
        Better::Higher => change < 0.0,
        Better::Either => false,
    };
    let moved = significant(&d);
    row.status = match (moved, worse, metric.better()) {
        (false, _, _) => Status::Pass,
        (true, _, Better::Either) => Status::Pass,
        (true, false, _) => Status::Improved,
        (true, true, _) if change.abs() > tolerance => Status::Fail,
        (true, true, _) => Status::Within,
    };
    if row.status == Status::Fail {
        let by = if absolute {
            format!("{:.2} pt", change.abs() * 100.0)
        } else {
            format!("{:.1}%", change.abs() * 100.0)
        };
        let tolerance = row.check.trim_start_matches("vs baseline ").trim_matches(['(', ')']).to_owned();
        let beyond = if d.has_interval() {
            format!("beyond the 99% intervals of both runs and the {tolerance} tolerance")
        } else {
            format!("more than the {tolerance} tolerance; a model estimate, without a sampling interval")
        };
        row.detail = format!(
            "{} went from {} to {} ({by} worse, {beyond})",
            metric,
            row.unit.show(b.value),
            row.unit.show(v.value)
        );
    }
    row
}

fn show_change(change: f64, lo: f64, hi: f64, absolute: bool, interval: bool) -> String {
    let one = |x: f64| {
        if absolute {
            format!("{:+.2}pt", x * 100.0)
        } else if x.is_infinite() {
            format!("{}inf", if x > 0.0 { "+" } else { "-" })
        } else {
            format!("{:+.1}%", x * 100.0)
        }
    };
    if interval { format!("{} [{}, {}]", one(change), one(lo), one(hi)) } else { one(change) }
}

/// The classes of the failing rows.
pub fn failed_classes(rows: &[Row]) -> BTreeSet<Class> {
    rows.iter().filter(|r| r.status == Status::Fail).map(|r| r.class).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_take_classes_and_metrics_in_points_or_percent() {
        let mut t = Tolerances::default();
        let m = |n: &str| Metric::parse(n).unwrap();
        assert_eq!(t.of(&m("p99")), (0.25, false));
        assert_eq!(t.of(&m("hit_ratio.l1")), (0.02, true));
        t.set("latency=40%").unwrap();
        t.set("hit_ratio=1pt").unwrap();
        t.set("p50=60%").unwrap();
        t.set("stale_reads=0.001").unwrap();
        assert_eq!(t.of(&m("p99")), (0.4, false));
        assert_eq!(t.of(&m("p50")), (0.6, false));
        assert_eq!(t.of(&m("hit_ratio.l2")), (0.01, true));
        assert_eq!(t.of(&m("stale_reads")), (0.001, true));
        for (bad, says) in [
            ("latency", "NAME=VALUE"),
            ("latency=0.4", "needs % (relative) or pt"),
            ("hit_ratio.l1=5%", "points (pt)"),
            ("p99=3pt", "% (relative)"),
            ("speed=5%", "not a class"),
            ("latency=-5%", "not a tolerance"),
        ] {
            let e = t.set(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
