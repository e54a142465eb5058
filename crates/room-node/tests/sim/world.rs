//! A simulated cluster: N engines over the faulty ports of [`crate::faults`],
//! with simulated clients, on tokio's paused clock.
//!
//! A client is two tasks, as a socket is: a driver that hands the session
//! its commands (and may wait, as a socket's reader does on ENTER), and a
//! reader that drains the session's outbox and keeps what the client would
//! show: the room rebuilt from the events it received.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use room_core::{
    Cell, ClientMsg, Direction, Map, MapDoc, RoomId, RoomView, ServerMsg, UserId, parse_server_frame,
    split_batch,
};
use room_node::memory::{MemoryHosting, MemoryMapStore, MemoryNodes};
use room_node::{ClusterPorts, Engine, EngineConfig, Next, RoomEvent};
use room_ports::{MapStore, NodeId, UserSeed};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::faults::{Faults, FaultyHosting, FaultyNodes, FaultyStore, SimBus};

/// How long a dropped socket's seat is held in the simulated cluster.
pub const RESUME_GRACE: Duration = Duration::from_secs(5);

/// Settings of one simulated world.
#[derive(Debug, Clone)]
pub struct Setup {
    pub nodes: usize,
    /// Rooms, each named by its owner.
    pub rooms: Vec<u64>,
    /// Every user (owners included).
    pub users: Vec<u64>,
    pub lease: Duration,
    pub node_ttl: Duration,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            nodes: 3,
            rooms: vec![1, 2],
            users: (1..=6).collect(),
            lease: Duration::from_secs(3),
            node_ttl: Duration::from_secs(6),
        }
    }
}

/// A room event a node applied (seen by that node's observer).
#[derive(Debug, Clone)]
pub struct Applied {
    /// When, in the order of [`Faults::ticket`].
    pub order: u64,
    pub at: Instant,
    pub node: String,
    pub room: RoomId,
    /// For a MOVE: who, and to which cell.
    pub moved: Option<(u64, Cell)>,
}

/// How a resume was answered, as the client saw it (PROTOCOL.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeOutcome {
    /// `13 RESUMED` and the replay.
    Resumed,
    /// A fresh SYNC and a new SEAT.
    Synced,
    /// ERROR 76408: the seat was gone.
    Expired,
    /// Another ERROR (76503 while the room had no host, say).
    Refused,
    /// No answer before the client resumed again or the run ended.
    Unanswered,
}

/// What one client saw and did.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// The room as the client's received events make it: user -> cell.
    pub shown: BTreeMap<u64, Cell>,
    /// The map of the last SYNC received.
    pub map: Option<Map>,
    /// The last SYNC received.
    pub last_sync: Option<RoomView>,
    /// ENTERs sent: room, when, and when the session's answer came back.
    pub enters: Vec<(RoomId, Instant, Option<Instant>)>,
    /// The room the session says it is in after its last command.
    pub in_room: Option<RoomId>,
    /// How the server closed the socket, if it did.
    pub closed: Option<String>,
    /// BUILDs sent: the map's side and when.
    pub builds: Vec<(u16, Instant)>,
    /// Every MOVE received, in order: who, and to which cell.
    pub moves: Vec<(u64, Cell)>,
    /// When a SYNC or an ERROR arrived (what answers a BUILD).
    pub answers: Vec<Instant>,
    /// When the server closed the socket.
    pub closed_at: Option<Instant>,
    pub syncs_received: usize,
    /// Every LEAVE received: when, and of whom.
    pub leaves: Vec<(Instant, u64)>,
    /// The socket opted into resume (PROTOCOL.md §9).
    pub opted_in: bool,
    /// The seat the last SEAT named: room and seat number.
    pub seat: Option<(RoomId, u64)>,
    /// The `seq` of the last room event this client's state contains.
    pub seq: Option<u64>,
    /// Each resume: when it was answered, and whether the socket was in the room then.
    pub resumes: Vec<(Instant, bool)>,
    /// RESUMED messages received.
    pub replays: usize,
    /// When the last SEAT or RESUMED arrived: the seat was with the room's host then.
    pub seated_at: Option<Instant>,
    /// A resume asked and not answered yet: whether the room's host died
    /// since [`ClientLog::seated_at`].
    pub resuming: Option<bool>,
    /// How each resume was answered: whether the room's host had died, and how.
    pub resume_outcomes: Vec<(bool, ResumeOutcome)>,
    /// The socket the client uses now: one it dropped no longer writes here.
    pub socket: u64,
    /// Every ERROR received: its code.
    pub errors: Vec<room_core::ErrorCode>,
    /// Every `"seq"` received, in order (PROTOCOL.md §9), on any of its sockets.
    pub numbers: Vec<u64>,
}

