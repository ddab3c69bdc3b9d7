//! Compatibility with an official Stripe SDK: stripe-node reads the mock's
//! objects, lists and errors into its own types and verifies its webhook
//! signatures (scripts/compat/stripe_node_check.cjs). Needs node and the SDK at
//! the version pinned in `.ci/versions.env` (scripts/compat/install.sh); without
//! them, or with another version cached, the test fails saying so.
//! `TIERBENCH_COMPAT_DIR` points it at another copy of the SDK instead (what
//! scripts/compat/drift.sh does with the newest releases).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tierbench::clock::{ManualClock, SharedClock};
use tierbench::mock::{Endpoint, WebhookEndpointConfig};
use tierbench::stripe::{CacheKey, ObjectKind};

use crate::mock_support::{config, customer_with_subscription, start};
use crate::mock_webhooks::Endpoint as Receiver;

/// Where the SDK is, and the version it must be (none for a chosen copy).
fn compat_dir() -> (PathBuf, Option<String>) {
    if let Some(dir) = std::env::var_os("TIERBENCH_COMPAT_DIR") {
        return (PathBuf::from(dir), None);
    }
    let cache = std::env::var_os("TIERBENCH_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tierbench")
    });
    (cache.join("compat"), Some(pinned("STRIPE_NODE_NPM")))
}

/// A version pinned in `.ci/versions.env`.
fn pinned(key: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/versions.env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
        .unwrap_or_else(|| panic!("{} pins no {key}", path.display()))
}

#[tokio::test]
async fn mock_compat_official_stripe_node_sdk_reads_objects_errors_and_verifies_webhooks() {
    let (dir, version) = compat_dir();
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is not installed: install Node.js >= 20, then run scripts/compat/install.sh"
    );
    assert!(
        dir.join("node_modules/stripe/package.json").exists(),
        "the official Stripe SDK is not in {}: run scripts/compat/install.sh",
        dir.display()
    );
    if let Some(version) = version {
        let manifest = std::fs::read_to_string(dir.join("node_modules/stripe/package.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        assert_eq!(
            manifest["version"].as_str(),
            Some(version.as_str()),
            "the Stripe SDK in {} is not the version pinned in .ci/versions.env: run scripts/compat/install.sh",
            dir.display()
        );
    }
    let (receiver, hook_url) = Receiver::start(false).await;
    let mut c = config();
    // Rate limits on, the invoice list at 1 request per (never passing) second.
    let clock = ManualClock::starting_now();
    c.clock = Arc::clone(&clock) as SharedClock;
    c.limits.enabled = true;
    c.limits.concurrency = None;
    c.limits.global_test_per_s = 10_000.0;
    c.limits.endpoint_per_s = [10_000.0; Endpoint::COUNT];
    c.limits.endpoint_per_s[Endpoint::InvoiceList.index()] = 1.0;
    c.webhooks.endpoints = vec![WebhookEndpointConfig {
        url: hook_url,
        secrets: vec!["whsec_old".into(), "whsec_new".into()],
        enabled_events: Vec::new(),
    }];
    c.webhooks.delay_p50 = Duration::from_millis(5);
    c.webhooks.delay_p99 = Duration::from_millis(5);
    c.webhooks.duplicate_rate = 0.0;
    let mock = start(c).await;
    let customers = mock.handle().customer_ids(None);
    let (subscribed, _) = customer_with_subscription(&mock).await;
    let invoice = mock.handle().invoice_ids(None)[0].clone();
    mock.handle().mutate(&CacheKey::new(ObjectKind::Customer, customers[1].clone())).unwrap();
    mock.handle().mutate(&CacheKey::new(ObjectKind::PaymentMethods, customers[2].clone())).unwrap();
    let deliveries: Vec<_> = receiver
        .wait_for_events(2)
        .await
        .into_iter()
        .map(|d| {
            let event: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            json!({"payload": d.body, "header": d.signature, "secrets": ["whsec_old", "whsec_new"],
                "event_id": d.event_id, "type": event["type"]})
        })
        .collect();
    let fixture = json!({
        "customer": customers[0], "customer_count": customers.len(), "subscribed_customer": subscribed,
        "invoice": invoice, "deliveries": deliveries,
    });
    let fixture_path = std::env::temp_dir().join(format!("tierbench-compat-{}.json", std::process::id()));
    std::fs::write(&fixture_path, fixture.to_string()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/compat/stripe_node_check.cjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .env("TIERBENCH_COMPAT_DIR", &dir)
        .env("MOCK_URL", mock.running.url())
        .env("MOCK_FIXTURE", &fixture_path)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&fixture_path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("ALL OK"),
        "stripe-node check failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.matches("verifies with").count() >= 4, "{stdout}");
    mock.stop().await;
}
