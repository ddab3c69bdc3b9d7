//! The seeded population: accounts, customers with their subscriptions, payment
//! methods and invoices. Same seed and configuration, same data, byte for byte.
//!
//! Ids and the shape of each customer's data (how many subscriptions, payment
//! methods, invoices) derive from the seed and the customer's index only, so
//! every account holds the same ids; names, e-mails, amounts and statuses also
//! derive from the account, so the same id has different contents per account.

use std::collections::HashMap;

use serde_json::Value;

use super::config::{PadBytes, PopulationConfig};
use super::rng::{SplitMix, id_from, mix};
use super::state::{
    Account, CustomerRec, InvoiceRec, Obj, PaymentMethodRec, Resource, State, SubscriptionRec, Track,
};
use crate::clock::Timestamp;
use crate::stripe::objects::{
    self, CustomerFields, InvoiceFields, PaymentMethodFields, PriceFields, SubscriptionFields, pad_metadata,
};

/// Objects are created in the two years before 2026-01-01T00:00:00Z: a fixed
/// base, so the population does not depend on when it is built.
const CREATED_BASE_S: i64 = 1_767_225_600;
const TWO_YEARS_S: u64 = 2 * 365 * 86_400;
const MONTH_S: i64 = 30 * 86_400;
/// Per customer, at most this many objects of one kind (id space per customer).
const SLOTS: u64 = 64;

const FIRST: [&str; 16] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia",
    "Tim", "Hedy", "John", "Sophie", "Linus",
];
const LAST: [&str; 16] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "McCarthy",
    "Wilson",
    "Torvalds",
];
const CITIES: [(&str, &str, &str); 4] = [
    ("San Francisco", "94107", "US"),
    ("Dublin", "D02 X285", "IE"),
    ("Berlin", "10115", "DE"),
    ("Toronto", "M5V 2T6", "CA"),
];
const BRANDS: [&str; 4] = ["visa", "mastercard", "amex", "discover"];

/// Salts that keep the id spaces of the object kinds apart.
#[derive(Clone, Copy)]
enum Salt {
    Account = 1,
    Customer,
    Subscription,
    Item,
    PaymentMethod,
    Invoice,
    Line,
    Price,
    Product,
}

fn oid(seed: u64, salt: Salt, n: u64, prefix: &str) -> String {
    id_from(prefix, mix(seed ^ (salt as u64).wrapping_mul(0x1000_0000_0001), n), 14)
}

/// The connected account ids the population has, in order.
pub(crate) fn account_ids(seed: u64, connected: usize) -> Vec<String> {
    (0..connected as u64).map(|a| id_from("acct_", mix(seed ^ Salt::Account as u64, a), 16)).collect()
}

/// The price catalog: (unit amount in cents, interval).
const PRICES: [(i64, &str); 4] = [(900, "month"), (2_900, "month"), (9_900, "month"), (99_900, "year")];

/// Builds every account's data as version 1 at `now`.
pub(crate) fn build(seed: u64, cfg: &PopulationConfig, now: Timestamp) -> State {
    let mut accounts = Vec::with_capacity(cfg.connected_accounts + 1);
    let mut account_index = HashMap::new();
    accounts.push(build_account(seed, None, 0, cfg, now));
    for (i, id) in account_ids(seed, cfg.connected_accounts).into_iter().enumerate() {
        account_index.insert(id.clone(), i + 1);
        accounts.push(build_account(seed, Some(id), i as u64 + 1, cfg, now));
    }
    State { accounts, account_index, next_version: 2 }
}

/// How many invoices the population of `cfg` built from `seed` holds over
/// every account, without building it (the simulator's key space): a
/// customer's subscription count comes from its `shape` draws alone, the same
/// in every account.
pub fn invoice_count(seed: u64, cfg: &PopulationConfig) -> u64 {
    let subscriptions: u64 = (0..cfg.customers as u64)
        .map(|i| {
            // The draws of `build_account`, in its order, up to the count.
            let mut shape = SplitMix::new(mix(seed, i));
            let _created = shape.below(TWO_YEARS_S);
            u64::from(skewed(&mut shape, cfg.max_subscriptions_per_customer, 0.15))
        })
        .sum();
    subscriptions * u64::from(cfg.invoices_per_subscription) * (cfg.connected_accounts as u64 + 1)
}

