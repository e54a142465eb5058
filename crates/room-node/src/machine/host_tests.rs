//! The host machine, step by step: inputs in, effects out, time as a value.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use room_core::{
    Audience, Cell, Command, Direction, ErrorCode, Map, Room, RoomId, RoomLimits, ServerMsg, SessionId,
    UserId,
};
use room_ports::{Acquired, HostingError, Lease, NodeId, RoomSnapshot, SessionAt, SnapshotUser};

use super::host::{ClusterSetup, Host, HostAnswer, HostCall, HostEffect, HostEnd, HostInput, HostSetup};
use super::{EnterAnswer, SeatAsk, Shadow, TakeOver};
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
    host_on("here", 5, cluster, now)
}

fn host_on(here: &str, epoch: u64, cluster: bool, now: Instant) -> Host {
    host_of_life(here, epoch, cluster, 0, now)
}

/// A host whose seat numbers start above `life` (see `SeatSetup::life`).
fn host_of_life(here: &str, epoch: u64, cluster: bool, life: u64, now: Instant) -> Host {
    let setup = HostSetup {
        room: Room::new(ROOM, Map::empty(), 1, RoomLimits::default()),
        stored_map_problem: None,
        builds_in_flight: 4,
        observe: false,
        cluster: cluster.then(|| ClusterSetup {
            node: node(here),
            lease: Lease {
                room: ROOM,
                node: node(here),
                epoch,
            },
            lease_ttl: TTL,
            node_ttl: Duration::from_secs(6),
            asked_at: now,
        }),
        seats: Some(SeatSetup {
            key: SeatKey::derive(b"the host tests' secret, long enough"),
            grace: GRACE,
            log: 16,
            replay_frames: 17,
            replay_bytes: 1 << 20,
            life,
        }),
    };
    Host::new(setup, now)
}

fn effects(host: &mut Host) -> Vec<HostEffect> {
    std::iter::from_fn(|| host.poll_effect()).collect()
}

/// Local session `session` of user `user` enters, asking `seat` of resume.
fn enter_asking(host: &mut Host, session: u64, user: u64, seat: SeatAsk, now: Instant) -> Vec<HostEffect> {
    host.handle(
        HostInput::Enter {
            session: SessionId(session),
            user: UserId(user),
            nickname: format!("u{user}"),
            seat,
        },
        now,
    );
    effects(host)
}

fn enter(host: &mut Host, session: u64, user: u64, now: Instant) -> Vec<HostEffect> {
    enter_asking(host, session, user, SeatAsk::None, now)
}

/// User `user`'s relayed session `session` (on node "relay") enters, not opted in.
fn remote_enter(host: &mut Host, session: u64, user: u64, now: Instant) -> Vec<HostEffect> {
    remote(
        host,
        "relay",
        session,
        user,
        NodeCommand::Enter { resume: false },
        now,
    )
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
    remote_enter(&mut host, 2, 20, now);
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
    remote_enter(&mut host, 2, 20, now);
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
        HostInput::Answer(HostAnswer::Reacquired(
            Ok(Acquired::HeldBy {
                node: node("other"),
                epoch: 9,
            }),
            Ok(None),
        )),
        now,
    );
    assert_eq!(
        host.take_end(),
        Some(HostEnd::Moved(vec![(SessionId(1), UserId(10), "u10".to_owned())]))
    );
}