/// One simulated client (one socket).
pub struct Client {
    pub user: u64,
    pub node: usize,
    actions: mpsc::Sender<ClientMsg>,
    pub log: Arc<Mutex<ClientLog>>,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The readable record of a run, printed when a check fails.
#[derive(Clone, Default)]
pub struct Trace {
    lines: Arc<Mutex<Vec<String>>>,
    start: Option<Instant>,
}

impl Trace {
    pub fn line(&self, text: impl AsRef<str>) {
        let at = self.start.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let line = format!("{at:8.3}s {}", text.as_ref());
        if crate::live_log() {
            eprintln!("  {line}");
        }
        lock(&self.lines).push(line);
    }

    pub fn tail(&self, n: usize) -> String {
        let lines = lock(&self.lines);
        let from = lines.len().saturating_sub(n);
        let mut out = String::new();
        for line in &lines[from..] {
            let _ = writeln!(out, "  {line}");
        }
        out
    }
}

pub struct World {
    pub seed: u64,
    pub setup: Setup,
    pub faults: Arc<Faults>,
    pub bus: SimBus,
    hosting: Arc<MemoryHosting>,
    registry: Arc<MemoryNodes>,
    pub store: Arc<MemoryMapStore>,
    pub engines: Vec<Option<Engine>>,
    pub clients: HashMap<u64, Client>,
    /// What clients whose socket dropped showed, for a resume.
    dropped: HashMap<u64, Arc<Mutex<ClientLog>>>,
    /// When the host of each room was last killed (SIGKILL, not a drain).
    host_deaths: HashMap<RoomId, Instant>,
    pub applied: Arc<Mutex<Vec<Applied>>>,
    pub trace: Trace,
    pub start: Instant,
    /// Sockets opened so far (each client's current one is in its log).
    sockets_opened: std::sync::atomic::AtomicU64,
    /// Engines started so far: each gets its own session id prefix.
    generations: std::sync::atomic::AtomicU32,
}

pub fn node_name(i: usize) -> String {
    format!("n{}", i + 1)
}

impl World {
    pub async fn new(seed: u64, setup: Setup) -> World {
        let faults = Faults::new(seed);
        let store = Arc::new(MemoryMapStore::new());
        let users: Vec<UserSeed> = setup
            .users
            .iter()
            .map(|&u| UserSeed {
                user: UserId(u),
                nickname: format!("u{u}"),
                games: Vec::new(),
            })
            .collect();
        store.seed_users(&users).await.expect("seeding the memory store");
        let mut world = World {
            seed,
            faults: faults.clone(),
            bus: SimBus::new(faults),
            hosting: Arc::new(MemoryHosting::new(setup.lease)),
            registry: Arc::new(MemoryNodes::new(setup.node_ttl)),
            store,
            engines: Vec::new(),
            clients: HashMap::new(),
            dropped: HashMap::new(),
            host_deaths: HashMap::new(),
            applied: Arc::default(),
            trace: Trace {
                lines: Arc::default(),
                start: Some(Instant::now()),
            },
            setup: setup.clone(),
            start: Instant::now(),
            generations: Default::default(),
            sockets_opened: Default::default(),
        };
        for i in 0..setup.nodes {
            let engine = world.start_engine(i);
            world.engines.push(Some(engine));
        }
        world
    }

