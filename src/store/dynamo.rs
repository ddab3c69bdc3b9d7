//! L2 on DynamoDB: items in the seed article's layout, versioned conditional
//! writes, expiry by `ttl`, bulk lookups through `gsi1`.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnConsumedCapacity, ReturnValue, ReturnValuesOnConditionCheckFailure,
};

use super::CacheEntry;
use super::{L2Store, Lookup, SameVersion, StoreError, TOMBSTONE_HORIZON, WriteOutcome};
use crate::clock::Timestamp;
use crate::stripe::{CacheKey, ObjectKind};

#[path = "dynamo_table.rs"]
mod table;
pub use table::{Billing, TableSpec};

type Item = HashMap<String, AttributeValue>;

/// How to reach DynamoDB and which table to use.
///
/// By default: DynamoDB Local at `http://127.0.0.1:8000`, region `us-east-1`,
/// table `stripe-cache` on demand, eventually consistent reads (half a read
/// unit, as a Lambda would read), 500 ms connect and 2 s operation timeouts,
/// two attempts per call.
#[derive(Clone, Debug)]
pub struct DynamoOptions {
    /// Endpoint URL; `None` means real AWS through the standard credential chain.
    pub endpoint_url: Option<String>,
    /// AWS region.
    pub region: String,
    /// The table and its capacity mode.
    pub table: TableSpec,
    /// Strongly consistent reads (one read unit per 4 KB instead of a half).
    pub consistent_read: bool,
    /// Items per `gsi1` query page; `None` lets DynamoDB fill 1 MB pages.
    pub query_page_size: Option<i32>,
    /// How long establishing a connection may take.
    pub connect_timeout: Duration,
    /// How long one call, retries included, may take.
    pub operation_timeout: Duration,
    /// Attempts per call (1 = no retry).
    pub max_attempts: u32,
    /// Ask every GetItem and PutItem of the read path for its
    /// `ConsumedCapacity` (table and indexes) and sum it ([`DynamoL2::consumed`]):
    /// the independent check of the meter. Off by default: it is more work for
    /// DynamoDB Local on every request of a live run.
    pub consumed_capacity: bool,
}

impl Default for DynamoOptions {
    fn default() -> Self {
        DynamoOptions {
            endpoint_url: Some("http://127.0.0.1:8000".into()),
            region: "us-east-1".into(),
            table: TableSpec::default(),
            consistent_read: false,
            query_page_size: None,
            connect_timeout: Duration::from_millis(500),
            operation_timeout: Duration::from_secs(2),
            max_attempts: 2,
            consumed_capacity: false,
        }
    }
}

/// A DynamoDB client for `options`: static local credentials when an endpoint
/// is given (DynamoDB Local accepts any key made of letters and digits), the
/// standard AWS credential chain otherwise.
pub async fn client(options: &DynamoOptions) -> Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(options.connect_timeout)
        .operation_timeout(options.operation_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(options.region.clone()))
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts.max(1)));
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url).credentials_provider(Credentials::new(
            "tierbench",
            "tierbench",
            None,
            None,
            "tierbench-local",
        ));
    }
    Client::new(&loader.load().await)
}

/// The L2 tier on a DynamoDB table.
#[derive(Clone)]
pub struct DynamoL2 {
    client: Client,
    table: String,
    consistent_read: bool,
    query_page_size: Option<i32>,
    consumed: std::sync::Arc<Consumed>,
    /// `ReturnConsumedCapacity` asked of the read path's calls.
    capacity: ReturnConsumedCapacity,
}

fn capacity_of(options: &DynamoOptions) -> ReturnConsumedCapacity {
    if options.consumed_capacity { ReturnConsumedCapacity::Indexes } else { ReturnConsumedCapacity::None }
}

