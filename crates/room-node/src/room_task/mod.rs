//! The one task that owns a hosted room: it applies every command of the room
//! to its `room_core::Room`, in arrival order, and fans the events out.

use std::collections::{BTreeSet, VecDeque};

use crate::ordered::IdMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::time::Instant as Clock;

use room_core::{
    ApprovedBuild, Audience, Command, ErrorCode, GameId, Map, MapDoc, Outgoing, Reject, Room, RoomId,
    RoomView, ServerMsg, SessionId, UserId,
};
use room_ports::{
    Acquired, HostingError, Lease, MapStore, NodeId, NodeMessage, RoomEvent as BusRoomEvent, SessionAt,
    StoreError, StoredRoom,
};
use tokio::sync::{mpsc, oneshot};

mod batch;
mod builds;
mod hosting;
mod node;
mod relay;

use crate::cluster::ClusterPorts;
use crate::fanout::{self, Encoded, send_to};
use crate::metrics_names as m;
use crate::observer::{Observers, RoomEvent};
use crate::outbox::{CloseReason, Outbox};
use crate::tasks::Tasks;
pub(crate) use node::{Shared, lock};

/// The answer to an ENTER sent to a room task.
#[derive(Debug)]
pub(crate) enum EnterReply {
    Entered,
    Refused(ErrorCode, String),
    /// The task was unloading; ask the engine for a fresh one.
    Gone,
}

pub(crate) enum RoomMsg {
    Enter {
        session: SessionId,
        user: UserId,
        nickname: String,
        outbox: Arc<Outbox>,
        reply: oneshot::Sender<EnterReply>,
    },
    Act {
        command: Command,
        received: Instant,
    },
    /// A BUILD from a local session, not checked yet.
    Build {
        session: SessionId,
        doc: MapDoc,
    },
    Saved {
        session: SessionId,
        build: ApprovedBuild,
        expected: u64,
        result: Result<u64, StoreError>,
    },
    /// The stored room, read back after a save met a conflict or lost its answer.
    ReadBack {
        session: SessionId,
        build: ApprovedBuild,
        expected: u64,
        stored: Result<Option<StoredRoom>, StoreError>,
    },
    View {
        reply: oneshot::Sender<RoomView>,
    },
    /// A command relayed from another node's session (this node hosts the room).
    Remote {
        from: SessionAt,
        user: UserId,
        nickname: String,
        frame: String,
    },
    /// An event of the room from its host (this node relays the room).
    BusEvent(BusRoomEvent),
    /// Events of the room may have been lost on the way here.
    Gap,
    /// The host refused a relayed ENTER.
    Refused {
        session: SessionId,
        frame: String,
    },
    /// A relay's sessions in the room now (this node hosts it).
    Members {
        node: NodeId,
        entered: Vec<SessionId>,
        entering: Vec<SessionId>,
    },
    /// The host asks which of this node's sessions are in the room (this node relays it).
    AskMembers {
        host: NodeId,
    },
    /// A relay lost events and asks for a fresh SYNC for its sessions.
    Resync {
        node: NodeId,
    },
    /// The answer of a background call to a backing service.
    Upkeep(Upkeep),
    /// This node is stopping: pass the room on and stop.
    HandOver {
        done: oneshot::Sender<()>,
    },
}

/// Results of the background calls a hosting or relaying room makes.
pub(crate) enum Upkeep {
    Renewed(Result<(), HostingError>),
    Reacquired(Result<Acquired, HostingError>),
    SnapshotSaved(Result<(), HostingError>),
    /// The nodes the registry lists now (`None`: it did not answer).
    Listed(Option<Vec<room_ports::NodeInfo>>),
    Holder(Option<(NodeId, u64)>),
    /// The owner's library, looked up for the pending BUILD `id`.
    Owned {
        id: u64,
        owned: Result<BTreeSet<GameId>, StoreError>,
    },
}

pub(crate) type RoomSender = mpsc::Sender<RoomMsg>;

/// Messages a room's mailbox holds. Past it a session's command is refused
/// (76503), a bus event or relay report is dropped (the relay sees the gap,
/// or reports again), and a LEAVE waits for room (it must never be lost).
pub(crate) const MAILBOX: usize = 1024;

/// Messages a hosted room may have waiting for the bus. Past it they are
/// dropped: relays see the gap in event numbers and ask for fresh SYNCs, so
/// a slow or blocked broker costs bounded memory, not a backlog of moves.
const PUBLISH_QUEUE: usize = 4096;

/// A socket of this node that is in (or entering) the room.
pub(crate) struct Member {
    pub session: SessionId,
    pub user: UserId,
    pub nickname: String,
    pub outbox: Arc<Outbox>,
}

/// How a phase of the room's life on this node ended.
pub(crate) enum Ended {
    /// The room is unloaded here.
    Done,
    /// Another node hosts the room now (or may): these local members carry on.
    Moved(Vec<Member>, Shadow),
}

/// The newest positions this node saw relayed, more recent than a snapshot
/// written behind by a host that died: a new host prefers them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Shadow {
    pub seq: u64,
    /// Who was in the room, where, and under which nickname.
    pub users: IdMap<UserId, (room_core::Cell, String)>,
}