#[test]
fn a_lease_taken_again_loads_the_room_again_once_its_build_is_stored_and_writes_no_snapshot() {
    // Sim seed 4172: between the lease running out and this grant another
    // host served the room and stored a BUILD; serving on from what this
    // host held showed (and would have saved) the older map.
    let now = Instant::now();
    let mut host = host(true, now);
    enter(&mut host, 1, ROOM.owner().0, now);
    host.handle(
        HostInput::Build {
            session: SessionId(1),
            doc: room_core::MapDoc {
                side: 4,
                ..Default::default()
            },
            reference: None,
        },
        now,
    );
    let Some(id) = effects(&mut host).iter().find_map(|e| match e {
        HostEffect::Call(HostCall::OwnedGames { id, .. }) => Some(*id),
        _ => None,
    }) else {
        panic!("the library is looked up")
    };
    host.handle(
        HostInput::Answer(HostAnswer::Owned {
            id,
            owned: Ok(BTreeSet::new()),
        }),
        now,
    );
    let Some(HostEffect::Call(HostCall::SaveMap {
        build,
        expected,
        session,
        origin,
        ..
    })) = effects(&mut host).into_iter().next()
    else {
        panic!("the BUILD is stored")
    };
    host.handle(
        HostInput::Answer(HostAnswer::Renewed(Err(HostingError::LeaseLost {
            room: ROOM,
            epoch: 5,
        }))),
        now,
    );
    effects(&mut host);
    let lease = Lease {
        room: ROOM,
        node: node("here"),
        epoch: 9,
    };
    host.handle(
        HostInput::Answer(HostAnswer::Reacquired(Ok(Acquired::Granted(lease)), Ok(Some(7)))),
        now,
    );
    assert_eq!(host.take_end(), None, "not while its BUILD is being stored");
    let later = now + TTL;
    host.on_timeout(later);
    assert!(
        !effects(&mut host)
            .iter()
            .any(|e| matches!(e, HostEffect::Call(HostCall::SaveSnapshot(..)))),
        "what it holds may be older than a snapshot written in between"
    );
    host.handle(HostInput::Answer(HostAnswer::Renewed(Ok(()))), later);
    assert!(
        host.fenced(),
        "a renewed lease does not make what it holds current"
    );
    host.handle(
        HostInput::Answer(HostAnswer::Saved {
            session,
            origin,
            build,
            expected,
            result: Ok(expected + 1),
        }),
        later,
    );
    assert_eq!(
        host.take_end(),
        Some(HostEnd::Restart(vec![(
            SessionId(1),
            ROOM.owner(),
            format!("u{}", ROOM.owner().0)
        )]))
    );
}

#[test]
fn a_lease_taken_again_that_nobody_held_in_between_is_served_on() {
    // A registry that lost its data (no snapshot) or a lease that only ran
    // out (this host's own snapshot): nobody is cut off.
    for snapshot in [None, Some(5)] {
        let now = Instant::now();
        let mut host = host(true, now);
        enter(&mut host, 1, 10, now);
        host.handle(
            HostInput::Answer(HostAnswer::Renewed(Err(HostingError::LeaseLost {
                room: ROOM,
                epoch: 5,
            }))),
            now,
        );
        effects(&mut host);
        let lease = Lease {
            room: ROOM,
            node: node("here"),
            epoch: 9,
        };
        host.handle(
            HostInput::Answer(HostAnswer::Reacquired(Ok(Acquired::Granted(lease)), Ok(snapshot))),
            now,
        );
        assert_eq!(host.take_end(), None, "snapshot {snapshot:?}");
        assert!(!host.fenced(), "snapshot {snapshot:?}");
    }
}

