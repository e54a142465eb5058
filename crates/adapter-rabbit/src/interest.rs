//! Which rooms this node listens to, and what of a delivery reaches the engine.
//!
//! Pure bookkeeping, no I/O: the consumer feeds every delivery through
//! [`Interest::accept`] and forwards what comes out. The payload is never
//! read: its order and numbering are the engine's to check.

use std::collections::BTreeSet;

use bytes::Bytes;
use room_core::RoomId;
use room_ports::BusInbound;

use crate::config::{Names, room_of_key};

/// The rooms this node wants.
#[derive(Debug, Default)]
pub(crate) struct Interest {
    rooms: BTreeSet<RoomId>,
}

impl Interest {
    /// Want `room`'s events. Returns whether it was not wanted before.
    pub(crate) fn want(&mut self, room: RoomId) -> bool {
        self.rooms.insert(room)
    }

    /// Stop wanting `room`; events of it still in flight are dropped.
    /// Returns whether it was wanted.
    pub(crate) fn drop_room(&mut self, room: RoomId) -> bool {
        self.rooms.remove(&room)
    }

    /// Every wanted room, in order.
    pub(crate) fn rooms(&self) -> Vec<RoomId> {
        self.rooms.iter().copied().collect()
    }

    /// What to hand the engine for a delivery of `payload` from `exchange`
    /// with `routing_key`: an event of the room the key names, a message to
    /// this node, or nothing (a room no longer wanted, a key or exchange this
    /// adapter does not publish with).
    pub(crate) fn accept(
        &self,
        names: &Names,
        exchange: &str,
        routing_key: &str,
        payload: Bytes,
    ) -> Option<BusInbound> {
        if exchange == names.nodes_exchange {
            return Some(BusInbound::Node { payload });
        }
        if exchange != names.rooms_exchange {
            tracing::warn!(exchange, routing_key, "delivery from an unknown exchange dropped");
            return None;
        }
        let Some(room) = room_of_key(routing_key) else {
            tracing::warn!(routing_key, "room event with an unreadable routing key dropped");
            return None;
        };
        if !self.rooms.contains(&room) {
            // Published before the unbind took effect.
            tracing::trace!(%room, "event of an unwanted room dropped");
            return None;
        }
        Some(BusInbound::Event { room, payload })
    }
}

#[cfg(test)]
mod tests {
    use room_ports::NodeId;

    use super::*;
    use crate::config::{RabbitConfig, room_key};

    fn names() -> Names {
        RabbitConfig::new("amqp://x", "p", NodeId("n1".into())).names()
    }

    fn event(interest: &Interest, room: u64, payload: &'static [u8]) -> Option<BusInbound> {
        let names = names();
        interest.accept(
            &names,
            &names.rooms_exchange,
            &room_key(RoomId(room)),
            Bytes::from_static(payload),
        )
    }

    #[test]
    fn an_event_of_a_wanted_room_passes_with_its_payload_untouched() {
        let mut interest = Interest::default();
        interest.want(RoomId(1));
        let payload = b"\xff\x00{\"not\":json";
        assert_eq!(
            event(&interest, 1, payload),
            Some(BusInbound::Event {
                room: RoomId(1),
                payload: Bytes::from_static(payload)
            })
        );
    }

    #[test]
    fn events_of_unwanted_rooms_are_dropped() {
        let mut interest = Interest::default();
        interest.want(RoomId(1));
        assert_eq!(event(&interest, 2, b"1"), None);
        assert!(interest.drop_room(RoomId(1)));
        assert_eq!(event(&interest, 1, b"2"), None, "still passed after drop_room");
        assert!(interest.want(RoomId(1)));
        assert!(event(&interest, 1, b"3").is_some());
    }

    #[test]
    fn payloads_pass_whatever_their_order_or_repetition() {
        let mut interest = Interest::default();
        interest.want(RoomId(1));
        for payload in [b"1" as &'static [u8], b"3", b"3", b"2", b""] {
            let item = event(&interest, 1, payload);
            assert!(
                matches!(&item, Some(BusInbound::Event { payload: p, .. }) if p == payload),
                "{item:?}"
            );
        }
    }

    #[test]
    fn node_messages_always_pass() {
        let interest = Interest::default();
        let names = names();
        assert_eq!(
            interest.accept(&names, &names.nodes_exchange, "n1", Bytes::from_static(b"x")),
            Some(BusInbound::Node {
                payload: Bytes::from_static(b"x")
            })
        );
    }

    #[test]
    fn deliveries_this_adapter_did_not_route_are_dropped() {
        let mut interest = Interest::default();
        interest.want(RoomId(1));
        let names = names();
        let payload = || Bytes::from_static(b"1");
        assert_eq!(
            interest.accept(&names, &names.rooms_exchange, "room.01", payload()),
            None
        );
        assert_eq!(
            interest.accept(&names, &names.rooms_exchange, "n1", payload()),
            None
        );
        assert_eq!(interest.accept(&names, "", "room.1", payload()), None);
        assert_eq!(interest.accept(&names, "other.rooms", "room.1", payload()), None);
    }
}
