//! `tierbench run`, `sweep` and `sim`: load a scenario, provision backends (or
//! fall back to the simulator), run policies, write and print the results.

use std::process::ExitCode;

use tokio::sync::watch;

use super::{EXIT_INTERRUPTED, Interrupted, ScenarioArgs, UsageError};
use crate::backends::{BackendChoice, BackendError, BackendKind, Lifetime, provision};
use crate::clock::{Clock, SystemClock};
use crate::cost::{CacheDeployment, Pricing};
use crate::harness::faults::FaultTargets;
use crate::harness::run_policy;
use crate::metrics::RunMetrics;
use crate::report::{
    PolicyResult, RunResult, SCHEMA_VERSION, fault_table, result_dir, terminal_table, write_all,
};
use crate::scenario::Scenario;
use crate::sim::SimOptions;

pub(super) fn run_id(now: crate::clock::Timestamp) -> String {
    let iso = now.to_iso8601();
    let compact: String = iso.chars().filter(|c| c.is_ascii_digit()).take(14).collect();
    format!(
        "{}T{}Z-{:04x}",
        &compact[..8],
        &compact[8..],
        (now.as_micros() ^ u64::from(std::process::id())) & 0xffff
    )
}

/// Refuses, before anything starts, a deployment the pricing cannot price.
fn check_deployment(scenario: &Scenario, pricing: &Pricing) -> Result<(), UsageError> {
    match &scenario.cost.deployment.cache {
        CacheDeployment::Nodes { node_type, .. } => pricing.node(node_type).map(|_| ()).map_err(|e| {
            UsageError(format!(
                "{}:{}: cost.deployment.cache.node_type: {e}",
                scenario.source.display(),
                scenario.cost.deployment_line
            ))
        }),
        CacheDeployment::Serverless { .. } => Ok(()),
    }
}

/// Which command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// One policy (the first, or `--policy`), live unless no backend exists.
    Run,
    /// Every policy (or `--policy`), live unless no backend exists.
    Sweep,
    /// Every policy (or `--policy`), simulated.
    Sim,
}

const SIM_BANNER: &str = "\
================================================================================
  NO REDIS OR DYNAMODB FOUND: SIMULATING INSTEAD (virtual time, modelled backends)
  These figures come from the simulator, not from real Redis and DynamoDB Local;
  result.json says mode \"simulated\". For a live run install the backends
  (scripts/install-backends.sh) or give --redis-url and --dynamodb-endpoint.
================================================================================";

/// A finished command: what it wrote and where, and whether Ctrl-C cut it short.
pub(super) struct Ran {
    /// The result as written.
    pub result: RunResult,
    /// Its directory.
    pub dir: std::path::PathBuf,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
    /// The scenario's `[thresholds]`.
    pub thresholds: Vec<crate::check::Threshold>,
}

