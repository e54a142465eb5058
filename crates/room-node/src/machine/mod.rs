//! The pure state machines of a room on one node. Each takes inputs (a local
//! session's command, a message of another node, a port's answer, and `now`
//! as a value) and queues effects (deliver to sockets, send to a node, ask a
//! port) that its driver task in `room_task` carries out. Nothing here
//! awaits, reads a clock or touches a socket, so unit tests and the cluster
//! simulator drive the room's logic step by step (the shape of quinn-proto
//! under quinn; STYLE.md). `purity` is the test that keeps it so.

pub(crate) mod builds;
pub(crate) mod host;
mod host_cluster;
mod host_seats;
pub(crate) mod relay;
pub(crate) mod seats;
mod sequence;
mod shadow;

#[cfg(test)]
mod host_tests;
#[cfg(test)]
mod purity;
#[cfg(test)]
mod relay_tests;

pub(crate) use host_cluster::TakeOver;
pub(crate) use shadow::Shadow;

use room_core::ErrorCode;

/// How many sessions replaced by a newer one of their user a room remembers,
/// so that a BUILD sent just before the replacement is answered on the newer one.
const REPLACED_REMEMBERED: usize = 64;

/// How a room lets a socket go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// The same user entered on a newer socket.
    Replaced,
    /// The room cannot serve it now; the client may enter again.
    TryAgainLater,
}

/// What a local session's ENTER asks of resume (PROTOCOL.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeatAsk {
    /// Nothing: its socket did not opt in.
    None,
    /// A seat: its socket opted in.
    New,
    /// Its user's `seat`, its socket having seen the room's events up to
    /// `seq`: a resume, which is an ENTER of a newer socket.
    Resume { seat: u64, seq: u64 },
}

impl SeatAsk {
    /// What a socket asks: the seat it presented, or a new one if it opted in.
    pub(crate) fn of(opted_in: bool, resume: Option<(u64, u64)>) -> SeatAsk {
        match resume {
            Some((seat, seq)) => SeatAsk::Resume { seat, seq },
            None if opted_in => SeatAsk::New,
            None => SeatAsk::None,
        }
    }
}

/// The answer to a local session's ENTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnterAnswer {
    Entered,
    Refused(ErrorCode, String),
}
