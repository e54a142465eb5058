//! The cluster duties of a hosted room: taking over from an earlier host,
//! keeping the lease (and fencing itself when it cannot), writing snapshots
//! behind, reconciling relays' members, and noticing dead nodes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use room_core::{Cell, Command, ErrorCode, Occupant, Room, SessionId, UserId};
use room_ports::{Acquired, HostingError, Lease, NodeId, NodeInfo, RoomSnapshot, SessionAt, SnapshotUser};

use super::host::{At, ClusterSetup, Host, HostAnswer, HostCall, HostEffect, HostEnd, HostInput};
use super::{EnterAnswer, Shadow};
use crate::contract::{NodeCommand, NodeMessage};
use crate::ordered::IdSet;

/// How often the lease, the snapshot and the other nodes are looked after.
const UPKEEP_EVERY: Duration = Duration::from_millis(100);
/// Snapshots are written behind at most this often (in upkeep ticks).
const SNAPSHOT_EVERY_TICKS: u64 = 1;
/// Remote nodes are checked for liveness this often (in upkeep ticks).
const LIVENESS_EVERY_TICKS: u64 = 10;

const FENCED: &str = "the room's host cannot confirm its lease now; try again";

/// The node a standalone node's state names its own sessions' node.
const STANDALONE: &str = "standalone";

/// The lease of a hosted room and what keeping it needs.
#[derive(Debug)]
pub(crate) struct Hosting {
    pub(super) node: NodeId,
    pub(super) lease: Lease,
    lease_ttl: Duration,
    node_ttl: Duration,
    pub(super) snapshot_dirty: bool,
    snapshot_in_flight: bool,
    renew_in_flight: bool,
    /// The lease was lost and taken again: the room is loaded again (see
    /// [`HostEnd::Restart`]) once no BUILD is being stored, so that the
    /// next phase loads what this one stored. Until then it stays fenced.
    restart_pending: bool,
    last_renew: Instant,
    /// When the renew in flight was sent: the lease it extends lasts a TTL from then at least.
    renew_sent: Instant,
    /// Until when this node certainly holds the lease. Past it (less a margin)
    /// the host fences itself: it applies nothing, since another node may be
    /// granted the room as soon as the lease ends.
    valid_until: Instant,
    /// LEAVEs that came while fenced, applied once the lease is confirmed
    /// (dropping them would leave ghosts).
    deferred_leaves: Vec<SessionId>,
    /// Remote nodes the registry did not list, since when: one still not
    /// listed half a node lifetime later is dead (a registry that just lost
    /// its data lists nobody until the next heartbeats).
    unlisted: crate::ordered::IdMap<NodeId, Instant>,
    next_upkeep: Instant,
    ticks: u64,
}

impl Hosting {
    pub(super) fn new(setup: ClusterSetup) -> Hosting {
        Hosting {
            node: setup.node,
            lease: setup.lease,
            lease_ttl: setup.lease_ttl,
            node_ttl: setup.node_ttl,
            snapshot_dirty: true,
            snapshot_in_flight: false,
            renew_in_flight: false,
            restart_pending: false,
            last_renew: setup.asked_at,
            renew_sent: setup.asked_at,
            valid_until: setup.asked_at + setup.lease_ttl,
            deferred_leaves: Vec::new(),
            unlisted: Default::default(),
            next_upkeep: setup.asked_at + UPKEEP_EVERY,
            ticks: 0,
        }
    }
}

/// What a new host knows of the room when it starts: the last snapshot,
/// which of the nodes it names are alive, and what this node carries over.
pub(crate) struct TakeOver {
    pub snapshot: Option<RoomSnapshot>,
    /// The nodes of the snapshot that are alive (or not known to be dead).
    pub live: IdSet<NodeId>,
    /// This node's sessions, carried over from an earlier phase of the room here.
    pub members: Vec<(SessionId, UserId, String)>,
    /// What this node saw relayed before it took the room.
    pub shadow: Shadow,
}

