//! Moving bytes between nodes: the events a room's host publishes for the
//! nodes relaying the room, and messages addressed to one node.
//!
//! The bus only carries bytes. What they mean (typed commands and events,
//! with their host's epoch and sequence numbers) is the engine's contract,
//! and the engine checks their order itself, so every bus (the in-memory one,
//! RabbitMQ) runs under the same rules.

use async_trait::async_trait;
use bytes::Bytes;
use room_core::RoomId;
use tokio::sync::mpsc;

use crate::nodes::NodeId;

/// What a node receives from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusInbound {
    /// A payload published for `room`, a room this node subscribed to.
    Event {
        /// The room it was published for.
        room: RoomId,
        /// What the room's host published.
        payload: Bytes,
    },
    /// A payload addressed to this node.
    Node {
        /// What the sender sent.
        payload: Bytes,
    },
    /// Payloads of these rooms may have been lost (the bus reconnected, or
    /// dropped messages it could not hold): the engine must resynchronise them.
    Gap {
        /// The rooms affected.
        rooms: Vec<RoomId>,
    },
}

/// Why a bus operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The broker cannot be reached now; the call did not block waiting for it.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// The inter-node bus.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publish `payload` for the nodes subscribed to `room` (this node hosts it).
    async fn publish(&self, room: RoomId, payload: Bytes) -> Result<(), BusError>;

    /// Start receiving what is published for `room` (this node has a user in it).
    async fn subscribe_room(&self, room: RoomId) -> Result<(), BusError>;

    /// Stop receiving what is published for `room`.
    async fn unsubscribe_room(&self, room: RoomId) -> Result<(), BusError>;

    /// Send `payload` to `node`.
    async fn send_to_node(&self, node: &NodeId, payload: Bytes) -> Result<(), BusError>;

    /// The stream of what this node receives; `None` once taken.
    fn take_inbound(&self) -> Option<mpsc::Receiver<BusInbound>>;
}
