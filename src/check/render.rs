//! `check`'s output: a terminal table, Markdown for CI job summaries, and
//! JUnit XML (one test suite per policy, one test case per check).

use std::fmt::Write as _;

use super::gate::{Row, Status, failed_classes};
use super::stats::Estimate;

fn value(row: &Row, e: Option<&Estimate>) -> String {
    match e {
        None => "-".into(),
        Some(e) if e.has_interval() => {
            format!("{} [{}, {}]", row.unit.show(e.value), row.unit.show(e.lo), row.unit.show(e.hi))
        }
        Some(e) => row.unit.show(e.value),
    }
}

fn cells(row: &Row) -> [String; 7] {
    [
        row.policy.clone(),
        row.metric.clone(),
        row.check.clone(),
        value(row, row.baseline.as_ref()),
        value(row, row.value.as_ref()),
        row.change.clone(),
        row.status.word().into(),
    ]
}

const HEADER: [&str; 7] =
    ["policy", "metric", "check", "baseline [99% CI]", "result [99% CI]", "change", "status"];

/// The verdict line: `PASSED (n checks)` or `FAILED: latency, hit_ratio (...)`.
pub fn verdict(rows: &[Row]) -> String {
    let failed = failed_classes(rows);
    if failed.is_empty() {
        return format!("PASSED ({} checks)", rows.len());
    }
    let classes: Vec<&str> = failed.iter().map(|c| c.name()).collect();
    let fails = rows.iter().filter(|r| r.status == Status::Fail).count();
    format!("FAILED: {} ({fails} of {} checks failed)", classes.join(", "), rows.len())
}

/// An aligned table, the reasons for failures below it, and the verdict.
pub fn terminal(rows: &[Row], notes: &[String]) -> String {
    let table: Vec<[String; 7]> = rows.iter().map(cells).collect();
    let mut widths = HEADER.map(str::len);
    for r in &table {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&mut out, &HEADER.map(String::from));
    table.iter().for_each(|r| line(&mut out, r));
    for r in rows.iter().filter(|r| r.status == Status::Fail) {
        let _ = writeln!(out, "  {} [{}] {}: {}", r.class, r.policy, r.metric, r.detail);
    }
    for n in notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(out, "{}", verdict(rows));
    out
}

/// A Markdown section for a CI job summary.
pub fn markdown(title: &str, rows: &[Row], notes: &[String]) -> String {
    let md = |s: &str| s.replace('|', "\\|");
    let mut out =
        format!("### {} {}\n\n", if failed_classes(rows).is_empty() { "✅" } else { "❌" }, md(title));
    let _ = writeln!(out, "**{}**\n", md(&verdict(rows)));
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADER.len()));
    for r in rows {
        let mut c = cells(r).map(|c| md(&c));
        if r.status == Status::Fail {
            c[6] = format!("**{}**", c[6]);
        }
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
    let failures: Vec<&Row> = rows.iter().filter(|r| r.status == Status::Fail).collect();
    if !failures.is_empty() {
        out.push('\n');
        for r in failures {
            let _ = writeln!(
                out,
                "- **{}** `{}` / `{}`: {}",
                r.class,
                md(&r.policy),
                md(&r.metric),
                md(&r.detail)
            );
        }
    }
    for n in notes {
        let _ = writeln!(out, "\n> {}", md(n));
    }
    out
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c == '\t' || c == '\n' || c == '\r' || c >= ' ' => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// JUnit XML: `<testsuites>` with a `<testsuite>` per policy (named
/// `scenario.policy`) and a `<testcase>` per check, failures as `<failure>`.
pub fn junit(scenario: &str, rows: &[Row]) -> String {
    let mut policies: Vec<&str> = Vec::new();
    for r in rows {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(&r.policy);
        }
    }
    let fails = |rs: &[&Row]| rs.iter().filter(|r| r.status == Status::Fail).count();
    let all: Vec<&Row> = rows.iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"tierbench check\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"0\">",
        rows.len(),
        fails(&all)
    );
    for (i, policy) in policies.iter().enumerate() {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.policy == *policy).collect();
        let suite = format!("{scenario}.{policy}");
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" id=\"{i}\" package=\"tierbench\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"0\">",
            xml(&suite),
            mine.len(),
            fails(&mine)
        );
        for r in mine {
            let name = format!("{} {}", r.metric, r.check);
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
                xml(&name),
                xml(&format!("tierbench.{suite}.{}", r.class))
            );
            if r.status == Status::Fail {
                let text = format!(
                    "baseline: {}\nresult: {}\nchange: {}\n{}",
                    value(r, r.baseline.as_ref()),
                    value(r, r.value.as_ref()),
                    r.change,
                    r.detail
                );
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    xml(&r.detail),
                    r.class,
                    xml(&text)
                );
            } else {
                let _ = writeln!(out, "/>");
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Class, Unit};

    #[test]
    fn junit_escapes_text_and_counts_failures() {
        let row = |policy: &str, status| Row {
            policy: policy.into(),
            metric: "p99".into(),
            class: Class::Latency,
            unit: Unit::Ms,
            check: "< 40.00 ms".into(),
            baseline: None,
            value: Some(Estimate::exact(41.0)),
            change: String::new(),
            status,
            detail: "p99 is 41 ms <\"&'\u{1}>".into(),
        };
        let xml = junit("s&s", &[row("a<b", Status::Fail), row("a<b", Status::Pass), row("c", Status::Pass)]);
        assert!(xml.contains("<testsuites name=\"tierbench check\" tests=\"3\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"s&amp;s.a&lt;b\""), "{xml}");
        assert!(xml.contains("message=\"p99 is 41 ms &lt;&quot;&amp;&apos;\u{FFFD}&gt;\""), "{xml}");
        assert_eq!(xml.matches("<testsuite ").count(), 2);
        assert!(verdict(&[row("a", Status::Fail)]).starts_with("FAILED: latency"));
    }
}