/// The capacity DynamoDB said the read path's GetItems and PutItems consumed
/// (`ReturnConsumedCapacity: INDEXES`, table and indexes), in thousandths of a
/// unit: the independent check of the meter. A PutItem its condition refused
/// reports none (the SDK's error carries no `ConsumedCapacity`).
#[derive(Debug, Default)]
pub struct Consumed {
    read_milli: std::sync::atomic::AtomicU64,
    write_milli: std::sync::atomic::AtomicU64,
}

impl Consumed {
    fn add(counter: &std::sync::atomic::AtomicU64, c: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>) {
        let units = c.and_then(|c| c.capacity_units()).unwrap_or(0.0);
        counter.fetch_add((units * 1_000.0).round() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Read and write units consumed so far.
    pub fn units(&self) -> (f64, f64) {
        let get =
            |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1_000.0;
        (get(&self.read_milli), get(&self.write_milli))
    }
}

impl fmt::Debug for DynamoL2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoL2").field("table", &self.table).finish_non_exhaustive()
    }
}

/// A failed call: DynamoDB's error code and message when it answered with an
/// error (one short line, as the AWS console shows it), else the whole chain
/// of causes (timeouts, connection failures).
pub(super) fn dynamo_err<E>(operation: &'static str, e: E) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata,
{
    let message = match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(&e).to_string(),
    };
    StoreError::Dynamo { operation, message }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl DynamoL2 {
    /// Connects, creating the table as the seed's CloudFormation does when it is
    /// missing and checking its layout when it exists.
    ///
    /// # Errors
    /// When DynamoDB does not answer, or the table exists with another layout.
    pub async fn connect(options: &DynamoOptions) -> Result<Self, StoreError> {
        // Table set-up is not on the request path: give it a patient client
        // (a DynamoDB Local that just started answers its first calls slowly).
        let admin = DynamoOptions {
            operation_timeout: options.operation_timeout.max(Duration::from_secs(30)),
            max_attempts: options.max_attempts.max(3),
            ..options.clone()
        };
        table::ensure(&client(&admin).await, &options.table).await?;
        let client = client(options).await;
        Ok(DynamoL2 {
            client,
            table: options.table.name.clone(),
            consistent_read: options.consistent_read,
            query_page_size: options.query_page_size,
            consumed: std::sync::Arc::default(),
            capacity: capacity_of(options),
        })
    }

    /// Uses the table `options` names without creating or checking it (for
    /// callers after one [`DynamoL2::connect`] has made sure of it).
    pub async fn open(options: &DynamoOptions) -> Self {
        DynamoL2 {
            client: client(options).await,
            table: options.table.name.clone(),
            consistent_read: options.consistent_read,
            query_page_size: options.query_page_size,
            consumed: std::sync::Arc::default(),
            capacity: capacity_of(options),
        }
    }

    /// What DynamoDB said this store's reads and fills consumed (shared by clones).
    pub fn consumed(&self) -> &Consumed {
        &self.consumed
    }

    /// The underlying SDK client (for inspection in tests and tools).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn key_attrs(key: &CacheKey) -> Item {
        HashMap::from([("pk".to_owned(), s(key.pk())), ("sk".to_owned(), s(key.sk()))])
    }

    /// The raw item under `key` (for tests and inspection).
    ///
    /// # Errors
    /// When DynamoDB fails.
    pub async fn raw_get(&self, key: &CacheKey) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_err("GetItem", e))?;
        Ok(out.item)
    }

    /// Overwrites one attribute of the item under `key` (for tests that corrupt
    /// entries on purpose).
    ///
    /// # Errors
    /// When DynamoDB fails.
    pub async fn raw_set_attribute(
        &self,
        key: &CacheKey,
        name: &str,
        value: AttributeValue,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attrs(key)))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", name)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .map_err(|e| dynamo_err("UpdateItem", e))?;
        Ok(())
    }
}

