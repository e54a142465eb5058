//! Server-to-client messages (PROTOCOL.md §4): encoding, and reading them back.

use std::fmt::Write as _;

use serde::Deserialize;

use super::client::from_body;
use super::json::{MapJson, Pairs, id_from_str_or_number, parse_decimal_id};
use super::{ProtoError, codes, split_frame};
use crate::error::ErrorCode;
use crate::ids::{Cell, Direction, RoomId, UserId};
use crate::map::{MAX_SIDE, Map, MapDoc};
use crate::view::{RoomView, UserView};

/// A message the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg {
    /// 10: someone entered (sent to everyone else).
    Enter {
        /// Who.
        user: UserId,
        /// Their display name.
        nickname: String,
        /// Where they appeared.
        cell: Cell,
    },
    /// 11: the whole room.
    Sync {
        /// The room.
        room: RoomView,
    },
    /// 19: someone left.
    Leave {
        /// Who.
        user: UserId,
    },
    /// 20: someone moved; `cell` is their authoritative new position.
    Move {
        /// Who.
        user: UserId,
        /// The step they asked for.
        direction: Direction,
        /// Where they now stand.
        cell: Cell,
    },
    /// 12: the seat of an opted-in socket's user in `room`, to resume it
    /// with after a drop (PROTOCOL.md §9).
    Seat {
        /// The opaque seat token.
        token: String,
        /// The room.
        room: RoomId,
    },
    /// 13: a seat was resumed; `replayed` missed room events follow, the
    /// last of them numbered `seq` (PROTOCOL.md §9).
    Resumed {
        /// The room.
        room: RoomId,
        /// The number of the last room event the client has once the replay is read.
        seq: u64,
        /// How many events are replayed.
        replayed: u64,
    },
    /// 98: this socket was replaced by a newer one of the same user; close 4000 follows.
    ClosePreConnection {
        /// Human-readable reason.
        message: String,
    },
    /// 99: the last command was refused.
    Error {
        /// Why, as a protocol code.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

/// WebSocket close code sent after CLOSE_PRE_CONNECTION.
pub const CLOSE_REPLACED: u16 = 4000;

impl ServerMsg {
    /// The behaviour code of this message.
    pub fn code(&self) -> u8 {
        match self {
            ServerMsg::Enter { .. } => codes::ENTER,
            ServerMsg::Sync { .. } => codes::SYNC,
            ServerMsg::Seat { .. } => codes::SEAT,
            ServerMsg::Resumed { .. } => codes::RESUMED,
            ServerMsg::Leave { .. } => codes::LEAVE,
            ServerMsg::Move { .. } => codes::MOVE,
            ServerMsg::ClosePreConnection { .. } => codes::CLOSE_PRE_CONNECTION,
            ServerMsg::Error { .. } => codes::ERROR,
        }
    }

    /// The close code the socket receiving this message must be closed with after it, if any.
    pub fn closes_with(&self) -> Option<u16> {
        matches!(self, ServerMsg::ClosePreConnection { .. }).then_some(CLOSE_REPLACED)
    }

    /// An ERROR message.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerMsg {
        ServerMsg::Error {
            code,
            message: message.into(),
        }
    }

    /// The frame for this message.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64);
        self.encode_into(&mut out);
        out
    }

    /// The frame for this message as an opted-in socket (PROTOCOL.md §9)
    /// gets it: with `"seq":seq` in its object. For the room's events (ENTER,
    /// LEAVE, MOVE, a BUILD's SYNC) `seq` is the event's number; for any
    /// other SYNC, the number of the last event it contains.
    pub fn encode_with_seq(&self, seq: u64) -> String {
        with_seq(&self.encode(), seq)
    }

    /// Append the frame for this message to `out`.
    pub fn encode_into(&self, out: &mut String) {
        let _ = write!(out, "{:02}", self.code());
        match self {
            ServerMsg::Enter { user, nickname, cell } => {
                let _ = write!(out, "{{\"user_id\":\"{user}\",\"nickname\":");
                write_str(out, nickname);
                let _ = write!(out, ",\"x\":{},\"y\":{}}}", cell.x, cell.y);
            }
            ServerMsg::Sync { room } => {
                out.push_str("{\"room\":");
                write_room(out, room);
                out.push('}');
            }
            ServerMsg::Leave { user } => {
                let _ = write!(out, "{{\"user_id\":\"{user}\"}}");
            }
            ServerMsg::Move {
                user,
                direction,
                cell,
            } => {
                let _ = write!(
                    out,
                    "{{\"user_id\":\"{user}\",\"direction\":{},\"x\":{},\"y\":{}}}",
                    direction.code(),
                    cell.x,
                    cell.y
                );
            }
            ServerMsg::Seat { token, room } => {
                out.push_str("{\"token\":");
                write_str(out, token);
                let _ = write!(out, ",\"room_id\":\"{room}\"}}");
            }
            ServerMsg::Resumed { room, seq, replayed } => {
                let _ = write!(
                    out,
                    "{{\"room_id\":\"{room}\",\"seq\":{seq},\"replayed\":{replayed}}}"
                );
            }
            ServerMsg::ClosePreConnection { message } => {
                out.push_str("{\"message\":");
                write_str(out, message);
                out.push('}');
            }
            ServerMsg::Error { code, message } => {
                let _ = write!(out, "{{\"code\":{code},\"message\":");
                write_str(out, message);
                out.push('}');
            }
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    // serde_json's escaping never emits a raw newline, which keeps `\n` free as the batch separator.
    out.push_str(&serde_json::Value::from(s).to_string());
}

pub(super) fn write_room(out: &mut String, room: &RoomView) {
    let _ = write!(
        out,
        "{{\"roomId\":\"{}\",\"userCount\":{},\"users\":{{",
        room.room_id,
        room.users.len()
    );
    for (i, user) in room.users.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{}\":{{\"nickname\":", user.user);
        write_str(out, &user.nickname);
        let _ = write!(out, ",\"x\":{},\"y\":{}}}", user.cell.x, user.cell.y);
    }
    out.push_str("},\"map\":");
    write_map_doc(out, &room.map.to_doc());
    out.push('}');
}