/// Everything a room task needs from its engine.
pub(crate) struct RoomContext {
    pub id: RoomId,
    pub shared: Arc<Shared>,
    pub own_sender: RoomSender,
}

/// A BUILD admitted in the order it came, waiting for its library lookup
/// (`owned`) and for the BUILDs before it to be stored.
struct PendingBuild {
    id: u64,
    session: SessionId,
    doc: MapDoc,
    owned: Option<BTreeSet<GameId>>,
}

/// Work for the host's publisher task, done in order.
enum Publish {
    Event(BusRoomEvent),
    ToNode(NodeId, NodeMessage),
}

impl Hosting {
    /// Hand `job` to the room's publisher; dropped (and counted) when it is full.
    fn enqueue(&self, job: Publish) {
        if self.publisher.try_send(job).is_err() {
            metrics::counter!(m::QUEUE_FULL, "queue" => "publish").increment(1);
        }
    }
}

/// A session of another node in a hosted room.
pub(crate) struct RemoteSession {
    pub node: NodeId,
    /// Since when the host knows it: a relay's member list older than the
    /// ENTER may not name it yet.
    pub since: Clock,
}

impl RemoteSession {
    pub(crate) fn at(node: NodeId) -> RemoteSession {
        RemoteSession {
            node,
            since: Clock::now(),
        }
    }
}

/// The cluster side of a hosted room: its lease and the way to other nodes.
struct Hosting {
    ports: ClusterPorts,
    trust: Arc<crate::cluster::RegistryTrust>,
    lease: Lease,
    publisher: mpsc::Sender<Publish>,
    /// Sessions of other nodes in the room, with their node.
    remote: IdMap<SessionId, RemoteSession>,
    snapshot_dirty: bool,
    snapshot_in_flight: bool,
    renew_in_flight: bool,
    last_renew: Clock,
    /// When the renew in flight was sent: the lease it extends lasts a TTL from then at least.
    renew_sent: Clock,
    /// Until when this node certainly holds the lease. Past it (less a margin)
    /// the host fences itself: it applies nothing, since another node may be
    /// granted the room as soon as the lease ends.
    valid_until: Clock,
    /// LEAVEs that came while fenced, applied once the lease is confirmed
    /// (dropping them would leave ghosts).
    deferred_leaves: Vec<SessionId>,
    /// Remote nodes the registry did not list, since when: one still not
    /// listed half a node lifetime later is dead (a registry that just lost
    /// its data lists nobody until the next heartbeats).
    unlisted: IdMap<NodeId, Clock>,
    /// Placeholder sessions of users restored from relayed events (not the
    /// snapshot), with the time they leave unless a relay enters them again.
    unconfirmed: IdMap<SessionId, Clock>,
}

struct RoomTask {
    room: Room,
    outboxes: IdMap<SessionId, Arc<Outbox>>,
    /// Who the local sessions are, to carry them over if the room moves.
    members: IdMap<SessionId, (UserId, String)>,
    /// Why the stored layout was not used, told to the owner when they enter.
    stored_map_problem: Option<String>,
    saving: bool,
    pending_builds: VecDeque<PendingBuild>,
    /// BUILDs admitted and not answered yet.
    builds: builds::InFlight,
    next_build: u64,
    own_sender: RoomSender,
    store: Arc<dyn MapStore>,
    observers: Observers,
    tasks: Tasks,
    hosting: Option<Hosting>,
    lost: bool,
    /// Sessions recently replaced by a newer one of the same user (newest last).
    replaced: VecDeque<(SessionId, UserId)>,
    /// The batch=1 sockets among `outboxes` and the messages of the current tick.
    batch: batch::Batch,
}

const NOT_IN_ROOM: &str = "not in a room yet: send ENTER first";

/// How many replaced sessions are remembered, for their commands still in flight.
const REPLACED_REMEMBERED: usize = 64;

/// Serve room `id` on this node until nobody here needs it.
pub(crate) async fn run(
    id: RoomId,
    shared: Arc<Shared>,
    own_sender: RoomSender,
    mut inbox: mpsc::Receiver<RoomMsg>,
) {
    let ctx = RoomContext {
        id,
        shared: shared.clone(),
        own_sender,
    };
    let Some(ports) = shared.cluster.clone() else {
        host(&ctx, &mut inbox, None, Vec::new(), Shadow::default()).await;
        return;
    };
    let mut members = Vec::new();
    let mut shadow = Shadow::default();
    let mut attempts = 0u32;
    loop {
        let asked_at = Clock::now();
        let outcome = match ports.hosting.acquire(id, &ports.node).await {
            Ok(Acquired::Granted(lease)) => {
                let seen = std::mem::take(&mut shadow);
                host(
                    &ctx,
                    &mut inbox,
                    Some((ports.clone(), lease, asked_at)),
                    members,
                    seen,
                )
                .await
            }
            Ok(Acquired::HeldBy { node, epoch }) if node != ports.node => {
                relay::relay(&ctx, &mut inbox, &ports, node, epoch, members).await
            }
            Ok(Acquired::HeldBy { .. }) | Err(_) => {
                attempts += 1;
                if attempts > 20 {
                    tracing::warn!(room = %id, "cannot find or take the room's host; refusing its sessions");
                    for member in members {
                        member.outbox.close(CloseReason::TryAgainLater);
                    }
                    let message = "the room's host cannot be found now; try again".to_owned();
                    close_inbox(&ctx, &mut inbox, || {
                        EnterReply::Refused(ErrorCode::Unavailable, message.clone())
                    });
                    return;
                }
                tokio::time::sleep(ports.lease_ttl / 10).await;
                continue;
            }
        };
        match outcome {
            Ended::Done => return,
            Ended::Moved(carried, seen) => {
                members = carried;
                shadow = seen;
                attempts = 0;
            }
        }
    }
}

