//! What a live run used, in the cost model's terms: Lambda invocations and
//! billed time, Redis commands and bytes, DynamoDB reads and writes by size,
//! Stripe calls. Each caller tallies its own; the run adds them up.

use std::time::Duration;

use crate::chain::Layer;
use crate::cost::{
    Consistency, DynamoUsage, GsiWrite, ItemWrite, LambdaUsage, RedisCommand, RedisUsage, StripeMode,
    StripeUsage, Usage, WriteMode,
};

/// Bytes a DynamoDB item carries beyond its `data`: keys, GSI keys, version,
/// times, checksum and attribute names. Estimated by DynamoDB's size rules from
/// tierbench's attribute names (~77 B) and typical values (~170-200 B).
pub const ITEM_OVERHEAD_BYTES: u64 = 250;
/// Bytes of the L1 envelope beyond `data` (version, times, checksum, names):
/// ~190 B counted from the envelope's field names and typical values, rounded up.
pub const ENVELOPE_OVERHEAD_BYTES: u64 = 200;

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
    /// Counts one request that took `service` (billed Lambda time) and was served
    /// by `layer` with `data_bytes` of Stripe JSON (`None`: it failed).
    pub fn record_request(&mut self, service: Duration, served: Option<(Layer, u64)>) {
        self.lambda.record_invocation(service);
        let envelope = |data: u64| data + ENVELOPE_OVERHEAD_BYTES;
        let item = |data: u64| data + ITEM_OVERHEAD_BYTES;
        match served {
            Some((Layer::L1, data)) => self.redis.record(RedisCommand::Get, envelope(data)),
            Some((Layer::L2, data)) => {
                self.redis.record(RedisCommand::Get, 0);
                self.dynamodb.record_read(Consistency::Eventual, item(data));
                self.redis.record(RedisCommand::Set, envelope(data));
            }
            Some((Layer::Origin, data)) => {
                self.stripe_response_bytes += data;
                self.redis.record(RedisCommand::Get, 0);
                self.dynamodb.record_read(Consistency::Eventual, 0);
                self.redis.record(RedisCommand::Set, envelope(data));
                // The refill of an existing item moves its gsi1sk (a GSI delete +
                // put); a first fill does not. Counted as moved: the upper bound.
                self.dynamodb.record_write(ItemWrite {
                    item_bytes: item(data),
                    mode: WriteMode::Standard,
                    gsi: vec![GsiWrite { projected_bytes: item(data), key_changed: true }],
                });
            }
            None => {
                self.redis.record(RedisCommand::Get, 0);
                self.dynamodb.record_read(Consistency::Eventual, 0);
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

    /// Adds another tally `times` over (the simulator's aggregate of `times`
    /// alike requests). Lambda's billed time is left to the caller, which
    /// knows each request's duration.
    pub fn merge_times(&mut self, o: &UsageTally, times: u64) {
        self.lambda.invocations += o.lambda.invocations * times;
        self.redis.ops.merge_times(&o.redis.ops, times);
        self.dynamodb.reads.merge_times(&o.dynamodb.reads, times);
        self.dynamodb.queries.merge_times(&o.dynamodb.queries, times);
        self.dynamodb.writes.merge_times(&o.dynamodb.writes, times);
        self.stripe_response_bytes += o.stripe_response_bytes * times;
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
