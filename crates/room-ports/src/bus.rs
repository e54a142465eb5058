//! Moving room events and commands between nodes.

use async_trait::async_trait;
use room_core::{Audience, RoomId, SessionId, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::nodes::{NodeId, SessionAt};

/// One room event, published once by the room's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEvent {
    /// The room.
    pub room: RoomId,
    /// The publishing host's lease epoch.
    pub epoch: u64,
    /// The room's sequence number of this event.
    pub seq: u64,
    /// Who receives it (resolved by each node against its own sessions).
    pub audience: Audience,
    /// The already-encoded client frame, forwarded without re-encoding.
    pub frame: String,
}

/// A message addressed to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeMessage {
    /// A relay forwards a user's command to the room's host.
    Command {
        /// The room.
        room: RoomId,
        /// The session that sent it, and its node (where replies go).
        from: SessionAt,
        /// The user, from their verified token.
        user: UserId,
        /// Their nickname, from the token.
        nickname: String,
        /// The client frame as received.
        frame: String,
    },
    /// A frame for one session only (an error answering its command).
    Reply {
        /// The session.
        session: SessionId,
        /// The encoded frame.
        frame: String,
    },
    /// Close one session (a duplicate enter elsewhere), after sending it `frame`.
    CloseSession {
        /// The session.
        session: SessionId,
        /// The frame to send first, if any.
        frame: Option<String>,
        /// The WebSocket close code.
        code: u16,
    },
    /// The host refused a relayed ENTER: `frame` is the ERROR for the session,
    /// which is not in the room.
    EnterRefused {
        /// The room.
        room: RoomId,
        /// The session that asked.
        session: SessionId,
        /// The encoded ERROR.
        frame: String,
    },
    /// A relay's sessions in `room` now, sent to the host at every check:
    /// the host forgets that node's other sessions in the room (a LEAVE lost
    /// on the way leaves no ghost) and refuses entered ones it no longer has
    /// (a replacement lost on the way leaves no socket that believes it is in).
    Members {
        /// The room.
        room: RoomId,
        /// The relaying node.
        node: NodeId,
        /// Its sessions the host answered as entered.
        entered: Vec<SessionId>,
        /// Its sessions whose ENTER is on the way.
        entering: Vec<SessionId>,
    },
    /// A room's host asks a node with sessions in the room which of them are
    /// still there; answered with `Members` (empty when the node has none, as
    /// after it left a room it hosted before a takeover).
    AskMembers {
        /// The room.
        room: RoomId,
        /// The asking host.
        host: NodeId,
    },
    /// A relay lost events of `room` and asks its host for a fresh SYNC.
    Resync {
        /// The room.
        room: RoomId,
        /// The asking node.
        node: NodeId,
    },
}

/// What a node receives from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusInbound {
    /// An event of a room this node subscribed to.
    Event(RoomEvent),
    /// A message addressed to this node.
    Node(NodeMessage),
    /// Events of these rooms may have been lost (reconnect, overflow, a gap in
    /// the sequence): the engine must resynchronise them.
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
    /// Publish an event of a room this node hosts.
    async fn publish(&self, event: &RoomEvent) -> Result<(), BusError>;

    /// Start receiving the events of `room` (this node has a user in it).
    async fn subscribe_room(&self, room: RoomId) -> Result<(), BusError>;

    /// Stop receiving the events of `room`.
    async fn unsubscribe_room(&self, room: RoomId) -> Result<(), BusError>;

    /// Send `message` to `node`.
    async fn send_to_node(&self, node: &NodeId, message: &NodeMessage) -> Result<(), BusError>;

    /// The stream of what this node receives; `None` once taken.
    fn take_inbound(&self) -> Option<mpsc::Receiver<BusInbound>>;
}
