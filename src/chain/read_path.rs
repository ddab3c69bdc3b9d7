//! One read's decisions without I/O (a sans-IO state machine): told what a
//! lookup, a write or a fetch answered and the time, it counts and answers the
//! next [`Step`] to perform. The live chain performs the steps against Redis,
//! DynamoDB and Stripe ([`super::CacheChain`]); the simulator performs them
//! against its models (`sim::engine`). Both drive this one copy, so a
//! simulated and a live run take the same decisions (DESIGN.md, decision 1).
//!
//! The order of a read: L1 lookup -> freshness -> (coalesce) -> L2 lookup ->
//! promote -> (lease, or wait for the holder's fill) -> origin fetch -> fill
//! -> stale-if-error -> negative caching. A background refresh is the same
//! machine started at the fetch ([`ReadPath::refresh`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::defences::Freshness;
use super::meter::{Op, fill_ops};
use super::policy::{Tier, TtlPolicy};
use super::stats::{Count, Counter};
use super::{Layer, Served};
use crate::clock::Timestamp;
use crate::store::{SameVersion, WriteOutcome};
use crate::stripe::ObjectKind;

/// What the machine needs to know of a cached entry.
pub trait Cached: Clone {
    /// When the entry stops being served.
    fn expires_at(&self) -> Timestamp;
    /// Whether it is a remembered 404.
    fn is_negative(&self) -> bool;
}

impl Cached for super::CacheEntry {
    fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    fn is_negative(&self) -> bool {
        super::CacheEntry::is_negative(self)
    }
}

/// What the machine needs to know of an origin failure.
pub trait FetchFailure: Clone {
    /// Whether Stripe said the object does not exist (a 404).
    fn is_not_found(&self) -> bool;
}

impl FetchFailure for crate::origin::OriginError {
    fn is_not_found(&self) -> bool {
        matches!(self, crate::origin::OriginError::NotFound(_))
    }
}

/// What a tier lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found<E> {
    /// An intact entry, live or not (expiry is the machine's decision).
    Entry(E),
    /// Nothing under the key.
    Absent,
    /// An entry that could not be decoded or whose checksum failed.
    Corrupt,
    /// The tier failed (unreachable, timeout, throttled).
    Failed,
}

/// A tier write's answer (`Err`: the tier failed).
pub type WriteResult = Result<WriteOutcome, ()>;

/// Why a read was not served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure<F> {
    /// A remembered 404 answered (negative caching); Stripe was not asked.
    NotFound,
    /// The origin failed, and no stale entry could stand in.
    Origin(F),
}

/// What a joined flight of concurrent misses answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flight<E, F> {
    /// This read leads: it goes on and its result is shared.
    Lead,
    /// Another read led; its result.
    Joined(Result<Served<E>, F>),
    /// The leader gave up (cancelled): go alone.
    Alone,
}

/// What taking the fill lease answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// Taken: this read fills, then releases it.
    Taken,
    /// Held by another instance: wait for its fill.
    Held,
    /// L1 failed: fill without a lease.
    Failed,
}

/// The answer to the last [`Step`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input<E, F> {
    /// [`Step::ReadL1`] or [`Step::Poll`] answered.
    L1(Found<E>),
    /// [`Step::DeleteL1`] answered (`false`: L1 failed).
    Deleted(bool),
    /// [`Step::JoinFlight`] answered.
    Flight(Flight<E, F>),
    /// [`Step::ReadL2`] answered.
    L2(Found<E>),
    /// [`Step::Promote`]'s write answered, or `None` when the driver counts it
    /// where it lands (the simulator's writes land as later events).
    Promoted(Option<WriteResult>),
    /// [`Step::AcquireLease`] answered.
    Lease(Lease),
    /// [`Step::Fetch`] answered (the fetched object stays with the driver).
    Fetched(Result<(), F>),
    /// [`Step::Fill`] wrote `entry` (as written to L2); `writes` are the L1
    /// and L2 answers, or `None` when the driver counts them where the writes
    /// land ([`count_fill`]; the simulator's fills land as later events).
    Filled {
        /// The entry served.
        entry: E,
        /// The tiers' answers.
        writes: Option<(WriteResult, WriteResult)>,
    },
    /// [`Step::RememberNotFound`]'s write answered.
    Remembered(WriteResult),
    /// [`Step::ReleaseLease`] answered (`false`: L1 failed).
    Released(bool),
}

