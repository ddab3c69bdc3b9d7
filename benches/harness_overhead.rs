//! Harness overhead on a 100 % L1-hit workload against `redis-benchmark` on the
//! same Redis (BENCHMARKS.md): C Lambda-like callers, each with its own
//! connection and one request in flight, doing what a live run does per
//! request (chain read with checksum, truth lookup for staleness, histogram
//! record), vs `redis-benchmark -t get -c C -d <envelope size>` (no pipelining).
//! Rounds are interleaved; the figure is the median ratio. Also prints the RSS
//! of a 1M-key workload (universe, Zipf sampler, schedule, metrics).
//!
//! Also prints a bare redis-crate client's rate (the floor of any Rust harness
//! here) and CPU microseconds per request of both, to attribute the gap.
//!
//! `cargo bench --bench harness_overhead [-- --callers 8 --seconds 5 --rounds 5 --threads 1 --pin 1]`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tierbench::backends::{BackendChoice, BackendConfig, Lifetime, provision};
use tierbench::chain::{CacheChain, TtlPolicy};
use tierbench::clock::SystemClock;
use tierbench::harness::callers::{LiveChain, measured_read};
use tierbench::metrics::RunMetrics;
use tierbench::mock::{MockConfig, MockStripe};
use tierbench::origin::{Budget, Etiquette, Guarded, OriginGuards, StripeHttp, StripeHttpOptions};
use tierbench::scenario::Scenario;
use tierbench::store::{DynamoL2, RedisL1};
use tierbench::stripe::{CacheKey, ObjectKind};
use tierbench::workload::{KeyUniverse, Workload};

fn arg(name: &str, default: u64) -> u64 {
    std::env::args().skip_while(|a| a != name).nth(1).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_owned()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Pins thread (or process) `pid` (0: the calling thread) to `cpu`.
fn pin(pid: i32, cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET and
    // sched_setaffinity only read and write the set we pass.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// With two or more CPUs and `--pin 1` (the default), clients run on CPU 1
/// and Redis on CPU 0, the same for every client measured: the scheduler no
/// longer moves them onto one core by turns, the largest noise in the ratio.
/// Decided once, before pinning narrows what `available_parallelism` sees.
fn client_cpu() -> Option<usize> {
    static CPU: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *CPU.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (arg("--pin", 1) == 1 && cpus >= 2).then_some(1)
    })
}

