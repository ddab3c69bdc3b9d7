//! External backends: servers tierbench did not start, checked once and used as they are.

use std::time::Duration;

use super::probe::{dynamodb_once, redis_once};
use super::{BackendConfig, BackendError, BackendKind, Backends, Endpoints, Running};
use crate::store::redis::redact_url;

const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks that the given Redis and DynamoDB answer.
pub(super) async fn connect(config: &BackendConfig) -> Result<Backends, BackendError> {
    let Some(redis_url) = config.redis_url.clone() else {
        return Err(BackendError::ExternalIncomplete);
    };
    if config.dynamodb_endpoint.is_none() && !config.aws {
        return Err(BackendError::ExternalIncomplete);
    }
    let endpoints = Endpoints {
        redis_url,
        dynamodb_endpoint: config.dynamodb_endpoint.clone(),
        region: config.region.clone(),
    };
    let (redis, dynamo) = tokio::join!(
        redis_once(&endpoints.redis_url, CHECK_TIMEOUT),
        dynamodb_once(endpoints.dynamodb_endpoint.as_deref(), &endpoints.region, CHECK_TIMEOUT)
    );
    redis.map_err(|detail| BackendError::Unreachable {
        what: "redis",
        endpoint: redact_url(&endpoints.redis_url),
        detail,
    })?;
    dynamo.map_err(|detail| BackendError::Unreachable {
        what: "dynamodb",
        endpoint: endpoints.dynamodb_endpoint.clone().unwrap_or_else(|| format!("AWS {}", endpoints.region)),
        detail,
    })?;
    Ok(Backends { kind: BackendKind::External, endpoints, running: Running::External })
}