    fn start_engine(&self, i: usize) -> Engine {
        let name = node_name(i);
        let id = NodeId(name.clone());
        let ports = ClusterPorts {
            node: id.clone(),
            advertise: format!("ws://{name}/library"),
            hosting: Arc::new(FaultyHosting {
                inner: self.hosting.clone(),
                node: name.clone(),
                faults: self.faults.clone(),
            }),
            registry: Arc::new(FaultyNodes {
                inner: self.registry.clone(),
                node: name.clone(),
                faults: self.faults.clone(),
            }),
            bus: Arc::new(self.bus.join(&id)),
            lease_ttl: self.setup.lease,
            node_ttl: self.setup.node_ttl,
        };
        let store = Arc::new(FaultyStore {
            inner: self.store.clone(),
            node: name.clone(),
            faults: self.faults.clone(),
        });
        let applied = self.applied.clone();
        let faults = self.faults.clone();
        let observer_node = name.clone();
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Engine::builder(store)
            .config(EngineConfig {
                resume_grace: RESUME_GRACE,
                ..EngineConfig::default()
            })
            .seat_key(seat_key())
            .session_id_prefix(generation + 1)
            .cluster(ports)
            .observer(Arc::new(move |event: &RoomEvent| {
                let (room, moved) = match event {
                    RoomEvent::Moved { room, user, cell } => (*room, Some((user.0, *cell))),
                    RoomEvent::Entered { room, .. } | RoomEvent::Left { room, .. } => (*room, None),
                    _ => return,
                };
                lock(&applied).push(Applied {
                    order: faults.ticket(),
                    at: Instant::now(),
                    node: observer_node.clone(),
                    room,
                    moved,
                });
            }))
            .build()
    }

    /// Kill node `i` (as SIGKILL would): its sockets end, nothing is handed over.
    pub async fn kill(&mut self, i: usize) {
        if let Some(engine) = self.engines[i].take() {
            let rooms = engine.hosted_rooms();
            self.trace
                .line(format!("{} killed (hosting {rooms:?})", node_name(i)));
            for room in rooms {
                self.host_deaths.insert(room, Instant::now());
            }
            engine.halt().await;
        }
    }

    /// Stop node `i` as SIGTERM does (its sockets close with 1001, its
    /// rooms are handed over), in the background; it is gone at once for
    /// new sockets.
    pub fn stop(&mut self, i: usize, drain: Duration) {
        if let Some(engine) = self.engines[i].take() {
            self.trace.line(format!("{} stops", node_name(i)));
            tokio::spawn(async move { engine.shutdown(drain).await });
        }
    }

    /// Start node `i` again under the same id.
    pub fn restart(&mut self, i: usize) {
        if self.engines[i].is_none() {
            self.trace.line(format!("{} restarted", node_name(i)));
            self.engines[i] = Some(self.start_engine(i));
        }
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.engines.len())
            .filter(|&i| self.engines[i].is_some())
            .collect()
    }

    /// Open a socket for `user` on node `node` (closing the user's previous one, as a client that reconnects).
    pub fn connect(&mut self, user: u64, node: usize) -> bool {
        self.open(user, node, false)
    }

    /// Open a socket for `user` on node `node` that opts into resume.
    pub fn connect_resumable(&mut self, user: u64, node: usize) -> bool {
        self.open(user, node, true)
    }

    /// Drop `user`'s socket and resume its seat on a new one on node `node`
    /// (the client carries on with what it showed); false when it has no seat.
    pub fn resume(&mut self, user: u64, node: usize) -> bool {
        let log = self.clients.get(&user).map(|c| c.log.clone());
        let Some(log) = log.or_else(|| self.dropped.get(&user).cloned()) else {
            return false;
        };
        let (seat, seq) = {
            let log = lock(&log);
            (log.seat, log.seq)
        };
        let (Some((room, seat)), Some(seq)) = (seat, seq) else {
            self.trace
                .line(format!("u{user} has no seat to resume ({seat:?}, seq {seq:?})"));
            return false;
        };
        let Some(engine) = self.engines[node].clone() else {
            return false;
        };
        self.disconnect(user);
        {
            let mut log = lock(&log);
            let host_died = self
                .host_deaths
                .get(&room)
                .is_some_and(|died| log.seated_at.is_none_or(|seated| seated <= *died));
            if let Some(earlier) = log.resuming.replace(host_died) {
                log.resume_outcomes.push((earlier, ResumeOutcome::Unanswered));
            }
            log.closed = None;
            log.closed_at = None;
            log.in_room = None;
        }
        self.trace.line(format!(
            "u{user}@{} resumes seat {seat} of room {room} from {seq}",
            node_name(node)
        ));
        self.open_with(user, node, engine, log, Some((room, seat, seq)));
        true
    }

