//! Per-room ordering checks for events arriving from a host.

use std::collections::HashMap;

use room_core::RoomId;

/// What to do with an arriving event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Next in order: deliver it.
    Deliver,
    /// Events were skipped (or a new host took over): deliver nothing more of
    /// this room until it is resynchronised.
    Gap {
        /// The sequence number expected.
        expected: u64,
        /// The one that arrived.
        got: u64,
    },
    /// From an older host epoch, or already seen: drop it.
    Stale,
}

/// Tracks, per room, the host epoch and the last sequence number delivered.
#[derive(Debug, Default)]
pub struct SequenceTracker {
    rooms: HashMap<RoomId, (u64, u64)>,
}

impl SequenceTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Check an event of `room` with `epoch` and `seq`, and record it.
    ///
    /// The first event seen of a room is accepted as the starting point; a new
    /// epoch restarts the room's numbering from that event (the new host
    /// continues from its snapshot, so the engine resynchronises anyway).
    pub fn check(&mut self, room: RoomId, epoch: u64, seq: u64) -> SequenceCheck {
        let Some((last_epoch, last_seq)) = self.rooms.get_mut(&room) else {
            self.rooms.insert(room, (epoch, seq));
            return SequenceCheck::Deliver;
        };
        if epoch < *last_epoch || (epoch == *last_epoch && seq <= *last_seq) {
            return SequenceCheck::Stale;
        }
        let expected = *last_seq + 1;
        let result = if epoch == *last_epoch && seq == expected {
            SequenceCheck::Deliver
        } else {
            SequenceCheck::Gap { expected, got: seq }
        };
        *last_epoch = epoch;
        *last_seq = seq;
        result
    }

    /// Accept `seq` as the room's current position (after a fresh SYNC).
    pub fn reset(&mut self, room: RoomId, epoch: u64, seq: u64) {
        self.rooms.insert(room, (epoch, seq));
    }

    /// Forget `room` (no local users left).
    pub fn forget(&mut self, room: RoomId) {
        self.rooms.remove(&room);
    }
}
