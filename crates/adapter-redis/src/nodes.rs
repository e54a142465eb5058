//! [`NodeRegistry`] on Redis: one expiring key per node, and a sorted set of
//! node ids by connection count for the least-loaded-first query.

use async_trait::async_trait;
use fred::interfaces::KeysInterface;
use room_ports::{NodeId, NodeInfo, NodeRegistry, RegistryError};

use crate::backend::RedisBackend;
use crate::error;

#[async_trait]
impl NodeRegistry for RedisBackend {
    async fn heartbeat(&self, info: &NodeInfo) -> Result<(), RegistryError> {
        let json = serde_json::to_string(info).expect("a NodeInfo is plain data and always serialises");
        let keys = vec![self.keys().node(&info.id), self.keys().nodes()];
        let args = vec![
            json,
            self.node_ttl_ms().to_string(),
            info.connections.to_string(),
            info.id.to_string(),
        ];
        let _: u8 = self
            .eval(&self.scripts().heartbeat, keys, args)
            .await
            .map_err(error::registry)?;
        Ok(())
    }

    async fn deregister(&self, node: &NodeId) -> Result<(), RegistryError> {
        let keys = vec![self.keys().node(node), self.keys().nodes()];
        let _: u8 = self
            .eval(&self.scripts().deregister, keys, vec![node.to_string()])
            .await
            .map_err(error::registry)?;
        tracing::info!(%node, "node deregistered");
        Ok(())
    }

    async fn is_live(&self, node: &NodeId) -> Result<bool, RegistryError> {
        let count: u64 = self
            .client()
            .exists(self.keys().node(node))
            .await
            .map_err(error::registry)?;
        Ok(count > 0)
    }

    async fn live_nodes(&self) -> Result<Vec<NodeInfo>, RegistryError> {
        let keys = vec![self.keys().nodes()];
        let args = vec![self.keys().node_prefix()];
        let infos: Vec<String> = self
            .eval(&self.scripts().live_nodes, keys, args)
            .await
            .map_err(error::registry)?;
        Ok(infos
            .iter()
            .filter_map(|json| match serde_json::from_str(json) {
                Ok(info) => Some(info),
                Err(parse) => {
                    tracing::warn!(%parse, "corrupt node record ignored");
                    None
                }
            })
            .collect())
    }
}
