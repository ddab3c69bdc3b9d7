//! The discrete-event loop: requests in intended-start order, interleaved
//! with timed events (fills landing, webhooks delivered, Redis killed) on a
//! virtual clock of microseconds. Each request walks the chain's read path
//! with the chain's own decisions ([`TtlPolicy`], [`Defences`]): L1, then L2,
//! then Stripe, with coalescing, leases, early refresh, stale windows and
//! tombstones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use crate::chain::{ChainCounters, Freshness, Layer, Tier, TtlPolicy};
use crate::clock::Timestamp;
use crate::harness::WebhookCounts;
use crate::metrics::{Outcome, Sample};
use crate::rng::SplitMix;
use crate::scenario::Scenario;
use crate::sim::Dist;
use crate::sim::record::Recorder;
use crate::sim::redis::RedisModel;
use crate::sim::space::{Key, KeySpace, data_bytes};
use crate::sim::stripe::StripeModel;
use crate::sim::tiers::{Item, TierCosts};
use crate::stripe::ObjectKind;

/// Virtual time 0 as a wall-clock instant (2026-01-01T00:00:00Z), so entries
/// carry plausible absolute expiries and runs do not depend on the real clock.
const EPOCH_US: u64 = 1_767_225_600_000_000;
/// As the live driver: requests may finish this long after the schedule ends.
const GRACE_US: u64 = 10_000_000;

pub(crate) fn ts(t: u64) -> Timestamp {
    Timestamp::from_micros(EPOCH_US + t)
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    /// An origin answer lands in both tiers.
    Fill { key: Key, version: u32, background: bool },
    /// A webhook for `version` of `key` reaches the endpoint.
    Webhook { key: Key, version: u32, duplicate: bool },
    /// Redis is killed: it comes back empty.
    RedisKill,
}

/// A miss in flight: its end, whether it got the object, which version.
#[derive(Clone, Copy, Debug)]
struct Flight {
    end: u64,
    ok: bool,
    version: u32,
}

/// The ground truth: each key's version and when its last two versions began.
#[derive(Debug)]
struct Truth {
    version: Vec<u32>,
    changed: Vec<[u64; 2]>,
}

impl Truth {
    fn bump(&mut self, key: Key, now: u64) -> u32 {
        let i = key as usize;
        self.version[i] += 1;
        self.changed[i] = [now, self.changed[i][0]];
        self.version[i]
    }

    /// How long ago `served` stopped being true (`None`: it is the truth).
    /// Beyond two versions behind, the older change time is used (a lower bound).
    fn stale_age(&self, key: Key, served: u32, now: u64) -> Option<Duration> {
        let i = key as usize;
        let behind = self.version[i].checked_sub(served).filter(|b| *b > 0)?;
        let since = if behind == 1 { self.changed[i][0] } else { self.changed[i][1] };
        Some(Duration::from_micros(now.saturating_sub(since)))
    }
}

/// Everything a simulated policy run counts.
#[derive(Debug)]
pub struct Outputs {
    /// Requests, latencies, staleness; and the usage tally.
    pub recorder: Recorder,
    /// The chain's counters.
    pub chain: ChainCounters,
    /// What the webhook endpoint saw.
    pub webhooks: WebhookCounts,
    /// Stripe (its counters, faults injected).
    pub stripe: StripeModel,
    /// The tiers (DynamoDB faults injected).
    pub tiers: TierCosts,
    /// When the last request finished, µs.
    pub last_finish: u64,
    /// Events emitted (mutations made).
    pub mutations: u64,
}

/// One policy's simulation.
pub struct Engine<'a> {
    scenario: &'a Scenario,
    policy: TtlPolicy,
    space: KeySpace,
    redis: RedisModel,
    table: Vec<Item>,
    truth: Truth,
    tombstone: Vec<u32>,
    tiers: TierCosts,
    stripe: StripeModel,
    rng: SplitMix,
    events: BinaryHeap<Reverse<(u64, u64, What)>>,
    seq: u64,
    flights: HashMap<Key, Flight>,
    refreshing: HashMap<Key, u64>,
    callers: BinaryHeap<Reverse<u64>>,
    retention: u64,
    webhook_delay: Dist,
    fetch_us: f64,
    out_chain: ChainCounters,
    webhooks: WebhookCounts,
    recorder: Recorder,
    mutations: u64,
    last_finish: u64,
}

