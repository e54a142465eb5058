//! What one node's engine and its room tasks share: settings, ports, the
//! registries of rooms and sessions. It lives beside the room tasks so they
//! need nothing of the engine above them (the engine builds it).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use room_core::{RoomId, SessionId};
use room_ports::MapStore;

use super::RoomSender;
use crate::cluster::{ClusterPorts, RegistryTrust};
use crate::config::EngineConfig;
use crate::observer::Observers;
use crate::ordered::{IdMap, IdSet};
use crate::outbox::Outbox;
use crate::tasks::Tasks;

/// The state of one node, shared by its engine (every clone) and its room tasks.
pub(crate) struct Shared {
    pub(crate) config: EngineConfig,
    pub(crate) store: Arc<dyn MapStore>,
    pub(crate) observers: Observers,
    pub(crate) cluster: Option<ClusterPorts>,
    /// Signs seat tokens, when the engine offers resume.
    pub(crate) seat_key: Option<crate::seat::SeatKey>,
    /// Where a standalone node keeps its rooms across a restart.
    pub(crate) states: Option<crate::room_states::RoomStates>,
    /// The engine is shutting down.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    pub(crate) trust: Arc<RegistryTrust>,
    pub(crate) tasks: Tasks,
    pub(crate) rooms: Mutex<IdMap<RoomId, RoomSender>>,
    pub(crate) hosted: Mutex<IdSet<RoomId>>,
    pub(crate) sessions: Mutex<IdMap<SessionId, Arc<Outbox>>>,
    pub(crate) next_session: AtomicU64,
    /// This process: the upper half of its session ids (heartbeats say it).
    pub(crate) instance: u64,
}

impl Shared {
    /// Record whether this node hosts `room`.
    pub(crate) fn set_hosted(&self, room: RoomId, hosted: bool) {
        let mut rooms = lock(&self.hosted);
        if hosted {
            rooms.insert(room);
        } else {
            rooms.remove(&room);
        }
    }

    /// Remove `room` from the registry if `sender` is still its current task.
    pub(crate) fn forget_room(&self, room: RoomId, sender: &RoomSender) {
        let mut rooms = lock(&self.rooms);
        if rooms
            .get(&room)
            .is_some_and(|current| current.same_channel(sender))
        {
            rooms.remove(&room);
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The registries stay consistent even if a holder panicked: every update is one insert or remove.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
