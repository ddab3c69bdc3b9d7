//! `tierbench calibrate`: a scenario's policy live (or a live result given),
//! then simulated with the live run's measured latencies, metric by metric.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::run_cmd::{Mode, execute};
use super::{EXIT_CHECK_FAILED, ScenarioArgs, UsageError};
use crate::report::RunResult;
use crate::sim::calibrate::{compare, render};

/// Arguments of `calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The scenario, its policy (`--policy`, by default the first), backends and simulator knobs.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// A live result.json (or its directory) of this scenario to compare
    /// against, instead of running it live now.
    #[arg(long, value_name = "RESULT")]
    pub live: Option<PathBuf>,
}

/// A live run with more late requests than this share is refused: its
/// latencies measure the machine's load, not the cache.
const LATE_LIMIT: f64 = 0.05;

fn result_file(path: &Path) -> PathBuf {
    if path.is_dir() { path.join("result.json") } else { path.to_owned() }
}

fn load(path: &Path) -> Result<RunResult, UsageError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| UsageError(format!("--live {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("--live {}: not a tierbench result.json: {e}", path.display())))
}

/// Runs the comparison; exit 1 when a metric is outside its bound.
pub(super) async fn run(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let (live, live_file) = match &args.live {
        Some(path) => {
            let file = result_file(path);
            (load(&file)?, file)
        }
        None => {
            let ran = execute(&args.scenario, Mode::Run).await?;
            if ran.result.mode != "live" {
                return Err(UsageError(
                    "calibrate needs a live run, and no backend is available: install them \
                     (scripts/install-backends.sh) or pass --live RESULT"
                        .into(),
                )
                .into());
            }
            (ran.result, ran.dir.join("result.json"))
        }
    };
    let wanted = args.scenario.policy.clone();
    let policy = match &wanted {
        Some(name) => live.policies.iter().find(|p| &p.name == name),
        None => live.policies.first(),
    }
    .ok_or_else(|| UsageError(format!("{}: no policy {:?} in it", live_file.display(), wanted)))?
    .clone();
    let c = &policy.metrics.counts;
    if c.late as f64 > LATE_LIMIT * c.requests.max(1) as f64 {
        anyhow::bail!(
            "{}: the live run could not keep its schedule ({} of {} requests sent more than {:?} late): \
             the machine was too busy to calibrate against; rerun it on a quieter machine",
            live_file.display(),
            c.late,
            c.requests,
            crate::metrics::LATE_AFTER
        );
    }
    let mut sim_args = args.scenario.clone();
    sim_args.policy = Some(policy.name.clone());
    if sim_args.sim.calibration.is_none() {
        sim_args.sim.calibration = Some(live_file.clone());
        sim_args.sim.calibration_policy = Some(policy.name.clone());
    }
    let simulated = execute(&sim_args, Mode::Sim).await?;
    let sim_policy = simulated
        .result
        .policies
        .first()
        .ok_or_else(|| UsageError("the simulation produced no policy".into()))?;
    let rows = compare(&policy, sim_policy);
    print!("{}", render(&policy.name, &rows));
    println!("live: {}\nsimulated: {}", live_file.display(), simulated.dir.join("result.json").display());
    Ok(if rows.iter().all(|r| r.ok()) { ExitCode::SUCCESS } else { ExitCode::from(EXIT_CHECK_FAILED) })
}
