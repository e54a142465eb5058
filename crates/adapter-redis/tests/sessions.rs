//! Presence against the real Redis: one session per (user, room), tied to the
//! liveness of its node.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{SHORT_TTL, cleanup, config, connect, eventually, heartbeat, node, session, unique_prefix};
use room_core::{RoomId, UserId};
use room_ports::{NodeRegistry, Presence, SessionAt};
use tokio::sync::Barrier;

const ROOM: RoomId = RoomId(5);
const USER: UserId = UserId(77);

#[tokio::test]
async fn a_second_claim_returns_the_first_session() {
    let prefix = unique_prefix("claim");
    let backend = connect(config(&prefix)).await;
    heartbeat(&backend, "n1").await;
    heartbeat(&backend, "n2").await;
    let first = session("n1", 1);
    let second = session("n2", 2);
    assert_eq!(
        backend.claim_session(ROOM, USER, &first).await.expect("claim"),
        None
    );
    assert_eq!(
        backend.claim_session(ROOM, USER, &second).await.expect("claim"),
        Some(first)
    );
    assert_eq!(
        backend.claim_session(ROOM, USER, &second).await.expect("claim"),
        None,
        "claiming again with the same session replaces nothing"
    );
    assert_eq!(
        backend.sessions_in_room(ROOM).await.expect("list"),
        vec![(USER, second)]
    );
    cleanup(&prefix).await;
}

#[tokio::test]
async fn release_forgets_only_the_recorded_session() {
    let prefix = unique_prefix("release-session");
    let backend = connect(config(&prefix)).await;
    heartbeat(&backend, "n1").await;
    let old = session("n1", 1);
    let current = session("n1", 2);
    backend.claim_session(ROOM, USER, &old).await.expect("claim");
    backend.claim_session(ROOM, USER, &current).await.expect("claim");
    backend
        .claim_session(ROOM, UserId(78), &session("n1", 3))
        .await
        .expect("claim");
    assert!(!backend.release_session(ROOM, USER, &old).await.expect("release"));
    assert!(
        backend
            .release_session(ROOM, USER, &current)
            .await
            .expect("release")
    );
    assert!(
        !backend
            .release_session(ROOM, USER, &current)
            .await
            .expect("release")
    );
    assert_eq!(
        backend.sessions_in_room(ROOM).await.expect("list"),
        vec![(UserId(78), session("n1", 3))]
    );
    cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_claims_from_ten_nodes_leave_exactly_one_session() {
    let prefix = unique_prefix("claim-race");
    let nodes = 10;
    let mut backends = Vec::new();
    for index in 0..nodes {
        let backend = connect(config(&prefix)).await;
        heartbeat(&backend, &format!("node-{index}")).await;
        backends.push(backend);
    }
    for round in 0..5u64 {
        let room = RoomId(100 + round);
        let barrier = Arc::new(Barrier::new(nodes));
        let tasks: Vec<_> = backends
            .iter()
            .enumerate()
            .map(|(index, backend)| {
                let (backend, barrier) = (backend.clone(), barrier.clone());
                let mine = session(&format!("node-{index}"), round * 100 + index as u64);
                tokio::spawn(async move {
                    barrier.wait().await;
                    let replaced = backend.claim_session(room, USER, &mine).await.expect("claim");
                    (mine, replaced)
                })
            })
            .collect();
        let mut claimed = HashSet::new();
        let mut replaced = Vec::new();
        for task in tasks {
            let (mine, previous) = task.await.expect("claim task");
            claimed.insert(mine);
            replaced.extend(previous);
        }
        let listed = backends[0].sessions_in_room(room).await.expect("list");
        assert_eq!(listed.len(), 1, "exactly one session survives: {listed:?}");
        let winner: SessionAt = listed[0].1.clone();
        assert_eq!(
            replaced.len(),
            nodes - 1,
            "every claim but the first replaced one"
        );
        let replaced_set: HashSet<_> = replaced.iter().cloned().collect();
        assert_eq!(
            replaced_set.len(),
            nodes - 1,
            "no session is replaced twice: {replaced:?}"
        );
        assert!(!replaced_set.contains(&winner), "the winner was not replaced");
        let mut everyone = replaced_set;
        everyone.insert(winner);
        assert_eq!(everyone, claimed, "each session is either replaced or the winner");
    }
    for backend in &backends {
        backend.close().await;
    }
    cleanup(&prefix).await;
}

#[tokio::test]
async fn sessions_of_a_dead_node_count_as_absent() {
    let prefix = unique_prefix("dead-node-session");
    let mut short = config(&prefix);
    short.node_ttl = SHORT_TTL;
    let dying = connect(short).await;
    let alive = connect(config(&prefix)).await;
    heartbeat(&dying, "dying").await;
    heartbeat(&alive, "alive").await;
    dying
        .claim_session(ROOM, USER, &session("dying", 1))
        .await
        .expect("claim");
    dying
        .claim_session(ROOM, UserId(2), &session("dying", 2))
        .await
        .expect("claim");
    assert_eq!(alive.sessions_in_room(ROOM).await.expect("list").len(), 2);
    eventually("the dying node to expire", || async {
        !alive.is_live(&node("dying")).await.expect("is_live")
    })
    .await;
    let mine = session("alive", 3);
    assert_eq!(alive.claim_session(ROOM, USER, &mine).await.expect("claim"), None);
    assert_eq!(
        alive.sessions_in_room(ROOM).await.expect("list"),
        vec![(USER, mine)]
    );
    cleanup(&prefix).await;
}
