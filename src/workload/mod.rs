//! The traffic of a scenario: which keys (popularity x kind mix) are asked for
//! when (arrivals), and which objects change. Seeded and deterministic: the same
//! scenario and key universe give the same request sequence.

mod arrivals;
mod popularity;

use std::time::Duration;

pub use self::arrivals::Arrivals;
pub use self::popularity::KeySampler;
use crate::rng::{SplitMix, mix};
use crate::scenario::{Arrival, KindMix, Scenario};
use crate::stripe::{CacheKey, ObjectKind};

/// The objects requests can name: customers (for customer-scoped kinds) and
/// invoices, each with its connected account (`None`: the platform). Order is
/// popularity rank: the first is the hottest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUniverse {
    /// `(account, customer id)`.
    pub customers: Vec<(Option<String>, String)>,
    /// `(account, invoice id)`.
    pub invoices: Vec<(Option<String>, String)>,
}

/// One request of the schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Position in the schedule, from 0.
    pub seq: u64,
    /// Intended start, from the run's start.
    pub intended: Duration,
    /// What it reads.
    pub key: CacheKey,
}

/// Chooses kinds by weight.
#[derive(Clone, Debug)]
pub struct KindChooser {
    cumulative: Vec<(f64, ObjectKind)>,
}

impl KindChooser {
    /// A chooser for `mix` (weights summing to 1).
    pub fn new(mix: &KindMix) -> Self {
        let mut sum = 0.0;
        let cumulative = mix
            .0
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .map(|(k, w)| {
                sum += w;
                (sum, *k)
            })
            .collect();
        KindChooser { cumulative }
    }

    /// A kind drawn by weight (customer when the mix is empty).
    pub fn choose(&self, rng: &mut SplitMix) -> ObjectKind {
        let u = rng.unit() * self.cumulative.last().map_or(1.0, |c| c.0);
        self.cumulative
            .iter()
            .find(|(c, _)| u < *c)
            .or(self.cumulative.last())
            .map_or(ObjectKind::Customer, |c| c.1)
    }
}

/// A scenario's request schedule over a key universe.
#[derive(Clone, Debug)]
pub struct Workload {
    universe: KeyUniverse,
    customers: KeySampler,
    invoices: KeySampler,
    kinds: KindChooser,
    arrivals: Arrivals,
    rng: SplitMix,
    seq: u64,
}

impl Workload {
    /// The open-loop schedule of `scenario` over `universe` (which must hold at
    /// least one customer; invoice reads fall back to customers when it holds
    /// no invoices). Closed-loop scenarios draw keys with [`Workload::next_key`].
    pub fn new(scenario: &Scenario, universe: KeyUniverse) -> Self {
        let w = &scenario.workload;
        let seed = scenario.seed;
        Workload {
            customers: KeySampler::new(universe.customers.len() as u64, &w.popularity, mix(seed, 11)),
            invoices: KeySampler::new(universe.invoices.len() as u64, &w.popularity, mix(seed, 12)),
            universe,
            kinds: KindChooser::new(&w.mix),
            arrivals: Arrivals::new(&w.arrival, &w.bursts, scenario.duration, mix(seed, 13)),
            rng: SplitMix::new(mix(seed, 14)),
            seq: 0,
        }
    }

    /// Whether the scenario is closed-loop (callers pace themselves).
    pub fn closed_loop(scenario: &Scenario) -> Option<u32> {
        match scenario.workload.arrival {
            Arrival::Closed { callers } => Some(callers),
            _ => None,
        }
    }

    /// The next key to read for a request at `at`.
    pub fn next_key(&mut self, at: Duration) -> CacheKey {
        let mut kind = self.kinds.choose(&mut self.rng);
        if kind == ObjectKind::Invoice && self.universe.invoices.is_empty() {
            kind = ObjectKind::Customer;
        }
        let (account, id) = if kind == ObjectKind::Invoice {
            &self.universe.invoices[self.invoices.sample(&mut self.rng, at) as usize]
        } else {
            &self.universe.customers[self.customers.sample(&mut self.rng, at) as usize]
        };
        let key = CacheKey::new(kind, id.clone());
        match account {
            Some(a) => key.with_account(a.clone()),
            None => key,
        }
    }
}

impl Iterator for Workload {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        let intended = self.arrivals.next()?;
        let key = self.next_key(intended);
        let seq = self.seq;
        self.seq += 1;
        Some(Request { seq, intended, key })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn scenario(extra: &str) -> Scenario {
        let text = format!("duration = \"10s\"\nseed = 5\n[workload]\n{extra}\n");
        Scenario::parse(Path::new("t.toml"), &text).unwrap()
    }

    fn universe() -> KeyUniverse {
        KeyUniverse {
            customers: (0..50).map(|i| (None, format!("cus_{i}"))).collect(),
            invoices: (0..20).map(|i| (Some("acct_1".into()), format!("in_{i}"))).collect(),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_request_sequence() {
        let s = scenario(
            "arrival = { kind = \"poisson\", rate_per_s = 200 }\npopularity = { kind = \"zipf\", s = 0.9 }",
        );
        let a: Vec<Request> = Workload::new(&s, universe()).collect();
        let b: Vec<Request> = Workload::new(&s, universe()).collect();
        assert_eq!(a, b);
        assert!((1_800..2_200).contains(&a.len()), "{}", a.len());
        let mut other = s.clone();
        other.seed = 6;
        let c: Vec<Request> = Workload::new(&other, universe()).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn kinds_follow_the_mix_and_invoices_keep_their_account() {
        let s = scenario(
            "arrival = { kind = \"constant\", rate_per_s = 1000 }\nmix = { customer = 0.5, subscriptions = 0.25, invoice = 0.25 }",
        );
        let reqs: Vec<Request> = Workload::new(&s, universe()).collect();
        let share = |k| reqs.iter().filter(|r| r.key.kind == k).count() as f64 / reqs.len() as f64;
        assert!((0.47..0.53).contains(&share(ObjectKind::Customer)));
        assert!((0.22..0.28).contains(&share(ObjectKind::Invoice)));
        assert_eq!(share(ObjectKind::PaymentMethods), 0.0);
        let inv = reqs.iter().find(|r| r.key.kind == ObjectKind::Invoice).unwrap();
        assert_eq!(inv.key.account.as_deref(), Some("acct_1"));
        assert!(inv.key.id.starts_with("in_"));
        assert_eq!(
            reqs.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (0..reqs.len() as u64).collect::<Vec<_>>()
        );
    }
}
