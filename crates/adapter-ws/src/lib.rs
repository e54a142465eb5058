//! The WebSocket front door of myroom (PROTOCOL.md §1-2, §7-8).
//!
//! The access token is checked before the upgrade completes (401 otherwise);
//! each socket then gets a reader (frame limits, rate limit, parsing, the
//! legacy ENTER deadline, dead-peer detection) and a writer (draining its
//! session's bounded outbox, batching per tick on request, pings). The HTTP
//! routes `/healthz`, `/readyz`, `/metrics` and `/rooms/{id}` share the port.
//!
//! ```no_run
//! # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use adapter_ws::{FrontDoor, JwtVerifier, WsConfig};
//! use room_node::{DiskMapStore, Engine, EngineConfig};
//!
//! let engine = Engine::new(Arc::new(DiskMapStore::open("data")?), EngineConfig::default());
//! let door = FrontDoor::new(engine, Arc::new(JwtVerifier::new(b"secret")?), WsConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8210").await?;
//! axum::serve(listener, door.router("/library")).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod auth;
mod config;
mod connection;
mod handshake;
mod http;
pub mod metrics_names;
mod rate;
mod readiness;

pub use auth::{AuthError, Authenticate, Identity, JwtVerifier, sign_token, strip_bearer};
pub use config::WsConfig;
pub use handshake::SUBPROTOCOL;
pub use http::{FrontDoor, install_metrics};
pub use rate::{RateConfig, RateLimiter, Verdict};
pub use readiness::{ReadinessCheck, StoreReady};
