//! Moving room events and commands between nodes.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_util::Stream;
use room_core::{Audience, RoomId, SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::nodes::{NodeId, SessionAt};

/// One room event, published once by the room's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEvent {
    /// The room.
    pub room: RoomId,
    /// The publishing host's lease epoch.
    pub epoch: u64,
    /// The room's sequence number of this event.
    pub seq: u64,
    /// Who receives it (resolved by each node against its own sessions).
    pub audience: Audience,
    /// The already-encoded client frame, forwarded without re-encoding.
    pub frame: String,
}

/// A message addressed to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeMessage {
    /// A relay forwards a user's command to the room's host.
    Command {
        /// The room.
        room: RoomId,
        /// The session that sent it, and its node (where replies go).
        from: SessionAt,
        /// The user, from their verified token.
        user: UserId,
        /// Their nickname, from the token.
        nickname: String,
        /// The client frame as received.
        frame: String,
    },
    /// A frame for one session only (an error answering its command).
    Reply {
        /// The session.
        session: SessionId,
        /// The encoded frame.
        frame: String,
    },
    /// Close one session (a duplicate enter elsewhere), after sending it `frame`.
    CloseSession {
        /// The session.
        session: SessionId,
        /// The frame to send first, if any.
        frame: Option<String>,
        /// The WebSocket close code.
        code: u16,
    },
    /// The host refused a relayed ENTER: `frame` is the ERROR for the session,
    /// which is not in the room.
    EnterRefused {
        /// The room.
        room: RoomId,
        /// The session that asked.
        session: SessionId,
        /// The encoded ERROR.
        frame: String,
    },
    /// A relay's sessions in `room` now, sent to the host at every check:
    /// the host forgets that node's other sessions in the room (a LEAVE lost
    /// on the way leaves no ghost) and refuses entered ones it no longer has
    /// (a replacement lost on the way leaves no socket that believes it is in).
    Members {
        /// The room.
        room: RoomId,
        /// The relaying node.
        node: NodeId,
        /// Its sessions the host answered as entered.
        entered: Vec<SessionId>,
        /// Its sessions whose ENTER is on the way.
        entering: Vec<SessionId>,
    },
    /// A room's host asks a node with sessions in the room which of them are
    /// still there; answered with `Members` (empty when the node has none, as
    /// after it left a room it hosted before a takeover).
    AskMembers {
        /// The room.
        room: RoomId,
        /// The asking host.
        host: NodeId,
    },
    /// A relay lost events of `room` and asks its host for a fresh SYNC.
    Resync {
        /// The room.
        room: RoomId,
        /// The asking node.
        node: NodeId,
    },
}

/// What a node receives from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusInbound {
    /// An event of a room this node subscribed to.
    Event(RoomEvent),
    /// A message addressed to this node.
    Node(NodeMessage),
    /// Events of these rooms may have been lost (reconnect, overflow, a gap in
    /// the sequence): the engine must resynchronise them.
    Gap {
        /// The rooms affected.
        rooms: Vec<RoomId>,
    },
}

/// What this node receives from the bus, in the order the bus delivers it;
/// ends (`None`) when the bus is gone. Handed out once by
/// [`Bus::take_inbound`](crate::Bus::take_inbound).
///
/// A bus builds it from any `Stream` ([`BusInbox::new`]) or poll function
/// ([`BusInbox::from_poll`]): a tokio receiver is
/// `BusInbox::from_poll(move |cx| receiver.poll_recv(cx))`.
pub struct BusInbox {
    stream: Pin<Box<dyn Stream<Item = BusInbound> + Send>>,
}

impl BusInbox {
    /// An inbox reading `stream`.
    pub fn new(stream: impl Stream<Item = BusInbound> + Send + 'static) -> BusInbox {
        BusInbox {
            stream: Box::pin(stream),
        }
    }

    /// An inbox reading whatever `poll` yields (`Ready(None)`: the end).
    pub fn from_poll(
        poll: impl FnMut(&mut Context<'_>) -> Poll<Option<BusInbound>> + Send + 'static,
    ) -> BusInbox {
        BusInbox::new(futures_util::stream::poll_fn(poll))
    }

    /// The next message, or `None` once the bus is gone.
    pub async fn recv(&mut self) -> Option<BusInbound> {
        std::future::poll_fn(|cx| self.stream.as_mut().poll_next(cx)).await
    }
}

impl Stream for BusInbox {
    type Item = BusInbound;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusInbound>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for BusInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusInbox").finish_non_exhaustive()
    }
}

/// Why a bus operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The broker cannot be reached now; the call did not block waiting for it.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// The inter-node bus.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publish an event of a room this node hosts.
    async fn publish(&self, event: &RoomEvent) -> Result<(), BusError>;

    /// Start receiving the events of `room` (this node has a user in it).
    async fn subscribe_room(&self, room: RoomId) -> Result<(), BusError>;

    /// Stop receiving the events of `room`.
    async fn unsubscribe_room(&self, room: RoomId) -> Result<(), BusError>;

    /// Send `message` to `node`.
    async fn send_to_node(&self, node: &NodeId, message: &NodeMessage) -> Result<(), BusError>;

    /// What this node receives; `None` once taken.
    fn take_inbound(&self) -> Option<BusInbox>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::NodeId;
    use room_core::RoomId;

    fn message(room: u64) -> BusInbound {
        BusInbound::Node(NodeMessage::AskMembers {
            room: RoomId(room),
            host: NodeId("h".into()),
        })
    }

    #[test]
    fn yields_in_order_then_ends() {
        let mut inbox = BusInbox::new(futures_util::stream::iter([message(1), message(2)]));
        let got = run_ready(async move {
            let mut got = Vec::new();
            while let Some(next) = inbox.recv().await {
                got.push(next);
            }
            got
        });
        assert_eq!(got, vec![message(1), message(2)]);
    }

    /// Run `future`, which never waits on anything, to its end.
    fn run_ready<T>(future: impl std::future::Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                return value;
            }
        }
    }
}