/// The next thing a driver does for a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<E, F> {
    /// Look the key up in L1.
    ReadL1,
    /// Delete the corrupt L1 entry (so a fill is not judged against it).
    DeleteL1,
    /// Join the process's flight of misses of the key (coalescing).
    JoinFlight,
    /// Look the key up in L2 (expired items too, for stale serving).
    ReadL2,
    /// Copy the L2 entry read ([`ReadPath::held`]) into L1, expiring `ttl`
    /// from now, kept `ttl + retain`.
    Promote {
        /// Its L1 lifetime.
        ttl: Duration,
        /// How long past expiry L1 keeps it.
        retain: Duration,
    },
    /// Take the key's cross-instance fill lease.
    AcquireLease {
        /// How long the lease lives if never released.
        ttl: Duration,
    },
    /// Wait `after`, then look the key up in L1 (waiting for the lease holder's fill).
    Poll {
        /// How long to wait first.
        after: Duration,
    },
    /// Fetch the key from the origin.
    Fetch,
    /// Write the fetched object to both tiers.
    Fill {
        /// The L1 entry's lifetime from now.
        l1_ttl: Duration,
        /// The L2 entry's lifetime from now.
        l2_ttl: Duration,
        /// How long past expiry both tiers keep it.
        retain: Duration,
        /// How the L2 write treats an entry of the same version.
        same_version: SameVersion,
    },
    /// Remember the 404 in L1 for `ttl` from the fetch's start.
    RememberNotFound {
        /// How long.
        ttl: Duration,
    },
    /// Release the fill lease this read took.
    ReleaseLease,
    /// The read is over.
    Done {
        /// Served, or why not.
        result: Result<Served<E>, Failure<F>>,
        /// Start a background refresh of the key (stale-while-revalidate, XFetch).
        refresh: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    L1,
    Delete,
    Flight,
    L2,
    Promote,
    Lease,
    Poll { until: Timestamp },
    Fetch,
    Fill,
    Remember,
    Release,
    Over,
}

/// One read (or background refresh) of one key, step by step.
#[derive(Clone, Debug)]
pub struct ReadPath<E, F> {
    kind: ObjectKind,
    salt: u64,
    fetch_delta: Duration,
    background: bool,
    phase: Phase,
    fallback: Option<(Layer, E)>,
    same_version: SameVersion,
    held: Option<E>,
    leased: bool,
    failed: Option<F>,
    served: Option<Served<E>>,
    /// L2 held an item (a fill replaces it: its index key moves).
    replaces: bool,
}

impl<E: Cached, F: FetchFailure> ReadPath<E, F> {
    /// A read of a key of `kind` whose draws are salted by `salt` ([`key_salt`]),
    /// while a fetch takes about `fetch_delta` ([`FetchTime`]). Its first step
    /// is [`Step::ReadL1`].
    #[inline]
    pub fn new(kind: ObjectKind, salt: u64, fetch_delta: Duration) -> Self {
        ReadPath {
            kind,
            salt,
            fetch_delta,
            background: false,
            phase: Phase::L1,
            fallback: None,
            same_version: SameVersion::KeepIfIntact,
            held: None,
            leased: false,
            failed: None,
            served: None,
            replaces: false,
        }
    }

    /// A background refresh: fetch and fill whatever the tiers hold; its first
    /// step is [`Step::Fetch`]. A refresh that fills counts in `refreshes`.
    pub fn refresh(kind: ObjectKind, salt: u64) -> Self {
        // A refresh replaces what it refreshes (an upper bound when it is gone).
        ReadPath {
            background: true,
            phase: Phase::Fetch,
            replaces: true,
            ..ReadPath::new(kind, salt, Duration::ZERO)
        }
    }

    /// The first step.
    #[inline]
    pub fn first(&self) -> Step<E, F> {
        if self.background { Step::Fetch } else { Step::ReadL1 }
    }

