//! The bounded queue between a room and one socket's writer.
//!
//! A slow reader must never hold anyone else up, so pushing never waits.
//! When the queue is full, moves are coalesced (the latest position of each
//! user wins); if that frees nothing the socket is closed with 1013.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use room_core::UserId;
use tokio::sync::Notify;

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
}

impl Frame {
    /// A frame that is never coalesced.
    pub fn other(text: String) -> Frame {
        Frame {
            bytes: Bytes::from(text),
            mover: None,
            joined: false,
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
    /// Set once; frames queued before it are still delivered unless `drop_queue`.
    closing: Option<CloseReason>,
}

/// A bounded, coalescing, never-blocking outgoing queue for one socket.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    capacity: usize,
    /// The socket asked for batch=1: its room joins a tick's messages into one frame.
    batched: bool,
}

impl Outbox {
    /// An empty queue holding at most `capacity` frames.
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            capacity: capacity.max(1),
            batched: false,
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

    /// Whether the socket asked for batch=1.
    pub fn is_batched(&self) -> bool {
        self.batched
    }

    /// Whether the queue holds as many frames as it may.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    /// How many frames the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
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

    /// Queue `frame` without waiting.
    pub fn push(&self, frame: Frame) -> Pushed {
        let mut state = self.lock();
        if state.closing.is_some() {
            return Pushed::Dropped;
        }
        let mut outcome = Pushed::Queued;
        if state.queue.len() >= self.capacity {
            if let Some(mover) = frame.mover {
                // Latest position wins: overwrite this user's pending move in place.
                if let Some(pending) = state.queue.iter_mut().rev().find(|f| f.mover == Some(mover)) {
                    *pending = frame;
                    drop(state);
                    self.notify.notify_one();
                    return Pushed::Coalesced;
                }
            }
            compact_moves(&mut state.queue);
            outcome = Pushed::Coalesced;
            if state.queue.len() >= self.capacity {
                too_slow(&mut state);
                drop(state);
                self.notify.notify_one();
                return Pushed::Dropped;
            }
        }
        state.queue.push_back(frame);
        drop(state);
        self.notify.notify_one();
        outcome
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

    /// Wait until there is something to do, then take up to `max` frames (or the close).
    pub async fn next(&self, max: usize) -> Next {
        loop {
            let notified = self.notify.notified();
            if let Some(next) = self.try_next(max) {
                return next;
            }
            notified.await;
        }
    }

    /// Take up to `max` frames (or the close) if there are any, without waiting.
    pub fn try_next(&self, max: usize) -> Option<Next> {
        let mut state = self.lock();
        if !state.queue.is_empty() {
            let take = state.queue.len().min(max.max(1));
            return Some(Next::Frames(state.queue.drain(..take).collect()));
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
    state.closing = Some(CloseReason::TooSlow);
    // Counted here: the writer is usually stuck and may never get to send the close frame.
    metrics::counter!(crate::metrics_names::CLOSES, "code" => "1013").increment(1);
}

/// Drop every move that a later move of the same user supersedes.
fn compact_moves(queue: &mut VecDeque<Frame>) {
    let mut seen = std::collections::HashSet::new();
    let mut keep = vec![true; queue.len()];
    for (i, frame) in queue.iter().enumerate().rev() {
        if let Some(mover) = frame.mover {
            keep[i] = seen.insert(mover);
        }
    }
    let mut index = 0;
    queue.retain(|_| {
        let kept = keep[index];
        index += 1;
        kept
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(user: u64, text: &str) -> Frame {
        Frame {
            bytes: Bytes::from(text.to_owned()),
            mover: Some(UserId(user)),
            joined: false,
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
        assert_eq!(texts(outbox.try_next(10)), ["a2", "b1"]);
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
}
