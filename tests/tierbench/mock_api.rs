//! The mock's API as a Stripe client sees it: objects, lists, expansions,
//! accounts, errors, writes and idempotency.

use serde_json::{Value, json};
use tierbench::stripe::{CacheKey, DEFAULT_API_VERSION, ObjectKind};

use crate::mock_support::{Mock, config, customer_with_subscription, start};

#[tokio::test]
async fn mock_objects_are_pretty_stripe_json_with_stripe_headers() {
    let mock = start(config()).await;
    let id = mock.handle().customer_ids(None)[0].clone();
    let r = mock.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("request-id").unwrap().starts_with("req_"));
    assert_eq!(r.header("stripe-version"), Some(DEFAULT_API_VERSION));
    assert_eq!(r.header("cache-control"), Some("no-cache, no-store"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("retry-after").is_none());
    let v = r.json();
    assert_eq!((v["id"].as_str(), v["object"].as_str()), (Some(id.as_str()), Some("customer")));
    // Two-space pretty printing, id and object first, then alphabetical.
    assert!(r.text.starts_with(&format!(
        "{{\n  \"id\": \"{id}\",\n  \"object\": \"customer\",\n  \"address\": {{\n    \"city\""
    )));
    for field in [
        "balance",
        "created",
        "email",
        "invoice_settings",
        "livemode",
        "metadata",
        "name",
        "tax_exempt",
        "test_clock",
    ] {
        assert!(v.get(field).is_some(), "customer lacks {field}");
    }
    assert_eq!(
        r.version(),
        mock.handle().truth(&CacheKey::new(ObjectKind::Customer, id.clone())).unwrap().version
    );
    // A request's own Stripe-Version is echoed; request ids differ.
    let r2 = mock.get_with(&format!("/v1/customers/{id}"), &[("Stripe-Version", "2025-03-31.basil")]).await;
    assert_eq!(r2.header("stripe-version"), Some("2025-03-31.basil"));
    assert_ne!(r2.header("request-id"), r.header("request-id"));
    let bad = mock.get_with(&format!("/v1/customers/{id}"), &[("Stripe-Version", "yesterday")]).await;
    assert_eq!(bad.status, 400);
    mock.stop().await;
}

#[tokio::test]
async fn mock_missing_objects_answer_the_facts_sheet_404() {
    let mock = start(config()).await;
    let r = mock.get("/v1/customers/cus_nope").await;
    assert_eq!(r.status, 404);
    let facts: Value = serde_json::from_str(r#"{"error":{"code":"resource_missing","doc_url":"https://stripe.com/docs/error-codes/resource-missing","message":"No such customer: 'cus_nope'","param":"id","type":"invalid_request_error"}}"#).unwrap();
    assert_eq!(r.json(), facts);
    assert!(r.text.starts_with("{\n  \"error\": {\n    \"code\": \"resource_missing\""));
    assert!(r.header("request-id").is_some());
    for path in [
        "/v1/invoices/in_nope",
        "/v1/subscriptions/sub_nope",
        "/v1/payment_methods/pm_nope",
        "/v1/customers/cus_nope/payment_methods",
    ] {
        let r = mock.get(path).await;
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (404, Some("resource_missing")), "{path}");
    }
    mock.stop().await;
}

#[tokio::test]
async fn mock_bad_keys_answer_401() {
    let mock = start(config()).await;
    let url = mock.url("/v1/customers");
    let none = crate::mock_support::into_resp(mock.client.get(&url).send().await.unwrap()).await;
    assert_eq!(none.status, 401);
    assert!(none.json()["error"]["message"].as_str().unwrap().starts_with("You did not provide an API key."));
    let publishable = crate::mock_support::into_resp(
        mock.client.get(&url).bearer_auth("pk_test_abcdef123456").send().await.unwrap(),
    )
    .await;
    assert_eq!(publishable.status, 401);
    assert_eq!(publishable.json()["error"]["message"], "Invalid API Key provided: pk_test_********3456");
    let basic = mock.client.get(&url).basic_auth("sk_test_abc", Some("")).send().await.unwrap();
    assert_eq!(basic.status(), 200);
    mock.stop().await;
    // With --api-key, only that key passes.
    let mut c = config();
    c.api_keys = vec!["sk_test_only".into()];
    let mock = start(c).await;
    let other = mock.get("/v1/customers").await;
    assert_eq!(other.status, 401);
    let ok = mock.client.get(mock.url("/v1/customers")).bearer_auth("sk_test_only").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    mock.stop().await;
}

