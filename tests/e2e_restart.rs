//! A single node (the embedded store) stopped with SIGTERM's path and
//! started again keeps its users (issue 23, PROTOCOL.md §9): the seats, the
//! positions and the last events are kept in its data directory, so a
//! resume within the grace after the restart is RESUMED with exactly what
//! the socket missed, the numbering goes on by one, and nobody is seen to
//! leave. A legacy socket is unaffected.

mod common;

use std::path::Path;

use common::{Client, TestServer, args_for, token, unique_dir};
use myroom::app;
use room_core::{ServerMsg, frame_seq, parse_server_frame};

async fn start_in(dir: &Path) -> TestServer {
    let server = app::start(args_for(dir)).await.expect("server starts");
    TestServer {
        server,
        dir: dir.to_owned(),
    }
}

/// A socket of `user`, opted into resume, in room 1: the last seq it saw and its seat token.
async fn seated(server: &TestServer, user: u64) -> (Client, u64, String) {
    let mut client = server.connect_query(user, "&resume=1").await;
    client.send(r#"10{"room_id":"1"}"#).await;
    let sync = client.next_line().await;
    assert!(sync.starts_with("11"), "{sync}");
    let seq = frame_seq(&sync).unwrap().expect("SYNC with a seq");
    let ServerMsg::Seat { token, .. } = parse_server_frame(&client.next_line().await).unwrap() else {
        panic!("expected SEAT");
    };
    (client, seq, token)
}

async fn resume(server: &TestServer, user: u64, seat: &str, seq: u64) -> Client {
    let url = server.ws_url(&format!("?token={}&resume={seat}&seq={seq}", token(user)));
    Client::connect(&url).await.expect("upgrade accepted")
}

/// The next line that carries a seq, and that seq.
async fn numbered(client: &mut Client) -> (String, u64) {
    loop {
        let line = client.next_line().await;
        if let Ok(Some(seq)) = frame_seq(&line) {
            return (line, seq);
        }
    }
}

#[tokio::test]
async fn a_single_node_restarted_keeps_seats_positions_and_the_replay_tail() {
    let dir = unique_dir("restart");
    let server = start_in(&dir).await;
    let (mut alice, _, alice_seat) = seated(&server, 1).await;
    let (mut bob, _, bob_seat) = seated(&server, 2).await;
    let (enter, alice_saw) = numbered(&mut alice).await;
    assert!(enter.starts_with("10"), "alice sees bob enter: {enter}");
    // Alice's connection drops; bob walks twice (events alice misses).
    drop(alice);
    bob.send(r#"20{"direction":2}"#).await;
    bob.send(r#"20{"direction":1}"#).await;
    let (_, _) = numbered(&mut bob).await;
    let (moved, bob_saw) = numbered(&mut bob).await;
    assert!(moved.starts_with("20"), "{moved}");
    // SIGTERM's path: every socket closes with 1001, the room is written down.
    server.server.shutdown().await;
    drop(bob);

    let server = start_in(&dir).await;
    let mut alice = resume(&server, 1, &alice_seat, alice_saw).await;
    let resumed = alice.next_line().await;
    let replayed = match parse_server_frame(&resumed) {
        Ok(ServerMsg::Resumed { seq, replayed, .. }) => {
            assert_eq!(
                seq, bob_saw,
                "the numbering continues across the restart: {resumed}"
            );
            replayed
        }
        other => panic!("alice's resume after the restart: {other:?}"),
    };
    let mut replayed_numbers = Vec::new();
    for _ in 0..replayed {
        let (line, seq) = numbered(&mut alice).await;
        assert!(!line.starts_with("19"), "nobody left: {line}");
        replayed_numbers.push(seq);
    }
    assert_eq!(
        replayed_numbers,
        (alice_saw + 1..=bob_saw).collect::<Vec<_>>(),
        "exactly what alice missed: bob's two moves"
    );
    let mut bob = resume(&server, 2, &bob_seat, bob_saw).await;
    match parse_server_frame(&bob.next_line().await) {
        Ok(ServerMsg::Resumed { seq, replayed, .. }) => assert_eq!((seq, replayed), (bob_saw, 0)),
        other => panic!("bob's resume after the restart: {other:?}"),
    }
    // Bob walks on: numbered by one more, and alice sees it.
    bob.send(r#"20{"direction":3}"#).await;
    let (_, next) = numbered(&mut alice).await;
    assert_eq!(next, bob_saw + 1);
    // A legacy socket (no resume) sees both where they stood.
    let mut carol = server.connect(3).await;
    let ServerMsg::Sync { room } = carol.enter(1).await else {
        panic!("carol's ENTER is answered with SYNC");
    };
    let mut users: Vec<u64> = room.users.iter().map(|u| u.user.0).collect();
    users.sort_unstable();
    assert_eq!(users, vec![1, 2, 3]);
    let bob_cell = room
        .users
        .iter()
        .find(|u| u.user.0 == 2)
        .map(|u| (u.cell.x, u.cell.y));
    assert_ne!(bob_cell, Some((0, 0)), "bob kept his position across the restart");
    server.server.shutdown().await;
}

#[tokio::test]
async fn a_seat_token_of_a_run_whose_seats_were_not_kept_names_no_seat() {
    let dir = unique_dir("restart-lost");
    let server = start_in(&dir).await;
    let (alice, seen, seat) = seated(&server, 1).await;
    drop(alice);
    server.server.shutdown().await;
    // The state is lost (a crash, or the grace ran out): the room starts afresh.
    let _ = std::fs::remove_dir_all(dir.join("data").join("room-states"));
    let server = start_in(&dir).await;
    // Alice sits down again on a new socket, then her old token is presented.
    let (_alice, _, new_seat) = seated(&server, 1).await;
    assert_ne!(new_seat, seat, "a new run gives new seat numbers");
    let mut stale = resume(&server, 1, &seat, seen).await;
    let answer = stale.next_line().await;
    assert!(answer.starts_with("99") && answer.contains("76408"), "{answer}");
    server.server.shutdown().await;
}
