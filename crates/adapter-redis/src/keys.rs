//! Every key name this crate uses, in one place (see the crate docs for the layout).

use room_core::RoomId;
use room_ports::NodeId;

/// Builds key names under one deployment's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (used verbatim: include the separator, e.g. `myroom:`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Keys {
            prefix: prefix.into(),
        }
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}node:{node}`: the node's `NodeInfo` as JSON; expires with its heartbeat.
    pub fn node(&self, node: &NodeId) -> String {
        format!("{}{}", self.node_prefix(), node)
    }

    /// `{prefix}node:`: what the scripts prepend to a node id to test its liveness.
    pub fn node_prefix(&self) -> String {
        format!("{}node:", self.prefix)
    }

    /// `{prefix}nodes`: sorted set of node ids scored by open connections.
    pub fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    /// `{prefix}lease:{room}`: `{epoch}@{node}` of the room's host; expires unless renewed.
    pub fn lease(&self, room: RoomId) -> String {
        format!("{}lease:{}", self.prefix, room)
    }

    /// `{prefix}epoch:{room}`: the room's fencing counter; never expires.
    pub fn epoch(&self, room: RoomId) -> String {
        format!("{}epoch:{}", self.prefix, room)
    }

    /// `{prefix}snapshot:{room}`: the room's last `RoomSnapshot` as JSON.
    pub fn snapshot(&self, room: RoomId) -> String {
        format!("{}snapshot:{}", self.prefix, room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_starts_with_the_prefix() {
        let keys = Keys::new("dep:");
        let node = NodeId("n1".to_owned());
        let room = RoomId(7);
        assert_eq!(keys.node(&node), "dep:node:n1");
        assert_eq!(keys.nodes(), "dep:nodes");
        assert_eq!(keys.lease(room), "dep:lease:7");
        assert_eq!(keys.epoch(room), "dep:epoch:7");
        assert_eq!(keys.snapshot(room), "dep:snapshot:7");
    }
}
