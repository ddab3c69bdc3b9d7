//! `tierbench plan`: the cheapest setup that meets a scenario's constraints at
//! a target rate, by simulating every policy on every cache shape.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{EXIT_CHECK_FAILED, ScenarioArgs, UsageError};
use crate::cost::Pricing;
use crate::scenario::Scenario;
use crate::sim::plan::{Constraints, Plan, plan};

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The scenario (its workload, policies and deployment) and simulator knobs.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Requests per second to plan for (the scenario's arrival rates are scaled to it).
    #[arg(long, value_name = "N")]
    pub target_rps: f64,
    /// Stripe calls at the busiest second, at most this % of the account's limit.
    #[arg(long, default_value_t = 80.0)]
    pub max_stripe_pct: f64,
    /// Stale reads, at most this % of reads.
    #[arg(long, default_value_t = 1.0)]
    pub max_stale_pct: f64,
    /// Corrected p99, at most this many milliseconds.
    #[arg(long, default_value_t = 1_000.0)]
    pub max_p99_ms: f64,
    /// Errors, at most this % of requests.
    #[arg(long, default_value_t = 1.0)]
    pub max_errors_pct: f64,
}

fn pct(v: f64) -> String {
    format!("{:.1}", v * 100.0)
}

fn render(p: &Plan) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{:<4} {:<14} {:<26} {:<12} {:>10} {:>6} {:>7} {:>8} {:>8}  fails\n",
        "", "policy", "cache", "dynamodb", "$/month", "L1 %", "stale %", "p99 ms", "Stripe %"
    );
    for (i, c) in p.candidates.iter().take(15).enumerate() {
        let mark = match (i, c.fails.is_empty()) {
            (0, true) => "BEST",
            (_, true) => "ok",
            _ => "-",
        };
        let _ = writeln!(
            out,
            "{mark:<4} {:<14} {:<26} {:<12} {:>10} {:>6} {:>7} {:>8.0} {:>8}  {}",
            c.policy,
            c.cache,
            c.dynamodb,
            c.monthly_usd.map_or("?".into(), |m| format!("{m:.2}")),
            pct(c.l1_hit_ratio),
            format!("{:.2}", c.stale_ratio * 100.0),
            c.p99_ms,
            pct(c.stripe_share),
            c.fails.join("; ")
        );
    }
    if p.candidates.len() > 15 {
        let _ = writeln!(out, "... {} more setups", p.candidates.len() - 15);
    }
    let _ = writeln!(
        out,
        "\nL1 hit ratio vs L1 memory (working set unbounded: {:.1} MB):",
        p.working_set_bytes / 1048576.0
    );
    let _ = writeln!(out, "{:>12} {:>6} {:>9} {:>8}", "memory MB", "L1 %", "cached %", "stale %");
    for c in &p.memory_curve {
        let _ = writeln!(
            out,
            "{:>12.2} {:>6} {:>9} {:>8.2}",
            c.x / 1048576.0,
            pct(c.l1_hit_ratio),
            pct(c.cache_hit_ratio),
            c.stale_ratio * 100.0
        );
    }
    let _ = writeln!(out, "\nhit ratio vs TTL (every TTL of the policy times k):");
    let _ = writeln!(out, "{:>12} {:>6} {:>9} {:>8}", "k", "L1 %", "cached %", "stale %");
    for c in &p.ttl_curve {
        let _ = writeln!(
            out,
            "{:>12} {:>6} {:>9} {:>8.2}",
            c.x,
            pct(c.l1_hit_ratio),
            pct(c.cache_hit_ratio),
            c.stale_ratio * 100.0
        );
    }
    out
}

/// Runs the plan; exit 1 when no setup meets the constraints.
pub(super) fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let a = &args.scenario;
    let scenario = Scenario::load(&a.scenario).map_err(|e| UsageError(e.to_string()))?;
    if !(args.target_rps > 0.0 && args.target_rps.is_finite()) {
        return Err(UsageError(format!("--target-rps {}: give a positive rate", args.target_rps)).into());
    }
    for (flag, v) in [
        ("--max-stripe-pct", args.max_stripe_pct),
        ("--max-stale-pct", args.max_stale_pct),
        ("--max-p99-ms", args.max_p99_ms),
        ("--max-errors-pct", args.max_errors_pct),
    ] {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(UsageError(format!("{flag} {v}: give a number >= 0")).into());
        }
    }
    let pricing = match a.pricing.as_ref().or(scenario.cost.pricing.as_ref()) {
        Some(path) => Pricing::from_file(path).map_err(|e| UsageError(e.to_string()))?,
        None => Pricing::defaults(),
    };
    let constraints = Constraints {
        max_stripe_share: args.max_stripe_pct / 100.0,
        max_stale: args.max_stale_pct / 100.0,
        max_p99: Duration::from_secs_f64(args.max_p99_ms / 1e3),
        max_errors: args.max_errors_pct / 100.0,
    };
    let options = a.sim.options_for(Some(&a.results.join(&scenario.name)))?;
    eprintln!(
        "planning {} at {} req/s: every policy x {} cache shapes x 2 DynamoDB modes, simulated",
        scenario.name,
        args.target_rps,
        pricing.elasticache_nodes.len() + 1
    );
    let p = plan(&scenario, args.target_rps, &constraints, &pricing, &scenario.cost.options, &options)
        .map_err(|e| UsageError(e.to_string()))?;
    print!("{}", render(&p));
    let met = p.candidates.first().is_some_and(|c| c.fails.is_empty());
    if !met {
        println!("\nno setup meets the constraints: relax them or change the policies");
    }
    Ok(if met { ExitCode::SUCCESS } else { ExitCode::from(EXIT_CHECK_FAILED) })
}
