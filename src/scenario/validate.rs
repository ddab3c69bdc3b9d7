//! Raw scenario -> validated [`Scenario`]: defaults filled in, every value
//! checked, errors tied to file, line and key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawArrival, RawLease, RawPolicy, RawPopularity, RawScenario, RawTtl};
use super::units::parse_duration;
use super::{
    Arrival, Burst, CallerSpec, KindMix, MutationSpec, PolicySpec, Popularity, Scenario, ScenarioError,
    Stage, StripeSpec, WorkloadSpec,
};
use crate::chain::{Defences, LeaseConfig, TtlPolicy};
use crate::stripe::ObjectKind;

/// Builds errors against one file's text.
pub(super) struct Ctx<'a> {
    file: String,
    text: &'a str,
}

impl Ctx<'_> {
    pub(super) fn line(&self, span: &Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())].matches('\n').count() + 1
    }

    pub(super) fn err(&self, span: &Range<usize>, key: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.clone(),
            line: self.line(span),
            key: key.into(),
            message: message.into(),
        }
    }

    /// The span of `key`'s first mention at or after byte `from` (where a
    /// table's keys are; TOML's parsed tables keep no spans per key).
    pub(super) fn find_key(&self, from: usize, key: &str) -> Range<usize> {
        let rest = self.text.get(from..).unwrap_or_default();
        let found = [format!("\"{key}\""), key.to_owned()].iter().find_map(|k| rest.find(k.as_str()));
        let start = from + found.unwrap_or(0);
        start..start
    }

    pub(super) fn duration(
        &self,
        span: &Range<usize>,
        key: &str,
        text: &str,
    ) -> Result<Duration, ScenarioError> {
        parse_duration(text).map_err(|m| self.err(span, key, m))
    }

    fn positive(&self, span: &Range<usize>, key: &str, v: f64) -> Result<f64, ScenarioError> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(self.err(span, key, format!("must be > 0, got {v}")))
        }
    }

    fn fraction(&self, span: &Range<usize>, key: &str, v: f64) -> Result<f64, ScenarioError> {
        if v > 0.0 && v < 1.0 {
            Ok(v)
        } else {
            Err(self.err(span, key, format!("must be between 0 and 1 (exclusive), got {v}")))
        }
    }

    fn count(&self, v: &Spanned<i64>, key: &str, min: i64) -> Result<i64, ScenarioError> {
        let n = *v.get_ref();
        if n >= min {
            Ok(n)
        } else {
            Err(self.err(&v.span(), key, format!("must be at least {min}, got {n}")))
        }
    }

    fn kind(&self, span: &Range<usize>, key: &str, name: &str) -> Result<ObjectKind, ScenarioError> {
        name.parse().map_err(|e: crate::stripe::KindParseError| self.err(span, key, e.to_string()))
    }

    fn mix(&self, m: &Spanned<BTreeMap<String, f64>>, key: &str) -> Result<KindMix, ScenarioError> {
        let span = m.span();
        let mut out = Vec::new();
        for (name, &w) in m.get_ref() {
            let kind = self.kind(&span, &format!("{key}.{name}"), name)?;
            if !(w.is_finite() && w >= 0.0) {
                return Err(self.err(
                    &span,
                    &format!("{key}.{name}"),
                    format!("weight must be >= 0, got {w}"),
                ));
            }
            out.push((kind, w));
        }
        let sum: f64 = out.iter().map(|(_, w)| w).sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(self.err(&span, key, format!("weights must sum to 1, they sum to {sum}")));
        }
        Ok(KindMix(out))
    }
}

