//! The rules of a save: version check, ownership re-check, all or nothing.

mod common;

use common::db::TestDb;
use common::guard;
use common::maps::{map, user};
use room_core::{GameId, RoomId};
use room_ports::{MapStore, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_removed_from_the_library_after_loading_fails_the_save() {
    let db = TestDb::create().await;
    guard("ownership re-check", async {
        let store = db.store().await;
        store
            .seed_users(&[user(1, "ann", &[10, 11])])
            .await
            .expect("seed");
        let before = map(10, &[(10, 0, 0)], &[]);
        assert_eq!(store.save_map(RoomId(1), &before, 0, 0).await, Ok(1));

        let loaded = store.load_room(RoomId(1)).await.expect("load").expect("exists");
        // The engine checked the library at this point; then the game goes away.
        db.exec("DELETE FROM library WHERE user_id = 1 AND game_id = 11")
            .await;

        let wanted = map(10, &[(10, 0, 0), (11, 1, 0)], &[]);
        assert_eq!(
            store.save_map(RoomId(1), &wanted, loaded.version, 0).await,
            Err(StoreError::GameNotOwned(GameId(11)))
        );
        let after = store.load_room(RoomId(1)).await.expect("load").expect("exists");
        assert_eq!((after.map, after.version), (Some(before.to_doc()), 1));
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_with_a_stale_version_is_refused() {
    let db = TestDb::create().await;
    guard("version conflict", async {
        // Two nodes, each with a pool of its own.
        let (node_a, node_b) = (db.store().await, db.store().await);
        node_a.seed_users(&[user(3, "cy", &[])]).await.expect("seed");
        let seen_a = node_a
            .load_room(RoomId(3))
            .await
            .expect("load")
            .expect("exists")
            .version;
        let seen_b = node_b
            .load_room(RoomId(3))
            .await
            .expect("load")
            .expect("exists")
            .version;

        let from_a = map(6, &[], &[("a", "from a", 1, 1)]);
        let from_b = map(6, &[], &[("b", "from b", 2, 2)]);
        assert_eq!(node_a.save_map(RoomId(3), &from_a, seen_a, 0).await, Ok(1));
        assert_eq!(
            node_b.save_map(RoomId(3), &from_b, seen_b, 0).await,
            Err(StoreError::VersionConflict {
                expected: 0,
                found: 1
            })
        );
        let stored = node_b.load_room(RoomId(3)).await.expect("load").expect("exists");
        assert_eq!((stored.map, stored.version), (Some(from_a.to_doc()), 1));

        // After reloading, B may write.
        assert_eq!(
            node_b.save_map(RoomId(3), &from_b, stored.version, 0).await,
            Ok(2)
        );
        node_a.close().await;
        node_b.close().await;
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_racing_first_saves_exactly_one_wins() {
    let db = TestDb::create().await;
    guard("racing saves", async {
        let (node_a, node_b) = (db.store().await, db.store().await);
        node_a.seed_users(&[user(4, "di", &[])]).await.expect("seed");

        let mut racers = tokio::task::JoinSet::new();
        for i in 0..8_i64 {
            let node = if i % 2 == 0 {
                node_a.clone()
            } else {
                node_b.clone()
            };
            racers.spawn(async move {
                let mine = map(10, &[], &[("w", "wall", i, 0)]);
                (mine.clone(), node.save_map(RoomId(4), &mine, 0, 0).await)
            });
        }
        let mut winners = Vec::new();
        while let Some(joined) = racers.join_next().await {
            match joined.expect("racer finished") {
                (mine, Ok(version)) => winners.push((mine, version)),
                (
                    _,
                    Err(StoreError::VersionConflict {
                        expected: 0,
                        found: 1,
                    }),
                ) => {}
                (_, other) => panic!("unexpected result of a racing save: {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one first save wins");
        let (winner, version) = winners.pop().expect("one winner");
        assert_eq!(version, 1);
        let stored = node_a.load_room(RoomId(4)).await.expect("load").expect("exists");
        assert_eq!((stored.map, stored.version), (Some(winner.to_doc()), 1));
        node_a.close().await;
        node_b.close().await;
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_that_fails_midway_leaves_the_old_map() {
    let db = TestDb::create().await;
    guard("failing save", async {
        let store = db.store().await;
        store.seed_users(&[user(5, "ed", &[1])]).await.expect("seed");
        // Make the final write fail, after the row was locked and the library read.
        db.exec(
            "CREATE TRIGGER fail_boom BEFORE UPDATE ON room_maps FOR EACH ROW \
             IF NEW.map_doc LIKE '%boom%' THEN \
               SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; \
             END IF",
        )
        .await;
        let boom = map(10, &[(1, 0, 0)], &[("x", "boom", 1, 1)]);

        // A first save that fails leaves no map at all.
        let failed = store.save_map(RoomId(5), &boom, 0, 0).await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{failed:?}");
        let after = store.load_room(RoomId(5)).await.expect("load").expect("exists");
        assert_eq!((after.map, after.version), (None, 0));

        let good = map(10, &[(1, 0, 0)], &[("x", "fine", 1, 1)]);
        assert_eq!(store.save_map(RoomId(5), &good, 0, 0).await, Ok(1));

        // A later one leaves the previous map and version, and releases its locks.
        let failed = store.save_map(RoomId(5), &boom, 1, 0).await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{failed:?}");
        let after = store.load_room(RoomId(5)).await.expect("load").expect("exists");
        assert_eq!((after.map, after.version), (Some(good.to_doc()), 1));
        assert_eq!(store.save_map(RoomId(5), &good, 1, 0).await, Ok(2));
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

/// Issue 14, defect 4: a host that lost its room to another node (a lower
/// fencing epoch) cannot overwrite what the new host stored, even with the
/// version the store has now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_under_a_lower_epoch_is_fenced_and_changes_nothing() {
    let db = TestDb::create().await;
    guard("epoch fence", async {
        // The old host and the new one, each with a pool of its own.
        let (old_host, new_host) = (db.store().await, db.store().await);
        old_host.seed_users(&[user(6, "fay", &[])]).await.expect("seed");
        let from_old = map(6, &[], &[("o", "from the old host", 1, 1)]);
        let from_new = map(6, &[], &[("n", "from the new host", 2, 2)]);
        assert_eq!(old_host.save_map(RoomId(6), &from_old, 0, 7).await, Ok(1));
        assert_eq!(new_host.save_map(RoomId(6), &from_new, 1, 8).await, Ok(2));

        let stale = map(6, &[], &[("s", "stale", 3, 3)]);
        assert_eq!(
            old_host.save_map(RoomId(6), &stale, 2, 7).await,
            Err(StoreError::Fenced {
                room: RoomId(6),
                epoch: 7,
                stored_epoch: 8
            })
        );
        let stored = old_host
            .load_room(RoomId(6))
            .await
            .expect("load")
            .expect("exists");
        assert_eq!((stored.map, stored.version), (Some(from_new.to_doc()), 2));
        let mut conn = db.admin().await;
        let epoch: u64 = sqlx::query_scalar("SELECT epoch FROM room_maps WHERE owner_id = 6")
            .fetch_one(&mut conn)
            .await
            .expect("epoch");
        assert_eq!(epoch, 8, "the stored epoch is the newest that saved");
        old_host.close().await;
        new_host.close().await;
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_under_the_same_or_a_higher_epoch_are_stored() {
    let db = TestDb::create().await;
    guard("equal and higher epochs", async {
        let store = db.store().await;
        store.seed_users(&[user(7, "gil", &[])]).await.expect("seed");
        // A first save under any epoch, then the same epoch again, then a higher one.
        assert_eq!(store.save_map(RoomId(7), &map(6, &[], &[]), 0, 3).await, Ok(1));
        assert_eq!(store.save_map(RoomId(7), &map(7, &[], &[]), 1, 3).await, Ok(2));
        let last = map(8, &[], &[]);
        assert_eq!(store.save_map(RoomId(7), &last, 2, 11).await, Ok(3));
        let stored = store.load_room(RoomId(7)).await.expect("load").expect("exists");
        assert_eq!((stored.map, stored.version), (Some(last.to_doc()), 3));
        // A lower epoch after the higher one is fenced.
        let stale = store.save_map(RoomId(7), &map(9, &[], &[]), 3, 3).await;
        assert!(
            matches!(stale, Err(StoreError::Fenced { stored_epoch: 11, .. })),
            "{stale:?}"
        );
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

/// Issue 25.10: a node without a cluster saves under epoch 0, which no lease
/// ever has (lease epochs start at 1). It is not fenced by the epochs a
/// cluster left in the database and leaves them as they are, so every
/// cluster host is still fenced as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_a_cluster_saves_over_any_epoch_and_keeps_it() {
    let db = TestDb::create().await;
    guard("standalone over a cluster's epochs", async {
        let store = db.store().await;
        store.seed_users(&[user(8, "hal", &[])]).await.expect("seed");
        assert_eq!(store.save_map(RoomId(8), &map(6, &[], &[]), 0, 9).await, Ok(1));
        let standalone = map(7, &[], &[]);
        assert_eq!(store.save_map(RoomId(8), &standalone, 1, 0).await, Ok(2));
        let mut conn = db.admin().await;
        let epoch: u64 = sqlx::query_scalar("SELECT epoch FROM room_maps WHERE owner_id = 8")
            .fetch_one(&mut conn)
            .await
            .expect("epoch");
        assert_eq!(epoch, 9, "the cluster's epoch is kept");
        // A host that lost the room (epoch 8) is still fenced; the newest (9) is not.
        let stale = store.save_map(RoomId(8), &map(8, &[], &[]), 2, 8).await;
        assert!(
            matches!(stale, Err(StoreError::Fenced { stored_epoch: 9, .. })),
            "{stale:?}"
        );
        let stored = store.load_room(RoomId(8)).await.expect("load").expect("exists");
        assert_eq!((stored.map, stored.version), (Some(standalone.to_doc()), 2));
        assert_eq!(store.save_map(RoomId(8), &map(9, &[], &[]), 2, 9).await, Ok(3));
        // The version check still orders the node against the others.
        assert_eq!(
            store.save_map(RoomId(8), &map(10, &[], &[]), 2, 0).await,
            Err(StoreError::VersionConflict {
                expected: 2,
                found: 3
            })
        );
        store.close().await;
    })
    .await;
    db.drop_db().await;
}
