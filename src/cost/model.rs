//! The cost model's entry point: usage x pricing -> [`CostBreakdown`], and the
//! Lambda, NAT and transfer components (ElastiCache and DynamoDB have their own
//! files).

use serde::{Deserialize, Serialize};

use super::breakdown::{ComponentCost, CostBreakdown, FreeTier, LambdaCost, NatCost, TransferCost};
use super::cache_cost::elasticache_cost;
use super::deployment::{Architecture, DynamoRoute, NatGateways};
use super::dynamo_cost::dynamodb_cost;
use super::error::CostError;
use super::headroom::stripe_headroom;
use super::pricing::Pricing;
use super::units::{self, BYTES_PER_GIB, SECONDS_PER_HOUR};
use super::usage::Usage;

/// Choices about how to price that are not part of the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostOptions {
    /// Deduct Lambda's monthly free tier. By default excluded (list prices).
    pub lambda_free_tier: FreeTier,
}

/// How the run scales to a month and to a million requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunScale {
    pub(crate) hours: f64,
    pub(crate) hours_per_month: f64,
    pub(crate) requests: u64,
}

impl RunScale {
    pub(crate) fn month_factor(&self) -> f64 {
        self.hours_per_month / self.hours
    }

    /// Share of a monthly allowance that falls in the run.
    pub(crate) fn prorate_monthly(&self, per_month: f64) -> f64 {
        per_month * self.hours / self.hours_per_month
    }

    pub(crate) fn cost(&self, per_run_usd: f64) -> ComponentCost {
        ComponentCost::scale(per_run_usd, self.requests, self.month_factor())
    }
}

/// Prices one run: every component per run, per million requests and per month
/// at the run's rate, plus Stripe headroom and the assumptions made.
///
/// # Errors
/// [`CostError::Usage`] for an unusable usage record (zero duration, zero AZs,
/// utilisation outside (0, 1]); [`CostError::UnknownNodeType`] for a node type
/// the pricing table lacks.
pub fn estimate(usage: &Usage, pricing: &Pricing, options: &CostOptions) -> Result<CostBreakdown, CostError> {
    usage.validate()?;
    let run = RunScale {
        hours: usage.run_duration_s / SECONDS_PER_HOUR,
        hours_per_month: pricing.billing.hours_per_month.value,
        requests: usage.requests,
    };
    let mut assumptions = Vec::new();
    let lambda = lambda_cost(usage, pricing, options.lambda_free_tier, &run, &mut assumptions);
    let elasticache = elasticache_cost(usage, pricing, &run)?;
    let dynamodb = dynamodb_cost(usage, pricing, &run, &mut assumptions)?;
    let nat = nat_cost(usage, pricing, &run);
    let transfer = transfer_cost(usage, pricing, &run, &mut assumptions);
    let total = run.cost(
        lambda.cost.per_run_usd
            + elasticache.cost.per_run_usd
            + dynamodb.cost.per_run_usd
            + nat.cost.per_run_usd
            + transfer.cost.per_run_usd,
    );
    assumptions.push(format!(
        "monthly figures extrapolate the run's rate to {} h; hourly charges run all month",
        run.hours_per_month
    ));
    Ok(CostBreakdown {
        run_duration_s: usage.run_duration_s,
        requests: usage.requests,
        month_factor: run.month_factor(),
        lambda,
        elasticache,
        dynamodb,
        nat,
        transfer,
        total,
        stripe: stripe_headroom(&usage.stripe, usage.run_duration_s, &pricing.stripe),
        assumptions,
    })
}

fn lambda_cost(
    usage: &Usage,
    pricing: &Pricing,
    free_tier: FreeTier,
    run: &RunScale,
    assumptions: &mut Vec<String>,
) -> LambdaCost {
    let l = &usage.lambda;
    let p = &pricing.lambda;
    let billed_ms = l.billed_duration_ms_total + l.init_billed_ms_total;
    let billed_gb_s = units::gb_seconds(usage.deployment.lambda.memory_mb, billed_ms);
    let gb_s_usd = match usage.deployment.lambda.architecture {
        Architecture::X86_64 => p.x86_64_gb_s_usd.value,
        Architecture::Arm64 => p.arm64_gb_s_usd.value,
    };
    let (billable_requests, billable_gb_s) = match free_tier {
        FreeTier::Excluded => {
            assumptions.push("Lambda free tier not deducted (list prices)".to_owned());
            (l.invocations as f64, billed_gb_s)
        }
        FreeTier::Included => {
            assumptions.push(format!(
                "Lambda free tier deducted: {} requests + {} GB-s a month, prorated to the run",
                p.free_requests_per_month.value, p.free_gb_s_per_month.value
            ));
            (
                (l.invocations as f64 - run.prorate_monthly(p.free_requests_per_month.value)).max(0.0),
                (billed_gb_s - run.prorate_monthly(p.free_gb_s_per_month.value)).max(0.0),
            )
        }
    };
    let requests_usd = billable_requests * p.request_per_million_usd.value / 1e6;
    let duration_usd = billable_gb_s * gb_s_usd;
    LambdaCost {
        cost: run.cost(requests_usd + duration_usd),
        invocations: l.invocations,
        billed_gb_s,
        requests_usd,
        duration_usd,
        free_tier,
    }
}

