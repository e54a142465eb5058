//! A resume the room does not answer in time (issue 25.11): the seat stays
//! held (PROTOCOL.md §9), whether or not the room takes the resume up late.
//! Time is paused; the room's task is stalled through the engine's test hook.

use std::sync::Arc;
use std::time::Duration;

use room_core::{ClientMsg, ErrorCode, RoomId, ServerMsg, UserId, frame_seq, parse_server_frame};
use room_ports::{MapStore, UserSeed};

use crate::memory::MemoryMapStore;
use crate::outbox::Next;
use crate::{Engine, EngineConfig, SeatKey, Session};

const FORWARD: Duration = Duration::from_secs(1);
const GRACE: Duration = Duration::from_secs(30);

fn key() -> SeatKey {
    SeatKey::derive(b"a secret for the session tests, 32 bytes at least")
}

async fn engine() -> Engine {
    let store = MemoryMapStore::new();
    let users: Vec<UserSeed> = (1..=2)
        .map(|id| UserSeed {
            user: UserId(id),
            nickname: format!("user{id}"),
            games: Vec::new(),
        })
        .collect();
    store.seed_users(&users).await.unwrap();
    Engine::builder(Arc::new(store))
        .seat_key(key())
        .config(EngineConfig {
            forward_timeout: FORWARD,
            resume_grace: GRACE,
            ..EngineConfig::default()
        })
        .build()
}

fn opted_in(engine: &Engine, user: u64) -> Session {
    engine.open_session_with_outbox(
        UserId(user),
        format!("user{user}"),
        engine.new_socket_outbox(false, true),
    )
}

async fn next_line(session: &Session) -> String {
    match tokio::time::timeout(GRACE / 2, session.outbox().next(1)).await {
        Ok(Next::Frames(frames)) => frames[0].as_str().to_owned(),
        Ok(Next::Close(reason)) => panic!("closed: {reason:?}"),
        Err(_) => panic!("nothing arrived"),
    }
}

fn enter(room: u64) -> ClientMsg {
    ClientMsg::Enter {
        room_id: RoomId(room),
        authorization: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_resume_the_room_answers_too_late_keeps_the_seat() {
    let engine = engine().await;
    let mut alice = engine.open_session(UserId(1), "user1".into());
    alice.handle(enter(1)).await;
    assert!(next_line(&alice).await.starts_with("11"));
    let mut bob = opted_in(&engine, 2);
    bob.handle(enter(1)).await;
    let seq = frame_seq(&next_line(&bob).await).unwrap().expect("a seq");
    let ServerMsg::Seat { token, .. } = parse_server_frame(&next_line(&bob).await).unwrap() else {
        panic!("expected SEAT");
    };
    let seat = key().verify(&token, UserId(2)).unwrap().seat;
    assert!(next_line(&alice).await.starts_with("10"), "bob entered");

    // Bob's socket drops; his new one resumes while the room is stuck.
    bob.hold_seat();
    tokio::time::sleep(Duration::from_millis(10)).await;
    engine.faults.stall(RoomId(1));
    let mut late = opted_in(&engine, 2);
    late.resume(RoomId(1), seat, seq).await;
    match parse_server_frame(&next_line(&late).await).unwrap() {
        ServerMsg::Error { code, .. } => assert_eq!(code, ErrorCode::Unavailable),
        other => panic!("expected 76503, got {other:?}"),
    }
    assert_eq!(late.room(), None);
    // The room comes back and takes that resume up late.
    engine.faults.let_go(RoomId(1));
    tokio::time::sleep(GRACE / 3).await;
    assert!(alice.outbox().is_empty(), "alice was told something: bob left?");

    // The seat is still held: resuming again is RESUMED, not 76408.
    let mut again = opted_in(&engine, 2);
    again.resume(RoomId(1), seat, seq).await;
    let answer = next_line(&again).await;
    assert!(
        matches!(parse_server_frame(&answer).unwrap(), ServerMsg::Resumed { .. }),
        "{answer}"
    );
    assert_eq!(again.room(), Some(RoomId(1)));
    drop(late);
}