    /// What performing `step` made of tier and origin operations, given its
    /// answer `input` (at most two: a fill writes both tiers). Fills answered
    /// without their writes are metered where the writes land ([`fill_ops`]).
    #[inline]
    pub fn performed(&self, step: &Step<E, F>, input: &Input<E, F>) -> [Option<Op>; 2] {
        let one = |op| [Some(op), None];
        match (step, input) {
            (Step::ReadL1 | Step::Poll { .. }, Input::L1(found)) => match found {
                Found::Entry(_) => one(Op::L1Hit),
                Found::Absent | Found::Corrupt => one(Op::L1Miss),
                Found::Failed => [None, None],
            },
            (Step::DeleteL1, Input::Deleted(true)) => one(Op::L1Delete),
            (Step::ReadL2, Input::L2(found)) => match found {
                Found::Entry(_) => one(Op::L2Hit),
                Found::Absent | Found::Corrupt => one(Op::L2Miss),
                Found::Failed => [None, None],
            },
            (Step::Promote { .. }, Input::Promoted(Some(Ok(_))))
            | (Step::RememberNotFound { .. }, Input::Remembered(Ok(_))) => one(Op::L1Write),
            (Step::AcquireLease { .. }, Input::Lease(Lease::Taken | Lease::Held)) => one(Op::L1Lease),
            (Step::ReleaseLease, Input::Released(true)) => one(Op::L1Lease),
            (Step::Fetch, Input::Fetched(Ok(()))) => one(Op::StripeOk),
            (Step::Fetch, Input::Fetched(Err(_))) => one(Op::StripeFailed),
            (Step::Fill { .. }, Input::Filled { writes: Some((l1, l2)), .. }) => {
                fill_ops(*l1, *l2, self.replaces)
            }
            _ => [None, None],
        }
    }

    /// Whether a fill of this read replaces an L2 item.
    pub fn replaces(&self) -> bool {
        self.replaces
    }

    /// The entry a [`Step::Promote`] copies.
    #[inline]
    pub fn held(&self) -> Option<&E> {
        self.held.as_ref()
    }

    /// Takes the answer to the last step at `now`, counts, and answers the next.
    #[inline]
    pub fn step(
        &mut self,
        policy: &TtlPolicy,
        now: Timestamp,
        input: Input<E, F>,
        counts: &mut impl Count,
    ) -> Step<E, F> {
        match (self.phase, input) {
            (Phase::L1, Input::L1(found)) => self.on_l1(policy, now, found, counts),
            (Phase::Delete, Input::Deleted(ok)) => {
                if !ok {
                    counts.bump(Counter::l1_errors);
                }
                self.l1_miss(policy, counts)
            }
            (Phase::Flight, Input::Flight(f)) => match f {
                Flight::Lead | Flight::Alone => self.to(Phase::L2, Step::ReadL2),
                Flight::Joined(result) => {
                    counts.bump(Counter::coalesced);
                    match result {
                        Ok(served) => self.done(Ok(served), false),
                        Err(e) => self.origin_failed(e, counts),
                    }
                }
            },
            (Phase::L2, Input::L2(found)) => self.on_l2(policy, now, found, counts),
            (Phase::Promote, Input::Promoted(w)) => {
                if let Some(w) = w {
                    count_l1_write(w, Counter::promotions, counts);
                }
                let entry = self.held.take().unwrap_or_else(|| unreachable!("promote holds the L2 entry"));
                self.done(Ok(Served::fresh(Layer::L2, entry)), false)
            }
            (Phase::Lease, Input::Lease(lease)) => match lease {
                Lease::Taken => {
                    self.leased = true;
                    self.to(Phase::Fetch, Step::Fetch)
                }
                Lease::Held => {
                    counts.bump(Counter::lease_waits);
                    let lease = policy.defences.lease.unwrap_or_default();
                    self.phase = Phase::Poll { until: now.plus(lease.wait) };
                    Step::Poll { after: lease.poll }
                }
                Lease::Failed => {
                    counts.bump(Counter::l1_errors);
                    self.to(Phase::Fetch, Step::Fetch)
                }
            },
            (Phase::Poll { until }, Input::L1(found)) => match found {
                Found::Entry(e) if !e.is_negative() && e.expires_at() > now => {
                    self.done(Ok(Served::fresh(Layer::L1, e)), false)
                }
                _ if now < until => {
                    let lease = policy.defences.lease.unwrap_or_default();
                    Step::Poll { after: lease.poll }
                }
                _ => {
                    counts.bump(Counter::lease_timeouts);
                    self.to(Phase::Fetch, Step::Fetch)
                }
            },
            (Phase::Fetch, Input::Fetched(result)) => self.on_fetched(policy, now, result, counts),
            (Phase::Fill, Input::Filled { entry, writes }) => {
                if let Some((l1, l2)) = writes {
                    count_fill(l1, l2, counts);
                }
                if self.background {
                    counts.bump(Counter::refreshes);
                }
                self.served = Some(Served::fresh(Layer::Origin, entry));
                self.release(counts)
            }
            (Phase::Remember, Input::Remembered(w)) => {
                count_l1_write(w, Counter::negative_fills, counts);
                self.release(counts)
            }
            (Phase::Release, Input::Released(ok)) => {
                if !ok {
                    counts.bump(Counter::l1_errors);
                }
                self.leased = false;
                self.release(counts)
            }
            (phase, _) => unreachable!("a driver answered another step than the read path's ({phase:?})"),
        }
    }

