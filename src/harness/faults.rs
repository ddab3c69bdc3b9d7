//! Fault injection during a run: pauses Redis or DynamoDB Local, or kills
//! Redis and starts it again (local processes), slows or throttles DynamoDB
//! (through [`super::dynamo_faults`]), breaks the mock Stripe, takes the
//! webhook endpoint down, each for its window; and what callers felt in each
//! window.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::dynamo_faults::DynamoFaultState;
use crate::backends::{Backends, RedisProcess};
use crate::mock::{FaultKind as MockFault, MockHandle, OutageWindow};
use crate::scenario::{FaultKind, FaultSpec};

/// The backend processes faults can pause or kill (local backends only).
#[derive(Clone, Debug, Default)]
pub struct FaultTargets {
    /// redis-server's pid.
    pub redis_pid: Option<u32>,
    /// DynamoDB Local's (the JVM's) pid.
    pub dynamodb_pid: Option<u32>,
    /// Redis as a process that can be killed and started again.
    pub redis: Option<RedisProcess>,
    /// Redis's container (container backends): paused through the Docker API.
    pub redis_container: Option<String>,
    /// DynamoDB Local's container.
    pub dynamodb_container: Option<String>,
    /// The proxy in front of DynamoDB that adds latency or throttles (set by
    /// the harness for a run whose scenario has such faults).
    pub dynamodb_proxy: Option<Arc<DynamoFaultState>>,
}

impl FaultTargets {
    /// The targets of `backends` (none for containers or external endpoints).
    pub fn of(backends: &Backends) -> Self {
        let containers = backends.container_ids();
        FaultTargets {
            redis: backends.redis_process(),
            redis_container: containers.first().cloned(),
            dynamodb_container: containers.get(1).cloned(),
            ..Self::from_pids(&backends.process_ids())
        }
    }

    /// The targets among `pids` (the backends' processes), by command name.
    pub fn from_pids(pids: &[u32]) -> Self {
        let comm = |p: &u32| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        FaultTargets {
            redis_pid: pids.iter().copied().find(|p| comm(p).starts_with("redis")),
            dynamodb_pid: pids.iter().copied().find(|p| comm(p).starts_with("java")),
            ..Self::default()
        }
    }

    /// The process a pause of `kind` stops (the serving Redis, after a restart).
    fn pid(&self, kind: FaultKind) -> Option<u32> {
        match kind {
            FaultKind::RedisPause => self.redis.as_ref().map(RedisProcess::pid).or(self.redis_pid),
            FaultKind::DynamoPause => self.dynamodb_pid,
            _ => None,
        }
    }

    /// The container a pause of `kind` freezes (when there is no process).
    fn container(&self, kind: FaultKind) -> Option<&str> {
        match kind {
            FaultKind::RedisPause => self.redis_container.as_deref(),
            FaultKind::DynamoPause => self.dynamodb_container.as_deref(),
            _ => None,
        }
    }

    fn can_run(&self, kind: FaultKind) -> bool {
        match kind {
            FaultKind::RedisKill => self.redis.is_some(),
            k if k.is_dynamo_proxy() => self.dynamodb_proxy.is_some(),
            k => !k.needs_processes() || self.pid(k).is_some() || self.container(k).is_some(),
        }
    }

    /// Sets the proxy's switches to what the `active` proxy faults add up to:
    /// the largest latency and the largest throttled share among them (so
    /// overlapping windows end one at a time).
    fn set_proxy(&self, active: &[(usize, FaultSpec)]) {
        let Some(proxy) = &self.dynamodb_proxy else { return };
        let (mut latency, mut share) = (Duration::ZERO, 0.0_f64);
        for (_, f) in active {
            match f.kind {
                FaultKind::DynamoSlow(d) => latency = latency.max(d),
                FaultKind::DynamoThrottle => share = share.max(f.share),
                _ => {}
            }
        }
        proxy.set_latency(latency);
        proxy.set_throttle(share);
    }
}

/// Why a fault schedule cannot run.
#[derive(Debug, thiserror::Error)]
#[error("fault {kind} cannot run on these backends: {why}")]
pub struct FaultError {
    /// The fault's name.
    pub kind: &'static str,
    /// What it needs.
    pub why: &'static str,
}

