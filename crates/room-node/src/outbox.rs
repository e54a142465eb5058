//! The bounded queue between a room and one socket's writer.
//!
//! A slow reader must never hold anyone else up, so pushing never waits.
//! The queue is bounded twice: in frames, and in bytes (what is queued plus
//! what the writer took and is still writing). When a push would go over,
//! what the client no longer needs is dropped: older moves of a user who
//! moved again, and every room change before a later full room state (SYNC),
//! so repeated SYNCs to one socket coalesce to the latest. Frames are only
//! ever removed, never moved or overwritten in place, so nothing is
//! delivered before a frame that was queued before it. If that frees too
//! little, the socket is closed with 1013.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use room_core::{RoomId, UserId};
use tokio::sync::Notify;

tokio::task_local! {
    /// The room whose task is pushing (unset outside room tasks). Set once
    /// around each room task, so every push of a room is checked against
    /// the room its socket is in without every call site passing it.
    static PUSHING_ROOM: RoomId;
}

/// Run `task` as the task of `room`: its pushes reach only the sockets that
/// are in `room` now ([`Outbox::push`]).
pub(crate) async fn as_room<F: std::future::Future>(room: RoomId, task: F) -> F::Output {
    PUSHING_ROOM.scope(room, task).await
}

/// The default byte budget of one socket (PROTOCOL.md §7).
pub const DEFAULT_OUTBOX_BYTES: usize = 1024 * 1024;

/// What a frame means to the client's picture of the room, which decides
/// what may be dropped once the client has a newer picture coming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// Must be delivered (ERROR, 98, anything that is not room state).
    #[default]
    Other,
    /// Only changes of the room (ENTER, LEAVE, MOVE): redundant once a later
    /// full room state is queued.
    Change,
    /// A full room state (SYNC), possibly joined with changes: redundant once
    /// a later full room state is queued.
    State,
    /// A full room state joined with messages that must be delivered.
    StateAndOther,
}

impl Kind {
    /// The kind of one server message with behaviour code `code`.
    pub fn of_code(code: u8) -> Kind {
        match code {
            10 | 19 | 20 => Kind::Change,
            11 => Kind::State,
            _ => Kind::Other,
        }
    }

    /// The kind of several messages joined into one frame.
    pub fn joined(kinds: impl IntoIterator<Item = Kind>) -> Kind {
        let (mut state, mut other) = (false, false);
        for kind in kinds {
            state |= matches!(kind, Kind::State | Kind::StateAndOther);
            other |= matches!(kind, Kind::Other | Kind::StateAndOther);
        }
        match (state, other) {
            (false, false) => Kind::Change,
            (false, true) => Kind::Other,
            (true, false) => Kind::State,
            (true, true) => Kind::StateAndOther,
        }
    }

    /// Carries the whole room state.
    pub fn is_state(self) -> bool {
        matches!(self, Kind::State | Kind::StateAndOther)
    }

    /// Holds nothing that a later full room state does not also tell.
    pub fn is_redundant_after_state(self) -> bool {
        matches!(self, Kind::Change | Kind::State)
    }
}

/// One encoded server message, shared by every recipient.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The encoded message (valid UTF-8).
    pub bytes: Bytes,
    /// For a MOVE: whose move, so a newer one of the same user may replace it.
    pub mover: Option<UserId>,
    /// Already one tick's worth of messages joined by the room (batch=1): a
    /// writer sends it as it is, without waiting for its own tick.
    pub joined: bool,
    /// What may be dropped when the queue is over its bounds.
    pub kind: Kind,
}

impl Frame {
    /// A frame that is never coalesced.
    pub fn other(text: String) -> Frame {
        Frame {
            bytes: Bytes::from(text),
            mover: None,
            joined: false,
            kind: Kind::Other,
        }
    }

    /// One encoded server message (`NN{json}`), coalesced as its code says.
    pub fn message(text: String, mover: Option<UserId>) -> Frame {
        let code = text.get(..2).and_then(|c| c.parse().ok()).unwrap_or(0);
        Frame {
            bytes: Bytes::from(text),
            mover,
            joined: false,
            kind: Kind::of_code(code),
        }
    }

    /// The frame as text.
    pub fn as_str(&self) -> &str {
        // Frames are only built from `String`s.
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }
}

