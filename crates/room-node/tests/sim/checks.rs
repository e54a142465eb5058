//! The invariants every simulated run must keep, checked once faults stop
//! and the cluster had time to recover.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use room_core::{Cell, Map, RoomId};
use tokio::time::Instant;

use crate::world::{World, lock, node_name};

/// Longest an ENTER may wait for its answer (the engine's forward deadline plus slack).
pub const ENTER_ANSWERED_WITHIN: Duration = Duration::from_secs(12);

/// Every invariant; the first broken one, described.
pub async fn all(world: &World) -> Result<(), String> {
    enters_are_answered(world)?;
    builds_are_answered(world)?;
    moves_follow_one_order(world)?;
    one_writer_per_room(world)?;
    saves_are_fenced(world)?;
    for &room in &world.setup.rooms {
        room_agrees(world, room).await?;
    }
    Ok(())
}

/// Every ENTER is answered (entered or refused) within its deadline.
pub fn enters_are_answered(world: &World) -> Result<(), String> {
    let now = Instant::now();
    for client in world.clients.values() {
        let log = lock(&client.log);
        for (room, sent, answered) in &log.enters {
            let waited = answered.unwrap_or(now) - *sent;
            if waited > ENTER_ANSWERED_WITHIN {
                return Err(format!(
                    "u{}@{}: ENTER {room} waited {waited:?} for an answer ({})",
                    client.user,
                    node_name(client.node),
                    if answered.is_some() {
                        "answered late"
                    } else {
                        "never answered"
                    }
                ));
            }
        }
    }
    Ok(())
}

/// Longest a BUILD may wait for its answer: a relay's deadline (twice the
/// forward deadline) and its check, with slack.
pub const BUILD_ANSWERED_WITHIN: Duration = Duration::from_secs(14);

/// Every BUILD is answered (an ERROR, or a SYNC) within its deadline, unless
/// the server closed its socket first.
pub fn builds_are_answered(world: &World) -> Result<(), String> {
    let now = Instant::now();
    for client in world.clients.values() {
        let log = lock(&client.log);
        for &(side, sent) in &log.builds {
            let deadline = sent + BUILD_ANSWERED_WITHIN;
            if deadline > now || log.closed_at.is_some_and(|closed| closed <= deadline) {
                continue;
            }
            if !log.answers.iter().any(|at| *at >= sent && *at <= deadline) {
                return Err(format!(
                    "u{}@{}: BUILD side {side} sent at {:?} had no answer within {BUILD_ANSWERED_WITHIN:?}",
                    client.user,
                    node_name(client.node),
                    sent - world.start,
                ));
            }
        }
    }
    Ok(())
}

