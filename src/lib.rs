//! myroom: real-time "my room" spaces over WebSocket.
//!
//! This package holds the example server's wiring ([`app`]), its flags
//! ([`settings`]) and fixtures ([`fixtures`]); the workspace crates hold the
//! pieces: `room-core` (the pure room state machine and wire codec),
//! `room-ports` (the backing-service traits), `room-node` (the async engine),
//! and the adapters for WebSocket, MySQL, Redis and RabbitMQ.
#![deny(missing_docs)]

pub mod app;
pub mod cluster;
pub mod fixtures;
pub mod logging;
pub mod pending_store;
pub mod settings;
pub mod web;
