//! One sourced figure of the pricing table, how a user's override replaces it,
//! and the macro that declares a group of figures with its override mirror.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::error::CostError;

/// One number of the pricing table with where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// The number, in `unit`.
    pub value: f64,
    /// What the number measures, e.g. `USD per 1M read request units`. Fixed
    /// per key: an override may repeat it but not change it.
    pub unit: String,
    /// Where the number comes from (a page, a document, or the override file
    /// that set it).
    pub source: String,
    /// When it was true: a date (`2024-11-01`), a month, or the source's phrase.
    pub as_of: String,
    /// True when the figure was only found second-hand (`~` in the facts sheet).
    /// By default false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub second_hand: bool,
    /// Why this value was picked where the source gives a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A user's replacement for one figure: a bare number (`key = 0.1`) or a table
/// `{ value, unit?, source?, as_of?, second_hand?, note? }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FigureOverride {
    value: f64,
    unit: Option<String>,
    source: Option<String>,
    as_of: Option<String>,
    second_hand: Option<bool>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FigureOverrideTable {
    value: f64,
    unit: Option<String>,
    source: Option<String>,
    as_of: Option<String>,
    second_hand: Option<bool>,
    note: Option<String>,
}

impl FigureOverride {
    fn bare(value: f64) -> Self {
        Self { value, unit: None, source: None, as_of: None, second_hand: None, note: None }
    }

    /// The figure that replaces `default` at `key`: the new value, the
    /// override's source and date (or a statement that it gave none), the
    /// default's unit.
    ///
    /// # Errors
    /// [`CostError::Invalid`] when the override states a different unit.
    pub(crate) fn apply(self, default: &Figure, origin: &str, key: &str) -> Result<Figure, CostError> {
        self.into_figure(&default.unit, origin, key)
    }

    /// A new figure in `unit` (for a key with no default, such as a node type
    /// the override adds).
    ///
    /// # Errors
    /// [`CostError::Invalid`] when the override states a different unit.
    pub(crate) fn into_figure(self, unit: &str, origin: &str, key: &str) -> Result<Figure, CostError> {
        if let Some(given) = &self.unit
            && given != unit
        {
            return Err(CostError::Invalid {
                origin: origin.to_owned(),
                line: None,
                key: format!("{key}.unit"),
                value: format!("{given:?}"),
                why: format!("the unit of this figure is fixed at {unit:?}; convert the value instead"),
            });
        }
        Ok(Figure {
            value: self.value,
            unit: unit.to_owned(),
            source: self.source.unwrap_or_else(|| format!("override in {origin}")),
            as_of: self.as_of.unwrap_or_else(|| "not stated in the override".to_owned()),
            second_hand: self.second_hand.unwrap_or(false),
            note: self.note,
        })
    }
}

impl<'de> Deserialize<'de> for FigureOverride {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OverrideVisitor;

        impl<'de> Visitor<'de> for OverrideVisitor {
            type Value = FigureOverride;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a number, or a table with `value` and optional `unit`, `source`, `as_of`, `note`",
                )
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(FigureOverride::bare(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(FigureOverride::bare(v as f64))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(FigureOverride::bare(v as f64))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let t = FigureOverrideTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(FigureOverride {
                    value: t.value,
                    unit: t.unit,
                    source: t.source,
                    as_of: t.as_of,
                    second_hand: t.second_hand,
                    note: t.note,
                })
            }
        }

        deserializer.deserialize_any(OverrideVisitor)
    }
}

/// Declares a group of figures (`[section]` of the pricing file) as a strict
/// struct of [`Figure`]s, its all-optional override mirror, `figures()` listing
/// every figure with its key, and `apply()` merging an override over it.
macro_rules! figure_group {
    (
        $(#[$meta:meta])*
        pub struct $name:ident / $over:ident {
            $( $(#[$fmeta:meta])* $field:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $crate::cost::figure::Figure, )*
        }

        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $over {
            $( #[serde(default)] pub(crate) $field: Option<$crate::cost::figure::FigureOverride>, )*
        }

        impl $name {
            /// Every figure of this group with its key, in declaration order.
            pub fn figures(&self) -> Vec<(&'static str, &$crate::cost::figure::Figure)> {
                vec![$( (stringify!($field), &self.$field) ),*]
            }

            pub(crate) fn apply(
                &mut self,
                over: $over,
                origin: &str,
                section: &str,
            ) -> Result<(), $crate::cost::error::CostError> {
                $(
                    if let Some(o) = over.$field {
                        let key = format!("{section}.{}", stringify!($field));
                        self.$field = o.apply(&self.$field, origin, &key)?;
                    }
                )*
                Ok(())
            }
        }
    };
}

pub(crate) use figure_group;
