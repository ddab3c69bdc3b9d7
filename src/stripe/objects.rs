//! The shapes of the Stripe objects tierbench serves (customer, subscription,
//! payment method, invoice, list, event), in the current API's field layout
//! (subscription periods on items and invoice parents since `2025-03-31.basil`).
//!
//! Objects are `serde_json::Value`s; [`StripeJson`] writes them the way Stripe
//! does: pretty-printed with two spaces, `id` and `object` first, the other
//! keys in alphabetical order.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

/// A customer's own fields; the rest of the shape is fixed.
#[derive(Clone, Debug)]
pub struct CustomerFields {
    /// `cus_...`.
    pub id: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Full name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Phone number.
    pub phone: String,
    /// Billing address: line1, city, postal code, country.
    pub address: [String; 4],
    /// `invoice_settings.default_payment_method`.
    pub default_payment_method: Option<String>,
    /// `invoice_prefix`.
    pub invoice_prefix: String,
    /// Whether the object belongs to live mode.
    pub livemode: bool,
}

/// A customer.
pub fn customer(f: &CustomerFields) -> Value {
    let [line1, city, postal_code, country] = &f.address;
    let address = json!({"city": city, "country": country, "line1": line1, "line2": null,
        "postal_code": postal_code, "state": null});
    json!({
        "id": f.id, "object": "customer", "address": address, "balance": 0,
        "created": f.created, "currency": "usd", "default_source": null, "delinquent": false,
        "description": format!("Customer {}", f.name), "discount": null, "email": f.email,
        "invoice_prefix": f.invoice_prefix,
        "invoice_settings": {"custom_fields": null, "default_payment_method": f.default_payment_method,
            "footer": null, "rendering_options": null},
        "livemode": f.livemode,
        "metadata": {"app_user_id": format!("usr_{}", f.id.trim_start_matches("cus_")), "signup_channel": "web"},
        "name": f.name, "next_invoice_sequence": 2, "phone": f.phone, "preferred_locales": ["en"],
        "shipping": {"address": address.clone(), "carrier": null, "name": f.name, "phone": f.phone,
            "tracking_number": null},
        "tax_exempt": "none",
        "test_clock": null,
    })
}

/// A card payment method's own fields.
#[derive(Clone, Debug)]
pub struct PaymentMethodFields {
    /// `pm_...`.
    pub id: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// The customer it is attached to.
    pub customer: Option<String>,
    /// Card brand (`visa`, `mastercard`, ...).
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month.
    pub exp_month: u32,
    /// Expiry year.
    pub exp_year: u32,
    /// Card fingerprint.
    pub fingerprint: String,
    /// Cardholder name.
    pub name: String,
    /// Cardholder e-mail.
    pub email: String,
    /// Whether the object belongs to live mode.
    pub livemode: bool,
}

/// A card payment method.
pub fn payment_method(f: &PaymentMethodFields) -> Value {
    json!({
        "id": f.id, "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": {"address": {"city": null, "country": "US", "line1": null, "line2": null,
            "postal_code": "94107", "state": null}, "email": f.email, "name": f.name, "phone": null,
            "tax_id": null},
        "card": {"brand": f.brand, "checks": {"address_line1_check": null,
            "address_postal_code_check": "pass", "cvc_check": "pass"}, "country": "US",
            "display_brand": f.brand, "exp_month": f.exp_month, "exp_year": f.exp_year,
            "fingerprint": f.fingerprint, "funding": "credit", "generated_from": null, "last4": f.last4,
            "networks": {"available": [f.brand], "preferred": null}, "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": true}, "wallet": null},
        "created": f.created, "customer": f.customer, "customer_account": null,
        "livemode": f.livemode, "metadata": {}, "type": "card",
    })
}

/// The price a subscription or invoice line bills.
#[derive(Clone, Debug)]
pub struct PriceFields {
    /// `price_...`.
    pub id: String,
    /// `prod_...`.
    pub product: String,
    /// Amount per unit, in cents.
    pub unit_amount: i64,
    /// `month` or `year`.
    pub interval: &'static str,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Whether the object belongs to live mode.
    pub livemode: bool,
}

fn price(p: &PriceFields) -> Value {
    json!({
        "id": p.id, "object": "price", "active": true, "billing_scheme": "per_unit",
        "created": p.created, "currency": "usd", "custom_unit_amount": null, "livemode": p.livemode,
        "lookup_key": format!("tierbench_{}_{}", p.unit_amount, p.interval), "metadata": {},
        "nickname": format!("Tierbench {} plan", p.interval), "product": p.product,
        "recurring": {"interval": p.interval, "interval_count": 1, "meter": null,
            "trial_period_days": null, "usage_type": "licensed"},
        "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
        "type": "recurring", "unit_amount": p.unit_amount, "unit_amount_decimal": p.unit_amount.to_string(),
    })
}

