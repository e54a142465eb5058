//! A room hosted on this node: every command of the room, local or relayed,
//! is applied here to its `room_core::Room`, in arrival order, and its events
//! go out as effects. The cluster duties (lease, snapshots, other nodes) are
//! in `host_cluster`; this file is the room's own life.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use room_core::{
    ApprovedBuild, Audience, BuildQueue, Command, ErrorCode, GameId, MapDoc, Outgoing, ReadyBuild, Reject,
    Room, RoomId, RoomView, ServerMsg, SessionId, UserId, with_ref, with_you,
};
use room_ports::{
    Acquired, HostingError, Lease, NodeId, NodeInfo, RoomSnapshot, SessionAt, StoreError, StoredRoom,
};

use super::builds::{self, store_error_reply};
pub(crate) use super::host_seats::ResumeOutcome;
use super::host_seats::Resuming;
use super::seats::{SeatSetup, Seats};
use super::{Closing, EnterAnswer, REPLACED_REMEMBERED, SeatAsk};
use crate::contract::{NodeCommand, NodeMessage};
use crate::observer::RoomEvent as Observed;
use crate::ordered::IdMap;

const NOT_IN_ROOM: &str = "not in a room yet: send ENTER first";

/// What a hosted room is told.
#[derive(Debug)]
pub(crate) enum HostInput {
    /// A local session asks to enter.
    Enter {
        session: SessionId,
        user: UserId,
        nickname: String,
        seat: SeatAsk,
    },
    /// A local session's socket went away without LEAVE: its seat, if it
    /// has one, is held for the grace; else it leaves.
    Away { session: SessionId },
    /// A local session's SYNC, MOVE or LEAVE.
    Command(Command),
    /// A local session's BUILD, not checked yet.
    Build {
        session: SessionId,
        doc: MapDoc,
        reference: Option<String>,
    },
    /// A command relayed from another node's session.
    Remote {
        from: SessionAt,
        user: UserId,
        nickname: String,
        command: NodeCommand,
    },
    /// A relay lost events and asks for fresh SYNCs for its sessions.
    Resync { node: NodeId },
    /// A relay's sessions in the room now.
    Members {
        node: NodeId,
        entered: Vec<SessionId>,
        entering: Vec<SessionId>,
    },
    /// The answer of a call the room asked for.
    Answer(HostAnswer),
}

/// The answers of the calls a hosted room asks its driver for.
#[derive(Debug)]
pub(crate) enum HostAnswer {
    Renewed(Result<(), HostingError>),
    /// The lease taken again, and (when granted) the epoch of the room's
    /// snapshot the registry holds then: a newer one than this host's lease
    /// says another host served the room in between.
    Reacquired(Result<Acquired, HostingError>, Result<Option<u64>, HostingError>),
    SnapshotSaved(Result<(), HostingError>),
    /// The nodes the registry lists now (`None`: it did not answer, or is not trusted yet).
    Listed(Option<Vec<NodeInfo>>),
    /// The owner's library, looked up for the pending BUILD `id`.
    Owned {
        id: u64,
        owned: Result<BTreeSet<GameId>, StoreError>,
    },
    Saved {
        session: SessionId,
        origin: BuildOrigin,
        build: ApprovedBuild,
        expected: u64,
        result: Result<u64, StoreError>,
    },
    /// The stored room, read back after a save met a conflict or lost its answer.
    ReadBack {
        session: SessionId,
        origin: BuildOrigin,
        build: ApprovedBuild,
        expected: u64,
        stored: Result<Option<StoredRoom>, StoreError>,
    },
}

/// A call to a port, answered later with a [`HostAnswer`].
#[derive(Debug)]
pub(crate) enum HostCall {
    Renew(Lease),
    /// Take the lease again (it expired).
    Reacquire,
    SaveSnapshot(Lease, RoomSnapshot),
    ListNodes,
    OwnedGames {
        id: u64,
        user: UserId,
    },
    /// Store `build` over version `expected`, fenced by the host's `epoch`.
    SaveMap {
        session: SessionId,
        origin: BuildOrigin,
        build: ApprovedBuild,
        expected: u64,
        epoch: u64,
    },
    ReadBack {
        session: SessionId,
        origin: BuildOrigin,
        build: ApprovedBuild,
        expected: u64,
    },
}

