//! The ports of the myroom engine: one trait per backing concern.
//!
//! The engine (`room-node`) is written against these traits only. Each has an
//! in-memory implementation in `room-node` (the embedded default, and tests)
//! and a real one in an adapter crate: [`MapStore`] in `adapter-mysql`,
//! [`RoomHosting`] and [`NodeRegistry`] in `adapter-redis`,
//! [`Bus`] in `adapter-rabbit`.
//!
//! No async runtime shows in these types: what a bus delivers comes as a
//! [`BusInbox`], which wraps any `Stream`.
#![deny(missing_docs)]

mod bus;
mod hosting;
mod nodes;
mod store;

pub use bus::{Bus, BusError, BusInbound, BusInbox};
pub use hosting::{Acquired, HostingError, Lease, RoomHosting, RoomSnapshot, SnapshotSeats, SnapshotUser};
pub use nodes::{NodeId, NodeInfo, NodeRegistry, RegistryError, SessionAt};
pub use store::{GameInfo, MapStore, NO_LEASE, StoreError, StoredRoom, UserSeed, UserSummary, fence};
