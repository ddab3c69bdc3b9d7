//! Provisioning of real Redis and DynamoDB: containers through a Docker API,
//! local processes, or given endpoints (including real AWS). Whatever this
//! module starts, it stops: on success, on error, and when dropped.

mod containers;
mod error;
mod external;
mod local;
pub mod probe;
mod restart;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::warn;

pub use self::containers::set_paused as set_container_paused;
pub use self::error::BackendError;
pub use self::local::{find_dynamodb_jar, find_redis};
pub use self::restart::RedisProcess;
use crate::store::redis::redact_url;
use crate::store::{DynamoOptions, RedisOptions};

/// Which backends to use (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// External endpoints if given, else containers if a Docker API answers,
    /// else local processes if the binaries are found, else the simulator.
    Auto,
    /// Redis and DynamoDB Local containers via testcontainers.
    Containers,
    /// `redis-server` and DynamoDB Local's jar as local processes.
    Local,
    /// Endpoints given with `--redis-url` / `--dynamodb-endpoint`, or real AWS.
    External,
    /// No services: the virtual-time simulator.
    Sim,
}

/// What was actually provisioned (recorded in every result).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Containers started by tierbench.
    Containers,
    /// Processes started by tierbench.
    Local,
    /// Servers tierbench did not start.
    External,
    /// No servers: the virtual-time simulator's models.
    Simulated,
}

/// Where the provisioned servers answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// Redis URL.
    pub redis_url: String,
    /// DynamoDB endpoint URL; `None` for real AWS.
    pub dynamodb_endpoint: Option<String>,
    /// AWS region.
    pub region: String,
}

impl Endpoints {
    /// Redis options for these endpoints (other settings at their defaults).
    pub fn redis_options(&self) -> RedisOptions {
        RedisOptions { url: self.redis_url.clone(), ..RedisOptions::default() }
    }

    /// DynamoDB options for these endpoints (other settings at their defaults).
    pub fn dynamo_options(&self) -> DynamoOptions {
        DynamoOptions {
            endpoint_url: self.dynamodb_endpoint.clone(),
            region: self.region.clone(),
            ..DynamoOptions::default()
        }
    }

    /// A one-line description without secrets.
    pub fn describe(&self) -> String {
        format!(
            "redis {}  dynamodb {}",
            redact_url(&self.redis_url),
            self.dynamodb_endpoint.as_deref().unwrap_or("AWS (default credential chain)")
        )
    }
}

/// How to provision.
///
/// By default: no external endpoints, the official images `redis:7` and
/// `amazon/dynamodb-local:latest` (or `TIERBENCH_REDIS_IMAGE` /
/// `TIERBENCH_DYNAMODB_IMAGE`), region `us-east-1`, 60 s to become ready, the
/// tool cache in `TIERBENCH_CACHE` or `~/.cache/tierbench`, DynamoDB Local
/// (local processes) with [`DynamoJit::Quick`].
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// An existing Redis (external backend).
    pub redis_url: Option<String>,
    /// An existing DynamoDB endpoint (external backend).
    pub dynamodb_endpoint: Option<String>,
    /// Use real AWS DynamoDB (external backend without an endpoint).
    pub aws: bool,
    /// AWS region.
    pub region: String,
    /// Redis container image, `name:tag`.
    pub redis_image: String,
    /// DynamoDB Local container image, `name:tag`.
    pub dynamodb_image: String,
    /// How long each server may take to answer.
    pub startup_timeout: Duration,
    /// Where installed tools (DynamoDB Local) and the `backends up` state live.
    pub cache_dir: PathBuf,
    /// How a locally started DynamoDB Local's JVM compiles.
    pub dynamodb_jit: DynamoJit,
}

/// How the JVM of a locally started DynamoDB Local compiles its code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DynamoJit {
    /// C1 only (`-XX:TieredStopAtLevel=1`): little compiling at start, so a
    /// load generator on the same small machine keeps its schedule from the
    /// first second (a 30 s quickstart: 32 of 3,065 requests late, against
    /// 288 with the full JIT). The default.
    #[default]
    Quick,
    /// The JVM's full tiered JIT: a burst of compiling at start, then about
    /// twice the sustained throughput (100k racing writes: 109 s against
    /// 205 s). For long loads of DynamoDB Local itself.
    Full,
}

