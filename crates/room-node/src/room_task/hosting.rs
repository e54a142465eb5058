//! The cluster duties of a hosted room: taking over from an earlier host,
//! keeping the lease, writing snapshots behind, noticing dead nodes, and
//! handing the room over when this node stops.

use std::collections::BTreeSet;

use crate::ordered::IdSet;
use tokio::time::Instant;

use std::time::Duration;

use room_core::{Cell, Command, Occupant, Room, SessionId, UserId};
use room_ports::{Acquired, HostingError, NodeId, RoomSnapshot, SessionAt, SnapshotUser};

use super::{Member, RemoteSession, RoomMsg, RoomTask, Shadow, Upkeep};
use crate::outbox::CloseReason;

/// Snapshots are written behind at most this often (in upkeep ticks of 100 ms).
const SNAPSHOT_EVERY_TICKS: u64 = 1;
/// Remote nodes are checked for liveness this often (in upkeep ticks).
const LIVENESS_EVERY_TICKS: u64 = 10;

impl RoomTask {
    /// Continue the room from the last snapshot: users keep their cells;
    /// users whose node is gone leave (everyone is told); this node's own
    /// sessions are (re-)entered.
    pub(super) async fn take_over(&mut self, members: Vec<Member>, shadow: Shadow) {
        let Some(hosting) = &self.hosting else { return };
        let ports = hosting.ports.clone();
        let trust = hosting.trust.clone();
        let room_id = self.room.id();
        let snapshot = match ports.hosting.load_snapshot(room_id).await {
            Ok(snapshot) => snapshot,
            Err(e) => {
                tracing::warn!(room = %room_id, error = %e, "no snapshot to take over from");
                None
            }
        };
        let local: IdSet<SessionId> = members.iter().map(|m| m.session).collect();
        let mut gone = Vec::new();
        let snapshot_seq = snapshot.as_ref().map_or(0, |s| s.seq);
        if let Some(snapshot) = snapshot {
            let mut live_nodes = IdSet::default();
            for user in &snapshot.users {
                let node = &user.session.node;
                if *node != ports.node
                    && !live_nodes.contains(node)
                    && (!trust.trusted() || ports.registry.is_live(node).await.unwrap_or(true))
                {
                    live_nodes.insert(node.clone());
                }
            }
            // Relayed events are newer than a snapshot written behind by a host that died.
            let newer = shadow.seq > snapshot.seq && snapshot.map_version == self.room.map_version();
            let occupants = snapshot
                .users
                .iter()
                .map(|u| Occupant {
                    user: u.user,
                    nickname: u.nickname.clone(),
                    session: u.session.session,
                    cell: shadow
                        .users
                        .get(&u.user)
                        .map(|(cell, _)| *cell)
                        .filter(|_| newer)
                        .unwrap_or(u.cell),
                })
                .collect();
            let map = self.room.map().clone();
            let seq = snapshot.seq.max(shadow.seq);
            self.room = Room::restore(
                room_id,
                map,
                self.room.map_version(),
                self.room.limits(),
                occupants,
                seq,
            );
            for user in &snapshot.users {
                let at = &user.session;
                let alive = if at.node == ports.node {
                    local.contains(&at.session)
                } else {
                    live_nodes.contains(&at.node)
                };
                if alive {
                    if at.node != ports.node
                        && let Some(hosting) = &mut self.hosting
                    {
                        hosting
                            .remote
                            .insert(at.session, RemoteSession::at(at.node.clone()));
                    }
                } else {
                    gone.push(at.session);
                }
            }
            tracing::info!(room = %room_id, users = snapshot.users.len(), gone = gone.len(), seq = snapshot.seq, "took over room");
        }
        self.restore_unconfirmed(&shadow, &members, snapshot_seq);
        for session in gone {
            self.act(Command::Leave { session });
        }
        for member in members {
            self.attach(member.session, member.outbox);
            self.members
                .insert(member.session, (member.user, member.nickname.clone()));
            match self.apply_enter(member.session, member.user, member.nickname) {
                Ok(events) => self.after_enter(member.session, member.user, events),
                Err(reject) => {
                    self.refuse(member.session, &reject);
                    self.batch.remove(member.session);
                    if let Some(outbox) = self.outboxes.remove(&member.session) {
                        outbox.close(CloseReason::TryAgainLater);
                    }
                    self.members.remove(&member.session);
                }
            }
        }
        // Relays see the new epoch as a gap and ask for fresh SYNCs.
        self.write_snapshot();
    }

