//! A room hosted by another node, as this node sees it: forward the local
//! sessions' commands to the host, deliver the host's events to them.

use crate::ordered::{IdMap, IdSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use room_core::{ClientMsg, Command, ErrorCode, RoomId, ServerMsg, SessionId, UserId, parse_server_frame};
use room_ports::{NodeId, NodeMessage, RoomEvent as BusRoomEvent, SequenceCheck, SequenceTracker, SessionAt};
use tokio::sync::{mpsc, oneshot};

use crate::cluster::ClusterPorts;

use super::{Ended, EnterReply, Member, RoomContext, RoomMsg, Shadow, Upkeep, close_inbox, queue_error};
use crate::outbox::{CloseReason, Frame, Outbox, Pushed};

struct Relay<'a> {
    room: RoomId,
    ports: &'a ClusterPorts,
    sender: mpsc::Sender<RoomMsg>,
    tasks: crate::tasks::Tasks,
    host: NodeId,
    epoch: u64,
    members: IdMap<SessionId, Member>,
    /// ENTERs forwarded and not answered yet, with the time they are refused at.
    pending: IdMap<SessionId, (Member, oneshot::Sender<EnterReply>, Instant)>,
    forward_timeout: Duration,
    /// Where the host's event numbers stand here: lost, duplicated and
    /// reordered events are seen by the relay itself, whatever the bus.
    order: SequenceTracker,
    /// Members that missed events and have had no fresh SYNC since: asked
    /// for again at every check until each has one (a SYNC can be lost too).
    stale: IdSet<SessionId>,
    host_gone: bool,
    /// Where everyone stands, as the relayed events say.
    shadow: Shadow,
    /// Local sessions replaced by a newer one of their user, for their BUILDs still in flight.
    replaced: IdMap<SessionId, (UserId, String)>,
}

/// How many replaced sessions a relay remembers.
const REPLACED_REMEMBERED: usize = 64;

/// Relay the room to `host` until no local session needs it, or the host goes away.
pub(crate) async fn relay(
    ctx: &RoomContext,
    inbox: &mut mpsc::Receiver<RoomMsg>,
    ports: &ClusterPorts,
    host: NodeId,
    epoch: u64,
    carried: Vec<Member>,
) -> Ended {
    if let Err(e) = ports.bus.subscribe_room(ctx.id).await {
        tracing::warn!(room = %ctx.id, error = %e, "cannot subscribe to the room's events");
    }
    tracing::debug!(room = %ctx.id, %host, epoch, "relaying room");
    let mut relay = Relay {
        room: ctx.id,
        ports,
        sender: ctx.own_sender.clone(),
        tasks: ctx.shared.tasks.clone(),
        forward_timeout: ctx.shared.config.forward_timeout,
        order: SequenceTracker::new(),
        stale: IdSet::default(),
        host,
        epoch,
        members: IdMap::default(),
        pending: IdMap::default(),
        host_gone: false,
        shadow: Shadow::default(),
        replaced: IdMap::default(),
    };
    for member in carried {
        relay.forward_enter(&member).await;
        relay.members.insert(member.session, member);
    }
    let every = (ports.lease_ttl / 3).max(Duration::from_millis(50));
    let mut check = tokio::time::interval_at(Instant::now() + every, every);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = loop {
        // Biased, the check first: see the host's loop.
        let msg = tokio::select! {
            biased;
            _ = check.tick() => {
                relay.check_host();
                relay.refuse_late_enters().await;
                relay.send_members().await;
                let members = &relay.members;
                relay.stale.retain(|session| members.contains_key(session));
                if !relay.stale.is_empty() {
                    relay.ask_resync().await;
                }
                if relay.members.is_empty() && relay.pending.is_empty() && inbox.is_empty() {
                    // Nobody here needs the room any more (they left while it moved).
                    relay.send_members().await;
                    close_inbox(ctx, inbox, || EnterReply::Gone);
                    break Ended::Done;
                }
                continue;
            }
            msg = inbox.recv() => msg,
        };
        let Some(msg) = msg else { break Ended::Done };
        if let RoomMsg::HandOver { done } = msg {
            let _ = done.send(());
            continue;
        }
        relay.handle(msg).await;
        if relay.host_gone {
            let shadow = std::mem::take(&mut relay.shadow);
            break Ended::Moved(relay.carry(), shadow);
        }
        if relay.members.is_empty() && relay.pending.is_empty() && inbox.is_empty() {
            // The host forgets whatever it still has of this node here (a LEAVE lost on the way).
            relay.send_members().await;
            close_inbox(ctx, inbox, || EnterReply::Gone);
            break Ended::Done;
        }
    };
    if matches!(ended, Ended::Done) || relay.host_gone {
        let _ = ports.bus.unsubscribe_room(ctx.id).await;
    }
    ended
}