fn nat_cost(usage: &Usage, pricing: &Pricing, run: &RunScale) -> NatCost {
    let gateways = match usage.deployment.nat {
        NatGateways::None => 0,
        NatGateways::OnePerAz => usage.deployment.azs,
    };
    let processed_bytes = if gateways == 0 {
        0
    } else {
        let dynamo = match usage.deployment.dynamodb_route {
            DynamoRoute::GatewayEndpoint => 0,
            DynamoRoute::Nat => usage.dynamodb.transferred_bytes,
        };
        usage.stripe.request_bytes + usage.stripe.response_bytes + dynamo + usage.network.other_nat_bytes
    };
    let hours_usd = f64::from(gateways) * pricing.nat.gateway_hour_usd.value * run.hours;
    let processed_usd = processed_bytes as f64 / BYTES_PER_GIB * pricing.nat.processed_gb_usd.value;
    NatCost { cost: run.cost(hours_usd + processed_usd), gateways, processed_bytes, hours_usd, processed_usd }
}

fn transfer_cost(
    usage: &Usage,
    pricing: &Pricing,
    run: &RunScale,
    assumptions: &mut Vec<String>,
) -> TransferCost {
    let t = &pricing.transfer;
    let azs = u64::from(usage.deployment.azs);
    let (cross_az_bytes, cross_az_estimated) = match usage.network.cross_az_bytes {
        Some(bytes) => (bytes, false),
        None => {
            assumptions.push(format!(
                "cross-AZ bytes estimated as Redis traffic x ({azs} - 1) / {azs} (Lambdas spread over {azs} AZs)"
            ));
            (usage.redis.transferred_bytes() * (azs - 1) / azs, true)
        }
    };
    // Cross-AZ transfer is charged on the sending and the receiving side.
    let cross_az_usd = cross_az_bytes as f64 / BYTES_PER_GIB * t.cross_az_gb_each_direction_usd.value * 2.0;
    let internet_egress_bytes = usage.stripe.request_bytes + usage.network.other_internet_egress_bytes;
    let free_gb = run.prorate_monthly(t.internet_egress_free_gb_per_month.value);
    let internet_egress_usd =
        (internet_egress_bytes as f64 / BYTES_PER_GIB - free_gb).max(0.0) * t.internet_egress_gb_usd.value;
    TransferCost {
        cost: run.cost(cross_az_usd + internet_egress_usd),
        cross_az_bytes,
        cross_az_estimated,
        cross_az_usd,
        internet_egress_bytes,
        internet_egress_usd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::usage::RedisCommand;

    const GIB: u64 = 1 << 30;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    fn one_hour() -> Usage {
        Usage { run_duration_s: 3600.0, requests: 1_000_000, ..Usage::default() }
    }

    fn price(usage: &Usage, options: CostOptions) -> CostBreakdown {
        estimate(usage, &Pricing::defaults(), &options).unwrap()
    }

    #[test]
    fn lambda_one_million_requests_of_120_ms_at_1024_mb() {
        let mut u = one_hour();
        u.lambda.invocations = 1_000_000;
        u.lambda.billed_duration_ms_total = 120 * 1_000_000;
        // requests: 1M x 0.20/1M = 0.20
        // duration: 1M x 0.120 s x 1 GB = 120,000 GB-s x 0.0000166667 = 2.000004
        let c = price(&u, CostOptions::default()).lambda;
        assert!(close(c.billed_gb_s, 120_000.0));
        assert!(close(c.requests_usd, 0.20));
        assert!(close(c.duration_usd, 2.000004));
        assert!(close(c.cost.per_run_usd, 2.200004));
        assert!(close(c.cost.per_million_requests_usd.unwrap(), 2.200004));
        assert!(close(c.cost.per_month_usd, 2.200004 * 730.0));
        // arm64: 120,000 x 0.0000133334 = 1.600008, + 0.20
        u.deployment.lambda.architecture = Architecture::Arm64;
        assert!(close(price(&u, CostOptions::default()).lambda.cost.per_run_usd, 1.800008));
    }

    #[test]
    fn lambda_bills_init_and_memory_scales_gb_s() {
        let mut u = one_hour();
        u.deployment.lambda.memory_mb = 512;
        u.lambda.invocations = 1000;
        u.lambda.billed_duration_ms_total = 1000 * 50;
        u.lambda.cold_starts = 100;
        u.lambda.init_billed_ms_total = 100 * 16;
        // (50,000 + 1,600) ms x 0.5 GB = 25.8 GB-s x 0.0000166667 = 0.00043000086
        let c = price(&u, CostOptions::default()).lambda;
        assert!(close(c.billed_gb_s, 25.8));
        assert!(close(c.duration_usd, 25.8 * 0.0000166667));
        assert!(close(c.requests_usd, 0.0002));
    }

    #[test]
    fn lambda_free_tier_is_off_by_default_and_prorated_when_on() {
        // 73 h run (a tenth of a month): allowance 100,000 requests, 40,000 GB-s
        let mut u = Usage { run_duration_s: 73.0 * 3600.0, requests: 1_000_000, ..Usage::default() };
        u.lambda.invocations = 1_000_000;
        u.lambda.billed_duration_ms_total = 120 * 1_000_000;
        let off = price(&u, CostOptions::default());
        assert_eq!(off.lambda.free_tier, FreeTier::Excluded);
        assert!(close(off.lambda.cost.per_run_usd, 2.200004));
        assert!(off.assumptions.iter().any(|a| a.contains("free tier not deducted")));
        let on = price(&u, CostOptions { lambda_free_tier: FreeTier::Included });
        // 900,000 x 0.2e-6 = 0.18; 80,000 GB-s x 0.0000166667 = 1.333336
        assert!(close(on.lambda.requests_usd, 0.18));
        assert!(close(on.lambda.duration_usd, 1.333336));
        assert!(close(on.lambda.cost.per_month_usd, 15.13336));
    }

    #[test]
    fn nat_charges_gateway_hours_and_stripe_traffic_but_not_dynamodb_via_endpoint() {
        let mut u = one_hour();
        u.stripe.request_bytes = GIB / 4;
        u.stripe.response_bytes = 3 * GIB / 4;
        u.dynamodb.transferred_bytes = GIB;
        // 2 AZs x 0.045 x 1 h = 0.09; Stripe 1 GiB x 0.045 = 0.045
        let c = price(&u, CostOptions::default()).nat;
        assert_eq!((c.gateways, c.processed_bytes), (2, GIB));
        assert!(close(c.hours_usd, 0.09));
        assert!(close(c.cost.per_run_usd, 0.135));
        assert!(close(c.cost.per_month_usd, 0.135 * 730.0));
        // without the gateway endpoint DynamoDB's 1 GiB goes through the NAT too
        u.deployment.dynamodb_route = DynamoRoute::Nat;
        assert!(close(price(&u, CostOptions::default()).nat.cost.per_run_usd, 0.09 + 0.09));
        // no NAT, no charge
        u.deployment.nat = NatGateways::None;
        assert_eq!(price(&u, CostOptions::default()).nat.cost.per_run_usd, 0.0);
    }

    #[test]
    fn cross_az_is_estimated_from_redis_and_charged_both_sides() {
        let mut u = one_hour();
        for _ in 0..10 {
            u.redis.record(RedisCommand::Get, GIB);
        }
        // 10 GiB x (2 - 1) / 2 = 5 GiB x 0.01 x 2 sides = 0.10
        let c = price(&u, CostOptions::default()).transfer;
        assert!(c.cross_az_estimated);
        assert_eq!(c.cross_az_bytes, 5 * GIB);
        assert!(close(c.cross_az_usd, 0.10));
        // measured bytes win: 3 GiB x 0.02 = 0.06
        u.network.cross_az_bytes = Some(3 * GIB);
        let c = price(&u, CostOptions::default()).transfer;
        assert!(!c.cross_az_estimated);
        assert!(close(c.cross_az_usd, 0.06));
    }

    #[test]
    fn internet_egress_beyond_the_prorated_free_allowance() {
        // 7.3 h run = 1 % of a month: 1 GB free; 2 GiB sent -> 1 GiB x 0.09
        let mut u = Usage { run_duration_s: 7.3 * 3600.0, requests: 1000, ..Usage::default() };
        u.stripe.request_bytes = 2 * GIB;
        let c = price(&u, CostOptions::default()).transfer;
        assert!(close(c.internet_egress_usd, 0.09));
        // a month: (200 - 100) GB x 0.09 = 9.0
        assert!(close(c.cost.per_month_usd, 9.0));
    }

    #[test]
    fn total_is_the_sum_and_zero_requests_has_no_per_million() {
        let mut u = one_hour();
        u.lambda.invocations = 1_000_000;
        u.lambda.billed_duration_ms_total = 120 * 1_000_000;
        let b = price(&u, CostOptions::default());
        // Lambda 2.200004 + 2 x t4g.small 0.064 + 2 NAT gateways 0.09
        assert!(close(b.total.per_run_usd, 2.200004 + 0.064 + 0.09));
        let parts = b.lambda.cost.per_run_usd
            + b.elasticache.cost.per_run_usd
            + b.dynamodb.cost.per_run_usd
            + b.nat.cost.per_run_usd
            + b.transfer.cost.per_run_usd;
        assert!(close(b.total.per_run_usd, parts));
        assert!(close(b.month_factor, 730.0));
        u.requests = 0;
        assert_eq!(price(&u, CostOptions::default()).total.per_million_requests_usd, None);
    }

    #[test]
    fn bad_usage_is_rejected() {
        let u = Usage::default();
        assert!(matches!(
            estimate(&u, &Pricing::defaults(), &CostOptions::default()),
            Err(CostError::Usage { field: "run_duration_s", .. })
        ));
    }
}
