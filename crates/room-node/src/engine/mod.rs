//! The node engine: the registry of loaded rooms and open sessions.

mod cluster_link;
#[cfg(test)]
mod faults;
mod open;
mod supervise;

use crate::ordered::{IdMap, IdSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use room_core::{Map, Room, RoomId, RoomView, SessionId};
use room_ports::{MapStore, NodeId, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::cluster::{ClusterPorts, RegistryTrust, Route};
use crate::config::EngineConfig;
use crate::metrics_names as m;
use crate::observer::{Observers, RoomObserver};
use crate::outbox::{CloseReason, Outbox};
use crate::room_task::{self, RoomMsg, RoomSender, Shared, lock};
use crate::seat::SeatKey;
use crate::tasks::Tasks;
use tracing::Span;

/// The engine of one server node. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    /// The sessions and room tasks shutdown waits for.
    pub(crate) open: open::Open,
    /// Room tasks a test makes panic.
    #[cfg(test)]
    pub(crate) faults: faults::Faults,
}

impl Engine {
    /// An engine keeping maps in `store`, with no observer. The same as
    /// `Engine::builder(store).config(config).build()`.
    pub fn new(store: Arc<dyn MapStore>, config: EngineConfig) -> Engine {
        Engine::builder(store).config(config).build()
    }

    /// Start building an engine that keeps maps in `store`: any [`MapStore`],
    /// such as [`DiskMapStore`](crate::DiskMapStore),
    /// [`MemoryMapStore`](crate::memory::MemoryMapStore) or adapter-mysql's `MysqlStore`.
    pub fn builder(store: Arc<dyn MapStore>) -> EngineBuilder {
        EngineBuilder {
            store,
            config: EngineConfig::default(),
            observers: Observers::default(),
            cluster: None,
            session_ids: None,
            seat_key: None,
            states: None,
        }
    }

    /// The settings this engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// The map store.
    pub fn store(&self) -> &Arc<dyn MapStore> {
        &self.shared.store
    }

    /// An outbox of the configured capacity, for a socket that needs one
    /// before it has a session (legacy mode, before its ENTER).
    pub fn new_outbox(&self) -> Arc<Outbox> {
        self.new_socket_outbox(false, false)
    }

    /// An outbox for a batch=1 socket: a room hosted here queues it one frame
    /// per tick (the tick's messages joined by newlines).
    pub fn new_batch_outbox(&self) -> Arc<Outbox> {
        self.new_socket_outbox(true, false)
    }

    /// The outbox of a new socket: batched for batch=1, numbered for
    /// resume=1 (PROTOCOL.md §9; only where the engine has a seat key).
    pub fn new_socket_outbox(&self, batch: bool, resume: bool) -> Arc<Outbox> {
        let config = &self.shared.config;
        let resume = resume && self.shared.seat_key.is_some();
        let capacity = if resume {
            config.numbered_outbox_capacity()
        } else {
            config.outbox_capacity
        };
        let outbox = if batch {
            Outbox::batched(capacity)
        } else {
            Outbox::new(capacity)
        }
        .with_byte_budget(config.outbox_bytes);
        Arc::new(if resume { outbox.numbered() } else { outbox })
    }

    /// The key seat tokens are signed with, when this engine offers resume.
    pub fn seat_key(&self) -> Option<&SeatKey> {
        self.shared.seat_key.as_ref()
    }

    /// Open sessions on this node.
    pub fn session_count(&self) -> usize {
        lock(&self.shared.sessions).len()
    }

    /// Rooms loaded on this node.
    pub fn room_count(&self) -> usize {
        lock(&self.shared.rooms).len()
    }

    /// The rooms loaded on this node.
    pub fn loaded_rooms(&self) -> Vec<RoomId> {
        lock(&self.shared.rooms).keys().copied().collect()
    }

    /// The room as SYNC shows it now, if it is loaded on this node; `None`
    /// otherwise. Never reads the store.
    pub async fn live_room_view(&self, room: RoomId) -> Option<RoomView> {
        let sender = self.room_sender_if_loaded(room)?;
        let (reply, answer) = oneshot::channel();
        sender.try_send(RoomMsg::View { reply }).ok()?;
        answer.await.ok()
    }

    /// The room as SYNC would show it: live if loaded here, else as stored
    /// (nobody in it). `None` if the room's owner does not exist.
    pub async fn room_view(&self, room: RoomId) -> Result<Option<RoomView>, StoreError> {
        if let Some(view) = self.live_room_view(room).await {
            return Ok(Some(view));
        }
        let Some(stored) = self.shared.store.load_room(room).await? else {
            return Ok(None);
        };
        let map = stored
            .map
            .and_then(|doc| Map::validate(&doc, room_core::map::MAX_SIDE).ok())
            .unwrap_or_default();
        Ok(Some(
            Room::new(room, map, stored.version, self.shared.config.limits).view(),
        ))
    }

    /// Close every socket with 1001 and wait (up to `grace`) until every room has
    /// emptied and finished storing what it was storing.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        let outboxes: Vec<Arc<Outbox>> = lock(&self.shared.sessions).values().cloned().collect();
        for outbox in outboxes {
            outbox.close(CloseReason::GoingAway);
        }
        let deadline = tokio::time::Instant::now() + grace;
        if self.shared.cluster.is_some() || self.shared.states.is_some() {
            // Our own users leave first (or are away, seated); then every room is
            // handed over (a cluster's: final snapshot, lease released, so a relay
            // takes it without LEAVEs; a standalone node's: written to its disk).
            let _ = tokio::time::timeout_at(deadline, self.open.no_sessions()).await;
            let senders: Vec<RoomSender> = lock(&self.shared.rooms).values().cloned().collect();
            for sender in senders {
                let (done, handed_over) = oneshot::channel();
                let sent = tokio::time::timeout_at(deadline, sender.send(RoomMsg::HandOver { done })).await;
                if matches!(sent, Ok(Ok(()))) {
                    let _ = tokio::time::timeout_at(deadline, handed_over).await;
                }
            }
        }
        if let Some(ports) = &self.shared.cluster {
            let _ = ports.registry.deregister(&ports.node).await;
            return;
        }
        let _ = tokio::time::timeout_at(deadline, self.open.nothing_running()).await;
    }

    /// Stop this engine at once, as a crash would: every task it started ends
    /// at its next await, nothing is handed over and no lease is released
    /// (other nodes take its rooms over when the leases expire). Sessions
    /// still open are closed with 1001. For tests and simulators of node
    /// failure; a server stops with [`Engine::shutdown`].
    pub async fn halt(&self) {
        self.shared.tasks.halt();
        let outboxes: Vec<Arc<Outbox>> = lock(&self.shared.sessions).values().cloned().collect();
        for outbox in outboxes {
            outbox.close(CloseReason::GoingAway);
        }
        self.shared.tasks.wait().await;
        lock(&self.shared.rooms).clear();
        lock(&self.shared.hosted).clear();
    }

    /// The rooms this node hosts now (in a cluster).
    pub fn hosted_rooms(&self) -> Vec<RoomId> {
        lock(&self.shared.hosted).iter().copied().collect()
    }

    /// Where a client should connect for `room`: its host, else the least
    /// loaded live node. `None` outside a cluster or when the registry is away.
    pub async fn route(&self, room: RoomId) -> Option<Route> {
        cluster_link::route(self.shared.cluster.as_ref()?, room).await
    }

    /// This process among the node's incarnations (see `NodeInfo::instance`).
    pub(crate) fn instance(&self) -> u64 {
        self.shared.instance
    }

    pub(crate) fn registry_trust(&self) -> &RegistryTrust {
        &self.shared.trust
    }

    /// The cluster ports, when this engine is a cluster node.
    pub fn cluster(&self) -> Option<&ClusterPorts> {
        self.shared.cluster.as_ref()
    }

    /// Give `msg` to `room`'s task if the room is loaded here.
    pub(crate) fn send_if_loaded(&self, room: RoomId, msg: RoomMsg) -> bool {
        self.send_or_return(room, msg).is_none()
    }

    /// Give `msg` to `room`'s task if the room is loaded here; else it comes back.
    pub(crate) fn send_or_return(&self, room: RoomId, msg: RoomMsg) -> Option<RoomMsg> {
        let Some(sender) = self.room_sender_if_loaded(room) else {
            return Some(msg);
        };
        // A full mailbox loses what the bus brought; its sender repairs it
        // (relays see the gap, report again, or time out their ENTER).
        match sender.try_send(msg) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!(m::QUEUE_FULL, "queue" => "room").increment(1);
                None
            }
            Err(mpsc::error::TrySendError::Closed(msg)) => Some(msg),
        }
    }

    /// Send `message` to `node` in the background (the caller never waits on the broker).
    pub(crate) fn send_to_node(&self, node: NodeId, message: crate::contract::NodeMessage) {
        let Some(ports) = self.shared.cluster.clone() else {
            return;
        };
        let payload = crate::contract::encode(&message);
        self.shared.tasks.spawn(async move {
            if let Err(e) = ports.bus.send_to_node(&node, payload).await {
                tracing::debug!(%node, error = %e, "node message not sent");
            }
        });
    }

    /// Give a LEAVE to its room even when the room's mailbox is full: it waits
    /// in a task of its own (at most one per session), since a lost LEAVE is a ghost.
    pub(crate) fn send_leave(&self, sender: &RoomSender, session: SessionId) {
        let leave = RoomMsg::Act {
            command: room_core::Command::Leave { session },
            received: std::time::Instant::now(),
        };
        self.send_surely(sender, leave);
    }

    /// Give `msg` to its room even when the room's mailbox is full: it waits
    /// in a task of its own (at most one per session), for a message that
    /// must not be lost (a LEAVE, an away socket's seat).
    pub(crate) fn send_surely(&self, sender: &RoomSender, msg: RoomMsg) {
        if let Err(mpsc::error::TrySendError::Full(msg)) = sender.try_send(msg) {
            let sender = sender.clone();
            self.shared.tasks.spawn(async move {
                let _ = sender.send(msg).await;
            });
        }
    }

    /// Queue an ERROR a room's host sent for a session of this node.
    pub(crate) fn reply_to_session(&self, session: SessionId, code: room_core::ErrorCode, message: String) {
        let Some(outbox) = lock(&self.shared.sessions).get(&session).cloned() else {
            return;
        };
        crate::room_task::queue_error(&outbox, code, message);
    }

    pub(crate) fn close_session(&self, id: SessionId) {
        if lock(&self.shared.sessions).remove(&id).is_some() {
            metrics::gauge!(m::SESSIONS).decrement(1.0);
        }
    }

    fn room_sender_if_loaded(&self, room: RoomId) -> Option<RoomSender> {
        lock(&self.shared.rooms).get(&room).cloned()
    }

    /// The channel of `room`'s task, starting the task if the room is not loaded.
    pub(crate) fn room_sender(&self, room: RoomId) -> RoomSender {
        let mut rooms = lock(&self.shared.rooms);
        if let Some(sender) = rooms.get(&room)
            && !sender.is_closed()
        {
            return sender.clone();
        }
        let (sender, inbox) = mpsc::channel(room_task::MAILBOX);
        rooms.insert(room, sender.clone());
        // Every log line of the room's task says which room (and node) it is from.
        let span = tracing::info_span!(parent: self.shared.tasks.span(), "room", room = %room);
        let task = room_task::run(room, self.shared.clone(), sender.clone(), inbox);
        #[cfg(test)]
        let task = self.faults.wrap(room, task);
        let task = self.open.room(crate::outbox::as_room(room, task));
        let task = supervise::supervised(room, self.shared.clone(), sender.clone(), task);
        self.shared
            .tasks
            .spawn(tracing::Instrument::instrument(task, span));
        sender
    }
}

