//! The simulator's key space and traffic: every cache key as a dense index
//! (three customer-scoped kinds per customer, one per invoice), the request
//! stream drawn exactly as the live workload draws it (same seeds, same order
//! of draws), the mutation stream, and the data size of each kind.

use std::time::Duration;

use crate::mock::PopulationConfig;
use crate::rng::{SplitMix, mix};
use crate::scenario::Scenario;
use crate::stripe::ObjectKind;
use crate::workload::{Arrivals, KeySampler, KindChooser};

/// A cache key in the simulator: an index into [`KeySpace`].
pub type Key = u32;

/// Every cache key of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpace {
    /// Customers over every account.
    pub customers: u64,
    /// Invoices over every account.
    pub invoices: u64,
}

impl KeySpace {
    /// The keys of `scenario`: its customers per account times accounts (the
    /// platform and each connected account), and the invoices the mock's
    /// seeded population gives them.
    pub fn of(scenario: &Scenario) -> Self {
        let w = &scenario.workload;
        let accounts = u64::from(w.accounts) + 1;
        let per_account = w.customers.max(1);
        let cfg = PopulationConfig {
            customers: usize::try_from(per_account).unwrap_or(usize::MAX),
            connected_accounts: w.accounts as usize,
            ..PopulationConfig::default()
        };
        let invoices = crate::mock::invoice_count(scenario.seed, &cfg);
        KeySpace { customers: per_account * accounts, invoices }
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        (self.customers * 3 + self.invoices) as usize
    }

    /// Whether there are none (never for a scenario: it has a customer).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key of `kind` for customer (or invoice) number `index`.
    pub fn key(&self, kind: ObjectKind, index: u64) -> Key {
        let slot = match kind {
            ObjectKind::Customer => 0,
            ObjectKind::Subscriptions => 1,
            ObjectKind::PaymentMethods => 2,
            ObjectKind::Invoice => return (self.customers * 3 + index) as Key,
        };
        (slot * self.customers + index) as Key
    }

    /// The kind of `key`.
    pub fn kind(&self, key: Key) -> ObjectKind {
        match u64::from(key) / self.customers.max(1) {
            0 => ObjectKind::Customer,
            1 => ObjectKind::Subscriptions,
            2 => ObjectKind::PaymentMethods,
            _ => ObjectKind::Invoice,
        }
    }

    /// A stable name of `key` (for the policy's jitter hash).
    pub fn name(&self, key: Key) -> String {
        format!("{}:{key}", self.kind(key).name())
    }
}

/// Mean bytes of Stripe JSON per kind, from the mock's population defaults
/// (compact JSON): a customer ~0.95 KB; a customer's subscriptions list
/// (mostly one subscription of ~3.45 KB); payment methods (about two of
/// ~0.85 KB); an invoice ~3.55 KB.
pub fn data_bytes(kind: ObjectKind) -> u64 {
    match kind {
        ObjectKind::Customer => 950,
        ObjectKind::Subscriptions => 3_600,
        ObjectKind::PaymentMethods => 1_800,
        ObjectKind::Invoice => 3_550,
    }
}

/// The scenario's requests as `(intended start µs, key)`, drawn as
/// [`crate::workload::Workload`] draws them.
#[derive(Clone, Debug)]
pub struct Requests {
    space: KeySpace,
    customers: KeySampler,
    invoices: KeySampler,
    kinds: KindChooser,
    arrivals: Arrivals,
    rng: SplitMix,
}

impl Requests {
    /// The open-loop schedule of `scenario` over `space`.
    pub fn new(scenario: &Scenario, space: KeySpace) -> Self {
        let (w, seed) = (&scenario.workload, scenario.seed);
        Requests {
            space,
            customers: KeySampler::new(space.customers, &w.popularity, mix(seed, 11)),
            invoices: KeySampler::new(space.invoices, &w.popularity, mix(seed, 12)),
            kinds: KindChooser::new(&w.mix),
            arrivals: Arrivals::new(&w.arrival, &w.bursts, scenario.duration, mix(seed, 13)),
            rng: SplitMix::new(mix(seed, 14)),
        }
    }
}