    fn open(&mut self, user: u64, node: usize, opted_in: bool) -> bool {
        let Some(engine) = self.engines[node].clone() else {
            return false;
        };
        self.disconnect(user);
        let log = Arc::new(Mutex::new(ClientLog {
            opted_in,
            ..ClientLog::default()
        }));
        self.open_with(user, node, engine, log, None);
        true
    }

    fn open_with(
        &mut self,
        user: u64,
        node: usize,
        engine: Engine,
        log: Arc<Mutex<ClientLog>>,
        resume: Option<(RoomId, u64, u64)>,
    ) {
        let me = self
            .sockets_opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let opted_in = {
            let mut log = lock(&log);
            log.socket = me;
            log.opted_in
        };
        let outbox = engine.new_socket_outbox(false, opted_in);
        let session = engine.open_session_with_outbox(UserId(user), format!("u{user}"), outbox.clone());
        let (actions, mut inbox) = mpsc::channel::<ClientMsg>(64);
        // The socket ends when the server closes it: the session ends with it.
        let (closed_tx, mut closed_rx) = tokio::sync::watch::channel(false);
        let trace = self.trace.clone();
        let who = format!("u{user}@{}", node_name(node));
        {
            let (log, trace, who) = (log.clone(), trace.clone(), who.clone());
            tokio::spawn(async move {
                let mut session = session;
                if let Some((room, seat, seq)) = resume {
                    session.resume(room, seat, seq).await;
                    let mut log = lock(&log);
                    if log.socket == me {
                        log.in_room = session.room();
                        log.resumes.push((Instant::now(), session.room().is_some()));
                    }
                    drop(log);
                    trace.line(format!("{who} resume answered: in {:?}", session.room()));
                }
                let mut gone = false;
                loop {
                    let msg = tokio::select! {
                        biased;
                        msg = inbox.recv() => msg,
                        _ = closed_rx.changed() => None,
                    };
                    let Some(msg) = msg else {
                        gone = !*closed_rx.borrow();
                        break;
                    };
                    let entering = match &msg {
                        ClientMsg::Enter { room_id, .. } => {
                            // A resume keeps the user's log for its new socket: an
                            // ENTER an older socket still had queued is not the
                            // current socket's (its answer is never recorded here;
                            // seeds 5069, 5328, 7048 counted it as never answered).
                            let mut log = lock(&log);
                            if log.socket == me {
                                log.enters.push((*room_id, Instant::now(), None));
                            }
                            Some(*room_id)
                        }
                        _ => None,
                    };
                    session.handle(msg).await;
                    let mut log = lock(&log);
                    if log.socket != me {
                        continue;
                    }
                    log.in_room = session.room();
                    if let Some(room) = entering {
                        if let Some(last) = log.enters.last_mut() {
                            last.2 = Some(Instant::now());
                        }
                        trace.line(format!("{who} ENTER {room} answered: in {:?}", session.room()));
                    }
                    if log.closed.is_some() {
                        break;
                    }
                }
                // The socket closes: the session ends (LEAVE, PROTOCOL.md §8),
                // or, dropped by the client without LEAVE or closed by a
                // server going away, holds its seat (§9), as adapter-ws does.
                let going_away = lock(&log).closed.as_deref() == Some("GoingAway");
                if (gone || going_away) && opted_in {
                    session.hold_seat();
                } else {
                    drop(session);
                }
            });
        }
        {
            let (log, trace, who) = (log.clone(), trace.clone(), who.clone());
            tokio::spawn(async move {
                loop {
                    match outbox.next(64).await {
                        Next::Frames(frames) => {
                            for frame in frames {
                                for line in split_batch(frame.as_str()) {
                                    let Ok(msg) = parse_server_frame(line) else {
                                        trace.line(format!("{who} got an unparsable frame {line:?}"));
                                        continue;
                                    };
                                    let mut log = lock(&log);
                                    if log.socket != me {
                                        continue;
                                    }
                                    if let Ok(Some(seq)) = room_core::frame_seq(line) {
                                        log.seq = Some(seq);
                                        log.numbers.push(seq);
                                    }
                                    show(&mut log, &msg, &trace, &who);
                                }
                            }
                        }
                        Next::Close(reason) => {
                            trace.line(format!("{who} closed by the server: {reason:?}"));
                            let mut log = lock(&log);
                            if log.socket != me {
                                return;
                            }
                            log.closed = Some(format!("{reason:?}"));
                            log.closed_at = Some(Instant::now());
                            log.in_room = None;
                            let _ = closed_tx.send(true);
                            return;
                        }
                    }
                }
            });
        }
        self.trace.line(format!("{who} connects"));
        self.clients.insert(
            user,
            Client {
                user,
                node,
                actions,
                log,
            },
        );
    }