/// Write the MAP object of PROTOCOL.md §4.
pub(super) fn write_map_doc(out: &mut String, map: &MapDoc) {
    let _ = write!(out, "{{\"side\":{},\"gameList\":", map.side);
    write_list(out, &map.game_list);
    out.push_str(",\"objectList\":");
    write_list(out, &map.object_list);
    out.push_str(",\"games\":");
    write_items(out, &map.games);
    out.push_str(",\"objects\":");
    write_items(out, &map.objects);
    out.push('}');
}

fn write_list(out: &mut String, ids: &[String]) {
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, id);
    }
    out.push(']');
}

fn write_items(out: &mut String, items: &[(String, crate::map::ItemDoc)]) {
    out.push('{');
    for (i, (id, item)) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, id);
        out.push_str(":{\"name\":");
        write_str(out, &item.name);
        let _ = write!(out, ",\"x\":{},\"y\":{}}}", item.x, item.y);
    }
    out.push('}');
}

#[derive(Deserialize)]
struct UserIdJson {
    #[serde(deserialize_with = "id_from_str_or_number")]
    user_id: u64,
}

#[derive(Deserialize)]
struct EnterJson {
    #[serde(deserialize_with = "id_from_str_or_number")]
    user_id: u64,
    nickname: String,
    x: u16,
    y: u16,
}

#[derive(Deserialize)]
struct MoveJson {
    #[serde(deserialize_with = "id_from_str_or_number")]
    user_id: u64,
    direction: u64,
    x: u16,
    y: u16,
}

#[derive(Deserialize)]
struct UserJson {
    nickname: String,
    x: u16,
    y: u16,
}

#[derive(Deserialize)]
struct RoomJson {
    #[serde(rename = "roomId", deserialize_with = "id_from_str_or_number")]
    room_id: u64,
    #[serde(rename = "userCount")]
    user_count: usize,
    users: Pairs<UserJson>,
    map: MapJson,
}

#[derive(Deserialize)]
struct SyncJson {
    room: RoomJson,
}

#[derive(Deserialize)]
struct SeatJson {
    token: String,
    #[serde(deserialize_with = "id_from_str_or_number")]
    room_id: u64,
}

#[derive(Deserialize)]
struct ResumedJson {
    #[serde(deserialize_with = "id_from_str_or_number")]
    room_id: u64,
    seq: u64,
    replayed: u64,
}

