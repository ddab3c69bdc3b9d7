//! Changes to objects: the POST endpoints (update a customer, attach and detach a
//! payment method) and the mutations the driver and the handle make. Each change
//! bumps versions (object and collection) and yields the event Stripe would send.

use serde_json::{Map, Value, json};

use super::endpoint::{Endpoint, Route};
use super::error::{ApiError, MutationError};
use super::params::Params;
use super::reads::{Answer, answer};
use super::rng::SplitMix;
use super::state::{Obj, Resource, State};
use crate::clock::Timestamp;
use crate::stripe::events::types;
use crate::stripe::{CacheKey, ObjectKind};

/// One change, as its event will describe it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// The connected account, `None` for the platform.
    pub account: Option<String>,
    pub event_type: &'static str,
    /// The object after the change.
    pub object: Value,
    /// The changed fields' former values.
    pub previous: Option<Value>,
}

/// Applies `edit` to `obj` as a new version; `edit` returns the previous
/// attributes, or `None` when it changed nothing (then nothing is bumped).
fn edit(
    obj: &mut Obj,
    version: u64,
    now: Timestamp,
    f: impl FnOnce(&mut Value) -> Option<Value>,
) -> Option<(Value, Value)> {
    let mut value = obj.value();
    let previous = f(&mut value)?;
    obj.replace(&value, version, now);
    Some((value, previous))
}

fn bump_metadata(value: &mut Value, version: u64) -> Value {
    let old = value["metadata"].get("tierbench_revision").cloned().unwrap_or(Value::Null);
    value["metadata"]["tierbench_revision"] = Value::String(version.to_string());
    json!({"metadata": {"tierbench_revision": old}})
}

/// The answer to a POST `route`, and the changes it made.
///
/// # Errors
/// Stripe's 400 and 404 answers.
pub(crate) fn apply(
    state: &mut State,
    account: usize,
    route: Route<'_>,
    params: &Params,
    now: Timestamp,
) -> Result<(Answer, Vec<Change>), ApiError> {
    let changes = match route.endpoint {
        Endpoint::CustomerUpdate => update_customer(state, account, route.id, params, now)?,
        Endpoint::PaymentMethodAttach => attach(state, account, route.id, params, now)?,
        Endpoint::PaymentMethodDetach => {
            params.allow(&["expand"])?;
            detach(state, account, route.id, now)?
        }
        _ => return Err(ApiError::unrecognized_url("POST", "/v1")),
    };
    let read = Route {
        endpoint: if route.endpoint == Endpoint::CustomerUpdate {
            Endpoint::CustomerRetrieve
        } else {
            Endpoint::PaymentMethodRetrieve
        },
        id: route.id,
    };
    let reply = answer(state, account, read, &params.expand_only())?;
    Ok((reply, changes))
}

