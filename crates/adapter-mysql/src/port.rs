//! [`MapStore`] for [`MysqlStore`]: each operation under the store's deadline.

use async_trait::async_trait;
use room_core::{Map, RoomId, UserId};
use room_ports::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};

use crate::store::MysqlStore;
use crate::{reads, save, seed};

#[async_trait]
impl MapStore for MysqlStore {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        self.bounded("load_room", reads::load_room(&self.pool, room))
            .await
    }

    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        self.bounded("owned_games", reads::owned_games(&self.pool, user))
            .await
    }

    async fn save_map(
        &self,
        room: RoomId,
        map: &Map,
        expected_version: u64,
        epoch: u64,
    ) -> Result<u64, StoreError> {
        let saved = self
            .bounded(
                "save_map",
                save::save_map(&self.pool, room, map, expected_version, epoch),
            )
            .await;
        match &saved {
            Ok(version) => tracing::debug!(%room, version, epoch, "map saved"),
            Err(error) => tracing::info!(%room, expected_version, epoch, %error, "map not saved"),
        }
        saved
    }

    async fn seed_users(&self, users: &[UserSeed]) -> Result<(), StoreError> {
        self.bounded("seed_users", seed::seed_users(&self.pool, users))
            .await
    }

    async fn list_users(&self, limit: usize) -> Result<Vec<UserSummary>, StoreError> {
        self.bounded("list_users", reads::list_users(&self.pool, limit))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.bounded("ping", reads::ping(&self.pool)).await
    }
}