/// What a hosted room asks its driver to do, in order.
#[derive(Debug)]
pub(crate) enum HostEffect {
    /// Answer the ENTER of a local session.
    Answer {
        session: SessionId,
        answer: EnterAnswer,
    },
    /// From now on `session`'s socket gets the room's events.
    Attach {
        session: SessionId,
    },
    /// `session`'s socket no longer gets them (what its tick holds goes first).
    Detach {
        session: SessionId,
    },
    /// An event for the attached sockets it reaches, published for the
    /// relays under `(epoch, seq)` when `publish` says so.
    Event {
        audience: Audience,
        msg: ServerMsg,
        publish: Option<(u64, u64)>,
        /// Its `"seq"` for sockets that opted into resume: a room event's
        /// number, or the last one's for a SYNC.
        seq: Option<u64>,
        /// `msg` encoded already (for the replay log).
        encoded: Option<String>,
        /// Frames for the same one socket right after it (its SEAT, or the
        /// events a resume replays), sent as they are.
        then: Vec<String>,
        /// The builder and `"ref"` of the BUILD this room-wide SYNC answers:
        /// that socket gets it with `"ref"` added.
        reply: Option<(SessionId, String)>,
    },
    /// Close a local socket (after what it was sent).
    Close {
        session: SessionId,
        closing: Closing,
    },
    /// Send `message` to `node`.
    ToNode {
        node: NodeId,
        message: NodeMessage,
    },
    /// Tell the relays the number of the room's last event.
    Marker {
        epoch: u64,
        seq: u64,
    },
    Call(HostCall),
    /// A resume was answered (counted).
    Resumed(ResumeOutcome),
    /// Tell the embedding code's observers.
    Observe(Observed),
}

/// Where a session of the room is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum At {
    /// A socket of this node.
    Local,
    /// A socket of another node, known since `since` (a relay's member list
    /// older than the ENTER may not name it yet).
    Remote { node: NodeId, since: Instant },
    /// A user restored from relayed events at a takeover, under a
    /// placeholder session, who leaves at `until` unless a relay enters them again.
    Unconfirmed { until: Instant },
    /// A seated user whose socket went away (PROTOCOL.md §9): it keeps its
    /// place, unseen, until `until` unless a socket resumes the seat.
    Away { until: Instant },
}

/// Where a BUILD came from: for a relayed one, the relay's node and its
/// ticket, told when the BUILD has its answer (the relay's deadline stops
/// then); and the BUILD's `"ref"`, echoed in the builder's SYNC or ERROR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BuildOrigin {
    pub relay: Option<(NodeId, u64)>,
    pub reference: Option<String>,
}

/// How a hosted room ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HostEnd {
    /// Another node holds the lease now: these local sessions carry on.
    Moved(Vec<(SessionId, UserId, String)>),
    /// The lease expired and this host took it again: another host may
    /// have served the room in between (and stored a BUILD, written a
    /// snapshot), so what this one holds may be older than what is stored.
    /// Its driver gives the lease back, writing nothing, and these local
    /// sessions carry on in the room's next phase here, which loads it again.
    Restart(Vec<(SessionId, UserId, String)>),
}

/// What a hosted room needs to start.
pub(crate) struct HostSetup {
    pub room: Room,
    /// Why the stored layout was not used, told to the owner when they enter.
    pub stored_map_problem: Option<String>,
    pub builds_in_flight: usize,
    /// Whether anyone observes the room (events are not built for nobody).
    pub observe: bool,
    /// The lease, when this node hosts the room in a cluster.
    pub cluster: Option<ClusterSetup>,
    /// Seats for sockets that opt into resume (none: it is not offered).
    pub seats: Option<SeatSetup>,
}

/// The cluster side of a hosted room's setup.
pub(crate) struct ClusterSetup {
    pub node: NodeId,
    pub lease: Lease,
    pub lease_ttl: Duration,
    pub node_ttl: Duration,
    /// When the lease was asked for: it lasts a TTL from then at least.
    pub asked_at: Instant,
}

