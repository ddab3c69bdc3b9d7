//! `expand[]`: replaces object ids in a response with the objects they name
//! (`customer`, `default_payment_method`, `invoice_settings.default_payment_method`,
//! `latest_invoice`, `subscription`; nested with dots up to 4 levels; on lists
//! under `data.`), and reports the newest version pulled in.

use serde_json::Value;

use super::error::ApiError;
use super::state::{Account, Resource, Track};
use crate::clock::Timestamp;

/// The newest version (and change time) among the objects an answer contains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Freshness {
    pub version: u64,
    pub changed_at: Timestamp,
}

impl Freshness {
    pub fn of(track: &Track) -> Self {
        Freshness { version: track.version, changed_at: track.changed_at }
    }

    pub fn merge(&mut self, other: Freshness) {
        self.version = self.version.max(other.version);
        self.changed_at = self.changed_at.max(other.changed_at);
    }
}

/// Stripe allows at most this many levels in one expand path.
const MAX_DEPTH: usize = 4;

fn resource_of(field: &str) -> Option<Resource> {
    match field {
        "customer" => Some(Resource::Customer),
        "default_payment_method" => Some(Resource::PaymentMethod),
        "latest_invoice" | "invoice" => Some(Resource::Invoice),
        "subscription" => Some(Resource::Subscription),
        _ => None,
    }
}

fn cannot(path: &str) -> ApiError {
    ApiError::bad_param(&format!("This property cannot be expanded ({path})."), "expand")
}

/// Checks `paths` for a list answer and strips their `data.` prefix.
///
/// # Errors
/// 400 for a path that does not start with `data.`.
pub(crate) fn list_paths<'a>(paths: &[&'a str]) -> Result<Vec<&'a str>, ApiError> {
    paths
        .iter()
        .map(|p| {
            p.strip_prefix("data.").ok_or_else(|| {
                ApiError::bad_param(
                    &format!("This property cannot be expanded ({p}). You may want to try expanding 'data.{p}' instead."),
                    "expand",
                )
            })
        })
        .collect()
}

/// Expands `paths` in `value`, an object of `account`; merges what it pulls in
/// into `fresh`.
///
/// # Errors
/// 400 for a path deeper than 4 levels or through a field that cannot be expanded.
pub(crate) fn expand(
    account: &Account,
    value: &mut Value,
    paths: &[&str],
    fresh: &mut Freshness,
) -> Result<(), ApiError> {
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        if segments.len() > MAX_DEPTH {
            return Err(ApiError::bad_param(
                &format!("You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}"),
                "expand",
            ));
        }
        walk(account, value, &segments, path, fresh)?;
    }
    Ok(())
}

fn walk(
    account: &Account,
    value: &mut Value,
    segments: &[&str],
    path: &str,
    fresh: &mut Freshness,
) -> Result<(), ApiError> {
    let Some((field, rest)) = segments.split_first() else { return Ok(()) };
    let slot = value.as_object_mut().and_then(|o| o.get_mut(*field)).ok_or_else(|| cannot(path))?;
    let resource = resource_of(field);
    match slot {
        Value::Null => return Ok(()),
        Value::String(id) => {
            let kind = resource.ok_or_else(|| cannot(path))?;
            if let Some(obj) = account.object(kind, id) {
                fresh.merge(Freshness::of(&obj.track));
                *slot = obj.value();
            }
        }
        Value::Object(_) if rest.is_empty() && resource.is_none() => return Err(cannot(path)),
        Value::Object(_) => {}
        _ => return Err(cannot(path)),
    }
    if rest.is_empty() { Ok(()) } else { walk(account, slot, rest, path, fresh) }
}