/// Parses and validates scenario `text` read from `path`.
pub(super) fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let cx = Ctx { file: path.display().to_string(), text };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let token = text.get(span.clone()).unwrap_or_default().trim();
        let key =
            if !token.is_empty() && token.len() <= 40 && !token.contains('\n') { token } else { "(toml)" };
        cx.err(&span, key, e.message().trim().to_owned())
    })?;
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| path.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned()));
    let duration = cx.duration(&raw.duration.span(), "duration", raw.duration.get_ref())?;
    if duration.is_zero() {
        return Err(cx.err(&raw.duration.span(), "duration", "must be longer than 0"));
    }
    let time_scale = match &raw.time_scale {
        Some(t) => cx.positive(&t.span(), "time_scale", *t.get_ref())?,
        None => 1.0,
    };
    let policies = if raw.policies.is_empty() {
        vec![PolicySpec {
            name: "seed".into(),
            ttl: TtlPolicy::default(),
            etiquette: crate::origin::Etiquette::off(),
        }]
    } else {
        raw.policies.iter().map(|p| policy(&cx, p)).collect::<Result<Vec<_>, _>>()?
    };
    let mut seen = std::collections::HashSet::new();
    for (p, raw_p) in policies.iter().zip(&raw.policies) {
        if !seen.insert(p.name.clone()) {
            return Err(cx.err(
                &raw_p.span(),
                "policy.name",
                format!("policy {:?} is defined twice", p.name),
            ));
        }
    }
    Ok(Scenario {
        name,
        description: raw.description.clone().unwrap_or_default(),
        source: path.to_path_buf(),
        seed: raw.seed.unwrap_or(1),
        duration,
        time_scale,
        workload: workload(&cx, &raw)?,
        callers: callers(&cx, &raw)?,
        mutations: mutations(&cx, &raw)?,
        stripe: stripe(&cx, &raw)?,
        policies,
        cost: super::cost::cost(&cx, path, &raw)?,
        thresholds: super::thresholds::thresholds(&cx, raw.thresholds.as_ref())?,
        faults: {
            let mut f = super::faults::faults(&cx, &raw.faults, duration)?;
            f.sort_by_key(|f| f.at);
            f
        },
    })
}

fn customers_only() -> KindMix {
    KindMix(vec![(ObjectKind::Customer, 1.0)])
}

fn workload(cx: &Ctx<'_>, raw: &RawScenario) -> Result<WorkloadSpec, ScenarioError> {
    let w = &raw.workload;
    let customers = match &w.customers {
        Some(c) => cx.count(c, "workload.customers", 1)? as u64,
        None => 1_000,
    };
    let accounts = match &w.accounts {
        Some(a) => u32::try_from(cx.count(a, "workload.accounts", 0)?)
            .map_err(|_| cx.err(&a.span(), "workload.accounts", "too many accounts"))?,
        None => 0,
    };
    let popularity = match &w.popularity {
        None => Popularity::Uniform,
        Some(p) => {
            let (span, key) = (p.span(), "workload.popularity");
            match p.get_ref() {
                RawPopularity::Uniform => Popularity::Uniform,
                RawPopularity::Zipf { s } => {
                    Popularity::Zipf { s: cx.positive(&span, &format!("{key}.s"), *s)? }
                }
                RawPopularity::Hotspot { hot_fraction, hot_share } => Popularity::Hotspot {
                    hot_fraction: cx.fraction(&span, &format!("{key}.hot_fraction"), *hot_fraction)?,
                    hot_share: cx.fraction(&span, &format!("{key}.hot_share"), *hot_share)?,
                },
                RawPopularity::Drifting { s, period } => Popularity::Drifting {
                    s: cx.positive(&span, &format!("{key}.s"), *s)?,
                    period: cx.duration(&span, &format!("{key}.period"), period)?,
                },
            }
        }
    };
    let mix = match &w.mix {
        Some(m) => cx.mix(m, "workload.mix")?,
        None => customers_only(),
    };
    let arrival = match &w.arrival {
        None => Arrival::Poisson { rate_per_s: 100.0 },
        Some(a) => {
            let (span, key) = (a.span(), "workload.arrival");
            match a.get_ref() {
                RawArrival::Constant { rate_per_s } => Arrival::Constant {
                    rate_per_s: cx.positive(&span, &format!("{key}.rate_per_s"), *rate_per_s)?,
                },
                RawArrival::Poisson { rate_per_s } => Arrival::Poisson {
                    rate_per_s: cx.positive(&span, &format!("{key}.rate_per_s"), *rate_per_s)?,
                },
                RawArrival::Ramp { stages } if stages.is_empty() => {
                    return Err(cx.err(&span, &format!("{key}.stages"), "a ramp needs at least one stage"));
                }
                RawArrival::Ramp { stages } => Arrival::Ramp {
                    stages: stages
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let k = format!("{key}.stages[{i}]");
                            Ok(Stage {
                                duration: cx.duration(&span, &format!("{k}.duration"), &s.duration)?,
                                rate_per_s: cx.positive(&span, &format!("{k}.rate_per_s"), s.rate_per_s)?,
                            })
                        })
                        .collect::<Result<_, ScenarioError>>()?,
                },
                RawArrival::Closed { callers } => Arrival::Closed {
                    callers: u32::try_from(*callers)
                        .ok()
                        .filter(|c| *c > 0)
                        .ok_or_else(|| cx.err(&span, &format!("{key}.callers"), "must be at least 1"))?,
                },
            }
        }
    };
    let bursts = w
        .bursts
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let (span, k) = (b.span(), format!("workload.bursts[{i}]"));
            let b = b.get_ref();
            Ok(Burst {
                at: cx.duration(&span, &format!("{k}.at"), &b.at)?,
                duration: cx.duration(&span, &format!("{k}.duration"), &b.duration)?,
                rate_per_s: cx.positive(&span, &format!("{k}.rate_per_s"), b.rate_per_s)?,
            })
        })
        .collect::<Result<_, ScenarioError>>()?;
    Ok(WorkloadSpec { customers, accounts, popularity, mix, arrival, bursts })
}

