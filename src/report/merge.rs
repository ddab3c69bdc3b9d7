//! Merging shards: the results of one run that several machines each ran a
//! part of, made into one result as if one machine had run it all.
//!
//! What merges exactly: the histograms, every counter, the per-second series
//! (aligned by second since each shard's start: the shards ran the same
//! schedule), the usage tallies, and what is computed from them again (the
//! summary, the fault windows, the peaks, the cost estimate). What cannot:
//! the Redis working set and DynamoDB storage are recomputed as a run
//! computes them, from the summed fills capped at the key space, and the key
//! space is only known when a shard reached it (uncapped otherwise: an upper
//! bound); a simulated run longer than 5 minutes keeps its series in steps,
//! so its peaks are the sum of the shards' peaks (an upper bound).

use super::{PolicyResult, RunResult, summarize};
use crate::cost::{CostOptions, Pricing, estimate};
use crate::run::faults::{FaultWindow, remeasure};
use crate::run::{Peaks, derive_usage};

/// Why results cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing was given.
    #[error("nothing to merge: give the result of every shard of the run")]
    Empty,
    /// The same shard given twice (it would count twice).
    #[error("run {run_id} is given twice: each shard's result once")]
    Twice {
        /// Which result (index into the slice given to [`merge`]).
        shard: usize,
        /// Its run id.
        run_id: String,
    },
    /// A result that is not a shard of the same run as the first one.
    #[error("{field} is {theirs}, but {ours} in the first shard: not shards of one run")]
    NotOneRun {
        /// Which result (index into the slice given to [`merge`]).
        shard: usize,
        /// The field that differs (`seed`, `policies[0].ttl`, ...).
        field: String,
        /// The first shard's value.
        ours: String,
        /// This shard's value.
        theirs: String,
    },
}

/// Merges the results of one run's shards into one result; the cost is
/// estimated again from the merged usage with `pricing` and `options` (the
/// scenario's, as the run had them).
///
/// The merged result keeps the first shard's scenario, source, seed and
/// policies' TTLs; it started when the first shard started and finished when
/// the last one finished; it is complete when every shard is; each policy ran
/// as long as its longest shard and was interrupted if any shard was. Its
/// `run_id` is `merged-` and the first shard's id: a caller that writes it
/// somewhere may give it its own.
///
/// # Errors
/// [`MergeError::Empty`] for no results; [`MergeError::Twice`] for a result
/// given twice; [`MergeError::NotOneRun`] naming the
/// first field that differs when a result is not of the same run (scenario,
/// seed, schema version, mode, time scale, duration, backend, policies, their
/// TTLs and deployment).
pub fn merge(
    shards: &[RunResult],
    pricing: &Pricing,
    options: &CostOptions,
) -> Result<RunResult, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    for (shard, s) in shards.iter().enumerate().skip(1) {
        if shards[..shard].iter().any(|r| r.run_id == s.run_id) {
            return Err(MergeError::Twice { shard, run_id: s.run_id.clone() });
        }
        if let Some((field, ours, theirs)) = difference(first, s) {
            return Err(MergeError::NotOneRun { shard, field, ours, theirs });
        }
    }
    let stepped = first.mode == "simulated" && (first.duration_s as u64).div_ceil(crate::run::MAX_SERIES) > 1;
    let policies = (0..first.policies.len())
        .map(|i| {
            let of: Vec<&PolicyResult> = shards.iter().map(|s| &s.policies[i]).collect();
            merge_policy(&of, stepped, pricing, options)
        })
        .collect();
    let mut endpoints: Vec<&str> = Vec::new();
    for s in shards {
        if !endpoints.contains(&s.endpoints.as_str()) {
            endpoints.push(&s.endpoints);
        }
    }
    Ok(RunResult {
        run_id: format!("merged-{}", first.run_id),
        started_at: shards.iter().map(|s| &s.started_at).min().unwrap_or(&first.started_at).clone(),
        finished_at: shards.iter().map(|s| &s.finished_at).max().unwrap_or(&first.finished_at).clone(),
        complete: shards.iter().all(|s| s.complete),
        endpoints: endpoints.join("; "),
        policies,
        ..first.clone()
    })
}

/// A field that differs: its name, the first shard's value, this shard's.
type Difference = (String, String, String);

