//! The state machine of one room: who is in it, where they stand, and the map.
//!
//! Inputs are [`Command`]s; outputs are [`Outgoing`] events, each naming its
//! [`Audience`] and numbered by the room's sequence. A rejected command
//! returns a [`Reject`] and leaves the room exactly as it was.

use std::collections::BTreeSet;

use crate::codec::ServerMsg;
use crate::error::Reject;
use crate::ids::{Cell, Direction, GameId, RoomId, SessionId, UserId};
use crate::map::{MAX_SIDE, Map, MapDoc};
use crate::view::{RoomView, UserView};

/// Default number of users a room holds (PROTOCOL.md §7).
pub const DEFAULT_CAPACITY: usize = 50;

/// Per-room limits a server may configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLimits {
    /// Users a room holds at most.
    pub capacity: usize,
    /// Largest map side a BUILD may ask for.
    pub max_side: u16,
}

impl Default for RoomLimits {
    fn default() -> Self {
        RoomLimits {
            capacity: DEFAULT_CAPACITY,
            max_side: MAX_SIDE,
        }
    }
}

/// Something a session asks of the room it is in (or is entering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Join the room, or replace this user's older session in it.
    Enter {
        /// The socket entering.
        session: SessionId,
        /// Who it is (from the verified token).
        user: UserId,
        /// The name shown to others (from the token).
        nickname: String,
    },
    /// Ask for the whole room again.
    Sync {
        /// The asking socket.
        session: SessionId,
    },
    /// Step one cell.
    Move {
        /// The moving socket.
        session: SessionId,
        /// Where to.
        direction: Direction,
    },
    /// Leave the room (also what a dropped connection means).
    Leave {
        /// The leaving socket.
        session: SessionId,
    },
}

/// Who receives an outgoing event, resolved against the room *after* the
/// command that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Audience {
    /// One session only (it may already have left the room, as a replaced one has).
    Session(SessionId),
    /// Every session in the room except this one.
    AllExcept(SessionId),
    /// Every session in the room.
    All,
}

/// One event caused by a command: what to send, to whom, and its place in the room's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The room's sequence number of this event; increases by one per event.
    pub seq: u64,
    /// Who receives it.
    pub audience: Audience,
    /// What they receive.
    pub msg: ServerMsg,
}

impl Outgoing {
    /// Whether this is one of the room's events (ENTER, LEAVE, MOVE, a
    /// BUILD's SYNC: what the room tells more than one socket), numbered and
    /// kept for replay (PROTOCOL.md §9), rather than an answer to one socket.
    pub fn is_room_event(&self) -> bool {
        !matches!(self.audience, Audience::Session(_))
    }
}

/// A user present in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    /// Who.
    pub user: UserId,
    /// Shown to others.
    pub nickname: String,
    /// The socket that currently speaks for this user here.
    pub session: SessionId,
    /// Where they stand.
    pub cell: Cell,
}

/// A BUILD that passed every check and may now be stored, then committed
/// with [`Room::commit_build`]. Holding one does not change the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedBuild {
    map: Map,
}

impl ApprovedBuild {
    /// The map to store before anyone is told.
    pub fn map(&self) -> &Map {
        &self.map
    }
}

/// The state of one room. One owner drives it (one writer per room); it never
/// does I/O or reads a clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    id: RoomId,
    map: Map,
    map_version: u64,
    occupants: Vec<Occupant>,
    limits: RoomLimits,
    seq: u64,
}

impl Room {
    /// A room with `map` (stored as `map_version`) and nobody in it.
    pub fn new(id: RoomId, map: Map, map_version: u64, limits: RoomLimits) -> Room {
        Room {
            id,
            map,
            map_version,
            occupants: Vec::new(),
            limits,
            seq: 0,
        }
    }

