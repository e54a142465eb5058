//! The host machine, step by step: inputs in, effects out, time as a value.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use room_core::{
    Audience, Cell, Command, Direction, ErrorCode, Map, Room, RoomId, RoomLimits, ServerMsg, SessionId,
    UserId,
};
use room_ports::{Acquired, HostingError, Lease, NodeId, RoomSnapshot, SessionAt, SnapshotUser};

use super::host::{ClusterSetup, Host, HostAnswer, HostCall, HostEffect, HostEnd, HostInput, HostSetup};
use super::{EnterAnswer, Shadow, TakeOver};
use crate::contract::{NodeCommand, NodeMessage};
use crate::machine::seats::SeatSetup;
use crate::ordered::IdSet;
use crate::seat::SeatKey;

const ROOM: RoomId = RoomId(7);
const TTL: Duration = Duration::from_secs(3);
const GRACE: Duration = Duration::from_secs(20);

fn node(name: &str) -> NodeId {
    NodeId(name.to_owned())
}

fn host(cluster: bool, now: Instant) -> Host {
    let setup = HostSetup {
        room: Room::new(ROOM, Map::empty(), 1, RoomLimits::default()),
        stored_map_problem: None,
        builds_in_flight: 4,
        observe: false,
        cluster: cluster.then(|| ClusterSetup {
            node: node("here"),
            lease: Lease {
                room: ROOM,
                node: node("here"),
                epoch: 5,
            },
            lease_ttl: TTL,
            node_ttl: Duration::from_secs(6),
            asked_at: now,
        }),
        seats: Some(SeatSetup {
            key: SeatKey::derive(b"the host tests' secret, long enough"),
            grace: GRACE,
            log: 16,
        }),
    };
    Host::new(setup, now)
}

fn effects(host: &mut Host) -> Vec<HostEffect> {
    std::iter::from_fn(|| host.poll_effect()).collect()
}

fn enter(host: &mut Host, session: u64, user: u64, now: Instant) -> Vec<HostEffect> {
    host.handle(
        HostInput::Enter {
            session: SessionId(session),
            user: UserId(user),
            nickname: format!("u{user}"),
            resume: false,
        },
        now,
    );
    effects(host)
}

fn remote(
    host: &mut Host,
    from: &str,
    session: u64,
    user: u64,
    command: NodeCommand,
    now: Instant,
) -> Vec<HostEffect> {
    host.handle(
        HostInput::Remote {
            from: SessionAt {
                node: node(from),
                session: SessionId(session),
            },
            user: UserId(user),
            nickname: format!("u{user}"),
            command,
        },
        now,
    );
    effects(host)
}

fn left(effects: &[HostEffect]) -> Vec<UserId> {
    effects
        .iter()
        .filter_map(|e| match e {
            HostEffect::Event {
                msg: ServerMsg::Leave { user },
                ..
            } => Some(*user),
            _ => None,
        })
        .collect()
}