#[tokio::test]
async fn mock_bad_parameters_answer_400_naming_the_parameter() {
    let mock = start(config()).await;
    let id = mock.handle().customer_ids(None)[0].clone();
    let cases = [
        (format!("/v1/customers/{id}?foo=1"), "foo", "Received unknown parameter: foo"),
        ("/v1/customers?limit=0".to_owned(), "limit", "This value must be greater than or equal to 1."),
        ("/v1/customers?limit=101".to_owned(), "limit", "This value must be less than or equal to 100."),
        (
            format!("/v1/customers?starting_after={id}&ending_before={id}"),
            "ending_before",
            "You may only specify one of these parameters: ending_before, starting_after.",
        ),
        (
            "/v1/customers?starting_after=cus_gone".to_owned(),
            "starting_after",
            "No such customer: 'cus_gone'",
        ),
        ("/v1/subscriptions?customer=cus_gone".to_owned(), "customer", "No such customer: 'cus_gone'"),
        (format!("/v1/customers/{id}?expand[]=email"), "expand", "This property cannot be expanded (email)."),
        (
            "/v1/subscriptions?expand[]=customer".to_owned(),
            "expand",
            "This property cannot be expanded (customer). You may want to try expanding 'data.customer' instead.",
        ),
    ];
    for (path, param, message) in cases {
        let r = mock.get(&path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        let e = &r.json()["error"];
        assert_eq!(
            (e["param"].as_str(), e["message"].as_str(), e["type"].as_str()),
            (Some(param), Some(message), Some("invalid_request_error")),
            "{path}"
        );
    }
    mock.stop().await;
}

#[tokio::test]
async fn mock_unknown_routes_answer_as_stripe_does() {
    let mock = start(config()).await;
    let r = mock.get("/v1/charges/ch_1").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "Unrecognized request URL (GET: /v1/charges/ch_1). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", "type": "invalid_request_error"}})
    );
    let slash = mock.get("/v1/customers/").await;
    assert!(slash.json()["error"]["message"].as_str().unwrap().contains("remove the trailing slash"));
    let delete = mock
        .client
        .delete(mock.url("/v1/customers/cus_1"))
        .bearer_auth(crate::mock_support::KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
    mock.stop().await;
}

/// Walks a list forward with `starting_after`, returning the ids of every page.
async fn walk(mock: &Mock, base: &str, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if base.contains('?') { '&' } else { '?' };
        let path = match &cursor {
            None => format!("{base}{sep}limit={limit}"),
            Some(c) => format!("{base}{sep}limit={limit}&starting_after={c}"),
        };
        let v = mock.get(&path).await.json();
        assert_eq!(v["object"], "list");
        let ids: Vec<String> =
            v["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
        cursor = ids.last().cloned();
        pages.push(ids);
        if !v["has_more"].as_bool().unwrap() {
            return pages;
        }
        assert!(pages.len() < 1_000, "pagination does not end");
    }
}

