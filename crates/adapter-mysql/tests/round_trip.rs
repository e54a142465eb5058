//! Loading, saving and seeding against the real server.

mod common;

use common::db::TestDb;
use common::guard;
use common::maps::{map, user};
use room_core::{GameId, Map, RoomId, UserId};
use room_ports::{GameInfo, MapStore, StoreError, UserSeed, UserSummary};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_map_loads_back_as_the_same_document() {
    let db = TestDb::create().await;
    guard("round trip", async {
        let store = db.store().await;
        store
            .seed_users(&[user(7, "owner", &[12, 3])])
            .await
            .expect("seed");

        let fresh = store
            .load_room(RoomId(7))
            .await
            .expect("load")
            .expect("owner exists");
        assert_eq!(fresh.owner_nickname, "owner");
        assert_eq!(fresh.map, None);
        assert_eq!(fresh.version, 0);

        // gameList order (12 before 3) and a non-ASCII name must survive.
        let first = map(20, &[(12, 3, 4), (3, 0, 1)], &[("w1", "wall \u{1F9F1}", 5, 5)]);
        assert_eq!(store.save_map(RoomId(7), &first, 0, 0).await, Ok(1));
        let loaded = store.load_room(RoomId(7)).await.expect("load").expect("exists");
        assert_eq!(loaded.version, 1);
        let doc = loaded.map.expect("a stored map");
        assert_eq!(doc, first.to_doc());
        assert_eq!(Map::validate(&doc, 64).expect("still valid"), first);

        let second = map(8, &[], &[("chair", "chair", 0, 0)]);
        assert_eq!(store.save_map(RoomId(7), &second, 1, 0).await, Ok(2));
        let loaded = store.load_room(RoomId(7)).await.expect("load").expect("exists");
        assert_eq!((loaded.map, loaded.version), (Some(second.to_doc()), 2));
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_have_no_room() {
    let db = TestDb::create().await;
    guard("unknown users", async {
        let store = db.store().await;
        assert_eq!(store.load_room(RoomId(404)).await, Ok(None));
        assert_eq!(store.owned_games(UserId(404)).await, Ok(vec![]));
        assert_eq!(
            store.save_map(RoomId(404), &Map::empty(), 0, 0).await,
            Err(StoreError::RoomNotFound(RoomId(404)))
        );
        assert_eq!(store.load_room(RoomId(404)).await, Ok(None));
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_is_idempotent_and_names_games() {
    let db = TestDb::create().await;
    guard("seeding", async {
        let store = db.store().await;
        let unnamed = |id| GameInfo {
            id: GameId(id),
            name: String::new(),
        };
        let seeds = vec![
            UserSeed {
                user: UserId(2),
                nickname: "bo".into(),
                games: vec![
                    unnamed(5),
                    GameInfo {
                        id: GameId(6),
                        name: "Chess".into(),
                    },
                ],
            },
            user(1, "ann", &[6]),
        ];
        store.seed_users(&seeds).await.expect("seed");
        store.seed_users(&seeds).await.expect("seed again");

        let games = |names: &[(u64, &str)]| -> Vec<GameInfo> {
            names
                .iter()
                .map(|(id, name)| GameInfo {
                    id: GameId(*id),
                    name: (*name).into(),
                })
                .collect()
        };
        // Seeds apply in order: ann's seed renamed game 6 after bo's.
        assert_eq!(
            store.owned_games(UserId(2)).await,
            Ok(games(&[(5, "Game 5"), (6, "Name 6")]))
        );
        assert_eq!(store.owned_games(UserId(1)).await, Ok(games(&[(6, "Name 6")])));

        // A known name is kept when a later seed has none, and replaced by a real one.
        store
            .seed_users(&[UserSeed {
                user: UserId(2),
                nickname: "bo2".into(),
                games: vec![
                    unnamed(6),
                    GameInfo {
                        id: GameId(5),
                        name: "Go".into(),
                    },
                ],
            }])
            .await
            .expect("reseed");
        assert_eq!(
            store.owned_games(UserId(2)).await,
            Ok(games(&[(5, "Go"), (6, "Name 6")]))
        );

        let summary = |id, nickname: &str| UserSummary {
            user: UserId(id),
            nickname: nickname.into(),
        };
        assert_eq!(
            store.list_users(10).await,
            Ok(vec![summary(1, "ann"), summary(2, "bo2")])
        );
        assert_eq!(store.list_users(1).await, Ok(vec![summary(1, "ann")]));
        assert_eq!(store.ping().await, Ok(()));
        store.close().await;
    })
    .await;
    db.drop_db().await;
}
