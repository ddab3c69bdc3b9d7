//! Command-line definitions: turns flags into library calls, holds no logic of its own.

mod backends_cmd;
mod calibrate_cmd;
mod check_cmd;
mod merge_cmd;
mod mock_cmd;
mod plan_cmd;
mod run_cmd;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::backends::{BackendChoice, BackendConfig, BackendError, default_cache_dir};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a threshold or regression check failed.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: usage or scenario error, or a capability not built yet.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: backend or infrastructure failure.
pub const EXIT_INFRA: u8 = 3;
/// Exit code: stopped by Ctrl-C (SIGINT), after cleaning up.
pub const EXIT_INTERRUPTED: u8 = 130;

/// tierbench: what hit rates, p99 latency, staleness, Stripe-call rate and AWS
/// cost a cache (Redis -> DynamoDB -> Stripe) gives for your traffic and TTL policy.
#[derive(Debug, Parser)]
#[command(name = "tierbench", version, about, max_term_width = 100)]
pub struct Cli {
    /// Threads of tierbench's own async runtime. 1 (a single-threaded runtime)
    /// leaves the other cores to Redis, DynamoDB Local and the JVM, and measured
    /// the most L1 hits per second on a 2-core machine; raise it for high-rate
    /// runs on bigger machines.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256), env = "TIERBENCH_THREADS")]
    pub threads: u16,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The async runtime `threads` asks for: single-threaded at 1, else a
/// multi-threaded one with that many workers.
///
/// # Errors
/// When the runtime cannot start (threads, timers or the I/O driver).
pub fn runtime(threads: u16) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(usize::from(threads)).enable_all().build()
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario live against real Redis, DynamoDB and the mock Stripe.
    Run(ScenarioArgs),
    /// Run one workload under every policy of a scenario and compare them.
    Sweep(ScenarioArgs),
    /// Run every policy of a scenario in virtual time against modelled backends.
    Sim(ScenarioArgs),
    /// Run a scenario live and simulated and print the difference per metric.
    Calibrate(calibrate_cmd::CalibrateArgs),
    /// Find the cheapest setup that meets a scenario's constraints (simulated).
    Plan(plan_cmd::PlanArgs),
    /// Check a result against thresholds and a baseline (the CI gate): exit 0
    /// pass, 1 failed (naming latency, hit_ratio, staleness, cost, errors, ...), 2 bad input.
    Check(check_cmd::CheckArgs),
    /// Compare results side by side, each against the first.
    Compare(check_cmd::CompareArgs),
    /// Serve the mock Stripe API.
    MockStripe(MockArgs),
    /// Start, stop or show Redis and DynamoDB Local for manual use.
    #[command(subcommand)]
    Backends(BackendsCommand),
    /// Merge the results of one run's shards (from several machines) into one result.
    Merge(merge_cmd::MergeArgs),
}

/// Arguments of the scenario-driven commands.
#[derive(Clone, Debug, Args)]
pub struct ScenarioArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Run only this policy of the scenario (`run`: by default the first; `sweep`, `sim`: every one).
    #[arg(long)]
    pub policy: Option<String>,
    /// A pricing file overriding any of the default AWS prices (see pricing/aws-us-east-1.toml).
    #[arg(long)]
    pub pricing: Option<PathBuf>,
    /// Where results go: `<results>/<scenario>/<run-id>/`.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Where services come from.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// How the simulator models what the scenario does not say.
    #[command(flatten)]
    pub sim: SimFlags,
}

/// The simulator's knobs (`sim`, and `run` / `sweep` when they simulate).
#[derive(Clone, Debug, Args)]
pub struct SimFlags {
    /// A live run's result.json whose measured latencies per layer the
    /// simulator draws from (its first policy, or --calibration-policy);
    /// `none` for the built-in defaults. By default the newest live run of the
    /// scenario under --results, if there is one.
    #[arg(long, value_name = "RESULT_JSON|none")]
    pub calibration: Option<PathBuf>,
    /// The calibration file's policy to use.
    #[arg(long)]
    pub calibration_policy: Option<String>,
    /// Simulated Redis maxmemory, e.g. 64mb, 1.5gb [default: unbounded, as the live Redis].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub l1_maxmemory: Option<u64>,
    /// Simulated Redis maxmemory-policy: allkeys-lru, volatile-lru, allkeys-lfu,
    /// volatile-lfu, volatile-ttl (sampled as Redis samples), or exact-lru.
    #[arg(long, default_value = "allkeys-lru")]
    pub eviction: String,
    /// Simulated Redis maxmemory-samples.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub maxmemory_samples: u32,
}

impl SimFlags {
    /// The simulator's options for these flags.
    ///
    /// # Errors
    /// A [`UsageError`] naming the flag when the eviction policy or the
    /// calibration file is bad.
    pub fn options(&self) -> Result<crate::sim::SimOptions, UsageError> {
        self.options_for(None)
    }

    /// [`SimFlags::options`], calibrated by default from the newest live
    /// result in `newest_live_in` (a scenario's results directory).
    ///
    /// # Errors
    /// As [`SimFlags::options`].
    pub fn options_for(
        &self,
        newest_live_in: Option<&std::path::Path>,
    ) -> Result<crate::sim::SimOptions, UsageError> {
        let eviction = crate::sim::Eviction::parse(&self.eviction, self.maxmemory_samples)
            .map_err(|e| UsageError(format!("--eviction: {e}")))?;
        let file = match &self.calibration {
            Some(path) if path.as_os_str() == "none" => None,
            Some(path) => Some(path.clone()),
            None => newest_live_in.and_then(crate::sim::newest_live_result),
        };
        let latency = match file {
            Some(path) => crate::sim::TierLatency::calibrated(&path, self.calibration_policy.as_deref())
                .map_err(|e| UsageError(format!("--calibration: {e}")))?,
            None => crate::sim::TierLatency::default(),
        };
        Ok(crate::sim::SimOptions { latency, l1_maxmemory: self.l1_maxmemory, eviction })
    }
}

