//! The embedded schema migrations: idempotent, safe to run concurrently and
//! after an interruption.

mod common;

use adapter_mysql::{MysqlStore, SCHEMA_VERSION};
use common::db::TestDb;
use common::guard;
use room_core::{RoomId, UserId};
use room_ports::MapStore;
use sqlx::Connection;

async fn tables(db: &TestDb) -> Vec<String> {
    let mut conn = db.admin().await;
    let mut names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list tables");
    let _ = conn.close().await;
    names.sort();
    names
}

async fn recorded_versions(db: &TestDb) -> Vec<u32> {
    let mut conn = db.admin().await;
    let versions = sqlx::query_scalar("SELECT version FROM myroom_schema ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .expect("read versions");
    let _ = conn.close().await;
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_twice_without_change() {
    let db = TestDb::create().await;
    guard("migrations", async {
        let first = db.store().await;
        first
            .seed_users(&[common::maps::user(1, "ann", &[7])])
            .await
            .expect("seed");
        first.close().await;

        let second = db.store().await;
        assert_eq!(
            tables(&db).await,
            [
                "games",
                "library",
                "myroom_schema",
                "room_maps",
                "room_maps_set_aside",
                "users"
            ]
        );
        assert_eq!(
            recorded_versions(&db).await,
            (1..=SCHEMA_VERSION).collect::<Vec<_>>()
        );
        let room = second
            .load_room(RoomId(1))
            .await
            .expect("load")
            .expect("ann exists");
        assert_eq!(room.owner_nickname, "ann");
        assert_eq!(second.owned_games(UserId(1)).await.expect("games").len(), 1);
        second.close().await;
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_both_migrate() {
    let db = TestDb::create().await;
    guard("concurrent migrations", async {
        let (a, b, c) = tokio::join!(
            MysqlStore::connect(db.config()),
            MysqlStore::connect(db.config()),
            MysqlStore::connect(db.config())
        );
        for store in [a, b, c] {
            store.expect("every node starts").close().await;
        }
        assert_eq!(
            recorded_versions(&db).await,
            (1..=SCHEMA_VERSION).collect::<Vec<_>>()
        );
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_cut_off_before_its_bookkeeping_runs_again() {
    let db = TestDb::create().await;
    guard("interrupted migration", async {
        db.store().await.close().await;
        // As if the process died after the tables were created but before the
        // version was recorded (MySQL DDL commits on its own).
        db.exec("DELETE FROM myroom_schema").await;
        db.exec("DROP TABLE room_maps").await;

        let store = db.store().await;
        assert!(tables(&db).await.contains(&"room_maps".to_owned()));
        assert_eq!(
            recorded_versions(&db).await,
            (1..=SCHEMA_VERSION).collect::<Vec<_>>()
        );
        store.close().await;
    })
    .await;
    db.drop_db().await;
}
