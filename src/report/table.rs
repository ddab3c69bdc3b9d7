//! The comparison table printed after a run or sweep, and the frontier of
//! policies no other beats on every objective.

use std::fmt::Write as _;

use super::{PolicyResult, RunResult};

/// Marks each policy that no other policy beats or ties on every objective
/// (lower is better), with at least one strictly better.
pub fn frontier(objectives: &[Vec<f64>]) -> Vec<bool> {
    objectives
        .iter()
        .map(|a| {
            !objectives
                .iter()
                .any(|b| b.iter().zip(a).all(|(x, y)| x <= y) && b.iter().zip(a).any(|(x, y)| x < y))
        })
        .collect()
}

/// The objectives the frontier weighs: monthly cost, stale-read ratio, p99 of
/// served requests and error ratio (a fast failure is not a fast answer; a
/// policy without a cost estimate counts as the most costly).
fn objectives(p: &PolicyResult) -> Vec<f64> {
    let s = &p.summary;
    vec![s.cost_per_month_usd.unwrap_or(f64::INFINITY), s.stale_read_ratio, s.served_p99_ms, s.error_ratio]
}

/// Which of `result`'s policies are on the frontier (by [`objectives`]).
pub(super) fn policy_frontier(result: &RunResult) -> Vec<bool> {
    frontier(&result.policies.iter().map(objectives).collect::<Vec<_>>())
}

/// One row per policy: hit ratios, latency, staleness, Stripe calls and 429s.
pub fn terminal_table(result: &RunResult) -> String {
    let front = policy_frontier(result);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>8} {:>6} {:>6} {:>7} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>8} {:>6} {:>6} {:>6} {:>10}  frontier",
        "policy",
        "requests",
        "L1 %",
        "L2 %",
        "stale %",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "p99 sent",
        "srv p99",
        "Stripe/s",
        "429s",
        "/fill",
        "errors",
        "drop",
        "$/month"
    );
    for (p, on) in result.policies.iter().zip(front) {
        let s = &p.summary;
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>6.1} {:>6.1} {:>7.2} {:>8.2} {:>8.2} {:>9.2} {:>8.2} {:>8.2} {:>7.1} {:>8} {:>6.2} {:>6} {:>6} {:>10}  {}",
            p.name,
            s.requests,
            s.l1_hit_ratio * 100.0,
            s.l2_hit_ratio * 100.0,
            s.stale_read_ratio * 100.0,
            s.p50_ms,
            s.p99_ms,
            s.p999_ms,
            s.uncorrected_p99_ms,
            s.served_p99_ms,
            s.stripe_calls_per_s,
            s.stripe_429s,
            s.origin_calls_per_fill,
            s.errors,
            s.dropped,
            s.cost_per_month_usd.map_or("n/a".to_owned(), |c| format!("{c:.2}")),
            if on { "*" } else { "" }
        );
    }
    out.push_str(
        "frontier (*): no other policy is at once cheaper, less stale, faster (p99 of served requests) and \
         less failing; /fill: Stripe calls per expiry refilled (1 = no stampede); $/month at this run's rate with \
         the scenario's pricing and deployment\n",
    );
    out
}

/// One row per injected fault window of each policy (none when the scenario
/// has no `[[fault]]`): what callers felt and how long recovery took.
pub fn fault_table(result: &RunResult) -> Option<String> {
    if result.policies.iter().all(|p| p.faults.is_empty()) {
        return None;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<18} {:>7} {:>6} {:>5} {:>8} {:>6} {:>6} {:>6} {:>6} {:>9} {:>9} {:>8}",
        "policy",
        "fault",
        "at s",
        "for s",
        "rate",
        "requests",
        "errors",
        "stale",
        "served",
        "Stripe",
        "p99 ms",
        "recover s",
        "injected"
    );
    for p in &result.policies {
        for w in &p.faults {
            let _ = writeln!(
                out,
                "{:<16} {:<18} {:>7.1} {:>6.1} {:>5.2} {:>8} {:>6} {:>6} {:>6} {:>6} {:>9.1} {:>9} {:>8}",
                p.name,
                w.kind,
                w.at_s,
                w.duration_s,
                w.rate,
                w.requests,
                w.errors,
                w.stale_reads,
                w.stale_served,
                w.origin,
                w.p99_ms,
                w.recovery_s.map_or("never".to_owned(), |r| format!("{r:.0}")),
                w.injected.map_or("-".to_owned(), |n| n.to_string()),
            );
        }
    }
    out.push_str(
        "per fault window (requests by intended start): stale = stale reads, served = answered past expiry by a \
         stale window, Stripe = served by Stripe, recover s = whole seconds after the window until a second with \
         no errors and p99 within twice the pre-fault p99, injected = DynamoDB requests the fault proxy delayed or \
         throttled\n",
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::frontier;

    #[test]
    fn dominated_policies_are_off_the_frontier() {
        let f = frontier(&[vec![1.0, 5.0], vec![2.0, 2.0], vec![2.0, 3.0], vec![1.0, 5.0], vec![3.0, 1.0]]);
        assert_eq!(f, vec![true, true, false, true, true]);
    }
}
