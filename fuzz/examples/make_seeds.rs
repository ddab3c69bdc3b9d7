//! Writes the committed seed corpora of the webhook and cache-entry targets
//! with tierbench's own object shapes, signing and envelope code:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds
//! ```
//!
//! (The `scenario` seeds are copies of `scenarios/*.toml`.) Deterministic: the
//! same tierbench writes the same files.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tierbench::chain::{CacheEntry, checksum};
use tierbench::clock::Timestamp;
use tierbench::stripe::DEFAULT_API_VERSION;
use tierbench::stripe::objects::{
    CustomerFields, EventFields, PaymentMethodFields, customer, event, payment_method, to_stripe_json,
};
use tierbench::stripe::webhook::signature_header;

/// The secret the `webhook_verify` target tries first (`SEED_SECRET` there).
const SECRET: &str = "whsec_fuzz";
const T: u64 = 1_780_000_000;

fn cus(id: &str) -> Value {
    customer(&CustomerFields {
        id: id.into(),
        created: T as i64 - 86_400,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        phone: "+15555550100".into(),
        address: ["1 Main St".into(), "San Francisco".into(), "94107".into(), "US".into()],
        default_payment_method: Some("pm_1".into()),
        invoice_prefix: "ADA1".into(),
        livemode: false,
    })
}

fn pm(customer: Option<&str>) -> Value {
    payment_method(&PaymentMethodFields {
        id: "pm_1".into(),
        created: T as i64 - 3_600,
        customer: customer.map(Into::into),
        brand: "visa".into(),
        last4: "4242".into(),
        exp_month: 12,
        exp_year: 2030,
        fingerprint: "Xt5EWLLDS7FJjR1c".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        livemode: false,
    })
}

/// `(file stem, event body)`: one of each family keys_for_event knows, plus
/// catalog, preview and unknown events.
fn events() -> Vec<(&'static str, Vec<u8>)> {
    let ev = |id, t, account, object, previous| {
        let f = EventFields {
            id,
            event_type: t,
            created: T as i64,
            api_version: DEFAULT_API_VERSION,
            account,
            request_id: Some("req_1"),
            idempotency_key: None,
            pending_webhooks: 1,
            livemode: false,
        };
        to_stripe_json(&event(&f, object, previous))
    };
    vec![
        (
            "customer_updated",
            ev("evt_1", "customer.updated", None, cus("cus_1"), Some(json!({"email": "old@example.com"}))),
        ),
        (
            "subscription_updated_connect",
            ev(
                "evt_2",
                "customer.subscription.updated",
                Some("acct_1"),
                json!({"id": "sub_1", "object": "subscription", "customer": {"id": "cus_2", "object": "customer"}, "status": "active"}),
                Some(json!({"status": "trialing"})),
            ),
        ),
        (
            "payment_method_detached",
            ev(
                "evt_3",
                "payment_method.detached",
                Some("acct_1"),
                pm(None),
                Some(json!({"customer": "cus_3"})),
            ),
        ),
        ("payment_method_attached", ev("evt_4", "payment_method.attached", None, pm(Some("cus_4")), None)),
        (
            "invoice_paid",
            ev(
                "evt_5",
                "invoice.paid",
                None,
                json!({"id": "in_1", "object": "invoice", "customer": "cus_5", "status": "paid"}),
                None,
            ),
        ),
        (
            "invoiceitem_created",
            ev(
                "evt_6",
                "invoiceitem.created",
                None,
                json!({"id": "ii_1", "object": "invoiceitem", "invoice": "in_2"}),
                None,
            ),
        ),
        (
            "customer_tax_id_created",
            ev(
                "evt_7",
                "customer.tax_id.created",
                None,
                json!({"id": "txi_1", "object": "tax_id", "customer": "cus_7"}),
                None,
            ),
        ),
        (
            "price_updated",
            ev(
                "evt_8",
                "price.updated",
                None,
                json!({"id": "price_1", "object": "price", "unit_amount": 2000}),
                Some(json!({"unit_amount": 1500})),
            ),
        ),
        (
            "invoice_upcoming",
            ev("evt_9", "invoice.upcoming", None, json!({"object": "invoice", "customer": "cus_9"}), None),
        ),
        (
            "subscription_schedule_updated",
            ev(
                "evt_10",
                "subscription_schedule.updated",
                None,
                json!({"id": "sub_sched_1", "object": "subscription_schedule", "customer": "cus_10"}),
                None,
            ),
        ),
        ("not_an_event", to_stripe_json(&cus("cus_11"))),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");

    // webhook_event: the raw bodies (the target signs them itself).
    let events = events();
    for (name, body) in &events {
        write(&corpus.join("webhook_event"), &format!("{name}.json"), body);
    }

    // webhook_verify: `{Stripe-Signature}\n{body}`, signed with SECRET: one
    // secret, a rotation with a test-mode v0 decoy, and an old signature.
    let deliveries: [(&str, usize, Vec<&str>, u64, Option<&str>); 4] = [
        ("one_secret", 0, vec![SECRET], T, None),
        (
            "rotation_with_v0",
            2,
            vec!["whsec_old", SECRET],
            T,
            Some("6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"),
        ),
        ("connect_detached", 3, vec![SECRET], T - 200, None),
        ("not_an_event", events.len() - 1, vec![SECRET], T - 600, None),
    ];
    for (name, i, secrets, t, decoy) in deliveries {
        let body = &events[i].1;
        let mut bytes = signature_header(&secrets, t, body, decoy).into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(body);
        write(&corpus.join("webhook_verify"), &format!("{name}.txt"), &bytes);
    }

    // cache_entry: envelopes as the chain writes them (to_json).
    let entry = |data: Vec<u8>, account: Option<&str>, intact: bool| {
        let data = String::from_utf8(data).unwrap();
        CacheEntry {
            version: 3,
            fetched_at: Timestamp::from_millis(T * 1_000),
            expires_at: Timestamp::from_millis((T + 3_600) * 1_000),
            checksum: if intact { checksum(&data) } else { "0".repeat(32) },
            api_version: DEFAULT_API_VERSION.into(),
            account: account.map(Into::into),
            data,
        }
    };
    let list = json!({"object": "list", "data": [pm(Some("cus_1"))], "has_more": false,
        "url": "/v1/customers/cus_1/payment_methods"});
    let entries = [
        ("customer", entry(to_stripe_json(&cus("cus_1")), None, true)),
        ("payment_methods_connect", entry(to_stripe_json(&list), Some("acct_1"), true)),
        ("bad_checksum", entry(b"{\"id\":\"in_1\",\"object\":\"invoice\"}".to_vec(), None, false)),
    ];
    for (name, e) in entries {
        write(&corpus.join("cache_entry"), &format!("{name}.json"), e.to_json().unwrap().as_bytes());
    }
    println!("seeds written under {}", corpus.display());
}