/// Host the room: load it, serve it, until it empties (or its lease is lost).
async fn host(
    ctx: &RoomContext,
    inbox: &mut mpsc::Receiver<RoomMsg>,
    lease: Option<(ClusterPorts, Lease, Clock)>,
    members: Vec<Member>,
    shadow: Shadow,
) -> Ended {
    let id = ctx.id;
    let store = ctx.shared.store.clone();
    let (room, stored_map_problem) = match load(id, store.as_ref(), &ctx.shared).await {
        Ok(loaded) => loaded,
        Err((code, message)) => {
            tracing::debug!(room = %id, %message, "room not loaded");
            if let Some((ports, lease, _)) = &lease {
                let _ = ports.hosting.release(lease).await;
            }
            for member in &members {
                queue_error(&member.outbox, code, message.clone());
                member.outbox.close(CloseReason::TryAgainLater);
            }
            close_inbox(ctx, inbox, || EnterReply::Refused(code, message.clone()));
            return Ended::Done;
        }
    };
    metrics::gauge!(m::ROOMS).increment(1.0);
    let hosting = match lease {
        Some((ports, lease, acquired_at)) => {
            ctx.shared.set_hosted(id, true);
            Some(start_hosting(
                ports,
                lease,
                ctx.shared.trust.clone(),
                &ctx.shared.tasks,
                acquired_at,
            ))
        }
        None => None,
    };
    let mut task = RoomTask {
        room,
        outboxes: IdMap::default(),
        members: IdMap::default(),
        stored_map_problem,
        saving: false,
        pending_builds: VecDeque::new(),
        builds: builds::InFlight::new(ctx.shared.config.builds_in_flight),
        next_build: 0,
        own_sender: ctx.own_sender.clone(),
        store,
        observers: ctx.shared.observers.clone(),
        tasks: ctx.shared.tasks.clone(),
        hosting,
        lost: false,
        replaced: VecDeque::new(),
        batch: batch::Batch::new(ctx.shared.config.tick),
    };
    if task.hosting.is_some() {
        task.take_over(members, shadow).await;
    }
    let mut upkeep = tokio::time::interval(std::time::Duration::from_millis(100));
    upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    let ended = loop {
        // Biased, timers first: the order of what is ready never depends on
        // the runtime's random pick (so a simulated run replays), and a busy
        // inbox cannot starve the tick or the lease renewal.
        let msg = tokio::select! {
            biased;
            // The tick timer exists only while batching sockets have something pending.
            _ = tokio::time::sleep_until(task.batch.deadline()), if task.batch.pending() => {
                task.batch.flush();
                continue;
            }
            _ = upkeep.tick(), if task.hosting.is_some() => {
                ticks += 1;
                task.upkeep(ticks);
                if task.lost {
                    break Ended::Moved(task.carry_members(), Shadow::default());
                }
                continue;
            }
            msg = inbox.recv() => msg,
        };
        let Some(msg) = msg else {
            task.batch.flush_all();
            break Ended::Done;
        };
        if let RoomMsg::HandOver { done } = msg {
            task.hand_over().await;
            close_inbox(ctx, inbox, || EnterReply::Gone);
            let _ = done.send(());
            break Ended::Done;
        }
        task.handle(msg);
        if task.lost {
            break Ended::Moved(task.carry_members(), Shadow::default());
        }
        let remote_members = task.hosting.as_ref().is_some_and(|h| !h.remote.is_empty());
        if task.room.is_empty() && !remote_members && !task.saving && inbox.is_empty() {
            task.release().await;
            close_inbox(ctx, inbox, || EnterReply::Gone);
            break Ended::Done;
        }
    };
    if task.hosting.is_some() {
        ctx.shared.set_hosted(id, false);
    }
    metrics::gauge!(m::ROOMS).decrement(1.0);
    ended
}

fn start_hosting(
    ports: ClusterPorts,
    lease: Lease,
    trust: Arc<crate::cluster::RegistryTrust>,
    tasks: &Tasks,
    acquired_at: Clock,
) -> Hosting {
    let (publisher, mut jobs) = mpsc::channel::<Publish>(PUBLISH_QUEUE);
    let bus = ports.bus.clone();
    // One task per hosted room publishes in order; the room itself never waits on the broker.
    tasks.spawn(async move {
        while let Some(job) = jobs.recv().await {
            let result = match &job {
                Publish::Event(event) => bus.publish(event).await,
                Publish::ToNode(node, message) => bus.send_to_node(node, message).await,
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "bus send failed; receivers will resynchronise");
            }
        }
    });
    tracing::info!(room = %lease.room, epoch = lease.epoch, "hosting room");
    let lease_ttl = ports.lease_ttl;
    Hosting {
        ports,
        trust,
        lease,
        publisher,
        remote: IdMap::default(),
        snapshot_dirty: true,
        snapshot_in_flight: false,
        renew_in_flight: false,
        last_renew: acquired_at,
        renew_sent: acquired_at,
        valid_until: acquired_at + lease_ttl,
        deferred_leaves: Vec::new(),
        unlisted: IdMap::default(),
        unconfirmed: IdMap::default(),
    }
}