/// A room hosted on this node.
pub(crate) struct Host {
    pub(super) room: Room,
    /// Every session of the room, and where it is: the one members table.
    pub(super) at: IdMap<SessionId, At>,
    stored_map_problem: Option<String>,
    /// BUILDs admitted and not answered yet, with who answers them.
    pub(super) builds: BuildQueue<(SessionId, BuildOrigin)>,
    observe: bool,
    /// Sessions recently replaced by a newer one of the same user (newest last).
    replaced: VecDeque<(SessionId, UserId)>,
    pub(super) cluster: Option<super::host_cluster::Hosting>,
    pub(super) seats: Option<Seats>,
    /// When the first seat held for an away socket may run out (none: none is held).
    pub(super) earliest_away: Option<Instant>,
    pub(super) now: Instant,
    pub(super) effects: VecDeque<HostEffect>,
    pub(super) ended: Option<HostEnd>,
}

impl Host {
    pub(crate) fn new(setup: HostSetup, now: Instant) -> Host {
        let numbered = setup.room.seq();
        Host {
            room: setup.room,
            at: IdMap::default(),
            stored_map_problem: setup.stored_map_problem,
            builds: BuildQueue::new(setup.builds_in_flight),
            observe: setup.observe,
            replaced: VecDeque::new(),
            seats: setup.seats.map(|seats| Seats::new(seats, numbered)),
            cluster: setup.cluster.map(super::host_cluster::Hosting::new),
            earliest_away: None,
            now,
            effects: VecDeque::new(),
            ended: None,
        }
    }

    /// The next effect to carry out.
    pub(crate) fn poll_effect(&mut self) -> Option<HostEffect> {
        self.effects.pop_front()
    }

    /// How the room ended here, once it has.
    pub(crate) fn take_end(&mut self) -> Option<HostEnd> {
        self.ended.take()
    }

    /// The room as everyone in it sees it.
    pub(crate) fn view(&self) -> RoomView {
        self.room.view()
    }

    /// Whether nobody needs the room here and nothing is being stored.
    pub(crate) fn is_idle(&self) -> bool {
        self.room.is_empty()
            && !self.at.values().any(|at| matches!(at, At::Remote { .. }))
            && !self.builds.is_saving()
    }

    pub(crate) fn handle(&mut self, input: HostInput, now: Instant) {
        self.now = now;
        let input = if self.fenced() {
            match self.refuse_while_fenced(input) {
                Some(input) => input,
                None => return,
            }
        } else {
            input
        };
        match input {
            HostInput::Enter {
                session,
                user,
                nickname,
                seat: SeatAsk::Resume { seat, seq },
            } => self.resume(Resuming {
                session,
                user,
                nickname,
                seat,
                seq,
                node: None,
            }),
            HostInput::Enter {
                session,
                user,
                nickname,
                seat,
            } => self.enter(session, user, nickname, seat == SeatAsk::New),
            HostInput::Away { session } => self.lose(session),
            HostInput::Command(command) => self.act(command),
            HostInput::Build {
                session,
                doc,
                reference,
            } => {
                let session = self.current_session(session);
                let origin = BuildOrigin {
                    relay: None,
                    reference,
                };
                match self.room.occupant_of_session(session) {
                    Some(occupant) => self.check_build(session, occupant.user, doc, origin),
                    None => self.send_error(session, ErrorCode::NotInRoom, NOT_IN_ROOM.to_owned()),
                }
            }
            HostInput::Remote {
                from,
                user,
                nickname,
                command,
            } => self.remote(from, user, nickname, command),
            HostInput::Resync { node } => self.resync(&node),
            HostInput::Members {
                node,
                entered,
                entering,
            } => self.reconcile(&node, &entered, &entering),
            HostInput::Answer(answer) => self.on_answer(answer),
        }
    }

