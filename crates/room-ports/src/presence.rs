//! Who is connected where: one live session per (user, room).

use async_trait::async_trait;
use room_core::{RoomId, SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::nodes::NodeId;

/// A session and the node holding its socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionAt {
    /// The node.
    pub node: NodeId,
    /// The session on it.
    pub session: SessionId,
}

/// Why a presence operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// The registry cannot be reached now.
    #[error("presence registry unavailable: {0}")]
    Unavailable(String),
}

/// The session registry. Entries live as long as their node's heartbeat.
#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// Record that `at` now speaks for `user` in `room`. Returns the session
    /// it replaced, if that one was still live; of several racing claims,
    /// each sees the one before it, so exactly one wins in the end.
    async fn claim_session(
        &self,
        room: RoomId,
        user: UserId,
        at: &SessionAt,
    ) -> Result<Option<SessionAt>, PresenceError>;

    /// Forget `at` for `user` in `room` if it is still the recorded session.
    /// Returns whether it was.
    async fn release_session(
        &self,
        room: RoomId,
        user: UserId,
        at: &SessionAt,
    ) -> Result<bool, PresenceError>;

    /// Every live session recorded in `room`.
    async fn sessions_in_room(&self, room: RoomId) -> Result<Vec<(UserId, SessionAt)>, PresenceError>;
}
