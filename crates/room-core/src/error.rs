//! Protocol error codes and the typed rejections that map onto them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::GameId;
use crate::map::MapError;

/// The error codes of PROTOCOL.md §6, as sent in ERROR (99) messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 76100: the message cannot be parsed.
    Parse,
    /// 76101: the same user entered the same room elsewhere.
    Replaced,
    /// 76102: not in a room yet.
    NotInRoom,
    /// 76401: unauthorized.
    Unauthorized,
    /// 76403: not the owner, or a game not owned.
    Forbidden,
    /// 76404: the room's owner does not exist.
    RoomNotFound,
    /// 76408: the seat a socket asked to resume is gone (PROTOCOL.md §9).
    SeatExpired,
    /// 76409: the room is full.
    RoomFull,
    /// 76410: the map is invalid.
    InvalidMap,
    /// 76413: the frame is too large.
    FrameTooLarge,
    /// 76429: too many messages.
    RateLimited,
    /// 76503: a backing service is unavailable.
    Unavailable,
    /// 76900: the behaviour code is not one a client may send.
    CodeNotAllowed,
    /// 76999: unexpected server error.
    Internal,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::Parse,
        ErrorCode::Replaced,
        ErrorCode::NotInRoom,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::RoomNotFound,
        ErrorCode::SeatExpired,
        ErrorCode::RoomFull,
        ErrorCode::InvalidMap,
        ErrorCode::FrameTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::CodeNotAllowed,
        ErrorCode::Internal,
    ];

    /// The number sent on the wire.
    pub fn as_u32(self) -> u32 {
        match self {
            ErrorCode::Parse => 76100,
            ErrorCode::Replaced => 76101,
            ErrorCode::NotInRoom => 76102,
            ErrorCode::Unauthorized => 76401,
            ErrorCode::Forbidden => 76403,
            ErrorCode::RoomNotFound => 76404,
            ErrorCode::SeatExpired => 76408,
            ErrorCode::RoomFull => 76409,
            ErrorCode::InvalidMap => 76410,
            ErrorCode::FrameTooLarge => 76413,
            ErrorCode::RateLimited => 76429,
            ErrorCode::Unavailable => 76503,
            ErrorCode::CodeNotAllowed => 76900,
            ErrorCode::Internal => 76999,
        }
    }

    /// The code with wire number `n`, if it is one of ours.
    pub fn from_u32(n: u32) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_u32() == n)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_u32().fmt(f)
    }
}

/// Why a [`Room`](crate::Room) refused a command. The room is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reject {
    /// The session is not in this room.
    #[error("not in a room yet")]
    NotInRoom,
    /// The room holds as many users as it may.
    #[error("room is full ({capacity} users)")]
    RoomFull {
        /// The room's capacity.
        capacity: usize,
    },
    /// Only the owner may build.
    #[error("only the room's owner may change its map")]
    NotOwner,
    /// The proposed map breaks a rule of PROTOCOL.md §5.
    #[error("invalid map: {0}")]
    InvalidMap(#[from] MapError),
    /// The proposed map places a game the owner does not own.
    #[error("game {0} is not in the owner's library")]
    GameNotOwned(GameId),
}

impl Reject {
    /// The protocol code this rejection is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Reject::NotInRoom => ErrorCode::NotInRoom,
            Reject::RoomFull { .. } => ErrorCode::RoomFull,
            Reject::NotOwner | Reject::GameNotOwned(_) => ErrorCode::Forbidden,
            Reject::InvalidMap(_) => ErrorCode::InvalidMap,
        }
    }
}
