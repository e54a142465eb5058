//! The map: PROTOCOL.md §4 (grid, spawn, ids, names) and every rule of §5 (BUILD),
//! in the order the protocol says they are checked.

mod common;

use std::collections::BTreeSet;

use common::{GUEST, Harness, OWNER, build_doc, code, doc, map};
use room_core::map::{MAX_SIDE, MIN_SIDE};
use room_core::{Audience, Cell, Direction, GameId, Map, MapError, Reject, RoomLimits, ServerMsg};

fn invalid(d: &room_core::MapDoc) -> MapError {
    Map::validate(d, MAX_SIDE).expect_err("map is refused")
}

fn valid(d: &room_core::MapDoc) -> Map {
    Map::validate(d, MAX_SIDE).unwrap_or_else(|e| panic!("map refused: {e}"))
}

/// A room with the owner (session 1) and a guest (session 2) in it.
fn owner_and_guest() -> Harness {
    let mut h = Harness::new();
    h.enter(1, OWNER, "owner");
    h.enter(2, GUEST, "guest");
    h
}

// ---- grid and spawn ----------------------------------------------------------

#[test]
fn map_with_no_stored_layout_is_empty_with_side_20() {
    let m = Map::empty();
    assert_eq!(m.side(), 20);
    assert!(m.games().is_empty() && m.objects().is_empty());
    assert_eq!(m.spawn(), Cell::new(0, 0));
    assert_eq!(Map::default(), m);
}

#[test]
fn spawn_is_the_first_free_cell_in_row_major_order() {
    let m = map(4, &[("1", "g", 0, 0)], &[("a", "w", 1, 0), ("b", "w", 0, 1)]);
    assert_eq!(m.spawn(), Cell::new(2, 0));
}

#[test]
fn spawn_moves_to_the_next_row_when_the_first_row_is_full() {
    let m = map(
        3,
        &[],
        &[
            ("a", "w", 0, 0),
            ("b", "w", 1, 0),
            ("c", "w", 2, 0),
            ("d", "w", 1, 1),
        ],
    );
    assert_eq!(m.spawn(), Cell::new(0, 1));
}

#[test]
fn spawn_may_be_the_last_cell() {
    let m = map(2, &[], &[("a", "w", 0, 0), ("b", "w", 1, 0), ("c", "w", 0, 1)]);
    assert_eq!(m.spawn(), Cell::new(1, 1));
}

#[test]
fn users_do_not_count_when_choosing_spawn() {
    let mut h = Harness::with_map(map(4, &[], &[("a", "w", 0, 0)]));
    h.enter(1, OWNER, "o");
    h.enter(2, GUEST, "g");
    assert_eq!(h.cell_of(OWNER), Cell::new(1, 0));
    assert_eq!(h.cell_of(GUEST), Cell::new(1, 0));
}

#[test]
fn every_item_fills_exactly_its_cell() {
    let m = map(5, &[("12", "Chess", 3, 4)], &[("w1", "wall", 0, 2)]);
    for y in 0..5 {
        for x in 0..5 {
            let filled = (x, y) == (3, 4) || (x, y) == (0, 2);
            assert_eq!(m.is_filled(Cell::new(x, y)), filled, "({x},{y})");
        }
    }
}

#[test]
fn cells_off_the_grid_are_not_filled() {
    let m = map(2, &[], &[("a", "w", 1, 1)]);
    assert!(!m.is_filled(Cell::new(2, 1)));
    assert!(!m.is_filled(Cell::new(1, 2)));
    assert!(!m.is_filled(Cell::new(u16::MAX, u16::MAX)));
}

#[test]
fn lists_keep_the_order_the_owner_sent() {
    let mut d = doc(
        9,
        &[("5", "e", 0, 1), ("3", "c", 1, 1)],
        &[("b", "x", 2, 1), ("a", "y", 3, 1)],
    );
    d.game_list.reverse();
    d.object_list.reverse();
    let m = valid(&d);
    let games: Vec<String> = m.games().iter().map(|(id, _)| id.to_string()).collect();
    let objects: Vec<&str> = m.objects().iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(games, ["3", "5"]);
    assert_eq!(objects, ["a", "b"]);
    let back = m.to_doc();
    assert_eq!(back.game_list, ["3", "5"]);
    assert_eq!(back.games[0].0, "3");
    assert_eq!(back.objects[0].0, "a");
}

