//! Rooms inside an existing axum application: the app keeps its own routes and
//! its own API keys, and mounts myroom's WebSocket at `/rooms/ws`.
//!
//! `cargo run --example embed`, then connect a WebSocket client to
//! `ws://127.0.0.1:8300/rooms/ws?token=key-alice` and send `10{"room_id":"1"}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use adapter_ws::{AuthError, Authenticate, FrontDoor, Identity, WsConfig, strip_bearer};
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use room_core::UserId;
use room_node::{Engine, RoomEvent, RoomObserver, memory::MemoryMapStore};
use room_ports::{MapStore, StoreError, UserSeed};

/// The application's users and their API keys: (key, user id, nickname).
pub const API_KEYS: [(&str, u64, &str); 2] = [("key-alice", 1, "alice"), ("key-bob", 2, "bob")];

/// The application's own authentication; rooms use it instead of JWTs.
pub struct ApiKeys(HashMap<String, Identity>);

impl Authenticate for ApiKeys {
    fn authenticate(&self, key: &str) -> Result<Identity, AuthError> {
        let found = self.0.get(key).cloned();
        found.ok_or_else(|| AuthError::Invalid("unknown API key".to_owned()))
    }
}

/// Counts each user's steps (say, for an achievement) and logs arrivals.
/// It runs on the room's task, so it only touches a short-lived lock.
#[derive(Default)]
pub struct Steps(Mutex<HashMap<UserId, u64>>);

impl Steps {
    /// Steps `user` has taken so far.
    pub fn of(&self, user: UserId) -> u64 {
        self.0
            .lock()
            .ok()
            .and_then(|steps| steps.get(&user).copied())
            .unwrap_or(0)
    }
}

impl RoomObserver for Steps {
    fn on_event(&self, event: &RoomEvent) {
        match event {
            RoomEvent::Entered { room, nickname, .. } => tracing::info!(%room, nickname, "entered"),
            RoomEvent::Moved { user, .. } => {
                if let Ok(mut steps) = self.0.lock() {
                    *steps.entry(*user).or_default() += 1;
                }
            }
            _ => {}
        }
    }
}

/// The whole application: its own routes, plus rooms at `/rooms/ws`.
pub async fn app(steps: Arc<Steps>) -> Result<Router, StoreError> {
    let users = API_KEYS.map(|(_, id, name)| UserSeed {
        user: UserId(id),
        nickname: name.to_owned(),
        games: Vec::new(),
    });
    let store = Arc::new(MemoryMapStore::new());
    store.seed_users(&users).await?;
    let engine = Engine::builder(store).observer(steps).build();

    let identities = users.map(|u| Identity {
        user: u.user,
        nickname: u.nickname,
    });
    let keys = API_KEYS.iter().map(|(key, ..)| key.to_string()).zip(identities);
    let keys = Arc::new(ApiKeys(keys.collect()));
    let rooms = FrontDoor::new(engine, keys.clone(), WsConfig::default());

    Ok(Router::new()
        .route("/hello", get(|| async { "hello from the host application" }))
        .route(
            "/me",
            get(move |headers: HeaderMap| async move { me(&keys, &headers) }),
        )
        .route("/rooms/ws", rooms.websocket_route()))
}

/// One of the application's own authenticated routes.
fn me(keys: &ApiKeys, headers: &HeaderMap) -> (StatusCode, String) {
    let key = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match keys.authenticate(strip_bearer(key.unwrap_or_default())) {
        Ok(identity) => (StatusCode::OK, identity.nickname),
        Err(e) => (StatusCode::UNAUTHORIZED, e.to_string()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Without log_internal_errors(false), a log line that cannot be written
    // (stdout to a pipe whose reader died) panics the task that logged.
    tracing_subscriber::fmt().log_internal_errors(false).init();
    let app = app(Arc::new(Steps::default())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8300").await?;
    tracing::info!("try ws://127.0.0.1:8300/rooms/ws?token=key-alice");
    axum::serve(listener, app).await?;
    Ok(())
}
