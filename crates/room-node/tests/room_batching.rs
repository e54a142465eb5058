//! batch=1 sockets: the room queues one joined frame per tick per socket,
//! with exactly the messages (and order) an unbatched socket gets.
//! Time is paused: ticks pass only when every task is idle.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::take;
use room_core::{ClientMsg, Direction, RoomId, UserId};
use room_node::memory::MemoryMapStore;
use room_node::{CloseReason, Engine, EngineConfig, Frame, Next, Session};
use room_ports::MapStore;

const TICK: Duration = Duration::from_millis(25);

async fn engine(capacity: usize) -> Engine {
    let store = Arc::new(MemoryMapStore::new());
    store.seed_users(&common::users(4)).await.unwrap();
    Engine::builder(store)
        .config(EngineConfig {
            outbox_capacity: capacity,
            tick: TICK,
            ..EngineConfig::default()
        })
        .build()
}

fn enter() -> ClientMsg {
    ClientMsg::Enter {
        room_id: RoomId(1),
        authorization: None,
    }
}

fn step(i: usize) -> ClientMsg {
    let direction = if i.is_multiple_of(2) {
        Direction::Right
    } else {
        Direction::Left
    };
    ClientMsg::Move { direction }
}

async fn open(engine: &Engine, user: u64, batched: bool) -> Session {
    let outbox = if batched {
        engine.new_batch_outbox()
    } else {
        engine.new_outbox()
    };
    let mut session = engine.open_session_with_outbox(UserId(user), format!("user{user}"), outbox);
    session.handle(enter()).await;
    session
}

/// Let every task run and a few ticks pass.
async fn settle() {
    tokio::time::sleep(TICK * 4).await;
}

fn messages(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .flat_map(|f| f.as_str().split('\n').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn batched_sockets_get_one_shared_frame_per_tick_with_the_unbatched_messages() {
    let engine = engine(64).await;
    let mut plain = open(&engine, 1, false).await;
    let mut a = open(&engine, 2, true).await;
    let mut b = open(&engine, 3, true).await;
    settle().await;
    for session in [&plain, &a, &b] {
        take(session.outbox());
    }

    // Within one tick: every user moves twice.
    for i in 0..2 {
        for session in [&mut plain, &mut a, &mut b] {
            session.handle(step(i)).await;
        }
    }
    settle().await;

    let plain_frames = take(plain.outbox());
    assert_eq!(plain_frames.len(), 6, "unbatched: one frame per message");
    assert!(plain_frames.iter().all(|f| !f.joined));
    let (a_frames, b_frames) = (take(a.outbox()), take(b.outbox()));
    // One frame per tick; the first move after a quiet spell may go out at once.
    assert!((1..=2).contains(&a_frames.len()), "{} frames", a_frames.len());
    assert!(a_frames.iter().all(|f| f.joined));
    assert_eq!(messages(&a_frames), messages(&plain_frames));
    assert_eq!(messages(&b_frames), messages(&plain_frames));
    // The same bytes for both: joined once per tick.
    assert_eq!(a_frames.len(), b_frames.len());
    for (a, b) in a_frames.iter().zip(&b_frames) {
        assert_eq!(a.bytes.as_ptr(), b.bytes.as_ptr());
    }
}

#[tokio::test(start_paused = true)]
async fn a_batched_sockets_own_messages_keep_their_place() {
    let engine = engine(64).await;
    let mut plain = open(&engine, 1, false).await;
    let mut a = open(&engine, 2, true).await;
    let b = open(&engine, 3, true).await;
    settle().await;
    for session in [&plain, &a, &b] {
        take(session.outbox());
    }

    plain.handle(step(0)).await;
    a.handle(ClientMsg::Sync).await;
    plain.handle(step(1)).await;
    settle().await;

    let plain_messages = messages(&take(plain.outbox()));
    assert_eq!(plain_messages.len(), 2);
    let a_messages = messages(&take(a.outbox()));
    assert_eq!(a_messages.len(), 3);
    assert_eq!(a_messages[0], plain_messages[0]);
    assert!(
        a_messages[1].starts_with("11"),
        "SYNC between the moves: {a_messages:?}"
    );
    assert_eq!(a_messages[2], plain_messages[1]);
    assert_eq!(messages(&take(b.outbox())), plain_messages);
}

#[tokio::test(start_paused = true)]
async fn a_batched_socket_that_does_not_read_keeps_the_latest_move_per_user() {
    let engine = engine(4).await;
    let mut mover = open(&engine, 1, false).await;
    let mut other = open(&engine, 3, false).await;
    let slow = open(&engine, 2, true).await;
    settle().await;
    take(mover.outbox());
    take(other.outbox());
    take(slow.outbox());

    // Many ticks of moves; `slow` reads nothing meanwhile.
    for i in 0..40 {
        mover.handle(step(i)).await;
        other.handle(step(i)).await;
        take(mover.outbox());
        take(other.outbox());
        tokio::time::sleep(TICK).await;
    }
    mover.handle(ClientMsg::Sync).await;
    settle().await;
    let last = take(mover.outbox());
    let sync = last
        .iter()
        .map(Frame::as_str)
        .find(|m| m.starts_with("11"))
        .expect("the SYNC");

    assert!(
        !slow.outbox().is_closing(),
        "moves alone never close a slow socket"
    );
    // Its queue is full; drain it and let the held-back batch go out.
    let mut seen = messages(&take(slow.outbox()));
    settle().await;
    seen.extend(messages(&take(slow.outbox())));
    let last_move_of = |user: u64| {
        seen.iter()
            .rev()
            .find(|m| m.starts_with("20") && m.contains(&format!("\"user_id\":\"{user}\"")))
            .cloned()
            .unwrap_or_else(|| panic!("a move of {user} in {seen:?}"))
    };
    // The positions it ends with are the users' latest ones (as the SYNC says).
    for user in [1, 3] {
        let moved = last_move_of(user);
        let cell = &moved[moved.find("\"x\"").unwrap()..moved.find('}').unwrap()];
        assert!(sync.contains(cell), "{moved} vs {sync}");
    }
    assert!(seen.len() < 80, "coalesced: {} messages", seen.len());
}

#[tokio::test(start_paused = true)]
async fn a_replaced_batched_socket_gets_its_pending_messages_before_the_close() {
    let engine = engine(64).await;
    let mut plain = open(&engine, 1, false).await;
    let old = open(&engine, 2, true).await;
    settle().await;
    take(plain.outbox());
    take(old.outbox());

    plain.handle(step(0)).await;
    let _new = open(&engine, 2, true).await;
    settle().await;

    let frames = take(old.outbox());
    let got = messages(&frames);
    assert!(got.len() >= 2, "{got:?}");
    assert!(got[0].starts_with("20"), "the move first: {got:?}");
    assert!(
        got.last().unwrap().starts_with("98"),
        "the replacement message last: {got:?}"
    );
    assert!(matches!(
        old.outbox().try_next(usize::MAX),
        Some(Next::Close(CloseReason::Replaced))
    ));
}
