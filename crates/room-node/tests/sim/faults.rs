//! The ports of a simulated cluster, with faults injected between and inside
//! them: bus messages dropped, delayed (so reordered) and duplicated; the
//! lease registry, the node registry and the map store unavailable or slow; a
//! commit whose answer is lost; a node cut off from every service.
//!
//! Every decision comes from one seeded generator, so a run replays.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use room_core::{Map, RoomId, UserId};
use room_node::memory::{MemoryHosting, MemoryMapStore, MemoryNodes};
use room_ports::{
    Acquired, Bus, BusError, BusInbound, BusInbox, GameInfo, HostingError, Lease, MapStore, NodeId, NodeInfo,
    NodeRegistry, RegistryError, RoomHosting, RoomSnapshot, StoreError, StoredRoom, UserSeed, UserSummary,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What is wrong right now; changed by the scenario as it runs.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Chance that a bus message is lost.
    pub bus_drop: f64,
    /// Chance that a bus message arrives twice.
    pub bus_duplicate: f64,
    /// Longest extra delay of a bus message (random below it: reorders).
    pub bus_delay: Duration,
    /// Bus messages from these nodes to those are all lost (one way).
    pub bus_cut: HashSet<(String, String)>,
    /// The lease registry (Redis) answers nothing.
    pub hosting_down: bool,
    /// The node registry (Redis) answers nothing.
    pub registry_down: bool,
    /// Every answer of Redis takes this long.
    pub redis_slow: Duration,
    /// The map store (MySQL) answers nothing.
    pub store_down: bool,
    /// Every answer of the map store takes this long.
    pub store_slow: Duration,
    /// Chance that a committed save's answer is lost (the caller sees an error).
    pub store_lose_answer: f64,
    /// Nodes that reach no service at all (a node paused or partitioned away).
    pub isolated: HashSet<String>,
    /// Every publish and send waits until this is off (a broker under a memory alarm).
    pub bus_blocked: bool,
    /// Nodes that cannot reach Redis (but reach everything else).
    pub redis_cut: HashSet<String>,
}

/// One grant of a room's lease, as the registry gave it.
#[derive(Debug, Clone)]
pub struct Grant {
    /// When, in the order of [`Faults::ticket`].
    pub order: u64,
    pub at: Instant,
    pub room: RoomId,
    pub node: String,
    pub epoch: u64,
}

/// A map save the store accepted (its answer may still have been lost).
#[derive(Debug, Clone)]
pub struct Save {
    /// When, in the order of [`Faults::ticket`].
    pub order: u64,
    pub at: Instant,
    pub room: RoomId,
    pub node: String,
    pub epoch: u64,
    pub version: u64,
}

struct State {
    rng: StdRng,
    plan: FaultPlan,
    grants: Vec<Grant>,
    saves: Vec<Save>,
}