async fn load(
    id: RoomId,
    store: &dyn MapStore,
    shared: &Shared,
) -> Result<(Room, Option<String>), (ErrorCode, String)> {
    let stored = match store.load_room(id).await {
        Ok(Some(stored)) => stored,
        Ok(None) | Err(StoreError::RoomNotFound(_)) => {
            return Err((
                ErrorCode::RoomNotFound,
                format!("room {id} not found: no such user"),
            ));
        }
        Err(e) => {
            tracing::warn!(room = %id, error = %e, "cannot load room");
            return Err((
                ErrorCode::Unavailable,
                "the room store is unavailable; try again".to_owned(),
            ));
        }
    };
    let limits = shared.config.limits;
    if let Some(place) = &stored.set_aside {
        // Kept, not overwritten: an operator can look at it; the owner can BUILD again.
        tracing::error!(room = %id, version = stored.version, kept_as = %place, "stored map cannot be read; kept it aside, the room starts empty");
        metrics::counter!(m::STORE_CORRUPT).increment(1);
        let problem = format!(
            "the stored map could not be read; it was kept aside ({place}) and the room starts empty"
        );
        return Ok((Room::new(id, Map::empty(), stored.version, limits), Some(problem)));
    }
    let Some(doc) = stored.map else {
        return Ok((Room::new(id, Map::empty(), stored.version, limits), None));
    };
    match Map::validate(&doc, room_core::map::MAX_SIDE) {
        Ok(map) => Ok((Room::new(id, map, stored.version, limits), None)),
        Err(e) => {
            // Never replace it silently: the owner is told, and only their own BUILD overwrites it.
            tracing::error!(room = %id, version = stored.version, error = %e, "stored map no longer passes validation");
            let problem = format!(
                "the stored map (version {}) is invalid and was not loaded: {e}",
                stored.version
            );
            Ok((Room::new(id, Map::empty(), stored.version, limits), Some(problem)))
        }
    }
}

/// Stop taking messages: leave the registry, then answer whatever was already queued.
pub(crate) fn close_inbox(
    ctx: &RoomContext,
    inbox: &mut mpsc::Receiver<RoomMsg>,
    answer: impl Fn() -> EnterReply,
) {
    ctx.shared.forget_room(ctx.id, &ctx.own_sender);
    inbox.close();
    while let Ok(msg) = inbox.try_recv() {
        match msg {
            RoomMsg::Enter { reply, .. } => {
                let _ = reply.send(answer());
            }
            RoomMsg::HandOver { done } => {
                let _ = done.send(());
            }
            _ => {}
        }
    }
}

pub(crate) fn queue_error(outbox: &Outbox, code: ErrorCode, message: String) {
    send_to(outbox, &Encoded::new(&ServerMsg::error(code, message)));
}

impl RoomTask {
    fn handle(&mut self, msg: RoomMsg) {
        let msg = if self.fenced() {
            match self.refuse_while_fenced(msg) {
                Some(msg) => msg,
                None => return,
            }
        } else {
            msg
        };
        match msg {
            RoomMsg::Enter {
                session,
                user,
                nickname,
                outbox,
                reply,
            } => {
                self.enter(session, user, nickname, outbox, reply);
            }
            RoomMsg::Act { command, received } => {
                self.act(command);
                metrics::histogram!(m::COMMAND_SECONDS).record(received.elapsed().as_secs_f64());
            }
            RoomMsg::Build { session, doc } => {
                let session = self.current_session(session);
                match self.room.occupant_of_session(session) {
                    Some(occupant) => self.check_build(session, occupant.user, doc),
                    None => self.send_error(session, ErrorCode::NotInRoom, NOT_IN_ROOM.to_owned()),
                }
            }
            RoomMsg::Saved {
                session,
                build,
                expected,
                result,
            } => match builds::after_save(&result) {
                builds::AfterSave::Commit(version) => self.build_done(session, Ok((build, version))),
                builds::AfterSave::Refuse(code, message) => {
                    tracing::warn!(room = %self.room.id(), error = ?result.err(), "BUILD not stored");
                    self.build_done(session, Err((code, message)));
                }
                builds::AfterSave::ReadBack => {
                    // Still saving: no other BUILD starts from a version that may be stale.
                    tracing::info!(room = %self.room.id(), error = ?result.err(), "BUILD answer unclear; reading the stored map back");
                    let (store, sender, room) = (self.store.clone(), self.own_sender.clone(), self.room.id());
                    self.tasks.spawn(async move {
                        let stored = store.load_room(room).await;
                        let _ = sender
                            .send(RoomMsg::ReadBack {
                                session,
                                build,
                                expected,
                                stored,
                            })
                            .await;
                    });
                }
            },
            RoomMsg::ReadBack {
                session,
                build,
                expected,
                stored,
            } => match builds::resolve(self.room.id(), expected, build.map(), stored) {
                builds::Resolved::Committed(version) => self.build_done(session, Ok((build, version))),
                builds::Resolved::Refuse(code, message) => self.build_done(session, Err((code, message))),
                builds::Resolved::Reload(map, version, problem) => {
                    tracing::warn!(room = %self.room.id(), version, "the stored map is newer than the room's; reloaded it");
                    let events = self.room.reload(map, version);
                    self.stored_map_problem = problem;
                    self.deliver(events);
                    self.build_done(
                        session,
                        Err((ErrorCode::Unavailable, builds::CONFLICT.to_owned())),
                    );
                }
            },
            RoomMsg::View { reply } => {
                let _ = reply.send(self.room.view());
            }
            RoomMsg::Remote {
                from,
                user,
                nickname,
                frame,
            } => self.remote(from, user, nickname, &frame),
            RoomMsg::Resync { node } => self.resync(&node),
            // Both this node and the asker believe they host the room: the lease decides, not this.
            RoomMsg::AskMembers { .. } => {}
            RoomMsg::Members {
                node,
                entered,
                entering,
            } => self.reconcile(&node, &entered, &entering),
            RoomMsg::Upkeep(result) => self.on_upkeep(result),
            // A host publishes; it does not consume its own room's events.
            RoomMsg::BusEvent(_) | RoomMsg::Gap | RoomMsg::Refused { .. } | RoomMsg::HandOver { .. } => {}
        }
    }