/// Why a socket is being closed by the server, with its WebSocket close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent LEAVE (1000).
    Normal,
    /// The server is shutting down (1001).
    GoingAway,
    /// A policy was broken: no ENTER in time, flooding (1008).
    Policy,
    /// The client cannot keep up with its queue (1013).
    TooSlow,
    /// A newer socket of the same user entered the same room (4000).
    Replaced,
    /// A frame over the size limit (1009).
    TooLarge,
    /// A text frame that is not UTF-8 (1007).
    InvalidUtf8,
    /// The peer stopped answering pings (1001; rarely seen by the peer).
    DeadPeer,
    /// The room cannot be served by this node now; reconnect and enter again (1012).
    TryAgainLater,
    /// The room's task failed (a bug): the room is reloaded from the store
    /// at the next ENTER; reconnect and enter again (1011).
    RoomFailed,
}

impl CloseReason {
    /// The WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            CloseReason::Normal => 1000,
            CloseReason::GoingAway => 1001,
            CloseReason::Policy => 1008,
            CloseReason::TooSlow => 1013,
            CloseReason::Replaced => 4000,
            CloseReason::TooLarge => 1009,
            CloseReason::InvalidUtf8 => 1007,
            CloseReason::DeadPeer => 1001,
            CloseReason::TryAgainLater => 1012,
            CloseReason::RoomFailed => 1011,
        }
    }

    /// The reason text sent with the close frame.
    pub fn text(self) -> &'static str {
        match self {
            CloseReason::Normal => "left the room",
            CloseReason::GoingAway => "server shutting down",
            CloseReason::Policy => "policy violation",
            CloseReason::TooSlow => "client too slow to read",
            CloseReason::Replaced => "replaced by a newer connection",
            CloseReason::TooLarge => "frame too large",
            CloseReason::InvalidUtf8 => "text frame is not valid UTF-8",
            CloseReason::DeadPeer => "no answer to pings",
            CloseReason::TryAgainLater => "room unavailable here; reconnect",
            CloseReason::RoomFailed => "the room failed; reconnect and enter again",
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// Queued after replacing or dropping older moves.
    Coalesced,
    /// The queue is closed (or was just closed because it stayed full): dropped.
    Dropped,
}

/// What the writer should do next.
#[derive(Debug)]
pub enum Next {
    /// Send these frames (one per WebSocket frame, or joined when batching).
    Frames(Vec<Frame>),
    /// Send a close frame with this reason, then stop.
    Close(CloseReason),
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Frame>,
    /// Bytes of the frames in `queue`.
    queued_bytes: usize,
    /// Bytes of the frames the writer took last and may still be writing.
    taken_bytes: usize,
    /// Set once; frames queued before it are still delivered unless `drop_queue`.
    closing: Option<CloseReason>,
    /// The room the socket is in or entering: the only room whose task may
    /// push to it. A socket that ENTERs another room may still be on the
    /// old room's list until the old room reads its LEAVE; what the old
    /// room pushes from then on is dropped, so nothing of it arrives after
    /// the new room's SYNC.
    room: Option<RoomId>,
}

impl State {
    fn used(&self) -> usize {
        self.queued_bytes + self.taken_bytes
    }

    fn remove_where(&mut self, mut drop_it: impl FnMut(usize, &Frame) -> bool) -> usize {
        let mut index = 0;
        let mut freed = 0;
        let before = self.queue.len();
        self.queue.retain(|frame| {
            let dropped = drop_it(index, frame);
            index += 1;
            if dropped {
                freed += frame.bytes.len();
            }
            !dropped
        });
        self.queued_bytes -= freed;
        before - self.queue.len()
    }

    fn take(&mut self, max: usize) -> Vec<Frame> {
        let take = self.queue.len().min(max.max(1));
        let frames: Vec<Frame> = self.queue.drain(..take).collect();
        let bytes: usize = frames.iter().map(|f| f.bytes.len()).sum();
        self.queued_bytes -= bytes;
        self.taken_bytes += bytes;
        frames
    }
}

/// A bounded, coalescing, never-blocking outgoing queue for one socket.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    capacity: usize,
    byte_budget: usize,
    /// The socket asked for batch=1: its room joins a tick's messages into one frame.
    batched: bool,
    /// The socket opted into resume (PROTOCOL.md §9): room events and SYNCs carry `"seq"`.
    numbered: bool,
}