impl Host {
    /// When `on_timeout` is due (`None`: nothing to look after).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let upkeep = self.cluster.as_ref().map(|c| c.next_upkeep);
        match (upkeep, self.away_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether this host may have lost its lease without knowing it yet.
    pub(crate) fn fenced(&self) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|c| c.restart_pending || self.now + c.lease_ttl / 10 >= c.valid_until)
    }

    /// While fenced, commands are refused with 76503 (LEAVEs wait); what
    /// applies nothing passes through.
    pub(super) fn refuse_while_fenced(&mut self, input: HostInput) -> Option<HostInput> {
        match input {
            // Changes nothing anyone sees (a LEAVE it may turn into waits).
            away @ (HostInput::Away { .. }
            | HostInput::Remote {
                command: NodeCommand::Away,
                ..
            }) => return Some(away),
            HostInput::Enter { session, .. } => self.effects.push_back(HostEffect::Answer {
                session,
                answer: EnterAnswer::Refused(ErrorCode::Unavailable, FENCED.to_owned()),
            }),
            HostInput::Command(Command::Leave { session }) => self.defer_leave(session),
            HostInput::Command(Command::Move { session, .. } | Command::Sync { session })
            | HostInput::Build { session, .. } => {
                self.send_error(session, ErrorCode::Unavailable, FENCED.to_owned());
            }
            HostInput::Command(Command::Enter { .. }) => {}
            HostInput::Remote { from, command, .. } => match command {
                NodeCommand::Leave => self.defer_leave(from.session),
                NodeCommand::Enter { .. } | NodeCommand::Resume { .. } => {
                    self.refuse_enter(&from.node, from.session, ErrorCode::Unavailable, FENCED)
                }
                _ => self.send_remote(&from.node, from.session, ErrorCode::Unavailable, FENCED),
            },
            // The relay asks again when it sees it is still behind; it sends its members again.
            HostInput::Resync { .. } | HostInput::Members { .. } => {}
            answer @ HostInput::Answer(_) => return Some(answer),
        }
        None
    }

    pub(super) fn defer_leave(&mut self, session: SessionId) {
        let known = self.room.occupant_of_session(session).is_some();
        let Some(cluster) = &mut self.cluster else { return };
        // Bounded by the room's occupants: each can leave once.
        if known && !cluster.deferred_leaves.contains(&session) {
            cluster.deferred_leaves.push(session);
        }
    }

    fn apply_deferred_leaves(&mut self) {
        let deferred = self
            .cluster
            .as_mut()
            .map(|c| std::mem::take(&mut c.deferred_leaves))
            .unwrap_or_default();
        for session in deferred {
            self.act(Command::Leave { session });
        }
    }

    /// Continue the room from the last snapshot: users keep their cells;
    /// users whose node is gone leave (everyone is told); this node's own
    /// sessions are (re-)entered.
    pub(crate) fn take_over(&mut self, takeover: TakeOver, now: Instant) {
        self.now = now;
        let Some(node) = self.cluster.as_ref().map(|c| c.node.clone()) else {
            return;
        };
        let TakeOver {
            snapshot,
            live,
            members,
            shadow,
        } = takeover;
        let room_id = self.room.id();
        let local: IdSet<SessionId> = members.iter().map(|(session, _, _)| *session).collect();
        let mut gone = Vec::new();
        let snapshot_seq = snapshot.as_ref().map_or(0, |s| s.seq);
        let mut carried = snapshot.as_ref().and_then(|s| s.seats.clone());
        // The host died: what this node relayed, if it reaches the numbering
        // the snapshot knows, is the log the seats replay from.
        if let Some(c) = &mut carried
            && !c.whole
            && let Some(relayed) = shadow
                .relayed
                .as_ref()
                .filter(|r| r.last() >= c.log.last && !r.is_empty())
        {
            tracing::info!(room = %self.room.id(), events = relayed.len(), last = relayed.last(), "seats replay from the relayed events");
            c.log = relayed.tail();
            c.whole = true;
        }
        let replayable = carried.as_ref().is_some_and(|c| c.whole);
        if let (Some(seats), Some(carried)) = (&mut self.seats, &carried) {
            seats.carry_on(carried);
        }
        if let Some(snapshot) = snapshot {
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
            let seq = snapshot.seq.max(shadow.seq);
            self.room = Room::restore(
                room_id,
                self.room.map().clone(),
                self.room.map_version(),
                self.room.limits(),
                occupants,
                seq,
            );
            for user in &snapshot.users {
                let at = &user.session;
                if let (Some(seats), Some(seat)) = (&mut self.seats, user.seat) {
                    seats.inherit(user.user, seat, replayable);
                }
                if at.node == node {
                    if local.contains(&at.session) {
                        self.at.insert(at.session, At::Local);
                    } else {
                        gone.push(at.session);
                    }
                } else if live.contains(&at.node) {
                    self.at.insert(
                        at.session,
                        At::Remote {
                            node: at.node.clone(),
                            since: now,
                        },
                    );
                } else {
                    gone.push(at.session);
                }
            }
            tracing::info!(room = %room_id, users = snapshot.users.len(), gone = gone.len(), seq = snapshot.seq, "took over room");
        }
        self.restore_unconfirmed(&shadow, &members, snapshot_seq);
        let restored = self.room.seq();
        match (&mut self.seats, &carried) {
            // Handed over on purpose: the log goes on as it was.
            (Some(_), Some(carried)) if carried.whole => {}
            // The host died: its numbering goes on from the last number
            // anyone here saw, so no client sees a jump (what it missed is
            // not here to replay: those seats answer a resume with SYNC).
            (Some(seats), Some(carried)) => seats.renumber_from(carried.log.last.max(shadow.number)),
            // Written by a host that did not number for resume: above any number it could have given.
            (Some(seats), None) => seats.renumber_from(restored),
            (None, _) => {}
        }
        // Seated users whose node is gone keep their seats for the grace.
        for session in gone {
            self.lose(session);
        }
        for (session, user, nickname) in members {
            self.at.insert(session, At::Local);
            self.effects.push_back(HostEffect::Attach { session });
            let seated = self.seats.as_ref().is_some_and(|s| s.seat_of(user).is_some());
            match self.apply_enter(session, user, nickname) {
                Ok(events) => {
                    let then = self.seat_at_enter(user, seated, &events);
                    self.after_enter(session, user, events, then);
                }
                Err(reject) => {
                    self.refuse(session, &reject);
                    self.effects.push_back(HostEffect::Close {
                        session,
                        closing: super::Closing::TryAgainLater,
                    });
                    self.at.remove(&session);
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
    fn restore_unconfirmed(
        &mut self,
        shadow: &Shadow,
        members: &[(SessionId, UserId, String)],
        snapshot_seq: u64,
    ) {
        if shadow.seq <= snapshot_seq {
            return;
        }
        let mut missing: Vec<(UserId, Cell, String)> = shadow
            .users
            .iter()
            .filter(|(user, _)| self.room.occupant_of_user(**user).is_none())
            .map(|(user, (cell, nickname))| (*user, *cell, nickname.clone()))
            .collect();
        if missing.is_empty() {
            return;
        }
        missing.sort_unstable_by_key(|(user, _, _)| *user);
        let mut occupants = self.room.occupants().to_vec();
        let until = self.now + self.cluster.as_ref().map_or(Duration::ZERO, |c| c.node_ttl);
        for (user, cell, nickname) in missing {
            // This node's own sessions keep theirs (entering them again keeps
            // their cell); another node's users wait, under a placeholder, for their relay.
            let session = match members.iter().find(|(_, member, _)| *member == user) {
                Some((session, _, _)) => *session,
                None => {
                    let placeholder = SessionId(u64::MAX - user.0);
                    self.at.insert(placeholder, At::Unconfirmed { until });
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
        let now = self.now;
        let room = &self.room;
        // Claimed (a relay entered the user again, under its own session) or gone.
        self.at.retain(|session, at| {
            !matches!(at, At::Unconfirmed { .. }) || room.occupant_of_session(*session).is_some()
        });
        let mut expired: Vec<SessionId> = self
            .at
            .iter()
            .filter(|(_, at)| matches!(at, At::Unconfirmed { until } if *until <= now))
            .map(|(session, _)| *session)
            .collect();
        if expired.is_empty() {
            return;
        }
        expired.sort_unstable();
        tracing::info!(room = %self.room.id(), users = expired.len(), "users no relay claimed leave");
        for session in expired {
            self.act(Command::Leave { session });
        }
    }

    /// The periodic duties: renew the lease, write the snapshot, check the other nodes.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        self.now = now;
        self.expire_away();
        let Some(cluster) = &mut self.cluster else { return };
        if now < cluster.next_upkeep {
            return;
        }
        cluster.next_upkeep = now + UPKEEP_EVERY;
        cluster.ticks += 1;
        let tick = cluster.ticks;
        if !cluster.renew_in_flight && now.duration_since(cluster.last_renew) >= cluster.lease_ttl / 3 {
            cluster.renew_in_flight = true;
            cluster.renew_sent = now;
            let lease = cluster.lease.clone();
            self.call(HostCall::Renew(lease));
        }
        if tick.is_multiple_of(SNAPSHOT_EVERY_TICKS) {
            self.write_snapshot();
        }
        if tick.is_multiple_of(LIVENESS_EVERY_TICKS) {
            let nodes = self.remote_nodes();
            if !nodes.is_empty() {
                self.call(HostCall::ListNodes);
                if !self.fenced() {
                    self.publish_last_seq();
                    self.ask_members(nodes);
                }
            }
            self.expire_unconfirmed();
        }
    }

    /// The other nodes with sessions in the room.
    pub(crate) fn remote_nodes(&self) -> BTreeSet<NodeId> {
        self.at
            .values()
            .filter_map(|at| match at {
                At::Remote { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect()
    }

    pub(super) fn on_cluster_answer(&mut self, answer: HostAnswer) {
        match answer {
            HostAnswer::Renewed(result) => self.on_renewed(result),
            HostAnswer::Reacquired(result, snapshot) => self.on_reacquired(result, snapshot),
            HostAnswer::SnapshotSaved(result) => {
                if let Some(cluster) = &mut self.cluster {
                    cluster.snapshot_in_flight = false;
                }
                if let Err(e @ HostingError::LeaseLost { .. }) = result {
                    tracing::warn!(error = %e, "snapshot refused");
                    self.on_renewed(Err(e));
                }
            }
            HostAnswer::Listed(Some(listed)) => self.remove_gone_sessions(&listed),
            HostAnswer::Listed(None) => {}
            HostAnswer::Owned { .. } | HostAnswer::Saved { .. } | HostAnswer::ReadBack { .. } => {}
        }
    }

    fn on_renewed(&mut self, result: Result<(), HostingError>) {
        let now = self.now;
        let room = self.room.id();
        let Some(cluster) = &mut self.cluster else { return };
        cluster.renew_in_flight = false;
        match result {
            Ok(()) => {
                cluster.last_renew = now;
                cluster.valid_until = cluster.renew_sent + cluster.lease_ttl;
                self.apply_deferred_leaves();
            }
            // The registry is away: keep serving, keep trying.
            Err(HostingError::Unavailable(_)) => {}
            Err(e) => {
                // Expired (e.g. the registry restarted and forgot it): take it again if nobody else has.
                tracing::warn!(%room, error = %e, "lease lost; trying to take it again");
                cluster.renew_in_flight = true;
                cluster.renew_sent = now;
                self.call(HostCall::Reacquire);
            }
        }
    }

    fn on_reacquired(
        &mut self,
        result: Result<Acquired, HostingError>,
        snapshot: Result<Option<u64>, HostingError>,
    ) {
        let now = self.now;
        let room = self.room.id();
        let Some(cluster) = &mut self.cluster else { return };
        cluster.renew_in_flight = false;
        match result {
            // Nobody served the room since this host's lease (a registry that
            // lost its data, say): serve on, nobody is cut off.
            Ok(Acquired::Granted(lease))
                if snapshot
                    .as_ref()
                    .is_ok_and(|epoch| epoch.is_none_or(|epoch| epoch <= cluster.lease.epoch)) =>
            {
                tracing::info!(room = %lease.room, epoch = lease.epoch, "lease taken again");
                cluster.lease = lease;
                cluster.last_renew = now;
                cluster.valid_until = cluster.renew_sent + cluster.lease_ttl;
                cluster.snapshot_dirty = true;
                self.apply_deferred_leaves();
            }
            Ok(Acquired::Granted(lease)) => {
                // Another host served the room in between (its snapshot is
                // newer), or it cannot be told: not served on from what this
                // host holds (sim seed 4172: that host stored a BUILD, and this
                // one, serving on, showed and would have saved the older map).
                tracing::info!(room = %lease.room, epoch = lease.epoch, "lease taken again after another host; loading the room again");
                cluster.lease = lease;
                cluster.restart_pending = true;
                self.restart_when_stored();
            }
            Ok(Acquired::HeldBy { node, epoch }) => {
                tracing::warn!(%room, %node, epoch, "another node hosts this room now");
                let members = self.carry_members();
                self.ended = Some(HostEnd::Moved(members));
            }
            Err(_) => {}
        }
    }

    /// End this phase for [`HostEnd::Restart`] once it is due and no BUILD
    /// is being stored (a save still in flight would land after the next
    /// phase loaded the room, which would then show the older map).
    pub(super) fn restart_when_stored(&mut self) {
        let due = self.cluster.as_ref().is_some_and(|c| c.restart_pending);
        if due && !self.builds.is_saving() && self.ended.is_none() {
            let members = self.carry_members();
            self.ended = Some(HostEnd::Restart(members));
        }
    }

    fn write_snapshot(&mut self) {
        let Some(cluster) = &mut self.cluster else { return };
        // A host loading the room again writes nothing of what it holds: it may be older.
        if !cluster.snapshot_dirty || cluster.snapshot_in_flight || cluster.restart_pending {
            return;
        }
        cluster.snapshot_dirty = false;
        cluster.snapshot_in_flight = true;
        if let Some((lease, snapshot)) = self.snapshot(false) {
            self.call(HostCall::SaveSnapshot(lease, snapshot));
        }
    }

    /// The room as a next host should continue it, under this host's lease:
    /// `whole` (a planned hand-over) with its replay log, so the next host
    /// holds the same seats and replays what they missed; else (written
    /// behind, often) with only its numbering.
    pub(crate) fn snapshot(&self, whole: bool) -> Option<(Lease, RoomSnapshot)> {
        let cluster = self.cluster.as_ref()?;
        Some((cluster.lease.clone(), self.state(whole)))
    }

    /// The room as one value that travels (STYLE.md 13): who is where, on
    /// which node, under which seat, and the numbering (and, `whole`, the
    /// replay log); a standalone node names itself [`STANDALONE`].
    pub(crate) fn state(&self, whole: bool) -> RoomSnapshot {
        let here = self
            .cluster
            .as_ref()
            .map_or_else(|| NodeId(STANDALONE.to_owned()), |c| c.node.clone());
        let users = self
            .room
            .occupants()
            .iter()
            .map(|o| SnapshotUser {
                user: o.user,
                nickname: o.nickname.clone(),
                session: SessionAt {
                    node: match self.at.get(&o.session) {
                        Some(At::Remote { node, .. }) => node.clone(),
                        _ => here.clone(),
                    },
                    session: o.session,
                },
                cell: o.cell,
                seat: self.seats.as_ref().and_then(|s| s.seat_of(o.user)),
            })
            .collect();
        RoomSnapshot {
            room: self.room.id(),
            epoch: self.cluster.as_ref().map_or(0, |c| c.lease.epoch),
            seq: self.room.seq(),
            map_version: self.room.map_version(),
            users,
            seats: self.seats.as_ref().map(|s| s.written(whole)),
        }
    }

    /// A standalone node started again: continue the room as its last run
    /// wrote it on stopping. Its sockets are gone: seated users are back,
    /// away, under their seats for the grace, and the numbering and the
    /// log go on, so a resume is RESUMED; the others left with their
    /// sockets. A state written over another map version (a BUILD that was
    /// being stored) is not used: positions on another map mean nothing.
    pub(crate) fn restart_from(&mut self, state: RoomSnapshot, now: Instant) {
        self.now = now;
        let room_id = self.room.id();
        let (Some(seats), Some(carried)) = (&mut self.seats, state.seats.as_ref().filter(|s| s.whole)) else {
            return;
        };
        if state.map_version != self.room.map_version() || !self.room.is_empty() {
            tracing::info!(room = %room_id, "the saved state is of another map version; starting afresh");
            return;
        }
        seats.carry_on(carried);
        let seated: Vec<&SnapshotUser> = state.users.iter().filter(|u| u.seat.is_some()).collect();
        let occupants = seated
            .iter()
            .map(|u| Occupant {
                user: u.user,
                nickname: u.nickname.clone(),
                session: u.session.session,
                cell: u.cell,
            })
            .collect();
        self.room = Room::restore(
            room_id,
            self.room.map().clone(),
            self.room.map_version(),
            self.room.limits(),
            occupants,
            state.seq,
        );
        for user in &seated {
            if let Some(seat) = user.seat {
                seats.inherit(user.user, seat, true);
            }
        }
        tracing::info!(room = %room_id, seats = seated.len(), last = carried.log.last, "room continues from its saved state");
        for user in seated {
            self.lose(user.session.session);
        }
    }

    /// Remove the remote sessions whose process is gone: of a node the
    /// registry has not listed for half a node lifetime (dead), or opened by
    /// an earlier process of a node that was restarted under the same id.
    fn remove_gone_sessions(&mut self, listed: &[NodeInfo]) {
        let now = self.now;
        let nodes = self.remote_nodes();
        let Some(cluster) = &mut self.cluster else { return };
        let patience = cluster.node_ttl / 2;
        let mut dead = BTreeSet::new();
        for node in nodes {
            if listed.iter().any(|info| info.id == node) {
                cluster.unlisted.remove(&node);
            } else if now.duration_since(*cluster.unlisted.entry(node.clone()).or_insert(now)) >= patience {
                dead.insert(node);
            }
        }
        let mut gone: Vec<SessionId> = self
            .at
            .iter()
            .filter(|(session, at)| match at {
                At::Remote { node, .. } => {
                    dead.contains(node)
                        || listed
                            .iter()
                            .any(|info| info.id == *node && !info.opened(**session))
                }
                _ => false,
            })
            .map(|(session, _)| *session)
            .collect();
        if gone.is_empty() {
            return;
        }
        gone.sort_unstable();
        tracing::info!(room = %self.room.id(), ?dead, users = gone.len(), "removing users of dead or restarted nodes");
        for session in gone {
            self.lose(session);
        }
    }

    /// Tell the relays the number of the room's last event, so one that lost
    /// the last events (nothing after them shows the gap) asks for a SYNC.
    fn publish_last_seq(&mut self) {
        let Some(cluster) = &self.cluster else { return };
        let marker = HostEffect::Marker {
            epoch: cluster.lease.epoch,
            seq: self.room.seq(),
        };
        self.effects.push_back(marker);
    }

    /// Ask every node this room has sessions of which are still here: one
    /// that no longer relays the room (its users left while it could not
    /// tell anyone, or a stale snapshot named them) answers that none are.
    fn ask_members(&mut self, nodes: BTreeSet<NodeId>) {
        let Some(host) = self.cluster.as_ref().map(|c| c.node.clone()) else {
            return;
        };
        for node in nodes {
            let ask = NodeMessage::AskMembers {
                room: self.room.id(),
                host: host.clone(),
            };
            self.effects.push_back(HostEffect::ToNode { node, message: ask });
        }
    }

    /// `node` says which of its sessions are in the room: the others it had
    /// here are gone (their LEAVE was lost), unless they entered so recently
    /// that the list was sent before their ENTER.
    pub(super) fn reconcile(&mut self, node: &NodeId, entered: &[SessionId], entering: &[SessionId]) {
        let Some(cluster) = &self.cluster else { return };
        let now = self.now;
        // A relay with nobody left has ended: all of its sessions here are gone.
        let settled = if entered.is_empty() && entering.is_empty() {
            now
        } else {
            now.checked_sub(cluster.lease_ttl / 3).unwrap_or(now)
        };
        let mut gone: Vec<SessionId> = self
            .at
            .iter()
            .filter(|(session, at)| {
                matches!(at, At::Remote { node: of, since } if of == node && *since <= settled)
                    && !entered.contains(session)
                    && !entering.contains(session)
            })
            .map(|(session, _)| *session)
            .collect();
        gone.sort_unstable();
        if !gone.is_empty() {
            tracing::info!(room = %self.room.id(), %node, sessions = gone.len(), "forgetting sessions the relay no longer has");
        }
        for session in gone {
            self.lose(session);
        }
        for &session in entered {
            if self.room.occupant_of_session(session).is_none() {
                // Replaced or removed here, and the relay never heard: its socket must enter again.
                self.refuse_enter(
                    node,
                    session,
                    ErrorCode::Unavailable,
                    "you are no longer in the room; enter again",
                );
            }
        }
    }

    /// Fresh SYNCs for every session of `node` (it lost events).
    pub(super) fn resync(&mut self, node: &NodeId) {
        let mut sessions: Vec<SessionId> = self
            .at
            .iter()
            .filter(|(_, at)| matches!(at, At::Remote { node: of, .. } if of == node))
            .map(|(session, _)| *session)
            .collect();
        sessions.sort_unstable();
        tracing::debug!(%node, sessions = sessions.len(), "fresh SYNCs for a relay that lost events");
        for session in sessions {
            self.act(Command::Sync { session });
        }
    }

    /// The local sessions, to carry on under another host (the ones that
    /// left while this host was fenced do not).
    pub(crate) fn carry_members(&mut self) -> Vec<(SessionId, UserId, String)> {
        let left = self
            .cluster
            .as_mut()
            .map(|c| std::mem::take(&mut c.deferred_leaves))
            .unwrap_or_default();
        let mut carried: Vec<(SessionId, UserId, String)> = self
            .at
            .iter()
            .filter(|(session, at)| **at == At::Local && !left.contains(session))
            .filter_map(|(session, _)| {
                let occupant = self.room.occupant_of_session(*session)?;
                Some((*session, occupant.user, occupant.nickname.clone()))
            })
            .collect();
        carried.sort_unstable_by_key(|(session, _, _)| *session);
        carried
    }
}