    /// Rebuild a room from a snapshot taken by an earlier host: occupants keep
    /// their cells (moved to spawn if the map now fills theirs), numbering
    /// continues after `seq`.
    pub fn restore(
        id: RoomId,
        map: Map,
        map_version: u64,
        limits: RoomLimits,
        occupants: Vec<Occupant>,
        seq: u64,
    ) -> Room {
        let spawn = map.spawn();
        let mut room = Room {
            id,
            map,
            map_version,
            occupants: Vec::new(),
            limits,
            seq,
        };
        for mut occupant in occupants {
            // One entry per user and one user per session, as `apply` keeps it.
            if room.occupant_of_user(occupant.user).is_some()
                || room.occupant_of_session(occupant.session).is_some()
            {
                continue;
            }
            if room.map.is_filled(occupant.cell)
                || occupant.cell.x >= room.map.side()
                || occupant.cell.y >= room.map.side()
            {
                occupant.cell = spawn;
            }
            room.occupants.push(occupant);
        }
        room
    }

    /// This room's id (its owner's user id).
    pub fn id(&self) -> RoomId {
        self.id
    }

    /// The current map.
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// The store version of the current map (0: never built).
    pub fn map_version(&self) -> u64 {
        self.map_version
    }

    /// The sequence number of the last event emitted.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The limits this room enforces.
    pub fn limits(&self) -> RoomLimits {
        self.limits
    }

    /// Who is here, in order of arrival.
    pub fn occupants(&self) -> &[Occupant] {
        &self.occupants
    }

    /// Whether nobody is in the room (the engine may unload it).
    pub fn is_empty(&self) -> bool {
        self.occupants.is_empty()
    }

    /// The occupant `session` speaks for, if it is in the room.
    pub fn occupant_of_session(&self, session: SessionId) -> Option<&Occupant> {
        self.occupants.iter().find(|o| o.session == session)
    }

    /// The occupant entry of `user`, if they are in the room.
    pub fn occupant_of_user(&self, user: UserId) -> Option<&Occupant> {
        self.occupants.iter().find(|o| o.user == user)
    }

    /// The whole room, as SYNC and `GET /rooms/{id}` show it.
    pub fn view(&self) -> RoomView {
        RoomView {
            room_id: self.id,
            users: self
                .occupants
                .iter()
                .map(|o| UserView {
                    user: o.user,
                    nickname: o.nickname.clone(),
                    cell: o.cell,
                })
                .collect(),
            map: self.map.clone(),
        }
    }

    /// Apply `command`; return the events it caused, or why it was refused.
    pub fn apply(&mut self, command: Command) -> Result<Vec<Outgoing>, Reject> {
        match command {
            Command::Enter {
                session,
                user,
                nickname,
            } => self.enter(session, user, nickname),
            Command::Sync { session } => {
                self.occupant_of_session(session).ok_or(Reject::NotInRoom)?;
                Ok(vec![self.emit(Audience::Session(session), self.sync_msg())])
            }
            Command::Move { session, direction } => self.step(session, direction),
            Command::Leave { session } => self.leave(session),
        }
    }

    /// The checks of a BUILD from `session` that come before the owner's
    /// library is looked up, in the order of PROTOCOL.md §5: the sender is in
    /// the room and is its owner, and the map is valid. Changes nothing.
    pub fn check_build(&self, session: SessionId, doc: &MapDoc) -> Result<(), Reject> {
        let sender = self.occupant_of_session(session).ok_or(Reject::NotInRoom)?;
        if sender.user != self.id.owner() {
            return Err(Reject::NotOwner);
        }
        Map::validate(doc, self.limits.max_side)?;
        Ok(())
    }

    /// Check a BUILD from `session` in the order of PROTOCOL.md §5: sender is
    /// the owner, the map is valid, every game is in `owned` (the owner's
    /// library). Changes nothing.
    pub fn approve_build(
        &self,
        session: SessionId,
        doc: &MapDoc,
        owned: &BTreeSet<GameId>,
    ) -> Result<ApprovedBuild, Reject> {
        let sender = self.occupant_of_session(session).ok_or(Reject::NotInRoom)?;
        if sender.user != self.id.owner() {
            return Err(Reject::NotOwner);
        }
        let map = Map::validate(doc, self.limits.max_side)?;
        if let Some(game) = map.first_unowned_game(owned) {
            return Err(Reject::GameNotOwned(game));
        }
        Ok(ApprovedBuild { map })
    }

