//! The bytes on the wire: one JSON document per AMQP message.
//!
//! A room event carries its room, the host's epoch, the room's sequence
//! number and the already-encoded client frame, so a relay hands the frame to
//! its sockets as received, never re-encoding it.

use room_ports::{NodeMessage, RoomEvent};
use serde::{Deserialize, Serialize};

/// What one AMQP message holds, tagged by kind (`{"kind":"event","body":{..}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Envelope {
    /// A room event from its host (rooms exchange).
    Event(RoomEvent),
    /// A message addressed to one node (nodes exchange).
    Node(NodeMessage),
}

/// Why a received message could not be read.
#[derive(Debug, thiserror::Error)]
#[error("undecodable bus message: {0}")]
pub struct DecodeError(#[from] serde_json::Error);

impl Envelope {
    /// Encode a borrowed room event without cloning it.
    pub fn encode_event(event: &RoomEvent) -> Vec<u8> {
        encode(&EnvelopeRef::Event(event))
    }

    /// Encode a borrowed node message without cloning it.
    pub fn encode_node(message: &NodeMessage) -> Vec<u8> {
        encode(&EnvelopeRef::Node(message))
    }

    /// Read one message body.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// The borrowed twin of [`Envelope`], serialised identically.
#[derive(Serialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
enum EnvelopeRef<'a> {
    Event(&'a RoomEvent),
    Node(&'a NodeMessage),
}

fn encode(envelope: &EnvelopeRef<'_>) -> Vec<u8> {
    // Serialising these plain data types into a Vec cannot fail: every map key is a string.
    serde_json::to_vec(envelope).expect("bus envelopes always serialise")
}

#[cfg(test)]
mod tests {
    use room_core::{Audience, RoomId, SessionId, UserId};
    use room_ports::{NodeId, SessionAt};

    use super::*;

    #[test]
    fn an_event_round_trips_with_its_frame_untouched() {
        let event = RoomEvent {
            room: RoomId(7),
            epoch: 3,
            seq: 41,
            audience: Audience::AllExcept(SessionId(9)),
            frame: "MOVE|1|2|\"quoted\"\n".into(),
        };
        let bytes = Envelope::encode_event(&event);
        assert_eq!(Envelope::decode(&bytes).unwrap(), Envelope::Event(event));
    }

    #[test]
    fn a_node_message_round_trips() {
        let message = NodeMessage::Command {
            room: RoomId(7),
            from: SessionAt {
                node: NodeId("relay".into()),
                session: SessionId(5),
            },
            user: UserId(8),
            nickname: "ann".into(),
            frame: "MOVE 1".into(),
        };
        let bytes = Envelope::encode_node(&message);
        assert_eq!(Envelope::decode(&bytes).unwrap(), Envelope::Node(message));
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        assert!(Envelope::decode(b"\xff{not json").is_err());
        assert!(Envelope::decode(br#"{"kind":"other","body":1}"#).is_err());
    }
}
