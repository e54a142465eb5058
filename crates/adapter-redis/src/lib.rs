//! Redis adapter for the myroom cluster: which node hosts each room with a
//! fencing epoch, and each room's snapshot
//! ([`RoomHosting`](room_ports::RoomHosting)), and the live nodes with their
//! load ([`NodeRegistry`](room_ports::NodeRegistry)).
//!
//! ```no_run
//! # async fn example() -> Result<(), adapter_redis::RedisError> {
//! use adapter_redis::{RedisBackend, RedisConfig};
//! let backend = RedisBackend::connect(RedisConfig::new("redis://127.0.0.1:6379", "myroom:")).await?;
//! // `backend` (or clones of it) serves as both ports.
//! # Ok(()) }
//! ```
//!
//! # Atomicity
//!
//! Every operation is one Redis command or one Lua script: no client-side
//! read-modify-write and no lock. Of racing lease acquisitions exactly one
//! wins, and every grant gets a new epoch (its holder asking again too, so a
//! node restarted under the same id never reuses one), so a stale host's
//! renew, release or snapshot write is refused. Epochs never go back, even
//! after Redis lost its data: a new one is at least the Redis clock in
//! milliseconds. Releasing a lease no longer held changes nothing.
//!
//! # Faults
//!
//! Every operation waits at most [`RedisConfig::command_timeout`] and then
//! fails with its port's `Unavailable` error; the client reconnects on its own
//! (exponential backoff, 50 ms to 2 s, for ever). Nothing here blocks a room's
//! hot path: a host keeps serving the rooms it holds from memory while Redis
//! is away, and learns on its next renew whether its lease survived. A command
//! that timed out may still have run on the server (a timed-out `acquire` can
//! hold a lease that then simply expires).
//!
//! # Key layout
//!
//! Every key starts with [`RedisConfig::prefix`] (written `P` below), so two
//! deployments (or two test runs) can share a Redis. [`Keys`] builds them all.
//!
//! | key | type | content | lifetime |
//! |---|---|---|---|
//! | `P node:{node}` | string | the node's `NodeInfo` as JSON (id, WebSocket URL, connections, rooms) | `node_ttl`, refreshed by each heartbeat |
//! | `P nodes` | sorted set | node ids scored by connection count | permanent; dead ids pruned by `live_nodes` |
//! | `P lease:{room}` | string | `{epoch}@{node}` of the room's host | `lease_ttl`, extended by renew |
//! | `P epoch:{room}` | integer | the room's fencing counter, `INCR`ed for each new holder | permanent (must never go back) |
//! | `P snapshot:{room}` | string | the room's `RoomSnapshot` as JSON (users, positions, map version, seq, epoch) | `snapshot_ttl` after the last write |
//!
//! In `{number}@{node}` values the number is all digits, so the first `@`
//! splits them. The scripts reach `P node:{node}` keys they compute
//! themselves, which Redis Cluster allows only within one slot: on a cluster,
//! put a hash tag in the prefix (`{myroom}:`).
#![deny(missing_docs)]

mod backend;
mod config;
mod error;
mod hosting;
mod keys;
mod nodes;
mod record;
mod scripts;

pub use backend::RedisBackend;
pub use config::RedisConfig;
pub use error::RedisError;
pub use keys::Keys;