/// The item of `entry` under `key`: the seed's attributes plus the envelope's.
/// `data` is the Stripe JSON as a string, byte for byte, so its checksum holds
/// (a DynamoDB map would reorder keys and normalise numbers).
fn to_item(key: &CacheKey, entry: &CacheEntry, retain: Duration) -> Item {
    let updated = entry.fetched_at.to_iso8601();
    let mut item = DynamoL2::key_attrs(key);
    item.extend([
        ("gsi1pk".to_owned(), s(key.kind.gsi1pk())),
        ("gsi1sk".to_owned(), s(updated.clone())),
        ("data".to_owned(), s(entry.data.clone())),
        ("ttl".to_owned(), n(entry.expires_at.plus(retain).as_secs_ceil())),
        ("lastUpdated".to_owned(), s(updated)),
        ("version".to_owned(), n(entry.version)),
        ("checksum".to_owned(), s(entry.checksum.clone())),
        ("fetchedAt".to_owned(), n(entry.fetched_at.as_millis())),
        ("expiresAt".to_owned(), n(entry.expires_at.as_millis())),
        ("apiVersion".to_owned(), s(entry.api_version.clone())),
    ]);
    if let Some(a) = &entry.account {
        item.insert("account".to_owned(), s(a.clone()));
    }
    item
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// The entry an item holds; `None` when an attribute is missing or malformed.
/// Expiry is the earlier of `expiresAt` and `ttl`, so an invalidation that set
/// only `ttl` (as other writers may) still counts.
fn from_item(item: &Item) -> Option<CacheEntry> {
    // A tombstone of an invalidation that found no entry (see `expire`).
    if !item.contains_key("data") && item.contains_key("invalidatedAt") {
        return None;
    }
    let expires_ms = get_n(item, "expiresAt")?.min(get_n(item, "ttl")?.saturating_mul(1_000));
    Some(CacheEntry {
        version: get_n(item, "version")?,
        fetched_at: Timestamp::from_millis(get_n(item, "fetchedAt")?),
        expires_at: Timestamp::from_millis(expires_ms),
        checksum: get_s(item, "checksum")?.to_owned(),
        api_version: get_s(item, "apiVersion")?.to_owned(),
        account: get_s(item, "account").map(str::to_owned),
        data: get_s(item, "data")?.to_owned(),
    })
}

impl DynamoL2 {
    /// Invalidates the one item of `key` at `now` (see [`L2Store::expire`]);
    /// whether it held an entry.
    async fn expire_item(&self, key: &CacheKey, now: Timestamp) -> Result<bool, StoreError> {
        // Unconditional on the item, so a key with no item gets a tombstone too
        // (a fill in flight must not create it with older data); conditional on
        // the tombstone only moving forward. Tombstones carry the GSI keys (an
        // item without them stalls DynamoDB Local's TTL deletion) and live for
        // the horizon; the entry itself expires now.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attrs(key)))
            .condition_expression("attribute_not_exists(#i) OR #i < :ms")
            .update_expression(
                "SET #t = :s, #e = :ms, #i = :ms, \
                 gsi1pk = if_not_exists(gsi1pk, :g), gsi1sk = if_not_exists(gsi1sk, :iso)",
            )
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_names("#e", "expiresAt")
            .expression_attribute_names("#i", "invalidatedAt")
            .expression_attribute_values(":s", n(now.plus(TOMBSTONE_HORIZON).as_secs_ceil()))
            .expression_attribute_values(":ms", n(now.as_millis()))
            .expression_attribute_values(":g", s(key.kind.gsi1pk()))
            .expression_attribute_values(":iso", s(now.to_iso8601()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes().is_some_and(|a| a.contains_key("data"))),
            // A later invalidation got there first: the entry is already gone.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(dynamo_err("UpdateItem", e)),
        }
    }

    /// The variants (API versions, expand sets) of `object` that the table
    /// holds: the items of its partition whose sort key extends its own, every
    /// page, strongly consistent (an invalidation must see a variant just
    /// written).
    async fn variants(&self, object: &CacheKey) -> Result<Vec<CacheKey>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
            .projection_expression("pk, sk")
            .expression_attribute_values(":pk", s(object.pk()))
            .expression_attribute_values(":sk", s(format!("{}#", object.sk())))
            .consistent_read(true);
        self.query_keys(query).await
    }

    /// The cache keys of every item `query` (projecting `pk, sk`) finds,
    /// every page; items of other writers in the same table are skipped.
    async fn query_keys(&self, query: QueryFluentBuilder) -> Result<Vec<CacheKey>, StoreError> {
        let mut keys = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = query
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo_err("Query", e))?;
            for item in page.items() {
                if let (Some(pk), Some(sk)) = (get_s(item, "pk"), get_s(item, "sk"))
                    && let Ok(key) = CacheKey::from_dynamo(pk, sk)
                {
                    keys.push(key);
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(keys),
            }
        }
    }

    /// When `object` was last invalidated (its tombstone), strongly consistent.
    async fn invalidated_at(&self, object: &CacheKey) -> Result<Option<u64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attrs(object)))
            .projection_expression("#i")
            .expression_attribute_names("#i", "invalidatedAt")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_err("GetItem", e))?;
        Ok(out.item.as_ref().and_then(|i| get_n(i, "invalidatedAt")))
    }
}

