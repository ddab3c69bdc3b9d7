//! The capacity rules: how item sizes, bytes and durations become billed units
//! (DynamoDB read/write units, ECPU, Lambda billed milliseconds and GB-seconds).
//!
//! Rules from `shared/facts/aws-pricing.md`; these are AWS's metering
//! definitions, not prices, so they are constants rather than pricing figures.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::usage::ItemWrite;

/// Bytes in the "GB" AWS bills storage, memory and transfer in (2^30).
pub const BYTES_PER_GIB: f64 = 1_073_741_824.0;
/// Bytes per DynamoDB read unit step (4 KB).
pub const READ_UNIT_BYTES: u64 = 4096;
/// Bytes per DynamoDB write unit step (1 KB).
pub const WRITE_UNIT_BYTES: u64 = 1024;
/// Bytes transferred per ECPU of a simple ElastiCache Serverless command (1 KB).
pub const ECPU_BYTES: f64 = 1024.0;
/// Seconds per hour.
pub const SECONDS_PER_HOUR: f64 = 3600.0;

/// How a DynamoDB read is consistent; sets the read-unit multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Eventually consistent: 0.5 unit per 4 KB. DynamoDB's default and the only
    /// mode a GSI query allows.
    Eventual,
    /// Strongly consistent: 1 unit per 4 KB.
    Strong,
    /// Inside a transaction: 2 units per 4 KB.
    Transactional,
}

impl Consistency {
    /// Read units per started 4 KB: 0.5, 1 or 2.
    pub fn read_unit_factor(self) -> f64 {
        match self {
            Self::Eventual => 0.5,
            Self::Strong => 1.0,
            Self::Transactional => 2.0,
        }
    }
}

/// Whether a DynamoDB write is part of a transaction (which doubles its units).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// PutItem / UpdateItem / DeleteItem / BatchWriteItem. The default.
    #[default]
    Standard,
    /// TransactWriteItems: 2 units per started 1 KB.
    Transactional,
}

/// Read units of one GetItem returning `size_bytes`: ceil(size / 4 KB) x 0.5 |
/// 1 | 2. A miss (0 bytes) still costs one 4 KB step.
pub fn read_units(size_bytes: u64, consistency: Consistency) -> f64 {
    size_bytes.div_ceil(READ_UNIT_BYTES).max(1) as f64 * consistency.read_unit_factor()
}

/// Read units of one Query (or Scan page): the item sizes are summed, then
/// rounded up to 4 KB once.
pub fn query_read_units(item_sizes_bytes: impl IntoIterator<Item = u64>, consistency: Consistency) -> f64 {
    read_units(item_sizes_bytes.into_iter().sum(), consistency)
}

/// Write units of one write: ceil(item size / 1 KB) (x2 transactional), plus
/// for each GSI the item is projected into ceil(projected size / 1 KB), doubled
/// when an indexed key attribute changed (the index deletes and puts).
pub fn write_units(write: &ItemWrite) -> f64 {
    let steps = |bytes: u64| bytes.div_ceil(WRITE_UNIT_BYTES).max(1) as f64;
    let base = steps(write.item_bytes)
        * match write.mode {
            WriteMode::Standard => 1.0,
            WriteMode::Transactional => 2.0,
        };
    let gsi: f64 =
        write.gsi.iter().map(|g| steps(g.projected_bytes) * if g.key_changed { 2.0 } else { 1.0 }).sum();
    base + gsi
}

/// ECPU of one simple ElastiCache Serverless command moving `transferred_bytes`:
/// 1 per KB, at least 1 (a 3.2 KB GET = 3.2 ECPU).
pub fn ecpu(transferred_bytes: u64) -> f64 {
    (transferred_bytes as f64 / ECPU_BYTES).max(1.0)
}

/// Lambda billed duration of one invocation (or INIT): rounded up to the next
/// 1 ms, at least 1 ms.
pub fn billed_ms(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    nanos.div_ceil(1_000_000).max(1) as u64
}

/// GB-seconds of `billed_ms` at `memory_mb` (1024 MB = 1 GB).
pub fn gb_seconds(memory_mb: u32, billed_ms: u64) -> f64 {
    f64::from(memory_mb) / 1024.0 * billed_ms as f64 / 1000.0
}

