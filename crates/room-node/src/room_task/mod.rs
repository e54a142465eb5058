//! The one task that owns a hosted room: it applies every command of the room
//! to its `room_core::Room`, in arrival order, and fans the events out.

use std::sync::Arc;
use std::time::Instant;

use tokio::time::Instant as Clock;

use room_core::{Command, ErrorCode, Map, MapDoc, Room, RoomId, RoomView, ServerMsg, SessionId, UserId};
use room_ports::{Acquired, MapStore, NodeId, SessionAt, StoreError};
use tokio::sync::{mpsc, oneshot};

mod batch;
mod delivery;
mod host;
mod node;
mod relay;

use crate::contract::{HostEvent, NodeCommand};
use crate::fanout::{Encoded, send_to};
use crate::machine::Closing;
pub(crate) use crate::machine::Shadow;
use crate::machine::relay::HeldCommand;
use crate::metrics_names as m;
use crate::outbox::{CloseReason, Outbox};
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
    /// A local session enters, or (`resume`: its user's seat, and the last
    /// event number its socket saw) takes its user's seat up again.
    Enter {
        session: SessionId,
        user: UserId,
        nickname: String,
        outbox: Arc<Outbox>,
        resume: Option<(u64, u64)>,
        reply: oneshot::Sender<EnterReply>,
    },
    /// A local session's socket went without LEAVE: its seat, if any, is held.
    Away {
        session: SessionId,
    },
    Act {
        command: Command,
        received: Instant,
    },
    /// A BUILD from a local session, not checked yet.
    Build {
        session: SessionId,
        doc: MapDoc,
        /// The BUILD's `"ref"`, echoed in its answer.
        reference: Option<String>,
    },
    View {
        reply: oneshot::Sender<RoomView>,
    },
    /// A command relayed from another node's session (this node hosts the room).
    Remote {
        from: SessionAt,
        user: UserId,
        nickname: String,
        command: NodeCommand,
    },
    /// An event of the room from its host (this node relays the room).
    BusEvent(HostEvent),
    /// Events of the room may have been lost on the way here.
    Gap,
    /// The host refused a relayed ENTER.
    Refused {
        session: SessionId,
        code: ErrorCode,
        message: String,
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
    /// The host answered a BUILD this node relayed.
    BuildDone {
        ticket: u64,
        refused: Option<(ErrorCode, String)>,
    },
    /// A relay lost events and asks for a fresh SYNC for its sessions.
    Resync {
        node: NodeId,
    },
    /// This node is stopping: pass the room on and stop.
    HandOver {
        done: oneshot::Sender<()>,
    },
    /// A command this node relayed reached a node that does not host the
    /// room (any more): held until the host is found (this node relays it).
    Bounced {
        node: NodeId,
        session: SessionId,
        command: NodeCommand,
    },
    /// The room's host handed it over (this node relays it).
    HandedOver,
    /// A local session's command held while the room moved, for its next phase here.
    Held(HeldCommand),
}

pub(crate) type RoomSender = mpsc::Sender<RoomMsg>;

/// Messages a room's mailbox holds. Past it a session's command is refused
/// (76503), a bus event or relay report is dropped (the relay sees the gap,
/// or reports again), and a LEAVE waits for room (it must never be lost).
pub(crate) const MAILBOX: usize = 1024;

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
    /// Another node hosts the room now (or may): these local members carry
    /// on, and the messages held while the room moved go to its next phase
    /// here before anything else (bounded as the relay's hold is).
    Moved(Vec<Member>, Shadow, Vec<RoomMsg>),
}

impl From<Closing> for CloseReason {
    fn from(closing: Closing) -> CloseReason {
        match closing {
            Closing::Replaced => CloseReason::Replaced,
            Closing::TryAgainLater => CloseReason::TryAgainLater,
        }
    }
}

/// Everything a room task needs from its engine.
pub(crate) struct RoomContext {
    pub id: RoomId,
    pub shared: Arc<Shared>,
    pub own_sender: RoomSender,
}

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
        host::host(&ctx, &mut inbox, None, Vec::new(), Shadow::default(), Vec::new()).await;
        return;
    };
    let mut members = Vec::new();
    let mut shadow = Shadow::default();
    let mut held = Vec::new();
    let mut attempts = 0u32;
    loop {
        let asked_at = Clock::now();
        let outcome = match ports.hosting.acquire(id, &ports.node).await {
            Ok(Acquired::Granted(lease)) => {
                let seen = std::mem::take(&mut shadow);
                host::host(
                    &ctx,
                    &mut inbox,
                    Some((ports.clone(), lease, asked_at)),
                    members,
                    seen,
                    std::mem::take(&mut held),
                )
                .await
            }
            Ok(Acquired::HeldBy { node, epoch }) if node != ports.node => {
                let waiting = std::mem::take(&mut held);
                relay::relay(&ctx, &mut inbox, &ports, node, epoch, members, waiting).await
            }
            Ok(Acquired::HeldBy { .. }) | Err(_) => {
                attempts += 1;
                if attempts > 20 {
                    tracing::warn!(room = %id, "cannot find or take the room's host; refusing its sessions");
                    for member in members {
                        member.outbox.close(CloseReason::TryAgainLater);
                    }
                    for msg in held {
                        if let RoomMsg::Enter { reply, .. } = msg {
                            let message = "the room's host cannot be found now; try again".to_owned();
                            let _ = reply.send(EnterReply::Refused(ErrorCode::Unavailable, message));
                        }
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
            Ended::Moved(carried, seen, waiting) => {
                members = carried;
                shadow = seen;
                held = waiting;
                attempts = 0;
            }
        }
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
            // A relay's command that came too late: its relay takes it to the next host.
            RoomMsg::Remote { from, command, .. } => bounce(&ctx.shared, ctx.id, from, command),
            _ => {}
        }
    }
}

/// Send `command` back to the relay at `from`: this node does not host the room.
pub(crate) fn bounce(shared: &Shared, room: RoomId, from: SessionAt, command: NodeCommand) {
    let Some(ports) = shared.cluster.clone() else {
        return;
    };
    let bounced = crate::contract::NodeMessage::Bounced {
        room,
        node: ports.node.clone(),
        session: from.session,
        command,
    };
    let payload = crate::contract::encode(&bounced);
    shared.tasks.spawn(async move {
        if let Err(e) = ports.bus.send_to_node(&from.node, payload).await {
            tracing::debug!(node = %from.node, error = %e, "bounced command not sent");
        }
    });
}

pub(crate) fn queue_error(outbox: &Outbox, code: ErrorCode, message: String) {
    send_to(outbox, &Encoded::new(&ServerMsg::error(code, message)));
}
