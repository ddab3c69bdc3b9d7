//! `tierbench merge`: shards' result.json files into one result, and the
//! refusal of what is not one run's shards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tierbench::backends::BackendKind;
use tierbench::chain::meter::{self, Op};
use tierbench::chain::{ChainCounters, MeterCounts};
use tierbench::cost::Pricing;
use tierbench::harness::usage::UsageTally;
use tierbench::harness::{PolicyRun, WebhookCounts};
use tierbench::metrics::{Outcome, RunMetrics, Sample};
use tierbench::mock::CounterSnapshot;
use tierbench::report::{PolicyResult, RunResult, SCHEMA_VERSION, merge};
use tierbench::scenario::Scenario;

use crate::harness::assert_matches_committed_schema;

const SCENARIO: &str = "scenarios/customer-portal.toml";

fn sandbox(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tierbench-merge-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn scenario_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO)
}

fn merge_cmd(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierbench")).arg("merge").args(args).output().unwrap()
}

fn show(out: &Output) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Shard `k` of 2: every other request of 3 s of traffic, as `run` writes it.
fn shard(k: u64, source: &Path) -> RunResult {
    let scenario = Scenario::load(&scenario_path()).unwrap();
    let (mut metrics, mut tally) = (RunMetrics::default(), UsageTally::default());
    let mut meter = MeterCounts::default();
    for i in (k..300).step_by(2) {
        let intended = Duration::from_millis(i * 10);
        let outcome =
            [Outcome::L1, Outcome::L1, Outcome::L2, Outcome::Origin, Outcome::Error][i as usize % 5];
        let finished = intended + Duration::from_millis(1 + i % 19);
        metrics.record(&Sample { intended, started: intended, finished, outcome, stale_age: None });
        let ops: &[Op] = match outcome {
            Outcome::L1 => &[Op::L1Hit],
            Outcome::L2 => &[Op::L1Miss, Op::L2Hit, Op::L1Write],
            Outcome::Origin => &[Op::L1Miss, Op::L2Miss, Op::StripeOk, Op::L2PutMoved, Op::L1Write],
            _ => &[Op::L1Miss, Op::L2Miss, Op::StripeFailed],
        };
        for op in ops {
            meter.add_n(*op, meter::op_bytes(*op, 1_200), 1);
        }
        tally.record_request(finished - intended);
    }
    tally.add_meter(&meter);
    let calls = metrics.counts.origin + metrics.counts.errors;
    let mut usage = tally.into_usage(3.0 + k as f64 / 10.0, metrics.counts.requests, calls, 8.0, true);
    usage.deployment = scenario.cost.deployment.clone();
    let run = PolicyRun {
        name: "seed".into(),
        ttl: scenario.scaled_policy(0),
        chain: ChainCounters { l1_fills: 20 + k, l2_fills: 20 + k, ..ChainCounters::default() },
        stripe: CounterSnapshot { requests: calls, status_2xx: calls, ..CounterSnapshot::default() },
        webhooks: WebhookCounts { applied: 2 + k, ..WebhookCounts::default() },
        rate_limited: 0,
        cold_starts: k,
        wall: Duration::from_millis(3_000 + k * 100),
        metrics,
        usage,
        interrupted: false,
        etiquette: Default::default(),
        faults: Vec::new(),
    };
    RunResult {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        mode: "live".into(),
        scenario: scenario.name.clone(),
        source: source.display().to_string(),
        run_id: format!("20260101T00000{k}Z-000{k}"),
        started_at: format!("2026-01-01T00:00:0{k}Z"),
        finished_at: format!("2026-01-01T00:00:1{k}Z"),
        complete: true,
        seed: scenario.seed,
        time_scale: scenario.time_scale,
        duration_s: 3.0,
        backend: BackendKind::Local,
        endpoints: format!("machine {k}"),
        policies: vec![PolicyResult::from_run(&run, &Pricing::defaults(), &scenario.cost.options)],
    }
}

fn write(dir: &Path, name: &str, result: &RunResult) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(result).unwrap()).unwrap();
    path
}

#[test]
fn merge_writes_the_merged_result_of_two_shards() {
    let dir = sandbox("ok");
    let (a, b) = (shard(0, &scenario_path()), shard(1, &scenario_path()));
    let (pa, pb) = (write(&dir, "a.json", &a), write(&dir, "b.json", &b));
    // A run directory works as well as its result.json.
    std::fs::create_dir_all(dir.join("run-b")).unwrap();
    std::fs::copy(&pb, dir.join("run-b/result.json")).unwrap();
    let out_dir = dir.join("merged");
    let out = merge_cmd(&[&pa, &dir.join("run-b"), Path::new("--out"), &out_dir]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", show(&out));
    let json = std::fs::read_to_string(out_dir.join("result.json")).unwrap();
    assert_matches_committed_schema(&json);
    let merged: RunResult = serde_json::from_str(&json).unwrap();
    assert!(merged.run_id.starts_with("merged-"), "{}", merged.run_id);
    let scenario = Scenario::load(&scenario_path()).unwrap();
    let expected = merge(&[a, b], &Pricing::defaults(), &scenario.cost.options).unwrap();
    assert_eq!(RunResult { run_id: expected.run_id.clone(), ..merged }, expected);
    assert_eq!(expected.policies[0].summary.requests, 300);
    assert!(out_dir.join("summary.md").exists() && out_dir.join("timeseries.csv").exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("results: {}", out_dir.display())));

    // Merged elsewhere, without the scenario: the built-in prices, said so.
    let gone = dir.join("gone.toml");
    let (pa, pb) = (write(&dir, "a2.json", &shard(0, &gone)), write(&dir, "b2.json", &shard(1, &gone)));
    let out = merge_cmd(&[&pa, &pb, Path::new("--out"), &dir.join("merged2")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("built-in prices"), "{}", show(&out));
}

#[test]
fn merge_refuses_bad_input_naming_the_file() {
    let dir = sandbox("bad");
    let a = write(&dir, "a.json", &shard(0, &scenario_path()));
    let other_seed = RunResult { seed: 99, ..shard(1, &scenario_path()) };
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("not-json.json", b"{ result".to_vec(), "not JSON"),
        ("other-seed.json", serde_json::to_vec(&other_seed).unwrap(), "seed is 99"),
        ("newer.json", br#"{"schema_version": 999}"#.to_vec(), "schema_version is 999"),
    ];
    for (name, bytes, why) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = merge_cmd(&[&a, &path, Path::new("--out"), &dir.join("out")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(stderr.contains(&path.display().to_string()) && stderr.contains(why), "{}", show(&out));
    }
    let out = merge_cmd(&[&a, &dir.join("missing.json")]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"), "{}", show(&out));
    assert!(!dir.join("out").exists(), "nothing is written for bad input");
}