#[tokio::test]
async fn mock_lists_paginate_like_stripe() {
    let mock = start(config()).await;
    let all = mock.handle().customer_ids(None);
    assert_eq!(all.len(), 60);
    let first = mock.get("/v1/customers").await.json();
    assert_eq!(first["url"], "/v1/customers");
    assert_eq!(first["data"].as_array().unwrap().len(), 10, "default limit is 10");
    assert_eq!(first["has_more"], true);
    let pages = walk(&mock, "/v1/customers", 7).await;
    assert_eq!(pages.len(), 9); // 8 x 7 + 4
    let flat: Vec<String> = pages.concat();
    assert_eq!(flat, all, "every customer once, newest first");
    let created: Vec<i64> = {
        let v = mock.get("/v1/customers?limit=100").await.json();
        v["data"].as_array().unwrap().iter().map(|c| c["created"].as_i64().unwrap()).collect()
    };
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // ending_before walks back: the page before the third page is the second.
    let before = mock.get(&format!("/v1/customers?limit=7&ending_before={}", pages[2][0])).await.json();
    let ids: Vec<&str> =
        before["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, pages[1].iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(before["has_more"], true);
    let front = mock.get(&format!("/v1/customers?limit=7&ending_before={}", pages[1][0])).await.json();
    assert_eq!(front["has_more"], false, "nothing newer than the first page");
    // A customer's payment methods list has its own url.
    let c = &all[0];
    let pms = mock.get(&format!("/v1/customers/{c}/payment_methods")).await.json();
    assert_eq!(pms["url"], format!("/v1/customers/{c}/payment_methods"));
    assert!(pms["data"].as_array().unwrap().iter().all(|p| p["customer"] == c.as_str()));
    mock.stop().await;
}

#[tokio::test]
async fn mock_expand_inlines_customer_and_default_payment_method() {
    let mock = start(config()).await;
    let (cus, sub) = customer_with_subscription(&mock).await;
    let sub_id = sub["id"].as_str().unwrap();
    assert_eq!(sub["customer"], cus.as_str(), "not expanded by default");
    let pm = sub["default_payment_method"]
        .as_str()
        .expect("subscriptions have a default payment method")
        .to_owned();
    let x = mock
        .get(&format!("/v1/subscriptions/{sub_id}?expand[]=customer&expand[]=default_payment_method"))
        .await
        .json();
    assert_eq!(
        (x["customer"]["object"].as_str(), x["customer"]["id"].as_str()),
        (Some("customer"), Some(cus.as_str()))
    );
    assert_eq!(
        (x["default_payment_method"]["object"].as_str(), x["default_payment_method"]["id"].as_str()),
        (Some("payment_method"), Some(pm.as_str()))
    );
    // stripe-node's indexed arrays, nested paths, lists under data.
    let nested = mock
        .get(&format!("/v1/subscriptions/{sub_id}?expand[0]=default_payment_method.customer"))
        .await
        .json();
    assert_eq!(nested["default_payment_method"]["customer"]["id"], cus.as_str());
    let list = mock.get(&format!("/v1/subscriptions?customer={cus}&expand[]=data.customer")).await.json();
    assert!(list["data"].as_array().unwrap().iter().all(|s| s["customer"]["id"] == cus.as_str()));
    let c = mock
        .get(&format!("/v1/customers/{cus}?expand[]=invoice_settings.default_payment_method"))
        .await
        .json();
    assert_eq!(c["invoice_settings"]["default_payment_method"]["object"], "payment_method");
    let inv = &mock.get(&format!("/v1/invoices?customer={cus}&limit=1&expand[]=data.customer")).await.json()
        ["data"][0];
    assert_eq!(inv["customer"]["email"], c["email"]);
    let deep = mock.get(&format!("/v1/subscriptions/{sub_id}?expand[]=a.b.c.d.e")).await;
    assert_eq!(deep.status, 400);
    mock.stop().await;
}

#[tokio::test]
async fn mock_connected_accounts_scope_their_data() {
    let mock = start(config()).await;
    let acct = mock.handle().connected_accounts()[0].clone();
    let id = mock.handle().customer_ids(None)[0].clone();
    assert!(mock.handle().customer_ids(Some(&acct)).contains(&id), "the same id exists in both accounts");
    let platform = mock.get(&format!("/v1/customers/{id}")).await;
    let connected = mock.get_with(&format!("/v1/customers/{id}"), &[("Stripe-Account", &acct)]).await;
    assert_eq!((platform.status, connected.status), (200, 200));
    assert_eq!(platform.json()["id"], connected.json()["id"]);
    assert_ne!(platform.json()["email"], connected.json()["email"], "different contents per account");
    // A change under the connected account leaves the platform's object alone.
    let key = CacheKey::new(ObjectKind::Customer, id.clone()).with_account(acct.clone());
    mock.handle().mutate(&key).unwrap();
    let after = mock.get_with(&format!("/v1/customers/{id}"), &[("Stripe-Account", &acct)]).await;
    assert!(after.version() > connected.version());
    assert_eq!(mock.get(&format!("/v1/customers/{id}")).await.text, platform.text);
    let unknown = mock.get_with(&format!("/v1/customers/{id}"), &[("Stripe-Account", "acct_nobody")]).await;
    assert_eq!((unknown.status, unknown.json()["error"]["code"].as_str()), (403, Some("account_invalid")));
    mock.stop().await;
}

#[tokio::test]
async fn mock_idempotent_posts_replay_and_refuse_other_parameters() {
    let mock = start(config()).await;
    let id = mock.handle().customer_ids(None)[1].clone();
    let path = format!("/v1/customers/{id}");
    let key = [("Idempotency-Key", "order-42")];
    let first = mock.post(&path, "email=first%40example.com&metadata[plan]=gold", &key).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json()["email"], "first@example.com");
    assert_eq!(first.json()["metadata"]["plan"], "gold");
    assert_eq!(first.header("idempotency-key"), Some("order-42"));
    assert!(first.header("idempotent-replayed").is_none());
    let replay = mock.post(&path, "metadata[plan]=gold&email=first%40example.com", &key).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.text, first.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.header("original-request"), first.header("request-id"));
    assert_ne!(replay.header("request-id"), first.header("request-id"));
    assert_eq!(replay.version(), first.version());
    let counters = mock.handle().counters();
    assert_eq!((counters.mutations, counters.idempotent_replays), (1, 1), "the replay changed nothing");
    let other = mock.post(&path, "email=second%40example.com", &key).await;
    assert_eq!(other.status, 400);
    assert_eq!(other.json()["error"]["type"], "idempotency_error");
    let elsewhere = mock
        .post(
            &format!("/v1/customers/{}", mock.handle().customer_ids(None)[2]),
            "email=first%40example.com&metadata[plan]=gold",
            &key,
        )
        .await;
    assert_eq!(elsewhere.status, 400);
    // Without a key, the same POST runs again (no change: no new version, no event).
    let again = mock.post(&path, "email=first%40example.com", &[]).await;
    assert_eq!((again.status, again.version()), (200, first.version()));
    assert_eq!(mock.handle().counters().mutations, 1);
    mock.stop().await;
}

