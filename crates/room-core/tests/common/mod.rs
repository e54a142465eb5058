//! A small harness for room-core's tests: one room, a few fake sessions, and
//! helpers that turn outputs into "who gets which frame".
#![allow(dead_code)] // each test file uses a different part of it

use std::collections::BTreeSet;

use room_core::{
    Audience, Cell, ClientMsg, Command, Direction, GameId, ItemDoc, Map, MapDoc, Outgoing, Reject, Room,
    RoomId, RoomLimits, ServerMsg, SessionId, UserId, parse_client_frame,
};

/// The room every harness drives: room 7, owned by user 7.
pub const ROOM: RoomId = RoomId(7);
/// The owner of [`ROOM`].
pub const OWNER: UserId = UserId(7);
/// A guest.
pub const GUEST: UserId = UserId(3);
/// Another guest.
pub const OTHER: UserId = UserId(4);

/// A room plus shortcuts for driving it from fake sessions.
pub struct Harness {
    pub room: Room,
}

impl Harness {
    /// Room 7 with the empty map and default limits.
    pub fn new() -> Harness {
        Harness::with(Map::empty(), RoomLimits::default())
    }

    /// Room 7 with `map` and default limits.
    pub fn with_map(map: Map) -> Harness {
        Harness::with(map, RoomLimits::default())
    }

    /// Room 7 with `map` and `limits`.
    pub fn with(map: Map, limits: RoomLimits) -> Harness {
        Harness {
            room: Room::new(ROOM, map, 0, limits),
        }
    }

    pub fn try_enter(&mut self, session: u64, user: UserId, nickname: &str) -> Result<Vec<Outgoing>, Reject> {
        self.room.apply(Command::Enter {
            session: SessionId(session),
            user,
            nickname: nickname.to_owned(),
        })
    }

    /// Enter, expecting success.
    pub fn enter(&mut self, session: u64, user: UserId, nickname: &str) -> Vec<Outgoing> {
        self.try_enter(session, user, nickname)
            .expect("enter is accepted")
    }

    pub fn try_move(&mut self, session: u64, direction: Direction) -> Result<Vec<Outgoing>, Reject> {
        self.room.apply(Command::Move {
            session: SessionId(session),
            direction,
        })
    }

    /// Move, expecting the command to be accepted (it may still do nothing).
    pub fn step(&mut self, session: u64, direction: Direction) -> Vec<Outgoing> {
        self.try_move(session, direction).expect("move is accepted")
    }

    pub fn try_leave(&mut self, session: u64) -> Result<Vec<Outgoing>, Reject> {
        self.room.apply(Command::Leave {
            session: SessionId(session),
        })
    }

    pub fn try_sync(&mut self, session: u64) -> Result<Vec<Outgoing>, Reject> {
        self.room.apply(Command::Sync {
            session: SessionId(session),
        })
    }

    /// Approve and commit a BUILD (stored as the next map version), as the engine does.
    pub fn try_build(&mut self, session: u64, doc: &MapDoc, owned: &[u64]) -> Result<Vec<Outgoing>, Reject> {
        let owned: BTreeSet<GameId> = owned.iter().copied().map(GameId).collect();
        let approved = self.room.approve_build(SessionId(session), doc, &owned)?;
        let version = self.room.map_version() + 1;
        Ok(self.room.commit_build(approved, version))
    }

    /// Where `user` stands.
    pub fn cell_of(&self, user: UserId) -> Cell {
        self.room
            .occupant_of_user(user)
            .expect("user is in the room")
            .cell
    }

    /// The sessions an audience resolves to, against the room as it is now.
    pub fn recipients(&self, audience: Audience) -> Vec<u64> {
        let all = self.room.occupants().iter().map(|o| o.session.0);
        match audience {
            Audience::Session(s) => vec![s.0],
            Audience::AllExcept(s) => all.filter(|x| *x != s.0).collect(),
            Audience::All => all.collect(),
        }
    }

    /// The frames each session receives for `out`, in order: `(session, frame)`.
    pub fn deliveries(&self, out: &[Outgoing]) -> Vec<(u64, String)> {
        out.iter()
            .flat_map(|o| {
                let frame = o.msg.encode();
                self.recipients(o.audience)
                    .into_iter()
                    .map(move |s| (s, frame.clone()))
            })
            .collect()
    }

    /// The frames `session` receives for `out`.
    pub fn frames_to(&self, session: u64, out: &[Outgoing]) -> Vec<String> {
        self.deliveries(out)
            .into_iter()
            .filter(|(s, _)| *s == session)
            .map(|(_, f)| f)
            .collect()
    }
}

/// A map document from `(id, name, x, y)` tuples; the lists name the keys in order.
pub fn doc(side: i64, games: &[(&str, &str, i64, i64)], objects: &[(&str, &str, i64, i64)]) -> MapDoc {
    let items = |items: &[(&str, &str, i64, i64)]| -> Vec<(String, ItemDoc)> {
        items
            .iter()
            .map(|(id, name, x, y)| {
                (
                    (*id).to_owned(),
                    ItemDoc {
                        name: (*name).to_owned(),
                        x: *x,
                        y: *y,
                    },
                )
            })
            .collect()
    };
    let games = items(games);
    let objects = items(objects);
    MapDoc {
        side,
        game_list: games.iter().map(|(id, _)| id.clone()).collect(),
        object_list: objects.iter().map(|(id, _)| id.clone()).collect(),
        games,
        objects,
    }
}

/// A valid map from `(id, name, x, y)` tuples.
pub fn map(side: i64, games: &[(&str, &str, i64, i64)], objects: &[(&str, &str, i64, i64)]) -> Map {
    Map::validate(&doc(side, games, objects), 64).expect("test map is valid")
}

/// The map of the ROOM example of PROTOCOL.md §4.
pub fn example_map() -> Map {
    map(20, &[("12", "Chess", 3, 4)], &[("w1", "wall", 5, 5)])
}

/// The map document a BUILD frame carries, read through the codec.
pub fn build_doc(frame: &str) -> MapDoc {
    match parse_client_frame(frame).expect("frame parses") {
        ClientMsg::Build { map, .. } => map,
        other => panic!("not a BUILD: {other:?}"),
    }
}

/// The messages of `out`, without audience or sequence.
pub fn msgs(out: &[Outgoing]) -> Vec<&ServerMsg> {
    out.iter().map(|o| &o.msg).collect()
}

/// The protocol code of a rejection.
pub fn code(result: Result<Vec<Outgoing>, Reject>) -> u32 {
    result.expect_err("command is rejected").code().as_u32()
}
