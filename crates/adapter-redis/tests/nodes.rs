//! The node registry against the real Redis: heartbeats, expiry, load order,
//! and prefixes that keep deployments apart.

mod common;

use common::{SHORT_TTL, cleanup, config, connect, eventually, node, node_info, unique_prefix};
use room_core::RoomId;
use room_ports::{Acquired, NodeRegistry, RoomHosting};

#[tokio::test]
async fn live_nodes_come_least_loaded_first() {
    let prefix = unique_prefix("nodes-order");
    let backend = connect(config(&prefix)).await;
    let mut busy = node_info("busy", 5);
    busy.rooms = vec![RoomId(1), RoomId(2)];
    backend.heartbeat(&busy).await.expect("heartbeat");
    backend.heartbeat(&node_info("idle", 1)).await.expect("heartbeat");
    backend
        .heartbeat(&node_info("middle", 3))
        .await
        .expect("heartbeat");
    let live = backend.live_nodes().await.expect("live nodes");
    assert_eq!(
        live,
        vec![node_info("idle", 1), node_info("middle", 3), busy.clone()]
    );
    backend
        .heartbeat(&node_info("idle", 10))
        .await
        .expect("heartbeat");
    let order: Vec<_> = backend
        .live_nodes()
        .await
        .expect("live nodes")
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(order, vec![node("middle"), node("busy"), node("idle")]);
    cleanup(&prefix).await;
}

#[tokio::test]
async fn deregister_removes_a_node_at_once() {
    let prefix = unique_prefix("nodes-deregister");
    let backend = connect(config(&prefix)).await;
    backend.heartbeat(&node_info("a", 0)).await.expect("heartbeat");
    backend.heartbeat(&node_info("b", 0)).await.expect("heartbeat");
    backend.deregister(&node("a")).await.expect("deregister");
    assert!(!backend.is_live(&node("a")).await.expect("is_live"));
    assert!(backend.is_live(&node("b")).await.expect("is_live"));
    assert_eq!(
        backend.live_nodes().await.expect("live nodes"),
        vec![node_info("b", 0)]
    );
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_node_that_stops_heartbeating_disappears() {
    let prefix = unique_prefix("nodes-expiry");
    let mut short = config(&prefix);
    short.node_ttl = SHORT_TTL;
    let stopping = connect(short).await;
    let steady = connect(config(&prefix)).await;
    stopping
        .heartbeat(&node_info("stopping", 0))
        .await
        .expect("heartbeat");
    steady
        .heartbeat(&node_info("steady", 4))
        .await
        .expect("heartbeat");
    assert!(steady.is_live(&node("stopping")).await.expect("is_live"));
    eventually("the silent node to expire", || async {
        !steady.is_live(&node("stopping")).await.expect("is_live")
    })
    .await;
    assert_eq!(
        steady.live_nodes().await.expect("live nodes"),
        vec![node_info("steady", 4)]
    );
    cleanup(&prefix).await;
}

#[tokio::test]
async fn deployments_with_different_prefixes_do_not_meet() {
    let (one, two) = (unique_prefix("prefix-one"), unique_prefix("prefix-two"));
    let first = connect(config(&one)).await;
    let second = connect(config(&two)).await;
    first.heartbeat(&node_info("a", 0)).await.expect("heartbeat");
    assert!(second.live_nodes().await.expect("live nodes").is_empty());
    assert!(matches!(
        first.acquire(RoomId(1), &node("a")).await.expect("acquire"),
        Acquired::Granted(_)
    ));
    assert!(matches!(
        second.acquire(RoomId(1), &node("b")).await.expect("acquire"),
        Acquired::Granted(_)
    ));
    assert!(first.keys().lease(RoomId(1)).starts_with(&one));
    cleanup(&one).await;
    cleanup(&two).await;
}
