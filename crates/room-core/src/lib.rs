//! The pure core of myroom: one room's state machine and the wire codec.
//!
//! This crate does no I/O, keeps no clock and holds no global state: every
//! fact it needs (who the user is, which games the owner owns) comes in as an
//! argument, and every effect (send this, to whom) comes out as data. The
//! engine that drives it owns one [`Room`] per hosted room and feeds it
//! commands one at a time:
//!
//! ```
//! use room_core::{parse_client_frame, ClientMsg, Command, Map, Room, RoomId, RoomLimits, SessionId, UserId};
//!
//! let mut room = Room::new(RoomId(7), Map::empty(), 0, RoomLimits::default());
//! let owner = SessionId(1);
//! room.apply(Command::Enter { session: owner, user: UserId(7), nickname: "owner".into() }).unwrap();
//!
//! // A frame arrives from the owner's socket: parse, turn into a command, apply.
//! let ClientMsg::Move { direction } = parse_client_frame(r#"20{"direction":1}"#).unwrap() else { unreachable!() };
//! for out in room.apply(Command::Move { session: owner, direction }).unwrap() {
//!     // The engine resolves `out.audience` to sockets and sends the same bytes to each.
//!     assert_eq!(out.msg.encode(), r#"20{"user_id":"7","direction":1,"x":1,"y":0}"#);
//! }
//! ```
//!
//! A BUILD is two steps so that the map is stored before anyone is told:
//! [`Room::approve_build`] checks it without changing anything, the engine
//! stores the approved map, then [`Room::commit_build`] installs it.
#![deny(missing_docs)]

mod builds;
pub mod codec;
mod error;
mod ids;
pub mod map;
mod replay;
mod room;
mod view;

pub use builds::{BuildQueue, ReadyBuild};
pub use codec::{
    ClientMsg, MAX_REF_CHARS, ProtoError, ServerMsg, frame_ref, frame_seq, parse_client_frame,
    parse_server_frame, split_batch, with_ref, with_seq, with_you,
};
pub use error::{ErrorCode, Reject};
pub use ids::{Cell, Direction, GameId, RoomId, SessionId, UserId};
pub use map::{ItemDoc, Map, MapDoc, MapError};
pub use replay::{Logged, Replay, ReplayLog, ReplayTail};
pub use room::{ApprovedBuild, Audience, Command, DEFAULT_CAPACITY, Occupant, Outgoing, Room, RoomLimits};
pub use view::{RoomView, UserView};
