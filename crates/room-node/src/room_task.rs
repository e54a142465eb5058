//! The one task that owns a hosted room: it applies every command of the room
//! to its `room_core::Room`, in arrival order, and fans the events out.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use room_core::{
    ApprovedBuild, Audience, Command, ErrorCode, GameId, Map, MapDoc, Outgoing, Reject, Room, RoomId,
    RoomView, ServerMsg, SessionId, UserId,
};
use room_ports::{MapStore, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::engine::Shared;
use crate::fanout::{Encoded, send_to};
use crate::metrics_names as m;
use crate::observer::{Observers, RoomEvent};
use crate::outbox::{CloseReason, Outbox};

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
    Build {
        session: SessionId,
        doc: MapDoc,
        owned: BTreeSet<GameId>,
    },
    Saved {
        session: SessionId,
        build: ApprovedBuild,
        result: Result<u64, StoreError>,
    },
    View {
        reply: oneshot::Sender<RoomView>,
    },
}

pub(crate) type RoomSender = mpsc::UnboundedSender<RoomMsg>;

struct PendingBuild {
    session: SessionId,
    doc: MapDoc,
    owned: BTreeSet<GameId>,
}

struct RoomTask {
    room: Room,
    outboxes: HashMap<SessionId, Arc<Outbox>>,
    /// Why the stored layout was not used, told to the owner when they enter.
    stored_map_problem: Option<String>,
    saving: bool,
    pending_builds: VecDeque<PendingBuild>,
    own_sender: RoomSender,
    store: Arc<dyn MapStore>,
    observers: Observers,
}

