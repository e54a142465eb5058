//! A graceful shutdown of one node: it waits for its sessions to go and its
//! rooms to end, and no longer than its grace. On tokio's paused clock, so
//! "when" is exact and costs no real time.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use room_core::{ClientMsg, Map, RoomId, UserId, parse_client_frame};
use room_node::memory::MemoryMapStore;
use room_node::{CloseReason, Engine, Next};
use room_ports::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};
use tokio::sync::watch;
use tokio::time::Instant;

/// Guards against hangs only.
const PATIENCE: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(10);

async fn engine() -> Engine {
    Engine::builder(seeded(MemoryMapStore::new()).await).build()
}

async fn seeded<S: MapStore>(store: S) -> Arc<S> {
    let owner = UserSeed {
        user: UserId(1),
        nickname: "alice".into(),
        games: Vec::new(),
    };
    store.seed_users(&[owner]).await.unwrap();
    Arc::new(store)
}

/// The memory store, with saves held until the gate opens.
struct SlowSaves {
    inner: MemoryMapStore,
    gate: watch::Receiver<bool>,
    /// Set when a save has begun.
    saving: watch::Sender<bool>,
}

#[async_trait]
impl MapStore for SlowSaves {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        self.inner.load_room(room).await
    }

    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        self.inner.owned_games(user).await
    }

    async fn save_map(
        &self,
        room: RoomId,
        map: &Map,
        expected_version: u64,
        epoch: u64,
    ) -> Result<u64, StoreError> {
        self.saving.send_replace(true);
        let mut gate = self.gate.clone();
        let _ = gate.wait_for(|open| *open).await;
        self.inner.save_map(room, map, expected_version, epoch).await
    }

    async fn seed_users(&self, users: &[UserSeed]) -> Result<(), StoreError> {
        self.inner.seed_users(users).await
    }

    async fn list_users(&self, limit: usize) -> Result<Vec<UserSummary>, StoreError> {
        self.inner.list_users(limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

fn enter(room: u64) -> ClientMsg {
    ClientMsg::Enter {
        room_id: RoomId(room),
        authorization: None,
    }
}

/// Read the outbox until it says close; the reason.
async fn closed(outbox: &room_node::Outbox) -> CloseReason {
    loop {
        match tokio::time::timeout(PATIENCE, outbox.next(64)).await {
            Ok(Next::Close(reason)) => return reason,
            Ok(Next::Frames(_)) => continue,
            Err(_) => panic!("the outbox was never closed"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_moment_the_last_session_is_gone_and_its_room_has_ended() {
    let engine = engine().await;
    let mut session = engine.open_session(UserId(1), "alice".into());
    session.handle(enter(1)).await;
    assert_eq!(engine.room_count(), 1);
    let outbox = session.outbox().clone();

    let stopping = tokio::spawn({
        let engine = engine.clone();
        async move { engine.shutdown(GRACE).await }
    });
    assert_eq!(closed(&outbox).await, CloseReason::GoingAway);
    // The socket's writer takes a while to notice; its session goes then.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let gone_at = Instant::now();
    drop(session);
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("shutdown ended")
        .unwrap();
    assert_eq!(
        Instant::now() - gone_at,
        Duration::ZERO,
        "shutdown ended later than the session and its room (polling?)"
    );
    assert_eq!(engine.session_count(), 0);
    assert_eq!(engine.room_count(), 0, "shutdown ended before the room task");
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_up_at_its_grace_when_a_session_stays_open() {
    let engine = engine().await;
    let mut session = engine.open_session(UserId(1), "alice".into());
    session.handle(enter(1)).await;
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, engine.shutdown(GRACE))
        .await
        .expect("shutdown ended");
    assert_eq!(Instant::now() - started, GRACE);
    // Nothing was taken from the session that stayed: still open, still in its room.
    assert_eq!(engine.session_count(), 1);
    assert_eq!(engine.loaded_rooms(), vec![RoomId(1)]);
    assert_eq!(session.room(), Some(RoomId(1)));
}

#[tokio::test(start_paused = true)]
async fn shutdown_of_an_idle_engine_ends_at_once() {
    let engine = engine().await;
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, engine.shutdown(GRACE))
        .await
        .expect("shutdown ended");
    assert_eq!(Instant::now() - started, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_room_to_finish_the_save_it_started() {
    let (opener, gate) = watch::channel(false);
    let (saving, mut save_begun) = watch::channel(false);
    let store = seeded(SlowSaves {
        inner: MemoryMapStore::new(),
        gate,
        saving,
    })
    .await;
    let engine = Engine::builder(store.clone()).build();
    let mut session = engine.open_session(UserId(1), "alice".into());
    session.handle(enter(1)).await;
    let build = r#"40{"map":{"side":9,"gameList":[],"objectList":[],"games":{},"objects":{}}}"#;
    session.handle(parse_client_frame(build).unwrap()).await;
    tokio::time::timeout(PATIENCE, save_begun.wait_for(|begun| *begun))
        .await
        .expect("the BUILD's save began")
        .unwrap();

    let mut stopping = tokio::spawn({
        let engine = engine.clone();
        async move { engine.shutdown(GRACE).await }
    });
    drop(session);
    // The session is gone, the room is not: its save is still out.
    let early = tokio::time::timeout(GRACE / 2, &mut stopping).await;
    assert!(early.is_err(), "shutdown ended with a save in flight");
    assert_eq!(engine.room_count(), 1);

    opener.send(true).unwrap();
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("shutdown ended")
        .unwrap();
    assert_eq!(engine.room_count(), 0);
    let stored = store.load_room(RoomId(1)).await.unwrap().expect("room 1 exists");
    assert_eq!(stored.version, 1, "the BUILD under way at shutdown was stored");
    assert_eq!(stored.map.map(|doc| doc.side), Some(9));
}
