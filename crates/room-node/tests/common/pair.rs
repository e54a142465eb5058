//! Engines of one process as nodes of one cluster, over the in-memory ports.

use std::sync::Arc;
use std::time::Duration;

use room_core::{ClientMsg, RoomId};
use room_node::memory::{MemoryBus, MemoryHosting, MemoryMapStore, MemoryNodes};
use room_node::{ClusterPorts, EngineBuilder, Next, Session};
use room_ports::NodeId;

/// What the nodes share: the store, the lease registry, the node registry, the bus.
pub struct Shared {
    pub store: Arc<MemoryMapStore>,
    pub hosting: Arc<MemoryHosting>,
    pub nodes: Arc<MemoryNodes>,
    pub bus: MemoryBus,
}

/// A cluster's shared services, with alice (1) and bob (2).
pub async fn shared() -> Shared {
    Shared {
        store: super::alice_and_bob().await,
        hosting: Arc::new(MemoryHosting::new(Duration::from_secs(5))),
        nodes: Arc::new(MemoryNodes::new(Duration::from_secs(10))),
        bus: MemoryBus::new(NodeId("hub".into())),
    }
}

/// The builder of node `id`'s engine (5 s leases, 10 s node lifetime).
pub fn node_builder(shared: &Shared, id: &str) -> EngineBuilder {
    let ports = ClusterPorts {
        node: NodeId(id.into()),
        advertise: format!("ws://{id}/library"),
        hosting: shared.hosting.clone(),
        registry: shared.nodes.clone(),
        bus: Arc::new(shared.bus.join(NodeId(id.into()))),
        lease_ttl: Duration::from_secs(5),
        node_ttl: Duration::from_secs(10),
    };
    room_node::Engine::builder(shared.store.clone()).cluster(ports)
}

/// Guards against hangs only.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// ENTER into `room` (no authorization: the session's user is known).
pub fn enter(room: u64) -> ClientMsg {
    ClientMsg::Enter {
        room_id: RoomId(room),
        authorization: None,
    }
}

/// The next frame queued to `session`'s socket, as text.
pub async fn next_line(session: &Session) -> String {
    let next = tokio::time::timeout(PATIENCE, session.outbox().next(1))
        .await
        .expect("a message in time");
    match next {
        Next::Frames(frames) => frames[0].as_str().to_owned(),
        Next::Close(reason) => panic!("closed: {reason:?}"),
    }
}