/// Load room `id` and serve it until it is empty.
pub(crate) async fn run(
    id: RoomId,
    shared: Arc<Shared>,
    own_sender: RoomSender,
    mut inbox: mpsc::UnboundedReceiver<RoomMsg>,
) {
    let store = shared.store.clone();
    let loaded = load(id, store.as_ref(), &shared).await;
    let (room, stored_map_problem) = match loaded {
        Ok(loaded) => loaded,
        Err((code, message)) => {
            tracing::debug!(room = %id, %message, "room not loaded");
            close_inbox(id, &shared, &own_sender, &mut inbox, || {
                EnterReply::Refused(code, message.clone())
            });
            return;
        }
    };
    metrics::gauge!(m::ROOMS).increment(1.0);
    let mut task = RoomTask {
        room,
        outboxes: HashMap::new(),
        stored_map_problem,
        saving: false,
        pending_builds: VecDeque::new(),
        own_sender: own_sender.clone(),
        store,
        observers: shared.observers.clone(),
    };
    while let Some(msg) = inbox.recv().await {
        task.handle(msg);
        if task.room.is_empty() && !task.saving && inbox.is_empty() {
            close_inbox(id, &shared, &own_sender, &mut inbox, || EnterReply::Gone);
            break;
        }
    }
    metrics::gauge!(m::ROOMS).decrement(1.0);
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
fn close_inbox(
    id: RoomId,
    shared: &Shared,
    own_sender: &RoomSender,
    inbox: &mut mpsc::UnboundedReceiver<RoomMsg>,
    answer: impl Fn() -> EnterReply,
) {
    shared.forget_room(id, own_sender);
    inbox.close();
    while let Ok(msg) = inbox.try_recv() {
        if let RoomMsg::Enter { reply, .. } = msg {
            let _ = reply.send(answer());
        }
    }
}

impl RoomTask {
    fn handle(&mut self, msg: RoomMsg) {
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
                let session = match &command {
                    Command::Enter { session, .. }
                    | Command::Sync { session }
                    | Command::Move { session, .. }
                    | Command::Leave { session } => *session,
                };
                let leaving = matches!(command, Command::Leave { .. });
                match self.room.apply(command) {
                    Ok(events) => self.deliver(events),
                    // A replaced session's late LEAVE or move: it no longer speaks for anyone here.
                    Err(Reject::NotInRoom) if leaving => {}
                    Err(reject) => self.refuse(session, &reject),
                }
                if leaving {
                    self.outboxes.remove(&session);
                }
                metrics::histogram!(m::COMMAND_SECONDS).record(received.elapsed().as_secs_f64());
            }
            RoomMsg::Build { session, doc, owned } => {
                self.pending_builds
                    .push_back(PendingBuild { session, doc, owned });
                self.start_next_build();
            }
            RoomMsg::Saved {
                session,
                build,
                result,
            } => {
                self.saving = false;
                match result {
                    Ok(version) => {
                        let events = self.room.commit_build(build, version);
                        self.stored_map_problem = None;
                        self.deliver(events);
                        self.notify(|room| RoomEvent::Built { room, version });
                    }
                    Err(e) => {
                        tracing::warn!(room = %self.room.id(), error = %e, "BUILD not stored");
                        let (code, message) = store_error_reply(&e);
                        self.send_error(session, code, message);
                    }
                }
                self.start_next_build();
            }
            RoomMsg::View { reply } => {
                let _ = reply.send(self.room.view());
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
        match self.room.apply(Command::Enter {
            session,
            user,
            nickname,
        }) {
            Ok(events) => {
                self.outboxes.insert(session, outbox);
                let replaced = events.iter().any(|e| e.msg.closes_with().is_some());
                self.deliver(events);
                if replaced {
                    self.notify(|room| RoomEvent::Replaced { room, user });
                }
                if user == self.room.id().owner()
                    && let Some(problem) = self.stored_map_problem.clone()
                {
                    self.send_error(session, ErrorCode::InvalidMap, problem);
                }
                let _ = reply.send(EnterReply::Entered);
            }
            Err(reject) => {
                let _ = reply.send(EnterReply::Refused(reject.code(), reject.to_string()));
            }
        }
    }

    fn start_next_build(&mut self) {
        while !self.saving {
            let Some(PendingBuild { session, doc, owned }) = self.pending_builds.pop_front() else {
                return;
            };
            match self.room.approve_build(session, &doc, &owned) {
                Ok(build) => {
                    self.saving = true;
                    let (store, sender, room) = (self.store.clone(), self.own_sender.clone(), self.room.id());
                    let expected = self.room.map_version();
                    // Stored before anyone is told; the room keeps serving moves meanwhile.
                    tokio::spawn(async move {
                        let result = store.save_map(room, build.map(), expected).await;
                        let _ = sender.send(RoomMsg::Saved {
                            session,
                            build,
                            result,
                        });
                    });
                }
                Err(reject) => self.refuse(session, &reject),
            }
        }
    }

    fn deliver(&mut self, events: Vec<Outgoing>) {
        if !self.observers.is_empty() {
            self.observe(&events);
        }
        for event in events {
            let encoded = Encoded::new(&event.msg);
            let closes_with = event.msg.closes_with();
            match event.audience {
                Audience::Session(session) => {
                    if let Some(outbox) = self.outboxes.get(&session) {
                        send_to(outbox, &encoded);
                        if closes_with.is_some() {
                            outbox.close(CloseReason::Replaced);
                            self.outboxes.remove(&session);
                        }
                    }
                }
                Audience::All => {
                    for occupant in self.room.occupants() {
                        if let Some(outbox) = self.outboxes.get(&occupant.session) {
                            send_to(outbox, &encoded);
                        }
                    }
                }
                Audience::AllExcept(except) => {
                    for occupant in self.room.occupants().iter().filter(|o| o.session != except) {
                        if let Some(outbox) = self.outboxes.get(&occupant.session) {
                            send_to(outbox, &encoded);
                        }
                    }
                }
            }
        }
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
        if let Some(outbox) = self.outboxes.get(&session) {
            send_to(outbox, &Encoded::new(&ServerMsg::error(code, message)));
        }
    }
}

/// The ERROR a failed save is answered with.
pub(crate) fn store_error_reply(error: &StoreError) -> (ErrorCode, String) {
    match error {
        StoreError::GameNotOwned(game) => (
            ErrorCode::Forbidden,
            format!("game {game} is not in the owner's library"),
        ),
        StoreError::RoomNotFound(room) => (ErrorCode::RoomNotFound, format!("room {room} not found")),
        StoreError::VersionConflict { .. } => (
            ErrorCode::Unavailable,
            "the map was changed elsewhere meanwhile; try again".to_owned(),
        ),
        StoreError::Unavailable(_) => (
            ErrorCode::Unavailable,
            "the map store is unavailable; try again".to_owned(),
        ),
        _ => (ErrorCode::Internal, "the map could not be stored".to_owned()),
    }
}
