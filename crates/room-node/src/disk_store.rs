//! The embedded map store: users in memory (seeded at start), maps on local
//! disk, one JSON file per room (`{"version":..,"epoch":..,"map":..}`; a
//! file without `epoch` was saved under 0), replaced atomically (write,
//! fsync, rename).
//! Saves of one room are serialised (read-check-write); saves of different
//! rooms never wait for each other. A file that cannot be read is renamed
//! aside (`7.json.corrupt-<unix ms>`), never overwritten.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

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
    /// Saves are read-check-write; one at a time per room keeps the version check honest.
    room_locks: Mutex<HashMap<RoomId, Arc<tokio::sync::Mutex<()>>>>,
}

/// Idle room locks are dropped once there are more than this many.
const IDLE_LOCKS_KEPT: usize = 64;

impl DiskMapStore {
    /// A store keeping maps under `dir/maps`, created if missing.
    pub fn open(dir: impl AsRef<Path>) -> std::io::Result<DiskMapStore> {
        let maps = dir.as_ref().join("maps");
        std::fs::create_dir_all(&maps)?;
        Ok(DiskMapStore {
            maps,
            users: RwLock::new(BTreeMap::new()),
            room_locks: Mutex::new(HashMap::new()),
        })
    }

    fn map_path(&self, room: RoomId) -> PathBuf {
        self.maps.join(format!("{room}.json"))
    }

    /// Wait for `room`'s turn to read-check-write its file.
    async fn lock_room(&self, room: RoomId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.room_locks.lock().unwrap_or_else(|p| p.into_inner());
            if locks.len() > IDLE_LOCKS_KEPT {
                // Only this map holds an idle lock: nobody holds or waits for it.
                locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            locks.entry(room).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Rename `room`'s unreadable file aside; where it went.
    async fn set_aside(&self, room: RoomId, why: &str) -> Result<String, StoreError> {
        let path = self.map_path(room);
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let aside = path.with_extension(format!("json.corrupt-{millis}"));
        tokio::fs::rename(&path, &aside)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}: cannot set aside: {e}", path.display())))?;
        tracing::error!(%room, file = %aside.display(), %why, "map file cannot be read; renamed it aside");
        Ok(aside.display().to_string())
    }

    fn user(&self, user: UserId) -> Option<UserRecord> {
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user)
            .cloned()
    }

    async fn read_map(&self, room: RoomId) -> Result<Option<FileMap>, StoreError> {
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
        let epoch = match &value["epoch"] {
            serde_json::Value::Null => 0,
            epoch => epoch.as_u64().ok_or_else(|| corrupt("bad epoch".into()))?,
        };
        Ok(Some(FileMap {
            version,
            epoch,
            map: value["map"].to_string(),
        }))
    }
}

/// A room's map file, as read: the layout still JSON text.
struct FileMap {
    version: u64,
    /// The highest fencing epoch that saved it.
    epoch: u64,
    map: String,
}

