//! The cache table as the seed's CloudFormation defines it: `pk`/`sk` composite
//! key, `gsi1` (`gsi1pk`/`gsi1sk`, ALL projection), TTL on `ttl`.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, TableDescription, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};

use super::dynamo_err;
use crate::store::StoreError;

/// Name of the secondary index.
pub const GSI_NAME: &str = "gsi1";

/// Capacity mode of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Billing {
    /// Pay per request (on-demand).
    OnDemand,
    /// Provisioned read and write units for the table and for `gsi1`.
    Provisioned {
        /// Table read capacity units.
        table_rcu: i64,
        /// Table write capacity units.
        table_wcu: i64,
        /// `gsi1` read capacity units.
        gsi_rcu: i64,
        /// `gsi1` write capacity units.
        gsi_wcu: i64,
    },
}

impl Billing {
    /// The seed template's non-production defaults: 5 units everywhere.
    pub const SEED_PROVISIONED: Billing =
        Billing::Provisioned { table_rcu: 5, table_wcu: 5, gsi_rcu: 5, gsi_wcu: 5 };
}

/// The table to use or create.
///
/// By default: `stripe-cache`, on demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// Table name.
    pub name: String,
    /// Capacity mode used when the table is created.
    pub billing: Billing,
}

impl Default for TableSpec {
    fn default() -> Self {
        TableSpec { name: "stripe-cache".into(), billing: Billing::OnDemand }
    }
}

/// A request part the SDK's builder refused (a missing required field), as
/// a failure of `operation`.
fn built_for<T>(
    operation: &'static str,
    r: Result<T, aws_sdk_dynamodb::error::BuildError>,
) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Dynamo { operation, message: e.to_string() })
}

/// A part of the CreateTable request.
fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    built_for("CreateTable", r)
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    built(KeySchemaElement::builder().attribute_name(name).key_type(kind).build())
}

fn attr(name: &str) -> Result<AttributeDefinition, StoreError> {
    built(AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build())
}

fn throughput(read: i64, write: i64) -> Result<ProvisionedThroughput, StoreError> {
    built(ProvisionedThroughput::builder().read_capacity_units(read).write_capacity_units(write).build())
}

/// Creates the table if it is missing (waiting until it is active and TTL is
/// on), or checks that an existing one has tierbench's layout.
pub(super) async fn ensure(client: &Client, spec: &TableSpec) -> Result<(), StoreError> {
    let mut gsi = GlobalSecondaryIndex::builder()
        .index_name(GSI_NAME)
        .key_schema(key("gsi1pk", KeyType::Hash)?)
        .key_schema(key("gsi1sk", KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build());
    let mut create = client
        .create_table()
        .table_name(&spec.name)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("gsi1pk")?)
        .attribute_definitions(attr("gsi1sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?);
    match spec.billing {
        Billing::OnDemand => create = create.billing_mode(BillingMode::PayPerRequest),
        Billing::Provisioned { table_rcu, table_wcu, gsi_rcu, gsi_wcu } => {
            create = create
                .billing_mode(BillingMode::Provisioned)
                .provisioned_throughput(throughput(table_rcu, table_wcu)?);
            gsi = gsi.provisioned_throughput(throughput(gsi_rcu, gsi_wcu)?);
        }
    }
    match create.global_secondary_indexes(built(gsi.build())?).send().await {
        Ok(_) => {}
        Err(e) if matches!(e.as_service_error(), Some(CreateTableError::ResourceInUseException(_))) => {}
        Err(e) => return Err(dynamo_err("CreateTable", e)),
    }
    let description = wait_active(client, &spec.name).await?;
    check_layout(&spec.name, &description)?;
    ensure_ttl(client, &spec.name).await
}

async fn wait_active(client: &Client, name: &str) -> Result<TableDescription, StoreError> {
    for _ in 0..600 {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| dynamo_err("DescribeTable", e))?;
        if let Some(t) = out.table
            && t.table_status == Some(TableStatus::Active)
        {
            return Ok(t);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(StoreError::TableMismatch { table: name.to_owned(), why: "not ACTIVE after 60 s".into() })
}

fn key_names(schema: &[KeySchemaElement]) -> Vec<(String, KeyType)> {
    schema.iter().map(|k| (k.attribute_name.clone(), k.key_type.clone())).collect()
}

fn check_layout(name: &str, t: &TableDescription) -> Result<(), StoreError> {
    let mismatch = |why: String| Err(StoreError::TableMismatch { table: name.to_owned(), why });
    let want = vec![("pk".to_owned(), KeyType::Hash), ("sk".to_owned(), KeyType::Range)];
    if key_names(t.key_schema()) != want {
        return mismatch(format!("key schema is {:?}, want pk HASH + sk RANGE", key_names(t.key_schema())));
    }
    let gsi = t.global_secondary_indexes().iter().find(|g| g.index_name() == Some(GSI_NAME));
    let Some(gsi) = gsi else { return mismatch("no gsi1 index".into()) };
    let want = vec![("gsi1pk".to_owned(), KeyType::Hash), ("gsi1sk".to_owned(), KeyType::Range)];
    if key_names(gsi.key_schema()) != want {
        return mismatch("gsi1 is not keyed on gsi1pk HASH + gsi1sk RANGE".into());
    }
    if gsi.projection().and_then(|p| p.projection_type()) != Some(&ProjectionType::All) {
        return mismatch("gsi1 does not project ALL attributes".into());
    }
    Ok(())
}

async fn ensure_ttl(client: &Client, name: &str) -> Result<(), StoreError> {
    let current = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| dynamo_err("DescribeTimeToLive", e))?;
    if let Some(d) = current.time_to_live_description() {
        let status = d.time_to_live_status();
        if matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
            return match d.attribute_name() {
                Some("ttl") => Ok(()),
                other => Err(StoreError::TableMismatch {
                    table: name.to_owned(),
                    why: format!("TTL is on attribute {other:?}, want \"ttl\""),
                }),
            };
        }
    }
    let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name("ttl").build();
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(built_for("UpdateTimeToLive", spec)?)
        .send()
        .await
        .map_err(|e| dynamo_err("UpdateTimeToLive", e))?;
    Ok(())
}
