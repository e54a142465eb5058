//! Engine settings.

use std::time::Duration;

use room_core::RoomLimits;

/// How the engine behaves; every field has the PROTOCOL.md §7 default.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Per-room limits (capacity, largest map side).
    pub limits: RoomLimits,
    /// Frames a socket's outgoing queue holds before moves are coalesced
    /// (one that opted into resume holds at least `resume_log + 1`: see
    /// [`EngineConfig::numbered_outbox_capacity`]).
    pub outbox_capacity: usize,
    /// Bytes one socket may hold (its queue plus what its writer took) before
    /// its queue is coalesced, then closed with 1013.
    pub outbox_bytes: usize,
    /// BUILDs of one room being checked or stored at once; more are refused with 76429.
    pub builds_in_flight: usize,
    /// How often batching sockets are flushed.
    pub tick: Duration,
    /// How long an ENTER forwarded to another node's room may wait for the
    /// host's answer before it is refused with 76503 (in a cluster).
    pub forward_timeout: Duration,
    /// How long a seat is held after its socket went away without LEAVE
    /// (PROTOCOL.md §9, `--resume-grace-ms`).
    pub resume_grace: Duration,
    /// How many of its last events a room keeps to replay to a resuming
    /// socket (`--resume-log`); one that missed more gets a fresh SYNC.
    pub resume_log: usize,
}

impl EngineConfig {
    /// Frames the queue of a socket that opted into resume holds: at least
    /// a whole replay (`resume_log` events) and the `13 RESUMED` before it.
    /// With the defaults (512 and 512) a full replay was one frame more than
    /// a fresh socket's queue, so the resume the log was kept for coalesced
    /// (a `seq` gap where exactly the missed events were promised). Memory
    /// stays bounded by `outbox_bytes` either way.
    pub fn numbered_outbox_capacity(&self) -> usize {
        self.outbox_capacity.max(self.resume_log.saturating_add(1))
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: RoomLimits::default(),
            outbox_capacity: 512,
            outbox_bytes: crate::outbox::DEFAULT_OUTBOX_BYTES,
            builds_in_flight: 4,
            tick: Duration::from_millis(25),
            forward_timeout: Duration::from_secs(5),
            resume_grace: Duration::from_secs(20),
            resume_log: 512,
        }
    }
}
