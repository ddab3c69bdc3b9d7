//! Scenario files (src/scenario/).
//!
//! `Scenario::parse` on arbitrary UTF-8 never panics; an error names a line
//! between 1 and the file's line count + 1 and a non-empty key, and displays.
//! A scenario that validates is then put through what a run derives from it
//! before any network: each policy scaled by `time_scale` and its fill TTLs,
//! and the first requests of its workload (arrivals, bursts, popularity, kind
//! mix) over a small key universe. A scenario that validates must not panic
//! there either.
#![no_main]

use std::path::Path;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tierbench::chain::Tier;
use tierbench::clock::Timestamp;
use tierbench::scenario::Scenario;
use tierbench::stripe::ObjectKind;
use tierbench::workload::{KeyUniverse, Workload};

/// Requests of the schedule looked at.
const REQUESTS: usize = 64;

/// Three objects of each kind, the last under a connected account.
fn universe() -> KeyUniverse {
    let ids = |p: &str| {
        (0..3).map(|i| ((i == 2).then(|| "acct_1".to_owned()), format!("{p}_{i}"))).collect::<Vec<_>>()
    };
    KeyUniverse { customers: ids("cus"), invoices: ids("in") }
}

fuzz_target!(|text: &str| {
    let scenario = match Scenario::parse(Path::new("fuzz.toml"), text) {
        Ok(s) => s,
        Err(e) => {
            let lines = text.lines().count();
            assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {lines}: {e}", e.line);
            assert!(!e.key.is_empty(), "{e}");
            let _ = e.to_string();
            return;
        }
    };
    assert!(!scenario.policies.is_empty());
    assert!(!scenario.duration.is_zero());
    for i in 0..scenario.policies.len() {
        let p = scenario.scaled_policy(i);
        for kind in ObjectKind::ALL {
            for tier in [Tier::L1, Tier::L2] {
                let ttl = p.fill_ttl(
                    tier,
                    kind,
                    tierbench::chain::key_salt(kind, "cus_1"),
                    Timestamp::from_millis(1_780_000_000_000),
                );
                assert!(ttl <= p.ttl(tier, kind));
            }
        }
    }
    let mut workload = Workload::new(&scenario, universe());
    if Workload::closed_loop(&scenario).is_some() {
        // Closed-loop callers draw keys as they go.
        for s in 0..REQUESTS as u64 {
            let _ = workload.next_key(Duration::from_secs(s * 7_919));
        }
    } else {
        let mut last = None;
        for r in workload.take(REQUESTS) {
            assert!(r.intended < scenario.duration, "{r:?} not before {:?}", scenario.duration);
            assert!(last.is_none_or(|l| l <= r.intended), "out of order: {last:?} then {r:?}");
            last = Some(r.intended);
        }
    }
});
