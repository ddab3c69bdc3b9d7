//! What a run measured, as the cost model's input. A live run fills it from the
//! harness's counters, a simulated run from its models; both go through the
//! same `record_*` helpers, or fill the plain fields directly.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deployment::Deployment;
use super::error::CostError;
use super::tally::Tally;
use super::units::{self, Consistency, WriteMode};

/// Everything the cost model needs from one run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Usage {
    /// Wall (or virtual) duration of the measured part of the run, seconds.
    /// Monthly figures extrapolate from it. Must be > 0.
    pub run_duration_s: f64,
    /// Client requests served (the denominator of "per million requests").
    pub requests: u64,
    /// How the traffic would be deployed.
    pub deployment: Deployment,
    /// Lambda invocations and billed time.
    pub lambda: LambdaUsage,
    /// Redis commands and working set.
    pub redis: RedisUsage,
    /// DynamoDB reads, writes, queries and storage.
    pub dynamodb: DynamoUsage,
    /// Calls to the Stripe API.
    pub stripe: StripeUsage,
    /// Traffic not covered above.
    pub network: NetworkUsage,
}

impl Usage {
    /// Checks what the model divides by.
    ///
    /// # Errors
    /// [`CostError::Usage`] naming the field.
    pub fn validate(&self) -> Result<(), CostError> {
        if !(self.run_duration_s.is_finite() && self.run_duration_s > 0.0) {
            return Err(CostError::Usage {
                field: "run_duration_s",
                why: format!("is {}; must be a duration > 0 seconds", self.run_duration_s),
            });
        }
        if self.deployment.azs == 0 {
            return Err(CostError::Usage { field: "deployment.azs", why: "must be at least 1".to_owned() });
        }
        if self.deployment.lambda.memory_mb == 0 {
            return Err(CostError::Usage {
                field: "deployment.lambda.memory_mb",
                why: "must be > 0 MB (Lambda allows 128-10240)".to_owned(),
            });
        }
        Ok(())
    }
}

impl Usage {
    /// Adds what another shard of the same run counted: requests, invocations,
    /// commands, reads and writes, Stripe calls, bytes. The shards ran side by
    /// side, so the run lasted as long as the longer one. What is derived
    /// rather than counted (the peaks, the Redis working set, the DynamoDB
    /// storage) is left as it is, for the caller to recompute over the sum.
    pub fn add_shard(&mut self, other: &Usage) {
        self.run_duration_s = self.run_duration_s.max(other.run_duration_s);
        self.requests += other.requests;
        self.lambda += other.lambda.clone();
        self.redis.ops.merge(&other.redis.ops);
        let (d, o) = (&mut self.dynamodb, &other.dynamodb);
        d.reads.merge(&o.reads);
        d.queries.merge(&o.queries);
        d.writes.merge(&o.writes);
        d.transferred_bytes += o.transferred_bytes;
        let (s, o) = (&mut self.stripe, &other.stripe);
        s.calls += o.calls;
        s.request_bytes += o.request_bytes;
        s.response_bytes += o.response_bytes;
        let (n, o) = (&mut self.network, &other.network);
        // One shard's estimate makes the sum an estimate: leave it to the model.
        n.cross_az_bytes = n.cross_az_bytes.zip(o.cross_az_bytes).map(|(a, b)| a + b);
        n.other_nat_bytes += o.other_nat_bytes;
        n.other_internet_egress_bytes += o.other_internet_egress_bytes;
    }
}

/// Lambda invocations and their billed time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LambdaUsage {
    /// Invocations (billed as requests).
    pub invocations: u64,
    /// Sum of each invocation's billed duration (rounded up to 1 ms each), ms.
    /// Includes time spent waiting on Stripe, which Lambda bills.
    pub billed_duration_ms_total: u64,
    /// Cold starts.
    pub cold_starts: u64,
    /// Sum of the billed INIT durations of the cold starts (billed since
    /// 2025-08-01), ms.
    pub init_billed_ms_total: u64,
}

impl LambdaUsage {
    /// Counts one invocation that ran for `duration` (billed rounded up to 1 ms).
    pub fn record_invocation(&mut self, duration: Duration) {
        self.invocations += 1;
        self.billed_duration_ms_total += units::billed_ms(duration);
    }

    /// Counts one cold start whose INIT phase took `init`.
    pub fn record_cold_start(&mut self, init: Duration) {
        self.cold_starts += 1;
        self.init_billed_ms_total += units::billed_ms(init);
    }
}