impl Relay<'_> {
    async fn handle(&mut self, msg: RoomMsg) {
        match msg {
            RoomMsg::Enter {
                session,
                user,
                nickname,
                outbox,
                reply,
            } => {
                let member = Member {
                    session,
                    user,
                    nickname,
                    outbox,
                };
                if self.members.contains_key(&session) {
                    self.forward(session, &ClientMsg::Sync).await;
                    let _ = reply.send(EnterReply::Entered);
                    return;
                }
                if self.forward_enter(&member).await {
                    let deadline = Instant::now() + self.forward_timeout;
                    self.pending.insert(session, (member, reply, deadline));
                } else {
                    let _ = reply.send(EnterReply::Refused(
                        ErrorCode::Unavailable,
                        "the room's host cannot be reached; try again".to_owned(),
                    ));
                }
            }
            RoomMsg::Act { command, .. } => match command {
                Command::Sync { session } => self.forward(session, &ClientMsg::Sync).await,
                Command::Move { session, direction } => {
                    self.forward(session, &ClientMsg::Move { direction }).await;
                }
                Command::Leave { session } => {
                    self.forward(session, &ClientMsg::Leave).await;
                    self.members.remove(&session);
                    self.pending.remove(&session);
                }
                Command::Enter { .. } => {}
            },
            RoomMsg::Build { session, doc, .. } => {
                self.forward(session, &ClientMsg::Build { map: doc }).await
            }
            RoomMsg::BusEvent(event) => {
                match self.order.check(self.room, event.epoch, event.seq) {
                    // Already delivered (a duplicate), or older than what was (reordered): the gap it left was seen.
                    SequenceCheck::Stale => return,
                    SequenceCheck::Deliver if !event.frame.is_empty() => {}
                    // Events were lost, or a new host numbers them: fresh SYNCs repair what the clients show.
                    SequenceCheck::Deliver | SequenceCheck::Gap { .. } => {
                        tracing::debug!(room = %self.room, epoch = event.epoch, seq = event.seq, "events of the room were lost");
                        self.all_stale();
                        self.ask_resync().await;
                    }
                }
                if event.frame.is_empty() {
                    // The host's marker of its last event number carries nothing to deliver.
                    return;
                }
                if let room_core::Audience::Session(session) = event.audience
                    && event.frame.starts_with("11")
                {
                    // What was lost before this SYNC no longer matters to its socket.
                    self.stale.remove(&session);
                }
                for member in self.deliver(event) {
                    // The host dropped a user whose socket here is alive (it wrongly
                    // thought this node dead): put them back.
                    if let Some(member) = self.members.get(&member) {
                        let (session, user, nickname) =
                            (member.session, member.user, member.nickname.clone());
                        let enter = ClientMsg::Enter {
                            room_id: self.room,
                            authorization: None,
                        };
                        self.send_command(session, user, &nickname, &enter).await;
                    }
                }
            }
            RoomMsg::AskMembers { host } => self.send_members_to(&host).await,
            RoomMsg::Gap => {
                self.all_stale();
                self.ask_resync().await;
            }
            RoomMsg::Refused { session, frame } => self.refused(session, &frame),
            RoomMsg::Remote { from, .. } => {
                // Relays do not apply commands; the sender's node will find the host.
                let error =
                    ServerMsg::error(ErrorCode::Unavailable, "the room is moving; try again").encode();
                let refused = NodeMessage::EnterRefused {
                    room: self.room,
                    session: from.session,
                    frame: error,
                };
                let _ = self.ports.bus.send_to_node(&from.node, &refused).await;
            }
            RoomMsg::Upkeep(Upkeep::Holder(holder)) => self.on_holder(holder).await,
            // The live view is the host's; the engine falls back to the stored room.
            RoomMsg::View { .. }
            | RoomMsg::Resync { .. }
            | RoomMsg::Members { .. }
            | RoomMsg::Saved { .. }
            | RoomMsg::ReadBack { .. }
            | RoomMsg::Upkeep(_) => {}
            RoomMsg::HandOver { .. } => {}
        }
    }

    async fn forward_enter(&self, member: &Member) -> bool {
        let enter = ClientMsg::Enter {
            room_id: self.room,
            authorization: None,
        };
        self.send_command(member.session, member.user, &member.nickname, &enter)
            .await
    }

    async fn forward(&mut self, session: SessionId, msg: &ClientMsg) {
        let (user, nickname) = match (self.members.get(&session), self.replaced.get(&session)) {
            (Some(member), _) => (member.user, member.nickname.clone()),
            // Sent just before the socket was replaced: the host answers the user's newer session.
            (None, Some((user, nickname))) if matches!(msg, ClientMsg::Build { .. }) => {
                (*user, nickname.clone())
            }
            _ => return,
        };
        if !self.send_command(session, user, &nickname, msg).await
            && let Some(member) = self.members.get(&session)
        {
            queue_error(
                &member.outbox,
                ErrorCode::Unavailable,
                "the room's host cannot be reached; try again".into(),
            );
        }
    }

    async fn send_command(&self, session: SessionId, user: UserId, nickname: &str, msg: &ClientMsg) -> bool {
        let command = self.command(session, user, nickname.to_owned(), msg);
        self.ports.bus.send_to_node(&self.host, &command).await.is_ok()
    }

    /// `msg` of a local session, as the host receives it.
    fn command(&self, session: SessionId, user: UserId, nickname: String, msg: &ClientMsg) -> NodeMessage {
        NodeMessage::Command {
            room: self.room,
            from: SessionAt {
                node: self.ports.node.clone(),
                session,
            },
            user,
            nickname,
            frame: msg.encode(),
        }
    }

    /// Deliver `event` to the local sessions it is for; returns the local
    /// sessions whose user the host just announced as gone.
    fn deliver(&mut self, event: BusRoomEvent) -> Vec<SessionId> {
        if event.epoch > self.epoch {
            self.epoch = event.epoch;
        }
        let frame = relayed_frame(&event.frame);
        let evicted = match self.track(&event) {
            Some(user) => self
                .members
                .values()
                .filter(|m| m.user == user)
                .map(|m| m.session)
                .collect(),
            None => Vec::new(),
        };
        match event.audience {
            room_core::Audience::Session(session) => {
                if let Some((member, reply, _)) = self.pending.remove(&session) {
                    if reply.send(EnterReply::Entered).is_ok() {
                        self.members.insert(session, member);
                    } else {
                        // The session stopped waiting: it is not in the room, so the host must forget it.
                        self.leave_on_host(session, member.user, member.nickname);
                    }
                }
                if let Some(member) = self.members.get(&session) {
                    push(&member.outbox, &frame);
                    if event.frame.starts_with("98") {
                        member.outbox.close(CloseReason::Replaced);
                        if let Some(gone) = self.members.remove(&session) {
                            if self.replaced.len() >= REPLACED_REMEMBERED {
                                self.replaced.clear();
                            }
                            self.replaced.insert(session, (gone.user, gone.nickname));
                        }
                    }
                }
            }
            room_core::Audience::All => {
                for member in self.members.values() {
                    push(&member.outbox, &frame);
                }
            }
            room_core::Audience::AllExcept(except) => {
                for member in self.members.values().filter(|m| m.session != except) {
                    push(&member.outbox, &frame);
                }
            }
        }
        evicted
    }

    /// Keep the shadow positions up to date from what the host told everyone.
    fn track(&mut self, event: &BusRoomEvent) -> Option<UserId> {
        let code = event.frame.get(..2).unwrap_or_default();
        if !matches!(code, "10" | "11" | "19" | "20") {
            return None;
        }
        let msg = parse_server_frame(&event.frame).ok()?;
        self.shadow.seq = self.shadow.seq.max(event.seq);
        let users = &mut self.shadow.users;
        match msg {
            ServerMsg::Enter { user, nickname, cell } => {
                users.insert(user, (cell, nickname));
            }
            ServerMsg::Move { user, cell, .. } => {
                if let Some(seen) = users.get_mut(&user) {
                    seen.0 = cell;
                }
            }
            ServerMsg::Leave { user } => {
                users.remove(&user);
                return Some(user);
            }
            ServerMsg::Sync { room } => {
                users.clear();
                users.extend(room.users.iter().map(|u| (u.user, (u.cell, u.nickname.clone()))));
            }
            _ => {}
        }
        None
    }

    fn refused(&mut self, session: SessionId, frame: &str) {
        if let Some((_, reply, _)) = self.pending.remove(&session) {
            let (code, message) = match parse_server_frame(frame) {
                Ok(ServerMsg::Error { code, message }) => (code, message),
                _ => (ErrorCode::Unavailable, "the room refused the ENTER".to_owned()),
            };
            let _ = reply.send(EnterReply::Refused(code, message));
        } else if let Some(member) = self.members.remove(&session) {
            // The host no longer knows this session (it moved): the client must enter again.
            push(&member.outbox, &relayed_frame(frame));
            member.outbox.close(CloseReason::TryAgainLater);
        }
    }

    /// Every member may have missed events.
    fn all_stale(&mut self) {
        self.stale = self.members.keys().copied().collect();
    }

    async fn ask_resync(&self) {
        let resync = NodeMessage::Resync {
            room: self.room,
            node: self.ports.node.clone(),
        };
        tracing::debug!(host = %self.host, "asking for fresh SYNCs");
        let _ = self.ports.bus.send_to_node(&self.host, &resync).await;
    }

    fn check_host(&self) {
        let (ports, room, sender) = (self.ports.clone(), self.room, self.sender.clone());
        self.tasks.spawn(async move {
            if let Ok(holder) = ports.hosting.holder(room).await {
                let _ = sender.send(RoomMsg::Upkeep(Upkeep::Holder(holder))).await;
            }
        });
    }

    async fn on_holder(&mut self, holder: Option<(NodeId, u64)>) {
        match holder {
            // Nobody hosts it (the host died or handed over): try to take it.
            None => self.host_gone = true,
            Some((node, _)) if node == self.ports.node => self.host_gone = true,
            Some((node, epoch)) if node != self.host || epoch != self.epoch => {
                tracing::info!(room = %self.room, %node, epoch, "room has a new host");
                self.host = node;
                self.epoch = epoch;
                // The new host may have an older picture: enter everyone again (it answers SYNC).
                let members: Vec<_> = self
                    .members
                    .values()
                    .map(|m| (m.session, m.user, m.nickname.clone()))
                    .collect();
                for (session, user, nickname) in members {
                    let enter = ClientMsg::Enter {
                        room_id: self.room,
                        authorization: None,
                    };
                    self.send_command(session, user, &nickname, &enter).await;
                }
                let pending: Vec<_> = self
                    .pending
                    .values()
                    .map(|(m, _, _)| (m.session, m.user, m.nickname.clone()))
                    .collect();
                for (session, user, nickname) in pending {
                    let enter = ClientMsg::Enter {
                        room_id: self.room,
                        authorization: None,
                    };
                    self.send_command(session, user, &nickname, &enter).await;
                }
            }
            Some(_) => {}
        }
    }

    /// ENTERs the host did not answer in time are refused (76503); the host
    /// is told to forget them, in case only its answer was lost.
    async fn refuse_late_enters(&mut self) {
        let now = Instant::now();
        let late: Vec<SessionId> = self
            .pending
            .iter()
            .filter(|(_, (_, _, deadline))| *deadline <= now)
            .map(|(session, _)| *session)
            .collect();
        for session in late {
            let Some((member, reply, _)) = self.pending.remove(&session) else {
                continue;
            };
            tracing::info!(room = %self.room, %session, host = %self.host, "the host did not answer an ENTER in time");
            let _ = reply.send(EnterReply::Refused(
                ErrorCode::Unavailable,
                "the room's host did not answer in time; try again".to_owned(),
            ));
            self.leave_on_host(member.session, member.user, member.nickname);
        }
    }

    /// Tell the host which sessions this node has in the room.
    async fn send_members(&self) {
        let host = self.host.clone();
        self.send_members_to(&host).await;
    }

    /// Tell `host` (the one this relay knows, or one that asked) which sessions this node has in the room.
    async fn send_members_to(&self, host: &NodeId) {
        let mut entered: Vec<SessionId> = self.members.keys().copied().collect();
        let mut entering: Vec<SessionId> = self.pending.keys().copied().collect();
        entered.sort_unstable();
        entering.sort_unstable();
        let members = NodeMessage::Members {
            room: self.room,
            node: self.ports.node.clone(),
            entered,
            entering,
        };
        let _ = self.ports.bus.send_to_node(host, &members).await;
    }

    fn leave_on_host(&self, session: SessionId, user: UserId, nickname: String) {
        let command = self.command(session, user, nickname, &ClientMsg::Leave);
        let (bus, host) = (self.ports.bus.clone(), self.host.clone());
        self.tasks.spawn(async move {
            let _ = bus.send_to_node(&host, &command).await;
        });
    }

    fn carry(&mut self) -> Vec<Member> {
        let mut carried: Vec<Member> = self.members.drain().map(|(_, m)| m).collect();
        for (_, (member, reply, _)) in self.pending.drain() {
            // Answered now; the next host enters them with the others.
            let _ = reply.send(EnterReply::Entered);
            carried.push(member);
        }
        carried
    }
}

fn relayed_frame(text: &str) -> Frame {
    let mover = text
        .starts_with("20")
        .then(|| parse_server_frame(text).ok())
        .flatten()
        .and_then(|msg| match msg {
            ServerMsg::Move { user, .. } => Some(user),
            _ => None,
        });
    Frame::message(text.to_owned(), mover)
}

fn push(outbox: &Arc<Outbox>, frame: &Frame) {
    if outbox.push(frame.clone()) == Pushed::Dropped {
        metrics::counter!(crate::metrics_names::DROPPED).increment(1);
    }
}