impl DiskMapStore {
    /// The stored version and layout of `room`, if it has a file.
    async fn read_doc(&self, room: RoomId) -> Result<Option<(u64, room_core::MapDoc)>, StoreError> {
        match self.read_map(room).await? {
            Some(file) => parse_map_doc(&file.map)
                .map(|doc| Some((file.version, doc)))
                .map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl MapStore for DiskMapStore {
    async fn load_room(&self, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
        let Some(owner) = self.user(room.owner()) else {
            return Ok(None);
        };
        let mut read = self.read_doc(room).await;
        let mut set_aside = None;
        if matches!(read, Err(StoreError::Corrupt(_))) {
            let _turn = self.lock_room(room).await;
            // Read again in its turn: a save may have just replaced the file.
            read = self.read_doc(room).await;
            if let Err(StoreError::Corrupt(why)) = &read {
                set_aside = Some(self.set_aside(room, why).await?);
                read = Ok(None);
            }
        }
        let (version, map) = match read? {
            Some((version, doc)) => (version, Some(doc)),
            None => (0, None),
        };
        Ok(Some(StoredRoom {
            owner_nickname: owner.nickname,
            map,
            version,
            set_aside,
        }))
    }

    async fn owned_games(&self, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
        Ok(self.user(user).map(|u| u.games).unwrap_or_default())
    }

    async fn save_map(
        &self,
        room: RoomId,
        map: &Map,
        expected_version: u64,
        epoch: u64,
    ) -> Result<u64, StoreError> {
        let _one_at_a_time = self.lock_room(room).await;
        let owner = self.user(room.owner()).ok_or(StoreError::RoomNotFound(room))?;
        let (found, stored_epoch) = self
            .read_map(room)
            .await?
            .map_or((0, 0), |file| (file.version, file.epoch));
        let epoch = room_ports::fence(room, epoch, stored_epoch)?;
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
            "{{\"version\":{version},\"epoch\":{epoch},\"map\":{}}}",
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
        let version = block_on(store.save_map(RoomId(7), &map_with_game("12"), 0, 0)).unwrap();
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
        block_on(store.save_map(RoomId(7), &map_with_game("12"), 0, 0)).unwrap();
        let stale = block_on(store.save_map(RoomId(7), &map_with_game("13"), 0, 0));
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
    fn a_save_under_an_older_epoch_is_fenced_and_leaves_the_file_as_it_was() {
        let dir = temp_dir("fenced");
        let store = DiskMapStore::open(&dir).unwrap();
        seed(&store, &[12, 13]);
        assert_eq!(
            block_on(store.save_map(RoomId(7), &map_with_game("12"), 0, 5)),
            Ok(1)
        );
        let file = dir.join("maps").join("7.json");
        let before = std::fs::read_to_string(&file).unwrap();

        // A new store on the same directory still knows epoch 5.
        let reopened = DiskMapStore::open(&dir).unwrap();
        seed(&reopened, &[12, 13]);
        assert_eq!(
            block_on(reopened.save_map(RoomId(7), &map_with_game("13"), 1, 4)),
            Err(StoreError::Fenced {
                room: RoomId(7),
                epoch: 4,
                stored_epoch: 5
            })
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn saves_under_the_same_or_a_newer_epoch_are_stored() {
        let dir = temp_dir("epochs");
        let store = DiskMapStore::open(&dir).unwrap();
        seed(&store, &[12, 13]);
        assert_eq!(
            block_on(store.save_map(RoomId(7), &map_with_game("12"), 0, 5)),
            Ok(1)
        );
        assert_eq!(
            block_on(store.save_map(RoomId(7), &map_with_game("13"), 1, 5)),
            Ok(2)
        );
        assert_eq!(
            block_on(store.save_map(RoomId(7), &map_with_game("12"), 2, 8)),
            Ok(3)
        );
        let stale = block_on(store.save_map(RoomId(7), &map_with_game("13"), 3, 5));
        assert!(
            matches!(stale, Err(StoreError::Fenced { stored_epoch: 8, .. })),
            "{stale:?}"
        );
        let room = block_on(store.load_room(RoomId(7))).unwrap().unwrap();
        assert_eq!(
            (room.version, room.map.unwrap().game_list),
            (3, vec!["12".to_owned()])
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Files of earlier builds have no epoch: saved under 0, so any writer may save over them.
    #[test]
    fn a_file_without_an_epoch_was_saved_under_epoch_0() {
        let dir = temp_dir("no-epoch");
        let store = DiskMapStore::open(&dir).unwrap();
        seed(&store, &[12]);
        let doc = encode_map_doc(&map_with_game("12").to_doc());
        std::fs::write(
            dir.join("maps").join("7.json"),
            format!(r#"{{"version":2,"map":{doc}}}"#),
        )
        .unwrap();
        assert_eq!(block_on(store.load_room(RoomId(7))).unwrap().unwrap().version, 2);
        assert_eq!(
            block_on(store.save_map(RoomId(7), &map_with_game("12"), 2, 0)),
            Ok(3)
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn save_of_an_unowned_game_is_refused() {
        let dir = temp_dir("unowned");
        let store = DiskMapStore::open(&dir).unwrap();
        seed(&store, &[12]);
        let result = block_on(store.save_map(RoomId(7), &map_with_game("99"), 0, 0));
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

    #[test]
    fn an_unreadable_map_file_is_renamed_aside_and_the_room_loads_empty_and_buildable() {
        let dir = temp_dir("corrupt");
        let store = DiskMapStore::open(&dir).unwrap();
        seed(&store, &[12]);
        let file = dir.join("maps").join("7.json");
        std::fs::write(&file, "{\"version\":3,\"map\":{\"side\":").unwrap();

        let room = block_on(store.load_room(RoomId(7))).unwrap().unwrap();
        assert_eq!((room.version, room.map), (0, None));
        let aside = room.set_aside.expect("says where the bad file went");
        assert_eq!(
            std::fs::read_to_string(&aside).unwrap(),
            "{\"version\":3,\"map\":{\"side\":",
            "kept as it was"
        );
        assert!(aside.contains("7.json.corrupt-"), "{aside}");

        assert_eq!(
            block_on(store.save_map(RoomId(7), &map_with_game("12"), 0, 0)),
            Ok(1)
        );
        let room = block_on(store.load_room(RoomId(7))).unwrap().unwrap();
        assert_eq!((room.version, room.set_aside), (1, None));
        assert!(std::path::Path::new(&aside).exists(), "never overwritten");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_file_whose_map_is_not_a_map_document_is_set_aside_too() {
        let dir = temp_dir("not-a-map");
        let store = DiskMapStore::open(&dir).unwrap();
        seed(&store, &[]);
        std::fs::write(dir.join("maps").join("7.json"), r#"{"version":2,"map":[1,2]}"#).unwrap();
        let room = block_on(store.load_room(RoomId(7))).unwrap().unwrap();
        assert!(room.set_aside.is_some());
        assert_eq!(room.map, None);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Room 8's save waits on a file nobody writes (a FIFO in place of its
    /// map): room 7's save must not wait for it.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stuck_save_of_one_room_does_not_hold_up_another_rooms_save() {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        let dir = temp_dir("stuck");
        let store = Arc::new(DiskMapStore::open(&dir).unwrap());
        let seeds: Vec<UserSeed> = [7, 8]
            .map(|id| UserSeed {
                user: UserId(id),
                nickname: format!("u{id}"),
                games: vec![GameInfo {
                    id: GameId(12),
                    name: "Chess".into(),
                }],
            })
            .to_vec();
        store.seed_users(&seeds).await.unwrap();
        let fifo = dir.join("maps").join("8.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());

        let stuck = tokio::spawn({
            let store = store.clone();
            async move { store.save_map(RoomId(8), &map_with_game("12"), 0, 0).await }
        });
        // Wait (with a deadline) until room 8's save is reading the FIFO: a
        // non-blocking open for writing succeeds only once a reader has it open.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let writer = loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open(&fifo)
            {
                Ok(writer) => break writer,
                Err(_) if tokio::time::Instant::now() < deadline => tokio::task::yield_now().await,
                Err(e) => panic!("room 8's save never opened its file: {e}"),
            }
        };

        let other = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.save_map(RoomId(7), &map_with_game("12"), 0, 0),
        )
        .await;
        assert_eq!(other, Ok(Ok(1)), "room 7 waited for room 8");
        drop(writer);
        assert!(stuck.await.unwrap().is_err(), "an empty file is not a map");
        let _ = std::fs::remove_dir_all(dir);
    }
}