fn callers(cx: &Ctx<'_>, raw: &RawScenario) -> Result<CallerSpec, ScenarioError> {
    let c = &raw.callers;
    let concurrency = match &c.concurrency {
        Some(n) => u32::try_from(cx.count(n, "callers.concurrency", 1)?)
            .map_err(|_| cx.err(&n.span(), "callers.concurrency", "too many callers"))?,
        None => 8,
    };
    let cold_starts_per_s = match &c.cold_starts_per_s {
        Some(r) if *r.get_ref() == 0.0 => 0.0,
        Some(r) => cx.positive(&r.span(), "callers.cold_starts_per_s", *r.get_ref())?,
        None => 0.0,
    };
    Ok(CallerSpec { concurrency, cold_starts_per_s })
}

fn mutations(cx: &Ctx<'_>, raw: &RawScenario) -> Result<MutationSpec, ScenarioError> {
    let m = &raw.mutations;
    let rate_per_s = match &m.rate_per_s {
        Some(r) if *r.get_ref() == 0.0 => 0.0,
        Some(r) => cx.positive(&r.span(), "mutations.rate_per_s", *r.get_ref())?,
        None => 0.0,
    };
    let mix = match &m.mix {
        Some(x) => cx.mix(x, "mutations.mix")?,
        None => customers_only(),
    };
    Ok(MutationSpec { rate_per_s, mix })
}

fn stripe(cx: &Ctx<'_>, raw: &RawScenario) -> Result<StripeSpec, ScenarioError> {
    let r = &raw.stripe;
    let mut out = StripeSpec::default();
    if let Some(m) = &r.mode {
        out.live_mode = match m.get_ref().as_str() {
            "test" => false,
            "live" => true,
            other => {
                return Err(cx.err(
                    &m.span(),
                    "stripe.mode",
                    format!("{other:?}: expected \"test\" or \"live\""),
                ));
            }
        };
    }
    if let Some(v) = &r.latency_scale {
        let x = *v.get_ref();
        if !(x.is_finite() && x >= 0.0) {
            return Err(cx.err(&v.span(), "stripe.latency_scale", format!("must be >= 0, got {x}")));
        }
        out.latency_scale = x;
    }
    out.rate_limits = r.rate_limits.unwrap_or(true);
    if let Some(d) = &r.webhook_delay_p50 {
        out.webhook_delay_p50 = cx.duration(&d.span(), "stripe.webhook_delay_p50", d.get_ref())?;
    }
    if let Some(d) = &r.webhook_delay_p99 {
        out.webhook_delay_p99 = cx.duration(&d.span(), "stripe.webhook_delay_p99", d.get_ref())?;
    }
    for (v, key, slot) in [
        (&r.duplicate_rate, "stripe.duplicate_rate", &mut out.duplicate_rate),
        (&r.reorder_rate, "stripe.reorder_rate", &mut out.reorder_rate),
    ] {
        if let Some(v) = v {
            let x = *v.get_ref();
            if !(0.0..=1.0).contains(&x) {
                return Err(cx.err(&v.span(), key, format!("must be between 0 and 1, got {x}")));
            }
            *slot = x;
        }
    }
    Ok(out)
}

