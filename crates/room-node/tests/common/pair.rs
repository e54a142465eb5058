//! Engines of one process as nodes of one cluster, over the in-memory ports.

use std::sync::Arc;
use std::time::Duration;

use room_core::UserId;
use room_node::memory::{MemoryBus, MemoryHosting, MemoryMapStore, MemoryNodes};
use room_node::{ClusterPorts, EngineBuilder};
use room_ports::{MapStore, NodeId, UserSeed};

/// What the nodes share: the store, the lease registry, the node registry, the bus.
pub struct Shared {
    pub store: Arc<MemoryMapStore>,
    pub hosting: Arc<MemoryHosting>,
    pub nodes: Arc<MemoryNodes>,
    pub bus: MemoryBus,
}

/// A cluster's shared services, with alice (1) and bob (2).
pub async fn shared() -> Shared {
    let store = Arc::new(MemoryMapStore::new());
    let users = [(1, "alice"), (2, "bob")].map(|(id, nickname)| UserSeed {
        user: UserId(id),
        nickname: nickname.into(),
        games: Vec::new(),
    });
    store.seed_users(&users).await.unwrap();
    Shared {
        store,
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
