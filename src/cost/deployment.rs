//! The deployment choices a cost depends on: AZs, NAT, how DynamoDB is reached,
//! Lambda memory and architecture, the ElastiCache shape, DynamoDB capacity mode.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the measured traffic would be deployed on AWS.
///
/// By default: 2 AZs, one NAT gateway per AZ, DynamoDB through a gateway
/// endpoint, Lambda 1024 MB x86_64 (the seed article's function), two
/// `cache.t4g.small` Redis OSS nodes (1 replica), DynamoDB on-demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Deployment {
    /// Availability zones the Lambdas (and NAT gateways) run in. Default 2.
    pub azs: u32,
    /// NAT gateways. Default one per AZ.
    pub nat: NatGateways,
    /// How Lambdas reach DynamoDB. Default a gateway endpoint.
    pub dynamodb_route: DynamoRoute,
    /// The Lambda function's size and CPU.
    pub lambda: LambdaConfig,
    /// The L1 cache.
    pub cache: CacheDeployment,
    /// DynamoDB capacity mode.
    pub dynamodb_capacity: DynamoCapacity,
}

impl Default for Deployment {
    fn default() -> Self {
        Self {
            azs: 2,
            nat: NatGateways::OnePerAz,
            dynamodb_route: DynamoRoute::GatewayEndpoint,
            lambda: LambdaConfig::default(),
            cache: CacheDeployment::default(),
            dynamodb_capacity: DynamoCapacity::OnDemand,
        }
    }
}

/// NAT gateways in the VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NatGateways {
    /// No NAT (Lambdas outside a VPC, or no internet access).
    None,
    /// One NAT gateway per AZ, the highly available layout.
    OnePerAz,
}

/// How Lambdas reach DynamoDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DynamoRoute {
    /// A VPC gateway endpoint (free): DynamoDB traffic skips the NAT.
    GatewayEndpoint,
    /// Through the NAT gateways (their per-GB charge applies), when there are any.
    Nat,
}

/// Lambda CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// x86_64, Lambda's default.
    #[default]
    X86_64,
    /// arm64 (Graviton), cheaper per GB-second.
    Arm64,
}

/// The Lambda function's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LambdaConfig {
    /// Memory size, MB. Default 1024.
    pub memory_mb: u32,
    /// Architecture. Default x86_64.
    pub architecture: Architecture,
}

impl Default for LambdaConfig {
    fn default() -> Self {
        Self { memory_mb: 1024, architecture: Architecture::X86_64 }
    }
}

/// ElastiCache engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// Redis OSS. The default.
    #[default]
    RedisOss,
    /// Valkey (nodes at 0.8 x the Redis OSS price, cheaper serverless).
    Valkey,
}

/// The L1 cache's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CacheDeployment {
    /// Node-based: shards = ceil(working set / usable memory), each with
    /// `replicas` replicas.
    Nodes {
        /// Engine.
        engine: Engine,
        /// AWS node type, e.g. `cache.r7g.large` (`cache.` may be left out).
        node_type: String,
        /// Replicas per shard (0 = primary only).
        replicas: u32,
    },
    /// ElastiCache Serverless: GB-hours (with a minimum) plus ECPU.
    Serverless {
        /// Engine.
        engine: Engine,
    },
}

impl Default for CacheDeployment {
    fn default() -> Self {
        Self::Nodes { engine: Engine::RedisOss, node_type: "cache.t4g.small".to_owned(), replicas: 1 }
    }
}

/// DynamoDB capacity mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DynamoCapacity {
    /// Pay per request unit.
    OnDemand,
    /// Provisioned for the peak: units = ceil(peak units/s / target utilisation).
    Provisioned {
        /// Target utilisation in (0, 1]; `None` takes the pricing table's
        /// (auto-scaling default 0.70).
        target_utilisation: Option<f64>,
    },
}
