//! Volume against the real RabbitMQ: order of long runs of payloads, and the
//! queue length limit under a flood to a node that does not consume.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::probe::Probe;
use common::{cleanup, config, connect, drain, next, payload, queue_counts, unique_prefix};
use room_core::RoomId;
use room_ports::{Bus, BusInbound, BusInbox};

const WAIT: Duration = Duration::from_secs(20);
/// How long the broker may take to route a flood on a loaded machine.
const ROUTE_WAIT: Duration = Duration::from_secs(90);

/// The payload as the number it holds.
fn number(payload: &[u8]) -> u64 {
    std::str::from_utf8(payload)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("not a test payload: {payload:?}"))
}

/// Collect events until each room of `expected` has delivered its last
/// payload, failing at once on a room not expected or a payload out of order.
/// Returns the payloads received per room.
async fn collect_in_order(
    mut inbox: BusInbox,
    expected: BTreeMap<RoomId, u64>,
) -> BTreeMap<RoomId, Vec<u64>> {
    let mut received: BTreeMap<RoomId, Vec<u64>> = BTreeMap::new();
    let done = |received: &BTreeMap<RoomId, Vec<u64>>| {
        expected
            .iter()
            .all(|(room, last)| received.get(room).and_then(|seen| seen.last()) == Some(last))
    };
    while !done(&received) {
        match next(&mut inbox, WAIT).await {
            BusInbound::Event { room, payload } => {
                assert!(
                    expected.contains_key(&room),
                    "received room {room}, not subscribed"
                );
                let seen = received.entry(room).or_default();
                let n = number(&payload);
                assert!(
                    seen.last().is_none_or(|last| *last < n),
                    "room {room}: {n} after {:?}",
                    seen.last()
                );
                seen.push(n);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_from_one_host_arrive_in_order_per_room_at_two_nodes() {
    const COUNT: u64 = 10_000;
    /// Every tenth event of room 4 is followed by one of room 5.
    const EVERY: u64 = 10;
    let (four, five) = (RoomId(4), RoomId(5));
    let prefix = unique_prefix("order");
    let host = connect(config(&prefix, "host")).await;
    let mut relays = Vec::new();
    let mut readers = Vec::new();
    for (name, rooms) in [("relay-a", vec![four, five]), ("relay-b", vec![four])] {
        let mut settings = config(&prefix, name);
        settings.queue_max_len = 2 * COUNT as u32; // this test is about order, not limits
        let relay = connect(settings).await;
        let mut expected = BTreeMap::new();
        for room in rooms {
            relay.subscribe_room(room).await.unwrap();
            expected.insert(room, if room == four { COUNT } else { COUNT / EVERY });
        }
        readers.push(tokio::spawn(collect_in_order(
            relay.take_inbound().unwrap(),
            expected,
        )));
        relays.push(relay);
    }

    let started = Instant::now();
    for n in 1..=COUNT {
        host.publish(four, payload(n)).await.unwrap();
        if n % EVERY == 0 {
            host.publish(five, payload(n / EVERY)).await.unwrap();
        }
    }
    eprintln!("published in {:?}", started.elapsed());
    let all = |last: u64| (1..=last).collect::<Vec<_>>();
    let a = readers.remove(0).await.unwrap();
    assert_eq!(a[&four], all(COUNT), "relay-a, room 4");
    assert_eq!(a[&five], all(COUNT / EVERY), "relay-a, room 5");
    let b = readers.remove(0).await.unwrap();
    assert_eq!(b[&four], all(COUNT), "relay-b, room 4");
    assert_eq!(b.len(), 1, "relay-b received rooms {:?}", b.keys());
    eprintln!("{COUNT} events to two nodes in {:?}", started.elapsed());

    host.close(WAIT).await;
    for relay in &relays {
        relay.close(WAIT).await;
    }
    cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_to_a_node_that_does_not_consume_stays_within_the_queue_limit() {
    const FLOOD: u64 = 5_000;
    const MAX_LEN: u32 = 100;
    const PREFETCH: u16 = 10;
    const INBOUND: usize = 16;
    let room = RoomId(4);
    let prefix = unique_prefix("flood");
    let host = connect(config(&prefix, "host")).await;
    let mut settings = config(&prefix, "stuck");
    settings.queue_max_len = MAX_LEN;
    settings.prefetch = PREFETCH;
    settings.inbound_capacity = INBOUND;
    let stuck = connect(settings).await;
    stuck.subscribe_room(room).await.unwrap();
    let mut inbox = stuck.take_inbound().unwrap();
    // Bound like the stuck node's queue but without a limit: it counts what
    // the broker has routed, which publishing (no confirms) does not tell.
    let probe = Probe::bind(&prefix, room).await;

    for n in 1..=FLOOD {
        host.publish(room, payload(n)).await.unwrap();
    }

    // While the broker routes the flood, and once it has: the node's queue
    // never holds more than the limit waiting plus the prefetch
    // delivered. (Their sum is no measure of filling: each ack the node gets
    // to send only after the flood lets the broker deliver one more from the
    // full queue, so on a loaded machine the sum can end below the limit.)
    let deadline = Instant::now() + ROUTE_WAIT;
    loop {
        let routed = u64::from(probe.count().await);
        let held = queue_counts(&stuck.names().queue);
        assert!(
            held.ready <= u64::from(MAX_LEN) && held.unacked <= u64::from(PREFETCH),
            "the queue holds {held:?}, limits {MAX_LEN} waiting, {PREFETCH} unacknowledged"
        );
        if routed == FLOOD {
            eprintln!("flood routed; the node's queue holds {held:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broker routed {routed} of {FLOOD} in {ROUTE_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Now the node reads, up to the newest payload. The queue was full when
    // that one arrived: it held exactly the newest MAX_LEN, all of which
    // arrive; before them only what the node took while the flood went on
    // (its inbound channel and prefetch). The rest, the head, was dropped.
    let mut received = Vec::new();
    while received.last() != Some(&FLOOD) {
        match next(&mut inbox, WAIT).await {
            BusInbound::Event { room: r, payload } if r == room => received.push(number(&payload)),
            other => panic!("unexpected {other:?} after {:?}", received.last()),
        }
    }
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "out of order: {received:?}"
    );
    let newest: Vec<u64> = (FLOOD - u64::from(MAX_LEN) + 1..=FLOOD).collect();
    assert!(
        received.ends_with(&newest),
        "the newest {MAX_LEN} did not all arrive: {received:?}"
    );
    let most = INBOUND as u64 + u64::from(PREFETCH) + u64::from(MAX_LEN);
    assert!(
        received.len() as u64 <= most,
        "received {} of {FLOOD}, more than {most}: {received:?}",
        received.len()
    );
    // Delivered before the queue filled, so never waiting in it to be dropped.
    assert!(
        received.starts_with(&(1..=u64::from(PREFETCH)).collect::<Vec<_>>()),
        "{received:?}"
    );
    eprintln!("received {} of {FLOOD}: {received:?}", received.len());
    let after = drain(&mut inbox, Duration::from_millis(300)).await;
    assert!(after.is_empty(), "after the newest: {after:?}");

    probe.close().await;
    host.close(WAIT).await;
    stuck.close(WAIT).await;
    cleanup(&prefix).await;
}
