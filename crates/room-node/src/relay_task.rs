//! A room hosted by another node, as this node sees it: forward the local
//! sessions' commands to the host, deliver the host's events to them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use room_core::{ClientMsg, Command, ErrorCode, RoomId, ServerMsg, SessionId, UserId, parse_server_frame};
use room_ports::{NodeId, NodeMessage, RoomEvent as BusRoomEvent, SessionAt};
use tokio::sync::{mpsc, oneshot};

use crate::cluster::ClusterPorts;

use crate::outbox::{CloseReason, Frame, Outbox, Pushed};
use crate::room_task::{
    Ended, EnterReply, Member, RoomContext, RoomMsg, Shadow, Upkeep, close_inbox, queue_error,
};

struct Relay<'a> {
    room: RoomId,
    ports: &'a ClusterPorts,
    sender: mpsc::UnboundedSender<RoomMsg>,
    host: NodeId,
    epoch: u64,
    members: HashMap<SessionId, Member>,
    /// ENTERs forwarded and not answered yet.
    pending: HashMap<SessionId, (Member, oneshot::Sender<EnterReply>)>,
    host_gone: bool,
    /// Where everyone stands, as the relayed events say.
    shadow: Shadow,
    /// Local sessions replaced by a newer one of their user, for their BUILDs still in flight.
    replaced: HashMap<SessionId, (UserId, String)>,
}

/// How many replaced sessions a relay remembers.
const REPLACED_REMEMBERED: usize = 64;

/// Relay the room to `host` until no local session needs it, or the host goes away.
pub(crate) async fn relay(
    ctx: &RoomContext,
    inbox: &mut mpsc::UnboundedReceiver<RoomMsg>,
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
        host,
        epoch,
        members: HashMap::new(),
        pending: HashMap::new(),
        host_gone: false,
        shadow: Shadow::default(),
        replaced: HashMap::new(),
    };
    for member in carried {
        relay.forward_enter(&member).await;
        relay.members.insert(member.session, member);
    }
    let mut check = tokio::time::interval((ports.lease_ttl / 3).max(Duration::from_millis(50)));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = loop {
        let msg = tokio::select! {
            msg = inbox.recv() => msg,
            _ = check.tick() => {
                relay.check_host();
                continue;
            }
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
                    self.pending.insert(session, (member, reply));
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
            RoomMsg::Gap => self.ask_resync().await,
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
        let command = NodeMessage::Command {
            room: self.room,
            from: SessionAt {
                node: self.ports.node.clone(),
                session,
            },
            user,
            nickname: nickname.to_owned(),
            frame: msg.encode(),
        };
        self.ports.bus.send_to_node(&self.host, &command).await.is_ok()
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
                if let Some((member, reply)) = self.pending.remove(&session) {
                    let _ = reply.send(EnterReply::Entered);
                    self.members.insert(session, member);
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
        let cells = &mut self.shadow.cells;
        match msg {
            ServerMsg::Enter { user, cell, .. } | ServerMsg::Move { user, cell, .. } => {
                cells.insert(user, cell);
            }
            ServerMsg::Leave { user } => {
                cells.remove(&user);
                return Some(user);
            }
            ServerMsg::Sync { room } => {
                cells.clear();
                cells.extend(room.users.iter().map(|u| (u.user, u.cell)));
            }
            _ => {}
        }
        None
    }

    fn refused(&mut self, session: SessionId, frame: &str) {
        if let Some((_, reply)) = self.pending.remove(&session) {
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

    async fn ask_resync(&self) {
        let resync = NodeMessage::Resync {
            room: self.room,
            node: self.ports.node.clone(),
        };
        let _ = self.ports.bus.send_to_node(&self.host, &resync).await;
    }

    fn check_host(&self) {
        let (ports, room, sender) = (self.ports.clone(), self.room, self.sender.clone());
        tokio::spawn(async move {
            if let Ok(holder) = ports.hosting.holder(room).await {
                let _ = sender.send(RoomMsg::Upkeep(Upkeep::Holder(holder)));
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
                    .map(|(m, _)| (m.session, m.user, m.nickname.clone()))
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

    fn carry(&mut self) -> Vec<Member> {
        let mut carried: Vec<Member> = self.members.drain().map(|(_, m)| m).collect();
        for (_, (member, reply)) in self.pending.drain() {
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
