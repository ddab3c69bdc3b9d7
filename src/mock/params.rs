//! Request parameters as Stripe reads them: form-encoded pairs from the query
//! (GET) or body (POST), with `expand[]` / `expand[0]` arrays and `metadata[key]`
//! hashes; unknown parameters are refused; list paging is validated.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::error::ApiError;

/// A request's parameters, in order, with array indices normalized
/// (`expand[0]` becomes `expand[]`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

/// `limit`, `starting_after`, `ending_before` of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paging {
    pub limit: usize,
    pub cursor: Cursor,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// The newest objects.
    First,
    /// Objects older than this id.
    After(String),
    /// Objects newer than this id.
    Before(String),
}

/// Parameters every list endpoint takes.
pub(crate) const LIST_PARAMS: &[&str] = &["limit", "starting_after", "ending_before", "expand"];

fn normalize(key: String) -> String {
    // `expand[3]` -> `expand[]`: Stripe accepts both array notations.
    if let Some(open) = key.find('[')
        && key.ends_with(']')
        && key[open + 1..key.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && key.len() > open + 2
    {
        return format!("{}[]", &key[..open]);
    }
    key
}

impl Params {
    /// The parameters of `query` and then `body` (both form-encoded).
    pub fn parse(query: Option<&str>, body: &[u8]) -> Self {
        let mut pairs = Vec::new();
        for source in [query.unwrap_or_default().as_bytes(), body] {
            if source.is_empty() {
                continue;
            }
            pairs.extend(
                form_urlencoded::parse(source).map(|(k, v)| (normalize(k.into_owned()), v.into_owned())),
            );
        }
        Params { pairs }
    }

    /// The top-level name of a key (`metadata[a]` -> `metadata`).
    fn base(key: &str) -> &str {
        key.split('[').next().unwrap_or(key)
    }

    /// Refuses any parameter whose top-level name is not in `allowed`.
    ///
    /// # Errors
    /// 400 "Received unknown parameter" naming the first one.
    pub fn allow(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.pairs.iter().find(|(k, _)| !allowed.contains(&Self::base(k))) {
            Some((k, _)) => Err(ApiError::unknown_param(k)),
            None => Ok(()),
        }
    }

    /// The last value of scalar `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The `[key]` entries of hash `name` (`metadata[key]=value`).
    pub fn hash(&self, name: &str) -> Vec<(&str, &str)> {
        self.pairs
            .iter()
            .filter_map(|(k, v)| {
                let inner = k.strip_prefix(name)?.strip_prefix('[')?.strip_suffix(']')?;
                Some((inner, v.as_str()))
            })
            .collect()
    }

    /// The `expand[]` paths, deduplicated, in order.
    pub fn expand(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (k, v) in &self.pairs {
            if (k == "expand[]" || k == "expand") && !out.contains(&v.as_str()) {
                out.push(v);
            }
        }
        out
    }

    /// Only the `expand[]` parameters (for answering a write with the object it changed).
    pub fn expand_only(&self) -> Params {
        Params {
            pairs: self.pairs.iter().filter(|(k, _)| k == "expand[]" || k == "expand").cloned().collect(),
        }
    }

    /// The paging of a list request.
    ///
    /// # Errors
    /// 400 for a `limit` outside 1..=100 or not an integer, and for
    /// `starting_after` together with `ending_before`.
    pub fn paging(&self) -> Result<Paging, ApiError> {
        let limit = match self.get("limit") {
            None => 10,
            Some(s) => {
                let n: i64 = s.parse().map_err(|_| {
                    ApiError::invalid(
                        axum::http::StatusCode::BAD_REQUEST,
                        &format!("Invalid integer: {s}"),
                        Some("parameter_invalid_integer"),
                        Some("limit"),
                    )
                })?;
                if n < 1 {
                    return Err(ApiError::bad_param(
                        "This value must be greater than or equal to 1.",
                        "limit",
                    ));
                }
                if n > 100 {
                    return Err(ApiError::bad_param(
                        "This value must be less than or equal to 100.",
                        "limit",
                    ));
                }
                n as usize
            }
        };
        let after = self.get("starting_after").filter(|s| !s.is_empty());
        let before = self.get("ending_before").filter(|s| !s.is_empty());
        let cursor = match (after, before) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_param(
                    "You may only specify one of these parameters: ending_before, starting_after.",
                    "ending_before",
                ));
            }
            (Some(a), None) => Cursor::After(a.to_owned()),
            (None, Some(b)) => Cursor::Before(b.to_owned()),
            (None, None) => Cursor::First,
        };
        Ok(Paging { limit, cursor })
    }

    /// A digest of the parameters, independent of their order: what an
    /// `Idempotency-Key` is bound to.
    pub fn fingerprint(&self) -> u64 {
        let mut sorted: Vec<&(String, String)> = self.pairs.iter().collect();
        sorted.sort();
        let mut h = DefaultHasher::new();
        sorted.hash(&mut h);
        h.finish()
    }
}

