//! Running as one node of a cluster: the ports that connect this node to the
//! others, and what the engine believes about them (the heartbeat and the
//! dispatch of what the bus delivers are the engine's, in `engine/cluster_link`).
//!
//! Each room has one host (the holder of its lease in [`RoomHosting`]); the
//! host applies every command of the room and publishes each event once on
//! the [`Bus`]. A node whose user is in a room hosted elsewhere relays: it
//! forwards the user's commands to the host and delivers the host's events.

use std::sync::Arc;
use std::time::Duration;

use room_ports::{Bus, NodeId, NodeRegistry, RoomHosting};

/// What a node needs to be part of a cluster.
#[derive(Clone)]
pub struct ClusterPorts {
    /// This node's id, unique in the cluster.
    pub node: NodeId,
    /// The WebSocket URL clients use to reach this node.
    pub advertise: String,
    /// Room leases and snapshots (Redis).
    pub hosting: Arc<dyn RoomHosting>,
    /// Live nodes and their load (Redis).
    pub registry: Arc<dyn NodeRegistry>,
    /// Events and commands between nodes (RabbitMQ).
    pub bus: Arc<dyn Bus>,
    /// How long a room lease lives without renewal (renewed every third of it).
    pub lease_ttl: Duration,
    /// How long this node stays listed without a heartbeat (sent every third of it).
    pub node_ttl: Duration,
}

/// Whether the node registry can be believed when it says a node is gone.
///
/// Every heartbeat expires while the registry is unreachable, so right after
/// it comes back each node looks dead until its next heartbeat. Only a
/// registry that has answered this node's own heartbeats for a whole node
/// lifetime is trusted to mean "dead" when it says "not live".
#[derive(Debug)]
pub(crate) struct RegistryTrust {
    answering_since: std::sync::Mutex<Option<tokio::time::Instant>>,
    node_ttl: Duration,
}

impl RegistryTrust {
    pub(crate) fn new(node_ttl: Duration) -> RegistryTrust {
        RegistryTrust {
            answering_since: std::sync::Mutex::new(None),
            node_ttl,
        }
    }

    pub(crate) fn heard(&self, answered: bool) {
        let mut since = self.answering_since.lock().unwrap_or_else(|p| p.into_inner());
        match (answered, *since) {
            (true, None) => *since = Some(tokio::time::Instant::now()),
            (false, _) => *since = None,
            (true, Some(_)) => {}
        }
    }

    /// Whether "not live" means dead now.
    pub(crate) fn trusted(&self) -> bool {
        let since = self.answering_since.lock().unwrap_or_else(|p| p.into_inner());
        since.is_some_and(|at| at.elapsed() >= self.node_ttl)
    }
}

/// Where a client should connect for a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The WebSocket URL.
    pub url: String,
    /// The node behind it.
    pub node: NodeId,
    /// Whether that node hosts the room now (else it is merely the least loaded).
    pub hosted: bool,
}
