//! PROTOCOL.md §9 over loopback with real sockets, on one node: a socket
//! that opted in keeps its seat when it drops, and a new socket that
//! presents the seat gets exactly what it missed, without the others seeing
//! it go.

mod common;

use std::time::Duration;

use common::{Client, QUIET, TestServer, token};
use room_core::{ErrorCode, ServerMsg, frame_seq, parse_server_frame};

/// A socket of `user` opted into resume, entered into room 1: its SYNC's
/// seq and its seat token.
async fn seated(server: &TestServer, user: u64) -> (Client, u64, String) {
    let mut client = server.connect_query(user, "&resume=1").await;
    client.send(r#"10{"room_id":"1"}"#).await;
    let sync = client.next_line().await;
    assert!(sync.starts_with("11"), "{sync}");
    let seq = frame_seq(&sync)
        .unwrap()
        .expect("an opted-in socket's SYNC has a seq");
    let seat = client.next_line().await;
    assert!(!seat.contains("\"seq\""), "SEAT carries no seq: {seat}");
    let token = match parse_server_frame(&seat).unwrap() {
        ServerMsg::Seat { token, room } => {
            assert_eq!(room.0, 1);
            token
        }
        other => panic!("expected SEAT right after the SYNC, got {other:?}"),
    };
    (client, seq, token)
}

async fn resume(server: &TestServer, user: u64, seat: &str, seq: u64) -> Client {
    let url = server.ws_url(&format!("?token={}&resume={seat}&seq={seq}", token(user)));
    Client::connect(&url).await.expect("upgrade accepted")
}

/// A plain socket of bob in room 1, after alice (opted in) sat down.
async fn bob_in(server: &TestServer) -> Client {
    let mut bob = server.connect(2).await;
    bob.enter(1).await;
    bob
}

/// Drop the socket as a network would: no close frame, no LEAVE.
fn cut(client: Client) {
    drop(client);
}

fn cell_of(view: &room_core::RoomView, user: u64) -> Option<(u16, u16)> {
    view.users
        .iter()
        .find(|u| u.user.0 == user)
        .map(|u| (u.cell.x, u.cell.y))
}

#[tokio::test]
async fn a_dropped_socket_keeps_its_seat_and_resumes_with_exactly_what_it_missed() {
    let server = TestServer::start().await;
    let (mut alice, _, seat) = seated(&server, 1).await;
    let mut bob = bob_in(&server).await;
    let enter = alice.next_line().await;
    assert!(enter.starts_with("10"), "{enter}");
    let seen = frame_seq(&enter).unwrap().expect("a room event has a seq");
    cut(alice);
    // Bob walks while alice is away: two MOVEs alice misses.
    bob.send("20{\"direction\":2}").await;
    bob.send("20{\"direction\":2}").await;
    for _ in 0..2 {
        assert!(matches!(bob.next_msg().await, ServerMsg::Move { .. }));
    }
    let mut alice = resume(&server, 1, &seat, seen).await;
    let resumed = alice.next_line().await;
    match parse_server_frame(&resumed).unwrap() {
        ServerMsg::Resumed { room, seq, replayed } => {
            assert_eq!((room.0, seq, replayed), (1, seen + 2, 2), "{resumed}");
        }
        other => panic!("expected RESUMED, got {other:?}"),
    }
    for expected in [seen + 1, seen + 2] {
        let replayed = alice.next_line().await;
        assert!(replayed.starts_with("20"), "{replayed}");
        assert_eq!(frame_seq(&replayed).unwrap(), Some(expected), "{replayed}");
    }
    // Bob was told nothing: no LEAVE, no ENTER.
    bob.expect_quiet().await;
    // Alice is back at her place, and the room goes on live for her.
    bob.send("20{\"direction\":1}").await;
    let live = alice.next_line().await;
    assert_eq!(frame_seq(&live).unwrap(), Some(seen + 3), "{live}");
    let sync = bob.next_msg().await;
    assert!(matches!(sync, ServerMsg::Move { .. }));
    bob.send("11").await;
    let ServerMsg::Sync { room: view } = bob.next_msg().await else {
        panic!("expected SYNC");
    };
    assert_eq!(view.users.len(), 2, "alice is still in the room: {view:?}");
    assert!(cell_of(&view, 1).is_some());
    assert_eq!(
        server
            .metric("myroom_resumes_total", "outcome=\"replayed\"")
            .await,
        1.0
    );
    assert_eq!(server.metric("myroom_events_replayed_total", "").await, 2.0);
}

#[tokio::test]
async fn a_seat_not_resumed_within_the_grace_ends_with_leave_and_then_76408() {
    let server = TestServer::start_with(|args| args.resume_grace_ms = 300).await;
    let (alice, seq, seat) = seated(&server, 1).await;
    let mut bob = bob_in(&server).await;
    cut(alice);
    // Within the grace bob sees nothing; after it, LEAVE.
    bob.expect_quiet().await;
    let leave = bob.next_msg().await;
    assert!(
        matches!(leave, ServerMsg::Leave { user } if user.0 == 1),
        "{leave:?}"
    );
    let mut late = resume(&server, 1, &seat, seq).await;
    late.expect_error(ErrorCode::SeatExpired).await;
    // The socket stays open and may ENTER as usual, and gets a seat again.
    let (_, _, fresh) = {
        late.send(r#"10{"room_id":"1"}"#).await;
        let sync = late.next_line().await;
        assert!(sync.starts_with("11"), "{sync}");
        let seat = late.next_line().await;
        assert!(seat.starts_with("12"), "{seat}");
        ((), (), seat)
    };
    assert!(!fresh.contains(&seat), "a seat given again has a new token");
    assert_eq!(
        server.metric("myroom_resumes_total", "outcome=\"expired\"").await,
        1.0
    );
}

#[tokio::test]
async fn an_explicit_leave_ends_the_seat_at_once() {
    let server = TestServer::start().await;
    let (mut alice, seq, seat) = seated(&server, 1).await;
    let mut bob = bob_in(&server).await;
    assert!(alice.next_line().await.starts_with("10"));
    assert_eq!(server.metric("myroom_seats_held", "").await, 1.0);
    alice.send("19").await;
    let leave = bob.next_msg().await;
    assert!(
        matches!(leave, ServerMsg::Leave { user } if user.0 == 1),
        "{leave:?}"
    );
    let mut again = resume(&server, 1, &seat, seq + 1).await;
    again.expect_error(ErrorCode::SeatExpired).await;
    bob.expect_quiet().await;
    assert_eq!(server.metric("myroom_seats_held", "").await, 0.0);
}

#[tokio::test]
async fn more_missed_than_the_log_keeps_resumes_with_a_sync_and_a_new_seat() {
    let server = TestServer::start_with(|args| args.resume_log = 2).await;
    let (mut alice, _, seat) = seated(&server, 1).await;
    let mut bob = bob_in(&server).await;
    let seen = frame_seq(&alice.next_line().await).unwrap().unwrap();
    cut(alice);
    for _ in 0..3 {
        bob.send("20{\"direction\":2}").await;
        assert!(matches!(bob.next_msg().await, ServerMsg::Move { .. }));
    }
    let mut alice = resume(&server, 1, &seat, seen).await;
    let sync = alice.next_line().await;
    assert!(sync.starts_with("11"), "{sync}");
    assert_eq!(
        frame_seq(&sync).unwrap(),
        Some(seen + 3),
        "the SYNC contains every event"
    );
    let ServerMsg::Sync { room: view } = parse_server_frame(&sync).unwrap() else {
        unreachable!()
    };
    assert_eq!(cell_of(&view, 2).map(|c| c.1), Some(view_spawn_y(&view) + 3));
    let renewed = match parse_server_frame(&alice.next_line().await).unwrap() {
        ServerMsg::Seat { token, .. } => token,
        other => panic!("expected a new SEAT, got {other:?}"),
    };
    assert_ne!(renewed, seat);
    bob.expect_quiet().await;
    // The old token is no longer valid.
    cut(alice);
    let mut stale = resume(&server, 1, &seat, seen + 3).await;
    stale.expect_error(ErrorCode::SeatExpired).await;
    assert_eq!(
        server.metric("myroom_resumes_total", "outcome=\"sync\"").await,
        1.0
    );
}

/// Where alice (who did not move) stands: the spawn.
fn view_spawn_y(view: &room_core::RoomView) -> u16 {
    cell_of(view, 1).expect("alice is in the room").1
}

#[tokio::test]
async fn a_bad_token_or_seq_is_refused_the_socket_stays_open_and_the_seat_is_unchanged() {
    let server = TestServer::start().await;
    let (alice, seq, seat) = seated(&server, 1).await;
    let (_bob_seated, _, bobs_seat) = seated(&server, 2).await;
    cut(alice);
    let cases = [
        (
            format!("?token={}&resume=garbage&seq=1", token(1)),
            ErrorCode::Parse,
        ),
        (format!("?token={}&resume={seat}", token(1)), ErrorCode::Parse),
        (
            format!("?token={}&resume={seat}&seq=-3", token(1)),
            ErrorCode::Parse,
        ),
        (
            format!("?token={}&resume={bobs_seat}&seq=1", token(1)),
            ErrorCode::Unauthorized,
        ),
        (
            format!("?token={}&resume={seat}x&seq=1", token(1)),
            ErrorCode::Unauthorized,
        ),
    ];
    for (query, code) in cases {
        let mut socket = Client::connect(&server.ws_url(&query)).await.unwrap();
        socket.expect_error(code).await;
        // Open, and in no room.
        socket.send("11").await;
        socket.expect_error(ErrorCode::NotInRoom).await;
    }
    // Alice's seat is still hers.
    let mut alice = resume(&server, 1, &seat, seq).await;
    let resumed = parse_server_frame(&alice.next_line().await).unwrap();
    assert!(matches!(resumed, ServerMsg::Resumed { .. }), "{resumed:?}");
}

#[tokio::test]
async fn resuming_replaces_an_older_socket_still_open() {
    let server = TestServer::start().await;
    let (mut old, seq, seat) = seated(&server, 1).await;
    let mut bob = bob_in(&server).await;
    let seen = frame_seq(&old.next_line().await).unwrap().unwrap();
    assert!(seen > seq);
    let mut new = resume(&server, 1, &seat, seen).await;
    let resumed = parse_server_frame(&new.next_line().await).unwrap();
    assert!(
        matches!(resumed, ServerMsg::Resumed { replayed: 0, .. }),
        "{resumed:?}"
    );
    let replaced = parse_server_frame(&old.next_line().await).unwrap();
    assert!(
        matches!(replaced, ServerMsg::ClosePreConnection { .. }),
        "{replaced:?}"
    );
    old.expect_close(4000).await;
    bob.expect_quiet().await;
    new.expect_alive_in_room().await;
}

#[tokio::test]
async fn sockets_that_do_not_opt_in_see_no_seq_and_no_seat() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = seated(&server, 1).await;
    let mut bob = server.connect(2).await;
    bob.send(r#"10{"room_id":"1"}"#).await;
    let sync = bob.next_line().await;
    assert!(sync.starts_with("11") && !sync.contains("\"seq\""), "{sync}");
    assert!(alice.next_line().await.starts_with("10"));
    alice.send("20{\"direction\":2}").await;
    let moved = bob.next_line().await;
    assert!(moved.starts_with("20") && !moved.contains("\"seq\""), "{moved}");
    let own = alice.next_line().await;
    assert!(own.starts_with("20") && own.contains("\"seq\""), "{own}");
    assert_eq!(bob.next_line_within(QUIET).await, None, "no SEAT, nothing else");
    // And a plain socket that drops is LEAVEd at once, as in §8.
    cut(bob);
    let leave = parse_server_frame(&alice.next_line().await).unwrap();
    assert!(
        matches!(leave, ServerMsg::Leave { user } if user.0 == 2),
        "{leave:?}"
    );
}

#[tokio::test]
async fn with_batch_every_message_of_a_joined_frame_has_its_own_seq() {
    let server = TestServer::start().await;
    let mut alice = server.connect_query(1, "&resume=1&batch=1").await;
    alice.send(r#"10{"room_id":"1"}"#).await;
    let first = frame_seq(&alice.next_line().await).unwrap().unwrap();
    assert!(alice.next_line().await.starts_with("12"));
    let mut bob = bob_in(&server).await;
    for _ in 0..3 {
        bob.send("20{\"direction\":2}").await;
    }
    let mut seqs = Vec::new();
    while seqs.len() < 4 {
        let line = alice
            .next_line_within(Duration::from_secs(5))
            .await
            .expect("the room's events");
        seqs.push(frame_seq(&line).unwrap().expect("each message has its seq"));
    }
    assert_eq!(seqs, (first + 1..=first + 4).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_socket_the_server_closes_for_what_it_sent_keeps_no_seat() {
    let server = TestServer::start_with(|args| args.max_frame_bytes = 1024).await;
    let (mut alice, seq, seat) = seated(&server, 1).await;
    let mut bob = bob_in(&server).await;
    assert!(alice.next_line().await.starts_with("10"));
    alice
        .send(&format!("11{{\"pad\":\"{}\"}}", "x".repeat(4096)))
        .await;
    alice.expect_close(1009).await;
    // At once, not after the 20 s grace.
    let leave = bob.next_event_within(Duration::from_secs(5)).await;
    assert!(
        matches!(&leave, Some(common::Event::Msg(ServerMsg::Leave { user })) if user.0 == 1),
        "{leave:?}"
    );
    let mut again = resume(&server, 1, &seat, seq + 1).await;
    again.expect_error(ErrorCode::SeatExpired).await;
}

#[tokio::test]
async fn an_enter_again_on_the_same_socket_gets_its_sync_and_the_same_seat() {
    let server = TestServer::start().await;
    let (mut alice, seq, seat) = seated(&server, 1).await;
    alice.send(r#"10{"room_id":"1"}"#).await;
    let sync = alice.next_line().await;
    assert!(sync.starts_with("11"), "{sync}");
    assert_eq!(frame_seq(&sync).unwrap(), Some(seq));
    let again = parse_server_frame(&alice.next_line().await).unwrap();
    assert!(
        matches!(&again, ServerMsg::Seat { token, .. } if *token == seat),
        "{again:?}"
    );
}

#[tokio::test]
async fn an_enter_from_a_newer_socket_ends_the_seat_and_gives_a_new_one() {
    let server = TestServer::start().await;
    let (alice, seq, old) = seated(&server, 1).await;
    cut(alice);
    let (_again, _, new) = seated(&server, 1).await;
    assert_ne!(new, old);
    let mut stale = resume(&server, 1, &old, seq).await;
    stale.expect_error(ErrorCode::SeatExpired).await;
}

#[tokio::test]
async fn a_build_applied_while_away_is_replayed_as_its_sync() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    let (guest, seen, seat) = seated(&server, 2).await;
    assert!(matches!(owner.next_msg().await, ServerMsg::Enter { .. }));
    cut(guest);
    owner
        .send(r#"40{"map":{"side":9,"gameList":[],"objectList":["w1"],"games":{},"objects":{"w1":{"name":"wall","x":4,"y":4}}}}"#)
        .await;
    let built = owner.next_msg().await;
    assert!(
        matches!(&built, ServerMsg::Sync { room } if room.map.side() == 9),
        "{built:?}"
    );
    let mut guest = resume(&server, 2, &seat, seen).await;
    let resumed = parse_server_frame(&guest.next_line().await).unwrap();
    assert!(
        matches!(resumed, ServerMsg::Resumed { replayed: 1, .. }),
        "{resumed:?}"
    );
    let replayed = guest.next_line().await;
    assert_eq!(frame_seq(&replayed).unwrap(), Some(seen + 1), "{replayed}");
    let ServerMsg::Sync { room } = parse_server_frame(&replayed).unwrap() else {
        panic!("expected the BUILD's SYNC, got {replayed}");
    };
    assert_eq!(room.map.side(), 9);
}

#[tokio::test]
async fn a_legacy_socket_that_authenticates_in_enter_is_never_opted_in() {
    let server = TestServer::start_with(|args| args.legacy_auth = true).await;
    let mut legacy = Client::connect(&server.ws_url("?resume=1")).await.unwrap();
    legacy
        .send(&format!(
            r#"10{{"room_id":"1","authorization":"Bearer {}"}}"#,
            token(1)
        ))
        .await;
    let sync = legacy.next_line().await;
    assert!(sync.starts_with("11") && !sync.contains("\"seq\""), "{sync}");
    assert_eq!(legacy.next_line_within(QUIET).await, None, "no SEAT");
}

#[tokio::test]
async fn a_held_seat_counts_towards_the_rooms_capacity() {
    let server = TestServer::start_with(|args| args.room_capacity = 2).await;
    let (alice, _, _) = seated(&server, 1).await;
    let _bob = bob_in(&server).await;
    cut(alice);
    let mut carol = server.connect(3).await;
    carol.send(r#"10{"room_id":"1"}"#).await;
    carol.expect_error(ErrorCode::RoomFull).await;
}

#[tokio::test]
async fn leave_carries_a_seq_and_error_98_and_seat_carry_none() {
    let server = TestServer::start().await;
    let (mut alice, _, seat) = seated(&server, 1).await;
    let bob = bob_in(&server).await;
    let enter = alice.next_line().await;
    let seen = frame_seq(&enter).unwrap().unwrap();
    cut(bob);
    let leave = alice.next_line().await;
    assert!(leave.starts_with("19"), "{leave}");
    assert_eq!(frame_seq(&leave).unwrap(), Some(seen + 1), "{leave}");
    alice.send("20{\"direction\":9}").await;
    let error = alice.next_line().await;
    assert!(error.starts_with("99") && !error.contains("\"seq\""), "{error}");
    assert!(!seat.is_empty());
    // The 98 of a socket a resume replaces.
    let mut newer = resume(&server, 1, &seat, seen + 1).await;
    assert!(newer.next_line().await.starts_with("13"));
    let replaced = alice.next_line().await;
    assert!(
        replaced.starts_with("98") && !replaced.contains("\"seq\""),
        "{replaced}"
    );
}

#[tokio::test]
async fn a_grace_of_0_turns_resume_off_no_seat_no_seq_and_a_drop_is_a_leave() {
    let server = TestServer::start_with(|args| args.resume_grace_ms = 0).await;
    let mut alice = server.connect_query(1, "&resume=1").await;
    alice.send(r#"10{"room_id":"1"}"#).await;
    let sync = alice.next_line().await;
    assert!(sync.starts_with("11") && !sync.contains("\"seq\""), "{sync}");
    assert_eq!(alice.next_line_within(QUIET).await, None, "no SEAT, nothing else");
    let mut bob = bob_in(&server).await;
    assert!(alice.next_line().await.starts_with("10"));
    // Dropped, alice leaves at once (§8): there is no seat to hold.
    cut(alice);
    let leave = parse_server_frame(&bob.next_line().await).unwrap();
    assert!(
        matches!(leave, ServerMsg::Leave { user } if user.0 == 1),
        "{leave:?}"
    );
}