/// Runs the first (or `--policy`) policy, or every policy for `sweep` and
/// `sim`, and prints the result.
pub(super) async fn run(args: ScenarioArgs, mode: Mode) -> anyhow::Result<ExitCode> {
    let ran = execute(&args, mode).await?;
    print_result(&ran.result, &ran.dir);
    let failed = !ran.thresholds.is_empty() && {
        let rows = crate::check::thresholds(&ran.result, &ran.thresholds);
        print!("\nthresholds of {}:\n{}", args.scenario.display(), crate::check::terminal(&rows, &[]));
        !crate::check::failed_classes(&rows).is_empty()
    };
    Ok(if ran.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if failed {
        ExitCode::from(super::EXIT_CHECK_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// [`run`] without printing the table.
pub(super) async fn execute(args: &ScenarioArgs, mode: Mode) -> anyhow::Result<Ran> {
    let scenario = Scenario::load(&args.scenario).map_err(|e| UsageError(e.to_string()))?;
    let indexes: Vec<usize> = match (&args.policy, mode) {
        (None, Mode::Sweep | Mode::Sim) => (0..scenario.policies.len()).collect(),
        (None, Mode::Run) => vec![0],
        (Some(name), _) => {
            vec![scenario.policies.iter().position(|p| &p.name == name).ok_or_else(|| {
                let names: Vec<&str> = scenario.policies.iter().map(|p| p.name.as_str()).collect();
                UsageError(format!(
                    "--policy {name:?} is not in {}: it has {names:?}",
                    args.scenario.display()
                ))
            })?]
        }
    };
    let pricing = match args.pricing.as_ref().or(scenario.cost.pricing.as_ref()) {
        Some(path) => Pricing::from_file(path).map_err(|e| UsageError(e.to_string()))?,
        None => Pricing::defaults(),
    };
    check_deployment(&scenario, &pricing)?;
    let sim = args.sim.options_for(Some(&args.results.join(&scenario.name)))?;
    let config = args.backend.config();
    let choice = if mode == Mode::Sim { BackendChoice::Sim } else { args.backend.backend };
    let provisioned = tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => return Err(Interrupted("nothing was left running").into()),
        b = provision(choice, &config, Lifetime::Scoped) => b,
    };
    let backends = match provisioned {
        Ok(b) => b,
        Err(BackendError::Simulated) => return simulate(args, &scenario, &indexes, &pricing, &sim),
        Err(e @ BackendError::NothingAvailable { .. }) => {
            eprintln!("{SIM_BANNER}\n({e})\n");
            return simulate(args, &scenario, &indexes, &pricing, &sim);
        }
        Err(e) => return Err(e.into()),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: stopping the run and keeping what was measured");
            let _ = stop_tx.send(true);
        }
    });
    let started = SystemClock.now();
    let id = run_id(started);
    let dir = result_dir(&args.results, &scenario.name, &id);
    let mut result =
        new_result(args, &scenario, &id, started, "live", backends.kind, backends.endpoints.describe());
    eprintln!("backends: {:?} ({})", backends.kind, backends.endpoints.describe());
    let targets = FaultTargets::of(&backends);
    let mut outcome = Ok(());
    for i in indexes {
        // Flush what the running policy measured every few seconds, so a crash
        // or a kill loses little; the final write below replaces it.
        let (partial_tx, mut partial_rx) = watch::channel(RunMetrics::default());
        let flusher = {
            let (mut interim, dir) = (result.clone(), dir.clone());
            let done_before = interim.policies.len();
            let (name, ttl) = (scenario.policies[i].name.clone(), scenario.scaled_policy(i));
            tokio::spawn(async move {
                while partial_rx.changed().await.is_ok() {
                    let metrics = partial_rx.borrow_and_update().clone();
                    interim.policies.truncate(done_before);
                    interim.policies.push(PolicyResult::partial(&name, &ttl, metrics));
                    interim.finished_at = SystemClock.now().to_iso8601();
                    if let Err(e) = crate::report::write_partial(&dir, &interim) {
                        eprintln!("warning: cannot flush partial results to {}: {e}", dir.display());
                    }
                }
            })
        };
        let ran =
            run_policy(&scenario, i, &backends.endpoints, &id, &targets, stop_rx.clone(), Some(partial_tx))
                .await;
        let _ = flusher.await;
        match ran {
            Ok(run) => result.policies.push(PolicyResult::from_run(&run, &pricing, &scenario.cost.options)),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
        result.finished_at = SystemClock.now().to_iso8601();
        write_all(&dir, &result)?;
        if *stop_rx.borrow() {
            break;
        }
    }
    let interrupted = *stop_rx.borrow();
    result.complete = outcome.is_ok() && !interrupted;
    result.finished_at = SystemClock.now().to_iso8601();
    write_all(&dir, &result)?;
    let stopped = backends.stop().await;
    outcome?;
    stopped?;
    Ok(Ran { result, dir, interrupted, thresholds: scenario.thresholds })
}

pub(super) fn print_result(result: &RunResult, dir: &std::path::Path) {
    print!("{}", terminal_table(result));
    if let Some(faults) = fault_table(result) {
        print!("\n{faults}");
    }
    println!("results: {}", dir.display());
}

fn new_result(
    args: &ScenarioArgs,
    scenario: &Scenario,
    id: &str,
    started: crate::clock::Timestamp,
    mode: &str,
    backend: BackendKind,
    endpoints: String,
) -> RunResult {
    RunResult {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        mode: mode.into(),
        scenario: scenario.name.clone(),
        source: args.scenario.display().to_string(),
        run_id: id.to_owned(),
        started_at: started.to_iso8601(),
        finished_at: started.to_iso8601(),
        complete: false,
        seed: scenario.seed,
        time_scale: scenario.time_scale,
        duration_s: scenario.duration.as_secs_f64(),
        backend,
        endpoints,
        policies: Vec::new(),
    }
}

/// Simulates `indexes` of `scenario` and writes the result after each policy.
fn simulate(
    args: &ScenarioArgs,
    scenario: &Scenario,
    indexes: &[usize],
    pricing: &Pricing,
    sim: &SimOptions,
) -> anyhow::Result<Ran> {
    crate::sim::check(scenario).map_err(|e| UsageError(e.to_string()))?;
    let started = SystemClock.now();
    let id = run_id(started);
    let dir = result_dir(&args.results, &scenario.name, &id);
    let memory = sim.l1_maxmemory.map_or("unbounded".into(), |b| format!("{b} B, {:?}", sim.eviction));
    let models = format!("simulated: {}; Redis maxmemory {memory}", sim.latency.source);
    let mut result = new_result(args, scenario, &id, started, "simulated", BackendKind::Simulated, models);
    eprintln!("backends: simulated ({})", result.endpoints);
    for &i in indexes {
        let wall = std::time::Instant::now();
        let run = crate::sim::simulate_policy(scenario, i, sim).map_err(|e| UsageError(e.to_string()))?;
        eprintln!(
            "simulated {} [{}]: {} requests in {:.2} s",
            scenario.name,
            run.name,
            run.metrics.counts.requests,
            wall.elapsed().as_secs_f64()
        );
        result.policies.push(PolicyResult::from_run(&run, pricing, &scenario.cost.options));
        result.finished_at = SystemClock.now().to_iso8601();
        crate::report::write_partial(&dir, &result)?;
    }
    result.complete = true;
    write_all(&dir, &result)?;
    Ok(Ran { result, dir, interrupted: false, thresholds: scenario.thresholds.clone() })
}
