//! The relay machine, step by step: inputs in, effects out, time as a value.

use std::time::{Duration, Instant};

use room_core::{
    Audience, Cell, Command, Direction, ErrorCode, Map, RoomId, RoomView, ServerMsg, SessionId, UserId,
    UserView,
};
use room_ports::{NodeId, SessionAt};

use super::relay::{Relay, RelayEffect, RelayEnd, RelayInput, RelaySetup};
use super::{Closing, EnterAnswer, SeatAsk};
use crate::contract::{Change, HostEvent, NodeCommand, NodeMessage};

const ROOM: RoomId = RoomId(7);
const TIMEOUT: Duration = Duration::from_secs(5);
const CHECK: Duration = Duration::from_secs(1);

fn node(name: &str) -> NodeId {
    NodeId(name.to_owned())
}

fn relay(now: Instant) -> Relay {
    let setup = RelaySetup {
        room: ROOM,
        node: node("here"),
        host: node("host"),
        epoch: 1,
        forward_timeout: TIMEOUT,
        build_timeout: 2 * TIMEOUT,
        check_every: CHECK,
    };
    Relay::new(setup, Vec::new(), now)
}

/// Local session `session` of user `user` asks to enter.
fn enter(session: u64, user: u64) -> RelayInput {
    RelayInput::Enter {
        session: SessionId(session),
        user: UserId(user),
        nickname: format!("u{user}"),
        seat: SeatAsk::None,
    }
}

fn effects(relay: &mut Relay) -> Vec<RelayEffect> {
    std::iter::from_fn(|| relay.poll_effect()).collect()
}

/// The commands the relay sent to `to`, as (session, command).
fn commands(effects: &[RelayEffect], to: &str) -> Vec<(SessionId, NodeCommand)> {
    effects
        .iter()
        .filter_map(|e| match e {
            RelayEffect::ToNode {
                node,
                message: NodeMessage::Command { from, command, .. },
                ..
            } if node.0 == to => Some((from.session, command.clone())),
            _ => None,
        })
        .collect()
}

fn resyncs(effects: &[RelayEffect]) -> usize {
    effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                RelayEffect::ToNode {
                    message: NodeMessage::Resync { .. },
                    ..
                }
            )
        })
        .count()
}

fn event(epoch: u64, seq: u64, audience: Audience, msg: &ServerMsg) -> RelayInput {
    RelayInput::Event(HostEvent {
        room: ROOM,
        epoch,
        seq,
        audience,
        change: Change::of(msg),
        frame: msg.encode(),
        number: None,
        then: Vec::new(),
        reply: None,
    })
}

fn sync_for(users: &[(u64, u16)]) -> ServerMsg {
    ServerMsg::Sync {
        room: RoomView {
            room_id: ROOM,
            users: users
                .iter()
                .map(|&(user, x)| UserView {
                    user: UserId(user),
                    nickname: format!("u{user}"),
                    cell: Cell { x, y: 0 },
                })
                .collect(),
            map: Map::empty(),
        },
    }
}

fn moved(user: u64, x: u16) -> ServerMsg {
    ServerMsg::Move {
        user: UserId(user),
        direction: Direction::Right,
        cell: Cell { x, y: 0 },
    }
}

/// A relay whose session 1 (user 10) has entered: the host answered with a SYNC at seq 1.
fn entered(now: Instant) -> Relay {
    let mut relay = relay(now);
    relay.handle(enter(1, 10), now);
    relay.handle(
        event(1, 1, Audience::Session(SessionId(1)), &sync_for(&[(10, 0)])),
        now,
    );
    effects(&mut relay);
    relay
}