    fn on_answer(&mut self, answer: HostAnswer) {
        match answer {
            HostAnswer::Owned { id, owned } => self.on_owned(id, owned),
            HostAnswer::Saved {
                session,
                origin,
                build,
                expected,
                result,
            } => match builds::after_save(&result) {
                builds::AfterSave::Commit(version) => self.build_done(session, origin, Ok((build, version))),
                builds::AfterSave::Refuse(code, message) => {
                    tracing::warn!(room = %self.room.id(), error = ?result.err(), "BUILD not stored");
                    self.build_done(session, origin, Err((code, message)));
                }
                builds::AfterSave::ReadBack => {
                    // Still saving: no other BUILD starts from a version that may be stale.
                    tracing::info!(room = %self.room.id(), error = ?result.err(), "BUILD answer unclear; reading the stored map back");
                    self.call(HostCall::ReadBack {
                        session,
                        origin,
                        build,
                        expected,
                    });
                }
            },
            HostAnswer::ReadBack {
                session,
                origin,
                build,
                expected,
                stored,
            } => match builds::resolve(self.room.id(), expected, build.map(), stored) {
                builds::Resolved::Committed(version) => {
                    self.build_done(session, origin, Ok((build, version)))
                }
                builds::Resolved::Refuse(code, message) => {
                    self.build_done(session, origin, Err((code, message)))
                }
                builds::Resolved::Reload(map, version, problem) => {
                    tracing::warn!(room = %self.room.id(), version, "the stored map is newer than the room's; reloaded it");
                    let events = self.room.reload(map, version);
                    self.stored_map_problem = problem;
                    self.deliver(events);
                    let conflict = Err((ErrorCode::Unavailable, builds::CONFLICT.to_owned()));
                    self.build_done(session, origin, conflict);
                }
            },
            cluster => self.on_cluster_answer(cluster),
        }
        self.restart_when_stored();
    }

    pub(super) fn call(&mut self, call: HostCall) {
        self.effects.push_back(HostEffect::Call(call));
    }

    pub(super) fn act(&mut self, command: Command) {
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
        if leaving
            && let Some(seats) = &mut self.seats
            && let Some(occupant) = self.room.occupant_of_session(session)
        {
            seats.end(occupant.user);
        }
        if leaving && self.at.get(&session) == Some(&At::Local) {
            // What it was sent before it leaves goes out now, and nothing after.
            self.effects.push_back(HostEffect::Detach { session });
        }
        match self.room.apply(command) {
            Ok(events) => self.deliver(events),
            // A replaced session's late LEAVE or move: it no longer speaks for anyone here.
            Err(Reject::NotInRoom) if leaving => {}
            Err(reject) => self.refuse(session, &reject),
        }
        if leaving {
            self.at.remove(&session);
        }
    }

    fn enter(&mut self, session: SessionId, user: UserId, nickname: String, resume: bool) {
        match self.apply_enter(session, user, nickname) {
            Ok(events) => {
                // An ENTER again on the same socket: it is attached already.
                let attached = self.at.insert(session, At::Local) == Some(At::Local);
                self.effects.push_back(HostEffect::Answer {
                    session,
                    answer: EnterAnswer::Entered,
                });
                if !attached {
                    self.effects.push_back(HostEffect::Attach { session });
                }
                let then = self.seat_at_enter(user, resume, &events);
                self.after_enter(session, user, events, then);
            }
            Err(reject) => self.effects.push_back(HostEffect::Answer {
                session,
                answer: EnterAnswer::Refused(reject.code(), reject.to_string()),
            }),
        }
    }

    pub(super) fn apply_enter(
        &mut self,
        session: SessionId,
        user: UserId,
        nickname: String,
    ) -> Result<Vec<Outgoing>, Reject> {
        self.room.apply(Command::Enter {
            session,
            user,
            nickname,
        })
    }

    /// What follows an ENTER's events: `then` (its SEAT) right after its SYNC.
    pub(super) fn after_enter(
        &mut self,
        session: SessionId,
        user: UserId,
        events: Vec<Outgoing>,
        then: Vec<String>,
    ) {
        let replaced = events.iter().any(|e| e.msg.closes_with().is_some());
        for event in events.iter().filter(|e| e.msg.closes_with().is_some()) {
            if let Audience::Session(old) = event.audience {
                if self.replaced.len() == REPLACED_REMEMBERED {
                    self.replaced.pop_front();
                }
                self.replaced.push_back((old, user));
            }
        }
        self.deliver_then(events, then);
        if replaced {
            self.notify(|room| Observed::Replaced { room, user });
        }
        if user == self.room.id().owner()
            && let Some(problem) = self.stored_map_problem.clone()
        {
            self.send_error(session, ErrorCode::InvalidMap, problem);
        }
    }

