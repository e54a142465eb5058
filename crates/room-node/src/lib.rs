//! The myroom node engine: one task per hosted room driving a
//! [`room_core::Room`], sessions, and local fan-out through bounded,
//! coalescing per-socket queues.
//!
//! The engine is written against the ports of `room-ports`; this crate also
//! holds the embedded implementations ([`DiskMapStore`], and the in-memory
//! ports in [`memory`]) so a single node needs no backing service.
//!
//! The wiring, as an adapter sees it:
//!
//! ```no_run
//! # async fn wire() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use room_node::{DiskMapStore, Engine, EngineConfig, Next};
//! use room_core::{parse_client_frame, UserId};
//!
//! let engine = Engine::new(Arc::new(DiskMapStore::open("data")?), EngineConfig::default());
//! // After the socket's token was verified:
//! let mut session = engine.open_session(UserId(7), "owner".into());
//! let outbox = session.outbox().clone();
//! // Reader side: every text frame is parsed and handed over.
//! if let Ok(msg) = parse_client_frame(r#"10{"room_id":"7"}"#) {
//!     session.handle(msg).await;
//! }
//! // Writer side: drain the outbox into the socket.
//! match outbox.next(64).await {
//!     Next::Frames(frames) => { /* send each frame's text */ }
//!     Next::Close(reason) => { /* send a close frame with reason.code() */ }
//! }
//! // Dropping the session is LEAVE.
//! drop(session);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod config;
mod disk_store;
mod engine;
mod fanout;
pub mod memory;
pub mod metrics_names;
mod outbox;
mod room_task;
mod session;

pub use config::EngineConfig;
pub use disk_store::DiskMapStore;
pub use engine::Engine;
pub use fanout::{code_label, queue_message};
pub use outbox::{CloseReason, Frame, Next, Outbox, Pushed};
pub use session::Session;
