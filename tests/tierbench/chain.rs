//! The cache chain against real Redis and DynamoDB Local, each behaviour run on
//! process-provisioned (`chain::local::*`) and container-provisioned
//! (`chain::containers::*`) backends.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ProjectionType,
    ScalarAttributeType, TimeToLiveStatus,
};
use tierbench::backends::BackendChoice;
use tierbench::chain::{CacheEntry, Layer, TtlPolicy, WebhookHandler, checksum};
use tierbench::clock::Clock;
use tierbench::store::{DynamoOptions, L1Store, L2Store, Lookup, SameVersion, WriteOutcome};
use tierbench::stripe::webhook::signature_header;
use tierbench::stripe::{CacheKey, ObjectKind};

use crate::util::{customer, setup};

macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod local {
            use tierbench::backends::BackendChoice;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(BackendChoice::Local).await
                }
            )*
        }
        mod containers {
            use tierbench::backends::BackendChoice;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(BackendChoice::Containers).await
                }
            )*
        }
    };
}

on_each_backend!(
    fill_writes_both_tiers_in_the_seed_layout,
    l2_hit_promotes_for_the_remaining_l2_lifetime_only,
    expired_l2_item_is_a_miss_while_dynamodb_still_holds_it,
    corrupt_l1_entry_is_a_counted_miss_and_replaced,
    corrupt_l2_entry_is_a_counted_miss_and_replaced,
    older_version_never_overwrites_newer,
    invalidation_hits_the_full_composite_key_only,
    gsi_bulk_invalidation_pages_through_every_stale_entry,
    accounts_never_share_an_entry,
    table_is_created_like_the_seed_template,
    a_webhook_invalidates_every_variant_of_its_object,
    metered_dynamodb_units_are_what_dynamodb_local_says_it_consumed,
);

fn cus(id: &str) -> CacheKey {
    CacheKey::new(ObjectKind::Customer, id)
}

async fn fill_writes_both_tiers_in_the_seed_layout(choice: BackendChoice) {
    let s = setup(choice, TtlPolicy::default(), DynamoOptions::default()).await;
    let body = customer("cus_1", "a@example.com");
    s.origin.stripe.set("", "/v1/customers/cus_1", 4, &body);
    let key = cus("cus_1");

    let first = s.chain.read(&key).await.unwrap();
    assert_eq!(first.layer, Layer::Origin);
    assert_eq!((first.entry.version, first.entry.data.as_str()), (4, body.as_str()));
    let second = s.chain.read(&key).await.unwrap();
    assert_eq!(second.layer, Layer::L1);
    assert_eq!(second.entry.data, body);
    assert_eq!(s.origin.stripe.calls(), 1, "the second read must not reach Stripe");

    let now = s.clock.now();
    let item = s.chain.l2().raw_get(&key).await.unwrap().expect("L2 item written");
    let text = |k: &str| item[k].as_s().unwrap().clone();
    let num = |k: &str| item[k].as_n().unwrap().parse::<u64>().unwrap();
    assert_eq!(text("pk"), "CUSTOMER#cus_1");
    assert_eq!(text("sk"), "METADATA#latest");
    assert_eq!(text("gsi1pk"), "CACHE#customer");
    assert_eq!(text("gsi1sk"), now.to_iso8601());
    assert_eq!(text("lastUpdated"), now.to_iso8601());
    assert_eq!(text("data"), body);
    assert_eq!(text("checksum"), checksum(&body));
    assert_eq!(num("version"), 4);
    assert_eq!(
        num("ttl"),
        now.plus(Duration::from_secs(86_400)).as_secs_ceil(),
        "seed: customers live 24 h in L2"
    );
    let l1_ttl = s.chain.l1().remaining_ttl(&key).await.unwrap().expect("L1 entry has a TTL");
    assert!(l1_ttl > Duration::from_secs(3_590) && l1_ttl <= Duration::from_secs(3_600), "L1 TTL {l1_ttl:?}");
    let c = s.chain.stats().snapshot();
    assert_eq!((c.l1_fills, c.l2_fills, c.origin_fetches, c.l1_hits), (1, 1, 1, 1));
    s.finish().await;
}

