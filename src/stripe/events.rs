//! Stripe event types and which cache keys an event makes stale: the contract
//! between the mock (which emits events) and the chain (which invalidates on them).

use serde_json::Value;

use super::{CacheKey, ObjectKind};

/// Event types the mock emits, one per kind of change it makes.
pub mod types {
    /// A customer's fields changed.
    pub const CUSTOMER_UPDATED: &str = "customer.updated";
    /// A subscription's fields changed.
    pub const SUBSCRIPTION_UPDATED: &str = "customer.subscription.updated";
    /// A payment method was attached to a customer.
    pub const PAYMENT_METHOD_ATTACHED: &str = "payment_method.attached";
    /// A payment method was detached from its customer.
    pub const PAYMENT_METHOD_DETACHED: &str = "payment_method.detached";
    /// A payment method's fields changed.
    pub const PAYMENT_METHOD_UPDATED: &str = "payment_method.updated";
    /// An invoice's fields changed.
    pub const INVOICE_UPDATED: &str = "invoice.updated";
    /// An invoice was paid.
    pub const INVOICE_PAID: &str = "invoice.paid";
}

/// The cache keys (platform or the event's connected account; no API version,
/// no expansions) whose data the event `event` (a parsed Stripe event) changes.
/// The caller invalidates every variant of each key (all API versions and expand
/// sets). Catalog events (`price.*`, `product.*`, `plan.*`) name no single key:
/// see [`wholesale_kinds`].
///
/// - `customer.*` on a customer, and `customer.discount.*`, `customer.source.*`,
///   `customer.tax_id.*`: the customer.
/// - `customer.subscription.*`, `subscription_schedule.*`: the customer's
///   subscriptions.
/// - `payment_method.*`: the payment methods of the customer it is (or, for
///   `detached`, was) attached to.
/// - `invoice.*` with a real `in_` id (never `invoice.upcoming`'s preview), and
///   `invoiceitem.*` on an invoice: the invoice.
pub fn keys_for_event(event: &Value) -> Vec<CacheKey> {
    let event_type = event["type"].as_str().unwrap_or_default();
    let object = &event["data"]["object"];
    let previous = &event["data"]["previous_attributes"];
    let account = event["account"].as_str();
    let str_of = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    // Fields that may hold an id or an expanded object.
    let id_of = |v: &Value| str_of(v).or_else(|| str_of(&v["id"]));
    let mut keys = Vec::new();
    let mut push = |kind, id: Option<String>| {
        if let Some(id) = id {
            let key = CacheKey::new(kind, id);
            keys.push(match account {
                Some(a) => key.with_account(a),
                None => key,
            });
        }
    };
    let family = event_type.rsplit_once('.').map_or(event_type, |(f, _)| f);
    match family {
        "customer" => push(ObjectKind::Customer, str_of(&object["id"])),
        "customer.discount" | "customer.source" | "customer.tax_id" => {
            push(ObjectKind::Customer, id_of(&object["customer"]));
        }
        "customer.subscription" | "subscription_schedule" => {
            push(ObjectKind::Subscriptions, id_of(&object["customer"]));
        }
        "payment_method" => {
            let now = id_of(&object["customer"]);
            let before = id_of(&previous["customer"]);
            if before.is_some() && before != now {
                push(ObjectKind::PaymentMethods, before);
            }
            push(ObjectKind::PaymentMethods, now);
        }
        "invoice" if event_type != "invoice.upcoming" => {
            push(ObjectKind::Invoice, str_of(&object["id"]).filter(|id| id.starts_with("in_")));
        }
        "invoiceitem" => push(ObjectKind::Invoice, id_of(&object["invoice"])),
        _ => {}
    }
    keys
}

/// The kinds whose every entry an event may change without naming them: catalog
/// events (`price.*`, `product.*`, `plan.*`) change the prices embedded in
/// subscriptions and invoices. Empty for every other event.
pub fn wholesale_kinds(event_type: &str) -> &'static [ObjectKind] {
    let family = event_type.split('.').next().unwrap_or_default();
    match family {
        "price" | "product" | "plan" => &[ObjectKind::Subscriptions, ObjectKind::Invoice],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(t: &str, object: Value) -> Value {
        json!({"type": t, "data": {"object": object}})
    }

    #[test]
    fn each_family_names_its_key() {
        let c = |id: &str| CacheKey::new(ObjectKind::Customer, id);
        assert_eq!(keys_for_event(&event("customer.updated", json!({"id": "cus_1"}))), vec![c("cus_1")]);
        assert_eq!(
            keys_for_event(&event("customer.tax_id.created", json!({"id": "txi_1", "customer": "cus_2"}))),
            vec![c("cus_2")]
        );
        assert_eq!(
            keys_for_event(&event(
                "customer.subscription.updated",
                json!({"id": "sub_1", "customer": {"id": "cus_3"}})
            )),
            vec![CacheKey::new(ObjectKind::Subscriptions, "cus_3")]
        );
        assert_eq!(
            keys_for_event(&event("invoice.paid", json!({"id": "in_1"}))),
            vec![CacheKey::new(ObjectKind::Invoice, "in_1")]
        );
        assert_eq!(
            keys_for_event(&event("invoiceitem.created", json!({"id": "ii_1", "invoice": "in_2"}))),
            vec![CacheKey::new(ObjectKind::Invoice, "in_2")]
        );
    }

    #[test]
    fn detached_payment_methods_invalidate_the_former_customer() {
        let e = json!({"type": "payment_method.detached", "account": "acct_9",
            "data": {"object": {"id": "pm_1", "customer": null},
                     "previous_attributes": {"customer": "cus_7"}}});
        assert_eq!(
            keys_for_event(&e),
            vec![CacheKey::new(ObjectKind::PaymentMethods, "cus_7").with_account("acct_9")]
        );
    }

    #[test]
    fn previews_and_catalog_events_name_no_key() {
        assert!(keys_for_event(&event("invoice.upcoming", json!({"id": "upcoming_in"}))).is_empty());
        assert!(keys_for_event(&event("invoice.created", json!({"customer": "cus_1"}))).is_empty());
        assert!(keys_for_event(&event("price.updated", json!({"id": "price_1"}))).is_empty());
        assert_eq!(wholesale_kinds("price.updated"), &[ObjectKind::Subscriptions, ObjectKind::Invoice]);
        assert!(wholesale_kinds("customer.updated").is_empty());
    }
}
