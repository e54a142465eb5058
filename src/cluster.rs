//! Joining a cluster: the Redis and RabbitMQ adapters behind the engine's
//! cluster ports, and the readiness checks that go with them.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use adapter_ws::ReadinessCheck;
use async_trait::async_trait;
use room_node::ClusterPorts;
use room_ports::NodeId;

use crate::settings::ServerArgs;

/// Why the cluster settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Only some of the three services were given.
    #[error("a cluster node needs --redis, --amqp and --mysql together (missing: {0})")]
    Incomplete(String),
    /// The Redis settings are invalid.
    #[error("redis: {0}")]
    Redis(#[from] adapter_redis::RedisError),
}

/// A cluster node's ports, with the readiness checks of the services behind them.
pub struct ClusterNode {
    /// What the engine runs on.
    pub ports: ClusterPorts,
    /// What `/readyz` checks besides the map store.
    pub readiness: Vec<Arc<dyn ReadinessCheck>>,
}

/// The cluster ports for `args`, or `None` for a single node. Nothing waits
/// for Redis or RabbitMQ here: both connect (and reconnect) in the background,
/// and `/readyz` says when they answer.
pub fn cluster_ports(args: &ServerArgs, advertise: String) -> Result<Option<ClusterNode>, ClusterError> {
    let (Some(redis_url), Some(amqp_url), Some(_)) = (&args.redis, &args.amqp, &args.mysql) else {
        let given = [("--redis", args.redis.is_some()), ("--amqp", args.amqp.is_some())];
        if given.iter().any(|(_, set)| *set) {
            let missing: Vec<&str> = given
                .iter()
                .filter(|(_, set)| !set)
                .map(|(flag, _)| *flag)
                .chain(args.mysql.is_none().then_some("--mysql"))
                .collect();
            return Err(ClusterError::Incomplete(missing.join(", ")));
        }
        return Ok(None);
    };
    let node = NodeId(args.node_id.clone().unwrap_or_else(random_node_id));
    // A gateway routes on a node parameter: `...?node={node}` names this node.
    let advertise = advertise.replace("{node}", &node.0);
    let lease_ttl = Duration::from_millis(args.lease_ms.max(100));
    let node_ttl = Duration::from_millis(args.node_ttl_ms.max(100));

    let mut redis_config =
        adapter_redis::RedisConfig::new(redis_url.clone(), format!("{}:", args.key_prefix));
    redis_config.lease_ttl = lease_ttl;
    redis_config.node_ttl = node_ttl;
    let redis = adapter_redis::RedisBackend::connect_lazy(redis_config)?;

    let amqp_config =
        adapter_rabbit::RabbitConfig::new(amqp_url.clone(), args.key_prefix.clone(), node.clone());
    let bus = Arc::new(adapter_rabbit::RabbitBus::start(amqp_config));

    tracing::info!(%node, %advertise, "joining the cluster");
    let readiness: Vec<Arc<dyn ReadinessCheck>> = vec![
        Arc::new(RedisReady(redis.clone())),
        Arc::new(BusReady(bus.clone())),
    ];
    let ports = ClusterPorts {
        node,
        advertise,
        hosting: Arc::new(redis.clone()),
        registry: Arc::new(redis),
        bus,
        lease_ttl,
        node_ttl,
    };
    Ok(Some(ClusterNode { ports, readiness }))
}

fn random_node_id() -> String {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("node-{:08x}", random as u32)
}

struct RedisReady(adapter_redis::RedisBackend);

#[async_trait]
impl ReadinessCheck for RedisReady {
    fn name(&self) -> &str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

struct BusReady(Arc<adapter_rabbit::RabbitBus>);

#[async_trait]
impl ReadinessCheck for BusReady {
    fn name(&self) -> &str {
        "rabbitmq"
    }

    async fn check(&self) -> Result<(), String> {
        if self.0.is_connected() {
            Ok(())
        } else {
            Err("not connected".to_owned())
        }
    }
}
