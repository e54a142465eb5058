//! The WebSocket front door of myroom (PROTOCOL.md §1-2, §7-8).
//!
//! The access token is checked before the upgrade completes (401 otherwise);
//! each socket then gets a reader (frame limits, rate limit, parsing, the
//! legacy ENTER deadline, dead-peer detection) and a writer (draining its
//! session's bounded outbox, batching per tick on request, pings). The HTTP
//! routes `/healthz`, `/readyz`, `/metrics` and `/rooms/{id}` share the port;
//! `/rooms/{id}` answers only a valid access token (or the token given to
//! [`FrontDoor::with_admin_token`]), and `/readyz` names what is down, never
//! where it is.
//!
//! # As its own server
//!
//! [`FrontDoor::router`] is the whole service: the WebSocket at a path of
//! your choice plus the HTTP routes, with our HS256 tokens ([`JwtVerifier`]).
//! [`serve`] runs it with the accept-side limits of PROTOCOL.md §7 (header
//! deadline, connection caps in total and per IP, a bounded drain on
//! shutdown) and, behind [`TrustedProxies`], the client's own address from a
//! PROXY header or a forwarding header ([`ClientAddr`] in each request); any
//! other server (`axum::serve`, your own hyper loop) works too, without those
//! limits.
//!
//! ```no_run
//! # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use adapter_ws::{CancellationToken, FdBudget, FrontDoor, JwtVerifier, ServeConfig, WsConfig};
//! use room_node::{DiskMapStore, Engine, EngineConfig};
//!
//! let engine = Engine::new(Arc::new(DiskMapStore::open("data")?), EngineConfig::default());
//! let door = FrontDoor::new(engine, Arc::new(JwtVerifier::new(b"secret")?), WsConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8210").await?;
//! // Never more connections than the open-file limit leaves after a reserve.
//! let mut limits = ServeConfig::default();
//! if let Some(budget) = FdBudget::raise() {
//!     limits.max_connections = limits.max_connections.min(budget.connection_cap(128));
//! }
//! let shutdown = CancellationToken::new(); // cancel it to stop and drain
//! adapter_ws::serve(listener, door.router("/library"), limits, shutdown).await;
//! # Ok(()) }
//! ```
//!
//! # Inside your own axum application
//!
//! Implement [`Authenticate`] to say who a token (your API key, session
//! cookie value, your own JWT) names, build the engine with any observers of
//! room events, and mount [`FrontDoor::websocket_route`] in your router. The
//! token is read from `Authorization: Bearer`, else `?token=`, else a
//! `bearer.<token>` subprotocol. Clients then speak PROTOCOL.md on that path.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use adapter_ws::{AuthError, Authenticate, FrontDoor, Identity, WsConfig};
//! use room_core::UserId;
//! use room_node::{Engine, RoomEvent, memory::MemoryMapStore};
//! use room_ports::{MapStore, UserSeed};
//!
//! /// Your own check: here, one fixed key.
//! struct MyAuth;
//! impl Authenticate for MyAuth {
//!     fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
//!         match token {
//!             "key-alice" => Ok(Identity { user: UserId(1), nickname: "alice".into() }),
//!             _ => Err(AuthError::Invalid("unknown key".into())),
//!         }
//!     }
//! }
//!
//! // Rooms belong to users the store knows (room 1 is user 1's).
//! let store = Arc::new(MemoryMapStore::new());
//! store.seed_users(&[UserSeed { user: UserId(1), nickname: "alice".into(), games: vec![] }]).await?;
//! let engine = Engine::builder(store)
//!     .observer(Arc::new(|event: &RoomEvent| println!("{event:?}")))
//!     .build();
//! let rooms = FrontDoor::new(engine, Arc::new(MyAuth), WsConfig::default());
//!
//! let app: axum::Router = axum::Router::new()
//!     .route("/hello", axum::routing::get(|| async { "your own route" }))
//!     .route("/rooms/ws", rooms.websocket_route());
//! // axum::serve(listener, app).await?;
//! # drop(app); Ok(()) }
//! ```
//!
//! If your handler has already authenticated the request, hand the upgrade
//! over with [`FrontDoor::accept`]; a socket upgraded by other means is
//! served with [`FrontDoor::serve_socket`]. `examples/embed.rs` in the
//! repository is a complete application built this way.
#![deny(missing_docs)]

mod auth;
mod client_addr;
mod config;
mod connection;
mod fd_budget;
mod forwarded;
mod handshake;
mod http;
pub mod metrics_names;
mod proxy_protocol;
mod rate;
mod readiness;
mod resume_query;
mod serve;
mod slots;
mod trusted;
mod upkeep;

pub use auth::{
    AuthError, Authenticate, Identity, JwtVerifier, TokenClaims, sign_claims, sign_token, strip_bearer,
};
pub use client_addr::ClientAddr;
pub use config::WsConfig;
pub use fd_budget::FdBudget;
pub use forwarded::ForwardedHeader;
pub use handshake::SUBPROTOCOL;
pub use http::{FrontDoor, install_metrics};
pub use rate::{RateConfig, RateLimiter, Verdict};
pub use readiness::{Draining, ReadinessCheck, StoreReady};
pub use room_node::seat::{MAX_TOKEN_BYTES, SeatClaim, SeatError, SeatKey};
pub use serve::{ServeConfig, serve};
pub use tokio_util::sync::CancellationToken;
pub use trusted::{BadTrustedProxy, TrustedProxies};
