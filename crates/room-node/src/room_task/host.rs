//! The driver of a hosted room (`machine::host` decides): it loads the room
//! and what a takeover needs, feeds the mailbox, the ports' answers and the
//! time to the machine, and carries its effects out. Port calls run in tasks
//! of their own and answer through a channel, so the room never waits on a
//! backing service; bus messages go through one bounded publisher queue.

use std::sync::Arc;

use room_core::{Audience, Command, SessionId};
use room_ports::{Acquired, Lease};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant as Clock;

use super::delivery::Delivery;
use super::{Ended, EnterReply, Member, RoomContext, RoomMsg, Shadow, close_inbox, load, queue_error};
use crate::cluster::ClusterPorts;
use crate::contract::{self, Change, HostEvent, NodeCommand, NodeMessage};
use crate::fanout::Encoded;
use crate::machine::host::{
    ClusterSetup, Host, HostAnswer, HostCall, HostEffect, HostEnd, HostInput, HostSetup, ResumeOutcome,
};
use crate::machine::seats::SeatSetup;
use crate::machine::{EnterAnswer, SeatAsk, TakeOver};
use crate::metrics_names as m;
use crate::ordered::{IdMap, IdSet};
use crate::outbox::{CloseReason, Outbox};

/// Messages a hosted room may have waiting for the bus. Past it they are
/// dropped: relays see the gap in event numbers and ask for fresh SYNCs, so
/// a slow or blocked broker costs bounded memory, not a backlog of moves.
const PUBLISH_QUEUE: usize = 4096;

/// Answers of the room's calls to ports. A call waits for room here rather
/// than being lost; each kind has at most one or a few in flight.
const ANSWERS: usize = 64;

/// Work for the host's publisher task, done in order.
enum Publish {
    Event(HostEvent),
    ToNode(room_ports::NodeId, NodeMessage),
}

struct Driver<'a> {
    ctx: &'a RoomContext,
    ports: Option<ClusterPorts>,
    machine: Host,
    delivery: Delivery,
    /// Local sockets whose ENTER is being answered, with where the answer goes.
    entering: IdMap<SessionId, (Arc<Outbox>, oneshot::Sender<EnterReply>)>,
    /// Local sockets in the room.
    sockets: IdMap<SessionId, Arc<Outbox>>,
    publisher: Option<mpsc::Sender<Publish>>,
    /// Boxed: a channel allocates its slots in blocks up front, and an
    /// answer is large; a room pays for the pointers only.
    answers: mpsc::Sender<Box<HostAnswer>>,
    /// This room and its seats as counted in the node's gauges.
    counted: Counted,
}

/// A hosted room's share of the gauges `myroom_rooms` and
/// `myroom_seats_held`, given back when it is dropped: at the end of
/// `host()`, and also when the room's task panics (the supervisor closes
/// its sockets with 1011; the task's state is dropped as it unwinds), so the
/// gauges never keep a dead room's count until the process restarts.
struct Counted {
    seats: usize,
}

impl Counted {
    fn room() -> Counted {
        metrics::gauge!(m::ROOMS).increment(1.0);
        Counted { seats: 0 }
    }

