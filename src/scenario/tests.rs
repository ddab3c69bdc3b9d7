use std::path::Path;
use std::time::Duration;

use super::*;
use crate::chain::Tier;

const GOOD: &str = r#"
name = "portal"
seed = 7
duration = "60s"
time_scale = 60

[workload]
customers = 5000
accounts = 2
popularity = { kind = "zipf", s = 0.99 }
mix = { customer = 0.6, subscriptions = 0.2, payment_methods = 0.15, invoice = 0.05 }
arrival = { kind = "ramp", stages = [{ duration = "10s", rate_per_s = 50 }, { duration = "50s", rate_per_s = 200 }] }
bursts = [{ at = "30s", duration = "5s", rate_per_s = 500 }]

[callers]
concurrency = 16

[mutations]
rate_per_s = 2.5

[[policy]]
name = "seed"

[[policy]]
name = "short"
l1_ttl = "5m"
l2_ttl = { default = "1h", subscriptions = "10m" }
jitter = 0.1
"#;

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(Path::new("scenarios/x.toml"), text)
}

#[test]
fn a_full_scenario_validates_with_every_value() {
    let s = parse(GOOD).unwrap();
    assert_eq!(
        (s.name.as_str(), s.seed, s.duration, s.time_scale),
        ("portal", 7, Duration::from_secs(60), 60.0)
    );
    assert_eq!(s.workload.customers, 5_000);
    assert_eq!(s.workload.popularity, Popularity::Zipf { s: 0.99 });
    assert_eq!(s.workload.mix.0.len(), 4);
    assert!(matches!(&s.workload.arrival, Arrival::Ramp { stages } if stages.len() == 2));
    assert_eq!(s.workload.bursts[0].at, Duration::from_secs(30));
    assert_eq!(s.callers.concurrency, 16);
    assert_eq!(s.mutations.rate_per_s, 2.5);
    assert_eq!(s.policies[0].ttl, TtlPolicy::default());
    let short = &s.policies[1].ttl;
    assert_eq!(short.ttl(Tier::L1, ObjectKind::Invoice), Duration::from_secs(300));
    assert_eq!(short.ttl(Tier::L2, ObjectKind::Subscriptions), Duration::from_secs(600));
    assert_eq!(short.ttl(Tier::L2, ObjectKind::Customer), Duration::from_secs(3_600));
    // Time compression: an hour of policy time in a minute.
    assert_eq!(s.scaled_policy(1).ttl(Tier::L2, ObjectKind::Customer), Duration::from_secs(60));
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let s = parse("duration = \"10s\"\n").unwrap();
    assert_eq!(s.name, "x");
    assert_eq!(s.workload.arrival, Arrival::Poisson { rate_per_s: 100.0 });
    assert_eq!(s.policies.len(), 1);
    assert_eq!(s.policies[0].name, "seed");
}

fn error(text: &str) -> ScenarioError {
    parse(text).expect_err("must be rejected")
}

#[test]
fn unknown_keys_are_rejected_with_line_and_key() {
    let e = error("duration = \"10s\"\n\n[workload]\ncustomer = 5\n");
    assert_eq!((e.line, e.key.as_str()), (4, "customer"), "{e}");
    assert!(e.message.contains("unknown field"), "{e}");
    assert!(e.to_string().starts_with("scenarios/x.toml:4: customer:"), "{e}");
}

#[test]
fn wrong_units_negative_rates_bad_mixes_and_kinds_name_the_key() {
    let e = error("duration = \"60\"\n");
    assert_eq!((e.line, e.key.as_str()), (1, "duration"));
    assert!(e.message.contains("no unit"), "{e}");

    let e = error("duration = \"1m\"\n[workload]\narrival = { kind = \"poisson\", rate_per_s = -5 }\n");
    assert_eq!((e.line, e.key.as_str()), (3, "workload.arrival.rate_per_s"), "{e}");
    assert!(e.message.contains("must be > 0"));

    let e = error("duration = \"1m\"\n[workload]\nmix = { customer = 0.5, invoice = 0.2 }\n");
    assert_eq!((e.line, e.key.as_str()), (3, "workload.mix"), "{e}");
    assert!(e.message.contains("sum to 0.7"), "{e}");

    let e = error("duration = \"1m\"\n[mutations]\nmix = { charge = 1.0 }\n");
    assert_eq!((e.line, e.key.as_str()), (3, "mutations.mix.charge"), "{e}");
    assert!(e.message.contains("unknown object kind"), "{e}");

    let e = error(
        "duration = \"1m\"\n[[policy]]\nname = \"a\"\nl2_ttl = { default = \"1h\", customer = \"forever\" }\n",
    );
    assert_eq!((e.line, e.key.as_str()), (4, "policy.l2_ttl.customer"), "{e}");

    let e = error("duration = \"1m\"\n[[policy]]\nname = \"a\"\n[[policy]]\nname = \"a\"\n");
    assert!(e.message.contains("defined twice"), "{e}");

    let e = error("duration = \"1m\"\n[workload]\npopularity = { kind = \"pareto\" }\n");
    assert_eq!(e.line, 3, "{e}");
}