    #[inline]
    fn to(&mut self, phase: Phase, step: Step<E, F>) -> Step<E, F> {
        self.phase = phase;
        step
    }

    #[inline]
    fn done(&mut self, result: Result<Served<E>, Failure<F>>, refresh: bool) -> Step<E, F> {
        self.to(Phase::Over, Step::Done { result, refresh })
    }

    #[inline]
    fn on_l1(
        &mut self,
        policy: &TtlPolicy,
        now: Timestamp,
        found: Found<E>,
        counts: &mut impl Count,
    ) -> Step<E, F> {
        let d = &policy.defences;
        match found {
            Found::Entry(e) if e.is_negative() => {
                if e.expires_at() > now {
                    counts.bump(Counter::negative_hits);
                    return self.done(Err(Failure::NotFound), false);
                }
            }
            Found::Entry(e) => match d.freshness(e.expires_at(), now) {
                Freshness::Fresh => {
                    counts.bump(Counter::l1_hits);
                    let early = d.early_refresh_beta > 0.0
                        && d.refresh_early(
                            e.expires_at(),
                            now,
                            self.fetch_delta,
                            policy.jitter_seed,
                            self.salt,
                        );
                    if early {
                        counts.bump(Counter::early_refreshes);
                    }
                    return self.done(Ok(Served::fresh(Layer::L1, e)), early);
                }
                Freshness::Revalidate => {
                    counts.bump(Counter::stale_served);
                    return self.done(Ok(Served { layer: Layer::L1, entry: e, stale: true }), true);
                }
                Freshness::IfError => self.fallback = Some((Layer::L1, e)),
                Freshness::Dead => {}
            },
            Found::Absent => {}
            Found::Corrupt => {
                counts.bump(Counter::l1_checksum_failures);
                return self.to(Phase::Delete, Step::DeleteL1);
            }
            Found::Failed => counts.bump(Counter::l1_errors),
        }
        self.l1_miss(policy, counts)
    }

    #[inline]
    fn l1_miss(&mut self, policy: &TtlPolicy, counts: &mut impl Count) -> Step<E, F> {
        counts.bump(Counter::l1_misses);
        if policy.defences.coalesce {
            self.to(Phase::Flight, Step::JoinFlight)
        } else {
            self.to(Phase::L2, Step::ReadL2)
        }
    }

    fn on_l2(
        &mut self,
        policy: &TtlPolicy,
        now: Timestamp,
        found: Found<E>,
        counts: &mut impl Count,
    ) -> Step<E, F> {
        let d = &policy.defences;
        self.replaces = matches!(found, Found::Entry(_) | Found::Corrupt);
        match found {
            Found::Entry(e) => {
                if e.expires_at() <= now {
                    counts.bump(Counter::l2_expired);
                }
                match d.freshness(e.expires_at(), now) {
                    Freshness::Fresh => {
                        counts.bump(Counter::l2_hits);
                        let Some(ttl) = policy.promote_ttl(self.kind, e.expires_at(), now) else {
                            return self.done(Ok(Served::fresh(Layer::L2, e)), false);
                        };
                        self.held = Some(e);
                        return self.to(Phase::Promote, Step::Promote { ttl, retain: d.retention() });
                    }
                    Freshness::Revalidate => {
                        counts.bump(Counter::stale_served);
                        return self.done(Ok(Served { layer: Layer::L2, entry: e, stale: true }), true);
                    }
                    Freshness::IfError => {
                        if self.fallback.is_none() {
                            self.fallback = Some((Layer::L2, e));
                        }
                    }
                    Freshness::Dead => {}
                }
            }
            Found::Absent => {}
            Found::Corrupt => {
                counts.bump(Counter::l2_checksum_failures);
                // The fill that follows replaces it, even with the same version.
                self.same_version = SameVersion::Replace;
            }
            Found::Failed => counts.bump(Counter::l2_errors),
        }
        counts.bump(Counter::l2_misses);
        match d.lease {
            Some(lease) => self.to(Phase::Lease, Step::AcquireLease { ttl: lease.ttl }),
            None => self.to(Phase::Fetch, Step::Fetch),
        }
    }

