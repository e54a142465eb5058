//! Resume (PROTOCOL.md §9) in a hosted room: a seat is given to a user
//! whose socket opted in, held while its socket is away, and taken up again
//! by a new socket that presents it, which gets what it missed.

use std::time::Instant;

use room_core::{Command, ErrorCode, Outgoing, Replay, ServerMsg, SessionId, UserId};
use room_ports::NodeId;

use super::EnterAnswer;
use super::host::{At, Host, HostEffect};
use super::seats::SeatCheck;

const SEAT_EXPIRED: &str = "seat expired; enter again";

/// A socket asking for its user's seat.
pub(super) struct Resuming {
    pub session: SessionId,
    pub user: UserId,
    pub nickname: String,
    pub seat: u64,
    pub seq: u64,
    /// The socket's node, when it is another one's.
    pub node: Option<NodeId>,
}

/// How a resume was answered (for the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResumeOutcome {
    /// RESUMED, with this many events replayed.
    Replayed(usize),
    /// The seat was held but its events could not be replayed: a fresh SYNC.
    Synced,
    /// No such seat any more: 76408.
    Expired,
}

impl Host {
    /// The seat of `user` entering now with `events`: when its socket opted
    /// in, the one it holds if it entered again on the same socket, else a
    /// new one (an ENTER from a newer socket is §4's duplicate rule: it ends
    /// the old seat); none when it did not opt in. Returns the SEAT frame
    /// that follows the ENTER's SYNC.
    pub(super) fn seat_at_enter(&mut self, user: UserId, resume: bool, events: &[Outgoing]) -> Vec<String> {
        let room = self.room.id();
        let Some(seats) = &mut self.seats else {
            return Vec::new();
        };
        if !resume {
            seats.end(user);
            return Vec::new();
        }
        let replaced = events.iter().any(|e| e.msg.closes_with().is_some());
        let seat = if replaced {
            seats.renew(user)
        } else {
            seats.give(user)
        };
        vec![seats.seat_frame(user, room, seat)]
    }

    /// Seated users hold on to their seats this long after their socket went.
    fn away_until(&self) -> Instant {
        self.now + self.seats.as_ref().map(|s| s.grace).unwrap_or_default()
    }

    fn seated(&self, session: SessionId) -> bool {
        let Some(seats) = &self.seats else { return false };
        self.room
            .occupant_of_session(session)
            .is_some_and(|o| seats.seat_of(o.user).is_some())
    }

    /// `session`'s socket went away without LEAVE (or its node did): a
    /// seated user stays, unseen, for the grace; anyone else leaves.
    pub(super) fn lose(&mut self, session: SessionId) {
        if !self.seated(session) {
            return self.act(Command::Leave { session });
        }
        if self.at.get(&session) == Some(&At::Local) {
            self.effects.push_back(HostEffect::Detach { session });
        }
        let until = self.away_until();
        self.at.insert(session, At::Away { until });
        self.earliest_away = Some(self.earliest_away.map_or(until, |e| e.min(until)));
    }

    /// A socket of this node or another asks for its user's seat.
    pub(super) fn resume(&mut self, asking: Resuming) {
        let check = self
            .seats
            .as_ref()
            .map_or(SeatCheck::Gone, |s| s.check(asking.user, asking.seat));
        let old = self.room.occupant_of_user(asking.user).map(|o| o.session);
        if old == Some(asking.session) {
            // Its resume came twice (a bus may deliver a message twice): answered already.
            return;
        }
        let (Some(old), SeatCheck::Held | SeatCheck::Inherited) = (old, check) else {
            return self.refuse_resume(&asking);
        };
        let replay = match (check, &self.seats) {
            (SeatCheck::Held, Some(seats)) => seats.since(asking.seq, old),
            _ => Replay::Sync,
        };
        let Resuming {
            session,
            user,
            nickname,
            node,
            ..
        } = asking;
        // The same as an ENTER from a newer socket: the old one, if still
        // open, gets 98 and closes; the user keeps its place, nobody is told.
        let Ok(mut events) = self.apply_enter(session, user, nickname) else {
            return self.refuse_expired(node.as_ref(), session);
        };
        match node {
            None => {
                self.at.insert(session, At::Local);
                self.effects.push_back(HostEffect::Answer {
                    session,
                    answer: EnterAnswer::Entered,
                });
                self.effects.push_back(HostEffect::Attach { session });
            }
            Some(node) => {
                self.at.insert(
                    session,
                    At::Remote {
                        node,
                        since: self.now,
                    },
                );
            }
        }
        match replay {
            Replay::Events(frames) => {
                let replayed = frames.len();
                // The SYNC it would get as a newer socket becomes RESUMED and the replay.
                if let Some(sync) = events.pop() {
                    let last = self.seats.as_ref().map_or(0, |s| s.last());
                    events.push(Outgoing {
                        seq: sync.seq,
                        audience: sync.audience,
                        msg: ServerMsg::Resumed {
                            room: self.room.id(),
                            seq: last,
                            replayed: replayed as u64,
                        },
                    });
                }
                self.deliver_then(events, frames);
                self.effects
                    .push_back(HostEffect::Resumed(ResumeOutcome::Replayed(replayed)));
            }
            Replay::Sync => {
                let room = self.room.id();
                let then = self
                    .seats
                    .as_mut()
                    .map(|seats| {
                        let seat = seats.renew(user);
                        seats.seat_frame(user, room, seat)
                    })
                    .into_iter()
                    .collect();
                self.deliver_then(events, then);
                self.effects.push_back(HostEffect::Resumed(ResumeOutcome::Synced));
            }
        }
    }

    fn refuse_resume(&mut self, asking: &Resuming) {
        tracing::debug!(room = %self.room.id(), user = %asking.user, seat = asking.seat, "no such seat to resume");
        self.refuse_expired(asking.node.as_ref(), asking.session);
    }

    fn refuse_expired(&mut self, node: Option<&NodeId>, session: SessionId) {
        self.effects
            .push_back(HostEffect::Resumed(ResumeOutcome::Expired));
        match node {
            None => self.effects.push_back(HostEffect::Answer {
                session,
                answer: EnterAnswer::Refused(ErrorCode::SeatExpired, SEAT_EXPIRED.to_owned()),
            }),
            Some(node) => self.refuse_enter(node, session, ErrorCode::SeatExpired, SEAT_EXPIRED),
        }
    }

    /// When the first held seat runs out.
    pub(super) fn away_deadline(&self) -> Option<Instant> {
        self.earliest_away
    }

    /// Seats whose grace ran out: their users leave, and everyone is told.
    pub(super) fn expire_away(&mut self) {
        let Some(earliest) = self.earliest_away else {
            return;
        };
        if earliest > self.now {
            return;
        }
        let now = self.now;
        let mut expired = Vec::new();
        let mut next: Option<Instant> = None;
        for (session, at) in self.at.iter() {
            if let At::Away { until } = at {
                if *until <= now {
                    expired.push(*session);
                } else {
                    next = Some(next.map_or(*until, |n| n.min(*until)));
                }
            }
        }
        self.earliest_away = next;
        expired.sort_unstable();
        if !expired.is_empty() {
            tracing::debug!(room = %self.room.id(), seats = expired.len(), "seats expired");
        }
        for session in expired {
            self.act(Command::Leave { session });
        }
    }

    /// Users holding a seat now.
    pub(crate) fn seats_held(&self) -> usize {
        self.seats.as_ref().map_or(0, |s| s.held())
    }
}
