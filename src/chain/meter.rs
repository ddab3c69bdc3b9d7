//! The meter: every tier and origin operation a driver of the read path
//! performs, counted where it performs it, the same way live and simulated.
//! The cost model prices these counts (the harness's `UsageTally::add_meter`
//! turns them into its usage), not the layer that served a request: a
//! coalesced follower costs no fill, a background refresh costs what it did.
//!
//! Operations are kept by kind and by size in whole KiB, the block every price
//! rounds to (DynamoDB write units per 1 KB, read units per 4 KB, ElastiCache
//! Serverless ECPUs per KB), so pricing a cell at its mean size loses nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use super::read_path::WriteResult;
use crate::store::WriteOutcome;

/// Bytes a DynamoDB item carries beyond its `data`: keys, GSI keys, version,
/// times, checksum and attribute names. Estimated by DynamoDB's size rules from
/// tierbench's attribute names (~77 B) and typical values (~170-200 B).
pub const ITEM_OVERHEAD_BYTES: u64 = 250;
/// Bytes of the L1 envelope beyond `data` (version, times, checksum, names):
/// ~190 B counted from the envelope's field names and typical values, rounded up.
pub const ENVELOPE_OVERHEAD_BYTES: u64 = 200;

/// An operation the meter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A Redis GET that found an entry (bytes: the envelope).
    L1Hit,
    /// A Redis GET that found nothing.
    L1Miss,
    /// A versioned write to Redis (a script: fill, promotion, remembered 404).
    L1Write,
    /// A lease script (acquire or release).
    L1Lease,
    /// A Redis DEL of a corrupt entry.
    L1Delete,
    /// A DynamoDB GetItem that found an item (bytes: the item).
    L2Hit,
    /// A DynamoDB GetItem that found nothing.
    L2Miss,
    /// A PutItem of a new item (one `gsi1` write).
    L2PutNew,
    /// A PutItem replacing an item (its `gsi1` key moves: a delete and a put).
    L2PutMoved,
    /// A PutItem its condition refused (the table's write only).
    L2PutRefused,
    /// A Stripe GET that returned an object (bytes: the answer).
    StripeOk,
    /// A Stripe GET that failed (429, 5xx, timeout).
    StripeFailed,
}

impl Op {
    /// Every operation, in index order.
    pub const ALL: [Op; 12] = [
        Op::L1Hit,
        Op::L1Miss,
        Op::L1Write,
        Op::L1Lease,
        Op::L1Delete,
        Op::L2Hit,
        Op::L2Miss,
        Op::L2PutNew,
        Op::L2PutMoved,
        Op::L2PutRefused,
        Op::StripeOk,
        Op::StripeFailed,
    ];
}

const OPS: usize = Op::ALL.len();
/// Size classes: whole KiB 0..=63, and everything larger in the last.
const SIZES: usize = 65;

/// Shared, atomically updated counts (one per chain; its clones share it).
#[derive(Debug)]
pub struct Meter {
    cells: Box<[[AtomicU64; 2]]>,
}

impl Default for Meter {
    fn default() -> Self {
        Meter { cells: (0..OPS * SIZES).map(|_| [AtomicU64::new(0), AtomicU64::new(0)]).collect() }
    }
}

#[inline]
fn cell(op: Op, bytes: u64) -> usize {
    op as usize * SIZES + (bytes.div_ceil(1024) as usize).min(SIZES - 1)
}

impl Meter {
    /// Counts one `op` that moved `bytes`.
    #[inline]
    pub fn add(&self, op: Op, bytes: u64) {
        let c = &self.cells[cell(op, bytes)];
        c[0].fetch_add(1, Ordering::Relaxed);
        c[1].fetch_add(bytes, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> MeterCounts {
        MeterCounts {
            cells: self
                .cells
                .iter()
                .map(|c| [c[0].load(Ordering::Relaxed), c[1].load(Ordering::Relaxed)])
                .collect(),
        }
    }
}

/// A copy of a [`Meter`]; adds up across chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterCounts {
    cells: Vec<[u64; 2]>,
}

impl Default for MeterCounts {
    fn default() -> Self {
        MeterCounts { cells: vec![[0; 2]; OPS * SIZES] }
    }
}

impl MeterCounts {
    /// Counts `n` of `op` moving `bytes` each (the simulator's counts, added
    /// at the end of its run).
    #[inline]
    pub fn add_n(&mut self, op: Op, bytes: u64, n: u64) {
        let c = &mut self.cells[cell(op, bytes)];
        c[0] += n;
        c[1] += bytes * n;
    }

    /// Adds another meter's counts.
    pub fn merge(&mut self, other: &MeterCounts) {
        for (a, b) in self.cells.iter_mut().zip(&other.cells) {
            a[0] += b[0];
            a[1] += b[1];
        }
    }

    /// Each non-empty (op, count, mean bytes) cell.
    pub fn cells(&self) -> impl Iterator<Item = (Op, u64, u64)> + '_ {
        self.cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c[0] > 0)
            .map(|(i, c)| (Op::ALL[i / SIZES], c[0], c[1] / c[0]))
    }

    /// How many `op`s were counted.
    pub fn count(&self, op: Op) -> u64 {
        self.cells().filter(|(o, _, _)| *o == op).map(|(_, n, _)| n).sum()
    }
}

/// The operations a fill's two writes made: the L1 script, and the PutItem
/// (a new item, a replaced one whose index key moves, or refused). A write
/// that failed (the tier was down) is not billed.
#[inline]
pub fn fill_ops(l1: WriteResult, l2: WriteResult, replaces: bool) -> [Option<Op>; 2] {
    let l2 = match l2 {
        Ok(WriteOutcome::Written) if replaces => Some(Op::L2PutMoved),
        Ok(WriteOutcome::Written) => Some(Op::L2PutNew),
        Ok(_) => Some(Op::L2PutRefused),
        Err(()) => None,
    };
    [l1.is_ok().then_some(Op::L1Write), l2]
}

/// The bytes `op` moved for an entry of `data` bytes of Stripe JSON.
#[inline]
pub fn op_bytes(op: Op, data: u64) -> u64 {
    match op {
        Op::L1Hit | Op::L1Write => data + ENVELOPE_OVERHEAD_BYTES,
        Op::L2Hit | Op::L2PutNew | Op::L2PutMoved | Op::L2PutRefused => data + ITEM_OVERHEAD_BYTES,
        Op::StripeOk => data,
        Op::L1Miss | Op::L1Lease | Op::L1Delete | Op::L2Miss | Op::StripeFailed => 0,
    }
}