#[test]
fn an_enter_goes_to_the_host_and_is_answered_by_its_sync() {
    let now = Instant::now();
    let mut relay = relay(now);
    relay.handle(enter(1, 10), now);
    let sent = effects(&mut relay);
    assert_eq!(
        commands(&sent, "host"),
        vec![(SessionId(1), NodeCommand::Enter { resume: false })]
    );
    assert!(!sent.iter().any(|e| matches!(e, RelayEffect::Answer { .. })));
    // Events for the room reach nobody here until the host answered.
    relay.handle(event(1, 1, Audience::All, &moved(99, 1)), now);
    assert!(
        !effects(&mut relay)
            .iter()
            .any(|e| matches!(e, RelayEffect::Attach { .. } | RelayEffect::Answer { .. }))
    );
    relay.handle(
        event(
            1,
            2,
            Audience::Session(SessionId(1)),
            &sync_for(&[(10, 0), (99, 1)]),
        ),
        now,
    );
    let answered = effects(&mut relay);
    assert_eq!(
        answered[0],
        RelayEffect::Answer {
            session: SessionId(1),
            answer: EnterAnswer::Entered
        }
    );
    assert_eq!(
        answered[1],
        RelayEffect::Attach {
            session: SessionId(1)
        }
    );
    assert!(
        matches!(&answered[2], RelayEffect::Deliver { audience: Audience::Session(SessionId(1)), frame, .. } if frame.starts_with("11"))
    );
}

#[test]
fn an_enter_the_host_never_answers_is_refused_at_its_deadline_and_forgotten_on_the_host() {
    let now = Instant::now();
    let mut relay = relay(now);
    relay.handle(enter(1, 10), now);
    effects(&mut relay);
    relay.on_timeout(now + CHECK);
    assert!(
        !effects(&mut relay)
            .iter()
            .any(|e| matches!(e, RelayEffect::Answer { .. }))
    );
    relay.on_timeout(now + TIMEOUT + CHECK);
    let late = effects(&mut relay);
    assert!(late.contains(&RelayEffect::Answer {
        session: SessionId(1),
        answer: EnterAnswer::Refused(
            ErrorCode::Unavailable,
            "the room's host did not answer in time; try again".into()
        )
    }));
    assert_eq!(commands(&late, "host"), vec![(SessionId(1), NodeCommand::Leave)]);
    assert!(relay.is_idle());
}

#[test]
fn lost_events_make_the_relay_ask_for_syncs_until_every_member_has_one() {
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(event(1, 2, Audience::All, &moved(10, 1)), now);
    assert_eq!(resyncs(&effects(&mut relay)), 0);
    // Seq 3 never came.
    relay.handle(event(1, 4, Audience::All, &moved(10, 2)), now);
    assert_eq!(resyncs(&effects(&mut relay)), 1);
    // The SYNC was lost too: asked again at the next check, and the next.
    relay.on_timeout(now + CHECK);
    assert_eq!(resyncs(&effects(&mut relay)), 1);
    relay.handle(
        event(1, 5, Audience::Session(SessionId(1)), &sync_for(&[(10, 2)])),
        now,
    );
    effects(&mut relay);
    relay.on_timeout(now + 2 * CHECK);
    assert_eq!(resyncs(&effects(&mut relay)), 0, "the member has had its SYNC");
}

#[test]
fn duplicated_and_reordered_events_are_not_delivered_twice() {
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(event(1, 2, Audience::All, &moved(10, 1)), now);
    relay.handle(event(1, 2, Audience::All, &moved(10, 1)), now);
    relay.handle(event(1, 1, Audience::All, &moved(10, 0)), now);
    // An older host's event.
    relay.handle(event(0, 9, Audience::All, &moved(10, 5)), now);
    let delivered = effects(&mut relay)
        .into_iter()
        .filter(|e| matches!(e, RelayEffect::Deliver { .. }))
        .count();
    assert_eq!(delivered, 1);
}

#[test]
fn a_new_host_gets_every_member_entered_again() {
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(RelayInput::Holder(Some((node("other"), 2))), now);
    let sent = effects(&mut relay);
    assert_eq!(
        commands(&sent, "other"),
        vec![(SessionId(1), NodeCommand::Enter { resume: false })]
    );
    // What it sends from now on goes to the new host.
    relay.handle(
        RelayInput::Command(Command::Move {
            session: SessionId(1),
            direction: Direction::Down,
        }),
        now,
    );
    assert_eq!(commands(&effects(&mut relay), "other").len(), 1);
}