    fn seats(&mut self, held: usize) {
        if held != self.seats {
            metrics::gauge!(m::SEATS_HELD).increment(held as f64 - self.seats as f64);
            self.seats = held;
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!(m::SEATS_HELD).decrement(self.seats as f64);
        metrics::gauge!(m::ROOMS).decrement(1.0);
    }
}

/// Host the room: load it, serve it, until it empties (or its lease is lost).
pub(super) async fn host(
    ctx: &RoomContext,
    inbox: &mut mpsc::Receiver<RoomMsg>,
    lease: Option<(ClusterPorts, Lease, Clock)>,
    members: Vec<Member>,
    shadow: Shadow,
    held: Vec<RoomMsg>,
) -> Ended {
    let id = ctx.id;
    let (room, stored_map_problem) = match load(id, ctx.shared.store.as_ref(), &ctx.shared).await {
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
            for msg in held {
                if let RoomMsg::Enter { reply, .. } = msg {
                    let _ = reply.send(EnterReply::Refused(code, message.clone()));
                }
            }
            close_inbox(ctx, inbox, || EnterReply::Refused(code, message.clone()));
            return Ended::Done;
        }
    };
    let counted = Counted::room();
    let (answers, mut answered) = mpsc::channel(ANSWERS);
    let cluster = lease.as_ref().map(|(ports, lease, asked_at)| ClusterSetup {
        node: ports.node.clone(),
        lease: lease.clone(),
        lease_ttl: ports.lease_ttl,
        node_ttl: ports.node_ttl,
        asked_at: asked_at.into_std(),
    });
    let setup = HostSetup {
        room,
        stored_map_problem,
        builds_in_flight: ctx.shared.config.builds_in_flight,
        observe: !ctx.shared.observers.is_empty(),
        cluster,
        // A grace of 0 turns resume off: no seat that would end at once, no SEAT for it.
        seats: (!ctx.shared.config.resume_grace.is_zero())
            .then(|| ctx.shared.seat_key.clone())
            .flatten()
            .map(|key| SeatSetup {
                key,
                grace: ctx.shared.config.resume_grace,
                log: ctx.shared.config.resume_log,
                replay_frames: ctx.shared.config.numbered_outbox_capacity(),
                replay_bytes: ctx.shared.config.outbox_bytes,
                life: seat_life(),
            }),
    };
    let ports = lease.map(|(ports, lease, _)| {
        tracing::info!(room = %lease.room, epoch = lease.epoch, "hosting room");
        ctx.shared.set_hosted(id, true);
        ports
    });
    let mut driver = Driver {
        ctx,
        publisher: ports.as_ref().map(|ports| start_publisher(ctx, ports)),
        ports,
        machine: Host::new(setup, Clock::now().into_std()),
        delivery: Delivery::new(ctx.shared.config.tick),
        entering: IdMap::default(),
        sockets: IdMap::default(),
        answers,
        counted,
    };
    if driver.ports.is_some() {
        driver.take_over(members, shadow).await;
    } else if let Some(states) = &ctx.shared.states
        && let Some(state) = states.take(id, ctx.shared.config.resume_grace).await
    {
        driver.machine.restart_from(state, Clock::now().into_std());
    }
    // What this node's sessions sent while the room moved, in the order they sent it.
    for msg in held {
        driver.carry_out();
        driver.on_message(msg);
    }
    let ended = loop {
        driver.carry_out();
        if let Some(end) = driver.machine.take_end() {
            break driver.end(end).await;
        }
        let upkeep = driver.machine.poll_timeout().map(Clock::from_std);
        // Biased, timers first: the order of what is ready never depends on
        // the runtime's random pick (so a simulated run replays), and a busy
        // inbox cannot starve the tick or the lease renewal.
        tokio::select! {
            biased;
            // The tick timer exists only while batching sockets have something pending.
            _ = tokio::time::sleep_until(driver.delivery.tick_deadline()), if driver.delivery.tick_pending() => {
                driver.delivery.flush();
                continue;
            }
            _ = tokio::time::sleep_until(upkeep.unwrap_or_else(Clock::now)), if upkeep.is_some() => {
                driver.machine.on_timeout(Clock::now().into_std());
                continue;
            }
            Some(answer) = answered.recv() => {
                driver.machine.handle(HostInput::Answer(*answer), Clock::now().into_std());
            }
            msg = inbox.recv() => match msg {
                None => {
                    driver.delivery.detach_all();
                    break Ended::Done;
                }
                Some(RoomMsg::HandOver { done }) => {
                    driver.hand_over().await;
                    close_inbox(ctx, inbox, || EnterReply::Gone);
                    let _ = done.send(());
                    break Ended::Done;
                }
                Some(msg) => driver.on_message(msg),
            },
        }
        driver.carry_out();
        if let Some(end) = driver.machine.take_end() {
            break driver.end(end).await;
        }
        if driver.machine.is_idle() && inbox.is_empty() {
            driver.release().await;
            close_inbox(ctx, inbox, || EnterReply::Gone);
            break Ended::Done;
        }
    };
    if driver.ports.is_some() {
        ctx.shared.set_hosted(id, false);
    }
    ended
}

/// Where this life of a room starts its seat numbers: see `SeatSetup::life`.
/// A clock set back by more than a room's lifetime could reuse numbers;
/// the key's signature still ties a token to its user and room.
fn seat_life() -> u64 {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // 1000 seats a millisecond; under 2^53 (JavaScript's exact integers) until the year 2255.
    millis.saturating_mul(1000)
}