    /// Whether this host may have lost its lease without knowing it yet.
    fn fenced(&self) -> bool {
        self.hosting
            .as_ref()
            .is_some_and(|h| Clock::now() + h.ports.lease_ttl / 10 >= h.valid_until)
    }

    /// While fenced, commands are refused with 76503 (LEAVEs wait); what
    /// applies nothing passes through.
    fn refuse_while_fenced(&mut self, msg: RoomMsg) -> Option<RoomMsg> {
        const FENCED: &str = "the room's host cannot confirm its lease now; try again";
        match msg {
            RoomMsg::Enter { reply, .. } => {
                let _ = reply.send(EnterReply::Refused(ErrorCode::Unavailable, FENCED.to_owned()));
            }
            RoomMsg::Act {
                command: Command::Leave { session },
                ..
            } => self.defer_leave(session),
            RoomMsg::Act { command, .. } => {
                if let Command::Move { session, .. } | Command::Sync { session } = command {
                    self.send_error(session, ErrorCode::Unavailable, FENCED.to_owned());
                }
            }
            RoomMsg::Build { session, .. } => {
                self.send_error(session, ErrorCode::Unavailable, FENCED.to_owned())
            }
            RoomMsg::Remote { from, frame, .. } => match room_core::parse_client_frame(&frame) {
                Ok(room_core::ClientMsg::Leave) => self.defer_leave(from.session),
                Ok(room_core::ClientMsg::Enter { .. }) => {
                    let error = ServerMsg::error(ErrorCode::Unavailable, FENCED).encode();
                    let refused = NodeMessage::EnterRefused {
                        room: self.room.id(),
                        session: from.session,
                        frame: error,
                    };
                    self.publish(Publish::ToNode(from.node.clone(), refused));
                }
                _ => self.send_remote(
                    &from.node,
                    from.session,
                    ServerMsg::error(ErrorCode::Unavailable, FENCED),
                ),
            },
            // The relay asks again when it sees it is still behind; it sends its members again.
            RoomMsg::Resync { .. } | RoomMsg::Members { .. } | RoomMsg::AskMembers { .. } => {}
            other => return Some(other),
        }
        None
    }

    fn defer_leave(&mut self, session: SessionId) {
        let Some(hosting) = &mut self.hosting else { return };
        // Bounded by the room's occupants: each can leave once.
        if !hosting.deferred_leaves.contains(&session) && self.room.occupant_of_session(session).is_some() {
            hosting.deferred_leaves.push(session);
        }
    }

    fn act(&mut self, command: Command) {
        if self.fenced() {
            if let Command::Leave { session } = command {
                self.defer_leave(session);
            }
            return;
        }
        let session = match &command {
            Command::Enter { session, .. }
            | Command::Sync { session }
            | Command::Move { session, .. }
            | Command::Leave { session } => *session,
        };
        let leaving = matches!(command, Command::Leave { .. });
        if leaving {
            // What it was sent before it leaves goes out now, and nothing after.
            self.batch.remove(session);
        }
        match self.room.apply(command) {
            Ok(events) => self.deliver(events),
            // A replaced session's late LEAVE or move: it no longer speaks for anyone here.
            Err(Reject::NotInRoom) if leaving => {}
            Err(reject) => self.refuse(session, &reject),
        }
        if leaving {
            self.outboxes.remove(&session);
            self.members.remove(&session);
            if let Some(hosting) = &mut self.hosting {
                hosting.remote.remove(&session);
            }
        }
    }