impl Default for BackendConfig {
    fn default() -> Self {
        let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        BackendConfig {
            redis_url: None,
            dynamodb_endpoint: None,
            aws: false,
            region: "us-east-1".into(),
            redis_image: env("TIERBENCH_REDIS_IMAGE", "redis:7"),
            dynamodb_image: env("TIERBENCH_DYNAMODB_IMAGE", "amazon/dynamodb-local:latest"),
            startup_timeout: Duration::from_secs(60),
            cache_dir: default_cache_dir(),
            dynamodb_jit: DynamoJit::default(),
        }
    }
}

/// `TIERBENCH_CACHE`, else `~/.cache/tierbench`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TIERBENCH_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("tierbench")
}

/// Whether provisioned servers stop with this process or outlive it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Stopped when the [`Backends`] is stopped or dropped, and killed if this
    /// process dies.
    Scoped,
    /// Left running for `tierbench backends down` (recorded in the state file).
    Detached,
}

/// Provisioned backends. Stop them with [`Backends::stop`]; dropping also stops
/// scoped ones.
#[derive(Debug)]
pub struct Backends {
    /// What was provisioned.
    pub kind: BackendKind,
    /// Where it answers.
    pub endpoints: Endpoints,
    running: Running,
}

#[derive(Debug)]
enum Running {
    Containers(containers::Running),
    Local(local::Running),
    External,
}

impl Backends {
    /// Stops what was started (nothing for external backends).
    ///
    /// # Errors
    /// When a container could not be removed (it is named in the message).
    pub async fn stop(self) -> Result<(), BackendError> {
        match self.running {
            Running::Containers(c) => c.stop().await,
            Running::Local(l) => {
                l.stop().await;
                Ok(())
            }
            Running::External => Ok(()),
        }
    }

    /// The ids of the local processes started (empty for other kinds).
    pub fn process_ids(&self) -> Vec<u32> {
        match &self.running {
            Running::Local(l) => l.pids(),
            _ => Vec::new(),
        }
    }

    /// The ids of the containers started (Redis's, then DynamoDB Local's;
    /// empty for other kinds).
    pub fn container_ids(&self) -> Vec<String> {
        match &self.running {
            Running::Containers(c) => c.ids(),
            _ => Vec::new(),
        }
    }

    /// The local Redis process, for faults that kill and restart it (local
    /// backends only).
    pub fn redis_process(&self) -> Option<RedisProcess> {
        match &self.running {
            Running::Local(l) => l.redis.clone(),
            _ => None,
        }
    }

    /// Leaves the servers running and returns what `backends down` needs to stop them.
    pub fn detach(self) -> state::Detached {
        let (pids, container_ids) = match self.running {
            Running::Containers(c) => (Vec::new(), c.detach()),
            Running::Local(l) => (l.detach(), Vec::new()),
            Running::External => (Vec::new(), Vec::new()),
        };
        state::Detached { kind: self.kind, endpoints: self.endpoints, pids, container_ids }
    }
}

/// Provisions backends as `choice` says.
///
/// # Errors
/// [`BackendError`] naming the missing piece and how to get it; nothing started
/// is left running.
pub async fn provision(
    choice: BackendChoice,
    config: &BackendConfig,
    lifetime: Lifetime,
) -> Result<Backends, BackendError> {
    match choice {
        BackendChoice::External => external::connect(config).await,
        BackendChoice::Containers => containers::start(config).await,
        BackendChoice::Local => local::start(config, lifetime).await,
        BackendChoice::Sim => Err(BackendError::Simulated),
        BackendChoice::Auto => auto(config, lifetime).await,
    }
}

async fn auto(config: &BackendConfig, lifetime: Lifetime) -> Result<Backends, BackendError> {
    if config.redis_url.is_some() || config.dynamodb_endpoint.is_some() || config.aws {
        return external::connect(config).await;
    }
    let docker = containers::docker_ping().await.is_ok();
    if docker {
        match containers::start(config).await {
            Ok(b) => return Ok(b),
            Err(e) => warn!("containers unavailable ({e}); trying local processes"),
        }
    }
    match local::start(config, lifetime).await {
        Ok(b) => Ok(b),
        Err(e @ BackendError::Missing { .. }) if !docker => {
            Err(BackendError::NothingAvailable { local: e.to_string() })
        }
        Err(e) => Err(e),
    }
}