/// Count how a resume was answered.
fn count_resume(outcome: ResumeOutcome) {
    let label = match outcome {
        ResumeOutcome::Replayed(events) => {
            metrics::counter!(m::EVENTS_REPLAYED).increment(events as u64);
            "replayed"
        }
        ResumeOutcome::Synced => "sync",
        ResumeOutcome::Expired => "expired",
    };
    metrics::counter!(m::RESUMES, "outcome" => label).increment(1);
}

/// One task per hosted room publishes in order; the room itself never waits on the broker.
fn start_publisher(ctx: &RoomContext, ports: &ClusterPorts) -> mpsc::Sender<Publish> {
    let (publisher, mut jobs) = mpsc::channel::<Publish>(PUBLISH_QUEUE);
    let bus = ports.bus.clone();
    ctx.shared.tasks.spawn(async move {
        while let Some(job) = jobs.recv().await {
            let result = match &job {
                Publish::Event(event) => bus.publish(event.room, contract::encode(event)).await,
                Publish::ToNode(node, message) => bus.send_to_node(node, contract::encode(message)).await,
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "bus send failed; receivers will resynchronise");
            }
        }
    });
    publisher
}

impl Driver<'_> {
    /// Gather what a takeover needs (the snapshot, which of its nodes are
    /// alive) and hand it to the machine with this node's carried sessions.
    async fn take_over(&mut self, members: Vec<Member>, shadow: Shadow) {
        let Some(ports) = self.ports.clone() else { return };
        let snapshot = match ports.hosting.load_snapshot(self.ctx.id).await {
            Ok(snapshot) => snapshot,
            Err(e) => {
                tracing::warn!(room = %self.ctx.id, error = %e, "no snapshot to take over from");
                None
            }
        };
        let mut live = IdSet::default();
        let trusted = self.ctx.shared.trust.trusted();
        for user in snapshot.iter().flat_map(|s| &s.users) {
            let node = &user.session.node;
            if *node != ports.node
                && !live.contains(node)
                && (!trusted || ports.registry.is_live(node).await.unwrap_or(true))
            {
                live.insert(node.clone());
            }
        }
        let mut carried = Vec::with_capacity(members.len());
        for member in members {
            carried.push((member.session, member.user, member.nickname));
            self.sockets.insert(member.session, member.outbox);
        }
        let takeover = TakeOver {
            snapshot,
            live,
            members: carried,
            shadow,
        };
        self.machine.take_over(takeover, Clock::now().into_std());
    }

    fn on_message(&mut self, msg: RoomMsg) {
        let now = Clock::now().into_std();
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
                self.entering.insert(session, (outbox, reply));
                HostInput::Enter {
                    session,
                    user,
                    nickname,
                    seat,
                }
            }
            RoomMsg::Away { session } => HostInput::Away { session },
            RoomMsg::Act { command, received } => {
                self.machine.handle(HostInput::Command(command), now);
                metrics::histogram!(m::COMMAND_SECONDS).record(received.elapsed().as_secs_f64());
                return;
            }
            RoomMsg::Build {
                session,
                doc,
                reference,
            } => HostInput::Build {
                session,
                doc,
                reference,
            },
            RoomMsg::View { reply } => {
                let _ = reply.send(self.machine.view());
                return;
            }
            RoomMsg::Remote {
                from,
                user,
                nickname,
                command,
            } => HostInput::Remote {
                from,
                user,
                nickname,
                command,
            },
            RoomMsg::Resync { node } => HostInput::Resync { node },
            // Sent while the room moved to this node: applied as it would have been then.
            RoomMsg::Held(held) => match held.command {
                NodeCommand::Sync => HostInput::Command(Command::Sync {
                    session: held.session,
                }),
                NodeCommand::Move { direction } => HostInput::Command(Command::Move {
                    session: held.session,
                    direction,
                }),
                NodeCommand::Leave => HostInput::Command(Command::Leave {
                    session: held.session,
                }),
                NodeCommand::Away => HostInput::Away {
                    session: held.session,
                },
                NodeCommand::Build { map, reference, .. } => HostInput::Build {
                    session: held.session,
                    doc: map,
                    reference,
                },
                NodeCommand::Enter { .. } | NodeCommand::Resume { .. } => return,
            },
            RoomMsg::Members {
                node,
                entered,
                entering,
            } => HostInput::Members {
                node,
                entered,
                entering,
            },
            // Both this node and the asker believe they host the room: the lease decides, not this.
            RoomMsg::AskMembers { .. } => return,
            // A host publishes; it does not consume its own room's events.
            RoomMsg::BusEvent(_)
            | RoomMsg::Gap
            | RoomMsg::Refused { .. }
            | RoomMsg::BuildDone { .. }
            | RoomMsg::Bounced { .. }
            | RoomMsg::HandedOver
            | RoomMsg::HandOver { .. } => {
                return;
            }
        };
        self.machine.handle(input, now);
    }

    /// Carry out every effect the machine has queued.
    fn carry_out(&mut self) {
        while let Some(effect) = self.machine.poll_effect() {
            self.apply(effect);
        }
        self.counted.seats(self.machine.seats_held());
    }

    fn apply(&mut self, effect: HostEffect) {
        match effect {
            HostEffect::Answer { session, answer } => {
                let Some((outbox, reply)) = self.entering.remove(&session) else {
                    return;
                };
                let reply_with = match answer {
                    EnterAnswer::Entered => {
                        self.sockets.insert(session, outbox);
                        EnterReply::Entered
                    }
                    EnterAnswer::Refused(code, message) => EnterReply::Refused(code, message),
                };
                let _ = reply.send(reply_with);
            }
            HostEffect::Attach { session } => {
                if let Some(outbox) = self.sockets.get(&session) {
                    self.delivery.attach(session, outbox.clone());
                }
            }
            HostEffect::Detach { session } => {
                self.delivery.detach(session);
                self.sockets.remove(&session);
            }
            HostEffect::Event {
                audience,
                msg,
                publish,
                seq: number,
                encoded,
                then,
                reply,
            } => {
                let encoded = match encoded {
                    Some(text) if matches!(msg, room_core::ServerMsg::Error { .. }) => {
                        Encoded::relayed(text, None)
                    }
                    Some(text) => Encoded::with_text(&msg, text),
                    None => Encoded::new(&msg),
                };
                self.delivery
                    .deliver_answering(audience, &encoded, number, &then, reply.as_ref());
                if let Some((epoch, seq)) = publish {
                    self.publish(Publish::Event(HostEvent {
                        room: self.ctx.id,
                        epoch,
                        seq,
                        audience,
                        change: Change::of(&msg),
                        frame: encoded.text().to_owned(),
                        number,
                        then,
                        reply,
                    }));
                }
            }
            HostEffect::Resumed(outcome) => count_resume(outcome),
            HostEffect::Close { session, closing } => {
                let outbox = self
                    .delivery
                    .detach(session)
                    .or_else(|| self.sockets.remove(&session));
                self.sockets.remove(&session);
                if let Some(outbox) = outbox {
                    outbox.close(closing.into());
                }
            }
            HostEffect::ToNode { node, message } => self.publish(Publish::ToNode(node, message)),
            HostEffect::Marker { epoch, seq } => self.publish(Publish::Event(HostEvent {
                room: self.ctx.id,
                epoch,
                seq,
                audience: Audience::All,
                change: Change::Marker,
                frame: String::new(),
                number: None,
                then: Vec::new(),
                reply: None,
            })),
            HostEffect::Call(call) => self.call(call),
            HostEffect::Observe(event) => self.ctx.shared.observers.notify(&event),
        }
    }

    /// Hand `job` to the room's publisher; dropped (and counted) when it is full.
    fn publish(&self, job: Publish) {
        let Some(publisher) = &self.publisher else { return };
        if publisher.try_send(job).is_err() {
            metrics::counter!(m::QUEUE_FULL, "queue" => "publish").increment(1);
        }
    }

    /// Make `call` in a task of its own; its answer comes back through `answers`.
    fn call(&self, call: HostCall) {
        let answers = self.answers.clone();
        let store = self.ctx.shared.store.clone();
        let room = self.ctx.id;
        let ports = self.ports.clone();
        let trusted = self.ctx.shared.trust.trusted();
        self.ctx.shared.tasks.spawn(async move {
            let answer = match call {
                HostCall::OwnedGames { id, user } => HostAnswer::Owned {
                    id,
                    owned: store
                        .owned_games(user)
                        .await
                        .map(|games| games.into_iter().map(|g| g.id).collect()),
                },
                HostCall::SaveMap {
                    session,
                    origin,
                    build,
                    expected,
                    epoch,
                } => {
                    let result = store.save_map(room, build.map(), expected, epoch).await;
                    HostAnswer::Saved {
                        session,
                        origin,
                        build,
                        expected,
                        result,
                    }
                }
                HostCall::ReadBack {
                    session,
                    origin,
                    build,
                    expected,
                } => HostAnswer::ReadBack {
                    session,
                    origin,
                    build,
                    expected,
                    stored: store.load_room(room).await,
                },
                cluster_call => {
                    let Some(ports) = ports else { return };
                    match cluster_call {
                        HostCall::Renew(lease) => HostAnswer::Renewed(ports.hosting.renew(&lease).await),
                        HostCall::Reacquire => {
                            let acquired = ports.hosting.acquire(room, &ports.node).await;
                            let snapshot = match acquired {
                                Ok(Acquired::Granted(_)) => ports
                                    .hosting
                                    .load_snapshot(room)
                                    .await
                                    .map(|s| s.map(|s| s.epoch)),
                                _ => Ok(None),
                            };
                            HostAnswer::Reacquired(acquired, snapshot)
                        }
                        HostCall::SaveSnapshot(lease, snapshot) => {
                            HostAnswer::SnapshotSaved(ports.hosting.save_snapshot(&lease, &snapshot).await)
                        }
                        // Unknown (registry away, or not trusted yet) counts as alive: never evict on a guess.
                        HostCall::ListNodes if !trusted => HostAnswer::Listed(None),
                        HostCall::ListNodes => HostAnswer::Listed(ports.registry.live_nodes().await.ok()),
                        HostCall::OwnedGames { .. }
                        | HostCall::SaveMap { .. }
                        | HostCall::ReadBack { .. } => return,
                    }
                }
            };
            let _ = answers.send(Box::new(answer)).await;
        });
    }

    /// This node stops: store where everyone is, then let another node take the room.
    async fn hand_over(&mut self) {
        self.delivery.detach_all();
        if self.ports.is_none() {
            // A standalone node stopping: the room waits on its disk for the next run.
            if let Some(states) = &self.ctx.shared.states
                && self.machine.seats_held() > 0
            {
                let state = self.machine.state(true);
                match states.save(&state).await {
                    Ok(()) => {
                        tracing::info!(room = %state.room, seats = self.machine.seats_held(), "room kept for the next run")
                    }
                    Err(e) => {
                        tracing::warn!(room = %state.room, error = %e, "room state not kept; its seats end")
                    }
                }
            }
            return;
        }
        let (Some(ports), Some((lease, snapshot))) = (self.ports.clone(), self.machine.snapshot(true)) else {
            return;
        };
        if let Err(e) = ports.hosting.save_snapshot(&lease, &snapshot).await {
            tracing::warn!(room = %lease.room, error = %e, "final snapshot not written");
        }
        let _ = ports.hosting.release(&lease).await;
        // Its relays hold their sessions' commands from now on and look for the next host.
        let notice = contract::encode(&NodeMessage::HandedOver { room: lease.room });
        for node in self.machine.remote_nodes() {
            if let Err(e) = ports.bus.send_to_node(&node, notice.clone()).await {
                tracing::debug!(%node, error = %e, "hand-over notice not sent");
            }
        }
        tracing::info!(room = %lease.room, users = snapshot.users.len(), "handed the room over");
    }

    /// The room emptied: give the lease back.
    async fn release(&mut self) {
        self.delivery.detach_all();
        let (Some(ports), Some((lease, snapshot))) = (self.ports.clone(), self.machine.snapshot(true)) else {
            return;
        };
        let _ = ports.hosting.save_snapshot(&lease, &snapshot).await;
        let _ = ports.hosting.release(&lease).await;
    }

    /// The hosted phase ended: its local sessions go on to the next one.
    async fn end(&mut self, end: HostEnd) -> Ended {
        let carried = match end {
            HostEnd::Moved(carried) => carried,
            HostEnd::Restart(carried) => {
                // No snapshot: this host's may be older than one written in between.
                if let (Some(ports), Some((lease, _))) = (self.ports.clone(), self.machine.snapshot(false)) {
                    let _ = ports.hosting.release(&lease).await;
                }
                carried
            }
        };
        Ended::Moved(self.carry(carried), Shadow::default(), Vec::new())
    }

    /// The local sessions the machine carries over, with their sockets.
    fn carry(&mut self, carried: Vec<(SessionId, room_core::UserId, String)>) -> Vec<Member> {
        self.delivery.detach_all();
        carried
            .into_iter()
            .filter_map(|(session, user, nickname)| {
                let outbox = self.sockets.remove(&session)?;
                Some(Member {
                    session,
                    user,
                    nickname,
                    outbox,
                })
            })
            .collect()
    }
}
