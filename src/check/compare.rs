//! `compare`: results side by side, each against the first, with the change
//! and whether it is beyond the noise of both runs.

use std::fmt::Write as _;

use super::metric::{Better, Metric};
use super::stats::{difference, significant};
use crate::report::{PolicyResult, RunResult};

/// Which policies line up: by name, or by position when every result has
/// exactly one policy (runs of different policies compared head to head).
fn lined_up(results: &[RunResult]) -> Vec<(String, Vec<Option<&PolicyResult>>)> {
    if results.iter().all(|r| r.policies.len() == 1) {
        let names: Vec<&str> = results.iter().map(|r| r.policies[0].name.as_str()).collect();
        let mut label = names[0].to_owned();
        if names.iter().any(|n| *n != names[0]) {
            label = names.join(" / ");
        }
        return vec![(label, results.iter().map(|r| r.policies.first()).collect())];
    }
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        for p in &r.policies {
            if !names.contains(&p.name.as_str()) {
                names.push(&p.name);
            }
        }
    }
    names
        .into_iter()
        .map(|n| (n.to_owned(), results.iter().map(|r| r.policies.iter().find(|p| p.name == n)).collect()))
        .collect()
}

fn cell(metric: &Metric, reference: Option<&PolicyResult>, p: Option<&PolicyResult>) -> String {
    let Some(p) = p else { return "-".into() };
    let Ok(v) = metric.measure(p) else { return "n/a".into() };
    let shown = metric.unit().show(v.value);
    let Some(Ok(base)) = reference.map(|r| metric.measure(r)) else { return shown };
    if std::ptr::eq(reference.unwrap_or(p), p) {
        return shown;
    }
    let d = difference(&base, &v);
    let delta = if metric.unit() == super::metric::Unit::Ratio {
        format!("{:+.2}pt", d.value * 100.0)
    } else if base.value != 0.0 {
        format!("{:+.1}%", d.value / base.value.abs() * 100.0)
    } else if d.value == 0.0 {
        "+0%".into()
    } else {
        "new".into()
    };
    let mark = if !significant(&d) {
        ""
    } else {
        match (metric.better(), d.value > 0.0) {
            (Better::Either, _) => " *",
            (Better::Lower, true) | (Better::Higher, false) => " * worse",
            _ => " * better",
        }
    };
    format!("{shown} ({delta}{mark})")
}

/// Rows of `[policy, metric, value per result...]`, the first result the reference.
pub fn compare_rows(results: &[RunResult], metrics: &[Metric]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for (policy, ps) in lined_up(results) {
        for m in metrics {
            let mut row = vec![policy.clone(), m.name().to_owned()];
            row.extend(ps.iter().map(|p| cell(m, ps[0], *p)));
            rows.push(row);
        }
    }
    rows
}

/// The header: policy, metric, and each result by `scenario/run-id (mode)`.
pub fn compare_header(results: &[RunResult]) -> Vec<String> {
    let mut h = vec!["policy".to_owned(), "metric".to_owned()];
    h.extend(results.iter().map(|r| format!("{}/{} ({})", r.scenario, r.run_id, r.mode)));
    h
}

/// An aligned table with a legend.
pub fn compare_terminal(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out.push_str(LEGEND);
    out.push('\n');
    out
}

/// The same as a Markdown table.
pub fn compare_markdown(header: &[String], rows: &[Vec<String>]) -> String {
    let md = |s: &String| s.replace('|', "\\|");
    let mut out = String::from("### tierbench compare\n\n");
    let _ = writeln!(out, "| {} |", header.iter().map(md).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.iter().map(md).collect::<Vec<_>>().join(" | "));
    }
    let _ = writeln!(out, "\n{LEGEND}");
    out
}

const LEGEND: &str = "changes are against the first result; * marks a change beyond the 99% intervals of both \
runs (Wilson for shares, order statistics for percentiles, Poisson for rates; exact figures such as cost: any change)";
