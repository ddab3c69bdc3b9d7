//! L1 on Redis: one multiplexed, auto-reconnecting connection per client, entries
//! as JSON envelopes with a server-side expiry, versioned writes in a Lua script.

use std::fmt;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::CacheEntry;
use super::{L1Store, Lookup, StoreError, TOMBSTONE_HORIZON, WriteOutcome};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::stripe::CacheKey;

/// How to reach Redis and how patient to be with it.
///
/// By default: `redis://127.0.0.1:6379`, key prefix `tb`, connect timeout
/// 500 ms (the seed's Lambda setting), response timeout 1 s, one reconnect retry.
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://host:port[/db]` (or `rediss://` for TLS); may carry a password.
    pub url: String,
    /// Prefix of every key tierbench writes, so runs can share a server.
    pub key_prefix: String,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// How long one command may wait for its answer.
    pub response_timeout: Duration,
    /// How many times a lost connection is re-established before commands fail.
    pub reconnect_retries: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "tb".into(),
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_secs(1),
            reconnect_retries: 1,
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .finish()
    }
}

/// `url` without a password, for logs and results.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Stores `ARGV[1]` (an envelope of version `ARGV[2]`, fetched at `ARGV[4]` ms)
/// under `KEYS[1]` for `ARGV[3]` ms, unless the stored envelope has a higher
/// version or the tombstone `KEYS[2]` says the key was invalidated at or after
/// the fetch. For a variant of an object (an API version or an expand set),
/// `KEYS[3]` is the object's tombstone, which refuses it the same way (an
/// invalidation of the object covers every variant, cached or in flight), and
/// the variant joins the object's variant set `KEYS[4]`, which lives at least
/// as long as the variant. Returns {1}, {0, stored version} or {2} (invalidated).
const VERSIONED_SET: &str = r#"
for i = 2, math.min(#KEYS, 3) do
  local inv = redis.call('GET', KEYS[i])
  if inv and tonumber(inv) >= tonumber(ARGV[4]) then return {2} end
end
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^{"version":(%d+),'))
  if v and v > tonumber(ARGV[2]) then return {0, v} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
if #KEYS == 4 then
  redis.call('SADD', KEYS[4], KEYS[1])
  if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[4], ARGV[3]) end
end
return {1}
"#;

/// Invalidates `KEYS[1]` at `ARGV[1]` ms: a tombstone `KEYS[2]` for `ARGV[2]`
/// ms (never moved back), the entry and the lease `KEYS[3]` deleted. When
/// `ARGV[3]` is 1 (`KEYS[1]` is an object), so is every variant in the
/// object's variant set `KEYS[4]` (with its lease), and the set; else
/// (`KEYS[1]` is a variant) it leaves the set. Returns how many entries were
/// deleted.
const INVALIDATE: &str = r#"
local inv = redis.call('GET', KEYS[2])
if not inv or tonumber(inv) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
end
redis.call('DEL', KEYS[3])
local n = redis.call('DEL', KEYS[1])
if ARGV[3] == '1' then
  for _, k in ipairs(redis.call('SMEMBERS', KEYS[4])) do
    n = n + redis.call('DEL', k)
    redis.call('DEL', k .. '#lease')
  end
  redis.call('DEL', KEYS[4])
else
  redis.call('SREM', KEYS[4], KEYS[1])
end
return n
"#;

/// Deletes the lease `KEYS[1]` if it still holds token `ARGV[1]`.
const RELEASE_LEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// The L1 tier on a Redis server.
#[derive(Clone)]
pub struct RedisL1 {
    conn: ConnectionManager,
    prefix: String,
    set_script: redis::Script,
    invalidate_script: redis::Script,
    release_script: redis::Script,
    response_timeout: Duration,
    lease_tokens: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl fmt::Debug for RedisL1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisL1").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisL1 {
    /// Connects to the Redis `options` name and checks it answers.
    ///
    /// # Errors
    /// When the URL is malformed or Redis does not answer a PING within the
    /// connect timeout.
    pub async fn connect(options: &RedisOptions) -> Result<Self, StoreError> {
        let client = redis::Client::open(options.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            // The response timeout is ours (see `RedisL1::timed`): the
            // crate's own costs ~2 us a command, a fifth of an L1 hit.
            .set_response_timeout(None)
            .set_number_of_retries(options.reconnect_retries)
            .set_max_delay(options.connect_timeout);
        let conn = client.get_connection_manager_with_config(config).await?;
        let l1 = RedisL1 {
            conn,
            prefix: options.key_prefix.clone(),
            set_script: redis::Script::new(VERSIONED_SET),
            invalidate_script: redis::Script::new(INVALIDATE),
            release_script: redis::Script::new(RELEASE_LEASE),
            response_timeout: options.response_timeout,
            // Tokens unique across processes sharing the server: random start.
            lease_tokens: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(
                crate::rng::mix(std::process::id().into(), SystemClock.now().as_micros()) >> 12,
            )),
        };
        let mut conn = l1.conn.clone();
        let _: String = l1.timed(redis::cmd("PING").query_async(&mut conn)).await?;
        Ok(l1)
    }

    /// `command`, failed with [`StoreError::RedisTimeout`] when Redis does not
    /// answer within the response timeout (a paused or overloaded server).
    async fn timed<T>(&self, command: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.response_timeout, command).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(StoreError::RedisTimeout(self.response_timeout)),
        }
    }

    /// The Redis key of `key`.
    pub fn key_of(&self, key: &CacheKey) -> String {
        key.redis_key(&self.prefix)
    }

    /// The Redis key of `key`'s tombstone (see [`L1Store::invalidate`]).
    pub fn tombstone_of(&self, key: &CacheKey) -> String {
        format!("{}#inv", self.key_of(key))
    }

    /// The Redis key of the set of cached variants (API versions, expand sets)
    /// of `key`'s object.
    pub fn variants_of(&self, key: &CacheKey) -> String {
        format!("{}#variants", self.key_of(&key.object()))
    }

    /// The Redis key of `key`'s fill lease.
    pub fn lease_of(&self, key: &CacheKey) -> String {
        format!("{}#lease", self.key_of(key))
    }

    /// The raw stored value under `key` (for tests and inspection).
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn raw_get(&self, key: &CacheKey) -> Result<Option<String>, StoreError> {
        self.timed(self.conn.clone().get(self.key_of(key))).await
    }

    /// Overwrites the raw value under `key` keeping its expiry (for tests that
    /// corrupt entries on purpose).
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn raw_set(&self, key: &CacheKey, value: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let set = redis::cmd("SET").arg(self.key_of(key)).arg(value).arg("KEEPTTL").to_owned();
        self.timed(set.query_async::<()>(&mut conn)).await
    }

    /// The remaining lifetime Redis holds for `key`, if it has one.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn remaining_ttl(&self, key: &CacheKey) -> Result<Option<Duration>, StoreError> {
        let ms: i64 = self.timed(self.conn.clone().pttl(self.key_of(key))).await?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }
}