impl FaultError {
    fn of(kind: FaultKind) -> Self {
        let why = match kind {
            FaultKind::RedisKill => "it kills and restarts redis-server, so it needs --backend local",
            k if k.is_dynamo_proxy() => {
                "it needs a DynamoDB endpoint to put its proxy in front of (DynamoDB Local or \
                 --dynamodb-endpoint), not real AWS"
            }
            _ => "it needs a process or container to pause: run with --backend local or containers",
        };
        FaultError { kind: kind.name(), why }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: signalling a backend process this run started.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

fn kill_or_restart(redis: Option<&RedisProcess>, kill: bool) {
    let Some(redis) = redis else { return };
    if kill {
        redis.kill();
    } else if let Err(e) = redis.restart() {
        tracing::error!(error = %e, "Redis could not be started again after redis_kill");
    }
}

/// A running fault schedule; stopping (or dropping) it ends every fault.
pub struct FaultDriver {
    task: Option<JoinHandle<()>>,
    paused: Vec<u32>,
    paused_containers: Vec<String>,
    redis: Option<RedisProcess>,
    dynamodb_proxy: Option<Arc<DynamoFaultState>>,
    hits: Hits,
    faults: Vec<FaultSpec>,
    webhook_down: Arc<AtomicBool>,
}

/// Requests the DynamoDB fault proxy acted on, per fault of the schedule.
type Hits = Arc<Mutex<Vec<HitCount>>>;

/// The proxy's counter when a window opened, and what it acted on once closed.
#[derive(Clone, Copy, Debug, Default)]
struct HitCount {
    opened_at: Option<u64>,
    hit: Option<u64>,
}

impl HitCount {
    fn edge(&mut self, counter: u64, starting: bool) {
        match (starting, self.opened_at) {
            (true, _) => self.opened_at = Some(counter),
            (false, Some(base)) => self.hit = Some(counter.saturating_sub(base)),
            (false, None) => {}
        }
    }
}

impl FaultDriver {
    /// Checks `faults` can run on `targets`.
    ///
    /// # Errors
    /// [`FaultError`] for a pause without a process to pause.
    pub fn check(faults: &[FaultSpec], targets: &FaultTargets) -> Result<(), FaultError> {
        match faults.iter().find(|f| !targets.can_run(f.kind)) {
            Some(f) => Err(FaultError::of(f.kind)),
            None => Ok(()),
        }
    }

    /// Starts `faults`, timed from `t0` (the run's first intended start).
    /// Stripe faults are scheduled in the mock; the webhook endpoint reads
    /// `webhook_down`.
    pub fn start(
        faults: &[FaultSpec],
        targets: FaultTargets,
        t0: Instant,
        mock: &MockHandle,
        webhook_down: Arc<AtomicBool>,
    ) -> Self {
        let since_mock_start = mock.elapsed().saturating_sub(t0.elapsed());
        for f in faults {
            let kind = match f.kind {
                FaultKind::StripeOutage => MockFault::Status(503),
                FaultKind::StripeErrors => MockFault::Status(500),
                FaultKind::Stripe429Storm => MockFault::Status(429),
                FaultKind::StripeSlow(d) => MockFault::Slow(d),
                FaultKind::StripeHang => MockFault::Hang,
                _ => continue,
            };
            mock.add_outage(OutageWindow {
                start: since_mock_start + f.at,
                duration: f.duration,
                kind,
                share: f.share,
            });
        }
        let timed: Vec<(usize, FaultSpec)> = faults
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, f)| {
                f.kind.needs_processes() || f.kind.is_dynamo_proxy() || f.kind == FaultKind::WebhookOutage
            })
            .collect();
        let paused: Vec<u32> = timed.iter().filter_map(|(_, f)| targets.pid(f.kind)).collect();
        let paused_containers: Vec<String> = timed
            .iter()
            .filter(|(_, f)| targets.pid(f.kind).is_none())
            .filter_map(|(_, f)| targets.container(f.kind).map(str::to_owned))
            .collect();
        let redis =
            targets.redis.clone().filter(|_| timed.iter().any(|(_, f)| f.kind == FaultKind::RedisKill));
        let dynamodb_proxy = targets.dynamodb_proxy.clone();
        let hits: Hits = Arc::new(Mutex::new(vec![HitCount::default(); faults.len()]));
        let down = webhook_down.clone();
        let task_hits = hits.clone();
        let task = tokio::spawn(async move {
            // (time, fault index, fault, starting?) in time order.
            let mut edges: Vec<(Duration, usize, FaultSpec, bool)> =
                timed.iter().flat_map(|&(i, f)| [(f.at, i, f, true), (f.end(), i, f, false)]).collect();
            edges.sort_by_key(|e| e.0);
            let mut proxy_active: Vec<(usize, FaultSpec)> = Vec::new();
            for (at, i, f, starting) in edges {
                tokio::time::sleep_until(t0 + at).await;
                if f.kind == FaultKind::RedisKill {
                    kill_or_restart(targets.redis.as_ref(), starting);
                    continue;
                }
                if let Some(proxy) = targets.dynamodb_proxy.as_ref().filter(|_| f.kind.is_dynamo_proxy()) {
                    let mut hits = task_hits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    hits[i].edge(proxy.hits(f.kind), starting);
                    if starting {
                        proxy_active.push((i, f));
                    } else {
                        proxy_active.retain(|(j, _)| *j != i);
                    }
                    targets.set_proxy(&proxy_active);
                    continue;
                }
                match (targets.pid(f.kind), targets.container(f.kind), starting) {
                    (Some(pid), _, true) => signal(pid, libc::SIGSTOP),
                    (Some(pid), _, false) => signal(pid, libc::SIGCONT),
                    (None, Some(id), on) => {
                        if let Err(e) = crate::backends::set_container_paused(id, on).await {
                            tracing::error!(error = %e, fault = f.kind.name(), "container pause failed");
                        }
                    }
                    (None, None, on) => down.store(on, Ordering::SeqCst),
                }
            }
        });
        FaultDriver {
            task: Some(task),
            paused,
            paused_containers,
            redis,
            dynamodb_proxy,
            hits,
            faults: faults.to_vec(),
            webhook_down,
        }
    }

