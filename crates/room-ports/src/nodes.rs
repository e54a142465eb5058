//! The live server nodes and their load.

use std::fmt;

use async_trait::async_trait;
use room_core::{RoomId, SessionId};
use serde::{Deserialize, Serialize};

/// A server node's id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A session and the node holding its socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionAt {
    /// The node.
    pub node: NodeId,
    /// The session on it.
    pub session: SessionId,
}

/// What a node tells others about itself on every heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its id.
    pub id: NodeId,
    /// The WebSocket URL clients should use to reach it.
    pub url: String,
    /// Open client connections.
    pub connections: u64,
    /// Rooms it hosts.
    pub rooms: Vec<RoomId>,
    /// Which process of the node this is: the upper half of the session ids
    /// it hands out. A node restarted under the same id has a new one, so its
    /// previous process's sessions are known to be gone. 0: not told.
    #[serde(default)]
    pub instance: u64,
}

impl NodeInfo {
    /// Whether `session` was opened by the process this heartbeat is from
    /// (always true when the heartbeat does not say which process it is).
    pub fn opened(&self, session: SessionId) -> bool {
        self.instance == 0 || session.0 >> 32 == self.instance
    }
}

/// Why a registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry cannot be reached now.
    #[error("node registry unavailable: {0}")]
    Unavailable(String),
}

/// The registry of live nodes.
#[async_trait]
pub trait NodeRegistry: Send + Sync + 'static {
    /// Register or refresh `info`; a node not refreshed within the timeout disappears.
    async fn heartbeat(&self, info: &NodeInfo) -> Result<(), RegistryError>;

    /// Remove `node` now (clean shutdown).
    async fn deregister(&self, node: &NodeId) -> Result<(), RegistryError>;

    /// Whether `node` is live.
    async fn is_live(&self, node: &NodeId) -> Result<bool, RegistryError>;

    /// The live nodes, least loaded (fewest connections) first.
    async fn live_nodes(&self) -> Result<Vec<NodeInfo>, RegistryError>;
}
