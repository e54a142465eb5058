//! What the server refuses to start with, and what it serves on an address
//! others can reach: no development login or development secret off
//! loopback unless forced, none at all in a cluster, no short secrets.

mod common;

use common::{SECRET, args_for, http_get, unique_dir};
use myroom::app;
use myroom::settings::ServerArgs;

/// A secret long enough to be accepted.
const LONG: &str = "0123456789abcdef0123456789abcdef";

fn args(tweak: impl FnOnce(&mut ServerArgs)) -> ServerArgs {
    let mut args = args_for(&unique_dir("startup"));
    tweak(&mut args);
    args
}

/// Why `args` does not start (the server must not be listening).
async fn refusal(args: ServerArgs) -> String {
    match app::start(args).await {
        Ok(server) => {
            let addr = server.addr();
            server.shutdown().await;
            panic!("the server started on {addr}");
        }
        Err(e) => e.to_string(),
    }
}

/// The status of `POST /dev/token {"user":1}` on a server listening at `port`.
async fn dev_token_status(port: u16) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let body = r#"{"user":1}"#;
    let request = format!(
        "POST /dev/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(common::PATIENCE, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&response)[9..12].parse().unwrap()
}

#[tokio::test]
async fn a_secret_shorter_than_32_bytes_is_refused_with_how_to_make_one() {
    let message = refusal(args(|a| a.jwt_secret = Some("short".into()))).await;
    assert!(message.contains("32"), "{message}");
    assert!(message.contains("openssl rand -hex 32"), "{message}");
    let message = refusal(args(|a| a.jwt_secret = Some("x".repeat(31)))).await;
    assert!(message.contains("openssl rand -hex 32"), "{message}");
}

#[tokio::test]
async fn off_loopback_without_a_secret_the_server_does_not_start() {
    let message = refusal(args(|a| {
        a.listen = "0.0.0.0:0".parse().unwrap();
        a.jwt_secret = None;
    }))
    .await;
    assert!(message.contains("--jwt-secret"), "{message}");
}

#[tokio::test]
async fn off_loopback_the_dev_login_is_off_unless_forced() {
    let server = app::start(args(|a| {
        a.listen = "0.0.0.0:0".parse().unwrap();
        a.jwt_secret = Some(LONG.into());
    }))
    .await
    .expect("starts with a real secret");
    let port = server.addr().port();
    assert_eq!(dev_token_status(port).await, 404, "nobody can mint tokens");
    let (_, config) = http_get(format!("127.0.0.1:{port}").parse().unwrap(), "/web/config").await;
    assert!(config.contains(r#""devLogin":false"#), "{config}");
    server.shutdown().await;

    // Forced: on, and then the development secret is allowed too.
    let server = app::start(args(|a| {
        a.listen = "0.0.0.0:0".parse().unwrap();
        a.jwt_secret = None;
        a.dev_login = Some(true);
    }))
    .await
    .expect("--dev-login forces it");
    assert_eq!(dev_token_status(server.addr().port()).await, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn on_loopback_the_dev_login_and_dev_secret_stay_on() {
    let server = app::start(args(|a| a.jwt_secret = None)).await.expect("starts");
    assert_eq!(dev_token_status(server.addr().port()).await, 200);
    server.shutdown().await;
}

/// Cluster flags that would join real services if the settings were accepted.
fn cluster(a: &mut ServerArgs) {
    a.mysql = Some("mysql://root@127.0.0.1:3306/test".into());
    a.redis = Some("redis://127.0.0.1:6379".into());
    a.amqp = Some("amqp://guest:guest@127.0.0.1:5672/%2f".into());
    a.key_prefix = format!("startup-refused-{}", std::process::id());
}

#[tokio::test]
async fn a_cluster_node_refuses_the_dev_login_and_the_dev_secret() {
    let message = refusal(args(|a| {
        cluster(a);
        a.dev_login = Some(true);
    }))
    .await;
    assert!(message.contains("--dev-login"), "{message}");
    let message = refusal(args(|a| {
        cluster(a);
        a.jwt_secret = None;
    }))
    .await;
    assert!(message.contains("--jwt-secret"), "{message}");
}

#[test]
fn the_test_secret_is_long_enough() {
    assert!(SECRET.len() >= 32);
}