    /// Ends every fault now, waiting until paused containers run again.
    pub async fn finish(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        for id in std::mem::take(&mut self.paused_containers) {
            // Unpausing a running container is refused: nothing to do then.
            let _ = crate::backends::set_container_paused(&id, false).await;
        }
        self.stop();
    }

    /// DynamoDB requests each fault of the schedule delayed or throttled (by
    /// index; `None` for faults the proxy does not inject, or that never
    /// started). A window cut short counts up to now.
    pub fn injected(&self) -> Vec<Option<u64>> {
        let hits = self.hits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        hits.iter()
            .zip(&self.faults)
            .map(|(h, f)| {
                let now = self.dynamodb_proxy.as_ref().map(|p| p.hits(f.kind));
                h.hit.or_else(|| Some(now?.saturating_sub(h.opened_at?)))
            })
            .collect()
    }

    /// Ends every fault now (resumes paused processes, starts a killed Redis
    /// again, clears DynamoDB latency and throttling, brings webhooks back).
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        for pid in &self.paused {
            signal(*pid, libc::SIGCONT);
        }
        if self.redis.as_ref().is_some_and(RedisProcess::is_killed) {
            kill_or_restart(self.redis.as_ref(), false);
        }
        // Unpausing a container is an API call: done in the background here;
        // `finish` waits for it.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            for id in std::mem::take(&mut self.paused_containers) {
                rt.spawn(async move { crate::backends::set_container_paused(&id, false).await });
            }
        }
        if let Some(proxy) = &self.dynamodb_proxy {
            proxy.set_latency(Duration::ZERO);
            proxy.set_throttle(0.0);
        }
        self.webhook_down.store(false, Ordering::SeqCst);
    }
}

impl Drop for FaultDriver {
    fn drop(&mut self) {
        self.stop();
    }
}

pub use crate::run::faults::{FaultWindow, remeasure, windows};

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind, share: f64) -> FaultSpec {
        FaultSpec { kind, at: Duration::ZERO, duration: Duration::from_secs(1), share }
    }

    #[test]
    fn overlapping_dynamodb_faults_end_one_at_a_time() {
        let state = Arc::new(DynamoFaultState::default());
        let targets = FaultTargets { dynamodb_proxy: Some(state.clone()), ..FaultTargets::default() };
        let slow = |ms| fault(FaultKind::DynamoSlow(Duration::from_millis(ms)), 1.0);
        let throttle = |share| fault(FaultKind::DynamoThrottle, share);
        targets.set_proxy(&[(0, slow(100)), (1, slow(300)), (2, throttle(0.25)), (3, throttle(0.5))]);
        assert_eq!((state.latency(), state.throttle_share()), (Duration::from_millis(300), 0.5));
        // The longer latency and the larger share end first: the others hold.
        targets.set_proxy(&[(0, slow(100)), (2, throttle(0.25))]);
        assert_eq!((state.latency(), state.throttle_share()), (Duration::from_millis(100), 0.25));
        targets.set_proxy(&[]);
        assert_eq!((state.latency(), state.throttle_share()), (Duration::ZERO, 0.0));
    }
}