fn plan(p: &PriceFields) -> Value {
    json!({
        "id": p.id, "object": "plan", "active": true, "amount": p.unit_amount,
        "amount_decimal": p.unit_amount.to_string(), "billing_scheme": "per_unit", "created": p.created,
        "currency": "usd", "interval": p.interval, "interval_count": 1, "livemode": p.livemode,
        "metadata": {}, "meter": null, "nickname": null, "product": p.product, "tiers_mode": null,
        "transform_usage": null, "trial_period_days": null, "usage_type": "licensed",
    })
}

/// A subscription's own fields (one item).
#[derive(Clone, Debug)]
pub struct SubscriptionFields {
    /// `sub_...`.
    pub id: String,
    /// `si_...` of its one item.
    pub item_id: String,
    /// The customer's id.
    pub customer: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Current period start, seconds since the epoch.
    pub period_start: i64,
    /// Current period end, seconds since the epoch.
    pub period_end: i64,
    /// `active`, `trialing`, `past_due`, `canceled`, ...
    pub status: &'static str,
    /// Quantity of its item.
    pub quantity: u32,
    /// `default_payment_method`.
    pub default_payment_method: Option<String>,
    /// `latest_invoice`.
    pub latest_invoice: Option<String>,
    /// What it bills.
    pub price: PriceFields,
    /// Whether the object belongs to live mode.
    pub livemode: bool,
}

/// A subscription with one item.
pub fn subscription(f: &SubscriptionFields) -> Value {
    let item = json!({
        "id": f.item_id, "object": "subscription_item", "billing_thresholds": null,
        "created": f.created, "current_period_end": f.period_end, "current_period_start": f.period_start,
        "discounts": [], "metadata": {}, "plan": plan(&f.price), "price": price(&f.price),
        "quantity": f.quantity, "subscription": f.id, "tax_rates": [],
    });
    let mut sub = json!({
        "id": f.id, "object": "subscription", "application": null, "application_fee_percent": null,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
        "billing_cycle_anchor": f.period_start, "billing_cycle_anchor_config": null,
        "billing_mode": {"flexible": null, "type": "classic", "updated_at": null},
        "billing_thresholds": null, "cancel_at": null, "cancel_at_period_end": false, "canceled_at": null,
        "cancellation_details": {"comment": null, "feedback": null, "reason": null},
        "collection_method": "charge_automatically", "created": f.created, "currency": "usd",
        "customer": f.customer, "customer_account": null, "days_until_due": null,
        "default_payment_method": f.default_payment_method, "default_source": null,
        "default_tax_rates": [], "description": null, "discounts": [], "ended_at": null,
    });
    merge(
        &mut sub,
        json!({
            "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
            "items": {"object": "list", "data": [item], "has_more": false, "total_count": 1,
                "url": format!("/v1/subscription_items?subscription={}", f.id)},
            "latest_invoice": f.latest_invoice, "livemode": f.livemode,
            "metadata": {"app_account_id": format!("acc_{}", f.customer.trim_start_matches("cus_")),
                "plan_tier": f.price.interval, "seats": f.quantity.to_string(), "source": "checkout"},
            "next_pending_invoice_item_invoice": null, "on_behalf_of": null, "pause_collection": null,
            "payment_settings": {"payment_method_options": {"acss_debit": null, "bancontact": null,
                "card": {"network": null, "request_three_d_secure": "automatic"}, "customer_balance": null,
                "konbini": null, "sepa_debit": null, "us_bank_account": null},
                "payment_method_types": ["card"], "save_default_payment_method": "on_subscription"},
            "pending_invoice_item_interval": null, "pending_setup_intent": null, "pending_update": null,
            "schedule": null, "start_date": f.created, "status": f.status, "test_clock": null,
            "transfer_data": null, "trial_end": null,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": null,
        }),
    );
    sub
}