#[test]
fn a_valid_map_reads_back_as_the_document_it_came_from() {
    let d = doc(
        6,
        &[("1", "Go", 5, 5), ("20", "Chess", 0, 3)],
        &[("w-1", "wall", 2, 2)],
    );
    assert_eq!(valid(&d).to_doc(), d);
}

#[test]
fn first_unowned_game_follows_game_list_order() {
    let m = map(5, &[("1", "a", 0, 0), ("2", "b", 1, 0), ("3", "c", 2, 0)], &[]);
    let owned = |ids: &[u64]| ids.iter().copied().map(GameId).collect::<BTreeSet<_>>();
    assert_eq!(m.first_unowned_game(&owned(&[1, 2, 3])), None);
    assert_eq!(m.first_unowned_game(&owned(&[1, 3])), Some(GameId(2)));
    assert_eq!(m.first_unowned_game(&owned(&[])), Some(GameId(1)));
}

// ---- §5 side -----------------------------------------------------------------

#[test]
fn side_2_and_side_64_are_accepted() {
    assert_eq!(valid(&doc(2, &[], &[])).side(), MIN_SIDE);
    assert_eq!(valid(&doc(64, &[], &[])).side(), MAX_SIDE);
}

#[test]
fn side_outside_2_to_64_is_76410() {
    for side in [i64::MIN, -1, 0, 1, 65, 1000, i64::from(u16::MAX) + 2, i64::MAX] {
        assert!(
            matches!(invalid(&doc(side, &[], &[])), MapError::SideOutOfRange { .. }),
            "side {side}"
        );
    }
    let mut h = owner_and_guest();
    assert_eq!(code(h.try_build(1, &doc(65, &[], &[]), &[])), 76410);
}

#[test]
fn server_may_set_a_lower_side_limit() {
    assert!(Map::validate(&doc(10, &[], &[]), 10).is_ok());
    assert_eq!(
        Map::validate(&doc(11, &[], &[]), 10),
        Err(MapError::SideOutOfRange { side: 11, limit: 10 })
    );
    let limits = RoomLimits {
        max_side: 10,
        ..RoomLimits::default()
    };
    let mut h = Harness::with(Map::empty(), limits);
    h.enter(1, OWNER, "o");
    assert_eq!(code(h.try_build(1, &doc(11, &[], &[]), &[])), 76410);
    assert!(h.try_build(1, &doc(10, &[], &[]), &[]).is_ok());
}

#[test]
fn a_server_limit_above_64_is_still_64() {
    assert!(matches!(
        Map::validate(&doc(65, &[], &[]), u16::MAX),
        Err(MapError::SideOutOfRange { limit: 64, .. })
    ));
}

// ---- §5 lists and keys -----------------------------------------------------------

#[test]
fn game_list_naming_a_game_not_in_games_is_76410() {
    let mut d = doc(5, &[("1", "a", 0, 0)], &[]);
    d.game_list.push("2".into());
    assert!(matches!(
        invalid(&d),
        MapError::ListMismatch { list: "gameList", .. }
    ));
}

#[test]
fn game_missing_from_game_list_is_76410() {
    let mut d = doc(5, &[("1", "a", 0, 0)], &[]);
    d.game_list.clear();
    assert!(matches!(
        invalid(&d),
        MapError::ListMismatch { list: "gameList", .. }
    ));
}

#[test]
fn object_list_must_name_exactly_the_object_keys() {
    let mut extra = doc(5, &[], &[("w", "a", 0, 0)]);
    extra.object_list.push("v".into());
    assert!(matches!(
        invalid(&extra),
        MapError::ListMismatch {
            list: "objectList",
            ..
        }
    ));
    let mut missing = doc(5, &[], &[("w", "a", 0, 0)]);
    missing.object_list.clear();
    assert!(matches!(
        invalid(&missing),
        MapError::ListMismatch {
            list: "objectList",
            ..
        }
    ));
}

#[test]
fn an_id_in_the_wrong_list_is_76410() {
    let mut d = doc(5, &[("1", "a", 0, 0)], &[("w", "b", 1, 0)]);
    std::mem::swap(&mut d.game_list, &mut d.object_list);
    assert!(matches!(invalid(&d), MapError::ListMismatch { .. }));
}

#[test]
fn duplicate_id_in_a_list_is_76410() {
    let mut d = doc(5, &[("1", "a", 0, 0)], &[]);
    d.game_list.push("1".into());
    assert_eq!(invalid(&d), MapError::DuplicateId("1".into()));
}

