//! Helpers for the mock Stripe tests: start a mock in-process on 127.0.0.1:0 and
//! call it like a Stripe client would.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;
use tierbench::mock::{MockConfig, MockHandle, MockStripe, RunningMock};

/// The test-mode key the tests use.
pub const KEY: &str = "sk_test_tierbench";

/// A small, fast population without latency or limits.
pub fn config() -> MockConfig {
    let mut c = MockConfig::unthrottled();
    c.population.customers = 60;
    c.population.connected_accounts = 1;
    c.population.unattached_payment_methods = 10;
    c
}

/// A running mock and a client for it.
pub struct Mock {
    pub running: RunningMock,
    pub client: reqwest::Client,
}

/// What the mock answered.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `tierbench-object-version` header.
    pub fn version(&self) -> u64 {
        self.header(tierbench::stripe::OBJECT_VERSION_HEADER)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no version header on {} {}", self.status, self.text))
    }
}

pub async fn start(config: MockConfig) -> Mock {
    let running = MockStripe::spawn(config).await.expect("the mock starts");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    Mock { running, client }
}

impl Mock {
    pub fn handle(&self) -> &MockHandle {
        self.running.handle()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    /// A GET with the test key and `headers`.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.client.get(self.url(path)).bearer_auth(KEY);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        into_resp(req.send().await.expect("the mock answers")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.get_with(path, &[]).await
    }

    /// A form POST with the test key and `headers`.
    pub async fn post(&self, path: &str, form: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self
            .client
            .post(self.url(path))
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        into_resp(req.send().await.expect("the mock answers")).await
    }

    pub async fn stop(self) {
        self.running.stop().await.expect("the mock stops cleanly");
    }
}

pub async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Resp { status, headers, text }
}

/// The newest platform customer with a (non-canceled) subscription, and that subscription.
pub async fn customer_with_subscription(mock: &Mock) -> (String, Value) {
    for c in mock.handle().customer_ids(None) {
        let r = mock.get(&format!("/v1/subscriptions?customer={c}")).await;
        if let Some(s) = r.json()["data"].get(0) {
            return (c, s.clone());
        }
    }
    panic!("no customer has a subscription");
}
