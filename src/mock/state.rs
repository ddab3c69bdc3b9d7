//! The mock's data: per account, the objects as Stripe-rendered bodies with a
//! version each, the customers' collections, and the listing orders.

use std::collections::HashMap;

use axum::body::Bytes;
use serde_json::Value;

use crate::clock::Timestamp;
use crate::stripe::objects::to_stripe_json;

/// How many earlier versions an object remembers (for `superseded_at`).
const HISTORY: usize = 16;

/// The version history of one object or collection.
#[derive(Clone, Debug)]
pub(crate) struct Track {
    pub version: u64,
    pub changed_at: Timestamp,
    /// Earlier (version, changed_at), oldest first, at most [`HISTORY`].
    earlier: Vec<(u64, Timestamp)>,
}

impl Track {
    pub fn new(version: u64, at: Timestamp) -> Self {
        Track { version, changed_at: at, earlier: Vec::new() }
    }

    /// Records a change to `version` at `at`.
    pub fn bump(&mut self, version: u64, at: Timestamp) {
        if self.earlier.len() == HISTORY {
            self.earlier.remove(0);
        }
        self.earlier.push((self.version, self.changed_at));
        self.version = version;
        self.changed_at = at;
    }

    /// When `version` stopped being current: the time of the first change after
    /// it. `None` while it is current. For versions older than the history
    /// kept, the oldest change remembered (so staleness is never overstated).
    pub fn superseded_at(&self, version: u64) -> Option<Timestamp> {
        if version >= self.version {
            return None;
        }
        self.earlier
            .iter()
            .chain(std::iter::once(&(self.version, self.changed_at)))
            .find(|(v, _)| *v > version)
            .map(|(_, t)| *t)
    }
}

/// An object as served: its rendered body and its version.
#[derive(Clone, Debug)]
pub(crate) struct Obj {
    pub body: Bytes,
    pub track: Track,
    /// Creation time in seconds: the list order (newest first).
    pub created: i64,
}

impl Obj {
    pub fn new(value: &Value, version: u64, at: Timestamp) -> Self {
        let created = value["created"].as_i64().unwrap_or_default();
        Obj { body: Bytes::from(to_stripe_json(value)), track: Track::new(version, at), created }
    }

    /// The body parsed back into a value (for changes and expansions).
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Replaces the body with `value`, as version `version` at `at`.
    pub fn replace(&mut self, value: &Value, version: u64, at: Timestamp) {
        self.body = Bytes::from(to_stripe_json(value));
        self.track.bump(version, at);
    }
}

/// A customer and its collections (ids newest first).
#[derive(Clone, Debug)]
pub(crate) struct CustomerRec {
    pub obj: Obj,
    pub subscriptions: Vec<String>,
    pub payment_methods: Vec<String>,
    pub invoices: Vec<String>,
    /// Changes whenever anything in `GET /v1/subscriptions?customer=` changes.
    pub subscriptions_track: Track,
    /// Changes whenever anything in `GET /v1/customers/{id}/payment_methods` changes.
    pub payment_methods_track: Track,
}

#[derive(Clone, Debug)]
pub(crate) struct SubscriptionRec {
    pub obj: Obj,
    pub status: String,
}

#[derive(Clone, Debug)]
pub(crate) struct PaymentMethodRec {
    pub obj: Obj,
    pub customer: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct InvoiceRec {
    pub obj: Obj,
}

/// The data of one account (the platform or a connected account).
#[derive(Clone, Debug, Default)]
pub(crate) struct Account {
    /// `acct_...`, `None` for the platform.
    pub id: Option<String>,
    pub customers: HashMap<String, CustomerRec>,
    /// Customer ids, newest first.
    pub customer_order: Vec<String>,
    pub subscriptions: HashMap<String, SubscriptionRec>,
    pub subscription_order: Vec<String>,
    pub payment_methods: HashMap<String, PaymentMethodRec>,
    /// Payment methods attached to no customer, newest first.
    pub unattached: Vec<String>,
    pub invoices: HashMap<String, InvoiceRec>,
    pub invoice_order: Vec<String>,
}

/// Kinds of object an expandable field can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    Customer,
    Subscription,
    PaymentMethod,
    Invoice,
}

impl Resource {
    /// Stripe's word for it in "No such ..." messages.
    pub const fn word(self) -> &'static str {
        match self {
            Resource::Customer => "customer",
            Resource::Subscription => "subscription",
            Resource::PaymentMethod => "PaymentMethod",
            Resource::Invoice => "invoice",
        }
    }
}

