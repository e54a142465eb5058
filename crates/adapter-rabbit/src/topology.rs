//! Declaring and binding the broker objects of one node (see the crate docs).

use lapin::options::{BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};
use room_core::RoomId;

use crate::config::{Names, RabbitConfig, node_key, room_key};

/// Declare both exchanges and this node's queue, bind the queue to the node's
/// own routing key, and set the consumer prefetch on `channel`.
pub(crate) async fn declare(channel: &Channel, config: &RabbitConfig, names: &Names) -> lapin::Result<()> {
    // Not durable (every node re-declares them on each connection) and not
    // auto-delete (a host must be able to publish while nobody is bound).
    let exchange_options = ExchangeDeclareOptions::default();
    for exchange in [&names.rooms_exchange, &names.nodes_exchange] {
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Direct,
                exchange_options,
                FieldTable::default(),
            )
            .await?;
    }
    let queue_options = QueueDeclareOptions {
        exclusive: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(
            names.queue.as_str().into(),
            queue_options,
            queue_arguments(config),
        )
        .await?;
    channel
        .queue_bind(
            names.queue.as_str().into(),
            names.nodes_exchange.as_str().into(),
            node_key(&config.node_id).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await
}

/// The queue's length limit: beyond `queue_max_len` the oldest message goes.
fn queue_arguments(config: &RabbitConfig) -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(i64::from(config.queue_max_len)),
    );
    arguments.insert("x-overflow".into(), AMQPValue::LongString("drop-head".into()));
    arguments
}

/// Route `room`'s events to this node's queue.
pub(crate) async fn bind_room(channel: &Channel, names: &Names, room: RoomId) -> lapin::Result<()> {
    channel
        .queue_bind(
            names.queue.as_str().into(),
            names.rooms_exchange.as_str().into(),
            room_key(room).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Stop routing `room`'s events to this node's queue.
pub(crate) async fn unbind_room(channel: &Channel, names: &Names, room: RoomId) -> lapin::Result<()> {
    channel
        .queue_unbind(
            names.queue.as_str().into(),
            names.rooms_exchange.as_str().into(),
            room_key(room).into(),
            FieldTable::default(),
        )
        .await
}