    /// How every resume of the run was answered (a resume still unanswered
    /// counts as such), each with whether the room's host had been killed
    /// since the client's seat was last confirmed.
    pub fn resume_outcomes(&self) -> Vec<(bool, ResumeOutcome)> {
        let mut logs: Vec<&Arc<Mutex<ClientLog>>> = self.clients.values().map(|c| &c.log).collect();
        logs.extend(self.dropped.values());
        logs.sort_by_key(|log| Arc::as_ptr(log));
        logs.dedup_by_key(|log| Arc::as_ptr(log));
        let mut outcomes = Vec::new();
        for log in logs {
            let log = lock(log);
            outcomes.extend(log.resume_outcomes.iter().copied());
            outcomes.extend(log.resuming.map(|died| (died, ResumeOutcome::Unanswered)));
        }
        outcomes
    }

    /// What `user`'s client shows, whether its socket is open or dropped.
    pub fn log_of(&self, user: u64) -> Arc<Mutex<ClientLog>> {
        self.clients
            .get(&user)
            .map(|c| c.log.clone())
            .or_else(|| self.dropped.get(&user).cloned())
            .expect("a client of this user")
    }

    /// Close `user`'s socket without LEAVE.
    pub fn disconnect(&mut self, user: u64) {
        if let Some(client) = self.clients.remove(&user) {
            self.dropped.insert(user, client.log.clone());
            self.trace
                .line(format!("u{user}@{} drops its socket", node_name(client.node)));
        }
    }

    /// Send `msg` from `user`'s socket (if it has one).
    pub fn send(&self, user: u64, msg: ClientMsg) {
        let Some(client) = self.clients.get(&user) else {
            return;
        };
        if lock(&client.log).closed.is_some() {
            return;
        }
        if let ClientMsg::Build { map, .. } = &msg {
            lock(&client.log).builds.push((map.side as u16, Instant::now()));
        }
        self.trace.line(format!(
            "u{user}@{} sends {}",
            node_name(client.node),
            describe(&msg)
        ));
        // A client whose reader is stuck stops reading; its commands wait (bounded).
        let _ = client.actions.try_send(msg);
    }

    pub fn enter(&self, user: u64, room: u64) {
        self.send(
            user,
            ClientMsg::Enter {
                room_id: RoomId(room),
                authorization: None,
            },
        );
    }

    pub fn step(&self, user: u64, direction: Direction) {
        self.send(user, ClientMsg::Move { direction });
    }

    pub fn build(&self, user: u64, side: u16) {
        self.send(
            user,
            ClientMsg::Build {
                map: map_of_side(side),
                reference: None,
            },
        );
    }