async fn l2_hit_promotes_for_the_remaining_l2_lifetime_only(choice: BackendChoice) {
    let policy = TtlPolicy::uniform(Duration::from_secs(3_600), Duration::from_secs(600));
    let s = setup(choice, policy, DynamoOptions::default()).await;
    s.origin.stripe.set("", "/v1/customers/cus_2", 1, &customer("cus_2", "b@example.com"));
    let key = cus("cus_2");
    s.chain.read(&key).await.unwrap();
    assert!(s.chain.l1().delete(&key).await.unwrap());
    s.clock.advance(Duration::from_secs(480));

    let served = s.chain.read(&key).await.unwrap();
    assert_eq!(served.layer, Layer::L2);
    // 120 s of L2 life were left: the seed's sample would have set a full hour.
    let ttl = s.chain.l1().remaining_ttl(&key).await.unwrap().expect("promoted");
    assert!(ttl > Duration::from_secs(110) && ttl <= Duration::from_secs(120), "promoted TTL {ttl:?}");
    let l1 = s.chain.read(&key).await.unwrap();
    assert_eq!(l1.layer, Layer::L1);
    assert_eq!(l1.entry.expires_at, served.entry.expires_at, "L1 copy expires with the L2 entry");
    assert_eq!(s.chain.stats().snapshot().promotions, 1);
    assert_eq!(s.origin.stripe.calls(), 1);
    s.finish().await;
}

async fn expired_l2_item_is_a_miss_while_dynamodb_still_holds_it(choice: BackendChoice) {
    let policy = TtlPolicy::uniform(Duration::from_secs(30), Duration::from_secs(60));
    let s = setup(choice, policy, DynamoOptions::default()).await;
    s.origin.stripe.set("", "/v1/customers/cus_3", 1, &customer("cus_3", "c@example.com"));
    let key = cus("cus_3");
    s.chain.read(&key).await.unwrap();
    s.chain.l1().delete(&key).await.unwrap();
    s.clock.advance(Duration::from_secs(61));
    assert!(s.chain.l2().raw_get(&key).await.unwrap().is_some(), "DynamoDB has not deleted the item yet");

    s.origin.stripe.set("", "/v1/customers/cus_3", 2, &customer("cus_3", "c2@example.com"));
    let served = s.chain.read(&key).await.unwrap();
    assert_eq!(served.layer, Layer::Origin, "an item with ttl <= now must not be served");
    assert_eq!(served.entry.version, 2);
    let c = s.chain.stats().snapshot();
    assert_eq!((c.l2_expired, c.l2_fills), (1, 2));
    s.finish().await;
}

async fn corrupt_l1_entry_is_a_counted_miss_and_replaced(choice: BackendChoice) {
    let s = setup(choice, TtlPolicy::default(), DynamoOptions::default()).await;
    let body = customer("cus_4", "d@example.com");
    s.origin.stripe.set("", "/v1/customers/cus_4", 1, &body);
    let key = cus("cus_4");
    s.chain.read(&key).await.unwrap();
    let raw = s.chain.l1().raw_get(&key).await.unwrap().unwrap();
    s.chain.l1().raw_set(&key, &raw.replace("d@example.com", "evil@example.com")).await.unwrap();

    let served = s.chain.read(&key).await.unwrap();
    assert_eq!(served.layer, Layer::L2, "a checksum mismatch in L1 falls through to L2");
    assert_eq!(served.entry.data, body);
    assert_eq!(s.chain.stats().snapshot().l1_checksum_failures, 1);
    let fixed = s.chain.l1().raw_get(&key).await.unwrap().unwrap();
    assert!(CacheEntry::from_json(&fixed).unwrap().checksum_ok(), "the bad L1 entry was replaced");

    s.chain.l1().raw_set(&key, "not an envelope").await.unwrap();
    assert_eq!(s.chain.read(&key).await.unwrap().layer, Layer::L2);
    assert_eq!(s.chain.stats().snapshot().l1_checksum_failures, 2);
    assert_eq!(s.origin.stripe.calls(), 1);
    s.finish().await;
}