#[test]
fn duplicate_key_in_an_object_is_76410() {
    let d = build_doc(
        r#"40{"map":{"side":5,"gameList":[],"objectList":["w"],"games":{},
            "objects":{"w":{"name":"a","x":0,"y":0},"w":{"name":"b","x":1,"y":0}}}}"#,
    );
    assert_eq!(invalid(&d), MapError::DuplicateId("w".into()));
    let mut h = owner_and_guest();
    assert_eq!(code(h.try_build(1, &d, &[])), 76410);
}

#[test]
fn same_id_as_game_and_object_is_76410() {
    let d = doc(5, &[("12", "a", 0, 0)], &[("12", "b", 1, 0)]);
    assert_eq!(invalid(&d), MapError::DuplicateId("12".into()));
}

// ---- §5 grid ------------------------------------------------------------------

#[test]
fn item_outside_the_grid_is_76410() {
    for (x, y) in [
        (5, 0),
        (0, 5),
        (-1, 0),
        (0, -1),
        (i64::MAX, 0),
        (i64::MIN, i64::MIN),
        (65536, 0),
    ] {
        assert!(
            matches!(
                invalid(&doc(5, &[], &[("w", "a", x, y)])),
                MapError::OutOfGrid { .. }
            ),
            "({x},{y})"
        );
        assert!(
            matches!(
                invalid(&doc(5, &[("1", "a", x, y)], &[])),
                MapError::OutOfGrid { .. }
            ),
            "({x},{y})"
        );
    }
}

#[test]
fn corner_cells_are_inside_the_grid() {
    let m = valid(&doc(
        5,
        &[("1", "a", 4, 4)],
        &[("w", "b", 0, 4), ("v", "c", 4, 0)],
    ));
    assert!(m.is_filled(Cell::new(4, 4)));
}

#[test]
fn two_items_in_one_cell_is_76410() {
    let game_and_object = doc(5, &[("1", "a", 2, 3)], &[("w", "b", 2, 3)]);
    assert_eq!(
        invalid(&game_and_object),
        MapError::CellTaken {
            first: "1".into(),
            second: "w".into()
        }
    );
    let two_objects = doc(5, &[], &[("w", "a", 1, 1), ("v", "b", 1, 1)]);
    assert!(matches!(invalid(&two_objects), MapError::CellTaken { .. }));
    let two_games = doc(5, &[("1", "a", 0, 0), ("2", "b", 0, 0)], &[]);
    assert!(matches!(invalid(&two_games), MapError::CellTaken { .. }));
}

#[test]
fn a_map_with_no_free_cell_is_76410() {
    let full = doc(
        2,
        &[("1", "g", 0, 0)],
        &[("a", "w", 1, 0), ("b", "w", 0, 1), ("c", "w", 1, 1)],
    );
    assert_eq!(invalid(&full), MapError::NoFreeCell);
    let mut h = owner_and_guest();
    assert_eq!(code(h.try_build(1, &full, &[1])), 76410);
}

// ---- §4/§5 names and ids ---------------------------------------------------------

#[test]
fn empty_name_is_76410() {
    assert_eq!(
        invalid(&doc(5, &[], &[("w", "", 0, 0)])),
        MapError::BadName("w".into())
    );
    assert_eq!(
        invalid(&doc(5, &[("1", "", 0, 0)], &[])),
        MapError::BadName("1".into())
    );
}

#[test]
fn name_length_is_counted_in_unicode_scalar_values() {
    // 64 scalar values of 2, 3 and 4 bytes each are accepted; 65 are not.
    for ch in ['a', 'é', '한', '🦀'] {
        let ok: String = std::iter::repeat_n(ch, 64).collect();
        let long: String = std::iter::repeat_n(ch, 65).collect();
        assert!(
            Map::validate(&doc(5, &[], &[("w", &ok, 0, 0)]), 64).is_ok(),
            "{ch}"
        );
        assert_eq!(
            invalid(&doc(5, &[], &[("w", &long, 0, 0)])),
            MapError::BadName("w".into()),
            "{ch}"
        );
    }
    // A letter with a combining accent is two scalar values: 32 of them are 64, the limit.
    let combining: String = std::iter::repeat_n("e\u{301}", 32).collect();
    assert!(Map::validate(&doc(5, &[], &[("w", &combining, 0, 0)]), 64).is_ok());
}