/// A size such as `64mb`, `1.5gb`, `512kb` or `1000000` (bytes; units are
/// powers of 1024, as Redis reads `maxmemory`).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.trim().parse().map_err(|_| format!("{text:?} is not a size such as 64mb"))?;
    let scale = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        u => return Err(format!("unknown unit {u:?} in {text:?}: use b, kb, mb or gb")),
    };
    if !(n > 0.0 && n.is_finite()) {
        return Err(format!("{text:?}: a size must be positive"));
    }
    Ok((n * scale) as u64)
}

pub use mock_cmd::MockArgs;

/// `backends` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackendsCommand {
    /// Start Redis and DynamoDB Local and leave them running; prints the endpoints.
    Up(BackendArgs),
    /// Stop what `up` started.
    Down(StateArgs),
    /// Show what `up` started and whether it answers.
    Status(StateArgs),
}

/// Where `backends up` keeps its state.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// Directory of installed tools and state [default: $TIERBENCH_CACHE or ~/.cache/tierbench].
    #[arg(long, env = "TIERBENCH_CACHE")]
    pub cache_dir: Option<PathBuf>,
}

/// Where Redis and DynamoDB come from.
#[derive(Clone, Debug, Args)]
pub struct BackendArgs {
    /// auto: given endpoints, else containers if Docker answers, else local
    /// processes, else the simulator.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// An existing Redis, e.g. redis://127.0.0.1:6379 (external backend).
    #[arg(long, env = "TIERBENCH_REDIS_URL")]
    pub redis_url: Option<String>,
    /// An existing DynamoDB endpoint, e.g. http://127.0.0.1:8000 (external backend).
    #[arg(long, env = "TIERBENCH_DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,
    /// Use real AWS DynamoDB with the standard credential chain (external backend).
    #[arg(long)]
    pub aws: bool,
    /// AWS region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Redis container image.
    #[arg(long, env = "TIERBENCH_REDIS_IMAGE", default_value = "redis:7")]
    pub redis_image: String,
    /// DynamoDB Local container image.
    #[arg(long, env = "TIERBENCH_DYNAMODB_IMAGE", default_value = "amazon/dynamodb-local:latest")]
    pub dynamodb_image: String,
    /// Seconds each server may take to answer.
    #[arg(long, default_value_t = 60)]
    pub startup_timeout_s: u64,
    /// Directory of installed tools and state [default: $TIERBENCH_CACHE or ~/.cache/tierbench].
    #[arg(long, env = "TIERBENCH_CACHE")]
    pub cache_dir: Option<PathBuf>,
}

impl BackendArgs {
    /// The library's configuration for these flags.
    pub fn config(&self) -> BackendConfig {
        BackendConfig {
            redis_url: self.redis_url.clone(),
            dynamodb_endpoint: self.dynamodb_endpoint.clone(),
            aws: self.aws,
            region: self.region.clone(),
            redis_image: self.redis_image.clone(),
            dynamodb_image: self.dynamodb_image.clone(),
            startup_timeout: Duration::from_secs(self.startup_timeout_s),
            cache_dir: self.cache_dir.clone().unwrap_or_else(default_cache_dir),
            ..BackendConfig::default()
        }
    }
}

/// A capability whose issue has not landed: said plainly, exit 2, no fake output.
#[derive(Debug, thiserror::Error)]
#[error("`tierbench {command}` is not built yet: {missing} (issue #{issue})")]
pub struct NotBuilt {
    /// The subcommand.
    pub command: &'static str,
    /// What is missing.
    pub missing: &'static str,
    /// The issue that builds it.
    pub issue: u32,
}

/// A request that cannot be carried out as given (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The run was stopped by Ctrl-C; what was started has been stopped.
#[derive(Debug, thiserror::Error)]
#[error("interrupted; {0}")]
pub struct Interrupted(pub &'static str);

/// Runs the parsed command.
///
/// # Errors
/// Any failure; [`exit_code`] maps it to the process's exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run_cmd::run(args, run_cmd::Mode::Run).await,
        Command::Sweep(args) => run_cmd::run(args, run_cmd::Mode::Sweep).await,
        Command::Sim(args) => run_cmd::run(args, run_cmd::Mode::Sim).await,
        Command::Calibrate(args) => calibrate_cmd::run(args).await,
        Command::Plan(args) => plan_cmd::run(args),
        Command::Check(args) => check_cmd::check(args),
        Command::Compare(args) => check_cmd::compare(args),
        Command::MockStripe(args) => mock_cmd::run(args).await,
        Command::Backends(cmd) => backends_cmd::run(cmd).await,
        Command::Merge(args) => merge_cmd::run(args),
    }
}

/// The exit code for an error (DESIGN.md, decision 7): 2 for usage errors and
/// capabilities not built yet, 3 for backend failures, 130 after Ctrl-C.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<NotBuilt>().is_some() || error.downcast_ref::<UsageError>().is_some() {
        return EXIT_USAGE;
    }
    if error.downcast_ref::<Interrupted>().is_some() {
        return EXIT_INTERRUPTED;
    }
    match error.downcast_ref::<BackendError>() {
        Some(e) if e.is_usage() => EXIT_USAGE,
        // Backend, harness and I/O failures alike.
        _ => EXIT_INFRA,
    }
}