    /// A command from a session on another node.
    fn remote(&mut self, from: SessionAt, user: UserId, nickname: String, command: NodeCommand) {
        let session = from.session;
        match command {
            NodeCommand::Enter { resume } => match self.apply_enter(session, user, nickname) {
                Ok(events) => {
                    if self.cluster.is_some() {
                        self.at.insert(
                            session,
                            At::Remote {
                                node: from.node.clone(),
                                since: self.now,
                            },
                        );
                    }
                    let then = self.seat_at_enter(user, resume, &events);
                    self.after_enter(session, user, events, then);
                }
                Err(reject) => self.refuse_enter(&from.node, session, reject.code(), &reject.to_string()),
            },
            NodeCommand::Resume { seat, seq } => self.resume(Resuming {
                session,
                user,
                nickname,
                seat,
                seq,
                node: Some(from.node),
            }),
            NodeCommand::Away => self.lose(session),
            // Its relay believes it is in; the host does not know it (it moved, or
            // the ENTER was refused): answered on its node, not lost.
            NodeCommand::Sync | NodeCommand::Move { .. }
                if self.room.occupant_of_session(session).is_none() =>
            {
                self.send_remote(&from.node, session, ErrorCode::NotInRoom, NOT_IN_ROOM);
            }
            NodeCommand::Sync => self.act(Command::Sync { session }),
            NodeCommand::Move { direction } => self.act(Command::Move { session, direction }),
            NodeCommand::Leave => self.act(Command::Leave { session }),
            NodeCommand::Build {
                map,
                ticket,
                reference,
            } => {
                let session = self.current_session(session);
                tracing::debug!(room = %self.room.id(), from = %from.session, %session, "relayed BUILD");
                let origin = BuildOrigin {
                    relay: Some((from.node.clone(), ticket)),
                    reference,
                };
                if self.room.occupant_of_session(session).is_none() {
                    let refused = Some((ErrorCode::NotInRoom, NOT_IN_ROOM.to_owned()));
                    return self.answer_build(session, &origin, refused);
                }
                self.check_build(session, user, map, origin);
            }
        }
    }

    pub(super) fn refuse_enter(&mut self, node: &NodeId, session: SessionId, code: ErrorCode, message: &str) {
        let refused = NodeMessage::EnterRefused {
            room: self.room.id(),
            session,
            code,
            message: message.to_owned(),
        };
        self.effects.push_back(HostEffect::ToNode {
            node: node.clone(),
            message: refused,
        });
    }

    /// Check a BUILD of an occupant (local or relayed) in the order of
    /// PROTOCOL.md §5 (room-core's `check_build`: owner, structure), then
    /// queue it: ownership needs the owner's library from the store (looked
    /// up in the background, so the room keeps serving moves), and the queue
    /// stores BUILDs one at a time in the order they came.
    fn check_build(&mut self, session: SessionId, user: UserId, doc: MapDoc, origin: BuildOrigin) {
        if let Err(reject) = self.room.check_build(session, &doc) {
            return self.answer_build(session, &origin, Some((reject.code(), reject.to_string())));
        }
        let Some(id) = self.builds.admit((session, origin.clone()), doc) else {
            let refused = Some((ErrorCode::RateLimited, builds::TOO_MANY.to_owned()));
            return self.answer_build(session, &origin, refused);
        };
        self.call(HostCall::OwnedGames { id, user });
    }

    /// The library lookup of pending BUILD `id` ended.
    fn on_owned(&mut self, id: u64, owned: Result<BTreeSet<GameId>, StoreError>) {
        match owned {
            Ok(owned) => self.builds.owned(id, owned),
            Err(e) => {
                let Some((session, origin)) = self.builds.lookup_failed(id) else {
                    return;
                };
                let (code, message) = store_error_reply(&e);
                let session = self.current_session(session);
                self.answer_build(session, &origin, Some((code, message)));
            }
        }
        self.start_next_build();
    }