/// requests/s of `redis-benchmark -t get -c callers -d size` (CSV `rps` column).
fn redis_benchmark_rps(port: u16, callers: u64, size: usize, n: u64) -> Option<f64> {
    let mut pinned = vec!["120".to_owned()];
    if let Some(cpu) = client_cpu() {
        pinned.extend(["taskset".to_owned(), "-c".to_owned(), cpu.to_string()]);
    }
    let out = std::process::Command::new("timeout")
        .args(pinned)
        .args(["redis-benchmark", "-p", &port.to_string(), "-c", &callers.to_string()])
        .args(["-n", &n.to_string(), "-t", "get", "-d", &size.to_string(), "--csv"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with("\"GET\""))?;
    row.split(',').nth(1)?.trim_matches('"').parse().ok()
}

async fn ours(
    chains: &[Arc<LiveChain>],
    keys: &[CacheKey],
    mock: &tierbench::mock::MockHandle,
    seconds: u64,
) -> f64 {
    let t0 = tokio::time::Instant::now();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = chains
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, chain)| {
            let (keys, mock) = (keys.to_vec(), mock.clone());
            tokio::spawn(async move {
                let mut metrics = RunMetrics::default();
                let mut n = i;
                while Instant::now() < deadline {
                    let key = &keys[n % keys.len()];
                    let (sample, _) = measured_read(&chain, &mock, t0, t0.elapsed(), key).await;
                    metrics.record(&sample);
                    n += 7;
                }
                metrics.counts.requests
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total as f64 / seconds as f64
}

/// requests/s of a bare redis-crate client (one multiplexed connection per
/// caller, one GET in flight, nothing else): the floor of what any Rust
/// harness on this runtime can do, printed to attribute the gap.
async fn bare_client(url: &str, keys: &[String], callers: u64, seconds: u64) -> anyhow::Result<f64> {
    let client = redis::Client::open(url)?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..callers as usize {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let keys = keys.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut n = i;
            let mut done = 0u64;
            while Instant::now() < deadline {
                let v: Option<Vec<u8>> =
                    redis::cmd("GET").arg(&keys[n % keys.len()]).query_async(&mut conn).await.ok()?;
                done += u64::from(v.is_some());
                n += 7;
            }
            Some(done)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await?.unwrap_or(0);
    }
    Ok(total as f64 / seconds as f64)
}

/// Sends `signal` to every backend process but Redis (DynamoDB Local's JVM):
/// a 100 % L1-hit run never calls it, and its JIT and TTL sweeper would
/// otherwise take CPU from both sides of the comparison on a 2-core machine.
fn signal_non_redis(pids: &[u32], signal: libc::c_int) {
    for pid in pids {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !comm.starts_with("redis") {
            // SAFETY: pausing or resuming a process this benchmark started.
            unsafe { libc::kill(*pid as libc::pid_t, signal) };
        }
    }
}

fn main() -> anyhow::Result<()> {
    // The runtime `tierbench run` uses (`--threads`, default 1).
    let threads = u16::try_from(arg("--threads", 1)).unwrap_or(1);
    if let Some(cpu) = client_cpu() {
        // Before the runtime starts, so its threads inherit the placement.
        pin(0, cpu);
    }
    tierbench::cli::runtime(threads)?.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let (callers, seconds, rounds) = (arg("--callers", 8), arg("--seconds", 5), arg("--rounds", 5));
    let backends = provision(BackendChoice::Local, &BackendConfig::default(), Lifetime::Scoped).await?;
    let mock = MockStripe::spawn(MockConfig::unthrottled()).await?;
    let clock = SystemClock::shared();
    let l2 = DynamoL2::connect(&backends.endpoints.dynamo_options()).await?;
    // As a policy without `etiquette` runs: no budget, retries or breaker.
    let guards = OriginGuards::new(Etiquette::off(), Budget::Unlimited, clock.clone(), 1)?;
    let mut chains = Vec::new();
    for _ in 0..callers {
        let http =
            StripeHttp::new(StripeHttpOptions { base_url: mock.url(), ..Default::default() }, clock.clone())?;
        let l1 = RedisL1::connect(&backends.endpoints.redis_options()).await?;
        let http = Guarded::new(http, guards.clone());
        chains.push(Arc::new(CacheChain::new(l1, l2.clone(), http, TtlPolicy::default(), clock.clone())));
    }
    let keys: Vec<CacheKey> = mock
        .handle()
        .customer_ids(None)
        .into_iter()
        .take(200)
        .map(|id| CacheKey::new(ObjectKind::Customer, id))
        .collect();
    for k in &keys {
        chains[0].read(k).await?; // warm: every later read is an L1 hit
    }
    let envelope = chains[0].l1().raw_get(&keys[0]).await?.map_or(1_000, |v| v.len());
    let port: u16 =
        backends.endpoints.redis_url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(6379);
    let redis_keys: Vec<String> = keys.iter().map(|k| chains[0].l1().key_of(k)).collect();
    let pids = backends.process_ids();
    signal_non_redis(&pids, libc::SIGSTOP);
    if client_cpu().is_some() {
        for pid in &pids {
            if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("redis")) {
                pin(*pid as i32, 0);
            }
        }
        println!("pinned: Redis on CPU 0, every client (tierbench, redis-benchmark, bare client) on CPU 1");
    }
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let c0 = cpu_s();
        let a = ours(&chains, &keys, mock.handle(), seconds).await;
        let cpu_ours = (cpu_s() - c0) / (a * seconds as f64) * 1e6;
        let b = redis_benchmark_rps(port, callers, envelope, (a * seconds as f64) as u64).unwrap_or(f64::NAN);
        let c0 = cpu_s();
        let bare = bare_client(&backends.endpoints.redis_url, &redis_keys, callers, seconds).await?;
        let cpu_bare = (cpu_s() - c0) / (bare * seconds as f64) * 1e6;
        println!("  CPU per request: tierbench {cpu_ours:.1} us, bare client {cpu_bare:.1} us");
        println!(
            "round {round}: tierbench {a:>7.0} req/s | redis-benchmark -c {callers} -d {envelope} {b:>7.0} req/s | ratio {:.3} | bare redis-crate client {bare:>7.0} req/s ({:.3})",
            a / b,
            bare / b
        );
        ratios.push(a / b);
    }
    ratios.sort_by(f64::total_cmp);
    let hits = chains.iter().map(|c| c.stats().snapshot().l1_hits).sum::<u64>();
    let misses = chains.iter().map(|c| c.stats().snapshot().l1_misses).sum::<u64>();
    println!(
        "median ratio {:.3} (target >= 0.8); L1 hits {hits}, misses {misses} (warm-up)",
        ratios[ratios.len() / 2]
    );
    signal_non_redis(&pids, libc::SIGCONT);
    mock.stop().await?;
    backends.stop().await?;

    // Memory of a 1M-key workload: the key universe, a Zipf sampler over it,
    // a 60 s schedule at 1,000 req/s drawn through, and the run's metrics.
    let before = rss_kb();
    let universe = KeyUniverse {
        customers: (0..1_000_000u64).map(|i| (None, format!("cus_{i:014}"))).collect(),
        invoices: Vec::new(),
    };
    let text = "duration = \"60s\"\n[workload]\npopularity = { kind = \"zipf\", s = 0.99 }\narrival = { kind = \"poisson\", rate_per_s = 1000 }\n";
    let scenario = Scenario::parse(Path::new("bench.toml"), text)?;
    let mut metrics = RunMetrics::default();
    let mut n = 0u64;
    for req in Workload::new(&scenario, universe) {
        metrics.record(&tierbench::metrics::Sample {
            intended: req.intended,
            started: req.intended,
            finished: req.intended + Duration::from_micros(300),
            outcome: tierbench::metrics::Outcome::L1,
            stale_age: None,
        });
        n += 1;
    }
    println!(
        "1M-key workload: {n} requests drawn; RSS {} MB (before {} MB; target <= 150 MB)",
        rss_kb() / 1024,
        before / 1024
    );
    Ok(())
}