/// Users of a room see one order of its events: the MOVEs of each user a
/// client received are, in the order received, the ones its hosts applied
/// (one host at a time), in the order applied. Some may be missing (coalesced
/// for a slow socket, lost and repaired by a SYNC); none comes twice, late,
/// or from a host that no longer held the room.
pub fn moves_follow_one_order(world: &World) -> Result<(), String> {
    let mut applied = lock(&world.applied).clone();
    applied.sort_by_key(|a| a.order);
    for client in world.clients.values() {
        let log = lock(&client.log);
        // A socket stays in one room (random.rs).
        let Some((room, _, _)) = log.enters.first() else {
            continue;
        };
        let mut movers: BTreeMap<u64, Vec<Cell>> = BTreeMap::new();
        for (user, cell) in &log.moves {
            movers.entry(*user).or_default().push(*cell);
        }
        for (user, seen) in movers {
            let mut hosts = applied
                .iter()
                .filter(|a| a.room == *room)
                .filter_map(|a| a.moved.filter(|(mover, _)| *mover == user).map(|(_, cell)| cell));
            // Greedy: each received MOVE matches the next applied one to its cell.
            for (k, cell) in seen.iter().enumerate() {
                if !hosts.any(|applied| applied == *cell) {
                    return Err(format!(
                        "u{}@{}: MOVE {k} of u{user} to {cell:?} in room {room} is not in the order the hosts applied them (received {seen:?})",
                        client.user,
                        node_name(client.node),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `users` kept their sockets open since `since`, and nobody saw them leave:
/// an outage of a backing service must not cut users off.
pub fn kept(world: &World, users: &[u64], since: Instant) -> Result<(), String> {
    for &user in users {
        let client = world
            .clients
            .get(&user)
            .ok_or_else(|| format!("u{user} has no socket"))?;
        if let Some(closed) = &lock(&client.log).closed {
            return Err(format!("u{user}'s socket was closed by the server ({closed})"));
        }
    }
    for client in world.clients.values() {
        let log = lock(&client.log);
        if let Some((at, gone)) = log
            .leaves
            .iter()
            .find(|(at, u)| *at >= since && users.contains(u))
        {
            return Err(format!(
                "u{} saw u{gone} leave at {:?}, though its socket stayed open",
                client.user,
                *at - world.start
            ));
        }
    }
    Ok(())
}

/// Only the node that was last granted a room's lease applies its commands.
pub fn one_writer_per_room(world: &World) -> Result<(), String> {
    let grants = world.faults.grants();
    for applied in lock(&world.applied).iter() {
        let holder = grants
            .iter()
            .rfind(|g| g.room == applied.room && g.order < applied.order);
        match holder {
            Some(grant) if grant.node == applied.node => {}
            Some(grant) => {
                return Err(format!(
                    "{} applied a command of room {} at {:?} while {} held its lease (epoch {}, granted at {:?})",
                    applied.node,
                    applied.room,
                    applied.at - world.start,
                    grant.node,
                    grant.epoch,
                    grant.at - world.start
                ));
            }
            None => {
                return Err(format!(
                    "{} applied a command of room {} without ever holding its lease",
                    applied.node, applied.room
                ));
            }
        }
    }
    Ok(())
}

/// Per room, the epochs of the saves the store accepted never go back: a
/// host that lost its room never overwrites what a newer host stored.
pub fn saves_are_fenced(world: &World) -> Result<(), String> {
    let mut newest: BTreeMap<RoomId, crate::faults::Save> = BTreeMap::new();
    for save in world.faults.saves() {
        if let Some(before) = newest.get(&save.room)
            && save.epoch < before.epoch
        {
            return Err(format!(
                "room {}: {} saved version {} under epoch {} at {:?}, after {} saved version {} under epoch {} at {:?}",
                save.room,
                save.node,
                save.version,
                save.epoch,
                save.at - world.start,
                before.node,
                before.version,
                before.epoch,
                before.at - world.start
            ));
        }
        newest.insert(save.room, save);
    }
    Ok(())
}

/// Everyone in `room` is there once, nobody else is (no ghosts), and every
/// client shows the positions and map its host has, from the events it got.
pub async fn room_agrees(world: &World, room: u64) -> Result<(), String> {
    let inside: BTreeSet<u64> = world
        .clients
        .values()
        .filter(|c| {
            let log = lock(&c.log);
            log.closed.is_none() && log.in_room == Some(RoomId(room))
        })
        .map(|c| c.user)
        .collect();
    let Some((host, truth)) = world.truth(room).await else {
        if inside.is_empty() {
            return Ok(());
        }
        return Err(format!(
            "room {room}: users {inside:?} are in it but no running node hosts it"
        ));
    };
    let hosted: BTreeMap<u64, Cell> = truth.users.iter().map(|u| (u.user.0, u.cell)).collect();
    let present: BTreeSet<u64> = hosted.keys().copied().collect();
    if present != inside {
        let ghosts: Vec<_> = present.difference(&inside).collect();
        let missing: Vec<_> = inside.difference(&present).collect();
        return Err(format!(
            "room {room} on {}: ghosts {ghosts:?}, missing {missing:?} (host has {present:?}, sockets in it {inside:?})",
            node_name(host)
        ));
    }
    for client in world.clients.values() {
        let log = lock(&client.log);
        if log.closed.is_some() || log.in_room != Some(RoomId(room)) {
            continue;
        }
        if log.shown != hosted {
            return Err(format!(
                "room {room}: u{}@{} shows {:?}, its host {} has {hosted:?}",
                client.user,
                node_name(client.node),
                log.shown,
                node_name(host)
            ));
        }
        if log.map.as_ref() != Some(&truth.map) {
            return Err(format!(
                "room {room}: u{}@{} shows a map of side {:?}, its host has side {}",
                client.user,
                node_name(client.node),
                log.map.as_ref().map(Map::side),
                truth.map.side()
            ));
        }
    }
    stored_map_is_the_live_one(world, room, &truth.map).await
}

/// What the room shows is what is stored: no acknowledged BUILD was lost or overwritten.
async fn stored_map_is_the_live_one(world: &World, room: u64, live: &Map) -> Result<(), String> {
    use room_ports::MapStore;
    let stored = world
        .store
        .load_room(RoomId(room))
        .await
        .map_err(|e| format!("room {room}: the store cannot be read: {e}"))?
        .ok_or_else(|| format!("room {room}: not in the store"))?;
    let stored_map = match stored.map {
        Some(doc) => {
            Map::validate(&doc, room_core::map::MAX_SIDE).map_err(|e| format!("stored map invalid: {e}"))?
        }
        None => Map::empty(),
    };
    if &stored_map != live {
        return Err(format!(
            "room {room}: the live map (side {}) is not the stored one (side {}, version {})",
            live.side(),
            stored_map.side(),
            stored.version
        ));
    }
    Ok(())
}