fn differ<T: std::fmt::Debug + PartialEq>(field: &str, a: T, b: T) -> Option<Difference> {
    (a != b).then(|| (field.to_owned(), format!("{a:?}"), format!("{b:?}")))
}

/// The first field by which `b` is not of the same run as `a`.
fn difference(a: &RunResult, b: &RunResult) -> Option<Difference> {
    let names = |r: &RunResult| r.policies.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    differ("schema_version", a.schema_version, b.schema_version)
        .or_else(|| differ("scenario", &a.scenario, &b.scenario))
        .or_else(|| differ("seed", a.seed, b.seed))
        .or_else(|| differ("mode", &a.mode, &b.mode))
        .or_else(|| differ("time_scale", a.time_scale, b.time_scale))
        .or_else(|| differ("duration_s", a.duration_s, b.duration_s))
        .or_else(|| differ("backend", a.backend, b.backend))
        .or_else(|| differ("policies (names, in order)", names(a), names(b)))
        .or_else(|| {
            let mut pairs = a.policies.iter().zip(&b.policies).enumerate();
            pairs.find_map(|(i, (p, q))| policy_difference(i, p, q))
        })
}

/// The first field by which policy `i` of two shards differs.
fn policy_difference(i: usize, p: &PolicyResult, q: &PolicyResult) -> Option<Difference> {
    let field = |name: &str| format!("policies[{i}].{name}");
    let ttl = differ(&field("ttl"), json(&p.ttl), json(&q.ttl));
    // A policy still running when its shard was written has no usage to compare.
    if ttl.is_some() || p.usage.run_duration_s == 0.0 || q.usage.run_duration_s == 0.0 {
        return ttl;
    }
    let (u, v) = (&p.usage, &q.usage);
    differ(&field("usage.deployment"), json(&u.deployment), json(&v.deployment))
        .or_else(|| differ(&field("usage.stripe.mode"), u.stripe.mode, v.stripe.mode))
}

/// A value as compact JSON (as the user sees it in result.json).
fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// One policy over every shard (`of` holds at least one).
fn merge_policy(
    of: &[&PolicyResult],
    stepped: bool,
    pricing: &Pricing,
    options: &CostOptions,
) -> PolicyResult {
    let mut m = of[0].clone();
    for p in &of[1..] {
        m.metrics.merge(&p.metrics);
        m.chain += p.chain;
        m.stripe += p.stripe;
        m.webhooks += p.webhooks;
        m.etiquette += p.etiquette;
        m.cold_starts += p.cold_starts;
        m.wall_s = m.wall_s.max(p.wall_s);
        m.interrupted |= p.interrupted;
        m.usage.add_shard(&p.usage);
    }
    m.faults = remeasure(&fault_union(of), &m.metrics);
    // A policy still running when its shard was written has no usage.
    let measured: Vec<&PolicyResult> = of.iter().copied().filter(|p| p.usage.run_duration_s > 0.0).collect();
    if let Some(one) = measured.first() {
        m.usage.deployment = one.usage.deployment.clone();
        m.usage.stripe.mode = one.usage.stripe.mode;
        let key_space = measured.iter().filter_map(|p| key_space_shown(p)).min().unwrap_or(u64::MAX);
        let (peaks, keys_invalidated) = (Peaks::of(&m.metrics), m.webhooks.keys_invalidated);
        derive_usage(&mut m.usage, &m.metrics, peaks, &m.chain, keys_invalidated, key_space);
        if stepped {
            // The series cannot show the busiest second: the busiest of each
            // shard, added up, bounds it from above.
            let sum =
                |f: fn(&PolicyResult) -> Option<f64>| measured.iter().map(|p| f(p)).sum::<Option<f64>>();
            m.usage.stripe.peak_calls_per_s = sum(|p| p.usage.stripe.peak_calls_per_s);
            m.usage.dynamodb.peak_read_units_per_s = sum(|p| p.usage.dynamodb.peak_read_units_per_s);
            m.usage.dynamodb.peak_write_units_per_s = sum(|p| p.usage.dynamodb.peak_write_units_per_s);
        }
        (m.cost, m.cost_error) = match estimate(&m.usage, pricing, options) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
    }
    m.summary = summarize(&m.metrics, &m.chain, &m.stripe, m.wall_s, m.cost.as_ref());
    m
}