#[test]
fn a_relay_that_no_longer_names_a_session_has_it_left_once_its_list_is_newer_than_the_enter() {
    let start = Instant::now();
    let mut host = host(true, start);
    remote_enter(&mut host, 2, 20, start);
    remote_enter(&mut host, 3, 30, start);
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
        seats: None,
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
            reference: None,
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
            reference: None,
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
    remote_enter(&mut host, 2, ROOM.owner().0 + 1, now);
    let build = NodeCommand::Build {
        map: room_core::MapDoc::default(),
        ticket: 7,
        reference: None,
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

fn enter_resuming(host: &mut Host, session: u64, user: u64, now: Instant) -> Vec<HostEffect> {
    enter_asking(host, session, user, SeatAsk::New, now)
}

fn seat_of(host: &Host, user: u64) -> u64 {
    host.seats
        .as_ref()
        .and_then(|s| s.seat_of(UserId(user)))
        .expect("the user holds a seat")
}

fn resume(host: &mut Host, session: u64, user: u64, seat: u64, seq: u64, now: Instant) -> Vec<HostEffect> {
    enter_asking(host, session, user, SeatAsk::Resume { seat, seq }, now)
}

fn refused(effects: &[HostEffect]) -> Option<ErrorCode> {
    effects.iter().find_map(|e| match e {
        HostEffect::Answer {
            answer: EnterAnswer::Refused(code, _),
            ..
        } => Some(*code),
        _ => None,
    })
}

#[test]
fn an_opted_in_enter_gets_its_seat_right_after_its_sync() {
    let now = Instant::now();
    let mut host = host(false, now);
    let entered = enter_resuming(&mut host, 1, 10, now);
    let sync = entered
        .iter()
        .find_map(|e| match e {
            HostEffect::Event {
                msg: ServerMsg::Sync { .. },
                seq,
                then,
                ..
            } => Some((*seq, then.clone())),
            _ => None,
        })
        .expect("a SYNC");
    assert!(sync.0.is_some(), "the SYNC carries the room's last number");
    assert_eq!(sync.1.len(), 1);
    assert!(sync.1[0].starts_with("12"), "{:?}", sync.1);
    // A plain ENTER of the same user (on a new socket) ends the seat.
    enter(&mut host, 2, 10, now);
    assert!(host.seats.as_ref().unwrap().seat_of(UserId(10)).is_none());
}

#[test]
fn an_away_seat_is_held_unseen_for_the_grace_and_then_its_user_leaves() {
    let start = Instant::now();
    let mut host = host(false, start);
    enter_resuming(&mut host, 1, 10, start);
    enter(&mut host, 2, 20, start);
    host.handle(
        HostInput::Away {
            session: SessionId(1),
        },
        start,
    );
    let away = effects(&mut host);
    assert!(
        away.iter().all(|e| !matches!(e, HostEffect::Event { .. })),
        "nobody is told: {away:?}"
    );
    assert!(away.iter().any(|e| matches!(
        e,
        HostEffect::Detach {
            session: SessionId(1)
        }
    )));
    assert_eq!(host.view().users.len(), 2, "the user keeps its place");
    assert_eq!(host.poll_timeout(), Some(start + GRACE));
    host.on_timeout(start + GRACE - Duration::from_millis(1));
    assert!(left(&effects(&mut host)).is_empty());
    host.on_timeout(start + GRACE);
    assert_eq!(left(&effects(&mut host)), vec![UserId(10)]);
    assert_eq!(host.view().users.len(), 1);
    assert_eq!(host.poll_timeout(), None, "nothing more to wait for");
}

#[test]
fn a_resume_within_the_grace_replays_and_after_it_is_76408() {
    let start = Instant::now();
    let mut host = host(false, start);
    enter_resuming(&mut host, 1, 10, start);
    let seat = seat_of(&host, 10);
    let seq = host.seats.as_ref().unwrap().last();
    enter(&mut host, 2, 20, start);
    host.handle(
        HostInput::Away {
            session: SessionId(1),
        },
        start,
    );
    effects(&mut host);
    let back = resume(&mut host, 3, 10, seat, seq, start + GRACE / 2);
    let replayed = back
        .iter()
        .find_map(|e| match e {
            HostEffect::Event {
                msg: ServerMsg::Resumed { replayed, .. },
                then,
                ..
            } => Some((*replayed, then.len())),
            _ => None,
        })
        .expect("RESUMED");
    assert_eq!(replayed, (1, 1), "the ENTER of user 20 it missed");
    assert!(left(&back).is_empty());
    // The grace no longer runs for the resumed seat.
    host.on_timeout(start + GRACE);
    assert!(left(&effects(&mut host)).is_empty());
    // Away again: the grace starts again at the new drop.
    host.handle(
        HostInput::Away {
            session: SessionId(3),
        },
        start + GRACE,
    );
    effects(&mut host);
    host.on_timeout(start + 2 * GRACE);
    assert_eq!(left(&effects(&mut host)), vec![UserId(10)]);
    let late = resume(&mut host, 4, 10, seat, seq, start + 2 * GRACE);
    assert_eq!(refused(&late), Some(ErrorCode::SeatExpired));
}

#[test]
fn a_takeover_holds_the_seats_its_snapshot_names_even_of_a_dead_node() {
    let now = Instant::now();
    let mut host = host(true, now);
    let user = |session: u64, user: u64, seat: Option<u64>| SnapshotUser {
        user: UserId(user),
        nickname: format!("u{user}"),
        session: SessionAt {
            node: node("dead"),
            session: SessionId(session),
        },
        cell: Cell { x: 1, y: 1 },
        seat,
    };
    let snapshot = RoomSnapshot {
        room: ROOM,
        epoch: 4,
        seq: 40,
        map_version: 1,
        users: vec![user(1, 10, Some(77)), user(2, 20, None)],
        seats: None,
    };
    host.take_over(
        TakeOver {
            snapshot: Some(snapshot),
            live: IdSet::default(),
            members: Vec::new(),
            shadow: Shadow::default(),
        },
        now,
    );
    assert_eq!(
        left(&effects(&mut host)),
        vec![UserId(20)],
        "only the unseated user leaves"
    );
    // The old host's numbers mean nothing here: a fresh SYNC and a new SEAT.
    let back = resume(&mut host, 5, 10, 77, 40, now + Duration::from_millis(100));
    let sync = back.iter().find_map(|e| match e {
        HostEffect::Event {
            msg: ServerMsg::Sync { room },
            then,
            ..
        } => Some((room.users.len(), then.len())),
        _ => None,
    });
    assert_eq!(sync, Some((1, 1)), "{back:?}");
    assert_ne!(seat_of(&host, 10), 77, "a new seat");
}

/// A local BUILD with `ref` of side `side` by session 1, stored as version 2.
fn build_with_ref(host: &mut Host, side: u16, reference: &str, now: Instant) -> Vec<HostEffect> {
    let doc = room_core::MapDoc {
        side: side.into(),
        ..Default::default()
    };
    host.handle(
        HostInput::Build {
            session: SessionId(1),
            doc,
            reference: Some(reference.into()),
        },
        now,
    );
    let asked = effects(host);
    let Some(id) = asked.iter().find_map(|e| match e {
        HostEffect::Call(HostCall::OwnedGames { id, .. }) => Some(*id),
        _ => None,
    }) else {
        return asked;
    };
    host.handle(
        HostInput::Answer(HostAnswer::Owned {
            id,
            owned: Ok(BTreeSet::new()),
        }),
        now,
    );
    let Some(HostEffect::Call(HostCall::SaveMap {
        build,
        expected,
        session,
        origin,
        ..
    })) = effects(host).into_iter().next()
    else {
        panic!("the BUILD is stored")
    };
    host.handle(
        HostInput::Answer(HostAnswer::Saved {
            session,
            origin,
            build,
            expected,
            result: Ok(expected + 1),
        }),
        now,
    );
    effects(host)
}

/// The `seq` an event effect carries for opted-in sockets, of the first `msg` it matches.
fn numbers(effects: &[HostEffect]) -> Vec<u64> {
    effects
        .iter()
        .filter_map(|e| match e {
            HostEffect::Event {
                seq: Some(seq),
                audience,
                ..
            } if !matches!(audience, Audience::Session(_)) => Some(*seq),
            _ => None,
        })
        .collect()
}

fn step(host: &mut Host, session: u64, direction: Direction, now: Instant) -> Vec<HostEffect> {
    host.handle(
        HostInput::Command(Command::Move {
            session: SessionId(session),
            direction,
        }),
        now,
    );
    effects(host)
}

#[test]
fn the_sync_of_an_accepted_build_names_its_ref_for_the_builder_alone() {
    let now = Instant::now();
    let mut host = host(false, now);
    enter(&mut host, 1, ROOM.owner().0, now);
    enter(&mut host, 2, ROOM.owner().0 + 1, now);
    let done = build_with_ref(&mut host, 5, "b1", now);
    let replies: Vec<_> = done
        .iter()
        .filter_map(|e| match e {
            HostEffect::Event {
                audience: Audience::All,
                msg: ServerMsg::Sync { room },
                reply,
                ..
            } if room.map.side() == 5 => Some(reply.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(replies, vec![Some((SessionId(1), "b1".to_owned()))]);
}

#[test]
fn a_refused_build_with_a_ref_gets_its_error_with_that_ref() {
    let now = Instant::now();
    let mut host = host(false, now);
    enter(&mut host, 1, ROOM.owner().0 + 1, now);
    let done = build_with_ref(&mut host, 5, "b\"2", now);
    let frames: Vec<&str> = done
        .iter()
        .filter_map(|e| match e {
            HostEffect::Event {
                audience: Audience::Session(SessionId(1)),
                msg: ServerMsg::Error { .. },
                encoded: Some(frame),
                ..
            } => Some(frame.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 1, "{done:?}");
    assert_eq!(room_core::frame_ref(frames[0]).unwrap().as_deref(), Some("b\"2"));
    assert!(frames[0].starts_with("99{\"code\":76403,"));
    assert_eq!(host.view().map.side(), 20, "nothing changed");
}

#[test]
fn the_sync_answering_an_enter_names_the_entering_user() {
    let now = Instant::now();
    let mut host = host(false, now);
    let entered = enter(&mut host, 1, 42, now);
    let you: Vec<String> = entered
        .iter()
        .filter_map(|e| match e {
            HostEffect::Event {
                msg: ServerMsg::Sync { .. },
                encoded: Some(frame),
                ..
            } => Some(frame.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(you.len(), 1, "{entered:?}");
    let body: serde_json::Value = serde_json::from_str(&you[0][2..]).unwrap();
    assert_eq!(body["you"], "42");
}

#[test]
fn a_planned_hand_over_carries_seats_log_and_numbering_so_a_resume_there_replays() {
    let now = Instant::now();
    let mut old = host(true, now);
    enter_resuming(&mut old, 1, 10, now);
    enter(&mut old, 2, 20, now);
    let seat = seat_of(&old, 10);
    let seen = old.seats.as_ref().unwrap().last();
    old.handle(
        HostInput::Away {
            session: SessionId(1),
        },
        now,
    );
    effects(&mut old);
    let mut missed = Vec::new();
    for direction in [Direction::Right, Direction::Down, Direction::Left] {
        missed.extend(numbers(&step(&mut old, 2, direction, now)));
    }
    assert_eq!(missed.len(), 3);
    let (_, snapshot) = old.snapshot(true).expect("a cluster host writes snapshots");
    // Through the bytes a store keeps, as a hand-over's snapshot travels.
    let snapshot: RoomSnapshot = serde_json::from_str(&serde_json::to_string(&snapshot).unwrap()).unwrap();

    let mut taker = host_on("taker", 6, true, now);
    taker.take_over(
        TakeOver {
            snapshot: Some(snapshot),
            live: [node("here")].into_iter().collect(),
            members: Vec::new(),
            shadow: Shadow::default(),
        },
        now,
    );
    let took = effects(&mut taker);
    assert!(left(&took).is_empty(), "nobody leaves at a hand-over: {took:?}");
    assert_eq!(seat_of(&taker, 10), seat, "the same seat");
    let back = remote(
        &mut taker,
        "relay",
        3,
        10,
        NodeCommand::Resume { seat, seq: seen },
        now + Duration::from_millis(100),
    );
    let (last, replayed, frames) = back
        .iter()
        .find_map(|e| match e {
            HostEffect::Event {
                msg: ServerMsg::Resumed { seq, replayed, .. },
                then,
                ..
            } => Some((*seq, *replayed, then.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("RESUMED, not a fresh SYNC: {back:?}"));
    assert_eq!(
        (last, replayed),
        (*missed.last().unwrap(), 3),
        "exactly the moves it missed"
    );
    let replayed_numbers: Vec<u64> = frames
        .iter()
        .map(|f| room_core::frame_seq(f).unwrap().unwrap())
        .collect();
    assert_eq!(replayed_numbers, missed);
    // The numbering goes on by one, with no jump.
    let next = numbers(&step(
        &mut taker,
        2,
        Direction::Up,
        now + Duration::from_millis(200),
    ));
    assert_eq!(next, vec![last + 1]);
}

#[test]
fn a_host_that_died_leaves_its_numbering_which_the_taker_continues_from_what_it_relayed() {
    let now = Instant::now();
    let mut old = host(true, now);
    enter_resuming(&mut old, 1, 10, now);
    enter(&mut old, 2, 20, now);
    step(&mut old, 2, Direction::Right, now);
    // Written behind: the numbering without the log.
    let (_, snapshot) = old.snapshot(false).unwrap();
    let written = snapshot.seats.clone().unwrap();
    assert!(!written.whole && written.log.events.is_empty());
    let relayed = numbers(&step(&mut old, 2, Direction::Down, now));
    let shadow = Shadow {
        number: relayed[0],
        ..Shadow::default()
    };
    let mut taker = host_on("taker", 6, true, now);
    taker.take_over(
        TakeOver {
            snapshot: Some(snapshot),
            live: [node("here")].into_iter().collect(),
            members: Vec::new(),
            shadow,
        },
        now,
    );
    effects(&mut taker);
    let next = numbers(&step(&mut taker, 2, Direction::Right, now));
    assert_eq!(next, vec![relayed[0] + 1], "no jump past what the relays saw");
}

#[test]
fn a_room_started_afresh_never_gives_a_seat_number_an_earlier_life_gave() {
    let now = Instant::now();
    let life = |at: u64| host_of_life("here", 0, false, at, now);
    let mut first = life(1_000);
    enter_resuming(&mut first, 1, 10, now);
    let stale = seat_of(&first, 10);
    // Started again with its seats lost (a later life: a later clock reading).
    let mut again = life(2_000);
    enter_resuming(&mut again, 1, 10, now);
    assert_ne!(seat_of(&again, 10), stale);
    enter(&mut again, 2, 20, now);
    again.handle(
        HostInput::Away {
            session: SessionId(1),
        },
        now,
    );
    effects(&mut again);
    let refused_stale = resume(&mut again, 3, 10, stale, 0, now);
    assert_eq!(refused(&refused_stale), Some(ErrorCode::SeatExpired));
    assert_eq!(again.view().users.len(), 2, "the seat it named stays as it was");
}

#[test]
fn a_taker_that_relayed_what_a_seat_missed_answers_its_resume_after_a_crash_with_resumed() {
    let now = Instant::now();
    let mut old = host(true, now);
    enter_resuming(&mut old, 1, 10, now);
    enter(&mut old, 2, 20, now);
    let seat = seat_of(&old, 10);
    let seen = old.seats.as_ref().unwrap().last();
    // Written behind before the socket dropped: the numbering, not the log.
    let (_, snapshot) = old.snapshot(false).unwrap();
    old.handle(
        HostInput::Away {
            session: SessionId(1),
        },
        now,
    );
    effects(&mut old);
    // The taker relayed every event the seat missed (as a relay keeps them).
    let mut shadow = Shadow::default();
    let mut relayed = Vec::new();
    for direction in [Direction::Right, Direction::Down] {
        for effect in step(&mut old, 2, direction, now) {
            if let HostEffect::Event {
                audience,
                seq: Some(number),
                encoded: Some(frame),
                ..
            } = effect
            {
                shadow.keep(number, audience, &frame);
                shadow.number = number;
                relayed.push(number);
            }
        }
    }
    assert_eq!(relayed.len(), 2);
    let mut taker = host_on("taker", 6, true, now);
    taker.take_over(
        TakeOver {
            snapshot: Some(snapshot.clone()),
            live: [node("here")].into_iter().collect(),
            members: Vec::new(),
            shadow: shadow.clone(),
        },
        now,
    );
    effects(&mut taker);
    let back = remote(
        &mut taker,
        "relay",
        3,
        10,
        NodeCommand::Resume { seat, seq: seen },
        now,
    );
    let replayed = back.iter().find_map(|e| match e {
        HostEffect::Event {
            msg: ServerMsg::Resumed { replayed, .. },
            ..
        } => Some(*replayed),
        _ => None,
    });
    assert_eq!(replayed, Some(2), "{back:?}");
    // One it did not relay all of (its first relayed event came later): a fresh SYNC.
    let mut partial = Shadow::default();
    partial.keep(relayed[1], Audience::All, "20{}");
    partial.number = relayed[1];
    let mut taker = host_on("taker", 6, true, now);
    taker.take_over(
        TakeOver {
            snapshot: Some(snapshot),
            live: [node("here")].into_iter().collect(),
            members: Vec::new(),
            shadow: partial,
        },
        now,
    );
    effects(&mut taker);
    let back = remote(
        &mut taker,
        "relay",
        3,
        10,
        NodeCommand::Resume { seat, seq: seen },
        now,
    );
    assert!(
        back.iter().any(|e| matches!(
            e,
            HostEffect::Event {
                msg: ServerMsg::Sync { .. },
                ..
            }
        )),
        "{back:?}"
    );
}
