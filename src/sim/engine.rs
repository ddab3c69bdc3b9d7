//! The discrete-event loop: requests in intended-start order, interleaved
//! with timed events (fills landing, webhooks delivered, Redis killed) on a
//! virtual clock of microseconds. Each request is the chain's own read path
//! ([`read_path`]) performed against the models: the simulator's driver of it.
//!
//! Where the simulator performs a step otherwise than the live chain, it is
//! named here:
//! - a fill's two writes land as a later event at the fetch's end and are
//!   counted there ([`count_fill`]), not by the read;
//! - a coalesced follower or a lease poll is answered from the table of misses
//!   in flight: a poll finds the holder's fill once the holder's fetch has
//!   ended (the requests of one run are stepped one after another, so a
//!   later fill is not yet in the Redis model).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use crate::chain::meter::{Op, fill_ops, op_bytes};
use crate::chain::read_path::{
    self, Cached, FetchFailure, Found, Input, Lease, ReadPath, Step, WriteResult, count_fill,
};
use crate::chain::{ChainCounters, FetchTime, Layer, MeterCounts, Served, TtlPolicy};
use crate::clock::Timestamp;
use crate::metrics::{Outcome, Sample};
use crate::rng::SplitMix;
use crate::run::WebhookCounts;
use crate::scenario::Scenario;
use crate::sim::Dist;
use crate::sim::record::Recorder;
use crate::sim::redis::RedisModel;
use crate::sim::space::{Key, KeySpace, data_bytes};
use crate::sim::stripe::StripeModel;
use crate::sim::tiers::{Item, TierCosts};
use crate::store::WriteOutcome;
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
    /// An origin answer fetched from `fetched_at` lands in both tiers,
    /// expiring after these µs.
    Fill { key: Key, version: u32, fetched_at: u64, l1_ttl: u64, l2_ttl: u64 },
    /// An L2 hit's copy lands in L1, expiring at `expires`.
    Promote { key: Key, version: u32, expires: u64 },
    /// A webhook for a change of `key` reaches the endpoint.
    Webhook { key: Key, duplicate: bool },
    /// Redis is killed: it comes back empty.
    RedisKill,
}

/// A model's entry as the read path sees it: its version (0: a remembered
/// 404) and expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimEntry {
    version: u32,
    expires: Timestamp,
}

impl Cached for SimEntry {
    fn expires_at(&self) -> Timestamp {
        self.expires
    }
    fn is_negative(&self) -> bool {
        self.version == 0
    }
}

/// The modelled Stripe's failure (it answers no 404s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OriginDown;

impl FetchFailure for OriginDown {
    fn is_not_found(&self) -> bool {
        false
    }
}

type SimPath = ReadPath<SimEntry, OriginDown>;
type SimStep = Step<SimEntry, OriginDown>;
type SimResult = Result<Served<SimEntry>, OriginDown>;

/// A miss in flight: when it ends and what it answered.
#[derive(Clone, Copy, Debug)]
struct Flight {
    /// When the leader's read ended (followers are answered then).
    end: u64,
    /// The leader's fill, if it filled: when it landed in L1, the L1 entry,
    /// and when its fetch started (for the tombstones).
    filled: Option<(u64, SimEntry, u64)>,
    result: SimResult,
}

/// No invalidation yet (a tombstone's time).
const NO_TOMBSTONE: u64 = u64::MAX;

/// How a driven read ended.
struct Ended {
    at: u64,
    result: Result<Served<SimEntry>, read_path::Failure<OriginDown>>,
    refresh: bool,
    /// Served by a lease poll (its latency is the poll's, not a calibrated hit's).
    polled: bool,
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

/// One request as the simulator served it (for the parity test): when it
/// started and finished (µs), how it was served, and which version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traced {
    /// Which key.
    pub key: Key,
    /// When it started.
    pub start: u64,
    /// When it finished.
    pub finished: u64,
    /// How it was served.
    pub outcome: Outcome,
    /// The version served.
    pub version: Option<u32>,
}

/// Everything a simulated policy run counts.
#[derive(Debug)]
pub struct Outputs {
    /// Requests, latencies, staleness; and the usage tally.
    pub recorder: Recorder,
    /// The chain's counters.
    pub chain: ChainCounters,
    /// The operations performed.
    pub meter: MeterCounts,
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
    /// Each request, when traced ([`Engine::traced`]).
    #[cfg_attr(not(test), allow(dead_code))]
    pub trace: Vec<Traced>,
}

