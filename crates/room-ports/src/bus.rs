//! Moving bytes between nodes: the events a room's host publishes for the
//! nodes relaying the room, and messages addressed to one node.
//!
//! The bus only carries bytes. What they mean (typed commands and events,
//! with their host's epoch and sequence numbers) is the engine's contract,
//! and the engine checks their order itself, so every bus (the in-memory one,
//! RabbitMQ) runs under the same rules.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use room_core::RoomId;

use crate::nodes::NodeId;

/// What a node receives from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusInbound {
    /// A payload published for `room`, a room this node subscribed to.
    Event {
        /// The room it was published for.
        room: RoomId,
        /// What the room's host published.
        payload: Bytes,
    },
    /// A payload addressed to this node.
    Node {
        /// What the sender sent.
        payload: Bytes,
    },
    /// Payloads of these rooms may have been lost (the bus reconnected, or
    /// dropped messages it could not hold): the engine must resynchronise them.
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
    /// Publish `payload` for the nodes subscribed to `room` (this node hosts it).
    async fn publish(&self, room: RoomId, payload: Bytes) -> Result<(), BusError>;

    /// Start receiving what is published for `room` (this node has a user in it).
    async fn subscribe_room(&self, room: RoomId) -> Result<(), BusError>;

    /// Stop receiving what is published for `room`.
    async fn unsubscribe_room(&self, room: RoomId) -> Result<(), BusError>;

    /// Send `payload` to `node`.
    async fn send_to_node(&self, node: &NodeId, payload: Bytes) -> Result<(), BusError>;

    /// What this node receives; `None` once taken.
    fn take_inbound(&self) -> Option<BusInbox>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use room_core::RoomId;

    fn message(room: u64) -> BusInbound {
        BusInbound::Event {
            room: RoomId(room),
            payload: Bytes::from(room.to_string()),
        }
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
