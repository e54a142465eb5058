//! The room: PROTOCOL.md §3-4 (enter, sync, leave, move, duplicates, capacity)
//! and the core's own promises (audiences, sequence numbers, unchanged on reject).

mod common;

use common::{GUEST, Harness, OTHER, OWNER, ROOM, code, example_map, map, msgs};
use room_core::{
    Audience, Cell, Command, Direction, Map, Occupant, Reject, Room, RoomLimits, ServerMsg, SessionId, UserId,
};

fn sync_of(msg: &ServerMsg) -> &room_core::RoomView {
    match msg {
        ServerMsg::Sync { room } => room,
        other => panic!("expected SYNC, got {other:?}"),
    }
}

fn limits(capacity: usize) -> RoomLimits {
    RoomLimits {
        capacity,
        ..RoomLimits::default()
    }
}

// ---- ENTER ---------------------------------------------------------------------

#[test]
fn enter_sends_enter_to_others_and_sync_to_the_entrant() {
    let mut h = Harness::new();
    h.enter(1, OWNER, "owner");
    let out = h.enter(2, GUEST, "guest");
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].audience, Audience::AllExcept(SessionId(2)));
    assert_eq!(
        out[0].msg,
        ServerMsg::Enter {
            user: GUEST,
            nickname: "guest".into(),
            cell: Cell::new(0, 0)
        }
    );
    assert_eq!(out[1].audience, Audience::Session(SessionId(2)));
    assert_eq!(*sync_of(&out[1].msg), h.room.view());
    assert_eq!(
        h.deliveries(&out),
        [
            (
                1,
                r#"10{"user_id":"3","nickname":"guest","x":0,"y":0}"#.to_owned()
            ),
            (2, out[1].msg.encode())
        ]
    );
}

#[test]
fn first_entrant_is_told_only_sync() {
    let mut h = Harness::new();
    let out = h.enter(1, GUEST, "guest");
    assert_eq!(h.frames_to(1, &out), [out[1].msg.encode()]);
    assert_eq!(h.deliveries(&out).len(), 1);
}

#[test]
fn sync_sent_on_enter_includes_the_entrant_at_spawn() {
    let mut h = Harness::with_map(map(3, &[], &[("a", "w", 0, 0)]));
    let out = h.enter(1, GUEST, "guest");
    let room = sync_of(&out[1].msg);
    assert_eq!(room.room_id, ROOM);
    assert_eq!(room.users.len(), 1);
    assert_eq!((room.users[0].user, room.users[0].cell), (GUEST, Cell::new(1, 0)));
    assert_eq!(room.users[0].nickname, "guest");
}

#[test]
fn anyone_may_enter_and_the_owner_need_not_be_present() {
    let mut h = Harness::new();
    assert!(h.try_enter(1, GUEST, "g").is_ok());
    assert!(h.room.occupant_of_user(OWNER).is_none());
}

#[test]
fn users_are_listed_in_order_of_arrival() {
    let mut h = Harness::new();
    h.enter(1, OTHER, "c");
    h.enter(2, OWNER, "a");
    h.enter(3, GUEST, "b");
    let users: Vec<UserId> = h.room.view().users.iter().map(|u| u.user).collect();
    assert_eq!(users, [OTHER, OWNER, GUEST]);
}

#[test]
fn reenter_on_the_same_session_just_sends_sync() {
    let mut h = Harness::new();
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    h.step(2, Direction::Down);
    let before = h.room.clone();
    let out = h.enter(2, GUEST, "g");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].audience, Audience::Session(SessionId(2)));
    assert_eq!(*sync_of(&out[0].msg), h.room.view());
    assert_eq!(h.cell_of(GUEST), Cell::new(0, 1));
    assert_eq!(h.room.occupants(), before.occupants());
}

