//! [`RabbitBus`]: the [`Bus`] port over RabbitMQ.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use room_core::RoomId;
use room_ports::{Bus, BusError, BusInbound, BusInbox, NodeId};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{Names, RabbitConfig, node_key, room_key};
use crate::error::{RabbitError, unavailable};
use crate::shared::Shared;
use crate::{session, supervisor, topology};

/// One node's attachment to the RabbitMQ bus.
///
/// Owns a supervisor task that keeps the connection open; dropping the bus
/// stops it and closes the connection ([`RabbitBus::close`] does so politely).
pub struct RabbitBus {
    shared: Arc<Shared>,
    inbound: Mutex<Option<mpsc::Receiver<BusInbound>>>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RabbitBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitBus")
            .field("node", &self.shared.config.node_id)
            .field("names", &self.shared.names)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl RabbitBus {
    /// Connect now and fail with the broker's answer if that does not work;
    /// after that, lost connections are re-established in the background.
    pub async fn connect(config: RabbitConfig) -> Result<RabbitBus, RabbitError> {
        let (shared, receiver) = Shared::new(config);
        let shared = Arc::new(shared);
        let wait = shared.config.op_timeout;
        let session = match tokio::time::timeout(wait, session::open(&shared)).await {
            Ok(Ok(session)) => session,
            Ok(Err(error)) => return Err(RabbitError::Broker(error.to_string())),
            Err(_) => return Err(RabbitError::Timeout(wait)),
        };
        Ok(Self::spawn(shared, receiver, Some(session)))
    }

    /// Start without waiting for the broker: the first connection is made in
    /// the background, and calls fail with [`BusError::Unavailable`] until it is.
    /// Must be called inside a tokio runtime.
    pub fn start(config: RabbitConfig) -> RabbitBus {
        let (shared, receiver) = Shared::new(config);
        Self::spawn(Arc::new(shared), receiver, None)
    }

    fn spawn(
        shared: Arc<Shared>,
        receiver: mpsc::Receiver<BusInbound>,
        first: Option<session::Session>,
    ) -> RabbitBus {
        let task = tokio::spawn(supervisor::supervise(shared.clone(), first));
        RabbitBus {
            shared,
            inbound: Mutex::new(Some(receiver)),
            supervisor: Mutex::new(Some(task)),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &NodeId {
        &self.shared.config.node_id
    }

    /// The exchange, queue and connection names in use.
    pub fn names(&self) -> &Names {
        &self.shared.names
    }

    /// Whether a connection is open now (for readiness checks).
    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// Follow the connection state: `true` while connected.
    pub fn watch_connected(&self) -> watch::Receiver<bool> {
        self.shared.connected.subscribe()
    }

    /// Stop reconnecting and close the connection, waiting at most `wait`.
    pub async fn close(&self, wait: Duration) {
        self.shared.shutdown.send_replace(true);
        let task = self
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(wait, task).await.is_err() {
                abort.abort();
            }
        }
    }

    async fn publish_bytes(&self, exchange: &str, routing_key: String, body: &[u8]) -> Result<(), BusError> {
        let Some(link) = self.shared.publisher() else {
            return Err(unavailable("not connected to RabbitMQ"));
        };
        let publish = async {
            link.channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions::default(),
                    body,
                    BasicProperties::default(),
                )
                .await?
                .await
        };
        match tokio::time::timeout(self.shared.config.op_timeout, publish).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                link.report_broken();
                Err(unavailable(format!("publish failed: {error}")))
            }
            // A blocked (flow-controlled) connection is not a broken one: no reconnection.
            Err(_) => Err(unavailable("publish timed out")),
        }
    }
}

impl Drop for RabbitBus {
    fn drop(&mut self) {
        if let Some(task) = self
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

#[async_trait]
impl Bus for RabbitBus {
    /// Publish `payload` as the message body to the rooms exchange with key
    /// `room.{id}`; fails at once with [`BusError::Unavailable`] while
    /// disconnected. Payloads of one room stay in order as long as the caller
    /// awaits each publish before the next.
    async fn publish(&self, room: RoomId, payload: Bytes) -> Result<(), BusError> {
        self.publish_bytes(&self.shared.names.rooms_exchange, room_key(room), &payload)
            .await
    }

    /// Bind `room.{id}` to this node's queue (idempotent). While disconnected
    /// the room is remembered, bound on reconnection (with a gap reported),
    /// and the call returns [`BusError::Unavailable`].
    async fn subscribe_room(&self, room: RoomId) -> Result<(), BusError> {
        let slot = self.shared.topology.lock().await;
        let added = self.shared.interest().want(room);
        let Some(link) = slot.as_ref() else {
            return Err(unavailable(format!(
                "not connected; room {room} will be bound on reconnection"
            )));
        };
        if !added {
            return Ok(());
        }
        let bind = topology::bind_room(&link.channel, &self.shared.names, room);
        match tokio::time::timeout(self.shared.config.op_timeout, bind).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                link.report_broken();
                Err(unavailable(format!("binding room {room} failed: {error}")))
            }
            Err(_) => {
                link.report_broken();
                Err(unavailable(format!("binding room {room} timed out")))
            }
        }
    }

    /// Unbind the room. Its events stop reaching the engine at once, even if
    /// the unbind itself fails (then the connection is replaced, which drops
    /// the binding with the old queue).
    async fn unsubscribe_room(&self, room: RoomId) -> Result<(), BusError> {
        let slot = self.shared.topology.lock().await;
        if !self.shared.interest().drop_room(room) {
            return Ok(());
        }
        // Disconnected: the exclusive queue and its bindings died with the connection.
        let Some(link) = slot.as_ref() else { return Ok(()) };
        let unbind = topology::unbind_room(&link.channel, &self.shared.names, room);
        match tokio::time::timeout(self.shared.config.op_timeout, unbind).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                link.report_broken();
                Err(unavailable(format!("unbinding room {room} failed: {error}")))
            }
            Err(_) => {
                link.report_broken();
                Err(unavailable(format!("unbinding room {room} timed out")))
            }
        }
    }

    /// Publish `payload` as the message body to the nodes exchange with key =
    /// `node`'s id. A message to a node that is gone is dropped by the broker.
    async fn send_to_node(&self, node: &NodeId, payload: Bytes) -> Result<(), BusError> {
        self.publish_bytes(&self.shared.names.nodes_exchange, node_key(node), &payload)
            .await
    }

    fn take_inbound(&self) -> Option<BusInbox> {
        let mut receiver = self
            .inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        Some(BusInbox::from_poll(move |cx| receiver.poll_recv(cx)))
    }
}