    fn enter(
        &mut self,
        session: SessionId,
        user: UserId,
        nickname: String,
        outbox: Arc<Outbox>,
        reply: oneshot::Sender<EnterReply>,
    ) {
        match self.apply_enter(session, user, nickname.clone()) {
            Ok(events) => {
                self.attach(session, outbox);
                self.members.insert(session, (user, nickname));
                self.after_enter(session, user, events);
                let _ = reply.send(EnterReply::Entered);
            }
            Err(reject) => {
                let _ = reply.send(EnterReply::Refused(reject.code(), reject.to_string()));
            }
        }
    }

    fn apply_enter(
        &mut self,
        session: SessionId,
        user: UserId,
        nickname: String,
    ) -> Result<Vec<Outgoing>, Reject> {
        // A socket this ENTER replaces stops being an occupant: flush it first.
        let replacing = self
            .room
            .occupant_of_user(user)
            .map(|o| o.session)
            .filter(|old| *old != session && self.batch.contains(*old));
        if let Some(old) = replacing {
            self.batch.remove(old);
        }
        let applied = self.room.apply(Command::Enter {
            session,
            user,
            nickname,
        });
        if let Some(old) = replacing
            && self.room.occupant_of_session(old).is_some()
            && let Some(outbox) = self.outboxes.get(&old)
        {
            self.batch.add(old, outbox.clone());
        }
        applied
    }

    /// Keep `outbox` as `session`'s socket (batching it if it asked for batch=1).
    fn attach(&mut self, session: SessionId, outbox: Arc<Outbox>) {
        if outbox.is_batched() {
            self.batch.add(session, outbox.clone());
        }
        self.outboxes.insert(session, outbox);
    }

    fn after_enter(&mut self, session: SessionId, user: UserId, events: Vec<Outgoing>) {
        let replaced = events.iter().any(|e| e.msg.closes_with().is_some());
        for event in events.iter().filter(|e| e.msg.closes_with().is_some()) {
            if let Audience::Session(old) = event.audience {
                if self.replaced.len() == REPLACED_REMEMBERED {
                    self.replaced.pop_front();
                }
                self.replaced.push_back((old, user));
            }
        }
        self.deliver(events);
        if replaced {
            self.notify(|room| RoomEvent::Replaced { room, user });
        }
        if user == self.room.id().owner()
            && let Some(problem) = self.stored_map_problem.clone()
        {
            self.send_error(session, ErrorCode::InvalidMap, problem);
        }
    }

    /// A command from a session on another node.
    fn remote(&mut self, from: SessionAt, user: UserId, nickname: String, frame: &str) {
        let session = from.session;
        let msg = match room_core::parse_client_frame(frame) {
            Ok(msg) => msg,
            Err(e) => {
                return self.send_remote(&from.node, session, ServerMsg::error(e.code(), e.to_string()));
            }
        };
        match msg {
            room_core::ClientMsg::Enter { .. } => match self.apply_enter(session, user, nickname) {
                Ok(events) => {
                    if let Some(hosting) = &mut self.hosting {
                        hosting
                            .remote
                            .insert(session, RemoteSession::at(from.node.clone()));
                    }
                    self.after_enter(session, user, events);
                }
                Err(reject) => {
                    let error = ServerMsg::error(reject.code(), reject.to_string()).encode();
                    let refused = NodeMessage::EnterRefused {
                        room: self.room.id(),
                        session,
                        frame: error,
                    };
                    self.publish(Publish::ToNode(from.node.clone(), refused));
                }
            },
            room_core::ClientMsg::Sync => self.act(Command::Sync { session }),
            room_core::ClientMsg::Move { direction } => self.act(Command::Move { session, direction }),
            room_core::ClientMsg::Leave => self.act(Command::Leave { session }),
            room_core::ClientMsg::Build { map } => self.remote_build(&from, user, map),
        }
    }

    /// A relayed BUILD: checked in the order of PROTOCOL.md §5; the owner's
    /// library is looked up in the background.
    fn remote_build(&mut self, from: &SessionAt, user: UserId, doc: MapDoc) {
        let session = self.current_session(from.session);
        tracing::debug!(room = %self.room.id(), from = %from.session, %session, "relayed BUILD");
        if self.room.occupant_of_session(session).is_none() {
            let error = ServerMsg::error(ErrorCode::NotInRoom, NOT_IN_ROOM);
            return self.send_remote(&from.node, session, error);
        }
        self.check_build(session, user, doc);
    }

    /// Check a BUILD of an occupant (local or relayed) in the order of
    /// PROTOCOL.md §5: owner, structure, then ownership, which needs the
    /// owner's library from the store (looked up in the background, so the
    /// room keeps serving moves), then queue it for storing.
    fn check_build(&mut self, session: SessionId, user: UserId, doc: MapDoc) {
        if user != self.room.id().owner() {
            return self.refuse(session, &Reject::NotOwner);
        }
        if let Err(e) = Map::validate(&doc, self.room.limits().max_side) {
            return self.refuse(session, &Reject::InvalidMap(e));
        }
        if !self.builds.admit() {
            return self.send_error(session, ErrorCode::RateLimited, builds::TOO_MANY.to_owned());
        }
        // Queued now, so BUILDs are stored in the order they came whenever their lookups end.
        self.next_build += 1;
        let id = self.next_build;
        self.pending_builds.push_back(PendingBuild {
            id,
            session,
            doc,
            owned: None,
        });
        let (store, sender) = (self.store.clone(), self.own_sender.clone());
        self.tasks.spawn(async move {
            let owned = store
                .owned_games(user)
                .await
                .map(|games| games.into_iter().map(|g| g.id).collect());
            let _ = sender.send(RoomMsg::Upkeep(Upkeep::Owned { id, owned })).await;
        });
    }

