//! The last events of a room, kept so that a socket that dropped can be
//! given exactly what it missed (PROTOCOL.md §9). Pure: the room's events go
//! in as they are emitted, with their room event number; a resume asks for
//! what came after the number the client saw.

use std::collections::VecDeque;

use crate::codec::with_seq;
use crate::ids::SessionId;
use crate::room::Audience;

/// One room event as it went out, without its number (added on replay).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Logged {
    /// Its room event number.
    pub number: u64,
    /// Who received it.
    pub audience: Audience,
    /// Its frame as encoded without its number.
    pub frame: String,
}

/// A log as it travels (PROTOCOL.md §9): the number of the room's last event
/// and the events kept, oldest first, so that the next host of a room (or
/// the same node started again) continues it whole. Its size is the log's
/// bound: at most its capacity of events and its byte budget of frames.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayTail {
    /// The number of the last room event (the next one is this plus one).
    pub last: u64,
    /// The events kept, oldest first, numbered up to `last` without a hole.
    pub events: Vec<Logged>,
}

/// What a resume from a given number gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The events after it, in order, each frame with its `"seq"`; the last
    /// one's number is the client's plus their count.
    Events(Vec<String>),
    /// They cannot be replayed (older than the log keeps, newer than the
    /// room's, or one of them was not for this socket): a fresh SYNC.
    Sync,
}

/// A room's last events: at most `capacity` of them and `byte_budget` bytes
/// of frames (a BUILD's SYNC carries the whole map), the oldest going first.
#[derive(Debug, Clone)]
pub struct ReplayLog {
    capacity: usize,
    byte_budget: usize,
    bytes: usize,
    events: VecDeque<Logged>,
    /// The number of the last event recorded (0: none yet).
    last: u64,
}

impl ReplayLog {
    /// A log keeping up to `capacity` events and `byte_budget` bytes, whose
    /// next event is numbered `last + 1`.
    pub fn new(capacity: usize, byte_budget: usize, last: u64) -> ReplayLog {
        ReplayLog {
            capacity,
            byte_budget,
            bytes: 0,
            events: VecDeque::new(),
            last,
        }
    }

    /// A log continuing `tail` (written by [`ReplayLog::tail`], here or on
    /// another node): its next event is numbered `tail.last + 1`, and what
    /// it kept is replayed as if recorded here. A tail that does not end at
    /// `last` without a hole, or holds more than this log keeps, is cut to
    /// its newest events that do.
    pub fn continuing(capacity: usize, byte_budget: usize, tail: ReplayTail) -> ReplayLog {
        let mut log = ReplayLog::new(capacity, byte_budget, tail.last);
        let mut expected = tail.last;
        let mut kept = Vec::new();
        for logged in tail.events.into_iter().rev() {
            if logged.number != expected || kept.len() >= capacity {
                break;
            }
            if log.bytes + logged.frame.len() > byte_budget && !kept.is_empty() {
                break;
            }
            log.bytes += logged.frame.len();
            expected = expected.saturating_sub(1);
            kept.push(logged);
        }
        log.events = kept.into_iter().rev().collect();
        log
    }

    /// The log as it travels: see [`ReplayTail`].
    pub fn tail(&self) -> ReplayTail {
        ReplayTail {
            last: self.last,
            events: self.events.iter().cloned().collect(),
        }
    }

