//! The cache key of a piece of Stripe data: what it is, under which connected
//! account, in which API version and with which expansions.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::ObjectKind;

/// Identifies one cache entry. Two keys that differ in account, API version or
/// expand set never share an entry, in either tier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CacheKey {
    /// What kind of data.
    pub kind: ObjectKind,
    /// The object's id: the customer's (`cus_...`) for customer-scoped kinds,
    /// the invoice's (`in_...`) for invoices. Prefixes are not validated: Stripe
    /// may change id formats.
    pub id: String,
    /// The connected account (`acct_...`) the data belongs to; `None` for the
    /// platform account.
    pub account: Option<String>,
    /// The API version when it is part of the key (when a deployment serves more
    /// than one); `None` keys the entry independently of it.
    pub api_version: Option<String>,
    /// `expand[]` paths, sorted and without duplicates.
    pub expand: Vec<String>,
}

/// A DynamoDB `pk`/`sk` pair that is not a tierbench cache key.
#[derive(Debug, thiserror::Error)]
#[error("not a tierbench cache key: pk={pk:?} sk={sk:?} ({why})")]
pub struct KeyParseError {
    /// The partition key given.
    pub pk: String,
    /// The sort key given.
    pub sk: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl CacheKey {
    /// The key of `kind` data for object `id` on the platform account, with no
    /// API version and no expansions.
    pub fn new(kind: ObjectKind, id: impl Into<String>) -> Self {
        CacheKey { kind, id: id.into(), account: None, api_version: None, expand: Vec::new() }
    }

    /// This key scoped to connected account `account`.
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// This key for API version `version`.
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }

    /// This key with `expand[]` paths (order and duplicates do not matter).
    pub fn with_expand<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.expand.extend(paths.into_iter().map(Into::into));
        self.expand.sort();
        self.expand.dedup();
        self
    }

    /// The key of the object itself: this one without an API version or
    /// expansions. Invalidating it invalidates every variant.
    pub fn object(&self) -> CacheKey {
        CacheKey { api_version: None, expand: Vec::new(), ..self.clone() }
    }

    /// Whether this key is a variant of its object (an API version or an
    /// expand set).
    pub fn is_variant(&self) -> bool {
        self.api_version.is_some() || !self.expand.is_empty()
    }

    /// The Redis key under `prefix`:
    /// `{prefix}:{account|platform}:{kind}:{id}[:v={api}][:x={expand,...}]`.
    pub fn redis_key(&self, prefix: &str) -> String {
        let mut s = String::with_capacity(prefix.len() + self.id.len() + 40);
        let account = self.account.as_deref().unwrap_or("platform");
        for part in [prefix, ":", account, ":", self.kind.name(), ":", &self.id] {
            s.push_str(part);
        }
        if let Some(v) = &self.api_version {
            let _ = write!(s, ":v={v}");
        }
        if !self.expand.is_empty() {
            let _ = write!(s, ":x={}", self.expand.join(","));
        }
        s
    }

    /// The DynamoDB partition key: `CUSTOMER#cus_123` on the platform account (the
    /// seed's layout), `ACCT#acct_1#CUSTOMER#cus_123` for a connected account.
    pub fn pk(&self) -> String {
        match &self.account {
            None => format!("{}#{}", self.kind.pk_entity(), self.id),
            Some(a) => format!("ACCT#{a}#{}#{}", self.kind.pk_entity(), self.id),
        }
    }

    /// The DynamoDB sort key: `METADATA#latest` (or `SUBSCRIPTIONS#latest`, ...),
    /// followed by `#API#{version}` and `#EXPAND#{paths}` when those are set.
    pub fn sk(&self) -> String {
        let mut s = format!("{}#latest", self.kind.sk_section());
        if let Some(v) = &self.api_version {
            let _ = write!(s, "#API#{v}");
        }
        if !self.expand.is_empty() {
            let _ = write!(s, "#EXPAND#{}", self.expand.join(","));
        }
        s
    }

    /// The key that `pk` and `sk` (as written by [`CacheKey::pk`] and
    /// [`CacheKey::sk`]) denote.
    ///
    /// # Errors
    /// When either is not in tierbench's layout.
    pub fn from_dynamo(pk: &str, sk: &str) -> Result<CacheKey, KeyParseError> {
        let err = |why| KeyParseError { pk: pk.to_owned(), sk: sk.to_owned(), why };
        let (account, rest) = match pk.strip_prefix("ACCT#") {
            Some(r) => {
                let (a, rest) = r.split_once('#').ok_or_else(|| err("no entity after account"))?;
                (Some(a.to_owned()), rest)
            }
            None => (None, pk),
        };
        let (entity, id) = rest.split_once('#').ok_or_else(|| err("pk has no ENTITY#id"))?;
        let mut parts = sk.split('#');
        let section = parts.next().unwrap_or_default();
        if parts.next() != Some("latest") {
            return Err(err("sk does not continue with #latest"));
        }
        let kind = ObjectKind::from_key_parts(entity, section).ok_or_else(|| err("unknown kind"))?;
        let mut key = CacheKey::new(kind, id);
        key.account = account;
        while let Some(tag) = parts.next() {
            let value = parts.next().ok_or_else(|| err("sk tag without value"))?;
            match tag {
                "API" => key.api_version = Some(value.to_owned()),
                "EXPAND" => key.expand = value.split(',').map(str::to_owned).collect(),
                _ => return Err(err("unknown sk tag")),
            }
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_keys_follow_the_seed_layout() {
        let k = CacheKey::new(ObjectKind::Customer, "cus_123");
        assert_eq!(k.pk(), "CUSTOMER#cus_123");
        assert_eq!(k.sk(), "METADATA#latest");
        assert_eq!(CacheKey::new(ObjectKind::Subscriptions, "cus_1").sk(), "SUBSCRIPTIONS#latest");
        assert_eq!(CacheKey::new(ObjectKind::PaymentMethods, "cus_1").sk(), "PAYMENT_METHODS#latest");
        assert_eq!(k.redis_key("tb"), "tb:platform:customer:cus_123");
    }

    #[test]
    fn account_version_and_expand_separate_entries() {
        let base = CacheKey::new(ObjectKind::Invoice, "in_1");
        let a = base.clone().with_account("acct_A");
        let b = base.clone().with_account("acct_B");
        let v = base.clone().with_api_version("2025-03-31.basil");
        let x = base.clone().with_expand(["customer", "customer"]);
        let keys = [&base, &a, &b, &v, &x];
        for (i, p) in keys.iter().enumerate() {
            for q in &keys[i + 1..] {
                assert_ne!(p.redis_key("tb"), q.redis_key("tb"));
                assert_ne!((p.pk(), p.sk()), (q.pk(), q.sk()));
            }
        }
        assert_eq!(x.expand, vec!["customer".to_owned()]);
    }

    #[test]
    fn dynamo_keys_round_trip() {
        let k = CacheKey::new(ObjectKind::PaymentMethods, "cus_9")
            .with_account("acct_1")
            .with_api_version("2026-07-29.dahlia")
            .with_expand(["data.customer", "data.billing_details"]);
        assert_eq!(CacheKey::from_dynamo(&k.pk(), &k.sk()).unwrap(), k);
        let plain = CacheKey::new(ObjectKind::Customer, "cus_1");
        assert_eq!(CacheKey::from_dynamo(&plain.pk(), &plain.sk()).unwrap(), plain);
        assert!(CacheKey::from_dynamo("ORDER#1", "METADATA#latest").is_err());
        assert!(CacheKey::from_dynamo("CUSTOMER#1", "METADATA#v1").is_err());
    }
}