sum_fields!(LambdaUsage { invocations, billed_duration_ms_total, cold_starts, init_billed_ms_total });

/// A Redis command family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedisCommand {
    /// GET (and other simple reads).
    Get,
    /// SET / SETEX (and other simple writes).
    Set,
    /// DEL / UNLINK.
    Del,
    /// Anything else (EVAL, PING, ...).
    Other,
}

/// One Redis command and the bytes it moved (request + response payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub struct RedisOp {
    /// The command.
    pub command: RedisCommand,
    /// Bytes moved by the command, request plus response.
    pub transferred_bytes: u64,
}

/// Redis commands and what was stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RedisUsage {
    /// Every command with its bytes (ECPU are metered per command).
    pub ops: Tally<RedisOp>,
    /// The largest working set held during the run.
    pub working_set: RedisWorkingSet,
}

impl RedisUsage {
    /// Counts one `command` that moved `transferred_bytes`.
    pub fn record(&mut self, command: RedisCommand, transferred_bytes: u64) {
        self.ops.record(RedisOp { command, transferred_bytes });
    }

    /// Commands of kind `command`.
    pub fn count(&self, command: RedisCommand) -> u64 {
        self.ops.iter().filter(|(op, _)| op.command == command).map(|(_, n)| n).sum()
    }

    /// Bytes moved by all commands.
    pub fn transferred_bytes(&self) -> u64 {
        self.ops.iter().map(|(op, n)| op.transferred_bytes * n).sum()
    }
}

/// The Redis data at its peak: memory is estimated from it with the pricing
/// table's per-key overheads and fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RedisWorkingSet {
    /// Keys held.
    pub keys: u64,
    /// How many of them have a TTL.
    pub keys_with_ttl: u64,
    /// Sum of key lengths, bytes.
    pub key_bytes_total: u64,
    /// Sum of value lengths, bytes.
    pub value_bytes_total: u64,
}

/// One DynamoDB read: a GetItem's item size, or a Query page's summed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ItemRead {
    /// Consistency mode.
    pub consistency: Consistency,
    /// Bytes returned (0 for a miss; a query's items summed).
    pub size_bytes: u64,
}

/// A GSI an item is projected into, as touched by one write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub struct GsiWrite {
    /// Size of the projection written to the index, bytes.
    pub projected_bytes: u64,
    /// An indexed key attribute changed (the index deletes and puts: 2 writes).
    pub key_changed: bool,
}

/// One DynamoDB write (Put, Update, or Delete with the deleted item's size).
/// TTL deletions are free and are not recorded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ItemWrite {
    /// Size of the item written, bytes.
    pub item_bytes: u64,
    /// Standard or transactional.
    #[serde(default)]
    pub mode: WriteMode,
    /// The GSIs the item is projected into.
    #[serde(default)]
    pub gsi: Vec<GsiWrite>,
}

/// DynamoDB requests and storage.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DynamoUsage {
    /// GetItem (and BatchGetItem items) by consistency and size.
    pub reads: Tally<ItemRead>,
    /// Query / Scan pages by consistency and summed size.
    pub queries: Tally<ItemRead>,
    /// Writes with their GSI projections.
    pub writes: Tally<ItemWrite>,
    /// Highest read units consumed in one second; provisioned capacity is sized
    /// from it. `None`: the run's average is used (an underestimate).
    pub peak_read_units_per_s: Option<f64>,
    /// Highest write units consumed in one second. `None`: the average.
    pub peak_write_units_per_s: Option<f64>,
    /// Bytes on the wire to and from DynamoDB (NAT-processed without a gateway
    /// endpoint).
    pub transferred_bytes: u64,
    /// What the table holds at the end of the run (expired items not yet
    /// deleted by TTL count).
    pub storage: DynamoStorage,
}

impl DynamoUsage {
    /// Counts one GetItem returning `size_bytes` (0 for a miss).
    pub fn record_read(&mut self, consistency: Consistency, size_bytes: u64) {
        self.reads.record(ItemRead { consistency, size_bytes });
    }

    /// Counts one Query page returning items of `item_sizes_bytes`.
    pub fn record_query(
        &mut self,
        consistency: Consistency,
        item_sizes_bytes: impl IntoIterator<Item = u64>,
    ) {
        self.queries.record(ItemRead { consistency, size_bytes: item_sizes_bytes.into_iter().sum() });
    }

    /// Counts one write.
    pub fn record_write(&mut self, write: ItemWrite) {
        self.writes.record(write);
    }