/// Applies a TTL to one tier: one duration for every kind, or a table with a
/// TTL per kind and `default` for the kinds it does not list.
fn ttl(
    cx: &Ctx<'_>,
    value: &Spanned<RawTtl>,
    key: &str,
    per_kind: &mut BTreeMap<ObjectKind, Duration>,
    default: &mut Duration,
) -> Result<(), ScenarioError> {
    let span = value.span();
    match value.get_ref() {
        RawTtl::One(d) => {
            *default = cx.duration(&span, key, d)?;
            per_kind.clear();
        }
        RawTtl::PerKind(map) => {
            // A table stands alone: it does not inherit the seed's per-kind values.
            per_kind.clear();
            let listed = map.keys().filter(|k| *k != "default").count();
            if !map.contains_key("default") && listed < ObjectKind::ALL.len() {
                return Err(cx.err(&span, key, "give `default` or a TTL for every kind"));
            }
            for (name, d) in map {
                let k = format!("{key}.{name}");
                let ttl = cx.duration(&span, &k, d)?;
                if name == "default" {
                    *default = ttl;
                } else {
                    per_kind.insert(cx.kind(&span, &k, name)?, ttl);
                }
            }
        }
    }
    Ok(())
}

fn policy(cx: &Ctx<'_>, raw: &Spanned<RawPolicy>) -> Result<PolicySpec, ScenarioError> {
    let p = raw.get_ref();
    let mut t = TtlPolicy::default();
    if let Some(v) = &p.l1_ttl {
        ttl(cx, v, "policy.l1_ttl", &mut t.l1, &mut t.l1_default)?;
    }
    if let Some(v) = &p.l2_ttl {
        ttl(cx, v, "policy.l2_ttl", &mut t.l2, &mut t.l2_default)?;
    }
    if let Some(j) = &p.jitter {
        let v = *j.get_ref();
        if !(0.0..1.0).contains(&v) {
            return Err(cx.err(&j.span(), "policy.jitter", format!("must be in [0, 1), got {v}")));
        }
        t.jitter = v;
    }
    t.defences = defences(cx, p)?;
    if p.name.trim().is_empty() {
        return Err(cx.err(&raw.span(), "policy.name", "must not be empty"));
    }
    let etiquette = match &p.etiquette {
        None => crate::origin::Etiquette::off(),
        Some(e) => {
            e.get_ref()
                .validate()
                .map_err(|why| cx.err(&e.span(), &format!("policy.etiquette.{}", why.key), why.problem))?;
            e.get_ref().clone()
        }
    };
    Ok(PolicySpec { name: p.name.clone(), ttl: t, etiquette })
}

fn defences(cx: &Ctx<'_>, p: &RawPolicy) -> Result<Defences, ScenarioError> {
    let window = |v: &Option<Spanned<String>>, key: &str| match v {
        Some(d) => cx.duration(&d.span(), key, d.get_ref()),
        None => Ok(Duration::ZERO),
    };
    let early_refresh_beta = match &p.early_refresh_beta {
        Some(b) if !(b.get_ref().is_finite() && *b.get_ref() >= 0.0) => {
            return Err(cx.err(
                &b.span(),
                "policy.early_refresh_beta",
                format!("must be >= 0, got {}", b.get_ref()),
            ));
        }
        Some(b) => *b.get_ref(),
        None => 0.0,
    };
    let lease = match &p.lease {
        None => None,
        Some(l) => {
            let (span, d) = (l.span(), LeaseConfig::default());
            let get = |v: &Option<String>, key: &str, default: Duration| match v {
                Some(t) => cx.duration(&span, &format!("policy.lease.{key}"), t),
                None => Ok(default),
            };
            match l.get_ref() {
                RawLease::On(false) => None,
                RawLease::On(true) => Some(d),
                RawLease::Timed { ttl, wait, poll } => Some(LeaseConfig {
                    ttl: get(ttl, "ttl", d.ttl)?,
                    wait: get(wait, "wait", d.wait)?,
                    poll: get(poll, "poll", d.poll)?,
                }),
            }
        }
    };
    Ok(Defences {
        coalesce: p.coalesce.unwrap_or(false),
        lease,
        early_refresh_beta,
        stale_while_revalidate: window(&p.stale_while_revalidate, "policy.stale_while_revalidate")?,
        stale_if_error: window(&p.stale_if_error, "policy.stale_if_error")?,
        negative_ttl: window(&p.negative_ttl, "policy.negative_ttl")?,
    })
}