    /// Install a map that was approved and stored as `map_version`: everyone
    /// goes back to spawn and gets SYNC.
    pub fn commit_build(&mut self, build: ApprovedBuild, map_version: u64) -> Vec<Outgoing> {
        self.map = build.map;
        self.map_version = map_version;
        let spawn = self.map.spawn();
        for occupant in &mut self.occupants {
            occupant.cell = spawn;
        }
        vec![self.emit(Audience::All, self.sync_msg())]
    }

    /// Install the map the store holds now, stored by someone else as
    /// `map_version` (the room's BUILD lost a version race): as after a BUILD,
    /// everyone goes back to spawn and gets SYNC.
    pub fn reload(&mut self, map: Map, map_version: u64) -> Vec<Outgoing> {
        self.commit_build(ApprovedBuild { map }, map_version)
    }

    fn enter(&mut self, session: SessionId, user: UserId, nickname: String) -> Result<Vec<Outgoing>, Reject> {
        if self.occupant_of_session(session).is_some_and(|o| o.user != user) {
            // A session speaks for one user; the engine never reuses one for another.
            // Checked first so that a replacement can never leave two users on one session.
            return Err(Reject::NotInRoom);
        }
        if let Some(index) = self.occupants.iter().position(|o| o.user == user) {
            let previous = self.occupants[index].session;
            if previous == session {
                return Ok(vec![self.emit(Audience::Session(session), self.sync_msg())]);
            }
            // The user keeps their place; only the socket speaking for them changes.
            self.occupants[index].session = session;
            self.occupants[index].nickname = nickname;
            let replaced = ServerMsg::ClosePreConnection {
                message: "entered the same room from another connection".to_owned(),
            };
            let first = self.emit(Audience::Session(previous), replaced);
            let second = self.emit(Audience::Session(session), self.sync_msg());
            return Ok(vec![first, second]);
        }
        if self.occupants.len() >= self.limits.capacity {
            return Err(Reject::RoomFull {
                capacity: self.limits.capacity,
            });
        }
        let cell = self.map.spawn();
        self.occupants.push(Occupant {
            user,
            nickname: nickname.clone(),
            session,
            cell,
        });
        let announce = ServerMsg::Enter { user, nickname, cell };
        let first = self.emit(Audience::AllExcept(session), announce);
        let second = self.emit(Audience::Session(session), self.sync_msg());
        Ok(vec![first, second])
    }

    fn step(&mut self, session: SessionId, direction: Direction) -> Result<Vec<Outgoing>, Reject> {
        let side = self.map.side();
        let index = self
            .occupants
            .iter()
            .position(|o| o.session == session)
            .ok_or(Reject::NotInRoom)?;
        let occupant = &self.occupants[index];
        let Some(next) = occupant
            .cell
            .step(direction, side)
            .filter(|c| !self.map.is_filled(*c))
        else {
            return Ok(Vec::new());
        };
        let user = occupant.user;
        self.occupants[index].cell = next;
        Ok(vec![self.emit(
            Audience::All,
            ServerMsg::Move {
                user,
                direction,
                cell: next,
            },
        )])
    }

    fn leave(&mut self, session: SessionId) -> Result<Vec<Outgoing>, Reject> {
        let index = self
            .occupants
            .iter()
            .position(|o| o.session == session)
            .ok_or(Reject::NotInRoom)?;
        let gone = self.occupants.remove(index);
        Ok(vec![
            self.emit(Audience::All, ServerMsg::Leave { user: gone.user }),
        ])
    }

    fn sync_msg(&self) -> ServerMsg {
        ServerMsg::Sync { room: self.view() }
    }

    fn emit(&mut self, audience: Audience, msg: ServerMsg) -> Outgoing {
        self.seq += 1;
        Outgoing {
            seq: self.seq,
            audience,
            msg,
        }
    }
}