impl<'a> Engine<'a> {
    /// A run of `policy` (time-compressed as the scenario runs it) over
    /// `space`, with empty caches.
    pub fn new(
        scenario: &'a Scenario,
        policy: TtlPolicy,
        space: KeySpace,
        redis: RedisModel,
        tiers: TierCosts,
        seed: u64,
        etiquette: &crate::origin::Etiquette,
    ) -> Self {
        let n = space.len();
        let callers = (0..scenario.callers.concurrency.max(1)).map(|_| Reverse(0)).collect();
        let retention = us(policy.defences.retention());
        let mut e = Engine {
            scenario,
            space,
            redis,
            table: vec![Item::default(); n],
            truth: Truth { version: vec![1; n], changed: vec![[0, 0]; n] },
            tombstone: vec![0; n],
            stripe: StripeModel::new(scenario, etiquette, tiers.measured_origin(), crate::rng::mix(seed, 1)),
            tiers,
            rng: SplitMix::new(crate::rng::mix(seed, 2)),
            events: BinaryHeap::new(),
            seq: 0,
            flights: HashMap::new(),
            refreshing: HashMap::new(),
            callers,
            retention,
            webhook_delay: {
                let s = &scenario.stripe;
                Dist::log_normal(
                    scenario.to_run_time(s.webhook_delay_p50),
                    scenario.to_run_time(s.webhook_delay_p99),
                )
            },
            fetch_us: 300_000.0,
            out_chain: ChainCounters::default(),
            webhooks: WebhookCounts::default(),
            recorder: Recorder::new(scenario.duration),
            mutations: 0,
            last_finish: 0,
            policy,
        };
        for at in e.tiers.redis_kills() {
            e.schedule(at, What::RedisKill);
        }
        e
    }