    fn on_fetched(
        &mut self,
        policy: &TtlPolicy,
        now: Timestamp,
        result: Result<(), F>,
        counts: &mut impl Count,
    ) -> Step<E, F> {
        match result {
            Ok(()) => {
                counts.bump(Counter::origin_fetches);
                let same_version =
                    if self.background { SameVersion::KeepIfIntact } else { self.same_version };
                self.to(
                    Phase::Fill,
                    Step::Fill {
                        l1_ttl: policy.fill_ttl(Tier::L1, self.kind, self.salt, now),
                        l2_ttl: policy.fill_ttl(Tier::L2, self.kind, self.salt, now),
                        retain: policy.defences.retention(),
                        same_version,
                    },
                )
            }
            Err(e) => {
                counts.bump(Counter::origin_errors);
                let ttl = policy.defences.negative_ttl;
                let remember = e.is_not_found() && !ttl.is_zero();
                self.failed = Some(e);
                if remember {
                    return self.to(Phase::Remember, Step::RememberNotFound { ttl });
                }
                self.release(counts)
            }
        }
    }

    /// After the fetch (and its fill or 404): release the lease if taken, then finish.
    fn release(&mut self, counts: &mut impl Count) -> Step<E, F> {
        if self.leased {
            return self.to(Phase::Release, Step::ReleaseLease);
        }
        if let Some(served) = self.served.take() {
            return self.done(Ok(served), false);
        }
        let e = self.failed.take().unwrap_or_else(|| unreachable!("a fetch either served or failed"));
        self.origin_failed(e, counts)
    }

    /// Stale-if-error: a failure other than a 404 serves the fallback, if any.
    fn origin_failed(&mut self, e: F, counts: &mut impl Count) -> Step<E, F> {
        match self.fallback.take() {
            Some((layer, entry)) if !e.is_not_found() => {
                counts.bump(Counter::stale_if_error);
                self.done(Ok(Served { layer, entry, stale: true }), false)
            }
            _ => self.done(Err(Failure::Origin(e)), false),
        }
    }
}

/// Counts an L1 write: `written` when it was stored (or already current).
#[inline]
pub fn count_l1_write(w: WriteResult, written: Counter, counts: &mut impl Count) {
    counts.bump(match w {
        Ok(WriteOutcome::Written | WriteOutcome::Current) => written,
        Ok(WriteOutcome::Conflict { .. }) => Counter::l1_conflicts,
        Ok(WriteOutcome::Invalidated) => Counter::resurrections_refused,
        Err(()) => Counter::l1_errors,
    });
}

/// Counts a fill's two writes, wherever the driver makes them land.
#[inline]
pub fn count_fill(l1: WriteResult, l2: WriteResult, counts: &mut impl Count) {
    count_l1_write(l1, Counter::l1_fills, counts);
    counts.bump(match l2 {
        Ok(WriteOutcome::Written) => Counter::l2_fills,
        Ok(WriteOutcome::Current) => Counter::l2_current,
        Ok(WriteOutcome::Conflict { .. }) => Counter::l2_conflicts,
        Ok(WriteOutcome::Invalidated) => Counter::resurrections_refused,
        Err(()) => Counter::l2_errors,
    });
}

/// A stable per-key salt for the chain's deterministic draws (XFetch, jitter).
pub fn key_salt(kind: ObjectKind, id: &str) -> u64 {
    id.bytes().fold(kind as u64, |h, b| crate::rng::mix(h, u64::from(b)))
}

/// How long an origin fetch takes, as XFetch's delta: a running mean of the
/// fetches that landed (weight 1/8), from a first guess of 300 ms. Shared by
/// the callers of a chain (atomically: a lost update only delays the mean).
#[derive(Debug)]
pub struct FetchTime(AtomicU64);

impl Default for FetchTime {
    fn default() -> Self {
        FetchTime(AtomicU64::new(300_000))
    }
}

impl FetchTime {
    /// The mean fetch time.
    #[inline]
    pub fn delta(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::Relaxed))
    }

    /// Notes a fetch that landed after `took`.
    #[inline]
    pub fn note(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let mean = self.0.load(Ordering::Relaxed);
        self.0.store(mean - mean / 8 + took / 8, Ordering::Relaxed);
    }
}