/// How an [`Engine`] is put together: its store, settings and observers.
///
/// ```
/// use std::sync::Arc;
/// use room_node::{Engine, EngineConfig, RoomEvent, memory::MemoryMapStore};
///
/// let engine = Engine::builder(Arc::new(MemoryMapStore::new()))
///     .config(EngineConfig { outbox_capacity: 256, ..EngineConfig::default() })
///     .observer(Arc::new(|event: &RoomEvent| println!("{event:?}")))
///     .build();
/// assert_eq!(engine.config().outbox_capacity, 256);
/// ```
#[must_use = "an engine builder does nothing until `build` is called"]
pub struct EngineBuilder {
    store: Arc<dyn MapStore>,
    config: EngineConfig,
    observers: Observers,
    cluster: Option<ClusterPorts>,
    session_ids: Option<u32>,
    seat_key: Option<SeatKey>,
    states: Option<std::path::PathBuf>,
}

impl EngineBuilder {
    /// Number this engine's sessions under `prefix` (the upper half of every
    /// session id) instead of a random one, so that a simulated cluster
    /// replays exactly. Engines of one cluster need different prefixes, and a
    /// restarted node a new one: session ids must never repeat.
    pub fn session_id_prefix(mut self, prefix: u32) -> EngineBuilder {
        self.session_ids = Some(prefix);
        self
    }