#[derive(Deserialize)]
struct SeqJson {
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct MessageJson {
    message: String,
}

#[derive(Deserialize)]
struct ErrorJson {
    code: u32,
    message: String,
}

/// Read one server message (one line of a batched frame). For clients and tests.
pub fn parse_server_frame(frame: &str) -> Result<ServerMsg, ProtoError> {
    let (code, body) = split_frame(frame)?;
    let bad = |what: String| ProtoError::Body(what);
    match code {
        codes::ENTER => {
            let e: EnterJson = from_body(body)?;
            Ok(ServerMsg::Enter {
                user: UserId(e.user_id),
                nickname: e.nickname,
                cell: Cell::new(e.x, e.y),
            })
        }
        codes::SYNC => {
            let s: SyncJson = from_body(body)?;
            let room = s.room;
            if room.user_count != room.users.0.len() {
                return Err(bad(format!(
                    "userCount {} but {} users",
                    room.user_count,
                    room.users.0.len()
                )));
            }
            let users = room
                .users
                .0
                .into_iter()
                .map(|(id, u)| {
                    let user = parse_decimal_id(&id)
                        .ok_or_else(|| bad(format!("user id {id:?} is not a number")))?;
                    Ok(UserView {
                        user: UserId(user),
                        nickname: u.nickname,
                        cell: Cell::new(u.x, u.y),
                    })
                })
                .collect::<Result<Vec<_>, ProtoError>>()?;
            let map = Map::validate(&room.map.into(), MAX_SIDE).map_err(|e| bad(e.to_string()))?;
            Ok(ServerMsg::Sync {
                room: RoomView {
                    room_id: RoomId(room.room_id),
                    users,
                    map,
                },
            })
        }
        codes::LEAVE => {
            let l: UserIdJson = from_body(body)?;
            Ok(ServerMsg::Leave {
                user: UserId(l.user_id),
            })
        }
        codes::MOVE => {
            let m: MoveJson = from_body(body)?;
            let direction =
                Direction::from_code(m.direction).ok_or_else(|| bad(format!("direction {}", m.direction)))?;
            Ok(ServerMsg::Move {
                user: UserId(m.user_id),
                direction,
                cell: Cell::new(m.x, m.y),
            })
        }
        codes::SEAT => {
            let s: SeatJson = from_body(body)?;
            Ok(ServerMsg::Seat {
                token: s.token,
                room: RoomId(s.room_id),
            })
        }
        codes::RESUMED => {
            let r: ResumedJson = from_body(body)?;
            Ok(ServerMsg::Resumed {
                room: RoomId(r.room_id),
                seq: r.seq,
                replayed: r.replayed,
            })
        }
        codes::CLOSE_PRE_CONNECTION => {
            let m: MessageJson = from_body(body)?;
            Ok(ServerMsg::ClosePreConnection { message: m.message })
        }
        codes::ERROR => {
            let e: ErrorJson = from_body(body)?;
            let code =
                ErrorCode::from_u32(e.code).ok_or_else(|| bad(format!("unknown error code {}", e.code)))?;
            Ok(ServerMsg::Error {
                code,
                message: e.message,
            })
        }
        other => Err(ProtoError::CodeNotAllowed(other)),
    }
}

/// `frame` with `"seq":number` added to its object.
pub fn with_seq(frame: &str, number: u64) -> String {
    with_field(frame, "seq", &number.to_string())
}

/// `frame` with `"ref":reference` added to its object: the answer to the
/// BUILD that carried `reference` (PROTOCOL.md §5).
pub fn with_ref(frame: &str, reference: &str) -> String {
    with_field(frame, "ref", &serde_json::Value::from(reference).to_string())
}

/// `frame` (a SYNC for one socket) with `"you":"<user>"` added: the user
/// that socket speaks for (PROTOCOL.md §4), which an opaque token does not tell.
pub fn with_you(frame: &str, user: UserId) -> String {
    with_field(frame, "you", &format!("\"{user}\""))
}

/// `frame` with `"key":json` added to its object (`json` is encoded already).
fn with_field(frame: &str, key: &str, json: &str) -> String {
    let mut out = String::with_capacity(frame.len() + key.len() + json.len() + 4);
    match frame.strip_suffix('}') {
        Some(open) => {
            out.push_str(open);
            if !open.ends_with('{') {
                out.push(',');
            }
            out.push('"');
            out.push_str(key);
            out.push_str("\":");
            out.push_str(json);
            out.push('}');
        }
        None => out.push_str(frame),
    }
    out
}

#[derive(Deserialize)]
struct RefJson {
    #[serde(default, rename = "ref")]
    reference: Option<String>,
}

/// The `"ref"` of a server message (one line): the BUILD it answers, if it
/// names one. For clients and tests.
pub fn frame_ref(frame: &str) -> Result<Option<String>, ProtoError> {
    let (_, body) = split_frame(frame)?;
    let answer: RefJson = from_body(body)?;
    Ok(answer.reference)
}

/// The `"seq"` of a server message (one line), as an opted-in socket gets
/// it (PROTOCOL.md §9): `None` when it has none. For clients and tests.
pub fn frame_seq(frame: &str) -> Result<Option<u64>, ProtoError> {
    let (code, body) = split_frame(frame)?;
    if code == codes::RESUMED {
        // Its `seq` is part of what it says, not the number of an event.
        return Ok(None);
    }
    let seq: SeqJson = from_body(body)?;
    Ok(seq.seq)
}

/// The messages of a frame from a socket that asked for `batch=1`: one per line.
pub fn split_batch(frame: &str) -> impl Iterator<Item = &str> {
    frame.split('\n').filter(|line| !line.is_empty())
}