/// The shared fault state of one simulated world.
pub struct Faults {
    state: Mutex<State>,
    tickets: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Faults {
    pub fn new(seed: u64) -> Arc<Faults> {
        Arc::new(Faults {
            state: Mutex::new(State {
                rng: StdRng::seed_from_u64(seed ^ 0x5eed_fa17),
                plan: FaultPlan::default(),
                grants: Vec::new(),
                saves: Vec::new(),
            }),
            tickets: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// A number that orders what happens at one virtual instant.
    pub fn ticket(&self) -> u64 {
        self.tickets.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set(&self, plan: FaultPlan) {
        lock(&self.state).plan = plan;
    }

    pub fn change(&self, change: impl FnOnce(&mut FaultPlan)) {
        change(&mut lock(&self.state).plan);
    }

    pub fn plan(&self) -> FaultPlan {
        lock(&self.state).plan.clone()
    }

    pub fn grants(&self) -> Vec<Grant> {
        lock(&self.state).grants.clone()
    }

    /// Every save the store accepted, in the order it accepted them.
    pub fn saves(&self) -> Vec<Save> {
        lock(&self.state).saves.clone()
    }

    fn chance(&self, p: f64) -> bool {
        let mut state = lock(&self.state);
        p > 0.0 && state.rng.random_bool(p.min(1.0))
    }

    fn isolated(&self, node: &str) -> bool {
        lock(&self.state).plan.isolated.contains(node)
    }

    /// How a bus message from `from` to `to` fares: `None` lost, else its
    /// delays (two when duplicated).
    fn bus_fate(&self, from: &str, to: &str) -> Option<Vec<Duration>> {
        let mut state = lock(&self.state);
        let plan = state.plan.clone();
        if plan.isolated.contains(from)
            || plan.isolated.contains(to)
            || plan.bus_cut.contains(&(from.to_owned(), to.to_owned()))
        {
            return None;
        }
        if plan.bus_drop > 0.0 && state.rng.random_bool(plan.bus_drop) {
            return None;
        }
        let copies = if plan.bus_duplicate > 0.0 && state.rng.random_bool(plan.bus_duplicate) {
            2
        } else {
            1
        };
        let max = plan.bus_delay.as_millis() as u64;
        Some(
            (0..copies)
                .map(|_| {
                    Duration::from_millis(if max == 0 {
                        0
                    } else {
                        state.rng.random_range(0..=max)
                    })
                })
                .collect(),
        )
    }

    async fn redis(&self, node: &str, down: bool) -> Result<(), String> {
        let slow = lock(&self.state).plan.redis_slow;
        if !slow.is_zero() {
            tokio::time::sleep(slow).await;
        }
        if down || self.isolated(node) || lock(&self.state).plan.redis_cut.contains(node) {
            return Err(format!("redis unreachable from {node} (simulated)"));
        }
        Ok(())
    }
}

type Subscriptions = Arc<Mutex<HashMap<RoomId, HashSet<NodeId>>>>;
type Inboxes = Arc<Mutex<HashMap<NodeId, mpsc::Sender<BusInbound>>>>;

/// How many undelivered messages a node may have before newer ones are lost
/// (as the in-memory and RabbitMQ buses do).
const NODE_QUEUE: usize = 4096;

/// The bus all simulated nodes share. Each message's fate (lost, delayed,
/// duplicated) is decided per receiver.
#[derive(Clone)]
pub struct SimBus {
    inboxes: Inboxes,
    subscriptions: Subscriptions,
    faults: Arc<Faults>,
    /// Messages the bus accepted from nodes so far.
    accepted: Arc<std::sync::atomic::AtomicU64>,
}

/// One node's handle on the simulated bus.
pub struct FaultyBus {
    node: NodeId,
    inbound: Mutex<Option<mpsc::Receiver<BusInbound>>>,
    bus: SimBus,
}

impl SimBus {
    pub fn new(faults: Arc<Faults>) -> SimBus {
        SimBus {
            inboxes: Arc::default(),
            subscriptions: Arc::default(),
            faults,
            accepted: Arc::default(),
        }
    }

    /// `node`'s handle; a node restarted under the same id takes its place.
    pub fn join(&self, node: &NodeId) -> FaultyBus {
        for nodes in lock(&self.subscriptions).values_mut() {
            nodes.remove(node);
        }
        let (sender, receiver) = mpsc::channel(NODE_QUEUE);
        lock(&self.inboxes).insert(node.clone(), sender);
        FaultyBus {
            node: node.clone(),
            inbound: Mutex::new(Some(receiver)),
            bus: self.clone(),
        }
    }

    /// How many messages nodes have handed the bus so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wait while the broker blocks publishers.
    async fn unblocked(&self) {
        while self.faults.plan().bus_blocked {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Hand `message` to `to`'s inbox after `delay`.
    fn later(&self, from: &NodeId, to: &NodeId, message: BusInbound) {
        let Some(delays) = self.faults.bus_fate(&from.0, &to.0) else {
            return;
        };
        for delay in delays {
            let Some(inbox) = lock(&self.inboxes).get(to).cloned() else {
                return;
            };
            let message = message.clone();
            // Always through a task, so a sender never runs the receiver's code inline.
            tokio::spawn(async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let _ = inbox.try_send(message);
            });
        }
    }
}

#[async_trait]
impl Bus for FaultyBus {
    async fn publish(&self, room: RoomId, payload: Bytes) -> Result<(), BusError> {
        self.bus.unblocked().await;
        if self.bus.faults.isolated(&self.node.0) {
            return Err(BusError::Unavailable("isolated (simulated)".into()));
        }
        let mut receivers: Vec<NodeId> = lock(&self.bus.subscriptions)
            .get(&room)
            .map(|nodes| nodes.iter().cloned().collect())
            .unwrap_or_default();
        receivers.sort_by(|a, b| a.0.cmp(&b.0));
        for to in receivers {
            let event = BusInbound::Event {
                room,
                payload: payload.clone(),
            };
            self.bus.later(&self.node, &to, event);
        }
        Ok(())
    }

    async fn subscribe_room(&self, room: RoomId) -> Result<(), BusError> {
        lock(&self.bus.subscriptions)
            .entry(room)
            .or_default()
            .insert(self.node.clone());
        Ok(())
    }

    async fn unsubscribe_room(&self, room: RoomId) -> Result<(), BusError> {
        if let Some(nodes) = lock(&self.bus.subscriptions).get_mut(&room) {
            nodes.remove(&self.node);
        }
        Ok(())
    }

    async fn send_to_node(&self, node: &NodeId, payload: Bytes) -> Result<(), BusError> {
        self.bus.unblocked().await;
        if self.bus.faults.isolated(&self.node.0) {
            return Err(BusError::Unavailable("isolated (simulated)".into()));
        }
        // Like a publish without confirms: a lost message is no error the sender sees.
        self.bus.later(&self.node, node, BusInbound::Node { payload });
        Ok(())
    }

    fn take_inbound(&self) -> Option<BusInbox> {
        let mut receiver = lock(&self.inbound).take()?;
        Some(BusInbox::from_poll(move |cx| receiver.poll_recv(cx)))
    }
}

/// The lease registry (Redis) as one node reaches it.
pub struct FaultyHosting {
    pub inner: Arc<MemoryHosting>,
    pub node: String,
    pub faults: Arc<Faults>,
}

impl FaultyHosting {
    /// Wait as Redis is slow, fail as it is down.
    async fn reach(&self) -> Result<(), HostingError> {
        let down = self.faults.plan().hosting_down;
        self.faults
            .redis(&self.node, down)
            .await
            .map_err(HostingError::Unavailable)
    }
}

#[async_trait]
impl RoomHosting for FaultyHosting {
    async fn acquire(&self, room: RoomId, node: &NodeId) -> Result<Acquired, HostingError> {
        self.reach().await?;
        let acquired = self.inner.acquire(room, node).await?;
        if let Acquired::Granted(lease) = &acquired {
            let order = self.faults.ticket();
            lock(&self.faults.state).grants.push(Grant {
                order,
                at: Instant::now(),
                room,
                node: node.0.clone(),
                epoch: lease.epoch,
            });
        }
        Ok(acquired)
    }

    async fn renew(&self, lease: &Lease) -> Result<(), HostingError> {
        self.reach().await?;
        self.inner.renew(lease).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), HostingError> {
        self.reach().await?;
        self.inner.release(lease).await
    }

    async fn holder(&self, room: RoomId) -> Result<Option<(NodeId, u64)>, HostingError> {
        self.reach().await?;
        self.inner.holder(room).await
    }

    async fn save_snapshot(&self, lease: &Lease, snapshot: &RoomSnapshot) -> Result<(), HostingError> {
        self.reach().await?;
        self.inner.save_snapshot(lease, snapshot).await
    }

    async fn load_snapshot(&self, room: RoomId) -> Result<Option<RoomSnapshot>, HostingError> {
        self.reach().await?;
        self.inner.load_snapshot(room).await
    }
}

/// The node registry (Redis) as one node reaches it.
pub struct FaultyNodes {
    pub inner: Arc<MemoryNodes>,
    pub node: String,
    pub faults: Arc<Faults>,
}

impl FaultyNodes {
    /// Wait as Redis is slow, fail as it is down.
    async fn reach(&self) -> Result<(), RegistryError> {
        let down = self.faults.plan().registry_down;
        self.faults
            .redis(&self.node, down)
            .await
            .map_err(RegistryError::Unavailable)
    }
}

#[async_trait]
impl NodeRegistry for FaultyNodes {
    async fn heartbeat(&self, info: &NodeInfo) -> Result<(), RegistryError> {
        self.reach().await?;
        self.inner.heartbeat(info).await
    }

    async fn deregister(&self, node: &NodeId) -> Result<(), RegistryError> {
        self.reach().await?;
        self.inner.deregister(node).await
    }

    async fn is_live(&self, node: &NodeId) -> Result<bool, RegistryError> {
        self.reach().await?;
        self.inner.is_live(node).await
    }

    async fn live_nodes(&self) -> Result<Vec<NodeInfo>, RegistryError> {
        self.reach().await?;
        self.inner.live_nodes().await
    }
}

/// The map store (MySQL) as one node reaches it.
pub struct FaultyStore {
    pub inner: Arc<MemoryMapStore>,
    pub node: String,
    pub faults: Arc<Faults>,
}

impl FaultyStore {
    async fn check(&self) -> Result<(), StoreError> {
        let slow = self.faults.plan().store_slow;
        if !slow.is_zero() {
            tokio::time::sleep(slow).await;
        }
        if self.faults.plan().store_down || self.faults.isolated(&self.node) {
            return Err(StoreError::Unavailable("mysql unreachable (simulated)".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl MapStore for FaultyStore {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        self.check().await?;
        self.inner.load_room(room).await
    }

    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        self.check().await?;
        self.inner.owned_games(user).await
    }

    async fn save_map(
        &self,
        room: RoomId,
        map: &Map,
        expected_version: u64,
        epoch: u64,
    ) -> Result<u64, StoreError> {
        self.check().await?;
        let saved = self.inner.save_map(room, map, expected_version, epoch).await?;
        // The memory store saves without awaiting, so nothing comes between
        // its acceptance and this record.
        let order = self.faults.ticket();
        lock(&self.faults.state).saves.push(Save {
            order,
            at: Instant::now(),
            room,
            node: self.node.clone(),
            epoch,
            version: saved,
        });
        if self.faults.chance(self.faults.plan().store_lose_answer) {
            return Err(StoreError::Unavailable(
                "the commit's answer was lost (simulated)".into(),
            ));
        }
        Ok(saved)
    }

    async fn seed_users(&self, users: &[UserSeed]) -> Result<(), StoreError> {
        self.inner.seed_users(users).await
    }

    async fn list_users(&self, limit: usize) -> Result<Vec<UserSummary>, StoreError> {
        self.inner.list_users(limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check().await?;
        self.inner.ping().await
    }
}
