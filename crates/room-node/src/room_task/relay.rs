//! The driver of a relayed room (`machine::relay` decides): it feeds the
//! room's mailbox, the ports' answers and the time to the machine, and
//! carries its effects out. It never waits on the broker: messages for the
//! host go through a bounded queue to a sender task of their own.

use std::sync::Arc;
use std::time::Duration;

use room_core::SessionId;
use room_ports::NodeId;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::delivery::Delivery;
use super::{Ended, EnterReply, Member, RoomContext, RoomMsg, close_inbox};
use crate::cluster::ClusterPorts;
use crate::contract::{self, NodeMessage};
use crate::fanout::Encoded;
use crate::machine::relay::{Relay, RelayEffect, RelayEnd, RelayInput, RelaySetup};
use crate::machine::{EnterAnswer, SeatAsk};
use crate::metrics_names as m;
use crate::ordered::IdMap;
use crate::outbox::Outbox;

/// Messages for the host waiting for the bus. Past it they are dropped (and
/// counted): a forwarded command is then answered as unsent, and the relay's
/// own reports go again at its next check.
const SEND_QUEUE: usize = 1024;

/// Answers of the relay's background calls, and notices of its sender task.
/// Each call waits for room here rather than being lost; there are few.
const ANSWERS: usize = 64;

/// A local socket in (or entering) the room.
struct Socket {
    outbox: Arc<Outbox>,
    /// Where the answer to its ENTER goes, until it is answered.
    reply: Option<oneshot::Sender<EnterReply>>,
}

struct Driver<'a> {
    ctx: &'a RoomContext,
    ports: &'a ClusterPorts,
    machine: Relay,
    sockets: IdMap<SessionId, Socket>,
    delivery: Delivery,
    sends: mpsc::Sender<(NodeId, NodeMessage, Option<SessionId>)>,
    answers: mpsc::Sender<RelayInput>,
    /// Inputs the effects themselves produced (a session that stopped waiting).
    feedback: Vec<RelayInput>,
}

/// Relay the room to `host` until no local session needs it, or the host goes away.
pub(crate) async fn relay(
    ctx: &RoomContext,
    inbox: &mut mpsc::Receiver<RoomMsg>,
    ports: &ClusterPorts,
    host: NodeId,
    epoch: u64,
    carried: Vec<Member>,
    held: Vec<RoomMsg>,
) -> Ended {
    if let Err(e) = ports.bus.subscribe_room(ctx.id).await {
        tracing::warn!(room = %ctx.id, error = %e, "cannot subscribe to the room's events");
    }
    tracing::debug!(room = %ctx.id, %host, epoch, "relaying room");
    let (answers, mut answered) = mpsc::channel(ANSWERS);
    let sends = start_sender(ctx, ports, answers.clone());
    let setup = RelaySetup {
        room: ctx.id,
        node: ports.node.clone(),
        host,
        epoch,
        forward_timeout: ctx.shared.config.forward_timeout,
        build_timeout: ctx.shared.config.forward_timeout * 2,
        check_every: (ports.lease_ttl / 3).max(Duration::from_millis(50)),
    };
    let ids = carried
        .iter()
        .map(|m| (m.session, m.user, m.nickname.clone(), m.outbox.is_numbered()))
        .collect();
    let mut driver = Driver {
        ctx,
        ports,
        machine: Relay::new(setup, ids, Instant::now().into_std()),
        sockets: IdMap::default(),
        delivery: Delivery::new(ctx.shared.config.tick),
        sends,
        answers,
        feedback: Vec::new(),
    };
    for member in carried {
        driver.sockets.insert(
            member.session,
            Socket {
                outbox: member.outbox,
                reply: None,
            },
        );
    }
    // What this node's sessions sent while the room moved, in the order they sent it.
    for msg in held {
        driver.carry_out();
        driver.on_message(msg);
    }
    let ended = loop {
        driver.carry_out();
        if let Some(end) = driver.machine.take_end() {
            break driver.end(end);
        }
        // Biased, timers first: see the host's loop.
        let checked = tokio::select! {
            biased;
            _ = tokio::time::sleep_until(driver.delivery.tick_deadline()), if driver.delivery.tick_pending() => {
                driver.delivery.flush();
                continue;
            }
            _ = tokio::time::sleep_until(Instant::from_std(driver.machine.poll_timeout())) => {
                driver.machine.on_timeout(Instant::now().into_std());
                true
            }
            Some(input) = answered.recv() => {
                driver.machine.handle(input, Instant::now().into_std());
                false
            }
            msg = inbox.recv() => {
                let Some(msg) = msg else {
                    driver.delivery.detach_all();
                    break Ended::Done;
                };
                driver.on_message(msg);
                true
            }
        };
        if checked && driver.machine.is_idle() && inbox.is_empty() {
            // Nobody here needs the room any more (they left, or it moved).
            driver.machine.finish();
            driver.carry_out();
            driver.delivery.detach_all();
            close_inbox(ctx, inbox, || EnterReply::Gone);
            break Ended::Done;
        }
    };
    // Done, or moved: a next relay phase subscribes again.
    let _ = ports.bus.unsubscribe_room(ctx.id).await;
    ended
}

