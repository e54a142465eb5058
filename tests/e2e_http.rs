//! The HTTP routes on the WebSocket's port.

mod common;

use common::TestServer;

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/healthz").await, (200, "ok".into()));
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"store\":\"ok\""), "{body}");
}

#[tokio::test]
async fn rooms_route_shows_the_sync_room_json() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    let (status, body) = server.get("/rooms/1").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"roomId":"1","userCount":1,"users":{"1":{"nickname":"alice","x":0,"y":0}},"map":{"side":20,"gameList":[],"objectList":[],"games":{},"objects":{}}}"#
    );
    assert_eq!(server.get("/rooms/999").await.0, 404);
    assert_eq!(server.get("/rooms/abc").await.0, 400);
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
