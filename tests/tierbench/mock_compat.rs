//! Compatibility with an official Stripe SDK: stripe-node reads the mock's
//! objects, lists and errors into its own types and verifies its webhook
//! signatures (scripts/compat/stripe_node_check.cjs). Needs node and the SDK
//! (scripts/compat/install.sh); without them the test fails saying so.

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

fn compat_dir() -> PathBuf {
    let cache = std::env::var_os("TIERBENCH_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tierbench")
    });
    cache.join("compat")
}

#[tokio::test]
async fn mock_compat_official_stripe_node_sdk_reads_objects_errors_and_verifies_webhooks() {
    let dir = compat_dir();
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