#[test]
fn a_host_gone_ends_the_relay_with_its_members_and_what_they_saw() {
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(event(1, 2, Audience::All, &moved(10, 3)), now);
    relay.handle(enter(2, 20), now);
    effects(&mut relay);
    relay.handle(RelayInput::Holder(None), now);
    let answered = effects(&mut relay);
    // The one still entering is answered now; the next host enters it with the others.
    assert!(answered.contains(&RelayEffect::Answer {
        session: SessionId(2),
        answer: EnterAnswer::Entered
    }));
    let Some(RelayEnd::Moved { members, shadow, .. }) = relay.take_end() else {
        panic!("the relay moves on")
    };
    assert_eq!(
        members,
        vec![
            (SessionId(1), UserId(10), "u10".to_owned()),
            (SessionId(2), UserId(20), "u20".to_owned())
        ]
    );
    assert_eq!(shadow.seq, 2);
    assert_eq!(
        shadow.users.get(&UserId(10)).map(|(cell, _)| *cell),
        Some(Cell { x: 3, y: 0 })
    );
}

#[test]
fn an_enter_that_cannot_be_sent_is_refused_at_once() {
    let now = Instant::now();
    let mut relay = relay(now);
    relay.handle(enter(1, 10), now);
    effects(&mut relay);
    relay.handle(
        RelayInput::Unsent {
            session: SessionId(1),
        },
        now,
    );
    assert!(matches!(
        &effects(&mut relay)[..],
        [RelayEffect::Answer {
            answer: EnterAnswer::Refused(ErrorCode::Unavailable, _),
            ..
        }]
    ));
    assert!(relay.is_idle());
}

#[test]
fn a_session_that_stopped_waiting_is_left_on_the_host() {
    let now = Instant::now();
    let mut relay = relay(now);
    relay.handle(enter(1, 10), now);
    effects(&mut relay);
    relay.handle(
        RelayInput::Abandoned {
            session: SessionId(1),
        },
        now,
    );
    assert_eq!(
        commands(&effects(&mut relay), "host"),
        vec![(SessionId(1), NodeCommand::Leave)]
    );
    assert!(relay.is_idle());
}

#[test]
fn a_replaced_socket_is_closed_and_its_build_still_reaches_the_host() {
    let now = Instant::now();
    let mut relay = entered(now);
    let replaced = ServerMsg::ClosePreConnection {
        message: "replaced".into(),
    };
    relay.handle(event(1, 2, Audience::Session(SessionId(1)), &replaced), now);
    assert!(matches!(
        &effects(&mut relay)[..],
        [RelayEffect::Close {
            session: SessionId(1),
            closing: Closing::Replaced,
            ..
        }]
    ));
    relay.handle(
        RelayInput::Command(Command::Sync {
            session: SessionId(1),
        }),
        now,
    );
    assert!(
        commands(&effects(&mut relay), "host").is_empty(),
        "it speaks for nobody now"
    );
    relay.handle(
        RelayInput::Build {
            session: SessionId(1),
            doc: room_core::MapDoc::default(),
            reference: None,
        },
        now,
    );
    assert_eq!(
        commands(&effects(&mut relay), "host").len(),
        1,
        "the host answers the user's newer socket"
    );
}

#[test]
fn a_user_the_host_dropped_while_their_socket_is_here_is_entered_again() {
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(
        event(1, 2, Audience::All, &ServerMsg::Leave { user: UserId(10) }),
        now,
    );
    let sent = effects(&mut relay);
    assert_eq!(
        commands(&sent, "host"),
        vec![(SessionId(1), NodeCommand::Enter { resume: false })]
    );
}

#[test]
fn a_command_for_a_room_this_node_only_relays_goes_back_to_its_node_unapplied() {
    let now = Instant::now();
    let mut relay = relay(now);
    relay.handle(
        RelayInput::Remote {
            from: SessionAt {
                node: node("third"),
                session: SessionId(5),
            },
            command: NodeCommand::Sync,
        },
        now,
    );
    assert!(matches!(
        &effects(&mut relay)[..],
        [RelayEffect::ToNode { node, message: NodeMessage::Bounced { session: SessionId(5), command: NodeCommand::Sync, .. }, .. }] if node.0 == "third"
    ));
}

