//! Latency of the chain's three paths on loopback against real Redis and
//! DynamoDB Local (local processes), one caller, each against its reference
//! measured in the same run: L1 hit vs `redis-benchmark -c 1` GET, L2 hit +
//! promote vs a raw SDK GetItem, fill vs an origin GET plus raw GetItem.
//!
//! `cargo bench --bench chain_paths [-- --samples N]`

use std::time::Instant;

use axum::Router;
use axum::routing::get;
use hdrhistogram::Histogram;
use tierbench::backends::{BackendChoice, BackendConfig, Lifetime, provision};
use tierbench::chain::{CacheChain, TtlPolicy};
use tierbench::clock::SystemClock;
use tierbench::origin::{Origin, StripeHttp, StripeHttpOptions};
use tierbench::store::{DynamoL2, L1Store, RedisL1};
use tierbench::stripe::{CacheKey, OBJECT_VERSION_HEADER, ObjectKind};

const BODY_PAD: usize = 600;

fn customer_body() -> String {
    format!(
        r#"{{"id":"cus_bench","object":"customer","email":"a@example.com","metadata":{{"pad":"{}"}}}}"#,
        "x".repeat(BODY_PAD)
    )
}

fn record(h: &mut Histogram<u64>, since: Instant) {
    h.record(since.elapsed().as_micros().max(1) as u64).expect("in range");
}

fn line(name: &str, h: &Histogram<u64>) -> String {
    format!(
        "{name:<28} p50 {:>7} us  p99 {:>7} us  (n={})",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.len()
    )
}

/// p50 of `redis-benchmark -c 1 GET` with a value of `size` bytes, in µs.
fn redis_benchmark_p50(port: u16, size: usize, n: usize) -> Option<f64> {
    // `timeout`: redis-benchmark spins forever when its server is gone.
    let out = std::process::Command::new("timeout")
        .args([
            "120",
            "redis-benchmark",
            "-p",
            &port.to_string(),
            "-c",
            "1",
            "-n",
            &n.to_string(),
            "-t",
            "get",
            "-d",
            &size.to_string(),
        ])
        .args(["--csv"])
        .output()
        .ok()?;
    // CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with("\"GET\""))?;
    let p50: f64 = row.split(',').nth(4)?.trim_matches('"').parse().ok()?;
    Some(p50 * 1_000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let samples: usize = std::env::args()
        .skip_while(|a| a != "--samples")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let backends = provision(BackendChoice::Local, &BackendConfig::default(), Lifetime::Scoped).await?;
    let body = customer_body();
    let served = body.clone();
    let app = Router::new().fallback(get(move || {
        let b = served.clone();
        async move { ([(OBJECT_VERSION_HEADER, "1"), ("content-type", "application/json")], b) }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let clock = SystemClock::shared();
    let l1 = RedisL1::connect(&backends.endpoints.redis_options()).await?;
    let l2 = DynamoL2::connect(&backends.endpoints.dynamo_options()).await?;
    let origin =
        StripeHttp::new(StripeHttpOptions { base_url: origin_url, ..Default::default() }, clock.clone())?;
    let chain = CacheChain::new(l1, l2, origin.clone(), TtlPolicy::default(), clock);
    let new_hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut l1_hit, mut l2_hit, mut fill, mut raw_get, mut raw_origin) =
        (new_hist(), new_hist(), new_hist(), new_hist(), new_hist());

    // Each path in its own loop, beside its reference, so one path's work (a
    // DynamoDB call, the JVM's GC after it) does not land in another's figures.
    let keys: Vec<CacheKey> =
        (0..samples).map(|i| CacheKey::new(ObjectKind::Customer, format!("cus_{i}"))).collect();
    for key in &keys {
        let t = Instant::now();
        chain.read(key).await?;
        record(&mut fill, t);
        let t = Instant::now();
        origin.fetch(key).await?;
        record(&mut raw_origin, t);
    }
    for key in &keys {
        chain.l1().delete(key).await?;
        let t = Instant::now();
        chain.read(key).await?;
        record(&mut l2_hit, t);
        let t = Instant::now();
        chain.l2().raw_get(key).await?;
        record(&mut raw_get, t);
    }
    let hot = &keys[0];
    for _ in 0..samples / 10 {
        chain.read(hot).await?; // warm-up
    }
    for _ in 0..samples {
        let t = Instant::now();
        chain.read(hot).await?;
        record(&mut l1_hit, t);
    }
    let port: u16 =
        backends.endpoints.redis_url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(6379);
    let envelope = chain.l1().raw_get(hot).await?.map_or(0, |v| v.len());
    let reference = redis_benchmark_p50(port, envelope, samples * 5);
    backends.stop().await?;

    let p50 = |h: &Histogram<u64>| h.value_at_quantile(0.5) as f64;
    println!("chain paths, one caller, loopback, {samples} samples each, value {envelope} B");
    println!("{}", line("L1 hit", &l1_hit));
    println!("{}", line("L2 hit + promote", &l2_hit));
    println!("{}", line("fill (origin + both tiers)", &fill));
    println!("{}", line("ref: raw GetItem (SDK)", &raw_get));
    println!("{}", line("ref: raw origin GET", &raw_origin));
    match reference {
        Some(r) => println!(
            "{:<28} p50 {r:>7.0} us  -> L1 hit p50 / redis-benchmark p50 = {:.2}",
            "ref: redis-benchmark -c 1",
            p50(&l1_hit) / r
        ),
        None => println!("ref: redis-benchmark not found or unparsable: no L1 ratio"),
    }
    println!(
        "L2 hit + promote p50 / (raw GetItem + L1 hit) p50 = {:.2}",
        p50(&l2_hit) / (p50(&raw_get) + p50(&l1_hit))
    );
    println!(
        "fill p50 / (origin GET + raw GetItem) p50 = {:.2}   (fill writes both tiers concurrently)",
        p50(&fill) / (p50(&raw_origin) + p50(&raw_get))
    );
    Ok(())
}
