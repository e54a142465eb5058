//! PROTOCOL/DESIGN fast path: a MOVE in a room hosted on this node touches no
//! backing service. The room is loaded from the store once, at ENTER; after
//! that, any number of moves makes no further store call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use room_core::{ClientMsg, Direction, Map, RoomId, UserId};
use room_node::memory::MemoryMapStore;
use room_node::{Engine, EngineConfig, Next};
use room_ports::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};

/// A MapStore that counts every call before passing it on.
#[derive(Default)]
struct CountingStore {
    inner: MemoryMapStore,
    calls: AtomicU64,
    loads: AtomicU64,
}

impl CountingStore {
    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl MapStore for CountingStore {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        self.count();
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_room(room).await
    }
    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        self.count();
        self.inner.owned_games(user).await
    }
    async fn save_map(&self, room: RoomId, map: &Map, expected: u64, epoch: u64) -> Result<u64, StoreError> {
        self.count();
        self.inner.save_map(room, map, expected, epoch).await
    }
    async fn seed_users(&self, users: &[UserSeed]) -> Result<(), StoreError> {
        self.count();
        self.inner.seed_users(users).await
    }
    async fn list_users(&self, limit: usize) -> Result<Vec<UserSummary>, StoreError> {
        self.count();
        self.inner.list_users(limit).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.count();
        self.inner.ping().await
    }
}

/// Take MOVE frames from `outbox` until `want` have arrived (or 10 s pass).
async fn moves_received(outbox: &room_node::Outbox, want: usize) -> usize {
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got < want {
        let Ok(next) = tokio::time::timeout_at(deadline, outbox.next(usize::MAX)).await else {
            break;
        };
        match next {
            Next::Frames(frames) => got += frames.iter().filter(|f| f.as_str().starts_with("20")).count(),
            Next::Close(_) => break,
        }
    }
    got
}

#[tokio::test]
async fn moves_in_a_hosted_room_make_no_store_call() {
    let store = Arc::new(CountingStore::default());
    store
        .seed_users(&[UserSeed {
            user: UserId(1),
            nickname: "owner".into(),
            games: vec![],
        }])
        .await
        .unwrap();
    let engine = Engine::new(store.clone(), EngineConfig::default());
    let mut owner = engine.open_session(UserId(1), "owner".into());
    let guest = engine.open_session(UserId(2), "guest".into());
    let mut guest = guest;
    for session in [&mut owner, &mut guest] {
        session
            .handle(ClientMsg::Enter {
                room_id: RoomId(1),
                authorization: None,
            })
            .await;
    }
    assert_eq!(guest.room(), Some(RoomId(1)));
    let after_enter = store.calls.load(Ordering::SeqCst);
    assert_eq!(
        store.loads.load(Ordering::SeqCst),
        1,
        "the room is loaded once, at the first ENTER"
    );

    let moves = 400;
    for i in 0..moves {
        let direction = if i % 2 == 0 {
            Direction::Right
        } else {
            Direction::Left
        };
        owner.handle(ClientMsg::Move { direction }).await;
    }
    // Every move reached the other session, so the room task handled them all...
    assert_eq!(moves_received(guest.outbox(), moves).await, moves);
    // ...and none of them touched the store.
    assert_eq!(
        store.calls.load(Ordering::SeqCst),
        after_enter,
        "a MOVE made a store call"
    );
}
