//! The JSON Schema of `result.json`, derived from [`RunResult`] and committed
//! as `results/result.schema.json` (a test keeps the two equal).

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::{RunResult, SCHEMA_VERSION};

/// Where the committed schema lives, relative to the repository root.
pub const RESULT_SCHEMA_PATH: &str = "results/result.schema.json";

/// The JSON Schema (draft 2020-12) of what serde writes for a [`RunResult`]:
/// fields as written (not as read, where defaults make some optional), and
/// `schema_version` pinned to [`SCHEMA_VERSION`].
pub fn result_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().for_serialize().into_generator();
    let mut schema = generator.into_root_schema_for::<RunResult>().to_value();
    if let Some(root) = schema.as_object_mut() {
        root.insert("$id".into(), json!(format!("urn:tierbench:result-schema:v{SCHEMA_VERSION}")));
        root.insert("title".into(), json!(format!("tierbench result.json, schema version {SCHEMA_VERSION}")));
    }
    if let Some(version) = schema.pointer_mut("/properties/schema_version").and_then(Value::as_object_mut) {
        version.insert("const".into(), json!(SCHEMA_VERSION));
    }
    schema
}

/// The schema as committed: pretty-printed with a trailing newline.
pub fn result_schema_text() -> String {
    format!("{:#}\n", result_schema())
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::backends::BackendKind;
    use crate::chain::{ChainCounters, TtlPolicy};
    use crate::cost::{
        CacheDeployment, Consistency, DynamoCapacity, Engine, GsiWrite, ItemWrite, Pricing, RedisCommand,
        Usage, WriteMode,
    };
    use crate::metrics::{Outcome, RunMetrics, Sample};
    use crate::mock::CounterSnapshot;
    use crate::report::PolicyResult;
    use crate::run::{PolicyRun, WebhookCounts};

    fn committed_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(RESULT_SCHEMA_PATH)
    }

    fn committed_schema() -> Value {
        let text =
            std::fs::read_to_string(committed_path()).expect("results/result.schema.json is committed");
        serde_json::from_str(&text).expect("the committed schema is JSON")
    }

    #[test]
    fn result_schema_matches_the_committed_file() {
        let generated = result_schema_text();
        if std::env::var_os("TIERBENCH_BLESS").is_some_and(|v| v == "1") {
            crate::report::write_atomic(&committed_path(), generated.as_bytes()).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
        assert!(
            committed == generated,
            "{RESULT_SCHEMA_PATH} is out of date with the result types; regenerate it with \
             `TIERBENCH_BLESS=1 cargo test --lib result_schema` (and bump SCHEMA_VERSION if the change \
             is incompatible)"
        );
    }

    /// Requests in every outcome over three seconds, a stale read and a dropped one.
    fn metrics() -> RunMetrics {
        let outcomes = [Outcome::L1, Outcome::L1, Outcome::L2, Outcome::Origin, Outcome::Error];
        let mut m = RunMetrics::default();
        for (i, outcome) in outcomes.into_iter().cycle().take(60).enumerate() {
            let intended = Duration::from_millis(i as u64 * 50);
            m.record(&Sample {
                intended,
                started: intended + Duration::from_micros(300),
                finished: intended + Duration::from_millis(2 + i as u64 % 17),
                outcome,
                stale_age: (i % 11 == 0).then(|| Duration::from_millis(40)),
            });
        }
        m.record_dropped(Duration::from_millis(2_990));
        m
    }

    fn usage(requests: u64) -> Usage {
        let mut u = Usage { run_duration_s: 3.0, requests, ..Usage::default() };
        for _ in 0..requests {
            u.lambda.record_invocation(Duration::from_micros(4_200));
        }
        u.lambda.record_cold_start(Duration::from_millis(180));
        u.redis.record(RedisCommand::Get, 900);
        u.redis.record(RedisCommand::Set, 1_100);
        u.dynamodb.record_read(Consistency::Eventual, 2_000);
        u.dynamodb.record_query(Consistency::Eventual, [700, 800]);
        let gsi = vec![GsiWrite { projected_bytes: 300, key_changed: true }];
        u.dynamodb.record_write(ItemWrite { item_bytes: 1_500, mode: WriteMode::Standard, gsi });
        u.stripe.calls = 12;
        u.stripe.peak_calls_per_s = Some(6.0);
        u
    }

    /// A result as `tierbench run` writes it: two finished policies (node-based
    /// and serverless/provisioned deployments) and one still running.
    pub(crate) fn run_result() -> RunResult {
        let pricing = Pricing::defaults();
        let finished = |name: &str, usage: Usage| {
            let run = PolicyRun {
                name: name.into(),
                ttl: TtlPolicy::default(),
                metrics: metrics(),
                chain: ChainCounters {
                    l1_hits: 24,
                    l1_misses: 36,
                    promotions: 12,
                    ..ChainCounters::default()
                },
                stripe: CounterSnapshot { requests: 12, status_2xx: 12, ..CounterSnapshot::default() },
                webhooks: WebhookCounts { applied: 3, keys_invalidated: 4, ..WebhookCounts::default() },
                rate_limited: 0,
                cold_starts: 1,
                wall: Duration::from_secs(3),
                usage,
                interrupted: false,
                etiquette: crate::origin::EtiquetteSnapshot {
                    fetches: 12,
                    attempts: 13,
                    succeeded: 12,
                    ..Default::default()
                },
                faults: vec![crate::run::faults::FaultWindow {
                    kind: "stripe_outage".into(),
                    at_s: 1.0,
                    duration_s: 1.0,
                    requests: 20,
                    errors: 2,
                    recovery_s: Some(0.0),
                    ..Default::default()
                }],
            };
            PolicyResult::from_run(&run, &pricing, &crate::cost::CostOptions::default())
        };
        let mut serverless = usage(60);
        serverless.deployment.cache = CacheDeployment::Serverless { engine: Engine::Valkey };
        serverless.deployment.dynamodb_capacity = DynamoCapacity::Provisioned { target_utilisation: None };
        let policies = vec![
            finished("seed", usage(60)),
            finished("serverless", serverless),
            PolicyResult::partial(
                "running",
                &TtlPolicy::uniform(Duration::from_secs(60), Duration::from_secs(120)),
                metrics(),
            ),
        ];
        assert!(policies[..2].iter().all(|p| p.cost.is_some()), "{:?}", policies[0].cost_error);
        RunResult {
            schema_version: SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            mode: "live".into(),
            scenario: "small".into(),
            source: "scenarios/small.toml".into(),
            run_id: "20260101T000000Z-1".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:09Z".into(),
            complete: false,
            seed: 7,
            time_scale: 1.0,
            duration_s: 3.0,
            backend: BackendKind::Local,
            endpoints: "redis://127.0.0.1:6390, dynamodb http://127.0.0.1:8010".into(),
            policies,
        }
    }

    fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
        validator.iter_errors(doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }

    #[test]
    fn fault_windows_get_a_table_of_their_own() {
        let mut r = run_result();
        let table = crate::report::fault_table(&r).expect("the fixture has a fault window");
        let row = table.lines().find(|l| l.starts_with("seed ")).expect("a row for the seed policy");
        let cells: Vec<&str> = row.split_whitespace().collect();
        // policy, fault, at, for, rate, requests, errors, stale, served, Stripe, p99, recover, injected
        assert_eq!(cells[..7], ["seed", "stripe_outage", "1.0", "1.0", "0.00", "20", "2"], "{table}");
        assert_eq!(cells[11..], ["0", "-"], "{table}");
        for p in &mut r.policies {
            p.faults.clear();
        }
        assert!(crate::report::fault_table(&r).is_none(), "no table without faults");
    }

    #[test]
    fn real_results_validate_against_the_committed_schema() {
        let schema = committed_schema();
        jsonschema::meta::validate(&schema).expect("the schema is valid draft 2020-12");
        let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
        let doc = serde_json::to_value(run_result()).unwrap();
        assert_eq!(errors(&validator, &doc), Vec::<String>::new());
    }

    #[test]
    fn the_committed_schema_rejects_unknown_fields_and_wrong_types() {
        let validator = jsonschema::draft202012::new(&committed_schema()).expect("the schema compiles");
        let doc = serde_json::to_value(run_result()).unwrap();
        let broken: [(&str, Value); 8] = [
            ("/surprise", json!(1)),
            ("/policies/0/summary/surprise", json!(1)),
            ("/policies/0/summary/requests", json!("sixty")),
            ("/schema_version", json!(SCHEMA_VERSION + 1)),
            ("/backend", json!("cloud")),
            ("/policies/0/metrics/corrected/l1", json!(12)),
            ("/policies/0/metrics/corrected/l3", json!("HISTFAAAAB")),
            ("/policies/1/cost/elasticache/sizing/kind", json!("cluster")),
        ];
        for (pointer, value) in broken {
            let mut bad = doc.clone();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            bad.pointer_mut(parent).and_then(Value::as_object_mut).unwrap().insert(key.into(), value);
            assert!(!errors(&validator, &bad).is_empty(), "{pointer} was accepted");
        }
    }
}
