//! What a live run used, in the cost model's terms: Lambda invocations and
//! billed time, Redis commands and bytes, DynamoDB reads and writes by size,
//! Stripe calls. Each caller tallies its own; the run adds them up.

use std::time::Duration;

use crate::chain::MeterCounts;
use crate::chain::meter::Op;
use crate::cost::{
    Consistency, DynamoUsage, GsiWrite, ItemWrite, LambdaUsage, RedisCommand, RedisUsage, StripeMode,
    StripeUsage, Usage, WriteMode,
};

pub use crate::chain::meter::{ENVELOPE_OVERHEAD_BYTES, ITEM_OVERHEAD_BYTES};

/// Bytes of one Stripe API request (a GET with its headers). An estimate, not
/// measured: requests are small next to the answers, which are measured.
pub const STRIPE_REQUEST_BYTES: u64 = 400;

/// One caller's usage.
#[derive(Clone, Debug, Default)]
pub struct UsageTally {
    /// Lambda invocations and billed time.
    pub lambda: LambdaUsage,
    /// Redis commands and bytes.
    pub redis: RedisUsage,
    /// DynamoDB reads and writes.
    pub dynamodb: DynamoUsage,
    /// Bytes of the Stripe answers that were served (NAT-processed).
    pub stripe_response_bytes: u64,
}

impl UsageTally {
    /// Counts one request that took `service` (billed Lambda time). What it
    /// made of Redis, DynamoDB and Stripe operations is metered where they
    /// were performed ([`UsageTally::add_meter`]).
    pub fn record_request(&mut self, service: Duration) {
        self.lambda.record_invocation(service);
    }

    /// Adds the operations a chain performed, each cell at its mean size (a
    /// cell holds one size class, so the units billed are exact).
    pub fn add_meter(&mut self, meter: &MeterCounts) {
        for (op, n, bytes) in meter.cells() {
            let redis = |command| crate::cost::RedisOp { command, transferred_bytes: bytes };
            let read = crate::cost::ItemRead { consistency: Consistency::Eventual, size_bytes: bytes };
            let write = |gsi: Vec<GsiWrite>| ItemWrite { item_bytes: bytes, mode: WriteMode::Standard, gsi };
            match op {
                Op::L1Hit | Op::L1Miss => self.redis.ops.record_n(redis(RedisCommand::Get), n),
                Op::L1Write => self.redis.ops.record_n(redis(RedisCommand::Set), n),
                Op::L1Lease => self.redis.ops.record_n(redis(RedisCommand::Other), n),
                Op::L1Delete => self.redis.ops.record_n(redis(RedisCommand::Del), n),
                Op::L2Hit | Op::L2Miss => self.dynamodb.reads.record_n(read, n),
                Op::L2PutNew => self
                    .dynamodb
                    .writes
                    .record_n(write(vec![GsiWrite { projected_bytes: bytes, key_changed: false }]), n),
                Op::L2PutMoved => self
                    .dynamodb
                    .writes
                    .record_n(write(vec![GsiWrite { projected_bytes: bytes, key_changed: true }]), n),
                Op::L2PutRefused => self.dynamodb.writes.record_n(write(Vec::new()), n),
                Op::StripeOk => self.stripe_response_bytes += bytes * n,
                Op::StripeFailed => {}
            }
        }
    }

    /// Counts a cold start whose connections took `init` to open.
    pub fn record_cold_start(&mut self, init: Duration) {
        self.lambda.record_cold_start(init);
    }

    /// Adds another caller's tally.
    pub fn merge(&mut self, o: &UsageTally) {
        self.lambda.invocations += o.lambda.invocations;
        self.lambda.billed_duration_ms_total += o.lambda.billed_duration_ms_total;
        self.lambda.cold_starts += o.lambda.cold_starts;
        self.lambda.init_billed_ms_total += o.lambda.init_billed_ms_total;
        self.redis.ops.merge(&o.redis.ops);
        self.dynamodb.reads.merge(&o.dynamodb.reads);
        self.dynamodb.queries.merge(&o.dynamodb.queries);
        self.dynamodb.writes.merge(&o.dynamodb.writes);
        self.stripe_response_bytes += o.stripe_response_bytes;
    }

    /// Counts `keys` invalidations of objects of about `data_bytes` each: a
    /// Redis DEL (a script deleting the entry, its lease and its variants) and, in
    /// DynamoDB, the UpdateItem that expires the item and leaves its tombstone
    /// (rewriting its `gsi1` projection too: the index projects every
    /// attribute, its keys stay) and the strongly consistent Query that looks
    /// for the object's variants (none found: one 4 KB step).
    pub fn record_invalidations(&mut self, keys: u64, data_bytes: u64) {
        self.redis
            .ops
            .record_n(crate::cost::RedisOp { command: RedisCommand::Del, transferred_bytes: 0 }, keys);
        let item_bytes = data_bytes + ITEM_OVERHEAD_BYTES;
        let write = ItemWrite {
            item_bytes,
            mode: WriteMode::Standard,
            gsi: vec![GsiWrite { projected_bytes: item_bytes, key_changed: false }],
        };
        self.dynamodb.writes.record_n(write, keys);
        let query = crate::cost::ItemRead { consistency: Consistency::Strong, size_bytes: 0 };
        self.dynamodb.queries.record_n(query, keys);
    }

    /// The cost model's input for a run of `run_duration_s` that made
    /// `stripe_calls` (at most `peak_calls_per_s` in one second).
    pub fn into_usage(
        self,
        run_duration_s: f64,
        requests: u64,
        stripe_calls: u64,
        peak_calls_per_s: f64,
        live_mode: bool,
    ) -> Usage {
        Usage {
            run_duration_s,
            requests,
            lambda: self.lambda,
            redis: self.redis,
            dynamodb: self.dynamodb,
            stripe: StripeUsage {
                mode: if live_mode { StripeMode::Live } else { StripeMode::Test },
                calls: stripe_calls,
                peak_calls_per_s: Some(peak_calls_per_s),
                request_bytes: stripe_calls * STRIPE_REQUEST_BYTES,
                response_bytes: self.stripe_response_bytes,
            },
            ..Usage::default()
        }
    }
}
