//! Writing results: `result.json`, `summary.md`, `timeseries.csv`,
//! `report.html` and `latency.hlog` under `results/<scenario>/<run-id>/`, each
//! written atomically.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::{RunResult, fault_table, interval_log, report_html, terminal_table};

/// `root/<scenario>/<run-id>`.
pub fn result_dir(root: &Path, scenario: &str, run_id: &str) -> PathBuf {
    let safe: String = scenario
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    root.join(safe).join(run_id)
}

/// Writes `bytes` to `path` so a reader sees the old file or the new one, never
/// a half-written one (written beside it, then renamed).
///
/// # Errors
/// When the directory or file cannot be written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn timeseries_csv(result: &RunResult) -> String {
    let mut out = String::from("policy,second,requests,l1,l2,origin,errors,stale,dropped,p50_ms,p99_ms\n");
    for p in &result.policies {
        for s in &p.metrics.seconds {
            let c = &s.counts;
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{:.3},{:.3}",
                p.name,
                s.second,
                c.requests,
                c.l1,
                c.l2,
                c.origin,
                c.errors,
                c.stale,
                c.dropped,
                s.latency.quantile(0.5).as_secs_f64() * 1e3,
                s.latency.quantile(0.99).as_secs_f64() * 1e3
            );
        }
    }
    out
}

fn summary_md(result: &RunResult) -> String {
    let mut out = format!(
        "# {} — {}\n\n{} run `{}` on {:?} backends ({}), seed {}, time scale {}x, {} s per policy{}.\n\n",
        result.scenario,
        result.started_at,
        result.mode,
        result.run_id,
        result.backend,
        result.endpoints,
        result.seed,
        result.time_scale,
        result.duration_s,
        if result.complete { "" } else { " — INCOMPLETE (interrupted or still running)" }
    );
    out.push_str("```\n");
    out.push_str(&terminal_table(result));
    if let Some(faults) = fault_table(result) {
        out.push('\n');
        out.push_str(&faults);
    }
    out.push_str("```\n\nLatency is corrected for coordinated omission (measured from each request's intended start); \
        `p99 sent` is measured from the actual send. Stale reads are served versions older than the mock's truth at serve time.\n");
    out
}

/// Writes `result.json`, `summary.md`, `timeseries.csv`, `report.html` and
/// `latency.hlog` into `dir`.
///
/// # Errors
/// When a file cannot be written (or a chart or histogram cannot be encoded).
pub fn write_all(dir: &Path, result: &RunResult) -> io::Result<()> {
    write_partial(dir, result)?;
    write_atomic(&dir.join("report.html"), report_html(result)?.as_bytes())?;
    write_atomic(&dir.join("latency.hlog"), &interval_log(result)?)
}

/// The flush of a run still going: `result.json`, `summary.md` and
/// `timeseries.csv` only. The report and the interval log are drawn once a
/// policy ends, so no flush blocks the load's runtime for long.
///
/// # Errors
/// When a file cannot be written.
pub fn write_partial(dir: &Path, result: &RunResult) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(result).map_err(io::Error::other)?;
    write_atomic(&dir.join("result.json"), &json)?;
    write_atomic(&dir.join("summary.md"), summary_md(result).as_bytes())?;
    write_atomic(&dir.join("timeseries.csv"), timeseries_csv(result).as_bytes())
}