    /// Users the relayed events showed in the room but the snapshot does not
    /// have (it is written behind, and the host may die first): they stay,
    /// under a placeholder session, until their relay enters them again; those
    /// no relay claims within a node lifetime were on the dead node and leave,
    /// so everyone is told.
    fn restore_unconfirmed(&mut self, shadow: &Shadow, members: &[Member], snapshot_seq: u64) {
        if shadow.seq <= snapshot_seq {
            return;
        }
        let missing: Vec<(UserId, Cell, String)> = shadow
            .users
            .iter()
            .filter(|(user, _)| self.room.occupant_of_user(**user).is_none())
            .map(|(user, (cell, nickname))| (*user, *cell, nickname.clone()))
            .collect();
        if missing.is_empty() {
            return;
        }
        let mut occupants = self.room.occupants().to_vec();
        let deadline = Instant::now() + self.hosting.as_ref().map_or(Duration::ZERO, |h| h.ports.node_ttl);
        for (user, cell, nickname) in missing {
            // This node's own sessions keep theirs (entering them again below keeps
            // their cell); another node's users wait, under a placeholder, for their relay.
            let session = match members.iter().find(|m| m.user == user) {
                Some(member) => member.session,
                None => {
                    let placeholder = SessionId(u64::MAX - user.0);
                    if let Some(hosting) = &mut self.hosting {
                        hosting.unconfirmed.insert(placeholder, deadline);
                    }
                    placeholder
                }
            };
            occupants.push(Occupant {
                user,
                nickname,
                session,
                cell,
            });
        }
        tracing::info!(room = %self.room.id(), users = occupants.len(), seq = shadow.seq, "took over from what the relayed events showed");
        self.room = Room::restore(
            self.room.id(),
            self.room.map().clone(),
            self.room.map_version(),
            self.room.limits(),
            occupants,
            self.room.seq().max(shadow.seq),
        );
    }

