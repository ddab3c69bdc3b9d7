//! `[[fault]]` of a scenario: what breaks, when, for how long (run time, not
//! compressed by `time_scale`).

use std::time::Duration;

use toml::Spanned;

use super::ScenarioError;
use super::raw::RawFault;
use super::validate::Ctx;

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultKind {
    /// Redis stops answering (SIGSTOP; local backends): commands time out.
    RedisPause,
    /// Redis is killed (SIGKILL; local backends) and started again, empty, on
    /// the same port when the window ends.
    RedisKill,
    /// DynamoDB Local stops answering (SIGSTOP; local backends).
    DynamoPause,
    /// Every DynamoDB request is answered this much later (through the fault proxy).
    DynamoSlow(Duration),
    /// DynamoDB answers `ProvisionedThroughputExceededException` (through the
    /// fault proxy; `share` of requests).
    DynamoThrottle,
    /// Stripe answers 503 to everything.
    StripeOutage,
    /// Stripe answers 500 `api_error` to everything.
    StripeErrors,
    /// Stripe answers after this much extra latency.
    StripeSlow(Duration),
    /// Stripe answers 429 to everything.
    Stripe429Storm,
    /// Stripe accepts connections and never answers.
    StripeHang,
    /// The application's webhook endpoint is down (answers 503; Stripe retries later).
    WebhookOutage,
}

impl FaultKind {
    /// The name used in scenario files and results.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::RedisPause => "redis_pause",
            FaultKind::RedisKill => "redis_kill",
            FaultKind::DynamoPause => "dynamodb_pause",
            FaultKind::DynamoSlow(_) => "dynamodb_latency",
            FaultKind::DynamoThrottle => "dynamodb_throttle",
            FaultKind::StripeOutage => "stripe_outage",
            FaultKind::StripeErrors => "stripe_errors",
            FaultKind::StripeSlow(_) => "stripe_latency",
            FaultKind::Stripe429Storm => "stripe_429_storm",
            FaultKind::StripeHang => "stripe_hang",
            FaultKind::WebhookOutage => "webhook_outage",
        }
    }

    /// Whether the mock Stripe injects it.
    pub fn is_stripe(&self) -> bool {
        matches!(
            self,
            FaultKind::StripeOutage
                | FaultKind::StripeErrors
                | FaultKind::StripeSlow(_)
                | FaultKind::Stripe429Storm
                | FaultKind::StripeHang
        )
    }

    /// Whether the DynamoDB fault proxy injects it.
    pub fn is_dynamo_proxy(&self) -> bool {
        matches!(self, FaultKind::DynamoSlow(_) | FaultKind::DynamoThrottle)
    }

    /// Whether it takes `rate` (hits a fraction of requests).
    pub fn takes_rate(&self) -> bool {
        self.is_stripe() || *self == FaultKind::DynamoThrottle
    }

    /// Whether it needs the backends' processes (local backends).
    pub fn needs_processes(&self) -> bool {
        matches!(self, FaultKind::RedisPause | FaultKind::RedisKill | FaultKind::DynamoPause)
    }
}

const KINDS: &str = "redis_pause, redis_kill, dynamodb_pause, dynamodb_latency, dynamodb_throttle, \
                     stripe_outage, stripe_errors, stripe_latency, stripe_429_storm, stripe_hang, webhook_outage";

/// One scheduled fault.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultSpec {
    /// What breaks.
    pub kind: FaultKind,
    /// When, from the start of load (run time).
    pub at: Duration,
    /// For how long (run time).
    pub duration: Duration,
    /// The fraction of Stripe (or, for `dynamodb_throttle`, DynamoDB) requests
    /// in the window it hits (`rate`; 1.0 by default): 0.2 makes one request
    /// in five fail.
    pub share: f64,
}

impl FaultSpec {
    /// When it ends.
    pub fn end(&self) -> Duration {
        self.at + self.duration
    }
}

/// Validates every `[[fault]]` against the run's `run_duration`.
pub(super) fn faults(
    cx: &Ctx<'_>,
    raw: &[Spanned<RawFault>],
    run_duration: Duration,
) -> Result<Vec<FaultSpec>, ScenarioError> {
    raw.iter()
        .map(|f| {
            let (span, r) = (f.span(), f.get_ref());
            let at = cx.duration(&span, "fault.at", &r.at)?;
            let duration = cx.duration(&span, "fault.duration", &r.duration)?;
            if duration.is_zero() {
                return Err(cx.err(&span, "fault.duration", "must be longer than 0"));
            }
            if at + duration > run_duration {
                return Err(cx.err(
                    &span,
                    "fault.at",
                    format!(
                        "the fault ends at {:?}, after the run's duration {run_duration:?}",
                        at + duration
                    ),
                ));
            }
            let kind = match r.kind.as_str() {
                "redis_pause" => FaultKind::RedisPause,
                "redis_kill" => FaultKind::RedisKill,
                "dynamodb_pause" => FaultKind::DynamoPause,
                "stripe_outage" => FaultKind::StripeOutage,
                "stripe_errors" => FaultKind::StripeErrors,
                name @ ("stripe_latency" | "dynamodb_latency") => {
                    let latency = r.latency.as_deref().ok_or_else(|| {
                        cx.err(&span, "fault.latency", format!("{name} needs `latency` (e.g. \"2s\")"))
                    })?;
                    let latency = cx.duration(&span, "fault.latency", latency)?;
                    if name == "stripe_latency" {
                        FaultKind::StripeSlow(latency)
                    } else {
                        FaultKind::DynamoSlow(latency)
                    }
                }
                "dynamodb_throttle" => FaultKind::DynamoThrottle,
                "stripe_429_storm" => FaultKind::Stripe429Storm,
                "stripe_hang" => FaultKind::StripeHang,
                "webhook_outage" => FaultKind::WebhookOutage,
                other => {
                    return Err(cx.err(
                        &span,
                        "fault.kind",
                        format!("unknown fault {other:?}; one of {KINDS}"),
                    ));
                }
            };
            if r.latency.is_some() && !matches!(kind, FaultKind::StripeSlow(_) | FaultKind::DynamoSlow(_)) {
                return Err(cx.err(
                    &span,
                    "fault.latency",
                    "only stripe_latency and dynamodb_latency take `latency`",
                ));
            }
            let share = r.rate.unwrap_or(1.0);
            if r.rate.is_some() && !kind.takes_rate() {
                return Err(cx.err(
                    &span,
                    "fault.rate",
                    "only the stripe_* faults and dynamodb_throttle take `rate`",
                ));
            }
            if !(share > 0.0 && share <= 1.0) {
                return Err(cx.err(
                    &span,
                    "fault.rate",
                    format!("must be above 0 and at most 1, got {share}"),
                ));
            }
            Ok(FaultSpec { kind, at, duration, share })
        })
        .collect()
}
