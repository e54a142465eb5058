//! The myroom node engine: one task per hosted room driving a
//! [`room_core::Room`], sessions, and local fan-out through bounded,
//! coalescing per-socket queues.
//!
//! The engine is written against the ports of `room-ports`; this crate also
//! holds the embedded implementations ([`DiskMapStore`], and the in-memory
//! ports in [`memory`]) so a single node needs no backing service. For
//! durable, shared storage pass adapter-mysql's `MysqlStore` instead: the
//! engine only sees an `Arc<dyn MapStore>`.
//!
//! # Wiring
//!
//! Build an [`Engine`] with [`Engine::builder`], optionally with
//! [`RoomObserver`]s that are told of every [`RoomEvent`] (to log, count, or
//! award achievements) without touching the wire protocol. Each
//! authenticated socket then gets a [`Session`]: its reader hands parsed
//! frames to [`Session::handle`], its writer drains the session's [`Outbox`].
//! The adapter-ws crate does all of this for axum; this is what it does:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), room_ports::StoreError> {
//! use std::sync::Arc;
//! use room_core::{parse_client_frame, UserId};
//! use room_node::{memory::MemoryMapStore, Engine, EngineConfig, Next, RoomEvent};
//! use room_ports::{MapStore, UserSeed};
//!
//! // Any MapStore: in memory here, DiskMapStore or MysqlStore in a server.
//! let store = Arc::new(MemoryMapStore::new());
//! store.seed_users(&[UserSeed { user: UserId(7), nickname: "owner".into(), games: vec![] }]).await?;
//! let engine = Engine::builder(store)
//!     .config(EngineConfig::default())
//!     .observer(Arc::new(|event: &RoomEvent| println!("observed {event:?}")))
//!     .build();
//!
//! // After the socket's token was verified:
//! let mut session = engine.open_session(UserId(7), "owner".into());
//! let outbox = session.outbox().clone();
//! // Reader side: every text frame is parsed and handed over.
//! if let Ok(msg) = parse_client_frame(r#"10{"room_id":"7"}"#) {
//!     session.handle(msg).await;
//! }
//! // Writer side: drain the outbox into the socket.
//! match outbox.next(64).await {
//!     Next::Frames(frames) => {
//!         // Send each frame's text; here, the SYNC of room 7.
//!         assert!(frames[0].as_str().starts_with("11"));
//!     }
//!     Next::Close(reason) => { /* send a close frame with reason.code() */ }
//! }
//! // Dropping the session is LEAVE.
//! drop(session);
//! # Ok(()) }
//! ```
//!
//! # Resume
//!
//! With [`EngineBuilder::seat_key`], sockets that opt in (an outbox from
//! [`Engine::new_socket_outbox`] with `resume`) get a seat when they enter
//! (PROTOCOL.md §9): their rooms number the events they send them, a
//! session ended with [`Session::hold_seat`] instead of being dropped keeps
//! its user in the room for [`EngineConfig::resume_grace`], and
//! [`Session::resume`] on a new session takes the seat up again with the
//! events it missed. adapter-ws does this from the handshake's `resume=`.
//!
//! # In a cluster
//!
//! [`EngineBuilder::cluster`] makes the engine one node of several: give it
//! [`ClusterPorts`] (adapter-redis's `RedisBackend` as both `RoomHosting` and
//! `NodeRegistry`, adapter-rabbit's `RabbitBus` as the `Bus`) and a shared
//! store (adapter-mysql's `MysqlStore`). A room is then hosted by the node
//! holding its lease and relayed by every other node with users in it; the
//! sessions and the code above do not change. The [`memory`] ports wire
//! several engines of one process together the same way, for tests.
#![deny(missing_docs)]

mod cluster;
mod config;
mod contract;
mod disk_store;
mod engine;
mod fanout;
mod machine;
pub mod memory;
pub mod metrics_names;
mod observer;
mod ordered;
mod outbox;
mod room_states;
mod room_task;
pub mod seat;
mod session;
mod tasks;

pub use cluster::{ClusterPorts, Route};
pub use config::EngineConfig;
pub use disk_store::DiskMapStore;
pub use engine::{Engine, EngineBuilder};
pub use fanout::{code_label, queue_message};
pub use observer::{ChannelObserver, RoomEvent, RoomObserver};
pub use outbox::{CloseReason, DEFAULT_OUTBOX_BYTES, Frame, Kind, Next, Outbox, Pushed};
pub use seat::SeatKey;
pub use session::Session;
