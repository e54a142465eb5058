//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

pub mod pair;

use room_core::{ClientMsg, RoomId, ServerMsg, UserId, parse_server_frame};
use room_node::{Engine, Frame, Next, Outbox, Session};
use room_ports::UserSeed;

/// A memory store knowing alice (1) and bob (2), who own no games.
pub async fn alice_and_bob() -> std::sync::Arc<room_node::memory::MemoryMapStore> {
    use room_ports::MapStore;
    let store = room_node::memory::MemoryMapStore::new();
    let users = [(1, "alice"), (2, "bob")].map(|(id, nickname)| UserSeed {
        user: UserId(id),
        nickname: nickname.into(),
        games: Vec::new(),
    });
    store.seed_users(&users).await.unwrap();
    std::sync::Arc::new(store)
}

/// Users 1..=n, named `user{id}`, owning no games.
pub fn users(n: u64) -> Vec<UserSeed> {
    (1..=n)
        .map(|id| UserSeed {
            user: UserId(id),
            nickname: format!("user{id}"),
            games: Vec::new(),
        })
        .collect()
}

/// A session of `user` (batch=1 if `batched`) that has sent ENTER into room 1.
pub async fn enter_room_1(engine: &Engine, user: u64, batched: bool) -> Session {
    let outbox = if batched {
        engine.new_batch_outbox()
    } else {
        engine.new_outbox()
    };
    let mut session = engine.open_session_with_outbox(UserId(user), format!("user{user}"), outbox);
    session
        .handle(ClientMsg::Enter {
            room_id: RoomId(1),
            authorization: None,
        })
        .await;
    session
}

/// Everything queued now, as the writer would take it; panics on a close.
pub fn take(outbox: &Outbox) -> Vec<Frame> {
    match outbox.try_next(usize::MAX) {
        Some(Next::Frames(frames)) => frames,
        None => Vec::new(),
        Some(Next::Close(reason)) => panic!("closed with {reason:?}"),
    }
}

/// The messages of `frames`, joined ones split.
pub fn server_messages(frames: &[Frame]) -> Vec<ServerMsg> {
    frames
        .iter()
        .flat_map(|f| {
            f.as_str()
                .split('\n')
                .map(|m| parse_server_frame(m).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}
