//! The mock's endpoints: each a named operation (Stripe's unit of per-endpoint rate
//! limits), and the routing of a method and path to one of them.

use std::fmt;
use std::str::FromStr;

use axum::http::Method;

/// A named API operation. `GET /v1/customers/{id}` for different ids is one
/// endpoint; `POST /v1/customers/{id}` is another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `GET /v1/customers/{id}`
    CustomerRetrieve,
    /// `GET /v1/customers`
    CustomerList,
    /// `POST /v1/customers/{id}`
    CustomerUpdate,
    /// `GET /v1/subscriptions/{id}`
    SubscriptionRetrieve,
    /// `GET /v1/subscriptions`
    SubscriptionList,
    /// `GET /v1/payment_methods/{id}`
    PaymentMethodRetrieve,
    /// `GET /v1/customers/{id}/payment_methods`
    PaymentMethodList,
    /// `POST /v1/payment_methods/{id}/attach`
    PaymentMethodAttach,
    /// `POST /v1/payment_methods/{id}/detach`
    PaymentMethodDetach,
    /// `GET /v1/invoices/{id}`
    InvoiceRetrieve,
    /// `GET /v1/invoices`
    InvoiceList,
}

impl Endpoint {
    /// Every endpoint, in a fixed order (the order of [`Endpoint::index`]).
    pub const ALL: [Endpoint; 11] = [
        Endpoint::CustomerRetrieve,
        Endpoint::CustomerList,
        Endpoint::CustomerUpdate,
        Endpoint::SubscriptionRetrieve,
        Endpoint::SubscriptionList,
        Endpoint::PaymentMethodRetrieve,
        Endpoint::PaymentMethodList,
        Endpoint::PaymentMethodAttach,
        Endpoint::PaymentMethodDetach,
        Endpoint::InvoiceRetrieve,
        Endpoint::InvoiceList,
    ];

    /// How many endpoints there are.
    pub const COUNT: usize = Self::ALL.len();

    /// The name used in configuration and flags (`customer.retrieve`).
    pub const fn name(self) -> &'static str {
        match self {
            Endpoint::CustomerRetrieve => "customer.retrieve",
            Endpoint::CustomerList => "customer.list",
            Endpoint::CustomerUpdate => "customer.update",
            Endpoint::SubscriptionRetrieve => "subscription.retrieve",
            Endpoint::SubscriptionList => "subscription.list",
            Endpoint::PaymentMethodRetrieve => "payment_method.retrieve",
            Endpoint::PaymentMethodList => "payment_method.list",
            Endpoint::PaymentMethodAttach => "payment_method.attach",
            Endpoint::PaymentMethodDetach => "payment_method.detach",
            Endpoint::InvoiceRetrieve => "invoice.retrieve",
            Endpoint::InvoiceList => "invoice.list",
        }
    }

    /// Its position in [`Endpoint::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|e| *e == self).unwrap_or(0)
    }

    /// Whether it changes objects (POST).
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            Endpoint::CustomerUpdate | Endpoint::PaymentMethodAttach | Endpoint::PaymentMethodDetach
        )
    }

    /// Whether it answers a list.
    pub const fn is_list(self) -> bool {
        matches!(
            self,
            Endpoint::CustomerList
                | Endpoint::SubscriptionList
                | Endpoint::PaymentMethodList
                | Endpoint::InvoiceList
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`Endpoint`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown endpoint {given:?}: expected one of {}", Endpoint::ALL.map(Endpoint::name).join(", "))]
pub struct EndpointParseError {
    /// What was given.
    pub given: String,
}

impl FromStr for Endpoint {
    type Err = EndpointParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| EndpointParseError { given: s.to_owned() })
    }
}

/// A request routed to an endpoint, with the id its path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route<'a> {
    pub endpoint: Endpoint,
    /// The `{id}` of the path; empty for top-level lists.
    pub id: &'a str,
}

/// The endpoint `method` and `path` name, if any.
pub(crate) fn route<'a>(method: &Method, path: &'a str) -> Option<Route<'a>> {
    let rest = path.strip_prefix("/v1/")?;
    let mut parts = rest.split('/');
    let (resource, id, action) = (parts.next()?, parts.next(), parts.next());
    if parts.next().is_some() || id == Some("") || action == Some("") {
        return None;
    }
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    let endpoint = match (resource, id.is_some(), action) {
        ("customers", false, None) if get => Endpoint::CustomerList,
        ("customers", true, None) if get => Endpoint::CustomerRetrieve,
        ("customers", true, None) if post => Endpoint::CustomerUpdate,
        ("customers", true, Some("payment_methods")) if get => Endpoint::PaymentMethodList,
        ("subscriptions", false, None) if get => Endpoint::SubscriptionList,
        ("subscriptions", true, None) if get => Endpoint::SubscriptionRetrieve,
        ("payment_methods", true, None) if get => Endpoint::PaymentMethodRetrieve,
        ("payment_methods", true, Some("attach")) if post => Endpoint::PaymentMethodAttach,
        ("payment_methods", true, Some("detach")) if post => Endpoint::PaymentMethodDetach,
        ("invoices", false, None) if get => Endpoint::InvoiceList,
        ("invoices", true, None) if get => Endpoint::InvoiceRetrieve,
        _ => return None,
    };
    Some(Route { endpoint, id: id.unwrap_or("") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_to_their_endpoints() {
        let r = |m: &Method, p| route(m, p).map(|r| (r.endpoint, r.id));
        assert_eq!(r(&Method::GET, "/v1/customers/cus_1"), Some((Endpoint::CustomerRetrieve, "cus_1")));
        assert_eq!(r(&Method::POST, "/v1/customers/cus_1"), Some((Endpoint::CustomerUpdate, "cus_1")));
        assert_eq!(r(&Method::GET, "/v1/customers"), Some((Endpoint::CustomerList, "")));
        assert_eq!(
            r(&Method::GET, "/v1/customers/cus_1/payment_methods"),
            Some((Endpoint::PaymentMethodList, "cus_1"))
        );
        assert_eq!(
            r(&Method::POST, "/v1/payment_methods/pm_1/detach"),
            Some((Endpoint::PaymentMethodDetach, "pm_1"))
        );
        assert_eq!(r(&Method::GET, "/v1/customers/"), None);
        assert_eq!(r(&Method::DELETE, "/v1/customers/cus_1"), None);
        assert_eq!(r(&Method::GET, "/v1/charges/ch_1"), None);
        assert_eq!(r(&Method::GET, "/v1/invoices/in_1/lines/x"), None);
        for e in Endpoint::ALL {
            assert_eq!(e.name().parse::<Endpoint>().unwrap(), e);
            assert_eq!(Endpoint::ALL[e.index()], e);
        }
    }
}
