//! Command-line definitions: turns flags into library calls, holds no logic of its own.

mod backends_cmd;
mod mock_cmd;
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
    /// Run a scenario in virtual time against modelled backends.
    Sim(ScenarioArgs),
    /// Find the cheapest setup that meets a scenario's constraints.
    Plan(ScenarioArgs),
    /// Check a result against thresholds and a baseline (CI gate).
    Check(PathsArgs),
    /// Compare results side by side.
    Compare(PathsArgs),
    /// Serve the mock Stripe API.
    MockStripe(MockArgs),
    /// Start, stop or show Redis and DynamoDB Local for manual use.
    #[command(subcommand)]
    Backends(BackendsCommand),
}

/// Arguments of the scenario-driven commands.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Run this policy of the scenario (`run` only; by default the first).
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
}

/// Arguments naming result files.
#[derive(Debug, Args)]
pub struct PathsArgs {
    /// Result files or directories.
    pub paths: Vec<PathBuf>,
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
#[derive(Debug, Args)]
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
    let not_built = |command, missing, issue| Err(NotBuilt { command, missing, issue }.into());
    match cli.command {
        Command::Run(args) => run_cmd::run(args, false).await,
        Command::Sweep(args) => run_cmd::run(args, true).await,
        Command::Sim(_) => not_built("sim", "the virtual-time simulator", 6),
        Command::Plan(_) => not_built("plan", "capacity planning over the simulator", 6),
        Command::Check(_) => not_built("check", "thresholds and baseline regression checks", 7),
        Command::Compare(_) => not_built("compare", "side-by-side result comparison", 7),
        Command::MockStripe(args) => mock_cmd::run(args).await,
        Command::Backends(cmd) => backends_cmd::run(cmd).await,
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
