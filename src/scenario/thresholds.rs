//! `[thresholds]` of a scenario: `metric = "< bound"` (or a list of such
//! conditions), checked at the end of `run`, `sweep` and `sim` and by
//! `check`. Dotted metric names may be quoted (`"hit_ratio.l1" = "> 0.9"`) or
//! written as TOML's nested keys (`hit_ratio.l1 = "> 0.9"`).

use toml::{Spanned, Table, Value};

use super::ScenarioError;
use super::validate::Ctx;
use crate::check::Threshold;

/// The validated thresholds of `raw`, in file order by key.
pub(super) fn thresholds(
    cx: &Ctx<'_>,
    raw: Option<&Spanned<Table>>,
) -> Result<Vec<Threshold>, ScenarioError> {
    let Some(table) = raw else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    flatten(cx, table.span().start, "", table.get_ref(), &mut out)?;
    Ok(out)
}

fn flatten(
    cx: &Ctx<'_>,
    from: usize,
    prefix: &str,
    table: &Table,
    out: &mut Vec<Threshold>,
) -> Result<(), ScenarioError> {
    for (key, value) in table {
        let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        let at = cx.find_key(from, key);
        let full_key = format!("thresholds.{name}");
        let one = |condition: &Value| match condition {
            Value::String(c) => Threshold::condition(&name, c).map_err(|e| cx.err(&at, &full_key, e)),
            other => Err(cx.err(
                &at,
                &full_key,
                format!("a condition is a string such as \"< 40ms\", got {}", other.type_str()),
            )),
        };
        match value {
            Value::Table(inner) => flatten(cx, at.start, &name, inner, out)?,
            Value::Array(conditions) if !conditions.is_empty() => {
                for c in conditions {
                    out.push(one(c)?);
                }
            }
            Value::Array(_) => return Err(cx.err(&at, &full_key, "an empty list of conditions")),
            condition => out.push(one(condition)?),
        }
    }
    Ok(())
}
