//! Resume (PROTOCOL.md §9) across two engines of one process over the
//! in-memory ports: the seat lives with the room's host, so a socket that
//! dropped on one node takes it up again on the other, and gets what it missed.

mod common;

use std::time::Duration;

use common::pair::{Shared, enter, next_line, node_builder, shared};
use room_core::{ClientMsg, Direction, RoomId, ServerMsg, UserId, frame_seq, parse_server_frame};
use room_node::{Engine, Next, SeatKey, Session};

fn key() -> SeatKey {
    SeatKey::derive(b"one cluster's secret, on every node")
}

fn node(shared: &Shared, id: &str) -> Engine {
    node_builder(shared, id).seat_key(key()).build()
}

/// A session whose socket opted into resume.
fn opted_in(engine: &Engine, user: u64, nickname: &str) -> Session {
    engine.open_session_with_outbox(
        UserId(user),
        nickname.into(),
        engine.new_socket_outbox(false, true),
    )
}

async fn quiet(session: &Session) {
    let next = tokio::time::timeout(Duration::from_millis(300), session.outbox().next(1)).await;
    if let Ok(Next::Frames(frames)) = next {
        panic!("expected nothing, got {:?}", frames[0].as_str());
    }
}

/// `session` enters room 1: the seq of its SYNC and its seat.
async fn sit(session: &mut Session) -> (u64, u64) {
    session.handle(enter(1)).await;
    let sync = next_line(session).await;
    assert!(sync.starts_with("11"), "{sync}");
    let seq = frame_seq(&sync).unwrap().expect("SYNC has a seq");
    let ServerMsg::Seat { token, .. } = parse_server_frame(&next_line(session).await).unwrap() else {
        panic!("expected SEAT");
    };
    let claim = key().verify(&token, session.user()).expect("a token of ours");
    (seq, claim.seat)
}

async fn moved_twice(alice: &mut Session) {
    for _ in 0..2 {
        alice
            .handle(ClientMsg::Move {
                direction: Direction::Down,
            })
            .await;
        assert!(next_line(alice).await.starts_with("20"));
    }
}

/// Bob's new session asks for his seat: RESUMED says how many it replays.
async fn resumed(bob: &mut Session, seat: u64, seq: u64) -> Vec<String> {
    bob.resume(RoomId(1), seat, seq).await;
    let first = next_line(bob).await;
    let ServerMsg::Resumed {
        seq: last, replayed, ..
    } = parse_server_frame(&first).unwrap()
    else {
        panic!("expected RESUMED, got {first}");
    };
    let mut lines = Vec::new();
    for _ in 0..replayed {
        lines.push(next_line(bob).await);
    }
    assert_eq!(last, seq + replayed, "{first}");
    lines
}

#[tokio::test]
async fn a_seat_of_a_relayed_socket_is_resumed_on_the_host_with_what_it_missed() {
    let shared = shared().await;
    let (a, b) = (node(&shared, "a"), node(&shared, "b"));
    let mut alice = a.open_session(UserId(1), "alice".into());
    alice.handle(enter(1)).await;
    assert!(next_line(&alice).await.starts_with("11"));
    let mut bob = opted_in(&b, 2, "bob");
    let (seen, seat) = sit(&mut bob).await;
    assert!(next_line(&alice).await.starts_with("10"), "alice sees bob enter");
    bob.hold_seat();
    moved_twice(&mut alice).await;
    let mut bob = opted_in(&a, 2, "bob");
    let replay = resumed(&mut bob, seat, seen).await;
    let seqs: Vec<Option<u64>> = replay.iter().map(|l| frame_seq(l).unwrap()).collect();
    assert_eq!(seqs, vec![Some(seen + 1), Some(seen + 2)], "{replay:?}");
    quiet(&alice).await;
}

#[tokio::test]
async fn a_seat_of_a_hosted_socket_is_resumed_through_a_relay() {
    let shared = shared().await;
    let (a, b) = (node(&shared, "a"), node(&shared, "b"));
    let mut bob = opted_in(&a, 2, "bob");
    let (_, seat) = sit(&mut bob).await;
    let mut alice = b.open_session(UserId(1), "alice".into());
    alice.handle(enter(1)).await;
    assert!(next_line(&alice).await.starts_with("11"));
    let enter = next_line(&bob).await;
    let seen = frame_seq(&enter).unwrap().expect("ENTER has a seq");
    bob.hold_seat();
    moved_twice(&mut alice).await;
    let mut bob = opted_in(&b, 2, "bob");
    let replay = resumed(&mut bob, seat, seen).await;
    assert_eq!(replay.len(), 2, "{replay:?}");
    assert!(replay.iter().all(|l| l.starts_with("20")));
    // And the room goes on live for him through the relay, numbered.
    alice
        .handle(ClientMsg::Move {
            direction: Direction::Right,
        })
        .await;
    let live = next_line(&bob).await;
    assert_eq!(frame_seq(&live).unwrap(), Some(seen + 3), "{live}");
    assert!(next_line(&alice).await.starts_with("20"));
    quiet(&alice).await;
}