#[test]
fn finishing_tells_the_host_this_node_has_nobody_left() {
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(
        RelayInput::Command(Command::Leave {
            session: SessionId(1),
        }),
        now,
    );
    assert!(relay.is_idle());
    effects(&mut relay);
    relay.finish();
    assert!(matches!(
        &effects(&mut relay)[..],
        [RelayEffect::ToNode { message: NodeMessage::Members { entered, entering, .. }, .. }] if entered.is_empty() && entering.is_empty()
    ));
    assert!(matches!(relay.take_end(), Some(RelayEnd::Done)));
}

fn build(relay: &mut Relay, now: Instant) -> u64 {
    relay.handle(
        RelayInput::Build {
            session: SessionId(1),
            doc: room_core::MapDoc::default(),
            reference: None,
        },
        now,
    );
    let sent = commands(&effects(relay), "host");
    match &sent[..] {
        [(SessionId(1), NodeCommand::Build { ticket, .. })] => *ticket,
        other => panic!("one BUILD forwarded: {other:?}"),
    }
}

fn unavailable_errors(effects: &[RelayEffect]) -> usize {
    effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                RelayEffect::Error {
                    session: SessionId(1),
                    code: ErrorCode::Unavailable,
                    ..
                }
            )
        })
        .count()
}

#[test]
fn a_build_the_host_never_answers_gets_76503_at_its_deadline_and_only_once() {
    let now = Instant::now();
    let mut relay = entered(now);
    build(&mut relay, now);
    relay.on_timeout(now + CHECK);
    assert_eq!(unavailable_errors(&effects(&mut relay)), 0);
    relay.on_timeout(now + 2 * TIMEOUT + CHECK);
    assert_eq!(unavailable_errors(&effects(&mut relay)), 1);
    relay.on_timeout(now + 2 * TIMEOUT + 2 * CHECK);
    assert_eq!(unavailable_errors(&effects(&mut relay)), 0);
}

#[test]
fn a_build_the_host_answered_is_not_refused_later() {
    let now = Instant::now();
    let mut relay = entered(now);
    let ticket = build(&mut relay, now);
    relay.handle(
        RelayInput::BuildDone {
            ticket,
            refused: None,
        },
        now,
    );
    relay.on_timeout(now + 2 * TIMEOUT + CHECK);
    assert_eq!(unavailable_errors(&effects(&mut relay)), 0);
}

#[test]
fn a_build_waiting_when_the_host_goes_is_answered_then() {
    let now = Instant::now();
    let mut relay = entered(now);
    build(&mut relay, now);
    relay.handle(RelayInput::Holder(None), now);
    assert_eq!(unavailable_errors(&effects(&mut relay)), 1);
}

#[test]
fn a_build_the_host_refused_is_answered_with_its_error_by_the_relay() {
    let now = Instant::now();
    let mut relay = entered(now);
    let ticket = build(&mut relay, now);
    let refused = Some((ErrorCode::Forbidden, "only the owner may BUILD".to_owned()));
    relay.handle(RelayInput::BuildDone { ticket, refused }, now);
    assert!(matches!(
        &effects(&mut relay)[..],
        [RelayEffect::Error {
            session: SessionId(1),
            code: ErrorCode::Forbidden,
            ..
        }]
    ));
    relay.on_timeout(now + 2 * TIMEOUT + CHECK);
    assert_eq!(unavailable_errors(&effects(&mut relay)), 0, "answered once");
}

#[test]
fn a_relayed_builds_ref_goes_to_the_host_and_comes_back_in_its_error_and_its_sync() {
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(
        RelayInput::Build {
            session: SessionId(1),
            doc: room_core::MapDoc::default(),
            reference: Some("b7".into()),
        },
        now,
    );
    let ticket = match &commands(&effects(&mut relay), "host")[..] {
        [
            (
                SessionId(1),
                NodeCommand::Build {
                    ticket, reference, ..
                },
            ),
        ] => {
            assert_eq!(reference.as_deref(), Some("b7"), "the host is told the ref");
            *ticket
        }
        other => panic!("one BUILD forwarded: {other:?}"),
    };
    let refused = Some((ErrorCode::Forbidden, "only the owner may BUILD".to_owned()));
    relay.handle(RelayInput::BuildDone { ticket, refused }, now);
    assert!(matches!(
        &effects(&mut relay)[..],
        [RelayEffect::Error { session: SessionId(1), code: ErrorCode::Forbidden, reference: Some(r), .. }] if r == "b7"
    ));
    // The host's SYNC of an accepted BUILD names the builder and its ref; the relay passes both on.
    let mut sync = match event(1, 9, Audience::All, &sync_for(&[(1, 0)])) {
        RelayInput::Event(event) => event,
        _ => unreachable!(),
    };
    sync.reply = Some((SessionId(1), "b8".into()));
    relay.handle(RelayInput::Event(sync), now);
    assert!(
        effects(&mut relay).iter().any(|e| matches!(
            e,
            RelayEffect::Deliver { audience: Audience::All, reply: Some((SessionId(1), r)), .. } if r == "b8"
        )),
        "the builder's copy of the SYNC carries its ref"
    );
}