impl Iterator for Requests {
    type Item = (u64, Key);

    fn next(&mut self) -> Option<(u64, Key)> {
        let at = self.arrivals.next()?;
        let mut kind = self.kinds.choose(&mut self.rng);
        if kind == ObjectKind::Invoice && self.space.invoices == 0 {
            kind = ObjectKind::Customer;
        }
        let index = if kind == ObjectKind::Invoice {
            self.invoices.sample(&mut self.rng, at)
        } else {
            self.customers.sample(&mut self.rng, at)
        };
        Some((at.as_micros() as u64, self.space.key(kind, index)))
    }
}

/// Objects changed by the scenario's `[mutations]`: Poisson at the run-time
/// rate, kinds by the mix, keys uniform, as the live mutation driver draws them.
#[derive(Clone, Debug)]
pub struct Mutations {
    space: KeySpace,
    kinds: KindChooser,
    rate_per_s: f64,
    rng: SplitMix,
    at: Duration,
    end: Duration,
}

impl Mutations {
    /// The mutations of `scenario` over `space`.
    pub fn new(scenario: &Scenario, space: KeySpace) -> Self {
        Mutations {
            space,
            kinds: KindChooser::new(&scenario.mutations.mix),
            rate_per_s: scenario.mutations.rate_per_s * scenario.time_scale,
            rng: SplitMix::new(mix(scenario.seed, 21)),
            at: Duration::ZERO,
            end: scenario.duration,
        }
    }
}

impl Iterator for Mutations {
    type Item = (u64, Key);

    fn next(&mut self) -> Option<(u64, Key)> {
        if self.rate_per_s <= 0.0 {
            return None;
        }
        let gap = -(1.0 - self.rng.unit()).ln() / self.rate_per_s;
        self.at = self.at.saturating_add(Duration::try_from_secs_f64(gap).unwrap_or(Duration::MAX));
        if self.at >= self.end {
            return None;
        }
        let kind = self.kinds.choose(&mut self.rng);
        let (n, kind) = if kind == ObjectKind::Invoice && self.space.invoices > 0 {
            (self.space.invoices, kind)
        } else if kind == ObjectKind::Invoice {
            (self.space.customers, ObjectKind::Customer)
        } else {
            (self.space.customers, kind)
        };
        let index = self.rng.below(n);
        Some((self.at.as_micros() as u64, self.space.key(kind, index)))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::workload::{KeyUniverse, Workload};

    #[test]
    fn requests_draw_the_live_workloads_keys() {
        let text = "duration = \"5s\"\nseed = 9\n[workload]\ncustomers = 40\n\
                    mix = { customer = 0.4, subscriptions = 0.3, invoice = 0.3 }\n\
                    arrival = { kind = \"poisson\", rate_per_s = 300 }\n";
        let s = Scenario::parse(Path::new("t.toml"), text).unwrap();
        let space = KeySpace { customers: 40, invoices: 25 };
        let universe = KeyUniverse {
            customers: (0..40).map(|i| (None, format!("cus_{i}"))).collect(),
            invoices: (0..25).map(|i| (None, format!("in_{i}"))).collect(),
        };
        let live: Vec<_> = Workload::new(&s, universe).collect();
        let sim: Vec<_> = Requests::new(&s, space).collect();
        assert_eq!(live.len(), sim.len());
        for (l, (at, key)) in live.iter().zip(&sim) {
            assert_eq!(l.intended.as_micros() as u64, *at);
            assert_eq!(l.key.kind, space.kind(*key));
            let index: u64 = l.key.id.split('_').nth(1).unwrap().parse().unwrap();
            assert_eq!(space.key(l.key.kind, index), *key);
        }
    }

    #[test]
    fn keys_map_back_to_their_kind() {
        let space = KeySpace { customers: 10, invoices: 7 };
        assert_eq!(space.len(), 37);
        for kind in ObjectKind::ALL {
            for i in [0, 6] {
                assert_eq!(space.kind(space.key(kind, i)), kind);
            }
        }
    }
}
