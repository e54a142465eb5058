//! Settings of the adapter and the broker names derived from them.

use std::time::Duration;

use room_core::RoomId;
use room_ports::NodeId;

/// Settings of one node's connection to RabbitMQ.
///
/// Every node of a cluster must use the same `exchange_prefix`; `node_id` must
/// be unique per node (it names the node's queue and its direct routing key).
#[derive(Debug, Clone)]
pub struct RabbitConfig {
    /// The AMQP URI, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`. Add
    /// `?heartbeat=10` to notice a silently dead peer sooner.
    pub url: String,
    /// Prefix of every exchange and queue name (e.g. `myroom`).
    pub exchange_prefix: String,
    /// This node's id.
    pub node_id: NodeId,
    /// Unacknowledged deliveries the broker may push to this node (`basic.qos`).
    pub prefetch: u16,
    /// Most messages the node's queue holds waiting (unacknowledged deliveries,
    /// at most `prefetch`, come on top); beyond it the oldest are dropped
    /// (`x-max-length` with `x-overflow: drop-head`), which the engine sees
    /// as a jump in its own numbering.
    pub queue_max_len: u32,
    /// Capacity of the channel handed out by `take_inbound`.
    pub inbound_capacity: usize,
    /// First delay before reconnecting after the connection is lost.
    pub reconnect_min: Duration,
    /// Largest delay between reconnection attempts.
    pub reconnect_max: Duration,
    /// Longest a publish, bind or unbind may take before it fails as unavailable.
    pub op_timeout: Duration,
}

impl RabbitConfig {
    /// Settings with the defaults below for everything but the URI, prefix and node id.
    ///
    /// prefetch 256, queue limit 10,000 messages, inbound capacity 4,096,
    /// reconnect backoff 200 ms doubling to 5 s, operation timeout 5 s.
    pub fn new(url: impl Into<String>, exchange_prefix: impl Into<String>, node_id: NodeId) -> Self {
        RabbitConfig {
            url: url.into(),
            exchange_prefix: exchange_prefix.into(),
            node_id,
            prefetch: 256,
            queue_max_len: 10_000,
            inbound_capacity: 4_096,
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(5),
            op_timeout: Duration::from_secs(5),
        }
    }

    /// The broker names this configuration uses.
    pub fn names(&self) -> Names {
        Names {
            rooms_exchange: format!("{}.rooms", self.exchange_prefix),
            nodes_exchange: format!("{}.nodes", self.exchange_prefix),
            queue: format!("{}.node.{}", self.exchange_prefix, self.node_id),
            connection_name: format!("{}/{}", self.exchange_prefix, self.node_id),
        }
    }
}

/// Exchange, queue and connection names of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Direct exchange of room events; routing key [`room_key`].
    pub rooms_exchange: String,
    /// Direct exchange of node messages; routing key [`node_key`].
    pub nodes_exchange: String,
    /// This node's only queue.
    pub queue: String,
    /// The `connection_name` client property, shown by `rabbitmqctl list_connections`.
    pub connection_name: String,
}

/// The routing key of `room`'s events.
pub fn room_key(room: RoomId) -> String {
    format!("room.{room}")
}

/// The room whose events are routed by `key`: the inverse of [`room_key`]
/// (only keys it produces, so `room.07` or `room.+7` name no room).
pub(crate) fn room_of_key(key: &str) -> Option<RoomId> {
    let room = RoomId(key.strip_prefix("room.")?.parse().ok()?);
    (room_key(room) == key).then_some(room)
}

/// The routing key of messages to `node`.
pub fn node_key(node: &NodeId) -> String {
    node.0.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix_and_node() {
        let config = RabbitConfig::new("amqp://x", "myroom", NodeId("n1".into()));
        let names = config.names();
        assert_eq!(names.rooms_exchange, "myroom.rooms");
        assert_eq!(names.nodes_exchange, "myroom.nodes");
        assert_eq!(names.queue, "myroom.node.n1");
        assert_eq!(room_key(RoomId(42)), "room.42");
        assert_eq!(node_key(&NodeId("n1".into())), "n1");
    }

    #[test]
    fn a_room_key_reads_back_as_its_room_and_nothing_else_does() {
        for room in [RoomId(0), RoomId(42), RoomId(u64::MAX)] {
            assert_eq!(room_of_key(&room_key(room)), Some(room));
        }
        for key in [
            "room.",
            "room.07",
            "room.+7",
            "room.-1",
            "room.7 ",
            "rooms.7",
            "7",
            "room.18446744073709551616",
        ] {
            assert_eq!(room_of_key(key), None, "{key}");
        }
    }
}
