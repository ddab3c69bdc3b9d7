//! `tierbench merge`: the results of one run's shards (run on several
//! machines) into one result, written and printed like a run's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::UsageError;
use super::run_cmd::{print_result, run_id};
use crate::clock::{Clock, SystemClock};
use crate::cost::{CostOptions, Pricing};
use crate::report::{MergeError, RunResult, SCHEMA_VERSION, merge, result_dir, write_all};
use crate::scenario::Scenario;

/// Arguments of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Each shard's result: a result.json, or the run directory holding it.
    #[arg(required = true, value_name = "RESULT")]
    pub shards: Vec<PathBuf>,
    /// Write the merged result into this directory [default: <results>/<scenario>/merged-<new run id>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where results go when --out is not given.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// A pricing file to estimate the merged cost with, as `run --pricing`
    /// [default: the scenario's `[cost] pricing`, else the built-in prices].
    #[arg(long)]
    pub pricing: Option<PathBuf>,
}

/// Reads the shards, merges them, writes and prints the merged result.
pub(super) fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let shards = args.shards.iter().map(|p| read_shard(p)).collect::<Result<Vec<_>, _>>()?;
    let (pricing, options) = cost_inputs(&shards[0], args.pricing.as_deref())?;
    let mut merged = merge(&shards, &pricing, &options).map_err(|e| match &e {
        MergeError::NotOneRun { shard, .. } => UsageError(format!(
            "{}: {e} ({} is the first shard)",
            args.shards[*shard].display(),
            args.shards[0].display()
        )),
        MergeError::Twice { shard, .. } => UsageError(format!("{}: {e}", args.shards[*shard].display())),
        MergeError::Empty => UsageError(e.to_string()),
    })?;
    merged.run_id = format!("merged-{}", run_id(SystemClock.now()));
    let dir = args.out.unwrap_or_else(|| result_dir(&args.results, &merged.scenario, &merged.run_id));
    write_all(&dir, &merged)?;
    print_result(&merged, &dir);
    Ok(ExitCode::SUCCESS)
}

/// A shard's result, from its file or its run directory.
fn read_shard(path: &Path) -> Result<RunResult, UsageError> {
    let file = if path.is_dir() { path.join("result.json") } else { path.to_owned() };
    let fail = |why: String| UsageError(format!("{}: {why}", file.display()));
    let text = std::fs::read_to_string(&file).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(format!("not JSON: {e}")))?;
    match value.get("schema_version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(fail(format!(
                "schema_version is {v}; this tierbench merges version {SCHEMA_VERSION}: merge with the \
                 tierbench that wrote it"
            )));
        }
        None => return Err(fail("no schema_version: not a tierbench result.json".into())),
    }
    serde_json::from_value(value).map_err(|e| fail(format!("not a tierbench result.json: {e}")))
}

/// The pricing and cost options the run had: the scenario's, read again from
/// its file. When the file cannot be read here (merged on another machine)
/// or is no longer that scenario, the built-in prices (or `--pricing`) and
/// default options, with a warning.
fn cost_inputs(first: &RunResult, flag: Option<&Path>) -> Result<(Pricing, CostOptions), UsageError> {
    let from_flag = || match flag {
        Some(path) => Pricing::from_file(path).map(Some).map_err(|e| UsageError(format!("--pricing: {e}"))),
        None => Ok(None),
    };
    let scenario = Scenario::load(Path::new(&first.source)).map_err(|e| e.to_string()).and_then(|s| {
        if s.name == first.scenario && s.seed == first.seed {
            Ok(s)
        } else {
            Err(format!("it is now scenario {:?} seed {}, not the run's", s.name, s.seed))
        }
    });
    match scenario {
        Ok(s) => {
            let pricing = match (from_flag()?, &s.cost.pricing) {
                (Some(p), _) => p,
                (None, Some(path)) => Pricing::from_file(path).map_err(|e| UsageError(e.to_string()))?,
                (None, None) => Pricing::defaults(),
            };
            Ok((pricing, s.cost.options))
        }
        Err(why) => {
            let prices = flag.map_or("the built-in prices".to_owned(), |p| p.display().to_string());
            eprintln!(
                "warning: cannot use the run's scenario {} ({why}): the merged cost is estimated with \
                 {prices} and default cost options",
                first.source
            );
            let pricing = from_flag()?.unwrap_or_else(Pricing::defaults);
            Ok((pricing, CostOptions::default()))
        }
    }
}