fn errors(effects: &[HostEffect]) -> Vec<(Audience, ErrorCode)> {
    effects
        .iter()
        .filter_map(|e| match e {
            HostEffect::Event {
                audience,
                msg: ServerMsg::Error { code, .. },
                ..
            } => Some((*audience, *code)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_local_enter_is_answered_attached_and_synced_and_nothing_is_published_alone() {
    let now = Instant::now();
    let mut host = host(false, now);
    let entered = enter(&mut host, 1, 10, now);
    assert!(matches!(
        &entered[..2],
        [
            HostEffect::Answer {
                answer: EnterAnswer::Entered,
                ..
            },
            HostEffect::Attach {
                session: SessionId(1)
            },
        ]
    ));
    assert!(entered.iter().any(|e| matches!(
        e,
        HostEffect::Event {
            audience: Audience::Session(SessionId(1)),
            msg: ServerMsg::Sync { .. },
            ..
        }
    )));
    assert!(
        entered
            .iter()
            .all(|e| !matches!(e, HostEffect::Event { publish: Some(_), .. }))
    );
    assert!(host.poll_timeout().is_none(), "a room alone has no lease to keep");
}

#[test]
fn events_are_published_under_the_epoch_while_another_node_has_a_session_in_the_room() {
    let now = Instant::now();
    let mut host = host(true, now);
    enter(&mut host, 1, 10, now);
    host.handle(
        HostInput::Command(Command::Move {
            session: SessionId(1),
            direction: Direction::Down,
        }),
        now,
    );
    assert!(
        effects(&mut host)
            .iter()
            .all(|e| !matches!(e, HostEffect::Event { publish: Some(_), .. }))
    );
    remote(
        &mut host,
        "relay",
        2,
        20,
        NodeCommand::Enter { resume: false },
        now,
    );
    host.handle(
        HostInput::Command(Command::Move {
            session: SessionId(1),
            direction: Direction::Down,
        }),
        now,
    );
    let moved = effects(&mut host);
    assert!(matches!(
        &moved[..],
        [HostEffect::Event {
            msg: ServerMsg::Move { .. },
            publish: Some((5, _)),
            ..
        }]
    ));
}

#[test]
fn a_host_that_cannot_renew_fences_itself_and_applies_deferred_leaves_once_renewed() {
    let start = Instant::now();
    let mut host = host(true, start);
    enter(&mut host, 1, 10, start);
    enter(&mut host, 2, 20, start);
    // The renewal is asked for a third of the TTL in; its answer never comes.
    host.on_timeout(start + TTL / 3);
    let asked = effects(&mut host);
    assert!(
        asked
            .iter()
            .any(|e| matches!(e, HostEffect::Call(HostCall::Renew(_))))
    );
    let late = start + TTL - TTL / 20;
    host.handle(
        HostInput::Command(Command::Move {
            session: SessionId(1),
            direction: Direction::Down,
        }),
        late,
    );
    assert!(host.fenced());
    let refused = effects(&mut host);
    assert_eq!(
        errors(&refused),
        vec![(Audience::Session(SessionId(1)), ErrorCode::Unavailable)]
    );
    assert!(!refused.iter().any(|e| matches!(
        e,
        HostEffect::Event {
            msg: ServerMsg::Move { .. },
            ..
        }
    )));
    let entering = enter(&mut host, 3, 30, late);
    assert!(matches!(
        &entering[..],
        [HostEffect::Answer {
            answer: EnterAnswer::Refused(ErrorCode::Unavailable, _),
            ..
        }]
    ));
    host.handle(
        HostInput::Command(Command::Leave {
            session: SessionId(2),
        }),
        late,
    );
    assert!(left(&effects(&mut host)).is_empty(), "a LEAVE waits while fenced");
    host.handle(HostInput::Answer(HostAnswer::Renewed(Ok(()))), late);
    assert_eq!(
        left(&effects(&mut host)),
        vec![UserId(20)],
        "and is applied once the lease is confirmed"
    );
}

#[test]
fn a_lease_another_node_holds_now_ends_hosting_with_the_local_sessions() {
    let now = Instant::now();
    let mut host = host(true, now);
    enter(&mut host, 1, 10, now);
    remote(
        &mut host,
        "relay",
        2,
        20,
        NodeCommand::Enter { resume: false },
        now,
    );
    host.handle(
        HostInput::Answer(HostAnswer::Renewed(Err(HostingError::LeaseLost {
            room: ROOM,
            epoch: 5,
        }))),
        now,
    );
    assert!(
        effects(&mut host)
            .iter()
            .any(|e| matches!(e, HostEffect::Call(HostCall::Reacquire)))
    );
    host.handle(
        HostInput::Answer(HostAnswer::Reacquired(Ok(Acquired::HeldBy {
            node: node("other"),
            epoch: 9,
        }))),
        now,
    );
    assert_eq!(
        host.take_end(),
        Some(HostEnd::Moved(vec![(SessionId(1), UserId(10), "u10".to_owned())]))
    );
}

#[test]
fn a_relay_that_no_longer_names_a_session_has_it_left_once_its_list_is_newer_than_the_enter() {
    let start = Instant::now();
    let mut host = host(true, start);
    remote(
        &mut host,
        "relay",
        2,
        20,
        NodeCommand::Enter { resume: false },
        start,
    );
    remote(
        &mut host,
        "relay",
        3,
        30,
        NodeCommand::Enter { resume: false },
        start,
    );
    let members = |host: &mut Host, at: Instant| {
        host.handle(
            HostInput::Members {
                node: node("relay"),
                entered: vec![SessionId(3)],
                entering: Vec::new(),
            },
            at,
        );
        effects(host)
    };
    // A list sent before the ENTER arrived may not name it yet.
    assert!(left(&members(&mut host, start + TTL / 10)).is_empty());
    assert_eq!(left(&members(&mut host, start + TTL / 2)), vec![UserId(20)]);
    assert_eq!(host.view().users.len(), 1);
}

#[test]
fn a_takeover_keeps_live_nodes_users_where_they_stood_and_lets_a_dead_nodes_users_leave() {
    let now = Instant::now();
    let mut host = host(true, now);
    let at = |node_name: &str, session: u64, user: u64, x: u16| SnapshotUser {
        user: UserId(user),
        nickname: format!("u{user}"),
        session: SessionAt {
            node: node(node_name),
            session: SessionId(session),
        },
        cell: Cell { x, y: 1 },
        seat: None,
    };
    let snapshot = RoomSnapshot {
        room: ROOM,
        epoch: 4,
        seq: 40,
        map_version: 1,
        users: vec![at("alive", 1, 10, 2), at("dead", 2, 20, 3), at("here", 3, 30, 4)],
    };
    let live: IdSet<NodeId> = [node("alive")].into_iter().collect();
    host.take_over(
        TakeOver {
            snapshot: Some(snapshot),
            live,
            members: vec![(SessionId(3), UserId(30), "u30".to_owned())],
            shadow: Shadow::default(),
        },
        now,
    );
    let taken = effects(&mut host);
    assert_eq!(left(&taken), vec![UserId(20)]);
    let view = host.view();
    let cell = |user: u64| view.users.iter().find(|u| u.user == UserId(user)).map(|u| u.cell);
    assert_eq!(cell(10), Some(Cell { x: 2, y: 1 }));
    assert_eq!(
        cell(30),
        Some(Cell { x: 4, y: 1 }),
        "this node's own user keeps their cell"
    );
    assert_eq!(cell(20), None);
    assert!(
        taken
            .iter()
            .any(|e| matches!(e, HostEffect::Call(HostCall::SaveSnapshot(..))))
    );
}

#[test]
fn a_build_is_looked_up_then_stored_under_the_hosts_epoch_then_shown_to_everyone() {
    let now = Instant::now();
    let mut host = host(true, now);
    enter(&mut host, 1, ROOM.owner().0, now);
    let doc = room_core::MapDoc {
        side: 4,
        ..Default::default()
    };
    host.handle(
        HostInput::Build {
            session: SessionId(1),
            doc,
        },
        now,
    );
    let asked = effects(&mut host);
    let Some(id) = asked.iter().find_map(|e| match e {
        HostEffect::Call(HostCall::OwnedGames { id, .. }) => Some(*id),
        _ => None,
    }) else {
        panic!("the library is looked up: {asked:?}")
    };
    host.handle(
        HostInput::Answer(HostAnswer::Owned {
            id,
            owned: Ok(BTreeSet::new()),
        }),
        now,
    );
    let saving = effects(&mut host);
    let Some(HostEffect::Call(HostCall::SaveMap {
        build,
        expected,
        epoch,
        session,
        origin,
    })) = saving.into_iter().next()
    else {
        panic!("the BUILD is stored")
    };
    assert_eq!((expected, epoch), (1, 5));
    host.handle(
        HostInput::Answer(HostAnswer::Saved {
            session,
            origin,
            build,
            expected,
            result: Ok(2),
        }),
        now,
    );
    assert!(effects(&mut host).iter().any(
        |e| matches!(e, HostEffect::Event { msg: ServerMsg::Sync { room }, .. } if room.map.side() == 4)
    ));
}

#[test]
fn a_build_of_someone_not_the_owner_is_refused_without_asking_the_store() {
    let now = Instant::now();
    let mut host = host(false, now);
    enter(&mut host, 1, ROOM.owner().0 + 1, now);
    host.handle(
        HostInput::Build {
            session: SessionId(1),
            doc: room_core::MapDoc::default(),
        },
        now,
    );
    let refused = effects(&mut host);
    assert_eq!(
        errors(&refused),
        vec![(Audience::Session(SessionId(1)), ErrorCode::Forbidden)]
    );
    assert!(!refused.iter().any(|e| matches!(e, HostEffect::Call(_))));
}

#[test]
fn a_relayed_enter_the_room_refuses_is_answered_to_its_node() {
    let now = Instant::now();
    let mut host = host(true, now);
    let sent = remote(&mut host, "relay", 2, 20, NodeCommand::Sync, now);
    // Not in the room: the relay is told, not the host's own sockets.
    assert!(
        matches!(&sent[..], [HostEffect::ToNode { node, message: NodeMessage::Reply { session: SessionId(2), .. } }] if node.0 == "relay")
    );
}

#[test]
fn a_relayed_build_is_answered_to_its_relay_when_refused() {
    let now = Instant::now();
    let mut host = host(true, now);
    remote(
        &mut host,
        "relay",
        2,
        ROOM.owner().0 + 1,
        NodeCommand::Enter { resume: false },
        now,
    );
    let build = NodeCommand::Build {
        map: room_core::MapDoc::default(),
        ticket: 7,
    };
    let answered = remote(&mut host, "relay", 2, ROOM.owner().0 + 1, build, now);
    // The ERROR rides with the end of the relay's wait: one cannot be lost without the other.
    assert!(matches!(
        &answered[..],
        [HostEffect::ToNode {
            node,
            message: NodeMessage::BuildDone {
                ticket: 7,
                session: SessionId(2),
                refused: Some((ErrorCode::Forbidden, _)),
                ..
            },
        }] if node.0 == "relay"
    ));
}
