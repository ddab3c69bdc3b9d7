//! The GET endpoints: retrieve one object or list a collection (paged, newest
//! first, filtered, expanded), answering the body and its freshness (version).

use axum::body::Bytes;
use axum::http::StatusCode;

use super::endpoint::{Endpoint, Route};
use super::error::ApiError;
use super::expand::{Freshness, expand, list_paths};
use super::params::{LIST_PARAMS, Params, page};
use super::state::{Account, Obj, Resource, State, render_list};
use crate::stripe::objects::to_stripe_json;

/// A rendered answer and the newest version in it.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub body: Bytes,
    pub fresh: Freshness,
}

fn allow_list(params: &Params, extra: &[&str]) -> Result<(), ApiError> {
    let allowed: Vec<&str> = LIST_PARAMS.iter().chain(extra).copied().collect();
    params.allow(&allowed)
}

/// One object, expanded as asked.
fn single(account: &Account, obj: &Obj, params: &Params) -> Result<Answer, ApiError> {
    params.allow(&["expand"])?;
    let mut fresh = Freshness::of(&obj.track);
    let paths = params.expand();
    if paths.is_empty() {
        return Ok(Answer { body: obj.body.clone(), fresh });
    }
    let mut value = obj.value();
    expand(account, &mut value, &paths, &mut fresh)?;
    Ok(Answer { body: Bytes::from(to_stripe_json(&value)), fresh })
}

/// A page of `ids` (objects of `kind`), rendered as a list at `url`.
fn list(
    account: &Account,
    kind: Resource,
    ids: &[&String],
    params: &Params,
    url: &str,
    mut fresh: Freshness,
) -> Result<Answer, ApiError> {
    let paging = params.paging()?;
    let paths = list_paths(&params.expand())?;
    let (items, has_more) = page(ids, &paging, kind.word(), |s| s.as_str())?;
    let mut bodies = Vec::with_capacity(items.len());
    for id in items {
        let Some(obj) = account.object(kind, id) else { continue };
        fresh.merge(Freshness::of(&obj.track));
        if paths.is_empty() {
            bodies.push(obj.body.clone());
        } else {
            let mut value = obj.value();
            expand(account, &mut value, &paths, &mut fresh)?;
            bodies.push(Bytes::from(to_stripe_json(&value)));
        }
    }
    Ok(Answer { body: render_list(url, &bodies, has_more), fresh })
}

/// The customer a list filter names.
fn filter_customer<'a>(
    account: &'a Account,
    params: &Params,
) -> Result<Option<&'a super::state::CustomerRec>, ApiError> {
    match params.get("customer").filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(id) => account
            .customers
            .get(id)
            .map(Some)
            .ok_or_else(|| ApiError::missing_param_object("customer", id, "customer")),
    }
}

/// The answer to a GET `route` on account `account` of `state`.
///
/// # Errors
/// Stripe's 400 (bad parameters) and 404 (no such object) answers.
pub(crate) fn answer(
    state: &State,
    account: usize,
    route: Route<'_>,
    params: &Params,
) -> Result<Answer, ApiError> {
    let acc = &state.accounts[account];
    let id = route.id;
    match route.endpoint {
        Endpoint::CustomerRetrieve => {
            let c = acc.customers.get(id).ok_or_else(|| ApiError::missing("customer", id, "id"))?;
            single(acc, &c.obj, params)
        }
        Endpoint::SubscriptionRetrieve => {
            let s = acc.subscriptions.get(id).ok_or_else(|| ApiError::missing("subscription", id, "id"))?;
            single(acc, &s.obj, params)
        }
        Endpoint::PaymentMethodRetrieve => {
            let p = acc
                .payment_methods
                .get(id)
                .ok_or_else(|| ApiError::missing("PaymentMethod", id, "payment_method"))?;
            single(acc, &p.obj, params)
        }
        Endpoint::InvoiceRetrieve => {
            let i = acc.invoices.get(id).ok_or_else(|| ApiError::missing("invoice", id, "invoice"))?;
            single(acc, &i.obj, params)
        }
        Endpoint::CustomerList => {
            allow_list(params, &["email", "created", "test_clock"])?;
            let email = params.get("email");
            let ids: Vec<&String> = acc
                .customer_order
                .iter()
                .filter(|c| email.is_none_or(|e| acc.customers[*c].obj.value()["email"] == e))
                .collect();
            list(acc, Resource::Customer, &ids, params, "/v1/customers", Freshness::default())
        }
        Endpoint::SubscriptionList => {
            allow_list(
                params,
                &["customer", "status", "price", "created", "collection_method", "test_clock"],
            )?;
            let status = params.get("status").unwrap_or("");
            let known = [
                "",
                "all",
                "active",
                "trialing",
                "past_due",
                "canceled",
                "unpaid",
                "incomplete",
                "incomplete_expired",
                "paused",
                "ended",
            ];
            if !known.contains(&status) {
                return Err(ApiError::invalid(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid status: must be one of {}", known[1..].join(", ")),
                    Some("parameter_invalid_string"),
                    Some("status"),
                ));
            }
            let keep = |s: &str| match status {
                "" => s != "canceled",
                "all" => true,
                "ended" => s == "canceled",
                want => s == want,
            };
            let (source, fresh) = match filter_customer(acc, params)? {
                Some(c) => (&c.subscriptions, Freshness::of(&c.subscriptions_track)),
                None => (&acc.subscription_order, Freshness::default()),
            };
            let ids: Vec<&String> = source.iter().filter(|s| keep(&acc.subscriptions[*s].status)).collect();
            list(acc, Resource::Subscription, &ids, params, "/v1/subscriptions", fresh)
        }
        Endpoint::PaymentMethodList => {
            allow_list(params, &["type", "allow_redisplay"])?;
            let c = acc.customers.get(id).ok_or_else(|| ApiError::missing("customer", id, "customer"))?;
            let ids: Vec<&String> = match params.get("type") {
                None | Some("card") => c.payment_methods.iter().collect(),
                Some(_) => Vec::new(),
            };
            let url = format!("/v1/customers/{id}/payment_methods");
            list(acc, Resource::PaymentMethod, &ids, params, &url, Freshness::of(&c.payment_methods_track))
        }
        Endpoint::InvoiceList => {
            allow_list(
                params,
                &["customer", "status", "subscription", "collection_method", "created", "due_date"],
            )?;
            let status = params.get("status");
            let subscription = params.get("subscription");
            let source = match filter_customer(acc, params)? {
                Some(c) => &c.invoices,
                None => &acc.invoice_order,
            };
            let ids: Vec<&String> = source
                .iter()
                .filter(|i| {
                    let needs_value = status.is_some() || subscription.is_some();
                    if !needs_value {
                        return true;
                    }
                    let v = acc.invoices[*i].obj.value();
                    status.is_none_or(|s| v["status"] == s)
                        && subscription
                            .is_none_or(|s| v["parent"]["subscription_details"]["subscription"] == s)
                })
                .collect();
            list(acc, Resource::Invoice, &ids, params, "/v1/invoices", Freshness::default())
        }
        Endpoint::CustomerUpdate | Endpoint::PaymentMethodAttach | Endpoint::PaymentMethodDetach => {
            Err(ApiError::unrecognized_url("GET", "/v1"))
        }
    }
}