/// An invoice's own fields (one line).
#[derive(Clone, Debug)]
pub struct InvoiceFields {
    /// `in_...`.
    pub id: String,
    /// `il_...` of its one line.
    pub line_id: String,
    /// The customer's id.
    pub customer: String,
    /// The customer's name and e-mail at billing time.
    pub customer_name: String,
    /// The customer's e-mail at billing time.
    pub customer_email: String,
    /// The subscription it bills, with that subscription's item.
    pub subscription: Option<(String, String)>,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Billing period start, seconds since the epoch.
    pub period_start: i64,
    /// Billing period end, seconds since the epoch.
    pub period_end: i64,
    /// `draft`, `open`, `paid`, `void`, `uncollectible`.
    pub status: &'static str,
    /// Invoice number (`{prefix}-0001`).
    pub number: String,
    /// Total, in cents.
    pub amount: i64,
    /// Quantity billed.
    pub quantity: u32,
    /// What it bills.
    pub price: PriceFields,
    /// Whether the object belongs to live mode.
    pub livemode: bool,
}

/// An invoice with one line.
pub fn invoice(f: &InvoiceFields) -> Value {
    let paid = f.status == "paid";
    let (sub, sub_item) = f.subscription.clone().unzip();
    let line = json!({
        "id": f.line_id, "object": "line_item", "amount": f.amount, "currency": "usd",
        "description": format!("{} × Tierbench plan (at ${:.2} / {})", f.quantity,
            f.price.unit_amount as f64 / 100.0, f.price.interval),
        "discount_amounts": [], "discountable": true, "discounts": [], "invoice": f.id,
        "livemode": f.livemode, "metadata": {},
        "parent": {"invoice_item_details": null, "subscription_item_details": {"invoice_item": null,
            "proration": false, "proration_details": {"credited_items": null}, "subscription": sub,
            "subscription_item": sub_item}, "type": "subscription_item_details"},
        "period": {"end": f.period_end, "start": f.period_start}, "pretax_credit_amounts": [],
        "pricing": {"price_details": {"price": f.price.id, "product": f.price.product},
            "type": "price_details", "unit_amount_decimal": f.price.unit_amount.to_string()},
        "quantity": f.quantity, "taxes": [],
    });
    let parent = match &sub {
        Some(s) => json!({"quote_details": null, "subscription_details": {"metadata": {},
            "subscription": s}, "type": "subscription_details"}),
        None => Value::Null,
    };
    let host = format!("https://invoice.stripe.com/i/acct_tierbench/test_{}", f.id);
    let mut inv = json!({
        "id": f.id, "object": "invoice", "account_country": "US", "account_name": "Tierbench Inc.",
        "account_tax_ids": null, "amount_due": f.amount, "amount_overpaid": 0,
        "amount_paid": if paid { f.amount } else { 0 }, "amount_remaining": if paid { 0 } else { f.amount },
        "amount_shipping": 0, "application": null, "attempt_count": i32::from(paid), "attempted": paid,
        "auto_advance": !paid,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null,
            "provider": null, "status": null},
        "automatically_finalizes_at": null, "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically", "confirmation_secret": null, "created": f.created,
        "currency": "usd", "custom_fields": null, "customer": f.customer, "customer_account": null,
        "customer_address": null, "customer_email": f.customer_email, "customer_name": f.customer_name,
        "customer_phone": null, "customer_shipping": null, "customer_tax_exempt": "none",
        "customer_tax_ids": [], "default_payment_method": null, "default_source": null,
        "default_tax_rates": [], "description": null, "discounts": [], "due_date": null,
    });
    merge(
        &mut inv,
        json!({
            "effective_at": f.created, "ending_balance": 0, "footer": null, "from_invoice": null,
            "hosted_invoice_url": host, "invoice_pdf": format!("{host}/pdf?s=ap"), "issuer": {"type": "self"},
            "last_finalization_error": null, "latest_revision": null,
            "lines": {"object": "list", "data": [line], "has_more": false, "total_count": 1,
                "url": format!("/v1/invoices/{}/lines", f.id)},
            "livemode": f.livemode, "metadata": {}, "next_payment_attempt": null, "number": f.number,
        }),
    );
    merge(
        &mut inv,
        json!({
            "on_behalf_of": null, "parent": parent,
            "payment_settings": {"default_mandate": null, "payment_method_options": null,
                "payment_method_types": null},
            "period_end": f.period_end, "period_start": f.period_start, "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0, "receipt_number": null, "rendering": null,
            "shipping_cost": null, "shipping_details": null, "starting_balance": 0,
            "statement_descriptor": null, "status": f.status,
            "status_transitions": {"finalized_at": f.created, "marked_uncollectible_at": null,
                "paid_at": if paid { Some(f.created + 3_600) } else { None }, "voided_at": null},
            "subtotal": f.amount, "subtotal_excluding_tax": f.amount, "test_clock": null, "total": f.amount,
            "total_discount_amounts": [], "total_excluding_tax": f.amount, "total_pretax_credit_amounts": [],
            "total_taxes": [], "webhooks_delivered_at": f.created,
        }),
    );
    inv
}

