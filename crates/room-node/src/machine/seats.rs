//! The seats of a hosted room (PROTOCOL.md §9): which users opted into
//! resume and under which seat number, and the room's numbered events kept
//! for replay. The host decides when a seat is given, kept while its
//! socket is away, and ended; this is what it keeps for that.

use std::time::Duration;

use room_core::{Outgoing, Replay, ReplayLog, RoomId, ServerMsg, SessionId, UserId};
use room_ports::SnapshotSeats;

use crate::ordered::IdMap;
use crate::seat::{SeatClaim, SeatKey};

/// Bytes of frames one room keeps for replay, whatever `--resume-log` says
/// (a BUILD's SYNC carries the whole map).
const REPLAY_LOG_BYTES: usize = 256 * 1024;

/// What a hosted room needs to offer seats.
#[derive(Clone, Debug)]
pub(crate) struct SeatSetup {
    pub key: SeatKey,
    /// How long a seat is held after its socket went away.
    pub grace: Duration,
    /// How many of its last events a room keeps for replay.
    pub log: usize,
    /// Frames and bytes the queue of a resuming socket holds
    /// (`EngineConfig::numbered_outbox_capacity`, `outbox_bytes`): a replay
    /// and its RESUMED must fit, see [`Seats::since`].
    pub replay_frames: usize,
    pub replay_bytes: usize,
    /// Seat numbers given start above it. The driver passes a reading of
    /// its clock (unix milliseconds times 1000), so that a room that starts
    /// afresh, its seats lost, never gives a number an earlier life of the
    /// room gave: a token kept from then names no seat (76408), never
    /// another socket's (the room's numbers may start again, its seats' not).
    pub life: u64,
}

/// A seat a resume asks for, and whether this room can replay to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SeatCheck {
    /// Held, and given here: the events it missed may be replayed.
    Held,
    /// Held, but given by an earlier host of the room: a fresh SYNC.
    Inherited,
    /// No such seat (any more).
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    number: u64,
    /// Given by an earlier host (from its snapshot), not numbered here.
    inherited: bool,
}

pub(super) struct Seats {
    key: SeatKey,
    pub(super) grace: Duration,
    held: IdMap<UserId, Held>,
    /// The last seat number given (or inherited or carried): above every
    /// number an earlier life of the room gave (see [`SeatSetup::life`]).
    next: u64,
    log: ReplayLog,
    log_capacity: usize,
    replay_frames: usize,
    replay_bytes: usize,
}

/// Bytes kept free in a resuming socket's queue for the `13 RESUMED` before
/// the replay (its room id and two numbers take far less).
const RESUMED_BYTES: usize = 128;

impl Seats {
    /// Seats of a room whose events so far number up to `last` (the room's
    /// own sequence number, which only grows, across hosts too).
    pub(super) fn new(setup: SeatSetup, last: u64) -> Seats {
        Seats {
            key: setup.key,
            grace: setup.grace,
            held: IdMap::default(),
            next: setup.life,
            log: ReplayLog::new(setup.log, REPLAY_LOG_BYTES, last),
            log_capacity: setup.log,
            replay_frames: setup.replay_frames,
            replay_bytes: setup.replay_bytes,
        }
    }

    /// Continue the seats an earlier host (or an earlier run of this node)
    /// wrote: its numbering, and, when it wrote them `whole`, its log, so
    /// that what it gave replays here as if given here.
    pub(super) fn carry_on(&mut self, carried: &SnapshotSeats) {
        self.next = self.next.max(carried.last_seat);
        self.log = if carried.whole {
            ReplayLog::continuing(self.log_capacity, REPLAY_LOG_BYTES, carried.log.clone())
        } else {
            ReplayLog::new(self.log_capacity, REPLAY_LOG_BYTES, carried.log.last)
        };
    }

    /// The seats as they travel: the numbering always, the log when `whole`.
    /// Bounded as the log is (`--resume-log` events, 256 KiB of frames).
    pub(super) fn written(&self, whole: bool) -> SnapshotSeats {
        let mut log = self.log.tail();
        if !whole {
            log.events.clear();
        }
        SnapshotSeats {
            last_seat: self.next,
            log,
            whole,
        }
    }