async fn corrupt_l2_entry_is_a_counted_miss_and_replaced(choice: BackendChoice) {
    let s = setup(choice, TtlPolicy::default(), DynamoOptions::default()).await;
    let body = customer("cus_5", "e@example.com");
    s.origin.stripe.set("", "/v1/customers/cus_5", 1, &body);
    let key = cus("cus_5");
    s.chain.read(&key).await.unwrap();
    s.chain.l1().delete(&key).await.unwrap();
    let tampered = body.replace("e@example.com", "evil@example.com");
    s.chain.l2().raw_set_attribute(&key, "data", AttributeValue::S(tampered)).await.unwrap();

    let served = s.chain.read(&key).await.unwrap();
    assert_eq!(served.layer, Layer::Origin, "a checksum mismatch in L2 is a miss");
    assert_eq!(served.entry.data, body);
    let c = s.chain.stats().snapshot();
    assert_eq!((c.l2_checksum_failures, c.l2_fills, c.l2_conflicts), (1, 2, 0));
    let item = s.chain.l2().raw_get(&key).await.unwrap().unwrap();
    assert_eq!(item["data"].as_s().unwrap(), &body, "the same version replaced the corrupt item");
    s.finish().await;
}

async fn older_version_never_overwrites_newer(choice: BackendChoice) {
    let policy = TtlPolicy::uniform(Duration::from_secs(30), Duration::from_secs(60));
    let s = setup(choice, policy, DynamoOptions::default()).await;
    let key = cus("cus_6");
    let newer = customer("cus_6", "new@example.com");
    s.origin.stripe.set("", "/v1/customers/cus_6", 5, &newer);
    s.chain.read(&key).await.unwrap();

    // A lagging origin (or a fill that raced an update) answers an older version.
    s.origin.stripe.set("", "/v1/customers/cus_6", 3, &customer("cus_6", "old@example.com"));
    s.chain.l1().delete(&key).await.unwrap();
    s.clock.advance(Duration::from_secs(61));
    let served = s.chain.read(&key).await.unwrap();
    assert_eq!((served.layer, served.entry.version), (Layer::Origin, 3));
    assert_eq!(s.chain.stats().snapshot().l2_conflicts, 1);
    let item = s.chain.l2().raw_get(&key).await.unwrap().unwrap();
    assert_eq!(item["version"].as_n().unwrap(), "5", "L2 kept the newer version");
    assert_eq!(item["data"].as_s().unwrap(), &newer);

    // The same rule in L1, through its server-side script.
    let entry = |version: u64, data: &str| CacheEntry {
        version,
        fetched_at: s.clock.now(),
        expires_at: s.clock.now().plus(Duration::from_secs(30)),
        checksum: checksum(data),
        api_version: "2026-07-29.dahlia".into(),
        account: None,
        data: data.to_owned(),
    };
    let ttl = Duration::from_secs(30);
    assert_eq!(s.chain.l1().put(&key, &entry(9, &newer), ttl).await.unwrap(), WriteOutcome::Written);
    assert_eq!(
        s.chain.l1().put(&key, &entry(8, "{}"), ttl).await.unwrap(),
        WriteOutcome::Conflict { stored_version: 9 }
    );
    assert_eq!(
        s.chain
            .l2()
            .put(&key, &entry(4, "{}"), s.clock.now(), SameVersion::Replace, Duration::ZERO)
            .await
            .unwrap(),
        WriteOutcome::Conflict { stored_version: 5 }
    );
    s.finish().await;
}

