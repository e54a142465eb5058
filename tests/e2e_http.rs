//! The HTTP routes on the WebSocket's port.

mod common;

use common::{TestServer, token};

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/healthz").await, (200, "ok".into()));
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"store\":\"ok\""), "{body}");
}

const ROOM_1: &str = r#"{"roomId":"1","userCount":1,"users":{"1":{"nickname":"alice","x":0,"y":0}},"map":{"side":20,"gameList":[],"objectList":[],"games":{},"objects":{}}}"#;

/// `GET path` with `Authorization: Bearer bearer`.
async fn get_with_bearer(server: &TestServer, path: &str, bearer: &str) -> (u16, String) {
    common::http_get_with(
        server.server.addr(),
        path,
        &format!("Authorization: Bearer {bearer}\r\n"),
    )
    .await
}

#[tokio::test]
async fn rooms_route_shows_the_sync_room_json_to_a_signed_in_user() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    // A guest who is not in the room may look, with a valid token in either place.
    assert_eq!(
        get_with_bearer(&server, "/rooms/1", &token(2)).await,
        (200, ROOM_1.into())
    );
    assert_eq!(
        server.get(&format!("/rooms/1?token={}", token(2))).await,
        (200, ROOM_1.into())
    );
    assert_eq!(get_with_bearer(&server, "/rooms/999", &token(2)).await.0, 404);
    assert_eq!(get_with_bearer(&server, "/rooms/abc", &token(2)).await.0, 400);
}

#[tokio::test]
async fn rooms_route_shows_nobody_to_a_stranger() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    for (status, body) in [
        server.get("/rooms/1").await,
        server.get("/rooms/1?token=forged").await,
        get_with_bearer(&server, "/rooms/1", "forged").await,
    ] {
        assert_eq!(status, 401, "{body}");
        assert!(!body.contains("alice"), "{body}");
    }
}

#[tokio::test]
async fn rooms_route_takes_the_admin_token() {
    let admin = "admin-token-0123456789abcdef-0123456789";
    let server = TestServer::start_with(|args| args.admin_token = Some(admin.into())).await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    assert_eq!(
        get_with_bearer(&server, "/rooms/1", admin).await,
        (200, ROOM_1.into())
    );
    assert_eq!(
        get_with_bearer(&server, "/rooms/1", &admin[..admin.len() - 1])
            .await
            .0,
        401
    );
    assert_eq!(server.get("/rooms/1").await.0, 401);
}

#[tokio::test]
async fn rooms_route_does_not_read_the_store_for_a_room_that_is_not_loaded() {
    let server = TestServer::start().await;
    // Had the route read room 2 from the store, this would be a store error.
    std::fs::write(server.dir.join("data/maps/2.json"), "not a map").unwrap();
    let (status, body) = get_with_bearer(&server, "/rooms/2", &token(1)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        server.server.engine().room_count(),
        0,
        "nothing was loaded to answer"
    );
}

/// A readiness check that fails naming where its service is.
struct Unreachable;

#[async_trait::async_trait]
impl adapter_ws::ReadinessCheck for Unreachable {
    fn name(&self) -> &str {
        "ledger"
    }
    async fn check(&self) -> Result<(), String> {
        Err("cannot connect to ledger at 10.1.2.3:5999: connection refused".into())
    }
}

#[tokio::test]
async fn readyz_names_what_is_down_but_not_where_it_is() {
    use std::sync::Arc;
    let engine = room_node::Engine::new(
        Arc::new(room_node::memory::MemoryMapStore::new()),
        Default::default(),
    );
    let door = adapter_ws::FrontDoor::new(
        engine,
        Arc::new(adapter_ws::JwtVerifier::new(common::SECRET.as_bytes()).unwrap()),
        Default::default(),
    )
    .with_readiness(Arc::new(Unreachable));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, door.router("/library")).await });
    let (status, body) = common::http_get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("\"ledger\""), "{body}");
    assert!(body.contains("\"store\":\"ok\""), "{body}");
    assert!(!body.contains("10.1.2.3") && !body.contains("5999"), "{body}");
}

#[tokio::test]
async fn metrics_counters_move_when_clients_act() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    let before = server.metric("myroom_messages_in_total", "code=\"20\"").await;
    let out_before = server.metric("myroom_messages_out_total", "code=\"20\"").await;
    let errors_before = server.metric("myroom_errors_total", "code=\"76900\"").await;
    owner.send(r#"20{"direction":1}"#).await;
    owner.next_msg().await;
    owner.send("55").await;
    owner.next_msg().await;
    assert!(server.metric("myroom_messages_in_total", "code=\"20\"").await >= before + 1.0);
    assert!(server.metric("myroom_messages_out_total", "code=\"20\"").await >= out_before + 1.0);
    assert!(server.metric("myroom_errors_total", "code=\"76900\"").await >= errors_before + 1.0);
    let (_, body) = server.get("/metrics").await;
    for name in [
        "myroom_connections",
        "myroom_rooms",
        "myroom_command_seconds_bucket",
    ] {
        assert!(body.contains(name), "{name} missing from /metrics");
    }
}

/// `POST /auth/check` with `body`.
async fn auth_check(server: &TestServer, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.server.addr())
        .await
        .unwrap();
    let request = format!(
        "POST /auth/check HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    assert!(
        response
            .to_ascii_lowercase()
            .contains("access-control-allow-origin: *"),
        "readable from a page of any origin: {response}"
    );
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test]
async fn auth_check_tells_a_refused_token_from_a_good_one_and_why() {
    let server = TestServer::start().await;
    let (status, body) = auth_check(&server, &token(2)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"user\":\"2\""), "{body}");
    let (status, body) = auth_check(&server, "forged").await;
    assert_eq!(status, 401);
    assert!(body.contains("\"reason\":\"invalid\""), "{body}");
    let (status, body) = auth_check(&server, "").await;
    assert_eq!(status, 401);
    assert!(body.contains("\"reason\":\"missing\""), "{body}");
    // The check changes nothing: the server still takes the good token.
    let mut client = server.connect(2).await;
    client.enter(2).await;
}
