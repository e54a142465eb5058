//! Read-only pictures of a room, as SYNC carries them.

use crate::ids::{Cell, RoomId, UserId};
use crate::map::Map;

/// One user as others see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    /// Who.
    pub user: UserId,
    /// Display name.
    pub nickname: String,
    /// Where they stand.
    pub cell: Cell,
}

/// The whole room: the ROOM object of PROTOCOL.md §4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    /// The room (its owner's id).
    pub room_id: RoomId,
    /// Who is here, in order of arrival.
    pub users: Vec<UserView>,
    /// The map.
    pub map: Map,
}
