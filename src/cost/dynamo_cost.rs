//! DynamoDB cost: read and write units (on-demand per million, or provisioned
//! for the peak at a target utilisation) plus storage beyond the free 25 GB.

use super::breakdown::{DynamoCapacityCost, DynamoCost};
use super::deployment::DynamoCapacity;
use super::error::CostError;
use super::model::RunScale;
use super::pricing::Pricing;
use super::units::BYTES_PER_GIB;
use super::usage::Usage;

/// Provisioned units for a peak: ceil(peak units/s / target utilisation), at
/// least 1 (100/s at 0.70 -> 143).
pub fn provisioned_units(peak_units_per_s: f64, target_utilisation: f64) -> u64 {
    // The tolerance keeps 21 / 0.7 = 30.000000000000004 at 30.
    ((peak_units_per_s / target_utilisation - 1e-9).ceil() as u64).max(1)
}

pub(crate) fn dynamodb_cost(
    usage: &Usage,
    pricing: &Pricing,
    run: &RunScale,
    assumptions: &mut Vec<String>,
) -> Result<DynamoCost, CostError> {
    let d = &usage.dynamodb;
    let p = &pricing.dynamodb;
    let read_units = d.read_units();
    let write_units = d.write_units();
    let capacity = match usage.deployment.dynamodb_capacity {
        DynamoCapacity::OnDemand => DynamoCapacityCost::OnDemand {
            read_usd: read_units * p.on_demand_read_per_million_usd.value / 1e6,
            write_usd: write_units * p.on_demand_write_per_million_usd.value / 1e6,
        },
        DynamoCapacity::Provisioned { target_utilisation } => {
            let utilisation = target_utilisation.unwrap_or(p.target_utilisation.value);
            if !(utilisation > 0.0 && utilisation <= 1.0) {
                return Err(CostError::Usage {
                    field: "deployment.dynamodb_capacity.target_utilisation",
                    why: format!("is {utilisation}; must be a fraction in (0, 1]"),
                });
            }
            let mut peak = |measured: Option<f64>, units: f64, what: &str| {
                measured.unwrap_or_else(|| {
                    assumptions.push(format!(
                        "no peak {what} units/s measured: provisioned for the run's average (an underestimate)"
                    ));
                    units / usage.run_duration_s
                })
            };
            let peak_read_units_per_s = peak(d.peak_read_units_per_s, read_units, "read");
            let peak_write_units_per_s = peak(d.peak_write_units_per_s, write_units, "write");
            let rcu = provisioned_units(peak_read_units_per_s, utilisation);
            let wcu = provisioned_units(peak_write_units_per_s, utilisation);
            let capacity_usd = (rcu as f64 * p.provisioned_rcu_hour_usd.value
                + wcu as f64 * p.provisioned_wcu_hour_usd.value)
                * run.hours;
            DynamoCapacityCost::Provisioned {
                peak_read_units_per_s,
                peak_write_units_per_s,
                target_utilisation: utilisation,
                rcu,
                wcu,
                capacity_usd,
            }
        }
    };
    let s = &d.storage;
    let stored_bytes = (s.item_bytes_total + s.gsi_bytes_total) as f64
        + (s.item_count + s.gsi_item_count) as f64 * p.item_overhead_bytes.value;
    let storage_billable_gb = (stored_bytes / BYTES_PER_GIB - p.storage_free_gb.value).max(0.0);
    let storage_usd = run.prorate_monthly(storage_billable_gb * p.storage_gb_month_usd.value);
    let requests_usd = match capacity {
        DynamoCapacityCost::OnDemand { read_usd, write_usd } => read_usd + write_usd,
        DynamoCapacityCost::Provisioned { capacity_usd, .. } => capacity_usd,
    };
    Ok(DynamoCost {
        cost: run.cost(requests_usd + storage_usd),
        read_units,
        write_units,
        capacity,
        storage_billable_gb,
        storage_usd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::model::{CostOptions, estimate};
    use crate::cost::units::{Consistency, WriteMode};
    use crate::cost::usage::{DynamoStorage, GsiWrite, ItemRead, ItemWrite};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    fn cost(u: &Usage) -> DynamoCost {
        estimate(u, &Pricing::defaults(), &CostOptions::default()).unwrap().dynamodb
    }

    fn one_hour() -> Usage {
        let mut u = Usage { run_duration_s: 3600.0, requests: 1_000_000, ..Usage::default() };
        // 1M eventually consistent 5 KB GetItems = 1M x 1 read unit
        u.dynamodb
            .reads
            .record_n(ItemRead { consistency: Consistency::Eventual, size_bytes: 5 * 1024 }, 1_000_000);
        // 100k 2.5 KB writes whose GSI key changed (600 B projection): 3 + 2 = 5 units each
        let write = ItemWrite {
            item_bytes: 2560,
            mode: WriteMode::Standard,
            gsi: vec![GsiWrite { projected_bytes: 600, key_changed: true }],
        };
        u.dynamodb.writes.record_n(write, 100_000);
        u
    }

    #[test]
    fn on_demand_prices_units_per_million() {
        let c = cost(&one_hour());
        assert_eq!(c.read_units, 1_000_000.0);
        assert_eq!(c.write_units, 500_000.0);
        // 1M x 0.125/1M = 0.125; 500k x 0.625/1M = 0.3125
        let DynamoCapacityCost::OnDemand { read_usd, write_usd } = c.capacity else {
            panic!("{:?}", c.capacity)
        };
        assert!(close(read_usd, 0.125));
        assert!(close(write_usd, 0.3125));
        assert!(close(c.cost.per_run_usd, 0.4375));
        assert!(close(c.cost.per_million_requests_usd.unwrap(), 0.4375));
    }

    #[test]
    fn provisioned_capacity_is_peak_over_target_utilisation() {
        assert_eq!(provisioned_units(100.0, 0.70), 143); // 142.86 -> 143
        assert_eq!(provisioned_units(70.0, 0.70), 100);
        assert_eq!(provisioned_units(21.0, 0.70), 30); // 30.000000000000004 in f64
        assert_eq!(provisioned_units(35.0, 0.70), 50);
        assert_eq!(provisioned_units(0.0, 0.70), 1);
        let mut u = one_hour();
        u.deployment.dynamodb_capacity = DynamoCapacity::Provisioned { target_utilisation: None };
        u.dynamodb.peak_read_units_per_s = Some(100.0);
        u.dynamodb.peak_write_units_per_s = Some(35.0);
        // 143 RCU x 0.00013 + 50 WCU x 0.00065 = 0.01859 + 0.0325 = 0.05109 per hour
        let c = cost(&u);
        let DynamoCapacityCost::Provisioned { rcu, wcu, capacity_usd, .. } = c.capacity else { panic!() };
        assert_eq!((rcu, wcu), (143, 50));
        assert!(close(capacity_usd, 0.05109));
        assert!(close(c.cost.per_month_usd, 0.05109 * 730.0));
        // an explicit utilisation of 0.5: 200 RCU, 70 WCU
        u.deployment.dynamodb_capacity = DynamoCapacity::Provisioned { target_utilisation: Some(0.5) };
        let DynamoCapacityCost::Provisioned { rcu, wcu, .. } = cost(&u).capacity else { panic!() };
        assert_eq!((rcu, wcu), (200, 70));
    }

    #[test]
    fn provisioned_without_a_peak_uses_the_average_and_says_so() {
        let mut u = one_hour();
        u.deployment.dynamodb_capacity = DynamoCapacity::Provisioned { target_utilisation: None };
        // 1M read units / 3600 s = 277.8/s -> / 0.7 = 396.8 -> 397 RCU;
        // 500k write units / 3600 s = 138.9/s -> 198.4 -> 199 WCU
        let b = estimate(&u, &Pricing::defaults(), &CostOptions::default()).unwrap();
        let DynamoCapacityCost::Provisioned { rcu, wcu, .. } = b.dynamodb.capacity else { panic!() };
        assert_eq!((rcu, wcu), (397, 199));
        assert!(b.assumptions.iter().any(|a| a.contains("no peak read units/s")));
        u.deployment.dynamodb_capacity = DynamoCapacity::Provisioned { target_utilisation: Some(1.5) };
        assert!(estimate(&u, &Pricing::defaults(), &CostOptions::default()).is_err());
    }

    #[test]
    fn storage_beyond_the_free_25_gb_with_item_overhead() {
        let mut u = one_hour();
        // 1M items x 3,000 B + 1M GSI items x 600 B + 2M x 100 B = 3.8e9 B = 3.54 GiB: free
        u.dynamodb.storage = DynamoStorage {
            item_count: 1_000_000,
            item_bytes_total: 3_000_000_000,
            gsi_item_count: 1_000_000,
            gsi_bytes_total: 600_000_000,
        };
        assert_eq!(cost(&u).storage_usd, 0.0);
        // 10M items x 3,000 B + 10M x 100 B = 3.1e10 B = 28.8710 GiB -> 3.8710 x 0.25 = 0.96775 a month
        u.dynamodb.storage = DynamoStorage {
            item_count: 10_000_000,
            item_bytes_total: 30_000_000_000,
            ..DynamoStorage::default()
        };
        let c = cost(&u);
        assert!((c.storage_billable_gb - 3.871_00).abs() < 1e-5, "{}", c.storage_billable_gb);
        assert!((c.storage_usd * 730.0 - 0.967_75).abs() < 1e-5);
        assert!(close(c.storage_usd, c.storage_billable_gb * 0.25 / 730.0));
    }
}
