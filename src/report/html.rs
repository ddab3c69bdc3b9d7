//! `report.html`: one self-contained page per run (inline CSS and SVG, nothing
//! fetched) with the run's header, the summary table and the charts.

use std::fmt::Write as _;
use std::io;

use super::charts::{self, OUTCOMES, layer_colour, layer_label};
use super::table::policy_frontier;
use super::{PolicyResult, RunResult};

/// `text` safe to put in HTML text or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Verdana, sans-serif; color: #222; margin: 0; background: #f6f7f9; }
main { max-width: 1400px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 20px; margin: 32px 0 8px; }
.banner { padding: 10px 16px; border-radius: 6px; font-weight: bold; margin: 8px 0 12px; }
.banner.simulated { background: #fff3bf; border: 2px solid #f08c00; color: #7a4500; }
.banner.live { background: #e6fcf5; border: 1px solid #2f9e44; color: #1b5e2a; }
.banner.incomplete { background: #ffe3e3; border: 2px solid #e03131; color: #8a1c1c; }
dl.meta { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 4px 16px; margin: 0; }
dl.meta dt { color: #666; } dl.meta dd { margin: 0; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e3e3; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; } th { background: #eef1f5; }
tr.frontier td:first-child { font-weight: bold; color: #1c7ed6; }
.note { color: #555; font-size: 13px; max-width: 1100px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; padding: 4px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-size: 12px; color: #555; padding: 4px 8px 6px; }
.key span { display: inline-block; margin-right: 14px; font-size: 13px; }
.key i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
";

/// The whole page.
///
/// # Errors
/// When a chart cannot be drawn.
pub fn report_html(result: &RunResult) -> io::Result<String> {
    let front = policy_frontier(result);
    let mut out = String::new();
    let title = format!("tierbench: {} — {}", result.scenario, result.run_id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );
    header(&mut out, result);
    summary(&mut out, result, &front);
    if result.policies.len() > 1 {
        out.push_str("<section id=\"across-policies\">\n<h2>Across policies</h2>\n<div class=\"grid\">\n");
        figure(
            &mut out,
            "chart-cost-staleness",
            charts::cost_vs_staleness(result, &front),
            "Frontier policies (filled, bold) are not beaten by any other on cost, stale reads, p99 of served \
             requests and error ratio at once.",
        )?;
        figure(
            &mut out,
            "chart-p99",
            charts::p99_by_policy(result, &front),
            "Corrected p99: measured from each request's intended start, so queueing counts.",
        )?;
        out.push_str("</div>\n</section>\n");
    }
    for (i, p) in result.policies.iter().enumerate() {
        policy_section(&mut out, i, p)?;
    }
    out.push_str(
        "<p class=\"note\">Files beside this page: <code>result.json</code> (everything, histograms included), \
         <code>summary.md</code>, <code>timeseries.csv</code> and <code>latency.hlog</code> (HdrHistogram \
         interval log, microseconds; <code>HistogramLogProcessor -tag &lt;policy&gt; -outputValueUnitRatio \
         1000</code> prints it in milliseconds).</p>\n</main>\n</body>\n</html>\n",
    );
    Ok(out)
}

fn header(out: &mut String, r: &RunResult) {
    let _ = writeln!(out, "<header>\n<h1>{} <small>scenario</small></h1>", escape(&r.scenario));
    if r.mode == "simulated" {
        out.push_str(
            "<div class=\"banner simulated\">SIMULATED RUN: no Redis, DynamoDB or Stripe served these \
             requests. Every figure comes from tierbench's models of them.</div>\n",
        );
    } else {
        let _ = writeln!(
            out,
            "<div class=\"banner live\">{} run: real Redis and DynamoDB in front of the mock Stripe.</div>",
            escape(&r.mode.to_uppercase())
        );
    }
    if !r.complete {
        out.push_str(
            "<div class=\"banner incomplete\">INCOMPLETE: interrupted, or written while still running.</div>\n",
        );
    }
    let backend = serde_json::to_value(r.backend).ok().and_then(|v| v.as_str().map(str::to_owned));
    let rows = [
        ("mode", r.mode.clone()),
        ("run id", r.run_id.clone()),
        ("backend", format!("{} ({})", backend.unwrap_or_default(), r.endpoints)),
        ("scenario file", r.source.clone()),
        ("duration", format!("{} s per policy, time scale {}x", r.duration_s, r.time_scale)),
        ("seed", r.seed.to_string()),
        ("started", r.started_at.clone()),
        ("finished", r.finished_at.clone()),
        ("policies", r.policies.len().to_string()),
        ("tierbench", r.tool_version.clone()),
    ];
    out.push_str("<dl class=\"meta\">\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    out.push_str("</dl>\n</header>\n");
}

/// The table `summary.md` shows, with the same numbers.
fn summary(out: &mut String, r: &RunResult, front: &[bool]) {
    const HEAD: [&str; 17] = [
        "policy", "requests", "L1 %", "L2 %", "stale %", "p50 ms", "p99 ms", "p99.9 ms", "p99 sent",
        "srv p99", "Stripe/s", "429s", "/fill", "errors", "drop", "$/month", "frontier",
    ];
    out.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<table>\n<tr>");
    for h in HEAD {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for (p, on) in r.policies.iter().zip(front) {
        let s = &p.summary;
        let cells = [
            p.name.clone(),
            s.requests.to_string(),
            format!("{:.1}", s.l1_hit_ratio * 100.0),
            format!("{:.1}", s.l2_hit_ratio * 100.0),
            format!("{:.2}", s.stale_read_ratio * 100.0),
            format!("{:.2}", s.p50_ms),
            format!("{:.2}", s.p99_ms),
            format!("{:.2}", s.p999_ms),
            format!("{:.2}", s.uncorrected_p99_ms),
            format!("{:.2}", s.served_p99_ms),
            format!("{:.1}", s.stripe_calls_per_s),
            s.stripe_429s.to_string(),
            format!("{:.2}", s.origin_calls_per_fill),
            s.errors.to_string(),
            s.dropped.to_string(),
            s.cost_per_month_usd.map_or("n/a".to_owned(), |c| format!("{c:.2}")),
            if *on { "*".to_owned() } else { String::new() },
        ];
        let _ = write!(out, "<tr{}>", if *on { " class=\"frontier\"" } else { "" });
        for c in cells {
            let _ = write!(out, "<td>{}</td>", escape(&c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str(
        "</table>\n<p class=\"note\">Latency is corrected for coordinated omission (from each request's intended \
         start); <em>p99 sent</em> is from the actual send; <em>srv p99</em> leaves errors out. Stale reads are \
         served versions older than the mock's truth at serve time. Frontier (*): no other policy is at once \
         cheaper, less stale, faster and less failing. /fill: Stripe calls per expiry refilled (1 = no \
         stampede). $/month at this run's rate with the scenario's pricing and deployment.</p>\n</section>\n",
    );
}

fn policy_section(out: &mut String, i: usize, p: &PolicyResult) -> io::Result<()> {
    let _ = writeln!(out, "<section id=\"policy-{i}\">\n<h2>Policy <code>{}</code></h2>", escape(&p.name));
    let mut facts = Vec::new();
    if let Some(c) = &p.cost {
        facts.push(format!(
            "${:.2}/month; Stripe peak at {:.0} % of its {} calls/s account limit",
            c.total.per_month_usd, c.stripe.used_pct, c.stripe.limit_per_s
        ));
    }
    if let Some(e) = &p.cost_error {
        facts.push(format!("no cost estimate: {e}"));
    }
    if p.interrupted {
        facts.push("cut short by Ctrl-C".into());
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&facts.join("; ")));
    }
    out.push_str("<div class=\"key\">");
    for o in OUTCOMES {
        let c = layer_colour(o);
        let _ = write!(
            out,
            "<span><i style=\"background:#{:02x}{:02x}{:02x}\"></i>{}</span>",
            c.0,
            c.1,
            c.2,
            escape(layer_label(o))
        );
    }
    out.push_str("</div>\n<div class=\"grid\">\n");
    figure(
        out,
        &format!("chart-latency-{i}"),
        charts::latency_spectrum(p),
        "Solid: corrected (from the intended start); dashed, darker: uncorrected (from the actual send), on \
         the solid line where no request waited to be sent. The x axis stretches the tail: each step is one \
         more nine.",
    )?;
    figure(
        out,
        &format!("chart-layers-{i}"),
        charts::layer_shares(p),
        "Where each second's finished requests were served (by intended start).",
    )?;
    figure(
        out,
        &format!("chart-stripe-{i}"),
        charts::stripe_traffic(p),
        "Stripe calls per second (every request the mock Stripe received, retries and background refreshes \
         included; live runs sample its counter each second of wall time, simulated ones count virtual \
         time) against the account limit, and the requests served by Stripe per second (by intended \
         start). Results written before calls were counted per second show served + failed requests instead.",
    )?;
    figure(
        out,
        &format!("chart-staleness-{i}"),
        charts::staleness_ages(p),
        "How long before the read its served version had been replaced at the source.",
    )?;
    out.push_str("</div>\n</section>\n");
    Ok(())
}

/// A chart as a `<figure>`, its SVG carrying `id`.
fn figure(
    out: &mut String,
    id: &str,
    svg: Result<String, Box<dyn std::error::Error>>,
    caption: &str,
) -> io::Result<()> {
    let svg = svg.map_err(|e| io::Error::other(format!("drawing {id}: {e}")))?;
    let svg = svg.replacen("<svg ", &format!("<svg id=\"{}\" role=\"img\" ", escape(id)), 1);
    let _ = writeln!(
        out,
        "<figure id=\"fig-{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>",
        escape(id),
        svg.trim(),
        escape(caption)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chart_is_drawn_and_text_is_escaped() {
        let mut r = crate::report::schema::tests::run_result();
        r.policies[0].name = "<script>alert(1)</script>".into();
        r.mode = "simulated".into();
        let html = report_html(&r).unwrap();
        assert!(!html.contains("<script>"), "policy names are escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("SIMULATED RUN"));
        let mut ids = vec!["chart-cost-staleness".to_owned(), "chart-p99".to_owned()];
        for i in 0..r.policies.len() {
            for kind in ["latency", "layers", "stripe", "staleness"] {
                ids.push(format!("chart-{kind}-{i}"));
            }
        }
        for id in ids {
            let at = html.find(&format!("<svg id=\"{id}\"")).unwrap_or_else(|| panic!("no {id}"));
            let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
            assert!(svg.contains("<polyline") || svg.contains("<polygon") || svg.contains("<rect"), "{id}");
        }
        assert!(!html.contains("<link") && !html.contains("src=\""), "nothing is fetched");
    }
}
