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
            store.save_map(RoomId(8), &fixed, 0).await,
            Err(StoreError::VersionConflict { expected: 0, found: 3 })
        );
        assert_eq!(store.save_map(RoomId(8), &fixed, 3).await, Ok(4));
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_that_is_not_a_map_is_corrupt_and_kept() {
    let db = TestDb::create().await;
    guard("corrupt stored map", async {
        let store = db.store().await;
        store.seed_users(&[user(9, "gus", &[])]).await.expect("seed");
        db.exec(
            "INSERT INTO room_maps (owner_id, map_doc, version, updated_at) \
             VALUES (9, 'not json', 2, UTC_TIMESTAMP(3))",
        )
        .await;

        let loaded = store.load_room(RoomId(9)).await;
        assert!(matches!(loaded, Err(StoreError::Corrupt(_))), "{loaded:?}");
        assert_eq!(
            store.save_map(RoomId(9), &Map::empty(), 0).await,
            Err(StoreError::VersionConflict {
                expected: 0,
                found: 2
            })
        );
        let mut conn = db.admin().await;
        let text: String = sqlx::query_scalar("SELECT map_doc FROM room_maps WHERE owner_id = 9")
            .fetch_one(&mut conn)
            .await
            .expect("row");
        assert_eq!(text, "not json");
        store.close().await;
    })
    .await;
    db.drop_db().await;
}
