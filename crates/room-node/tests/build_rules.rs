//! What a room does with a flood of BUILDs, with a map stored by another
//! writer meanwhile, and with a save whose answer was lost (issue 13, items 6
//! and 8). Time is paused: ticks pass only when every task is idle.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use async_trait::async_trait;
use room_core::{ClientMsg, ErrorCode, Map, MapDoc, RoomId, ServerMsg, UserId, parse_client_frame};
use room_node::memory::MemoryMapStore;
use room_node::{Engine, EngineConfig, Session};
use room_ports::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};
use tokio::sync::watch;

/// How a save is answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SaveAnswer {
    Honest,
    /// Stored, but the answer is lost (a timeout after the commit).
    StoredButLost,
    /// Saved as a cluster host under this lease epoch would save (the node
    /// here holds no lease, and a save under none is never fenced).
    UnderEpoch(u64),
}

/// The memory store, with library lookups held until the gate opens.
struct Store {
    inner: MemoryMapStore,
    gate: watch::Receiver<bool>,
    lookups_now: AtomicUsize,
    lookups_most: AtomicUsize,
    answer: Mutex<SaveAnswer>,
}

#[async_trait]
impl MapStore for Store {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        self.inner.load_room(room).await
    }

    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        let now = self.lookups_now.fetch_add(1, Ordering::SeqCst) + 1;
        self.lookups_most.fetch_max(now, Ordering::SeqCst);
        let mut gate = self.gate.clone();
        let _ = gate.wait_for(|open| *open).await;
        self.lookups_now.fetch_sub(1, Ordering::SeqCst);
        self.inner.owned_games(user).await
    }

    async fn save_map(
        &self,
        room: RoomId,
        map: &Map,
        expected_version: u64,
        epoch: u64,
    ) -> Result<u64, StoreError> {
        let answer = std::mem::replace(&mut *self.answer.lock().unwrap(), SaveAnswer::Honest);
        let epoch = match answer {
            SaveAnswer::UnderEpoch(lease) => lease,
            _ => epoch,
        };
        let saved = self.inner.save_map(room, map, expected_version, epoch).await;
        match answer {
            SaveAnswer::Honest | SaveAnswer::UnderEpoch(_) => saved,
            SaveAnswer::StoredButLost => Err(StoreError::Unavailable("operation timed out".into())),
        }
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

async fn setup(open: bool) -> (Engine, Arc<Store>, watch::Sender<bool>) {
    let (opener, gate) = watch::channel(open);
    let store = Arc::new(Store {
        inner: MemoryMapStore::new(),
        gate,
        lookups_now: AtomicUsize::new(0),
        lookups_most: AtomicUsize::new(0),
        answer: Mutex::new(SaveAnswer::Honest),
    });
    store.seed_users(&common::users(2)).await.unwrap();
    let engine = Engine::builder(store.clone())
        .config(EngineConfig::default())
        .build();
    (engine, store, opener)
}

async fn open(engine: &Engine, user: u64) -> Session {
    common::enter_room_1(engine, user, false).await
}

/// Owner and guest in room 1, with what they were told so far read.
async fn owner_and_guest(engine: &Engine) -> (Session, Session) {
    let owner = open(engine, 1).await;
    let guest = open(engine, 2).await;
    settle().await;
    drain(&owner);
    drain(&guest);
    (owner, guest)
}

fn build(side: u16) -> ClientMsg {
    parse_client_frame(&format!(
        r#"40{{"map":{{"side":{side},"gameList":[],"objectList":[],"games":{{}},"objects":{{}}}}}}"#
    ))
    .unwrap()
}

fn side_map(side: u16) -> Map {
    Map::validate(
        &MapDoc {
            side: side.into(),
            ..MapDoc::default()
        },
        64,
    )
    .unwrap()
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn drain(session: &Session) -> Vec<ServerMsg> {
    let mut out = Vec::new();
    loop {
        let frames = common::take(session.outbox());
        if frames.is_empty() {
            return out;
        }
        out.extend(common::server_messages(&frames));
    }
}

fn errors(messages: &[ServerMsg]) -> Vec<ErrorCode> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Error { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

fn last_side(messages: &[ServerMsg]) -> Option<u16> {
    messages.iter().rev().find_map(|m| match m {
        ServerMsg::Sync { room } => Some(room.map.side()),
        _ => None,
    })
}

#[tokio::test(start_paused = true)]
async fn a_build_flood_holds_a_few_builds_in_flight_and_refuses_the_rest_with_76429() {
    let (engine, store, opener) = setup(false).await;
    let mut owner = open(&engine, 1).await;
    settle().await;
    drain(&owner);
    for i in 0..20 {
        owner.handle(build(10 + i)).await;
    }
    settle().await;
    let refused = errors(&drain(&owner));
    let bound = EngineConfig::default().builds_in_flight;
    assert!(
        store.lookups_most.load(Ordering::SeqCst) <= bound,
        "{} library lookups at once, each holding its map",
        store.lookups_most.load(Ordering::SeqCst)
    );
    assert_eq!(refused, vec![ErrorCode::RateLimited; 20 - bound]);

    // The admitted ones are stored, in order; the room stays buildable.
    opener.send(true).unwrap();
    settle().await;
    let stored = store.load_room(RoomId(1)).await.unwrap().unwrap();
    assert_eq!(stored.version, bound as u64);
    assert_eq!(last_side(&drain(&owner)), Some(10 + bound as u16 - 1));
    owner.handle(build(40)).await;
    settle().await;
    assert_eq!(last_side(&drain(&owner)), Some(40));
}

#[tokio::test(start_paused = true)]
async fn a_version_conflict_reloads_the_stored_map_for_everyone_and_the_room_stays_buildable() {
    let (engine, store, _opener) = setup(true).await;
    let (mut owner, guest) = owner_and_guest(&engine).await;

    // Another writer stores a map the room has not seen.
    store
        .inner
        .save_map(RoomId(1), &side_map(30), 0, 0)
        .await
        .unwrap();
    owner.handle(build(12)).await;
    settle().await;
    let seen = drain(&owner);
    assert_eq!(errors(&seen), [ErrorCode::Unavailable], "{seen:?}");
    assert_eq!(last_side(&seen), Some(30), "the owner sees the stored map");
    assert_eq!(
        last_side(&drain(&guest)),
        Some(30),
        "everyone sees the stored map"
    );
    assert_eq!(
        store
            .load_room(RoomId(1))
            .await
            .unwrap()
            .unwrap()
            .map
            .unwrap()
            .side,
        30
    );

    // The next BUILD is stored over the reloaded version.
    owner.handle(build(14)).await;
    settle().await;
    let seen = drain(&owner);
    assert_eq!(errors(&seen), [], "{seen:?}");
    assert_eq!(last_side(&seen), Some(14));
    assert_eq!(store.load_room(RoomId(1)).await.unwrap().unwrap().version, 2);
}

#[tokio::test(start_paused = true)]
async fn a_save_whose_answer_was_lost_is_resolved_by_reading_the_version_back() {
    let (engine, store, _opener) = setup(true).await;
    let (mut owner, guest) = owner_and_guest(&engine).await;

    *store.answer.lock().unwrap() = SaveAnswer::StoredButLost;
    owner.handle(build(12)).await;
    settle().await;
    let seen = drain(&owner);
    assert_eq!(errors(&seen), [], "the BUILD did land: {seen:?}");
    assert_eq!(last_side(&seen), Some(12));
    assert_eq!(last_side(&drain(&guest)), Some(12));

    owner.handle(build(14)).await;
    settle().await;
    let seen = drain(&owner);
    assert_eq!(errors(&seen), [], "{seen:?}");
    assert_eq!(store.load_room(RoomId(1)).await.unwrap().unwrap().version, 2);
}

/// Issue 14, defect 4: a save the store fences (a newer host saved the room)
/// refuses the BUILD with 76503 and changes nothing, here or in the store.
#[tokio::test(start_paused = true)]
async fn a_fenced_save_refuses_the_build_and_changes_nothing() {
    let (engine, store, _opener) = setup(true).await;
    let (mut owner, guest) = owner_and_guest(&engine).await;

    // A newer host (epoch 5) stored a map; this node saves as the host of epoch 4.
    store
        .inner
        .save_map(RoomId(1), &side_map(30), 0, 5)
        .await
        .unwrap();
    *store.answer.lock().unwrap() = SaveAnswer::UnderEpoch(4);
    owner.handle(build(12)).await;
    settle().await;
    let seen = drain(&owner);
    let refusals: Vec<(ErrorCode, &str)> = seen
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Error { code, message } => Some((*code, message.as_str())),
            _ => None,
        })
        .collect();
    assert!(
        matches!(refusals[..], [(ErrorCode::Unavailable, message)] if message.contains("another node hosts this room")),
        "{seen:?}"
    );
    assert_eq!(
        last_side(&seen),
        None,
        "no SYNC: this node's room is not reloaded"
    );
    assert_eq!(last_side(&drain(&guest)), None, "the guest is told nothing");
    let room = engine.room_view(RoomId(1)).await.unwrap().unwrap();
    assert_ne!(room.map.side(), 12, "the refused map is not shown");
    let stored = store.load_room(RoomId(1)).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.map.unwrap().side), (1, 30));
}
