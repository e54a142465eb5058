//! In-memory implementations of every port: the embedded default for what a
//! single node needs, and stand-ins for tests.

mod bus;
mod hosting;
mod nodes;
mod store;

pub use bus::MemoryBus;
pub use hosting::MemoryHosting;
pub use nodes::MemoryNodes;
pub use store::MemoryMapStore;

use std::sync::{Mutex, MutexGuard};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update below is a single insert or remove, so a poisoned map is still consistent.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
