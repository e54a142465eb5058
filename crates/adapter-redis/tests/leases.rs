//! Room host leases against the real Redis: one holder at a time, a fencing
//! epoch that grows with every new holder, renew and release only by the holder.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{SHORT_TTL, cleanup, config, connect, eventually, node, unique_prefix};
use room_core::RoomId;
use room_ports::{Acquired, HostingError, Lease, NodeId, RoomHosting};
use tokio::sync::Barrier;

const ROOM: RoomId = RoomId(1);

fn granted(acquired: Acquired) -> Lease {
    match acquired {
        Acquired::Granted(lease) => lease,
        Acquired::HeldBy { node, epoch } => {
            panic!("expected the lease, it is held by {node} at epoch {epoch}")
        }
    }
}

/// What the contenders share to check that at most one of them holds the room.
#[derive(Default)]
struct Referee {
    holding: AtomicBool,
    grants: AtomicU64,
    log: Mutex<Vec<(u64, NodeId)>>,
}

/// `contenders` nodes, each on its own client, fight for one room until
/// `wanted` grants happened. Holders release, except every fourth, which
/// abandons its lease and waits to be told it lost it.
async fn contend(test: &str, contenders: usize, wanted: u64) {
    let prefix = unique_prefix(test);
    let mut settings = config(&prefix);
    // Long enough that no holder loses the lease while it checks it.
    settings.lease_ttl = Duration::from_secs(3);
    let referee = Arc::new(Referee::default());
    let barrier = Arc::new(Barrier::new(contenders));
    let mut tasks = Vec::new();
    for index in 0..contenders {
        let backend = connect(settings.clone()).await;
        let (referee, barrier) = (referee.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let me = node(&format!("node-{index}"));
            barrier.wait().await;
            while referee.grants.load(Ordering::SeqCst) < wanted {
                let lease = match backend.acquire(ROOM, &me).await.expect("acquire") {
                    Acquired::Granted(lease) => lease,
                    Acquired::HeldBy { node, .. } => {
                        assert_ne!(node, me, "a contender is told it holds a lease it gave up");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                assert!(
                    referee
                        .holding
                        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok(),
                    "{me} was granted epoch {} while another contender held the room",
                    lease.epoch
                );
                let round = referee.grants.fetch_add(1, Ordering::SeqCst);
                referee
                    .log
                    .lock()
                    .expect("log lock")
                    .push((lease.epoch, me.clone()));
                assert_eq!(
                    backend.holder(ROOM).await.expect("holder"),
                    Some((me.clone(), lease.epoch))
                );
                backend.renew(&lease).await.expect("the holder renews");
                referee.holding.store(false, Ordering::SeqCst);
                if round % 4 == 3 {
                    // Abandon: stop renewing; a later renew must report the loss.
                    eventually("the abandoned lease to pass on", || async {
                        backend.holder(ROOM).await.expect("holder") != Some((me.clone(), lease.epoch))
                    })
                    .await;
                    assert_eq!(
                        backend.renew(&lease).await,
                        Err(HostingError::LeaseLost {
                            room: ROOM,
                            epoch: lease.epoch
                        })
                    );
                } else {
                    backend.release(&lease).await.expect("release");
                }
            }
            backend.close().await;
        }));
    }
    for task in tasks {
        task.await.expect("a contender panicked");
    }
    let log = referee.log.lock().expect("log lock").clone();
    assert!(log.len() as u64 >= wanted, "only {} grants", log.len());
    for pair in log.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "epochs must strictly increase across takeovers: {log:?}"
        );
    }
    cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_contenders_one_holder_at_a_time_with_rising_epochs() {
    contend("two-contenders", 2, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_contenders_one_holder_at_a_time_with_rising_epochs() {
    contend("ten-contenders", 10, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_acquires_grant_exactly_one() {
    let prefix = unique_prefix("simultaneous");
    let backend = connect(config(&prefix)).await;
    let attempts = (0..10).map(|i| {
        let backend = backend.clone();
        tokio::spawn(async move { backend.acquire(ROOM, &node(&format!("n{i}"))).await })
    });
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for attempt in attempts {
        match attempt.await.expect("task").expect("acquire") {
            Acquired::Granted(lease) => winners.push((lease.node, lease.epoch)),
            Acquired::HeldBy { node, epoch } => seen.push((node, epoch)),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one grant: {winners:?}");
    assert!(
        seen.iter().all(|held| *held == winners[0]),
        "losers see the winner: {seen:?}"
    );
    assert!(winners[0].1 >= 1, "a first epoch: {winners:?}");
    cleanup(&prefix).await;
}

#[tokio::test]
async fn renew_after_expiry_fails() {
    let prefix = unique_prefix("renew-after-expiry");
    let mut settings = config(&prefix);
    settings.lease_ttl = SHORT_TTL;
    let backend = connect(settings).await;
    let lease = granted(backend.acquire(ROOM, &node("a")).await.expect("acquire"));
    eventually("the lease to expire", || async {
        backend.holder(ROOM).await.expect("holder").is_none()
    })
    .await;
    assert_eq!(
        backend.renew(&lease).await,
        Err(HostingError::LeaseLost {
            room: ROOM,
            epoch: lease.epoch
        })
    );
    cleanup(&prefix).await;
}

#[tokio::test]
async fn takeover_after_expiry_raises_the_epoch_and_fences_the_old_holder() {
    let prefix = unique_prefix("takeover");
    let mut settings = config(&prefix);
    settings.lease_ttl = SHORT_TTL;
    let backend = connect(settings).await;
    let old = granted(backend.acquire(ROOM, &node("a")).await.expect("acquire"));
    eventually("the lease to be free", || async {
        matches!(
            backend.acquire(ROOM, &node("b")).await.expect("acquire"),
            Acquired::Granted(_)
        )
    })
    .await;
    let (holder, epoch) = backend
        .holder(ROOM)
        .await
        .expect("holder")
        .expect("b holds the room");
    assert_eq!(holder, node("b"));
    assert!(epoch > old.epoch, "new epoch {epoch} must exceed {}", old.epoch);
    assert!(matches!(
        backend.renew(&old).await,
        Err(HostingError::LeaseLost { .. })
    ));
    backend.release(&old).await.expect("a stale release is a no-op");
    assert_eq!(
        backend.holder(ROOM).await.expect("holder"),
        Some((node("b"), epoch))
    );
    cleanup(&prefix).await;
}

#[tokio::test]
async fn release_frees_the_room_for_a_new_holder_with_a_higher_epoch() {
    let prefix = unique_prefix("release");
    let backend = connect(config(&prefix)).await;
    let first = granted(backend.acquire(ROOM, &node("a")).await.expect("acquire"));
    assert_eq!(
        backend.acquire(ROOM, &node("b")).await.expect("acquire"),
        Acquired::HeldBy {
            node: node("a"),
            epoch: first.epoch
        }
    );
    backend.release(&first).await.expect("release");
    assert_eq!(backend.holder(ROOM).await.expect("holder"), None);
    let second = granted(backend.acquire(ROOM, &node("b")).await.expect("acquire"));
    assert!(second.epoch > first.epoch);
    cleanup(&prefix).await;
}

/// A node restarted under the same id asks again for the lease its previous
/// process held: it must not number events under that process's epoch.
#[tokio::test]
async fn the_holder_acquiring_again_gets_a_new_epoch_and_the_old_lease_is_dead() {
    let prefix = unique_prefix("reacquire");
    let backend = connect(config(&prefix)).await;
    let first = granted(backend.acquire(ROOM, &node("a")).await.expect("acquire"));
    let again = granted(backend.acquire(ROOM, &node("a")).await.expect("acquire"));
    assert!(again.epoch > first.epoch, "{again:?} after {first:?}");
    assert!(
        backend.renew(&first).await.is_err(),
        "the first lease still renews"
    );
    backend.renew(&again).await.expect("the new lease renews");
    cleanup(&prefix).await;
}

/// Redis restarted without its data: the epoch counter is gone, and still
/// no epoch relays have seen comes back.
#[tokio::test]
async fn epochs_never_go_back_after_redis_lost_its_data() {
    let prefix = unique_prefix("epoch-floor");
    let backend = connect(config(&prefix)).await;
    let first = granted(backend.acquire(ROOM, &node("a")).await.expect("acquire"));
    cleanup(&prefix).await;
    let after = granted(backend.acquire(ROOM, &node("b")).await.expect("acquire"));
    assert!(after.epoch > first.epoch, "{after:?} after {first:?}");
    cleanup(&prefix).await;
}

#[tokio::test]
async fn renewing_keeps_the_lease_beyond_its_ttl() {
    let prefix = unique_prefix("renew-keeps");
    let mut settings = config(&prefix);
    settings.lease_ttl = Duration::from_secs(2);
    let backend = connect(settings).await;
    let lease = granted(backend.acquire(ROOM, &node("a")).await.expect("acquire"));
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        backend.renew(&lease).await.expect("renew by the holder");
    }
    assert_eq!(
        backend.holder(ROOM).await.expect("holder"),
        Some((node("a"), lease.epoch))
    );
    cleanup(&prefix).await;
}
