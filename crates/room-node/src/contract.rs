//! What the nodes of a cluster say to each other, as typed values: the
//! engine owns this contract; the bus only carries its bytes. A relay learns
//! what an event changed from its `Change`, never by parsing the client
//! frame, and checks the order of events by their host's epoch and sequence
//! number itself, whatever the bus under it does.

use bytes::Bytes;
use room_core::{Audience, Cell, Direction, ErrorCode, MapDoc, RoomId, ServerMsg, SessionId, UserId};
use room_ports::{NodeId, SessionAt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One event of a room, published once by the room's host for its relays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HostEvent {
    pub room: RoomId,
    /// The publishing host's lease epoch.
    pub epoch: u64,
    /// The room's number of this event (one more per event, per epoch).
    pub seq: u64,
    /// Who receives it (each relay resolves it against its own sessions).
    pub audience: Audience,
    /// What it changes, for the relays' own picture of the room.
    pub change: Change,
    /// The client frame, encoded once by the host; relays deliver it as is.
    pub frame: String,
    /// Its `"seq"` for sockets that opted into resume (PROTOCOL.md §9).
    #[serde(default)]
    pub number: Option<u64>,
    /// Frames for the same one socket right after it (a SEAT, a replay).
    #[serde(default)]
    pub then: Vec<String>,
    /// The session whose BUILD this SYNC answers, and that BUILD's `"ref"`:
    /// that one socket gets the frame with `"ref"` added (PROTOCOL.md §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<(SessionId, String)>,
}

/// What an event changes in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Change {
    /// Nothing: the host marks the number of its last event (and `frame` is empty).
    Marker,
    Entered {
        user: UserId,
        nickname: String,
        cell: Cell,
    },
    Moved {
        user: UserId,
        cell: Cell,
    },
    Left {
        user: UserId,
    },
    /// The whole room, as a SYNC shows it.
    Synced {
        users: Vec<(UserId, Cell, String)>,
    },
    /// The socket it is for was replaced by a newer one of its user (it closes).
    Replaced,
    /// An answer for one socket (an ERROR): changes nothing.
    Reply,
}

impl Change {
    pub(crate) fn of(msg: &ServerMsg) -> Change {
        match msg {
            ServerMsg::Enter { user, nickname, cell } => Change::Entered {
                user: *user,
                nickname: nickname.clone(),
                cell: *cell,
            },
            ServerMsg::Move { user, cell, .. } => Change::Moved {
                user: *user,
                cell: *cell,
            },
            ServerMsg::Leave { user } => Change::Left { user: *user },
            ServerMsg::Sync { room } => Change::Synced {
                users: room
                    .users
                    .iter()
                    .map(|u| (u.user, u.cell, u.nickname.clone()))
                    .collect(),
            },
            ServerMsg::ClosePreConnection { .. } => Change::Replaced,
            // Answers for one socket only; the room is unchanged.
            ServerMsg::Error { .. } | ServerMsg::Seat { .. } | ServerMsg::Resumed { .. } => Change::Reply,
        }
    }
}

