//! Ground truth: versions per cache key, in-process and over HTTP, agreeing with
//! the version header the chain's origin client reads.

use tierbench::origin::{Origin as _, OriginError, StripeHttp, StripeHttpOptions};
use tierbench::stripe::{CacheKey, ObjectKind};

use crate::mock_support::{config, customer_with_subscription, start};

#[tokio::test]
async fn mock_truth_tracks_every_kind_and_the_version_header_agrees() {
    let mock = start(config()).await;
    let (cus, _) = customer_with_subscription(&mock).await;
    let invoice = mock.get(&format!("/v1/invoices?customer={cus}&limit=1")).await.json()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (CacheKey::new(ObjectKind::Customer, cus.clone()), format!("/v1/customers/{cus}")),
        (CacheKey::new(ObjectKind::Subscriptions, cus.clone()), format!("/v1/subscriptions?customer={cus}")),
        (
            CacheKey::new(ObjectKind::PaymentMethods, cus.clone()),
            format!("/v1/customers/{cus}/payment_methods"),
        ),
        (CacheKey::new(ObjectKind::Invoice, invoice.clone()), format!("/v1/invoices/{invoice}")),
    ];
    for (key, path) in cases {
        let before = mock.handle().truth(&key).unwrap();
        let served = mock.get(&path).await;
        assert_eq!(served.version(), before.version, "{path}");
        let events = mock.handle().mutate(&key).unwrap();
        assert!(!events.is_empty());
        let after = mock.handle().truth(&key).unwrap();
        assert!(after.version > before.version, "{path}");
        assert!(after.changed_at >= before.changed_at);
        let fresh = mock.get(&path).await;
        assert_eq!(fresh.version(), after.version, "{path}");
        assert_ne!(fresh.text, served.text, "{path} changed");
        assert_eq!(mock.handle().superseded_at(&key, before.version), Some(after.changed_at));
        assert_eq!(mock.handle().superseded_at(&key, after.version), None);
        // The event names this very key.
        let event: serde_json::Value = serde_json::from_slice(&events[0].body).unwrap();
        assert!(tierbench::stripe::events::keys_for_event(&event).contains(&key), "{path}: {event}");
    }
    assert!(mock.handle().truth(&CacheKey::new(ObjectKind::Customer, "cus_nope")).is_none());
    let acct = mock.handle().connected_accounts()[0].clone();
    let scoped = CacheKey::new(ObjectKind::Customer, cus.clone()).with_account(acct);
    assert!(
        mock.handle().truth(&scoped).unwrap().version
            < mock.handle().truth(&CacheKey::new(ObjectKind::Customer, cus)).unwrap().version
    );
    mock.stop().await;
}

#[tokio::test]
async fn mock_expanded_keys_take_the_newest_expanded_version() {
    let mock = start(config()).await;
    let invoice = mock.handle().invoice_ids(None)[0].clone();
    let inv = mock.get(&format!("/v1/invoices/{invoice}")).await.json();
    let cus = inv["customer"].as_str().unwrap().to_owned();
    let plain = CacheKey::new(ObjectKind::Invoice, invoice.clone());
    let expanded = plain.clone().with_expand(["customer"]);
    let (p0, e0) = (mock.handle().truth(&plain).unwrap(), mock.handle().truth(&expanded).unwrap());
    mock.handle().mutate(&CacheKey::new(ObjectKind::Customer, cus)).unwrap();
    let (p1, e1) = (mock.handle().truth(&plain).unwrap(), mock.handle().truth(&expanded).unwrap());
    assert_eq!(p0, p1, "the invoice itself did not change");
    assert!(e1.version > e0.version, "its expanded customer did");
    let served = mock.get(&format!("/v1/invoices/{invoice}?expand[]=customer")).await;
    assert_eq!(served.version(), e1.version);
    mock.stop().await;
}

#[tokio::test]
async fn mock_truth_counters_and_mutations_over_http() {
    let mock = start(config()).await;
    let cus = mock.handle().customer_ids(None)[0].clone();
    let acct = mock.handle().connected_accounts()[0].clone();
    let get = |path: String| {
        let client = mock.client.clone();
        let url = mock.url(&path);
        async move { crate::mock_support::into_resp(client.get(url).send().await.unwrap()).await }
    };
    let t = get(format!("/_tierbench/truth/customer/{cus}")).await;
    assert_eq!(t.status, 200, "no API key needed: {}", t.text);
    let key = CacheKey::new(ObjectKind::Customer, cus.clone());
    assert_eq!(t.json()["version"], mock.handle().truth(&key).unwrap().version);
    let scoped = get(format!("/_tierbench/truth/customer/{cus}?account={acct}")).await;
    assert_eq!(scoped.json()["account"], acct.as_str());
    assert_eq!(get("/_tierbench/truth/customer/cus_nope".into()).await.status, 404);
    assert_eq!(get("/_tierbench/truth/charge/ch_1".into()).await.status, 400);
    let body = format!(r#"{{"kind":"customer","id":"{cus}"}}"#);
    let m = mock.client.post(mock.url("/_tierbench/mutations")).body(body).send().await.unwrap();
    let events: serde_json::Value = m.json().await.unwrap();
    assert_eq!(events["events"][0]["type"], "customer.updated");
    let after = get(format!("/_tierbench/truth/customer/{cus}")).await.json();
    assert!(after["version"].as_u64() > t.json()["version"].as_u64());
    assert!(after["changed_at"].as_str().unwrap().ends_with('Z'));
    let random = mock.client.post(mock.url("/_tierbench/mutations")).send().await.unwrap();
    assert_eq!(random.status(), 200);
    let counters = get("/_tierbench/counters".into()).await.json();
    assert_eq!(counters["mutations"], 2);
    assert_eq!(counters["requests"], 0, "the reserved prefix is not API traffic");
    mock.stop().await;
}

#[tokio::test]
async fn mock_the_chains_origin_client_reads_the_mocks_versions_and_errors() {
    let mock = start(config()).await;
    let origin = StripeHttp::new(
        StripeHttpOptions { base_url: mock.running.url(), ..Default::default() },
        tierbench::clock::SystemClock::shared(),
    )
    .unwrap();
    let (cus, _) = customer_with_subscription(&mock).await;
    let acct = mock.handle().connected_accounts()[0].clone();
    for key in [
        CacheKey::new(ObjectKind::Customer, cus.clone()),
        CacheKey::new(ObjectKind::Subscriptions, cus.clone()).with_account(acct.clone()),
        CacheKey::new(ObjectKind::PaymentMethods, cus.clone()).with_expand(["data.customer"]),
    ] {
        let got = origin.fetch(&key).await.unwrap();
        assert_eq!(got.version, mock.handle().truth(&key).unwrap().version, "{key:?}");
        assert_eq!(got.api_version, tierbench::stripe::DEFAULT_API_VERSION);
    }
    let missing = origin.fetch(&CacheKey::new(ObjectKind::Invoice, "in_nope")).await;
    assert!(matches!(missing, Err(OriginError::NotFound(m)) if m.contains("No such invoice")));
    mock.stop().await;
}