/// The page of `ids` (newest first) that `paging` asks for, and whether more
/// lie beyond it in the paging direction.
///
/// # Errors
/// 400 `resource_missing` when the cursor is not in the list (`what` names the
/// object kind).
pub(crate) fn page<'a, T>(
    ids: &'a [T],
    paging: &Paging,
    what: &str,
    id_of: impl Fn(&T) -> &str,
) -> Result<(&'a [T], bool), ApiError> {
    let find = |id: &str, param: &str| {
        ids.iter().position(|x| id_of(x) == id).ok_or_else(|| ApiError::missing_param_object(what, id, param))
    };
    Ok(match &paging.cursor {
        Cursor::First => {
            let end = paging.limit.min(ids.len());
            (&ids[..end], ids.len() > end)
        }
        Cursor::After(id) => {
            let start = find(id, "starting_after")? + 1;
            let end = (start + paging.limit).min(ids.len());
            (&ids[start..end], ids.len() > end)
        }
        Cursor::Before(id) => {
            let end = find(id, "ending_before")?;
            let start = end.saturating_sub(paging.limit);
            (&ids[start..end], start > 0)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_hashes_and_unknown_params() {
        let p = Params::parse(
            Some("expand%5B0%5D=customer&expand[]=customer&expand[1]=latest_invoice&limit=3"),
            b"metadata[plan]=gold&email=a%40b.c",
        );
        assert_eq!(p.expand(), vec!["customer", "latest_invoice"]);
        assert_eq!(p.hash("metadata"), vec![("plan", "gold")]);
        assert_eq!(p.get("email"), Some("a@b.c"));
        assert!(p.allow(&["expand", "limit", "metadata", "email"]).is_ok());
        let e = p.allow(&["expand", "limit"]).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(String::from_utf8_lossy(&e.body).contains("Received unknown parameter: metadata[plan]"));
        let q = Params::parse(Some("limit=3&expand[]=customer&email=a%40b.c&metadata[plan]=gold"), b"");
        let reordered = Params::parse(
            Some("limit=3&expand[]=latest_invoice&expand[]=customer&expand[5]=customer"),
            b"metadata[plan]=gold&email=a%40b.c",
        );
        assert_eq!(p.fingerprint(), reordered.fingerprint());
        assert_ne!(p.fingerprint(), q.fingerprint());
    }

    #[test]
    fn paging_is_validated() {
        let paging = |q: &str| Params::parse(Some(q), b"").paging().map_err(|e| e.status.as_u16());
        assert_eq!(paging("").unwrap(), Paging { limit: 10, cursor: Cursor::First });
        assert_eq!(
            paging("limit=100&ending_before=x").unwrap(),
            Paging { limit: 100, cursor: Cursor::Before("x".into()) }
        );
        assert_eq!(paging("limit=0"), Err(400));
        assert_eq!(paging("limit=101"), Err(400));
        assert_eq!(paging("limit=ten"), Err(400));
        assert_eq!(paging("starting_after=a&ending_before=b"), Err(400));
    }

    #[test]
    fn pages_walk_both_ways_like_stripe() {
        let ids: Vec<String> = (0..7).map(|i| format!("o{i}")).collect(); // newest first
        let p =
            |cursor, limit| page(&ids, &Paging { limit, cursor }, "thing", |s: &String| s.as_str()).unwrap();
        let (items, more) = p(Cursor::First, 3);
        assert_eq!((items, more), (&ids[0..3], true));
        let (items, more) = p(Cursor::After("o2".into()), 3);
        assert_eq!((items, more), (&ids[3..6], true));
        let (items, more) = p(Cursor::After("o5".into()), 3);
        assert_eq!((items, more), (&ids[6..7], false));
        let (items, more) = p(Cursor::Before("o6".into()), 3);
        assert_eq!((items, more), (&ids[3..6], true));
        let (items, more) = p(Cursor::Before("o2".into()), 3);
        assert_eq!((items, more), (&ids[0..2], false));
        let missing =
            page(&ids, &Paging { limit: 3, cursor: Cursor::After("zz".into()) }, "thing", |s: &String| {
                s.as_str()
            });
        assert_eq!(missing.unwrap_err().status.as_u16(), 400);
    }
}
