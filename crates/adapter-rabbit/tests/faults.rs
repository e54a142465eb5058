//! Faults against the real RabbitMQ: the broker closes a node's connection,
//! or cannot be reached at all.

mod common;

use std::time::Duration;

use adapter_rabbit::{RabbitBus, RabbitError};
use common::{cleanup, config, connect, connection_pid, drain, event, next, rabbitmqctl, unique_prefix};
use room_core::{RoomId, SessionId};
use room_ports::{Bus, BusError, BusInbound, NodeMessage};

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
    host.publish(&event(6, 1, 1)).await.unwrap();
    assert!(matches!(next(&mut inbox, WAIT).await, BusInbound::Event(e) if e.seq == 1));

    let mut connected = relay.watch_connected();
    let name = relay.names().connection_name.clone();
    let pid = connection_pid(&name, WAIT);
    rabbitmqctl(&["close_connection", &pid, "test: closed on purpose"]);
    tokio::time::timeout(WAIT, connected.wait_for(|up| !*up))
        .await
        .unwrap()
        .unwrap();

    // Disconnected: publishing fails at once with the typed error; a new room is remembered.
    let publish = tokio::time::timeout(FAST, relay.publish(&event(9, 1, 1))).await;
    assert!(
        matches!(publish, Ok(Err(BusError::Unavailable(_)))),
        "{publish:?}"
    );
    let subscribe = tokio::time::timeout(FAST, relay.subscribe_room(RoomId(7))).await;
    assert!(
        matches!(subscribe, Ok(Err(BusError::Unavailable(_)))),
        "{subscribe:?}"
    );
    host.publish(&event(6, 1, 2)).await.unwrap(); // lost: nobody bound

    // Reconnected: one gap for every wanted room, then events flow again.
    tokio::time::timeout(WAIT, connected.wait_for(|up| *up))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next(&mut inbox, WAIT).await,
        BusInbound::Gap {
            rooms: vec![RoomId(6), RoomId(7)]
        }
    );
    assert_ne!(connection_pid(&name, WAIT), pid, "still the closed connection");
    host.publish(&event(6, 1, 3)).await.unwrap();
    host.publish(&event(7, 1, 1)).await.unwrap();
    let reply = NodeMessage::Reply {
        session: SessionId(1),
        frame: "SYNC".into(),
    };
    host.send_to_node(relay.node_id(), &reply).await.unwrap();
    let received: Vec<String> = drain(&mut inbox, Duration::from_millis(500))
        .await
        .into_iter()
        .map(|item| match item {
            BusInbound::Event(e) => format!("{}:{}", e.room, e.seq),
            BusInbound::Node(_) => "reply".into(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(received, ["6:3", "7:1", "reply"]);
    relay.publish(&event(9, 1, 2)).await.unwrap();

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
    let publish = tokio::time::timeout(FAST, bus.publish(&event(1, 1, 1)))
        .await
        .unwrap();
    assert!(matches!(publish, Err(BusError::Unavailable(_))), "{publish:?}");
    let message = NodeMessage::Resync {
        room: RoomId(1),
        node: bus.node_id().clone(),
    };
    let send = tokio::time::timeout(FAST, bus.send_to_node(bus.node_id(), &message))
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
