//! One connection's life: open it with its topology, consume until it breaks.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, Consumer, Event};
use room_core::RoomId;
use tokio::sync::{Notify, watch};

use crate::envelope::Envelope;
use crate::shared::{Link, Shared, stopped};
use crate::topology;

/// An open connection with its queue declared, its rooms bound and its consumer started.
pub(crate) struct Session {
    connection: Connection,
    consumer: Consumer,
    broken: Arc<Notify>,
    /// The rooms bound when the session opened.
    pub(crate) rooms: Vec<RoomId>,
}

/// Why a session ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The connection or one of its channels failed.
    Lost(String),
    /// The bus is shutting down.
    Shutdown,
}

/// Connect, declare the topology, bind every wanted room, start consuming and
/// make the channels available to callers.
pub(crate) async fn open(shared: &Shared) -> lapin::Result<Session> {
    let properties =
        ConnectionProperties::default().with_connection_name(shared.names.connection_name.clone().into());
    let connection = Connection::connect(&shared.config.url, properties).await?;
    let publish = connection.create_channel().await?;
    let consume = connection.create_channel().await?;
    topology::declare(&consume, &shared.config, &shared.names).await?;

    let mut slot = shared.topology.lock().await;
    let rooms = {
        let mut interest = shared.interest();
        interest.restart_sequences();
        interest.rooms()
    };
    for room in &rooms {
        topology::bind_room(&consume, &shared.names, *room).await?;
    }
    let consumer = consume
        .basic_consume(
            shared.names.queue.as_str().into(),
            format!("{}-consumer", shared.names.connection_name).into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let broken = Arc::new(Notify::new());
    *slot = Some(Link {
        channel: consume,
        broken: broken.clone(),
    });
    shared.set_publisher(Some(Link {
        channel: publish,
        broken: broken.clone(),
    }));
    drop(slot);
    shared.connected.send_replace(true);
    tracing::info!(node = %shared.config.node_id, rooms = rooms.len(), "bus connected");
    Ok(Session {
        connection,
        consumer,
        broken,
        rooms,
    })
}

impl Session {
    /// Hand every delivery to the engine until the connection breaks or the bus shuts down.
    pub(crate) async fn run(&mut self, shared: &Shared, shutdown: &mut watch::Receiver<bool>) -> End {
        let mut events = std::pin::pin!(self.connection.events_listener());
        loop {
            tokio::select! {
                delivery = self.consumer.next() => match delivery {
                    Some(Ok(delivery)) => {
                        if let Err(error) = forward(shared, delivery).await {
                            return End::Lost(format!("ack failed: {error}"));
                        }
                    }
                    Some(Err(error)) => return End::Lost(format!("consumer failed: {error}")),
                    None => return End::Lost("consumer cancelled".into()),
                },
                event = events.next() => match event {
                    Some(Event::Error(error)) => return End::Lost(format!("connection error: {error}")),
                    Some(other) => tracing::debug!(event = ?other, "bus connection event"),
                    None => return End::Lost("connection events ended".into()),
                },
                () = self.broken.notified() => return End::Lost("a channel call failed".into()),
                () = stopped(shutdown) => return End::Shutdown,
            }
        }
    }

    /// Withdraw the channels from callers and close the connection (politely, if it still answers).
    pub(crate) async fn close(self, shared: &Shared, wait: Duration) {
        shared.set_publisher(None);
        shared.connected.send_replace(false);
        *shared.topology.lock().await = None;
        if self.connection.status().connected() {
            match tokio::time::timeout(wait, self.connection.close(200, "closing".into())).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(%error, "closing the bus connection"),
                Err(_) => tracing::debug!("closing the bus connection timed out"),
            }
        }
    }
}

/// Pass one delivery through the interest filter to the engine, then acknowledge it.
///
/// Waiting here for room in the inbound channel is the backpressure: unacked
/// deliveries stop at the prefetch, and the queue's length limit does the rest.
async fn forward(shared: &Shared, delivery: Delivery) -> lapin::Result<()> {
    let items = match Envelope::decode(&delivery.data) {
        Ok(envelope) => shared.interest().accept(envelope),
        Err(error) => {
            tracing::warn!(%error, routing_key = %delivery.routing_key, "bus message dropped");
            Vec::new()
        }
    };
    for item in items {
        if shared.inbound.send(item).await.is_err() {
            tracing::trace!("inbound receiver dropped; message discarded");
            break;
        }
    }
    delivery.acker.ack(BasicAckOptions::default()).await.map(|_| ())
}