    /// The number of the last room event (what a SYNC now contains).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Events kept now.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is kept.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Record the next room event: `frame` as encoded without its number.
    /// Returns its number.
    pub fn record(&mut self, audience: Audience, frame: String) -> u64 {
        self.last += 1;
        if self.capacity == 0 {
            return self.last;
        }
        self.bytes += frame.len();
        self.events.push_back(Logged {
            number: self.last,
            audience,
            frame,
        });
        while self.events.len() > self.capacity || (self.bytes > self.byte_budget && self.events.len() > 1) {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.frame.len();
            }
        }
        self.last
    }

    /// Number the next room event without keeping it (nobody could resume
    /// to see it). Returns its number. What was kept goes too: a replay
    /// across the event it does not hold would skip it.
    pub fn skip(&mut self) -> u64 {
        self.restart_at(self.last + 1);
        self.last
    }

    /// Keep nothing, and number the next event `last + 1`.
    pub fn restart_at(&mut self, last: u64) {
        self.events.clear();
        self.bytes = 0;
        self.last = last;
    }

    /// What a socket of `session` that saw up to event `seq` missed.
    pub fn since(&self, seq: u64, session: SessionId) -> Replay {
        if seq > self.last {
            return Replay::Sync;
        }
        if seq == self.last {
            return Replay::Events(Vec::new());
        }
        let Some(first) = self.events.front() else {
            return Replay::Sync;
        };
        if first.number > seq + 1 {
            return Replay::Sync;
        }
        let mut frames = Vec::with_capacity((self.last - seq) as usize);
        for logged in self.events.iter().filter(|l| l.number > seq) {
            let reaches = match logged.audience {
                Audience::All => true,
                Audience::AllExcept(except) => except != session,
                Audience::Session(only) => only == session,
            };
            if !reaches {
                // The socket was meant not to get it (it got a SYNC instead): the
                // numbers would not add up, so the room starts it afresh.
                return Replay::Sync;
            }
            frames.push(with_seq(&logged.frame, logged.number));
        }
        Replay::Events(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(n: u64, capacity: usize) -> ReplayLog {
        let mut log = ReplayLog::new(capacity, 1 << 20, 0);
        for i in 1..=n {
            log.record(Audience::All, format!("20{{\"i\":{i}}}"));
        }
        log
    }

    #[test]
    fn a_resume_gets_exactly_the_events_after_its_number() {
        let log = log_of(5, 10);
        assert_eq!(
            log.since(3, SessionId(1)),
            Replay::Events(vec![
                "20{\"i\":4,\"seq\":4}".into(),
                "20{\"i\":5,\"seq\":5}".into()
            ])
        );
        assert_eq!(log.since(5, SessionId(1)), Replay::Events(Vec::new()));
    }

    #[test]
    fn too_old_or_ahead_of_the_room_is_a_sync() {
        let log = log_of(20, 10);
        assert_eq!(
            log.since(9, SessionId(1)),
            Replay::Sync,
            "event 10 is no longer kept"
        );
        assert!(matches!(log.since(10, SessionId(1)), Replay::Events(events) if events.len() == 10));
        assert_eq!(log.since(21, SessionId(1)), Replay::Sync);
    }

    #[test]
    fn the_byte_budget_bounds_the_log_too() {
        let mut log = ReplayLog::new(100, 64, 0);
        for _ in 0..10 {
            log.record(Audience::All, "x".repeat(30) + "}");
        }
        assert_eq!(log.len(), 2);
        assert_eq!(log.last(), 10);
    }

    #[test]
    fn a_skipped_event_cannot_be_replayed_across() {
        let mut log = log_of(3, 10);
        assert_eq!(log.skip(), 4);
        log.record(Audience::All, "20{}".into());
        assert_eq!(log.since(3, SessionId(1)), Replay::Sync);
        assert_eq!(
            log.since(4, SessionId(1)),
            Replay::Events(vec!["20{\"seq\":5}".into()])
        );
    }

    #[test]
    fn a_log_continued_from_its_tail_replays_and_numbers_as_the_original() {
        let log = log_of(7, 5);
        let continued = ReplayLog::continuing(5, 1 << 20, log.tail());
        assert_eq!(continued.last(), 7);
        assert_eq!(continued.since(3, SessionId(1)), log.since(3, SessionId(1)));
        assert_eq!(
            continued.since(1, SessionId(1)),
            Replay::Sync,
            "event 2 was not kept"
        );
        let mut continued = continued;
        assert_eq!(continued.record(Audience::All, "20{}".into()), 8);
    }

    #[test]
    fn a_tail_with_a_hole_or_over_the_bounds_keeps_only_its_newest_unbroken_run() {
        let mut tail = log_of(6, 10).tail();
        tail.events.remove(2); // event 3
        let continued = ReplayLog::continuing(10, 1 << 20, tail.clone());
        assert_eq!(continued.len(), 3, "events 4 to 6");
        assert_eq!(
            continued.since(3, SessionId(1)).clone(),
            log_of(6, 10).since(3, SessionId(1))
        );
        assert_eq!(ReplayLog::continuing(2, 1 << 20, tail).len(), 2);
    }

    #[test]
    fn an_event_the_socket_was_not_to_get_makes_it_a_sync() {
        let mut log = ReplayLog::new(10, 1 << 20, 0);
        log.record(Audience::All, "20{}".into());
        log.record(Audience::AllExcept(SessionId(1)), "10{}".into());
        assert_eq!(log.since(0, SessionId(1)), Replay::Sync);
        assert!(matches!(log.since(0, SessionId(2)), Replay::Events(events) if events.len() == 2));
    }
}
