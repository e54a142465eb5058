//! The embedded schema migrations (sqlx's `Migrator`): idempotent, safe to run
//! concurrently, after an interruption, and over a database the runner they
//! replaced migrated.

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

/// The versions sqlx recorded as applied.
async fn recorded_versions(db: &TestDb) -> Vec<i64> {
    let mut conn = db.admin().await;
    let versions = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .expect("read versions");
    let _ = conn.close().await;
    versions
}

fn every_version() -> Vec<i64> {
    (1..=i64::from(SCHEMA_VERSION)).collect()
}

/// The embedded migrations, read from the files (a unit test checks they are what is embedded).
fn migration_files() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("the migrations directory")
        .map(|entry| {
            let path = entry.expect("an entry").path();
            let name = path.file_name().expect("a name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).expect("a readable file"))
        })
        .collect();
    files.sort();
    files
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
                "_sqlx_migrations",
                "games",
                "library",
                "room_maps",
                "room_maps_set_aside",
                "users"
            ]
        );
        assert_eq!(recorded_versions(&db).await, every_version());
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
        assert_eq!(recorded_versions(&db).await, every_version());
    })
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_cut_off_halfway_runs_again() {
    let db = TestDb::create().await;
    guard("interrupted migration", async {
        db.store().await.close().await;
        // As if the process died while applying migration 1: MySQL DDL commits
        // on its own, so sqlx's row for it stays `success = FALSE`, only some of
        // its tables exist, and no later migration ran.
        db.exec("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 1")
            .await;
        db.exec("DELETE FROM _sqlx_migrations WHERE version > 1").await;
        db.exec("DROP TABLE room_maps").await;

        let store = db.store().await;
        assert!(tables(&db).await.contains(&"room_maps".to_owned()));
        assert_eq!(recorded_versions(&db).await, every_version());
        store
            .seed_users(&[common::maps::user(2, "bo", &[])])
            .await
            .expect("seed");
        let saved = store
            .save_map(RoomId(2), &common::maps::map(5, &[], &[]), 0, 0)
            .await;
        assert_eq!(saved, Ok(1), "room_maps is usable again");
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

/// A database the hand-written runner migrated (bookkeeping in `myroom_schema`,
/// no `_sqlx_migrations`), with data: every migration runs again over it and
/// the data stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_the_old_runner_migrated_keeps_its_data() {
    let db = TestDb::create().await;
    guard("database of the old runner", async {
        let old = migration_files();
        db.exec(&old[0].1).await;
        db.exec(&old[1].1).await;
        db.exec(
            "CREATE TABLE myroom_schema (version INT UNSIGNED NOT NULL, description VARCHAR(255) NOT NULL, \
             applied_at DATETIME(3) NOT NULL, PRIMARY KEY (version)) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
        )
        .await;
        db.exec(
            "INSERT INTO myroom_schema VALUES (1, 'users, games, library, room_maps', UTC_TIMESTAMP(3)), \
             (2, 'room_maps_set_aside', UTC_TIMESTAMP(3))",
        )
        .await;
        db.exec("INSERT INTO users (id, nickname) VALUES (3, 'cy')").await;
        db.exec(
            r#"INSERT INTO room_maps (owner_id, map_doc, version, updated_at) VALUES
               (3, '{"side":7,"gameList":[],"objectList":[],"games":{},"objects":{}}', 4, UTC_TIMESTAMP(3))"#,
        )
        .await;

        let store = db.store().await;
        assert_eq!(recorded_versions(&db).await, every_version());
        assert!(!tables(&db).await.contains(&"myroom_schema".to_owned()));
        let room = store.load_room(RoomId(3)).await.expect("load").expect("cy exists");
        assert_eq!((room.owner_nickname.as_str(), room.version), ("cy", 4));
        assert_eq!(room.map.map(|doc| doc.side), Some(7));
        let saved = store.save_map(RoomId(3), &common::maps::map(9, &[], &[]), 4, 0).await;
        assert_eq!(saved, Ok(5));
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

/// Nodes of two versions share a database during a rolling upgrade: one that
/// a newer build migrated further still serves this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_a_newer_build_migrated_still_serves_this_one() {
    let db = TestDb::create().await;
    guard("newer schema", async {
        db.store().await.close().await;
        db.exec(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (999, 'from a newer build', TRUE, x'00', 0)",
        )
        .await;
        let store = db.store().await;
        assert_eq!(store.ping().await, Ok(()));
        store.close().await;
    })
    .await;
    db.drop_db().await;
}

/// Run again by hand over a migrated database, every migration succeeds and
/// changes nothing: what lets a cut-off or re-run migration be run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_migration_runs_again_over_itself_without_change() {
    let db = TestDb::create().await;
    guard("idempotent migrations", async {
        db.store().await.close().await;
        let before = columns(&db).await;
        for (name, sql) in migration_files() {
            let mut conn = db.admin().await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{name} run again: {e}"));
            let _ = conn.close().await;
        }
        assert_eq!(columns(&db).await, before);
    })
    .await;
    db.drop_db().await;
}

/// Every table's columns with their types, in order.
async fn columns(db: &TestDb) -> Vec<(String, String, String)> {
    let mut conn = db.admin().await;
    let columns = sqlx::query_as(
        "SELECT table_name, column_name, column_type FROM information_schema.columns \
         WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list columns");
    let _ = conn.close().await;
    columns
}