    /// The library lookup of pending BUILD `id` ended.
    fn on_owned(&mut self, id: u64, owned: Result<BTreeSet<GameId>, StoreError>) {
        let Some(index) = self.pending_builds.iter().position(|b| b.id == id) else {
            return;
        };
        match owned {
            Ok(owned) => self.pending_builds[index].owned = Some(owned),
            Err(e) => {
                let Some(build) = self.pending_builds.remove(index) else {
                    return;
                };
                self.builds.finish();
                let (code, message) = store_error_reply(&e);
                self.send_error(self.current_session(build.session), code, message);
            }
        }
        self.start_next_build();
    }

    /// A BUILD got its final answer: committed (everyone gets SYNC) or refused.
    fn build_done(&mut self, session: SessionId, outcome: Result<(ApprovedBuild, u64), (ErrorCode, String)>) {
        self.saving = false;
        self.builds.finish();
        match outcome {
            Ok((build, version)) => {
                tracing::debug!(room = %self.room.id(), version, side = build.map().side(), "BUILD stored");
                let events = self.room.commit_build(build, version);
                self.stored_map_problem = None;
                self.deliver(events);
                self.notify(|room| RoomEvent::Built { room, version });
            }
            Err((code, message)) => self.send_error(session, code, message),
        }
        self.start_next_build();
    }

    /// `node` says which of its sessions are in the room: the others it had
    /// here are gone (their LEAVE was lost), unless they entered so recently
    /// that the list was sent before their ENTER.
    fn reconcile(&mut self, node: &NodeId, entered: &[SessionId], entering: &[SessionId]) {
        let Some(hosting) = &mut self.hosting else { return };
        let now = Clock::now();
        // A relay with nobody left has ended: all of its sessions here are gone.
        let settled = if entered.is_empty() && entering.is_empty() {
            now
        } else {
            now.checked_sub(hosting.ports.lease_ttl / 3).unwrap_or(now)
        };
        let gone: Vec<SessionId> = hosting
            .remote
            .iter()
            .filter(|(session, remote)| {
                remote.node == *node
                    && remote.since <= settled
                    && !entered.contains(session)
                    && !entering.contains(session)
            })
            .map(|(session, _)| *session)
            .collect();
        if !gone.is_empty() {
            tracing::info!(room = %self.room.id(), %node, sessions = gone.len(), "forgetting sessions the relay no longer has");
        }
        for session in gone {
            self.act(Command::Leave { session });
        }
        for &session in entered {
            if self.room.occupant_of_session(session).is_none() {
                // Replaced or removed here, and the relay never heard: its socket must enter again.
                let error = ServerMsg::error(
                    ErrorCode::Unavailable,
                    "you are no longer in the room; enter again",
                );
                let refused = NodeMessage::EnterRefused {
                    room: self.room.id(),
                    session,
                    frame: error.encode(),
                };
                self.publish(Publish::ToNode(node.clone(), refused));
            }
        }
    }

    /// Fresh SYNCs for every session of `node` (it lost events).
    fn resync(&mut self, node: &NodeId) {
        let Some(hosting) = &self.hosting else { return };
        let sessions: Vec<SessionId> = hosting
            .remote
            .iter()
            .filter(|(_, remote)| remote.node == *node)
            .map(|(s, _)| *s)
            .collect();
        tracing::debug!(%node, sessions = sessions.len(), "fresh SYNCs for a relay that lost events");
        for session in sessions {
            self.act(Command::Sync { session });
        }
    }

    /// The session speaking for `session`'s user now: a BUILD sent just before
    /// its socket was replaced by the same user's newer one is the user's, and
    /// is answered on the newer socket rather than lost with the old one.
    fn current_session(&self, session: SessionId) -> SessionId {
        if self.room.occupant_of_session(session).is_some() {
            return session;
        }
        self.replaced
            .iter()
            .rev()
            .find(|(old, _)| *old == session)
            .and_then(|(_, user)| self.room.occupant_of_user(*user))
            .map_or(session, |occupant| occupant.session)
    }

    fn start_next_build(&mut self) {
        while !self.saving && self.pending_builds.front().is_some_and(|b| b.owned.is_some()) {
            let Some(PendingBuild {
                session,
                doc,
                owned: Some(owned),
                ..
            }) = self.pending_builds.pop_front()
            else {
                return;
            };
            let session = self.current_session(session);
            let approved = self.room.approve_build(session, &doc, &owned);
            tracing::debug!(room = %self.room.id(), %session, ok = approved.is_ok(), "BUILD checked");
            match approved {
                Ok(build) => {
                    self.saving = true;
                    let (store, sender, room) = (self.store.clone(), self.own_sender.clone(), self.room.id());
                    let expected = self.room.map_version();
                    let epoch = self.hosting.as_ref().map_or(0, |h| h.lease.epoch);
                    // Stored before anyone is told; the room keeps serving moves meanwhile.
                    self.tasks.spawn(async move {
                        let result = store.save_map(room, build.map(), expected, epoch).await;
                        let _ = sender
                            .send(RoomMsg::Saved {
                                session,
                                build,
                                expected,
                                result,
                            })
                            .await;
                    });
                }
                Err(reject) => {
                    self.builds.finish();
                    self.refuse(session, &reject);
                }
            }
        }
    }

