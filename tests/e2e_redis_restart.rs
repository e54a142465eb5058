//! A real Redis restarted empty under a busy cluster (issue 14, defect 5).
//!
//! The outage tests in `e2e_cluster.rs` stop a proxy, so Redis keeps its
//! data: leases, epoch counters and node records survive. Here the cluster
//! runs against a Redis of the test's own, which is shut down without saving
//! and started again on the same port: every lease, epoch counter, snapshot
//! and node record is gone at once, while three nodes have users in one room.
//! A Redis that lost its data is an outage to recover from: every user must
//! see every other user's MOVEs again, at the same positions on every node,
//! and no socket may be cut off.
//!
//! Needs `redis-server` and `redis-cli` (see `tests/common/redis.rs`) and the
//! shared MariaDB and RabbitMQ. A failing test prints every node's log.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::{Cluster, ClusterOptions, LEASE_MS, NODE_TTL_MS};
use common::play::{
    DOWN, GUARD, LEFT, Player, RIGHT, ROOM, UP, agreed_host, converge, is_leave_of, move_round, settle,
    try_move_round, two_per_node,
};
use common::redis::PrivateRedis;
use tokio::time::Instant;

/// How long the cluster may take to recover (a guard against hangs, not a
/// speed check): a lease and a node lifetime (1.5 s and 2.5 s) are the
/// engine's own clocks, the rest is slack for a loaded machine.
const RECOVERY: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restarted_empty_at_once_under_a_room_on_three_nodes_cuts_nobody_off() {
    restart_empty(Duration::ZERO).await;
}

/// Away for longer than a lease and a node lifetime: every lease has lapsed
/// and every node looks dead when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restarted_empty_after_an_outage_under_a_room_on_three_nodes_cuts_nobody_off() {
    restart_empty(Duration::from_millis(LEASE_MS.max(NODE_TTL_MS) + 1000)).await;
}

/// Users of one room on all three nodes; Redis shut down without saving,
/// kept away for `down`, started again empty on the same port.
async fn restart_empty(down: Duration) {
    // Declared first, so dropped last: the nodes are killed before their Redis.
    let mut redis = PrivateRedis::start().await;
    let cluster = Cluster::start_with(ClusterOptions {
        redis_url: Some(redis.url()),
        // Rounds follow one another as fast as they are answered; the rate
        // limit is not what this test is about.
        extra_args: ["--rate", "10000", "--rate-burst", "10000"]
            .map(String::from)
            .to_vec(),
        ..ClusterOptions::new(3)
    })
    .await;

    let (owner, view) = Player::enter(&cluster, 0, 1).await;
    let map = view.map.clone();
    let mut players = two_per_node(&cluster, owner, 2).await;
    let start = converge(&mut players, &map, GUARD).await;
    agreed_host(&cluster, None).await;
    // A round before the restart, so every relay has seen the host's epoch and numbers.
    let before = move_round(&mut players, &start, RIGHT).await;
    settle(&mut players, &before, Some(&map)).await;
    let pids: Vec<Option<u32>> = cluster.nodes.iter().map(|n| n.pid()).collect();
    let marks: Vec<usize> = players.iter().map(|p| p.seen.len()).collect();

    redis.shutdown_nosave().await;
    // Play on while it is away; what becomes of these steps is not checked.
    for p in players.iter_mut() {
        p.step(DOWN).await;
    }
    tokio::time::sleep(down).await;
    redis.start_again().await;
    // The host serves the room from memory, so moves right after the restart
    // prove nothing: wait until the cluster has noticed the empty Redis and
    // written its state again (the room's lease, all three nodes).
    let keys: Vec<String> = std::iter::once(format!("{}:lease:{ROOM}", cluster.prefix))
        .chain(
            cluster
                .nodes
                .iter()
                .map(|n| format!("{}:node:{}", cluster.prefix, n.id)),
        )
        .collect();
    let mut exists = vec!["EXISTS"];
    exists.extend(keys.iter().map(String::as_str));
    let wanted = format!(":{}", keys.len());
    let deadline = Instant::now() + RECOVERY;
    while redis.command(&exists) != wanted {
        assert!(
            Instant::now() < deadline,
            "the cluster did not write {keys:?} into the restarted Redis within {RECOVERY:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Recovery: the room agrees again, and a whole round of MOVEs is seen by
    // everyone in one order. Rounds lost while the cluster recovers are
    // retried until the deadline.
    let deadline = Instant::now() + RECOVERY;
    let mut agreed = before;
    let mut incomplete = Vec::new();
    for round in 0.. {
        let left = deadline.saturating_duration_since(Instant::now());
        agreed = converge(&mut players, &map, left).await;
        let code = if round % 2 == 0 { DOWN } else { UP };
        let short = match try_move_round(&mut players, &agreed, code).await {
            Ok(now) => {
                agreed = now;
                break;
            }
            Err(short) => short,
        };
        assert!(
            Instant::now() < deadline,
            "MOVEs never reached every user on every node again within {RECOVERY:?} of Redis \
             restarting empty; last round: {short:?}; earlier rounds: {incomplete:#?}"
        );
        eprintln!("move round {round} after the Redis restart incomplete ({short:?}); again");
        incomplete.push(short);
    }
    // And it stays so for longer than a node lifetime (the registry's trust in
    // itself comes back only after one): every round whole, in one order.
    let watch = Instant::now() + Duration::from_millis(2 * NODE_TTL_MS + LEASE_MS);
    let mut round = 0;
    while Instant::now() < watch {
        let code = [RIGHT, LEFT][round % 2];
        agreed = move_round(&mut players, &agreed, code).await;
        round += 1;
    }
    settle(&mut players, &agreed, Some(&map)).await;

    let now: Vec<Option<u32>> = cluster.nodes.iter().map(|n| n.pid()).collect();
    assert_eq!(now, pids, "a node process ended after the Redis restart");
    // Nobody's socket closed, so nobody left: a LEAVE of a player is false news.
    let connected: BTreeSet<u64> = players.iter().map(|p| p.user).collect();
    for (p, &mark) in players.iter().zip(&marks) {
        let left: Vec<u64> = p.seen[mark..]
            .iter()
            .filter_map(|m| is_leave_of(m, &connected))
            .collect();
        assert!(
            left.is_empty(),
            "{} got LEAVE of users whose sockets never closed: {left:?}",
            p.who()
        );
    }
    cluster.assert_no_panics();
}
