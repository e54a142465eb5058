use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use room_ports::{NodeId, NodeInfo, NodeRegistry, RegistryError};
use tokio::time::Instant;

use super::lock;

/// The node registry of a single process.
#[derive(Debug)]
pub struct MemoryNodes {
    nodes: Mutex<HashMap<NodeId, (NodeInfo, Instant)>>,
    ttl: Duration,
}

impl MemoryNodes {
    /// Nodes disappear `ttl` after their last heartbeat.
    pub fn new(ttl: Duration) -> Self {
        MemoryNodes {
            nodes: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// Lose every heartbeat, as a Redis restarted without its data does (for tests).
    pub fn forget_everything(&self) {
        lock(&self.nodes).clear();
    }
}

#[async_trait]
impl NodeRegistry for MemoryNodes {
    async fn heartbeat(&self, info: &NodeInfo) -> Result<(), RegistryError> {
        lock(&self.nodes).insert(info.id.clone(), (info.clone(), Instant::now() + self.ttl));
        Ok(())
    }

    async fn deregister(&self, node: &NodeId) -> Result<(), RegistryError> {
        lock(&self.nodes).remove(node);
        Ok(())
    }

    async fn is_live(&self, node: &NodeId) -> Result<bool, RegistryError> {
        Ok(lock(&self.nodes)
            .get(node)
            .is_some_and(|(_, until)| *until > Instant::now()))
    }

    async fn live_nodes(&self) -> Result<Vec<NodeInfo>, RegistryError> {
        let now = Instant::now();
        let mut live: Vec<NodeInfo> = lock(&self.nodes)
            .values()
            .filter(|(_, until)| *until > now)
            .map(|(info, _)| info.clone())
            .collect();
        live.sort_by(|a, b| a.connections.cmp(&b.connections).then_with(|| a.id.cmp(&b.id)));
        Ok(live)
    }
}
