//! Watching rooms from the embedding code: what happened, after it happened.
//!
//! An observer sees each change a room task applied (someone entered, moved,
//! left, was replaced by a newer connection; the map was rebuilt), in the
//! room's order, without any part of the wire protocol. It is called from the
//! room's task, so it must return quickly: count, log, or hand the event to a
//! channel of your own ([`ChannelObserver`] does exactly that, dropping
//! events when its bounded queue is full rather than slowing the room down).

use room_core::{Cell, RoomId, UserId};
use tokio::sync::mpsc;

/// Something that happened in a room, as an observer is told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomEvent {
    /// `user` entered `room` (on this node) and appeared at the spawn cell.
    Entered {
        /// The room.
        room: RoomId,
        /// Who entered.
        user: UserId,
        /// Their display name.
        nickname: String,
    },
    /// `user` left `room` (LEAVE, a closed socket, or a shutdown).
    Left {
        /// The room.
        room: RoomId,
        /// Who left.
        user: UserId,
    },
    /// `user` stepped to `cell`. A step into a wall or off the grid is no event.
    Moved {
        /// The room.
        room: RoomId,
        /// Who moved.
        user: UserId,
        /// Where they now stand.
        cell: Cell,
    },
    /// The owner's BUILD was stored as map `version` and installed; everyone
    /// in the room went back to the spawn cell.
    Built {
        /// The room.
        room: RoomId,
        /// The stored map's version.
        version: u64,
    },
    /// `user` entered `room` again from another connection, which was closed
    /// (PROTOCOL.md close 4000); they keep their place.
    Replaced {
        /// The room.
        room: RoomId,
        /// Whose connection was replaced.
        user: UserId,
    },
}

impl RoomEvent {
    /// The room the event happened in.
    pub fn room(&self) -> RoomId {
        match self {
            RoomEvent::Entered { room, .. }
            | RoomEvent::Left { room, .. }
            | RoomEvent::Moved { room, .. }
            | RoomEvent::Built { room, .. }
            | RoomEvent::Replaced { room, .. } => *room,
        }
    }
}

/// Told of every [`RoomEvent`] of every room this node hosts. Register one
/// with [`EngineBuilder::observer`](crate::EngineBuilder::observer).
///
/// `on_event` runs on the room's own task, right after the change was applied,
/// as its messages are queued to the room's sockets: it must not block or wait
/// (no locks held long, no I/O), since the room serves nobody meanwhile. Hand slow work to a channel, as [`ChannelObserver`] does.
///
/// ```
/// use room_node::{RoomEvent, RoomObserver};
///
/// struct Log;
/// impl RoomObserver for Log {
///     fn on_event(&self, event: &RoomEvent) {
///         if let RoomEvent::Entered { room, nickname, .. } = event {
///             println!("{nickname} entered room {room}");
///         }
///     }
/// }
/// ```
pub trait RoomObserver: Send + Sync + 'static {
    /// Called once per event, in the room's order. Must return quickly.
    fn on_event(&self, event: &RoomEvent);
}

/// An observer that forwards events into a bounded channel, for embedders
/// who want to `await` on them. When the receiver is slower than the rooms,
/// events are dropped (the rooms never wait), and [`dropped`](Self::dropped)
/// counts them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::Arc;
/// use room_node::{ChannelObserver, Engine, memory::MemoryMapStore};
///
/// let (observer, mut events) = ChannelObserver::new(1024);
/// let engine = Engine::builder(Arc::new(MemoryMapStore::new()))
///     .observer(Arc::new(observer))
///     .build();
/// tokio::spawn(async move {
///     while let Some(event) = events.recv().await {
///         println!("{event:?}");
///     }
/// });
/// # drop(engine); }
/// ```
#[derive(Debug)]
pub struct ChannelObserver {
    sender: mpsc::Sender<RoomEvent>,
    dropped: std::sync::atomic::AtomicU64,
}

impl ChannelObserver {
    /// An observer and the receiving end of its queue of `capacity` events.
    pub fn new(capacity: usize) -> (ChannelObserver, mpsc::Receiver<RoomEvent>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let observer = ChannelObserver {
            sender,
            dropped: std::sync::atomic::AtomicU64::new(0),
        };
        (observer, receiver)
    }

    /// Events dropped so far because the queue was full or its receiver gone.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl RoomObserver for ChannelObserver {
    fn on_event(&self, event: &RoomEvent) {
        if self.sender.try_send(event.clone()).is_err() {
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The observers of an engine; empty (and free) unless the embedder registered some.
#[derive(Clone, Default)]
pub(crate) struct Observers(Vec<std::sync::Arc<dyn RoomObserver>>);

impl Observers {
    pub(crate) fn push(&mut self, observer: std::sync::Arc<dyn RoomObserver>) {
        self.0.push(observer);
    }

    /// Whether anyone listens: callers skip building events when nobody does.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn notify(&self, event: &RoomEvent) {
        for observer in &self.0 {
            observer.on_event(event);
        }
    }
}

/// Any quick closure over `&RoomEvent` is an observer.
impl<F> RoomObserver for F
where
    F: Fn(&RoomEvent) + Send + Sync + 'static,
{
    fn on_event(&self, event: &RoomEvent) {
        self(event)
    }
}
