//! Faults against the real RabbitMQ: the broker closes a node's connection,
//! or cannot be reached at all.

mod common;

use std::time::Duration;

use adapter_rabbit::{RabbitBus, RabbitError};
use bytes::Bytes;
use common::probe::Probe;
use common::{cleanup, config, connect, connection_pid, drain, payload, rabbitmqctl, take, unique_prefix};
use room_core::RoomId;
use room_ports::{Bus, BusError};

const WAIT: Duration = Duration::from_secs(15);
/// Generous guard for calls that must not wait for the broker.
const FAST: Duration = Duration::from_secs(2);
/// No broker listens here.
const NOWHERE: &str = "amqp://guest:guest@127.0.0.1:1/%2f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_broker_closes_the_connection_the_node_reconnects_rebinds_and_reports_a_gap() {
    let prefix = unique_prefix("reconnect");
    let host = connect(config(&prefix, "host")).await;
    let mut settings = config(&prefix, "relay");
    // Wide enough a window to act while disconnected.
    settings.reconnect_min = Duration::from_secs(3);
    let relay = connect(settings).await;
    let mut inbox = relay.take_inbound().unwrap();
    relay.subscribe_room(RoomId(6)).await.unwrap();
    let probe = Probe::bind(&prefix, RoomId(6)).await;
    host.publish(RoomId(6), payload(1)).await.unwrap();
    assert_eq!(take(&mut inbox, 1, WAIT).await, ["6:1"]);

    let mut connected = relay.watch_connected();
    let name = relay.names().connection_name.clone();
    let pid = connection_pid(&name, WAIT);
    rabbitmqctl(&["close_connection", &pid, "test: closed on purpose"]);
    tokio::time::timeout(WAIT, connected.wait_for(|up| !*up))
        .await
        .unwrap()
        .unwrap();

    // Disconnected: the relay's queue went with its connection, so this is
    // lost. The probe tells when the broker routed it; the relay's refused
    // subscribe below then shows that its re-binding came later.
    host.publish(RoomId(6), payload(2)).await.unwrap();
    probe.wait_routed(2, WAIT).await;
    // Publishing fails at once with the typed error; a new room is remembered.
    let publish = tokio::time::timeout(FAST, relay.publish(RoomId(9), payload(1))).await;
    assert!(
        matches!(publish, Ok(Err(BusError::Unavailable(_)))),
        "{publish:?}"
    );
    let subscribe = tokio::time::timeout(FAST, relay.subscribe_room(RoomId(7))).await;
    assert!(
        matches!(subscribe, Ok(Err(BusError::Unavailable(_)))),
        "{subscribe:?}"
    );

    // Reconnected: one gap for every wanted room (the adapter's own news:
    // bindings were gone), then payloads and node messages flow again, the
    // room subscribed while disconnected included.
    tokio::time::timeout(WAIT, connected.wait_for(|up| *up))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(take(&mut inbox, 1, WAIT).await, ["gap[6,7]"]);
    assert_ne!(connection_pid(&name, WAIT), pid, "still the closed connection");
    host.publish(RoomId(6), payload(3)).await.unwrap();
    host.publish(RoomId(7), payload(1)).await.unwrap();
    host.send_to_node(relay.node_id(), Bytes::from_static(b"SYNC"))
        .await
        .unwrap();
    assert_eq!(take(&mut inbox, 3, WAIT).await, ["6:3", "7:1", "node:SYNC"]);
    assert!(drain(&mut inbox, Duration::from_millis(300)).await.is_empty());
    relay.publish(RoomId(9), payload(2)).await.unwrap();

    probe.close().await;
    host.close(WAIT).await;
    relay.close(WAIT).await;
    cleanup(&prefix).await;
}

#[tokio::test]
async fn connecting_to_an_unreachable_broker_is_a_typed_error() {
    let mut settings = config("unreachable", "n1");
    settings.url = NOWHERE.into();
    let outcome = tokio::time::timeout(WAIT, RabbitBus::connect(settings))
        .await
        .unwrap();
    assert!(
        matches!(outcome, Err(RabbitError::Broker(_) | RabbitError::Timeout(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_bus_started_without_a_broker_fails_fast_and_keeps_trying() {
    let mut settings = config("unreachable", "n2");
    settings.url = NOWHERE.into();
    let bus = RabbitBus::start(settings);
    assert!(!bus.is_connected());
    let publish = tokio::time::timeout(FAST, bus.publish(RoomId(1), payload(1)))
        .await
        .unwrap();
    assert!(matches!(publish, Err(BusError::Unavailable(_))), "{publish:?}");
    let send = tokio::time::timeout(FAST, bus.send_to_node(bus.node_id(), payload(1)))
        .await
        .unwrap();
    assert!(matches!(send, Err(BusError::Unavailable(_))), "{send:?}");
    let subscribe = tokio::time::timeout(FAST, bus.subscribe_room(RoomId(1)))
        .await
        .unwrap();
    assert!(
        matches!(subscribe, Err(BusError::Unavailable(_))),
        "{subscribe:?}"
    );
    assert_eq!(
        tokio::time::timeout(FAST, bus.unsubscribe_room(RoomId(1)))
            .await
            .unwrap(),
        Ok(())
    );
    bus.close(FAST).await;
}
