//! The CI gate: thresholds on any metric of a result, and regression against
//! a baseline with intervals so noise passes and real regressions fail; its
//! output as a terminal table, Markdown and JUnit XML.

mod compare;
mod fields;
mod gate;
mod metric;
mod render;
mod stats;
mod threshold;

pub use self::compare::{compare_header, compare_markdown, compare_rows, compare_terminal};
pub use self::gate::{
    DEFAULT_METRICS, Row, Status, Tolerances, comparable, completeness, failed_classes, regressions,
    thresholds,
};
pub use self::metric::{Better, Class, Metric, NAMES, Unit};
pub use self::render::{junit, markdown, terminal, verdict};
pub use self::stats::{Estimate, difference, proportion, quantile_ms, rate, significant};
pub use self::threshold::{Op, Threshold};