    /// Number the room's events from after `last` on, keeping nothing from
    /// before: a host that took the room over from another continues from
    /// the room's sequence number, above every number the earlier host
    /// gave, so no client's number from it passes for one of these (and
    /// numbers stay small enough for any client, JavaScript's too).
    pub(super) fn renumber_from(&mut self, last: u64) {
        self.log.restart_at(last);
    }

    /// Users holding a seat.
    pub(super) fn held(&self) -> usize {
        self.held.len()
    }

    /// The number of the last room event.
    pub(super) fn last(&self) -> u64 {
        self.log.last()
    }

    /// Number room event `event`, and keep it for replay while anyone holds
    /// a seat. Returns its number and, when kept, its encoded frame.
    pub(super) fn number(&mut self, event: &Outgoing) -> (u64, Option<String>) {
        if self.held.is_empty() {
            return (self.log.skip(), None);
        }
        let frame = event.msg.encode();
        let number = self.log.record(event.audience, frame.clone());
        (number, Some(frame))
    }

    /// `user`'s seat: the one it holds, or a new one.
    pub(super) fn give(&mut self, user: UserId) -> u64 {
        if let Some(held) = self.held.get(&user)
            && !held.inherited
        {
            return held.number;
        }
        self.renew(user)
    }

    /// A new seat for `user` (its old token is no longer valid).
    pub(super) fn renew(&mut self, user: UserId) -> u64 {
        self.next += 1;
        let number = self.next;
        self.held.insert(
            user,
            Held {
                number,
                inherited: false,
            },
        );
        number
    }

    /// Hold `user`'s seat `number` that an earlier host of the room gave;
    /// `replayable`: its log came along whole, so its events replay here.
    pub(super) fn inherit(&mut self, user: UserId, number: u64, replayable: bool) {
        self.next = self.next.max(number);
        self.held.insert(
            user,
            Held {
                number,
                inherited: !replayable,
            },
        );
    }

    pub(super) fn end(&mut self, user: UserId) {
        self.held.remove(&user);
    }

    pub(super) fn seat_of(&self, user: UserId) -> Option<u64> {
        self.held.get(&user).map(|held| held.number)
    }

    pub(super) fn check(&self, user: UserId, number: u64) -> SeatCheck {
        match self.held.get(&user) {
            Some(held) if held.number == number && held.inherited => SeatCheck::Inherited,
            Some(held) if held.number == number => SeatCheck::Held,
            _ => SeatCheck::Gone,
        }
    }

    /// What a socket of `session` that saw up to event `seq` missed: a
    /// replay only when it and its RESUMED fit the new socket's empty queue.
    /// The queue never waits: pushed over its bounds it coalesces (older
    /// moves go, and the `seq`s jump) or closes with 1013, so a replay that
    /// does not fit could not be the exact one §9 promises. It is then "more
    /// than the room keeps" for that socket: a fresh SYNC and a new SEAT.
    /// The bounds are this node's; a relay's socket has its own node's,
    /// the same where the nodes share their settings.
    pub(super) fn since(&self, seq: u64, session: SessionId) -> Replay {
        match self.log.since(seq, session) {
            Replay::Events(frames) if !self.fits(&frames) => {
                tracing::debug!(
                    events = frames.len(),
                    "a replay would not fit the resuming socket's queue; SYNC instead"
                );
                Replay::Sync
            }
            replay => replay,
        }
    }

    fn fits(&self, frames: &[String]) -> bool {
        let bytes: usize = frames.iter().map(String::len).sum();
        frames.len() < self.replay_frames && bytes.saturating_add(RESUMED_BYTES) <= self.replay_bytes
    }

    /// The SEAT message naming `user`'s seat `number` in `room`, encoded.
    pub(super) fn seat_frame(&self, user: UserId, room: RoomId, number: u64) -> String {
        let token = self.key.sign(SeatClaim {
            user,
            room,
            seat: number,
        });
        ServerMsg::Seat { token, room }.encode()
    }
}