impl Outbox {
    /// An empty queue holding at most `capacity` frames and
    /// [`DEFAULT_OUTBOX_BYTES`] bytes.
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            capacity: capacity.max(1),
            byte_budget: DEFAULT_OUTBOX_BYTES,
            batched: false,
            numbered: false,
        }
    }

    /// An empty queue for a batch=1 socket: rooms hosted on this node queue
    /// one joined frame per tick to it instead of one frame per message.
    pub fn batched(capacity: usize) -> Outbox {
        Outbox {
            batched: true,
            ..Outbox::new(capacity)
        }
    }

    /// The same queue holding at most `bytes` bytes, counting what the writer
    /// took and is still writing. A single frame larger than that is still
    /// queued when nothing else is, so a big SYNC can always be delivered.
    pub fn with_byte_budget(mut self, bytes: usize) -> Outbox {
        self.byte_budget = bytes.max(1);
        self
    }

    /// The same queue for a socket that opted into resume (PROTOCOL.md §9):
    /// its rooms add `"seq"` to the room events and SYNCs they send it.
    pub fn numbered(mut self) -> Outbox {
        self.numbered = true;
        self
    }

    /// Whether the socket opted into resume.
    pub fn is_numbered(&self) -> bool {
        self.numbered
    }

    /// Why the socket is being closed, once a close was asked for.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lock().closing
    }

    /// Whether the socket asked for batch=1.
    pub fn is_batched(&self) -> bool {
        self.batched
    }

    /// Whether the queue holds as many frames or bytes as it may.
    pub fn is_full(&self) -> bool {
        let state = self.lock();
        state.queue.len() >= self.capacity || state.used() >= self.byte_budget
    }

    /// How many frames the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many bytes the queue and its writer hold at most.
    pub fn byte_budget(&self) -> usize {
        self.byte_budget
    }

    /// Bytes held now: queued, plus what the writer took and is still writing.
    pub fn bytes_used(&self) -> usize {
        self.lock().used()
    }

    /// The reader cannot keep up: drop what is queued and close with 1013.
    pub fn close_too_slow(&self) {
        let mut state = self.lock();
        if state.closing.is_some() {
            return;
        }
        too_slow(&mut state);
        drop(state);
        self.notify.notify_one();
    }

    /// From now on only `room`'s task may push to this socket (`None`: no
    /// room's). Frames pushed from elsewhere (a session's own ERROR) are
    /// not affected.
    pub(crate) fn switch_room(&self, room: Option<RoomId>) {
        self.lock().room = room;
    }

    /// The room the socket is in or entering.
    pub(crate) fn room(&self) -> Option<RoomId> {
        self.lock().room
    }

    /// Queue `frame` without waiting. From a room task, dropped unless the
    /// socket is in that room.
    pub fn push(&self, frame: Frame) -> Pushed {
        let mut state = self.lock();
        if state.closing.is_some() {
            return Pushed::Dropped;
        }
        if PUSHING_ROOM
            .try_with(|room| state.room != Some(*room))
            .unwrap_or(false)
        {
            return Pushed::Dropped;
        }
        let mut outcome = Pushed::Queued;
        let size = frame.bytes.len();
        if self.over(&state, size) {
            let dropped = coalesce(&mut state, &frame);
            if dropped > 0 {
                metrics::counter!(crate::metrics_names::COALESCED).increment(dropped as u64);
            }
            outcome = Pushed::Coalesced;
            if self.over(&state, size) {
                too_slow(&mut state);
                drop(state);
                self.notify.notify_one();
                return Pushed::Dropped;
            }
        }
        state.queued_bytes += size;
        state.queue.push_back(frame);
        drop(state);
        self.notify.notify_one();
        outcome
    }

    /// Whether queuing `size` more bytes goes over a bound. An idle socket
    /// takes any one frame.
    fn over(&self, state: &State, size: usize) -> bool {
        let used = state.used();
        used > 0 && (state.queue.len() >= self.capacity || used + size > self.byte_budget)
    }

    /// Close after the frames already queued have been sent.
    pub fn close(&self, reason: CloseReason) {
        let mut state = self.lock();
        if state.closing.is_none() {
            state.closing = Some(reason);
        }
        drop(state);
        self.notify.notify_one();
    }

    /// Whether a close has been requested.
    pub fn is_closing(&self) -> bool {
        self.lock().closing.is_some()
    }

    /// Frames waiting to be written.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The writer is done with everything it took before: wait until there is
    /// something to do, then take up to `max` frames (or the close).
    pub async fn next(&self, max: usize) -> Next {
        self.lock().taken_bytes = 0;
        loop {
            let notified = self.notify.notified();
            if let Some(next) = self.take(max) {
                return next;
            }
            notified.await;
        }
    }

    /// The writer is done with everything it took before: take up to `max`
    /// frames (or the close) if there are any, without waiting.
    pub fn try_next(&self, max: usize) -> Option<Next> {
        self.lock().taken_bytes = 0;
        self.take(max)
    }

    /// Take up to `max` more frames for the write in progress (the writer is
    /// still holding what it took before, so that still counts).
    pub fn take_more(&self, max: usize) -> Vec<Frame> {
        self.lock().take(max)
    }

    fn take(&self, max: usize) -> Option<Next> {
        let mut state = self.lock();
        if !state.queue.is_empty() {
            return Some(Next::Frames(state.take(max)));
        }
        state.closing.map(Next::Close)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock would be a bug in this module; the
        // queue itself is still consistent, so carry on with it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn too_slow(state: &mut State) {
    state.queue.clear();
    state.queued_bytes = 0;
    state.closing = Some(CloseReason::TooSlow);
    // Counted here: the writer is usually stuck and may never get to send the close frame.
    metrics::counter!(crate::metrics_names::CLOSES, "code" => "1013").increment(1);
}