    /// A BUILD got its final answer: committed (everyone gets SYNC) or refused.
    fn build_done(
        &mut self,
        session: SessionId,
        origin: BuildOrigin,
        outcome: Result<(ApprovedBuild, u64), (ErrorCode, String)>,
    ) {
        self.builds.answered();
        let refused = match outcome {
            Ok((build, version)) => {
                tracing::debug!(room = %self.room.id(), version, side = build.map().side(), "BUILD stored");
                let events = self.room.commit_build(build, version);
                self.stored_map_problem = None;
                // The builder's copy of the SYNC names its BUILD, when the BUILD named itself.
                let reply = origin.reference.clone().map(|reference| (session, reference));
                self.deliver_with(events, Vec::new(), reply);
                self.notify(|room| Observed::Built { room, version });
                None
            }
            Err(refused) => Some(refused),
        };
        self.answer_build(session, &origin, refused);
        self.start_next_build();
    }

    /// A BUILD has its answer: `refused` (an ERROR for its session), or
    /// none (the SYNC of its map went to everyone). A relayed one's answer
    /// goes to its relay in one message with the end of its wait, so that
    /// neither is lost without the other.
    fn answer_build(
        &mut self,
        session: SessionId,
        origin: &BuildOrigin,
        refused: Option<(ErrorCode, String)>,
    ) {
        match &origin.relay {
            Some((node, ticket)) => {
                let done = NodeMessage::BuildDone {
                    room: self.room.id(),
                    session,
                    ticket: *ticket,
                    refused,
                };
                self.effects.push_back(HostEffect::ToNode {
                    node: node.clone(),
                    message: done,
                });
            }
            None => {
                if let Some((code, message)) = refused {
                    match &origin.reference {
                        Some(reference) => self.send_error_answering(session, code, message, reference),
                        None => self.send_error(session, code, message),
                    }
                }
            }
        }
    }

