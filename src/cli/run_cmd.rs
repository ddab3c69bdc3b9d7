//! `tierbench run` and `tierbench sweep`: load a scenario, provision backends,
//! run policies live, write and print the results.

use std::process::ExitCode;

use tokio::sync::watch;

use super::{EXIT_INTERRUPTED, Interrupted, ScenarioArgs, UsageError};
use crate::backends::{Lifetime, provision};
use crate::clock::{Clock, SystemClock};
use crate::cost::{CacheDeployment, Pricing};
use crate::harness::faults::FaultTargets;
use crate::harness::run_policy;
use crate::metrics::RunMetrics;
use crate::report::{
    PolicyResult, RunResult, SCHEMA_VERSION, fault_table, result_dir, terminal_table, write_all,
};
use crate::scenario::Scenario;

fn run_id(now: crate::clock::Timestamp) -> String {
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

/// Runs the first (or `--policy`) policy, or every policy when `sweep`.
pub(super) async fn run(args: ScenarioArgs, sweep: bool) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(&args.scenario).map_err(|e| UsageError(e.to_string()))?;
    let indexes: Vec<usize> = match (&args.policy, sweep) {
        (_, true) => (0..scenario.policies.len()).collect(),
        (None, false) => vec![0],
        (Some(name), false) => {
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
    let config = args.backend.config();
    let backends = tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => return Err(Interrupted("nothing was left running").into()),
        b = provision(args.backend.backend, &config, Lifetime::Scoped) => b?,
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
    let mut result = RunResult {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        mode: "live".into(),
        scenario: scenario.name.clone(),
        source: args.scenario.display().to_string(),
        run_id: id.clone(),
        started_at: started.to_iso8601(),
        finished_at: started.to_iso8601(),
        complete: false,
        seed: scenario.seed,
        time_scale: scenario.time_scale,
        duration_s: scenario.duration.as_secs_f64(),
        backend: backends.kind,
        endpoints: backends.endpoints.describe(),
        policies: Vec::new(),
    };
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
                    if let Err(e) = write_all(&dir, &interim) {
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
    print!("{}", terminal_table(&result));
    if let Some(faults) = fault_table(&result) {
        print!("\n{faults}");
    }
    println!("results: {}", dir.display());
    Ok(if interrupted { ExitCode::from(EXIT_INTERRUPTED) } else { ExitCode::SUCCESS })
}