async fn invalidation_hits_the_full_composite_key_only(choice: BackendChoice) {
    let s = setup(choice, TtlPolicy::default(), DynamoOptions::default()).await;
    s.origin.stripe.set("", "/v1/customers/cus_7", 1, &customer("cus_7", "f@example.com"));
    s.origin.stripe.set("", "/v1/subscriptions?customer=cus_7", 1, r#"{"object":"list","data":[]}"#);
    let metadata = cus("cus_7");
    let subs = CacheKey::new(ObjectKind::Subscriptions, "cus_7");
    s.chain.read(&metadata).await.unwrap();
    s.chain.read(&subs).await.unwrap();
    assert_eq!(metadata.pk(), subs.pk(), "both items share a partition");

    let done = s.chain.invalidate(&metadata).await.unwrap();
    assert!(done.l1 && done.l2, "{done:?}");
    assert!(s.chain.l1().raw_get(&metadata).await.unwrap().is_none());
    let num = |item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
               name: &str| { item[name].as_n().unwrap().parse::<u64>().unwrap() };
    let item = s.chain.l2().raw_get(&metadata).await.unwrap().expect("the item stays as a tombstone");
    assert!(num(&item, "expiresAt") <= s.clock.now().as_millis(), "expired now, not at its old TTL");
    assert_eq!(num(&item, "invalidatedAt"), s.clock.now().as_millis(), "a tombstone for late fills");
    assert_eq!(s.chain.read(&subs).await.unwrap().layer, Layer::L1, "the sibling item is untouched");
    let before = s.origin.stripe.calls();
    assert_eq!(s.chain.read(&metadata).await.unwrap().layer, Layer::Origin);
    assert_eq!(s.origin.stripe.calls(), before + 1);
    let missing = cus("cus_never_cached");
    assert!(!s.chain.invalidate(&missing).await.unwrap().l2, "nothing to expire");
    // A tombstone, so a fill already in flight cannot create the item with
    // older data; it carries the GSI keys (DynamoDB Local's TTL sweeper needs
    // them) and no data, and reads as absent.
    let tomb = s.chain.l2().raw_get(&missing).await.unwrap().expect("a tombstone item");
    assert!(!tomb.contains_key("data") && tomb.contains_key("gsi1pk") && tomb.contains_key("gsi1sk"));
    assert_eq!(s.chain.l2().get(&missing).await.unwrap(), tierbench::store::Lookup::Absent);
    s.finish().await;
}

async fn gsi_bulk_invalidation_pages_through_every_stale_entry(choice: BackendChoice) {
    let dynamo = DynamoOptions { query_page_size: Some(3), ..DynamoOptions::default() };
    let s = setup(choice, TtlPolicy::default(), dynamo).await;
    for i in 0..10 {
        let id = format!("cus_old{i}");
        s.origin.stripe.set("", &format!("/v1/customers/{id}"), 1, &customer(&id, "old@example.com"));
        s.chain.read(&cus(&id)).await.unwrap();
    }
    s.origin.stripe.set("", "/v1/invoices/in_1", 1, r#"{"id":"in_1","object":"invoice"}"#);
    let invoice = CacheKey::new(ObjectKind::Invoice, "in_1");
    s.chain.read(&invoice).await.unwrap();
    s.clock.advance(Duration::from_secs(5));
    let cutoff = s.clock.now();
    s.clock.advance(Duration::from_secs(5));
    for i in 0..2 {
        let id = format!("cus_new{i}");
        s.origin.stripe.set("", &format!("/v1/customers/{id}"), 1, &customer(&id, "new@example.com"));
        s.chain.read(&cus(&id)).await.unwrap();
    }

    let n = s.chain.invalidate_kind_before(ObjectKind::Customer, cutoff).await.unwrap();
    assert_eq!(n, 10, "all ten older customers, across four pages of three");
    for i in 0..10 {
        assert_eq!(s.chain.read(&cus(&format!("cus_old{i}"))).await.unwrap().layer, Layer::Origin);
    }
    for i in 0..2 {
        assert_eq!(s.chain.read(&cus(&format!("cus_new{i}"))).await.unwrap().layer, Layer::L1);
    }
    assert_eq!(s.chain.read(&invoice).await.unwrap().layer, Layer::L1, "other kinds untouched");
    let again = s.chain.invalidate_kind_before(ObjectKind::Customer, cutoff).await.unwrap();
    assert_eq!(again, 0, "refilled entries are newer than the cutoff, expired ones are skipped");
    s.finish().await;
}

async fn accounts_never_share_an_entry(choice: BackendChoice) {
    let s = setup(choice, TtlPolicy::default(), DynamoOptions::default()).await;
    s.origin.stripe.set("acct_A", "/v1/customers/cus_8", 1, &customer("cus_8", "a@tenant-a.com"));
    s.origin.stripe.set("acct_B", "/v1/customers/cus_8", 1, &customer("cus_8", "b@tenant-b.com"));
    let a = cus("cus_8").with_account("acct_A");
    let b = cus("cus_8").with_account("acct_B");

    let ra = s.chain.read(&a).await.unwrap();
    let rb = s.chain.read(&b).await.unwrap();
    assert_eq!((ra.layer, rb.layer), (Layer::Origin, Layer::Origin), "B must not be served A's entry");
    assert!(ra.entry.data.contains("tenant-a") && rb.entry.data.contains("tenant-b"));
    assert_eq!(rb.entry.account.as_deref(), Some("acct_B"));
    s.chain.invalidate(&a).await.unwrap();
    let rb2 = s.chain.read(&b).await.unwrap();
    assert_eq!((rb2.layer, rb2.entry.data.contains("tenant-b")), (Layer::L1, true));
    s.chain.l1().delete(&b).await.unwrap();
    assert_eq!(s.chain.read(&b).await.unwrap().layer, Layer::L2, "B's L2 entry survived A's invalidation");
    let item = s.chain.l2().raw_get(&b).await.unwrap().unwrap();
    assert_eq!(item["pk"].as_s().unwrap(), "ACCT#acct_B#CUSTOMER#cus_8");
    assert_eq!(item["account"].as_s().unwrap(), "acct_B");
    s.finish().await;
}

async fn table_is_created_like_the_seed_template(choice: BackendChoice) {
    let s = setup(choice, TtlPolicy::default(), DynamoOptions::default()).await;
    let client = s.chain.l2().client();
    let t = client.describe_table().table_name("stripe-cache").send().await.unwrap().table.unwrap();
    let keys: Vec<_> = t.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().clone())).collect();
    assert_eq!(keys, vec![("pk", KeyType::Hash), ("sk", KeyType::Range)]);
    let gsi = &t.global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), Some("gsi1"));
    let gkeys: Vec<_> = gsi.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().clone())).collect();
    assert_eq!(gkeys, vec![("gsi1pk", KeyType::Hash), ("gsi1sk", KeyType::Range)]);
    assert_eq!(gsi.projection().unwrap().projection_type(), Some(&ProjectionType::All));
    let ttl = client.describe_time_to_live().table_name("stripe-cache").send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    // Connecting again to the existing table checks its layout and succeeds.
    let again = tierbench::store::DynamoL2::connect(&tierbench::store::DynamoOptions {
        endpoint_url: s.backends.endpoints.dynamodb_endpoint.clone(),
        ..Default::default()
    })
    .await;
    assert!(again.is_ok(), "{again:?}");
    // A table of another layout under the configured name is refused, naming it.
    client
        .create_table()
        .table_name("not-a-cache")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("id").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let wrong = tierbench::store::DynamoL2::connect(&tierbench::store::DynamoOptions {
        endpoint_url: s.backends.endpoints.dynamodb_endpoint.clone(),
        table: tierbench::store::TableSpec { name: "not-a-cache".into(), ..Default::default() },
        ..Default::default()
    })
    .await;
    let message = wrong.expect_err("a foreign table is refused").to_string();
    assert!(message.contains("not-a-cache") && message.contains("key schema"), "{message}");
    s.finish().await;
}