fn update_customer(
    state: &mut State,
    account: usize,
    id: &str,
    params: &Params,
    now: Timestamp,
) -> Result<Vec<Change>, ApiError> {
    params.allow(&["description", "email", "name", "phone", "metadata", "invoice_settings", "expand"])?;
    let settings = params.hash("invoice_settings");
    if let Some((k, _)) = settings.iter().find(|(k, _)| *k != "default_payment_method") {
        return Err(ApiError::unknown_param(&format!("invoice_settings[{k}]")));
    }
    let v = state.take_version();
    let acc = &mut state.accounts[account];
    let c = acc.customers.get_mut(id).ok_or_else(|| ApiError::missing("customer", id, "id"))?;
    if let Some((_, pm)) = settings.first()
        && !pm.is_empty()
        && !c.payment_methods.iter().any(|p| p == pm)
    {
        return Err(ApiError::bad_param(
            &format!(
                "The customer does not have a payment method with the ID {pm}. The payment method must be attached to the customer."
            ),
            "invoice_settings[default_payment_method]",
        ));
    }
    let account_id = acc.id.clone();
    let edited = edit(&mut c.obj, v, now, |v| {
        let mut prev = Map::new();
        for field in ["description", "email", "name", "phone"] {
            if let Some(new) = params.get(field) {
                let new = if new.is_empty() { Value::Null } else { Value::String(new.to_owned()) };
                if v[field] != new {
                    prev.insert(field.into(), std::mem::replace(&mut v[field], new));
                }
            }
        }
        let mut meta_prev = Map::new();
        for (k, new) in params.hash("metadata") {
            let old = v["metadata"].get(k).cloned().unwrap_or(Value::Null);
            let meta = v["metadata"].as_object_mut()?;
            if new.is_empty() {
                meta.remove(k);
            } else {
                meta.insert(k.to_owned(), Value::String(new.to_owned()));
            }
            if old != v["metadata"].get(k).cloned().unwrap_or(Value::Null) {
                meta_prev.insert(k.to_owned(), old);
            }
        }
        if !meta_prev.is_empty() {
            prev.insert("metadata".into(), Value::Object(meta_prev));
        }
        if let Some((_, pm)) = settings.first() {
            let new = if pm.is_empty() { Value::Null } else { Value::String((*pm).to_owned()) };
            let slot = &mut v["invoice_settings"]["default_payment_method"];
            if *slot != new {
                let old = std::mem::replace(slot, new);
                prev.insert("invoice_settings".into(), json!({"default_payment_method": old}));
            }
        }
        (!prev.is_empty()).then_some(Value::Object(prev))
    });
    Ok(match edited {
        Some((object, previous)) => {
            vec![Change {
                account: account_id,
                event_type: types::CUSTOMER_UPDATED,
                object,
                previous: Some(previous),
            }]
        }
        None => Vec::new(),
    })
}

fn attach(
    state: &mut State,
    account: usize,
    pm_id: &str,
    params: &Params,
    now: Timestamp,
) -> Result<Vec<Change>, ApiError> {
    params.allow(&["customer", "expand"])?;
    let Some(cus) = params.get("customer").filter(|c| !c.is_empty()) else {
        return Err(ApiError::invalid(
            axum::http::StatusCode::BAD_REQUEST,
            "Missing required param: customer.",
            Some("parameter_missing"),
            Some("customer"),
        ));
    };
    let acc = &state.accounts[account];
    let pm = acc
        .payment_methods
        .get(pm_id)
        .ok_or_else(|| ApiError::missing("PaymentMethod", pm_id, "payment_method"))?;
    if !acc.customers.contains_key(cus) {
        return Err(ApiError::missing_param_object("customer", cus, "customer"));
    }
    match pm.customer.as_deref() {
        Some(c) if c == cus => return Ok(Vec::new()),
        Some(_) => {
            return Err(ApiError::bad_param(
                "The payment method you provided has already been attached to a customer.",
                "payment_method",
            ));
        }
        None => {}
    }
    let v = state.take_version();
    let acc = &mut state.accounts[account];
    let pm = acc
        .payment_methods
        .get_mut(pm_id)
        .ok_or_else(|| ApiError::missing("PaymentMethod", pm_id, "payment_method"))?;
    let (object, _) = edit(&mut pm.obj, v, now, |val| {
        val["customer"] = Value::String(cus.to_owned());
        Some(Value::Null)
    })
    .ok_or_else(|| ApiError::server(axum::http::StatusCode::INTERNAL_SERVER_ERROR))?;
    pm.customer = Some(cus.to_owned());
    acc.unattached.retain(|p| p != pm_id);
    let mut list =
        acc.customers.get_mut(cus).map(|c| std::mem::take(&mut c.payment_methods)).unwrap_or_default();
    acc.insert_ordered(&mut list, pm_id, Resource::PaymentMethod);
    if let Some(c) = acc.customers.get_mut(cus) {
        c.payment_methods = list;
        c.payment_methods_track.bump(v, now);
    }
    Ok(vec![Change {
        account: acc.id.clone(),
        event_type: types::PAYMENT_METHOD_ATTACHED,
        object,
        previous: None,
    }])
}