    /// Placeholders no relay claimed in time leave.
    fn expire_unconfirmed(&mut self) {
        let Some(hosting) = &mut self.hosting else { return };
        let now = Instant::now();
        let room = &self.room;
        // Claimed (a relay entered the user again) or gone: nothing left to do.
        hosting
            .unconfirmed
            .retain(|session, _| room.occupant_of_session(*session).is_some());
        let expired: Vec<SessionId> = hosting
            .unconfirmed
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(session, _)| *session)
            .collect();
        for session in &expired {
            hosting.unconfirmed.remove(session);
        }
        if !expired.is_empty() {
            tracing::info!(room = %self.room.id(), users = expired.len(), "users no relay claimed leave");
        }
        for session in expired {
            self.act(Command::Leave { session });
        }
    }

    /// Periodic duties: renew the lease, write the snapshot, check remote nodes.
    pub(super) fn upkeep(&mut self, tick: u64) {
        let Some(hosting) = &mut self.hosting else { return };
        let sender = self.own_sender.clone();
        if !hosting.renew_in_flight && hosting.last_renew.elapsed() >= hosting.ports.lease_ttl / 3 {
            hosting.renew_in_flight = true;
            hosting.renew_sent = Instant::now();
            let (ports, lease) = (hosting.ports.clone(), hosting.lease.clone());
            self.tasks.spawn(async move {
                let result = ports.hosting.renew(&lease).await;
                tracing::debug!(ok = result.is_ok(), "lease renewal answered");
                let _ = sender.send(RoomMsg::Upkeep(Upkeep::Renewed(result))).await;
            });
        }
        if tick.is_multiple_of(SNAPSHOT_EVERY_TICKS) {
            self.write_snapshot();
        }
        if tick.is_multiple_of(LIVENESS_EVERY_TICKS) {
            self.check_remote_nodes();
            self.publish_last_seq();
            self.ask_members();
            self.expire_unconfirmed();
        }
    }

    pub(super) fn on_upkeep(&mut self, result: Upkeep) {
        match result {
            Upkeep::Renewed(result) => self.on_renewed(result),
            Upkeep::Reacquired(result) => self.on_reacquired(result),
            Upkeep::SnapshotSaved(result) => {
                if let Some(hosting) = &mut self.hosting {
                    hosting.snapshot_in_flight = false;
                }
                if let Err(e @ HostingError::LeaseLost { .. }) = result {
                    tracing::warn!(error = %e, "snapshot refused");
                    self.on_renewed(Err(e));
                }
            }
            Upkeep::Listed(Some(listed)) => self.remove_gone_sessions(&listed),
            Upkeep::Listed(None) => {}
            Upkeep::Owned { id, owned } => self.on_owned(id, owned),
        }
    }

    fn on_renewed(&mut self, result: Result<(), HostingError>) {
        let Some(hosting) = &mut self.hosting else { return };
        hosting.renew_in_flight = false;
        match result {
            Ok(()) => {
                hosting.last_renew = Instant::now();
                hosting.valid_until = hosting.renew_sent + hosting.ports.lease_ttl;
                let deferred = std::mem::take(&mut hosting.deferred_leaves);
                for session in deferred {
                    self.act(Command::Leave { session });
                }
            }
            // The registry is away: keep serving, keep trying.
            Err(HostingError::Unavailable(_)) => {}
            Err(e) => {
                // Expired (e.g. the registry restarted and forgot it): take it again if nobody else has.
                tracing::warn!(room = %self.room.id(), error = %e, "lease lost; trying to take it again");
                hosting.renew_in_flight = true;
                hosting.renew_sent = Instant::now();
                let (ports, room, sender) = (hosting.ports.clone(), self.room.id(), self.own_sender.clone());
                self.tasks.spawn(async move {
                    let result = ports.hosting.acquire(room, &ports.node).await;
                    let _ = sender.send(RoomMsg::Upkeep(Upkeep::Reacquired(result))).await;
                });
            }
        }
    }

    fn on_reacquired(&mut self, result: Result<Acquired, HostingError>) {
        let Some(hosting) = &mut self.hosting else { return };
        hosting.renew_in_flight = false;
        match result {
            Ok(Acquired::Granted(lease)) => {
                tracing::info!(room = %lease.room, epoch = lease.epoch, "lease taken again");
                hosting.lease = lease;
                hosting.last_renew = Instant::now();
                hosting.valid_until = hosting.renew_sent + hosting.ports.lease_ttl;
                hosting.snapshot_dirty = true;
                let deferred = std::mem::take(&mut hosting.deferred_leaves);
                for session in deferred {
                    self.act(Command::Leave { session });
                }
            }
            Ok(Acquired::HeldBy { node, epoch }) => {
                tracing::warn!(room = %self.room.id(), %node, epoch, "another node hosts this room now");
                self.lost = true;
            }
            Err(_) => {}
        }
    }

    fn write_snapshot(&mut self) {
        let Some(hosting) = &mut self.hosting else { return };
        if !hosting.snapshot_dirty || hosting.snapshot_in_flight {
            return;
        }
        hosting.snapshot_dirty = false;
        hosting.snapshot_in_flight = true;
        let snapshot = self.snapshot();
        let Some(hosting) = &self.hosting else { return };
        let (ports, lease, sender) = (
            hosting.ports.clone(),
            hosting.lease.clone(),
            self.own_sender.clone(),
        );
        self.tasks.spawn(async move {
            let result = ports.hosting.save_snapshot(&lease, &snapshot).await;
            tracing::debug!(ok = result.is_ok(), "snapshot write answered");
            let _ = sender.send(RoomMsg::Upkeep(Upkeep::SnapshotSaved(result))).await;
        });
    }

    fn snapshot(&self) -> RoomSnapshot {
        let hosting = self
            .hosting
            .as_ref()
            .expect("snapshots are taken only while hosting");
        let users = self
            .room
            .occupants()
            .iter()
            .map(|o| SnapshotUser {
                user: o.user,
                nickname: o.nickname.clone(),
                session: SessionAt {
                    node: hosting
                        .remote
                        .get(&o.session)
                        .map(|remote| remote.node.clone())
                        .unwrap_or_else(|| hosting.ports.node.clone()),
                    session: o.session,
                },
                cell: o.cell,
            })
            .collect();
        RoomSnapshot {
            room: self.room.id(),
            epoch: hosting.lease.epoch,
            seq: self.room.seq(),
            map_version: self.room.map_version(),
            users,
        }
    }

    /// Remove the remote sessions whose process is gone: of a node the
    /// registry has not listed for half a node lifetime (dead), or opened by
    /// an earlier process of a node that was restarted under the same id.
    fn remove_gone_sessions(&mut self, listed: &[room_ports::NodeInfo]) {
        let Some(hosting) = &mut self.hosting else { return };
        let now = Instant::now();
        let patience = hosting.ports.node_ttl / 2;
        let nodes: BTreeSet<NodeId> = hosting.remote.values().map(|r| r.node.clone()).collect();
        let mut dead = BTreeSet::new();
        for node in nodes {
            if listed.iter().any(|info| info.id == node) {
                hosting.unlisted.remove(&node);
            } else if now.duration_since(*hosting.unlisted.entry(node.clone()).or_insert(now)) >= patience {
                dead.insert(node);
            }
        }
        let gone: Vec<SessionId> = hosting
            .remote
            .iter()
            .filter(|(session, remote)| {
                dead.contains(&remote.node)
                    || listed
                        .iter()
                        .any(|info| info.id == remote.node && !info.opened(**session))
            })
            .map(|(session, _)| *session)
            .collect();
        if !gone.is_empty() {
            tracing::info!(room = %self.room.id(), ?dead, users = gone.len(), "removing users of dead or restarted nodes");
        }
        for session in gone {
            self.act(Command::Leave { session });
        }
    }

    /// Tell the relays the number of the room's last event, so one that lost
    /// the last events (nothing after them shows the gap) asks for a SYNC.
    fn publish_last_seq(&self) {
        let Some(hosting) = &self.hosting else { return };
        if hosting.remote.is_empty() || self.fenced() {
            return;
        }
        hosting.enqueue(super::Publish::Event(room_ports::RoomEvent {
            room: self.room.id(),
            epoch: hosting.lease.epoch,
            seq: self.room.seq(),
            audience: room_core::Audience::All,
            frame: String::new(),
        }));
    }

    /// Ask every node this room has sessions of which are still here: one
    /// that no longer relays the room (its users left while it could not
    /// tell anyone, or a stale snapshot named them) answers that none are.
    fn ask_members(&self) {
        let Some(hosting) = &self.hosting else { return };
        if self.fenced() {
            return;
        }
        let nodes: BTreeSet<NodeId> = hosting.remote.values().map(|r| r.node.clone()).collect();
        for node in nodes {
            let ask = room_ports::NodeMessage::AskMembers {
                room: self.room.id(),
                host: hosting.ports.node.clone(),
            };
            hosting.enqueue(super::Publish::ToNode(node, ask));
        }
    }

    fn check_remote_nodes(&self) {
        let Some(hosting) = &self.hosting else { return };
        let nodes: BTreeSet<_> = hosting.remote.values().map(|r| r.node.clone()).collect();
        if nodes.is_empty() {
            return;
        }
        if !hosting.trust.trusted() {
            return;
        }
        let (ports, sender) = (hosting.ports.clone(), self.own_sender.clone());
        self.tasks.spawn(async move {
            // Unknown (registry away) counts as alive: never evict on a guess.
            let listed = ports.registry.live_nodes().await.ok();
            let _ = sender.send(RoomMsg::Upkeep(Upkeep::Listed(listed))).await;
        });
    }

    /// This node stops: store where everyone is, then let another node take the room.
    pub(super) async fn hand_over(&mut self) {
        self.batch.flush_all();
        let Some(hosting) = &self.hosting else { return };
        let snapshot = self.snapshot();
        let (ports, lease) = (hosting.ports.clone(), hosting.lease.clone());
        if let Err(e) = ports.hosting.save_snapshot(&lease, &snapshot).await {
            tracing::warn!(room = %lease.room, error = %e, "final snapshot not written");
        }
        let _ = ports.hosting.release(&lease).await;
        tracing::info!(room = %lease.room, users = snapshot.users.len(), "handed the room over");
    }

    /// The room emptied: give the lease back.
    pub(super) async fn release(&mut self) {
        self.batch.flush_all();
        let Some(hosting) = &self.hosting else { return };
        let snapshot = self.snapshot();
        let (ports, lease) = (hosting.ports.clone(), hosting.lease.clone());
        let _ = ports.hosting.save_snapshot(&lease, &snapshot).await;
        let _ = ports.hosting.release(&lease).await;
    }

    /// The local sessions, to carry on under another host.
    pub(super) fn carry_members(&mut self) -> Vec<Member> {
        self.batch.flush_all();
        let left: Vec<SessionId> = self
            .hosting
            .as_mut()
            .map(|h| std::mem::take(&mut h.deferred_leaves))
            .unwrap_or_default();
        let mut carried = Vec::new();
        for (session, (user, nickname)) in self.members.drain() {
            if left.contains(&session) {
                // It left while this host was fenced: it does not go on under the next one.
                continue;
            }
            if let Some(outbox) = self.outboxes.remove(&session) {
                carried.push(Member {
                    session,
                    user,
                    nickname,
                    outbox,
                });
            }
        }
        carried
    }
}
