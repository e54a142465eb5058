//! Resume (PROTOCOL.md §9) across three server processes: the seat lives
//! with the room's host, so a client whose node is killed resumes on a
//! surviving node within the grace, and nobody sees it leave; when the host
//! itself is killed, the node that takes the room over replays what it
//! relayed.
//!
//! Needs the shared MariaDB, Redis and RabbitMQ (see `tests/common/cluster.rs`).

mod common;

use std::time::Duration;

use common::cluster::{Cluster, NODE_TTL_MS};
use common::{Client, token};
use room_core::{ServerMsg, frame_seq, parse_server_frame};

/// Guards against hangs only.
const PATIENCE: Duration = Duration::from_secs(30);

async fn connect(cluster: &Cluster, node: usize, user: u64, query: &str) -> Client {
    let url = format!("{}?token={}{query}", cluster.nodes[node].ws_base(), token(user));
    Client::connect(&url).await.expect("upgrade accepted")
}

/// Alice (1), opted into resume, enters room 1 on `node`: her SYNC's seq and her seat token.
async fn seated_alice(cluster: &Cluster, node: usize) -> (Client, u64, String) {
    let mut alice = connect(cluster, node, 1, "&resume=1").await;
    alice.send(r#"10{"room_id":"1"}"#).await;
    let sync = alice.next_line().await;
    assert!(sync.starts_with("11"), "{sync}");
    let seq = frame_seq(&sync).unwrap().expect("SYNC with a seq");
    // JSON numbers every client can hold exactly (JavaScript's stop at 2^53).
    assert!(seq < 1 << 53, "{sync}");
    let ServerMsg::Seat { token, .. } = parse_server_frame(&alice.next_line().await).unwrap() else {
        panic!("expected SEAT");
    };
    (alice, seq, token)
}

/// Lines until one `pick` accepts, within the patience.
async fn until(client: &mut Client, what: &str, mut pick: impl FnMut(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(line) = client.next_line_within(left).await else {
            panic!("no {what} within {PATIENCE:?}");
        };
        if pick(&line) {
            return line;
        }
    }
}

/// Bob saw no LEAVE of alice among what he got for a while (longer than it
/// takes the host to notice a dead node), and SYNC still shows her.
async fn bob_never_saw_alice_leave(bob: &mut Client) {
    let quiet_until = tokio::time::Instant::now() + Duration::from_millis(NODE_TTL_MS * 2);
    while let Some(line) = bob
        .next_line_within(quiet_until.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        assert!(
            !matches!(parse_server_frame(&line), Ok(ServerMsg::Leave { user }) if user.0 == 1),
            "bob saw alice leave: {line}"
        );
    }
    bob.send("11").await;
    let sync = until(bob, "SYNC", |l| l.starts_with("11")).await;
    let ServerMsg::Sync { room } = parse_server_frame(&sync).unwrap() else {
        unreachable!()
    };
    assert!(
        room.users.iter().any(|u| u.user.0 == 1),
        "alice is in the room: {sync}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_node_is_killed_resumes_on_another_with_what_it_missed() {
    let mut cluster = Cluster::start(3).await;
    let mut bob = connect(&cluster, 0, 2, "").await;
    bob.enter(1).await;
    let host = cluster.host_of(0, 1).await;
    let (relay, other) = ((host + 1) % 3, (host + 2) % 3);
    let (alice, seen, seat) = seated_alice(&cluster, relay).await;
    until(&mut bob, "alice's ENTER", |l| l.starts_with("10")).await;
    cluster.kill(relay);
    drop(alice);
    // Bob walks while alice has no socket.
    for _ in 0..2 {
        bob.send(r#"20{"direction":2}"#).await;
        until(&mut bob, "bob's MOVE", |l| l.starts_with("20")).await;
    }
    let mut alice = connect(&cluster, other, 1, &format!("&resume={seat}&seq={seen}")).await;
    let resumed = alice.next_line().await;
    match parse_server_frame(&resumed) {
        Ok(ServerMsg::Resumed { seq, replayed, .. }) => {
            assert_eq!((seq, replayed), (seen + 2, 2), "{resumed}");
        }
        other => panic!("expected RESUMED, got {other:?}: {}", cluster.logs(30)),
    }
    for expected in [seen + 1, seen + 2] {
        let replayed = alice.next_line().await;
        assert_eq!(frame_seq(&replayed).unwrap(), Some(expected), "{replayed}");
    }
    bob_never_saw_alice_leave(&mut bob).await;
    cluster.assert_no_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_host_node_is_killed_resumes_its_seat_under_the_new_host() {
    let mut cluster = Cluster::start(3).await;
    let (alice, seen, seat) = seated_alice(&cluster, 0).await;
    let host = cluster.host_of(0, 1).await;
    assert_eq!(host, 0, "the first to enter hosts the room");
    let mut bob = connect(&cluster, 1, 2, "").await;
    bob.enter(1).await;
    // The host writes its snapshot behind: let it catch up with bob.
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.kill(0);
    drop(alice);
    let dead = cluster.nodes[0].id.clone();
    let moved = cluster
        .wait_route(1, 1, PATIENCE, |route| route.hosted && route.node != dead)
        .await;
    assert!(moved.is_ok(), "no survivor took the room over: {moved:?}");
    let mut alice = connect(&cluster, 2, 1, &format!("&resume={seat}&seq={seen}")).await;
    // The new host relayed what alice missed (bob's ENTER): it replays it.
    let resumed = until(&mut alice, "the answer to the resume", |l| {
        l.starts_with("13") || l.starts_with("11") || l.starts_with("99")
    })
    .await;
    match parse_server_frame(&resumed) {
        Ok(ServerMsg::Resumed { seq, replayed, .. }) => {
            assert_eq!((seq, replayed), (seen + 1, 1), "{resumed}");
        }
        other => panic!("expected RESUMED, got {other:?}: {}", cluster.logs(30)),
    }
    let replayed = alice.next_line().await;
    assert!(replayed.starts_with("10"), "bob's ENTER: {replayed}");
    assert_eq!(frame_seq(&replayed).unwrap(), Some(seen + 1), "{replayed}");
    // Back live: bob's move reaches her, numbered on by one.
    bob.send(r#"20{"direction":2}"#).await;
    let moved = until(&mut alice, "bob's MOVE", |l| l.starts_with("20")).await;
    assert_eq!(frame_seq(&moved).unwrap(), Some(seen + 2), "{moved}");
    bob_never_saw_alice_leave(&mut bob).await;
    cluster.assert_no_panics();
}
