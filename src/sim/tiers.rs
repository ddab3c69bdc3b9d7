//! The two cache tiers' costs in the simulator, faults included: what a Redis
//! command or a DynamoDB request takes at a moment, and whether it fails.
//! DynamoDB items live in a plain table with lazy TTL deletion: an item past
//! its `ttl` is still returned (the chain judges expiry), as DynamoDB deletes
//! expired items only eventually.

use std::time::Duration;

use crate::rng::SplitMix;
use crate::scenario::{FaultKind, FaultSpec};
use crate::sim::latency::TierLatency;

/// The live Redis client's response timeout (`RedisOptions`).
const REDIS_TIMEOUT_US: u64 = 1_000_000;
/// A refused connection (Redis killed): the client fails fast.
const REFUSED_US: u64 = 500;
/// The live DynamoDB client's operation timeout (`DynamoOptions`), retries included.
const DYNAMO_TIMEOUT_US: u64 = 2_000_000;
/// The AWS SDK's standard retry mode: at most 3 attempts.
const DYNAMO_ATTEMPTS: u32 = 3;

/// A DynamoDB item: version (0: none) and expiry, µs of run time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// The version it was filled from; 0 when there is no item.
    pub version: u32,
    /// Its `ttl`.
    pub expires: u64,
}

/// A tier operation's cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// How long it took, µs.
    pub us: u64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// The tiers' latencies and the scenario's Redis and DynamoDB faults.
#[derive(Debug)]
pub struct TierCosts {
    latency: TierLatency,
    faults: Vec<(u64, u64, FaultSpec)>,
    rng: SplitMix,
    /// DynamoDB requests each fault delayed or throttled.
    pub injected: Vec<u64>,
}

impl TierCosts {
    /// Costs by `latency`, broken by `faults`.
    pub fn new(latency: TierLatency, faults: &[FaultSpec], seed: u64) -> Self {
        let span = |f: &FaultSpec| (f.at.as_micros() as u64, (f.at + f.duration).as_micros() as u64, *f);
        TierCosts {
            latency,
            faults: faults.iter().map(span).collect(),
            rng: SplitMix::new(seed),
            injected: vec![0; faults.len()],
        }
    }

    /// Stripe's measured answer time, if calibrated.
    pub fn measured_origin(&self) -> Option<crate::sim::Dist> {
        self.latency.served[2].clone()
    }

    /// Whether Stripe's answer time is a live run's.
    pub fn calibrated_origin(&self) -> bool {
        self.latency.served[2].is_some()
    }

    /// A draw from a live run's served-layer latency (`0` L1, `1` L2, `2` origin), if calibrated.
    pub fn served(&mut self, layer: usize) -> Option<u64> {
        let rng = &mut self.rng;
        self.latency.served[layer].as_ref().map(|d| d.sample(rng))
    }

    /// A Redis command at `now`.
    pub fn redis(&mut self, now: u64) -> Cost {
        for (start, end, f) in &self.faults {
            if (*start..*end).contains(&now) {
                match f.kind {
                    FaultKind::RedisPause => return Cost { us: REDIS_TIMEOUT_US, ok: false },
                    FaultKind::RedisKill => return Cost { us: REFUSED_US, ok: false },
                    _ => {}
                }
            }
        }
        Cost { us: self.latency.redis.sample(&mut self.rng), ok: true }
    }

    /// A DynamoDB request at `now`, with the SDK's retries of throttling.
    pub fn dynamodb(&mut self, now: u64) -> Cost {
        let mut took = 0;
        for attempt in 1..=DYNAMO_ATTEMPTS {
            let at = now + took;
            let (mut extra, mut throttled) = (0, false);
            for (i, (start, end, f)) in self.faults.iter().enumerate() {
                if !(*start..*end).contains(&at) {
                    continue;
                }
                match f.kind {
                    FaultKind::DynamoPause => return Cost { us: DYNAMO_TIMEOUT_US, ok: false },
                    FaultKind::DynamoSlow(d) => {
                        extra += d.as_micros() as u64;
                        self.injected[i] += 1;
                    }
                    FaultKind::DynamoThrottle if self.rng.chance(f.share) => {
                        throttled = true;
                        self.injected[i] += 1;
                    }
                    _ => {}
                }
            }
            took += self.latency.dynamodb.sample(&mut self.rng) + extra;
            if took >= DYNAMO_TIMEOUT_US {
                return Cost { us: DYNAMO_TIMEOUT_US, ok: false };
            }
            if !throttled {
                return Cost { us: took, ok: true };
            }
            if attempt < DYNAMO_ATTEMPTS {
                // Standard mode: full jitter over min(20 s, 2^attempt x 1 s)... capped by the timeout.
                let cap = Duration::from_secs(1u64 << (attempt - 1)).min(Duration::from_secs(20));
                took += (cap.as_micros() as f64 * self.rng.unit()) as u64;
            }
        }
        Cost { us: took.min(DYNAMO_TIMEOUT_US), ok: false }
    }

    /// Whether the webhook endpoint cannot take a webhook at `now`; if so,
    /// when it can again. It is down, or a tier it invalidates is (Redis paused
    /// or killed, DynamoDB paused: the invalidation fails, the endpoint answers
    /// 5xx and Stripe retries).
    pub fn webhooks_down(&self, now: u64) -> Option<u64> {
        let refuses = |k: FaultKind| {
            matches!(
                k,
                FaultKind::WebhookOutage
                    | FaultKind::RedisPause
                    | FaultKind::RedisKill
                    | FaultKind::DynamoPause
            )
        };
        self.faults
            .iter()
            .filter(|(s, e, f)| refuses(f.kind) && (*s..*e).contains(&now))
            .map(|(_, e, _)| *e)
            .max()
    }

    /// When Redis is killed (and comes back empty), µs.
    pub fn redis_kills(&self) -> Vec<u64> {
        self.faults.iter().filter(|(_, _, f)| f.kind == FaultKind::RedisKill).map(|(s, _, _)| *s).collect()
    }

    /// What each DynamoDB proxy fault injected (`None` for the other faults),
    /// as the live fault report counts it.
    pub fn injected_report(&self) -> Vec<Option<u64>> {
        self.faults
            .iter()
            .zip(&self.injected)
            .map(|((_, _, f), n)| f.kind.is_dynamo_proxy().then_some(*n))
            .collect()
    }
}