#[test]
fn second_enter_same_user_new_session_sends_98_to_old_and_no_leave() {
    let mut h = Harness::new();
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    let out = h.enter(3, GUEST, "g");
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].audience, Audience::Session(SessionId(2)));
    assert!(matches!(out[0].msg, ServerMsg::ClosePreConnection { .. }));
    assert_eq!(out[0].msg.closes_with(), Some(4000));
    assert_eq!(out[1].audience, Audience::Session(SessionId(3)));
    assert_eq!(*sync_of(&out[1].msg), h.room.view());
    // Nobody else hears anything: no LEAVE, no ENTER.
    assert!(h.frames_to(1, &out).is_empty());
    assert!(
        msgs(&out)
            .iter()
            .all(|m| !matches!(m, ServerMsg::Leave { .. } | ServerMsg::Enter { .. }))
    );
}

#[test]
fn second_enter_keeps_the_users_position() {
    let mut h = Harness::new();
    h.enter(2, GUEST, "g");
    h.step(2, Direction::Right);
    h.step(2, Direction::Down);
    h.enter(3, GUEST, "g");
    assert_eq!(h.cell_of(GUEST), Cell::new(1, 1));
    assert_eq!(h.room.occupants().len(), 1);
    assert_eq!(
        h.room.occupant_of_user(GUEST).map(|o| o.session),
        Some(SessionId(3))
    );
}

#[test]
fn replaced_session_is_no_longer_in_the_room() {
    let mut h = Harness::new();
    h.enter(2, GUEST, "g");
    h.enter(3, GUEST, "g");
    let before = h.room.clone();
    assert_eq!(h.try_move(2, Direction::Right), Err(Reject::NotInRoom));
    assert_eq!(h.try_sync(2), Err(Reject::NotInRoom));
    // Its socket closing afterwards must not take the user out of the room.
    assert_eq!(h.try_leave(2), Err(Reject::NotInRoom));
    assert_eq!(h.room, before);
    assert_eq!(h.step(3, Direction::Right).len(), 1);
}

#[test]
fn second_enter_takes_the_newest_nickname() {
    let mut h = Harness::new();
    h.enter(2, GUEST, "old");
    h.enter(3, GUEST, "new");
    assert_eq!(
        h.room.occupant_of_user(GUEST).map(|o| o.nickname.as_str()),
        Some("new")
    );
}

#[test]
fn a_session_cannot_enter_as_a_second_user() {
    let mut h = Harness::new();
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    let before = h.room.clone();
    // Session 1 already speaks for the owner: it may not also speak for a new user...
    assert_eq!(code(h.try_enter(1, OTHER, "x")), 76102);
    // ...nor take over another present user.
    assert_eq!(code(h.try_enter(1, GUEST, "x")), 76102);
    assert_eq!(h.room, before);
}

#[test]
fn a_user_may_be_in_different_rooms_through_different_sessions() {
    let mut a = Harness::new();
    let mut b = Room::new(room_core::RoomId(3), Map::empty(), 0, RoomLimits::default());
    a.enter(1, GUEST, "g");
    let out = b
        .apply(Command::Enter {
            session: SessionId(2),
            user: GUEST,
            nickname: "g".into(),
        })
        .expect("entered");
    assert!(
        msgs(&out)
            .iter()
            .all(|m| !matches!(m, ServerMsg::ClosePreConnection { .. }))
    );
    assert!(a.room.occupant_of_session(SessionId(1)).is_some());
}

// ---- capacity --------------------------------------------------------------------

#[test]
fn room_full_is_76409_but_reentry_of_present_user_still_works() {
    let mut h = Harness::with(Map::empty(), limits(2));
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    let before = h.room.clone();
    assert_eq!(h.try_enter(3, OTHER, "x"), Err(Reject::RoomFull { capacity: 2 }));
    assert_eq!(code(h.try_enter(3, OTHER, "x")), 76409);
    assert_eq!(h.room, before);
    // The same user again on a new socket replaces the old one even though the room is full.
    let out = h.enter(4, GUEST, "g");
    assert!(matches!(out[0].msg, ServerMsg::ClosePreConnection { .. }));
    // And on the same socket it just gets SYNC.
    assert_eq!(h.enter(1, OWNER, "o").len(), 1);
}

