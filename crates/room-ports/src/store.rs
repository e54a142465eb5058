//! Durable storage of users, their games and room maps.

use async_trait::async_trait;
use room_core::{GameId, Map, MapDoc, RoomId, UserId};
use serde::{Deserialize, Serialize};

/// A game in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameInfo {
    /// Its store id.
    pub id: GameId,
    /// Its display name.
    pub name: String,
}

/// A user to create (or update) at start, with the games they own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSeed {
    /// The user's id.
    pub user: UserId,
    /// Their nickname.
    pub nickname: String,
    /// The games in their library. A game without a known name is stored as "Game {id}".
    pub games: Vec<GameInfo>,
}

/// A user as listed for a development sign-in page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// The user's id.
    pub user: UserId,
    /// Their nickname.
    pub nickname: String,
}

/// What the store knows of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoom {
    /// The owner's nickname.
    pub owner_nickname: String,
    /// The stored layout, as stored: the engine validates it, so a layout that
    /// no longer passes is reported instead of silently replaced.
    pub map: Option<MapDoc>,
    /// The layout's version: 0 when none was ever stored, then 1, 2, ...
    pub version: u64,
    /// The stored layout could not be read at all: the store kept the bad
    /// record aside, never to be overwritten (this says where), and reports
    /// the room without a map so its owner can BUILD again.
    pub set_aside: Option<String>,
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached now; try again later (ERROR 76503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The room has no owner (ERROR 76404).
    #[error("room {0} has no owner")]
    RoomNotFound(RoomId),
    /// Someone else saved this room's map since it was loaded.
    #[error("map version conflict: expected {expected}, store has {found}")]
    VersionConflict {
        /// The version the writer loaded.
        expected: u64,
        /// The version the store holds.
        found: u64,
    },
    /// The room's map was saved by a writer with a newer fencing epoch (a
    /// node that took the room over): this writer is a stale host, and its
    /// save changed nothing.
    #[error("room {room} was saved under fencing epoch {stored_epoch}; a save under epoch {epoch} is stale")]
    Fenced {
        /// The room.
        room: RoomId,
        /// The epoch this writer saved under.
        epoch: u64,
        /// The highest epoch that saved the room's map.
        stored_epoch: u64,
    },
    /// A game of the map is not (any more) in the owner's library (ERROR 76403).
    #[error("game {0} is not in the owner's library")]
    GameNotOwned(GameId),
    /// Stored data that cannot be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Users, owned games and room maps (MySQL in a cluster, local disk embedded).
#[async_trait]
pub trait MapStore: Send + Sync + 'static {
    /// The room owned by user `room`: `None` if that user does not exist.
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError>;

    /// The games in `user`'s library, with names.
    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError>;

    /// Store `map` as the layout of `room` in one atomic step that succeeds
    /// only if the stored version is still `expected_version`, every game of
    /// the map is still owned, and `epoch` is at least the highest epoch that
    /// saved the room (else [`StoreError::Fenced`]). Returns the new version.
    ///
    /// `epoch` is the writer's fencing epoch: the room host's lease epoch
    /// ([`Lease::epoch`](crate::Lease::epoch)), or [`NO_LEASE`] for a node
    /// without a cluster. The store keeps, per room, the highest lease epoch
    /// that saved, so a host that lost its room to another node cannot
    /// overwrite what the new host stored, even with the right version
    /// ([`fence`] is the rule).
    async fn save_map(
        &self,
        room: RoomId,
        map: &Map,
        expected_version: u64,
        epoch: u64,
    ) -> Result<u64, StoreError>;

    /// Create or update users and their libraries (idempotent).
    async fn seed_users(&self, users: &[UserSeed]) -> Result<(), StoreError>;

    /// Up to `limit` users, by id.
    async fn list_users(&self, limit: usize) -> Result<Vec<UserSummary>, StoreError>;

    /// Whether the store answers now.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The fencing epoch of a save by a node that holds no lease (a node
/// without a cluster). Lease epochs are never 0.
pub const NO_LEASE: u64 = 0;

/// The fencing rule of [`MapStore::save_map`]: a save under `epoch` of a
/// room whose highest saving lease epoch is `stored_epoch` is refused, or
/// stored with the epoch this returns.
///
/// A lease holder under a lower epoch is fenced: another node took the room
/// since. A save under [`NO_LEASE`] is never fenced and keeps the stored
/// epoch: a node without a cluster (say one that a cluster was shrunk to)
/// holds no lease, so it neither outranks a cluster's hosts (raising the
/// epoch would lock a cluster that comes back out of its rooms) nor is
/// outranked by the epochs a cluster left behind (which refused every BUILD
/// of such a node). It is still ordered against every other writer by the
/// version check, and a host that lost its room is still fenced after it.
pub fn fence(room: RoomId, epoch: u64, stored_epoch: u64) -> Result<u64, StoreError> {
    if epoch == NO_LEASE {
        return Ok(stored_epoch);
    }
    if epoch < stored_epoch {
        return Err(StoreError::Fenced {
            room,
            epoch,
            stored_epoch,
        });
    }
    Ok(epoch)
}