/// A webhook for a customer reaches every variant cached of it (API versions,
/// `expand[]` sets) in both tiers, and refuses their fills still in flight;
/// another customer's variants stay cached.
async fn a_webhook_invalidates_every_variant_of_its_object(choice: BackendChoice) {
    let s = setup(choice, TtlPolicy::default(), DynamoOptions::default()).await;
    let body = |id: &str| customer(id, &format!("{id}@example.com"));
    for id in ["cus_v", "cus_w"] {
        s.origin.stripe.set("", &format!("/v1/customers/{id}"), 1, &body(id));
        s.origin.stripe.set("", &format!("/v1/customers/{id}?expand%5B%5D=default_source"), 1, &body(id));
    }
    let variants = |id: &str| {
        let object = cus(id);
        [
            object.clone(),
            object.clone().with_expand(["default_source"]),
            object.clone().with_api_version("2025-03-31.basil"),
            object.with_api_version("2025-03-31.basil").with_expand(["default_source"]),
        ]
    };
    for key in variants("cus_v").iter().chain(&variants("cus_w")) {
        assert_eq!(s.chain.read(key).await.unwrap().layer, Layer::Origin, "{key:?}");
        assert_eq!(s.chain.read(key).await.unwrap().layer, Layer::L1, "{key:?} cached");
    }
    // A fill of a variant fetched before the change, still in flight.
    let fetched_before = s.clock.now();
    s.clock.advance(Duration::from_millis(10));

    let handler = WebhookHandler::new(vec!["whsec_variants".into()]);
    let event = br#"{"id":"evt_v","object":"event","type":"customer.updated","data":{"object":{"id":"cus_v","object":"customer"}}}"#;
    let now_s = s.clock.now().as_secs();
    let signature = signature_header(&["whsec_variants"], now_s, event, None);
    let applied = handler.apply(&s.chain, event, Some(&signature), now_s).await.unwrap();
    assert_eq!(applied.keys, 1, "one object");
    assert_eq!(s.chain.stats().snapshot().invalidations, 1);

    for key in &variants("cus_v") {
        assert!(s.chain.l1().raw_get(key).await.unwrap().is_none(), "{key:?} left L1");
        match s.chain.l2().get(key).await.unwrap() {
            Lookup::Found(e) => assert!(e.expires_at <= s.clock.now(), "{key:?} expired in L2"),
            other => panic!("{key:?}: the item stays as an expired entry, found {other:?}"),
        }
    }
    for key in &variants("cus_w") {
        assert_eq!(s.chain.read(key).await.unwrap().layer, Layer::L1, "{key:?} untouched");
    }
    let late = variants("cus_v")[3].clone();
    let never_cached = cus("cus_v").with_expand(["sources"]);
    for key in [&late, &never_cached] {
        let stale = CacheEntry {
            version: 1,
            fetched_at: fetched_before,
            expires_at: fetched_before.plus(Duration::from_secs(60)),
            checksum: checksum(&body("cus_v")),
            api_version: "2025-03-31.basil".into(),
            account: None,
            data: body("cus_v"),
        };
        let ttl = Duration::from_secs(60);
        assert_eq!(s.chain.l1().put(key, &stale, ttl).await.unwrap(), WriteOutcome::Invalidated, "{key:?}");
        let l2 = s.chain.l2().put(key, &stale, s.clock.now(), SameVersion::KeepIfIntact, ttl).await.unwrap();
        assert_eq!(l2, WriteOutcome::Invalidated, "{key:?}");
        assert!(
            !matches!(s.chain.l2().get(key).await.unwrap(), Lookup::Found(e) if e.expires_at > s.clock.now()),
            "{key:?}: no live stale variant in L2"
        );
    }
    for key in &variants("cus_v") {
        assert_eq!(s.chain.read(key).await.unwrap().layer, Layer::Origin, "{key:?} refetched");
    }
    s.finish().await;
}

