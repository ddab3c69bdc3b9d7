//! `[cost]` of a scenario: the pricing file, pricing options and the
//! deployment to price, checked where the cost model would divide by them.

use std::path::Path;

use super::CostSpec;
use super::ScenarioError;
use super::raw::RawScenario;
use super::validate::Ctx;
use crate::cost::{CostOptions, Deployment, DynamoCapacity, FreeTier};

/// Validates `raw`'s `[cost]`; relative pricing paths resolve against `path`'s directory.
pub(super) fn cost(cx: &Ctx<'_>, path: &Path, raw: &RawScenario) -> Result<CostSpec, ScenarioError> {
    let c = &raw.cost;
    let pricing = c.pricing.as_ref().map(|p| {
        let file = Path::new(p.get_ref());
        if file.is_absolute() {
            file.to_path_buf()
        } else {
            path.parent().unwrap_or(Path::new("")).join(file)
        }
    });
    if let (Some(p), Some(file)) = (&c.pricing, &pricing)
        && !file.is_file()
    {
        return Err(cx.err(&p.span(), "cost.pricing", format!("no pricing file at {}", file.display())));
    }
    let options = CostOptions {
        lambda_free_tier: if c.lambda_free_tier.unwrap_or(false) {
            FreeTier::Included
        } else {
            FreeTier::Excluded
        },
    };
    let (deployment, line) = match &c.deployment {
        None => (Deployment::default(), 1),
        Some(d) => (d.get_ref().clone(), cx.line(&d.span())),
    };
    let span = c.deployment.as_ref().map_or(0..0, |d| d.span());
    if deployment.azs == 0 {
        return Err(cx.err(&span, "cost.deployment.azs", "must be at least 1"));
    }
    if !(128..=10_240).contains(&deployment.lambda.memory_mb) {
        return Err(cx.err(
            &span,
            "cost.deployment.lambda.memory_mb",
            format!("is {}; Lambda allows 128 to 10240 MB", deployment.lambda.memory_mb),
        ));
    }
    if let DynamoCapacity::Provisioned { target_utilisation: Some(u) } = deployment.dynamodb_capacity
        && !(u > 0.0 && u <= 1.0)
    {
        return Err(cx.err(
            &span,
            "cost.deployment.dynamodb_capacity.target_utilisation",
            format!("is {u}; must be in (0, 1]"),
        ));
    }
    Ok(CostSpec { pricing, options, deployment, deployment_line: line })
}
