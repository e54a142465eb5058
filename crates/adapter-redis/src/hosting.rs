//! [`RoomHosting`] on Redis: leases with a fencing epoch, and fenced snapshots.
//!
//! A lease is `{epoch}@{node}` under `lease:{room}` with a `PX` expiry; the
//! epoch comes from `INCR epoch:{room}` whenever a new holder takes the room.
//! Renew, release and snapshot writes compare the whole `{epoch}@{node}` value
//! inside a script, so a holder that lost its lease cannot touch anything.

use async_trait::async_trait;
use fred::interfaces::KeysInterface;
use room_core::RoomId;
use room_ports::{Acquired, HostingError, Lease, NodeId, RoomHosting, RoomSnapshot};

use crate::backend::RedisBackend;
use crate::error;
use crate::record::{decode, encode};

impl RedisBackend {
    /// Run a compare-and-act lease script; `LeaseLost` if it found another value.
    async fn fenced(
        &self,
        script: &fred::types::scripts::Script,
        keys: Vec<String>,
        args: Vec<String>,
        lease: &Lease,
    ) -> Result<(), HostingError> {
        let done: u8 = self.eval(script, keys, args).await.map_err(error::hosting)?;
        if done == 1 {
            return Ok(());
        }
        tracing::info!(room = %lease.room, epoch = lease.epoch, node = %lease.node, "lease lost");
        Err(HostingError::LeaseLost {
            room: lease.room,
            epoch: lease.epoch,
        })
    }
}

fn decode_lease(room: RoomId, value: &str) -> Result<(u64, NodeId), HostingError> {
    decode(value).ok_or_else(|| {
        tracing::warn!(%room, value, "malformed lease value");
        HostingError::Corrupt(room)
    })
}

#[async_trait]
impl RoomHosting for RedisBackend {
    async fn acquire(&self, room: RoomId, node: &NodeId) -> Result<Acquired, HostingError> {
        let keys = vec![self.keys().lease(room), self.keys().epoch(room)];
        let args = vec![node.to_string(), self.lease_ttl_ms().to_string()];
        let (granted, value): (u8, String) = self
            .eval(&self.scripts().acquire_lease, keys, args)
            .await
            .map_err(error::hosting)?;
        let (epoch, holder) = decode_lease(room, &value)?;
        if granted == 1 {
            tracing::debug!(%room, epoch, %node, "lease granted");
            Ok(Acquired::Granted(Lease {
                room,
                node: holder,
                epoch,
            }))
        } else {
            Ok(Acquired::HeldBy { node: holder, epoch })
        }
    }

    async fn renew(&self, lease: &Lease) -> Result<(), HostingError> {
        let keys = vec![self.keys().lease(lease.room)];
        let args = vec![encode(lease.epoch, &lease.node), self.lease_ttl_ms().to_string()];
        self.fenced(&self.scripts().renew_lease, keys, args, lease).await
    }

    /// Releasing a lease that is no longer held is a no-op, not an error: the
    /// current holder's lease is left alone either way.
    async fn release(&self, lease: &Lease) -> Result<(), HostingError> {
        let keys = vec![self.keys().lease(lease.room)];
        let args = vec![encode(lease.epoch, &lease.node)];
        let released: u8 = self
            .eval(&self.scripts().release_lease, keys, args)
            .await
            .map_err(error::hosting)?;
        tracing::debug!(room = %lease.room, epoch = lease.epoch, released = released == 1, "lease released");
        Ok(())
    }

    async fn holder(&self, room: RoomId) -> Result<Option<(NodeId, u64)>, HostingError> {
        let value: Option<String> = self
            .client()
            .get(self.keys().lease(room))
            .await
            .map_err(error::hosting)?;
        match value {
            None => Ok(None),
            Some(value) => decode_lease(room, &value).map(|(epoch, node)| Some((node, epoch))),
        }
    }

    /// The stored snapshot always carries the lease's room and epoch; a
    /// snapshot that says otherwise is corrected (and logged) before writing.
    async fn save_snapshot(&self, lease: &Lease, snapshot: &RoomSnapshot) -> Result<(), HostingError> {
        let json = if snapshot.room == lease.room && snapshot.epoch == lease.epoch {
            serde_json::to_string(snapshot)
        } else {
            tracing::warn!(room = %lease.room, epoch = lease.epoch, "snapshot room/epoch differ from its lease");
            let mut fixed = snapshot.clone();
            fixed.room = lease.room;
            fixed.epoch = lease.epoch;
            serde_json::to_string(&fixed)
        }
        .expect("a RoomSnapshot is plain data and always serialises");
        let keys = vec![self.keys().lease(lease.room), self.keys().snapshot(lease.room)];
        let args = vec![
            encode(lease.epoch, &lease.node),
            json,
            self.snapshot_ttl_ms().to_string(),
        ];
        self.fenced(&self.scripts().save_snapshot, keys, args, lease)
            .await
    }

    async fn load_snapshot(&self, room: RoomId) -> Result<Option<RoomSnapshot>, HostingError> {
        let value: Option<String> = self
            .client()
            .get(self.keys().snapshot(room))
            .await
            .map_err(error::hosting)?;
        let Some(value) = value else { return Ok(None) };
        serde_json::from_str(&value).map(Some).map_err(|parse| {
            tracing::warn!(%room, %parse, "corrupt room snapshot");
            HostingError::Corrupt(room)
        })
    }
}