#[test]
fn a_per_kind_ttl_table_needs_a_default_or_every_kind() {
    let e = error("duration = \"1m\"\n[[policy]]\nname = \"a\"\nl2_ttl = { customer = \"1h\" }\n");
    assert_eq!((e.line, e.key.as_str()), (4, "policy.l2_ttl"), "{e}");
    let all =
        "l2_ttl = { customer = \"1h\", subscriptions = \"2h\", payment_methods = \"3h\", invoice = \"4h\" }";
    let s = parse(&format!("duration = \"1m\"\n[[policy]]\nname = \"a\"\n{all}\n")).unwrap();
    assert_eq!(s.policies[0].ttl.ttl(Tier::L2, ObjectKind::Invoice), Duration::from_secs(4 * 3_600));
}

#[test]
fn cost_section_sets_pricing_deployment_and_free_tier() {
    let text = "duration = \"10s\"\n[cost]\npricing = \"../pricing/aws-us-east-1.toml\"\nlambda_free_tier = true\n\
                [cost.deployment]\nazs = 3\nnat = \"none\"\nlambda = { memory_mb = 512, architecture = \"arm64\" }\n\
                cache = { kind = \"serverless\", engine = \"valkey\" }\n\
                dynamodb_capacity = { kind = \"provisioned\", target_utilisation = 0.5 }\n";
    let s =
        Scenario::parse(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/x.toml")), text).unwrap();
    assert!(s.cost.pricing.as_ref().unwrap().ends_with("scenarios/../pricing/aws-us-east-1.toml"));
    assert_eq!(s.cost.options.lambda_free_tier, crate::cost::FreeTier::Included);
    let d = &s.cost.deployment;
    assert_eq!((d.azs, d.nat, d.lambda.memory_mb), (3, crate::cost::NatGateways::None, 512));
    assert!(matches!(d.cache, crate::cost::CacheDeployment::Serverless { .. }));
    assert_eq!(s.cost.deployment_line, 5);
    let plain = parse("duration = \"10s\"\n").unwrap().cost;
    assert_eq!((plain.pricing, plain.deployment), (None, crate::cost::Deployment::default()));
}

#[test]
fn bad_cost_values_name_the_key_and_line() {
    let cases = [
        ("[cost.deployment]\nazs = 0\n", "cost.deployment.azs", 2),
        ("[cost.deployment]\nlambda = { memory_mb = 64 }\n", "cost.deployment.lambda.memory_mb", 2),
        ("[cost.deployment]\nnodes = 2\n", "nodes", 3),
        ("[cost]\npricing = \"nowhere.toml\"\n", "cost.pricing", 3),
        (
            "[cost.deployment]\ndynamodb_capacity = { kind = \"provisioned\", target_utilisation = 1.5 }\n",
            "cost.deployment.dynamodb_capacity.target_utilisation",
            2,
        ),
    ];
    for (section, key, line) in cases {
        let e = parse(&format!("duration = \"10s\"\n{section}")).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), (key, line), "{section}: {e}");
    }
}