    /// Read units consumed by reads and queries.
    pub fn read_units(&self) -> f64 {
        self.reads.sum_by(|r| units::read_units(r.size_bytes, r.consistency))
            + self.queries.sum_by(|q| units::read_units(q.size_bytes, q.consistency))
    }

    /// Write units consumed, GSI writes included.
    pub fn write_units(&self) -> f64 {
        self.writes.sum_by(units::write_units)
    }
}

/// What the DynamoDB table and its GSIs store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DynamoStorage {
    /// Items in the table.
    pub item_count: u64,
    /// Sum of their sizes, bytes.
    pub item_bytes_total: u64,
    /// Items across all GSIs.
    pub gsi_item_count: u64,
    /// Sum of the projected sizes, bytes.
    pub gsi_bytes_total: u64,
}

/// Which Stripe rate limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StripeMode {
    /// Live mode (100 requests/s by default). The default.
    #[default]
    Live,
    /// Test mode / sandbox (25 requests/s by default).
    Test,
}

/// Calls to the Stripe API.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StripeUsage {
    /// Which rate limit applies.
    pub mode: StripeMode,
    /// Calls made (retries included).
    pub calls: u64,
    /// Highest calls in one second. `None`: only the average is reported.
    pub peak_calls_per_s: Option<f64>,
    /// Bytes sent to Stripe (internet egress, NAT-processed).
    pub request_bytes: u64,
    /// Bytes received from Stripe (NAT-processed; ingress is free).
    pub response_bytes: u64,
}

/// Traffic not implied by the fields above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkUsage {
    /// Bytes that crossed an AZ boundary. `None`: estimated as the Redis bytes
    /// x (azs - 1) / azs (Lambdas spread evenly, the primary in one AZ).
    pub cross_az_bytes: Option<u64>,
    /// Other bytes through the NAT gateways.
    pub other_nat_bytes: u64,
    /// Other bytes sent to the internet.
    pub other_internet_egress_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorders_round_and_aggregate() {
        let mut l = LambdaUsage::default();
        l.record_invocation(Duration::from_micros(10_200));
        l.record_invocation(Duration::from_millis(3));
        l.record_cold_start(Duration::from_micros(15_500));
        // 10.2 ms -> 11, 3 ms -> 3; INIT 15.5 ms -> 16
        assert_eq!((l.invocations, l.billed_duration_ms_total), (2, 14));
        assert_eq!((l.cold_starts, l.init_billed_ms_total), (1, 16));

        let mut r = RedisUsage::default();
        r.record(RedisCommand::Get, 1000);
        r.record(RedisCommand::Get, 1000);
        r.record(RedisCommand::Set, 1200);
        r.record(RedisCommand::Del, 40);
        assert_eq!(r.count(RedisCommand::Get), 2);
        assert_eq!(r.count(RedisCommand::Del), 1);
        assert_eq!(r.transferred_bytes(), 3240);

        let mut d = DynamoUsage::default();
        d.record_read(Consistency::Eventual, 5 * 1024); // 1
        d.record_read(Consistency::Strong, 0); // 1
        d.record_query(Consistency::Eventual, [1536, 1536, 1536]); // 4.5 KB -> 1
        d.record_write(ItemWrite { item_bytes: 2560, mode: WriteMode::Standard, gsi: vec![] }); // 3
        assert_eq!(d.read_units(), 3.0);
        assert_eq!(d.write_units(), 3.0);
    }

    #[test]
    fn usage_round_trips_through_json() {
        let mut u = Usage { run_duration_s: 60.0, requests: 10, ..Usage::default() };
        u.dynamodb.record_write(ItemWrite {
            item_bytes: 700,
            mode: WriteMode::Transactional,
            gsi: vec![GsiWrite { projected_bytes: 300, key_changed: true }],
        });
        u.redis.record(RedisCommand::Get, 512);
        let json = serde_json::to_string(&u).unwrap();
        let back: Usage = serde_json::from_str(&json).unwrap();
        assert_eq!(back, u);
    }

    #[test]
    fn validate_rejects_zero_duration_and_zero_azs() {
        let u = Usage::default();
        assert!(matches!(u.validate(), Err(CostError::Usage { field: "run_duration_s", .. })));
        let mut u = Usage { run_duration_s: 1.0, ..Usage::default() };
        u.deployment.azs = 0;
        assert!(matches!(u.validate(), Err(CostError::Usage { field: "deployment.azs", .. })));
    }
}