/// Moves `extra`'s fields into `object` (both JSON objects): lets one shape be
/// written as several `json!` calls, below the macro's recursion limit.
fn merge(object: &mut Value, extra: Value) {
    if let (Some(o), Value::Object(e)) = (object.as_object_mut(), extra) {
        o.extend(e);
    }
}

/// Adds `metadata` entries (`tb_pad_0`, ...) holding about `bytes` bytes of filler, to
/// model real objects that carry more metadata than these shapes. No-op for 0.
pub fn pad_metadata(object: &mut Value, bytes: usize) {
    const CHUNK: usize = 400; // Stripe caps a metadata value at 500 characters.
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let mut left = bytes;
    let mut i = 0;
    while left > 0 {
        let n = left.min(CHUNK);
        meta.insert(format!("tb_pad_{i}"), Value::String("x".repeat(n)));
        left -= n;
        i += 1;
    }
}

/// A Stripe event wrapping `object` (the resource after the change).
#[derive(Clone, Debug)]
pub struct EventFields<'a> {
    /// `evt_...`.
    pub id: &'a str,
    /// `customer.updated`, ...
    pub event_type: &'a str,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// The API version the object is rendered in.
    pub api_version: &'a str,
    /// The connected account, for Connect events.
    pub account: Option<&'a str>,
    /// The request that caused it, if an API call did.
    pub request_id: Option<&'a str>,
    /// That request's idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// How many endpoints it is sent to.
    pub pending_webhooks: usize,
    /// Whether the object belongs to live mode.
    pub livemode: bool,
}

/// An event: `data.object` is the full resource, `data.previous_attributes` the
/// changed fields' former values (on `*.updated`-like events).
pub fn event(f: &EventFields<'_>, object: Value, previous: Option<Value>) -> Value {
    let mut data = Map::new();
    data.insert("object".into(), object);
    if let Some(p) = previous {
        data.insert("previous_attributes".into(), p);
    }
    let mut e = json!({
        "id": f.id, "object": "event", "api_version": f.api_version, "created": f.created,
        "data": data, "livemode": f.livemode, "pending_webhooks": f.pending_webhooks,
        "request": {"id": f.request_id, "idempotency_key": f.idempotency_key}, "type": f.event_type,
    });
    if let Some(a) = f.account {
        e["account"] = Value::String(a.to_owned());
    }
    e
}

/// Writes a JSON value in Stripe's key order: `id`, `object`, then the rest
/// alphabetically (serde_json's map order). Use with `serde_json::to_writer_pretty`.
#[derive(Clone, Copy, Debug)]
pub struct StripeJson<'a>(pub &'a Value);

impl Serialize for StripeJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for first in ["id", "object"] {
                    if let Some(v) = map.get(first) {
                        m.serialize_entry(first, &StripeJson(v))?;
                    }
                }
                for (k, v) in map.iter().filter(|(k, _)| *k != "id" && *k != "object") {
                    m.serialize_entry(k, &StripeJson(v))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&StripeJson(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// `value` pretty-printed the way Stripe answers (two-space indent, Stripe's key
/// order, no trailing newline).
pub fn to_stripe_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1_024);
    // Writing a Value into a Vec cannot fail.
    serde_json::to_writer_pretty(&mut out, &StripeJson(value)).expect("a Value always serializes");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_and_object_come_first_then_alphabetical_with_two_spaces() {
        let v = json!({"zeta": 1, "object": "thing", "alpha": {"b": 1, "a": [1]}, "id": "x_1"});
        let text = String::from_utf8(to_stripe_json(&v)).unwrap();
        assert_eq!(
            text,
            "{\n  \"id\": \"x_1\",\n  \"object\": \"thing\",\n  \"alpha\": {\n    \"a\": [\n      1\n    ],\n    \"b\": 1\n  },\n  \"zeta\": 1\n}"
        );
    }

    #[test]
    fn padding_adds_about_the_requested_bytes() {
        let mut v = json!({"metadata": {}});
        let before = serde_json::to_vec(&v).unwrap().len();
        pad_metadata(&mut v, 1_000);
        let after = serde_json::to_vec(&v).unwrap().len();
        assert!((1_000..1_100).contains(&(after - before)), "{before} -> {after}");
        pad_metadata(&mut v, 0);
        assert_eq!(serde_json::to_vec(&v).unwrap().len(), after);
    }
}