fn price(seed: u64, p: usize, livemode: bool) -> PriceFields {
    let (unit_amount, interval) = PRICES[p];
    PriceFields {
        id: oid(seed, Salt::Price, p as u64, "price_"),
        product: oid(seed, Salt::Product, p as u64, "prod_"),
        unit_amount,
        interval,
        created: CREATED_BASE_S - 3 * 365 * 86_400,
        livemode,
    }
}

fn obj(mut value: Value, pad: usize, now: Timestamp) -> Obj {
    pad_metadata(&mut value, pad);
    Obj::new(&value, 1, now)
}

fn build_account(seed: u64, id: Option<String>, a: u64, cfg: &PopulationConfig, now: Timestamp) -> Account {
    let mut acc = Account { id, ..Account::default() };
    let pad: PadBytes = cfg.pad_bytes;
    let live = cfg.livemode;
    for i in 0..cfg.customers as u64 {
        // Structure (ids, counts, times) from the seed and index; contents also from the account.
        let mut shape = SplitMix::new(mix(seed, i));
        let mut look = SplitMix::new(mix(mix(seed, 0xacc0 + a), i));
        let cus_id = oid(seed, Salt::Customer, i, "cus_");
        let created = CREATED_BASE_S - shape.below(TWO_YEARS_S) as i64;
        let n_subs = skewed(&mut shape, cfg.max_subscriptions_per_customer, 0.15);
        let n_pms = 1 + skewed(&mut shape, cfg.max_payment_methods_per_customer - 1, 0.6);
        let (first, last) = (FIRST[look.below(16) as usize], LAST[look.below(16) as usize]);
        let name = format!("{first} {last}");
        let email =
            format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), look.below(10_000));
        let mut pm_ids = Vec::new();
        for k in 0..u64::from(n_pms) {
            let pm_id = oid(seed, Salt::PaymentMethod, i * SLOTS + k, "pm_");
            let pm_created = created + (k as i64 + 1) * 86_400;
            let fields =
                pm_fields(&mut look, pm_id.clone(), pm_created, Some(cus_id.clone()), &name, &email, live);
            let rec = PaymentMethodRec {
                obj: obj(objects::payment_method(&fields), pad.payment_method, now),
                customer: Some(cus_id.clone()),
            };
            acc.payment_methods.insert(pm_id.clone(), rec);
            pm_ids.push(pm_id);
        }
        pm_ids.reverse(); // newest first
        let default_pm = pm_ids.first().cloned();
        let mut sub_ids = Vec::new();
        let mut invoice_ids = Vec::new();
        for k in 0..u64::from(n_subs) {
            let slot = i * SLOTS + k;
            let sub_id = oid(seed, Salt::Subscription, slot, "sub_");
            let sub_created = created + (k as i64 + 1) * 3 * 86_400;
            let p = price(seed, look.below(PRICES.len() as u64) as usize, live);
            let quantity = 1 + look.below(5) as u32;
            let status = match look.below(20) {
                0 => "canceled",
                1 => "past_due",
                2 | 3 => "trialing",
                _ => "active",
            };
            let period = if p.interval == "year" { 12 * MONTH_S } else { MONTH_S };
            let n_inv = cfg.invoices_per_subscription as i64;
            let latest_start = CREATED_BASE_S - shape.below(period as u64) as i64;
            let mut latest_invoice = None;
            for n in 0..n_inv {
                let in_id = oid(seed, Salt::Invoice, slot * 128 + n as u64, "in_");
                let start = latest_start - n * period;
                let status = if n == 0 && look.chance(0.3) { "open" } else { "paid" };
                let fields = InvoiceFields {
                    id: in_id.clone(),
                    line_id: oid(seed, Salt::Line, slot * 128 + n as u64, "il_"),
                    customer: cus_id.clone(),
                    customer_name: name.clone(),
                    customer_email: email.clone(),
                    subscription: Some((sub_id.clone(), oid(seed, Salt::Item, slot, "si_"))),
                    created: start.max(sub_created),
                    period_start: start - period,
                    period_end: start,
                    status,
                    number: format!("{:08X}-{:04}", mix(seed, i) as u32, n_inv - n),
                    amount: p.unit_amount * i64::from(quantity),
                    quantity,
                    price: p.clone(),
                    livemode: live,
                };
                let rec = InvoiceRec { obj: obj(objects::invoice(&fields), pad.invoice, now) };
                acc.invoices.insert(in_id.clone(), rec);
                latest_invoice.get_or_insert_with(|| in_id.clone());
                invoice_ids.push(in_id);
            }
            let fields = SubscriptionFields {
                id: sub_id.clone(),
                item_id: oid(seed, Salt::Item, slot, "si_"),
                customer: cus_id.clone(),
                created: sub_created,
                period_start: latest_start,
                period_end: latest_start + period,
                status,
                quantity,
                default_payment_method: default_pm.clone(),
                latest_invoice,
                price: p,
                livemode: live,
            };
            let rec = SubscriptionRec {
                obj: obj(objects::subscription(&fields), pad.subscription, now),
                status: status.to_owned(),
            };
            acc.subscriptions.insert(sub_id.clone(), rec);
            sub_ids.push(sub_id);
        }
        let (city, postal, country) = CITIES[look.below(4) as usize];
        let fields = CustomerFields {
            id: cus_id.clone(),
            created,
            name: name.clone(),
            email: email.clone(),
            phone: format!("+1415555{:04}", look.below(10_000)),
            address: [
                format!("{} Market Street", 1 + look.below(999)),
                city.into(),
                postal.into(),
                country.into(),
            ],
            default_payment_method: default_pm,
            invoice_prefix: format!("{:08X}", mix(seed, i) as u32),
            livemode: live,
        };
        let customer = obj(objects::customer(&fields), pad.customer, now);
        let mut rec = CustomerRec {
            obj: customer,
            subscriptions: Vec::new(),
            payment_methods: Vec::new(),
            invoices: Vec::new(),
            subscriptions_track: Track::new(1, now),
            payment_methods_track: Track::new(1, now),
        };
        for s in &sub_ids {
            acc.insert_ordered(&mut rec.subscriptions, s, Resource::Subscription);
        }
        for p in &pm_ids {
            acc.insert_ordered(&mut rec.payment_methods, p, Resource::PaymentMethod);
        }
        for n in &invoice_ids {
            acc.insert_ordered(&mut rec.invoices, n, Resource::Invoice);
        }
        acc.customers.insert(cus_id.clone(), rec);
        acc.customer_order.push(cus_id);
        acc.subscription_order.extend(sub_ids);
        acc.invoice_order.extend(invoice_ids);
    }
    let mut look = SplitMix::new(mix(mix(seed, 0xf4ee + a), 0));
    for u in 0..cfg.unattached_payment_methods as u64 {
        let pm_id = oid(seed, Salt::PaymentMethod, cfg.customers as u64 * SLOTS + u, "pm_");
        let created = CREATED_BASE_S - (u as i64) * 3_600;
        let fields =
            pm_fields(&mut look, pm_id.clone(), created, None, "Walk-in Buyer", "buyer@example.com", live);
        let rec = PaymentMethodRec {
            obj: obj(objects::payment_method(&fields), pad.payment_method, now),
            customer: None,
        };
        acc.payment_methods.insert(pm_id.clone(), rec);
        acc.unattached.push(pm_id);
    }
    acc.customer_order = newest_first(&acc, &acc.customer_order, Resource::Customer);
    acc.subscription_order = newest_first(&acc, &acc.subscription_order, Resource::Subscription);
    acc.invoice_order = newest_first(&acc, &acc.invoice_order, Resource::Invoice);
    acc
}

