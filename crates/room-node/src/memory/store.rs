use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use room_core::{Map, MapDoc, RoomId, UserId};
use room_ports::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};

use super::lock;

/// A map store that forgets everything when dropped. It can be switched
/// "down" to exercise the 76503 paths.
#[derive(Debug, Default)]
pub struct MemoryMapStore {
    users: Mutex<BTreeMap<UserId, (String, Vec<GameInfo>)>>,
    maps: Mutex<BTreeMap<RoomId, (u64, MapDoc)>>,
    down: AtomicBool,
}

impl MemoryMapStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Make every call fail with `Unavailable` (`true`) or work again (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("memory store switched down".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl MapStore for MemoryMapStore {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        self.check_up()?;
        let Some((nickname, _)) = lock(&self.users).get(&room.owner()).cloned() else {
            return Ok(None);
        };
        let stored = lock(&self.maps).get(&room).cloned();
        Ok(Some(StoredRoom {
            owner_nickname: nickname,
            version: stored.as_ref().map_or(0, |(v, _)| *v),
            map: stored.map(|(_, doc)| doc),
            set_aside: None,
        }))
    }

    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        self.check_up()?;
        Ok(lock(&self.users)
            .get(&user)
            .map(|(_, games)| games.clone())
            .unwrap_or_default())
    }

    async fn save_map(&self, room: RoomId, map: &Map, expected_version: u64) -> Result<u64, StoreError> {
        self.check_up()?;
        let users = lock(&self.users);
        let (_, games) = users.get(&room.owner()).ok_or(StoreError::RoomNotFound(room))?;
        if let Some((game, _)) = map
            .games()
            .iter()
            .find(|(g, _)| !games.iter().any(|owned| owned.id == *g))
        {
            return Err(StoreError::GameNotOwned(*game));
        }
        let mut maps = lock(&self.maps);
        let found = maps.get(&room).map_or(0, |(v, _)| *v);
        if found != expected_version {
            return Err(StoreError::VersionConflict {
                expected: expected_version,
                found,
            });
        }
        maps.insert(room, (found + 1, map.to_doc()));
        Ok(found + 1)
    }

    async fn seed_users(&self, users: &[UserSeed]) -> Result<(), StoreError> {
        self.check_up()?;
        let mut known = lock(&self.users);
        for seed in users {
            known.insert(seed.user, (seed.nickname.clone(), seed.games.clone()));
        }
        Ok(())
    }

    async fn list_users(&self, limit: usize) -> Result<Vec<UserSummary>, StoreError> {
        self.check_up()?;
        Ok(lock(&self.users)
            .iter()
            .take(limit)
            .map(|(user, (nickname, _))| UserSummary {
                user: *user,
                nickname: nickname.clone(),
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check_up()
    }
}