    /// Let `d` of virtual time pass.
    pub async fn run_for(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    /// Change one fault of the plan, and say so in the trace.
    pub fn fault<T: std::fmt::Debug>(
        &self,
        what: &str,
        value: T,
        set: impl FnOnce(&mut crate::faults::FaultPlan, T),
    ) {
        self.trace.line(format!("fault: {what} {value:?}"));
        self.faults.change(|plan| set(plan, value));
    }

    /// Redis restarted without its data: every lease, epoch counter, snapshot
    /// and heartbeat is gone.
    pub fn wipe_redis(&self) {
        self.trace.line("redis restarted empty");
        self.hosting.forget_everything();
        self.registry.forget_everything();
    }

    /// The room as its host has it now, and which node that is.
    pub async fn truth(&self, room: u64) -> Option<(usize, RoomView)> {
        for i in self.running() {
            let engine = self.engines[i].as_ref().expect("running");
            if engine.hosted_rooms().contains(&RoomId(room)) {
                let view = engine.room_view(RoomId(room)).await.ok().flatten()?;
                return Some((i, view));
            }
        }
        None
    }
}

pub fn map_of_side(side: u16) -> MapDoc {
    Map::empty_of_side(side).to_doc()
}

fn describe(msg: &ClientMsg) -> String {
    match msg {
        ClientMsg::Enter { room_id, .. } => format!("ENTER {room_id}"),
        ClientMsg::Sync => "SYNC".into(),
        ClientMsg::Leave => "LEAVE".into(),
        ClientMsg::Move { direction } => format!("MOVE {direction:?}"),
        ClientMsg::Build { map, .. } => format!("BUILD side {}", map.side),
    }
}

/// What a client shows after `msg`.
fn show(log: &mut ClientLog, msg: &ServerMsg, trace: &Trace, who: &str) {
    match msg {
        ServerMsg::Sync { room } => {
            log.shown = room.users.iter().map(|u| (u.user.0, u.cell)).collect();
            log.map = Some(room.map.clone());
            log.last_sync = Some(room.clone());
            log.syncs_received += 1;
            log.answers.push(Instant::now());
            trace.line(format!(
                "{who} <- SYNC room {} users {:?} side {}",
                room.room_id,
                log.shown.keys().collect::<Vec<_>>(),
                room.map.side()
            ));
        }
        ServerMsg::Enter { user, cell, .. } => {
            log.shown.insert(user.0, *cell);
        }
        ServerMsg::Move { user, cell, .. } => {
            log.shown.insert(user.0, *cell);
            log.moves.push((user.0, *cell));
        }
        ServerMsg::Leave { user } => {
            log.shown.remove(&user.0);
            log.leaves.push((Instant::now(), user.0));
            trace.line(format!("{who} <- LEAVE u{}", user.0));
        }
        ServerMsg::Error { code, message } => {
            if let Some(died) = log.resuming.take() {
                let outcome = if *code == room_core::ErrorCode::SeatExpired {
                    ResumeOutcome::Expired
                } else {
                    ResumeOutcome::Refused
                };
                log.resume_outcomes.push((died, outcome));
            }
            log.answers.push(Instant::now());
            log.errors.push(*code);
            trace.line(format!("{who} <- ERROR {code:?} {message}"));
        }
        ServerMsg::Seat { token, room } => {
            let seat = seat_key()
                .verify(token, UserId(who_user(who)))
                .expect("a seat token of this cluster, for this user");
            log.seat = Some((*room, seat.seat));
            log.seated_at = Some(Instant::now());
            if let Some(died) = log.resuming.take() {
                log.resume_outcomes.push((died, ResumeOutcome::Synced));
            }
            trace.line(format!("{who} <- SEAT {} in room {room}", seat.seat));
        }
        ServerMsg::Resumed { seq, .. } => {
            log.seq = Some(*seq);
            log.replays += 1;
            log.seated_at = Some(Instant::now());
            if let Some(died) = log.resuming.take() {
                log.resume_outcomes.push((died, ResumeOutcome::Resumed));
            }
            trace.line(format!("{who} <- RESUMED up to {seq}"));
        }
        other => trace.line(format!("{who} <- {other:?}")),
    }
}

/// The seat key of every simulated node.
pub fn seat_key() -> room_node::SeatKey {
    room_node::SeatKey::derive(b"the simulated cluster's secret")
}

/// The user of a `u{user}@{node}` name.
fn who_user(who: &str) -> u64 {
    who.trim_start_matches('u')
        .split('@')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a client's name")
}
