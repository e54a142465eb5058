//! A test's own AMQP connection beside the nodes: a queue bound like a
//! node's, to see what the broker routed, and raw publishing, to play a
//! foreign publisher.

use std::time::Duration;

use adapter_rabbit::room_key;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use room_core::RoomId;

use super::amqp_url;

/// A queue without limits bound to one room's events of the cluster `prefix`.
pub struct Probe {
    connection: Connection,
    channel: Channel,
    queue: String,
    consumer: Option<Consumer>,
}

impl Probe {
    /// Bind a fresh queue to `room`'s key on `prefix`'s rooms exchange (a
    /// node of `prefix` must have connected, which declares the exchange).
    pub async fn bind(prefix: &str, room: RoomId) -> Probe {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("the probe connects");
        let channel = connection.create_channel().await.expect("the probe's channel");
        let queue = format!("{prefix}.probe");
        let options = QueueDeclareOptions {
            exclusive: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.as_str().into(), options, FieldTable::default())
            .await
            .expect("the probe's queue");
        channel
            .queue_bind(
                queue.as_str().into(),
                format!("{prefix}.rooms").into(),
                room_key(room).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("the probe's binding");
        Probe {
            connection,
            channel,
            queue,
            consumer: None,
        }
    }

    /// The messages waiting in the probe's queue (before [`Probe::next`] is first called, all it got).
    pub async fn count(&self) -> u32 {
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        self.channel
            .queue_declare(self.queue.as_str().into(), options, FieldTable::default())
            .await
            .expect("the probe's queue exists")
            .message_count()
    }

    /// Wait until the broker has routed `count` messages to the probe in all
    /// (before [`Probe::next`] is first called), failing after `within`.
    pub async fn wait_routed(&self, count: u32, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let routed = self.count().await;
            if routed >= count {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the broker routed {routed} of {count} messages to the probe within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next message routed to the probe, or a failure after `within`.
    pub async fn next(&mut self, within: Duration) -> Delivery {
        if self.consumer.is_none() {
            let consumer = self
                .channel
                .basic_consume(
                    self.queue.as_str().into(),
                    "probe".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..BasicConsumeOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("the probe consumes");
            self.consumer = Some(consumer);
        }
        let consumer = self.consumer.as_mut().expect("set above");
        match tokio::time::timeout(within, consumer.next()).await {
            Ok(Some(Ok(delivery))) => delivery,
            Ok(other) => panic!("the probe's consumer ended: {other:?}"),
            Err(_) => panic!("the probe received nothing within {within:?}"),
        }
    }

    /// Publish `body` to `exchange` with `routing_key`, as any AMQP client would.
    pub async fn publish_raw(&self, exchange: &str, routing_key: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
            .await
            .expect("the probe publishes")
            .await
            .expect("the probe's publish is sent");
    }

    /// Close the probe's connection (its queue goes with it).
    pub async fn close(self) {
        let _ = self.connection.close(200, "done".into()).await;
    }
}
