//! One authenticated socket as the engine sees it: which room it is in, and
//! what it asks for.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use room_core::{ClientMsg, Command, ErrorCode, MapDoc, RoomId, ServerMsg, SessionId, UserId};
use tokio::sync::{mpsc, oneshot};

use crate::engine::Engine;
use crate::fanout::{Encoded, code_label, send_to};
use crate::metrics_names as m;
use crate::outbox::{CloseReason, Outbox};
use crate::room_task::{EnterReply, RoomMsg, RoomSender, lock};

/// Sessions are opened by the engine; this is here, beside `Session`, so the
/// engine needs nothing of the sessions it hands out.
impl Engine {
    /// Open a session for an authenticated `user`. Its outbox receives
    /// everything meant for the socket; dropping the session leaves its room.
    pub fn open_session(&self, user: UserId, nickname: String) -> Session {
        self.open_session_with_outbox(user, nickname, self.new_outbox())
    }

    /// Open a session that writes into an existing `outbox`.
    pub fn open_session_with_outbox(&self, user: UserId, nickname: String, outbox: Arc<Outbox>) -> Session {
        let id = SessionId(self.shared.next_session.fetch_add(1, Ordering::Relaxed) + 1);
        lock(&self.shared.sessions).insert(id, outbox.clone());
        metrics::gauge!(m::SESSIONS).increment(1.0);
        Session::new(self.clone(), id, user, nickname, outbox)
    }
}

/// A socket's session. Created by [`Engine::open_session`]; dropping it is
/// the same as LEAVE (PROTOCOL.md §8).
pub struct Session {
    engine: Engine,
    id: SessionId,
    user: UserId,
    nickname: String,
    outbox: Arc<Outbox>,
    room: Option<(RoomId, RoomSender)>,
    /// Counts this session as open for [`Engine::shutdown`] until it is
    /// dropped (after `Drop::drop` has left the registry).
    _open: tokio_util::task::task_tracker::TaskTrackerToken,
}

/// How often an ENTER is retried when it meets a room that was just unloading.
const ENTER_ATTEMPTS: usize = 5;

impl Session {
    pub(crate) fn new(
        engine: Engine,
        id: SessionId,
        user: UserId,
        nickname: String,
        outbox: Arc<Outbox>,
    ) -> Self {
        Session {
            _open: engine.open.session(),
            engine,
            id,
            user,
            nickname,
            outbox,
            room: None,
        }
    }

    /// This session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The authenticated user.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The room this session is in, if any.
    pub fn room(&self) -> Option<RoomId> {
        self.room.as_ref().map(|(room, _)| *room)
    }

    /// The queue the socket's writer drains.
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Send an ERROR to this session only.
    pub fn send_error(&self, code: ErrorCode, message: impl Into<String>) {
        send_to(&self.outbox, &Encoded::new(&ServerMsg::error(code, message)));
    }

    /// Handle one parsed client message.
    pub async fn handle(&mut self, msg: ClientMsg) {
        metrics::counter!(m::MESSAGES_IN, "code" => code_label(msg.code())).increment(1);
        let received = Instant::now();
        match msg {
            ClientMsg::Enter { room_id, .. } => self.enter(room_id).await,
            ClientMsg::Sync => self.act(Command::Sync { session: self.id }, received),
            ClientMsg::Move { direction } => self.act(
                Command::Move {
                    session: self.id,
                    direction,
                },
                received,
            ),
            ClientMsg::Leave => {
                if self.room.is_none() {
                    self.send_error(ErrorCode::NotInRoom, "not in a room yet: send ENTER first");
                    return;
                }
                self.leave_room();
                self.outbox.close(CloseReason::Normal);
            }
            ClientMsg::Build { map, reference } => self.build(map, reference),
        }
    }

    fn act(&mut self, command: Command, received: Instant) {
        let Some((_, sender)) = &self.room else {
            self.send_error(ErrorCode::NotInRoom, "not in a room yet: send ENTER first");
            return;
        };
        let sender = sender.clone();
        self.send_to_room(&sender, RoomMsg::Act { command, received });
    }

