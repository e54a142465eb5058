//! A map store that is still connecting: every call answers `Unavailable`
//! until the real store is in place, so the server can listen (and say it is
//! not ready) while MySQL is down at start.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use room_core::{Map, RoomId, UserId};
use room_ports::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};

/// A [`MapStore`] that forwards to one set later with [`PendingStore::set`].
pub struct PendingStore {
    name: &'static str,
    inner: OnceLock<Arc<dyn MapStore>>,
}

impl PendingStore {
    /// A store named `name` in error messages, not connected yet.
    pub fn new(name: &'static str) -> PendingStore {
        PendingStore {
            name,
            inner: OnceLock::new(),
        }
    }

    /// Put the connected store in place (once; later calls are ignored).
    pub fn set(&self, store: Arc<dyn MapStore>) {
        let _ = self.inner.set(store);
    }

    fn store(&self) -> Result<&Arc<dyn MapStore>, StoreError> {
        self.inner
            .get()
            .ok_or_else(|| StoreError::Unavailable(format!("{} is not connected yet", self.name)))
    }
}

#[async_trait]
impl MapStore for PendingStore {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        self.store()?.load_room(room).await
    }

    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        self.store()?.owned_games(user).await
    }

    async fn save_map(&self, room: RoomId, map: &Map, expected_version: u64) -> Result<u64, StoreError> {
        self.store()?.save_map(room, map, expected_version).await
    }

    async fn seed_users(&self, users: &[UserSeed]) -> Result<(), StoreError> {
        self.store()?.seed_users(users).await
    }

    async fn list_users(&self, limit: usize) -> Result<Vec<UserSummary>, StoreError> {
        self.store()?.list_users(limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.store()?.ping().await
    }
}