    fn start_next_build(&mut self) {
        while let Some(ReadyBuild {
            tag: (session, origin),
            doc,
            owned,
        }) = self.builds.next_ready()
        {
            let session = self.current_session(session);
            let approved = self.room.approve_build(session, &doc, &owned);
            tracing::debug!(room = %self.room.id(), %session, ok = approved.is_ok(), "BUILD checked");
            match approved {
                Ok(build) => {
                    // Stored before anyone is told; the room keeps serving moves meanwhile.
                    let expected = self.room.map_version();
                    let epoch = self.cluster.as_ref().map_or(0, |c| c.lease.epoch);
                    self.call(HostCall::SaveMap {
                        session,
                        origin,
                        build,
                        expected,
                        epoch,
                    });
                }
                Err(reject) => {
                    self.builds.answered();
                    self.answer_build(session, &origin, Some((reject.code(), reject.to_string())));
                }
            }
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

    pub(super) fn deliver(&mut self, events: Vec<Outgoing>) {
        self.deliver_then(events, Vec::new());
    }

    /// Deliver `events`; the last one's socket gets `then` right after it.
    pub(super) fn deliver_then(&mut self, events: Vec<Outgoing>, then: Vec<String>) {
        self.deliver_with(events, then, None);
    }

    /// Deliver `events`; the last one's socket gets `then` right after it,
    /// and the session of `reply` gets the room-wide SYNC among them with
    /// the `"ref"` of the BUILD it answers.
    fn deliver_with(
        &mut self,
        events: Vec<Outgoing>,
        mut then: Vec<String>,
        mut reply: Option<(SessionId, String)>,
    ) {
        if self.observe {
            self.observe(&events);
        }
        if let Some(cluster) = &mut self.cluster {
            cluster.snapshot_dirty = true;
        }
        let count = events.len();
        for (i, event) in events.into_iter().enumerate() {
            let publish = self.publishes(&event);
            let closes = event.msg.closes_with().is_some();
            let (seq, mut encoded) = match &mut self.seats {
                Some(seats) if event.is_room_event() => {
                    let (number, encoded) = seats.number(&event);
                    (Some(number), encoded)
                }
                Some(seats) if matches!(event.msg, ServerMsg::Sync { .. }) => (Some(seats.last()), None),
                _ => (None, None),
            };
            if let Audience::Session(session) = event.audience
                && matches!(event.msg, ServerMsg::Sync { .. })
                && let Some(user) = self.room.occupant_of_session(session).map(|o| o.user)
            {
                // A SYNC for one socket (answering its ENTER or its `11`) names its user.
                encoded = Some(with_you(encoded.as_deref().unwrap_or(&event.msg.encode()), user));
            }
            let answers = match event.audience {
                Audience::All if matches!(event.msg, ServerMsg::Sync { .. }) => reply.take(),
                _ => None,
            };
            self.effects.push_back(HostEffect::Event {
                audience: event.audience,
                reply: answers,
                msg: event.msg,
                publish,
                seq,
                encoded,
                then: if i + 1 == count {
                    std::mem::take(&mut then)
                } else {
                    Vec::new()
                },
            });
            if closes
                && let Audience::Session(session) = event.audience
                && self.at.remove(&session) == Some(At::Local)
            {
                self.effects.push_back(HostEffect::Close {
                    session,
                    closing: Closing::Replaced,
                });
            }
        }
    }

    /// Under which `(epoch, seq)` `event` is published for the relays: while
    /// any session of another node is in the room, or it is for one.
    fn publishes(&self, event: &Outgoing) -> Option<(u64, u64)> {
        let cluster = self.cluster.as_ref()?;
        let remote = |session: &SessionId| matches!(self.at.get(session), Some(At::Remote { .. }));
        let addressed_remote = matches!(event.audience, Audience::Session(s) if remote(&s));
        if !addressed_remote && !self.at.keys().any(remote) {
            return None;
        }
        Some((cluster.lease.epoch, event.seq))
    }

    pub(super) fn send_remote(&mut self, node: &NodeId, session: SessionId, code: ErrorCode, message: &str) {
        self.effects.push_back(HostEffect::ToNode {
            node: node.clone(),
            message: NodeMessage::Reply {
                session,
                code,
                message: message.to_owned(),
            },
        });
    }

    /// Tell the observers what `events` changed (ENTER, MOVE, LEAVE; the rest is told by its caller).
    fn observe(&mut self, events: &[Outgoing]) {
        let room = self.room.id();
        for event in events {
            let observed = match &event.msg {
                ServerMsg::Enter { user, nickname, .. } => Observed::Entered {
                    room,
                    user: *user,
                    nickname: nickname.clone(),
                },
                ServerMsg::Move { user, cell, .. } => Observed::Moved {
                    room,
                    user: *user,
                    cell: *cell,
                },
                ServerMsg::Leave { user } => Observed::Left { room, user: *user },
                _ => continue,
            };
            self.effects.push_back(HostEffect::Observe(observed));
        }
    }

    fn notify(&mut self, event: impl FnOnce(RoomId) -> Observed) {
        if self.observe {
            let observed = event(self.room.id());
            self.effects.push_back(HostEffect::Observe(observed));
        }
    }

    pub(super) fn refuse(&mut self, session: SessionId, reject: &Reject) {
        self.send_error(session, reject.code(), reject.to_string());
    }

    pub(super) fn send_error(&mut self, session: SessionId, code: ErrorCode, message: String) {
        match self.at.get(&session) {
            Some(At::Remote { node, .. }) => {
                let node = node.clone();
                self.send_remote(&node, session, code, &message);
            }
            // A local socket, or one not in the room yet: the driver knows whether it has it.
            _ => self.effects.push_back(HostEffect::Event {
                audience: Audience::Session(session),
                msg: ServerMsg::error(code, message),
                publish: None,
                seq: None,
                encoded: None,
                then: Vec::new(),
                reply: None,
            }),
        }
    }

    /// The ERROR answering a local BUILD that carried `reference` (PROTOCOL.md §5).
    fn send_error_answering(
        &mut self,
        session: SessionId,
        code: ErrorCode,
        message: String,
        reference: &str,
    ) {
        let msg = ServerMsg::error(code, message);
        let encoded = Some(with_ref(&msg.encode(), reference));
        self.effects.push_back(HostEffect::Event {
            audience: Audience::Session(session),
            msg,
            publish: None,
            seq: None,
            encoded,
            then: Vec::new(),
            reply: None,
        });
    }
}