    /// Hand `msg` to the room: refused with 76503 when its mailbox is full.
    fn send_to_room(&mut self, sender: &RoomSender, msg: RoomMsg) {
        match sender.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!(m::QUEUE_FULL, "queue" => "room").increment(1);
                self.send_error(ErrorCode::Unavailable, "the room is too busy; try again");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The room task is gone (it only leaves when empty, so this session was replaced).
                self.room = None;
                self.send_error(ErrorCode::NotInRoom, "not in a room any more: send ENTER");
            }
        }
    }

    async fn enter(&mut self, room: RoomId) {
        if self.room() == Some(room) {
            // In it already: a SYNC answers; an opted-in socket's room
            // answers it as an ENTER, with its SEAT after (PROTOCOL.md §9).
            if !self.outbox.is_numbered() {
                self.act(Command::Sync { session: self.id }, Instant::now());
                return;
            }
        } else {
            self.leave_room();
        }
        self.ask_to_enter(room, None).await;
    }

    /// Take up `user`'s seat in `room` (PROTOCOL.md §9) on this session's
    /// socket, which saw the room's events up to `seq`: the room answers
    /// RESUMED and the events missed, or a fresh SYNC and a new SEAT; when
    /// the seat is gone, ERROR 76408 and the session is in no room.
    pub async fn resume(&mut self, room: RoomId, seat: u64, seq: u64) {
        self.leave_room();
        self.ask_to_enter(room, Some((seat, seq))).await;
    }

    /// Send an ENTER (a resume, with `resume`) to `room`'s task and take its answer.
    async fn ask_to_enter(&mut self, room: RoomId, resume: Option<(u64, u64)>) {
        // Before the ENTER: from here on the old room's frames are dropped,
        // so none reaches the socket after this room's SYNC.
        self.outbox.switch_room(Some(room));
        if !self.try_to_enter(room, resume).await {
            // Refused: back to the room it is still in (an ENTER into its own room), or none.
            self.outbox.switch_room(self.room());
        }
    }

    /// [`Session::ask_to_enter`]'s ENTER; true if the room took the session in.
    async fn try_to_enter(&mut self, room: RoomId, resume: Option<(u64, u64)>) -> bool {
        for _ in 0..ENTER_ATTEMPTS {
            let sender = self.engine.room_sender(room);
            let (reply, answer) = oneshot::channel();
            let enter = RoomMsg::Enter {
                session: self.id,
                user: self.user,
                nickname: self.nickname.clone(),
                outbox: self.outbox.clone(),
                resume,
                reply,
            };
            // The room answers within its own deadlines; this one only keeps a
            // socket's reader from waiting forever should a room task be stuck.
            let patience = self.engine.config().forward_timeout * 2;
            let asked = tokio::time::timeout(patience, async {
                match sender.send(enter).await {
                    Ok(()) => Some(answer.await),
                    Err(_) => None,
                }
            })
            .await;
            let answer = match asked {
                Ok(Some(answer)) => answer,
                Ok(None) => continue,
                Err(_) => {
                    tracing::warn!(%room, session = %self.id, resume = resume.is_some(), "no answer to ENTER in time");
                    if resume.is_some() {
                        // Should the room take the resume up late, its seat is
                        // held again, not ended: PROTOCOL.md §9 ends a seat only
                        // for LEAVE, a policy close or a newer socket.
                        self.engine
                            .send_surely(&sender, RoomMsg::Away { session: self.id });
                        self.send_error(
                            ErrorCode::Unavailable,
                            "the room did not answer in time; the seat is still held: resume again",
                        );
                    } else {
                        self.engine.send_leave(&sender, self.id);
                        self.send_error(
                            ErrorCode::Unavailable,
                            "the room did not answer in time; try again",
                        );
                    }
                    return false;
                }
            };
            match answer {
                Ok(EnterReply::Entered) => {
                    self.room = Some((room, sender));
                    return true;
                }
                Ok(EnterReply::Refused(code, message)) => {
                    self.send_error(code, message);
                    return false;
                }
                Ok(EnterReply::Gone) | Err(_) => continue,
            }
        }
        self.send_error(ErrorCode::Unavailable, "the room is being reloaded; try again");
        false
    }

    /// End this session as a dropped connection that may be resumed
    /// (PROTOCOL.md §9): the room holds its user's seat for the grace, if
    /// it has one, instead of LEAVE.
    pub fn hold_seat(mut self) {
        // A node alone that stops takes its rooms with it, unless it keeps them on its disk.
        let shared = &self.engine.shared;
        let stopping = shared.stopping.load(std::sync::atomic::Ordering::Relaxed);
        if stopping && shared.cluster.is_none() && shared.states.is_none() {
            return;
        }
        if let Some((_, sender)) = self.room.take() {
            // Like a LEAVE, it must not be lost.
            self.engine
                .send_surely(&sender, RoomMsg::Away { session: self.id });
        }
    }

    /// The room checks the BUILD (the host's room, when relayed), in the
    /// order PROTOCOL.md §5 gives.
    fn build(&mut self, doc: MapDoc, reference: Option<String>) {
        let Some((_, sender)) = &self.room else {
            self.send_error(ErrorCode::NotInRoom, "not in a room yet: send ENTER first");
            return;
        };
        let (sender, session) = (sender.clone(), self.id);
        self.send_to_room(
            &sender,
            RoomMsg::Build {
                session,
                doc,
                reference,
            },
        );
    }

    fn leave_room(&mut self) {
        if let Some((_, sender)) = self.room.take() {
            self.outbox.switch_room(None);
            self.engine.send_leave(&sender, self.id);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.leave_room();
        self.engine.close_session(self.id);
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
