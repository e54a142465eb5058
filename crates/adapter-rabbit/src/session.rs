//! One connection's life: open it with its topology, consume until it breaks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use lapin::{Acker, Connection, ConnectionProperties, Consumer, Event};
use room_core::RoomId;
use tokio::sync::{Notify, watch};

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
    let rooms = shared.interest().rooms();
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
        let mut acks = AckBatch::new(shared.config.prefetch);
        loop {
            // Biased: the rare signals first, so a steady stream of deliveries cannot hide them.
            let first = tokio::select! {
                biased;
                () = stopped(shutdown) => return End::Shutdown,
                () = self.broken.notified() => return End::Lost("a channel call failed".into()),
                event = events.next() => match event {
                    Some(Event::Error(error)) => return End::Lost(format!("connection error: {error}")),
                    Some(other) => {
                        tracing::debug!(event = ?other, "bus connection event");
                        continue;
                    }
                    None => return End::Lost("connection events ended".into()),
                },
                delivery = self.consumer.next() => delivery,
            };
            if let Err(end) = self.take_batch(shared, first, &mut acks).await {
                return end;
            }
        }
    }

    /// Forward `first` and whatever deliveries are already waiting (up to one
    /// ack batch), then acknowledge them all with one ack.
    ///
    /// Acks are never sent concurrently: lapin runs each ack as its own task,
    /// so two in flight could reach the broker out of order (a `multiple` ack
    /// overtaking an older one makes the broker close the channel).
    async fn take_batch(
        &mut self,
        shared: &Shared,
        first: Option<lapin::Result<Delivery>>,
        acks: &mut AckBatch,
    ) -> Result<(), End> {
        let mut next = Some(first);
        while let Some(delivery) = next.take() {
            match delivery {
                Some(Ok(delivery)) => forward(shared, delivery, acks).await,
                Some(Err(error)) => return Err(End::Lost(format!("consumer failed: {error}"))),
                None => return Err(End::Lost("consumer cancelled".into())),
            }
            if !acks.full() {
                next = self.consumer.next().now_or_never();
            }
        }
        acks.flush()
            .await
            .map_err(|error| End::Lost(format!("ack failed: {error}")))
    }

    /// Withdraw the channels from callers and close the connection (politely, if it still answers).
    pub(crate) async fn close(self, shared: &Shared, wait: Duration) {
        let publisher = shared.take_publisher();
        shared.connected.send_replace(false);
        let consumer = shared.topology.lock().await.take();
        if !self.connection.status().connected() {
            return;
        }
        let close_all = async {
            for link in [publisher, consumer].into_iter().flatten() {
                if link.channel.status().connected() {
                    let _ = link.channel.close(200, "closing".into()).await;
                }
            }
            self.connection.close(200, "closing".into()).await
        };
        match tokio::time::timeout(wait, close_all).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%error, "closing the bus connection"),
            Err(_) => tracing::debug!("closing the bus connection timed out"),
        }
    }
}

/// Pass one delivery through the interest filter to the engine, then count it
/// for acknowledgement. The body goes on as it came, without a copy.
///
/// Waiting here for room in the inbound channel is the backpressure: unacked
/// deliveries stop at the prefetch, and the queue's length limit does the rest.
async fn forward(shared: &Shared, delivery: Delivery, acks: &mut AckBatch) {
    let Delivery {
        exchange,
        routing_key,
        data,
        acker,
        ..
    } = delivery;
    let item = shared.interest().accept(
        &shared.names,
        exchange.as_str(),
        routing_key.as_str(),
        Bytes::from(data),
    );
    if let Some(item) = item
        && shared.inbound.send(item).await.is_err()
    {
        tracing::trace!("inbound receiver dropped; message discarded");
    }
    acks.push(acker);
}

/// Deliveries handed on but not yet acknowledged. One `multiple` ack of the
/// newest covers them all: sent when half the prefetch is pending, or as soon
/// as no further delivery is waiting.
struct AckBatch {
    newest: Option<Acker>,
    count: u16,
    limit: u16,
}

impl AckBatch {
    fn new(prefetch: u16) -> Self {
        AckBatch {
            newest: None,
            count: 0,
            limit: (prefetch / 2).max(1),
        }
    }

    /// Count a handed-on delivery.
    fn push(&mut self, acker: Acker) {
        self.newest = Some(acker);
        self.count = self.count.saturating_add(1);
    }

    /// Whether the batch should be sent before taking more.
    fn full(&self) -> bool {
        self.count >= self.limit
    }

    async fn flush(&mut self) -> lapin::Result<()> {
        self.count = 0;
        match self.newest.take() {
            Some(acker) => acker.ack(BasicAckOptions { multiple: true }).await.map(|_| ()),
            None => Ok(()),
        }
    }
}