#[test]
fn names_are_stored_as_accepted() {
    let name = " Chess \"deluxe\" 🦀 ";
    let m = valid(&doc(5, &[("1", name, 0, 0)], &[]));
    assert_eq!(m.games()[0].1.name, name);
}

#[test]
fn object_id_of_1_to_32_allowed_characters_is_accepted() {
    let thirty_two = "A".repeat(32);
    for id in ["a", "Z", "0", "_", "-", "wall_1-B", thirty_two.as_str()] {
        assert!(
            Map::validate(&doc(5, &[], &[(id, "n", 0, 0)]), 64).is_ok(),
            "{id:?}"
        );
    }
}

#[test]
fn object_id_too_long_or_with_other_characters_is_76410() {
    let thirty_three = "a".repeat(33);
    for id in ["", thirty_three.as_str(), "a b", "a.b", "é", "a/b", "🦀", "a\n"] {
        assert_eq!(
            invalid(&doc(5, &[], &[(id, "n", 0, 0)])),
            MapError::BadObjectId(id.into()),
            "{id:?}"
        );
    }
}

#[test]
fn game_id_is_a_decimal_store_id() {
    for id in ["0", "1", "12", "18446744073709551615"] {
        let m = valid(&doc(5, &[(id, "n", 0, 0)], &[]));
        assert_eq!(m.games()[0].0.to_string(), id);
    }
}

#[test]
fn game_id_that_is_not_decimal_is_76410() {
    let thirty_three = "1".repeat(33);
    for id in [
        "",
        "a",
        "1a",
        "-1",
        "+1",
        "1.5",
        " 1",
        "012",
        "18446744073709551616",
        thirty_three.as_str(),
    ] {
        assert_eq!(
            invalid(&doc(5, &[(id, "n", 0, 0)], &[])),
            MapError::BadGameId(id.into()),
            "{id:?}"
        );
    }
}

// ---- §5 the BUILD command ---------------------------------------------------------------

#[test]
fn build_by_non_owner_is_76403() {
    let mut h = owner_and_guest();
    assert_eq!(h.try_build(2, &doc(5, &[], &[]), &[]), Err(Reject::NotOwner));
    assert_eq!(code(h.try_build(2, &doc(5, &[], &[]), &[])), 76403);
}

#[test]
fn build_from_a_session_not_in_the_room_is_76102() {
    let mut h = owner_and_guest();
    assert_eq!(code(h.try_build(9, &doc(5, &[], &[]), &[])), 76102);
}

#[test]
fn build_with_a_game_the_owner_does_not_own_is_76403() {
    let mut h = owner_and_guest();
    let d = doc(5, &[("1", "a", 0, 0), ("2", "b", 1, 0)], &[]);
    assert_eq!(h.try_build(1, &d, &[1]), Err(Reject::GameNotOwned(GameId(2))));
    assert!(h.try_build(1, &d, &[1, 2, 3]).is_ok());
}

#[test]
fn build_checks_run_in_protocol_order() {
    // A map that is wrong in structure and names an unowned game, sent by a guest.
    let bad_structure_and_unowned = doc(70, &[("1", "a", 0, 0)], &[]);
    let unowned_only = doc(5, &[("1", "a", 0, 0)], &[]);
    let fine = doc(5, &[("1", "a", 0, 0)], &[]);

    // 76100 comes first: the codec refuses a body that is not the MAP shape before the room sees it.
    let malformed = r#"40{"map":{"side":"70","gameList":[],"objectList":[],"games":{},"objects":{}}}"#;
    assert_eq!(
        room_core::parse_client_frame(malformed).map_err(|e| e.code().as_u32()),
        Err(76100)
    );

    let mut h = owner_and_guest();
    // Then the sender: a guest gets 76403 whatever the map.
    assert_eq!(
        h.try_build(2, &bad_structure_and_unowned, &[]),
        Err(Reject::NotOwner)
    );
    // Then the structure: the owner gets 76410 even though a game is also unowned.
    assert!(matches!(
        h.try_build(1, &bad_structure_and_unowned, &[]),
        Err(Reject::InvalidMap(_))
    ));
    // Then ownership.
    assert_eq!(
        h.try_build(1, &unowned_only, &[]),
        Err(Reject::GameNotOwned(GameId(1)))
    );
    // And with everything right it is accepted.
    assert!(h.try_build(1, &fine, &[1]).is_ok());
}

