use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use room_core::RoomId;
use room_ports::{Acquired, HostingError, Lease, NodeId, RoomHosting, RoomSnapshot};
use tokio::time::Instant;

use super::lock;

#[derive(Debug)]
struct Holder {
    node: NodeId,
    epoch: u64,
    until: Instant,
}

#[derive(Debug, Default)]
struct State {
    holders: HashMap<RoomId, Holder>,
    epochs: HashMap<RoomId, u64>,
    snapshots: HashMap<RoomId, RoomSnapshot>,
}

/// Room leases within one process, expiring after a fixed time.
///
/// The same contract as adapter-redis: every grant (the holder asking again
/// included) gets a new epoch, and epochs never go back, even after
/// [`MemoryHosting::forget_everything`].
#[derive(Debug)]
pub struct MemoryHosting {
    state: Mutex<State>,
    ttl: Duration,
    /// The clock new epochs are at least (in milliseconds since), as Redis's `TIME`.
    born: Instant,
}

impl MemoryHosting {
    /// Leases that expire `ttl` after their last acquire or renew.
    pub fn new(ttl: Duration) -> Self {
        MemoryHosting {
            state: Mutex::new(State::default()),
            ttl,
            born: Instant::now(),
        }
    }

    /// Lose every lease, epoch counter and snapshot, as a Redis restarted
    /// without its data does (for tests of that outage).
    pub fn forget_everything(&self) {
        *lock(&self.state) = State::default();
    }
}

impl State {
    fn current(&self, room: RoomId) -> Option<&Holder> {
        self.holders.get(&room).filter(|h| h.until > Instant::now())
    }

    fn holds(&self, lease: &Lease) -> bool {
        self.current(lease.room)
            .is_some_and(|h| h.node == lease.node && h.epoch == lease.epoch)
    }
}

#[async_trait]
impl RoomHosting for MemoryHosting {
    async fn acquire(&self, room: RoomId, node: &NodeId) -> Result<Acquired, HostingError> {
        let mut state = lock(&self.state);
        if let Some(holder) = state.current(room)
            && holder.node != *node
        {
            return Ok(Acquired::HeldBy {
                node: holder.node.clone(),
                epoch: holder.epoch,
            });
        }
        let clock = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let epoch = state.epochs.entry(room).or_insert(0);
        *epoch = (*epoch + 1).max(clock);
        let epoch = *epoch;
        state.holders.insert(
            room,
            Holder {
                node: node.clone(),
                epoch,
                until: Instant::now() + self.ttl,
            },
        );
        Ok(Acquired::Granted(Lease {
            room,
            node: node.clone(),
            epoch,
        }))
    }

    async fn renew(&self, lease: &Lease) -> Result<(), HostingError> {
        let mut state = lock(&self.state);
        if !state.holds(lease) {
            return Err(HostingError::LeaseLost {
                room: lease.room,
                epoch: lease.epoch,
            });
        }
        if let Some(holder) = state.holders.get_mut(&lease.room) {
            holder.until = Instant::now() + self.ttl;
        }
        Ok(())
    }

    async fn release(&self, lease: &Lease) -> Result<(), HostingError> {
        let mut state = lock(&self.state);
        if state.holds(lease) {
            state.holders.remove(&lease.room);
        }
        Ok(())
    }

    async fn holder(&self, room: RoomId) -> Result<Option<(NodeId, u64)>, HostingError> {
        Ok(lock(&self.state).current(room).map(|h| (h.node.clone(), h.epoch)))
    }

    async fn save_snapshot(&self, lease: &Lease, snapshot: &RoomSnapshot) -> Result<(), HostingError> {
        let mut state = lock(&self.state);
        if !state.holds(lease) {
            return Err(HostingError::LeaseLost {
                room: lease.room,
                epoch: lease.epoch,
            });
        }
        state.snapshots.insert(lease.room, snapshot.clone());
        Ok(())
    }

    async fn load_snapshot(&self, room: RoomId) -> Result<Option<RoomSnapshot>, HostingError> {
        Ok(lock(&self.state).snapshots.get(&room).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_holder_after_expiry_gets_a_higher_epoch_and_the_old_one_cannot_renew() {
        let hosting = MemoryHosting::new(Duration::from_millis(50));
        let (a, b) = (NodeId("a".into()), NodeId("b".into()));
        let Acquired::Granted(first) = hosting.acquire(RoomId(1), &a).await.unwrap() else {
            panic!()
        };
        assert!(matches!(
            hosting.acquire(RoomId(1), &b).await.unwrap(),
            Acquired::HeldBy { .. }
        ));
        tokio::time::sleep(Duration::from_millis(120)).await;
        let Acquired::Granted(second) = hosting.acquire(RoomId(1), &b).await.unwrap() else {
            panic!()
        };
        assert!(second.epoch > first.epoch);
        assert!(hosting.renew(&first).await.is_err());
        assert!(hosting.renew(&second).await.is_ok());
    }
}