/// Units in a billing month at a sustained `rate_per_s` (1/s x 730 h = 2.628M).
pub fn units_per_month(rate_per_s: f64, hours_per_month: f64) -> f64 {
    rate_per_s * SECONDS_PER_HOUR * hours_per_month
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::usage::GsiWrite;

    #[test]
    fn get_item_read_units_round_up_to_4kb_then_scale_by_consistency() {
        // 5 KB eventually consistent: ceil(5/4) = 2 steps x 0.5 = 1 unit
        assert_eq!(read_units(5 * 1024, Consistency::Eventual), 1.0);
        // the same item strongly consistent: 2 x 1 = 2; transactional: 2 x 2 = 4
        assert_eq!(read_units(5 * 1024, Consistency::Strong), 2.0);
        assert_eq!(read_units(5 * 1024, Consistency::Transactional), 4.0);
        // exactly 4 KB is one step, one byte more is two
        assert_eq!(read_units(4096, Consistency::Strong), 1.0);
        assert_eq!(read_units(4097, Consistency::Strong), 2.0);
        // a miss still costs one step: 0.5 eventually consistent
        assert_eq!(read_units(0, Consistency::Eventual), 0.5);
    }

    #[test]
    fn query_sums_sizes_before_rounding_once() {
        // three 1.5 KB items = 4.5 KB -> ceil(4.5/4) = 2 steps x 0.5 = 1 unit,
        // where three separate GetItems would cost 3 x 0.5 = 1.5
        let sizes = [1536, 1536, 1536];
        assert_eq!(query_read_units(sizes, Consistency::Eventual), 1.0);
        let separate: f64 = sizes.iter().map(|&s| read_units(s, Consistency::Eventual)).sum();
        assert_eq!(separate, 1.5);
    }

    fn write(item_bytes: u64, mode: WriteMode, gsi: Vec<GsiWrite>) -> ItemWrite {
        ItemWrite { item_bytes, mode, gsi }
    }

    #[test]
    fn write_units_per_started_kb_doubled_when_transactional() {
        // 2.5 KB -> ceil(2.5) = 3 units; transactional 6
        assert_eq!(write_units(&write(2560, WriteMode::Standard, vec![])), 3.0);
        assert_eq!(write_units(&write(2560, WriteMode::Transactional, vec![])), 6.0);
        assert_eq!(write_units(&write(1024, WriteMode::Standard, vec![])), 1.0);
    }

    #[test]
    fn gsi_writes_are_added_and_doubled_when_the_key_changes() {
        let unchanged = GsiWrite { projected_bytes: 600, key_changed: false };
        let changed = GsiWrite { projected_bytes: 600, key_changed: true };
        // 2.5 KB base = 3, plus a 600 B projection = 1 -> 4
        assert_eq!(write_units(&write(2560, WriteMode::Standard, vec![unchanged.clone()])), 4.0);
        // the GSI key changed: delete + put = 2 GSI writes -> 3 + 2 = 5
        assert_eq!(write_units(&write(2560, WriteMode::Standard, vec![changed.clone()])), 5.0);
        // two GSIs, a 2.5 KB projection with a changed key (3 x 2) and 600 B unchanged (1)
        let big_changed = GsiWrite { projected_bytes: 2560, key_changed: true };
        assert_eq!(
            write_units(&write(2560, WriteMode::Standard, vec![big_changed, unchanged])),
            3.0 + 6.0 + 1.0
        );
        // transactions double the table write only
        assert_eq!(write_units(&write(2560, WriteMode::Transactional, vec![changed])), 6.0 + 2.0);
    }

    #[test]
    fn ecpu_is_kilobytes_transferred_with_a_floor_of_one() {
        // a 3.2 KB GET = 3.2 ECPU (3.2 x 1024 = 3276.8 B)
        assert!((ecpu(3277) - 3.2).abs() < 0.001);
        assert_eq!(ecpu(2048), 2.0);
        assert_eq!(ecpu(100), 1.0);
        assert_eq!(ecpu(0), 1.0);
    }

    #[test]
    fn lambda_bills_each_started_millisecond() {
        assert_eq!(billed_ms(Duration::from_millis(120)), 120);
        assert_eq!(billed_ms(Duration::from_micros(120_001)), 121);
        assert_eq!(billed_ms(Duration::from_micros(10)), 1);
        assert_eq!(billed_ms(Duration::ZERO), 1);
        // 120 ms at 1024 MB = 0.12 GB-s; at 512 MB = 0.06
        assert_eq!(gb_seconds(1024, 120), 0.12);
        assert_eq!(gb_seconds(512, 120), 0.06);
    }

    #[test]
    fn one_unit_per_second_is_2_628_million_a_month() {
        assert_eq!(units_per_month(1.0, 730.0), 2_628_000.0);
        assert_eq!(units_per_month(10.0, 730.0), 26_280_000.0);
    }
}
