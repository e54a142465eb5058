//! [`Presence`] on Redis: one hash per room, user id to `{session}@{node}`.
//!
//! A record counts only while its node's heartbeat key exists, so a node must
//! heartbeat before its sessions are visible to others; records of dead nodes
//! are removed by the next claim or listing of that room.

use async_trait::async_trait;
use room_core::{RoomId, UserId};
use room_ports::{Presence, PresenceError, SessionAt};

use crate::backend::RedisBackend;
use crate::error;
use crate::record::{decode_session, encode_session};

#[async_trait]
impl Presence for RedisBackend {
    async fn claim_session(
        &self,
        room: RoomId,
        user: UserId,
        at: &SessionAt,
    ) -> Result<Option<SessionAt>, PresenceError> {
        let keys = vec![self.keys().sessions(room)];
        let args = vec![user.to_string(), encode_session(at), self.keys().node_prefix()];
        let previous: Option<String> = self
            .eval(&self.scripts().claim_session, keys, args)
            .await
            .map_err(error::presence)?;
        let previous = previous.as_deref().and_then(decode_session);
        if let Some(previous) = &previous {
            tracing::debug!(%room, %user, node = %previous.node, session = %previous.session, "session replaced");
        }
        Ok(previous)
    }

    async fn release_session(
        &self,
        room: RoomId,
        user: UserId,
        at: &SessionAt,
    ) -> Result<bool, PresenceError> {
        let keys = vec![self.keys().sessions(room)];
        let args = vec![user.to_string(), encode_session(at)];
        let released: u8 = self
            .eval(&self.scripts().release_session, keys, args)
            .await
            .map_err(error::presence)?;
        Ok(released == 1)
    }

    async fn sessions_in_room(&self, room: RoomId) -> Result<Vec<(UserId, SessionAt)>, PresenceError> {
        let keys = vec![self.keys().sessions(room)];
        let args = vec![self.keys().node_prefix()];
        let flat: Vec<String> = self
            .eval(&self.scripts().live_sessions, keys, args)
            .await
            .map_err(error::presence)?;
        Ok(flat
            .chunks_exact(2)
            .filter_map(|pair| {
                let user = pair[0].parse().ok().map(UserId);
                if user.is_none() {
                    tracing::warn!(%room, field = %pair[0], "malformed user id in session hash ignored");
                }
                Some((user?, decode_session(&pair[1])?))
            })
            .collect())
    }
}