/// The key space a shard's usage shows: a working set or a storage smaller
/// than what the shard filled was capped at it.
fn key_space_shown(p: &PolicyResult) -> Option<u64> {
    let (keys, items) = (p.usage.redis.working_set.keys, p.usage.dynamodb.storage.item_count);
    let capped = |held: u64, filled: u64| (held < filled).then_some(held);
    [capped(keys, p.chain.l1_fills + p.chain.promotions), capped(items, p.chain.l2_fills)]
        .into_iter()
        .flatten()
        .min()
}

/// Every shard's fault windows, one per fault (kind and start), with the
/// DynamoDB requests each shard's proxy delayed or throttled added up.
fn fault_union(of: &[&PolicyResult]) -> Vec<FaultWindow> {
    let mut out: Vec<FaultWindow> = Vec::new();
    for w in of.iter().flat_map(|p| &p.faults) {
        match out.iter_mut().find(|o| o.kind == w.kind && o.at_s == w.at_s) {
            Some(o) => o.injected = o.injected.map_or(w.injected, |n| Some(n + w.injected.unwrap_or(0))),
            None => out.push(w.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backends::BackendKind;
    use crate::chain::meter::Op;
    use crate::chain::{ChainCounters, MeterCounts, TtlPolicy};
    use crate::metrics::{Outcome, RunMetrics, Sample};
    use crate::mock::{CounterSnapshot, RateLimited};
    use crate::origin::EtiquetteSnapshot;
    use crate::report::SCHEMA_VERSION;
    use crate::run::usage::UsageTally;
    use crate::run::{PolicyRun, WebhookCounts};

    const KEY_SPACE: u64 = 50;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// 200 requests over 4 s in every outcome, some stale, some late, and
    /// slow ones around a fault at 1 s.
    fn samples() -> Vec<Sample> {
        use Outcome::*;
        let outcomes = [L1, L1, L1, L2, Origin, Stale, Error];
        (0..200u64)
            .map(|i| {
                let intended = ms(i * 20);
                let slow = if (50..80).contains(&i) { ms(150) } else { Duration::ZERO };
                let started = intended + if i % 13 == 0 { ms(9) } else { Duration::from_micros(300) };
                Sample {
                    intended,
                    started,
                    finished: started + ms(1 + i % 23) + slow,
                    outcome: outcomes[i as usize % outcomes.len()],
                    stale_age: (i % 11 == 0).then(|| ms(40 + i)),
                }
            })
            .collect()
    }

    /// What a run (or shard) counted beside its requests.
    struct Counted {
        chain: ChainCounters,
        stripe: CounterSnapshot,
        webhooks: WebhookCounts,
        etiquette: EtiquetteSnapshot,
        cold_starts: u64,
        injected: Option<u64>,
        wall: Duration,
    }

    fn counted(
        fills: [u64; 3],
        calls: u64,
        limited: u64,
        invalidated: u64,
        colds: u64,
        wall_ms: u64,
    ) -> Counted {
        Counted {
            chain: ChainCounters {
                l1_fills: fills[0],
                promotions: fills[1],
                l2_fills: fills[2],
                origin_fetches: calls - limited,
                origin_errors: limited,
                ..ChainCounters::default()
            },
            stripe: CounterSnapshot {
                requests: calls,
                status_2xx: calls - limited,
                status_4xx: limited,
                rate_limited: RateLimited { global_rate: limited, ..RateLimited::default() },
                ..CounterSnapshot::default()
            },
            webhooks: WebhookCounts {
                applied: invalidated,
                keys_invalidated: invalidated,
                ..WebhookCounts::default()
            },
            etiquette: EtiquetteSnapshot {
                fetches: calls,
                attempts: calls + limited,
                ..EtiquetteSnapshot::default()
            },
            cold_starts: colds,
            injected: Some(invalidated),
            wall: ms(wall_ms),
        }
    }

    /// A policy run as the harness makes one, over `samples`.
    fn policy_run(
        name: &str,
        ttl: &TtlPolicy,
        samples: &[&Sample],
        dropped: &[u64],
        c: &Counted,
    ) -> PolicyRun {
        let (mut metrics, mut tally) = (RunMetrics::default(), UsageTally::default());
        let mut meter = MeterCounts::default();
        for s in samples {
            metrics.record(s);
            let ops: &[(Op, u64)] = match s.outcome {
                Outcome::L1 | Outcome::Stale => &[(Op::L1Hit, 1_500)],
                Outcome::L2 => &[(Op::L1Miss, 0), (Op::L2Hit, 1_700), (Op::L1Write, 1_500)],
                Outcome::Origin => {
                    &[(Op::L1Miss, 0), (Op::L2Miss, 0), (Op::StripeOk, 2_100), (Op::L2PutMoved, 2_100)]
                }
                Outcome::Error => &[(Op::L1Miss, 0), (Op::L2Miss, 0), (Op::StripeFailed, 0)],
            };
            for (op, bytes) in ops {
                meter.add_n(*op, *bytes, 1);
            }
            tally.record_request(s.finished - s.started);
        }
        tally.add_meter(&meter);
        for d in dropped {
            metrics.record_dropped(ms(*d));
        }
        tally.record_invalidations(c.webhooks.keys_invalidated, 1_300);
        let requests = metrics.counts.requests;
        let mut usage = tally.into_usage(c.wall.as_secs_f64(), requests, c.stripe.requests, 0.0, true);
        let invalidated = c.webhooks.keys_invalidated;
        derive_usage(&mut usage, &metrics, Peaks::of(&metrics), &c.chain, invalidated, KEY_SPACE);
        let fault = FaultWindow {
            kind: "redis_pause".into(),
            at_s: 1.0,
            duration_s: 0.5,
            rate: 1.0,
            injected: c.injected,
            ..FaultWindow::default()
        };
        PolicyRun {
            name: name.into(),
            ttl: ttl.clone(),
            faults: remeasure(&[fault], &metrics),
            metrics,
            chain: c.chain,
            stripe: c.stripe,
            webhooks: c.webhooks,
            rate_limited: c.stripe.rate_limited.total(),
            cold_starts: c.cold_starts,
            wall: c.wall,
            usage,
            interrupted: false,
            etiquette: c.etiquette,
        }
    }

    /// A run of two policies over `samples`.
    fn run_result(
        id: &str,
        times: [&str; 2],
        samples: &[&Sample],
        dropped: &[u64],
        c: &Counted,
    ) -> RunResult {
        let short = TtlPolicy::uniform(Duration::from_secs(30), Duration::from_secs(300));
        let (pricing, options) = (Pricing::defaults(), CostOptions::default());
        let policies = [("seed", TtlPolicy::default()), ("short", short)]
            .iter()
            .map(|(name, ttl)| {
                PolicyResult::from_run(&policy_run(name, ttl, samples, dropped, c), &pricing, &options)
            })
            .collect();
        RunResult {
            schema_version: SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            mode: "live".into(),
            scenario: "small".into(),
            source: "scenarios/small.toml".into(),
            run_id: id.into(),
            started_at: times[0].into(),
            finished_at: times[1].into(),
            complete: true,
            seed: 7,
            time_scale: 1.0,
            duration_s: 4.0,
            backend: BackendKind::Local,
            endpoints: format!("redis on {id}"),
            policies,
        }
    }

    /// The whole run, and the same run as two shards that took alternate requests.
    fn one_and_shards() -> (RunResult, [RunResult; 2]) {
        let all = samples();
        let every: Vec<&Sample> = all.iter().collect();
        let half =
            |r: usize| all.iter().enumerate().filter(|(i, _)| i % 2 == r).map(|(_, s)| s).collect::<Vec<_>>();
        let (a, b) = (half(0), half(1));
        // Shard a filled more keys than the key space holds: its working set shows the cap.
        let ca = counted([60, 5, 40], 30, 2, 4, 1, 4_100);
        let cb = counted([20, 3, 30], 25, 1, 6, 2, 4_300);
        let call = counted([80, 8, 70], 55, 3, 10, 3, 4_300);
        let one = run_result(
            "one",
            ["2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z"],
            &every,
            &[3_900, 3_950],
            &call,
        );
        let sa = run_result("a", ["2026-01-01T00:00:01Z", "2026-01-01T00:00:08Z"], &a, &[3_900], &ca);
        let sb = run_result("b", ["2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z"], &b, &[3_950], &cb);
        (one, [sa, sb])
    }

    fn merged(shards: &[RunResult]) -> Result<RunResult, MergeError> {
        merge(shards, &Pricing::defaults(), &CostOptions::default())
    }

    #[test]
    fn shards_merge_into_the_result_of_the_whole_run() {
        let (one, shards) = one_and_shards();
        let m = merged(&shards).unwrap();
        assert_eq!(m.policies, one.policies);
        assert_eq!((m.run_id.as_str(), m.endpoints.as_str()), ("merged-a", "redis on a; redis on b"));
        assert_eq!(
            (m.started_at.as_str(), m.finished_at.as_str()),
            ("2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z")
        );
        let same = RunResult { run_id: one.run_id.clone(), endpoints: one.endpoints.clone(), ..m };
        assert_eq!(same, one);
        // What the comparison covers is not empty.
        let p = &one.policies[0];
        assert!(p.cost.is_some(), "{:?}", p.cost_error);
        assert_eq!(p.usage.redis.working_set.keys, KEY_SPACE, "capped at the key space shard a showed");
        assert_eq!(p.usage.dynamodb.storage.item_count, KEY_SPACE);
        let fault = &p.faults[0];
        assert_eq!((fault.requests, fault.injected), (50, Some(10)), "the whole second 1");
        assert!(fault.p99_ms > 150.0, "{fault:?}");
        assert_eq!((p.summary.requests, p.summary.dropped, p.summary.stripe_429s), (200, 2, 3));
        let peak = |r: &RunResult| r.policies[0].usage.stripe.peak_calls_per_s.unwrap();
        assert!(
            peak(&one) < peak(&shards[0]) + peak(&shards[1]),
            "the peak of the sum, not the sum of peaks"
        );
    }

    #[test]
    fn a_long_simulated_run_bounds_its_peaks_by_the_shards_peaks_added_up() {
        let (_, shards) = one_and_shards();
        let long = shards.map(|s| RunResult { mode: "simulated".into(), duration_s: 600.0, ..s });
        let m = merged(&long).unwrap();
        let peak = |r: &RunResult| r.policies[0].usage.stripe.peak_calls_per_s.unwrap();
        assert_eq!(peak(&m), peak(&long[0]) + peak(&long[1]));
        let units = |r: &RunResult| r.policies[0].usage.dynamodb.peak_read_units_per_s.unwrap();
        assert_eq!(units(&m), units(&long[0]) + units(&long[1]));
    }

    #[test]
    fn one_shard_merges_into_itself() {
        let (_, [a, _]) = one_and_shards();
        let m = merged(std::slice::from_ref(&a)).unwrap();
        assert_eq!(RunResult { run_id: a.run_id.clone(), ..m }, a);
    }

    #[test]
    fn results_of_different_runs_are_refused_naming_the_field() {
        let (_, [a, b]) = one_and_shards();
        let field = |b: RunResult| match merged(&[a.clone(), b]) {
            Err(MergeError::NotOneRun { shard: 1, field, .. }) => field,
            other => panic!("merged: {other:?}"),
        };
        assert_eq!(field(RunResult { seed: 8, ..b.clone() }), "seed");
        assert_eq!(field(RunResult { mode: "simulated".into(), ..b.clone() }), "mode");
        let mut renamed = b.clone();
        renamed.policies[1].name = "long".into();
        assert_eq!(field(renamed), "policies (names, in order)");
        let mut reordered = b.clone();
        reordered.policies.reverse();
        assert_eq!(field(reordered), "policies (names, in order)");
        let mut jittered = b.clone();
        jittered.policies[1].ttl.jitter = 0.5;
        assert_eq!(field(jittered), "policies[1].ttl");
        let mut redeployed = b.clone();
        redeployed.policies[0].usage.deployment.azs += 1;
        assert_eq!(field(redeployed), "policies[0].usage.deployment");
        let e = merged(&[a.clone(), RunResult { seed: 8, ..b.clone() }]).unwrap_err().to_string();
        assert_eq!(e, "seed is 8, but 7 in the first shard: not shards of one run");
        assert!(matches!(merged(&[]), Err(MergeError::Empty)));
        assert!(matches!(merged(&[b.clone(), a, b]), Err(MergeError::Twice { shard: 2, .. })));
    }
}
