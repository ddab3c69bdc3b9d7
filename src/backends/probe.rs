//! Readiness by asking: PING for Redis, ListTables for DynamoDB, never a fixed sleep.

use std::time::Duration;

use tokio::time::{Instant, sleep, timeout};

use super::BackendError;
use crate::store::DynamoOptions;
use crate::store::dynamo::client;
use crate::store::redis::redact_url;

/// One PING to the Redis at `url`, within `limit`.
///
/// # Errors
/// The client's error, or a timeout, as text.
pub async fn redis_once(url: &str, limit: Duration) -> Result<(), String> {
    let attempt = async {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let mut conn = client.get_multiplexed_async_connection().await.map_err(|e| e.to_string())?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.map_err(|e| e.to_string())?;
        Ok(())
    };
    timeout(limit, attempt).await.map_err(|_| format!("no answer within {limit:?}"))?
}

/// One ListTables to the DynamoDB at `endpoint` (`None`: real AWS), within `limit`.
///
/// # Errors
/// The SDK's error with its context, or a timeout, as text.
pub async fn dynamodb_once(endpoint: Option<&str>, region: &str, limit: Duration) -> Result<(), String> {
    let options = DynamoOptions {
        endpoint_url: endpoint.map(str::to_owned),
        region: region.to_owned(),
        connect_timeout: limit,
        operation_timeout: limit,
        max_attempts: 1,
        ..DynamoOptions::default()
    };
    let c = client(&options).await;
    match timeout(limit, c.list_tables().limit(1).send()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string()),
        Err(_) => Err(format!("no answer within {limit:?}")),
    }
}

/// Asks `check` until it succeeds or `waited` has passed, checking between
/// attempts that the server has not died (`alive`).
async fn wait<F, Fut, A>(
    what: &'static str,
    endpoint: &str,
    waited: Duration,
    mut check: F,
    mut alive: A,
) -> Result<(), BackendError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
    A: FnMut() -> Result<(), BackendError>,
{
    let deadline = Instant::now() + waited;
    loop {
        let last = match check().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        alive()?;
        if Instant::now() >= deadline {
            return Err(BackendError::NotReady { what, endpoint: endpoint.to_owned(), waited, detail: last });
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the Redis at `url` answers PING.
///
/// # Errors
/// [`BackendError::NotReady`] after `waited`, or what `alive` reports.
pub async fn wait_redis(
    url: &str,
    waited: Duration,
    alive: impl FnMut() -> Result<(), BackendError>,
) -> Result<(), BackendError> {
    let shown = redact_url(url);
    wait("redis", &shown, waited, || redis_once(url, Duration::from_millis(500)), alive).await
}

/// Waits until the DynamoDB at `endpoint` answers ListTables.
///
/// # Errors
/// [`BackendError::NotReady`] after `waited`, or what `alive` reports.
pub async fn wait_dynamodb(
    endpoint: &str,
    region: &str,
    waited: Duration,
    alive: impl FnMut() -> Result<(), BackendError>,
) -> Result<(), BackendError> {
    let check = || dynamodb_once(Some(endpoint), region, Duration::from_secs(1));
    wait("dynamodb", endpoint, waited, check, alive).await
}
