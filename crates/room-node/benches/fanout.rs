//! The engine's fan-out: one MOVE handed to the room task and queued to the
//! outbox of every session in the room (1, 50 and 200 local sessions), driven
//! through the public API only (Engine, Session::handle, Outbox).
//!
//! Timed: from `Session::handle(MOVE)` until the last session's outbox holds
//! the event (the room task applies, encodes once, pushes N times). Draining
//! the other outboxes afterwards is not timed.
//!
//! `cargo bench -p room-node --bench fanout`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use room_core::{ClientMsg, Direction, RoomId, RoomLimits, UserId};
use room_node::memory::MemoryMapStore;
use room_node::{Engine, EngineConfig, Next, Session};
use room_ports::{MapStore, UserSeed};

struct Room {
    sessions: Vec<Session>,
}

async fn room_of(engine: &Engine, users: u64) -> Room {
    let mut sessions = Vec::new();
    for u in 1..=users {
        let mut session = engine.open_session(UserId(u), format!("user{u}"));
        session
            .handle(ClientMsg::Enter {
                room_id: RoomId(1),
                authorization: None,
            })
            .await;
        sessions.push(session);
    }
    // Let the ENTER and SYNC traffic settle, then empty every queue.
    tokio::time::sleep(Duration::from_millis(20)).await;
    for session in &sessions {
        while session
            .outbox()
            .try_next(usize::MAX)
            .is_some_and(|n| matches!(n, Next::Frames(_)))
        {}
    }
    Room { sessions }
}

fn fanout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("fanout_one_move");
    for users in [1u64, 50, 200] {
        let store = Arc::new(MemoryMapStore::new());
        let engine = Engine::new(
            store.clone(),
            EngineConfig {
                limits: RoomLimits {
                    capacity: 250,
                    ..RoomLimits::default()
                },
                outbox_capacity: 4096,
                ..EngineConfig::default()
            },
        );
        let mut room = runtime.block_on(async {
            store
                .seed_users(&[UserSeed {
                    user: UserId(1),
                    nickname: "owner".into(),
                    games: vec![],
                }])
                .await
                .expect("seed");
            room_of(&engine, users).await
        });
        let mut right = true;
        group.bench_function(format!("{users}_sessions"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let direction = if right { Direction::Right } else { Direction::Left };
                        right = !right;
                        let started = Instant::now();
                        room.sessions[0].handle(ClientMsg::Move { direction }).await;
                        let last = room.sessions.last().expect("a session").outbox();
                        let _ = last.next(usize::MAX).await;
                        timed += started.elapsed();
                        for session in &room.sessions {
                            let _ = session.outbox().try_next(usize::MAX);
                        }
                    }
                    timed
                })
            })
        });
        runtime.block_on(async { drop(room) });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