/// One policy's simulation.
pub struct Engine<'a> {
    scenario: &'a Scenario,
    policy: TtlPolicy,
    space: KeySpace,
    redis: RedisModel,
    table: Vec<Item>,
    truth: Truth,
    /// When each key was last invalidated (µs; [`NO_TOMBSTONE`]): fills of data
    /// fetched at or before it are refused, as the live tiers' tombstones do.
    tombstone: Vec<u64>,
    /// Each key's salt ([`crate::chain::key_salt`] of its name), when a
    /// policy draws by key (jitter, XFetch).
    salts: Vec<u64>,
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
    fetch_time: FetchTime,
    out_chain: ChainCounters,
    meter: MeterCounts,
    webhooks: WebhookCounts,
    recorder: Recorder,
    mutations: u64,
    last_finish: u64,
    trace: Option<Vec<Traced>>,
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
            tombstone: vec![NO_TOMBSTONE; n],
            salts: if policy.jitter > 0.0 || policy.defences.early_refresh_beta > 0.0 {
                (0..n).map(|k| crate::chain::key_salt(space.kind(k as Key), &space.name(k as Key))).collect()
            } else {
                Vec::new()
            },
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
            fetch_time: FetchTime::default(),
            out_chain: ChainCounters::default(),
            meter: MeterCounts::default(),
            webhooks: WebhookCounts::default(),
            recorder: Recorder::new(scenario.duration),
            mutations: 0,
            last_finish: 0,
            trace: None,
            policy,
        };
        for at in e.tiers.redis_kills() {
            e.schedule(at, What::RedisKill);
        }
        e
    }

    /// This engine with a Stripe answering after exactly `us` µs (tests).
    #[cfg(test)]
    pub(crate) fn with_fixed_origin(mut self, us: u64) -> Self {
        self.stripe.fixed_latency(us);
        self
    }

    /// This engine, keeping every request's [`Traced`] (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn traced(mut self) -> Self {
        self.trace = Some(Vec::new());
        self
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
        let Engine {
            recorder, out_chain, meter, webhooks, stripe, tiers, last_finish, mutations, trace, ..
        } = self;
        let trace = trace.unwrap_or_default();
        Outputs { recorder, chain: out_chain, meter, webhooks, stripe, tiers, last_finish, mutations, trace }
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
        self.truth.bump(key, at);
        self.mutations += 1;
        let delay = self.webhook_delay.sample(&mut self.rng);
        self.schedule(at + delay, What::Webhook { key, duplicate: false });
        if self.rng.chance(self.scenario.stripe.duplicate_rate) {
            let again = self.webhook_delay.sample(&mut self.rng);
            self.schedule(at + delay + again, What::Webhook { key, duplicate: true });
        }
    }

    fn apply(&mut self, at: u64, what: What) {
        match what {
            What::RedisKill => self.redis.flush(),
            What::Promote { key, version, expires } => {
                let (w, _) = self.l1_write(key, version, expires, at);
                read_path::count_l1_write(w, crate::chain::Counter::promotions, &mut self.out_chain);
                if w.is_ok() {
                    let data = data_bytes(self.space.kind(key));
                    self.meter.add_n(Op::L1Write, op_bytes(Op::L1Write, data), 1);
                }
            }
            What::Fill { key, version, fetched_at, l1_ttl, l2_ttl } => {
                self.fill(at, key, version, fetched_at, [l1_ttl, l2_ttl]);
            }
            What::Webhook { key, duplicate } => {
                if let Some(back) = self.tiers.webhooks_down(at) {
                    // Stripe retries a refused delivery later.
                    self.webhooks.refused_down += 1;
                    let retry = back + us(Duration::from_secs(1)) + (self.rng.unit() * 1e6) as u64;
                    self.schedule(retry, What::Webhook { key, duplicate });
                    return;
                }
                if duplicate {
                    self.webhooks.duplicates += 1;
                    return;
                }
                self.webhooks.applied += 1;
                self.webhooks.keys_invalidated += 1;
                self.out_chain.invalidations += 1;
                self.tombstone[key as usize] = at;
                self.redis.delete(key);
                let item = &mut self.table[key as usize];
                if item.version != 0 {
                    item.expires = item.expires.min(at);
                }
            }
        }
    }

    /// An origin answer of `version` lands: each tier refuses it when an
    /// invalidation overtook it or the tier holds newer data; counted as the
    /// live chain counts its writes.
    fn fill(&mut self, at: u64, key: Key, version: u32, fetched_at: u64, [l1_ttl, l2_ttl]: [u64; 2]) {
        let replaces = self.table[key as usize].version != 0;
        let (l1, l2) = if self.overtaken(key, fetched_at) {
            (Ok(WriteOutcome::Invalidated), Ok(WriteOutcome::Invalidated))
        } else {
            let l2 = if self.tiers.dynamodb(at).ok {
                let item = &mut self.table[key as usize];
                if item.version > version {
                    Ok(WriteOutcome::Conflict { stored_version: u64::from(item.version) })
                } else if item.version == version && item.expires > at {
                    Ok(WriteOutcome::Current)
                } else {
                    *item = Item { version, expires: at + l2_ttl };
                    Ok(WriteOutcome::Written)
                }
            } else {
                Err(())
            };
            let (l1, _) = self.l1_write(key, version, at + l1_ttl, at);
            (l1, l2)
        };
        count_fill(l1, l2, &mut self.out_chain);
        let data = data_bytes(self.space.kind(key));
        for op in fill_ops(l1, l2, replaces).into_iter().flatten() {
            self.meter.add_n(op, op_bytes(op, data), 1);
        }
    }

    /// Writes `version` of `key` to the Redis model at `at`, expiring at
    /// `expires`, unless it holds a newer one; and how long the write took.
    fn l1_write(&mut self, key: Key, version: u32, expires: u64, at: u64) -> (WriteResult, u64) {
        let c = self.tiers.redis(at);
        if !c.ok {
            return (Err(()), c.us);
        }
        let stored = self.redis.live_version(key, at, self.retention);
        if stored > version {
            return (Ok(WriteOutcome::Conflict { stored_version: u64::from(stored) }), c.us);
        }
        self.redis.set(key, version, expires, l1_bytes(self.space.kind(key)), at);
        (Ok(WriteOutcome::Written), c.us)
    }

    /// The salt of `key`'s draws (XFetch, jitter), as the live chain salts a
    /// key of the same name; 0 when the policy draws nothing by key.
    fn salt(&self, key: Key) -> u64 {
        self.salts.get(key as usize).copied().unwrap_or(0)
    }

    /// Starts a background refresh of `key` at `now` unless one is running.
    fn refresh(&mut self, key: Key, now: u64) {
        if self.refreshing.get(&key).is_some_and(|end| *end > now) {
            return;
        }
        let path = SimPath::refresh(self.space.kind(key), self.salt(key));
        let first = path.first();
        let ended = self.drive(key, path, first, now);
        self.refreshing.insert(key, ended.at);
    }

    /// One read of `key` sent at `start`: returns when it finished.
    fn read(&mut self, intended: u64, start: u64, key: Key) -> u64 {
        let path = SimPath::new(self.space.kind(key), self.salt(key), self.fetch_time.delta());
        let first = path.first();
        let ended = self.drive(key, path, first, start);
        if ended.refresh {
            self.refresh(key, ended.at);
        }
        let (outcome, layer, version) = match &ended.result {
            Ok(s) if s.stale => (Outcome::Stale, Some(s.layer), Some(s.entry.version)),
            Ok(s) => {
                let outcome = match s.layer {
                    Layer::L1 => Outcome::L1,
                    Layer::L2 => Outcome::L2,
                    Layer::Origin => Outcome::Origin,
                };
                (outcome, Some(s.layer), Some(s.entry.version))
            }
            Err(_) => (Outcome::Error, None, None),
        };
        let at = match layer {
            Some(Layer::L1) if outcome == Outcome::L1 && !ended.polled => self.served_at(0, start, ended.at),
            Some(Layer::L2) if outcome == Outcome::L2 => self.served_at(1, start, ended.at),
            _ => ended.at,
        };
        self.finish(intended, start, at, key, outcome, version)
    }

    /// Performs `path`'s steps from `step` at `t` against the models.
    fn drive(&mut self, key: Key, mut path: SimPath, mut step: SimStep, mut t: u64) -> Ended {
        let kind = self.space.kind(key);
        // Whether this read leads a flight others join: as the coalescing
        // leader, or as the lease holder.
        let (mut leads, mut polled, mut version, mut fetch_start) = (false, false, 0, t);
        let mut filled = None;
        loop {
            let step_now = match step {
                Step::Done { result, refresh } => {
                    if leads {
                        let shared = result.clone().map_err(|_| OriginDown);
                        self.flights.insert(key, Flight { end: t, filled, result: shared });
                    }
                    return Ended { at: t, result, refresh, polled };
                }
                other => other,
            };
            let input = match step_now {
                Step::Done { .. } => unreachable!("handled above"),
                Step::ReadL1 => Input::L1(self.l1_lookup(key, &mut t)),
                Step::DeleteL1 => {
                    self.redis.delete(key);
                    Input::Deleted(true)
                }
                Step::JoinFlight => Input::Flight(match self.flight(key, t) {
                    Some(f) => {
                        t = f.end;
                        read_path::Flight::Joined(f.result)
                    }
                    None => {
                        leads = true;
                        read_path::Flight::Lead
                    }
                }),
                Step::ReadL2 => {
                    let c = self.tiers.dynamodb(t);
                    t += c.us;
                    let item = self.table[key as usize];
                    Input::L2(match (c.ok, item.version) {
                        (false, _) => Found::Failed,
                        (true, 0) => Found::Absent,
                        (true, v) => Found::Entry(SimEntry { version: v, expires: ts(item.expires) }),
                    })
                }
                Step::Promote { ttl, .. } => {
                    let version = path.held().map_or(0, |e| e.version);
                    self.schedule(t, What::Promote { key, version, expires: t + us(ttl) });
                    t += self.tiers.redis(t).us;
                    Input::Promoted(None)
                }
                Step::AcquireLease { .. } => {
                    let c = self.tiers.redis(t);
                    t += c.us;
                    Input::Lease(match (c.ok, self.flight(key, t)) {
                        (false, _) => Lease::Failed,
                        (true, Some(_)) => Lease::Held,
                        (true, None) => {
                            leads = true;
                            Lease::Taken
                        }
                    })
                }
                Step::Poll { after } => {
                    polled = true;
                    t += us(after);
                    let landed = self.flights.get(&key).and_then(|f| f.filled);
                    Input::L1(match landed {
                        Some((at, entry, fetched_at)) if at <= t && !self.overtaken(key, fetched_at) => {
                            t += self.tiers.redis(t).us;
                            Found::Entry(entry)
                        }
                        _ => self.l1_lookup(key, &mut t),
                    })
                }
                Step::Fetch => {
                    fetch_start = t;
                    let f = self.stripe.fetch(kind, t);
                    t += f.took_us;
                    version = self.truth.version[key as usize];
                    if f.ok {
                        self.fetch_time.note(Duration::from_micros(f.took_us));
                    }
                    Input::Fetched(if f.ok { Ok(()) } else { Err(OriginDown) })
                }
                Step::Fill { l1_ttl, l2_ttl, .. } => {
                    let (l1_ttl, l2_ttl) = (us(l1_ttl), us(l2_ttl));
                    self.schedule(t, What::Fill { key, version, fetched_at: fetch_start, l1_ttl, l2_ttl });
                    filled = Some((t, SimEntry { version, expires: ts(t + l1_ttl) }, fetch_start));
                    let expires = ts(t + l2_ttl);
                    if !self.tiers.calibrated_origin() {
                        // The fill's two writes, made at once; a measured origin
                        // latency holds them already.
                        let (d, r) = (self.tiers.dynamodb(t).us, self.tiers.redis(t).us);
                        t += d.max(r);
                    }
                    Input::Filled { entry: SimEntry { version, expires }, writes: None }
                }
                Step::RememberNotFound { ttl } => {
                    let (w, took) = self.l1_write(key, 0, fetch_start + us(ttl), t);
                    t += took;
                    Input::Remembered(w)
                }
                Step::ReleaseLease => {
                    let c = self.tiers.redis(t);
                    t += c.us;
                    Input::Released(c.ok)
                }
            };
            for op in path.performed(&step_now, &input).into_iter().flatten() {
                self.meter.add_n(op, op_bytes(op, data_bytes(kind)), 1);
            }
            step = path.step(&self.policy, ts(t), input, &mut self.out_chain);
        }
    }

    /// A Redis GET of `key` at `*t`, which it advances.
    fn l1_lookup(&mut self, key: Key, t: &mut u64) -> Found<SimEntry> {
        let c = self.tiers.redis(*t);
        *t += c.us;
        if !c.ok {
            return Found::Failed;
        }
        match self.redis.get(key, *t, self.retention) {
            Some((version, expires)) => Found::Entry(SimEntry { version, expires: ts(expires) }),
            None => Found::Absent,
        }
    }

    /// The miss of `key` in flight at `now`, if any.
    fn flight(&self, key: Key, now: u64) -> Option<Flight> {
        self.flights.get(&key).filter(|f| f.end > now).copied()
    }

    /// Whether `key` was invalidated at or after `fetched_at` (a fill of data
    /// fetched then would resurrect what the invalidation removed).
    fn overtaken(&self, key: Key, fetched_at: u64) -> bool {
        let t = self.tombstone[key as usize];
        t != NO_TOMBSTONE && fetched_at <= t
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
        version: Option<u32>,
    ) -> u64 {
        let stale_age = version.and_then(|v| self.truth.stale_age(key, v, start));
        if let Some(trace) = &mut self.trace {
            trace.push(Traced { key, start, finished, outcome, version });
        }
        let micros = Duration::from_micros;
        let sample = Sample {
            intended: micros(intended),
            started: micros(start),
            finished: micros(finished),
            outcome,
            stale_age,
        };
        self.recorder.record(&sample);
        finished
    }
}

/// Bytes a Redis entry of `kind` holds: the Stripe JSON, the envelope, the key.
pub(crate) fn l1_bytes(kind: ObjectKind) -> u64 {
    data_bytes(kind) + crate::chain::meter::ENVELOPE_OVERHEAD_BYTES + 40
}
