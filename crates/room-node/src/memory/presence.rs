use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use room_core::{RoomId, UserId};
use room_ports::{Presence, PresenceError, SessionAt};

use super::lock;

/// The session registry of a single node.
#[derive(Debug, Default)]
pub struct MemoryPresence {
    sessions: Mutex<HashMap<(RoomId, UserId), SessionAt>>,
}

impl MemoryPresence {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Presence for MemoryPresence {
    async fn claim_session(
        &self,
        room: RoomId,
        user: UserId,
        at: &SessionAt,
    ) -> Result<Option<SessionAt>, PresenceError> {
        Ok(lock(&self.sessions)
            .insert((room, user), at.clone())
            .filter(|previous| previous != at))
    }

    async fn release_session(
        &self,
        room: RoomId,
        user: UserId,
        at: &SessionAt,
    ) -> Result<bool, PresenceError> {
        let mut sessions = lock(&self.sessions);
        if sessions.get(&(room, user)) == Some(at) {
            sessions.remove(&(room, user));
            return Ok(true);
        }
        Ok(false)
    }

    async fn sessions_in_room(&self, room: RoomId) -> Result<Vec<(UserId, SessionAt)>, PresenceError> {
        let sessions = lock(&self.sessions);
        Ok(sessions
            .iter()
            .filter(|((r, _), _)| *r == room)
            .map(|((_, u), at)| (*u, at.clone()))
            .collect())
    }
}
