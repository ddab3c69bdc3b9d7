//! `tierbench check` (thresholds and baseline regression, the CI gate) and
//! `tierbench compare` (results side by side).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::{EXIT_CHECK_FAILED, UsageError};
use crate::check::{self, Metric, Threshold, Tolerances};
use crate::report::{RunResult, write_atomic};
use crate::scenario::Scenario;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The result to check: a result.json or the run directory holding it.
    pub result: PathBuf,
    /// A result to compare against (same scenario and mode): fails on
    /// significant regressions beyond the tolerance.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Take thresholds from this scenario file [default: the result's own
    /// scenario file, when it is still there].
    #[arg(long, value_name = "SCENARIO")]
    pub thresholds: Option<PathBuf>,
    /// An extra threshold, e.g. 'p99 < 40ms' or 'hit_ratio.l1 > 0.9' (repeatable).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub extra: Vec<String>,
    /// Ignore the scenario's [thresholds] (only --threshold ones apply).
    #[arg(long)]
    pub no_scenario_thresholds: bool,
    /// Metrics compared with the baseline (repeatable) [default: p50, p99,
    /// hit_ratio.l1, hit_ratio.l2, stale_reads, error_ratio, stripe_calls_per_s,
    /// cost_per_month, plus every metric with a threshold].
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
    /// How much worse than the baseline a significant change may be:
    /// CLASS=VALUE or METRIC=VALUE, e.g. latency=40%, hit_ratio=1pt,
    /// p99=50% (repeatable). Defaults: latency 25%, hit_ratio 2pt, staleness
    /// 0.5pt or 25%, errors 0.5pt or 10%, stripe 15%, cost 10%, throughput 10%.
    #[arg(long = "tolerance", value_name = "NAME=VALUE")]
    pub tolerances: Vec<String>,
    /// Also write the report as Markdown here (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write the report as JUnit XML here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Arguments of `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Results (result.json or run directories); changes are against the first.
    #[arg(required = true, num_args = 2..)]
    pub results: Vec<PathBuf>,
    /// Metrics to show (repeatable) [default: as `check`].
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
    /// Also write the table as Markdown here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

/// Reads a result.json, or the one in a run directory.
///
/// # Errors
/// A [`UsageError`] naming the path and what is wrong.
pub(super) fn load_result(path: &Path) -> Result<RunResult, UsageError> {
    let file = if path.is_dir() { path.join("result.json") } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| UsageError(format!("{}: cannot read a result: {e}", file.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "{}:{}: not a tierbench result.json (schema version {}): {e}",
            file.display(),
            e.line(),
            crate::report::SCHEMA_VERSION
        ))
    })
}

fn metrics(names: &[String], thresholds: &[Threshold]) -> Result<Vec<Metric>, UsageError> {
    let parse = |n: &str| Metric::parse(n).map_err(|e| UsageError(format!("--metric: {e}")));
    let mut out: Vec<Metric> = if names.is_empty() {
        check::DEFAULT_METRICS.iter().map(|n| parse(n)).collect::<Result<_, _>>()?
    } else {
        names.iter().map(|n| parse(n)).collect::<Result<_, _>>()?
    };
    if names.is_empty() {
        for t in thresholds {
            if !out.iter().any(|m| m.name() == t.metric.name()) {
                out.push(t.metric.clone());
            }
        }
    }
    Ok(out)
}

/// The thresholds that apply, and a note on where they came from.
fn thresholds(args: &CheckArgs, result: &RunResult) -> Result<(Vec<Threshold>, Vec<String>), UsageError> {
    let mut notes = Vec::new();
    let mut out = Vec::new();
    if !args.no_scenario_thresholds {
        let explicit = args.thresholds.is_some();
        let path = args.thresholds.clone().unwrap_or_else(|| PathBuf::from(&result.source));
        if explicit || path.is_file() {
            let scenario = Scenario::load(&path).map_err(|e| UsageError(e.to_string()))?;
            notes.push(format!("{} thresholds from {}", scenario.thresholds.len(), path.display()));
            out = scenario.thresholds;
        } else {
            notes.push(format!(
                "no scenario thresholds: the result's scenario file {} is not here (give --thresholds)",
                path.display()
            ));
        }
    }
    for e in &args.extra {
        out.push(Threshold::parse(e).map_err(|m| UsageError(format!("--threshold {e:?}: {m}")))?);
    }
    Ok((out, notes))
}

/// Runs `check`: exit 0 when every check passes, 1 naming the failing
/// classes, 2 (an error) for bad input.
pub(super) fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let result = load_result(&args.result)?;
    let mut tol = Tolerances::default();
    for t in &args.tolerances {
        tol.set(t).map_err(|e| UsageError(format!("--tolerance {e}")))?;
    }
    let (thresholds, mut notes) = thresholds(&args, &result)?;
    let mut rows = check::completeness(&result);
    rows.extend(check::thresholds(&result, &thresholds));
    if let Some(path) = &args.baseline {
        let baseline = load_result(path)?;
        notes.extend(
            check::comparable(&result, &baseline)
                .map_err(|e| UsageError(format!("--baseline {}: {e}", path.display())))?,
        );
        let metrics = metrics(&args.metrics, &thresholds)?;
        rows.extend(check::regressions(&result, &baseline, &metrics, &tol));
    } else if !args.metrics.is_empty() {
        return Err(UsageError("--metric needs --baseline: it names what is compared with it".into()).into());
    }
    if rows.is_empty() {
        return Err(UsageError(format!(
            "nothing to check in {}: no thresholds (scenario [thresholds] or --threshold) and no --baseline",
            args.result.display()
        ))
        .into());
    }
    let title = format!("tierbench check: {} ({}, {})", result.scenario, result.run_id, result.mode);
    print!("{title}\n{}", check::terminal(&rows, &notes));
    if let Some(path) = &args.markdown {
        write_atomic(path, check::markdown(&title, &rows, &notes).as_bytes())
            .map_err(|e| UsageError(format!("--markdown {}: {e}", path.display())))?;
    }
    if let Some(path) = &args.junit {
        write_atomic(path, check::junit(&result.scenario, &rows).as_bytes())
            .map_err(|e| UsageError(format!("--junit {}: {e}", path.display())))?;
    }
    Ok(if check::failed_classes(&rows).is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHECK_FAILED)
    })
}

/// Runs `compare`.
pub(super) fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let results: Vec<RunResult> = args.results.iter().map(|p| load_result(p)).collect::<Result<_, _>>()?;
    let metrics = metrics(&args.metrics, &[])?;
    let header = check::compare_header(&results);
    let rows = check::compare_rows(&results, &metrics);
    print!("{}", check::compare_terminal(&header, &rows));
    if let Some(path) = &args.markdown {
        write_atomic(path, check::compare_markdown(&header, &rows).as_bytes())
            .map_err(|e| UsageError(format!("--markdown {}: {e}", path.display())))?;
    }
    Ok(ExitCode::SUCCESS)
}