#[tokio::test]
async fn mock_customer_updates_change_fields_and_version() {
    let mock = start(config()).await;
    let id = mock.handle().customer_ids(None)[3].clone();
    let before = mock.get(&format!("/v1/customers/{id}")).await;
    let r = mock.post(&format!("/v1/customers/{id}"), "name=Ada+Byron&phone=", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "Ada Byron");
    assert_eq!(r.json()["phone"], Value::Null);
    assert!(r.version() > before.version());
    let after = mock.get(&format!("/v1/customers/{id}")).await;
    assert_eq!((after.text.as_str(), after.version()), (r.text.as_str(), r.version()));
    let unknown = mock.post(&format!("/v1/customers/{id}"), "nickname=x", &[]).await;
    assert_eq!(unknown.status, 400);
    let bad_pm = mock
        .post(&format!("/v1/customers/{id}"), "invoice_settings[default_payment_method]=pm_nope", &[])
        .await;
    assert_eq!(
        (bad_pm.status, bad_pm.json()["error"]["param"].as_str()),
        (400, Some("invoice_settings[default_payment_method]"))
    );
    mock.stop().await;
}

#[tokio::test]
async fn mock_attach_and_detach_change_the_payment_method_list_and_its_version() {
    let mock = start(config()).await;
    let cus = mock.handle().customer_ids(None)[5].clone();
    let pm = mock.handle().unattached_payment_methods(None)[0].clone();
    let list_path = format!("/v1/customers/{cus}/payment_methods");
    let before = mock.get(&list_path).await;
    let ids = |r: &crate::mock_support::Resp| -> Vec<String> {
        r.json()["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
    };
    assert!(!ids(&before).contains(&pm));
    let attached =
        mock.post(&format!("/v1/payment_methods/{pm}/attach"), &format!("customer={cus}"), &[]).await;
    assert_eq!(
        (attached.status, attached.json()["customer"].as_str()),
        (200, Some(cus.as_str())),
        "{}",
        attached.text
    );
    let after = mock.get(&list_path).await;
    assert!(ids(&after).contains(&pm));
    assert!(after.version() > before.version(), "the list's version moves with its membership");
    let missing = mock.post(&format!("/v1/payment_methods/{pm}/attach"), "", &[]).await;
    assert_eq!((missing.status, missing.json()["error"]["code"].as_str()), (400, Some("parameter_missing")));
    let detached = mock.post(&format!("/v1/payment_methods/{pm}/detach"), "", &[]).await;
    assert_eq!((detached.status, detached.json()["customer"].clone()), (200, Value::Null));
    let last = mock.get(&list_path).await;
    assert!(!ids(&last).contains(&pm));
    assert!(last.version() > after.version());
    let twice = mock.post(&format!("/v1/payment_methods/{pm}/detach"), "", &[]).await;
    assert_eq!(twice.status, 400);
    let key = CacheKey::new(ObjectKind::PaymentMethods, cus);
    assert_eq!(mock.handle().truth(&key).unwrap().version, last.version());
    mock.stop().await;
}