    /// Run as one node of a cluster: rooms are hosted by the holder of their
    /// lease and relayed by every other node with users in them.
    pub fn cluster(mut self, ports: ClusterPorts) -> EngineBuilder {
        self.cluster = Some(ports);
        self
    }

    /// Offer resume (PROTOCOL.md §9): seats are given to sockets that opt
    /// in, under tokens signed with `key`. Every node of a cluster needs the
    /// same key (derive it from the access tokens' secret with
    /// [`SeatKey::derive`]). Without one, `resume=1` changes nothing.
    pub fn seat_key(mut self, key: SeatKey) -> EngineBuilder {
        self.seat_key = Some(key);
        self
    }

    /// Keep every room's users, seats and last events in `dir` when this
    /// node stops ([`Engine::shutdown`]), and continue a room from there when
    /// it is started again within the resume grace, so a resume after the
    /// restart is RESUMED (PROTOCOL.md §9). For a standalone node (a cluster
    /// hands its rooms to another node instead); needs a seat key.
    pub fn room_states(mut self, dir: impl Into<std::path::PathBuf>) -> EngineBuilder {
        self.states = Some(dir.into());
        self
    }

    /// Run with `config` instead of [`EngineConfig::default`].
    pub fn config(mut self, config: EngineConfig) -> EngineBuilder {
        self.config = config;
        self
    }

