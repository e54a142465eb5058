//! The [`MapStore`](room_ports::MapStore) of a cluster, in MySQL 8 or
//! MariaDB 10.11 through sqlx: users, the games they own, and room maps.
//!
//! ```no_run
//! # async fn start() -> Result<(), adapter_mysql::MysqlError> {
//! use adapter_mysql::{Backoff, MysqlConfig, MysqlStore};
//!
//! let config = MysqlConfig::new("mysql://myroom:secret@db:3306/myroom");
//! // Logs and retries until the server answers; migrates the schema.
//! let store = MysqlStore::connect_with_retry(config, Backoff::default()).await?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
//!
//! # Schema
//!
//! Applied at every start by sqlx's `Migrator` from the SQL files compiled
//! in (`migrations/`); applied versions are kept in `_sqlx_migrations`, and
//! a named lock (`GET_LOCK`, up to 30 s) makes nodes that start together take
//! turns. Every statement is idempotent, so a migration cut off halfway is
//! run again at the next start, and a database migrated by the runner of
//! earlier builds (`myroom_schema`) is taken over as it is (that table is
//! dropped). A database a newer build migrated further is used as it is.
//! Text is `utf8mb4`.
//!
//! | table | columns | notes |
//! |---|---|---|
//! | `users` | `id BIGINT UNSIGNED` PK, `nickname VARCHAR(255)` | a room's id is its owner's id |
//! | `games` | `id BIGINT UNSIGNED` PK, `name VARCHAR(255)` | |
//! | `library` | `user_id`, `game_id` | PK `(user_id, game_id)`: one row per pair; FKs to both, cascading |
//! | `room_maps` | `owner_id` PK/FK, `map_doc LONGTEXT NULL`, `version BIGINT UNSIGNED`, `epoch BIGINT UNSIGNED`, `updated_at DATETIME(3)` (UTC) | the MAP JSON of PROTOCOL.md §4; `epoch`: the highest fencing epoch that saved it |
//! | `room_maps_set_aside` | `id` PK, `owner_id`, `version`, `map_doc`, `reason`, `set_aside_at` | stored maps that could not be read, never overwritten |
//!
//! # Guarantees
//!
//! - A save is one transaction: the room's row is locked (`FOR UPDATE`), the
//!   writer's fencing epoch must be at least the highest that saved the room
//!   (else [`StoreError::Fenced`](room_ports::StoreError::Fenced): a host that
//!   lost the room), its version must be the one the caller loaded
//!   (optimistic concurrency: two nodes never overwrite each other blindly),
//!   every game of the map must
//!   still be in the owner's library (share-locked until the commit), and the
//!   call returns only after the commit. A failure anywhere leaves the old map.
//! - A stored map is returned as stored ([`room_core::MapDoc`], unvalidated),
//!   so a map that no longer passes validation is reported by the engine,
//!   never replaced silently; text that is not a MAP at all is
//!   [`StoreError::Corrupt`](room_ports::StoreError::Corrupt).
//! - Every operation runs under [`MysqlConfig::op_timeout`] and the pool's
//!   [`MysqlConfig::acquire_timeout`]: with the server gone it fails quickly
//!   with [`StoreError::Unavailable`](room_ports::StoreError::Unavailable)
//!   (ERROR 76503), and the pool reconnects by itself when it returns.
//! - No compile-time query checking: the crate builds without a database.
#![deny(missing_docs)]

mod aside;
mod config;
mod doc;
mod error;
mod port;
mod reads;
mod save;
mod schema;
mod seed;
mod store;

pub use config::{Backoff, MysqlConfig};
pub use error::MysqlError;
pub use schema::SCHEMA_VERSION;
pub use store::MysqlStore;
