//! The ports of the myroom engine: one trait per backing concern.
//!
//! The engine (`room-node`) is written against these traits only. Each has an
//! in-memory implementation in `room-node` (the embedded default, and tests)
//! and a real one in an adapter crate: [`MapStore`] in `adapter-mysql`,
//! [`Presence`], [`RoomHosting`] and [`NodeRegistry`] in `adapter-redis`,
//! [`Bus`] in `adapter-rabbit`.
#![deny(missing_docs)]

mod bus;
mod hosting;
mod nodes;
mod presence;
mod store;

pub use bus::{Bus, BusError, BusInbound};
pub use hosting::{Acquired, HostingError, Lease, RoomHosting, RoomSnapshot, SnapshotUser};
pub use nodes::{NodeId, NodeInfo, NodeRegistry, RegistryError};
pub use presence::{Presence, PresenceError, SessionAt};
pub use store::{GameInfo, MapStore, StoreError, StoredRoom, UserSeed, UserSummary};