/// Make room for `incoming` by dropping what the client will not need once
/// everything up to `incoming` is delivered: a move of a user who moves again
/// later, and, before a full room state, every room change and older room
/// state. Frames are only removed, so the order of the rest is kept.
/// Returns how many frames were dropped.
fn coalesce(state: &mut State, incoming: &Frame) -> usize {
    let last_state = if incoming.kind.is_state() {
        Some(state.queue.len())
    } else {
        state.queue.iter().rposition(|f| f.kind.is_state())
    };
    let mut later_movers: HashSet<UserId> = incoming.mover.into_iter().collect();
    let mut superseded = vec![false; state.queue.len()];
    for (i, frame) in state.queue.iter().enumerate().rev() {
        let before_state = last_state.is_some_and(|s| i < s);
        superseded[i] = (before_state && frame.kind.is_redundant_after_state())
            || frame.mover.is_some_and(|mover| !later_movers.insert(mover));
    }
    state.remove_where(|i, _| superseded[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(user: u64, text: &str) -> Frame {
        Frame {
            bytes: Bytes::from(text.to_owned()),
            mover: Some(UserId(user)),
            joined: false,
            kind: Kind::Change,
        }
    }

    fn texts(next: Option<Next>) -> Vec<String> {
        match next {
            Some(Next::Frames(frames)) => frames.iter().map(|f| f.as_str().to_owned()).collect(),
            other => panic!("expected frames, got {other:?}"),
        }
    }

    #[test]
    fn full_queue_replaces_the_pending_move_of_the_same_user() {
        let outbox = Outbox::new(2);
        outbox.push(mv(1, "a1"));
        outbox.push(mv(2, "b1"));
        assert_eq!(outbox.push(mv(1, "a2")), Pushed::Coalesced);
        // Dropped, not overwritten in place: "a2" is not delivered before "b1".
        assert_eq!(texts(outbox.try_next(10)), ["b1", "a2"]);
    }

    #[test]
    fn full_queue_of_other_messages_closes_with_1013() {
        let outbox = Outbox::new(2);
        outbox.push(Frame::other("x".into()));
        outbox.push(Frame::other("y".into()));
        assert_eq!(outbox.push(Frame::other("z".into())), Pushed::Dropped);
        assert!(matches!(
            outbox.try_next(10),
            Some(Next::Close(CloseReason::TooSlow))
        ));
    }

    #[test]
    fn compaction_keeps_only_the_latest_move_per_user() {
        let outbox = Outbox::new(3);
        outbox.push(mv(1, "a1"));
        outbox.push(Frame::other("sync".into()));
        outbox.push(mv(1, "a2"));
        assert_eq!(outbox.push(mv(2, "b1")), Pushed::Coalesced);
        assert_eq!(texts(outbox.try_next(10)), ["sync", "a2", "b1"]);
    }

    #[test]
    fn close_delivers_queued_frames_first() {
        let outbox = Outbox::new(4);
        outbox.push(Frame::other("98".into()));
        outbox.close(CloseReason::Replaced);
        assert_eq!(texts(outbox.try_next(10)), ["98"]);
        assert!(matches!(
            outbox.try_next(10),
            Some(Next::Close(CloseReason::Replaced))
        ));
        assert_eq!(outbox.push(Frame::other("late".into())), Pushed::Dropped);
    }

    fn sized(n: usize) -> Frame {
        Frame::other("x".repeat(n))
    }

    #[test]
    fn what_the_writer_took_counts_against_the_byte_budget_until_it_asks_again() {
        let outbox = Outbox::new(100).with_byte_budget(1000);
        outbox.push(sized(400));
        outbox.push(sized(400));
        // The writer took both and is stuck writing them.
        assert!(matches!(outbox.try_next(10), Some(Next::Frames(f)) if f.len() == 2));
        assert_eq!(outbox.bytes_used(), 800);
        assert_eq!(outbox.push(sized(400)), Pushed::Dropped);
        assert!(matches!(
            outbox.try_next(10),
            Some(Next::Close(CloseReason::TooSlow))
        ));
    }

    #[test]
    fn a_writer_that_comes_back_for_more_has_freed_what_it_took() {
        let outbox = Outbox::new(100).with_byte_budget(1000);
        outbox.push(sized(400));
        outbox.push(sized(400));
        assert!(matches!(outbox.try_next(10), Some(Next::Frames(_))));
        assert!(outbox.try_next(10).is_none());
        assert_eq!(outbox.bytes_used(), 0);
        assert_eq!(outbox.push(sized(900)), Pushed::Queued);
        // Taken for the same write: still held.
        assert_eq!(outbox.take_more(10).len(), 1);
        assert_eq!(outbox.bytes_used(), 900);
    }

    #[test]
    fn an_idle_socket_takes_one_frame_larger_than_its_budget() {
        let outbox = Outbox::new(100).with_byte_budget(10);
        assert_eq!(outbox.push(sized(50)), Pushed::Queued);
        assert_eq!(outbox.push(sized(1)), Pushed::Dropped);
    }

    #[test]
    fn over_budget_a_new_sync_drops_the_older_syncs_and_moves_but_not_errors() {
        let outbox = Outbox::new(100).with_byte_budget(32);
        let sync = |t: &str| Frame::message(format!("11{t:x<10}"), None);
        outbox.push(sync("a"));
        outbox.push(mv(1, "m1"));
        outbox.push(Frame::other("99err".into()));
        outbox.push(sync("b"));
        assert_eq!(outbox.push(sync("c")), Pushed::Coalesced);
        assert_eq!(texts(outbox.try_next(10)), ["99err", "11cxxxxxxxxx"]);
    }

    /// Issue 25.11, decided: a numbered socket that falls behind is
    /// coalesced like any other (PROTOCOL.md §9, "A socket that falls
    /// behind"): its `seq` then jumps over the events dropped, and what
    /// arrives leaves it with the positions every event would have, so the
    /// jump needs no SYNC.
    #[test]
    fn a_numbered_socket_that_falls_behind_sees_seq_jump_to_the_same_positions() {
        use room_core::{Cell, Direction, ServerMsg, frame_seq, parse_server_frame};
        let outbox = Outbox::new(4).numbered();
        let mut every = std::collections::BTreeMap::new();
        for seq in 1..=12u64 {
            let (user, x) = (UserId(seq % 3), seq as u16);
            let msg = ServerMsg::Move {
                user,
                direction: Direction::Right,
                cell: Cell { x, y: 0 },
            };
            every.insert(user, x);
            outbox.push(Frame::message(msg.encode_with_seq(seq), Some(user)));
        }
        let delivered = texts(outbox.try_next(100));
        let seqs: Vec<u64> = delivered.iter().map(|f| frame_seq(f).unwrap().unwrap()).collect();
        assert!(seqs.len() < 12, "something was coalesced: {seqs:?}");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
        let mut shown = std::collections::BTreeMap::new();
        for frame in &delivered {
            let Ok(ServerMsg::Move { user, cell, .. }) = parse_server_frame(frame) else {
                panic!("{frame}");
            };
            shown.insert(user, cell.x);
        }
        assert_eq!(shown, every, "the same positions as every event gives");
        assert_eq!(seqs.last(), Some(&12), "the last event is never dropped");
    }
}