fn detach(state: &mut State, account: usize, pm_id: &str, now: Timestamp) -> Result<Vec<Change>, ApiError> {
    let acc = &state.accounts[account];
    let pm = acc
        .payment_methods
        .get(pm_id)
        .ok_or_else(|| ApiError::missing("PaymentMethod", pm_id, "payment_method"))?;
    let Some(cus) = pm.customer.clone() else {
        return Err(ApiError::bad_param(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            "payment_method",
        ));
    };
    let v = state.take_version();
    let acc = &mut state.accounts[account];
    let account_id = acc.id.clone();
    let pm = acc
        .payment_methods
        .get_mut(pm_id)
        .ok_or_else(|| ApiError::missing("PaymentMethod", pm_id, "payment_method"))?;
    let (object, previous) = edit(&mut pm.obj, v, now, |val| {
        let old = std::mem::replace(&mut val["customer"], Value::Null);
        Some(json!({"customer": old}))
    })
    .ok_or_else(|| ApiError::server(axum::http::StatusCode::INTERNAL_SERVER_ERROR))?;
    pm.customer = None;
    acc.unattached.insert(0, pm_id.to_owned());
    let mut changes = vec![Change {
        account: account_id.clone(),
        event_type: types::PAYMENT_METHOD_DETACHED,
        object,
        previous: Some(previous),
    }];
    if let Some(c) = acc.customers.get_mut(&cus) {
        c.payment_methods.retain(|p| p != pm_id);
        c.payment_methods_track.bump(v, now);
        // Stripe clears a detached default payment method from the customer.
        let cleared = edit(&mut c.obj, v, now, |val| {
            let slot = &mut val["invoice_settings"]["default_payment_method"];
            (slot.as_str() == Some(pm_id))
                .then(|| json!({"invoice_settings": {"default_payment_method": std::mem::take(slot)}}))
        });
        if let Some((object, previous)) = cleared {
            changes.push(Change {
                account: account_id,
                event_type: types::CUSTOMER_UPDATED,
                object,
                previous: Some(previous),
            });
        }
    }
    Ok(changes)
}

/// What a mutation changes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A random object of a random customer in a random account.
    Random,
    /// The data behind a cache key.
    Key(&'a CacheKey),
}

