//! Hot paths of the pure core: applying a MOVE, parsing client frames,
//! encoding server events, and validating the largest (64x64) map.
//!
//! `cargo bench -p room-core --bench hot_paths`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use room_core::codec::{encode_map_doc, parse_map_doc};
use room_core::{
    Cell, Command, Direction, ItemDoc, Map, MapDoc, Room, RoomId, RoomLimits, ServerMsg, SessionId, UserId,
    parse_client_frame,
};

/// A room of `users` users, all at spawn (0,0) on the empty 20x20 map.
fn room_with(users: u64) -> Room {
    let limits = RoomLimits {
        capacity: users as usize,
        ..RoomLimits::default()
    };
    let mut room = Room::new(RoomId(1), Map::empty(), 0, limits);
    for u in 1..=users {
        room.apply(Command::Enter {
            session: SessionId(u),
            user: UserId(u),
            nickname: format!("user{u}"),
        })
        .expect("enter");
    }
    room
}

fn move_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("room_apply_move");
    for users in [1u64, 50, 200] {
        let mut room = room_with(users);
        let mut right = true;
        group.bench_function(format!("{users}_users"), |b| {
            b.iter(|| {
                // Alternately right and left: never a wall, always one event.
                let direction = if right { Direction::Right } else { Direction::Left };
                right = !right;
                let out = room.apply(Command::Move {
                    session: SessionId(1),
                    direction,
                });
                black_box(out)
            })
        });
    }
    group.finish();
}

/// A 64x64 map with every border cell a wall object and a game on every
/// fourth inner cell of every fourth row: 252 objects, 225 games.
fn big_map_doc() -> MapDoc {
    let side = 64i64;
    let mut objects = Vec::new();
    for i in 0..side {
        for (x, y) in [(i, 0), (i, side - 1), (0, i), (side - 1, i)] {
            let id = format!("w{x}_{y}");
            if !objects.iter().any(|(o, _): &(String, ItemDoc)| *o == id) {
                objects.push((
                    id,
                    ItemDoc {
                        name: "wall".into(),
                        x,
                        y,
                    },
                ));
            }
        }
    }
    let mut games = Vec::new();
    for y in (2..side - 2).step_by(4) {
        for x in (2..side - 2).step_by(4) {
            games.push((
                format!("{}", 1000 + y * side + x),
                ItemDoc {
                    name: "Chess".into(),
                    x,
                    y,
                },
            ));
        }
    }
    MapDoc {
        side,
        game_list: games.iter().map(|(id, _)| id.clone()).collect(),
        object_list: objects.iter().map(|(id, _)| id.clone()).collect(),
        games,
        objects,
    }
}

fn frame_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_client_frame");
    for (name, frame) in [
        ("move", r#"20{"direction":1}"#.to_owned()),
        ("enter", r#"10{"room_id":"12345"}"#.to_owned()),
        ("sync", "11{}".to_owned()),
        (
            "build_64x64",
            format!("40{{\"map\":{}}}", encode_map_doc(&big_map_doc())),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(parse_client_frame(black_box(&frame))))
        });
    }
    group.finish();
}

fn event_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_msg_encode");
    let mv = ServerMsg::Move {
        user: UserId(123_456),
        direction: Direction::Right,
        cell: Cell::new(4, 7),
    };
    group.bench_function("move", |b| b.iter(|| black_box(black_box(&mv).encode())));
    let enter = ServerMsg::Enter {
        user: UserId(3),
        nickname: "guest".into(),
        cell: Cell::new(0, 0),
    };
    group.bench_function("enter", |b| b.iter(|| black_box(black_box(&enter).encode())));
    let sync50 = ServerMsg::Sync {
        room: room_with(50).view(),
    };
    group.bench_function("sync_50_users", |b| {
        b.iter(|| black_box(black_box(&sync50).encode()))
    });
    group.finish();
}

fn map_validate(c: &mut Criterion) {
    let doc = big_map_doc();
    assert!(Map::validate(&doc, 64).is_ok(), "the bench map is valid");
    c.bench_function("map_validate_64x64", |b| {
        b.iter(|| black_box(Map::validate(black_box(&doc), 64)))
    });
    let text = encode_map_doc(&doc);
    c.bench_function("map_parse_and_validate_64x64", |b| {
        b.iter_batched(
            || text.clone(),
            |text| black_box(parse_map_doc(&text).map(|d| Map::validate(&d, 64))),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, move_apply, frame_parse, event_encode, map_validate);
criterion_main!(benches);
