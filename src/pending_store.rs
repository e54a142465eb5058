//! A map store that is still starting (connecting, migrating, seeding), so
//! the server can listen (and say it is not ready) meanwhile. A call made
//! while it is starting waits for it, up to a short deadline, rather than
//! being refused for a store that is seconds from ready; once an attempt has
//! failed (the store is really down) calls answer `Unavailable` at once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use room_core::{Map, RoomId, UserId};
use room_ports::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};
use tokio::sync::watch;

#[derive(Clone)]
enum Phase {
    /// No attempt has failed yet.
    Starting,
    /// An attempt failed; it is being retried.
    Down,
    Ready(Arc<dyn MapStore>),
}

/// A [`MapStore`] that forwards to one set later with [`PendingStore::set`].
pub struct PendingStore {
    name: &'static str,
    phase: watch::Sender<Phase>,
    wait: Duration,
}

impl PendingStore {
    /// A store named `name` in error messages, starting; calls wait up to
    /// `wait` for it while no attempt has failed.
    pub fn new(name: &'static str, wait: Duration) -> PendingStore {
        PendingStore {
            name,
            phase: watch::Sender::new(Phase::Starting),
            wait,
        }
    }

    /// Put the connected store in place (once; later calls are ignored).
    pub fn set(&self, store: Arc<dyn MapStore>) {
        self.phase.send_if_modified(|phase| {
            if matches!(phase, Phase::Ready(_)) {
                return false;
            }
            *phase = Phase::Ready(store);
            true
        });
    }

    /// An attempt to start the store failed: calls stop waiting for it.
    pub fn set_down(&self) {
        self.phase.send_if_modified(|phase| {
            if !matches!(phase, Phase::Starting) {
                return false;
            }
            *phase = Phase::Down;
            true
        });
    }

    fn now(&self) -> Result<Arc<dyn MapStore>, StoreError> {
        match &*self.phase.borrow() {
            Phase::Ready(store) => Ok(store.clone()),
            Phase::Starting => Err(StoreError::Unavailable(format!(
                "{} is still starting",
                self.name
            ))),
            Phase::Down => Err(StoreError::Unavailable(format!("{} is not connected", self.name))),
        }
    }

    async fn store(&self) -> Result<Arc<dyn MapStore>, StoreError> {
        let mut phase = self.phase.subscribe();
        // The deadline ends the wait; what is known then is the answer.
        let _ = tokio::time::timeout(self.wait, phase.wait_for(|p| !matches!(p, Phase::Starting))).await;
        self.now()
    }
}

#[async_trait]
impl MapStore for PendingStore {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        self.store().await?.load_room(room).await
    }

    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        self.store().await?.owned_games(user).await
    }

    async fn save_map(
        &self,
        room: RoomId,
        map: &Map,
        expected_version: u64,
        epoch: u64,
    ) -> Result<u64, StoreError> {
        self.store()
            .await?
            .save_map(room, map, expected_version, epoch)
            .await
    }

    async fn seed_users(&self, users: &[UserSeed]) -> Result<(), StoreError> {
        self.store().await?.seed_users(users).await
    }

    async fn list_users(&self, limit: usize) -> Result<Vec<UserSummary>, StoreError> {
        self.store().await?.list_users(limit).await
    }

    /// Readiness never waits: it says what is true now.
    async fn ping(&self) -> Result<(), StoreError> {
        self.now()?.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use room_node::memory::MemoryMapStore;

    /// Guards against hangs only.
    const PATIENCE: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn a_call_while_starting_waits_for_the_store() {
        let pending = Arc::new(PendingStore::new("test", Duration::from_secs(3600)));
        let waiting = tokio::spawn({
            let pending = pending.clone();
            async move { pending.list_users(10).await }
        });
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while pending.phase.receiver_count() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the call never waited");
            tokio::task::yield_now().await;
        }
        pending.set(Arc::new(MemoryMapStore::new()));
        let answer = tokio::time::timeout(PATIENCE, waiting).await.unwrap().unwrap();
        assert_eq!(answer, Ok(Vec::new()));
    }

    #[tokio::test]
    async fn a_store_that_is_down_answers_without_waiting_out_the_deadline() {
        let pending = PendingStore::new("test", Duration::from_secs(3600));
        pending.set_down();
        let answer = tokio::time::timeout(PATIENCE, pending.list_users(10)).await;
        assert!(
            matches!(answer, Ok(Err(StoreError::Unavailable(_)))),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn a_store_that_stays_starting_is_unavailable_after_the_deadline() {
        let pending = PendingStore::new("test", Duration::from_millis(20));
        let answer = tokio::time::timeout(PATIENCE, pending.list_users(10)).await;
        assert!(
            matches!(answer, Ok(Err(StoreError::Unavailable(_)))),
            "{answer:?}"
        );
        let ping = tokio::time::timeout(PATIENCE, pending.ping()).await;
        assert!(matches!(ping, Ok(Err(StoreError::Unavailable(_)))), "{ping:?}");
    }
}
