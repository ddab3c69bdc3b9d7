//! `tierbench backends up|down|status`.

use std::process::ExitCode;
use std::time::Duration;

use super::{BackendsCommand, EXIT_INFRA, Interrupted, StateArgs, UsageError};
use crate::backends::probe::{dynamodb_once, redis_once};
use crate::backends::{BackendKind, Endpoints, Lifetime, default_cache_dir, provision, state};
use crate::store::DynamoL2;

fn print_endpoints(e: &Endpoints) {
    println!("redis:    {}", crate::store::redis::redact_url(&e.redis_url));
    println!("dynamodb: {}", e.dynamodb_endpoint.as_deref().unwrap_or("AWS (default credential chain)"));
    println!("region:   {}", e.region);
}

fn cache_dir(args: &StateArgs) -> std::path::PathBuf {
    args.cache_dir.clone().unwrap_or_else(default_cache_dir)
}

pub(super) async fn run(cmd: BackendsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BackendsCommand::Up(args) => {
            let config = args.config();
            if let Some(existing) = state::load(&config.cache_dir)?
                && existing.pids.iter().any(|&p| state::pid_alive(p))
            {
                return Err(UsageError(format!(
                    "backends are already up ({}); run `tierbench backends down` first",
                    existing.endpoints.describe()
                ))
                .into());
            }
            let started = tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => return Err(Interrupted("nothing was left running").into()),
                b = provision(args.backend, &config, Lifetime::Detached) => b?,
            };
            // The seed's cache table, so the servers are ready for the chain and
            // can be inspected with any DynamoDB client.
            let dynamo = started.endpoints.dynamo_options();
            let table = match started.kind {
                BackendKind::External => None,
                _ => Some(DynamoL2::connect(&dynamo).await.map(|_| dynamo.table.name)),
            };
            let detached = started.detach();
            state::save(&config.cache_dir, &detached)?;
            println!("backend:  {:?}", detached.kind);
            print_endpoints(&detached.endpoints);
            println!("state:    {}", state::path(&config.cache_dir).display());
            match table {
                Some(Ok(name)) => println!("table:    {name} (pk/sk, gsi1, TTL on ttl)"),
                Some(Err(e)) => eprintln!("warning: could not create the cache table: {e}"),
                None => {}
            }
            println!("stop with: tierbench backends down");
            Ok(ExitCode::SUCCESS)
        }
        BackendsCommand::Down(args) => {
            let dir = cache_dir(&args);
            match state::load(&dir)? {
                None => println!("nothing is up (no {})", state::path(&dir).display()),
                Some(d) => {
                    state::stop(&dir, &d).await?;
                    println!(
                        "stopped {:?} backends: {} processes, {} containers",
                        d.kind,
                        d.pids.len(),
                        d.container_ids.len()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BackendsCommand::Status(args) => {
            let dir = cache_dir(&args);
            let Some(d) = state::load(&dir)? else {
                println!("nothing is up (no {})", state::path(&dir).display());
                return Ok(ExitCode::SUCCESS);
            };
            println!("backend:  {:?}", d.kind);
            print_endpoints(&d.endpoints);
            let limit = Duration::from_secs(2);
            let (r, ddb) = tokio::join!(
                redis_once(&d.endpoints.redis_url, limit),
                dynamodb_once(d.endpoints.dynamodb_endpoint.as_deref(), &d.endpoints.region, limit)
            );
            let show = |what: &str, r: &Result<(), String>| match r {
                Ok(()) => println!("{what} answers"),
                Err(e) => println!("{what} does NOT answer: {e}"),
            };
            show("redis", &r);
            show("dynamodb", &ddb);
            Ok(if r.is_ok() && ddb.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INFRA) })
        }
    }
}