#[test]
fn policy_defences_parse_and_time_compress_their_windows() {
    let text = "duration = \"10s\"\ntime_scale = 10\n[[policy]]\nname = \"d\"\ncoalesce = true\n\
                lease = { wait = \"1s\" }\nearly_refresh_beta = 1.0\nstale_while_revalidate = \"30s\"\n\
                stale_if_error = \"10m\"\nnegative_ttl = \"1m\"\n[[policy]]\nname = \"plain\"\nlease = false\n";
    let s = parse(text).unwrap();
    let d = &s.policies[0].ttl.defences;
    assert!(d.coalesce && d.early_refresh_beta == 1.0);
    let lease = d.lease.unwrap();
    assert_eq!((lease.wait, lease.ttl), (Duration::from_secs(1), Duration::from_secs(10)));
    assert_eq!(d.stale_if_error, Duration::from_secs(600));
    let scaled = s.scaled_policy(0).defences;
    assert_eq!(scaled.stale_while_revalidate, Duration::from_secs(3));
    assert_eq!(scaled.negative_ttl, Duration::from_secs(6));
    assert_eq!(scaled.lease.unwrap().wait, Duration::from_secs(1), "lease timing is wall time");
    assert_eq!(s.policies[1].ttl.defences, crate::chain::Defences::default());
    let bad = parse("duration = \"10s\"\n[[policy]]\nname = \"b\"\nstale_if_error = \"5\"\n").unwrap_err();
    assert_eq!((bad.key.as_str(), bad.line), ("policy.stale_if_error", 4));
    let bad = parse("duration = \"10s\"\n[[policy]]\nname = \"b\"\nearly_refresh_beta = -1\n").unwrap_err();
    assert_eq!(bad.key, "policy.early_refresh_beta");
}

#[test]
fn policy_etiquette_is_off_by_default_and_checked_when_given() {
    let s = parse("duration = \"10s\"\n[[policy]]\nname = \"bare\"\n[[policy]]\nname = \"polite\"\n[policy.etiquette]\non_budget_spent = \"stale\"\nretry = { max_retries = 1 }\n").unwrap();
    assert_eq!(s.policies[0].etiquette, crate::origin::Etiquette::off());
    let polite = &s.policies[1].etiquette;
    assert_eq!((polite.on_budget_spent, polite.retry.max_retries), (crate::origin::OnBudgetSpent::Stale, 1));
    assert_eq!(polite.budget.scope, crate::origin::BudgetScope::Process);
    let bad = parse("duration = \"10s\"\n[[policy]]\nname = \"p\"\n[policy.etiquette]\nbudget = { share_of_limit = 2.0 }\n").unwrap_err();
    assert!(bad.key.starts_with("policy.etiquette.budget"), "{bad}");
    assert_eq!(bad.line, 4);
    let unknown =
        parse("duration = \"10s\"\n[[policy]]\nname = \"p\"\n[policy.etiquette]\nretries = 3\n").unwrap_err();
    assert_eq!(unknown.line, 5, "{unknown}");
}

#[test]
fn faults_parse_in_start_order_and_bad_ones_name_the_key() {
    let s = parse(
        "duration = \"30s\"\n[[fault]]\nkind = \"stripe_latency\"\nat = \"20s\"\nduration = \"5s\"\nlatency = \"2s\"\n\
         [[fault]]\nkind = \"redis_pause\"\nat = \"5s\"\nduration = \"3s\"\n",
    )
    .unwrap();
    assert_eq!(s.faults.len(), 2);
    assert_eq!((s.faults[0].kind, s.faults[0].at), (FaultKind::RedisPause, Duration::from_secs(5)));
    assert_eq!(s.faults[1].kind, FaultKind::StripeSlow(Duration::from_secs(2)));
    assert_eq!(s.faults[1].share, 1.0, "a whole outage by default");
    let partial = parse(
        "duration = \"30s\"\n[[fault]]\nkind = \"stripe_errors\"\nat = \"2s\"\nduration = \"5s\"\nrate = 0.2\n\
         [[fault]]\nkind = \"redis_kill\"\nat = \"10s\"\nduration = \"3s\"\n",
    )
    .unwrap();
    assert_eq!((partial.faults[0].kind, partial.faults[0].share), (FaultKind::StripeErrors, 0.2));
    assert_eq!(partial.faults[1].kind, FaultKind::RedisKill);
    let dynamo = parse(
        "duration = \"30s\"\n[[fault]]\nkind = \"dynamodb_throttle\"\nat = \"2s\"\nduration = \"5s\"\nrate = 0.5\n\
         [[fault]]\nkind = \"dynamodb_latency\"\nat = \"10s\"\nduration = \"3s\"\nlatency = \"250ms\"\n",
    )
    .unwrap();
    assert_eq!((dynamo.faults[0].kind, dynamo.faults[0].share), (FaultKind::DynamoThrottle, 0.5));
    assert_eq!(dynamo.faults[1].kind, FaultKind::DynamoSlow(Duration::from_millis(250)));
    let cases = [
        ("kind = \"dynamodb_latency\"\nat = \"1s\"\nduration = \"1s\"\n", "fault.latency"),
        ("kind = \"dynamodb_pause\"\nat = \"1s\"\nduration = \"1s\"\nlatency = \"1s\"\n", "fault.latency"),
        (
            "kind = \"dynamodb_latency\"\nat = \"1s\"\nduration = \"1s\"\nlatency = \"1s\"\nrate = 0.5\n",
            "fault.rate",
        ),
        ("kind = \"meteor\"\nat = \"1s\"\nduration = \"1s\"\n", "fault.kind"),
        ("kind = \"stripe_outage\"\nat = \"25s\"\nduration = \"10s\"\n", "fault.at"),
        ("kind = \"stripe_latency\"\nat = \"1s\"\nduration = \"1s\"\n", "fault.latency"),
        ("kind = \"stripe_outage\"\nat = \"1\"\nduration = \"1s\"\n", "fault.at"),
        ("kind = \"stripe_errors\"\nat = \"1s\"\nduration = \"1s\"\nrate = 1.5\n", "fault.rate"),
        ("kind = \"stripe_errors\"\nat = \"1s\"\nduration = \"1s\"\nrate = 0.0\n", "fault.rate"),
        ("kind = \"redis_kill\"\nat = \"1s\"\nduration = \"1s\"\nrate = 0.5\n", "fault.rate"),
    ];
    for (body, key) in cases {
        let e = parse(&format!("duration = \"30s\"\n[[fault]]\n{body}")).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), (key, 2), "{body}: {e}");
    }
}

