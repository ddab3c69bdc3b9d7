//! The kinds of Stripe data a cache holds and how each is addressed.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A kind of cached Stripe data. Lists that belong to a customer are kinds of
/// their own because the seed caches them as one item under the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A customer object (`GET /v1/customers/{id}`).
    Customer,
    /// The subscriptions of a customer (`GET /v1/subscriptions?customer={id}`).
    Subscriptions,
    /// The payment methods of a customer (`GET /v1/customers/{id}/payment_methods`).
    PaymentMethods,
    /// An invoice (`GET /v1/invoices/{id}`).
    Invoice,
}

impl ObjectKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ObjectKind; 4] =
        [ObjectKind::Customer, ObjectKind::Subscriptions, ObjectKind::PaymentMethods, ObjectKind::Invoice];

    /// The snake_case name used in scenario files, Redis keys and `gsi1pk`.
    pub const fn name(self) -> &'static str {
        match self {
            ObjectKind::Customer => "customer",
            ObjectKind::Subscriptions => "subscriptions",
            ObjectKind::PaymentMethods => "payment_methods",
            ObjectKind::Invoice => "invoice",
        }
    }

    /// The entity the DynamoDB partition key names (`CUSTOMER#cus_123`).
    pub const fn pk_entity(self) -> &'static str {
        match self {
            ObjectKind::Customer | ObjectKind::Subscriptions | ObjectKind::PaymentMethods => "CUSTOMER",
            ObjectKind::Invoice => "INVOICE",
        }
    }

    /// The section of the DynamoDB sort key (`METADATA#latest`).
    pub const fn sk_section(self) -> &'static str {
        match self {
            ObjectKind::Customer | ObjectKind::Invoice => "METADATA",
            ObjectKind::Subscriptions => "SUBSCRIPTIONS",
            ObjectKind::PaymentMethods => "PAYMENT_METHODS",
        }
    }

    /// The GSI partition key shared by every entry of this kind (`CACHE#customer`).
    pub fn gsi1pk(self) -> String {
        format!("CACHE#{}", self.name())
    }

    /// The kind an item's `pk` entity and `sk` section denote, if any.
    pub fn from_key_parts(entity: &str, section: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.pk_entity() == entity && k.sk_section() == section)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a known [`ObjectKind`].
#[derive(Debug, thiserror::Error)]
#[error("unknown object kind {given:?}: expected one of customer, subscriptions, payment_methods, invoice")]
pub struct KindParseError {
    /// What was given.
    pub given: String,
}

impl FromStr for ObjectKind {
    type Err = KindParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObjectKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| KindParseError { given: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_key_parts_are_unique() {
        for k in ObjectKind::ALL {
            assert_eq!(k.name().parse::<ObjectKind>().unwrap(), k);
            assert_eq!(ObjectKind::from_key_parts(k.pk_entity(), k.sk_section()), Some(k));
        }
        assert!("charge".parse::<ObjectKind>().is_err());
        assert_eq!(ObjectKind::Customer.gsi1pk(), "CACHE#customer");
    }
}
