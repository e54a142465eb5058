//! Stored maps that no longer pass: reported, never replaced silently.

mod common;

use common::db::TestDb;
use common::guard;
use common::maps::{map, user};
use room_core::{Map, RoomId};
use room_ports::{MapStore, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_stored_map_is_returned_as_stored() {
    let db = TestDb::create().await;
    guard("invalid stored map", async {
        let store = db.store().await;
        store.seed_users(&[user(8, "flo", &[])]).await.expect("seed");
        // Valid once, invalid under today's rules (side over 64).
        db.exec(
            r#"INSERT INTO room_maps (owner_id, map_doc, version, updated_at) VALUES
               (8, '{"side":100,"gameList":[],"objectList":[],"games":{},"objects":{}}', 3, UTC_TIMESTAMP(3))"#,
        )
        .await;

        let room = store.load_room(RoomId(8)).await.expect("load").expect("exists");
        assert_eq!(room.version, 3);
        let doc = room.map.expect("the stored document");
        assert_eq!(doc.side, 100);
        assert!(Map::validate(&doc, 64).is_err(), "the engine sees it is invalid");

        // Only a writer who loaded version 3 (the owner's explicit BUILD) replaces it.
        let fixed = map(20, &[], &[]);
        assert_eq!(
            store.save_map(RoomId(8), &fixed, 0, 0).await,
            Err(StoreError::VersionConflict { expected: 0, found: 3 })
        );
        assert_eq!(store.save_map(RoomId(8), &fixed, 3, 0).await, Ok(4));
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

/// Issue 13, item 7: a row that is not a map no longer locks its room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_that_is_not_a_map_is_set_aside_and_the_room_loads_empty_and_buildable() {
    let db = TestDb::create().await;
    guard("corrupt stored map", async {
        let store = db.store().await;
        store.seed_users(&[user(9, "gus", &[])]).await.expect("seed");
        db.exec(
            "INSERT INTO room_maps (owner_id, map_doc, version, updated_at) \
             VALUES (9, 'not json', 2, UTC_TIMESTAMP(3))",
        )
        .await;

        let room = store.load_room(RoomId(9)).await.expect("loads").expect("exists");
        assert_eq!((room.version, &room.map), (2, &None));
        let place = room.set_aside.expect("says where the row went");
        assert!(place.contains("room_maps_set_aside"), "{place}");
        let mut conn = db.admin().await;
        let kept: (u64, String) =
            sqlx::query_as("SELECT version, map_doc FROM room_maps_set_aside WHERE owner_id = 9")
                .fetch_one(&mut conn)
                .await
                .expect("kept aside");
        assert_eq!(kept, (2, "not json".to_owned()));

        // The owner builds over the same version; the kept record stays.
        let fixed = map(20, &[], &[]);
        assert_eq!(store.save_map(RoomId(9), &fixed, 2, 0).await, Ok(3));
        let again = store.load_room(RoomId(9)).await.expect("loads").expect("exists");
        assert_eq!((again.version, again.set_aside), (3, None));
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM room_maps_set_aside WHERE owner_id = 9")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        assert_eq!(count, 1);
        store.close().await;
    })
    .await;
    db.drop_db().await;
}