/// Changes one object and returns the events; see [`Target`].
///
/// # Errors
/// When the key names no account, object or collection member.
pub(crate) fn mutate(
    state: &mut State,
    target: Target<'_>,
    rng: &mut SplitMix,
    now: Timestamp,
) -> Result<Vec<Change>, MutationError> {
    let (account, kind, id) = match target {
        Target::Key(key) => {
            let a = state
                .account_of(key.account.as_deref())
                .ok_or_else(|| MutationError::NotFound(format!("account {:?}", key.account)))?;
            (a, key.kind, key.id.clone())
        }
        Target::Random => {
            let a = rng.below(state.accounts.len() as u64) as usize;
            let acc = &state.accounts[a];
            let cus = acc.customer_order[rng.below(acc.customer_order.len() as u64) as usize].clone();
            let kind = match rng.below(100) {
                0..40 => ObjectKind::Customer,
                40..65 => ObjectKind::Subscriptions,
                65..85 => ObjectKind::PaymentMethods,
                _ => ObjectKind::Invoice,
            };
            let c = &acc.customers[&cus];
            match kind {
                ObjectKind::Invoice if !c.invoices.is_empty() => {
                    (a, kind, pick(&c.invoices, rng).unwrap_or_default())
                }
                ObjectKind::Subscriptions if !c.subscriptions.is_empty() => (a, kind, cus),
                ObjectKind::PaymentMethods => (a, kind, cus),
                _ => (a, ObjectKind::Customer, cus),
            }
        }
    };
    let missing = || MutationError::NotFound(format!("{kind} {id}"));
    let v = state.take_version();
    let acc = &mut state.accounts[account];
    let account_id = acc.id.clone();
    let change = |event_type, (object, previous): (Value, Value)| Change {
        account: account_id.clone(),
        event_type,
        object,
        previous: Some(previous),
    };
    match kind {
        ObjectKind::Customer => {
            let c = acc.customers.get_mut(&id).ok_or_else(missing)?;
            let e = edit(&mut c.obj, v, now, |val| Some(bump_metadata(val, v))).ok_or_else(missing)?;
            Ok(vec![change(types::CUSTOMER_UPDATED, e)])
        }
        ObjectKind::Invoice => {
            let i = acc.invoices.get_mut(&id).ok_or_else(missing)?;
            let mut paid = false;
            let e = edit(&mut i.obj, v, now, |val| {
                if val["status"] == "open" {
                    paid = true;
                    let amount = val["amount_due"].clone();
                    val["status"] = "paid".into();
                    val["amount_paid"] = amount.clone();
                    val["amount_remaining"] = 0.into();
                    return Some(json!({"status": "open", "amount_paid": 0, "amount_remaining": amount}));
                }
                Some(bump_metadata(val, v))
            })
            .ok_or_else(missing)?;
            Ok(vec![change(if paid { types::INVOICE_PAID } else { types::INVOICE_UPDATED }, e)])
        }
        ObjectKind::Subscriptions => {
            let c = acc.customers.get(&id).ok_or_else(missing)?;
            let sub_id = pick(&c.subscriptions, rng)
                .ok_or_else(|| MutationError::NotFound(format!("subscriptions of {id}")))?;
            let s = acc.subscriptions.get_mut(&sub_id).ok_or_else(missing)?;
            let e = edit(&mut s.obj, v, now, |val| {
                let item = &mut val["items"]["data"][0];
                let old = item["quantity"].as_u64().unwrap_or(1);
                item["quantity"] = (old % 9 + 1).into();
                let mut prev = bump_metadata(val, v);
                prev["items"] = json!({"data": [{"quantity": old}]});
                Some(prev)
            })
            .ok_or_else(missing)?;
            if let Some(c) = acc.customers.get_mut(&id) {
                c.subscriptions_track.bump(v, now);
            }
            Ok(vec![change(types::SUBSCRIPTION_UPDATED, e)])
        }
        ObjectKind::PaymentMethods => {
            let c = acc.customers.get(&id).ok_or_else(missing)?;
            let toggle = matches!(target, Target::Random) && rng.chance(0.5);
            if toggle || c.payment_methods.is_empty() {
                return toggle_payment_method(state, account, &id, now).map_err(|_| missing());
            }
            let pm_id = pick(&c.payment_methods, rng).ok_or_else(missing)?;
            let pm = acc.payment_methods.get_mut(&pm_id).ok_or_else(missing)?;
            let e = edit(&mut pm.obj, v, now, |val| {
                let old = val["card"]["exp_year"].as_u64().unwrap_or(2030);
                val["card"]["exp_year"] = (2027 + (old - 2026) % 8).into();
                let mut prev = bump_metadata(val, v);
                prev["card"] = json!({"exp_year": old});
                Some(prev)
            })
            .ok_or_else(missing)?;
            if let Some(c) = acc.customers.get_mut(&id) {
                c.payment_methods_track.bump(v, now);
            }
            Ok(vec![change(types::PAYMENT_METHOD_UPDATED, e)])
        }
    }
}

/// Detaches the oldest non-default payment method of a customer with more than
/// one, else attaches an unattached one: membership changes without growth.
fn toggle_payment_method(
    state: &mut State,
    account: usize,
    cus: &str,
    now: Timestamp,
) -> Result<Vec<Change>, ApiError> {
    let acc = &state.accounts[account];
    let c = acc.customers.get(cus).ok_or_else(|| ApiError::missing("customer", cus, "id"))?;
    let default = c.obj.value()["invoice_settings"]["default_payment_method"].as_str().map(str::to_owned);
    if c.payment_methods.len() > 1
        && let Some(pm) =
            c.payment_methods.iter().rev().find(|p| Some(p.as_str()) != default.as_deref()).cloned()
    {
        return detach(state, account, &pm, now);
    }
    let Some(pm) = acc.unattached.last().cloned() else { return Ok(Vec::new()) };
    attach(state, account, &pm, &Params::parse(Some(&format!("customer={cus}")), &[]), now)
}

fn pick(ids: &[String], rng: &mut SplitMix) -> Option<String> {
    (!ids.is_empty()).then(|| ids[rng.below(ids.len() as u64) as usize].clone())
}
