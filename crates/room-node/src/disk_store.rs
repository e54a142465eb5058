//! The embedded map store: users in memory (seeded at start), maps on local
//! disk, one JSON file per room, replaced atomically (write, fsync, rename).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use async_trait::async_trait;
use room_core::codec::{encode_map_doc, parse_map_doc};
use room_core::{GameId, Map, RoomId, UserId};
use room_ports::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};

#[derive(Debug, Clone)]
struct UserRecord {
    nickname: String,
    games: Vec<GameInfo>,
}

/// Maps kept as files under a directory; users and libraries kept in memory.
#[derive(Debug)]
pub struct DiskMapStore {
    maps: PathBuf,
    users: RwLock<BTreeMap<UserId, UserRecord>>,
    /// Saves are read-check-write; one at a time keeps the version check honest.
    save_lock: tokio::sync::Mutex<()>,
}

impl DiskMapStore {
    /// A store keeping maps under `dir/maps`, created if missing.
    pub fn open(dir: impl AsRef<Path>) -> std::io::Result<DiskMapStore> {
        let maps = dir.as_ref().join("maps");
        std::fs::create_dir_all(&maps)?;
        Ok(DiskMapStore {
            maps,
            users: RwLock::new(BTreeMap::new()),
            save_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn map_path(&self, room: RoomId) -> PathBuf {
        self.maps.join(format!("{room}.json"))
    }

    fn user(&self, user: UserId) -> Option<UserRecord> {
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user)
            .cloned()
    }

    async fn read_map(&self, room: RoomId) -> Result<Option<(u64, String)>, StoreError> {
        let path = self.map_path(room);
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Unavailable(format!("{}: {e}", path.display()))),
        };
        let corrupt = |why: String| StoreError::Corrupt(format!("{}: {why}", path.display()));
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let version = value["version"]
            .as_u64()
            .ok_or_else(|| corrupt("no version".into()))?;
        Ok(Some((version, value["map"].to_string())))
    }
}

#[async_trait]
impl MapStore for DiskMapStore {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        let Some(owner) = self.user(room.owner()) else {
            return Ok(None);
        };
        let (version, map) = match self.read_map(room).await? {
            Some((version, json)) => {
                let doc = parse_map_doc(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                (version, Some(doc))
            }
            None => (0, None),
        };
        Ok(Some(StoredRoom {
            owner_nickname: owner.nickname,
            map,
            version,
        }))
    }

    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        Ok(self.user(user).map(|u| u.games).unwrap_or_default())
    }

    async fn save_map(&self, room: RoomId, map: &Map, expected_version: u64) -> Result<u64, StoreError> {
        let _one_at_a_time = self.save_lock.lock().await;
        let owner = self.user(room.owner()).ok_or(StoreError::RoomNotFound(room))?;
        let found = self.read_map(room).await?.map_or(0, |(version, _)| version);
        if found != expected_version {
            return Err(StoreError::VersionConflict {
                expected: expected_version,
                found,
            });
        }
        let owned: Vec<GameId> = owner.games.iter().map(|g| g.id).collect();
        if let Some((game, _)) = map.games().iter().find(|(game, _)| !owned.contains(game)) {
            return Err(StoreError::GameNotOwned(*game));
        }
        let version = found + 1;
        let document = format!(
            "{{\"version\":{version},\"map\":{}}}",
            encode_map_doc(&map.to_doc())
        );
        let path = self.map_path(room);
        tokio::task::spawn_blocking(move || write_atomically(&path, document.as_bytes()))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(version)
    }

    async fn seed_users(&self, users: &[UserSeed]) -> Result<(), StoreError> {
        let mut known = self.users.write().unwrap_or_else(|p| p.into_inner());
        for seed in users {
            let record = UserRecord {
                nickname: seed.nickname.clone(),
                games: seed.games.clone(),
            };
            known.insert(seed.user, record);
        }
        Ok(())
    }

    async fn list_users(&self, limit: usize) -> Result<Vec<UserSummary>, StoreError> {
        let known = self.users.read().unwrap_or_else(|p| p.into_inner());
        Ok(known
            .iter()
            .take(limit)
            .map(|(user, record)| UserSummary {
                user: *user,
                nickname: record.nickname.clone(),
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        tokio::fs::metadata(&self.maps)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the new file, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temporary = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use room_core::{ItemDoc, MapDoc};

    fn seed(store: &DiskMapStore, games: &[u64]) {
        let games = games
            .iter()
            .map(|id| GameInfo {
                id: GameId(*id),
                name: format!("g{id}"),
            })
            .collect();
        let seeds = [UserSeed {
            user: UserId(7),
            nickname: "owner".into(),
            games,
        }];
        block_on(store.seed_users(&seeds)).unwrap();
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn map_with_game(game: &str) -> Map {
        let doc = MapDoc {
            side: 5,
            game_list: vec![game.into()],
            games: vec![(
                game.into(),
                ItemDoc {
                    name: "Chess".into(),
                    x: 1,
                    y: 1,
                },
            )],
            ..MapDoc::default()
        };
        Map::validate(&doc, 64).unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("myroom-disk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn saved_map_is_read_back_by_a_new_store_on_the_same_directory() {
        let dir = temp_dir("reopen");
        let store = DiskMapStore::open(&dir).unwrap();
        seed(&store, &[12]);
        let version = block_on(store.save_map(RoomId(7), &map_with_game("12"), 0)).unwrap();
        assert_eq!(version, 1);

        let reopened = DiskMapStore::open(&dir).unwrap();
        seed(&reopened, &[12]);
        let room = block_on(reopened.load_room(RoomId(7))).unwrap().unwrap();
        assert_eq!(room.version, 1);
        assert_eq!(
            Map::validate(&room.map.unwrap(), 64).unwrap(),
            map_with_game("12")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn save_with_a_stale_version_is_a_conflict_and_keeps_the_old_map() {
        let dir = temp_dir("conflict");
        let store = DiskMapStore::open(&dir).unwrap();
        seed(&store, &[12, 13]);
        block_on(store.save_map(RoomId(7), &map_with_game("12"), 0)).unwrap();
        let stale = block_on(store.save_map(RoomId(7), &map_with_game("13"), 0));
        assert_eq!(
            stale,
            Err(StoreError::VersionConflict {
                expected: 0,
                found: 1
            })
        );
        let room = block_on(store.load_room(RoomId(7))).unwrap().unwrap();
        assert_eq!(room.map.unwrap().game_list, ["12"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn save_of_an_unowned_game_is_refused() {
        let dir = temp_dir("unowned");
        let store = DiskMapStore::open(&dir).unwrap();
        seed(&store, &[12]);
        let result = block_on(store.save_map(RoomId(7), &map_with_game("99"), 0));
        assert_eq!(result, Err(StoreError::GameNotOwned(GameId(99))));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unknown_owner_has_no_room() {
        let dir = temp_dir("unknown");
        let store = DiskMapStore::open(&dir).unwrap();
        assert_eq!(block_on(store.load_room(RoomId(404))).unwrap(), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