fn step(session: u64) -> RelayInput {
    RelayInput::Command(Command::Move {
        session: SessionId(session),
        direction: Direction::Right,
    })
}

fn errors_of(effects: &[RelayEffect]) -> Vec<ErrorCode> {
    effects
        .iter()
        .filter_map(|e| match e {
            RelayEffect::Error { code, .. } => Some(*code),
            RelayEffect::Answer {
                answer: EnterAnswer::Refused(code, _),
                ..
            } => Some(*code),
            _ => None,
        })
        .collect()
}

fn closes(effects: &[RelayEffect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, RelayEffect::Close { .. }))
        .count()
}

#[test]
fn while_the_room_moves_commands_are_held_and_the_next_host_gets_them_after_the_enters() {
    let now = Instant::now();
    let mut relay = entered(now);
    effects(&mut relay);
    relay.handle(RelayInput::HandedOver, now);
    let asked = effects(&mut relay);
    assert!(
        asked.contains(&RelayEffect::AskHolder),
        "asks for the next host at once"
    );
    // A command that was on its way to the old host comes back unapplied.
    relay.handle(
        RelayInput::Bounced {
            node: node("host"),
            session: SessionId(1),
            command: NodeCommand::Sync,
        },
        now,
    );
    relay.handle(step(1), now);
    let meanwhile = effects(&mut relay);
    assert!(
        commands(&meanwhile, "host").is_empty(),
        "nothing goes to the leaving host: {meanwhile:?}"
    );
    assert!(
        errors_of(&meanwhile).is_empty() && closes(&meanwhile) == 0,
        "{meanwhile:?}"
    );
    // Polled often while it moves, not at the slow check.
    assert!(relay.poll_timeout() <= now + Duration::from_millis(50));
    relay.handle(
        RelayInput::Holder(Some((node("next"), 2))),
        now + Duration::from_millis(60),
    );
    let sent = commands(&effects(&mut relay), "next");
    assert_eq!(
        sent,
        vec![
            (SessionId(1), NodeCommand::Enter { resume: false }),
            (SessionId(1), NodeCommand::Sync),
            (
                SessionId(1),
                NodeCommand::Move {
                    direction: Direction::Right
                }
            ),
        ]
    );
    // Moving is over: the next command goes straight on.
    relay.handle(step(1), now + Duration::from_millis(70));
    assert_eq!(commands(&effects(&mut relay), "next").len(), 1);
}

#[test]
fn a_resume_that_came_back_from_a_leaving_host_is_passed_on_to_the_taker() {
    let now = Instant::now();
    let mut relay = relay(now);
    relay.handle(
        RelayInput::Enter {
            session: SessionId(4),
            user: UserId(10),
            nickname: "u10".into(),
            seat: SeatAsk::Resume { seat: 9, seq: 12 },
        },
        now,
    );
    effects(&mut relay);
    relay.handle(
        RelayInput::Bounced {
            node: node("host"),
            session: SessionId(4),
            command: NodeCommand::Resume { seat: 9, seq: 12 },
        },
        now,
    );
    let held = effects(&mut relay);
    assert!(errors_of(&held).is_empty(), "not refused: {held:?}");
    relay.handle(RelayInput::Holder(Some((node("next"), 2))), now);
    assert_eq!(
        commands(&effects(&mut relay), "next"),
        vec![(SessionId(4), NodeCommand::Resume { seat: 9, seq: 12 })]
    );
}