#[test]
fn build_by_non_owner_with_an_invalid_map_is_76403_not_76410() {
    let mut h = owner_and_guest();
    let full = doc(
        2,
        &[],
        &[
            ("a", "w", 0, 0),
            ("b", "w", 1, 0),
            ("c", "w", 0, 1),
            ("d", "w", 1, 1),
        ],
    );
    assert_eq!(code(h.try_build(2, &full, &[])), 76403);
}

#[test]
fn approving_a_build_changes_nothing() {
    let h = owner_and_guest();
    let before = h.room.clone();
    let owned: BTreeSet<GameId> = [GameId(1)].into();
    let approved = h
        .room
        .approve_build(room_core::SessionId(1), &doc(5, &[("1", "a", 1, 0)], &[]), &owned)
        .expect("approved");
    assert_eq!(h.room, before);
    assert_eq!(approved.map().side(), 5);
}

#[test]
fn rejected_build_leaves_the_room_unchanged() {
    let mut h = owner_and_guest();
    h.step(2, Direction::Down);
    let before = h.room.clone();
    let attempts = [
        (2, doc(5, &[], &[])),
        (1, doc(1, &[], &[])),
        (1, doc(5, &[("1", "a", 9, 9)], &[])),
        (1, doc(5, &[("2", "a", 0, 0)], &[])),
        (9, doc(5, &[], &[])),
    ];
    for (session, d) in attempts {
        assert!(h.try_build(session, &d, &[1]).is_err());
        assert_eq!(h.room, before);
    }
}

#[test]
fn accepted_build_sends_everyone_to_spawn() {
    let mut h = owner_and_guest();
    h.step(1, Direction::Right);
    h.step(2, Direction::Down);
    h.step(2, Direction::Down);
    h.try_build(1, &doc(4, &[], &[("a", "w", 0, 0), ("b", "w", 1, 0)]), &[])
        .expect("accepted");
    assert_eq!(h.cell_of(OWNER), Cell::new(2, 0));
    assert_eq!(h.cell_of(GUEST), Cell::new(2, 0));
}

#[test]
fn accepted_build_sends_sync_with_the_new_room_to_everyone() {
    let mut h = owner_and_guest();
    let out = h
        .try_build(1, &doc(4, &[("1", "Go", 0, 0)], &[]), &[1])
        .expect("accepted");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].audience, Audience::All);
    let ServerMsg::Sync { room } = &out[0].msg else {
        panic!("expected SYNC, got {:?}", out[0].msg);
    };
    assert_eq!(*room, h.room.view());
    assert_eq!(room.map.side(), 4);
    assert!(room.users.iter().all(|u| u.cell == Cell::new(1, 0)));
    assert_eq!(h.recipients(out[0].audience), [1, 2]);
}

#[test]
fn accepted_build_records_the_stored_map_version() {
    let mut h = owner_and_guest();
    assert_eq!(h.room.map_version(), 0);
    h.try_build(1, &doc(4, &[], &[]), &[]).expect("accepted");
    assert_eq!(h.room.map_version(), 1);
}

#[test]
fn moves_after_a_build_are_blocked_by_the_new_items() {
    let mut h = owner_and_guest();
    h.try_build(1, &doc(3, &[], &[("w", "wall", 1, 0)]), &[])
        .expect("accepted");
    assert!(h.step(1, Direction::Right).is_empty());
    assert_eq!(h.cell_of(OWNER), Cell::new(0, 0));
    assert_eq!(h.step(1, Direction::Down).len(), 1);
}

#[test]
fn a_largest_grid_filled_but_for_one_cell_is_valid_and_keeps_list_order() {
    // 4095 objects, listed in reverse: exercises list reordering on the largest input a BUILD can carry.
    let mut d = doc(64, &[], &[]);
    for i in 0..64 * 64 - 1 {
        let id = format!("w{i}");
        let item = room_core::ItemDoc {
            name: "wall".into(),
            x: (i + 1) % 64,
            y: (i + 1) / 64,
        };
        d.objects.push((id.clone(), item));
        d.object_list.insert(0, id);
    }
    let m = valid(&d);
    assert_eq!(m.spawn(), Cell::new(0, 0));
    assert_eq!(m.objects().len(), 4095);
    assert_eq!(m.objects()[0].0, "w4094");
    assert_eq!(m.objects()[4094].0, "w0");
}