impl L1Store for RedisL1 {
    async fn get(&self, key: &CacheKey) -> Result<Lookup, StoreError> {
        let raw: Option<String> = self.timed(self.conn.clone().get(self.key_of(key))).await?;
        Ok(match raw {
            None => Lookup::Absent,
            Some(text) => CacheEntry::from_json_verified(&text).map_or(Lookup::Corrupt, Lookup::Found),
        })
    }

    async fn put(
        &self,
        key: &CacheKey,
        entry: &CacheEntry,
        ttl: Duration,
    ) -> Result<WriteOutcome, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        let mut invocation = self.set_script.key(self.key_of(key));
        invocation.key(self.tombstone_of(key));
        if key.is_variant() {
            invocation.key(self.tombstone_of(&key.object())).key(self.variants_of(key));
        }
        invocation.arg(entry.to_json()?).arg(entry.version).arg(ttl_ms).arg(entry.fetched_at.as_millis());
        let answer: Vec<u64> = self.timed(invocation.invoke_async(&mut conn)).await?;
        Ok(match answer.as_slice() {
            [0, stored] => WriteOutcome::Conflict { stored_version: *stored },
            [2] => WriteOutcome::Invalidated,
            _ => WriteOutcome::Written,
        })
    }

    async fn delete(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let n: u64 = self.timed(self.conn.clone().del(self.key_of(key))).await?;
        Ok(n > 0)
    }

    async fn invalidate(&self, key: &CacheKey, at: Timestamp) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.invalidate_script.key(self.key_of(key));
        invocation.key(self.tombstone_of(key)).key(self.lease_of(key)).key(self.variants_of(key));
        invocation.arg(at.as_millis()).arg(TOMBSTONE_HORIZON.as_millis() as u64);
        // An object's invalidation reaches its variants; a variant's, itself only.
        invocation.arg(u8::from(!key.is_variant()));
        let n: u64 = self.timed(invocation.invoke_async(&mut conn)).await?;
        Ok(n > 0)
    }

    async fn acquire_lease(&self, key: &CacheKey, ttl: Duration) -> Result<Option<u64>, StoreError> {
        let token = self.lease_tokens.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        let set =
            redis::cmd("SET").arg(self.lease_of(key)).arg(token).arg("NX").arg("PX").arg(ttl_ms).to_owned();
        let answer: Option<String> = self.timed(set.query_async(&mut conn)).await?;
        Ok(answer.map(|_| token))
    }

    async fn release_lease(&self, key: &CacheKey, token: u64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.release_script.key(self.lease_of(key));
        invocation.arg(token);
        let _: u64 = self.timed(invocation.invoke_async(&mut conn)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_logs() {
        assert_eq!(redact_url("redis://:s3cret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact_url("redis://127.0.0.1:1"), "redis://127.0.0.1:1");
        let dbg = format!("{:?}", RedisOptions { url: "rediss://u:pw@h".into(), ..Default::default() });
        assert!(!dbg.contains("pw"), "{dbg}");
    }
}