/// One task sends the relay's messages to other nodes, in order; the relay
/// never waits on the broker.
fn start_sender(
    ctx: &RoomContext,
    ports: &ClusterPorts,
    answers: mpsc::Sender<RelayInput>,
) -> mpsc::Sender<(NodeId, NodeMessage, Option<SessionId>)> {
    let (sends, mut queued) = mpsc::channel::<(NodeId, NodeMessage, Option<SessionId>)>(SEND_QUEUE);
    let bus = ports.bus.clone();
    ctx.shared.tasks.spawn(async move {
        while let Some((node, message, session)) = queued.recv().await {
            if let Err(e) = bus.send_to_node(&node, contract::encode(&message)).await {
                tracing::debug!(%node, error = %e, "message for the host not sent");
                if let Some(session) = session {
                    let _ = answers.send(RelayInput::Unsent { session }).await;
                }
            }
        }
    });
    sends
}

impl Driver<'_> {
    fn on_message(&mut self, msg: RoomMsg) {
        let now = Instant::now().into_std();
        let input = match msg {
            RoomMsg::Enter {
                session,
                user,
                nickname,
                outbox,
                resume,
                reply,
            } => {
                let seat = SeatAsk::of(outbox.is_numbered(), resume);
                self.sockets.insert(
                    session,
                    Socket {
                        outbox,
                        reply: Some(reply),
                    },
                );
                RelayInput::Enter {
                    session,
                    user,
                    nickname,
                    seat,
                }
            }
            RoomMsg::Away { session } => {
                self.delivery.detach(session);
                self.sockets.remove(&session);
                RelayInput::Away { session }
            }
            RoomMsg::Act { command, .. } => {
                if let room_core::Command::Leave { session } = command {
                    // Whatever the machine makes of it, the socket is no longer the room's.
                    self.delivery.detach(session);
                    self.sockets.remove(&session);
                }
                RelayInput::Command(command)
            }
            RoomMsg::Build {
                session,
                doc,
                reference,
            } => RelayInput::Build {
                session,
                doc,
                reference,
            },
            RoomMsg::BusEvent(event) => RelayInput::Event(event),
            RoomMsg::Gap => RelayInput::Gap,
            RoomMsg::Refused {
                session,
                code,
                message,
            } => RelayInput::EnterRefused {
                session,
                code,
                message,
            },
            RoomMsg::AskMembers { host } => RelayInput::AskMembers { host },
            RoomMsg::BuildDone { ticket, refused } => RelayInput::BuildDone { ticket, refused },
            RoomMsg::Remote { from, command, .. } => RelayInput::Remote { from, command },
            RoomMsg::Bounced {
                node,
                session,
                command,
            } => RelayInput::Bounced {
                node,
                session,
                command,
            },
            RoomMsg::HandedOver => RelayInput::HandedOver,
            RoomMsg::Held(held) => RelayInput::Held(held),
            RoomMsg::HandOver { done } => {
                // A relay has nothing to hand over: the host keeps the room.
                let _ = done.send(());
                return;
            }
            // The live view is the host's; the engine falls back to the stored room.
            RoomMsg::View { .. } | RoomMsg::Resync { .. } | RoomMsg::Members { .. } => return,
        };
        self.machine.handle(input, now);
    }

    /// Carry out every effect the machine has queued (and what they feed back).
    fn carry_out(&mut self) {
        loop {
            while let Some(effect) = self.machine.poll_effect() {
                self.apply(effect);
            }
            if self.feedback.is_empty() {
                return;
            }
            let now = Instant::now().into_std();
            for input in std::mem::take(&mut self.feedback) {
                self.machine.handle(input, now);
            }
        }
    }

    fn apply(&mut self, effect: RelayEffect) {
        match effect {
            RelayEffect::Answer { session, answer } => self.answer(session, answer),
            RelayEffect::Attach { session } => {
                if let Some(socket) = self.sockets.get(&session) {
                    self.delivery.attach(session, socket.outbox.clone());
                }
            }
            RelayEffect::Deliver {
                audience,
                frame,
                mover,
                number,
                then,
                reply,
            } => {
                let encoded = Encoded::relayed(frame, mover);
                self.delivery
                    .deliver_answering(audience, &encoded, number, &then, reply.as_ref());
            }
            RelayEffect::Error {
                session,
                code,
                message,
                reference,
            } => {
                let encoded = Encoded::error_answering(code, message, reference.as_deref());
                if self.delivery.is_attached(session) {
                    self.delivery.send_one(session, &encoded);
                } else if let Some(socket) = self.sockets.get(&session) {
                    crate::fanout::send_to(&socket.outbox, &encoded);
                }
            }
            RelayEffect::Close {
                session,
                frame,
                closing,
            } => {
                self.delivery.detach(session);
                if let Some(socket) = self.sockets.remove(&session) {
                    if let Some(frame) = frame {
                        crate::fanout::send_to(&socket.outbox, &Encoded::relayed(frame, None));
                    }
                    socket.outbox.close(closing.into());
                }
            }
            RelayEffect::ToNode {
                node,
                message,
                session,
            } => {
                if self.sends.try_send((node, message, session)).is_err() {
                    metrics::counter!(m::QUEUE_FULL, "queue" => "relay").increment(1);
                    if let Some(session) = session {
                        self.feedback.push(RelayInput::Unsent { session });
                    }
                }
            }
            RelayEffect::AskHolder => {
                let (ports, room, answers) = (self.ports.clone(), self.ctx.id, self.answers.clone());
                self.ctx.shared.tasks.spawn(async move {
                    if let Ok(holder) = ports.hosting.holder(room).await {
                        let _ = answers.send(RelayInput::Holder(holder)).await;
                    }
                });
            }
        }
    }

    fn answer(&mut self, session: SessionId, answer: EnterAnswer) {
        let Some(socket) = self.sockets.get_mut(&session) else {
            return;
        };
        let Some(reply) = socket.reply.take() else {
            return;
        };
        match answer {
            EnterAnswer::Entered => {
                if reply.send(EnterReply::Entered).is_err() {
                    // The session stopped waiting: it is not in the room.
                    self.sockets.remove(&session);
                    self.feedback.push(RelayInput::Abandoned { session });
                }
            }
            EnterAnswer::Refused(code, message) => {
                let _ = reply.send(EnterReply::Refused(code, message));
                self.sockets.remove(&session);
            }
        }
    }

    /// The relay ended: its sockets carry on under the next host, or nowhere.
    fn end(&mut self, end: RelayEnd) -> Ended {
        self.delivery.detach_all();
        match end {
            RelayEnd::Done => Ended::Done,
            RelayEnd::Moved {
                members,
                shadow,
                resuming,
                held,
            } => {
                let carried = members
                    .into_iter()
                    .filter_map(|(session, user, nickname)| {
                        let socket = self.sockets.remove(&session)?;
                        Some(Member {
                            session,
                            user,
                            nickname,
                            outbox: socket.outbox,
                        })
                    })
                    .collect();
                // Resumes not answered yet enter the next phase as they came, answer and all.
                let mut waiting: Vec<RoomMsg> = resuming
                    .into_iter()
                    .filter_map(|r| {
                        let socket = self.sockets.remove(&r.session)?;
                        Some(RoomMsg::Enter {
                            session: r.session,
                            user: r.user,
                            nickname: r.nickname,
                            outbox: socket.outbox,
                            resume: Some((r.seat, r.seq)),
                            reply: socket.reply?,
                        })
                    })
                    .collect();
                waiting.extend(held.into_iter().map(RoomMsg::Held));
                Ended::Moved(carried, shadow, waiting)
            }
        }
    }
}
