//! Random clients and random faults for a seed, then a quiet period, then the checks.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use room_core::Direction;

use crate::checks;
use crate::faults::FaultPlan;
use crate::world::{ResumeOutcome, Setup, World, lock, node_name};

/// How the resumes of every random run so far were answered, for the
/// summary `random_runs` prints (see [`resume_summary`]).
static RESUMES: std::sync::Mutex<Vec<(u64, bool, ResumeOutcome)>> = std::sync::Mutex::new(Vec::new());

/// How long faults and clients run, then how long the cluster gets to recover.
const BUSY: Duration = Duration::from_secs(15);
const QUIET: Duration = Duration::from_secs(25);

pub async fn run(seed: u64) -> (World, Result<(), String>) {
    let mut world = World::new(seed, Setup::default()).await;
    let mut rng = StdRng::seed_from_u64(seed);
    let started = tokio::time::Instant::now();
    let users = world.setup.users.clone();
    let rooms = world.setup.rooms.clone();
    while started.elapsed() < BUSY {
        world
            .run_for(Duration::from_millis(rng.random_range(10..200)))
            .await;
        let user = users[rng.random_range(0..users.len())];
        let roll = rng.random_range(0..1000);
        match roll {
            0..300 => world.step(user, direction(rng.random_range(0..4))),
            300..420 => {
                let running = world.running();
                let node = running[rng.random_range(0..running.len())];
                let room = rooms[rng.random_range(0..rooms.len())];
                // A socket stays in one room: frames of the room it left may
                // still follow the new room's SYNC (see the closing note), so a
                // client that changes rooms opens a new socket.
                let connected = world.clients.get(&user).is_some_and(|c| {
                    let log = lock(&c.log);
                    log.closed.is_none() && c.node == node && log.enters.iter().all(|(r, _, _)| r.0 == room)
                });
                // Users 4 to 6 opt into resume (PROTOCOL.md §9).
                let opened = connected
                    || if user >= 4 {
                        world.connect_resumable(user, node)
                    } else {
                        world.connect(user, node)
                    };
                if opened {
                    world.enter(user, room);
                }
            }
            420..470 => world.send(user, room_core::ClientMsg::Sync),
            470..500 => world.send(user, room_core::ClientMsg::Leave),
            500..515 => world.disconnect(user),
            // The socket drops and the client resumes its seat on any node (a
            // client without one just drops).
            515..530 => {
                let running = world.running();
                let node = running[rng.random_range(0..running.len())];
                if !world.resume(user, node) {
                    world.disconnect(user);
                }
            }
            530..560 if rooms.contains(&user) => world.build(user, rng.random_range(4..12)),
            560..600 => {
                let drop = [0.0, 0.05, 0.2][rng.random_range(0..3)];
                world.fault("bus drops", drop, |p, v| p.bus_drop = v);
            }
            600..630 => {
                let delay = Duration::from_millis([0, 50, 400][rng.random_range(0..3)]);
                world.fault("bus delays up to", delay, |p, v| p.bus_delay = v);
            }
            630..650 => {
                let dup = [0.0, 0.1][rng.random_range(0..2)];
                world.fault("bus duplicates", dup, |p, v| p.bus_duplicate = v);
            }
            650..670 => {
                let down = rng.random_bool(0.5);
                world.fault("lease registry down", down, |p, v| p.hosting_down = v);
            }
            670..690 => {
                let down = rng.random_bool(0.5);
                world.fault("node registry down", down, |p, v| p.registry_down = v);
            }
            690..710 => {
                let down = rng.random_bool(0.5);
                world.fault("map store down", down, |p, v| p.store_down = v);
            }
            710..720 => {
                let lose = [0.0, 0.5][rng.random_range(0..2)];
                world.fault("commits lose their answer", lose, |p, v| p.store_lose_answer = v);
            }
            720..730 => {
                let slow = Duration::from_millis([0, 300][rng.random_range(0..2)]);
                world.fault("redis answers after", slow, |p, v| p.redis_slow = v);
            }
            900..910 => {
                let slow = Duration::from_millis([0, 2_000][rng.random_range(0..2)]);
                world.fault("the map store answers after", slow, |p, v| p.store_slow = v);
            }
            730..740 => {
                let running = world.running();
                if running.len() > 1 {
                    let victim = running[rng.random_range(0..running.len())];
                    world.kill(victim).await;
                }
            }
            740..760 => {
                let dead: Vec<usize> = (0..world.engines.len())
                    .filter(|i| world.engines[*i].is_none())
                    .collect();
                if !dead.is_empty() {
                    world.restart(dead[rng.random_range(0..dead.len())]);
                }
            }
            760..770 => {
                let node = node_name(rng.random_range(0..world.engines.len()));
                let isolate = rng.random_bool(0.5);
                world.trace.line(format!("fault: {node} isolated {isolate}"));
                world.faults.change(|p| {
                    if isolate {
                        p.isolated.insert(node);
                    } else {
                        p.isolated.remove(&node);
                    }
                });
            }
            _ => {}
        }
    }
    world.trace.line("faults stop");
    world.faults.set(FaultPlan::default());
    world.run_for(QUIET).await;
    let verdict = checks::all(&world).await;
    lock(&RESUMES).extend(world.resume_outcomes().into_iter().map(|(d, o)| (seed, d, o)));
    (world, verdict)
}

/// How the resumes of the runs so far were answered, split by whether the
/// room's host had been killed since the client's seat was last confirmed
/// (issue 23: "report the share of RESUMED" after a host SIGKILL). Measures,
/// asserts nothing.
pub fn resume_summary(seeds: usize) -> String {
    let outcomes = lock(&RESUMES);
    let mut out = format!("resume outcomes over {seeds} seeds:");
    for (died, label) in [(true, "host killed"), (false, "host alive")] {
        let count = |o: ResumeOutcome| outcomes.iter().filter(|(_, d, x)| *d == died && *x == o).count();
        let (resumed, synced) = (count(ResumeOutcome::Resumed), count(ResumeOutcome::Synced));
        let (expired, refused, unanswered) = (
            count(ResumeOutcome::Expired),
            count(ResumeOutcome::Refused),
            count(ResumeOutcome::Unanswered),
        );
        let seated = resumed + synced;
        let share = if seated == 0 {
            0.0
        } else {
            100.0 * resumed as f64 / seated as f64
        };
        out.push_str(&format!(
            "\n  {label}: {resumed} RESUMED, {synced} SYNC (RESUMED {share:.1}% of seats resumed); \
             {expired} 76408, {refused} other ERROR, {unanswered} unanswered"
        ));
    }
    let mut synced: Vec<u64> = outcomes
        .iter()
        .filter(|(_, died, o)| *died && *o == ResumeOutcome::Synced)
        .map(|(seed, _, _)| *seed)
        .collect();
    synced.dedup();
    synced.truncate(10);
    out.push_str(&format!("\n  seeds with a SYNC after a host kill (MYROOM_SIM_SEED=<n> MYROOM_SIM_TRACE=1 to see why): {synced:?}"));
    out
}

pub fn direction(n: u8) -> Direction {
    match n {
        0 => Direction::Up,
        1 => Direction::Right,
        2 => Direction::Down,
        _ => Direction::Left,
    }
}
