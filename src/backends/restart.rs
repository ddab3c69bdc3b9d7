//! A local `redis-server` that fault injection can kill outright and start
//! again on the same port, as a crashed or redeployed ElastiCache node comes
//! back empty.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::process::{Child, Command};

use super::{BackendError, Lifetime};

/// Handle on the local Redis process; clones share it.
#[derive(Clone, Debug)]
pub struct RedisProcess {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    program: PathBuf,
    args: Vec<String>,
    log_dir: PathBuf,
    /// The process serving now (the original or the last restart).
    pid: u32,
    /// Killed and not started again.
    killed: bool,
    /// The last restarted process (the original belongs to the backends).
    respawned: Option<Child>,
}

impl RedisProcess {
    pub(super) fn new(program: PathBuf, args: Vec<String>, log_dir: PathBuf, pid: u32) -> Self {
        let inner = Inner { program, args, log_dir, pid, killed: false, respawned: None };
        RedisProcess { inner: Arc::new(Mutex::new(inner)) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pid of the process serving now.
    pub fn pid(&self) -> u32 {
        self.lock().pid
    }

    /// Whether it was killed and not started again.
    pub fn is_killed(&self) -> bool {
        self.lock().killed
    }

    /// Kills it with SIGKILL (no shutdown, no save): connections reset, the
    /// port refuses.
    pub fn kill(&self) {
        let mut inner = self.lock();
        // SAFETY: kill(2) on the Redis this process started.
        unsafe { libc::kill(inner.pid as libc::pid_t, libc::SIGKILL) };
        inner.killed = true;
    }

    /// Starts it again with the same command line (same port, empty data) and
    /// returns the new pid. It is killed when this handle's last clone drops
    /// and when tierbench dies.
    ///
    /// # Errors
    /// When it cannot be started.
    pub fn restart(&self) -> Result<u32, BackendError> {
        let mut inner = self.lock();
        if let Some(mut old) = inner.respawned.take() {
            let _ = old.start_kill();
        }
        let mut cmd = Command::new(&inner.program);
        cmd.args(&inner.args);
        let child =
            super::local::spawn("redis-server-restarts", cmd, &inner.log_dir, Lifetime::Scoped, true)?;
        inner.pid = child.id().unwrap_or_default();
        inner.killed = false;
        inner.respawned = Some(child);
        Ok(inner.pid)
    }

    /// Stops a restarted process (the backends stop the original).
    pub(super) fn stop(&self) {
        if let Some(mut child) = self.lock().respawned.take() {
            let _ = child.start_kill();
        }
    }
}
