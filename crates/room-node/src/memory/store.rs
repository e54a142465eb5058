use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use room_core::{Map, MapDoc, RoomId, UserId};
use room_ports::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};

use super::lock;

/// A room's stored layout.
#[derive(Debug, Clone)]
struct StoredMap {
    version: u64,
    /// The highest fencing epoch that saved it.
    epoch: u64,
    doc: MapDoc,
}

/// A map store that forgets everything when dropped. It can be switched
/// "down" to exercise the 76503 paths.
#[derive(Debug, Default)]
pub struct MemoryMapStore {
    users: Mutex<BTreeMap<UserId, (String, Vec<GameInfo>)>>,
    maps: Mutex<BTreeMap<RoomId, StoredMap>>,
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
            version: stored.as_ref().map_or(0, |m| m.version),
            map: stored.map(|m| m.doc),
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

    async fn save_map(
        &self,
        room: RoomId,
        map: &Map,
        expected_version: u64,
        epoch: u64,
    ) -> Result<u64, StoreError> {
        self.check_up()?;
        let users = lock(&self.users);
        let (_, games) = users.get(&room.owner()).ok_or(StoreError::RoomNotFound(room))?;
        let mut maps = lock(&self.maps);
        let (found, stored_epoch) = maps.get(&room).map_or((0, 0), |m| (m.version, m.epoch));
        let epoch = room_ports::fence(room, epoch, stored_epoch)?;
        if let Some((game, _)) = map
            .games()
            .iter()
            .find(|(g, _)| !games.iter().any(|owned| owned.id == *g))
        {
            return Err(StoreError::GameNotOwned(*game));
        }
        if found != expected_version {
            return Err(StoreError::VersionConflict {
                expected: expected_version,
                found,
            });
        }
        let stored = StoredMap {
            version: found + 1,
            epoch,
            doc: map.to_doc(),
        };
        maps.insert(room, stored);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> MemoryMapStore {
        let store = MemoryMapStore::new();
        let seeds = [UserSeed {
            user: UserId(7),
            nickname: "owner".into(),
            games: Vec::new(),
        }];
        block_on(store.seed_users(&seeds)).unwrap();
        store
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn side(n: u16) -> Map {
        Map::empty_of_side(n)
    }

    fn stored(store: &MemoryMapStore) -> (u64, i64) {
        let room = block_on(store.load_room(RoomId(7))).unwrap().unwrap();
        (room.version, room.map.map_or(0, |m| m.side))
    }

    #[test]
    fn a_save_under_an_older_epoch_is_fenced_and_changes_nothing() {
        let store = seeded();
        assert_eq!(block_on(store.save_map(RoomId(7), &side(10), 0, 5)), Ok(1));
        assert_eq!(
            block_on(store.save_map(RoomId(7), &side(12), 1, 4)),
            Err(StoreError::Fenced {
                room: RoomId(7),
                epoch: 4,
                stored_epoch: 5
            })
        );
        assert_eq!(stored(&store), (1, 10));
    }

    #[test]
    fn saves_under_the_same_or_a_newer_epoch_are_stored() {
        let store = seeded();
        assert_eq!(block_on(store.save_map(RoomId(7), &side(10), 0, 5)), Ok(1));
        assert_eq!(block_on(store.save_map(RoomId(7), &side(11), 1, 5)), Ok(2));
        assert_eq!(block_on(store.save_map(RoomId(7), &side(12), 2, 9)), Ok(3));
        assert_eq!(stored(&store), (3, 12));
        // The newer epoch is what fences now.
        let stale = block_on(store.save_map(RoomId(7), &side(13), 3, 5));
        assert!(
            matches!(stale, Err(StoreError::Fenced { stored_epoch: 9, .. })),
            "{stale:?}"
        );
        assert_eq!(stored(&store), (3, 12));
    }

    #[test]
    fn a_save_without_a_lease_is_not_fenced_and_keeps_the_stored_epoch() {
        let store = seeded();
        assert_eq!(block_on(store.save_map(RoomId(7), &side(10), 0, 5)), Ok(1));
        assert_eq!(
            block_on(store.save_map(RoomId(7), &side(11), 1, room_ports::NO_LEASE)),
            Ok(2)
        );
        // Epoch 5 still fences a host that lost the room.
        let stale = block_on(store.save_map(RoomId(7), &side(12), 2, 4));
        assert!(
            matches!(stale, Err(StoreError::Fenced { stored_epoch: 5, .. })),
            "{stale:?}"
        );
        assert_eq!(stored(&store), (2, 11));
    }
}
