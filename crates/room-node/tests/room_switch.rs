//! A socket that ENTERs another room gets nothing of the old room after the
//! new room's SYNC (issue 25.9): both rooms push into its one outbox, and the
//! old room may still be working through what it was sent before the LEAVE.
//! Time is paused and the runtime has one thread, so the interleaving below
//! is the same at every run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{server_messages, take};
use room_core::{ClientMsg, Direction, RoomId, ServerMsg, UserId};
use room_node::memory::MemoryMapStore;
use room_node::{Engine, EngineConfig, Session};
use room_ports::MapStore;

async fn engine() -> Engine {
    let store = Arc::new(MemoryMapStore::new());
    store.seed_users(&common::users(3)).await.unwrap();
    Engine::builder(store)
        .config(EngineConfig {
            // Big enough that nothing is coalesced: every frame pushed is seen.
            outbox_capacity: 8192,
            outbox_bytes: 64 << 20,
            ..EngineConfig::default()
        })
        .build()
}

async fn enter(session: &mut Session, room: u64) {
    session
        .handle(ClientMsg::Enter {
            room_id: RoomId(room),
            authorization: None,
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn after_the_new_rooms_sync_nothing_of_the_old_room_arrives() {
    let engine = engine().await;
    let mut switcher = engine.open_session(UserId(3), "user3".into());
    let mut mover = engine.open_session(UserId(2), "user2".into());
    enter(&mut switcher, 1).await;
    enter(&mut mover, 1).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    take(switcher.outbox());
    take(mover.outbox());

    // Room 1's mailbox fills with MOVEs before its task runs again, so the
    // switcher's LEAVE waits behind them while room 2 answers its ENTER.
    // (Full once a MOVE is refused with 76503; none is handled before that.)
    let mut sent = 0;
    for i in 0.. {
        let direction = if i % 2 == 0 {
            Direction::Right
        } else {
            Direction::Left
        };
        mover.handle(ClientMsg::Move { direction }).await;
        let refused = server_messages(&take(mover.outbox()));
        if refused.iter().any(|m| matches!(m, ServerMsg::Error { .. })) {
            break;
        }
        sent += 1;
        assert!(i < 100_000, "room 1's mailbox never filled");
    }
    enter(&mut switcher, 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let messages = server_messages(&take(switcher.outbox()));
    let sync = messages
        .iter()
        .position(|m| matches!(m, ServerMsg::Sync { room } if room.room_id == RoomId(2)))
        .expect("room 2's SYNC");
    let moves_before = messages[..sync]
        .iter()
        .filter(|m| matches!(m, ServerMsg::Move { .. }))
        .count();
    let late: Vec<_> = messages[sync..]
        .iter()
        .filter(|m| matches!(m, ServerMsg::Move { user, .. } if *user == UserId(2)))
        .collect();
    assert!(
        late.is_empty(),
        "{} of room 1's MOVEs after room 2's SYNC ({moves_before} before it)",
        late.len()
    );
    assert!(
        moves_before < sent,
        "room 1 was still working through its mailbox when room 2 answered"
    );
    assert_eq!(switcher.room(), Some(RoomId(2)));
}
