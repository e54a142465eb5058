use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use room_core::RoomId;
use room_ports::{Bus, BusError, BusInbound, BusInbox, NodeId};
use tokio::sync::mpsc;

use super::lock;

#[derive(Default)]
struct Hub {
    nodes: HashMap<NodeId, (mpsc::Sender<BusInbound>, HashSet<RoomId>)>,
}

/// A bus between engines of one process: each node gets its own handle from
/// [`MemoryBus::join`]; events reach only nodes subscribed to their room.
#[derive(Clone)]
pub struct MemoryBus {
    hub: Arc<Mutex<Hub>>,
    node: NodeId,
    inbound: Arc<Mutex<Option<mpsc::Receiver<BusInbound>>>>,
}

/// How many undelivered messages a node may have before newer ones are dropped
/// (a drop shows up as a sequence gap, which the engine repairs with a SYNC).
const NODE_QUEUE: usize = 4096;

impl MemoryBus {
    /// A bus with one node, `node`, on it.
    pub fn new(node: NodeId) -> MemoryBus {
        MemoryBus::attach(Arc::new(Mutex::new(Hub::default())), node)
    }

    /// Another node on the same bus.
    pub fn join(&self, node: NodeId) -> MemoryBus {
        MemoryBus::attach(self.hub.clone(), node)
    }

    fn attach(hub: Arc<Mutex<Hub>>, node: NodeId) -> MemoryBus {
        let (sender, receiver) = mpsc::channel(NODE_QUEUE);
        lock(&hub).nodes.insert(node.clone(), (sender, HashSet::new()));
        MemoryBus {
            hub,
            node,
            inbound: Arc::new(Mutex::new(Some(receiver))),
        }
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, room: RoomId, payload: Bytes) -> Result<(), BusError> {
        let hub = lock(&self.hub);
        for (sender, rooms) in hub.nodes.values() {
            if rooms.contains(&room) {
                let _ = sender.try_send(BusInbound::Event {
                    room,
                    payload: payload.clone(),
                });
            }
        }
        Ok(())
    }

    async fn subscribe_room(&self, room: RoomId) -> Result<(), BusError> {
        if let Some((_, rooms)) = lock(&self.hub).nodes.get_mut(&self.node) {
            rooms.insert(room);
        }
        Ok(())
    }

    async fn unsubscribe_room(&self, room: RoomId) -> Result<(), BusError> {
        if let Some((_, rooms)) = lock(&self.hub).nodes.get_mut(&self.node) {
            rooms.remove(&room);
        }
        Ok(())
    }

    async fn send_to_node(&self, node: &NodeId, payload: Bytes) -> Result<(), BusError> {
        let hub = lock(&self.hub);
        let (sender, _) = hub
            .nodes
            .get(node)
            .ok_or_else(|| BusError::Unavailable(format!("no node {node}")))?;
        sender
            .try_send(BusInbound::Node { payload })
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    fn take_inbound(&self) -> Option<BusInbox> {
        let mut receiver = lock(&self.inbound).take()?;
        Some(BusInbox::from_poll(move |cx| receiver.poll_recv(cx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_node_receives_only_the_rooms_it_subscribed_to() {
        let a = MemoryBus::new(NodeId("a".into()));
        let b = a.join(NodeId("b".into()));
        let mut inbound = b.take_inbound().unwrap();
        b.subscribe_room(RoomId(1)).await.unwrap();
        a.publish(RoomId(2), Bytes::from_static(b"two")).await.unwrap();
        a.publish(RoomId(1), Bytes::from_static(b"one")).await.unwrap();
        assert_eq!(
            inbound.recv().await,
            Some(BusInbound::Event {
                room: RoomId(1),
                payload: Bytes::from_static(b"one")
            })
        );
        let more = tokio::time::timeout(std::time::Duration::ZERO, inbound.recv()).await;
        assert!(more.is_err(), "room 2's event arrived too: {more:?}");
    }
}
