//! Room snapshots against the real Redis: written only under the current
//! lease, readable by anyone.

mod common;

use common::{SHORT_TTL, cleanup, config, connect, eventually, node, raw_client, session, unique_prefix};
use fred::prelude::{ClientLike, KeysInterface};
use room_core::{Cell, RoomId, UserId};
use room_ports::{Acquired, HostingError, Lease, RoomHosting, RoomSnapshot, SnapshotUser};

const ROOM: RoomId = RoomId(9);

fn granted(acquired: Acquired) -> Lease {
    match acquired {
        Acquired::Granted(lease) => lease,
        other => panic!("expected the lease, got {other:?}"),
    }
}

fn snapshot(lease: &Lease, seq: u64, x: u16) -> RoomSnapshot {
    RoomSnapshot {
        room: lease.room,
        epoch: lease.epoch,
        seq,
        map_version: 3,
        users: vec![
            SnapshotUser {
                user: UserId(9),
                nickname: "owner".to_owned(),
                session: session(&lease.node.0, 1),
                cell: Cell::new(x, 2),
                seat: None,
            },
            SnapshotUser {
                user: UserId(u64::MAX),
                nickname: "guest".to_owned(),
                session: session("elsewhere", u64::MAX),
                cell: Cell::new(0, 0),
                // A held seat (PROTOCOL.md §9) survives the trip through Redis.
                seat: Some(u64::MAX),
            },
        ],
        // A hand-over's seats and log (PROTOCOL.md §9) travel whole.
        seats: Some(room_ports::SnapshotSeats {
            last_seat: u64::MAX,
            log: room_core::ReplayTail {
                last: seq,
                events: vec![room_core::Logged {
                    number: seq,
                    audience: room_core::Audience::AllExcept(room_core::SessionId(1)),
                    frame: "20{\"user_id\":\"9\"}".to_owned(),
                }],
            },
            whole: true,
        }),
    }
}

#[tokio::test]
async fn the_host_writes_and_any_node_reads() {
    let prefix = unique_prefix("snapshot-roundtrip");
    let host = connect(config(&prefix)).await;
    let reader = connect(config(&prefix)).await;
    assert_eq!(reader.load_snapshot(ROOM).await.expect("load"), None);
    let lease = granted(host.acquire(ROOM, &node("host")).await.expect("acquire"));
    let written = snapshot(&lease, 41, 5);
    host.save_snapshot(&lease, &written).await.expect("save");
    assert_eq!(reader.load_snapshot(ROOM).await.expect("load"), Some(written));
    let newer = snapshot(&lease, 42, 6);
    host.save_snapshot(&lease, &newer).await.expect("save");
    assert_eq!(reader.load_snapshot(ROOM).await.expect("load"), Some(newer));
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_stale_hosts_write_is_refused() {
    let prefix = unique_prefix("snapshot-stale");
    let mut settings = config(&prefix);
    settings.lease_ttl = SHORT_TTL;
    let backend = connect(settings).await;
    let old = granted(backend.acquire(ROOM, &node("old")).await.expect("acquire"));
    backend
        .save_snapshot(&old, &snapshot(&old, 1, 1))
        .await
        .expect("save while holding");
    eventually("a new host to take over", || async {
        matches!(
            backend.acquire(ROOM, &node("new")).await.expect("acquire"),
            Acquired::Granted(_)
        )
    })
    .await;
    let (_, epoch) = backend
        .holder(ROOM)
        .await
        .expect("holder")
        .expect("new holds the room");
    let new = Lease {
        room: ROOM,
        node: node("new"),
        epoch,
    };
    let current = snapshot(&new, 2, 2);
    backend
        .save_snapshot(&new, &current)
        .await
        .expect("save by the new host");
    assert_eq!(
        backend.save_snapshot(&old, &snapshot(&old, 3, 3)).await,
        Err(HostingError::LeaseLost {
            room: ROOM,
            epoch: old.epoch
        })
    );
    assert_eq!(backend.load_snapshot(ROOM).await.expect("load"), Some(current));
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_write_without_the_lease_is_refused() {
    let prefix = unique_prefix("snapshot-no-lease");
    let backend = connect(config(&prefix)).await;
    let never = Lease {
        room: ROOM,
        node: node("pretender"),
        epoch: 1,
    };
    assert!(matches!(
        backend.save_snapshot(&never, &snapshot(&never, 1, 1)).await,
        Err(HostingError::LeaseLost { .. })
    ));
    assert_eq!(backend.load_snapshot(ROOM).await.expect("load"), None);
    cleanup(&prefix).await;
}

#[tokio::test]
async fn the_stored_snapshot_carries_the_leases_epoch() {
    let prefix = unique_prefix("snapshot-epoch");
    let backend = connect(config(&prefix)).await;
    let lease = granted(backend.acquire(ROOM, &node("host")).await.expect("acquire"));
    let mut written = snapshot(&lease, 1, 1);
    written.epoch = lease.epoch + 7;
    backend.save_snapshot(&lease, &written).await.expect("save");
    let stored = backend.load_snapshot(ROOM).await.expect("load").expect("stored");
    assert_eq!(stored.epoch, lease.epoch);
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_corrupt_snapshot_is_reported() {
    let prefix = unique_prefix("snapshot-corrupt");
    let backend = connect(config(&prefix)).await;
    let raw = raw_client().await;
    let _: () = raw
        .set(backend.keys().snapshot(ROOM), "{not json", None, None, false)
        .await
        .expect("set");
    assert_eq!(
        backend.load_snapshot(ROOM).await,
        Err(HostingError::Corrupt(ROOM))
    );
    let _ = raw.quit().await;
    cleanup(&prefix).await;
}