    fn schedule(&mut self, at: u64, what: What) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, what)));
    }

    /// Runs `requests` (intended µs, key) with `mutations` (µs, key) changing
    /// objects, to the end.
    pub fn run(
        mut self,
        requests: impl Iterator<Item = (u64, Key)>,
        mutations: impl Iterator<Item = (u64, Key)>,
    ) -> Outputs {
        let mut mutations = mutations.peekable();
        let end = us(self.scenario.duration) + GRACE_US;
        for (intended, key) in requests {
            self.advance(intended, &mut mutations);
            let Some(Reverse(free)) = self.callers.pop() else { break };
            let start = intended.max(free);
            if start > end {
                self.recorder.dropped(Duration::from_micros(intended));
                self.callers.push(Reverse(free));
                continue;
            }
            if start > intended {
                self.advance(start, &mut mutations);
            }
            let finished = self.read(intended, start, key);
            self.last_finish = self.last_finish.max(finished);
            self.callers.push(Reverse(finished));
        }
        self.advance(u64::MAX, &mut mutations);
        let Engine { recorder, out_chain, webhooks, stripe, tiers, last_finish, mutations, .. } = self;
        Outputs { recorder, chain: out_chain, webhooks, stripe, tiers, last_finish, mutations }
    }

    /// Applies every event and mutation before `now`.
    fn advance(&mut self, now: u64, mutations: &mut std::iter::Peekable<impl Iterator<Item = (u64, Key)>>) {
        loop {
            let event = self.events.peek().map(|Reverse((at, _, _))| *at).filter(|at| *at <= now);
            let mutation = mutations.peek().map(|(at, _)| *at).filter(|at| *at <= now);
            match (event, mutation) {
                (Some(e), Some(m)) if m < e => self.mutate(mutations.next()),
                (Some(_), _) => {
                    if let Some(Reverse((at, _, what))) = self.events.pop() {
                        self.apply(at, what);
                    }
                }
                (None, Some(_)) => self.mutate(mutations.next()),
                (None, None) => return,
            }
        }
    }

    fn mutate(&mut self, m: Option<(u64, Key)>) {
        let Some((at, key)) = m else { return };
        let version = self.truth.bump(key, at);
        self.mutations += 1;
        let delay = self.webhook_delay.sample(&mut self.rng);
        self.schedule(at + delay, What::Webhook { key, version, duplicate: false });
        if self.rng.chance(self.scenario.stripe.duplicate_rate) {
            let again = self.webhook_delay.sample(&mut self.rng);
            self.schedule(at + delay + again, What::Webhook { key, version, duplicate: true });
        }
    }

    fn apply(&mut self, at: u64, what: What) {
        match what {
            What::RedisKill => self.redis.flush(),
            What::Fill { key, version, background } => self.fill(at, key, version, background),
            What::Webhook { key, version, duplicate } => {
                if let Some(back) = self.tiers.webhooks_down(at) {
                    // Stripe retries a refused delivery later.
                    self.webhooks.refused_down += 1;
                    let retry = back + us(Duration::from_secs(1)) + (self.rng.unit() * 1e6) as u64;
                    self.schedule(retry, What::Webhook { key, version, duplicate });
                    return;
                }
                if duplicate {
                    self.webhooks.duplicates += 1;
                    return;
                }
                self.webhooks.applied += 1;
                self.webhooks.keys_invalidated += 1;
                self.out_chain.invalidations += 1;
                let t = &mut self.tombstone[key as usize];
                *t = (*t).max(version);
                self.redis.delete(key);
                let item = &mut self.table[key as usize];
                if item.version != 0 {
                    item.expires = item.expires.min(at);
                }
            }
        }
    }

    /// An origin answer of `version` lands: DynamoDB first, then Redis, each
    /// refused when an invalidation overtook it or the tier holds newer data.
    fn fill(&mut self, at: u64, key: Key, version: u32, background: bool) {
        if version < self.tombstone[key as usize] {
            self.out_chain.resurrections_refused += 1;
            return;
        }
        let kind = self.space.kind(key);
        let name = (self.policy.jitter > 0.0).then(|| self.space.name(key));
        let ttl = |p: &TtlPolicy, tier| us(p.fill_ttl(tier, kind, name.as_deref().unwrap_or(""), ts(at)));
        if self.tiers.dynamodb(at).ok {
            let item = &mut self.table[key as usize];
            if item.version > version {
                self.out_chain.l2_conflicts += 1;
            } else {
                *item = Item { version, expires: at + ttl(&self.policy, Tier::L2) };
                self.out_chain.l2_fills += 1;
            }
        } else {
            self.out_chain.l2_errors += 1;
        }
        if self.tiers.redis(at).ok {
            if self.redis.version(key) > version {
                self.out_chain.l1_conflicts += 1;
            } else {
                let expires = at + ttl(&self.policy, Tier::L1);
                self.redis.set(key, version, expires, l1_bytes(kind), at);
                self.out_chain.l1_fills += 1;
            }
        } else {
            self.out_chain.l1_errors += 1;
        }
        if background {
            self.out_chain.refreshes += 1;
        }
    }

    /// Starts a background refresh of `key` at `now` unless one is running.
    fn refresh(&mut self, key: Key, now: u64) {
        if self.refreshing.get(&key).is_some_and(|end| *end > now) {
            return;
        }
        let f = self.stripe.fetch(self.space.kind(key), now);
        self.refreshing.insert(key, now + f.took_us);
        self.note_fetch(f.took_us, f.ok);
        if f.ok {
            let version = self.truth.version[key as usize];
            self.schedule(now + f.took_us, What::Fill { key, version, background: true });
        }
    }

    fn note_fetch(&mut self, took: u64, ok: bool) {
        if ok {
            self.out_chain.origin_fetches += 1;
            self.fetch_us = 0.9 * self.fetch_us + 0.1 * took as f64;
        } else {
            self.out_chain.origin_errors += 1;
        }
    }

    /// One read of `key` sent at `start`: returns when it finished.
    fn read(&mut self, intended: u64, start: u64, key: Key) -> u64 {
        let kind = self.space.kind(key);
        let d = self.policy.defences.clone();
        let mut t = start;
        let mut fallback: Option<(Layer, u32)> = None;
        let l1 = self.tiers.redis(t);
        t += l1.us;
        let entry = if l1.ok { self.redis.get(key, t, self.retention) } else { None };
        if !l1.ok {
            self.out_chain.l1_errors += 1;
        }
        if let Some((version, expires)) = entry {
            match d.freshness(ts(expires), ts(t)) {
                Freshness::Fresh => {
                    self.out_chain.l1_hits += 1;
                    if d.early_refresh_beta > 0.0 {
                        let delta = Duration::from_micros(self.fetch_us as u64);
                        if d.refresh_early(ts(expires), ts(t), delta, self.policy.jitter_seed, u64::from(key))
                        {
                            self.out_chain.early_refreshes += 1;
                            self.refresh(key, t);
                        }
                    }
                    let t = self.served_at(0, start, t);
                    return self.finish(intended, start, t, key, Outcome::L1, Some(Layer::L1), Some(version));
                }
                Freshness::Revalidate => {
                    self.out_chain.stale_served += 1;
                    self.refresh(key, t);
                    return self.finish(
                        intended,
                        start,
                        t,
                        key,
                        Outcome::Stale,
                        Some(Layer::L1),
                        Some(version),
                    );
                }
                Freshness::IfError => fallback = Some((Layer::L1, version)),
                Freshness::Dead => {}
            }
        }
        self.out_chain.l1_misses += 1;
        if let Some(done) = self.join_flight(intended, start, t, key, fallback) {
            return done;
        }
        let l2 = self.tiers.dynamodb(t);
        t += l2.us;
        if !l2.ok {
            self.out_chain.l2_errors += 1;
        }
        let item = self.table[key as usize];
        if l2.ok && item.version != 0 {
            if item.expires <= t {
                self.out_chain.l2_expired += 1;
            }
            match d.freshness(ts(item.expires), ts(t)) {
                Freshness::Fresh => {
                    self.out_chain.l2_hits += 1;
                    let set = self.tiers.redis(t);
                    t += set.us;
                    if let Some(ttl) = self.policy.promote_ttl(kind, ts(item.expires), ts(t))
                        && set.ok
                        && self.redis.version(key) <= item.version
                    {
                        self.redis.set(key, item.version, t + us(ttl), l1_bytes(kind), t);
                        self.out_chain.promotions += 1;
                    }
                    let t = self.served_at(1, start, t);
                    return self.finish(
                        intended,
                        start,
                        t,
                        key,
                        Outcome::L2,
                        Some(Layer::L2),
                        Some(item.version),
                    );
                }
                Freshness::Revalidate => {
                    self.out_chain.stale_served += 1;
                    self.refresh(key, t);
                    return self.finish(
                        intended,
                        start,
                        t,
                        key,
                        Outcome::Stale,
                        Some(Layer::L2),
                        Some(item.version),
                    );
                }
                Freshness::IfError => fallback = fallback.or(Some((Layer::L2, item.version))),
                Freshness::Dead => {}
            }
        }
        self.out_chain.l2_misses += 1;
        let f = self.stripe.fetch(kind, t);
        self.note_fetch(f.took_us, f.ok);
        let version = self.truth.version[key as usize];
        t += f.took_us;
        if f.ok {
            self.schedule(t, What::Fill { key, version, background: false });
            if !self.tiers.calibrated_origin() {
                // The fill's writes; a measured origin latency holds them already.
                t += self.tiers.dynamodb(t).us + self.tiers.redis(t).us;
            }
        }
        if d.coalesce || d.lease.is_some() {
            self.flights.insert(key, Flight { end: t, ok: f.ok, version });
        }
        if f.ok {
            return self.finish(intended, start, t, key, Outcome::Origin, Some(Layer::Origin), Some(version));
        }
        self.failed(intended, start, t, key, fallback)
    }

    /// A miss that shares a fill in flight (coalescing in one process, or a
    /// lease across instances within its wait).
    fn join_flight(
        &mut self,
        intended: u64,
        start: u64,
        now: u64,
        key: Key,
        fallback: Option<(Layer, u32)>,
    ) -> Option<u64> {
        let d = &self.policy.defences;
        let f = *self.flights.get(&key).filter(|f| f.end > now)?;
        if !d.coalesce {
            let lease = d.lease?;
            self.out_chain.lease_waits += 1;
            if f.end > now + us(lease.wait) {
                self.out_chain.lease_timeouts += 1;
                return None;
            }
        } else {
            self.out_chain.coalesced += 1;
        }
        Some(if f.ok {
            self.finish(intended, start, f.end, key, Outcome::Origin, Some(Layer::Origin), Some(f.version))
        } else {
            self.failed(intended, start, f.end, key, fallback)
        })
    }

    fn failed(&mut self, intended: u64, start: u64, t: u64, key: Key, fallback: Option<(Layer, u32)>) -> u64 {
        match fallback {
            Some((layer, version)) => {
                self.out_chain.stale_if_error += 1;
                self.finish(intended, start, t, key, Outcome::Stale, Some(layer), Some(version))
            }
            None => self.finish(intended, start, t, key, Outcome::Error, None, None),
        }
    }

    /// With a calibration, the served layer's measured latency replaces the
    /// modelled sum.
    fn served_at(&mut self, layer: usize, start: u64, modelled: u64) -> u64 {
        self.tiers.served(layer).map_or(modelled, |d| start + d)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        intended: u64,
        start: u64,
        finished: u64,
        key: Key,
        outcome: Outcome,
        layer: Option<Layer>,
        version: Option<u32>,
    ) -> u64 {
        let stale_age = version.and_then(|v| self.truth.stale_age(key, v, start));
        let micros = Duration::from_micros;
        let sample = Sample {
            intended: micros(intended),
            started: micros(start),
            finished: micros(finished),
            outcome,
            stale_age,
        };
        self.recorder.record(&sample, self.space.kind(key), layer);
        finished
    }
}

/// Bytes a Redis entry of `kind` holds: the Stripe JSON, the envelope, the key.
pub(crate) fn l1_bytes(kind: ObjectKind) -> u64 {
    data_bytes(kind) + crate::harness::usage::ENVELOPE_OVERHEAD_BYTES + 40
}
