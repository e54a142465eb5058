//! examples/embed.rs end to end: the host application's routes and API keys,
//! rooms at /rooms/ws, and its observer, over a real loopback socket.

mod common;
#[allow(dead_code)]
#[path = "../examples/embed.rs"]
mod embed;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{Client, http_get};
use room_core::{Cell, ServerMsg, UserId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Error as WsError;

async fn start() -> (SocketAddr, Arc<embed::Steps>) {
    let steps = Arc::new(embed::Steps::default());
    let app = embed::app(steps.clone()).await.expect("the app builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, steps)
}

#[tokio::test]
async fn rooms_work_with_the_host_applications_keys_and_its_observer_sees_them() {
    let (addr, steps) = start().await;
    let url = format!("ws://{addr}/rooms/ws?token=key-alice");
    let mut alice = Client::connect(&url)
        .await
        .expect("the app's own key is accepted");
    alice.enter(1).await;
    alice.send(r#"20{"direction":1}"#).await;
    let moved = alice.next_msg().await;
    assert!(
        matches!(
            moved,
            ServerMsg::Move {
                user: UserId(1),
                cell: Cell { x: 1, y: 0 },
                ..
            }
        ),
        "{moved:?}"
    );
    // The observer was told before the MOVE was queued to the socket.
    assert_eq!(steps.of(UserId(1)), 1);

    // A second user, with the header form of the same key scheme, sees alice.
    let bob_url = format!("ws://{addr}/rooms/ws");
    let mut bob = Client::connect_with_header(&bob_url, "authorization", "Bearer key-bob")
        .await
        .expect("header keys are accepted too");
    let ServerMsg::Sync { room } = bob.enter(1).await else {
        unreachable!()
    };
    assert_eq!(room.users.len(), 2);

    let (status, body) = http_get(addr, "/hello").await;
    assert_eq!((status, body.as_str()), (200, "hello from the host application"));
}

#[tokio::test]
async fn a_key_the_host_application_does_not_know_is_refused_with_401() {
    let (addr, _) = start().await;
    let refused = Client::connect(&format!("ws://{addr}/rooms/ws?token=key-mallory")).await;
    match refused {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 401),
        Err(other) => panic!("expected 401, got {other:?}"),
        Ok(_) => panic!("expected 401, got a socket"),
    }
    let missing = Client::connect(&format!("ws://{addr}/rooms/ws")).await;
    assert!(matches!(missing, Err(WsError::Http(r)) if r.status().as_u16() == 401));
}

#[tokio::test]
async fn the_host_applications_own_routes_keep_their_own_auth() {
    let (addr, _) = start().await;
    assert_eq!(http_get(addr, "/me").await.0, 401);
    assert!(get_me(addr, "key-bob").await.ends_with("\r\n\r\nbob"));
}

async fn get_me(addr: SocketAddr, key: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /me HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(common::PATIENCE, stream.read_to_string(&mut response))
        .await
        .expect("answered in time")
        .unwrap();
    response
}

/// A host that authenticates in its own handler hands the upgrade over with `FrontDoor::accept`.
#[tokio::test]
async fn a_handler_that_authenticated_by_itself_hands_the_upgrade_over() {
    use adapter_ws::{FrontDoor, Identity, JwtVerifier, WsConfig};
    use axum::extract::ws::WebSocketUpgrade;
    use room_ports::{MapStore, UserSeed};

    let store = Arc::new(room_node::memory::MemoryMapStore::new());
    let alice = UserSeed {
        user: UserId(1),
        nickname: "alice".into(),
        games: Vec::new(),
    };
    store.seed_users(&[alice]).await.unwrap();
    let engine = room_node::Engine::builder(store).build();
    let door = FrontDoor::new(
        engine,
        Arc::new(JwtVerifier::new(b"unused").unwrap()),
        WsConfig::default(),
    );
    let handler = move |ws: WebSocketUpgrade| async move {
        let identity = Identity {
            user: UserId(1),
            nickname: "alice".into(),
        };
        door.accept(ws, identity, false)
    };
    let app = axum::Router::new().route("/play", axum::routing::get(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut client = Client::connect(&format!("ws://{addr}/play"))
        .await
        .expect("upgraded");
    let ServerMsg::Sync { room } = client.enter(1).await else {
        unreachable!()
    };
    assert_eq!(room.users[0].nickname, "alice");
}