#[test]
fn when_this_node_takes_the_room_its_held_commands_and_resumes_go_to_the_next_phase() {
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(
        RelayInput::Enter {
            session: SessionId(4),
            user: UserId(20),
            nickname: "u20".into(),
            seat: SeatAsk::Resume { seat: 9, seq: 12 },
        },
        now,
    );
    relay.handle(RelayInput::HandedOver, now);
    relay.handle(step(1), now);
    relay.handle(RelayInput::Holder(None), now);
    let done = effects(&mut relay);
    assert!(
        !done.iter().any(|e| matches!(
            e,
            RelayEffect::Answer {
                session: SessionId(4),
                ..
            }
        )),
        "the resume is answered by the next host, not here: {done:?}"
    );
    let Some(RelayEnd::Moved { resuming, held, .. }) = relay.take_end() else {
        panic!("the relay moves on")
    };
    assert_eq!(resuming.len(), 1);
    assert_eq!(
        (resuming[0].session, resuming[0].seat, resuming[0].seq),
        (SessionId(4), 9, 12)
    );
    assert_eq!(held.len(), 1);
    assert_eq!(
        held[0].command,
        NodeCommand::Move {
            direction: Direction::Right
        }
    );
}

#[test]
fn a_room_that_finds_no_next_host_in_time_ends_the_phase_with_what_it_holds() {
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(RelayInput::HandedOver, now);
    relay.handle(step(1), now);
    // The registry does not answer.
    relay.on_timeout(now + TIMEOUT / 2);
    assert!(relay.take_end().is_none());
    relay.on_timeout(now + TIMEOUT);
    let Some(RelayEnd::Moved { held, .. }) = relay.take_end() else {
        panic!("the deadline ends the wait")
    };
    assert_eq!(held.len(), 1);
    assert!(errors_of(&effects(&mut relay)).is_empty());
}

#[test]
fn a_command_that_comes_back_from_an_earlier_host_goes_to_the_current_one_at_once() {
    let now = Instant::now();
    let mut relay = entered(now);
    effects(&mut relay);
    relay.handle(
        RelayInput::Bounced {
            node: node("earlier"),
            session: SessionId(1),
            command: NodeCommand::Sync,
        },
        now,
    );
    let sent = effects(&mut relay);
    assert_eq!(commands(&sent, "host"), vec![(SessionId(1), NodeCommand::Sync)]);
    assert!(
        !sent.contains(&RelayEffect::AskHolder),
        "the room is not moving: {sent:?}"
    );
}

#[test]
fn a_host_that_bounced_while_taking_the_room_gets_what_was_held_once_it_holds_the_lease() {
    let now = Instant::now();
    let mut relay = entered(now);
    effects(&mut relay);
    relay.handle(
        RelayInput::Bounced {
            node: node("host"),
            session: SessionId(1),
            command: NodeCommand::Sync,
        },
        now,
    );
    // Asked at once: it may not have loaded the room yet; a moment later it has.
    relay.handle(RelayInput::Holder(Some((node("host"), 1))), now);
    assert!(commands(&effects(&mut relay), "host").is_empty());
    relay.handle(
        RelayInput::Holder(Some((node("host"), 1))),
        now + Duration::from_millis(50),
    );
    let sent = commands(&effects(&mut relay), "host");
    assert_eq!(
        sent,
        vec![
            (SessionId(1), NodeCommand::Enter { resume: false }),
            (SessionId(1), NodeCommand::Sync)
        ]
    );
}

#[test]
fn a_relay_that_moved_at_its_deadline_is_not_idle_until_its_members_are_taken() {
    // Seed 3101: the driver asks `is_idle` after a timeout before it takes
    // the end; a moved relay has no members of its own left, and finishing
    // it there dropped its sockets, open, in a room nobody served.
    let now = Instant::now();
    let mut relay = entered(now);
    relay.handle(RelayInput::HandedOver, now);
    relay.on_timeout(now + TIMEOUT);
    assert!(!relay.is_idle(), "its members are in its end");
    let Some(RelayEnd::Moved { members, .. }) = relay.take_end() else {
        panic!("the deadline ends the wait")
    };
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].0, SessionId(1));
}
