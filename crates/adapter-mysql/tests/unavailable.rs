//! A server that is not there at start, or goes away while running: clear
//! errors, retries, `Unavailable` (ERROR 76503), and recovery without help.

mod common;

use std::time::Duration;

use adapter_mysql::{Backoff, MysqlConfig, MysqlError, MysqlStore};
use common::db::{TestDb, url_via_port, url_with_database};
use common::guard;
use common::maps::{map, user};
use common::proxy::{Proxy, free_port, upstream_of};
use room_core::{RoomId, UserId};
use room_ports::{MapStore, StoreError};

/// Settings for `db` reached through `port`, with short timeouts.
fn config_via(db: &TestDb, port: u16) -> MysqlConfig {
    let mut config = db.config();
    config.url = url_via_port(&db.url, port);
    config.acquire_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_secs(2);
    config.op_timeout = Duration::from_secs(3);
    config
}

fn is_unavailable<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Unavailable(_)))
}

#[test]
fn test_urls_are_rewritten_as_expected() {
    assert_eq!(
        url_with_database("mysql://root@h:3306", "d"),
        "mysql://root@h:3306/d"
    );
    assert_eq!(
        url_with_database("mysql://root@h:3306/?ssl-mode=disabled", "d"),
        "mysql://root@h:3306/d?ssl-mode=disabled"
    );
    assert_eq!(
        url_via_port("mysql://u:p@h:3306/d?x=1", 9),
        "mysql://u:p@127.0.0.1:9/d?x=1"
    );
    assert_eq!(url_via_port("mysql://h/d", 9), "mysql://127.0.0.1:9/d");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_where_no_server_listens_is_a_clear_retryable_error() {
    let db = TestDb::create().await;
    let port = free_port().await;
    let error = guard("connect", MysqlStore::connect(config_via(&db, port)))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(error, MysqlError::Connect { .. }), "{error:?}");
    assert!(error.is_retryable());
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_url_is_not_retried() {
    let config = MysqlConfig::new("this is not a url");
    let error = guard(
        "connect_with_retry",
        MysqlStore::connect_with_retry(config, Backoff::default()),
    )
    .await
    .expect_err("a bad URL never works");
    assert!(matches!(error, MysqlError::InvalidUrl(_)), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_keeps_retrying_until_the_server_is_reachable() {
    let db = TestDb::create().await;
    let mut proxy = Proxy::stopped(free_port().await, upstream_of(&db.url).await);
    let backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
    };
    let starting = tokio::spawn(MysqlStore::connect_with_retry(
        config_via(&db, proxy.port()),
        backoff,
    ));

    // Several attempts fail meanwhile (the process would say "not ready").
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!starting.is_finished(), "start must wait for the server");

    proxy.restart().await;
    let store = guard("start after the server came", starting)
        .await
        .expect("task")
        .expect("connected");
    assert_eq!(store.ping().await, Ok(()));
    store.close().await;
    proxy.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_while_running_is_unavailable_until_it_returns() {
    let db = TestDb::create().await;
    let mut proxy = Proxy::start(upstream_of(&db.url).await).await;
    let store = guard(
        "connect through proxy",
        MysqlStore::connect(config_via(&db, proxy.port())),
    )
    .await
    .expect("connected through the proxy");
    guard("server gone and back", async {
        store.seed_users(&[user(1, "ann", &[4])]).await.expect("seed");
        let first = map(10, &[(4, 2, 2)], &[]);
        assert_eq!(store.save_map(RoomId(1), &first, 0, 0).await, Ok(1));

        proxy.stop().await;
        let load = store.load_room(RoomId(1)).await;
        assert!(is_unavailable(&load), "{load:?}");
        let save = store.save_map(RoomId(1), &map(10, &[], &[]), 1, 0).await;
        assert!(is_unavailable(&save), "{save:?}");
        let games = store.owned_games(UserId(1)).await;
        assert!(is_unavailable(&games), "{games:?}");
        let ping = store.ping().await;
        assert!(is_unavailable(&ping), "{ping:?}");

        proxy.restart().await;
        // The same store (same pool) recovers by itself.
        while store.ping().await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let room = store.load_room(RoomId(1)).await.expect("load").expect("exists");
        assert_eq!(
            (room.map, room.version),
            (Some(first.to_doc()), 1),
            "the failed save changed nothing"
        );
        assert_eq!(store.save_map(RoomId(1), &map(10, &[], &[]), 1, 0).await, Ok(2));
    })
    .await;
    store.close().await;
    proxy.stop().await;
    db.drop_db().await;
}