fn newest_first(acc: &Account, ids: &[String], kind: Resource) -> Vec<String> {
    let mut sorted = ids.to_vec();
    sorted.sort_by_cached_key(|id| {
        std::cmp::Reverse((acc.object(kind, id).map_or(0, |o| o.created), id.clone()))
    });
    sorted
}

/// 0..=max, mostly 1 (or 0 with probability `p_zero`).
fn skewed(rng: &mut SplitMix, max: u32, p_zero: f64) -> u32 {
    if max == 0 {
        return 0;
    }
    let r = rng.unit();
    if r < p_zero {
        0
    } else if r < 0.8 || max == 1 {
        1
    } else {
        2 + rng.below(u64::from(max - 1)) as u32
    }
}

fn pm_fields(
    look: &mut SplitMix,
    id: String,
    created: i64,
    customer: Option<String>,
    name: &str,
    email: &str,
    livemode: bool,
) -> PaymentMethodFields {
    PaymentMethodFields {
        id,
        created,
        customer,
        brand: BRANDS[look.below(4) as usize].into(),
        last4: format!("{:04}", look.below(10_000)),
        exp_month: 1 + look.below(12) as u32,
        exp_year: 2027 + look.below(6) as u32,
        fingerprint: id_from("", look.next_u64(), 16),
        name: name.into(),
        email: email.into(),
        livemode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PopulationConfig {
        PopulationConfig { customers: 50, connected_accounts: 2, ..PopulationConfig::default() }
    }

    #[test]
    fn the_same_seed_builds_the_same_bytes() {
        let now = Timestamp::from_millis(1);
        let (a, b) = (build(7, &small(), now), build(7, &small(), now));
        let c = build(8, &small(), now);
        let first = |s: &State| s.accounts[0].customer_order[0].clone();
        assert_eq!(first(&a), first(&b));
        assert_ne!(first(&a), first(&c));
        let id = first(&a);
        assert_eq!(a.accounts[1].customers[&id].obj.body, b.accounts[1].customers[&id].obj.body);
    }

    #[test]
    fn accounts_share_ids_but_not_contents() {
        let s = build(3, &small(), Timestamp::EPOCH);
        assert_eq!(s.accounts.len(), 3);
        assert_eq!(s.account_index.len(), 2);
        let id = &s.accounts[0].customer_order[0];
        let differing = s.accounts[0]
            .customer_order
            .iter()
            .filter(|id| s.accounts[0].customers[*id].obj.body != s.accounts[1].customers[*id].obj.body)
            .count();
        assert!(s.accounts[1].customers.contains_key(id));
        assert!(differing > 40, "{differing} of 50 customers differ between accounts");
    }

    #[test]
    fn objects_have_realistic_sizes_and_newest_first_order() {
        let s = build(1, &small(), Timestamp::EPOCH);
        let acc = &s.accounts[0];
        let compact = |o: &Obj| serde_json::to_vec(&o.value()).unwrap().len();
        let cus = compact(&acc.customers[&acc.customer_order[0]].obj);
        let sub = compact(&acc.subscriptions[&acc.subscription_order[0]].obj);
        let inv = compact(&acc.invoices[&acc.invoice_order[0]].obj);
        let pm = compact(acc.payment_methods.values().next().map(|p| &p.obj).unwrap());
        eprintln!(
            "compact sizes: customer {cus} B, subscription {sub} B, invoice {inv} B, payment method {pm} B"
        );
        assert!((800..1_500).contains(&cus), "customer {cus} B");
        assert!((3_300..4_500).contains(&sub), "subscription {sub} B");
        assert!((3_300..4_500).contains(&inv), "invoice {inv} B");
        assert!((700..1_300).contains(&pm), "payment method {pm} B");
        let created: Vec<i64> = acc.customer_order.iter().map(|id| acc.customers[id].obj.created).collect();
        assert!(created.windows(2).all(|w| w[0] >= w[1]));
        let mut padded = small();
        padded.pad_bytes.customer = 2_000;
        let p = build(1, &padded, Timestamp::EPOCH);
        let bigger = compact(&p.accounts[0].customers[&acc.customer_order[0]].obj);
        assert!(bigger >= cus + 2_000, "{bigger} vs {cus}");
    }

    #[test]
    fn invoice_count_matches_the_built_population() {
        for (customers, connected) in [(1, 0), (57, 2), (400, 1)] {
            let cfg =
                PopulationConfig { customers, connected_accounts: connected, ..PopulationConfig::default() };
            let built = build(7, &cfg, Timestamp::EPOCH);
            let n: u64 = built.accounts.iter().map(|a| a.invoice_order.len() as u64).sum();
            assert_eq!(invoice_count(7, &cfg), n, "{customers} customers, {connected} connected accounts");
        }
    }
}
