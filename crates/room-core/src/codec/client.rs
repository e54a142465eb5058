//! Client-to-server messages (PROTOCOL.md §3).

use serde::Deserialize;

use super::json::{MapJson, id_from_str_or_number};
use super::{ProtoError, codes, split_frame};
use crate::ids::{Direction, RoomId};
use crate::map::MapDoc;

/// A message a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    /// 10: join a room.
    Enter {
        /// The room (its owner's id); a JSON string or number on the wire.
        room_id: RoomId,
        /// The bare token, needed only in legacy mode.
        authorization: Option<String>,
    },
    /// 11: ask for the whole room again.
    Sync,
    /// 19: leave the room.
    Leave,
    /// 20: step one cell.
    Move {
        /// Where to.
        direction: Direction,
    },
    /// 40: replace the room's map (owner only).
    Build {
        /// The proposed map, well-formed but not yet validated.
        map: MapDoc,
        /// The client's name for this request (`"ref"`), echoed in the
        /// builder's answer: its SYNC or its ERROR (PROTOCOL.md §5).
        reference: Option<String>,
    },
}

impl ClientMsg {
    /// The behaviour code of this message.
    pub fn code(&self) -> u8 {
        match self {
            ClientMsg::Enter { .. } => codes::ENTER,
            ClientMsg::Sync => codes::SYNC,
            ClientMsg::Leave => codes::LEAVE,
            ClientMsg::Move { .. } => codes::MOVE,
            ClientMsg::Build { .. } => codes::BUILD,
        }
    }

    /// The frame a client sends for this message.
    pub fn encode(&self) -> String {
        let body = match self {
            ClientMsg::Enter {
                room_id,
                authorization,
            } => {
                let mut body = serde_json::json!({ "room_id": room_id.to_string() });
                if let Some(token) = authorization {
                    body["authorization"] = token.clone().into();
                }
                body.to_string()
            }
            ClientMsg::Sync | ClientMsg::Leave => "{}".to_owned(),
            ClientMsg::Move { direction } => format!("{{\"direction\":{}}}", direction.code()),
            ClientMsg::Build { map, reference } => {
                let mut out = String::from("{\"map\":");
                super::server::write_map_doc(&mut out, map);
                if let Some(reference) = reference {
                    out.push_str(",\"ref\":");
                    out.push_str(&serde_json::Value::from(reference.as_str()).to_string());
                }
                out.push('}');
                out
            }
        };
        format!("{:02}{body}", self.code())
    }
}

#[derive(Deserialize)]
struct EnterJson {
    #[serde(deserialize_with = "id_from_str_or_number")]
    room_id: u64,
    #[serde(default)]
    authorization: Option<String>,
}

#[derive(Deserialize)]
struct MoveJson {
    direction: u64,
}

#[derive(Deserialize)]
struct BuildJson {
    map: MapJson,
    #[serde(default, rename = "ref")]
    reference: Option<String>,
}

/// The longest `"ref"` a BUILD may carry, in characters: it is echoed, so it stays small.
pub const MAX_REF_CHARS: usize = 64;

/// Read one client frame. Anything that is not a valid client message is an
/// error carrying its protocol code (76900 for a code clients may not send,
/// 76100 for everything else).
pub fn parse_client_frame(frame: &str) -> Result<ClientMsg, ProtoError> {
    let (code, body) = split_frame(frame)?;
    match code {
        codes::ENTER => {
            let enter: EnterJson = from_body(body)?;
            Ok(ClientMsg::Enter {
                room_id: RoomId(enter.room_id),
                authorization: enter.authorization,
            })
        }
        codes::SYNC => from_body::<serde::de::IgnoredAny>(body).map(|_| ClientMsg::Sync),
        codes::LEAVE => from_body::<serde::de::IgnoredAny>(body).map(|_| ClientMsg::Leave),
        codes::MOVE => {
            let step: MoveJson = from_body(body)?;
            let direction = Direction::from_code(step.direction)
                .ok_or_else(|| ProtoError::Body(format!("direction {} is not 0..=3", step.direction)))?;
            Ok(ClientMsg::Move { direction })
        }
        codes::BUILD => {
            let build: BuildJson = from_body(body)?;
            if let Some(reference) = &build.reference {
                let chars = reference.chars().count();
                if chars == 0 || chars > MAX_REF_CHARS {
                    return Err(ProtoError::Body(format!(
                        "ref must be 1..={MAX_REF_CHARS} characters, not {chars}"
                    )));
                }
            }
            Ok(ClientMsg::Build {
                map: build.map.into(),
                reference: build.reference,
            })
        }
        other => Err(ProtoError::CodeNotAllowed(other)),
    }
}

/// Parse a body that must be a JSON object of shape `T`.
pub(super) fn from_body<'a, T: Deserialize<'a>>(body: &'a str) -> Result<T, ProtoError> {
    if !body.trim_start().starts_with('{') {
        return Err(ProtoError::Body("the body must be a JSON object".to_owned()));
    }
    serde_json::from_str(body).map_err(|e| ProtoError::Body(e.to_string()))
}
