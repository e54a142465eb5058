//! Volume against the real RabbitMQ: order of a long run of events, and the
//! queue length limit under a flood to a node that does not consume.

mod common;

use std::time::{Duration, Instant};

use common::{cleanup, config, connect, drain, event, next, queue_messages, unique_prefix};
use room_core::RoomId;
use room_ports::{Bus, BusInbound, BusInbox};

const WAIT: Duration = Duration::from_secs(20);

/// Collect `count` events, failing on anything out of order.
async fn expect_in_order(mut inbox: BusInbox, count: u64) -> u64 {
    let mut last = 0;
    while last < count {
        match next(&mut inbox, WAIT).await {
            BusInbound::Event(e) => {
                assert_eq!(e.seq, last + 1, "out of order");
                assert_eq!(e.frame, format!("MOVE 4 {}", e.seq));
                last = e.seq;
            }
            other => panic!("unexpected {other:?} after seq {last}"),
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_from_one_host_arrive_in_order_at_two_nodes() {
    const COUNT: u64 = 10_000;
    let prefix = unique_prefix("order");
    let host = connect(config(&prefix, "host")).await;
    let mut relays = Vec::new();
    let mut readers = Vec::new();
    for name in ["relay-a", "relay-b"] {
        let mut settings = config(&prefix, name);
        settings.queue_max_len = 2 * COUNT as u32; // this test is about order, not limits
        let relay = connect(settings).await;
        relay.subscribe_room(RoomId(4)).await.unwrap();
        readers.push(tokio::spawn(expect_in_order(
            relay.take_inbound().unwrap(),
            COUNT,
        )));
        relays.push(relay);
    }

    let started = Instant::now();
    for seq in 1..=COUNT {
        host.publish(&event(4, 1, seq)).await.unwrap();
    }
    eprintln!("published in {:?}", started.elapsed());
    for reader in readers {
        assert_eq!(reader.await.unwrap(), COUNT);
    }
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
    let prefix = unique_prefix("flood");
    let host = connect(config(&prefix, "host")).await;
    let mut settings = config(&prefix, "stuck");
    settings.queue_max_len = MAX_LEN;
    settings.prefetch = PREFETCH;
    settings.inbound_capacity = INBOUND;
    let stuck = connect(settings).await;
    stuck.subscribe_room(RoomId(4)).await.unwrap();
    let mut inbox = stuck.take_inbound().unwrap();

    for seq in 1..=FLOOD {
        host.publish(&event(4, 1, seq)).await.unwrap();
    }

    // The broker holds at most the limit ready plus the prefetch in flight.
    let bound = u64::from(MAX_LEN) + u64::from(PREFETCH);
    let deadline = Instant::now() + WAIT;
    let held = loop {
        let held = queue_messages(&stuck.names().queue);
        assert!(held <= bound, "queue holds {held} messages, limit {bound}");
        if held >= u64::from(MAX_LEN) || Instant::now() > deadline {
            break held;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        held >= u64::from(MAX_LEN),
        "the flood never filled the queue ({held})"
    );

    // Now the node reads: the head of the flood was dropped, which shows as a
    // gap (the engine's cue to ask for a SYNC), and the newest event is there.
    let items = drain(&mut inbox, Duration::from_secs(1)).await;
    let seqs: Vec<u64> = items
        .iter()
        .filter_map(|item| match item {
            BusInbound::Event(e) => Some(e.seq),
            _ => None,
        })
        .collect();
    assert!(
        items
            .iter()
            .any(|item| matches!(item, BusInbound::Gap { rooms } if rooms == &[RoomId(4)]))
    );
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "out of order: {seqs:?}");
    assert_eq!(seqs.last(), Some(&FLOOD));
    let most = INBOUND as u64 + 1 + bound;
    assert!(
        seqs.len() as u64 <= most,
        "received {} of {FLOOD}, more than {most}",
        seqs.len()
    );

    host.close(WAIT).await;
    stuck.close(WAIT).await;
    cleanup(&prefix).await;
}
