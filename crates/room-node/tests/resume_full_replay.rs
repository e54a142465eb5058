//! A resume that missed as many events as the room keeps (PROTOCOL.md §9,
//! `--resume-log`, default 512) gets them all: the replay and its
//! `13 RESUMED` fit the new socket's queue, which never waits and would
//! otherwise coalesce the replay (a `seq` gap) or close with 1013. Where the
//! replay cannot fit (a small `--outbox-bytes`), the answer is a fresh SYNC
//! and a new SEAT, as §9 allows for "more than the room keeps".

use std::sync::Arc;
use std::time::Duration;

use room_core::{ClientMsg, Direction, RoomId, ServerMsg, UserId, frame_seq, parse_server_frame};
use room_node::memory::MemoryMapStore;
use room_node::{Engine, EngineConfig, Next, SeatKey, Session};
use room_ports::{MapStore, UserSeed};

const WAIT: Duration = Duration::from_secs(10);

fn key() -> SeatKey {
    SeatKey::derive(b"the full replay tests' secret, long enough")
}

async fn engine(config: EngineConfig) -> Engine {
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
        .config(config)
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
    match tokio::time::timeout(WAIT, session.outbox().next(1)).await {
        Ok(Next::Frames(frames)) => frames[0].as_str().to_owned(),
        Ok(Next::Close(reason)) => panic!("closed: {reason:?}"),
        Err(_) => panic!("nothing arrived"),
    }
}

fn drain(session: &Session) {
    while let Some(Next::Frames(_)) = session.outbox().try_next(usize::MAX) {}
}

/// Alice (legacy) and Bob (opted in) in room 1; Bob's socket drops, Alice
/// moves `moves` times. Returns the engine, Alice, Bob's seat and last `seq`.
async fn bob_misses(config: EngineConfig, moves: usize) -> (Engine, Session, u64, u64) {
    let engine = engine(config).await;
    let mut alice = engine.open_session(UserId(1), "user1".into());
    alice
        .handle(ClientMsg::Enter {
            room_id: RoomId(1),
            authorization: None,
        })
        .await;
    let mut bob = opted_in(&engine, 2);
    bob.handle(ClientMsg::Enter {
        room_id: RoomId(1),
        authorization: None,
    })
    .await;
    let seq = frame_seq(&next_line(&bob).await).unwrap().expect("a seq");
    let ServerMsg::Seat { token, .. } = parse_server_frame(&next_line(&bob).await).unwrap() else {
        panic!("expected SEAT");
    };
    let seat = key().verify(&token, UserId(2)).unwrap().seat;
    bob.hold_seat();
    for i in 0..moves {
        let direction = if i % 2 == 0 {
            Direction::Right
        } else {
            Direction::Left
        };
        alice.handle(ClientMsg::Move { direction }).await;
        drain(&alice);
    }
    (engine, alice, seat, seq)
}

#[tokio::test]
async fn a_resume_that_missed_the_whole_log_gets_every_event_with_the_default_queue() {
    let config = EngineConfig::default();
    let log = config.resume_log;
    assert_eq!(
        (log, config.outbox_capacity),
        (512, 512),
        "the defaults this is about"
    );
    let (engine, _alice, seat, seq) = bob_misses(config, log).await;

    let mut again = opted_in(&engine, 2);
    again.resume(RoomId(1), seat, seq).await;
    let answer = next_line(&again).await;
    let ServerMsg::Resumed {
        seq: last, replayed, ..
    } = parse_server_frame(&answer).unwrap()
    else {
        panic!("expected RESUMED, got {answer}");
    };
    assert_eq!((replayed, last), (log as u64, seq + log as u64), "{answer}");
    let mut seqs = Vec::new();
    while seqs.len() < log {
        seqs.push(frame_seq(&next_line(&again).await).unwrap().expect("a seq"));
    }
    let every: Vec<u64> = (seq + 1..=seq + log as u64).collect();
    assert_eq!(seqs, every, "exactly the missed events, none coalesced");
    assert!(!again.outbox().is_closing());
}

#[tokio::test]
async fn a_replay_that_cannot_fit_the_socket_is_a_sync_and_a_new_seat() {
    let config = EngineConfig {
        outbox_bytes: 8 * 1024,
        ..EngineConfig::default()
    };
    let (engine, mut alice, seat, seq) = bob_misses(config, 400).await;

    let mut again = opted_in(&engine, 2);
    again.resume(RoomId(1), seat, seq).await;
    let answer = next_line(&again).await;
    assert!(
        matches!(parse_server_frame(&answer).unwrap(), ServerMsg::Sync { .. }),
        "400 moves are more than 8 KiB: {answer}"
    );
    let now = frame_seq(&answer).unwrap().expect("a seq");
    assert_eq!(now, seq + 400, "the SYNC holds every missed event");
    let ServerMsg::Seat { token, .. } = parse_server_frame(&next_line(&again).await).unwrap() else {
        panic!("expected a new SEAT");
    };
    assert_ne!(key().verify(&token, UserId(2)).unwrap().seat, seat, "a new seat");
    // The room goes on live, numbered on from the SYNC.
    alice
        .handle(ClientMsg::Move {
            direction: Direction::Right,
        })
        .await;
    assert_eq!(frame_seq(&next_line(&again).await).unwrap(), Some(now + 1));
    assert!(!again.outbox().is_closing());
}
