//! Routing against the real RabbitMQ: only subscribed nodes receive a room's
//! payloads, binds follow subscriptions, node messages reach their node, and
//! the bytes are carried as they are.
//!
//! Each queue receives one publisher's messages in the order they were sent,
//! so "nothing else arrived" is checked with a marker sent last: it must be
//! the next item.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::probe::Probe;
use common::{cleanup, config, connect, drain, next, payload, queue_counts, take, unique_prefix};
use room_core::RoomId;
use room_ports::{Bus, BusInbound, NodeId};

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(300);

fn text(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[tokio::test]
async fn a_room_event_reaches_only_the_nodes_subscribed_to_that_room() {
    let prefix = unique_prefix("interest");
    let host = connect(config(&prefix, "host")).await;
    let relay_a = connect(config(&prefix, "relay-a")).await;
    let relay_b = connect(config(&prefix, "relay-b")).await;
    let mut inbox_a = relay_a.take_inbound().unwrap();
    let mut inbox_b = relay_b.take_inbound().unwrap();
    let mut inbox_host = host.take_inbound().unwrap();
    relay_a.subscribe_room(RoomId(1)).await.unwrap();
    relay_b.subscribe_room(RoomId(2)).await.unwrap();

    for (room, n) in [(1, 1), (2, 1), (3, 1), (1, 2)] {
        host.publish(RoomId(room), payload(n)).await.unwrap();
    }
    host.publish(RoomId(2), text("end")).await.unwrap();
    host.publish(RoomId(1), text("end")).await.unwrap();

    assert_eq!(take(&mut inbox_a, 3, WAIT).await, ["1:1", "1:2", "1:end"]);
    assert_eq!(take(&mut inbox_b, 2, WAIT).await, ["2:1", "2:end"]);
    assert!(
        drain(&mut inbox_host, QUIET).await.is_empty(),
        "the publisher received its own room"
    );

    for bus in [&host, &relay_a, &relay_b] {
        bus.close(WAIT).await;
    }
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_node_receives_a_room_between_subscribe_and_unsubscribe_only() {
    let prefix = unique_prefix("bind");
    let host = connect(config(&prefix, "host")).await;
    let relay = connect(config(&prefix, "relay")).await;
    let mut inbox = relay.take_inbound().unwrap();
    let room = RoomId(5);
    // A publish returns before the broker routes it: the probe tells when it
    // has, so that it surely happened while the relay was not bound.
    let probe = Probe::bind(&prefix, room).await;

    host.publish(room, payload(1)).await.unwrap(); // before subscribing
    probe.wait_routed(1, WAIT).await;
    relay.subscribe_room(room).await.unwrap();
    relay.subscribe_room(room).await.unwrap(); // idempotent: still one copy
    host.publish(room, payload(2)).await.unwrap();
    assert_eq!(take(&mut inbox, 1, WAIT).await, ["5:2"]);

    relay.unsubscribe_room(room).await.unwrap();
    relay.unsubscribe_room(room).await.unwrap(); // idempotent
    host.publish(room, payload(3)).await.unwrap(); // after unsubscribing
    probe.wait_routed(3, WAIT).await;
    relay.subscribe_room(room).await.unwrap();
    host.publish(room, payload(4)).await.unwrap();
    assert_eq!(
        take(&mut inbox, 1, WAIT).await,
        ["5:4"],
        "a duplicate of 2, or 3 published while unsubscribed, came first"
    );

    probe.close().await;
    host.close(WAIT).await;
    relay.close(WAIT).await;
    cleanup(&prefix).await;
}

#[tokio::test]
async fn after_unsubscribing_even_events_the_broker_already_delivered_stop() {
    let prefix = unique_prefix("inflight");
    let host = connect(config(&prefix, "host")).await;
    let mut settings = config(&prefix, "relay");
    settings.inbound_capacity = 1;
    let relay = connect(settings).await;
    let mut inbox = relay.take_inbound().unwrap();
    relay.subscribe_room(RoomId(5)).await.unwrap();
    relay.subscribe_room(RoomId(6)).await.unwrap();

    // The engine reads nothing: 1 fills its inbound channel, 2 waits to enter
    // it (having passed the filter, unless it was not there yet), 3 to 5 wait
    // in the consumer: the broker delivered them all, and the consumer takes
    // them only after the engine reads 1.
    for n in 1..=5 {
        host.publish(RoomId(5), payload(n)).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let held = queue_counts(&relay.names().queue);
        if held.ready == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never all delivered: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 1 is read (so the consumer is past it), 2 may be in the inbound channel.
    assert_eq!(take(&mut inbox, 1, WAIT).await, ["5:1"]);
    relay.unsubscribe_room(RoomId(5)).await.unwrap();
    host.publish(RoomId(6), text("marker")).await.unwrap();

    let mut rest = take(&mut inbox, 1, WAIT).await;
    if rest == ["5:2"] {
        rest = take(&mut inbox, 1, WAIT).await;
    }
    assert_eq!(rest, ["6:marker"], "3 to 5 were taken after unsubscribing");

    host.close(WAIT).await;
    relay.close(WAIT).await;
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_room_s_payloads_arrive_as_published_whatever_they_hold() {
    let prefix = unique_prefix("bytes");
    let host = connect(config(&prefix, "host")).await;
    let relay = connect(config(&prefix, "relay")).await;
    let mut inbox = relay.take_inbound().unwrap();
    relay.subscribe_room(RoomId(8)).await.unwrap();

    // Skips, repeats, a step back, non-UTF-8, empty: ordering and numbering are
    // the engine's to judge, so the bus drops, reorders and rewrites nothing.
    let sent: Vec<Bytes> = [
        b"1" as &'static [u8],
        b"2",
        b"4",
        b"2",
        b"5",
        b"5",
        b"\xff\x00{\"kind\":\"event\"}",
        b"",
    ]
    .into_iter()
    .map(Bytes::from_static)
    .collect();
    for payload in &sent {
        host.publish(RoomId(8), payload.clone()).await.unwrap();
    }
    let mut received = Vec::new();
    for _ in 0..sent.len() {
        match next(&mut inbox, WAIT).await {
            BusInbound::Event { room, payload } => {
                assert_eq!(room, RoomId(8));
                received.push(payload);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(received, sent);

    host.close(WAIT).await;
    relay.close(WAIT).await;
    cleanup(&prefix).await;
}

#[tokio::test]
async fn the_amqp_body_is_the_payload_and_the_routing_key_names_the_room() {
    let prefix = unique_prefix("wire");
    let host = connect(config(&prefix, "host")).await;
    let relay = connect(config(&prefix, "relay")).await;
    let mut inbox = relay.take_inbound().unwrap();
    relay.subscribe_room(RoomId(3)).await.unwrap();
    let mut probe = Probe::bind(&prefix, RoomId(3)).await;

    // Out: what the host publishes is the body, unwrapped.
    host.publish(RoomId(3), text("MOVE 3 1")).await.unwrap();
    let delivery = probe.next(WAIT).await;
    assert_eq!(delivery.data, b"MOVE 3 1");
    assert_eq!(delivery.routing_key.as_str(), "room.3");
    assert_eq!(delivery.exchange.as_str(), host.names().rooms_exchange);
    assert_eq!(take(&mut inbox, 1, WAIT).await, ["3:MOVE 3 1"]);

    // In: any AMQP client's body reaches the engine as is, its room from the key.
    probe
        .publish_raw(&relay.names().rooms_exchange, "room.3", b"\x00raw")
        .await;
    assert_eq!(
        next(&mut inbox, WAIT).await,
        BusInbound::Event {
            room: RoomId(3),
            payload: Bytes::from_static(b"\x00raw")
        }
    );
    probe
        .publish_raw(
            &relay.names().nodes_exchange,
            "relay",
            b"{\"not\":\"an envelope\"}",
        )
        .await;
    assert_eq!(
        next(&mut inbox, WAIT).await,
        BusInbound::Node {
            payload: Bytes::from_static(b"{\"not\":\"an envelope\"}")
        }
    );

    probe.close().await;
    host.close(WAIT).await;
    relay.close(WAIT).await;
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_message_to_a_node_reaches_that_node_only() {
    let prefix = unique_prefix("direct");
    let host = connect(config(&prefix, "host")).await;
    let relay = connect(config(&prefix, "relay")).await;
    let other = connect(config(&prefix, "other")).await;
    let mut host_inbox = host.take_inbound().unwrap();
    let mut relay_inbox = relay.take_inbound().unwrap();
    let mut other_inbox = other.take_inbound().unwrap();

    relay.send_to_node(host.node_id(), text("command")).await.unwrap();
    assert_eq!(take(&mut host_inbox, 1, WAIT).await, ["node:command"]);
    host.send_to_node(relay.node_id(), text("reply")).await.unwrap();
    host.send_to_node(&NodeId("nobody".into()), text("lost"))
        .await
        .unwrap();
    assert_eq!(take(&mut relay_inbox, 1, WAIT).await, ["node:reply"]);

    // Sent after the reply was received: had the reply also reached the host
    // or the other node, it would come before these.
    relay.send_to_node(host.node_id(), text("marker")).await.unwrap();
    relay.send_to_node(other.node_id(), text("marker")).await.unwrap();
    assert_eq!(take(&mut host_inbox, 1, WAIT).await, ["node:marker"]);
    assert_eq!(take(&mut other_inbox, 1, WAIT).await, ["node:marker"]);

    for bus in [&host, &relay, &other] {
        bus.close(WAIT).await;
    }
    cleanup(&prefix).await;
}
