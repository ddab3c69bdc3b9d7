//! The rate budget shared by every instance through Redis: the same
//! reservation token buckets as [`super::LocalBudget`], kept in Redis hashes and
//! updated by one Lua script, so all instances together stay under Stripe's
//! limits. While Redis fails, each instance falls back to its local share.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::warn;

use super::budget::{BudgetRates, LocalBudget, RateBudget, kind_index};
use crate::stripe::ObjectKind;

/// Reserves one token from each bucket in KEYS (the account's, then the
/// endpoint's), all or none, on the Redis server's clock (instances' clocks
/// disagree; the buckets live on one server, so its clock is the one that
/// counts). ARGV: max wait in µs, then rate per second and capacity per key.
/// Returns the wait in µs before the call may go, or -1 when that exceeds the
/// maximum (nothing is then reserved). Needs Redis >= 5 (TIME before writes).
const RESERVE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[1])
local wait = 0
local tokens, stamps = {}, {}
for i = 1, #KEYS do
  local rate, cap = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local s = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local have, at = tonumber(s[1]) or cap, tonumber(s[2]) or now
  if now > at then
    have = math.min(cap, have + (now - at) * rate / 1000000)
    at = now
  end
  have = have - 1
  if have < 0 then wait = math.max(wait, math.ceil(-have * 1000000 / rate)) end
  tokens[i], stamps[i] = have, at
end
if wait > max_wait then return -1 end
for i = 1, #KEYS do
  local rate, cap = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', tokens[i]), 'at', string.format('%.0f', stamps[i]))
  -- Forget a bucket once it would be full again anyway.
  redis.call('PEXPIRE', KEYS[i], string.format('%d', math.ceil((cap - tokens[i]) * 1000 / rate) + 1000))
end
return wait
"#;

/// How long a reservation may wait for Redis before the local share is used.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The budget in Redis, shared by every instance that uses the same key prefix.
pub struct RedisBudget {
    conn: ConnectionManager,
    script: redis::Script,
    global_key: String,
    endpoint_keys: [String; ObjectKind::ALL.len()],
    rates: BudgetRates,
    fallback: LocalBudget,
    fallbacks: AtomicU64,
    degraded: AtomicBool,
}

impl fmt::Debug for RedisBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBudget")
            .field("global_key", &self.global_key)
            .field("rates", &self.rates)
            .field("fallbacks", &self.fallbacks())
            .finish_non_exhaustive()
    }
}

impl RedisBudget {
    /// Connects to Redis at `url` and checks it answers. Keys are
    /// `{prefix}:global` and `{prefix}:<kind>` (one hash slot, so a cluster
    /// runs the script); `fallback` serves while Redis fails.
    ///
    /// # Errors
    /// When the URL is malformed or Redis does not answer.
    pub async fn connect(
        url: &str,
        key_prefix: &str,
        rates: BudgetRates,
        fallback: LocalBudget,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            // The response timeout is ours (`reserve_in_redis`), as in the L1 store.
            .set_response_timeout(None)
            .set_number_of_retries(1);
        let conn = client.get_connection_manager_with_config(config).await?;
        let mut ping = conn.clone();
        let ping_cmd = redis::cmd("PING");
        tokio::time::timeout(CONNECT_TIMEOUT, ping_cmd.query_async::<String>(&mut ping))
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "no answer to PING in time")))??;
        let key = |name: &str| format!("{{{key_prefix}}}:{name}");
        Ok(RedisBudget {
            conn,
            script: redis::Script::new(RESERVE),
            global_key: key("global"),
            endpoint_keys: ObjectKind::ALL.map(|k| key(k.name())),
            rates,
            fallback,
            fallbacks: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
        })
    }

    /// Reservations served by the local fallback because Redis failed.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    async fn reserve_in_redis(&self, kind: ObjectKind, max_wait: Duration) -> redis::RedisResult<i64> {
        let mut invocation = self.script.key(&self.global_key);
        invocation.key(&self.endpoint_keys[kind_index(kind)]);
        invocation.arg(u64::try_from(max_wait.as_micros()).unwrap_or(u64::MAX));
        for rate in [self.rates.global_per_s, self.rates.endpoint_per_s] {
            invocation.arg(rate).arg(self.rates.capacity(rate));
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(RESPONSE_TIMEOUT, invocation.invoke_async(&mut conn)).await {
            Ok(answer) => answer,
            Err(_) => Err(redis::RedisError::from((redis::ErrorKind::Io, "no answer in time"))),
        }
    }
}

impl RateBudget for RedisBudget {
    async fn reserve(&self, kind: ObjectKind, max_wait: Duration) -> Option<Duration> {
        match self.reserve_in_redis(kind, max_wait).await {
            Ok(wait_us) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    warn!("stripe rate budget: redis answers again; the shared budget applies");
                }
                u64::try_from(wait_us).ok().map(Duration::from_micros)
            }
            Err(e) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    warn!(error = %e, "stripe rate budget: redis failed; using this instance's share until it answers");
                }
                self.fallback.reserve_now(kind, max_wait)
            }
        }
    }

    /// A no-op: a reservation abandoned in Redis is not given back, so the
    /// shared budget errs towards fewer calls.
    fn refund(&self, _kind: ObjectKind) {}
}