    fn deliver(&mut self, events: Vec<Outgoing>) {
        if !self.observers.is_empty() {
            self.observe(&events);
        }
        if let Some(hosting) = &mut self.hosting {
            hosting.snapshot_dirty = true;
        }
        for event in events {
            let encoded = Encoded::new(&event.msg);
            let closes_with = event.msg.closes_with();
            self.publish_event(&event, &encoded);
            match event.audience {
                Audience::Session(session) => {
                    if self.batch.contains(session) {
                        self.batch.log(event.audience, &encoded);
                        if closes_with.is_some() {
                            self.batch.remove(session);
                        }
                    } else if let Some(outbox) = self.outboxes.get(&session) {
                        send_to(outbox, &encoded);
                    }
                    if closes_with.is_some() {
                        if let Some(outbox) = self.outboxes.remove(&session) {
                            outbox.close(CloseReason::Replaced);
                            self.members.remove(&session);
                        } else if let Some(hosting) = &mut self.hosting {
                            hosting.remote.remove(&session);
                        }
                    }
                }
                Audience::All | Audience::AllExcept(_) => {
                    let except = match event.audience {
                        Audience::AllExcept(except) => Some(except),
                        _ => None,
                    };
                    // Sockets that are not batching get the frame now; counted once per event.
                    let mut sent = 0;
                    if self.outboxes.len() > self.batch.len() {
                        for occupant in self.room.occupants() {
                            if Some(occupant.session) == except {
                                continue;
                            }
                            if let Some(outbox) = self.outboxes.get(&occupant.session)
                                && !self.batch.contains(occupant.session)
                                && fanout::push(outbox, encoded.frame.clone())
                            {
                                sent += 1;
                            }
                        }
                    }
                    encoded.count(sent);
                    self.batch.log(event.audience, &encoded);
                }
            }
        }
    }

    /// Publish `event` for the relays, while any session of another node is in the room.
    fn publish_event(&self, event: &Outgoing, encoded: &Encoded) {
        let Some(hosting) = &self.hosting else { return };
        let addressed_remote =
            matches!(event.audience, Audience::Session(s) if hosting.remote.contains_key(&s));
        if hosting.remote.is_empty() && !addressed_remote {
            return;
        }
        hosting.enqueue(Publish::Event(BusRoomEvent {
            room: self.room.id(),
            epoch: hosting.lease.epoch,
            seq: event.seq,
            audience: event.audience,
            frame: encoded.text().to_owned(),
        }));
    }

    fn publish(&self, job: Publish) {
        if let Some(hosting) = &self.hosting {
            hosting.enqueue(job);
        }
    }

    fn send_remote(&self, node: &NodeId, session: SessionId, msg: ServerMsg) {
        self.publish(Publish::ToNode(
            node.clone(),
            NodeMessage::Reply {
                session,
                frame: msg.encode(),
            },
        ));
    }

    /// Tell the observers what `events` changed (ENTER, MOVE, LEAVE; the rest is told by its caller).
    fn observe(&self, events: &[Outgoing]) {
        let room = self.room.id();
        for event in events {
            let observed = match &event.msg {
                ServerMsg::Enter { user, nickname, .. } => RoomEvent::Entered {
                    room,
                    user: *user,
                    nickname: nickname.clone(),
                },
                ServerMsg::Move { user, cell, .. } => RoomEvent::Moved {
                    room,
                    user: *user,
                    cell: *cell,
                },
                ServerMsg::Leave { user } => RoomEvent::Left { room, user: *user },
                _ => continue,
            };
            self.observers.notify(&observed);
        }
    }

    fn notify(&self, event: impl FnOnce(RoomId) -> RoomEvent) {
        if !self.observers.is_empty() {
            self.observers.notify(&event(self.room.id()));
        }
    }

    fn refuse(&mut self, session: SessionId, reject: &Reject) {
        self.send_error(session, reject.code(), reject.to_string());
    }

    fn send_error(&mut self, session: SessionId, code: ErrorCode, message: String) {
        if self.batch.contains(session) {
            // After what the tick already holds for it.
            let encoded = Encoded::new(&ServerMsg::error(code, message));
            self.batch.log(Audience::Session(session), &encoded);
        } else if let Some(outbox) = self.outboxes.get(&session) {
            send_to(outbox, &Encoded::new(&ServerMsg::error(code, message)));
        } else if let Some(node) = self
            .hosting
            .as_ref()
            .and_then(|h| h.remote.get(&session))
            .map(|remote| remote.node.clone())
        {
            self.send_remote(&node, session, ServerMsg::error(code, message));
        }
    }
}

use builds::store_error_reply;