impl Account {
    /// The object `id` of `kind`.
    pub fn object(&self, kind: Resource, id: &str) -> Option<&Obj> {
        match kind {
            Resource::Customer => self.customers.get(id).map(|c| &c.obj),
            Resource::Subscription => self.subscriptions.get(id).map(|s| &s.obj),
            Resource::PaymentMethod => self.payment_methods.get(id).map(|p| &p.obj),
            Resource::Invoice => self.invoices.get(id).map(|i| &i.obj),
        }
    }

    /// Puts `id` into `list` (ids newest first) at its place by creation time.
    pub fn insert_ordered(&self, list: &mut Vec<String>, id: &str, kind: Resource) {
        let created = |x: &str| self.object(kind, x).map_or(0, |o| o.created);
        let c = created(id);
        let at = list.iter().position(|x| (created(x), x.as_str()) < (c, id)).unwrap_or(list.len());
        list.insert(at, id.to_owned());
    }
}

/// All accounts, and the version counter every change draws from.
#[derive(Debug)]
pub(crate) struct State {
    /// Index 0 is the platform.
    pub accounts: Vec<Account>,
    /// Connected account id -> index into `accounts`.
    pub account_index: HashMap<String, usize>,
    /// The next version to hand out (versions only grow, across all objects).
    pub next_version: u64,
}

impl State {
    /// The index of the account `id` names (`None`: the platform).
    pub fn account_of(&self, id: Option<&str>) -> Option<usize> {
        match id {
            None => Some(0),
            Some(a) => self.account_index.get(a).copied(),
        }
    }

    /// A fresh version number.
    pub fn take_version(&mut self) -> u64 {
        let v = self.next_version;
        self.next_version += 1;
        v
    }
}

/// A list body the way Stripe pretty-prints it, around already-rendered item
/// bodies (re-indented: JSON strings cannot hold raw newlines, so every newline
/// in a body starts a new line).
pub(crate) fn render_list(url: &str, items: &[Bytes], has_more: bool) -> Bytes {
    let size: usize = items.iter().map(|b| b.len() + b.len() / 8 + 8).sum();
    let mut out = Vec::with_capacity(size + 128);
    out.extend_from_slice(b"{\n  \"object\": \"list\",\n  \"data\": [");
    for (i, body) in items.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
        for &b in body.iter() {
            out.push(b);
            if b == b'\n' {
                out.extend_from_slice(b"    ");
            }
        }
    }
    out.extend_from_slice(if items.is_empty() { b"]" } else { b"\n  ]" });
    out.extend_from_slice(b",\n  \"has_more\": ");
    out.extend_from_slice(if has_more { b"true" } else { b"false" });
    out.extend_from_slice(b",\n  \"url\": ");
    // Escaping a &str cannot fail.
    serde_json::to_writer(&mut out, url).expect("a string always serializes");
    out.extend_from_slice(b"\n}");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lists_render_exactly_as_serde_pretty_would() {
        let a = json!({"id": "a", "object": "thing", "n": {"x": [1, 2]}});
        let b = json!({"id": "b", "object": "thing", "n": {}});
        let items = [Bytes::from(to_stripe_json(&a)), Bytes::from(to_stripe_json(&b))];
        let ours = render_list("/v1/things", &items, true);
        let expected = json!({"object": "list", "data": [a, b], "has_more": true, "url": "/v1/things"});
        let mut want = Vec::new();
        serde_json::to_writer_pretty(&mut want, &expected).unwrap();
        // serde_json sorts keys: "data" < "has_more" < "object" < "url"; compare as values and check layout.
        assert_eq!(serde_json::from_slice::<Value>(&ours).unwrap(), expected);
        let text = String::from_utf8(ours.to_vec()).unwrap();
        assert!(text.contains("\n  \"data\": [\n    {\n      \"id\": \"a\",\n      \"object\": \"thing\",\n      \"n\": {\n        \"x\": [\n          1,"));
        assert!(text.ends_with("  ],\n  \"has_more\": true,\n  \"url\": \"/v1/things\"\n}"));
        let empty = render_list("/v1/x", &[], false);
        assert_eq!(
            std::str::from_utf8(&empty).unwrap(),
            "{\n  \"object\": \"list\",\n  \"data\": [],\n  \"has_more\": false,\n  \"url\": \"/v1/x\"\n}"
        );
    }

    #[test]
    fn tracks_tell_when_a_version_was_superseded() {
        let t = |ms| Timestamp::from_millis(ms);
        let mut track = Track::new(1, t(0));
        track.bump(5, t(100));
        track.bump(9, t(250));
        assert_eq!(track.superseded_at(1), Some(t(100)));
        assert_eq!(track.superseded_at(5), Some(t(250)));
        assert_eq!(track.superseded_at(7), Some(t(250)));
        assert_eq!(track.superseded_at(9), None);
    }
}
