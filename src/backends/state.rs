//! The state of `tierbench backends up`: what was left running, so `down` can
//! stop it and `status` can show it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BackendError, BackendKind, Endpoints, containers};

/// Backends left running by `backends up`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detached {
    /// What was provisioned.
    pub kind: BackendKind,
    /// Where it answers.
    pub endpoints: Endpoints,
    /// Local processes to stop.
    pub pids: Vec<u32>,
    /// Containers to remove.
    pub container_ids: Vec<String>,
}

/// The state file under `cache_dir`.
pub fn path(cache_dir: &Path) -> PathBuf {
    cache_dir.join("backends.json")
}

fn state_err(path: &Path, detail: impl ToString) -> BackendError {
    BackendError::State { path: path.display().to_string(), detail: detail.to_string() }
}

/// Records `detached` (atomically: written beside, then renamed).
///
/// # Errors
/// When the file cannot be written.
pub fn save(cache_dir: &Path, detached: &Detached) -> Result<(), BackendError> {
    let file = path(cache_dir);
    std::fs::create_dir_all(cache_dir).map_err(|e| state_err(&file, e))?;
    let tmp = file.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(detached).map_err(|e| state_err(&file, e))?;
    std::fs::write(&tmp, text).map_err(|e| state_err(&tmp, e))?;
    std::fs::rename(&tmp, &file).map_err(|e| state_err(&file, e))
}

/// What `backends up` recorded, if anything.
///
/// # Errors
/// When the file exists but cannot be read or parsed.
pub fn load(cache_dir: &Path) -> Result<Option<Detached>, BackendError> {
    let file = path(cache_dir);
    match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| state_err(&file, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(state_err(&file, e)),
    }
}

/// Whether process `pid` exists and has not exited (a zombie waiting for a
/// parent that does not reap it counts as exited).
pub fn pid_alive(pid: u32) -> bool {
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        return !matches!(state, Some('Z' | 'X') | None);
    }
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// Stops what `detached` names: SIGTERM to each process, SIGKILL after 5 s,
/// and removal of each container; then deletes the state file.
///
/// # Errors
/// When a container cannot be removed (the state file is then kept).
pub async fn stop(cache_dir: &Path, detached: &Detached) -> Result<(), BackendError> {
    for &pid in &detached.pids {
        // SAFETY: kill(2) with a pid recorded by `backends up`.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
    for _ in 0..50 {
        if !detached.pids.iter().any(|&p| pid_alive(p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for &pid in detached.pids.iter().filter(|&&p| pid_alive(p)) {
        // SAFETY: as above; the process ignored SIGTERM.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    if !detached.container_ids.is_empty() {
        containers::remove(&detached.container_ids).await?;
    }
    let file = path(cache_dir);
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(state_err(&file, e)),
    }
}
