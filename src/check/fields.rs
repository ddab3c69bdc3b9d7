//! Which dotted paths name a numeric field of a policy in `result.json`,
//! answered from the result's own JSON Schema (so the list never drifts from
//! the types).

use std::sync::OnceLock;

use serde_json::Value;

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(crate::report::result_schema)
}

/// Follows `$ref` and `Option`'s `anyOf [T, null]` to the object schema.
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(target) => node = target,
                None => return node,
            }
        } else if let Some(first) = node
            .get("anyOf")
            .and_then(Value::as_array)
            .and_then(|alts| alts.iter().find(|a| a.get("type") != Some(&Value::from("null"))))
        {
            node = first;
        } else {
            return node;
        }
    }
    node
}

fn is_numeric(node: &Value) -> bool {
    let numeric = |t: &Value| matches!(t.as_str(), Some("number" | "integer"));
    match node.get("type") {
        Some(Value::Array(types)) => types.iter().any(numeric),
        Some(t) => numeric(t),
        None => false,
    }
}

/// Whether `path` (keys from a policy's entry) ends at a number.
pub fn is_numeric_policy_field(path: &[String]) -> bool {
    let root = schema();
    let Some(mut node) = root.pointer("/$defs/PolicyResult") else {
        return false;
    };
    for key in path {
        let object = resolve(root, node);
        node = match object.get("properties").and_then(|p| p.get(key.as_str())) {
            Some(next) => next,
            None => match object.get("additionalProperties") {
                Some(values @ Value::Object(_)) => values,
                _ => return false,
            },
        };
    }
    !path.is_empty() && is_numeric(resolve(root, node))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn numeric_fields_are_found_through_refs_and_options() {
        for ok in
            ["chain.l2_fills", "summary.p99_ms", "cost.dynamodb.cost.per_month_usd", "wall_s", "cold_starts"]
        {
            assert!(is_numeric_policy_field(&path(ok)), "{ok}");
        }
        for bad in ["chain", "name", "summary.nope", "metrics.corrected.l1", "interrupted", ""] {
            assert!(!is_numeric_policy_field(&path(bad)), "{bad}");
        }
    }
}