/// A local session's command, as a relay forwards it to the room's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum NodeCommand {
    /// `resume`: the socket opted into resume (PROTOCOL.md §9) and gets a seat.
    Enter {
        resume: bool,
    },
    /// Take up the user's `seat`; the socket saw the room's events up to `seq`.
    Resume {
        seat: u64,
        seq: u64,
    },
    /// The socket went without LEAVE: its seat, if any, is held.
    Away,
    Sync,
    Move {
        direction: Direction,
    },
    Leave,
    /// `ticket` names it for the relay's deadline (the host answers `BuildDone`).
    Build {
        map: MapDoc,
        ticket: u64,
        /// The BUILD's `"ref"`, echoed in the builder's SYNC (a host that
        /// does not know the field answers without it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

/// A message addressed to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum NodeMessage {
    /// A relay forwards a user's command to the room's host.
    Command {
        room: RoomId,
        /// The session that sent it, and its node (where replies go).
        from: SessionAt,
        /// The user and nickname, from their verified token.
        user: UserId,
        nickname: String,
        command: NodeCommand,
    },
    /// An ERROR for one session only, answering its command.
    Reply {
        session: SessionId,
        code: ErrorCode,
        message: String,
    },
    /// The host refused a relayed ENTER, or no longer has the session: it is
    /// not in the room.
    EnterRefused {
        room: RoomId,
        session: SessionId,
        code: ErrorCode,
        message: String,
    },
    /// A relay's sessions in `room` now, sent to the host at every check:
    /// the host forgets that node's other sessions in the room (a LEAVE lost
    /// on the way leaves no ghost) and refuses entered ones it no longer has.
    Members {
        room: RoomId,
        node: NodeId,
        /// Its sessions the host answered as entered.
        entered: Vec<SessionId>,
        /// Its sessions whose ENTER is on the way.
        entering: Vec<SessionId>,
    },
    /// A room's host asks a node with sessions in the room which are still
    /// there; answered with `Members` (empty when the node has none).
    AskMembers { room: RoomId, host: NodeId },
    /// The host gave a relayed BUILD its answer: `refused` (the ERROR for the
    /// session, which the relay delivers), or none (the SYNC of the stored map
    /// went to the room). The relay stops waiting for it.
    BuildDone {
        room: RoomId,
        session: SessionId,
        ticket: u64,
        refused: Option<(ErrorCode, String)>,
    },
    /// A relay lost events of `room` and asks its host for fresh SYNCs.
    Resync { room: RoomId, node: NodeId },
    /// A relayed command reached a node that does not host `room` (any
    /// more: it handed the room over): nothing was applied, and the relay
    /// holds `command` until it finds the room's host, then sends it there.
    Bounced {
        room: RoomId,
        /// The node that did not apply it.
        node: NodeId,
        session: SessionId,
        command: NodeCommand,
    },
    /// The host of `room` handed it over (its lease is released): a relay
    /// holds its sessions' commands and asks who hosts the room now.
    HandedOver { room: RoomId },
}

/// Why a payload from another node could not be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable message from another node: {0}")]
pub(crate) struct ContractError(#[from] serde_json::Error);

/// The bytes of `value` for the bus.
pub(crate) fn encode<T: Serialize>(value: &T) -> Bytes {
    // These plain data types always serialise: every map key is a string.
    Bytes::from(serde_json::to_vec(value).expect("node messages always serialise"))
}

/// Read a payload another node sent.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, ContractError> {
    Ok(serde_json::from_slice(payload)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_events_read_back_as_they_were_sent() {
        let command = NodeMessage::Command {
            room: RoomId(3),
            from: SessionAt {
                node: NodeId("n1".into()),
                session: SessionId(9),
            },
            user: UserId(4),
            nickname: "ann \"a\"".into(),
            command: NodeCommand::Move {
                direction: Direction::Left,
            },
        };
        assert_eq!(decode::<NodeMessage>(&encode(&command)).unwrap(), command);
        let event = HostEvent {
            room: RoomId(3),
            epoch: 1_700_000_000_000,
            seq: 12,
            audience: Audience::AllExcept(SessionId(2)),
            change: Change::Moved {
                user: UserId(4),
                cell: Cell { x: 1, y: 2 },
            },
            frame: "20{\"user_id\":\"4\"}".into(),
            number: Some(5),
            then: vec!["12{}".into()],
            reply: Some((SessionId(2), "b\"1".into())),
        };
        assert_eq!(decode::<HostEvent>(&encode(&event)).unwrap(), event);
    }

    #[test]
    fn an_unreadable_payload_is_an_error_not_a_panic() {
        assert!(decode::<NodeMessage>(b"{\"Command\":").is_err());
        assert!(decode::<HostEvent>(b"\xff\xfe").is_err());
    }
}