/// The meter against DynamoDB's own account: every GetItem and PutItem the
/// read path made, priced in read and write units from the meter, equals the
/// `ConsumedCapacity` (table and indexes) DynamoDB Local returned for them.
/// Objects from 0.5 KB to 9 KB; first fills, hits, promotions and refills of
/// expired items (whose index key moves).
async fn metered_dynamodb_units_are_what_dynamodb_local_says_it_consumed(choice: BackendChoice) {
    let policy = TtlPolicy::uniform(Duration::from_secs(60), Duration::from_secs(120));
    let s =
        setup(choice, policy, DynamoOptions { consumed_capacity: true, ..DynamoOptions::default() }).await;
    let sizes = [0, 300, 700, 1_500, 3_000, 3_700, 4_200, 6_000, 9_000];
    let body = |id: &str, v: u64, pad: usize| {
        format!(
            r#"{{"id":"{id}","object":"customer","v":{v},"metadata":{{"padding":"{}"}}}}"#,
            "x".repeat(pad)
        )
    };
    for (i, pad) in sizes.iter().enumerate() {
        let id = format!("cus_m{i}");
        s.origin.stripe.set("", &format!("/v1/customers/{id}"), 1, &body(&id, 1, *pad));
    }
    let keys: Vec<CacheKey> = (0..sizes.len()).map(|i| cus(&format!("cus_m{i}"))).collect();
    for k in &keys {
        assert_eq!(s.chain.read(k).await.unwrap().layer, Layer::Origin);
        assert_eq!(s.chain.read(k).await.unwrap().layer, Layer::L1);
        s.chain.l1().delete(k).await.unwrap();
        assert_eq!(s.chain.read(k).await.unwrap().layer, Layer::L2);
    }
    s.clock.advance(Duration::from_secs(121));
    for (i, (k, pad)) in keys.iter().zip(sizes).enumerate() {
        s.origin.stripe.set("", &format!("/v1/customers/{}", k.id), 2, &body(&k.id, 2, pad + i));
        let served = s.chain.read(k).await.unwrap();
        assert_eq!((served.layer, served.entry.version), (Layer::Origin, 2));
    }
    let mut tally = tierbench::harness::usage::UsageTally::default();
    tally.add_meter(&s.chain.meter().snapshot());
    let (read, write) = s.chain.l2().consumed().units();
    let metered = (tally.dynamodb.read_units(), tally.dynamodb.write_units());
    eprintln!("consumed: {read} read, {write} write units; metered {metered:?}");
    assert!(read > 0.0 && write > 0.0, "DynamoDB Local reported no consumed capacity");
    assert_eq!(metered, (read, write), "metered (left) and consumed (right) read and write units");
    s.finish().await;
}
