//! Which rooms this node listens to, and the ordering check of their events.
//!
//! Pure bookkeeping, no I/O: the consumer feeds every decoded message through
//! [`Interest::accept`] and forwards what comes out.

use std::collections::BTreeSet;

use room_core::RoomId;
use room_ports::{BusInbound, RoomEvent, SequenceCheck, SequenceTracker};

use crate::envelope::Envelope;

/// The rooms this node wants, and where each room's event sequence stands.
#[derive(Debug, Default)]
pub(crate) struct Interest {
    rooms: BTreeSet<RoomId>,
    tracker: SequenceTracker,
}

impl Interest {
    /// Want `room`'s events; its sequence starts afresh from the next event.
    /// Returns whether it was not wanted before.
    pub(crate) fn want(&mut self, room: RoomId) -> bool {
        let added = self.rooms.insert(room);
        if added {
            self.tracker.forget(room);
        }
        added
    }

    /// Stop wanting `room`; events of it still in flight are dropped.
    /// Returns whether it was wanted.
    pub(crate) fn drop_room(&mut self, room: RoomId) -> bool {
        self.tracker.forget(room);
        self.rooms.remove(&room)
    }

    /// Whether `room` is wanted.
    pub(crate) fn wants(&self, room: RoomId) -> bool {
        self.rooms.contains(&room)
    }

    /// Every wanted room, in order.
    pub(crate) fn rooms(&self) -> Vec<RoomId> {
        self.rooms.iter().copied().collect()
    }

    /// Forget every room's position (after a reconnection, which is reported
    /// as a gap of every wanted room): the next event of each is a new start.
    pub(crate) fn restart_sequences(&mut self) {
        self.tracker = SequenceTracker::new();
    }

    /// What to hand the engine for one received message: nothing (an event of
    /// an unwanted room, a stale or duplicate event), the message itself, or a
    /// [`BusInbound::Gap`] followed by the event that revealed it.
    pub(crate) fn accept(&mut self, envelope: Envelope) -> Vec<BusInbound> {
        match envelope {
            Envelope::Node(message) => vec![BusInbound::Node(message)],
            Envelope::Event(event) => self.accept_event(event),
        }
    }

    fn accept_event(&mut self, event: RoomEvent) -> Vec<BusInbound> {
        if !self.wants(event.room) {
            tracing::trace!(room = %event.room, seq = event.seq, "event of an unwanted room dropped");
            return Vec::new();
        }
        match self.tracker.check(event.room, event.epoch, event.seq) {
            SequenceCheck::Deliver => vec![BusInbound::Event(event)],
            SequenceCheck::Stale => {
                tracing::debug!(room = %event.room, epoch = event.epoch, seq = event.seq, "stale event dropped");
                Vec::new()
            }
            SequenceCheck::Gap { expected, got } => {
                tracing::info!(room = %event.room, expected, got, epoch = event.epoch, "gap in room events");
                vec![
                    BusInbound::Gap {
                        rooms: vec![event.room],
                    },
                    BusInbound::Event(event),
                ]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use room_core::{Audience, SessionId};
    use room_ports::{NodeId, NodeMessage};

    use super::*;

    fn event(room: u64, epoch: u64, seq: u64) -> Envelope {
        Envelope::Event(RoomEvent {
            room: RoomId(room),
            epoch,
            seq,
            audience: Audience::All,
            frame: format!("F{seq}"),
        })
    }

    fn seqs(out: &[BusInbound]) -> Vec<String> {
        out.iter()
            .map(|item| match item {
                BusInbound::Event(e) => format!("e{}", e.seq),
                BusInbound::Gap { rooms } => format!("gap{rooms:?}"),
                BusInbound::Node(_) => "node".into(),
            })
            .collect()
    }

    #[test]
    fn events_of_unwanted_rooms_are_dropped() {
        let mut interest = Interest::default();
        interest.want(RoomId(1));
        assert!(interest.accept(event(2, 1, 1)).is_empty());
        assert_eq!(seqs(&interest.accept(event(1, 1, 1))), ["e1"]);
    }

    #[test]
    fn a_skipped_sequence_number_reports_a_gap_then_the_event() {
        let mut interest = Interest::default();
        interest.want(RoomId(1));
        interest.accept(event(1, 1, 1));
        assert_eq!(seqs(&interest.accept(event(1, 1, 3))), ["gap[RoomId(1)]", "e3"]);
        assert_eq!(seqs(&interest.accept(event(1, 1, 4))), ["e4"]);
    }

    #[test]
    fn stale_epochs_and_duplicates_are_dropped() {
        let mut interest = Interest::default();
        interest.want(RoomId(1));
        interest.accept(event(1, 5, 10));
        assert!(interest.accept(event(1, 5, 10)).is_empty());
        assert!(interest.accept(event(1, 4, 11)).is_empty());
        assert_eq!(seqs(&interest.accept(event(1, 6, 1))), ["gap[RoomId(1)]", "e1"]);
    }

    #[test]
    fn wanting_a_room_again_starts_its_sequence_afresh() {
        let mut interest = Interest::default();
        interest.want(RoomId(1));
        interest.accept(event(1, 1, 1));
        assert!(interest.drop_room(RoomId(1)));
        assert!(interest.want(RoomId(1)));
        assert_eq!(seqs(&interest.accept(event(1, 1, 50))), ["e50"]);
        interest.restart_sequences();
        assert_eq!(seqs(&interest.accept(event(1, 1, 90))), ["e90"]);
    }

    #[test]
    fn node_messages_always_pass() {
        let mut interest = Interest::default();
        let message = NodeMessage::Resync {
            room: RoomId(3),
            node: NodeId("a".into()),
        };
        assert_eq!(seqs(&interest.accept(Envelope::Node(message))), ["node"]);
        let close = NodeMessage::CloseSession {
            session: SessionId(1),
            frame: None,
            code: 4000,
        };
        assert_eq!(seqs(&interest.accept(Envelope::Node(close))), ["node"]);
    }
}
