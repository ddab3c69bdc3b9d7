//! Stripe calls per second against the account's global rate limit.

use super::breakdown::StripeHeadroom;
use super::pricing::StripeLimits;
use super::usage::{StripeMode, StripeUsage};

/// How much of Stripe's global limit (100/s live, 25/s test by default) the run
/// used: the peak when measured, else the average.
pub fn stripe_headroom(stripe: &StripeUsage, run_duration_s: f64, limits: &StripeLimits) -> StripeHeadroom {
    let limit_per_s = match stripe.mode {
        StripeMode::Live => limits.live_calls_per_s.value,
        StripeMode::Test => limits.test_calls_per_s.value,
    };
    let avg_calls_per_s = if run_duration_s > 0.0 { stripe.calls as f64 / run_duration_s } else { 0.0 };
    let used_pct = stripe.peak_calls_per_s.unwrap_or(avg_calls_per_s) / limit_per_s * 100.0;
    StripeHeadroom {
        mode: stripe.mode,
        avg_calls_per_s,
        peak_calls_per_s: stripe.peak_calls_per_s,
        limit_per_s,
        used_pct,
        headroom_pct: 100.0 - used_pct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Pricing;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn average_against_the_live_limit() {
        // 1,800 calls in 60 s = 30/s of 100/s: 30 % used, 70 % headroom
        let s = StripeUsage { calls: 1800, ..StripeUsage::default() };
        let h = stripe_headroom(&s, 60.0, &Pricing::defaults().stripe);
        assert!(close(h.avg_calls_per_s, 30.0));
        assert_eq!(h.limit_per_s, 100.0);
        assert!(close(h.used_pct, 30.0) && close(h.headroom_pct, 70.0), "{h:?}");
    }

    #[test]
    fn peak_wins_and_test_mode_has_the_lower_limit() {
        // peak 120/s live: 120 % used, 20 % over
        let s = StripeUsage { calls: 1800, peak_calls_per_s: Some(120.0), ..StripeUsage::default() };
        let h = stripe_headroom(&s, 60.0, &Pricing::defaults().stripe);
        assert!(close(h.used_pct, 120.0) && close(h.headroom_pct, -20.0), "{h:?}");
        // the same 30/s average in test mode: 30 / 25 = 120 %
        let s = StripeUsage { mode: StripeMode::Test, calls: 1800, ..StripeUsage::default() };
        let h = stripe_headroom(&s, 60.0, &Pricing::defaults().stripe);
        assert_eq!(h.limit_per_s, 25.0);
        assert!(close(h.used_pct, 120.0), "{h:?}");
    }
}