    /// Also tell `observer` of every [`RoomEvent`](crate::RoomEvent); may be
    /// called more than once. Observers run on the room's task and must be quick.
    pub fn observer(mut self, observer: Arc<dyn RoomObserver>) -> EngineBuilder {
        self.observers.push(observer);
        self
    }

    /// The engine. Rooms start on demand, on the current tokio runtime; in a
    /// cluster, the heartbeat and the bus dispatch start here too (so call it
    /// inside a runtime).
    pub fn build(self) -> Engine {
        // Session ids must not collide across nodes; the upper half is random per process.
        let random = match self.session_ids {
            Some(prefix) => u64::from(prefix) << 32,
            None => std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
        };
        let node_span = match &self.cluster {
            Some(ports) => tracing::info_span!("node", node = %ports.node),
            None => Span::none(),
        };
        // A cluster hands its rooms over to another node instead.
        let standalone = self.cluster.is_none();
        let states = self
            .states
            .filter(|_| standalone)
            .map(crate::room_states::RoomStates::new);
        let shared = Shared {
            config: self.config,
            store: self.store,
            observers: self.observers,
            trust: Arc::new(RegistryTrust::new(
                self.cluster
                    .as_ref()
                    .map_or(Duration::ZERO, |ports| ports.node_ttl),
            )),
            cluster: self.cluster,
            seat_key: self.seat_key,
            states,
            stopping: AtomicBool::new(false),
            tasks: Tasks::new(node_span),
            rooms: Mutex::new(IdMap::default()),
            hosted: Mutex::new(IdSet::default()),
            sessions: Mutex::new(IdMap::default()),
            next_session: AtomicU64::new(random & 0xFFFF_FFFF_0000_0000),
            instance: (random >> 32).max(1),
        };
        let engine = Engine {
            shared: Arc::new(shared),
            open: open::Open::default(),
            #[cfg(test)]
            faults: faults::Faults::default(),
        };
        if let Some(ports) = engine.shared.cluster.clone() {
            engine
                .shared
                .tasks
                .spawn(cluster_link::heartbeat(engine.clone(), ports.clone()));
            engine
                .shared
                .tasks
                .spawn(cluster_link::dispatch(engine.clone(), ports));
        }
        engine
    }
}
