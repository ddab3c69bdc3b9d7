//! `tierbench mock-stripe` as a program: its help, its refusals, and a real run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tierbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tierbench"))
}

#[test]
fn mock_cli_help_documents_every_knob() {
    let out = tierbench().args(["mock-stripe", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--host",
        "--port",
        "--seed",
        "--api-key",
        "--customers",
        "--connected-accounts",
        "--max-subscriptions",
        "--max-payment-methods",
        "--invoices-per-subscription",
        "--unattached-payment-methods",
        "--pad-bytes",
        "--livemode",
        "--latency-scale",
        "--latency",
        "--spike-probability",
        "--spike-ms",
        "--no-rate-limits",
        "--global-rate-live",
        "--global-rate-test",
        "--endpoint-rate",
        "--endpoint-rate-for",
        "--burst-ms",
        "--concurrency",
        "--endpoint-concurrency",
        "--lock-wait-ms",
        "--outage",
        "--error-rate",
        "--error-status",
        "--hang-s",
        "--mutation-rate",
        "--webhook",
        "--webhook-secret",
        "--webhook-event",
        "--webhook-delay-ms",
        "--webhook-reorder-rate",
        "--webhook-reorder-delay-ms",
        "--webhook-duplicate-rate",
        "--webhook-duplicate-delay-ms",
        "--webhook-failure-rate",
        "--webhook-max-retries",
        "--webhook-retry-base-ms",
        "--webhook-retry-max-ms",
        "--webhook-timeout-ms",
        "--webhook-down",
        "--no-v0-decoy",
        "--idempotency-retention-s",
        "--idempotency-max-keys",
    ] {
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "--help lacks {flag}"
        );
    }
    assert!(help.contains("[default: 25]") && help.contains("[default: 1000]"), "defaults are shown");
}

#[test]
fn mock_cli_bad_configuration_exits_2_naming_the_flag() {
    let cases: [(&[&str], &str); 5] = [
        (&["--webhook-duplicate-rate", "2"], "--webhook-duplicate-rate"),
        (&["--customers", "0"], "--customers"),
        (&["--latency", "customer.retrieve=500:100"], "--latency"),
        (&["--latency", "customer.fetch=1:2"], "--latency"),
        (&["--webhook", "ftp://x", "--webhook-secret", "whsec_1"], "--webhook"),
    ];
    for (args, flag) in cases {
        let out = tierbench().arg("mock-stripe").args(["--port", "0"]).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?} should name {flag}: {stderr}");
    }
}

#[test]
fn mock_cli_serves_until_sigterm() {
    let mut child = tierbench()
        .args(["mock-stripe", "--port", "0", "--customers", "20", "--latency-scale", "0", "--no-rate-limits"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = rt.block_on(async {
        let r = reqwest::Client::new()
            .get(format!("{url}/v1/customers?limit=3"))
            .bearer_auth("sk_test_x")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 3);
        status
    });
    assert_eq!(status, 200);
    // SAFETY: signalling our own child process by its id.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "exit {s:?}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the mock did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
