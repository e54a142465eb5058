//! The example server on MySQL (the real MariaDB): durability and the 76503 path.

mod common;

use std::time::Duration;

use common::cluster::Database;
use common::proxy::Proxy;
use common::{PATIENCE, TestServer};
use room_core::{ErrorCode, ServerMsg};

async fn wait_ready(server: &TestServer, ready: bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    loop {
        let (status, body) = server.get("/readyz").await;
        if (status == 200) == ready {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz stayed {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CHESS: &str = r#"40{"map":{"side":8,"gameList":["12"],"objectList":["w1"],"games":{"12":{"name":"Chess","x":0,"y":0}},"objects":{"w1":{"name":"wall","x":3,"y":3}}}}"#;

#[tokio::test]
async fn a_build_stored_in_mysql_survives_a_restart_of_the_server() {
    let db = Database::create().await;
    let url = db.url_via("127.0.0.1:3306");
    let first = TestServer::start_with(|args| args.mysql = Some(url.clone())).await;
    wait_ready(&first, true).await;
    let mut owner = first.connect(1).await;
    owner.enter(1).await;
    owner.send(CHESS).await;
    assert!(matches!(owner.next_msg().await, ServerMsg::Sync { room } if room.map.side() == 8));
    drop(owner);
    first.server.shutdown().await;

    // A new data directory: only MySQL can remember the map.
    let second = TestServer::start_with(|args| args.mysql = Some(url.clone())).await;
    wait_ready(&second, true).await;
    let mut guest = second.connect(2).await;
    match guest.enter(1).await {
        ServerMsg::Sync { room } => {
            assert_eq!(room.map.side(), 8);
            assert_eq!(room.map.games()[0].1.name, "Chess");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn mysql_down_answers_76503_for_what_needs_it_and_moves_go_on_until_it_returns() {
    let db = Database::create().await;
    let proxy = Proxy::new("127.0.0.1:3306".parse().unwrap()).await;
    let url = db.url_via(&proxy.addr.to_string());
    let server = TestServer::start_with(|args| args.mysql = Some(url.clone())).await;

    // Down at start: the server listens, is not ready, and entering is 76503.
    wait_ready(&server, false).await;
    let mut early = server.connect(1).await;
    early.send(r#"10{"room_id":"1"}"#).await;
    early.expect_error(ErrorCode::Unavailable).await;

    // It connects by itself once MySQL is reachable.
    proxy.start().await;
    wait_ready(&server, true).await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;

    // Down while running: BUILD is 76503, the loaded room keeps moving,
    // and a room that is not loaded cannot be entered.
    proxy.stop();
    owner.send(CHESS).await;
    owner.expect_error(ErrorCode::Unavailable).await;
    owner.send(r#"20{"direction":1}"#).await;
    assert!(matches!(owner.next_msg().await, ServerMsg::Move { .. }));
    let mut elsewhere = server.connect(2).await;
    elsewhere.send(r#"10{"room_id":"2"}"#).await;
    elsewhere.expect_error(ErrorCode::Unavailable).await;

    // Back: the pool reconnects and the same BUILD is stored.
    proxy.start().await;
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    loop {
        owner.send(CHESS).await;
        match owner.next_msg().await {
            ServerMsg::Sync { room } => {
                assert_eq!(room.map.side(), 8);
                break;
            }
            ServerMsg::Error {
                code: ErrorCode::Unavailable,
                ..
            } => {
                assert!(tokio::time::Instant::now() < deadline, "MySQL never came back");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("{other:?}"),
        }
    }
}

/// `/readyz` and a route's 503 say what is down, never where it is.
#[tokio::test]
async fn mysql_down_is_reported_without_its_address() {
    let db = Database::create().await;
    let proxy = Proxy::new("127.0.0.1:3306".parse().unwrap()).await;
    proxy.start().await;
    let url = db.url_via(&proxy.addr.to_string());
    let server = TestServer::start_with(|args| args.mysql = Some(url.clone())).await;
    wait_ready(&server, true).await;
    proxy.stop();
    wait_ready(&server, false).await;
    let port = proxy.addr.port().to_string();
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("\"store\""), "{body}");
    assert!(!body.contains(&port) && !body.contains(&db.name), "{body}");
    let (status, body) = server.get(&format!("/me/games?token={}", common::token(1))).await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.contains(&port) && !body.contains(&db.name), "{body}");
}

/// Issue 25.10: a cluster shrunk to one node without Redis and RabbitMQ.
/// The cluster's hosts saved room 1 under lease epoch 7; the standalone
/// node, which holds no lease, can still BUILD (README, "Run a cluster").
#[tokio::test]
async fn a_standalone_node_on_a_database_a_cluster_used_can_build() {
    use sqlx::Connection;
    let db = Database::create().await;
    let url = db.url_via("127.0.0.1:3306");
    let first = TestServer::start_with(|args| args.mysql = Some(url.clone())).await;
    wait_ready(&first, true).await;
    let mut owner = first.connect(1).await;
    owner.enter(1).await;
    owner.send(CHESS).await;
    assert!(matches!(owner.next_msg().await, ServerMsg::Sync { .. }));
    drop(owner);
    first.server.shutdown().await;
    // What a cluster host under lease epoch 7 leaves behind.
    let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE room_maps SET epoch = 7 WHERE owner_id = 1")
        .execute(&mut conn)
        .await
        .unwrap();

    let second = TestServer::start_with(|args| args.mysql = Some(url.clone())).await;
    wait_ready(&second, true).await;
    let mut owner = second.connect(1).await;
    owner.enter(1).await;
    owner.send(&CHESS.replace(r#""side":8"#, r#""side":9"#)).await;
    match owner.next_msg().await {
        ServerMsg::Sync { room } => assert_eq!(room.map.side(), 9),
        other => panic!("the BUILD was refused: {other:?}"),
    }
    let (version, epoch): (u64, u64) =
        sqlx::query_as("SELECT version, epoch FROM room_maps WHERE owner_id = 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(version, 2, "stored");
    assert_eq!(
        epoch, 7,
        "the standalone node leaves the cluster's epoch as it was"
    );
}