impl L2Store for DynamoL2 {
    async fn get(&self, key: &CacheKey) -> Result<Lookup, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attrs(key)))
            .consistent_read(self.consistent_read)
            .return_consumed_capacity(self.capacity.clone())
            .send()
            .await
            .map_err(|e| dynamo_err("GetItem", e))?;
        Consumed::add(&self.consumed.read_milli, out.consumed_capacity());
        Ok(match out.item {
            None => Lookup::Absent,
            Some(item) if !item.contains_key("data") && item.contains_key("invalidatedAt") => Lookup::Absent,
            Some(item) => {
                from_item(&item).filter(CacheEntry::checksum_ok).map_or(Lookup::Corrupt, Lookup::Found)
            }
        })
    }

    async fn put(
        &self,
        key: &CacheKey,
        entry: &CacheEntry,
        now: Timestamp,
        same: SameVersion,
        retain: Duration,
    ) -> Result<WriteOutcome, StoreError> {
        // Never over data fetched later than this entry's (a tombstone of an
        // invalidation after this fetch refuses it: no resurrection).
        const FRESH: &str = "(attribute_not_exists(#i) OR #i < :f)";
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(key, entry, retain)))
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#i", "invalidatedAt")
            .expression_attribute_values(":v", n(entry.version))
            .expression_attribute_values(":f", n(entry.fetched_at.as_millis()));
        let request = match same {
            SameVersion::KeepIfIntact => request
                .condition_expression(format!(
                    "{FRESH} AND (attribute_not_exists(#v) OR #v < :v OR (#v = :v AND (#e <= :now OR #c <> :c)))"
                ))
                .expression_attribute_names("#e", "expiresAt")
                .expression_attribute_names("#c", "checksum")
                .expression_attribute_values(":now", n(now.as_millis()))
                .expression_attribute_values(":c", s(entry.checksum.clone())),
            // The reader saw damage the stored checksum may not show (the data
            // was changed, the checksum not): replace the same version too.
            SameVersion::Replace => {
                request.condition_expression(format!("{FRESH} AND (attribute_not_exists(#v) OR #v <= :v)"))
            }
        };
        let result = request
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(self.capacity.clone())
            .send()
            .await;
        if let Ok(out) = &result {
            Consumed::add(&self.consumed.write_milli, out.consumed_capacity());
        }
        match result {
            // A variant's fill checks its object's tombstone after writing: an
            // invalidation of the object either came first (seen here: the
            // variant is expired again) or comes after the write (and finds the
            // variant by its Query). Either way no stale variant stays.
            Ok(_) if key.is_variant() => match self.invalidated_at(&key.object()).await? {
                Some(at) if at >= entry.fetched_at.as_millis() => {
                    self.expire_item(key, now.max(Timestamp::from_millis(at))).await?;
                    Ok(WriteOutcome::Invalidated)
                }
                _ => Ok(WriteOutcome::Written),
            },
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(ex)) => {
                    let old = ex.item();
                    let invalidated = old.and_then(|i| get_n(i, "invalidatedAt"));
                    if invalidated.is_some_and(|at| at >= entry.fetched_at.as_millis()) {
                        return Ok(WriteOutcome::Invalidated);
                    }
                    let stored = old.and_then(|i| get_n(i, "version")).unwrap_or(u64::MAX);
                    Ok(if stored > entry.version {
                        WriteOutcome::Conflict { stored_version: stored }
                    } else {
                        WriteOutcome::Current
                    })
                }
                _ => Err(dynamo_err("PutItem", e)),
            },
        }
    }

    async fn expire(&self, key: &CacheKey, now: Timestamp) -> Result<bool, StoreError> {
        let had_entry = self.expire_item(key, now).await?;
        // The object's tombstone is in place first, so a variant fill landing
        // from now on sees it (see `put`); variants already written are found
        // under the object's partition and sort-key prefix: a Query, no scan.
        if !key.is_variant() {
            for variant in self.variants(key).await? {
                self.expire_item(&variant, now).await?;
            }
        }
        Ok(had_entry)
    }

    async fn keys_updated_before(
        &self,
        kind: ObjectKind,
        before: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<CacheKey>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(table::GSI_NAME)
            .key_condition_expression("gsi1pk = :k AND gsi1sk < :t")
            .filter_expression("#e > :now")
            .projection_expression("pk, sk")
            .expression_attribute_names("#e", "expiresAt")
            .expression_attribute_values(":k", s(kind.gsi1pk()))
            .expression_attribute_values(":t", s(before.to_iso8601()))
            .expression_attribute_values(":now", n(now.as_millis()))
            .set_limit(self.query_page_size);
        self.query_keys(query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::checksum;
    use crate::stripe::ObjectKind;

    #[test]
    fn items_follow_the_seed_layout_and_round_trip() {
        let data = r#"{"id":"cus_123","object":"customer"}"#.to_owned();
        let entry = CacheEntry {
            version: 3,
            fetched_at: Timestamp::from_millis(1_738_756_800_000),
            expires_at: Timestamp::from_millis(1_738_843_200_500),
            checksum: checksum(&data),
            api_version: "2026-07-29.dahlia".into(),
            account: None,
            data,
        };
        let key = CacheKey::new(ObjectKind::Customer, "cus_123");
        let item = to_item(&key, &entry, Duration::ZERO);
        assert_eq!(get_s(&item, "pk"), Some("CUSTOMER#cus_123"));
        assert_eq!(get_s(&item, "sk"), Some("METADATA#latest"));
        assert_eq!(get_s(&item, "gsi1pk"), Some("CACHE#customer"));
        assert_eq!(get_s(&item, "gsi1sk"), Some("2025-02-05T12:00:00.000Z"));
        assert_eq!(get_s(&item, "lastUpdated"), Some("2025-02-05T12:00:00.000Z"));
        assert_eq!(get_n(&item, "ttl"), Some(1_738_843_201));
        assert_eq!(from_item(&item), Some(entry));
        let mut broken = item.clone();
        broken.remove("checksum");
        assert_eq!(from_item(&broken), None);
    }

    #[test]
    fn a_ttl_set_by_another_writer_expires_the_entry() {
        let data = "{}".to_owned();
        let entry = CacheEntry {
            version: 1,
            fetched_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(10_000_000),
            checksum: checksum(&data),
            api_version: String::new(),
            account: Some("acct_1".into()),
            data,
        };
        let mut item = to_item(&CacheKey::new(ObjectKind::Invoice, "in_1"), &entry, Duration::ZERO);
        item.insert("ttl".into(), n(5));
        assert_eq!(from_item(&item).unwrap().expires_at, Timestamp::from_millis(5_000));
    }
}
