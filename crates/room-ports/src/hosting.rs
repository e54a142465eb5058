//! One writer per room: host leases with a fencing epoch, and room snapshots.

use async_trait::async_trait;
use room_core::{Cell, ReplayTail, RoomId, UserId};
use serde::{Deserialize, Serialize};

use crate::nodes::{NodeId, SessionAt};

/// The right to host a room, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The room.
    pub room: RoomId,
    /// The holder.
    pub node: NodeId,
    /// Fencing epoch: increases with every new holder of this room; never
    /// 0 ([`NO_LEASE`](crate::NO_LEASE)).
    pub epoch: u64,
}

/// The outcome of asking for a room's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// The caller hosts the room now.
    Granted(Lease),
    /// Another node hosts it.
    HeldBy {
        /// The holder.
        node: NodeId,
        /// Its epoch.
        epoch: u64,
    },
}

/// One user in a room snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotUser {
    /// Who.
    pub user: UserId,
    /// Display name.
    pub nickname: String,
    /// Their session.
    pub session: SessionAt,
    /// Where they stand.
    pub cell: Cell,
    /// Their seat (PROTOCOL.md §9), when their socket opted into resume: a
    /// new host holds it for the grace even if their node is gone.
    #[serde(default)]
    pub seat: Option<u64>,
}

/// What a new host needs to carry on a room: written behind by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    /// The room.
    pub room: RoomId,
    /// The epoch of the host that wrote it.
    pub epoch: u64,
    /// The last event sequence number emitted.
    pub seq: u64,
    /// The stored map version the room was using.
    pub map_version: u64,
    /// Who was in the room, in order of arrival.
    pub users: Vec<SnapshotUser>,
    /// The room's resume state (PROTOCOL.md §9), when it offers seats.
    #[serde(default)]
    pub seats: Option<SnapshotSeats>,
}

/// The seats side of a room snapshot: the room's event numbering and seat
/// numbering, and, when the room was handed over on purpose, its replay log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSeats {
    /// The last seat number given: the next host gives higher ones.
    pub last_seat: u64,
    /// The room's event numbering and, when `whole`, the events kept for replay.
    pub log: ReplayTail,
    /// Written by a host handing the room over on purpose (or a node
    /// stopping): the log is complete, and the seats were given by a host
    /// whose events it holds, so the next host replays from it. Written
    /// behind while hosting, the log is left out (`events` empty): a
    /// host that dies leaves only the numbering.
    pub whole: bool,
}

/// Why a hosting operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostingError {
    /// The lease expired or was taken over: the caller no longer hosts the room.
    #[error("lease on room {room} lost (epoch {epoch})")]
    LeaseLost {
        /// The room.
        room: RoomId,
        /// The epoch the caller held.
        epoch: u64,
    },
    /// The registry cannot be reached now.
    #[error("hosting registry unavailable: {0}")]
    Unavailable(String),
    /// A stored snapshot that cannot be read.
    #[error("snapshot of room {0} is corrupt")]
    Corrupt(RoomId),
}

/// Room host leases and snapshots.
#[async_trait]
pub trait RoomHosting: Send + Sync + 'static {
    /// Take the lease of `room` for `node` if nobody holds it.
    async fn acquire(&self, room: RoomId, node: &NodeId) -> Result<Acquired, HostingError>;

    /// Extend `lease`; [`HostingError::LeaseLost`] if it is no longer the caller's.
    async fn renew(&self, lease: &Lease) -> Result<(), HostingError>;

    /// Give `lease` up (only if still held).
    async fn release(&self, lease: &Lease) -> Result<(), HostingError>;

    /// Who hosts `room` now, with their epoch.
    async fn holder(&self, room: RoomId) -> Result<Option<(NodeId, u64)>, HostingError>;

    /// Store `snapshot` if `lease` is still the current one; a stale host's write is refused with `LeaseLost`.
    async fn save_snapshot(&self, lease: &Lease, snapshot: &RoomSnapshot) -> Result<(), HostingError>;

    /// The last snapshot of `room`.
    async fn load_snapshot(&self, room: RoomId) -> Result<Option<RoomSnapshot>, HostingError>;
}