#[test]
fn a_tiny_time_scale_saturates_scaled_durations() {
    // Found by fuzzing (fuzz/fuzz_targets/scenario.rs): this validates, and
    // scaling its TTLs to run time panicked on the overflow.
    let s = parse("duration = \"1m\"\ntime_scale = 1e-300\n").unwrap();
    let p = s.scaled_policy(0);
    assert_eq!((p.l1_default, p.l2_default), (Duration::MAX, Duration::MAX));
    assert_eq!(s.to_run_time(Duration::ZERO), Duration::ZERO);
    let normal = parse("duration = \"1m\"\ntime_scale = 60\n").unwrap();
    assert_eq!(normal.to_run_time(Duration::from_secs(3_600)), Duration::from_secs(60));
}

#[test]
fn thresholds_take_quoted_or_nested_names_and_lists() {
    let text = format!(
        "{GOOD}\n[thresholds]\np99 = \"< 40ms\"\n\"hit_ratio.l2\" = \">= 50%\"\nstale_reads = [\"< 0.1%\", \">= 0\"]\n\
         hit_ratio.l1 = \"> 0.9\"\n\n[thresholds.chain]\nl2_fills = \"< 1000\"\n"
    );
    let s = parse(&text).unwrap();
    let shown: Vec<String> = s.thresholds.iter().map(ToString::to_string).collect();
    for want in [
        "p99 < 40.00 ms",
        "hit_ratio.l2 >= 50.00%",
        "stale_reads < 0.10%",
        "stale_reads >= 0.00%",
        "hit_ratio.l1 > 90.00%",
        "chain.l2_fills < 1000.0000",
    ] {
        assert!(shown.iter().any(|t| t == want), "{want} in {shown:?}");
    }
    assert_eq!(s.thresholds.len(), 6);
    assert!(parse(GOOD).unwrap().thresholds.is_empty());
}

#[test]
fn bad_thresholds_name_the_line_the_key_and_what_is_allowed() {
    let base_lines = GOOD.lines().count();
    for (entry, key, says) in [
        ("p99 = \"< 40\"", "thresholds.p99", "unit"),
        ("p98 = \"< 4ms\"\nhit_ratio.l1 = \"> 1.5\"", "thresholds.hit_ratio.l1", "between 0 and 1"),
        ("latency = \"< 4ms\"", "thresholds.latency", "unknown metric"),
        ("p99 = 40", "thresholds.p99", "a string"),
        ("p99 = \"40ms\"", "thresholds.p99", "must start with"),
        ("p99 = []", "thresholds.p99", "empty"),
    ] {
        let e = error(&format!("{GOOD}\n[thresholds]\n{entry}\n"));
        let line = base_lines + 2 + entry.lines().count();
        assert_eq!((e.key.as_str(), e.line), (key, line), "{entry}: {e}");
        assert!(e.message.contains(says), "{entry}: {e}");
    }
}