#[test]
fn leaving_frees_a_place_in_a_full_room() {
    let mut h = Harness::with(Map::empty(), limits(1));
    h.enter(1, OWNER, "o");
    assert!(h.try_enter(2, GUEST, "g").is_err());
    h.try_leave(1).expect("left");
    assert!(h.try_enter(2, GUEST, "g").is_ok());
}

#[test]
fn default_capacity_is_50() {
    let mut h = Harness::new();
    for i in 0..50 {
        h.enter(100 + i, UserId(1000 + i), "u");
    }
    assert_eq!(code(h.try_enter(999, UserId(999), "u")), 76409);
}

// ---- LEAVE -----------------------------------------------------------------------

#[test]
fn leave_sends_leave_to_everyone_left_in_the_room() {
    let mut h = Harness::new();
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    h.enter(3, OTHER, "x");
    let out = h.try_leave(2).expect("left");
    assert_eq!(msgs(&out), [&ServerMsg::Leave { user: GUEST }]);
    assert_eq!(
        h.deliveries(&out),
        [
            (1, r#"19{"user_id":"3"}"#.to_owned()),
            (3, r#"19{"user_id":"3"}"#.to_owned())
        ]
    );
    assert!(h.room.occupant_of_user(GUEST).is_none());
}

#[test]
fn last_user_leaving_empties_the_room() {
    let mut h = Harness::new();
    h.enter(1, GUEST, "g");
    assert!(!h.room.is_empty());
    let out = h.try_leave(1).expect("left");
    assert!(h.room.is_empty());
    assert!(h.deliveries(&out).is_empty());
}

#[test]
fn commands_before_enter_are_76102() {
    let mut h = Harness::new();
    h.enter(1, OWNER, "o");
    let before = h.room.clone();
    assert_eq!(code(h.try_sync(9)), 76102);
    assert_eq!(code(h.try_move(9, Direction::Down)), 76102);
    assert_eq!(code(h.try_leave(9)), 76102);
    assert_eq!(code(h.try_build(9, &common::doc(5, &[], &[]), &[])), 76102);
    assert_eq!(h.room, before);
}

#[test]
fn leave_twice_is_76102() {
    let mut h = Harness::new();
    h.enter(1, GUEST, "g");
    h.try_leave(1).expect("left");
    assert_eq!(code(h.try_leave(1)), 76102);
}

// ---- SYNC ------------------------------------------------------------------------

#[test]
fn sync_goes_to_the_asker_only_with_the_whole_room() {
    let mut h = Harness::with_map(example_map());
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    let out = h.try_sync(2).expect("in the room");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].audience, Audience::Session(SessionId(2)));
    let room = sync_of(&out[0].msg);
    assert_eq!(*room, h.room.view());
    assert_eq!(room.map, example_map());
    assert!(out[0].msg.encode().contains(r#""userCount":2"#));
}

#[test]
fn sync_changes_nothing_but_the_sequence() {
    let mut h = Harness::new();
    h.enter(1, GUEST, "g");
    let before = h.room.clone();
    h.try_sync(1).expect("in the room");
    assert_eq!(h.room.occupants(), before.occupants());
    assert_eq!(h.room.map(), before.map());
    assert_eq!(h.room.seq(), before.seq() + 1);
}

// ---- MOVE ------------------------------------------------------------------------

#[test]
fn move_goes_one_cell_in_each_direction() {
    let mut h = Harness::new();
    h.enter(1, GUEST, "g");
    let steps = [
        (Direction::Right, Cell::new(1, 0)),
        (Direction::Down, Cell::new(1, 1)),
        (Direction::Left, Cell::new(0, 1)),
        (Direction::Up, Cell::new(0, 0)),
    ];
    for (direction, cell) in steps {
        let out = h.step(1, direction);
        assert_eq!(
            msgs(&out),
            [&ServerMsg::Move {
                user: GUEST,
                direction,
                cell
            }]
        );
        assert_eq!(h.cell_of(GUEST), cell);
    }
}

#[test]
fn move_is_sent_to_everyone_including_the_mover_with_absolute_position() {
    let mut h = Harness::new();
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    h.step(2, Direction::Right);
    h.step(2, Direction::Right);
    h.step(2, Direction::Right);
    let out = h.step(2, Direction::Right);
    assert_eq!(out[0].audience, Audience::All);
    let frame = r#"20{"user_id":"3","direction":1,"x":4,"y":0}"#.to_owned();
    assert_eq!(h.deliveries(&out), [(1, frame.clone()), (2, frame)]);
}

#[test]
fn move_off_the_grid_does_nothing_and_sends_nothing() {
    let mut h = Harness::with_map(Map::empty_of_side(2));
    h.enter(1, GUEST, "g");
    // From each corner, the two steps that leave the grid.
    let corners = [
        (
            Cell::new(0, 0),
            [Direction::Up, Direction::Left],
            Direction::Right,
        ),
        (
            Cell::new(1, 0),
            [Direction::Up, Direction::Right],
            Direction::Down,
        ),
        (
            Cell::new(1, 1),
            [Direction::Down, Direction::Right],
            Direction::Left,
        ),
        (Cell::new(0, 1), [Direction::Down, Direction::Left], Direction::Up),
    ];
    for (corner, off, next) in corners {
        assert_eq!(h.cell_of(GUEST), corner);
        for direction in off {
            let before = h.room.clone();
            assert_eq!(h.step(1, direction), []);
            assert_eq!(h.room, before);
        }
        h.step(1, next);
    }
}

#[test]
fn move_into_filled_cell_does_nothing_and_sends_nothing() {
    let mut h = Harness::with_map(map(3, &[("12", "Chess", 1, 0)], &[("w", "wall", 0, 1)]));
    h.enter(1, GUEST, "g");
    let before = h.room.clone();
    assert_eq!(h.step(1, Direction::Right), []);
    assert_eq!(h.step(1, Direction::Down), []);
    assert_eq!(h.room, before);
}

#[test]
fn users_do_not_block_each_other() {
    let mut h = Harness::new();
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    h.step(1, Direction::Right);
    let out = h.step(2, Direction::Right);
    assert_eq!(out.len(), 1);
    assert_eq!(h.cell_of(GUEST), h.cell_of(OWNER));
}

#[test]
fn a_move_moves_only_the_mover() {
    let mut h = Harness::new();
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    h.step(2, Direction::Down);
    assert_eq!(h.cell_of(OWNER), Cell::new(0, 0));
    assert_eq!(h.cell_of(GUEST), Cell::new(0, 1));
}

#[test]
fn can_walk_the_whole_largest_grid() {
    let mut h = Harness::with_map(Map::empty_of_side(64));
    h.enter(1, GUEST, "g");
    for _ in 0..100 {
        h.step(1, Direction::Right);
        h.step(1, Direction::Down);
    }
    assert_eq!(h.cell_of(GUEST), Cell::new(63, 63));
}

// ---- sequence numbers and rejection --------------------------------------------------

#[test]
fn sequence_numbers_increase_by_one_per_event() {
    let mut h = Harness::new();
    assert_eq!(h.room.seq(), 0);
    let mut all = Vec::new();
    all.extend(h.enter(1, OWNER, "o")); // ENTER + SYNC
    all.extend(h.enter(2, GUEST, "g")); // ENTER + SYNC
    all.extend(h.step(2, Direction::Right)); // MOVE
    all.extend(h.enter(3, GUEST, "g")); // 98 + SYNC
    all.extend(h.try_sync(1).expect("sync")); // SYNC
    all.extend(h.try_build(1, &common::doc(5, &[], &[]), &[]).expect("build")); // SYNC
    all.extend(h.try_leave(3).expect("leave")); // LEAVE
    let seqs: Vec<u64> = all.iter().map(|o| o.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    assert_eq!(h.room.seq(), 10);
}

#[test]
fn no_op_moves_and_rejected_commands_take_no_sequence_number() {
    let mut h = Harness::with_map(Map::empty_of_side(2));
    h.enter(1, GUEST, "g");
    let seq = h.room.seq();
    h.step(1, Direction::Up);
    let _ = h.try_sync(9);
    let _ = h.try_build(1, &common::doc(5, &[], &[]), &[]);
    assert_eq!(h.room.seq(), seq);
    assert_eq!(h.step(1, Direction::Down)[0].seq, seq + 1);
}

#[test]
fn rejected_commands_leave_the_room_unchanged() {
    let mut h = Harness::with(Map::empty(), limits(2));
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    h.step(2, Direction::Down);
    let before = h.room.clone();
    let rejected: Vec<Result<_, Reject>> = vec![
        h.try_enter(3, OTHER, "x"),
        h.try_enter(1, OTHER, "x"),
        h.try_move(9, Direction::Up),
        h.try_sync(9),
        h.try_leave(9),
        h.try_build(2, &common::doc(5, &[], &[]), &[]),
        h.try_build(1, &common::doc(0, &[], &[]), &[]),
    ];
    assert!(rejected.iter().all(Result::is_err));
    assert_eq!(h.room, before);
}

// ---- restore -------------------------------------------------------------------------

fn occupant(user: u64, session: u64, x: u16, y: u16) -> Occupant {
    Occupant {
        user: UserId(user),
        nickname: format!("u{user}"),
        session: SessionId(session),
        cell: Cell::new(x, y),
    }
}

#[test]
fn restore_keeps_positions_and_continues_the_sequence() {
    let room = Room::restore(
        ROOM,
        Map::empty(),
        4,
        RoomLimits::default(),
        vec![occupant(7, 1, 3, 4), occupant(3, 2, 0, 0)],
        41,
    );
    assert_eq!(room.occupants(), [occupant(7, 1, 3, 4), occupant(3, 2, 0, 0)]);
    assert_eq!((room.seq(), room.map_version()), (41, 4));
    let mut room = room;
    let out = room
        .apply(Command::Sync {
            session: SessionId(1),
        })
        .expect("in the room");
    assert_eq!(out[0].seq, 42);
}

#[test]
fn restore_sends_users_on_filled_or_off_grid_cells_to_spawn() {
    let m = map(3, &[], &[("w", "wall", 0, 0)]);
    let room = Room::restore(
        ROOM,
        m,
        1,
        RoomLimits::default(),
        vec![occupant(7, 1, 0, 0), occupant(3, 2, 5, 1), occupant(4, 3, 2, 2)],
        0,
    );
    let cells: Vec<Cell> = room.occupants().iter().map(|o| o.cell).collect();
    assert_eq!(cells, [Cell::new(1, 0), Cell::new(1, 0), Cell::new(2, 2)]);
}

#[test]
fn restore_keeps_one_entry_per_user() {
    let room = Room::restore(
        ROOM,
        Map::empty(),
        0,
        RoomLimits::default(),
        vec![occupant(3, 1, 1, 1), occupant(3, 2, 2, 2)],
        0,
    );
    assert_eq!(room.occupants(), [occupant(3, 1, 1, 1)]);
}

#[test]
fn restore_keeps_one_user_per_session() {
    let room = Room::restore(
        ROOM,
        Map::empty(),
        0,
        RoomLimits::default(),
        vec![occupant(3, 1, 1, 1), occupant(4, 1, 2, 2)],
        0,
    );
    assert_eq!(room.occupants(), [occupant(3, 1, 1, 1)]);
}
